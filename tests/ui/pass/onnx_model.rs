// An f32 ONNX model on the host target: typed f32 I/O, outputs within 1e-4 of ONNX Runtime.
kiln_rt::include_model!(
    "fixtures/synth_i_conv_pool_fc/synth_i_conv_pool_fc_f32.onnx",
    target = "host",
);

use kiln_compiler::npy::NpyArray;

const INPUT: &[u8] = include_bytes!("../../fixtures/synth_i_conv_pool_fc/ref/onnx_f32/input_1.npy");
const GOLDEN: &[u8] = include_bytes!("../../fixtures/synth_i_conv_pool_fc/ref/onnx_f32/output_1.npy");

fn main() {
    use synth_i_conv_pool_fc_f32 as net;
    let x = NpyArray::parse("input_1.npy", INPUT).unwrap();
    let golden = NpyArray::parse("output_1.npy", GOLDEN).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(&net::INPUT_SHAPE[..], &x.shape[..]);
    assert_eq!(net::INPUT_SCALE, 1.0, "not quantized");
    assert_eq!(net::OUTPUT_LEN, golden.len());

    let mut model = net::Model::take().unwrap();
    let input: &mut [f32; net::INPUT_LEN] = model.input_mut();
    input.copy_from_slice(&x.to_vec::<f32>().unwrap());
    let y = model.run().unwrap();
    for (a, b) in y.iter().zip(&golden) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
    }
}
