// A model behind a feature the crate does not enable: the build script's scan honours the
// cfg and does not compile it (tests/tests/ui.rs checks the build report), and rustc never
// expands the call.
#[cfg(feature = "never-enabled")]
kiln_rt::include_model!(
    "fixtures/kws_dscnn/kws_dscnn_int8.tflite",
    target = "cortex-m55",
    name = behind_feature,
);

fn main() {}
