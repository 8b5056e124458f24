//! `kiln compare`: two programs of one model agree layer by layer (the NPU program with the CPU
//! program and with its source model, at the granularity both have), and a perturbed weight is
//! caught at the layer that uses it.

use kiln_cli::compare::{compare, diff, load_side, run_layers, Diff};
use kiln_compiler::compile::{compile_file, CompileOptions};
use kiln_compiler::npy::NpyArray;
use kiln_compiler::target::Target;
use kiln_rt::pte::{Instruction, Program, TensorData, Value};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn compile(path: &Path, target: &str) -> Vec<u8> {
    compile_file(
        path,
        &CompileOptions::for_target(Target::lookup(target).unwrap()),
    )
    .unwrap()
    .pte
}

fn input(model: &str, dir: &str) -> Vec<NpyArray> {
    vec![NpyArray::read(
        fixtures()
            .join(model)
            .join("ref")
            .join(dir)
            .join("input_0.npy"),
    )
    .unwrap()]
}

/// Adds `delta` to every byte of the constant weight (argument 1) of instruction `at`.
pub fn perturb_weight(pte: &[u8], at: usize, delta: u8) -> Vec<u8> {
    let program = Program::load(pte).unwrap();
    let plan = program.plan_by_name("forward").unwrap();
    let Instruction::KernelCall { args, .. } = plan.instruction(at).unwrap() else {
        panic!("instruction {at} is not a kernel call")
    };
    let w = args.iter().nth(1).unwrap() as usize;
    let Value::Tensor(t) = plan.value(w).unwrap() else {
        panic!("weight is not a tensor")
    };
    let TensorData::Constant(idx) = t.data else {
        panic!("weight is not constant")
    };
    let data = program.constant_data(idx, t.nbytes().unwrap()).unwrap();
    let start = data.as_ptr() as usize - pte.as_ptr() as usize;
    let mut out = pte.to_vec();
    for b in &mut out[start..start + data.len()] {
        *b = b.wrapping_add(delta);
    }
    out
}

#[test]
fn npu_and_cpu_programs_and_the_source_model_agree_at_every_shared_layer() {
    let model = fixtures().join("synth_ii_residual/synth_ii_residual_qdq_int8.onnx");
    let x = input("synth_ii_residual", "onnx_qdq");
    let npu = run_layers(&compile(&model, "ethos-u55-128"), &x).unwrap();
    let cpu = run_layers(&compile(&model, "cortex-m55"), &x).unwrap();
    let src = run_layers(&load_side(&model).unwrap(), &x).unwrap();
    for other in [&cpu, &src] {
        let c = compare(&npu, other, 0.0);
        assert!(c.divergence.is_none(), "{:#}", c.rows);
        assert_eq!((c.compared, c.incomparable), (6, 0), "{:#}", c.rows);
        let layers: Vec<&str> = c
            .rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["layer"].as_str().unwrap())
            .collect();
        // CPU kernels on both sides, and each NPU segment's output against the CPU kernel of
        // the same node.
        for l in [
            "x_QuantizeLinear",
            "concat",
            "avgpool2x2",
            "fc",
            "y_DequantizeLinear",
            "program output 0",
        ] {
            assert!(layers.contains(&l), "{l} not compared: {layers:?}");
        }
    }
    // The NPU program exposes fewer layers than the CPU program.
    assert!(npu.layers.len() < cpu.layers.len());
}

#[test]
fn a_perturbed_weight_diverges_at_its_layer() {
    let model = fixtures().join("kws_dscnn/kws_dscnn_int8.tflite");
    let x = input("kws_dscnn", "tflm_int8");
    let pte = compile(&model, "cortex-m55");
    let good = run_layers(&pte, &x).unwrap();
    // Instruction 2 is the second convolution (0: conv, 1: depthwise).
    let bad = run_layers(&perturb_weight(&pte, 2, 7), &x).unwrap();
    let same = compare(&good, &run_layers(&pte, &x).unwrap(), 0.0);
    assert!(same.divergence.is_none());
    let c = compare(&good, &bad, 0.0);
    let (layer, a, b) = c.divergence.expect("diverges");
    assert_eq!(layer, good.layers[2].node, "{:#}", c.rows);
    // The rows stop at the divergence: two agreeing layers, then the divergent one.
    let rows = c.rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1]["differing"], 0);
    match diff(&a, &b) {
        Diff::Values {
            max_abs, differing, ..
        } => {
            assert!(max_abs > 0.0 && differing > 0);
            assert_eq!(rows[2]["differing"], differing);
        }
        d => panic!("{d:?}"),
    }
    // A tolerance above the difference lets it pass that layer.
    let loose = compare(&good, &bad, 1000.0);
    assert!(loose.divergence.is_none());
}
