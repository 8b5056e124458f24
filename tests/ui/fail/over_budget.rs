kiln_rt::include_model!(
    "fixtures/kws_dscnn/kws_dscnn_int8.tflite",
    target = "cortex-m55",
    name = kws_tight,
    budget = 4096,
);

fn main() {}
