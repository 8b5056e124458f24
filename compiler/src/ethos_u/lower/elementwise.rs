//! Elementwise operators (ADD, SUB, MUL, MAXIMUM, MINIMUM) and table lookups (LOGISTIC, TANH,
//! HARD_SWISH, LEAKY_RELU, RELU*, QUANTIZE ...).

use super::{hwc, io, qparams, Ctx, ReadOnly, Refusal};
use crate::ethos_u::block::{BlockOpKind, BlockRequest};
use crate::ethos_u::npu_op::{
    FeatureMap, InputScaling, Kernel, LutLoad, NpuKind, NpuOp, Operand2, Scale, REGION_WEIGHTS,
};
use crate::ir::{Act, Node, Op, TensorId};
use crate::quant;
use kiln_rt::ethos_u::regs::{ClipRange, ElementwiseMode, PoolingMode, RoundMode};

/// An elementwise operand: a feature map in the scratch, a constant map in region 0, or a scalar.
fn operand(cx: &Ctx<'_>, t: TensorId, ro: &mut ReadOnly) -> Result<Operand2, Refusal> {
    let ten = cx.g.tensor(t);
    let (_, zp) = qparams(cx.g, t)?;
    match &ten.data {
        Some(d) if ten.numel() == 1 => Ok(Operand2::Scalar {
            value: d[0] as i8 as i32,
            zero_point: zp,
        }),
        Some(d) => {
            let shape = hwc(&ten.shape)?;
            let span = ro.push(d);
            let mut fm = FeatureMap::nhwc(span.offset, shape, shape[2], zp);
            fm.region = REGION_WEIGHTS;
            Ok(Operand2::Map {
                fm,
                broadcast: [false; 3],
            })
        }
        None => Ok(Operand2::Map {
            fm: cx.fm(t)?,
            broadcast: [false; 3],
        }),
    }
}

/// ADD, SUB, MUL, MAXIMUM, MINIMUM with TFLite Micro's arithmetic:
///
/// - ADD/SUB: TFLM shifts both inputs left by 20 and rescales each by `s_i / (2 max(s_a, s_b))`;
///   the input with the larger scale gets exactly `x << 19`, which is the hardware's alignment
///   of the unscaled operand (`OPA_32`/`OPB_32`), and the other is rescaled by its multiplier
///   with shift `11 + exponent`. The hardware rounds that rescale once where TFLM rounds twice
///   (at bit 11 of the shifted value, then by the exponent): the two differ when the scaled
///   value's low bits fall in a window of 2^-(1+exponent) of the cases, by 2^-19 of an input
///   step, which moves an output step only at an exact output rounding tie (Vela's streams
///   have the same property). Equal input scales are exact.
/// - MUL: one rescale of the product by `s_a s_b / s_out`, exactly TFLM's.
/// - MAXIMUM/MINIMUM: inputs and output must share their quantization (as TFLM requires).
pub(super) fn binary(
    cx: &Ctx<'_>,
    node: &Node,
    act: Option<Act>,
    ro: &mut ReadOnly,
) -> Result<NpuOp, Refusal> {
    let g = cx.g;
    let (Some(a), Some(b), Some(&y)) = (node.input(0), node.input(1), node.outputs.first()) else {
        return Err("binary operator needs two inputs and an output".into());
    };
    let (qa, qb, qy) = (qparams(g, a)?, qparams(g, b)?, qparams(g, y)?);
    let ofm = cx.fm(y)?;
    // The hardware broadcasts IFM2 only: a constant or broadcast operand goes second.
    let sa = hwc(&g.tensor(a).shape)?;
    let sb = hwc(&g.tensor(b).shape)?;
    let needs_bc = |s: [u32; 3]| s != ofm.shape;
    let a_first = !(g.tensor(a).is_const() || needs_bc(sa))
        || (g.tensor(b).is_const() && g.tensor(b).numel() > 1 && needs_bc(sb));
    let (first, second, s1, s2) = if a_first {
        (a, b, sa, sb)
    } else {
        (b, a, sb, sa)
    };
    if g.tensor(first).is_const() || needs_bc(s1) {
        return Err("both operands are constant or broadcast".into());
    }
    let ifm = cx.fm(first)?;
    let mut ifm2 = operand(cx, second, ro)?;
    if let Operand2::Map { broadcast, .. } = &mut ifm2 {
        for d in 0..3 {
            if s2[d] != ofm.shape[d] {
                if s2[d] != 1 {
                    return Err(format!("shapes {:?} and {:?} do not broadcast", sa, sb));
                }
                broadcast[d] = true;
            }
        }
    }
    let kind = match node.op {
        Op::Add { .. } => ElementwiseMode::Add,
        Op::Sub { .. } => ElementwiseMode::Sub,
        Op::Mul { .. } => ElementwiseMode::Mul,
        Op::Maximum => ElementwiseMode::Max,
        _ => ElementwiseMode::Min,
    };
    let (input_scaling, ofm_scale, clamp_range) = match kind {
        ElementwiseMode::Add | ElementwiseMode::Sub => {
            let act = act.unwrap_or_default();
            let p = if kind == ElementwiseMode::Add {
                quant::add_params(qa, qb, qy, act)
            } else {
                quant::sub_params(qa, qb, qy, act)
            }
            .map_err(|e| e.to_string())?;
            let (am, ash, bm, bsh, om, osh) = (p[2], p[3], p[5], p[6], p[8], p[9]);
            let scaled = |m: i64, sh: i64| -> Result<Scale, Refusal> {
                let shift = 11 - sh;
                if !(0..=31).contains(&shift) || m <= 0 {
                    return Err(format!(
                        "input rescale exponent {sh} outside the hardware's range"
                    ));
                }
                Ok(Scale {
                    multiplier: m as u32,
                    shift: shift as u8,
                })
            };
            let exact = |m: i64, sh: i64| m == 1 << 30 && sh == 0;
            // Operand A is the graph's first input (the hardware swaps back with ORDER_A).
            let scaling = if exact(am, ash) {
                InputScaling::ScaleB(scaled(bm, bsh)?)
            } else if exact(bm, bsh) {
                InputScaling::ScaleA(scaled(am, ash)?)
            } else {
                return Err("neither input rescale is the identity".into());
            };
            let shift = 31 - osh;
            if !(0..=63).contains(&shift) {
                return Err("output rescale outside the hardware's range".into());
            }
            (
                Some(scaling),
                Scale {
                    multiplier: om as u32,
                    shift: shift as u8,
                },
                (p[10] as i32, p[11] as i32),
            )
        }
        ElementwiseMode::Mul => {
            let p = quant::mul_params(qa, qb, qy, act.unwrap_or_default())
                .map_err(|e| e.to_string())?;
            let (m, s) = (p[3], p[4]);
            let shift = 31 - s;
            if !(0..=63).contains(&shift) {
                return Err("output rescale outside the hardware's range".into());
            }
            let scale = if m == 0 {
                Scale {
                    multiplier: 0,
                    shift: 0,
                }
            } else {
                Scale {
                    multiplier: m as u32,
                    shift: shift as u8,
                }
            };
            (None, scale, (p[5] as i32, p[6] as i32))
        }
        _ => {
            if qa != qy || qb != qy {
                return Err("maximum/minimum with different input and output quantization".into());
            }
            (None, Scale::ONE, (-128, 127))
        }
    };
    // With the operands swapped, ORDER_A restores (graph a, graph b) before the scaling.
    let reversed = !a_first;
    let block = cx.block(BlockRequest {
        kind: if matches!(ifm2, Operand2::Scalar { .. }) {
            BlockOpKind::ElementwiseScalar
        } else {
            BlockOpKind::Elementwise
        },
        ofm: ofm.shape,
        ifm_hw: [0, 0],
        ifm_depth: ifm.shape[2],
        kernel: [1, 1],
        stride: [1, 1],
        dilation: [1, 1],
        ifm_bits: 8,
        ofm_bits: 8,
        uses_lut: false,
        upscale: 1,
    })?;
    Ok(NpuOp {
        kind: NpuKind::Elementwise(kind),
        ifm,
        ifm2: Some(ifm2),
        ofm,
        kernel: Kernel::UNIT,
        weights: None,
        scales: None,
        ofm_scale,
        rounding: RoundMode::Dbl,
        input_scaling,
        ifm_rounding: RoundMode::Dbl,
        clamp: clamp_range,
        clip_range: ClipRange::OfmPrecision,
        lut: None,
        upscale_nearest: false,
        reversed,
        block,
        source: node.name.clone(),
    })
}

/// A unary int8 operator as a table lookup: the table is the one the CPU lowering builds from
/// TFLite Micro's arithmetic (`cortex_m::quantized_activation`'s 256 entries, `lut[x + 128]`),
/// so the NPU computes exactly the reference. The operation is a 1x1 max pool with zero points
/// 0 and unit scale, so the value reaching the output stage is the raw input, which indexes
/// the table loaded into SHRAM by DMA.
pub(super) fn lut_op(cx: &Ctx<'_>, node: &Node, ro: &mut ReadOnly) -> Result<NpuOp, Refusal> {
    let (x, y) = io(node)?;
    qparams(cx.g, x)?;
    qparams(cx.g, y)?;
    let table = match crate::lower::lower_node(cx.g, node) {
        Ok(crate::lower::Placement::Cpu(calls)) => match calls.as_slice() {
            [c] if c.op == kiln_rt::ops::OpKind::CmQuantizedActivation => match c.args.get(1) {
                Some(crate::lower::Arg::Const(t)) if t.data.len() == 256 => t.data.clone(),
                _ => return Err("no 256-entry table".into()),
            },
            _ => return Err("not a table lookup on the CPU either".into()),
        },
        Ok(_) => return Err("not a table lookup".into()),
        Err(e) => return Err(e.to_string()),
    };
    let mut ifm = cx.fm(x)?;
    let mut ofm = cx.fm(y)?;
    ifm.zero_point = 0;
    ofm.zero_point = 0;
    if ifm.shape != ofm.shape {
        return Err("input and output shapes differ".into());
    }
    let src = ro.push_table(&table);
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
        uses_lut: true,
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
        lut: Some(LutLoad { src }),
        upscale_nearest: false,
        reversed: false,
        block,
        source: node.name.clone(),
    })
}
