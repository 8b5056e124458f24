// The model for the Ethos-U65 (Dedicated_Sram): kiln keeps the delegates' internal feature maps
// in a fast scratch (region 2), a second static the generated module hands to the backend next
// to the scratch; the output matches TFLite Micro's bit for bit.
kiln_rt::include_model!(
    "fixtures/kws_dscnn/kws_dscnn_int8.tflite",
    target = "ethos-u65-256",
    name = kws_u65,
);

use kiln_compiler::npy::NpyArray;

const INPUT: &[u8] = include_bytes!("../../fixtures/kws_dscnn/ref/tflm_int8/input_0.npy");
const GOLDEN: &[u8] = include_bytes!("../../fixtures/kws_dscnn/ref/tflm_int8/output_0.npy");

fn main() {
    assert!(kws_u65::NPU_SCRATCH_BYTES > 0 && kws_u65::NPU_FAST_SCRATCH_BYTES > 0);
    assert!(kws_u65::NPU.u65);
    let mut model = kws_u65::Model::take().expect("first take");
    let x = NpyArray::parse("input_0.npy", INPUT).unwrap().to_i8().unwrap();
    let golden = NpyArray::parse("output_0.npy", GOLDEN).unwrap().to_i8().unwrap();
    model.input_mut().copy_from_slice(&x);
    assert_eq!(&model.run().unwrap()[..], &golden[..]);
}
