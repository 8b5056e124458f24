//! Transcendental functions for f32 without `libm` (`core` has no `exp`/`tanh`).
//!
//! `exp` uses Cody-Waite range reduction (`x = n ln2 + r`, `|r| <= ln2/2`, with
//! ln2 split in a high part exact in f32 and a low correction) and a degree-7
//! polynomial for `e^r` (`1 + r + r^2 * P5(r)`, minimax coefficients as published
//! for single precision), then scales by `2^n` in two exact steps so subnormal
//! results and `n = 128` are handled. Accuracy is within ~2 ulp over the whole range,
//! which the unit tests check against `std`'s f64 functions.

/// log2(e).
const LOG2E: f32 = core::f32::consts::LOG2_E;
/// High part of ln 2: few mantissa bits so `n * LN2_HI` is exact for |n| < 256.
const LN2_HI: f32 = 0.693_359_4;
/// ln 2 - LN2_HI.
const LN2_LO: f32 = -2.121_944_4e-4;
/// Above this, `e^x` overflows f32.
const EXP_MAX: f32 = 88.722_84;
/// Below this, `e^x` rounds to zero even as a subnormal.
const EXP_MIN: f32 = -103.972_08;

/// `2^n` for `n` in the normal exponent range `[-126, 127]`.
#[inline(always)]
fn pow2i(n: i32) -> f32 {
    f32::from_bits(((n + 127) as u32) << 23)
}

/// Round-to-nearest integer of `x` for |x| < 2^22 without `libm` (`as` truncates toward zero).
#[inline(always)]
fn round_to_i32(x: f32) -> i32 {
    if x >= 0.0 {
        (x + 0.5) as i32
    } else {
        (x - 0.5) as i32
    }
}

/// `e^x` in f32. NaN in, NaN out; overflow gives `+inf`, underflow `0`.
#[inline]
pub fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x > EXP_MAX {
        return f32::INFINITY;
    }
    if x < EXP_MIN {
        return 0.0;
    }
    let n = round_to_i32(x * LOG2E);
    let nf = n as f32;
    // Two-step subtraction keeps r accurate to a few ulp of r (Cody-Waite).
    let r = (x - nf * LN2_HI) - nf * LN2_LO;
    let r2 = r * r;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5e-1;
    let er = p * r2 + r + 1.0;
    // n is in [-150, 128]; split the scaling so each factor is a normal power of two.
    let n1 = n / 2;
    let n2 = n - n1;
    er * pow2i(n1) * pow2i(n2)
}

/// Hyperbolic tangent in f32 (odd; saturates to +-1; NaN in, NaN out).
#[inline]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    if a < 0.625 {
        // Odd polynomial near zero, where 1 - 2/(e^2x + 1) would cancel.
        let z = x * x;
        let p = -5.704_988_7e-3_f32;
        let p = p * z + 2.063_909e-2;
        let p = p * z - 5.373_971_6e-2;
        let p = p * z + 1.333_144_2e-1;
        let p = p * z - 3.333_328e-1;
        return x + x * z * p;
    }
    if a.is_nan() {
        return x;
    }
    // tanh(a) == 1 in f32 from about 9.01 on; stopping earlier also avoids exp overflow.
    let t = if a > 10.0 {
        1.0
    } else {
        1.0 - 2.0 / (exp(2.0 * a) + 1.0)
    };
    if x < 0.0 {
        -t
    } else {
        t
    }
}

/// Logistic function `1 / (1 + e^-x)` in f32.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + exp(-x))
    } else {
        // e^x / (1 + e^x) keeps full relative accuracy for tiny (even subnormal) results.
        let e = exp(x);
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative error against an f64 reference, with an absolute floor near zero.
    fn rel_err(got: f32, want: f64) -> f64 {
        let g = got as f64;
        if want == 0.0 {
            return g.abs();
        }
        ((g - want) / want).abs()
    }

    /// Deterministic sample points: dense grid plus a pseudo-random spread.
    fn points(lo: f32, hi: f32, n: usize) -> impl Iterator<Item = f32> {
        let mut seed = 0x2545_f491_u32;
        (0..n).map(move |i| {
            if i % 2 == 0 {
                lo + (hi - lo) * (i as f32 / n as f32)
            } else {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                lo + (hi - lo) * ((seed >> 8) as f32 / (1u32 << 24) as f32)
            }
        })
    }

    #[test]
    fn exp_matches_f64_within_2ulp_over_normal_range() {
        let mut worst = 0.0f64;
        for x in points(-87.0, 88.7, 200_000) {
            let want = (x as f64).exp();
            let e = rel_err(exp(x), want);
            worst = worst.max(e);
        }
        assert!(worst < 2.5e-7, "worst relative error {worst}");
    }

    #[test]
    fn exp_small_arguments_and_exact_points() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        for x in points(-1e-3, 1e-3, 10_000) {
            assert!(rel_err(exp(x), (x as f64).exp()) < 1.5e-7, "x={x}");
        }
        assert!(rel_err(exp(1.0), core::f64::consts::E) < 1.2e-7);
    }

    #[test]
    fn exp_special_values_and_subnormals() {
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(89.0), f32::INFINITY);
        assert_eq!(exp(-104.0), 0.0);
        // Largest finite result.
        let big = exp(88.72);
        assert!(big.is_finite() && rel_err(big, (88.72f32 as f64).exp()) < 2.5e-7);
        // Subnormal results: absolute error within one subnormal step or so.
        for x in points(-103.0, -87.4, 2000) {
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            assert!(
                (got - want).abs() <= want * 2.5e-7 + 2.0 * f32::from_bits(1) as f64,
                "x={x}"
            );
        }
    }

    #[test]
    fn tanh_matches_f64() {
        let mut worst = 0.0f64;
        for x in points(-12.0, 12.0, 200_000) {
            worst = worst.max(rel_err(tanh(x), (x as f64).tanh()));
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        for x in points(-0.7, 0.7, 20_000) {
            assert!(rel_err(tanh(x), (x as f64).tanh()) < 2.5e-7, "x={x}");
        }
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(tanh(1e-30), 1e-30);
        assert_eq!(tanh(50.0), 1.0);
        assert_eq!(tanh(-50.0), -1.0);
        assert_eq!(tanh(f32::INFINITY), 1.0);
        assert!(tanh(f32::NAN).is_nan());
    }

    #[test]
    fn sigmoid_matches_f64() {
        let mut worst = 0.0f64;
        for x in points(-87.0, 30.0, 200_000) {
            let want = 1.0 / (1.0 + (-(x as f64)).exp());
            worst = worst.max(rel_err(sigmoid(x), want));
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(sigmoid(200.0), 1.0);
        assert_eq!(sigmoid(-200.0), 0.0);
        // Subnormal results are still close in absolute terms.
        let tiny = sigmoid(-100.0) as f64;
        assert!((tiny - (-100.0f64).exp()).abs() < 1e-44);
        assert!(sigmoid(f32::NAN).is_nan());
    }
}
