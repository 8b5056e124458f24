// The QDQ ONNX KWS has f32 input/output (QuantizeLinear, DequantizeLinear) and ONNX Runtime's
// float softmax, which kiln keeps on the CPU: with cpu_fallback = false that is a build error at
// the macro call naming the operators and why.
kiln_rt::include_model!(
    "fixtures/kws_dscnn/kws_dscnn_qdq_int8.onnx",
    target = "ethos-u55-128",
    name = strict,
    cpu_fallback = false
);

fn main() {}
