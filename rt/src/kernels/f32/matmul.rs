//! Matrix products: `aten::mm` and `aten::addmm` (`beta * bias + alpha * a @ b`).

use super::conv::dot;
use super::{check_fits, check_rank, KernelError, Layout};

/// `out = beta * bias + alpha * (a @ b)` for `a [M, K]`, `b [K, N]`, `out [M, N]`, any strides.
/// `bias` broadcasts to `[M, N]` (`[N]`, `[1, N]`, `[M, 1]`, scalar); it is ignored when
/// `beta == 0` (torch: NaN/inf in an ignored bias do not propagate).
#[allow(clippy::too_many_arguments)]
pub fn addmm(
    beta: f32,
    bias: Option<(&[f32], &Layout)>,
    alpha: f32,
    a: &[f32],
    al: &Layout,
    b: &[f32],
    bl: &Layout,
    out: &mut [f32],
    ol: &Layout,
) -> Result<(), KernelError> {
    check_rank("mat1", al, 2)?;
    check_rank("mat2", bl, 2)?;
    check_rank("output", ol, 2)?;
    check_fits("mat1", al, a.len())?;
    check_fits("mat2", bl, b.len())?;
    check_fits("output", ol, out.len())?;
    let (m, k, n) = (al.size(0), al.size(1), bl.size(1));
    if bl.size(0) != k {
        return Err(KernelError::Shape {
            what: "mat1 columns != mat2 rows",
        });
    }
    if ol.size(0) != m || ol.size(1) != n {
        return Err(KernelError::Shape {
            what: "output is not [mat1 rows, mat2 columns]",
        });
    }
    let bias = match bias {
        Some((buf, l)) if beta != 0.0 => {
            check_fits("bias", l, buf.len())?;
            Some((buf, l.broadcast_to(&[m, n])?))
        }
        _ => None,
    };
    let (as_, bs, os) = (al.strides(), bl.strides(), ol.strides());
    let (a0, b0, o0) = (al.offset(), bl.offset(), ol.offset());
    let row_major_b = bs[1] == 1 || n <= 1;
    let col_major_b = bs[0] == 1 || k <= 1;
    for i in 0..m {
        let orow = o0 + i * os[0];
        if os[1] == 1 && row_major_b {
            // out row = sum_k a[i, k] * b[k, :]: contiguous multiply-adds over N (vectorizes).
            let dst = &mut out[orow..orow + n];
            dst.fill(0.0);
            for kk in 0..k {
                let av = a[a0 + i * as_[0] + kk * as_[1]];
                let brow = b0 + kk * bs[0];
                for (d, bv) in dst.iter_mut().zip(&b[brow..brow + n]) {
                    *d += av * bv;
                }
            }
        } else if as_[1] == 1 && col_major_b {
            // Both operands contiguous along K (mat2 is a transposed [N, K]): dot products.
            let arow = a0 + i * as_[0];
            for j in 0..n {
                let bcol = b0 + j * bs[1];
                out[orow + j * os[1]] = dot(&a[arow..arow + k], &b[bcol..bcol + k]);
            }
        } else {
            for j in 0..n {
                let mut acc = 0.0f32;
                for kk in 0..k {
                    acc += a[a0 + i * as_[0] + kk * as_[1]] * b[b0 + kk * bs[0] + j * bs[1]];
                }
                out[orow + j * os[1]] = acc;
            }
        }
        for j in 0..n {
            let o = &mut out[orow + j * os[1]];
            let prod = if alpha == 1.0 { *o } else { alpha * *o };
            *o = match &bias {
                Some((buf, l)) => {
                    let bv = buf[l.offset() + i * l.stride(0) + j * l.stride(1)];
                    if beta == 1.0 {
                        bv + prod
                    } else {
                        beta * bv + prod
                    }
                }
                None => prod,
            };
        }
    }
    Ok(())
}

/// `out = a @ b`.
pub fn mm(
    a: &[f32],
    al: &Layout,
    b: &[f32],
    bl: &Layout,
    out: &mut [f32],
    ol: &Layout,
) -> Result<(), KernelError> {
    addmm(0.0, None, 1.0, a, al, b, bl, out, ol)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(s: &[usize]) -> Layout {
        Layout::contiguous(s).unwrap()
    }

    #[test]
    fn mm_2x3_by_3x2() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
        let mut out = [0.0; 4];
        mm(&a, &l(&[2, 3]), &b, &l(&[3, 2]), &mut out, &l(&[2, 2])).unwrap();
        assert_eq!(out, [58.0, 64.0, 139.0, 154.0]);
        // Same product with mat2 given as a transposed view of [2, 3] memory (dot path).
        let bt = [7.0, 9.0, 11.0, 8.0, 10.0, 12.0];
        let btl = l(&[2, 3]).permuted(&[1, 0]).unwrap();
        mm(&a, &l(&[2, 3]), &bt, &btl, &mut out, &l(&[2, 2])).unwrap();
        assert_eq!(out, [58.0, 64.0, 139.0, 154.0]);
        // Output transposed (generic path).
        let ot = l(&[2, 2]).permuted(&[1, 0]).unwrap();
        mm(&a, &l(&[2, 3]), &b, &l(&[3, 2]), &mut out, &ot).unwrap();
        assert_eq!(out, [58.0, 139.0, 64.0, 154.0]);
    }

    #[test]
    fn addmm_bias_broadcast_alpha_beta() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [1.0, 0.0, 0.0, 1.0];
        let mut out = [0.0; 4];
        let bias = [10.0, 20.0];
        addmm(
            1.0,
            Some((&bias, &l(&[2]))),
            1.0,
            &a,
            &l(&[2, 2]),
            &b,
            &l(&[2, 2]),
            &mut out,
            &l(&[2, 2]),
        )
        .unwrap();
        assert_eq!(out, [11.0, 22.0, 13.0, 24.0]);
        addmm(
            0.5,
            Some((&bias, &l(&[2, 1]))),
            2.0,
            &a,
            &l(&[2, 2]),
            &b,
            &l(&[2, 2]),
            &mut out,
            &l(&[2, 2]),
        )
        .unwrap();
        assert_eq!(out, [7.0, 9.0, 16.0, 18.0]);
        // beta == 0 ignores a NaN bias.
        let nan = [f32::NAN; 2];
        addmm(
            0.0,
            Some((&nan, &l(&[2]))),
            1.0,
            &a,
            &l(&[2, 2]),
            &b,
            &l(&[2, 2]),
            &mut out,
            &l(&[2, 2]),
        )
        .unwrap();
        assert_eq!(out, a);
    }

    #[test]
    fn odd_sizes_against_naive_and_errors() {
        let (m, k, n) = (3, 13, 11);
        let a: [f32; 39] = core::array::from_fn(|i| (i as f32 * 0.37).sin());
        let b: [f32; 143] = core::array::from_fn(|i| (i as f32 * 0.11).cos());
        let mut out = [0.0; 33];
        mm(&a, &l(&[m, k]), &b, &l(&[k, n]), &mut out, &l(&[m, n])).unwrap();
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k)
                    .map(|t| a[i * k + t] as f64 * b[t * n + j] as f64)
                    .sum();
                assert!((out[i * n + j] as f64 - want).abs() < 1e-5);
            }
        }
        assert!(mm(&a, &l(&[m, k]), &b, &l(&[n, k]), &mut out, &l(&[m, n])).is_err());
        assert!(mm(
            &a[..38],
            &l(&[m, k]),
            &b,
            &l(&[k, n]),
            &mut out,
            &l(&[m, n])
        )
        .is_err());
    }
}
