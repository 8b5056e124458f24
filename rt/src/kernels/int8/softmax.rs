//! SOFTMAX int8 -> int8 (TFLite `reference_ops::Softmax` for quantized types, as TFLM runs it).
//! Output quantization is fixed by TFLite: scale 1/256, zero point -128.

use super::check;
use super::fixedpoint::{
    exp_on_negative_values, multiply_by_quantized_multiplier_greater_than_one as mbqm_gt1,
    one_over_one_plus_x_for_x_in_0_1, rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul, saturating_rounding_multiply_by_pot,
};
use crate::ops::OpKind;
use crate::RtError;

/// Parameters from TFLite's `PreprocessSoftmaxScaling` / `CalculateInputRadius`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoftmaxParams {
    /// Q31 multiplier of `beta * s_in * 2^(31 - 5)`.
    pub input_multiplier: i32,
    /// Its (left) shift, >= 0.
    pub input_left_shift: i32,
    /// Differences below this (in input steps) contribute nothing.
    pub diff_min: i32,
}

const SCALED_DIFF_INTEGER_BITS: i32 = 5;
const ACCUMULATION_INTEGER_BITS: i32 = 12;

/// TFLite `GetReciprocal`: `1 / x` for Q(12) `x >= 1`, returned as a Q0.31 scale and the number
/// of bits over unit.
fn reciprocal(x: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let num_bits_over_unit = ACCUMULATION_INTEGER_BITS - headroom_plus_one;
    let shifted_sum_minus_one = ((x as u32)
        .checked_shl(headroom_plus_one as u32)
        .unwrap_or(0))
    .wrapping_sub(1 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one),
        num_bits_over_unit,
    )
}

/// SOFTMAX over rows of `depth` elements.
pub fn softmax(p: &SoftmaxParams, x: &[i8], depth: usize, y: &mut [i8]) -> Result<(), RtError> {
    const K: OpKind = OpKind::CmSoftmax;
    check(
        depth >= 1 && x.len() % depth == 0,
        K,
        "input size is not a multiple of the row length",
    )?;
    check(x.len() == y.len(), K, "input and output sizes differ")?;
    check(
        (0..=31).contains(&p.input_left_shift),
        K,
        "input_left_shift outside [0, 31]",
    )?;
    for (row, out) in x.chunks_exact(depth).zip(y.chunks_exact_mut(depth)) {
        let max = row.iter().copied().max().unwrap_or(i8::MIN) as i32;
        let scaled_exp = |v: i8| -> Option<i32> {
            let diff = v as i32 - max;
            (diff >= p.diff_min).then(|| {
                exp_on_negative_values(
                    mbqm_gt1(diff, p.input_multiplier, p.input_left_shift),
                    SCALED_DIFF_INTEGER_BITS,
                )
            })
        };
        let mut sum = 0i32;
        for &v in row {
            if let Some(e) = scaled_exp(v) {
                // Rescale<12> of a Q0 value: a rounding right shift by 12.
                sum = sum.wrapping_add(saturating_rounding_multiply_by_pot(
                    e,
                    -ACCUMULATION_INTEGER_BITS,
                ));
            }
        }
        let (scale, bits_over_unit) = reciprocal(sum);
        let exponent = bits_over_unit + 31 - 8;
        check(
            (0..=31).contains(&exponent),
            K,
            "sum of exponentials out of the representable range",
        )?;
        for (o, &v) in out.iter_mut().zip(row) {
            *o = match scaled_exp(v) {
                Some(e) => {
                    let unsat = rounding_divide_by_pot(
                        saturating_rounding_doubling_high_mul(scale, e),
                        exponent,
                    );
                    (unsat - 128).clamp(-128, 127) as i8
                }
                None => i8::MIN,
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parameters TFLM computes for beta = 1, input scale 1/16 (see kiln_compiler::quant tests):
    /// real multiplier = 2^-4 * 2^26 = 2^22 -> (2^30, 23); radius = floor(31 * 2^26 / 2^23) = 248.
    const P: SoftmaxParams = SoftmaxParams {
        input_multiplier: 1 << 30,
        input_left_shift: 23,
        diff_min: -248,
    };

    #[test]
    fn uniform_row_splits_evenly() {
        let x = [5i8; 4];
        let mut y = [0i8; 4];
        softmax(&P, &x, 4, &mut y).unwrap();
        // 1/4 in scale 1/256 = 64 -> 64 - 128 = -64.
        assert_eq!(y, [-64; 4]);
    }

    #[test]
    fn single_element_saturates_to_one() {
        let mut y = [0i8; 1];
        softmax(&P, &[-3], 1, &mut y).unwrap();
        assert_eq!(y, [127]); // 256 - 128 saturates to 127
    }

    #[test]
    fn two_values_match_real_softmax_within_a_step() {
        // Inputs differ by 16 steps = 1.0: softmax = (0.731, 0.269) -> 187.1, 68.8 -> 59, -59.
        let mut y = [0i8; 2];
        softmax(&P, &[16, 0], 2, &mut y).unwrap();
        assert!(
            (y[0] as i32 - 59).abs() <= 1 && (y[1] as i32 + 59).abs() <= 1,
            "{y:?}"
        );
        // Far below diff_min -> exactly -128.
        softmax(&P, &[127, -128], 2, &mut y).unwrap();
        assert_eq!(y, [127, -128]);
    }

    #[test]
    fn rejects_bad_sizes() {
        let mut y = [0i8; 3];
        assert!(softmax(&P, &[0; 3], 2, &mut y).is_err());
        assert!(softmax(&P, &[0; 3], 0, &mut y).is_err());
        assert!(softmax(&P, &[0; 4], 2, &mut y).is_err());
    }
}

/// ONNX Runtime's `QLinearSoftmax` for int8 over rows of `depth` elements, step for step in f32
/// (`table`, `y_scale = floor(1 / output_scale)` come from the compiler). This is what ONNX Runtime
/// runs for a QDQ softmax, so ONNX QDQ models match it rather than TFLite's fixed-point softmax.
pub fn qlinear_softmax(
    table: &[f32],
    y_scale: f32,
    y_zero_point: i32,
    x: &[i8],
    depth: usize,
    y: &mut [i8],
) -> Result<(), RtError> {
    const K: OpKind = OpKind::KilnQLinearSoftmax;
    check(table.len() == 256, K, "lookup table must have 256 entries")?;
    check(
        depth >= 1 && x.len() % depth == 0,
        K,
        "input size is not a multiple of the row length",
    )?;
    check(x.len() == y.len(), K, "input and output sizes differ")?;
    for (row, out) in x.chunks_exact(depth).zip(y.chunks_exact_mut(depth)) {
        let max = row.iter().copied().max().unwrap_or(i8::MIN) as i32;
        // The row maximum lands on index 127, the table's largest entry.
        let index = |v: i8| (127 - max + v as i32) as u8 as usize;
        let sum: f32 = row.iter().map(|&v| table[index(v)]).sum();
        if sum == 0.0 {
            // ONNX Runtime stops (leaving the rest untouched); a zero sum needs a degenerate table.
            return Ok(());
        }
        for (&v, o) in row.iter().zip(out.iter_mut()) {
            let q = super::quantize::round_half_even(table[index(v)] * y_scale / sum) as i32
                + y_zero_point;
            // ONNX Runtime saturates only above 255, then narrows.
            *o = if q > 255 { 255u8 as i8 } else { q as i8 };
        }
    }
    Ok(())
}

#[cfg(test)]
mod qlinear_tests {
    use super::*;

    #[test]
    fn uniform_row_splits_evenly_and_max_gets_the_largest_share() {
        // Table: exp((i - 255) * 0.1) at index (i - 128) as u8, i.e. index 127 = 1.0.
        let mut table = [0f32; 256];
        for i in 0..256i32 {
            let e = (((i - 255) as f64) * 0.1).exp() as f32;
            table[(i - 128) as u8 as usize] = e;
        }
        let x = [5i8; 4];
        let mut y = [0i8; 4];
        qlinear_softmax(&table, 255.0, -128, &x, 4, &mut y).unwrap();
        // 255 / 4 = 63.75 -> 64 - 128.
        assert_eq!(y, [-64; 4]);
        let x = [10i8, 0, 0, 0];
        qlinear_softmax(&table, 255.0, -128, &x, 4, &mut y).unwrap();
        let e0 = (-1.0f64).exp() as f32; // one step of 10 * 0.1 below the max
        let s = 1.0 + 3.0 * e0;
        assert_eq!(y[0] as i32, (255.0f32 / s).round() as i32 - 128);
        assert!(y[0] > y[1] && y[1] == y[2]);
        assert!(qlinear_softmax(&table[..10], 255.0, -128, &x, 4, &mut y).is_err());
    }
}
