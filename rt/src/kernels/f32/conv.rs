//! 2-D convolution (`aten::convolution`, not transposed) over strided views.
//!
//! Logical layouts are aten's: input `[N, C, H, W]`, weight `[O, C/groups, kh, kw]`,
//! output `[N, O, OH, OW]`; memory order comes from each [`Layout`]'s strides.
//! Two fast paths cover what kiln writes: dense NHWC activations with OHWI
//! weights (dot products over contiguous input channels, 8 accumulators so LLVM
//! vectorizes the reduction), and depthwise NHWC with the weight's channel dim
//! innermost (`[kh, kw, O]` in memory, TFLite's depthwise layout), a per-channel
//! multiply-add over contiguous channels.

use super::{check_fits, check_rank, KernelError, Layout};

/// Geometry of a 2-D convolution. Bottom/right padding is implied by the output size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dParams {
    /// Stride `[h, w]`, at least 1.
    pub stride: [usize; 2],
    /// Dilation `[h, w]`, at least 1.
    pub dilation: [usize; 2],
    /// Padding before the first row / column `[top, left]`.
    pub pad: [usize; 2],
    /// Channel groups (`C` for depthwise).
    pub groups: usize,
}

/// Output length of a window sweep: `(input + pads - dilation*(kernel-1) - 1) / stride + 1`,
/// rounded up when `ceil` (then the last window must start inside input + leading pad, as torch).
/// `None` when the window does not fit or a parameter is zero.
pub fn window_out_size(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad_before: usize,
    pad_after: usize,
    ceil: bool,
) -> Option<usize> {
    if kernel == 0 || stride == 0 || dilation == 0 {
        return None;
    }
    let padded = input.checked_add(pad_before)?.checked_add(pad_after)?;
    let extent = dilation.checked_mul(kernel - 1)?.checked_add(1)?;
    let room = padded.checked_sub(extent)?;
    let mut out = if ceil {
        room.div_ceil(stride)
    } else {
        room / stride
    } + 1;
    if ceil && (out - 1) * stride >= input + pad_before {
        out -= 1;
    }
    Some(out)
}

/// Input coordinate of output position `o`, tap `k`, or `None` when it falls in the padding.
#[inline(always)]
fn tap(
    o: usize,
    stride: usize,
    k: usize,
    dilation: usize,
    pad: usize,
    size: usize,
) -> Option<usize> {
    let pos = o
        .saturating_mul(stride)
        .saturating_add(k.saturating_mul(dilation));
    match pos.checked_sub(pad) {
        Some(i) if i < size => Some(i),
        _ => None,
    }
}

/// Dot product with 8 independent partial sums (vectorizable; order differs from a plain loop).
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// True when a rank-4 `[N, C, H, W]` layout is dense channels-last (dim_order `[0, 2, 3, 1]`).
fn is_nhwc(l: &Layout) -> bool {
    let s = l.sizes();
    let (c, h, w) = (s[1], s[2], s[3]);
    let st = l.strides();
    let dense = |got: usize, want: usize, size: usize| size == 1 || got == want;
    dense(st[1], 1, c)
        && dense(st[3], c, w)
        && dense(st[2], c * w, h)
        && dense(st[0], c * w * h, s[0])
}

/// `out = conv2d(x, w) + bias` with aten semantics (cross-correlation, zero padding).
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    p: &Conv2dParams,
    x: &[f32],
    xl: &Layout,
    w: &[f32],
    wl: &Layout,
    bias: Option<&[f32]>,
    out: &mut [f32],
    ol: &Layout,
) -> Result<(), KernelError> {
    check_rank("input", xl, 4)?;
    check_rank("weight", wl, 4)?;
    check_rank("output", ol, 4)?;
    check_fits("input", xl, x.len())?;
    check_fits("weight", wl, w.len())?;
    check_fits("output", ol, out.len())?;
    if p.groups == 0 || p.stride.contains(&0) || p.dilation.contains(&0) {
        return Err(KernelError::Param {
            what: "groups, stride and dilation must be at least 1",
        });
    }
    let [n, c, h, wd] = [xl.size(0), xl.size(1), xl.size(2), xl.size(3)];
    let [o, ig, kh, kw] = [wl.size(0), wl.size(1), wl.size(2), wl.size(3)];
    let [on, oc, oh, ow] = [ol.size(0), ol.size(1), ol.size(2), ol.size(3)];
    if on != n {
        return Err(KernelError::Shape {
            what: "output batch != input batch",
        });
    }
    if oc != o {
        return Err(KernelError::Shape {
            what: "output channels != weight out-channels",
        });
    }
    if ig.checked_mul(p.groups) != Some(c) {
        return Err(KernelError::Shape {
            what: "weight in-channels * groups != input channels",
        });
    }
    if o % p.groups != 0 {
        return Err(KernelError::Shape {
            what: "weight out-channels not divisible by groups",
        });
    }
    if let Some(b) = bias {
        if b.len() < o {
            return Err(KernelError::BufferTooSmall {
                what: "bias",
                need: o,
                have: b.len(),
            });
        }
    }
    let og = o / p.groups;
    let bias_of = |ch: usize| bias.map_or(0.0, |b| b[ch]);
    let (x, w) = (&x[xl.offset()..], &w[wl.offset()..]);
    let out_base = ol.offset();
    let [sh, sw] = p.stride;
    let [dh, dw] = p.dilation;
    let [pt, pl] = p.pad;

    if is_nhwc(xl) && is_nhwc(ol) {
        let ws = wl.strides();
        // Depthwise: one input channel per group, weight channel dim innermost ([kh, kw, O] in memory).
        if ig == 1
            && p.groups == c
            && ws[0] == 1
            && (kw == 1 || ws[3] == o)
            && (kh == 1 || ws[2] == kw * o)
        {
            let m = og;
            for ni in 0..n {
                for y in 0..oh {
                    for xo in 0..ow {
                        let ob = out_base + ((ni * oh + y) * ow + xo) * o;
                        let orow = &mut out[ob..ob + o];
                        for (ch, v) in orow.iter_mut().enumerate() {
                            *v = bias_of(ch);
                        }
                        for ky in 0..kh {
                            let Some(iy) = tap(y, sh, ky, dh, pt, h) else {
                                continue;
                            };
                            for kx in 0..kw {
                                let Some(ix) = tap(xo, sw, kx, dw, pl, wd) else {
                                    continue;
                                };
                                let xb = ((ni * h + iy) * wd + ix) * c;
                                let xs = &x[xb..xb + c];
                                let wb = (ky * kw + kx) * o;
                                let wsl = &w[wb..wb + o];
                                if m == 1 {
                                    for ((v, xv), wv) in orow.iter_mut().zip(xs).zip(wsl) {
                                        *v += xv * wv;
                                    }
                                } else {
                                    for (ch, xv) in xs.iter().enumerate() {
                                        let r = ch * m..ch * m + m;
                                        for (v, wv) in orow[r.clone()].iter_mut().zip(&wsl[r]) {
                                            *v += xv * wv;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            return Ok(());
        }
        // Dense (or grouped) NHWC with OHWI weights: contiguous input-channel dot products.
        if is_nhwc(wl) {
            for ni in 0..n {
                for y in 0..oh {
                    for xo in 0..ow {
                        let ob = out_base + ((ni * oh + y) * ow + xo) * o;
                        for (och, v) in out[ob..ob + o].iter_mut().enumerate() {
                            let g = och / og;
                            let mut acc = bias_of(och);
                            for ky in 0..kh {
                                let Some(iy) = tap(y, sh, ky, dh, pt, h) else {
                                    continue;
                                };
                                for kx in 0..kw {
                                    let Some(ix) = tap(xo, sw, kx, dw, pl, wd) else {
                                        continue;
                                    };
                                    let xb = ((ni * h + iy) * wd + ix) * c + g * ig;
                                    let wb = ((och * kh + ky) * kw + kx) * ig;
                                    acc += dot(&x[xb..xb + ig], &w[wb..wb + ig]);
                                }
                            }
                            *v = acc;
                        }
                    }
                }
            }
            return Ok(());
        }
    }

    // Generic strided path: any memory order for each operand.
    let xs = xl.strides();
    let ws = wl.strides();
    let os = ol.strides();
    for ni in 0..n {
        for och in 0..o {
            let g = och / og;
            for y in 0..oh {
                for xo in 0..ow {
                    let mut acc = bias_of(och);
                    for i in 0..ig {
                        let ch = g * ig + i;
                        for ky in 0..kh {
                            let Some(iy) = tap(y, sh, ky, dh, pt, h) else {
                                continue;
                            };
                            for kx in 0..kw {
                                let Some(ix) = tap(xo, sw, kx, dw, pl, wd) else {
                                    continue;
                                };
                                let xv = x[ni * xs[0] + ch * xs[1] + iy * xs[2] + ix * xs[3]];
                                let wv = w[och * ws[0] + i * ws[1] + ky * ws[2] + kx * ws[3]];
                                acc += xv * wv;
                            }
                        }
                    }
                    out[out_base + ni * os[0] + och * os[1] + y * os[2] + xo * os[3]] = acc;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn rand_vec(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// Writes logical row-major `data` into a buffer laid out as `l`.
    fn scatter(data: &[f32], l: &Layout) -> Vec<f32> {
        let mut buf = vec![f32::NAN; l.span()];
        for (v, off) in data.iter().zip(l.offsets()) {
            buf[off] = *v;
        }
        buf
    }

    fn gather(buf: &[f32], l: &Layout) -> Vec<f32> {
        l.offsets().map(|o| buf[o]).collect()
    }

    /// Straightforward NCHW reference in f64 with explicit padding checks.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        p: &Conv2dParams,
        x: &[f32],
        xs: [usize; 4],
        w: &[f32],
        ws: [usize; 4],
        b: Option<&[f32]>,
        oh: usize,
        ow: usize,
    ) -> Vec<f32> {
        let [n, c, h, wd] = xs;
        let [o, ig, kh, kw] = ws;
        let og = o / p.groups;
        let mut out = Vec::new();
        for ni in 0..n {
            for oc in 0..o {
                for y in 0..oh {
                    for xo in 0..ow {
                        let mut acc = b.map_or(0.0, |b| b[oc] as f64);
                        for i in 0..ig {
                            let ch = (oc / og) * ig + i;
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = (y * p.stride[0] + ky * p.dilation[0]) as isize
                                        - p.pad[0] as isize;
                                    let ix = (xo * p.stride[1] + kx * p.dilation[1]) as isize
                                        - p.pad[1] as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                        continue;
                                    }
                                    let xv =
                                        x[((ni * c + ch) * h + iy as usize) * wd + ix as usize];
                                    let wv = w[((oc * ig + i) * kh + ky) * kw + kx];
                                    acc += xv as f64 * wv as f64;
                                }
                            }
                        }
                        out.push(acc as f32);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn hand_checked_3x3_input_2x2_kernel_pad_1() {
        // x = 1..9 in a 3x3 plane, kernel all ones, pad 1, stride 2 -> 2x2 output:
        // (0,0): x[0,0] = 1; (0,1): x[0,1]+x[0,2] = 5; (1,0): x[1,0]+x[2,0] = 11; (1,1): 5+6+8+9 = 28.
        let p = Conv2dParams {
            stride: [2, 2],
            dilation: [1, 1],
            pad: [1, 1],
            groups: 1,
        };
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let xl = Layout::contiguous(&[1, 1, 3, 3]).unwrap();
        let wl = Layout::contiguous(&[1, 1, 2, 2]).unwrap();
        let ol = Layout::contiguous(&[1, 1, 2, 2]).unwrap();
        let mut out = [0.0f32; 4];
        conv2d(&p, &x, &xl, &[1.0; 4], &wl, Some(&[0.5]), &mut out, &ol).unwrap();
        assert_eq!(out, [1.5, 5.5, 11.5, 28.5]);
        assert_eq!(window_out_size(3, 2, 2, 1, 1, 1, false), Some(2));
    }

    #[test]
    fn hand_checked_depthwise_nhwc() {
        // Two channels, 2x2 input, 2x2 kernel, no pad: out[c] = sum(x[., ., c] * w[., ., c]).
        let p = Conv2dParams {
            stride: [1, 1],
            dilation: [1, 1],
            pad: [0, 0],
            groups: 2,
        };
        let x = [1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0]; // NHWC
        let xl = Layout::with_dim_order(&[1, 2, 2, 2], &[0, 2, 3, 1]).unwrap();
        let w = [1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 2.0, 0.5]; // [kh, kw, O]
        let wl = Layout::with_dim_order(&[2, 1, 2, 2], &[1, 2, 3, 0]).unwrap();
        let ol = Layout::with_dim_order(&[1, 2, 1, 1], &[0, 2, 3, 1]).unwrap();
        let mut out = [0.0f32; 2];
        conv2d(&p, &x, &xl, &w, &wl, None, &mut out, &ol).unwrap();
        assert_eq!(out, [1.0 + 2.0 + 3.0 + 8.0, -10.0 - 20.0 - 30.0 + 20.0]);
    }

    /// Every layout combination (NCHW, NHWC, OHWI, depthwise [kh,kw,O]) against the reference.
    #[test]
    fn all_layouts_strides_pads_dilations_groups_match_reference() {
        type Case = (
            [usize; 4],
            usize,
            usize,
            [usize; 2],
            [usize; 2],
            [usize; 4],
            [usize; 2],
        );
        let cases: &[Case] = &[
            // (x NCHW sizes, O, groups, kernel, stride, pads t l b r, dilation)
            ([1, 3, 7, 5], 4, 1, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1]),
            ([2, 3, 8, 9], 5, 1, [3, 2], [2, 1], [0, 1, 2, 0], [1, 1]),
            ([1, 4, 9, 9], 4, 4, [3, 3], [2, 2], [1, 1, 1, 1], [1, 1]),
            ([1, 4, 9, 7], 8, 4, [3, 3], [1, 2], [2, 0, 1, 1], [2, 1]),
            ([1, 6, 6, 6], 4, 2, [1, 1], [1, 1], [0, 0, 0, 0], [1, 1]),
            ([1, 10, 5, 5], 3, 1, [5, 5], [1, 1], [2, 2, 2, 2], [1, 1]),
            ([1, 1, 11, 4], 2, 1, [3, 3], [3, 2], [1, 0, 1, 2], [2, 2]),
            ([1, 17, 4, 4], 9, 1, [2, 2], [1, 1], [0, 0, 1, 1], [1, 1]),
        ];
        for (ci, &(xs, o, groups, [kh, kw], stride, pads, dilation)) in cases.iter().enumerate() {
            let ig = xs[1] / groups;
            let p = Conv2dParams {
                stride,
                dilation,
                pad: [pads[0], pads[1]],
                groups,
            };
            let oh = window_out_size(xs[2], kh, stride[0], dilation[0], pads[0], pads[2], false)
                .unwrap();
            let ow = window_out_size(xs[3], kw, stride[1], dilation[1], pads[1], pads[3], false)
                .unwrap();
            let x = rand_vec(xs.iter().product(), ci as u32 + 1);
            let w = rand_vec(o * ig * kh * kw, ci as u32 + 100);
            let b = rand_vec(o, ci as u32 + 200);
            let ws = [o, ig, kh, kw];
            let want = reference(&p, &x, xs, &w, ws, Some(&b), oh, ow);
            let osz = [xs[0], o, oh, ow];
            let mut worders: Vec<&[u8]> = vec![&[0, 1, 2, 3], &[0, 2, 3, 1]];
            if ig == 1 {
                worders.push(&[1, 2, 3, 0]);
            }
            for xo in [[0u8, 1, 2, 3], [0, 2, 3, 1]] {
                for wo in &worders {
                    for oo in [[0u8, 1, 2, 3], [0, 2, 3, 1]] {
                        let xl = Layout::with_dim_order(&xs, &xo).unwrap();
                        let wl = Layout::with_dim_order(&ws, wo).unwrap();
                        let ol = Layout::with_dim_order(&osz, &oo).unwrap();
                        let mut out = vec![f32::NAN; ol.span()];
                        conv2d(
                            &p,
                            &scatter(&x, &xl),
                            &xl,
                            &scatter(&w, &wl),
                            &wl,
                            Some(&b),
                            &mut out,
                            &ol,
                        )
                        .unwrap();
                        let got = gather(&out, &ol);
                        for (g, r) in got.iter().zip(&want) {
                            assert!(
                                (g - r).abs() <= 1e-5 + 1e-5 * r.abs(),
                                "case {ci} {xo:?} {wo:?} {oo:?}: {g} vs {r}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn rejects_inconsistent_operands() {
        let p = Conv2dParams {
            stride: [1, 1],
            dilation: [1, 1],
            pad: [0, 0],
            groups: 2,
        };
        let xl = Layout::contiguous(&[1, 3, 4, 4]).unwrap();
        let wl = Layout::contiguous(&[2, 1, 3, 3]).unwrap();
        let ol = Layout::contiguous(&[1, 2, 2, 2]).unwrap();
        let mut out = [0.0; 8];
        let e = conv2d(&p, &[0.0; 48], &xl, &[0.0; 18], &wl, None, &mut out, &ol).unwrap_err();
        assert!(matches!(e, KernelError::Shape { .. }));
        let p1 = Conv2dParams { groups: 1, ..p };
        let e = conv2d(&p1, &[0.0; 47], &xl, &[0.0; 18], &wl, None, &mut out, &ol).unwrap_err();
        assert!(matches!(
            e,
            KernelError::BufferTooSmall { what: "input", .. }
        ));
        let p0 = Conv2dParams {
            stride: [0, 1],
            ..p
        };
        assert!(conv2d(&p0, &[0.0; 48], &xl, &[0.0; 18], &wl, None, &mut out, &ol).is_err());
        assert_eq!(window_out_size(2, 3, 1, 1, 0, 0, false), None);
    }
}
