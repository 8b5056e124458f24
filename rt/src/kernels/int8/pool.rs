//! AVERAGE_POOL_2D and MAX_POOL_2D int8 (TFLM `reference_integer_ops::AveragePool` / `MaxPool`),
//! NHWC. Padded cells are excluded (from the count, and from the max).

use super::{check, ActRange, Nhwc};
use crate::ops::OpKind;
use crate::RtError;

/// Pooling window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolParams {
    /// Window `[h, w]` (>= 1).
    pub kernel: [usize; 2],
    /// Stride `[h, w]` (>= 1).
    pub stride: [usize; 2],
    /// Padding `[top, left]`.
    pub pad: [usize; 2],
    /// Fused activation range.
    pub act: ActRange,
}

/// Channels reduced together (stack buffer, no allocation).
const CHUNK: usize = 64;

pub(crate) fn validate(
    op: OpKind,
    p: &PoolParams,
    x: &[i8],
    xs: Nhwc,
    y: &[i8],
    ys: Nhwc,
) -> Result<(), RtError> {
    p.act.validate(op)?;
    check(
        xs.numel() == Some(x.len()),
        op,
        "input size does not match its NHWC shape",
    )?;
    check(
        ys.numel() == Some(y.len()),
        op,
        "output size does not match its NHWC shape",
    )?;
    check(
        xs.n == ys.n && xs.c == ys.c,
        op,
        "input and output batch/channels differ",
    )?;
    check(
        p.kernel[0] >= 1 && p.kernel[1] >= 1 && p.stride[0] >= 1 && p.stride[1] >= 1,
        op,
        "kernel and stride must be >= 1",
    )?;
    let lim = isize::MAX as usize / 4;
    check(
        ys.h.saturating_mul(p.stride[0]) < lim
            && ys.w.saturating_mul(p.stride[1]) < lim
            && p.pad[0] < lim
            && p.pad[1] < lim,
        op,
        "window geometry too large",
    )
}

/// The window's rows/cols inside the input: `[start, end)` in input coordinates.
#[inline]
fn window(out: usize, stride: usize, pad: usize, k: usize, size: usize) -> (usize, usize) {
    let origin = (out * stride) as isize - pad as isize;
    let start = origin.max(0) as usize;
    let end = (origin + k as isize).clamp(0, size as isize) as usize;
    (start.min(end), end)
}

/// Visits every output pixel with its window, calling `f(window_rows, window_cols, in_base, out_pixel)`.
pub(crate) fn for_each_window(
    p: &PoolParams,
    xs: Nhwc,
    ys: Nhwc,
    y: &mut [i8],
    mut f: impl FnMut((usize, usize), (usize, usize), usize, &mut [i8]) -> Result<(), RtError>,
) -> Result<(), RtError> {
    let mut out = y.chunks_exact_mut(ys.c.max(1));
    for b in 0..xs.n {
        for oy in 0..ys.h {
            let rows = window(oy, p.stride[0], p.pad[0], p.kernel[0], xs.h);
            for ox in 0..ys.w {
                let cols = window(ox, p.stride[1], p.pad[1], p.kernel[1], xs.w);
                let Some(opix) = out.next() else {
                    return Ok(());
                };
                f(rows, cols, b * xs.h, opix)?;
            }
        }
    }
    Ok(())
}

/// AVERAGE_POOL_2D int8: rounded (half away from zero) mean of the cells inside the input.
pub fn avg_pool(p: &PoolParams, x: &[i8], xs: Nhwc, y: &mut [i8], ys: Nhwc) -> Result<(), RtError> {
    const K: OpKind = OpKind::CmQuantizedAvgPool2d;
    validate(K, p, x, xs, y, ys)?;
    let c = xs.c;
    for_each_window(p, xs, ys, y, |(r0, r1), (c0, c1), row_base, opix| {
        let count = i32::try_from((r1 - r0) * (c1 - c0)).unwrap_or(0);
        // TFLM returns an error when a window lies entirely in the padding.
        check(
            count > 0,
            K,
            "a pooling window lies entirely in the padding or is too large",
        )?;
        let mut ch = 0;
        while ch < c {
            let len = CHUNK.min(c - ch);
            let mut acc = [0i32; CHUNK];
            let acc = &mut acc[..len];
            for iy in r0..r1 {
                for ix in c0..c1 {
                    let base = ((row_base + iy) * xs.w + ix) * c + ch;
                    for (a, &v) in acc.iter_mut().zip(&x[base..base + len]) {
                        *a = a.wrapping_add(v as i32);
                    }
                }
            }
            for (o, &a) in opix[ch..ch + len].iter_mut().zip(acc.iter()) {
                let avg = if a > 0 {
                    a.wrapping_add(count / 2) / count
                } else {
                    a.wrapping_sub(count / 2) / count
                };
                *o = p.act.apply(avg);
            }
            ch += len;
        }
        Ok(())
    })
}

/// MAX_POOL_2D int8: the max of the cells inside the input (-128 if none), then the clamp.
pub fn max_pool(p: &PoolParams, x: &[i8], xs: Nhwc, y: &mut [i8], ys: Nhwc) -> Result<(), RtError> {
    const K: OpKind = OpKind::CmQuantizedMaxPool2d;
    validate(K, p, x, xs, y, ys)?;
    let c = xs.c;
    for_each_window(p, xs, ys, y, |(r0, r1), (c0, c1), row_base, opix| {
        let mut ch = 0;
        while ch < c {
            let len = CHUNK.min(c - ch);
            let mut acc = [i8::MIN; CHUNK];
            let acc = &mut acc[..len];
            for iy in r0..r1 {
                for ix in c0..c1 {
                    let base = ((row_base + iy) * xs.w + ix) * c + ch;
                    for (a, &v) in acc.iter_mut().zip(&x[base..base + len]) {
                        *a = (*a).max(v);
                    }
                }
            }
            for (o, &a) in opix[ch..ch + len].iter_mut().zip(acc.iter()) {
                *o = p.act.apply(a as i32);
            }
            ch += len;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(k: usize, s: usize, pad: usize) -> PoolParams {
        PoolParams {
            kernel: [k, k],
            stride: [s, s],
            pad: [pad, pad],
            act: ActRange::FULL,
        }
    }

    #[test]
    fn avg_pool_rounds_half_away_and_excludes_padding() {
        // 1x3x3x1, values chosen so averages hit .5 ties.
        let x = [1i8, 2, 3, 4, -5, 6, 7, 8, -9];
        let xs = Nhwc::new(1, 3, 3, 1);
        let mut y = [0i8; 9];
        avg_pool(&params(3, 1, 1), &x, xs, &mut y, xs).unwrap();
        // (0,0): (1+2+4-5)/4 = 0.5 -> 1 ; (0,1): (1+2+3+4-5+6)/6 = 11/6 = 1.83 -> 2
        // (1,1): 17/9 = 1.89 -> 2 ; (2,2): (-5+6+8-9)/4 = 0 ; (2,0): (4-5+7+8)/4 = 3.5 -> 4
        assert_eq!(y[0], 1);
        assert_eq!(y[1], 2);
        assert_eq!(y[4], 2);
        assert_eq!(y[6], 4);
        assert_eq!(y[8], 0);
        // Negative tie: -2.5 -> -3.
        let x = [-2i8, -3];
        let mut y = [0i8; 1];
        let p = PoolParams {
            kernel: [1, 2],
            stride: [1, 1],
            pad: [0, 0],
            act: ActRange::FULL,
        };
        avg_pool(&p, &x, Nhwc::new(1, 1, 2, 1), &mut y, Nhwc::new(1, 1, 1, 1)).unwrap();
        assert_eq!(y, [-3]);
    }

    #[test]
    fn avg_pool_many_channels_and_stride() {
        // 1x4x4x70, stride 2, 2x2: each output = mean of 4 cells, per channel.
        let c = 70;
        let xs = Nhwc::new(1, 4, 4, c);
        let x: std::vec::Vec<i8> = (0..xs.numel().unwrap())
            .map(|i| ((i * 7) % 200) as i32 as u8 as i8)
            .collect();
        let ys = Nhwc::new(1, 2, 2, c);
        let mut y = std::vec![0i8; ys.numel().unwrap()];
        avg_pool(&params(2, 2, 0), &x, xs, &mut y, ys).unwrap();
        for oy in 0..2 {
            for ox in 0..2 {
                for ch in 0..c {
                    let mut s = 0i32;
                    for dy in 0..2 {
                        for dx in 0..2 {
                            s += x[((oy * 2 + dy) * 4 + ox * 2 + dx) * c + ch] as i32;
                        }
                    }
                    let e = if s > 0 { (s + 2) / 4 } else { (s - 2) / 4 };
                    assert_eq!(y[(oy * 2 + ox) * c + ch] as i32, e);
                }
            }
        }
    }

    #[test]
    fn avg_pool_window_in_padding_is_an_error() {
        let x = [1i8];
        let mut y = [0i8; 4];
        // 1x1 input, pad 2, kernel 1, stride 1: output (0,0) sees only padding.
        let r = avg_pool(
            &params(1, 1, 2),
            &x,
            Nhwc::new(1, 1, 1, 1),
            &mut y,
            Nhwc::new(1, 2, 2, 1),
        );
        assert!(r.is_err());
    }

    #[test]
    fn max_pool_ignores_padding_and_clamps() {
        let x = [-100i8, -50, -20, -128];
        let xs = Nhwc::new(1, 2, 2, 1);
        let mut y = [0i8; 4];
        max_pool(&params(2, 1, 1), &x, xs, &mut y, xs).unwrap();
        // Windows: (0,0) sees x[0] only: -100; (0,1): x0,x1 -> -50; (1,0): x0,x2 -> -20; (1,1): all -> -20.
        assert_eq!(y, [-100, -50, -20, -20]);
        let relu = PoolParams {
            act: ActRange { min: -30, max: 127 },
            ..params(2, 1, 1)
        };
        max_pool(&relu, &x, xs, &mut y, xs).unwrap();
        assert_eq!(y, [-30, -30, -20, -20]);
        // Window entirely in padding gives -128 before the clamp (TFLM's lowest()).
        let mut y = [0i8; 4];
        max_pool(
            &params(1, 1, 2),
            &[5],
            Nhwc::new(1, 1, 1, 1),
            &mut y,
            Nhwc::new(1, 2, 2, 1),
        )
        .unwrap();
        assert_eq!(y, [-128; 4]);
    }

    #[test]
    fn rejects_mismatched_shapes() {
        let mut y = [0i8; 1];
        assert!(max_pool(
            &params(2, 2, 0),
            &[0; 4],
            Nhwc::new(1, 2, 2, 1),
            &mut y,
            Nhwc::new(1, 1, 1, 2)
        )
        .is_err());
        assert!(max_pool(
            &params(0, 2, 0),
            &[0; 4],
            Nhwc::new(1, 2, 2, 1),
            &mut y,
            Nhwc::new(1, 1, 1, 1)
        )
        .is_err());
        assert!(avg_pool(
            &params(2, 2, 0),
            &[0; 3],
            Nhwc::new(1, 2, 2, 1),
            &mut y,
            Nhwc::new(1, 1, 1, 1)
        )
        .is_err());
    }
}
