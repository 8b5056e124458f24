// Two models in one crate, each with its own arena, PTE and kernel table; the same model
// call as tflite_model.rs (identical arguments share one build output).
kiln_rt::include_model!("fixtures/kws_dscnn/kws_dscnn_int8.tflite", target = "ethos-u55-128");

mod nets {
    kiln_rt::include_model!(
        "fixtures/synth_ii_residual/synth_ii_residual_qdq_int8.onnx",
        target = "cortex-m55",
        delegate = false,
    );
}

use nets::synth_ii_residual_qdq_int8 as residual;

fn main() {
    let mut a = kws_dscnn_int8::Model::take().unwrap();
    let mut b = residual::Model::take().unwrap();
    a.input_mut().fill(0);
    b.input_mut().fill(0.0);
    let ya = *a.run().unwrap();
    let yb = b.run().unwrap().to_vec();
    // Running one model leaves the other's outputs alone (separate arenas).
    assert_eq!(a.output(), &ya);
    assert_eq!(b.output().to_vec(), yb);
    assert_ne!(
        kws_dscnn_int8::PTE.bytes().as_ptr(),
        residual::PTE.bytes().as_ptr()
    );
    assert!(residual::KERNEL_NAMES.len() == residual::KERNELS.len());
}
