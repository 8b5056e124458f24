//! float <-> int8 at the edges of quantized graphs: ExecuTorch's
//! `quantized_decomposed::quantize_per_tensor` / `dequantize_per_tensor` and kiln's
//! `quantize_per_tensor` with a selectable rounding (ONNX half-to-even, TFLite half-away).
//!
//! No libm: rounding is done with exact f32 operations (see [`round_half_even`],
//! [`round_half_away`]).

use super::check;
use crate::ops::OpKind;
use crate::RtError;

/// 2^23: from here on every f32 is an integer.
const TWO_POW_23: f32 = 8_388_608.0;

/// Rounds to the nearest integer, ties to even (C `nearbyint` in the default FP mode).
///
/// For `|v| < 2^23`, adding and subtracting 2^23 rounds the fraction away in the FPU's
/// round-to-nearest-even mode (both operations are IEEE-exact apart from that one rounding);
/// larger magnitudes, infinities and NaN are returned unchanged.
#[inline]
pub fn round_half_even(v: f32) -> f32 {
    if v.is_nan() || abs(v) >= TWO_POW_23 {
        return v;
    }
    if v >= 0.0 {
        (v + TWO_POW_23) - TWO_POW_23
    } else {
        (v - TWO_POW_23) + TWO_POW_23
    }
}

/// `|v|` without libm (clears the sign bit).
#[inline(always)]
fn abs(v: f32) -> f32 {
    f32::from_bits(v.to_bits() & 0x7fff_ffff)
}

/// Rounds to the nearest integer, ties away from zero (C `round`, TFLite's `TfLiteRound`).
#[inline]
pub fn round_half_away(v: f32) -> f32 {
    if v.is_nan() || abs(v) >= TWO_POW_23 {
        return v;
    }
    // |v| < 2^23: the truncation is exact and so is the difference v - t.
    let t = (v as i32) as f32;
    let frac = v - t;
    if frac >= 0.5 {
        t + 1.0
    } else if frac <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

/// `floor` for f32 without libm.
#[inline]
pub fn floor(v: f32) -> f32 {
    if v.is_nan() || abs(v) >= TWO_POW_23 {
        return v;
    }
    let t = (v as i32) as f32;
    if t > v {
        t - 1.0
    } else {
        t
    }
}

/// Rounding rule of a float -> int quantization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoundMode {
    /// Ties to even (ONNX QuantizeLinear, ExecuTorch `nearbyint`).
    HalfToEven,
    /// Ties away from zero (TFLite QUANTIZE).
    HalfAway,
}

/// The int8 range and zero point of a per-tensor quantization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QRange {
    /// Zero point.
    pub zero_point: i32,
    /// Smallest quantized value (>= -128).
    pub qmin: i32,
    /// Largest quantized value (<= 127).
    pub qmax: i32,
}

impl QRange {
    fn validate(self, op: OpKind) -> Result<Self, RtError> {
        check(
            -128 <= self.qmin && self.qmin <= self.qmax && self.qmax <= 127,
            op,
            "quant_min/quant_max must satisfy -128 <= quant_min <= quant_max <= 127",
        )?;
        check(
            (-128..=127).contains(&self.zero_point),
            op,
            "zero point outside int8",
        )?;
        Ok(self)
    }

    #[inline(always)]
    fn finish(self, r: f32) -> i8 {
        // Clamp in float first so the int conversion cannot saturate differently; NaN maps to
        // the zero point (the C++ conversion is undefined there).
        let lo = (self.qmin - self.zero_point) as f32;
        let hi = (self.qmax - self.zero_point) as f32;
        let r = if r.is_nan() { 0.0 } else { r.max(lo).min(hi) };
        (self.zero_point + r as i32) as i8
    }
}

/// ExecuTorch `quantize_per_tensor`: `q = clamp(zp + nearbyint(float(1/float(scale)) * x))`.
pub fn qd_quantize_per_tensor(
    x: &[f32],
    scale: f64,
    q: QRange,
    y: &mut [i8],
) -> Result<(), RtError> {
    const K: OpKind = OpKind::QdQuantizePerTensor;
    let q = q.validate(K)?;
    check(x.len() == y.len(), K, "input and output sizes differ")?;
    let inv = 1.0f32 / scale as f32;
    for (o, &v) in y.iter_mut().zip(x) {
        *o = q.finish(round_half_even(inv * v));
    }
    Ok(())
}

/// ExecuTorch `dequantize_per_tensor`: `x = float(q - zp) * float(scale)`.
pub fn qd_dequantize_per_tensor(
    x: &[i8],
    scale: f64,
    zero_point: i32,
    y: &mut [f32],
) -> Result<(), RtError> {
    check(
        x.len() == y.len(),
        OpKind::QdDequantizePerTensor,
        "input and output sizes differ",
    )?;
    let s = scale as f32;
    for (o, &v) in y.iter_mut().zip(x) {
        *o = (v as i32).wrapping_sub(zero_point) as f32 * s;
    }
    Ok(())
}

/// kiln `quantize_per_tensor`: `q = clamp(zp + round(x / float(scale)))` with an f32 division
/// (ONNX QuantizeLinear, TFLite `AffineQuantize`).
pub fn kiln_quantize(
    x: &[f32],
    scale: f64,
    q: QRange,
    mode: RoundMode,
    y: &mut [i8],
) -> Result<(), RtError> {
    const K: OpKind = OpKind::KilnQuantize;
    let q = q.validate(K)?;
    check(x.len() == y.len(), K, "input and output sizes differ")?;
    let s = scale as f32;
    match mode {
        RoundMode::HalfToEven => {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = q.finish(round_half_even(v / s));
            }
        }
        RoundMode::HalfAway => {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = q.finish(round_half_away(v / s));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_helpers_match_std() {
        let cases = [
            0.0f32,
            -0.0,
            0.5,
            1.5,
            2.5,
            -0.5,
            -1.5,
            -2.5,
            0.49999997,
            -0.49999997,
            1.0000001,
            3.7,
            -3.7,
            8388607.5,
            -8388607.5,
            8388608.0,
            1e10,
            -1e10,
            0.1,
            -0.1,
            126.5,
            127.5,
            -128.5,
        ];
        for v in cases {
            assert_eq!(round_half_away(v), v.round(), "away {v}");
            assert_eq!(round_half_even(v), v.round_ties_even(), "even {v}");
            assert_eq!(floor(v), v.floor(), "floor {v}");
        }
        assert!(round_half_even(f32::NAN).is_nan());
        assert_eq!(round_half_away(f32::INFINITY), f32::INFINITY);
        // A sweep of quarter steps.
        for i in -4000..4000 {
            let v = i as f32 * 0.25;
            assert_eq!(round_half_away(v), v.round());
            assert_eq!(round_half_even(v), v.round_ties_even());
            assert_eq!(floor(v), v.floor());
        }
    }

    #[test]
    fn quantize_and_dequantize() {
        let q = QRange {
            zero_point: -1,
            qmin: -128,
            qmax: 127,
        };
        let x = [0.25f32, 0.75, -0.25, 100.0, -100.0, f32::NAN];
        let mut y = [0i8; 6];
        // scale 0.5: x/scale = 0.5, 1.5, -0.5 -> even: 0, 2, -0 ; away: 1, 2, -1.
        qd_quantize_per_tensor(&x, 0.5, q, &mut y).unwrap();
        assert_eq!(y, [-1, 1, -1, 127, -128, -1]);
        kiln_quantize(&x, 0.5, q, RoundMode::HalfAway, &mut y).unwrap();
        assert_eq!(y, [0, 1, -2, 127, -128, -1]);
        kiln_quantize(&x, 0.5, q, RoundMode::HalfToEven, &mut y).unwrap();
        assert_eq!(y, [-1, 1, -1, 127, -128, -1]);
        let narrow = QRange {
            zero_point: 0,
            qmin: -127,
            qmax: 127,
        };
        kiln_quantize(&[-1000.0], 1.0, narrow, RoundMode::HalfAway, &mut y[..1]).unwrap();
        assert_eq!(y[0], -127);
        let mut f = [0f32; 3];
        qd_dequantize_per_tensor(&[-128, 0, 127], 0.5, -1, &mut f).unwrap();
        assert_eq!(f, [-63.5, 0.5, 64.0]);
        assert!(kiln_quantize(
            &x,
            0.5,
            QRange {
                zero_point: 0,
                qmin: -129,
                qmax: 0
            },
            RoundMode::HalfAway,
            &mut y
        )
        .is_err());
        assert!(qd_quantize_per_tensor(&x[..2], 0.5, q, &mut y).is_err());
    }
}
