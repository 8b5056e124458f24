// An int8 TFLite model for an Ethos-U target (kiln delegates it to the NPU; the host runs it on the NPU model), default
// module name from the file stem; every output matches TFLite Micro's bit for bit.
kiln_rt::include_model!("fixtures/kws_dscnn/kws_dscnn_int8.tflite", target = "ethos-u55-128");

use kiln_compiler::npy::NpyArray;

const INPUT: &[u8] = include_bytes!("../../fixtures/kws_dscnn/ref/tflm_int8/input_0.npy");
const GOLDEN: &[u8] = include_bytes!("../../fixtures/kws_dscnn/ref/tflm_int8/output_0.npy");

fn main() {
    use kws_dscnn_int8 as kws;
    assert_eq!(kws::INPUT_SHAPE, [1, 49, 10, 1]);
    assert_eq!(kws::OUTPUT_SHAPE, [1, 12]);
    assert_eq!((kws::INPUTS, kws::OUTPUTS), (1, 1));
    assert_eq!(kws::INPUT_ZERO_POINT, 83);
    assert!((kws::INPUT_SCALE - 0.584_702_9).abs() < 1e-6);
    assert!(kws::ARENA_BYTES > 0 && kws::ARENA_BYTES <= 512 * 1024);
    assert_eq!(kws::PTE_BYTES, kws::PTE.bytes().len());
    assert_eq!(kws::PTE.bytes().as_ptr() as usize % 16, 0);
    assert_eq!(kws::KERNELS.len(), kws::KERNEL_NAMES.len());
    assert!(kws::KERNELS.len() < 10, "only the kernels the model uses");

    let mut model = kws::Model::take().expect("first take");
    assert!(kws::Model::take().is_none(), "handed out once");
    assert!(matches!(kws::Model::try_take(), Err(kiln_rt::RtError::ModelTaken)));

    let x = NpyArray::parse("input_0.npy", INPUT).unwrap().to_i8().unwrap();
    let golden = NpyArray::parse("output_0.npy", GOLDEN).unwrap().to_i8().unwrap();
    let input: &mut kws::Input = model.input_mut();
    input.copy_from_slice(&x);
    let scores: [i8; 12] = *model.run().unwrap();
    assert_eq!(&scores[..], &golden[..]);
    assert_eq!(model.output(), &scores);
}
