//! kiln-aot: the ahead-of-time half of kiln.
//!
//! model file -> [`import`] -> [`ir`] -> [`passes`] -> [`lower`] (operators and
//! arguments) -> [`plan`] (arena offsets) -> [`pte`] writer. The `kiln` binary
//! wraps it; [`npy`] reads and writes NumPy arrays for `kiln run`.
#![warn(missing_docs)]

pub mod build;
pub mod compile;
pub mod error;
pub mod ethos_u;
pub mod import;
pub mod inspect;
pub mod ir;
pub mod lower;
pub mod npy;
pub mod passes;
pub mod plan;
pub mod pte;
pub mod quant;
pub mod run;
pub mod target;
pub mod vela;

pub use error::{CompileError, Result};
