//! Data movement: CONCATENATION (strided writes into the output) and RESIZE_NEAREST_NEIGHBOR
//! (2x upscale), both as 1x1 max pools with unit scale.

use super::{io, qparams, Ctx, Refusal};
use crate::ethos_u::block::{BlockOpKind, BlockRequest};
use crate::ethos_u::npu_op::{FeatureMap, Kernel, NpuKind, NpuOp, Scale};
use crate::ir::Node;
use kiln_rt::ethos_u::regs::{ClipRange, PoolingMode, RoundMode};

/// RESIZE_NEAREST_NEIGHBOR by 2x.
pub(super) fn resize_nearest(
    cx: &Ctx<'_>,
    node: &Node,
    align_corners: bool,
) -> Result<Vec<NpuOp>, Refusal> {
    let g = cx.g;
    let (x, y) = io(node)?;
    let (xq, yq) = (qparams(g, x)?, qparams(g, y)?);
    if xq != yq {
        return Err("resize with different input and output quantization".into());
    }
    let ifm = cx.fm(x)?;
    let ofm = cx.fm(y)?;
    // 2x nearest: out (y, x) reads in (y/2, x/2), both with and without half-pixel centers.
    if align_corners || ofm.shape != [ifm.shape[0] * 2, ifm.shape[1] * 2, ifm.shape[2]] {
        return Err("the NPU resizes by exactly 2x (nearest, no align_corners)".into());
    }
    let mut op = copy_op(cx, node, ifm, ofm)?;
    op.upscale_nearest = true;
    Ok(vec![op])
}

/// Fills `fm` with its zero point: a 1x1 average pool over the map itself with OFM scale 0,
/// so every output is `0 + zero point` whatever the map held (the values read do not matter).
pub(super) fn fill_op(cx: &Ctx<'_>, node: &Node, fm: FeatureMap) -> Result<NpuOp, Refusal> {
    let mut ifm = fm;
    ifm.zero_point = 0;
    let mut op = copy_op(cx, node, ifm, fm)?;
    op.kind = NpuKind::Pool(PoolingMode::Average);
    op.ofm_scale = Scale {
        multiplier: 0,
        shift: 0,
    };
    Ok(op)
}

/// A copy of `ifm` into `ofm` (same quantization): a 1x1 max pool with unit scale.
pub(super) fn copy_op(
    cx: &Ctx<'_>,
    node: &Node,
    ifm: FeatureMap,
    ofm: FeatureMap,
) -> Result<NpuOp, Refusal> {
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
        uses_lut: false,
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
        lut: None,
        upscale_nearest: false,
        reversed: false,
        block,
        source: node.name.clone(),
    })
}

/// CONCATENATION as one copy per input into its slice of the output (strided writes at the
/// slice's offset; inputs and output share their quantization, as TFLite Micro requires).
pub(super) fn concat(cx: &Ctx<'_>, node: &Node, axis: usize) -> Result<Vec<NpuOp>, Refusal> {
    let g = cx.g;
    let y = *node.outputs.first().ok_or("concatenation without output")?;
    let yq = qparams(g, y)?;
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
    for t in node.inputs.iter().flatten() {
        if qparams(g, *t)? != yq {
            return Err("concatenation inputs with different quantization than the output".into());
        }
        if g.tensor(*t).is_const() {
            return Err("concatenation of a constant".into());
        }
        let ifm = cx.fm(*t)?;
        let mut ofm = out;
        ofm.shape = ifm.shape;
        let stride = [out.strides[1], out.strides[0], out.strides[2]][d];
        ofm.base = out.base + at * stride;
        at += ifm.shape[d];
        ops.push(copy_op(cx, node, ifm, ofm)?);
    }
    if at != out.shape[d] {
        return Err("input sizes do not add up to the output".into());
    }
    Ok(ops)
}
