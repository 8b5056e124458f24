//! Fixed-point arithmetic of gemmlowp and TFLite (`common.h`, `fixedpoint.h`), default build:
//! double rounding (`TFLITE_SINGLE_ROUNDING` off).
//!
//! Q-format values are raw `i32`s; the number of integer bits is passed explicitly where
//! gemmlowp has it as a template parameter. Every function is total: where C++ has undefined
//! behaviour (signed overflow) we wrap, as the compiled reference does on every target we care
//! about, and shift amounts are clamped to the representable range instead of panicking.

/// `SaturatingRoundingDoublingHighMul` (ARM `VQRDMULH`): `round(a * b / 2^31)` with ties
/// rounded up (towards +inf), saturating the single overflow case `MIN * MIN`.
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == b && a == i32::MIN {
        return i32::MAX;
    }
    // gemmlowp adds a nudge (2^30 for ab >= 0, 1 - 2^30 otherwise) and divides by 2^31
    // truncating. For ab < 0 the nudged value is negative, and truncating it equals flooring
    // it after adding 2^31 - 1; both cases collapse to one arithmetic shift of ab + 2^30
    // (checked against the two-branch form in the tests). Cheaper: no i64 division.
    ((a as i64 * b as i64 + (1i64 << 30)) >> 31) as i32
}

/// [`saturating_rounding_doubling_high_mul`] without a branch, for inner loops: the shifted
/// product only reaches 2^31 (wrapping to `i32::MIN`) for `MIN * MIN`, and `i32::MIN` is no
/// result of any other product (the most negative one, `MIN * MAX`, gives `MIN + 1`), so the
/// saturation is a conditional decrement.
#[inline(always)]
pub fn srdhm_branchless(a: i32, b: i32) -> i32 {
    let v = ((a as i64 * b as i64 + (1i64 << 30)) >> 31) as i32;
    v.wrapping_sub(i32::from(v == i32::MIN))
}

/// [`srdhm_branchless`] from 32-bit operations only: the high word of the product from 16-bit
/// halves (Hacker's Delight `mulhs`), the low word by a wrapping multiply, then the rounding
/// bit and the saturation. Slower as scalar code than one 64-bit multiply, but a loop of it
/// vectorizes for Helium (four lanes of `VMUL`/`VMULL`), which a 64-bit product does not.
#[inline(always)]
pub fn srdhm_i32_ops(a: i32, b: i32) -> i32 {
    let (a0, a1) = (a & 0xFFFF, a >> 16);
    let (b0, b1) = (b & 0xFFFF, b >> 16);
    // Each partial product and sum below fits in 32 bits (|a1 * b0| + 2^16 <= 2^31 - 2^15).
    let w0 = ((a0 as u32).wrapping_mul(b0 as u32) >> 16) as i32;
    let t = a1.wrapping_mul(b0).wrapping_add(w0);
    let w1 = a0.wrapping_mul(b1).wrapping_add(t & 0xFFFF);
    let hi = a1
        .wrapping_mul(b1)
        .wrapping_add(t >> 16)
        .wrapping_add(w1 >> 16);
    let lo = a.wrapping_mul(b) as u32;
    // (hi * 2^32 + lo + 2^30) >> 31: bit 31 of lo, plus the carry of adding 2^30 (bit 30).
    let v = hi
        .wrapping_shl(1)
        .wrapping_add((lo >> 31) as i32)
        .wrapping_add(((lo >> 30) & 1) as i32);
    v.wrapping_sub(i32::from(v == i32::MIN))
}

/// [`multiply_by_quantized_multiplier`] with [`srdhm_i32_ops`]: the same function, in a form
/// whose loops vectorize for Helium (selected by the `helium` feature).
#[inline(always)]
pub fn multiply_by_quantized_multiplier_i32_ops(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = shift.clamp(0, 31) as u32;
    let right = if shift > 0 { 0 } else { -shift.max(-31) };
    rounding_divide_by_pot(srdhm_i32_ops(x.wrapping_shl(left), multiplier), right)
}

/// `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest, ties away from zero.
/// `exponent` is clamped to `0..=31` (the reference asserts that range).
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let e = exponent.clamp(0, 31) as u32;
    let mask = (1u32 << e).wrapping_sub(1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> e) + i32::from(remainder > threshold)
}

/// `MultiplyByQuantizedMultiplier` (int32 overload, double rounding): `x * m * 2^shift` with
/// `m` a Q31 multiplier; positive `shift` is a left shift.
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = shift.clamp(0, 31) as u32;
    let right = if shift > 0 { 0 } else { -shift.max(-31) };
    rounding_divide_by_pot(srdhm_branchless(x.wrapping_shl(left), multiplier), right)
}

/// `MultiplyByQuantizedMultiplierGreaterThanOne`: left shift, then the high multiply.
#[inline(always)]
pub fn multiply_by_quantized_multiplier_greater_than_one(
    x: i32,
    multiplier: i32,
    left_shift: i32,
) -> i32 {
    saturating_rounding_doubling_high_mul(
        x.wrapping_shl(left_shift.clamp(0, 31) as u32),
        multiplier,
    )
}

/// `SaturatingRoundingMultiplyByPOT<exponent>`: saturating left shift for positive exponents,
/// rounding right shift for negative ones.
#[inline(always)]
pub fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
    match exponent {
        0 => x,
        e if e > 0 => {
            let e = e.min(31);
            let threshold = ((1i64 << (31 - e)) - 1) as i32;
            if x > threshold {
                i32::MAX
            } else if x < -threshold {
                i32::MIN
            } else {
                x.wrapping_shl(e as u32)
            }
        }
        e => rounding_divide_by_pot(x, -e),
    }
}

/// gemmlowp `RoundingHalfSum`: `(a + b) / 2` rounded to nearest, ties away from zero.
#[inline(always)]
pub fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = a as i64 + b as i64;
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// The raw value of `1.0` in Q0.31 (gemmlowp saturates it to `i32::MAX`).
pub const Q0_ONE: i32 = i32::MAX;

/// gemmlowp `exp_on_interval_between_negative_one_quarter_and_0_excl`: `exp(a)` for Q0.31
/// `a` in `[-1/4, 0)`, result Q0.31.
pub fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const CONSTANT_TERM: i32 = 1_895_147_668; // exp(-1/8)
    const ONE_OVER_3: i32 = 715_827_883;
    let mul = saturating_rounding_doubling_high_mul;
    // Taylor expansion around -1/8: x = a + 1/8 (1/8 is 1 << 28 in Q0.31).
    let x = a.wrapping_add(1 << 28);
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2);
    let poly = saturating_rounding_multiply_by_pot(
        mul(x4_over_4.wrapping_add(x3), ONE_OVER_3).wrapping_add(x2),
        -1,
    );
    CONSTANT_TERM.wrapping_add(mul(CONSTANT_TERM, x.wrapping_add(poly)))
}

/// gemmlowp `exp_on_negative_values`: `exp(a)` for `a <= 0` with `integer_bits` integer bits
/// (`1..=30`); result Q0.31.
pub fn exp_on_negative_values(a: i32, integer_bits: i32) -> i32 {
    let ib = integer_bits.clamp(0, 30);
    let frac = 31 - ib;
    let one_quarter = 1i32 << (frac - 2).max(0);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, ib),
    );
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    // Barrel shifter: multiply by exp(-2^k) for every bit k set in the remainder.
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947), // exp(-1/4)
        (-1, 1_302_514_674), // exp(-1/2)
        (0, 790_015_084),    // exp(-1)
        (1, 290_630_308),    // exp(-2)
        (2, 39_332_535),     // exp(-4)
        (3, 720_401),        // exp(-8)
        (4, 242),            // exp(-16)
    ];
    for (exponent, multiplier) in BARREL {
        if ib > exponent {
            let shift = frac + exponent;
            if (0..32).contains(&shift) && remainder & (1i32.wrapping_shl(shift as u32)) != 0 {
                result = saturating_rounding_doubling_high_mul(result, multiplier);
            }
        }
    }
    if ib > 5 {
        let clamp = -(1i32 << (36 - ib)); // -32.0 in Q(ib)
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = Q0_ONE;
    }
    result
}

/// Newton-Raphson reciprocal shared by `one_over_one_plus_x_for_x_in_0_1` and
/// `one_minus_x_over_one_plus_x_for_x_in_0_1`: returns `x ~ 1 / half_denominator` in Q2.29.
fn newton_reciprocal_q2(half_denominator: i32) -> i32 {
    const C48_OVER_17: i32 = 1_515_870_810; // Q2.29
    const CNEG32_OVER_17: i32 = -1_010_580_540; // Q2.29
    const Q2_ONE: i32 = 1 << 29;
    let mul = saturating_rounding_doubling_high_mul;
    let mut x = C48_OVER_17.wrapping_add(mul(half_denominator, CNEG32_OVER_17));
    for _ in 0..3 {
        let half_denominator_times_x = mul(half_denominator, x);
        let one_minus = Q2_ONE.wrapping_sub(half_denominator_times_x);
        // x * one_minus is Q4; Rescale<2> is a saturating left shift by 2.
        x = x.wrapping_add(saturating_rounding_multiply_by_pot(mul(x, one_minus), 2));
    }
    x
}

/// gemmlowp `one_over_one_plus_x_for_x_in_0_1`: `1 / (1 + a)` for Q0.31 `a` in `(0, 1)`.
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let x = newton_reciprocal_q2(rounding_half_sum(a, Q0_ONE));
    // ExactMulByPot<-1> (Q2 -> Q1, raw unchanged) then Rescale<0> (shift left by 1).
    saturating_rounding_multiply_by_pot(x, 1)
}

/// gemmlowp `one_minus_x_over_one_plus_x_for_x_in_0_1`: `(1 - a) / (1 + a)` for Q0.31 `a`.
pub fn one_minus_x_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let x = newton_reciprocal_q2(rounding_half_sum(a, Q0_ONE));
    saturating_rounding_multiply_by_pot(x.wrapping_sub(1 << 29), 2)
}

/// gemmlowp `logistic`: `1 / (1 + exp(-a))` for `a` with `integer_bits`; result Q0.31.
pub fn logistic(a: i32, integer_bits: i32) -> i32 {
    if a == 0 {
        return 1 << 30;
    }
    let abs = if a > 0 { a } else { a.wrapping_neg() };
    let positive =
        one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(abs.wrapping_neg(), integer_bits));
    if a > 0 {
        positive
    } else {
        Q0_ONE.wrapping_sub(positive)
    }
}

/// gemmlowp `tanh` for `a` with `integer_bits`; result Q0.31.
pub fn tanh(a: i32, integer_bits: i32) -> i32 {
    if a == 0 {
        return 0;
    }
    let n = if a < 0 { a } else { a.wrapping_neg() };
    // ExactMulByPot<1>: same raw value read with one more integer bit, i.e. exp(2n).
    let t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1));
    if a < 0 {
        t.wrapping_neg()
    } else {
        t
    }
}

/// gemmlowp `SaturatingRoundingDoublingHighMul` for `i16`.
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul_i16(a: i16, b: i16) -> i16 {
    if a == b && a == i16::MIN {
        return i16::MAX;
    }
    let ab = a as i32 * b as i32;
    let nudge: i32 = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    ((ab + nudge) / (1 << 15)) as i16
}

/// gemmlowp `RoundingDivideByPOT` for `i16` (`exponent` clamped to `0..=15`).
#[inline(always)]
pub fn rounding_divide_by_pot_i16(x: i16, exponent: i32) -> i16 {
    let e = exponent.clamp(0, 15) as u32;
    let mask = ((1i32 << e) - 1) as i16;
    let remainder = x & mask;
    let threshold = (mask >> 1).wrapping_add(i16::from(x < 0));
    (x >> e).wrapping_add(i16::from(remainder > threshold))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// gemmlowp's formulation, transcribed literally (nudge, then truncating division).
    fn srdhm_gemmlowp(a: i32, b: i32) -> i32 {
        if a == b && a == i32::MIN {
            return i32::MAX;
        }
        let ab = a as i64 * b as i64;
        let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
        ((ab + nudge) / (1i64 << 31)) as i32
    }

    /// gemmlowp's `RoundingDivideByPOT`, transcribed literally (i64 mask).
    fn rdbpot_gemmlowp(x: i32, exponent: i32) -> i32 {
        let mask = ((1i64 << exponent) - 1) as i32;
        let remainder = x & mask;
        let threshold = (mask >> 1) + i32::from(x < 0);
        (x >> exponent) + i32::from(remainder > threshold)
    }

    #[test]
    fn rdbpot_and_branchless_srdhm_equal_gemmlowp() {
        let mut s = 0x9e37_79b9u32;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as i32
        };
        let edges = [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 30),
            -3,
            -1,
            0,
            1,
            3,
            1 << 30,
            i32::MAX,
        ];
        for e in 0..=31 {
            for &x in &edges {
                assert_eq!(
                    rounding_divide_by_pot(x, e),
                    rdbpot_gemmlowp(x, e),
                    "{x} / 2^{e}"
                );
            }
            for _ in 0..2000 {
                let x = next();
                let small = x >> (next() & 31);
                for x in [x, small] {
                    assert_eq!(
                        rounding_divide_by_pot(x, e),
                        rdbpot_gemmlowp(x, e),
                        "{x} / 2^{e}"
                    );
                }
            }
        }
        for &a in &edges {
            for &b in &edges {
                assert_eq!(srdhm_branchless(a, b), srdhm_gemmlowp(a, b), "{a} * {b}");
            }
        }
        for &a in &edges {
            for &b in &edges {
                assert_eq!(srdhm_i32_ops(a, b), srdhm_gemmlowp(a, b), "{a} * {b}");
            }
        }
        for _ in 0..100_000 {
            let (a, b) = (next(), next());
            assert_eq!(srdhm_branchless(a, b), srdhm_gemmlowp(a, b), "{a} * {b}");
            assert_eq!(srdhm_i32_ops(a, b), srdhm_gemmlowp(a, b), "{a} * {b}");
            // Halves at their extremes (carries between the 16-bit partial products).
            let (c, d) = (a | 0xFFFF, (b & !0xFFFF) | 0x8000);
            assert_eq!(srdhm_i32_ops(c, d), srdhm_gemmlowp(c, d), "{c} * {d}");
            let small = a >> 16;
            assert_eq!(
                srdhm_i32_ops(small, b),
                srdhm_gemmlowp(small, b),
                "{small} * {b}"
            );
        }
        for _ in 0..20_000 {
            let (x, m, sh) = (next(), next(), next().rem_euclid(62) - 31);
            assert_eq!(
                multiply_by_quantized_multiplier_i32_ops(x, m, sh),
                multiply_by_quantized_multiplier(x, m, sh),
                "{x} {m} {sh}"
            );
        }
    }

    #[test]
    fn srdhm_shift_form_equals_gemmlowp_division_form() {
        let edges = [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 30) - 1,
            -(1 << 30),
            -3,
            -2,
            -1,
            0,
            1,
            2,
            3,
            1 << 30,
            (1 << 30) + 1,
            i32::MAX - 1,
            i32::MAX,
        ];
        for &a in &edges {
            for &b in &edges {
                assert_eq!(
                    saturating_rounding_doubling_high_mul(a, b),
                    srdhm_gemmlowp(a, b),
                    "{a} * {b}"
                );
            }
        }
        let mut s = 0x1234_5678u32;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as i32
        };
        for _ in 0..200_000 {
            // Mix full-range values with small ones so exact ties (ab = k * 2^31 + 2^30) occur.
            let a = next();
            let b = next();
            let small = a >> 20;
            for (x, y) in [
                (a, b),
                (small, 1 << 30),
                (small, b),
                (a, 1 << (b & 31) as u32),
            ] {
                assert_eq!(
                    saturating_rounding_doubling_high_mul(x, y),
                    srdhm_gemmlowp(x, y),
                    "{x} * {y}"
                );
            }
        }
    }

    #[test]
    fn srdhm_rounds_half_away_and_saturates() {
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        // 2^30 * 2^30 / 2^31 = 2^29 exactly.
        assert_eq!(
            saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
            1 << 29
        );
        // Ties round up (towards +inf), as VQRDMULH: 1.5 -> 2 but -1.5 -> -1.
        assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
        // 0.5 -> 1 ; -0.5 -> 0.
        assert_eq!(saturating_rounding_doubling_high_mul(1, 1 << 30), 1);
        assert_eq!(saturating_rounding_doubling_high_mul(-1, 1 << 30), 0);
        // Just below a negative tie rounds down: -1.5 - 2^-31.
        assert_eq!(saturating_rounding_doubling_high_mul(-3, (1 << 30) + 1), -2);
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MAX, i32::MAX),
            i32::MAX - 1
        );
    }

    #[test]
    fn rounding_divide_by_pot_ties_away_from_zero() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(-4, 1), -2);
        assert_eq!(rounding_divide_by_pot(6, 2), 2); // 1.5 -> 2
        assert_eq!(rounding_divide_by_pot(-6, 2), -2);
        assert_eq!(rounding_divide_by_pot(-7, 2), -2); // -1.75
        assert_eq!(rounding_divide_by_pot(-5, 2), -1); // -1.25
        assert_eq!(rounding_divide_by_pot(123, 0), 123);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(-(1 << 30), 31), -1); // -0.5 -> -1
    }

    #[test]
    fn multiply_by_quantized_multiplier_cases() {
        // multiplier 0.5 (2^30), shift 0: 7 * 0.5 = 3.5 -> 4 (double rounding: srdhm gives 4).
        assert_eq!(multiply_by_quantized_multiplier(7, 1 << 30, 0), 4);
        assert_eq!(multiply_by_quantized_multiplier(-7, 1 << 30, 0), -3); // -3.5 rounds up
                                                                          // The final right shift rounds ties away from zero: -7 * 0.25 -> srdhm -3, -1.5 -> -2.
        assert_eq!(multiply_by_quantized_multiplier(-7, 1 << 30, -1), -2);
        // shift -1: 7 * 0.25 = 1.75; srdhm(7, 0.5) = 4 (3.5 rounded), 4 / 2 = 2.
        assert_eq!(multiply_by_quantized_multiplier(7, 1 << 30, -1), 2);
        // Double rounding differs from exact: 5 * 0.25 = 1.25 -> srdhm 3 (2.5), /2 -> 2 (1.5 up).
        assert_eq!(multiply_by_quantized_multiplier(5, 1 << 30, -1), 2);
        // Positive shift: 100 * 0.5 * 2^3 = 400.
        assert_eq!(multiply_by_quantized_multiplier(100, 1 << 30, 3), 400);
        // Saturation through the high multiply: MIN << 0 times MIN.
        assert_eq!(
            multiply_by_quantized_multiplier(i32::MIN, i32::MIN, 0),
            i32::MAX
        );
        // Multiplier 0 gives 0.
        assert_eq!(multiply_by_quantized_multiplier(12345, 0, 0), 0);
        // Very negative shift clamps to 31 instead of panicking.
        assert_eq!(multiply_by_quantized_multiplier(1000, 1 << 30, -40), 0);
    }

    #[test]
    fn saturating_multiply_by_pot() {
        assert_eq!(saturating_rounding_multiply_by_pot(1 << 29, 1), 1 << 30);
        assert_eq!(saturating_rounding_multiply_by_pot(1 << 30, 1), i32::MAX);
        assert_eq!(
            saturating_rounding_multiply_by_pot(-(1 << 30) - 1, 1),
            i32::MIN
        );
        assert_eq!(saturating_rounding_multiply_by_pot(-(1 << 30), 1), i32::MIN); // exact
        assert_eq!(saturating_rounding_multiply_by_pot(6, -2), 2);
    }

    #[test]
    fn exp_and_logistic_are_close_to_the_real_functions() {
        // exp(-1) in Q5.26 input.
        let e = exp_on_negative_values(-(1 << 26), 5);
        let expect = (0.36787944117 * 2147483648.0) as i64;
        assert!((e as i64 - expect).abs() < 1000, "{e} vs {expect}");
        assert_eq!(exp_on_negative_values(0, 5), Q0_ONE);
        // Below -32 in Q5: clamped to 0 (only for > 5 integer bits); exp(-31) is tiny.
        assert!(exp_on_negative_values(i32::MIN + 1, 5) < 4);
        // logistic(0) = 0.5; logistic(2) in Q4.27.
        assert_eq!(logistic(0, 4), 1 << 30);
        let l = logistic(2 << 27, 4);
        let expect = (0.880797077977 * 2147483648.0) as i64;
        assert!((l as i64 - expect).abs() < 1000, "{l} vs {expect}");
        let ln = logistic(-(2 << 27), 4);
        assert!((ln as i64 - (2147483647 - expect)).abs() < 1000);
        let t = tanh(1 << 27, 4);
        let expect = (0.761594155956 * 2147483648.0) as i64;
        assert!((t as i64 - expect).abs() < 1000, "{t} vs {expect}");
        assert_eq!(tanh(0, 4), 0);
        assert_eq!(tanh(-(1 << 27), 4), -t);
        let r = one_over_one_plus_x_for_x_in_0_1(1 << 30); // 1 / 1.5
        let expect = (2.0 / 3.0 * 2147483648.0) as i64;
        assert!((r as i64 - expect).abs() < 1000, "{r} vs {expect}");
    }

    #[test]
    fn i16_helpers() {
        assert_eq!(
            saturating_rounding_doubling_high_mul_i16(i16::MIN, i16::MIN),
            i16::MAX
        );
        assert_eq!(saturating_rounding_doubling_high_mul_i16(3, 1 << 14), 2);
        assert_eq!(saturating_rounding_doubling_high_mul_i16(-3, 1 << 14), -1);
        assert_eq!(rounding_divide_by_pot_i16(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot_i16(5, 1), 3);
        assert_eq!(rounding_divide_by_pot_i16(-5, 2), -1);
    }
}
