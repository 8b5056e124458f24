//! 2-D max and average pooling over strided `[N, C, H, W]` views (aten semantics).

use super::{check_fits, check_rank, KernelError, Layout};

/// Window geometry of a pool. Padding is explicit on all four sides (aten's symmetric
/// padding is `[p_h, p_w, p_h, p_w]`); with `ceil_mode` the output size (given by the
/// output layout) may reach beyond the bottom/right padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dParams {
    /// Window `[h, w]`.
    pub kernel: [usize; 2],
    /// Stride `[h, w]`.
    pub stride: [usize; 2],
    /// Dilation `[h, w]` (max pool only; 1 for average pool).
    pub dilation: [usize; 2],
    /// Padding `[top, left, bottom, right]`.
    pub pad: [usize; 4],
}

impl Pool2dParams {
    fn check(&self) -> Result<(), KernelError> {
        if self.kernel.contains(&0) || self.stride.contains(&0) || self.dilation.contains(&0) {
            return Err(KernelError::Param {
                what: "kernel, stride and dilation must be at least 1",
            });
        }
        Ok(())
    }
}

fn check_nc(xl: &Layout, ol: &Layout) -> Result<(), KernelError> {
    check_rank("input", xl, 4)?;
    check_rank("output", ol, 4)?;
    if xl.size(0) != ol.size(0) || xl.size(1) != ol.size(1) {
        return Err(KernelError::Shape {
            what: "output batch/channels != input batch/channels",
        });
    }
    Ok(())
}

/// Max pool. Padded cells never win; NaN wins (as torch). With `indices`, writes the flat
/// `h * W + w` position of each maximum in its input plane (aten's `max_pool2d_with_indices`).
/// A window entirely in the padding yields `-inf` (index of its clamped start).
pub fn max_pool2d(
    p: &Pool2dParams,
    x: &[f32],
    xl: &Layout,
    out: &mut [f32],
    ol: &Layout,
    mut indices: Option<(&mut [i64], &Layout)>,
) -> Result<(), KernelError> {
    p.check()?;
    check_nc(xl, ol)?;
    check_fits("input", xl, x.len())?;
    check_fits("output", ol, out.len())?;
    if let Some((ib, il)) = &indices {
        if il.sizes() != ol.sizes() {
            return Err(KernelError::Shape {
                what: "indices sizes != output sizes",
            });
        }
        check_fits("indices", il, ib.len())?;
    }
    let [n, c, h, w] = [xl.size(0), xl.size(1), xl.size(2), xl.size(3)];
    let [oh, ow] = [ol.size(2), ol.size(3)];
    let (xs, os) = (xl.strides(), ol.strides());
    let [kh, kw] = p.kernel;
    let [sh, sw] = p.stride;
    let [dh, dw] = p.dilation;
    for ni in 0..n {
        for ch in 0..c {
            let plane = xl.offset() + ni * xs[0] + ch * xs[1];
            for y in 0..oh {
                for xo in 0..ow {
                    let mut best = f32::NEG_INFINITY;
                    let mut best_i: Option<usize> = None;
                    let mut first: Option<usize> = None;
                    for ky in 0..kh {
                        let pos = y.saturating_mul(sh).saturating_add(ky.saturating_mul(dh));
                        let Some(iy) = pos.checked_sub(p.pad[0]).filter(|&i| i < h) else {
                            continue;
                        };
                        for kx in 0..kw {
                            let pos = xo.saturating_mul(sw).saturating_add(kx.saturating_mul(dw));
                            let Some(ix) = pos.checked_sub(p.pad[1]).filter(|&i| i < w) else {
                                continue;
                            };
                            let v = x[plane + iy * xs[2] + ix * xs[3]];
                            first.get_or_insert(iy * w + ix);
                            // torch's rule: a later NaN replaces an earlier one.
                            if v > best || v.is_nan() {
                                best = v;
                                best_i = Some(iy * w + ix);
                            }
                        }
                    }
                    let oo = ol.offset() + ni * os[0] + ch * os[1] + y * os[2] + xo * os[3];
                    out[oo] = best;
                    if let Some((ib, il)) = indices.as_mut() {
                        let is = il.strides();
                        let io = il.offset() + ni * is[0] + ch * is[1] + y * is[2] + xo * is[3];
                        ib[io] = best_i.or(first).unwrap_or(0) as i64;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Average pool (torch's divisor rule): the window is clipped to input + padding; the divisor is
/// `divisor_override`, else the clipped-to-padding window area if `count_include_pad`, else the
/// number of input cells. A window with no input cells yields 0.
pub fn avg_pool2d(
    p: &Pool2dParams,
    count_include_pad: bool,
    divisor_override: Option<usize>,
    x: &[f32],
    xl: &Layout,
    out: &mut [f32],
    ol: &Layout,
) -> Result<(), KernelError> {
    p.check()?;
    if p.dilation != [1, 1] {
        return Err(KernelError::Param {
            what: "average pool has no dilation",
        });
    }
    if divisor_override == Some(0) {
        return Err(KernelError::Param {
            what: "divisor_override must not be 0",
        });
    }
    check_nc(xl, ol)?;
    check_fits("input", xl, x.len())?;
    check_fits("output", ol, out.len())?;
    let [n, c, h, w] = [xl.size(0), xl.size(1), xl.size(2), xl.size(3)];
    let [oh, ow] = [ol.size(2), ol.size(3)];
    let (xs, os) = (xl.strides(), ol.strides());
    let [pt, pl, pb, pr] = p.pad;
    // Window in padded coordinates: [start, end) clipped to the padded extent, then to the input.
    let span = |o: usize, stride: usize, k: usize, pad_after: usize, size: usize| {
        let start = o.saturating_mul(stride);
        let end = start.saturating_add(k).min(size.saturating_add(pad_after));
        (start, end)
    };
    for ni in 0..n {
        for ch in 0..c {
            let plane = xl.offset() + ni * xs[0] + ch * xs[1];
            for y in 0..oh {
                // Padded coordinates: input row r is padded row r + pt.
                let (ys, ye) = span(y, p.stride[0], p.kernel[0], pb, h + pt);
                let (y0, y1) = (ys.max(pt) - pt, ye.max(pt).min(h + pt) - pt);
                for xo in 0..ow {
                    let (xs0, xe) = span(xo, p.stride[1], p.kernel[1], pr, w + pl);
                    let (x0, x1) = (xs0.max(pl) - pl, xe.max(pl).min(w + pl) - pl);
                    let oo = ol.offset() + ni * os[0] + ch * os[1] + y * os[2] + xo * os[3];
                    if y0 >= y1 || x0 >= x1 {
                        out[oo] = 0.0;
                        continue;
                    }
                    let mut sum = 0.0f32;
                    for iy in y0..y1 {
                        for ix in x0..x1 {
                            sum += x[plane + iy * xs[2] + ix * xs[3]];
                        }
                    }
                    let divisor = match divisor_override {
                        Some(d) => d,
                        None if count_include_pad => (ye - ys.min(ye)) * (xe - xs0.min(xe)),
                        None => (y1 - y0) * (x1 - x0),
                    };
                    out[oo] = sum / divisor as f32;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::f32::conv::window_out_size;

    fn l(s: &[usize]) -> Layout {
        Layout::contiguous(s).unwrap()
    }

    #[test]
    fn max_pool_2x2_stride_2_with_indices() {
        // 4x4 plane 0..16: maxima are the bottom-right cell of each 2x2 block.
        let x: [f32; 16] = core::array::from_fn(|i| i as f32);
        let p = Pool2dParams {
            kernel: [2, 2],
            stride: [2, 2],
            dilation: [1, 1],
            pad: [0; 4],
        };
        let mut out = [0.0; 4];
        let mut idx = [0i64; 4];
        let il = l(&[1, 1, 2, 2]);
        max_pool2d(
            &p,
            &x,
            &l(&[1, 1, 4, 4]),
            &mut out,
            &l(&[1, 1, 2, 2]),
            Some((&mut idx, &il)),
        )
        .unwrap();
        assert_eq!(out, [5.0, 7.0, 13.0, 15.0]);
        assert_eq!(idx, [5, 7, 13, 15]);
    }

    #[test]
    fn max_pool_padding_never_wins_and_ceil_mode() {
        // 3x3 all negative, kernel 2 stride 2 pad 1: windows hold 1, 2, 2, 4 real cells.
        let x = [-9.0, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0];
        let p = Pool2dParams {
            kernel: [2, 2],
            stride: [2, 2],
            dilation: [1, 1],
            pad: [1, 1, 1, 1],
        };
        let mut out = [0.0; 4];
        let mut idx = [0i64; 4];
        let il = l(&[1, 1, 2, 2]);
        max_pool2d(
            &p,
            &x,
            &l(&[1, 1, 3, 3]),
            &mut out,
            &l(&[1, 1, 2, 2]),
            Some((&mut idx, &il)),
        )
        .unwrap();
        assert_eq!(out, [-9.0, -1.0, -3.0, -4.0]);
        assert_eq!(idx, [0, 1, 3, 4]);
        // ceil_mode: 5 wide, kernel 2 stride 2 -> 3 outputs, the last window holds one cell.
        assert_eq!(window_out_size(5, 2, 2, 1, 0, 0, true), Some(3));
        assert_eq!(window_out_size(5, 2, 2, 1, 0, 0, false), Some(2));
        let x5 = [1.0, 5.0, 2.0, 3.0, 4.0];
        let p = Pool2dParams {
            kernel: [1, 2],
            stride: [1, 2],
            dilation: [1, 1],
            pad: [0; 4],
        };
        let mut out = [0.0; 3];
        max_pool2d(
            &p,
            &x5,
            &l(&[1, 1, 1, 5]),
            &mut out,
            &l(&[1, 1, 1, 3]),
            None,
        )
        .unwrap();
        assert_eq!(out, [5.0, 3.0, 4.0]);
    }

    #[test]
    fn max_pool_dilation_nan_and_channels_last() {
        let x = [1.0, 9.0, 2.0, f32::NAN, 3.0];
        let p = Pool2dParams {
            kernel: [1, 2],
            stride: [1, 1],
            dilation: [1, 2],
            pad: [0; 4],
        };
        let mut out = [0.0; 3];
        max_pool2d(&p, &x, &l(&[1, 1, 1, 5]), &mut out, &l(&[1, 1, 1, 3]), None).unwrap();
        assert_eq!(out[0], 2.0);
        assert!(out[1].is_nan());
        assert_eq!(out[2], 3.0);
        // NHWC: 2 channels interleaved, 1x2 plane, global max per channel.
        let xl = Layout::with_dim_order(&[1, 2, 1, 2], &[0, 2, 3, 1]).unwrap();
        let ol = Layout::with_dim_order(&[1, 2, 1, 1], &[0, 2, 3, 1]).unwrap();
        let p = Pool2dParams {
            kernel: [1, 2],
            stride: [1, 1],
            dilation: [1, 1],
            pad: [0; 4],
        };
        let mut out = [0.0; 2];
        max_pool2d(&p, &[1.0, 8.0, 4.0, -2.0], &xl, &mut out, &ol, None).unwrap();
        assert_eq!(out, [4.0, 8.0]);
    }

    #[test]
    fn avg_pool_count_include_pad_divisor_override_ceil() {
        // 3x3 of ones, kernel 2 stride 2 pad 1 -> windows hold 1, 2, 2, 4 real cells.
        let x = [1.0f32; 9];
        let p = Pool2dParams {
            kernel: [2, 2],
            stride: [2, 2],
            dilation: [1, 1],
            pad: [1, 1, 1, 1],
        };
        let (xl, ol) = (l(&[1, 1, 3, 3]), l(&[1, 1, 2, 2]));
        let mut out = [0.0; 4];
        avg_pool2d(&p, false, None, &x, &xl, &mut out, &ol).unwrap();
        assert_eq!(out, [1.0; 4]);
        avg_pool2d(&p, true, None, &x, &xl, &mut out, &ol).unwrap();
        assert_eq!(out, [0.25, 0.5, 0.5, 1.0]);
        avg_pool2d(&p, true, Some(2), &x, &xl, &mut out, &ol).unwrap();
        assert_eq!(out, [0.5, 1.0, 1.0, 2.0]);
        // ceil_mode, no padding: 1x5 row, kernel 2 stride 2 -> last window is clipped to 1 cell
        // and, as torch, even count_include_pad divides by the clipped window (no padding there).
        let x5 = [1.0, 3.0, 5.0, 7.0, 9.0];
        let p = Pool2dParams {
            kernel: [1, 2],
            stride: [1, 2],
            dilation: [1, 1],
            pad: [0; 4],
        };
        let mut out = [0.0; 3];
        avg_pool2d(
            &p,
            true,
            None,
            &x5,
            &l(&[1, 1, 1, 5]),
            &mut out,
            &l(&[1, 1, 1, 3]),
        )
        .unwrap();
        assert_eq!(out, [2.0, 6.0, 9.0]);
        // Asymmetric explicit padding (TFLite SAME): 2x2 input, kernel 3, pad bottom/right 1.
        let p = Pool2dParams {
            kernel: [3, 3],
            stride: [1, 1],
            dilation: [1, 1],
            pad: [0, 0, 1, 1],
        };
        let x4 = [1.0, 2.0, 3.0, 4.0];
        let mut out = [0.0; 4];
        avg_pool2d(
            &p,
            false,
            None,
            &x4,
            &l(&[1, 1, 2, 2]),
            &mut out,
            &l(&[1, 1, 2, 2]),
        )
        .unwrap();
        assert_eq!(out, [2.5, 3.0, 3.5, 4.0]);
        avg_pool2d(
            &p,
            true,
            None,
            &x4,
            &l(&[1, 1, 2, 2]),
            &mut out,
            &l(&[1, 1, 2, 2]),
        )
        .unwrap();
        assert_eq!(out, [10.0 / 9.0, 1.0, 7.0 / 6.0, 1.0]);
    }
}
