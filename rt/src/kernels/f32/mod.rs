//! f32 kernels (and dtype-agnostic data movement) with the semantics of
//! ExecuTorch's portable `aten::*.out` operators.
//!
//! The pure kernels work on slices plus a [`Layout`] per tensor: logical sizes
//! and element strides, so every memory order (NCHW-contiguous as in ExecuTorch
//! files, NHWC / channels-last as kiln writes them, transposed views) is one
//! code path, with fast paths for the contiguous NHWC case that LLVM vectorizes.
//! Every kernel checks that each layout fits its slice before touching memory
//! and returns a [`KernelError`] instead of panicking.

pub mod conv;
pub mod data;
pub mod elementwise;
pub mod glue;
pub mod layout;
pub mod math;
pub mod matmul;
pub mod pool;
pub mod reduce;

pub use glue::KERNELS;
pub use layout::{Layout, MAX_RANK};

use core::fmt;

/// Why a kernel rejected its operands. `&'static str` fields name the operand or parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelError {
    /// A tensor has a rank the operator does not accept (or more than [`MAX_RANK`]).
    Rank {
        /// Which operand.
        what: &'static str,
        /// Rank the operator needs (for "at most", the maximum).
        expected: usize,
        /// Rank it has.
        got: usize,
    },
    /// Sizes of operands do not agree.
    Shape {
        /// What disagrees, e.g. "weight in-channels * groups != input channels".
        what: &'static str,
    },
    /// A buffer is smaller than its sizes and strides require.
    BufferTooSmall {
        /// Which operand.
        what: &'static str,
        /// Elements required.
        need: usize,
        /// Elements present.
        have: usize,
    },
    /// A parameter value is not valid (zero stride, negative padding, ...).
    Param {
        /// Which parameter and what is wrong.
        what: &'static str,
    },
    /// A size computation overflowed `usize`.
    Overflow,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::Rank {
                what,
                expected,
                got,
            } => {
                write!(f, "{what}: rank {got}, expected {expected}")
            }
            KernelError::Shape { what } => write!(f, "shape mismatch: {what}"),
            KernelError::BufferTooSmall { what, need, have } => {
                write!(
                    f,
                    "{what}: buffer holds {have} elements, layout needs {need}"
                )
            }
            KernelError::Param { what } => write!(f, "invalid parameter: {what}"),
            KernelError::Overflow => f.write_str("size computation overflows"),
        }
    }
}

impl KernelError {
    /// A static description (for [`crate::RtError::Kernel`], which carries no numbers).
    pub fn what(&self) -> &'static str {
        match self {
            KernelError::Rank { .. } => "operand has an unsupported rank",
            KernelError::Shape { what } | KernelError::Param { what } => what,
            KernelError::BufferTooSmall { .. } => "tensor buffer smaller than its sizes",
            KernelError::Overflow => "size computation overflows",
        }
    }
}

/// Checks that `layout` fits in a buffer of `len` elements.
pub(crate) fn check_fits(
    what: &'static str,
    layout: &Layout,
    len: usize,
) -> Result<(), KernelError> {
    let need = layout.span();
    if need > len {
        return Err(KernelError::BufferTooSmall {
            what,
            need,
            have: len,
        });
    }
    Ok(())
}

/// Checks that a layout has the given rank.
pub(crate) fn check_rank(
    what: &'static str,
    layout: &Layout,
    expected: usize,
) -> Result<(), KernelError> {
    if layout.rank() != expected {
        return Err(KernelError::Rank {
            what,
            expected,
            got: layout.rank(),
        });
    }
    Ok(())
}
