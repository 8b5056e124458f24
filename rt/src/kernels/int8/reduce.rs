//! MEAN int8 (TFLM `reference_ops::QuantizedMeanOrSum` with `compute_sum = false`).

use super::fixedpoint::multiply_by_quantized_multiplier as mbqm;
use super::{check, shape, MAX_RANK};
use crate::ops::OpKind;
use crate::RtError;

/// MEAN requantization parameters: `multiplier`/`shift` are `QuantizeMultiplier(s_in / s_out)`;
/// the kernel folds the division by the element count in, exactly as TFLM does at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeanParams {
    /// Input zero point.
    pub input_zp: i32,
    /// Output zero point.
    pub output_zp: i32,
    /// Q31 multiplier of `s_in / s_out`.
    pub multiplier: i32,
    /// Its shift.
    pub shift: i32,
}

/// Mean of `x` (shape `x_shape`, rank <= 6) over the axes whose bit is set in `axes`
/// (bit `d` = dimension `d`). `y` holds the product of the kept dimensions, in order.
pub fn mean(
    p: &MeanParams,
    x: &[i8],
    x_shape: &[usize],
    axes: u32,
    y: &mut [i8],
) -> Result<(), RtError> {
    const K: OpKind = OpKind::KilnQuantizedMean;
    let rank = x_shape.len();
    check(rank <= MAX_RANK, K, "rank above 6")?;
    check(axes >> rank == 0, K, "reduction axis out of range")?;
    check(
        shape::numel(x_shape) == Some(x.len()),
        K,
        "input size does not match its shape",
    )?;
    check((-31..=30).contains(&p.shift), K, "shift outside [-31, 30]")?;
    let mut kept = 1usize;
    let mut reduced = 1usize;
    for (d, &n) in x_shape.iter().enumerate() {
        if axes & (1 << d) != 0 {
            reduced *= n;
        } else {
            kept *= n;
        }
    }
    check(
        y.len() == kept,
        K,
        "output size differs from the kept dimensions",
    )?;
    if x.is_empty() || reduced == 0 {
        // TFLM leaves zero-filled outputs when there is nothing to average.
        y.fill(0);
        return Ok(());
    }
    // Fold 1/n into the multiplier (TFLM: shift = floor(log2 n), clamped).
    let n = reduced as u64;
    let mut s = 63 - n.leading_zeros() as i32;
    s = s.min(32).min(31 + p.shift);
    check(s >= 0, K, "shift too small to fold the element count in")?;
    let multiplier = (((p.multiplier as i64) << s) / reduced as i64) as i32;
    let shift = p.shift - s;
    let zp_total = (p.input_zp as i64).wrapping_mul(reduced as i64);

    // Strides of the input, and the kept / reduced dimension lists (outermost first).
    let mut strides = [0usize; MAX_RANK];
    let mut acc = 1usize;
    for d in (0..rank).rev() {
        strides[d] = acc;
        acc *= x_shape[d];
    }
    let mut kept_dims = [(0usize, 0usize); MAX_RANK];
    let mut red_dims = [(0usize, 0usize); MAX_RANK];
    let (mut nk, mut nr) = (0, 0);
    for d in 0..rank {
        if axes & (1 << d) != 0 {
            red_dims[nr] = (x_shape[d], strides[d]);
            nr += 1;
        } else {
            kept_dims[nk] = (x_shape[d], strides[d]);
            nk += 1;
        }
    }
    let (kept_dims, red_dims) = (&kept_dims[..nk], &red_dims[..nr]);
    let mut ki = [0usize; MAX_RANK];
    for o in y.iter_mut() {
        let base: usize = kept_dims.iter().zip(&ki).map(|(&(_, st), &i)| i * st).sum();
        // Sum over the reduced dimensions with an odometer; the innermost reduced dimension
        // runs as a strided slice walk.
        let (inner_n, inner_st) = red_dims.last().copied().unwrap_or((1, 1));
        let outer = &red_dims[..red_dims.len().saturating_sub(1)];
        let mut ri = [0usize; MAX_RANK];
        let mut sum = 0i32;
        'outer: loop {
            let off = base
                + outer
                    .iter()
                    .zip(&ri)
                    .map(|(&(_, st), &i)| i * st)
                    .sum::<usize>();
            // off + (inner_n - 1) * inner_st < x.len(): every index is below its dimension.
            for v in x[off..].iter().step_by(inner_st.max(1)).take(inner_n) {
                sum = sum.wrapping_add(*v as i32);
            }
            let mut d = outer.len();
            loop {
                if d == 0 {
                    break 'outer;
                }
                d -= 1;
                ri[d] += 1;
                if ri[d] < outer[d].0 {
                    break;
                }
                ri[d] = 0;
            }
        }
        let shifted = (sum as i64).wrapping_sub(zp_total) as i32;
        let v = mbqm(shifted, multiplier, shift).wrapping_add(p.output_zp);
        *o = v.clamp(-128, 127) as i8;
        // Advance the kept-dimension odometer.
        let mut d = kept_dims.len();
        while d > 0 {
            d -= 1;
            ki[d] += 1;
            if ki[d] < kept_dims[d].0 {
                break;
            }
            ki[d] = 0;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_average_over_h_w() {
        // 1x2x2x3, mean over H and W (axes 1, 2), same scale (multiplier 1.0 = (2^30, 1)).
        let x = [1i8, 10, -4, 2, 20, -4, 3, 30, -4, 5, 41, -5];
        let p = MeanParams {
            input_zp: 0,
            output_zp: 0,
            multiplier: 1 << 30,
            shift: 1,
        };
        let mut y = [0i8; 3];
        mean(&p, &x, &[1, 2, 2, 3], 0b0110, &mut y).unwrap();
        // TFLM folds 1/4 into (2^30, -1): double rounding, so 101/4 = 25.25 becomes
        // round(50.5) = 51 then round(25.5) = 26; -17/4: srdhm(-8.5) = -8 (ties up), /2 = -4;
        // 11/4 -> 6 -> 3.
        assert_eq!(y, [3, 26, -4]);
    }

    #[test]
    fn zero_points_and_rescale() {
        // Mean over the last axis of [2, 3]: in zp 2, out zp -1, s_in/s_out = 0.5 (2^30, 0).
        let x = [2i8, 4, 6, -10, -10, -11];
        let p = MeanParams {
            input_zp: 2,
            output_zp: -1,
            multiplier: 1 << 30,
            shift: 0,
        };
        let mut y = [0i8; 2];
        mean(&p, &x, &[2, 3], 0b10, &mut y).unwrap();
        // row 0: (0 + 2 + 4) / 3 = 2 * 0.5 = 1 -> 0. row 1: (-12-12-13)/3 = -12.33 * 0.5 = -6.17 -> -6 -> -7.
        assert_eq!(y, [0, -7]);
    }

    #[test]
    fn reduce_outer_axis_and_all_axes() {
        // [3, 2], mean over axis 0.
        let x = [1i8, 100, 2, 101, 4, 102];
        let p = MeanParams {
            input_zp: 0,
            output_zp: 0,
            multiplier: 1 << 30,
            shift: 1,
        };
        let mut y = [0i8; 2];
        mean(&p, &x, &[3, 2], 0b01, &mut y).unwrap();
        assert_eq!(y, [2, 101]); // 7/3 = 2.33, 303/3 = 101
        let mut y1 = [0i8; 1];
        mean(&p, &x, &[3, 2], 0b11, &mut y1).unwrap();
        assert_eq!(y1, [52]); // 310 / 6 = 51.67
    }

    #[test]
    fn saturates_and_validates() {
        let p = MeanParams {
            input_zp: -128,
            output_zp: 0,
            multiplier: 1 << 30,
            shift: 1,
        };
        let mut y = [0i8; 1];
        mean(&p, &[127, 127], &[2], 1, &mut y).unwrap();
        assert_eq!(y, [127]);
        assert!(mean(&p, &[1, 2], &[2], 0b10, &mut y).is_err());
        assert!(mean(&p, &[1, 2, 3], &[2], 1, &mut y).is_err());
        let mut y2 = [0i8; 2];
        assert!(mean(&p, &[1, 2], &[2], 1, &mut y2).is_err());
    }
}
