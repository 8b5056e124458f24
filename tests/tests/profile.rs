//! `kiln run --profile` on hybrid programs (CPU kernels and Ethos-U delegates): every executed
//! instruction and every NPU operation has a row, the totals are the sums of the rows, the NPU
//! cycles are the NPU model's, and the rows name the source-model nodes the compiler recorded.

use kiln_compiler::compile::{compile_file, CompileOptions};
use kiln_compiler::npy::NpyArray;
use kiln_compiler::target::Target;
use kiln_rt::pte::{Instruction, Program};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn compile(model: &str, file: &str, target: &str) -> (Vec<u8>, Vec<String>) {
    let opts = CompileOptions::for_target(Target::lookup(target).unwrap());
    let c = compile_file(&fixtures().join(model).join(file), &opts).unwrap();
    let nodes = c.report.nodes.iter().map(|n| n.node.clone()).collect();
    (c.pte, nodes)
}

fn input(model: &str, dir: &str) -> NpyArray {
    NpyArray::read(
        fixtures()
            .join(model)
            .join("ref")
            .join(dir)
            .join("input_0.npy"),
    )
    .unwrap()
}

fn rows(p: &Json) -> &Vec<Json> {
    p["entries"].as_array().unwrap()
}

/// The residual model on the U55 is CPU, NPU, CPU, NPU, CPU: one row per instruction, one per
/// NPU operation, totals that add up, cycles equal to the NPU model's run of each delegate.
#[test]
fn hybrid_profile_rows_add_up_to_the_totals_and_the_npu_models_cycles() {
    let (pte, nodes) = compile(
        "synth_ii_residual",
        "synth_ii_residual_qdq_int8.onnx",
        "ethos-u55-128",
    );
    let (outs, p) =
        kiln_cli::profile::profile(&pte, &[input("synth_ii_residual", "onnx_qdq")]).unwrap();
    assert_eq!(
        outs,
        kiln_compiler::run::run_pte(&pte, &[input("synth_ii_residual", "onnx_qdq")]).unwrap(),
        "profiling does not change the results"
    );
    let program = Program::load(&pte).unwrap();
    let plan = program.plan_by_name("forward").unwrap();
    let instr: Vec<&Json> = rows(&p).iter().filter(|e| e["npu_op"].is_null()).collect();
    assert_eq!(instr.len(), plan.instruction_count().unwrap());
    assert_eq!(p["totals"]["instructions"], instr.len());

    let sum =
        |rows: &[&Json], key: &str| -> u64 { rows.iter().filter_map(|e| e[key].as_u64()).sum() };
    assert_eq!(p["totals"]["macs"].as_u64(), Some(sum(&instr, "macs")));
    assert_eq!(
        p["totals"]["npu_cycles"].as_u64(),
        Some(sum(&instr, "npu_cycles"))
    );
    let cpu: Vec<&Json> = instr
        .iter()
        .copied()
        .filter(|e| e["placement"] == "CPU")
        .collect();
    assert_eq!(
        p["totals"]["cpu_host_ns"].as_u64(),
        Some(sum(&cpu, "host_ns"))
    );
    assert!(
        cpu.len() >= 2 && instr.iter().any(|e| e["placement"] == "NPU"),
        "hybrid: {p:#}"
    );

    let mut npu_total = 0;
    let mut delegates = 0;
    for (i, e) in instr.iter().enumerate() {
        let Instruction::DelegateCall { delegate_index, .. } = plan.instruction(i).unwrap() else {
            // Every CPU row names a node of the compile report.
            let src = e["source"].as_str().unwrap();
            assert!(nodes.iter().any(|n| n == src), "{src} not in {nodes:?}");
            continue;
        };
        delegates += 1;
        let d = plan.delegate(delegate_index as usize).unwrap();
        let blob = program.delegate_data(d.location, d.index).unwrap();
        // The cycle model depends on the registers only, not the data: an independent run of
        // the stream gives the same cycles, operation for operation.
        let model = kiln_cli::inspect::npu_summary(blob, 0);
        assert_eq!(
            e["npu_cycles"], model["cycles"],
            "delegate {delegate_index}"
        );
        npu_total += model["cycles"].as_u64().unwrap();
        let ops: Vec<&Json> = rows(&p)
            .iter()
            .filter(|r| r["instruction"] == i && !r["npu_op"].is_null())
            .collect();
        let want = model["ops"].as_array().unwrap();
        assert_eq!(ops.len(), want.len());
        for (got, want) in ops.iter().zip(want) {
            assert_eq!(got["npu_cycles"], want["cycles"]);
            assert_eq!(got["operator"], want["kind"]);
        }
        // The delegate's MACs are its operations'.
        assert_eq!(
            e["macs"].as_u64(),
            Some(ops.iter().filter_map(|o| o["macs"].as_u64()).sum())
        );
        // Non-DMA operations name the node they implement.
        for o in ops.iter().filter(|o| o["operator"] != "dma") {
            let src = o["source"].as_str().unwrap();
            assert!(nodes.iter().any(|n| n == src), "{src} not in {nodes:?}");
        }
    }
    assert_eq!(delegates, 2);
    // NPU operations report their OFM shape (NHWC): the final Gemm writes the 5 scores.
    let fc = rows(&p)
        .iter()
        .find(|r| r["source"] == "fc" && !r["npu_op"].is_null())
        .unwrap();
    assert_eq!(fc["output_shape"], serde_json::json!([1, 1, 1, 5]));
    assert_eq!(fc["macs"], 80);
    assert_eq!(p["totals"]["npu_cycles"].as_u64(), Some(npu_total));

    let text = kiln_cli::profile::render_profile(&p);
    assert!(
        text.contains("residual_add") && text.contains("avgpool2x2"),
        "{text}"
    );
    assert!(text.contains(&format!("NPU {npu_total} cycles")), "{text}");
}

/// The same model on the CPU and on the NPU does the same multiply-accumulates.
#[test]
fn cpu_and_npu_programs_count_the_same_macs() {
    let x = input("kws_dscnn", "tflm_int8");
    let (npu, _) = compile("kws_dscnn", "kws_dscnn_int8.tflite", "ethos-u55-128");
    let (cpu, _) = compile("kws_dscnn", "kws_dscnn_int8.tflite", "cortex-m55");
    let (_, pn) = kiln_cli::profile::profile(&npu, std::slice::from_ref(&x)).unwrap();
    let (_, pc) = kiln_cli::profile::profile(&cpu, std::slice::from_ref(&x)).unwrap();
    assert!(pn["totals"]["macs"].as_u64().unwrap() > 2_000_000);
    assert_eq!(pn["totals"]["macs"], pc["totals"]["macs"]);
    assert_eq!(pc["totals"]["npu_cycles"], 0);
    assert!(pn["totals"]["npu_cycles"].as_u64().unwrap() > 0);
}

/// The source names cost flash; without debug information the program is smaller, runs the
/// same, and its profile rows have no source.
#[test]
fn debug_info_is_optional() {
    let model = fixtures().join("kws_dscnn/kws_dscnn_int8.tflite");
    let target = Target::lookup("cortex-m55").unwrap();
    let with = compile_file(&model, &CompileOptions::for_target(target))
        .unwrap()
        .pte;
    let opts = CompileOptions {
        debug_info: false,
        ..CompileOptions::for_target(target)
    };
    let without = compile_file(&model, &opts).unwrap().pte;
    assert!(without.len() < with.len());
    let x = input("kws_dscnn", "tflm_int8");
    let (a, pa) = kiln_cli::profile::profile(&with, std::slice::from_ref(&x)).unwrap();
    let (b, pb) = kiln_cli::profile::profile(&without, std::slice::from_ref(&x)).unwrap();
    assert_eq!(a, b);
    assert!(rows(&pa).iter().all(|r| r["source"] != ""));
    assert!(rows(&pb).iter().all(|r| r["source"] == ""));
    assert_eq!(pa["totals"]["macs"], pb["totals"]["macs"]);
}
