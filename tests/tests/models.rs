//! Every fixture model, in every format it has, through the whole spine:
//! compile -> `.pte` bytes -> load -> run on the host -> compare with the
//! outside oracle's goldens (copied from ../shared/models into tests/fixtures).
//!
//! - `tflite_int8`: **bit-exact** against `ref/tflm_int8` (TensorFlow Lite Micro's
//!   reference kernels: what Cortex-M firmware runs and what the Ethos-U matches).
//!   The number of elements that differ from `ref/tflite_int8` (LiteRT's reference
//!   kernels) is printed: they disagree in FULLY_CONNECTED requantization on two models.
//! - `onnx_qdq`: within one output quantization step of ONNX Runtime's fused integer
//!   kernels (`ref/onnx_qdq/output_k.npy`); the count of differing elements is printed.
//! - `onnx_f32`: within 1e-4 relative / 1e-5 absolute of ONNX Runtime.

use kiln_compiler::compile::{compile_file, CompileOptions};
use kiln_compiler::npy::NpyArray;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn npy(path: PathBuf) -> NpyArray {
    NpyArray::read(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Compiles `file` for the host; returns the program and the graph after the passes.
fn compile(model: &str, file: &str) -> kiln_compiler::compile::Compiled {
    let compiled = compile_file(
        &fixtures().join(model).join(file),
        &CompileOptions::default(),
    )
    .unwrap_or_else(|e| panic!("compile {model}/{file}: {e}"));
    println!("{}", compiled.report);
    compiled
}

/// Compiles `file` for the host and runs it on the four golden inputs of `format`.
fn run_model(model: &str, file: &str, format: &str) -> Vec<(NpyArray, PathBuf)> {
    let dir = fixtures().join(model);
    let compiled = compile(model, file);
    (0..4)
        .map(|k| {
            let input = npy(dir.join(format!("ref/{format}/input_{k}.npy")));
            let mut out = kiln_compiler::run::run_pte(&compiled.pte, &[input])
                .unwrap_or_else(|e| panic!("run {model}/{file} input {k}: {e}"));
            assert_eq!(out.len(), 1, "{model}: one output expected");
            (out.remove(0), dir.join(format!("ref/{format}")))
        })
        .collect()
}

fn tflite_int8(model: &str) {
    let file = format!("{model}_int8.tflite");
    let mut total_vs_litert = 0;
    for (k, (out, _)) in run_model(model, &file, "tflite_int8")
        .into_iter()
        .enumerate()
    {
        let dir = fixtures().join(model).join("ref");
        let tflm = npy(dir.join(format!("tflm_int8/output_{k}.npy")));
        let litert = npy(dir.join(format!("tflite_int8/output_{k}.npy")));
        assert_eq!(out.shape, tflm.shape, "{model} input {k}: output shape");
        let ours = out.to_i8().unwrap();
        let exact = tflm.to_i8().unwrap();
        let differ_tflm = ours.iter().zip(&exact).filter(|(a, b)| a != b).count();
        let differ_litert = ours
            .iter()
            .zip(litert.to_i8().unwrap().iter())
            .filter(|(a, b)| a != b)
            .count();
        total_vs_litert += differ_litert;
        println!(
            "{model} tflite_int8 input {k}: {differ_tflm} of {} elements differ from TFLM (must be 0), {differ_litert} differ from LiteRT",
            ours.len()
        );
        assert_eq!(
            ours, exact,
            "{model} input {k}: not bit-exact with TFLite Micro's reference kernels"
        );
    }
    println!("{model}: {total_vs_litert} elements differ from LiteRT in total");
}

/// The output quantization step of a QDQ model: the scale of the tensor its final
/// DequantizeLinear reads (taken from the model itself, as the manifests differ in layout).
fn output_step(model: &str, file: &str) -> f32 {
    let g = compile(model, file).graph;
    let out = g.outputs[0];
    let producer = g.producer(out).expect("output is computed");
    let q = g.nodes[producer]
        .input(0)
        .and_then(|t| g.tensor(t).quant.clone())
        .unwrap_or_else(|| panic!("{model}: the output is not produced by a dequantize"));
    q.scale[0]
}

fn onnx_qdq(model: &str) {
    let step = output_step(model, &format!("{model}_qdq_int8.onnx"));
    for (k, (out, dir)) in run_model(model, &format!("{model}_qdq_int8.onnx"), "onnx_qdq")
        .into_iter()
        .enumerate()
    {
        let golden = npy(dir.join(format!("output_{k}.npy")));
        assert_eq!(out.shape, golden.shape, "{model} input {k}: output shape");
        let (a, b) = (out.to_f32().unwrap(), golden.to_f32().unwrap());
        let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        println!(
            "{model} onnx_qdq input {k}: {differ} of {} elements differ from ONNX Runtime, max |diff| {worst} (= {:.3} steps)",
            a.len(),
            worst / step
        );
        assert!(
            worst <= step * 1.0001,
            "{model} input {k}: max |diff| {worst} exceeds one output quantization step {step}"
        );
    }
}

fn onnx_f32(model: &str) {
    for (k, (out, dir)) in run_model(model, &format!("{model}_f32.onnx"), "onnx_f32")
        .into_iter()
        .enumerate()
    {
        let golden = npy(dir.join(format!("output_{k}.npy")));
        assert_eq!(out.shape, golden.shape, "{model} input {k}: output shape");
        let (a, b) = (out.to_f32().unwrap(), golden.to_f32().unwrap());
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        println!("{model} onnx_f32 input {k}: max |diff| {worst}");
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-5 + 1e-4 * y.abs(),
                "{model} input {k} element {i}: {x} vs ONNX Runtime {y}"
            );
        }
    }
}

macro_rules! model_tests {
    ($($name:ident: $model:literal => [$($fmt:ident),*];)*) => {
        $(mod $name { $(
            #[test]
            fn $fmt() { super::$fmt($model) }
        )* })*
    };
}

model_tests! {
    kws_dscnn: "kws_dscnn" => [tflite_int8, onnx_f32, onnx_qdq];
    vww_mobilenetv1_025: "vww_mobilenetv1_025" => [tflite_int8, onnx_f32, onnx_qdq];
    ic_resnet8: "ic_resnet8" => [tflite_int8, onnx_f32, onnx_qdq];
    ad_fc_autoencoder: "ad_fc_autoencoder" => [tflite_int8, onnx_f32, onnx_qdq];
    synth_i_conv_pool_fc: "synth_i_conv_pool_fc" => [onnx_f32, onnx_qdq];
    synth_ii_residual: "synth_ii_residual" => [onnx_f32, onnx_qdq];
    // Sigmoid, Tanh, LeakyRelu, HardSwish with ONNX Runtime's quantizer's output parameters.
    synth_iii_tables: "synth_iii_tables" => [onnx_f32, onnx_qdq];
}
