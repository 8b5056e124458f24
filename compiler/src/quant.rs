//! Compile-time quantization parameters, computed exactly as TFLite Micro's `Prepare` functions
//! do (`quantization_util.cc`, `kernel_util.cc`, `micro/kernels/*_common.cc`), including which
//! products are formed in `float` and which in `double`: the int8 kernels in
//! `kiln_rt::kernels::int8` are only bit-exact with TFLM when their multipliers are.
//!
//! Notable precision details found in the TFLM source:
//! - CONV_2D / DEPTHWISE_CONV_2D (and per-channel FULLY_CONNECTED):
//!   `double(s_in) * double(s_w[c]) / double(s_out)`.
//! - per-tensor FULLY_CONNECTED (`GetQuantizedConvolutionMultipler`): the product
//!   `s_in * s_w` is formed in **float**, then widened: `double(f32(s_in * s_w)) / double(s_out)`.
//! - SUB computes `2 * max(s_a, s_b)` and all three ratios in float; ADD in double.
//! - LEAKY_RELU (`s_in * alpha / s_out`), RELU (`s_in / s_out`) and HARD_SWISH ratios are float.
//! - Fused activation bounds quantize with `zp + int(round_half_away(f32(x / s_out)))`.

use crate::ir::{Act, Quant};
use kiln_rt::kernels::int8::activation::{
    HardSwishParams, LeakyReluParams, LogisticParams, RequantizeParams, TanhParams,
};
use kiln_rt::kernels::int8::softmax::SoftmaxParams;
use std::fmt;

/// A quantization parameter kiln cannot turn into a fixed-point one.
#[derive(Clone, Debug, PartialEq)]
pub enum QuantError {
    /// A real multiplier outside what the fixed-point kernels accept.
    Multiplier {
        /// Which multiplier.
        what: &'static str,
        /// Its value.
        value: f64,
        /// The accepted range, in words.
        expected: &'static str,
    },
    /// A scale that is zero, negative or not finite.
    Scale {
        /// Which tensor.
        what: &'static str,
        /// The value.
        value: f32,
    },
    /// A value that does not fit the quantized type.
    Overflow {
        /// What overflowed.
        what: &'static str,
    },
}

impl fmt::Display for QuantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantError::Multiplier {
                what,
                value,
                expected,
            } => {
                write!(
                    f,
                    "{what} multiplier {value:e} is out of range (expected {expected})"
                )
            }
            QuantError::Scale { what, value } => {
                write!(f, "{what} scale {value:e} must be finite and > 0")
            }
            QuantError::Overflow { what } => write!(f, "{what} does not fit the quantized type"),
        }
    }
}

impl std::error::Error for QuantError {}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, QuantError>;

/// `std::frexp`: `x = m * 2^e` with `0.5 <= |m| < 1` (`(0, 0)` for zero).
pub fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale into the normal range first (exact).
        let (m, e) = frexp(x * f64::from_bits(0x4350_0000_0000_0000)); // 2^54
        return (m, e - 54);
    }
    let m = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (m, exp - 1022)
}

/// TFLite `QuantizeMultiplier` (default build): a Q31 multiplier and a shift (positive = left)
/// with `multiplier * 2^(shift - 31) ~ m`. Tiny values flush to `(0, 0)`.
pub fn quantize_multiplier(m: f64) -> Result<(i32, i32)> {
    if !m.is_finite() {
        return Err(QuantError::Multiplier {
            what: "real",
            value: m,
            expected: "a finite value",
        });
    }
    if m == 0.0 {
        return Ok((0, 0));
    }
    let (q, mut shift) = frexp(m);
    // TfLiteRound = std::round: ties away from zero.
    let mut q_fixed = (q * (1u64 << 31) as f64).round() as i64;
    if q_fixed == 1 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        return Ok((0, 0));
    }
    if shift > 30 {
        // TFLM would shift by more than the kernels support (UB in C++); refuse instead.
        return Err(QuantError::Multiplier {
            what: "real",
            value: m,
            expected: "below 2^30",
        });
    }
    Ok((q_fixed as i32, shift))
}

/// TFLite `QuantizeMultiplierSmallerThanOneExp`: requires `0 < m < 1`.
pub fn quantize_multiplier_smaller_than_one_exp(m: f64, what: &'static str) -> Result<(i32, i32)> {
    if !(m > 0.0 && m < 1.0) {
        return Err(QuantError::Multiplier {
            what,
            value: m,
            expected: "in (0, 1)",
        });
    }
    quantize_multiplier(m)
}

/// TFLite `QuantizeMultiplierGreaterThanOne`: requires `m > 1`.
pub fn quantize_multiplier_greater_than_one(m: f64, what: &'static str) -> Result<(i32, i32)> {
    if m.is_nan() || m <= 1.0 {
        return Err(QuantError::Multiplier {
            what,
            value: m,
            expected: "above 1",
        });
    }
    quantize_multiplier(m)
}

/// TFLite `CalculateInputRadius` (float build): `floor((2^ib - 1) * 2^(total - ib) / 2^shift)`.
pub fn calculate_input_radius(
    input_integer_bits: i32,
    input_left_shift: i32,
    total_signed_bits: i32,
) -> i32 {
    let max_input_rescaled = 1.0
        * ((1i64 << input_integer_bits) - 1) as f64
        * (1i64 << (total_signed_bits - input_integer_bits)) as f64
        / 2f64.powi(input_left_shift);
    max_input_rescaled.floor() as i32
}

/// Checks a scale is usable.
pub fn check_scale(s: f32, what: &'static str) -> Result<f32> {
    if s.is_finite() && s > 0.0 {
        Ok(s)
    } else {
        Err(QuantError::Scale { what, value: s })
    }
}

/// Per-tensor `(scale, zero_point)` of a quantization (the first entry).
pub fn per_tensor(q: &Quant) -> (f32, i32) {
    (
        q.scale.first().copied().unwrap_or(0.0),
        q.zero_point.first().copied().unwrap_or(0),
    )
}

/// Per-channel requantization of CONV_2D / DEPTHWISE_CONV_2D / per-channel FULLY_CONNECTED
/// (TFLite `PopulateConvolutionQuantizationParams`): `double(s_in) * double(s_w[c]) /
/// double(s_out)`, a per-tensor weight scale broadcast to all `channels`.
pub fn conv_per_channel(
    in_s: f32,
    w_scales: &[f32],
    out_s: f32,
    channels: usize,
) -> Result<(Vec<i32>, Vec<i32>)> {
    check_scale(in_s, "input")?;
    check_scale(out_s, "output")?;
    let mut mults = Vec::with_capacity(channels);
    let mut shifts = Vec::with_capacity(channels);
    for c in 0..channels {
        let ws = if w_scales.len() > 1 {
            w_scales.get(c).copied()
        } else {
            w_scales.first().copied()
        };
        let ws = ws.ok_or(QuantError::Overflow {
            what: "weight scale count",
        })?;
        if !(ws.is_finite() && ws >= 0.0) {
            return Err(QuantError::Scale {
                what: "weight",
                value: ws,
            });
        }
        let (m, s) = quantize_multiplier(in_s as f64 * ws as f64 / out_s as f64)?;
        mults.push(m);
        shifts.push(s);
    }
    Ok((mults, shifts))
}

/// Per-tensor FULLY_CONNECTED multiplier as TFLM computes it (`GetQuantizedConvolutionMultipler`):
/// `double(float(s_in * s_w)) / double(s_out)`.
pub fn fully_connected_per_tensor(in_s: f32, w_s: f32, out_s: f32) -> Result<(i32, i32)> {
    check_scale(in_s, "input")?;
    check_scale(out_s, "output")?;
    let product = in_s * w_s; // f32 product, as TFLM
    if !(product.is_finite() && product >= 0.0) {
        return Err(QuantError::Scale {
            what: "input * weight",
            value: product,
        });
    }
    quantize_multiplier(product as f64 / out_s as f64)
}

/// `CalculateActivationRangeQuantized` for int8: the quantized clamp of a fused activation.
/// `Act::Clamp` bounds quantize like RELU6's (infinite bounds leave the int8 limit).
pub fn activation_range(act: Act, out_s: f32, out_zp: i32) -> Result<(i32, i32)> {
    check_scale(out_s, "output")?;
    let quantize = |f: f32| -> Result<i32> {
        // TfLiteRound(f / scale) in float; must fit int32.
        let t = (f / out_s).round();
        if !(t >= i32::MIN as f32 && t <= i32::MAX as f32) {
            return Err(QuantError::Overflow {
                what: "activation bound",
            });
        }
        Ok(out_zp.saturating_add(t as i32))
    };
    let (lo, hi) = act.range();
    let min = if lo.is_finite() {
        quantize(lo)?.max(-128)
    } else {
        -128
    };
    let max = if hi.is_finite() {
        quantize(hi)?.min(127)
    } else {
        127
    };
    Ok((min, max))
}

/// TFLM ADD (`CalculateOpDataAdd`, double arithmetic) as the 12-entry params list of
/// `cortex_m::quantized_add`.
pub fn add_params(a: (f32, i32), b: (f32, i32), out: (f32, i32), act: Act) -> Result<Vec<i64>> {
    check_scale(a.0, "first input")?;
    check_scale(b.0, "second input")?;
    check_scale(out.0, "output")?;
    let left_shift = 20;
    let twice_max = 2.0 * a.0.max(b.0) as f64;
    let ra = a.0 as f64 / twice_max;
    let rb = b.0 as f64 / twice_max;
    let ro = twice_max / ((1i64 << left_shift) as f64 * out.0 as f64);
    arith_list(left_shift, a, b, out, act, (ra, rb, ro))
}

/// TFLM SUB (`CalculateOpDataSub`: the ratios are computed in **float**, then widened) as the
/// params list of `kiln::quantized_sub`.
pub fn sub_params(a: (f32, i32), b: (f32, i32), out: (f32, i32), act: Act) -> Result<Vec<i64>> {
    check_scale(a.0, "first input")?;
    check_scale(b.0, "second input")?;
    check_scale(out.0, "output")?;
    let left_shift = 20;
    let twice_max: f32 = 2.0 * a.0.max(b.0);
    let ra = (a.0 / twice_max) as f64;
    let rb = (b.0 / twice_max) as f64;
    let ro = (twice_max / ((1i32 << left_shift) as f32 * out.0)) as f64;
    arith_list(left_shift, a, b, out, act, (ra, rb, ro))
}

fn arith_list(
    left_shift: i64,
    a: (f32, i32),
    b: (f32, i32),
    out: (f32, i32),
    act: Act,
    (ra, rb, ro): (f64, f64, f64),
) -> Result<Vec<i64>> {
    let (am, ash) = quantize_multiplier_smaller_than_one_exp(ra, "first input")?;
    let (bm, bsh) = quantize_multiplier_smaller_than_one_exp(rb, "second input")?;
    let (om, osh) = quantize_multiplier_smaller_than_one_exp(ro, "output")?;
    let (lo, hi) = activation_range(act, out.0, out.1)?;
    Ok(vec![
        left_shift,
        -(a.1 as i64),
        am as i64,
        ash as i64,
        -(b.1 as i64),
        bm as i64,
        bsh as i64,
        out.1 as i64,
        om as i64,
        osh as i64,
        lo as i64,
        hi as i64,
    ])
}

/// TFLM MUL (`CalculateOpDataMul`) as the 7-entry params list of `cortex_m::quantized_mul`.
pub fn mul_params(a: (f32, i32), b: (f32, i32), out: (f32, i32), act: Act) -> Result<Vec<i64>> {
    check_scale(a.0, "first input")?;
    check_scale(b.0, "second input")?;
    check_scale(out.0, "output")?;
    let (m, s) = quantize_multiplier(a.0 as f64 * b.0 as f64 / out.0 as f64)?;
    let (lo, hi) = activation_range(act, out.0, out.1)?;
    Ok(vec![
        -(a.1 as i64),
        -(b.1 as i64),
        out.1 as i64,
        m as i64,
        s as i64,
        lo as i64,
        hi as i64,
    ])
}

/// TFLM's frexp-based Q4 input multiplier of LOGISTIC / TANH, with the input radius.
fn q4_input(in_s: f32) -> Result<(i32, i32, i32)> {
    check_scale(in_s, "input")?;
    let real = in_s as f64 * (1i64 << (31 - 4)) as f64;
    let (q, mut shift) = frexp(real);
    let mut m = (q * (1u64 << 31) as f64).round() as i64;
    // TFLM casts round(q * 2^31) straight to int32, which overflows when q rounds up to 1.0;
    // normalize like QuantizeMultiplier instead (equal value, defined behaviour).
    if m == 1 << 31 {
        m /= 2;
        shift += 1;
    }
    if !(-31..=30).contains(&shift) {
        return Err(QuantError::Multiplier {
            what: "input",
            value: real,
            expected: "shift in [-31, 30]",
        });
    }
    Ok((m as i32, shift, calculate_input_radius(4, shift, 31)))
}

/// TFLM LOGISTIC Prepare (int8). The output must be quantized with scale 1/256, zero point -128.
pub fn logistic_params(input: (f32, i32)) -> Result<LogisticParams> {
    let (m, shift, radius) = q4_input(input.0)?;
    Ok(LogisticParams {
        input_zero_point: input.1,
        input_range_radius: radius,
        input_multiplier: m,
        input_left_shift: shift,
    })
}

/// TFLM TANH Prepare (int8). The output must be quantized with scale 1/128, zero point 0.
pub fn tanh_params(input: (f32, i32)) -> Result<TanhParams> {
    let (m, shift, radius) = q4_input(input.0)?;
    Ok(TanhParams {
        input_zero_point: input.1,
        input_range_radius: radius,
        input_multiplier: m,
        input_shift: shift,
    })
}

/// TFLite `DownScaleInt32ToInt16Multiplier`.
fn downscale_to_i16(m: i32) -> i16 {
    const ROUNDING: i32 = 1 << 15;
    if m >= i32::MAX - ROUNDING {
        return i16::MAX;
    }
    ((m + ROUNDING) >> 16) as i16
}

/// TFLM HARD_SWISH Prepare (int8).
pub fn hard_swish_params(input: (f32, i32), output: (f32, i32)) -> Result<HardSwishParams> {
    check_scale(input.0, "input")?;
    check_scale(output.0, "output")?;
    let hires_input_scale: f32 = (1.0f32 / 128.0) * input.0;
    let reluish_scale: f32 = 3.0 / 32768.0;
    let (om, oe) = quantize_multiplier((hires_input_scale / output.0) as f64)?;
    if oe > 0 {
        return Err(QuantError::Multiplier {
            what: "hard-swish output",
            value: (hires_input_scale / output.0) as f64,
            expected: "exponent <= 0 (output scale >= input scale / 128)",
        });
    }
    let (rm, re) = quantize_multiplier((hires_input_scale / reluish_scale) as f64)?;
    if om < 0 || rm < 0 {
        return Err(QuantError::Overflow {
            what: "hard-swish multiplier",
        });
    }
    Ok(HardSwishParams {
        input_zero_point: input.1,
        output_zero_point: output.1,
        reluish_multiplier_fixedpoint_int16: downscale_to_i16(rm),
        reluish_multiplier_exponent: re,
        output_multiplier_fixedpoint_int16: downscale_to_i16(om),
        output_multiplier_exponent: oe,
    })
}

/// TFLM LEAKY_RELU Prepare (int8): both ratios in float.
pub fn leaky_relu_params(
    input: (f32, i32),
    output: (f32, i32),
    alpha: f32,
) -> Result<LeakyReluParams> {
    check_scale(input.0, "input")?;
    check_scale(output.0, "output")?;
    let (am, ash) = quantize_multiplier((input.0 * alpha / output.0) as f64)?;
    let (im, ish) = quantize_multiplier((input.0 / output.0) as f64)?;
    Ok(LeakyReluParams {
        input_zero_point: input.1,
        output_zero_point: output.1,
        output_multiplier_alpha: am,
        output_shift_alpha: ash,
        output_multiplier_identity: im,
        output_shift_identity: ish,
    })
}

/// TFLM RELU Prepare (int8, `CalculateReluOpData`) generalized to a clamp `[lo, hi]` in real
/// units: float ratio `s_in / s_out`, bounds `zp + int(roundf(bound / s_out))`.
pub fn relu_params(
    input: (f32, i32),
    output: (f32, i32),
    lo: f32,
    hi: f32,
) -> Result<RequantizeParams> {
    check_scale(input.0, "input")?;
    check_scale(output.0, "output")?;
    let (m, s) = quantize_multiplier((input.0 / output.0) as f64)?;
    let bound = |v: f32| -> Result<i32> {
        let t = (v / output.0).round();
        if !(t >= i32::MIN as f32 && t <= i32::MAX as f32) {
            return Err(QuantError::Overflow {
                what: "activation bound",
            });
        }
        Ok(output.1.saturating_add(t as i32))
    };
    let act_min = if lo.is_finite() {
        bound(lo)?.max(-128)
    } else {
        -128
    };
    let act_max = if hi.is_finite() {
        bound(hi)?.min(127)
    } else {
        127
    };
    Ok(RequantizeParams {
        input_zero_point: input.1,
        output_zero_point: output.1,
        multiplier: m,
        shift: s,
        act_min,
        act_max,
    })
}

/// TFLM `FloatToQuantizedType<int8_t>`: `clamp(int(round(v / s)) + zp)`.
pub fn float_to_quantized_i8(v: f32, scale: f32, zp: i32) -> i32 {
    let r = (v / scale).round();
    let r = if r.is_nan() { 0.0 } else { r.clamp(-1e9, 1e9) };
    (r as i32 + zp).clamp(-128, 127)
}

/// TFLM QUANTIZE int8 -> int8 (`Requantize`): `QuantizeMultiplier(double(s_in) / double(s_out))`.
pub fn requantize_params(input: (f32, i32), output: (f32, i32)) -> Result<RequantizeParams> {
    check_scale(input.0, "input")?;
    check_scale(output.0, "output")?;
    let (m, s) = quantize_multiplier(input.0 as f64 / output.0 as f64)?;
    Ok(RequantizeParams {
        input_zero_point: input.1,
        output_zero_point: output.1,
        multiplier: m,
        shift: s,
        act_min: -128,
        act_max: 127,
    })
}

/// TFLM MEAN Prepare: `QuantizeMultiplier(double(s_in) / double(s_out))`.
pub fn mean_multiplier(in_s: f32, out_s: f32) -> Result<(i32, i32)> {
    check_scale(in_s, "input")?;
    check_scale(out_s, "output")?;
    quantize_multiplier(in_s as f64 / out_s as f64)
}

/// TFLM SOFTMAX Prepare (int8 -> int8): `PreprocessSoftmaxScaling(beta, s_in, 5)` and
/// `diff_min = -CalculateInputRadius(5, shift)`.
pub fn softmax_params(beta: f32, in_s: f32) -> Result<SoftmaxParams> {
    check_scale(in_s, "input")?;
    let max_real = ((1i64 << 31) - 1) as f64;
    let real = (beta as f64 * in_s as f64 * (1i64 << (31 - 5)) as f64).min(max_real);
    let (m, shift) =
        quantize_multiplier_greater_than_one(real, "softmax input (beta * scale * 2^26)")?;
    if shift < 0 {
        return Err(QuantError::Multiplier {
            what: "softmax input",
            value: real,
            expected: "a left shift",
        });
    }
    Ok(SoftmaxParams {
        input_multiplier: m,
        input_left_shift: shift,
        diff_min: -calculate_input_radius(5, shift, 31),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_rt::kernels::int8::activation::Unary;

    #[test]
    fn frexp_matches_c() {
        assert_eq!(frexp(8.0), (0.5, 4));
        assert_eq!(frexp(0.75), (0.75, 0));
        assert_eq!(frexp(-3.0), (-0.75, 2));
        assert_eq!(frexp(1.0), (0.5, 1));
        let tiny = f64::from_bits(1); // smallest subnormal = 2^-1074
        assert_eq!(frexp(tiny), (0.5, -1073));
        assert_eq!(frexp(0.0), (0.0, 0));
    }

    #[test]
    fn quantize_multiplier_cases() {
        assert_eq!(quantize_multiplier(0.5).unwrap(), (1 << 30, 0));
        assert_eq!(quantize_multiplier(1.0).unwrap(), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.25).unwrap(), (1 << 30, -1));
        // 1/3: frexp 0.6667 * 2^-1, round(0.6667 * 2^31) = 1431655765.
        assert_eq!(quantize_multiplier(1.0 / 3.0).unwrap(), (1_431_655_765, -1));
        // Rounds up to 2^31: normalized to 2^30 with shift + 1.
        let just_below_one = 1.0 - 2f64.powi(-40);
        assert_eq!(quantize_multiplier(just_below_one).unwrap(), (1 << 30, 1));
        // Flush to zero below 2^-32.
        assert_eq!(quantize_multiplier(2f64.powi(-33)).unwrap(), (0, 0));
        assert_eq!(quantize_multiplier(0.0).unwrap(), (0, 0));
        // Negative (LEAKY_RELU with negative alpha).
        assert_eq!(quantize_multiplier(-0.5).unwrap(), (-(1 << 30), 0));
        assert!(quantize_multiplier(f64::NAN).is_err());
        assert!(quantize_multiplier(2f64.powi(40)).is_err());
        assert!(quantize_multiplier_smaller_than_one_exp(1.0, "x").is_err());
        assert!(quantize_multiplier_greater_than_one(0.5, "x").is_err());
    }

    #[test]
    fn input_radius() {
        assert_eq!(calculate_input_radius(4, 24, 31), 120);
        assert_eq!(calculate_input_radius(5, 23, 31), 248);
        assert_eq!(calculate_input_radius(4, 20, 31), 1920);
    }

    #[test]
    fn fully_connected_uses_the_f32_product() {
        // Scales whose f32 product differs from the f64 product.
        let (a, b, o) = (0.1f32, 0.3f32, 0.7f32);
        let via_f32 = quantize_multiplier((a * b) as f64 / o as f64).unwrap();
        let via_f64 = quantize_multiplier(a as f64 * b as f64 / o as f64).unwrap();
        assert_eq!(fully_connected_per_tensor(a, b, o).unwrap(), via_f32);
        assert_ne!(via_f32, via_f64, "test scales must expose the difference");
        let (m, s) = conv_per_channel(a, &[b], o, 2).unwrap();
        assert_eq!((m[1], s[1]), via_f64);
    }

    #[test]
    fn activation_ranges() {
        assert_eq!(activation_range(Act::None, 0.1, 5).unwrap(), (-128, 127));
        assert_eq!(activation_range(Act::Relu, 0.1, -20).unwrap(), (-20, 127));
        // 6 / 0.05 = 120 -> -10 + 120 = 110.
        assert_eq!(activation_range(Act::Relu6, 0.05, -10).unwrap(), (-10, 110));
        // RELU6 above the int8 range clamps to 127.
        assert_eq!(activation_range(Act::Relu6, 0.01, 0).unwrap(), (0, 127));
        // Ties away from zero: -1 / 0.4 = -2.5 -> -3.
        assert_eq!(activation_range(Act::ReluN1To1, 0.4, 0).unwrap(), (-3, 3));
        assert!(activation_range(Act::Relu, 0.0, 0).is_err());
    }

    #[test]
    fn add_sub_mul_params() {
        // Scales 0.5 / 0.25 -> 0.5: see the kernel tests in kiln-rt for the hand computation.
        let p = add_params((0.5, 1), (0.25, -2), (0.5, 3), Act::None).unwrap();
        assert_eq!(
            p,
            vec![
                20,
                -1,
                1 << 30,
                0,
                2,
                1 << 30,
                -1,
                3,
                1 << 30,
                -18,
                -128,
                127
            ]
        );
        let s = sub_params((0.5, 1), (0.25, -2), (0.5, 3), Act::Relu).unwrap();
        assert_eq!(&s[..10], &p[..10]);
        assert_eq!(&s[10..], &[3, 127]);
        let m = mul_params((0.5, 1), (0.25, -2), (0.125, -5), Act::None).unwrap();
        assert_eq!(m, vec![-1, 2, -5, 1 << 30, 1, -128, 127]);
    }

    #[test]
    fn softmax_and_activation_params_match_the_rt_tests() {
        assert_eq!(
            softmax_params(1.0, 1.0 / 16.0).unwrap(),
            SoftmaxParams {
                input_multiplier: 1 << 30,
                input_left_shift: 23,
                diff_min: -248
            }
        );
        assert_eq!(
            logistic_params((1.0 / 16.0, 0)).unwrap(),
            LogisticParams {
                input_zero_point: 0,
                input_range_radius: 120,
                input_multiplier: 1 << 30,
                input_left_shift: 24
            }
        );
        let hs = hard_swish_params((1.0 / 16.0, 0), (1.0 / 16.0, 0)).unwrap();
        assert_eq!(hs.output_multiplier_fixedpoint_int16, 16384);
        assert_eq!(hs.output_multiplier_exponent, -6);
        assert_eq!(hs.reluish_multiplier_fixedpoint_int16, 21845);
        assert_eq!(hs.reluish_multiplier_exponent, 3);
        let lr = leaky_relu_params((0.5, 1), (0.5, -1), 0.5).unwrap();
        assert_eq!(
            (lr.output_multiplier_alpha, lr.output_shift_alpha),
            (1 << 30, 0)
        );
        assert_eq!(
            (lr.output_multiplier_identity, lr.output_shift_identity),
            (1 << 30, 1)
        );
        // RELU with requantization: scale ratio 2 and the zero point as lower bound.
        let r = relu_params((0.2, 0), (0.1, 3), 0.0, f32::INFINITY).unwrap();
        assert_eq!(
            (r.multiplier, r.shift, r.act_min, r.act_max),
            (1 << 30, 2, 3, 127)
        );
        assert_eq!(r.eval(10), 23);
        assert_eq!(r.eval(-10), 3);
        assert_eq!(float_to_quantized_i8(6.0, 0.05, -10), 110);
        let q = requantize_params((0.5, 0), (0.25, 10)).unwrap();
        assert_eq!(q.eval(3), 16);
        assert_eq!(q.lut()[128 + 3], 16);
        assert!(hard_swish_params((1.0, 0), (1.0 / 1024.0, 0)).is_err());
    }
}
