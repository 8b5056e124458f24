//! Arm Ethos-U55/U65 hardware knowledge, defined once and read by kiln's runtime driver,
//! its NPU model and its compiler:
//!
//! - [`regs`]: the APB register map and every command-stream register with its fields,
//!   encodable and decodable from one definition, and the command opcodes;
//! - [`cmd`]: command words, decoded and listed as Vela prints them;
//! - [`payload`]: the driver's `COP1` payload, reader and writer;
//! - [`blob`]: ExecuTorch's `vela_bin_stream` delegate blob, reader and writer;
//! - [`config`]: the table of accelerator configurations (MACs, SHRAM, AXI, block limits);
//! - [`weights`]: the weight codec (decoder; encoder with the `alloc` feature) and the
//!   bias/scale records;
//! - [`perf`]: the cycle model;
//! - [`disasm`]: a command-stream listing.
//!
//! `#![no_std]` and allocation-free unless the `alloc` feature (the encoder) is on.
#![no_std]
#![warn(missing_docs)]
// Kept from when the workspace supported Rust 1.80 (`is_multiple_of` is 1.87).
#![allow(clippy::manual_is_multiple_of)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod blob;
pub mod check;
pub mod cmd;
pub mod config;
pub mod disasm;
pub mod error;
pub mod payload;
pub mod perf;
pub mod regs;
pub mod weights;

pub use error::{EthosUError, IoKind, NpuFault};
