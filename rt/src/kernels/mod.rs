//! CPU kernels: int8 with TFLite reference semantics (bit-exact), and f32.

pub mod f32;
pub mod int8;
