//! Unary int8 operators with TFLite Micro reference arithmetic: LOGISTIC, TANH, HARD_SWISH,
//! LEAKY_RELU, RELU/RELU6/RELU_N1_TO_1 (requantizing) and QUANTIZE int8 -> int8.
//!
//! Each is a `Copy` parameter struct with an exact per-element `eval`; they need not be fast,
//! because on device they run as a 256-entry table ([`Unary::lut`] + [`super::lut_apply`]).

use super::clamp_i8;
use super::fixedpoint::{
    self, multiply_by_quantized_multiplier as mbqm, rounding_divide_by_pot,
    rounding_divide_by_pot_i16, saturating_rounding_doubling_high_mul_i16,
};

/// An int8 -> int8 elementwise function.
pub trait Unary: Copy {
    /// The reference result for one input.
    fn eval(self, x: i8) -> i8;

    /// The table `lut[x + 128] = eval(x)` for [`super::lut_apply`].
    fn lut(self) -> [i8; 256] {
        let mut t = [0i8; 256];
        for (i, o) in t.iter_mut().enumerate() {
            *o = self.eval((i as i32 - 128) as i8);
        }
        t
    }

    /// Applies `eval` elementwise (reference path; the device uses the table).
    fn apply(self, x: &[i8], y: &mut [i8]) -> Result<(), crate::RtError> {
        super::check(
            x.len() == y.len(),
            crate::ops::OpKind::CmQuantizedActivation,
            "input and output sizes differ",
        )?;
        for (o, &v) in y.iter_mut().zip(x) {
            *o = self.eval(v);
        }
        Ok(())
    }
}

/// LOGISTIC int8 (`reference_integer_ops::Logistic`); output scale 1/256, zero point -128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogisticParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Inputs (minus zero point) at or beyond this saturate.
    pub input_range_radius: i32,
    /// Q31 multiplier to Q4.27.
    pub input_multiplier: i32,
    /// Its left shift.
    pub input_left_shift: i32,
}

impl Unary for LogisticParams {
    fn eval(self, x: i8) -> i8 {
        let input = x as i32 - self.input_zero_point;
        if input <= -self.input_range_radius {
            -128
        } else if input >= self.input_range_radius {
            127
        } else {
            let q4 = mbqm(input, self.input_multiplier, self.input_left_shift);
            let q0 = fixedpoint::logistic(q4, 4);
            // Q0.31 -> Q.8 (scale 1/256), zero point -128.
            clamp_i8(rounding_divide_by_pot(q0, 31 - 8) - 128)
        }
    }
}

/// TANH int8 (`reference_integer_ops::Tanh`); output scale 1/128, zero point 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TanhParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Inputs (minus zero point) at or beyond this saturate.
    pub input_range_radius: i32,
    /// Q31 multiplier to Q4.27.
    pub input_multiplier: i32,
    /// Its shift.
    pub input_shift: i32,
}

impl Unary for TanhParams {
    fn eval(self, x: i8) -> i8 {
        let input = x as i32 - self.input_zero_point;
        if input <= -self.input_range_radius {
            -128
        } else if input >= self.input_range_radius {
            127
        } else {
            let q4 = mbqm(input, self.input_multiplier, self.input_shift);
            let q0 = fixedpoint::tanh(q4, 4);
            clamp_i8(rounding_divide_by_pot(q0, 31 - 7))
        }
    }
}

/// HARD_SWISH int8 (`reference_ops::HardSwish`, 16-bit fixed point).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HardSwishParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Q15 multiplier from the hi-res input scale to the reluish scale 3/32768.
    pub reluish_multiplier_fixedpoint_int16: i16,
    /// Its exponent.
    pub reluish_multiplier_exponent: i32,
    /// Q15 multiplier from the hi-res input scale to the output scale.
    pub output_multiplier_fixedpoint_int16: i16,
    /// Its exponent (<= 0).
    pub output_multiplier_exponent: i32,
}

/// `SaturatingLeftShift` of TFLite's hard_swish.h.
fn saturating_left_shift_i16(v: i16, amount: i32) -> i16 {
    let r = (v as i64) << amount.clamp(0, 47);
    r.clamp(i16::MIN as i64, i16::MAX as i64) as i16
}

/// `SaturatingDoublingHighMul` of TFLite's hard_swish.h: truncating (not rounding) `a*b/2^15`.
fn saturating_doubling_high_mul_i16(a: i16, b: i16) -> i16 {
    if a == b && a == i16::MIN {
        return i16::MAX;
    }
    ((a as i32 * b as i32) / (1 << 15)) as i16
}

impl Unary for HardSwishParams {
    fn eval(self, x: i8) -> i8 {
        // C++ narrows these int expressions to int16_t; we wrap the same way.
        let input_value = (x as i32 - self.input_zero_point) as i16;
        let hires = input_value.wrapping_mul(1 << 7);
        let preshift_output = saturating_rounding_doubling_high_mul_i16(
            hires,
            self.output_multiplier_fixedpoint_int16,
        );
        let mut reluish = hires;
        if self.reluish_multiplier_exponent > 0 {
            reluish = saturating_left_shift_i16(reluish, self.reluish_multiplier_exponent - 1);
        }
        reluish = saturating_rounding_doubling_high_mul_i16(
            reluish,
            self.reluish_multiplier_fixedpoint_int16,
        );
        if self.reluish_multiplier_exponent > 0 {
            reluish = saturating_left_shift_i16(reluish, 1);
        }
        if self.reluish_multiplier_exponent < 0 {
            reluish = rounding_divide_by_pot_i16(reluish, -self.reluish_multiplier_exponent);
        }
        // Map [-1, 1] (Q15) to [0, 1].
        let reluish = ((reluish as i32 + (1 << 15)) >> 1) as i16;
        let pre = saturating_doubling_high_mul_i16(reluish, preshift_output);
        let out = rounding_divide_by_pot_i16(pre, -self.output_multiplier_exponent)
            .wrapping_add(self.output_zero_point as i16);
        out.clamp(-128, 127) as i8
    }
}

/// LEAKY_RELU int8 (`reference_ops::QuantizeLeakyRelu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeakyReluParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Multiplier of `s_in * alpha / s_out` (may be negative).
    pub output_multiplier_alpha: i32,
    /// Its shift.
    pub output_shift_alpha: i32,
    /// Multiplier of `s_in / s_out`.
    pub output_multiplier_identity: i32,
    /// Its shift.
    pub output_shift_identity: i32,
}

impl Unary for LeakyReluParams {
    fn eval(self, x: i8) -> i8 {
        let input = x as i32 - self.input_zero_point;
        let negative_alpha = self.output_multiplier_alpha < 0;
        let safe_alpha = self.output_multiplier_alpha.wrapping_abs();
        let scaled = if input >= 0 {
            mbqm(
                input,
                self.output_multiplier_identity,
                self.output_shift_identity,
            )
        } else {
            let v = mbqm(input, safe_alpha, self.output_shift_alpha);
            if negative_alpha {
                v.wrapping_neg()
            } else {
                v
            }
        };
        clamp_i8(self.output_zero_point.wrapping_add(scaled))
    }
}

/// Requantize then clamp: TFLM's int8 RELU (`ReluQuantized`), and equally RELU6 / RELU_N1_TO_1
/// when the compiler computes the clamp bounds, and QUANTIZE int8 -> int8 (`Requantize`) with
/// the full range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequantizeParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Q31 multiplier of `s_in / s_out`.
    pub multiplier: i32,
    /// Its shift.
    pub shift: i32,
    /// Lower clamp (quantized output).
    pub act_min: i32,
    /// Upper clamp (quantized output).
    pub act_max: i32,
}

impl Unary for RequantizeParams {
    fn eval(self, x: i8) -> i8 {
        let v = self.output_zero_point.wrapping_add(mbqm(
            x as i32 - self.input_zero_point,
            self.multiplier,
            self.shift,
        ));
        clamp_i8(v.max(self.act_min).min(self.act_max))
    }
}

/// TFLM's int8 RELU6 (`Relu6Quantized`): a plain clamp to `[zero, six]` in the input's
/// quantization (TFLM does not requantize RELU6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClampParams {
    /// Lower bound.
    pub lo: i8,
    /// Upper bound.
    pub hi: i8,
}

impl Unary for ClampParams {
    fn eval(self, x: i8) -> i8 {
        if x > self.hi {
            self.hi
        } else if x < self.lo {
            self.lo
        } else {
            x
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TFLM Prepare for input scale 1/16 (Q4 exactly): real = 2^-4 * 2^27 = 2^23 ->
    /// frexp 0.5 * 2^24 -> multiplier 2^30, shift 24; radius = floor(15 * 2^27 / 2^24) = 120.
    const LOGISTIC: LogisticParams = LogisticParams {
        input_zero_point: 0,
        input_range_radius: 120,
        input_multiplier: 1 << 30,
        input_left_shift: 24,
    };

    #[test]
    fn logistic_known_points() {
        assert_eq!(LOGISTIC.eval(0), 0); // 0.5 * 256 - 128
                                         // x = 2.0 (32 steps): 0.8808 * 256 = 225.5 -> 225 or 226, minus 128.
        let v = LOGISTIC.eval(32) as i32;
        assert!(v == 97 || v == 98, "{v}");
        assert_eq!(LOGISTIC.eval(127), 127); // beyond the radius
        assert_eq!(LOGISTIC.eval(-128), -128);
        // Symmetry: logistic(-x) = 1 - logistic(x): q(-x) = -q(x) - 1 up to a rounding step.
        for x in 1..120i32 {
            let a = LOGISTIC.eval(x as i8) as i32 + 128;
            let b = LOGISTIC.eval(-x as i8) as i32 + 128;
            assert!((a + b - 256).abs() <= 1, "x={x}: {a} + {b}");
        }
        // Monotone.
        let t = LOGISTIC.lut();
        assert!(t.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn tanh_known_points() {
        let p = TanhParams {
            input_zero_point: 0,
            input_range_radius: 120,
            input_multiplier: 1 << 30,
            input_shift: 24,
        };
        assert_eq!(p.eval(0), 0);
        // tanh(1.0) = 0.7616 * 128 = 97.5
        let v = p.eval(16) as i32;
        assert!(v == 97 || v == 98, "{v}");
        assert_eq!(p.eval(-16) as i32, -v);
        assert_eq!(p.eval(127), 127);
        assert_eq!(p.eval(-128), -128);
    }

    #[test]
    fn hard_swish_known_points() {
        // Input scale 1/16 zp 0, output scale 1/16 zp 0. TFLM Prepare:
        // hires = 2^-11; output mult = 2^-11 / 2^-4 = 2^-7 -> (2^30, -6) -> int16 16384, exp -6.
        // reluish mult = 2^-11 / (3 * 2^-15) = 16/3 -> frexp 0.6667 * 2^3 -> 1431655765, 3 -> int16 21845.
        let p = HardSwishParams {
            input_zero_point: 0,
            output_zero_point: 0,
            reluish_multiplier_fixedpoint_int16: 21845,
            reluish_multiplier_exponent: 3,
            output_multiplier_fixedpoint_int16: 16384,
            output_multiplier_exponent: -6,
        };
        assert_eq!(p.eval(0), 0);
        // x >= 3 (48 steps): identity.
        assert_eq!(p.eval(64), 64);
        assert_eq!(p.eval(127), 127);
        // x <= -3: zero.
        assert_eq!(p.eval(-64), 0);
        // x = 1 (16): 1 * 4 / 6 = 0.667 -> 10.67 steps -> 11 (within a step).
        let v = p.eval(16) as i32;
        assert!((10..=11).contains(&v), "{v}");
        // x = -1: -1 * 2 / 6 = -0.333 -> -5.33 steps.
        let v = p.eval(-16) as i32;
        assert!((-6..=-5).contains(&v), "{v}");
    }

    #[test]
    fn leaky_relu_and_requantize() {
        // alpha 0.5, same scales: identity (2^30, 1), alpha (2^30, 0).
        let p = LeakyReluParams {
            input_zero_point: 1,
            output_zero_point: -1,
            output_multiplier_alpha: 1 << 30,
            output_shift_alpha: 0,
            output_multiplier_identity: 1 << 30,
            output_shift_identity: 1,
        };
        assert_eq!(p.eval(11), 9); // 10 -> 10 - 1
        assert_eq!(p.eval(-9), -6); // -10 * 0.5 = -5 - 1
        assert_eq!(p.eval(-2), -2); // -3 * 0.5 = -1.5 -> -1 (srdhm ties up) - 1
        let neg = LeakyReluParams {
            output_multiplier_alpha: -(1 << 30),
            ..p
        };
        assert_eq!(neg.eval(-9), 4); // -10 * -0.5 = 5 - 1
                                     // Requantize: scale ratio 2.0 = (2^30, 2), zp 0 -> 3, clamp for a fused relu at zp.
        let r = RequantizeParams {
            input_zero_point: 0,
            output_zero_point: 3,
            multiplier: 1 << 30,
            shift: 2,
            act_min: 3,
            act_max: 127,
        };
        assert_eq!(r.eval(10), 23);
        assert_eq!(r.eval(-10), 3);
        assert_eq!(r.eval(100), 127);
        let c = ClampParams { lo: -5, hi: 90 };
        assert_eq!(c.eval(-128), -5);
        assert_eq!(c.eval(127), 90);
        assert_eq!(c.eval(7), 7);
        let mut y = [0i8; 3];
        c.apply(&[-128, 7, 127], &mut y).unwrap();
        assert_eq!(y, [-5, 7, 90]);
        assert_eq!(c.lut()[0], -5);
        assert_eq!(c.lut()[255], 90);
    }
}
