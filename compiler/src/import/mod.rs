//! Front ends: each turns a model file into an [`crate::ir::Graph`].

pub mod onnx;
pub mod tflite;
