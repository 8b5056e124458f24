//! Pooling (AVERAGE_POOL_2D, MAX_POOL_2D) with TFLite Micro's rounding.

use super::{clamp, effective, io, out_hw, pads, qparams, window_checks, Ctx, Refusal};
use crate::ethos_u::block::{BlockOpKind, BlockRequest};
use crate::ethos_u::npu_op::{FeatureMap, Kernel, NpuKind, NpuOp, Scale};
use crate::ir::{Act, Node, Window};
use kiln_rt::ethos_u::regs::{ClipRange, PoolingMode, RoundMode};

/// AVERAGE_POOL_2D.
///
/// Padding that counts in the divisor (ONNX `count_include_pad`) is the hardware's padding
/// (it reads as the zero point, 0 here) with the divisor the kernel size. TFLite's padded
/// average pool divides by the number of IFM elements under each window instead. Vela
/// leaves such pools to the hardware's own per-window scaling (`use_global_scale` is false
/// for a padded average pool in `register_command_stream_generator.py`, hence its
/// `filter_range = (1, 8)`), whose rounding kiln cannot reproduce from documentation and
/// the NPU model does not implement (it applies `OFM_SCALE`). kiln instead cuts the output
/// into rectangles of equal divisor: along each axis, runs of consecutive outputs whose
/// windows hold the same number of IFM rows (columns) and move by the stride; each
/// rectangle is one unpadded average pool over its IFM view with a kernel of that many rows
/// and columns and the global scale of their product, as for a VALID pool. Exact: every
/// output is the same sum divided by its own count. Cost: up to (2 * pad + 1)^2 operations
/// (9 for a SAME 3x3), each reading only its part of the IFM.
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
    let (xq, yq) = (qparams(g, x)?, qparams(g, y)?);
    if xq != yq {
        return Err("average pool with different input and output quantization".into());
    }
    let clamp = clamp(act, yq)?;
    // TFLite Micro averages the raw values (input and output share the zero point) and
    // rounds half away from zero, which is not translation invariant: zero points 0.
    let mut ifm = cx.fm(x)?;
    let mut ofm = cx.fm(y)?;
    ifm.zero_point = 0;
    ofm.zero_point = 0;
    if win.pads.iter().all(|&p| p == 0) || count_include_pad {
        let n = (kernel[0] * kernel[1]) as u64;
        let k = kernel.map(|v| v as u32);
        let op = pool_op(
            cx,
            node,
            PoolingMode::Average,
            ifm,
            ofm,
            k,
            win,
            average_scale(n),
            clamp,
        )?;
        return Ok(vec![op]);
    }
    let runs = [0, 1].map(|a| {
        count_runs(
            ifm.shape[a],
            ofm.shape[a],
            kernel[a] as i64,
            win.stride[a] as i64,
            win.pads[a] as i64,
        )
    });
    let (rows, cols) = (runs[0].as_ref()?, runs[1].as_ref()?);
    let mut ops = Vec::new();
    for r in rows {
        for c in cols {
            let i = view2(
                ifm,
                [r.first, c.first],
                [r.span(win.stride[0]), c.span(win.stride[1])],
            );
            let o = view2(ofm, [r.out, c.out], [r.outs, c.outs]);
            let w = Window {
                stride: [
                    if r.outs == 1 { 1 } else { win.stride[0] },
                    if c.outs == 1 { 1 } else { win.stride[1] },
                ],
                dilation: [1, 1],
                pads: [0; 4],
            };
            let k = [r.count, c.count];
            let n = (r.count * c.count) as u64;
            ops.push(pool_op(
                cx,
                node,
                PoolingMode::Average,
                i,
                o,
                k,
                &w,
                average_scale(n),
                clamp,
            )?);
        }
    }
    Ok(ops)
}

/// A run of consecutive outputs along one axis whose windows hold `count` IFM rows, the
/// first output's from row `first`, moving by the stride.
struct Run {
    out: u32,
    outs: u32,
    first: u32,
    count: u32,
}

impl Run {
    /// IFM rows the run reads.
    fn span(&self, stride: usize) -> u32 {
        (self.outs - 1) * stride as u32 + self.count
    }
}

fn count_runs(len: u32, outs: u32, k: i64, s: i64, before: i64) -> Result<Vec<Run>, Refusal> {
    let mut runs: Vec<Run> = Vec::new();
    for o in 0..outs as i64 {
        let start = (o * s - before).max(0);
        let end = (o * s - before + k).min(len as i64);
        if end <= start {
            return Err("an average pool window lies wholly in the padding".into());
        }
        let (start, count) = (start as u32, (end - start) as u32);
        if let Some(r) = runs.last_mut() {
            if r.count == count && r.first as i64 + r.outs as i64 * s == start as i64 {
                r.outs += 1;
                continue;
            }
        }
        runs.push(Run {
            out: o as u32,
            outs: 1,
            first: start,
            count,
        });
    }
    Ok(runs)
}

/// The part `[first, first + count)` along rows and columns of a map.
fn view2(fm: FeatureMap, first: [u32; 2], count: [u32; 2]) -> FeatureMap {
    let mut v = fm;
    v.base += first[0] * fm.strides[1] + first[1] * fm.strides[0];
    v.shape = [count[0], count[1], fm.shape[2]];
    v
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
    let k = kernel.map(|v| v as u32);
    let (ifm, ofm) = (cx.fm(x)?, cx.fm(y)?);
    pool_op(
        cx,
        node,
        PoolingMode::Max,
        ifm,
        ofm,
        k,
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

#[allow(clippy::too_many_arguments)]
pub(super) fn pool_op(
    cx: &Ctx<'_>,
    node: &Node,
    mode: PoolingMode,
    ifm: FeatureMap,
    ofm: FeatureMap,
    k: [u32; 2],
    win: &Window,
    ofm_scale: Scale,
    clamp: (i32, i32),
) -> Result<NpuOp, Refusal> {
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
        clip_range: ClipRange::OfmPrecision,
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
    fn padded_pool_runs_have_one_divisor_each() {
        // SAME 3x3 stride 1 over 6: the first and last outputs see 2 rows, the rest 3.
        let r = count_runs(6, 6, 3, 1, 1).unwrap();
        let v: Vec<_> = r
            .iter()
            .map(|r| (r.out, r.outs, r.first, r.count))
            .collect();
        assert_eq!(v, [(0, 1, 0, 2), (1, 4, 0, 3), (5, 1, 4, 2)]);
        // A kernel wider than the IFM: every window holds the whole IFM (two runs, no stride).
        let r = count_runs(2, 2, 8, 1, 3).unwrap();
        let v: Vec<_> = r
            .iter()
            .map(|r| (r.out, r.outs, r.first, r.count))
            .collect();
        assert_eq!(v, [(0, 1, 0, 2), (1, 1, 0, 2)]);
        // Stride 2, SAME 4 over 7 (pads 1, 2): windows at -1, 1, 3, 5.
        let r = count_runs(7, 4, 4, 2, 1).unwrap();
        let v: Vec<_> = r
            .iter()
            .map(|r| (r.out, r.outs, r.first, r.count))
            .collect();
        assert_eq!(v, [(0, 1, 0, 3), (1, 2, 1, 4), (3, 1, 5, 2)]);
    }

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
