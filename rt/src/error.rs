//! Runtime errors. The runtime never panics on data it reads: every problem
//! with a `.pte`, an argument or an input is one of these.

use core::fmt;

/// Everything that can go wrong loading or running a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtError {
    /// Placeholder until the reader lands; replaced by precise variants.
    Todo,
    /// A kernel's operands are inconsistent: sizes, shapes or parameters that do not fit together.
    KernelOperand {
        /// The kernel (operator name).
        kernel: &'static str,
        /// What is wrong, naming the operand.
        reason: &'static str,
    },
}

impl fmt::Display for RtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtError::Todo => f.write_str("not yet implemented"),
            RtError::KernelOperand { kernel, reason } => write!(f, "kernel {kernel}: {reason}"),
        }
    }
}
