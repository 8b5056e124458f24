//! int8 kernels with TFLite (Micro) reference semantics, bit-exact.
//!
//! The arithmetic follows the TFLite Micro reference kernels
//! (`tensorflow/lite/kernels/internal/reference/integer_ops/*.h`, `reference/*.h`,
//! `common.h`) in their default build (double rounding). Kernels are plain functions over
//! slices plus small `Copy` parameter structs; activations are NHWC. Every kernel validates the
//! operand sizes once, up front, and returns [`RtError::Kernel`] on a mismatch; the inner
//! loops then run over slices without further checks. Accumulations wrap (as the compiled C++
//! reference does) rather than panic.
//!
//! Floating-point parameters (multipliers, lookup tables) are computed by the compiler
//! (`kiln_compiler::quant`); the unary activations run on device as a 256-entry table built by
//! calling the reference functions in [`activation`] over all inputs.

// Kept from when the workspace supported Rust 1.80 (`usize::is_multiple_of` is 1.87).
#![allow(clippy::manual_is_multiple_of)]

use crate::ops::OpKind;
use crate::RtError;

pub mod activation;
pub mod concat;
pub mod conv;
pub mod elementwise;
pub mod fixedpoint;
pub mod fully_connected;
pub mod glue;
pub mod pool;
pub mod qlinear;
pub mod quantize;
pub mod reduce;
pub mod shape;
pub mod softmax;

pub use fixedpoint::multiply_by_quantized_multiplier;
pub use glue::KERNELS;

/// Largest tensor rank the broadcasting and reduction kernels handle (TFLM handles 6).
pub const MAX_RANK: usize = 6;

/// An NHWC activation shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nhwc {
    /// Batch.
    pub n: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl Nhwc {
    /// A shape from its four sizes.
    pub const fn new(n: usize, h: usize, w: usize, c: usize) -> Self {
        Nhwc { n, h, w, c }
    }
    /// Number of elements (`None` on overflow).
    pub fn numel(self) -> Option<usize> {
        self.n
            .checked_mul(self.h)?
            .checked_mul(self.w)?
            .checked_mul(self.c)
    }
}

/// Fused activation clamp in the output's quantized domain, `[min, max]` within int8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActRange {
    /// Lower bound.
    pub min: i32,
    /// Upper bound.
    pub max: i32,
}

impl ActRange {
    /// No clamp beyond the int8 range.
    pub const FULL: ActRange = ActRange {
        min: -128,
        max: 127,
    };

    /// Checks `-128 <= min <= max <= 127`.
    pub fn validate(self, op: OpKind) -> Result<Self, RtError> {
        check(
            -128 <= self.min && self.min <= self.max && self.max <= 127,
            op,
            "activation range must satisfy -128 <= act_min <= act_max <= 127",
        )?;
        Ok(self)
    }

    /// Clamps `v` into the range and narrows it to int8.
    #[inline(always)]
    pub fn apply(self, v: i32) -> i8 {
        v.max(self.min).min(self.max) as i8
    }
}

/// Clamps an `i32` into the int8 range.
#[inline(always)]
pub fn clamp_i8(v: i32) -> i8 {
    v.clamp(-128, 127) as i8
}

/// Clamps an `i32` into `[lo, hi]` and narrows it to int8; `lo`/`hi` must lie within int8.
#[inline(always)]
pub fn clamp_to_i8(v: i32, lo: i32, hi: i32) -> i8 {
    v.max(lo).min(hi) as i8
}

/// Returns `Err(RtError::Kernel)` when `cond` is false.
#[inline]
pub(crate) fn check(cond: bool, op: OpKind, what: &'static str) -> Result<(), RtError> {
    if cond {
        Ok(())
    } else {
        Err(RtError::Kernel { op, what })
    }
}

/// Checks that every shift of a requantization lies in TFLite's range `[-31, 30]`.
pub(crate) fn check_shifts(shifts: &[i32], op: OpKind) -> Result<(), RtError> {
    check(
        shifts.iter().all(|s| (-31..=30).contains(s)),
        op,
        "requantization shift outside [-31, 30]",
    )
}

/// `y = lut[x + 128]` elementwise: every int8 -> int8 unary operator, with the table computed
/// by the compiler from the reference arithmetic.
pub fn lut_apply(x: &[i8], lut: &[i8; 256], y: &mut [i8]) -> Result<(), RtError> {
    check(
        x.len() == y.len(),
        OpKind::CmQuantizedActivation,
        "input and output sizes differ",
    )?;
    for (o, &v) in y.iter_mut().zip(x) {
        *o = lut[(v as u8 ^ 0x80) as usize];
    }
    Ok(())
}

/// In-place [`lut_apply`] (input and output share memory).
pub fn lut_apply_in_place(xy: &mut [i8], lut: &[i8; 256]) {
    for v in xy.iter_mut() {
        *v = lut[(*v as u8 ^ 0x80) as usize];
    }
}

/// Elementwise `max(a, b)` with shared quantization and broadcasting.
pub fn maximum(
    a: &[i8],
    a_shape: &[usize],
    b: &[i8],
    b_shape: &[usize],
    y: &mut [i8],
    y_shape: &[usize],
) -> Result<(), RtError> {
    shape::broadcast_binary(
        a,
        a_shape,
        b,
        b_shape,
        y,
        y_shape,
        OpKind::CmMaximum,
        |p, q| p.max(q),
    )
}

/// Elementwise `min(a, b)` with shared quantization and broadcasting.
pub fn minimum(
    a: &[i8],
    a_shape: &[usize],
    b: &[i8],
    b_shape: &[usize],
    y: &mut [i8],
    y_shape: &[usize],
) -> Result<(), RtError> {
    shape::broadcast_binary(
        a,
        a_shape,
        b,
        b_shape,
        y,
        y_shape,
        OpKind::CmMinimum,
        |p, q| p.min(q),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lut_indexes_by_x_plus_128() {
        let mut lut = [0i8; 256];
        for (i, v) in lut.iter_mut().enumerate() {
            *v = (i as i32 - 128).wrapping_neg().clamp(-128, 127) as i8;
        }
        let x = [-128i8, -1, 0, 1, 127];
        let mut y = [0i8; 5];
        lut_apply(&x, &lut, &mut y).unwrap();
        assert_eq!(y, [127, 1, 0, -1, -127]);
        let mut z = x;
        lut_apply_in_place(&mut z, &lut);
        assert_eq!(z, y);
        assert!(lut_apply(&x, &lut, &mut y[..4]).is_err());
    }

    #[test]
    fn act_range_validation_and_clamp() {
        assert!(ActRange { min: -129, max: 0 }
            .validate(OpKind::CmQuantizedActivation)
            .is_err());
        assert!(ActRange { min: 5, max: 4 }
            .validate(OpKind::CmQuantizedActivation)
            .is_err());
        let r = ActRange { min: -10, max: 20 }
            .validate(OpKind::CmQuantizedActivation)
            .unwrap();
        assert_eq!(r.apply(-1000), -10);
        assert_eq!(r.apply(1000), 20);
        assert_eq!(r.apply(7), 7);
        assert_eq!(clamp_i8(300), 127);
        assert_eq!(clamp_i8(-300), -128);
    }

    #[test]
    fn max_min_broadcast() {
        let a = [1i8, -5, 7, 100, -128, 0];
        let b = [3i8, -6];
        let mut y = [0i8; 6];
        maximum(&a, &[3, 2], &b, &[2], &mut y, &[3, 2]).unwrap();
        assert_eq!(y, [3, -5, 7, 100, 3, 0]);
        minimum(&a, &[3, 2], &b, &[2], &mut y, &[3, 2]).unwrap();
        assert_eq!(y, [1, -6, 3, -6, -128, -6]);
    }
}
