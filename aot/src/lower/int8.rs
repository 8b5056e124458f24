//! Lowering rules for int8 (quantized) nodes: TFLite reference semantics.
