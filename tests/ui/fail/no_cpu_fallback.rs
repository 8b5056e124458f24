// KWS ends in a SOFTMAX, which kiln keeps on the CPU: with cpu_fallback = false that is a
// build error at the macro call naming the operator and why.
kiln_rt::include_model!(
    "fixtures/kws_dscnn/kws_dscnn_int8.tflite",
    target = "ethos-u55-128",
    name = strict,
    cpu_fallback = false
);

fn main() {}
