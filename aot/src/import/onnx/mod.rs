//! ONNX (opset 13) importer.
