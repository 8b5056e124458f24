kiln_rt::include_model!("ui/models/unsupported_einsum.onnx", target = "host");

fn main() {}
