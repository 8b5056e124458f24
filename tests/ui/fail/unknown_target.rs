kiln_rt::include_model!(
    "fixtures/kws_dscnn/kws_dscnn_int8.tflite",
    target = "ethos-u99",
    name = kws_bad_target,
);

fn main() {}
