//! Zero-copy reader of the ExecuTorch program format (`.pte`).
//!
//! [`fb`] is a generic checked FlatBuffers reader (also used for TFLite);
//! [`schema`] holds the ExecuTorch enums and field ids (shared with the
//! `kiln-compiler` writer); [`Program`] reads a `.pte` in place: extended header,
//! segments, constant segment, execution plans, values, instructions,
//! operators and delegates.

pub mod fb;
mod program;
pub mod schema;

pub use program::{
    Delegate, ExtendedHeader, Instruction, Operator, Plan, Program, Sources, Tensor, TensorData,
    Value,
};
pub use schema::{DataLocation, InstrTag, ScalarType, ShapeDynamism, Tag};

#[cfg(test)]
pub(crate) mod tests;
