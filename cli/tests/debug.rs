//! The debugging commands as a user runs them: `kiln run --profile`/`--profile-json`,
//! `kiln compare` (exit codes, the dump) and `kiln inspect` in words.

use kiln_rt::pte::{Instruction, Program, TensorData, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .output()
        .expect("kiln runs")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-debug");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn compile(model: &str, file: &str, target: &str) -> PathBuf {
    // One file per test thread: tests that compile the same model run in parallel.
    let thread = format!("{:?}", std::thread::current().id()).replace(['(', ')'], "");
    let out = tmp(&format!("{file}.{target}.{thread}.pte"));
    let m = fixtures().join(model).join(file);
    let r = kiln(&["compile", s(&m), "--target", target, "-o", s(&out)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    out
}

/// Adds `delta` to every byte of the constant weight (argument 1) of instruction `at`.
fn perturb_weight(pte: &[u8], at: usize, delta: u8) -> Vec<u8> {
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

const KWS_INPUT: &str = "kws_dscnn/ref/tflm_int8/input_0.npy";

#[test]
fn compare_exits_0_when_programs_agree_and_1_with_a_dump_when_a_weight_differs() {
    let x = fixtures().join(KWS_INPUT);
    let model = fixtures().join("kws_dscnn/kws_dscnn_int8.tflite");
    let cpu = compile("kws_dscnn", "kws_dscnn_int8.tflite", "cortex-m55");
    let npu = compile("kws_dscnn", "kws_dscnn_int8.tflite", "ethos-u55-128");
    for (a, b) in [(&cpu, &cpu), (&npu, &cpu), (&npu, &model)] {
        let r = kiln(&["compare", s(a), s(b), "--input", s(&x)]);
        assert_eq!(
            r.status.code(),
            Some(0),
            "{}{}",
            stdout(&r),
            String::from_utf8_lossy(&r.stderr)
        );
        assert!(stdout(&r).contains("agree"), "{}", stdout(&r));
    }
    let bad = tmp("kws_perturbed.pte");
    std::fs::write(&bad, perturb_weight(&std::fs::read(&cpu).unwrap(), 2, 5)).unwrap();
    let dump = tmp("dump");
    let _ = std::fs::remove_dir_all(&dump);
    let r = kiln(&[
        "compare",
        s(&cpu),
        s(&bad),
        "--input",
        s(&x),
        "--dump",
        s(&dump),
    ]);
    let out = stdout(&r);
    assert_eq!(r.status.code(), Some(1), "{out}");
    assert!(
        out.contains("diverged at 'functional_1/activation_2/Relu"),
        "{out}"
    );
    let files: Vec<_> = std::fs::read_dir(&dump)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    let a = std::fs::read(files.iter().find(|f| s(f).ends_with(".a.npy")).unwrap()).unwrap();
    let b = std::fs::read(files.iter().find(|f| s(f).ends_with(".b.npy")).unwrap()).unwrap();
    assert_eq!(a.len(), b.len());
    assert_ne!(a, b);
    // The help says what an NPU delegate exposes.
    let help = stdout(&kiln(&["compare", "--help"]));
    assert!(help.contains("segment's outputs"), "{help}");
}

#[test]
fn run_profile_prints_a_table_and_writes_json() {
    let pte = compile(
        "synth_ii_residual",
        "synth_ii_residual_qdq_int8.onnx",
        "ethos-u55-128",
    );
    let x = fixtures().join("synth_ii_residual/ref/onnx_qdq/input_0.npy");
    let json = tmp("profile.json");
    let r = kiln(&[
        "run",
        s(&pte),
        "--input",
        s(&x),
        "--profile",
        "--profile-json",
        s(&json),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let out = stdout(&r);
    for needle in [
        "delegate EthosUBackend",
        "NPU cycles",
        "residual_add",
        "total:",
        "output 0:",
    ] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    let p: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let e = p["entries"].as_array().unwrap();
    let instructions = e.iter().filter(|e| e["npu_op"].is_null()).count();
    assert_eq!(p["totals"]["instructions"], instructions);
    assert_eq!(p["totals"]["npu_ops"], e.len() - instructions);
    assert!(
        out.contains(&format!("NPU {} cycles", p["totals"]["npu_cycles"])),
        "{out}"
    );
}

#[test]
fn inspect_text_is_for_people() {
    let pte = compile(
        "synth_ii_residual",
        "synth_ii_residual_qdq_int8.onnx",
        "ethos-u55-128",
    );
    let r = kiln(&["inspect", s(&pte)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let text = stdout(&r);
    for internal in ["Array [", "Number(", "Object {", "String(\"", "\"Inline\""] {
        assert!(!text.contains(internal), "{internal} in:\n{text}");
    }
    for needle in [
        // operators with source nodes, output shapes and dtypes
        "kiln::qlinear_avg_pool2d.out",
        "avgpool2x2",
        "v27 CHAR [1, 8, 8, 16]",
        // delegates with NPU operations, cycles and sources
        "EthosUBackend delegate 0",
        "residual_add",
        "cycles (cycle model)",
        // the memory plan with lifetimes
        "arena map",
        "in..0",
        "..out",
    ] {
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }
    // The JSON memory plan: tensors that share arena bytes are never live at once.
    let j: serde_json::Value =
        serde_json::from_slice(&kiln(&["inspect", s(&pte), "--json"]).stdout).unwrap();
    let plan = j["plans"][0]["memory_plan"].as_array().unwrap().clone();
    assert!(plan.len() >= 6);
    let span = |t: &serde_json::Value, k: &str| t[k].as_u64().unwrap();
    for (i, a) in plan.iter().enumerate() {
        assert!(
            span(a, "first_instruction") <= span(a, "last_instruction"),
            "{a}"
        );
        for b in &plan[i + 1..] {
            let bytes_overlap = span(a, "offset") < span(b, "offset") + span(b, "bytes")
                && span(b, "offset") < span(a, "offset") + span(a, "bytes");
            let live_overlap = span(a, "first_instruction") <= span(b, "last_instruction")
                && span(b, "first_instruction") <= span(a, "last_instruction");
            // Lifetimes meeting at one instruction overlap too: a kernel must not read and
            // write the same bytes.
            assert!(!(bytes_overlap && live_overlap), "{a} and {b}");
        }
    }
}

#[test]
fn compile_report_writes_a_self_contained_page_and_its_json_twin() {
    let model = fixtures().join("synth_ii_residual/synth_ii_residual_qdq_int8.onnx");
    let pte = tmp("report.pte");
    let html = tmp("report.html");
    let r = kiln(&[
        "compile",
        s(&model),
        "--target",
        "ethos-u55-128",
        "-o",
        s(&pte),
        "--report",
        s(&html),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let page = std::fs::read_to_string(&html).unwrap();
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(html.with_extension("json")).unwrap()).unwrap();
    // Self-contained: no scripts, no external resources.
    for external in ["<script", "src=", "href=", "@import"] {
        assert!(!page.contains(external), "{external}");
    }
    // The arena picture: one rectangle per planned buffer, the liveness bound drawn.
    let buffers = j["arena"]["tensors"].as_array().unwrap();
    assert!(buffers.len() >= 6);
    assert_eq!(
        page.matches("<rect class=\"tensor\"").count(),
        buffers.len()
    );
    assert!(page.contains("class=\"liveness-bound\""));
    assert_eq!(j["arena"]["liveness_bound"].as_u64(), Some(5120));
    // The flash split adds up to the file.
    let f = &j["flash"];
    let parts: u64 = [
        "cpu_weights",
        "npu_weights",
        "npu_command_streams",
        "program_metadata",
    ]
    .iter()
    .map(|k| f[k].as_u64().unwrap())
    .sum();
    assert_eq!(Some(parts), f["pte_bytes"].as_u64());
    assert_eq!(
        f["pte_bytes"].as_u64(),
        Some(std::fs::metadata(&pte).unwrap().len())
    );
    assert!(f["npu_command_streams"].as_u64().unwrap() > 0);
    // NPU scratch and per-operator placement with reasons, MACs and cycles.
    assert_eq!(j["npu"]["delegates"].as_array().unwrap().len(), 2);
    assert!(j["npu"]["scratch_bytes"].as_u64().unwrap() > 0);
    let ops = j["operators"].as_array().unwrap();
    let avg = ops.iter().find(|o| o["node"] == "avgpool2x2").unwrap();
    assert_eq!(avg["placement"], "CPU");
    assert!(avg["reason"].as_str().unwrap().contains("ONNX Runtime"));
    let dw = ops.iter().find(|o| o["node"] == "dw3x3").unwrap();
    assert_eq!(dw["placement"], "NPU");
    assert!(dw["macs"].as_u64().unwrap() > 0 && dw["npu_cycles"].as_u64().unwrap() > 0);
    let cycles: u64 = ops.iter().filter_map(|o| o["npu_cycles"].as_u64()).sum();
    let per_delegate: u64 = j["npu"]["delegates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["cycles"].as_u64().unwrap())
        .sum();
    // Kernel operations run one after the other (DMAs, which have no node, beside them): the
    // nodes' cycles cannot exceed the delegates'.
    assert!(
        cycles > 0 && cycles <= per_delegate,
        "{cycles} > {per_delegate}"
    );
    assert!(page.contains("avgpool2x2") && page.contains("ONNX Runtime rounds"));
}
