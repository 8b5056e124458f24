// A custom module name and the memory-contract options: the arena fits the region and budget.
kiln_rt::include_model!(
    "fixtures/kws_dscnn/kws_dscnn_int8.tflite",
    name = keyword_spotter,
    target = "cortex-m55",
    arena_region = "ISRAM",
    budget = 65536,
);

fn main() {
    assert_eq!(keyword_spotter::NAME, "keyword_spotter");
    assert_eq!(keyword_spotter::TARGET, "cortex-m55");
    assert!(keyword_spotter::ARENA_BYTES <= 65536);
    let mut m = keyword_spotter::Model::take().unwrap();
    m.input_mut().fill(keyword_spotter::INPUT_ZERO_POINT as i8);
    let y = m.run().unwrap();
    assert_eq!(y.len(), keyword_spotter::OUTPUT_LEN);
}
