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
pub mod ops;
pub mod pte;

pub use error::RtError;
