//! ADD, SUB and MUL int8 (TFLM `reference_integer_ops::AddFunc`, `reference_ops::SubElementwise`
//! / `BroadcastQuantSubSlow`, `reference_integer_ops::MulElementwise`), with broadcasting.

use super::fixedpoint::multiply_by_quantized_multiplier as mbqm;
use super::{check, check_shifts, shape, ActRange};
use crate::ops::OpKind;
use crate::RtError;

/// TFLite ADD / SUB int8 parameters (TFLM `OpDataAdd` / `OpDataSub`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddParams {
    /// Left shift applied to both offset inputs (20 for int8).
    pub left_shift: i32,
    /// Negated zero point of the first input.
    pub a_offset: i32,
    /// First input multiplier (Q31).
    pub a_mult: i32,
    /// First input shift (<= 0).
    pub a_shift: i32,
    /// Negated zero point of the second input.
    pub b_offset: i32,
    /// Second input multiplier.
    pub b_mult: i32,
    /// Second input shift.
    pub b_shift: i32,
    /// Output zero point.
    pub out_offset: i32,
    /// Output multiplier.
    pub out_mult: i32,
    /// Output shift.
    pub out_shift: i32,
    /// Fused activation range.
    pub act: ActRange,
}

impl AddParams {
    /// Decodes the `IntList` of `cortex_m::quantized_add` / `kiln::quantized_sub`:
    /// `[left_shift, a_offset, a_mult, a_shift, b_offset, b_mult, b_shift, out_offset, out_mult,
    /// out_shift, act_min, act_max]`.
    pub fn from_list(p: &[i64], op: OpKind) -> Result<Self, RtError> {
        check(p.len() == 12, op, "params list must have 12 entries")?;
        let mut v = [0i32; 12];
        for (o, &x) in v.iter_mut().zip(p) {
            *o = i32::try_from(x).map_err(|_| RtError::Kernel {
                op,
                what: "params entry out of i32 range",
            })?;
        }
        let params = AddParams {
            left_shift: v[0],
            a_offset: v[1],
            a_mult: v[2],
            a_shift: v[3],
            b_offset: v[4],
            b_mult: v[5],
            b_shift: v[6],
            out_offset: v[7],
            out_mult: v[8],
            out_shift: v[9],
            act: ActRange {
                min: v[10],
                max: v[11],
            },
        };
        params.validate(op)
    }

    fn validate(self, op: OpKind) -> Result<Self, RtError> {
        self.act.validate(op)?;
        check(
            (0..=30).contains(&self.left_shift),
            op,
            "left_shift outside [0, 30]",
        )?;
        check_shifts(&[self.a_shift, self.b_shift, self.out_shift], op)?;
        Ok(self)
    }

    #[inline(always)]
    fn scaled(self, a: i8, b: i8) -> (i32, i32) {
        let sa = (self.a_offset.wrapping_add(a as i32)).wrapping_shl(self.left_shift as u32);
        let sb = (self.b_offset.wrapping_add(b as i32)).wrapping_shl(self.left_shift as u32);
        (
            mbqm(sa, self.a_mult, self.a_shift),
            mbqm(sb, self.b_mult, self.b_shift),
        )
    }

    /// One ADD element (TFLM `AddFunc`).
    #[inline(always)]
    pub fn add(self, a: i8, b: i8) -> i8 {
        let (sa, sb) = self.scaled(a, b);
        let raw =
            mbqm(sa.wrapping_add(sb), self.out_mult, self.out_shift).wrapping_add(self.out_offset);
        self.act.apply(raw)
    }

    /// One SUB element (TFLite `SubElementwise`).
    #[inline(always)]
    pub fn sub(self, a: i8, b: i8) -> i8 {
        let (sa, sb) = self.scaled(a, b);
        let raw =
            mbqm(sa.wrapping_sub(sb), self.out_mult, self.out_shift).wrapping_add(self.out_offset);
        self.act.apply(raw)
    }
}

/// TFLite MUL int8 parameters (TFLM `OpDataMul`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MulParams {
    /// Negated zero point of the first input.
    pub a_offset: i32,
    /// Negated zero point of the second input.
    pub b_offset: i32,
    /// Output zero point.
    pub out_offset: i32,
    /// Output multiplier (Q31) of `s_a * s_b / s_y`.
    pub out_mult: i32,
    /// Output shift.
    pub out_shift: i32,
    /// Fused activation range.
    pub act: ActRange,
}

impl MulParams {
    /// Decodes the `IntList` of `cortex_m::quantized_mul`:
    /// `[a_offset, b_offset, out_offset, out_mult, out_shift, act_min, act_max]`.
    pub fn from_list(p: &[i64], op: OpKind) -> Result<Self, RtError> {
        check(p.len() == 7, op, "params list must have 7 entries")?;
        let mut v = [0i32; 7];
        for (o, &x) in v.iter_mut().zip(p) {
            *o = i32::try_from(x).map_err(|_| RtError::Kernel {
                op,
                what: "params entry out of i32 range",
            })?;
        }
        let params = MulParams {
            a_offset: v[0],
            b_offset: v[1],
            out_offset: v[2],
            out_mult: v[3],
            out_shift: v[4],
            act: ActRange {
                min: v[5],
                max: v[6],
            },
        };
        params.act.validate(op)?;
        check_shifts(&[params.out_shift], op)?;
        Ok(params)
    }

    /// One MUL element (TFLM `MulElementwise`).
    #[inline(always)]
    pub fn mul(self, a: i8, b: i8) -> i8 {
        let pa = self.a_offset.wrapping_add(a as i32);
        let pb = self.b_offset.wrapping_add(b as i32);
        let raw =
            mbqm(pa.wrapping_mul(pb), self.out_mult, self.out_shift).wrapping_add(self.out_offset);
        self.act.apply(raw)
    }
}

/// TFLite ADD int8 with broadcasting.
pub fn add(
    p: &AddParams,
    a: &[i8],
    a_shape: &[usize],
    b: &[i8],
    b_shape: &[usize],
    y: &mut [i8],
    y_shape: &[usize],
) -> Result<(), RtError> {
    let p = p.validate(OpKind::CmQuantizedAdd)?;
    shape::broadcast_binary(
        a,
        a_shape,
        b,
        b_shape,
        y,
        y_shape,
        OpKind::CmQuantizedAdd,
        |u, v| p.add(u, v),
    )
}

/// TFLite SUB int8 with broadcasting.
pub fn sub(
    p: &AddParams,
    a: &[i8],
    a_shape: &[usize],
    b: &[i8],
    b_shape: &[usize],
    y: &mut [i8],
    y_shape: &[usize],
) -> Result<(), RtError> {
    let p = p.validate(OpKind::KilnQuantizedSub)?;
    shape::broadcast_binary(
        a,
        a_shape,
        b,
        b_shape,
        y,
        y_shape,
        OpKind::KilnQuantizedSub,
        |u, v| p.sub(u, v),
    )
}

/// TFLite MUL int8 with broadcasting.
pub fn mul(
    p: &MulParams,
    a: &[i8],
    a_shape: &[usize],
    b: &[i8],
    b_shape: &[usize],
    y: &mut [i8],
    y_shape: &[usize],
) -> Result<(), RtError> {
    let p = *p;
    p.act.validate(OpKind::CmQuantizedMul)?;
    check_shifts(&[p.out_shift], OpKind::CmQuantizedMul)?;
    shape::broadcast_binary(
        a,
        a_shape,
        b,
        b_shape,
        y,
        y_shape,
        OpKind::CmQuantizedMul,
        |u, v| p.mul(u, v),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parameters TFLM's Prepare computes for in scales 0.5 / 0.25, out scale 0.5, zps 1 / -2 / 3:
    /// twice_max = 1.0; real_a = 0.5 -> (2^30, 0); real_b = 0.25 -> (2^30, -1);
    /// real_out = 1 / (2^20 * 0.5) = 2^-19 -> (2^30, -18).
    fn add_params() -> AddParams {
        AddParams {
            left_shift: 20,
            a_offset: -1,
            a_mult: 1 << 30,
            a_shift: 0,
            b_offset: 2,
            b_mult: 1 << 30,
            b_shift: -1,
            out_offset: 3,
            out_mult: 1 << 30,
            out_shift: -18,
            act: ActRange::FULL,
        }
    }

    #[test]
    fn add_matches_hand_computation() {
        let p = add_params();
        // real a = 0.5 * (11 - 1) = 5; real b = 0.25 * (6 + 2) = 2; sum 7 -> q = 7 / 0.5 + 3 = 17.
        assert_eq!(p.add(11, 6), 17);
        // a = 0.5 * (0 - 1) = -0.5, b = 0.25 * (-1 + 2) = 0.25: -0.25 / 0.5 = -0.5 -> -1 (away) + 3 = 2.
        assert_eq!(p.add(0, -1), 2);
        // Saturation at both ends.
        assert_eq!(p.add(127, 127), 127);
        // -64.5 - 31.5 = -96 -> -192 + 3 -> saturates.
        assert_eq!(p.add(-128, -128), -128);
        // Fused activation clamp.
        let relu = AddParams {
            act: ActRange { min: 3, max: 10 },
            ..p
        };
        assert_eq!(relu.add(11, 6), 10);
        assert_eq!(relu.add(-20, -2), 3);
    }

    #[test]
    fn sub_matches_hand_computation() {
        let p = add_params();
        // 5 - 2 = 3 -> 3 / 0.5 + 3 = 9.
        assert_eq!(p.sub(11, 6), 9);
        // -0.5 - 0.25 = -0.75 -> -1.5 -> -2 (away from zero) + 3 = 1.
        assert_eq!(p.sub(0, -1), 1);
    }

    #[test]
    fn mul_matches_hand_computation() {
        // scales 0.5 * 0.25 / 0.125 = 1 -> (2^30, 1).
        let p = MulParams {
            a_offset: -1,
            b_offset: 2,
            out_offset: -5,
            out_mult: 1 << 30,
            out_shift: 1,
            act: ActRange::FULL,
        };
        // (11 - 1) * (6 + 2) = 80 -> 80 - 5 = 75.
        assert_eq!(p.mul(11, 6), 75);
        assert_eq!(p.mul(127, 127), 127);
        assert_eq!(p.mul(127, -128), -128);
        let mut y = [0i8; 4];
        mul(&p, &[1, 2, 3, 4], &[2, 2], &[-2, 0], &[2], &mut y, &[2, 2]).unwrap();
        assert_eq!(y, [-5, -3, -5, 1]); // products 0, 2, 0, 6 minus 5
    }

    #[test]
    fn params_lists_decode_and_validate() {
        let l = [
            20i64,
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
            127,
        ];
        assert_eq!(
            AddParams::from_list(&l, OpKind::CmQuantizedActivation).unwrap(),
            add_params()
        );
        assert!(AddParams::from_list(&l[..11], OpKind::CmQuantizedActivation).is_err());
        let mut bad = l;
        bad[9] = -40;
        assert!(AddParams::from_list(&bad, OpKind::CmQuantizedActivation).is_err());
        bad = l;
        bad[2] = 1 << 40;
        assert!(AddParams::from_list(&bad, OpKind::CmQuantizedActivation).is_err());
        assert!(MulParams::from_list(
            &[0, 0, 0, 1 << 30, 1, -128, 127],
            OpKind::CmQuantizedActivation
        )
        .is_ok());
        assert!(MulParams::from_list(
            &[0, 0, 0, 1 << 30, 1, 100, 99],
            OpKind::CmQuantizedActivation
        )
        .is_err());
    }
}
