//! ONNX Runtime's arithmetic on the NPU, for graphs with
//! [`IntSemantics::OnnxRuntime`](crate::ir::IntSemantics) (QDQ ONNX models). Their CPU kernels
//! reproduce ONNX Runtime's fused kernels (`crate::lower::int8`, `kiln_rt::kernels::int8::qlinear`),
//! so the NPU must compute what those compute, not what TFLite Micro computes.
//!
//! The hardware rounds `v * multiplier / 2^shift` in one of three ways (`OFM_PRECISION` /
//! `IFM_PRECISION` bits 15:14, see `kiln_ethos_u::regs::RoundMode` and the NPU model's `rescale`):
//! `ROUND_MODE_DBL` (TFLite's doubling high multiply, rounding half up at bit 31 and then half
//! away from zero by the rest of the shift: two roundings when the shift exceeds 31),
//! `ROUND_MODE_TRUNCATE` (floor) and `ROUND_MODE_NATURAL` (one rounding of the exact product,
//! ties towards +infinity). ONNX Runtime rounds half to even (`MlasRequantizeOutput`,
//! `_mm_cvtps_epi32`), which the hardware has no mode for; NATURAL is the closest: a single
//! rounding to nearest of the exact product, which agrees with round-half-even everywhere
//! except at exact ties. Per operator:
//!
//! - CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED (`QLinearConv`, `QGemm`): ONNX Runtime computes
//!   `round_half_even(f32(f32(acc) * s))` with the f32 scale `s = x_scale * w_scale[c] / y_scale`
//!   (computed in f32, in that order). The scale records hold `s` exactly: its 24-bit
//!   significand shifted into `[2^30, 2^31)` and the shift from its exponent
//!   ([`exact_scale`]), in NATURAL, so the NPU rounds the exact `acc * s` once. ONNX Runtime
//!   rounds `acc * s` to f32 first (24 bits; `f32(acc)` is exact below 2^24), which moves it by at
//!   most half an ulp and never across a rounding boundary `k + 1/2` (those are f32 numbers), but
//!   can land on one. So the two differ only where `f32(acc * s)` is an exact tie `k + 1/2`: the
//!   exact value lies within 2^-24 relative of the tie, and ONNX Runtime picks the even side,
//!   the NPU the side of the exact value (or +infinity at an exact tie). By one step.
//! - ADD (`QLinearAdd`): ONNX Runtime computes `round_half_even(fma(a', ra, fma(b', rb, F)))` in
//!   f32 (`ra = a_scale / y_scale`, `rb = b_scale / y_scale`, `F` the folded zero points), which is
//!   `ra (a - a_zp) + rb (b - b_zp) + y_zp` up to f32 rounding of the sums (about 2^-24 of their
//!   magnitude, 2^-15 absolute). The NPU keeps the operand with the larger ratio `r` unscaled
//!   (aligned by 2^19) and rescales the other by `r_small / r * 2^19` (rounded once, NATURAL,
//!   error at most 2^-20 of an output step), then scales the sum by `r` exactly (its f32
//!   significand) in NATURAL. The results differ by one step only where the exact value is
//!   within those rounding errors (≲ 2^-14) of a tie `k + 1/2`. An ADD of a constant scalar is a
//!   function of one int8 value: a 256-entry table computed with the CPU's kernel (bit-exact).
//! - AVERAGE_POOL_2D (`QLinearAveragePool`), and MEAN over H and W (`QLinearGlobalAveragePool`):
//!   when the window is the whole unpadded input, ONNX Runtime rounds the integer sum `acc` times
//!   the f32 `x_scale / (y_scale n)` half to even: the OFM scale is that f32 exactly, with the
//!   convolutions' tie rule. Otherwise ONNX Runtime sums `x_scale (x - x_zp)` in f32, divides by
//!   the cell count and by `y_scale`: the NPU scales the integer sum by the real
//!   `x_scale / (count y_scale)` (nearest 31-bit multiplier), and the two differ where ONNX
//!   Runtime's f32 rounding (a few ulps) meets a tie. With equal input and output scales and an
//!   even cell count (`sum / 4`, or `acc / 64` with the exact f32 scale 2^-6), ties are exact and
//!   frequent (one output in `count` in the worst case); ONNX Runtime's f32 result lands on the
//!   tie and rounds to even, the NPU rounds up: half of those ties would be one step apart.
//!   Rounding half to even would need the parity of the quotient, which no output-stage mode
//!   gives, so averages whose exact ties are reachable (`exact_ties`: the f32 scale has few
//!   significant bits; or equal scales and an even cell count) stay on the CPU, with that reason.
//! - CONCATENATION (`QLinearConcat`) of inputs quantized differently from the output: per input a
//!   256-entry table computed with the CPU's kernel (bit-exact); inputs quantized as the output
//!   are copied.
//! - SOFTMAX (`QLinearSoftmax`: an f32 exp table, an f32 sum and division) stays on the CPU.
//!
//! SUB, MUL and the table lookups (LOGISTIC, ...) follow TFLite Micro on the CPU for ONNX graphs
//! too, so their NPU lowering is the common one.

use super::{clamp, effective, io, out_hw, pool, qparams, window_checks, Ctx, ReadOnly, Refusal};
use crate::ethos_u::block::{BlockOpKind, BlockRequest};
use crate::ethos_u::npu_op::{FeatureMap, InputScaling, Kernel, LutLoad, NpuKind, NpuOp, Scale};
use crate::ir::{Act, Graph, IntSemantics, Node, Op, TensorId, Window};
use crate::quant;
use kiln_rt::ethos_u::regs::{ClipRange, PoolingMode, RoundMode};
use kiln_rt::kernels::int8::qlinear::{qlinear_add, qlinear_concat_part, QLinearAddParams};
use kiln_rt::ops::OpKind;

/// Whether the graph's integer operators follow ONNX Runtime.
pub(super) fn is_ort(g: &Graph) -> bool {
    g.int_semantics == IntSemantics::OnnxRuntime
}

/// The output rounding of convolution-like operators: NATURAL for ONNX Runtime graphs (see the
/// module documentation), TFLite's double rounding otherwise.
pub(super) fn conv_rounding(g: &Graph) -> RoundMode {
    if is_ort(g) {
        RoundMode::Natural
    } else {
        RoundMode::Dbl
    }
}

/// Per-channel requantization of a convolution-like operator as TFLite-style `(multiplier,
/// shift)` pairs (`scale = multiplier 2^(shift - 31)`, multiplier 0 for a zero output): TFLite
/// Micro's (`quant::conv_per_channel`) for TFLite graphs; for ONNX Runtime graphs the f32
/// scales `x_scale * w_scale[c] / y_scale` exactly ([`exact_scale`]), to be used with
/// [`conv_rounding`].
pub(super) fn conv_scales(
    g: &Graph,
    x_scale: f32,
    w_scales: &[f32],
    y_scale: f32,
    channels: usize,
) -> Result<(Vec<i32>, Vec<i32>), Refusal> {
    if !is_ort(g) {
        return quant::conv_per_channel(x_scale, w_scales, y_scale, channels)
            .map_err(|e| e.to_string());
    }
    let mut mults = Vec::with_capacity(channels);
    let mut shifts = Vec::with_capacity(channels);
    for c in 0..channels {
        let w = if w_scales.len() > 1 {
            w_scales.get(c)
        } else {
            w_scales.first()
        }
        .copied()
        .ok_or("fewer weight scales than output channels")?;
        // As ONNX Runtime (and `lower::int8::ort_scales`): in f32, in this order.
        let s = x_scale * w / y_scale;
        match exact_scale(s)? {
            Some(sc) => {
                mults.push(sc.multiplier as i32);
                shifts.push(31 - sc.shift as i32);
            }
            None => {
                mults.push(0);
                shifts.push(0);
            }
        }
    }
    Ok((mults, shifts))
}

/// A positive f32 as an exact hardware scale: `s = multiplier / 2^shift` with the significand in
/// `[2^30, 2^31)` (a 32-bit signed multiplier, as TFLite's and Vela's) and `shift` in 0..=63.
/// `None` when `s < 2^-33`: then `|acc * s| < 1/4` for every 32-bit accumulator and the output
/// is the zero point (a zero multiplier gives exactly that).
pub(super) fn exact_scale(s: f32) -> Result<Option<Scale>, Refusal> {
    if !(s.is_finite() && s > 0.0) {
        return Err(format!(
            "requantization scale {s} is not finite and positive"
        ));
    }
    let bits = s.to_bits();
    let field = (bits >> 23) & 0xff;
    // s = m * 2^e exactly, m < 2^24.
    let (m, e) = if field == 0 {
        (bits & 0x7f_ffff, -149)
    } else {
        ((bits & 0x7f_ffff) | 0x80_0000, field as i32 - 150)
    };
    let t = m.leading_zeros() as i32 - 1; // m << t in [2^30, 2^31)
    let shift = t - e;
    if shift < 0 {
        return Err(format!(
            "requantization scale {s} above the hardware's range"
        ));
    }
    if shift > 63 {
        return Ok(None);
    }
    Ok(Some(Scale {
        multiplier: m << t,
        shift: shift as u8,
    }))
}

/// The hardware scale nearest to a real `r > 0`: multiplier in `[2^30, 2^31)` rounded to nearest
/// (relative error below 2^-31), shift in 0..=63.
fn nearest_scale(r: f64) -> Result<Scale, Refusal> {
    if !(r.is_finite() && r > 0.0) {
        return Err(format!("scale {r} is not finite and positive"));
    }
    let mut e = r.log2().floor() as i32;
    // Correct log2's rounding near powers of two.
    while 2f64.powi(e) > r {
        e -= 1;
    }
    while 2f64.powi(e + 1) <= r {
        e += 1;
    }
    let mut shift = 30 - e;
    let mut m = (r * 2f64.powi(shift)).round();
    if m >= (1u64 << 31) as f64 {
        m /= 2.0;
        shift -= 1;
    }
    if !(0..=63).contains(&shift) {
        return Err(format!("scale {r} outside the hardware's range"));
    }
    Ok(Scale {
        multiplier: m as u32,
        shift: shift as u8,
    })
}

/// The ONNX-Runtime-specific lowering of `node`, or `None` when the common lowering applies
/// (its arithmetic is the same for both semantics, or it takes ONNX Runtime's through
/// [`conv_scales`] and [`conv_rounding`]).
pub(super) fn lower(
    cx: &Ctx<'_>,
    node: &Node,
    ro: &mut ReadOnly,
) -> Option<Result<Vec<NpuOp>, Refusal>> {
    match &node.op {
        Op::Add { act } => Some(add(cx, node, *act, ro)),
        Op::AvgPool2d {
            kernel,
            win,
            count_include_pad,
            act,
        } => Some(avg_pool(cx, node, *kernel, win, *count_include_pad, *act)),
        Op::Mean { axes, .. } => {
            let rank = node.input(0).map(|x| cx.g.tensor(x).shape.len());
            (rank == Some(4) && axes[..] == [1, 2]).then(|| global_mean(cx, node))
        }
        Op::Concat { axis } => concat(cx, node, *axis, ro),
        Op::Softmax { .. } => Some(Err(
            "ONNX Runtime's QLinearSoftmax (f32 exp table, f32 sum and division) stays on the CPU"
                .into(),
        )),
        _ => None,
    }
}

/// ADD with ONNX Runtime's `QLinearAdd` arithmetic (see the module documentation).
fn add(cx: &Ctx<'_>, node: &Node, act: Act, ro: &mut ReadOnly) -> Result<Vec<NpuOp>, Refusal> {
    let g = cx.g;
    let (Some(a), Some(b), Some(&y)) = (node.input(0), node.input(1), node.outputs.first()) else {
        return Err("binary operator needs two inputs and an output".into());
    };
    let (qa, qb, qy) = (qparams(g, a)?, qparams(g, b)?, qparams(g, y)?);
    let scalar = |t: TensorId| g.tensor(t).is_const() && g.tensor(t).numel() == 1;
    let same_shape = |t: TensorId| g.tensor(t).shape == g.tensor(y).shape;
    if scalar(a) != scalar(b) {
        // One variable operand: `y = f(x)` as a table of the CPU kernel's results.
        let (x, c) = if scalar(b) { (a, b) } else { (b, a) };
        if same_shape(x) {
            let params = match crate::lower::lower_node(g, node) {
                Ok(crate::lower::Placement::Cpu(calls)) => match calls.as_slice() {
                    [call] if call.op == OpKind::KilnQLinearAdd => match call.args.get(2) {
                        Some(crate::lower::Arg::IntList(l)) => {
                            QLinearAddParams::from_list(l, call.op).map_err(|e| e.to_string())?
                        }
                        _ => return Err("QLinearAdd without parameters".into()),
                    },
                    _ => return Err("the CPU does not lower this ADD to QLinearAdd".into()),
                },
                Ok(_) => return Err("the CPU does not lower this ADD to QLinearAdd".into()),
                Err(e) => return Err(e.to_string()),
            };
            let cv = g.tensor(c).data.as_ref().ok_or("constant without data")?[0] as i8;
            let xs: Vec<i8> = (-128..=127).collect();
            let mut ys = vec![0i8; 256];
            let r = if x == a {
                qlinear_add(&params, &xs, &[256], &[cv], &[1], &mut ys, &[256])
            } else {
                qlinear_add(&params, &[cv], &[1], &xs, &[256], &mut ys, &[256])
            };
            r.map_err(|e| e.to_string())?;
            let table: Vec<u8> = ys.iter().map(|&v| v as u8).collect();
            return table_op(cx, node, x, y, Some(&table), ro).map(|op| vec![op]);
        }
    }
    let mut op = super::elementwise::binary(cx, node, Some(act), ro)?;
    // As the CPU (`lower::int8::qlinear_add`): the ratios in f32.
    let (ra, rb) = (qa.0 / qy.0, qb.0 / qy.0);
    let (big, small) = if ra >= rb { (ra, rb) } else { (rb, ra) };
    // The larger-ratio operand is aligned by 2^19, the other rescaled to that fixed point.
    let scaled = nearest_scale(small as f64 / big as f64 * (1u64 << 19) as f64)
        .map_err(|e| format!("ADD input rescale: {e}"))?;
    let out = exact_scale(big)?.ok_or("ADD output scale below the hardware's range")?;
    // Graph operand a is the hardware's A (ORDER_A swaps it back when it is IFM2).
    op.input_scaling = Some(if ra >= rb {
        InputScaling::ScaleB(scaled)
    } else {
        InputScaling::ScaleA(scaled)
    });
    op.ofm_scale = Scale {
        multiplier: out.multiplier,
        shift: out.shift + 19,
    };
    if op.ofm_scale.shift > 63 {
        return Err("ADD output scale below the hardware's range".into());
    }
    op.ifm_rounding = RoundMode::Natural;
    op.rounding = RoundMode::Natural;
    op.clamp = clamp(act, qy)?;
    Ok(vec![op])
}

/// AVERAGE_POOL_2D with ONNX Runtime's `QLinearAveragePool` arithmetic.
fn avg_pool(
    cx: &Ctx<'_>,
    node: &Node,
    kernel: [usize; 2],
    win: &Window,
    count_include_pad: bool,
    act: Act,
) -> Result<Vec<NpuOp>, Refusal> {
    let g = cx.g;
    let (x, y) = io(node)?;
    let (xq, yq) = (qparams(g, x)?, qparams(g, y)?);
    let xs = &g.tensor(x).shape;
    if xs.len() != 4 {
        return Err("average pool of a tensor that is not NHWC".into());
    }
    if clamp(act, yq)? != (-128, 127) {
        return Err("a fused activation on an ONNX Runtime average pool".into());
    }
    let padded = win.pads.iter().any(|&p| p > 0);
    let n = kernel[0] * kernel[1];
    let scale = if kernel == [xs[1], xs[2]] && !padded {
        // QLinearGlobalAveragePool: the integer sum times an f32 scale.
        if exact_ties(xq.0 / (yq.0 * n as f32), 255 * n as u64) {
            return Err(tie_refusal(&format!("average over {n} cells")));
        }
        global_scale(xq.0, yq.0, n)?
    } else {
        if padded && !count_include_pad {
            return Err("padded average pool that excludes padding from the divisor (the NPU divides every window by the kernel size)".into());
        }
        // Equal scales: ONNX Runtime's f32 mean lands exactly on the ties of sum / n.
        if xq.0 == yq.0 && n.is_multiple_of(2) {
            return Err(tie_refusal(&format!(
                "average of {n} cells with equal input and output scales"
            )));
        }
        nearest_scale(xq.0 as f64 / (n as f64 * yq.0 as f64))?
    };
    let hw = out_hw(g, node);
    let win = &effective(win, hw);
    window_checks(win)?;
    let mut op = pool::pool_op(
        cx,
        node,
        PoolingMode::Average,
        cx.fm(x)?,
        cx.fm(y)?,
        kernel.map(|v| v as u32),
        win,
        scale,
        (-128, 127),
    )?;
    op.rounding = RoundMode::Natural;
    Ok(vec![op])
}

/// Whether `acc * s` (f32 `s`, `|acc| <= max_acc`) can be an exact tie `k + 1/2`: with
/// `s = m 2^-e`, `m` odd, that needs `acc = odd * 2^(e-1)`, so `e >= 1` and `2^(e-1) <= max_acc`.
/// (A 24-bit significand puts `e` far above the sums of int8 values unless `s` has few
/// significant bits, e.g. `2^-6` for a 64-cell average with equal scales.)
fn exact_ties(s: f32, max_acc: u64) -> bool {
    if !(s.is_finite() && s > 0.0) {
        return false;
    }
    let bits = s.to_bits();
    let field = (bits >> 23) & 0xff;
    let (m, e) = if field == 0 {
        (bits & 0x7f_ffff, 149)
    } else {
        ((bits & 0x7f_ffff) | 0x80_0000, 150 - field as i32)
    };
    let e = e - m.trailing_zeros() as i32; // s = (m >> tz) * 2^-(e - tz), odd significand
    (1..=64).contains(&e) && (1u64 << (e - 1)) <= max_acc
}

/// The refusal of an average whose exact ties ONNX Runtime rounds half to even.
fn tie_refusal(what: &str) -> Refusal {
    format!(
        "{what}: ONNX Runtime rounds its exact ties (k + 1/2) half to even, the NPU's output stage rounds them up; stays on the CPU to match ONNX Runtime"
    )
}

/// `x_scale / (y_scale * n)` in f32 as ONNX Runtime's global average computes it, exactly.
fn global_scale(x_scale: f32, y_scale: f32, n: usize) -> Result<Scale, Refusal> {
    if !(1..0x100_0000).contains(&n) {
        return Err("image size outside ONNX Runtime's range".into());
    }
    Ok(
        exact_scale(x_scale / (y_scale * n as f32))?.unwrap_or(Scale {
            multiplier: 0,
            shift: 0,
        }),
    )
}

/// MEAN over H and W of an NHWC tensor (ONNX GlobalAveragePool): `QLinearGlobalAveragePool`, an
/// average pool whose window is the whole input.
fn global_mean(cx: &Ctx<'_>, node: &Node) -> Result<Vec<NpuOp>, Refusal> {
    let g = cx.g;
    let (x, y) = io(node)?;
    let (xq, yq) = (qparams(g, x)?, qparams(g, y)?);
    let xs = g.tensor(x).shape.clone();
    if xs[0] != 1 || g.tensor(y).numel() != xs[3] {
        return Err("global average of a batch above 1".into());
    }
    let kernel = [xs[1], xs[2]];
    let win = Window {
        stride: [1, 1],
        dilation: [1, 1],
        pads: [0; 4],
    };
    let n = kernel[0] * kernel[1];
    if exact_ties(xq.0 / (yq.0 * n as f32), 255 * n as u64) {
        return Err(tie_refusal(&format!("global average over {n} cells")));
    }
    let scale = global_scale(xq.0, yq.0, n)?;
    let mut op = pool::pool_op(
        cx,
        node,
        PoolingMode::Average,
        cx.fm(x)?,
        cx.fm(y)?,
        kernel.map(|v| v as u32),
        &win,
        scale,
        (-128, 127),
    )?;
    op.rounding = RoundMode::Natural;
    Ok(vec![op])
}

/// CONCATENATION with ONNX Runtime's `QLinearConcat`: inputs quantized as the output are
/// copied, the others go through a table of the CPU kernel's results. `None` (the common
/// lowering, copies only) when every input is quantized as the output.
fn concat(
    cx: &Ctx<'_>,
    node: &Node,
    axis: usize,
    ro: &mut ReadOnly,
) -> Option<Result<Vec<NpuOp>, Refusal>> {
    let g = cx.g;
    let y = *node.outputs.first()?;
    let yq = qparams(g, y).ok()?;
    let inputs: Vec<TensorId> = node.inputs.iter().flatten().copied().collect();
    if inputs.iter().all(|&t| qparams(g, t).ok() == Some(yq)) {
        return None;
    }
    Some((|| {
        let out = cx.fm(y)?;
        let rank = g.tensor(y).shape.len();
        let d = 3 + axis as i64 - rank as i64;
        if !(0..3).contains(&d) || (rank == 4 && axis == 0) {
            return Err(format!(
                "concatenation along axis {axis} of a rank-{rank} tensor"
            ));
        }
        let d = d as usize;
        let mut ops = Vec::new();
        let mut at = 0u32;
        for &t in &inputs {
            if g.tensor(t).is_const() {
                return Err("concatenation of a constant".into());
            }
            let xq = qparams(g, t)?;
            let ifm = cx.fm(t)?;
            let mut ofm = out;
            ofm.shape = ifm.shape;
            let stride = [out.strides[1], out.strides[0], out.strides[2]][d];
            ofm.base = out.base + at * stride;
            at += ifm.shape[d];
            let table = (xq != yq)
                .then(|| {
                    let xs: Vec<i8> = (-128..=127).collect();
                    let mut ys = vec![0i8; 256];
                    qlinear_concat_part(&xs, 256, xq, &mut ys, 256, 0, yq)
                        .map_err(|e| e.to_string())?;
                    Ok::<_, Refusal>(ys.iter().map(|&v| v as u8).collect::<Vec<u8>>())
                })
                .transpose()?;
            ops.push(map_op(cx, node, ifm, ofm, table.as_deref(), ro)?);
        }
        if at != out.shape[d] {
            return Err("input sizes do not add up to the output".into());
        }
        Ok(ops)
    })())
}

/// `y = table[x]` over the whole of `x` (or a copy without a table).
fn table_op(
    cx: &Ctx<'_>,
    node: &Node,
    x: TensorId,
    y: TensorId,
    table: Option<&[u8]>,
    ro: &mut ReadOnly,
) -> Result<NpuOp, Refusal> {
    let (ifm, ofm) = (cx.fm(x)?, cx.fm(y)?);
    if ifm.shape != ofm.shape {
        return Err("input and output shapes differ".into());
    }
    map_op(cx, node, ifm, ofm, table, ro)
}

/// A 1x1 max pool with unit scale from `ifm` to `ofm`: with a table, zero points 0 so that the
/// raw int8 value indexes it (`table[x + 128]`, loaded into SHRAM by DMA); without, a copy
/// (both maps quantized alike).
fn map_op(
    cx: &Ctx<'_>,
    node: &Node,
    mut ifm: FeatureMap,
    mut ofm: FeatureMap,
    table: Option<&[u8]>,
    ro: &mut ReadOnly,
) -> Result<NpuOp, Refusal> {
    let lut = table.map(|t| {
        ifm.zero_point = 0;
        ofm.zero_point = 0;
        LutLoad {
            src: ro.push_table(t),
        }
    });
    let block = cx.block(BlockRequest {
        kind: BlockOpKind::Pool,
        ofm: ofm.shape,
        ifm_hw: [0, 0],
        ifm_depth: ifm.shape[2],
        kernel: [1, 1],
        stride: [1, 1],
        dilation: [1, 1],
        ifm_bits: 8,
        ofm_bits: 8,
        uses_lut: lut.is_some(),
        upscale: 1,
    })?;
    Ok(NpuOp {
        kind: NpuKind::Pool(PoolingMode::Max),
        ifm,
        ifm2: None,
        ofm,
        kernel: Kernel::UNIT,
        weights: None,
        scales: None,
        ofm_scale: Scale::ONE,
        rounding: RoundMode::Dbl,
        input_scaling: None,
        ifm_rounding: RoundMode::Dbl,
        clamp: (-128, 127),
        clip_range: ClipRange::OfmPrecision,
        lut,
        upscale_nearest: false,
        reversed: false,
        block,
        source: node.name.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_ties_are_found_where_the_scale_has_few_bits() {
        // 8x8 global average with equal scales: 2^-6, ties at acc = 32 * odd.
        assert!(exact_ties(1.0 / 64.0, 255 * 64));
        assert!(exact_ties(0.25, 255 * 4));
        // A 24-bit significand: no sum of int8 values reaches the tie.
        assert!(!exact_ties(0.0123456, 255 * 64));
        assert!(!exact_ties(1.0 / 125.0, 255 * 125));
        assert!(!exact_ties(1.0, 255));
    }

    #[test]
    fn exact_scale_holds_the_f32_significand() {
        for s in [
            1.0f32,
            0.5,
            0.75,
            0.003_906_25,
            1.234_567e-3,
            7.654_321e-5,
            3.0e-9,
            123.456,
            f32::from_bits(1),
        ] {
            match exact_scale(s).unwrap() {
                Some(sc) => {
                    assert!((1 << 30..1 << 31).contains(&sc.multiplier), "{s}");
                    assert_eq!(sc.multiplier as f64 / 2f64.powi(sc.shift as i32), s as f64);
                }
                None => assert!((s as f64) < 2f64.powi(-33), "{s}"),
            }
        }
        assert!(exact_scale(0.0).is_err());
        assert!(exact_scale(f32::NAN).is_err());
    }

    #[test]
    fn natural_rounding_of_the_exact_scale_matches_round_half_even_off_ties() {
        // ROUND_MODE_NATURAL: one rounding of acc * multiplier / 2^shift, ties up.
        let natural = |acc: i64, sc: Scale| {
            let p = acc as i128 * sc.multiplier as i128;
            ((p + (1i128 << (sc.shift - 1))) >> sc.shift) as i64
        };
        let mut ties = 0;
        for s in [
            0.013_579_246f32,
            0.000_812_3,
            0.25,
            0.375,
            1.7,
            0.099_999_994,
        ] {
            let sc = exact_scale(s).unwrap().unwrap();
            for acc in -40_000i64..40_000 {
                let ort = (acc as f32 * s).round_ties_even() as i64;
                let npu = natural(acc, sc);
                if ort != npu {
                    // Only where ONNX Runtime's f32 product is a tie.
                    let f = acc as f32 * s;
                    assert_eq!(f - f.floor(), 0.5, "s {s} acc {acc}: ORT {ort}, NPU {npu}");
                    assert_eq!((ort - npu).abs(), 1);
                    ties += 1;
                }
            }
        }
        assert!(ties > 0, "the dyadic scales have ties");
    }

    #[test]
    fn nearest_scale_is_within_2_to_the_minus_31() {
        for r in [1.0, 0.1, 1.0 / 3.0, 524_288.0, 1e-9, 0.999_999_999_9] {
            let sc = nearest_scale(r).unwrap();
            let v = sc.multiplier as f64 / 2f64.powi(sc.shift as i32);
            assert!((v - r).abs() <= r * 2f64.powi(-31), "{r}");
        }
    }
}
