//! kiln-compiler: the ahead-of-time half of kiln.
//!
//! model file -> [`import`] -> [`ir`] -> [`passes`] -> partition and [`lower`] (CPU operators
//! and their arguments; [`ethos_u`] segments for the NPU) -> [`plan`] (arena offsets) -> [`pte`]
//! writer. [`run`] executes a `.pte` on the host (NPU delegates on kiln's NPU model); [`npy`]
//! reads and writes NumPy arrays. The build-script helper (`kiln-build`) and the command line
//! (`kiln-cli`) sit on top; this crate has no CLI dependencies.
#![warn(missing_docs)]

pub mod compile;
pub mod error;
pub mod ethos_u;
pub mod import;
pub mod ir;
pub mod limits;
pub mod lower;
pub mod npy;
pub mod passes;
pub mod plan;
pub mod pte;
pub mod quant;
pub mod report;
pub mod run;
pub mod synth;
pub mod target;
pub mod trace;
pub mod vela;

pub use error::{CompileError, Result};
