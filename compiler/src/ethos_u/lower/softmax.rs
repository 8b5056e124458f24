//! SOFTMAX int8 -> int8 (TFLite, last axis) as a sequence of NPU operations computing TFLite
//! Micro's fixed-point `reference_ops::Softmax` step for step (Vela's 8-bit decomposition:
//! `ethosu/vela/softmax.py` `get_graph_8bit`, Regor `softmax.cpp` `GetGraph8Bit`).
//!
//! Per row of `depth` elements (`rows x depth` seen as an NHWC `[rows, 1, depth]` map):
//!
//! | step | NPU operation | TFLM |
//! |------|---------------|------|
//! | max | MAX pool, kernel `1 x depth`, over the rows seen as `[rows, depth, 1]` | `max_in_row` |
//! | exp | SUB `x - max` (int8) + 1 KiB int32 LUT on the int8-clipped `diff + 127` | `exp_on_negative_values(MBQM>1(diff))`, 0 below `diff_min` |
//! | sum | SHR 12 (round half up), REDUCE_SUM over the depth | `sum += Rescale<12>(exp)` |
//! | reciprocal | CLZ; `35 - clz`; `clz - 1`; SHL; MUL/ADD by 48/17, -32/17; 3 Newton-Raphson steps (MUL, SUB, MUL, MUL x4, ADD) | `GetReciprocal` / `one_over_one_plus_x_for_x_in_0_1` |
//! | output | MUL `exp * x` with shift 30 (the final `x2` of `one_over_one_plus_x` folded in), SHR by `35 - clz` (round half up) to int8 with zero point -128 | `RoundingDivideByPOT(SRDHM(scale, exp), bits_over_unit + 23) - 128` |
//!
//! Why each step is exact: every 32-bit MUL with shift 31 is `SaturatingRoundingDoublingHighMul`
//! (the hardware rounds `a*b / 2^31` half up, as TFLite's nudge does, and no operand pair is
//! `INT32_MIN^2`); the ADD/SUBs are plain (no operand rescale: OPA/OPB = 1) and never overflow
//! on these ranges; `RoundingHalfSum(shifted_sum - 2^31, 2^31 - 1)` equals `sum << (clz - 1)`
//! exactly (both operands are non-negative and the shifted sum even), which is what SHL computes;
//! `Rescale<2>` is the saturating MUL by 4; the final `Rescale<0>(ExactMulByPot<-1>(x))` is `2x`
//! and cannot saturate (`x <= 2^29 + small`), so `SRDHM(2x, e) = round(x e / 2^30)`; the rounding
//! divides act on non-negative values, where half-up is half-away-from-zero.
//!
//! Cost: 27 NPU operations (2 pooling, 25 elementwise) and one 1 KiB LUT DMA, whatever the
//! shape; scratch temporaries of about `8 * rows * depth + 41 * rows` bytes (16-byte aligned
//! pieces).
//!
//! Range: depth up to 8191 (refused above, so it runs on the CPU). A row's sum of exponentials
//! in TFLite's Q12.19 is at most `depth * 2^19`. A row whose sum reaches 512 (2^28 raw, possible
//! from 512 elements) needs an output shift `bits_over_unit + 23` above 31, which gemmlowp's
//! `RoundingDivideByPOT` does not define, and from 2^31 (depth 4096) TFLite's sum wraps negative:
//! kiln's CPU kernel reports an error for both (TFLM on a Cortex-M shifts by 32 to 0 and rounds
//! up to 1, i.e. -127); the NPU, whose sum saturates, outputs -128 there (every probability is
//! at most 1/512, half an output step). Every row whose sum stays below 2^28 is bit-exact. From
//! depth 8192 the wrapped sum can come back into range (`depth * 2^19 >= 2^32`), where TFLite
//! produces outputs from the wrapped sum that the saturating NPU cannot reproduce.

use super::{Ctx, ReadOnly, Refusal};
use crate::ethos_u::block::{BlockConfig, BlockOpKind, BlockRequest};
use crate::ethos_u::npu_op::{
    FeatureMap, InputScaling, Kernel, LutLoad, NpuKind, NpuOp, Operand2, Scale, REGION_WEIGHTS,
};
use crate::ir::{DType, Graph, Node, TensorId};
use crate::lower::{lower_node, Arg, Placement};
use kiln_rt::ethos_u::regs::{ClipRange, ElementwiseMode, PoolingMode, RoundMode};
use kiln_rt::kernels::int8::fixedpoint::{
    exp_on_negative_values, multiply_by_quantized_multiplier_greater_than_one,
};
use kiln_rt::ops::OpKind;

/// Largest row length: TFLite's wrapping row sum of exponentials (at most `depth * 2^19`)
/// cannot wrap past 2^32 back into range (see the module docs).
pub const MAX_DEPTH: u32 = 8191;
/// Largest number of rows (`IFM_HEIGHT_M1` is 16 bits).
const MAX_ROWS: u32 = 1 << 16;
/// Largest scratch temporaries (two int32 maps of the input's size, and per-row vectors).
const MAX_TEMP_BYTES: u64 = 1 << 31;

/// Rows and row length of a softmax input (all dimensions but the last are rows).
fn rows_depth(g: &Graph, x: TensorId) -> Result<(u32, u32), Refusal> {
    let shape = &g.tensor(x).shape;
    let depth = *shape.last().ok_or("softmax of a scalar")?;
    let rows: usize = shape[..shape.len() - 1].iter().product();
    if depth == 0 || rows == 0 {
        return Err("empty softmax".into());
    }
    if depth > MAX_DEPTH as usize {
        return Err(format!(
            "softmax depth {depth} above {MAX_DEPTH}: TFLite's row sum of exponentials (up to \
             depth * 2^19) can wrap past 2^32 back into range, where the NPU's sum saturates"
        ));
    }
    if rows > MAX_ROWS as usize {
        return Err(format!("softmax with {rows} rows, above {MAX_ROWS}"));
    }
    let temp = 8 * (rows * depth) as u64 + 41 * rows as u64 + 16 * (VECTORS as u64 + 3);
    if temp > MAX_TEMP_BYTES {
        return Err(format!(
            "softmax of {rows} x {depth} needs {temp} bytes of scratch temporaries, above {MAX_TEMP_BYTES}"
        ));
    }
    Ok((rows as u32, depth as u32))
}

/// The temporary area's layout (offsets from [`Ctx::temp`]).
struct Layout {
    /// Row maxima (int8, `rows`).
    max: u32,
    /// Exponentials (int32, `rows x depth`).
    exp: u32,
    /// Rescaled exponentials, later the scaled output (int32, `rows x depth`).
    work: u32,
    /// Per-row int32 vectors.
    vec: [u32; VECTORS],
    /// Total bytes.
    bytes: u32,
}

const VECTORS: usize = 10;

fn layout(rows: u32, depth: u32) -> Layout {
    let a = |n: u32| n.div_ceil(16) * 16;
    let max = 0;
    let exp = max + a(rows);
    let work = exp + a(rows * depth * 4);
    let mut at = work + a(rows * depth * 4);
    let vec = [0; VECTORS].map(|_| {
        let o = at;
        at += a(rows * 4);
        o
    });
    Layout {
        max,
        exp,
        work,
        vec,
        bytes: at,
    }
}

/// Scratch bytes the lowering of softmax `node` needs for its intermediate maps.
fn temp_bytes(g: &Graph, node: &Node) -> usize {
    let Some(x) = node.input(0) else { return 0 };
    match rows_depth(g, x) {
        Ok((rows, depth)) => layout(rows, depth).bytes as usize,
        Err(_) => 0,
    }
}

/// TFLite's exp table for the 256 differences `x - max` in -255..=0 (index `diff + 255`):
/// `exp_on_negative_values(MultiplyByQuantizedMultiplierGreaterThanOne(diff))` in Q0.31, 0 below
/// `diff_min`, with the CPU kernel's own parameters.
fn exp_table(g: &Graph, node: &Node) -> Result<Vec<u8>, Refusal> {
    let calls = match lower_node(g, node) {
        Ok(Placement::Cpu(calls)) => calls,
        Ok(_) => return Err("softmax does not lower to a CPU kernel".into()),
        Err(e) => return Err(e.to_string()),
    };
    let [c] = calls.as_slice() else {
        return Err("softmax lowers to several CPU calls".into());
    };
    // ONNX Runtime graphs never get here: `ort::lower` keeps their QLinearSoftmax on the CPU.
    if c.op != OpKind::CmSoftmax {
        return Err(format!("softmax lowers to {:?} on the CPU", c.op));
    }
    let int = |i: usize| match c.args.get(i) {
        Some(Arg::Int(v)) => {
            i32::try_from(*v).map_err(|_| "softmax parameter out of range".to_string())
        }
        _ => Err("softmax CPU call without its parameters".to_string()),
    };
    let (multiplier, shift, diff_min) = (int(1)?, int(2)?, int(3)?);
    if !(0..=31).contains(&shift) {
        return Err(format!("softmax input shift {shift} outside 0..=31"));
    }
    let mut table = Vec::with_capacity(1024);
    for diff in -255i32..=0 {
        let e = if diff >= diff_min {
            exp_on_negative_values(
                multiply_by_quantized_multiplier_greater_than_one(diff, multiplier, shift),
                5,
            )
        } else {
            0
        };
        table.extend_from_slice(&e.to_le_bytes());
    }
    Ok(table)
}

/// Builds the operations of one softmax.
struct Builder<'c, 'g> {
    cx: &'c Ctx<'g>,
    source: String,
    ops: Vec<NpuOp>,
}

/// A `[rows, 1, depth]` NHWC map at scratch `base` with `bits`-bit elements.
fn map(base: u32, rows: u32, depth: u32, bits: u32) -> FeatureMap {
    FeatureMap::nhwc(base, [rows, 1, depth], depth, 0).with_bits(bits)
}

/// A 32-bit constant broadcast to every element, in region 0.
fn constant(ro: &mut ReadOnly, v: i32) -> Operand2 {
    let span = ro.push(&v.to_le_bytes());
    let mut fm = FeatureMap::nhwc(span.offset, [1, 1, 1], 1, 0).with_bits(32);
    fm.region = REGION_WEIGHTS;
    Operand2::Map {
        fm,
        broadcast: [true; 3],
    }
}

/// A per-row vector broadcast along the depth.
fn per_row(fm: FeatureMap) -> Operand2 {
    Operand2::Map {
        fm,
        broadcast: [false, false, true],
    }
}

fn whole(fm: FeatureMap) -> Operand2 {
    Operand2::Map {
        fm,
        broadcast: [false; 3],
    }
}

/// The OFM clamp of a map: its type's range (the clip registers are 16 bits; a 32-bit OFM
/// saturates to int32 and ignores them).
fn full_range(fm: &FeatureMap) -> (i32, i32) {
    match fm.bits {
        8 => (-128, 127),
        _ => (-32768, 32767),
    }
}

impl Builder<'_, '_> {
    /// Appends an operation with unit scales, `ROUND_MODE_DBL` and the OFM type's clamp (the
    /// caller adjusts the returned operation).
    fn push(
        &mut self,
        kind: NpuKind,
        ifm: FeatureMap,
        ifm2: Option<Operand2>,
        ofm: FeatureMap,
        kernel: Kernel,
        lut: Option<LutLoad>,
    ) -> Result<&mut NpuOp, Refusal> {
        let block_kind = match kind {
            NpuKind::Pool(PoolingMode::ReduceSum) => BlockOpKind::ReduceSum,
            NpuKind::Pool(_) => BlockOpKind::Pool,
            _ => BlockOpKind::Elementwise,
        };
        let block: BlockConfig = self.cx.block(BlockRequest {
            kind: block_kind,
            ofm: ofm.shape,
            ifm_hw: [0, 0],
            ifm_depth: ifm.shape[2],
            kernel: kernel.size,
            stride: kernel.stride,
            dilation: [1, 1],
            ifm_bits: ifm.bits,
            ofm_bits: ofm.bits,
            uses_lut: lut.is_some(),
            upscale: 1,
        })?;
        let input_scaling = match kind {
            NpuKind::Elementwise(ElementwiseMode::Add | ElementwiseMode::Sub) => {
                Some(InputScaling::Both {
                    a: Scale::ONE,
                    b: 1,
                })
            }
            _ => None,
        };
        self.ops.push(NpuOp {
            kind,
            ifm,
            ifm2,
            ofm,
            kernel,
            weights: None,
            scales: None,
            ofm_scale: Scale::ONE,
            rounding: RoundMode::Dbl,
            input_scaling,
            ifm_rounding: RoundMode::Dbl,
            clamp: full_range(&ofm),
            clip_range: ClipRange::OfmPrecision,
            lut,
            upscale_nearest: false,
            reversed: false,
            block,
            source: self.source.clone(),
        });
        Ok(self.ops.last_mut().expect("just pushed"))
    }

    /// A binary elementwise operation with unit scales (ADD, SUB, SHL, SHR, MAX).
    fn ew(
        &mut self,
        mode: ElementwiseMode,
        ifm: FeatureMap,
        ifm2: Operand2,
        ofm: FeatureMap,
        rounding: RoundMode,
    ) -> Result<&mut NpuOp, Refusal> {
        let op = self.push(
            NpuKind::Elementwise(mode),
            ifm,
            Some(ifm2),
            ofm,
            Kernel::UNIT,
            None,
        )?;
        op.rounding = rounding;
        Ok(op)
    }

    /// `round(a * b / 2^shift)` of 32-bit operands (shift 31: `SaturatingRoundingDoublingHighMul`).
    fn mul(
        &mut self,
        ifm: FeatureMap,
        ifm2: Operand2,
        ofm: FeatureMap,
        shift: u8,
    ) -> Result<(), Refusal> {
        // The multiplier is not applied to 32-bit operands; Vela writes 2^30 for the high multiplies.
        let multiplier = if shift == 0 { 1 } else { 1 << 30 };
        self.push(
            NpuKind::Elementwise(ElementwiseMode::Mul),
            ifm,
            Some(ifm2),
            ofm,
            Kernel::UNIT,
            None,
        )?
        .ofm_scale = Scale { multiplier, shift };
        Ok(())
    }
}

/// SOFTMAX.
pub(super) fn softmax(cx: &Ctx<'_>, node: &Node, ro: &mut ReadOnly) -> Result<Vec<NpuOp>, Refusal> {
    let g = cx.g;
    let (Some(x), Some(&y)) = (node.input(0), node.outputs.first()) else {
        return Err("softmax needs an input and an output".into());
    };
    for t in [x, y] {
        if g.tensor(t).dtype != DType::I8 {
            return Err(format!(
                "softmax tensor {} is {}, the NPU lowering takes int8",
                g.tensor(t).name,
                g.tensor(t).dtype
            ));
        }
    }
    if g.tensor(x).shape != g.tensor(y).shape {
        return Err("softmax input and output shapes differ".into());
    }
    let (rows, depth) = rows_depth(g, x)?;
    // The CPU kernel's parameters (and its refusals: output quantization 1/256, -128).
    let table = exp_table(g, node)?;
    let lay = layout(rows, depth);
    // Input and output where the segment placed them (scratch, or the U65's fast scratch).
    let (xp, yp) = (cx.base(x)?, cx.base(y)?);
    let placed = |p: super::Place, fm: FeatureMap| FeatureMap {
        region: p.region,
        ..fm
    };
    let t = cx.temp(node, 0, temp_bytes(cx.g, node))?;
    let mut b = Builder {
        cx,
        source: node.name.clone(),
        ops: Vec::new(),
    };

    // Row maximum: a 1 x depth max pool over the rows seen as [rows, depth, 1] (the hardware
    // splits the kernel into 8 x 8 sub-kernels, so the IFM block does not grow with the depth).
    let max = map(t + lay.max, rows, 1, 8);
    b.push(
        NpuKind::Pool(PoolingMode::Max),
        xp.nhwc([rows, depth, 1], 1, 0),
        None,
        max,
        Kernel {
            size: [1, depth],
            ..Kernel::UNIT
        },
        None,
    )?;

    // exp(x - max): the difference plus 127, clipped to int8, indexes the 256 x int32 table.
    let exp = map(t + lay.exp, rows, depth, 32);
    let mut exp_ofm = exp;
    exp_ofm.zero_point = 127;
    let lut = LutLoad {
        src: ro.push_table(&table),
    };
    let op = b.push(
        NpuKind::Elementwise(ElementwiseMode::Sub),
        placed(xp, map(xp.addr, rows, depth, 8)),
        Some(per_row(max)),
        exp_ofm,
        Kernel::UNIT,
        Some(lut),
    )?;
    op.clamp = (-128, 127);
    op.clip_range = ClipRange::ForceInt8;

    // Sum of Rescale<12>(exp).
    let work = map(t + lay.work, rows, depth, 32);
    let c12 = constant(ro, 12);
    b.ew(ElementwiseMode::Shr, exp, c12, work, RoundMode::Natural)?;
    let v = |i: usize| map(t + lay.vec[i], rows, 1, 32);
    let (sum, clz, rshift, headroom, hd) = (v(0), v(1), v(2), v(3), v(4));
    let (mut xk, mut xn, t1, t2, t3) = (v(5), v(6), v(7), v(8), v(9));
    b.push(
        NpuKind::Pool(PoolingMode::ReduceSum),
        work,
        None,
        sum,
        Kernel::UNIT,
        None,
    )?
    .rounding = RoundMode::Natural;

    // GetReciprocal(sum, 12): headroom_plus_one = clz(sum); right shift of the output
    // 12 - clz + 31 - 8; half_denominator = sum << (clz - 1).
    b.push(
        NpuKind::Elementwise(ElementwiseMode::Clz),
        sum,
        None,
        clz,
        Kernel::UNIT,
        None,
    )?;
    let c35 = constant(ro, 12 + 31 - 8);
    b.ew(ElementwiseMode::Sub, clz, c35, rshift, RoundMode::Dbl)?
        .reversed = true;
    let one = constant(ro, 1);
    b.ew(ElementwiseMode::Sub, clz, one, headroom, RoundMode::Dbl)?;
    b.ew(
        ElementwiseMode::Shl,
        sum,
        whole(headroom),
        hd,
        RoundMode::Dbl,
    )?;

    // one_over_one_plus_x_for_x_in_0_1: x = 48/17 + hd * (-32/17), then three Newton-Raphson
    // steps x += Rescale<2>(x * (1 - hd * x)), all in Q2.29.
    b.mul(hd, constant(ro, -1010580540), t1, 31)?;
    b.ew(
        ElementwiseMode::Add,
        t1,
        constant(ro, 1515870810),
        xk,
        RoundMode::Dbl,
    )?;
    let f2_one = constant(ro, 1 << 29);
    let four = constant(ro, 4);
    for _ in 0..3 {
        b.mul(xk, whole(hd), t1, 31)?;
        b.ew(ElementwiseMode::Sub, t1, f2_one, t2, RoundMode::Dbl)?
            .reversed = true;
        b.mul(xk, whole(t2), t3, 31)?;
        b.mul(t3, four, t1, 0)?;
        b.ew(ElementwiseMode::Add, xk, whole(t1), xn, RoundMode::Dbl)?;
        std::mem::swap(&mut xk, &mut xn);
    }

    // Output: round(exp * 2x / 2^31) >> (35 - clz), rounded, minus 128.
    b.mul(exp, per_row(xk), work, 30)?;
    let mut out = placed(yp, map(yp.addr, rows, depth, 8));
    out.zero_point = -128;
    b.ew(
        ElementwiseMode::Shr,
        work,
        per_row(rshift),
        out,
        RoundMode::Natural,
    )?
    .clamp = (-128, 127);
    Ok(b.ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ethos_u::block::choose_block;
    use kiln_rt::ethos_u::config::by_name;

    /// The row max pool's block request, as [`softmax`] makes it.
    fn pool_request(rows: u32, w: u32) -> BlockRequest {
        BlockRequest {
            kind: BlockOpKind::Pool,
            ofm: [rows, 1, 1],
            ifm_hw: [0, 0],
            ifm_depth: 1,
            kernel: [1, w],
            stride: [1, 1],
            dilation: [1, 1],
            ifm_bits: 8,
            ofm_bits: 8,
            uses_lut: false,
            upscale: 1,
        }
    }

    /// A graph of one softmax `[shape]` with the given quantizations and semantics.
    fn graph(shape: &[usize], xq: (f32, i32), yq: (f32, i32), ort: bool) -> Graph {
        use crate::ir::{IntSemantics, Op, Quant, Tensor};
        let mut g = Graph {
            int_semantics: if ort {
                IntSemantics::OnnxRuntime
            } else {
                IntSemantics::TfliteMicro
            },
            ..Graph::default()
        };
        let mut t = |name: &str, q: (f32, i32)| {
            g.add_tensor(Tensor {
                name: name.into(),
                dtype: DType::I8,
                shape: shape.to_vec(),
                quant: Some(Quant::per_tensor(q.0, q.1)),
                data: None,
            })
        };
        let (x, y) = (t("x", xq), t("y", yq));
        g.inputs.push(x);
        g.outputs.push(y);
        g.nodes.push(Node {
            name: "sm".into(),
            source_op: "SOFTMAX".into(),
            op: Op::Softmax { beta: 1.0 },
            inputs: vec![Some(x)],
            outputs: vec![y],
        });
        g
    }

    fn placement(g: &Graph) -> crate::ethos_u::partition::Placement {
        crate::ethos_u::partition::place(g, by_name("ethos-u55-128").unwrap()).remove(0)
    }

    #[test]
    fn softmax_places_on_the_npu_within_its_range_and_says_why_not_outside() {
        use crate::ethos_u::partition::Placement;
        let tfl = (1.0 / 256.0, -128);
        assert_eq!(
            placement(&graph(&[1, 12], (0.1, 3), tfl, false)),
            Placement::Npu
        );
        assert_eq!(
            placement(&graph(&[2, 3, 5, MAX_DEPTH as usize], (0.1, 3), tfl, false)),
            Placement::Npu
        );
        let why = |p: Placement| match p {
            Placement::Cpu(r) => r,
            Placement::Npu => panic!("placed on the NPU"),
        };
        let r = why(placement(&graph(
            &[1, MAX_DEPTH as usize + 1],
            (0.1, 3),
            tfl,
            false,
        )));
        assert!(r.contains("depth 8192 above 8191"), "{r}");
        let r = why(placement(&graph(&[1, 12], (0.1, 3), tfl, true)));
        assert!(r.contains("QLinearSoftmax"), "{r}");
        let r = why(placement(&graph(
            &[1, 12],
            (0.1, 3),
            (1.0 / 128.0, 0),
            false,
        )));
        assert!(r.contains("scale 1/256 and zero point -128"), "{r}");
    }

    #[test]
    fn the_exp_table_rises_to_exp_0() {
        // (tests/tests/ethos_u_native.rs checks the KWS table byte for byte against Vela's.)
        let g = graph(&[1, 12], (0.1, 3), (1.0 / 256.0, -128), false);
        let t = exp_table(&g, &g.nodes[0]).unwrap();
        let e = |i: usize| i32::from_le_bytes(t[4 * i..4 * i + 4].try_into().unwrap());
        assert_eq!(t.len(), 1024);
        assert_eq!(e(255), i32::MAX);
        assert!((1..256).all(|i| e(i) >= e(i - 1)));
    }

    #[test]
    fn the_row_max_pool_fits_every_configuration_at_the_largest_depth() {
        for name in [
            "ethos-u55-32",
            "ethos-u55-64",
            "ethos-u55-128",
            "ethos-u55-256",
            "ethos-u65-256",
        ] {
            let cfg = by_name(name).unwrap();
            for rows in [1, 7, 1 << 16] {
                assert!(
                    choose_block(cfg, &pool_request(rows, MAX_DEPTH)).is_some(),
                    "{name}"
                );
            }
        }
    }
}
