//! Reductions: mean over dims and softmax along one dim.

use super::layout::MAX_RANK;
use super::math;
use super::{check_fits, KernelError, Layout};

/// Mean of `x` over the dims set in `reduce` (bit `d` = dim `d`), written to `out`, whose
/// layout is either keepdim (same rank, reduced dims of size 1) or the reduced dims dropped.
/// Sums in f32 in logical order.
pub fn mean(
    x: &[f32],
    xl: &Layout,
    reduce: u32,
    out: &mut [f32],
    ol: &Layout,
) -> Result<(), KernelError> {
    check_fits("input", xl, x.len())?;
    check_fits("output", ol, out.len())?;
    let rank = xl.rank();
    if rank < 32 && reduce >> rank != 0 {
        return Err(KernelError::Param {
            what: "reduced dim out of range",
        });
    }
    // The output seen with the input's rank: reduced dims have stride 0, so every input
    // element lands on its output element.
    let mut strides = [0usize; MAX_RANK];
    let mut count = 1usize;
    let keepdim = ol.rank() == rank;
    let mut od = 0;
    for (d, stride) in strides.iter_mut().enumerate().take(rank) {
        let reduced = reduce & (1 << d) != 0;
        if reduced {
            count *= xl.size(d);
            if keepdim {
                if ol.size(d) != 1 {
                    return Err(KernelError::Shape {
                        what: "keepdim output has a reduced dim of size != 1",
                    });
                }
                od += 1;
            }
        } else {
            if od >= ol.rank() || ol.size(od) != xl.size(d) {
                return Err(KernelError::Shape {
                    what: "output sizes do not match the kept input dims",
                });
            }
            *stride = ol.stride(od);
            od += 1;
        }
    }
    if od != ol.rank() {
        return Err(KernelError::Shape {
            what: "output rank does not match the reduction",
        });
    }
    let scatter = Layout::strided(xl.sizes(), &strides[..rank], ol.offset())?;
    for o in ol.offsets() {
        out[o] = 0.0;
    }
    for (xi, oi) in xl.offsets().zip(scatter.offsets()) {
        out[oi] += x[xi];
    }
    // torch: the mean of nothing is NaN (0 / 0).
    let n = count as f32;
    for o in ol.offsets() {
        out[o] /= n;
    }
    Ok(())
}

/// Numerically stable softmax along `dim`: `exp(x - max) / sum(exp(x - max))`.
/// `x` and `out` have the same sizes (any strides; they may not alias).
pub fn softmax(
    x: &[f32],
    xl: &Layout,
    dim: usize,
    out: &mut [f32],
    ol: &Layout,
) -> Result<(), KernelError> {
    check_fits("input", xl, x.len())?;
    check_fits("output", ol, out.len())?;
    if xl.sizes() != ol.sizes() {
        return Err(KernelError::Shape {
            what: "output sizes != input sizes",
        });
    }
    let rank = xl.rank();
    if rank == 0 {
        // softmax of a single value
        if let Some(o) = out.get_mut(ol.offset()) {
            *o = 1.0;
        }
        return Ok(());
    }
    if dim >= rank {
        return Err(KernelError::Param {
            what: "softmax dim out of range",
        });
    }
    let len = xl.size(dim);
    let (sx, so) = (xl.stride(dim), ol.stride(dim));
    // Iterate the other dims by viewing the tensors with `dim` shrunk to one element.
    let rows_x = xl.narrowed(dim, 0, len.min(1))?;
    let rows_o = ol.narrowed(dim, 0, len.min(1))?;
    if len == 0 {
        return Ok(());
    }
    for (bx, bo) in rows_x.offsets().zip(rows_o.offsets()) {
        let mut max = f32::NEG_INFINITY;
        for i in 0..len {
            let v = x[bx + i * sx];
            if v > max || v.is_nan() {
                max = v;
            }
        }
        let mut sum = 0.0f32;
        for i in 0..len {
            let e = math::exp(x[bx + i * sx] - max);
            out[bo + i * so] = e;
            sum += e;
        }
        for i in 0..len {
            out[bo + i * so] /= sum;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(s: &[usize]) -> Layout {
        Layout::contiguous(s).unwrap()
    }

    #[test]
    fn mean_keepdim_and_dropped_dims() {
        // [2, 3]: rows 1 2 3 / 4 5 6
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut out = [0.0; 3];
        mean(&x, &l(&[2, 3]), 0b01, &mut out, &l(&[3])).unwrap();
        assert_eq!(out, [2.5, 3.5, 4.5]);
        mean(&x, &l(&[2, 3]), 0b10, &mut out[..2], &l(&[2, 1])).unwrap();
        assert_eq!(&out[..2], &[2.0, 5.0]);
        mean(&x, &l(&[2, 3]), 0b11, &mut out[..1], &l(&[])).unwrap();
        assert_eq!(out[0], 3.5);
        // NCHW global average pool [1, 2, 2, 2] over H, W (keepdim) from channels-last memory.
        let xl = Layout::with_dim_order(&[1, 2, 2, 2], &[0, 2, 3, 1]).unwrap();
        let xn = [1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0];
        let mut o2 = [0.0; 2];
        mean(&xn, &xl, 0b1100, &mut o2, &l(&[1, 2, 1, 1])).unwrap();
        assert_eq!(o2, [2.5, 25.0]);
        assert!(mean(&x, &l(&[2, 3]), 0b01, &mut out, &l(&[2])).is_err());
        assert!(mean(&x, &l(&[2, 3]), 0b100, &mut out, &l(&[2, 3])).is_err());
    }

    #[test]
    fn softmax_rows_columns_and_stability() {
        let x = [1.0, 2.0, 3.0, 1000.0, 1000.0, 1000.0];
        let mut out = [0.0; 6];
        softmax(&x, &l(&[2, 3]), 1, &mut out, &l(&[2, 3])).unwrap();
        let e = [(-2.0f64).exp(), (-1.0f64).exp(), 1.0];
        let s: f64 = e.iter().sum();
        for i in 0..3 {
            assert!((out[i] as f64 - e[i] / s).abs() < 1e-7);
            assert!((out[3 + i] - 1.0 / 3.0).abs() < 1e-7);
        }
        softmax(&x, &l(&[2, 3]), 0, &mut out, &l(&[2, 3])).unwrap();
        assert_eq!(&out[..3], &[0.0, 0.0, 0.0]);
        assert_eq!(&out[3..], &[1.0, 1.0, 1.0]);
        assert!(softmax(&x, &l(&[2, 3]), 2, &mut out, &l(&[2, 3])).is_err());
    }
}
