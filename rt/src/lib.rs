//! kiln-rt: the on-device half of kiln.
//!
//! `#![no_std]` without `alloc`: it reads an ExecuTorch `.pte` in place
//! ([`pte`]), plans nothing at run time (every activation has an arena offset
//! from the compiler), and executes the program's instructions ([`exec`]) with
//! int8 and f32 CPU kernels ([`kernels`]) looked up once, at load time, from
//! the operator table ([`ops`]).
#![no_std]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod error;
pub mod ethos_u;
pub mod exec;
pub mod kernels;
pub mod model;
pub mod ops;
pub mod pte;

pub use error::RtError;

/// Embeds a model compiled by `kiln_build::compile_models()` (called from `build.rs`).
///
/// Setup in the firmware crate:
///
/// ```text
/// # Cargo.toml
/// [dependencies]
/// kiln = { package = "kiln-rt", path = ".../kiln/rt" }
/// [build-dependencies]
/// kiln-build = { path = ".../kiln/build" }
///
/// // build.rs
/// fn main() { kiln_build::compile_models(); }
/// ```
///
/// Use (paths in the macro are relative to the crate's Cargo.toml):
///
/// ```text
/// kiln::include_model!("models/kws.tflite", target = "ethos-u55-128");
/// let mut kws = kws::Model::take().unwrap(); // owns a static arena sized at build time
/// kws.input_mut().copy_from_slice(&features); // &mut [i8; N]
/// let scores = kws.run()?; // &[i8; M]
/// ```
///
/// Arguments: the model path (relative to the crate's `Cargo.toml`), then `target = "..."`
/// (required) and optionally `name = ident` (module name; default the file stem),
/// `delegate = false` (keep every operator on the CPU), `arena_region = "SRAM"` (the memory
/// region whose size bounds the arena; default the target's data RAM) and `budget = bytes`
/// (an explicit arena budget). It expands to `pub mod <name>` with `Model`, `PTE`, `KERNELS`
/// (only the kernels the model uses), `ARENA_BYTES`, and shape/quantization constants per
/// input and output; see [`model`] for the pieces.
#[macro_export]
macro_rules! include_model {
    ($($args:tt)*) => {
        $crate::__private::include_model! { [$crate] $($args)* }
    };
}

#[doc(hidden)]
pub mod __private {
    pub use kiln_macros::include_model;
}
