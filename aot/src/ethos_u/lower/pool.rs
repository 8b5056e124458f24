//! Pooling (AVERAGE_POOL_2D, MAX_POOL_2D) with TFLite Micro's rounding.

use super::{clamp, effective, io, out_hw, pads, qparams, window_checks, Ctx, Refusal};
use crate::ethos_u::block::{BlockOpKind, BlockRequest};
use crate::ethos_u::npu_op::{Kernel, NpuKind, NpuOp, Scale};
use crate::ir::{Act, Node, Window};
use kiln_rt::ethos_u::regs::{PoolingMode, RoundMode};

/// AVERAGE_POOL_2D.
pub(super) fn avg_pool(
    cx: &Ctx<'_>,
    node: &Node,
    kernel: &[usize; 2],
    win: &Window,
    count_include_pad: bool,
    act: Act,
) -> Result<Vec<NpuOp>, Refusal> {
    let g = cx.g;
    let (x, y) = io(node)?;
    let hw = out_hw(g, node);
    let win = &effective(win, hw);
    window_checks(win)?;
    if win.pads.iter().any(|&p| p > 0) && !count_include_pad {
        return Err("padded average pool that excludes padding from the divisor (the NPU divides by the kernel size)".into());
    }
    let (xq, yq) = (qparams(g, x)?, qparams(g, y)?);
    if xq != yq {
        return Err("average pool with different input and output quantization".into());
    }
    let n = (kernel[0] * kernel[1]) as u64;
    let ofm_scale = average_scale(n);
    let mut op = pool_op(
        cx,
        node,
        PoolingMode::Average,
        *kernel,
        win,
        ofm_scale,
        clamp(act, yq)?,
    )?;
    // TFLite Micro averages the raw values (input and output share the zero point) and
    // rounds half away from zero, which is not translation invariant: zero points 0.
    op.ifm.zero_point = 0;
    op.ofm.zero_point = 0;
    Ok(vec![op])
}

/// MAX_POOL_2D.
pub(super) fn max_pool(
    cx: &Ctx<'_>,
    node: &Node,
    kernel: &[usize; 2],
    win: &Window,
    act: Act,
) -> Result<Vec<NpuOp>, Refusal> {
    let g = cx.g;
    let (x, y) = io(node)?;
    let hw = out_hw(g, node);
    let win = &effective(win, hw);
    window_checks(win)?;
    let (xq, yq) = (qparams(g, x)?, qparams(g, y)?);
    if xq != yq {
        return Err("max pool with different input and output quantization".into());
    }
    pool_op(
        cx,
        node,
        PoolingMode::Max,
        *kernel,
        win,
        Scale::ONE,
        clamp(act, yq)?,
    )
    .map(|op| vec![op])
}

/// The global scale of an average over `n` elements that reproduces TFLite Micro's
/// `(sum ± n/2) / n` (round half away from zero) in `ROUND_MODE_DBL`: multiplier
/// `ceil(2^(31+s) / n)` with `2^s >= n`, shift `31 + s`. The hardware first rounds at bit 31
/// (exact for the multiplier's integer part) and then divides by `2^s` rounding half away
/// from zero; the multiplier's excess is below `n * 255 / 2^(31+s)`, too small to move a
/// non-tie across a rounding boundary, and pushes ties away from zero as TFLite does.
/// (Vela uses `ROUND_MODE_NATURAL`, which rounds negative ties towards zero.)
pub fn average_scale(n: u64) -> Scale {
    let s = 64 - (n.max(1) - 1).leading_zeros();
    let s = if n <= 1 { 0 } else { s };
    let num = 1u128 << (31 + s);
    let m = num.div_ceil(n.max(1) as u128);
    Scale {
        multiplier: m as u32,
        shift: (31 + s) as u8,
    }
}

pub(super) fn pool_op(
    cx: &Ctx<'_>,
    node: &Node,
    mode: PoolingMode,
    kernel: [usize; 2],
    win: &Window,
    ofm_scale: Scale,
    clamp: (i32, i32),
) -> Result<NpuOp, Refusal> {
    let (x, y) = io(node)?;
    let ifm = cx.fm(x)?;
    let ofm = cx.fm(y)?;
    let k = kernel.map(|v| v as u32);
    let block = cx.block(BlockRequest {
        kind: BlockOpKind::Pool,
        ofm: ofm.shape,
        ifm_hw: [0, 0],
        ifm_depth: ifm.shape[2],
        kernel: k,
        stride: win.stride.map(|s| s as u32),
        dilation: [1, 1],
        ifm_bits: 8,
        ofm_bits: 8,
        uses_lut: false,
        upscale: 1,
    })?;
    Ok(NpuOp {
        kind: NpuKind::Pool(mode),
        ifm,
        ifm2: None,
        ofm,
        kernel: Kernel {
            size: k,
            stride: win.stride.map(|s| s as u32),
            dilation: [1, 1],
            pads: pads(win, k, ifm.shape, ofm.shape)?,
        },
        weights: None,
        scales: None,
        ofm_scale,
        rounding: RoundMode::Dbl,
        input_scaling: None,
        ifm_rounding: RoundMode::Dbl,
        clamp,
        lut: None,
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
    fn average_scale_divides_like_tflite_micro() {
        for n in [1u64, 2, 3, 4, 5, 6, 7, 9, 25, 49, 64, 100, 125, 4096] {
            let s = average_scale(n);
            for sum in -(255 * n as i64)..=(255 * n as i64) {
                let p = sum as i128 * s.multiplier as i128;
                // ROUND_MODE_DBL for shift > 31: half up at bit 31, then half away from zero.
                let t = (p + (1i128 << 30)) >> 31;
                let e = s.shift as u32 - 31;
                let npu = if e == 0 {
                    t
                } else {
                    let half = 1i128 << (e - 1);
                    if t >= 0 {
                        (t + half) >> e
                    } else {
                        -((-t + half) >> e)
                    }
                };
                let n = n as i64;
                let tflm = if sum > 0 {
                    (sum + n / 2) / n
                } else {
                    (sum - n / 2) / n
                };
                assert_eq!(npu as i64, tflm, "n {n} sum {sum}");
            }
        }
    }
}
