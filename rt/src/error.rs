//! Runtime errors. The runtime never panics on data it reads: every problem
//! with a `.pte`, an argument or an input is one of these.

use core::fmt;

/// Everything that can go wrong loading or running a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtError {
    /// Placeholder until the reader lands; replaced by precise variants.
    Todo,
}

impl fmt::Display for RtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtError::Todo => f.write_str("not yet implemented"),
        }
    }
}
