//! The `kiln` command line as a user runs it: the happy path, and every kind of
//! bad input giving a message on stderr that names the file and what is wrong,
//! with exit code 1 (never a panic).

use prost::Message;
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
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Asserts a clean failure: exit code 1, no panic, stderr mentions every `needle`.
fn fails(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "expected exit 1, stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr should mention {n:?}: {err}");
    }
}

fn compile_fixture(model: &str, file: &str) -> PathBuf {
    // One file per test thread: tests that compile the same fixture run in parallel.
    let thread = format!("{:?}", std::thread::current().id()).replace(['(', ')'], "");
    let out = tmp(&format!("{file}.{thread}.pte"));
    let r = kiln(&[
        "compile",
        s(&fixtures().join(model).join(file)),
        "--target",
        "host",
        "-o",
        s(&out),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    out
}

#[test]
fn compile_run_inspect_round_trip() {
    let pte = compile_fixture("synth_i_conv_pool_fc", "synth_i_conv_pool_fc_f32.onnx");
    let input = fixtures().join("synth_i_conv_pool_fc/ref/onnx_f32/input_0.npy");
    let y = tmp("y.npy");
    let r = kiln(&["run", s(&pte), "--input", s(&input), "--output", s(&y)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(y.exists());
    let r = kiln(&["inspect", s(&pte)]);
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(r.status.success());
    assert!(
        text.contains("aten::convolution.out") && text.contains("arena map"),
        "{text}"
    );
    let r = kiln(&["inspect", s(&pte), "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&r.stdout).expect("inspect --json is JSON");
    assert_eq!(j["plans"][0]["name"], "forward");
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["compile", "run", "inspect", "targets"] {
        let r = kiln(&[sub, "--help"]);
        assert!(r.status.success(), "{sub} --help");
        assert!(
            String::from_utf8_lossy(&r.stdout).contains("Usage"),
            "{sub}"
        );
    }
}

#[test]
fn unknown_target_lists_the_known_ones() {
    let model = fixtures().join("kws_dscnn/kws_dscnn_int8.tflite");
    let r = kiln(&[
        "compile",
        s(&model),
        "--target",
        "ethos-u99",
        "-o",
        s(&tmp("x.pte")),
    ]);
    fails(
        &r,
        &["unknown target 'ethos-u99'", "ethos-u55-128", "cortex-m4"],
    );
}

#[test]
fn empty_truncated_and_garbage_models() {
    let cases: Vec<(&str, Vec<u8>)> = {
        let onnx = std::fs::read(fixtures().join("kws_dscnn/kws_dscnn_f32.onnx")).unwrap();
        let tflite = std::fs::read(fixtures().join("kws_dscnn/kws_dscnn_int8.tflite")).unwrap();
        vec![
            ("empty.onnx", vec![]),
            ("truncated.onnx", onnx[..onnx.len() / 3].to_vec()),
            (
                "garbage.onnx",
                (0..4000u32)
                    .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                    .collect(),
            ),
            ("empty.tflite", vec![]),
            ("truncated.tflite", tflite[..tflite.len() / 2].to_vec()),
            (
                "garbage.tflite",
                (0..4000u32)
                    .map(|i| (i.wrapping_mul(40503) >> 3) as u8)
                    .collect(),
            ),
        ]
    };
    for (name, bytes) in cases {
        let p = tmp(name);
        std::fs::write(&p, bytes).unwrap();
        let r = kiln(&["compile", s(&p), "-o", s(&tmp("bad.pte"))]);
        fails(&r, &[name]);
    }
}

#[test]
fn unsupported_operator_names_op_node_and_file() {
    let bytes =
        std::fs::read(fixtures().join("synth_i_conv_pool_fc/synth_i_conv_pool_fc_f32.onnx"))
            .unwrap();
    let mut m = kiln_compiler::import::onnx::proto::ModelProto::decode(bytes.as_slice()).unwrap();
    let graph = m.graph.as_mut().unwrap();
    let node = graph
        .node
        .iter_mut()
        .find(|n| n.op_type == "Softmax")
        .unwrap();
    node.op_type = "Hardmax".into();
    let node_name = node.name.clone();
    let p = tmp("hardmax.onnx");
    std::fs::write(&p, m.encode_to_vec()).unwrap();
    let r = kiln(&["compile", s(&p), "-o", s(&tmp("h.pte"))]);
    fails(&r, &["hardmax.onnx", "Hardmax", &node_name]);
}

#[test]
fn empty_truncated_garbage_and_out_of_bounds_pte() {
    let good = std::fs::read(compile_fixture(
        "synth_i_conv_pool_fc",
        "synth_i_conv_pool_fc_f32.onnx",
    ))
    .unwrap();
    let input = fixtures().join("synth_i_conv_pool_fc/ref/onnx_f32/input_0.npy");
    let mut root_out_of_file = good.clone();
    root_out_of_file[0..4].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let mut bad_ident = good.clone();
    bad_ident[4..8].copy_from_slice(b"XX99");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.pte", vec![]),
        ("truncated.pte", good[..good.len() / 2].to_vec()),
        (
            "garbage.pte",
            (0..3000u32)
                .map(|i| (i.wrapping_mul(2246822519) >> 11) as u8)
                .collect(),
        ),
        ("root_out_of_file.pte", root_out_of_file),
        ("bad_identifier.pte", bad_ident),
    ];
    for (name, bytes) in cases {
        let p = tmp(name);
        std::fs::write(&p, bytes).unwrap();
        fails(&kiln(&["run", s(&p), "--input", s(&input)]), &[name]);
        fails(&kiln(&["inspect", s(&p)]), &[name]);
    }
}

#[test]
fn bad_npy_inputs() {
    let pte = compile_fixture("synth_i_conv_pool_fc", "synth_i_conv_pool_fc_f32.onnx");
    let good =
        std::fs::read(fixtures().join("synth_i_conv_pool_fc/ref/onnx_f32/input_0.npy")).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.npy", vec![]),
        ("truncated.npy", good[..good.len() - 7].to_vec()),
        ("garbage.npy", b"not a numpy file at all".to_vec()),
    ];
    for (name, bytes) in cases {
        let p = tmp(name);
        std::fs::write(&p, bytes).unwrap();
        fails(&kiln(&["run", s(&pte), "--input", s(&p)]), &[name]);
    }
    // Right file format, wrong dtype and wrong shape for this program.
    let i8_input = fixtures().join("kws_dscnn/ref/tflm_int8/input_0.npy");
    fails(
        &kiln(&["run", s(&pte), "--input", s(&i8_input)]),
        &["input 0", "FLOAT"],
    );
    let f32_wrong_shape = fixtures().join("kws_dscnn/ref/onnx_f32/input_0.npy");
    fails(
        &kiln(&["run", s(&pte), "--input", s(&f32_wrong_shape)]),
        &["input 0", "shape"],
    );
    // Wrong number of inputs.
    let input = fixtures().join("synth_i_conv_pool_fc/ref/onnx_f32/input_0.npy");
    fails(
        &kiln(&["run", s(&pte), "--input", s(&input), "--input", s(&input)]),
        &["2 were given"],
    );
}

#[test]
fn endless_inputs_and_hostile_sizes_fail_promptly() {
    let pte = compile_fixture("synth_i_conv_pool_fc", "synth_i_conv_pool_fc_f32.onnx");
    let input = fixtures().join("synth_i_conv_pool_fc/ref/onnx_f32/input_0.npy");
    let t = std::time::Instant::now();
    fails(
        &kiln(&["run", "/dev/zero", "--input", s(&input)]),
        &["/dev/zero", "MAX_FILE_BYTES"],
    );
    fails(
        &kiln(&["run", s(&pte), "--input", "/dev/zero"]),
        &["/dev/zero", "MAX_FILE_BYTES"],
    );
    fails(
        &kiln(&["inspect", "/dev/zero"]),
        &["/dev/zero", "MAX_FILE_BYTES"],
    );
    let out = tmp("zero.pte");
    fails(
        &kiln(&["compile", "/dev/zero", "-o", s(&out)]),
        &["/dev/zero", "MAX_FILE_BYTES"],
    );
    assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());
    // An upstream Ethos-U program whose Vela blob asks for 4 GiB of scratch: `kiln run` and
    // `kiln inspect` refuse it alike, naming the file and the field.
    let good = std::fs::read(fixtures().join("executorch/conv_pool_fc_u55_128.pte")).unwrap();
    let at = good
        .windows(16)
        .position(|w| w == b"scratch_size\0\0\0\0")
        .expect("scratch_size block")
        + 32;
    let mut bad = good.clone();
    bad[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let p = tmp("scratch_4g.pte");
    std::fs::write(&p, bad).unwrap();
    let x = fixtures().join("executorch/conv_pool_fc_input0.npy");
    let want = [
        "scratch_4g.pte",
        "vela_bin_stream.scratch_size",
        "HOST_MEMORY_LIMIT",
    ];
    fails(&kiln(&["run", s(&p), "--input", s(&x)]), &want);
    fails(&kiln(&["inspect", s(&p)]), &want);
}

#[test]
fn missing_model_file() {
    let r = kiln(&["compile", "no/such/model.onnx", "-o", s(&tmp("m.pte"))]);
    fails(&r, &["no/such/model.onnx"]);
}

#[test]
fn vela_tflite_compiles_runs_on_the_npu_model_and_disassembles() {
    let model = fixtures().join("vela/kws_dscnn_u55-128_vela.tflite");
    let pte = tmp("kws_vela.pte");
    let r = kiln(&[
        "compile",
        s(&model),
        "--target",
        "ethos-u55-128",
        "-o",
        s(&pte),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    for k in 0..4 {
        let input = fixtures().join(format!("kws_dscnn/ref/tflm_int8/input_{k}.npy"));
        let y = tmp(&format!("kws_vela_out_{k}.npy"));
        let r = kiln(&["run", s(&pte), "--input", s(&input), "--output", s(&y)]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let ours = kiln_compiler::npy::NpyArray::read(&y).unwrap();
        let golden = kiln_compiler::npy::NpyArray::read(
            fixtures().join(format!("kws_dscnn/ref/tflm_int8/output_{k}.npy")),
        )
        .unwrap();
        // The NPU model running Vela's own command stream is bit-exact with TFLite Micro.
        assert_eq!(ours.to_i8().unwrap(), golden.to_i8().unwrap(), "input {k}");
    }
    let r = kiln(&["inspect", s(&pte)]);
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(
        text.contains("NPU_OP_CONV") && text.contains("end of operation"),
        "{text}"
    );
}

#[test]
fn npu_compile_delegates_reports_and_inspects() {
    let model = fixtures().join("kws_dscnn/kws_dscnn_int8.tflite");
    let out = tmp("kws_u55.pte");
    let r = kiln(&[
        "compile",
        s(&model),
        "--target",
        "ethos-u55-128",
        "-o",
        s(&out),
    ]);
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    // Every operator, the softmax too, runs on the NPU, with its cost in NPU operations.
    assert!(
        text.contains("[npu]")
            && !text.contains("[cpu")
            && text
                .lines()
                .any(|l| l.contains("SOFTMAX") && l.contains("27 NPU ops")),
        "{text}"
    );
    let r = kiln(&["inspect", s(&out), "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&r.stdout).expect("inspect --json");
    let npu = &j["plans"][0]["delegates"][0]["npu"];
    assert_eq!(npu["config"], "ethos-u55-128", "{npu}");
    assert!(npu["cycles"].as_u64().unwrap() > 0 && npu["sram_bytes"].as_u64().unwrap() > 0);
    assert!(npu["flash_bytes"].as_u64().unwrap() > 0);
    let ops = npu["ops"].as_array().unwrap();
    assert!(
        ops.iter()
            .any(|o| o["kind"] == "conv" && o["source"].is_string()),
        "{npu}"
    );
    // The same object for a Vela-compiled program.
    let vela = fixtures().join("vela/ethos-u55-128/kws_dscnn_int8_vela.tflite");
    let vout = tmp("kws_vela_inspected.pte");
    assert!(kiln(&[
        "compile",
        s(&vela),
        "--target",
        "ethos-u55-128",
        "-o",
        s(&vout)
    ])
    .status
    .success());
    let j: serde_json::Value =
        serde_json::from_slice(&kiln(&["inspect", s(&vout), "--json"]).stdout).unwrap();
    assert_eq!(
        j["plans"][0]["delegates"][0]["npu"]["config"],
        "ethos-u55-128"
    );
    // --no-delegate: everything on the CPU.
    let r = kiln(&[
        "compile",
        s(&model),
        "--target",
        "ethos-u55-128",
        "--no-delegate",
        "-o",
        s(&out),
    ]);
    assert!(r.status.success() && !String::from_utf8_lossy(&r.stdout).contains("[npu]"));
}

#[test]
fn npu_errors_name_what_and_why() {
    // The QDQ ONNX model: f32 I/O and ONNX Runtime's float softmax stay on the CPU.
    let model = fixtures().join("kws_dscnn/kws_dscnn_qdq_int8.onnx");
    let out = tmp("strict.pte");
    let r = kiln(&[
        "compile",
        s(&model),
        "--target",
        "ethos-u55-128",
        "--no-cpu-fallback",
        "-o",
        s(&out),
    ]);
    fails(
        &r,
        &[
            "cpu_fallback = false",
            "node 'StatefulPartitionedCall/functional_1/dense/Softmax' (Softmax)",
            "QLinearSoftmax",
            "ethos-u55-128",
        ],
    );
    // A Vela model for another configuration than the target, or for a CPU-only target.
    let vela = fixtures().join("vela/ethos-u55-128/kws_dscnn_int8_vela.tflite");
    let r = kiln(&[
        "compile",
        s(&vela),
        "--target",
        "ethos-u55-256",
        "-o",
        s(&out),
    ]);
    fails(
        &r,
        &[
            "Vela compiled this model for ethos-u55-128",
            "has an ethos-u55-256",
        ],
    );
    let r = kiln(&["compile", s(&vela), "--target", "cortex-m4", "-o", s(&out)]);
    fails(
        &r,
        &["Vela compiled this model for ethos-u55-128", "has no NPU"],
    );
}

/// `kiln targets` names aliases, the NPU and the memory map in words.
#[test]
fn targets_lists_aliases_npus_and_memory_maps() {
    let out = kiln(&["targets"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "ethos-u55-128 (also: ethos-u55)",
        "NPU: Arm Ethos-U55 with 128 MACs per cycle",
        "ISRAM     4 MiB at 0x21000000",
        "the NPU scratch goes here",
        "DTCM    512 KiB at 0x20000000  data RAM",
        "cortex-m4\n  CPU: Arm Cortex-M4 (DSP extension)",
        "NPU: none (every operator runs on the CPU)",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}
