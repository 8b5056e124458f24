//! Build script: the linker script, the models (every `include_model!`, compiled by kiln),
//! and the golden test vectors (TensorFlow Lite Micro's outputs for the fixture inputs).

include!("../fwkit/build_support.rs");
