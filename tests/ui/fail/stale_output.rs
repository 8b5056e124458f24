// A call the build script's scan does not see (inside a `macro_rules!` body): the outputs for
// `stale` in OUT_DIR are from an earlier build (the test puts them there, stamped with another
// run's id), and the macro refuses them instead of embedding a possibly stale model.
macro_rules! model {
    () => {
        kiln_rt::include_model!(
            "fixtures/kws_dscnn/kws_dscnn_int8.tflite",
            target = "cortex-m55",
            name = stale,
        );
    };
}

model!();

fn main() {}
