kiln_rt::include_model!(
    "fixtures/kws_dscnn/kws_dscnn_int8.tflite",
    target = "cortex-m55",
    delegate = "no",
);

fn main() {}
