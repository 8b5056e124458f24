//! MEAN (TFLite MEAN, ONNX ReduceMean) as one average pool over a view of the input.
//!
//! The input is read as an NHWC view in which the reduced elements of one output element form
//! the pooling window: size-1 axes are dropped and neighbouring axes that are all reduced (or
//! all kept) are merged (they are contiguous in memory), leaving one of
//!
//! - `[R]`, `[R, K]`: the reduced run `R` factored into a window `a x b`, `K` the depth
//!   (e.g. a global average over H and W with the channels kept);
//! - `[K, R]`: `K` rows of `R` elements with depth 1 (e.g. a mean over the channels: the channel
//!   axis becomes the view's width), a window `1 x R`; or transposed, `R x 1` over a view whose
//!   x stride is `R` bytes;
//! - `[K1, R, K2]`: a window `1 x R` (or `R x 1`) with depth `K2` (a mean over W, or over H);
//! - no reduced axis (or only size-1 ones): a 1x1 requantizing copy.
//!
//! `[R1, K, R2]` (a kept axis between reduced ones, e.g. H and C reduced with W kept) is not one
//! window: it becomes one pooling per kept index (at most [`MAX_LOOPED`]), each a window
//! `R1 x R2` over a depth-1 view with row stride `K * R2` that writes one output element.
//! Longer alternations are refused.
//!
//! The arithmetic is TFLite Micro's `QuantizedMeanOrSum` as kiln's CPU kernel runs it: the
//! hardware sums `x - zp_in` over the window (exact), and the OFM scale is the kernel's own
//! folded multiplier, `(M << s) / n` with shift `shift - s` (`s = min(floor(log2 n), 32,
//! 31 + shift)`, `(M, shift) = QuantizeMultiplier(s_in / s_out)`), in `ROUND_MODE_DBL`, which is
//! `MultiplyByQuantizedMultiplier` (see `rescale` in the NPU model); then `+ zp_out` and the
//! int8 clamp. So the NPU computes exactly what the reference computes.

use super::{dense3, io, pool_view, qparams, view, Ctx, Refusal};
use crate::ethos_u::npu_op::{NpuOp, Scale};
use crate::ir::Node;
use crate::quant;
use kiln_rt::ethos_u::regs::PoolingMode;

/// The OFM scale TFLite Micro's MEAN applies to `sum(x - zp_in)` over `n` elements.
pub(super) fn mean_scale(s_in: f32, s_out: f32, n: u64) -> Result<Scale, Refusal> {
    let (m, shift) = quant::mean_multiplier(s_in, s_out).map_err(|e| e.to_string())?;
    if !(-31..=30).contains(&shift) {
        return Err(format!("mean rescale shift {shift} outside [-31, 30]"));
    }
    let n = n.max(1);
    let s = (63 - n.leading_zeros() as i32).min(32).min(31 + shift);
    let multiplier = (((m as i64) << s) / n as i64) as i32;
    let sh = shift - s;
    if sh < -31 {
        // The reference clamps its right shift at 31; the hardware would shift further.
        return Err(format!("mean rescale exponent {sh} below -31"));
    }
    if sh > 0 && (255u64 * n) << sh >= 1 << 31 {
        return Err(format!(
            "mean rescale left shift {sh} of a sum of {n} elements overflows 32 bits in the reference"
        ));
    }
    Ok(Scale {
        multiplier: multiplier as u32,
        shift: (31 - sh) as u8,
    })
}

/// Axis runs of `shape`: size-1 axes dropped, neighbours of the same kind merged;
/// `(reduced, sizes of the original axes)` outermost first.
fn runs(shape: &[usize], reduced: impl Fn(usize) -> bool) -> Vec<(bool, Vec<usize>)> {
    let mut out: Vec<(bool, Vec<usize>)> = Vec::new();
    for (d, &n) in shape.iter().enumerate() {
        if n == 1 {
            continue;
        }
        let r = reduced(d);
        match out.last_mut() {
            Some((k, v)) if *k == r => v.push(n),
            _ => out.push((r, vec![n])),
        }
    }
    out
}

/// Window shapes `[a, b]` with `a * b = r`, the natural split of the original axes first, then
/// the others by increasing larger side.
fn windows(axes: &[usize]) -> Vec<[usize; 2]> {
    let r: usize = axes.iter().product();
    let mut v: Vec<[usize; 2]> = (1..=r)
        .filter(|&a| r.is_multiple_of(a))
        .map(|a| [a, r / a])
        .collect();
    v.sort_by_key(|&[a, b]| (a.max(b), a));
    if axes.len() == 2 {
        let nat = [axes[0], axes[1]];
        v.retain(|&w| w != nat);
        v.insert(0, nat);
    }
    v
}

/// Most poolings one `[R1, K, R2]` mean may take.
pub const MAX_LOOPED: usize = 64;

/// One candidate layout: IFM shape and strides, kernel, OFM shape and strides.
type Layout3 = ([usize; 3], [usize; 3], [usize; 2], [usize; 3], [usize; 3]);

/// MEAN over `axes`.
pub(super) fn mean(cx: &Ctx<'_>, node: &Node, axes: &[usize]) -> Result<Vec<NpuOp>, Refusal> {
    let g = cx.g;
    let (x, y) = io(node)?;
    let (xq, yq) = (qparams(g, x)?, qparams(g, y)?);
    let shape = &g.tensor(x).shape;
    if axes.iter().any(|&a| a >= shape.len()) {
        return Err(format!("mean axes {axes:?} out of range for {shape:?}"));
    }
    let runs = runs(shape, |d| axes.contains(&d));
    let n: usize = runs
        .iter()
        .filter(|(r, _)| *r)
        .flat_map(|(_, v)| v.iter())
        .product();
    let scale = mean_scale(xq.0, yq.0, n as u64)?;
    let (bx, by) = (cx.base(x)?, cx.base(y)?);
    let prod = |v: &[usize]| -> usize { v.iter().product() };
    let mut layouts: Vec<Layout3> = Vec::new();
    match runs.as_slice() {
        [] | [(false, _)] => {
            let total = g.tensor(x).numel();
            let s = dense3(total).ok_or_else(|| format!("{total} elements have no view"))?;
            let s = s.map(|d| d as usize);
            let st = [s[2], s[1] * s[2], 1];
            layouts.push((s, st, [1, 1], s, st));
        }
        [(true, r)] => {
            for [a, b] in windows(r) {
                layouts.push(([a, b, 1], [1, b, 1], [a, b], [1, 1, 1], [1, 1, 1]));
            }
        }
        [(true, r), (false, k)] => {
            let k = prod(k);
            for [a, b] in windows(r) {
                layouts.push(([a, b, k], [k, b * k, 1], [a, b], [1, 1, k], [k, k, 1]));
            }
        }
        [(false, k), (true, r)] => {
            let (k, r) = (prod(k), prod(r));
            layouts.push(([k, r, 1], [1, r, 1], [1, r], [k, 1, 1], [1, 1, 1]));
            layouts.push(([r, k, 1], [r, 1, 1], [r, 1], [1, k, 1], [1, k, 1]));
        }
        [(false, k1), (true, r), (false, k2)] => {
            let (k1, r, k2) = (prod(k1), prod(r), prod(k2));
            layouts.push((
                [k1, r, k2],
                [k2, r * k2, 1],
                [1, r],
                [k1, 1, k2],
                [k2, k2, 1],
            ));
            layouts.push((
                [r, k1, k2],
                [r * k2, k2, 1],
                [r, 1],
                [1, k1, k2],
                [k2, k1 * k2, 1],
            ));
        }
        [(true, r1), (false, k), (true, r2)] => {
            let (r1, k, r2) = (prod(r1), prod(k), prod(r2));
            if k > MAX_LOOPED {
                return Err(format!(
                    "mean over axes {axes:?} of {shape:?}: the {k} kept elements between the reduced axes need one pooling each (at most {MAX_LOOPED})"
                ));
            }
            let u = |v: usize| u32::try_from(v).map_err(|_| "mean view above 2^32".to_string());
            let mut ops = Vec::with_capacity(k);
            for i in 0..k {
                let ifm = view(
                    bx + u(i * r2)?,
                    [u(r1)?, u(r2)?, 1],
                    [1, u(k * r2)?, 1],
                    xq.1,
                );
                let ofm = view(by + u(i)?, [1, 1, 1], [1, 1, 1], yq.1);
                ops.push(pool_view(
                    cx,
                    node,
                    PoolingMode::Average,
                    ifm,
                    ofm,
                    [u(r1)?, u(r2)?],
                    scale,
                    (-128, 127),
                )?);
            }
            return Ok(ops);
        }
        _ => {
            return Err(format!(
                "mean over axes {axes:?} of {shape:?}: reduced and kept axes alternate more than one pooling (or one per kept element) can cover"
            ))
        }
    }
    let mut first_err = None;
    for (is, ist, k, os, ost) in layouts {
        let u = |v: [usize; 3]| -> Option<[u32; 3]> {
            let r = v.map(|d| u32::try_from(d).unwrap_or(u32::MAX));
            (!r.contains(&u32::MAX)).then_some(r)
        };
        let (Some(is), Some(ist), Some(os), Some(ost)) = (u(is), u(ist), u(os), u(ost)) else {
            continue;
        };
        let ifm = view(bx, is, ist, xq.1);
        let ofm = view(by, os, ost, yq.1);
        match pool_view(
            cx,
            node,
            PoolingMode::Average,
            ifm,
            ofm,
            [k[0] as u32, k[1] as u32],
            scale,
            (-128, 127),
        ) {
            Ok(op) => return Ok(vec![op]),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| format!("mean of {shape:?}: no view fits")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_and_drop_unit_axes() {
        let r = runs(&[1, 4, 5, 3], |d| d == 1 || d == 2);
        assert_eq!(r, vec![(true, vec![4, 5]), (false, vec![3])]);
        let r = runs(&[1, 4, 1, 3], |d| d == 3);
        assert_eq!(r, vec![(false, vec![4]), (true, vec![3])]);
        let r = runs(&[1, 4, 5, 3], |d| d == 1 || d == 3);
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn windows_put_the_natural_split_first() {
        assert_eq!(windows(&[3, 8])[0], [3, 8]);
        assert_eq!(windows(&[12])[0], [3, 4]);
        assert!(windows(&[7]).contains(&[1, 7]));
    }
}

#[cfg(test)]
mod placement {
    use super::super::test_support::{assert_npu, placements};
    use crate::ethos_u::partition::Placement;
    use crate::ir::Op;

    fn op(axes: &[usize]) -> Op {
        Op::Mean {
            axes: axes.to_vec(),
            keep_dims: true,
        }
    }

    #[test]
    fn realistic_means_land_on_the_npu() {
        let q = (0.04, -5);
        // Global averages of classifier heads (MobileNet, ResNet, large maps).
        assert_npu(&[1, 7, 7, 1024], op(&[1, 2]), &[1, 1, 1, 1024], q);
        assert_npu(&[1, 8, 8, 64], op(&[1, 2]), &[1, 1, 1, 64], q);
        assert_npu(&[1, 32, 32, 16], op(&[1, 2]), &[1, 1, 1, 16], q);
        assert_npu(&[1, 64, 64, 3], op(&[1, 2]), &[1, 1, 1, 3], q);
        // One axis: W, H, C (a channel mean reads C as the view's width).
        assert_npu(&[1, 10, 49, 40], op(&[2]), &[1, 10, 1, 40], q);
        assert_npu(&[1, 49, 10, 40], op(&[1]), &[1, 1, 10, 40], q);
        assert_npu(&[1, 12, 12, 255], op(&[3]), &[1, 12, 12, 1], q);
        assert_npu(&[1, 5, 5, 7], op(&[2, 3]), &[1, 5, 1, 1], q);
        assert_npu(&[1, 6, 5, 7], op(&[1, 2, 3]), &[1, 1, 1, 1], q);
    }

    #[test]
    fn a_wide_kept_axis_between_reduced_ones_is_refused() {
        // H and C reduced with W kept: one pooling per column, up to 64 of them.
        assert_npu(&[1, 4, 5, 6], op(&[1, 3]), &[1, 1, 5, 1], (0.05, 3));
        for p in placements(&[1, 4, 65, 6], op(&[1, 3]), &[1, 1, 65, 1], (0.05, 3)) {
            assert!(
                matches!(&p, Placement::Cpu(r) if r.contains("width")),
                "{p:?}"
            );
        }
    }
}
