//! kiln's own Ethos-U compiler, end to end: every fixture model (int8 TFLite and
//! QDQ ONNX) compiled for ethos-u55-32/64/128/256 and ethos-u65-256, run on the host
//! where the delegates execute on kiln's NPU model (which executes registers and
//! knows nothing of the compiler), and compared with the oracles:
//!
//! - `tflite_int8`: bit-exact with `ref/tflm_int8` (TensorFlow Lite Micro);
//! - `onnx_qdq`: within one quantization step of ONNX Runtime, as on the CPU.
//!
//! Each run prints the placement summary: NPU operations, CPU operators and why.

use kiln_compiler::compile::{compile_file, CompileOptions};
use kiln_compiler::npy::NpyArray;
use kiln_compiler::target::Target;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn npy(path: PathBuf) -> NpyArray {
    NpyArray::read(&path).unwrap_or_else(|e| panic!("{e}"))
}

const CONFIGS: [&str; 5] = [
    "ethos-u55-32",
    "ethos-u55-64",
    "ethos-u55-128",
    "ethos-u55-256",
    "ethos-u65-256",
];

/// Compiles `model/file` for `target`; returns the program and how many nodes the NPU took.
fn compile(model: &str, file: &str, target: &str) -> (Vec<u8>, usize) {
    let opts = CompileOptions::for_target(Target::lookup(target).unwrap());
    let c = compile_file(&fixtures().join(model).join(file), &opts)
        .unwrap_or_else(|e| panic!("compile {model}/{file} for {target}: {e}"));
    let npu = c
        .report
        .nodes
        .iter()
        .filter(|n| n.placement == "npu")
        .count();
    let cpu: Vec<String> = c
        .report
        .nodes
        .iter()
        .filter(|n| n.placement.starts_with("cpu"))
        .map(|n| format!("{} ({})", n.source_op, n.placement))
        .collect();
    println!(
        "{model} {file} {target}: {npu} nodes on the NPU, CPU: {}",
        if cpu.is_empty() {
            "none".into()
        } else {
            cpu.join(", ")
        }
    );
    (c.pte, npu)
}

fn check_tflite(model: &str) {
    let file = format!("{model}_int8.tflite");
    let dir = fixtures().join(model).join("ref");
    for target in CONFIGS {
        let (pte, npu) = compile(model, &file, target);
        assert!(npu > 0, "{model} {target}: nothing was delegated");
        for k in 0..4 {
            let input = npy(dir.join(format!("tflite_int8/input_{k}.npy")));
            let out = kiln_compiler::run::run_pte(&pte, &[input])
                .unwrap_or_else(|e| panic!("run {model} {target} input {k}: {e}"));
            let want = npy(dir.join(format!("tflm_int8/output_{k}.npy")));
            assert_eq!(out[0].shape, want.shape, "{model} {target}: output shape");
            let (ours, exact) = (out[0].to_i8().unwrap(), want.to_i8().unwrap());
            let differ = ours.iter().zip(&exact).filter(|(a, b)| a != b).count();
            assert_eq!(
                differ, 0,
                "{model} {target} input {k}: {differ} elements differ from TFLite Micro"
            );
        }
    }
}

#[test]
fn kws_dscnn_on_the_npu_is_bit_exact() {
    check_tflite("kws_dscnn");
}

#[test]
fn ic_resnet8_on_the_npu_is_bit_exact() {
    check_tflite("ic_resnet8");
}

/// ResNet-8's widest convolution (3x3, 64 to 64 channels, 35 KB of weights) does not fit the
/// U55-64's SRAM twice over next to its feature maps: kiln cuts it into OFM depth slices whose
/// weights alternate between two SRAM slots (as Vela does), and the program stays bit-exact
/// (`ic_resnet8_on_the_npu_is_bit_exact` runs the same program on the NPU model).
#[test]
fn a_wide_convolution_runs_in_depth_slices_with_staged_weights() {
    let opts = CompileOptions::for_target(Target::lookup("ethos-u55-64").unwrap());
    let model = fixtures().join("ic_resnet8/ic_resnet8_int8.tflite");
    let c = compile_file(&model, &opts).unwrap();
    let conv = c
        .report
        .nodes
        .iter()
        .find(|n| n.node.ends_with("model/conv2d_7/Conv2D"))
        .expect("conv2d_7 is in the report");
    assert_eq!(
        conv.kernels,
        ["ethos-u delegate 0, 2 NPU ops: 2 conv"],
        "conv2d_7 on ethos-u55-64"
    );
}

#[test]
fn vww_mobilenetv1_025_on_the_npu_is_bit_exact() {
    check_tflite("vww_mobilenetv1_025");
}

#[test]
fn ad_fc_autoencoder_on_the_npu_is_bit_exact() {
    check_tflite("ad_fc_autoencoder");
}

/// The output quantization step of a QDQ model (the scale its final dequantize reads).
fn output_step(model: &str, file: &str) -> f32 {
    let c = compile_file(
        &fixtures().join(model).join(file),
        &CompileOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let g = c.graph;
    let producer = g.producer(g.outputs[0]).expect("output is computed");
    g.nodes[producer]
        .input(0)
        .and_then(|t| g.tensor(t).quant.clone())
        .map(|q| q.scale[0])
        .unwrap_or_else(|| panic!("{model}: the output is not produced by a dequantize"))
}

/// How far (in output quantization steps) the NPU may land from ONNX Runtime at a model's
/// output: one step, as on the CPU. The NPU follows ONNX Runtime's arithmetic for QDQ graphs
/// (`compiler/src/ethos_u/lower/ort.rs`) and differs from it only at rounding ties; averages
/// whose exact ties are reachable (`ic_resnet8`'s global 8x8 pool and `synth_ii_residual`'s
/// 2x2 pool have equal input and output scales: `sum / 64`, `sum / 4`), which ONNX Runtime
/// rounds half to even and the U55/U65 output stage cannot, stay on the CPU.
fn max_qdq_steps(_model: &str) -> u32 {
    1
}

/// ONNX QDQ models on the NPU: close to ONNX Runtime of ONNX Runtime's fused integer
/// kernels (as on the CPU); the number of differing elements is printed.
fn check_qdq(model: &str) {
    let file = format!("{model}_qdq_int8.onnx");
    let dir = fixtures().join(model).join("ref");
    let step = output_step(model, &file);
    for target in CONFIGS {
        let (pte, npu) = compile(model, &file, target);
        assert!(npu > 0, "{model} {target}: nothing was delegated");
        let mut differ = 0;
        let mut worst = 0u32;
        for k in 0..4 {
            let input = npy(dir.join(format!("onnx_qdq/input_{k}.npy")));
            let out = kiln_compiler::run::run_pte(&pte, &[input])
                .unwrap_or_else(|e| panic!("run {model} {target} input {k}: {e}"));
            let want = npy(dir.join(format!("onnx_qdq/output_{k}.npy")));
            assert_eq!(out[0].shape, want.shape, "{model} {target}: output shape");
            let (a, b) = (out[0].to_f32().unwrap(), want.to_f32().unwrap());
            // Classifiers (a few scores): the NPU picks ONNX Runtime's class.
            if a.len() <= 16 {
                let top = |v: &[f32]| (0..v.len()).max_by(|&i, &j| v[i].total_cmp(&v[j]));
                assert_eq!(
                    top(&a),
                    top(&b),
                    "{model} {target} input {k}: top class differs"
                );
            }
            for (x, y) in a.iter().zip(&b) {
                worst = worst.max(((x - y).abs() / step).round() as u32);
                differ += usize::from(x != y);
            }
        }
        println!("{model} qdq {target}: {differ} elements differ from ONNX Runtime, at most {worst} steps");
        let bound = max_qdq_steps(model);
        assert!(
            worst <= bound,
            "{model} {target}: {worst} steps from ONNX Runtime (bound {bound})"
        );
    }
}

#[test]
fn qdq_models_on_the_npu_follow_onnx_runtime() {
    for model in [
        "kws_dscnn",
        "ic_resnet8",
        "vww_mobilenetv1_025",
        "ad_fc_autoencoder",
        "synth_i_conv_pool_fc",
        "synth_ii_residual",
        "synth_iii_tables",
    ] {
        check_qdq(model);
    }
}

/// kiln's streams pass the check Linux's `accel/ethosu` driver applies (the compiler runs it on
/// every stream; here it is run again on the packaged blob), and the check is not vacuous: a
/// scratch one byte short of what the stream touches, or a stream missing its first register
/// write, fails it.
#[test]
fn kiln_streams_pass_the_drivers_check_and_mutations_fail_it() {
    use kiln_ethos_u::check::{check_stream, CheckError};
    use kiln_rt::ethos_u::blob::VelaBlob;
    use kiln_rt::ethos_u::payload::Payload;
    use kiln_rt::pte::Program;
    for target in CONFIGS {
        let (pte, _) = compile("kws_dscnn", "kws_dscnn_int8.tflite", target);
        let program = Program::load(&pte).unwrap();
        let plan = program.plan_by_name("forward").unwrap();
        let d = plan.delegate(0).unwrap();
        let blob = VelaBlob::parse(program.delegate_data(d.location, d.index).unwrap()).unwrap();
        let stream = Payload::parse(blob.cmd_data).unwrap().command_stream;
        let fast = d
            .compile_spec_value(kiln_compiler::vela::FAST_SCRATCH_SPEC)
            .unwrap()
            .map(|v| u32::from_le_bytes(v.try_into().unwrap()) as u64);
        let mut regions = [None; 8];
        regions[0] = Some(blob.weight_data.len() as u64);
        regions[1] = Some(blob.scratch_size as u64);
        regions[2] = fast;
        let used = check_stream(stream, &regions).unwrap_or_else(|e| panic!("{target}: {e}"));
        assert!(used.kernel_ops > 5 && used.end[1] > 0, "{target}: {used:?}");
        // U65 (Dedicated_Sram): the internal feature maps are in the fast scratch (region 2),
        // the graph-side input and output in the scratch; the U55 has no fast scratch.
        if target.starts_with("ethos-u65") {
            assert!(
                used.end[2] > 0 && fast >= Some(used.end[2]),
                "{target}: {used:?}"
            );
            let mut short = regions;
            short[2] = Some(used.end[2] - 1);
            let e = check_stream(stream, &short).unwrap_err();
            assert!(
                matches!(e, CheckError::OutOfBounds { region: 2, .. }),
                "{target}: {e}"
            );
        } else {
            assert_eq!((fast, used.end[2]), (None, 0), "{target}");
        }

        let mut short = regions;
        short[1] = Some(used.end[1] - 1);
        let e = check_stream(stream, &short).unwrap_err();
        assert!(
            matches!(e, CheckError::OutOfBounds { region: 1, .. }),
            "{target}: {e}"
        );

        // Drop the first command (a register write: the stream sets up before it operates).
        let first = u32::from_le_bytes(stream[..4].try_into().unwrap());
        let skip = if first & 0x4000 != 0 { 8 } else { 4 };
        let e = check_stream(&stream[skip..], &regions).unwrap_err();
        assert!(matches!(e, CheckError::Unset { .. }), "{target}: {e}");
    }
}

/// Region 0 (weights, scales, LUTs) of the first `EthosUBackend` delegate of a `.pte`.
fn weight_data(pte: &[u8]) -> Vec<u8> {
    use kiln_rt::ethos_u::blob::VelaBlob;
    let program = kiln_rt::pte::Program::load(pte).expect("kiln-rt loads the .pte");
    let plan = program.plan_by_name("forward").unwrap();
    let d = plan.delegate(0).unwrap();
    let blob = VelaBlob::parse(program.delegate_data(d.location, d.index).unwrap()).unwrap();
    blob.weight_data.to_vec()
}

/// The 1 KiB int32 tables in `data` that look like softmax exp tables (16-byte aligned,
/// non-decreasing, from >= 0 up to exp(0) = 2^31 - 1).
fn exp_tables(data: &[u8]) -> Vec<&[u8]> {
    (0..data.len().saturating_sub(1023))
        .step_by(16)
        .map(|at| &data[at..at + 1024])
        .filter(|t| {
            let v: Vec<i32> = t
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            v[0] >= 0 && v[255] == i32::MAX && v.windows(2).all(|w| w[0] <= w[1])
        })
        .collect()
}

/// kiln's NPU softmax loads the same exp table as Vela's (byte for byte) for the KWS softmax,
/// on every configuration Vela compiled the model for.
#[test]
fn kws_softmax_exp_table_is_vela_s() {
    for target in &CONFIGS[1..] {
        let (pte, _) = compile("kws_dscnn", "kws_dscnn_int8.tflite", target);
        let ours = weight_data(&pte);
        let vela_model = fixtures()
            .join("vela")
            .join(target)
            .join("kws_dscnn_int8_vela.tflite");
        let bytes = std::fs::read(&vela_model).unwrap();
        let vela = weight_data(&kiln_compiler::vela::compile_vela(&vela_model, &bytes).unwrap());
        let (a, b) = (exp_tables(&ours), exp_tables(&vela));
        assert_eq!((a.len(), b.len()), (1, 1), "{target}: exp tables found");
        assert_eq!(a[0], b[0], "{target}: the exp tables differ");
    }
}

/// (scratch, fast scratch) bytes the program's delegates need.
fn sram_of(pte: &[u8]) -> (usize, usize) {
    use kiln_rt::ethos_u::EthosUBackend;
    let program = kiln_rt::pte::Program::load(pte).expect("kiln-rt loads the .pte");
    type B<'s> = EthosUBackend<'s, kiln_rt::ethos_u::sim::NpuModel>;
    (
        B::scratch_size(&program, "forward").unwrap(),
        B::fast_scratch_size(&program, "forward").unwrap(),
    )
}

/// `--sram-budget`: KWS on the U55-128 fits any budget down to its feature maps (staging fewer
/// weights), stays bit-exact with TFLite Micro, and below that is an error with the bytes it
/// needs; on the U65 the budget bounds the fast scratch.
#[test]
fn sram_budget_bounds_the_npu_sram() {
    use kiln_compiler::error::CompileError;
    let model = fixtures().join("kws_dscnn/kws_dscnn_int8.tflite");
    let dir = fixtures().join("kws_dscnn/ref");
    let input = npy(dir.join("tflite_int8/input_0.npy"));
    let want = npy(dir.join("tflm_int8/output_0.npy")).to_i8().unwrap();
    let compile = |target: &str, budget: Option<u64>| {
        let opts = CompileOptions {
            sram_budget: budget,
            ..CompileOptions::for_target(Target::lookup(target).unwrap())
        };
        compile_file(&model, &opts)
    };
    let free = compile("ethos-u55-128", None).unwrap();
    let (staged, _) = sram_of(&free.pte);
    let mut last = staged;
    for budget in [staged, 20000, 18000, 16000] {
        let c = compile("ethos-u55-128", Some(budget as u64)).unwrap();
        let (scratch, _) = sram_of(&c.pte);
        assert!(scratch <= budget, "budget {budget}: scratch {scratch}");
        assert!(scratch <= last, "budget {budget}: {scratch} > {last}");
        last = scratch;
        let out = kiln_compiler::run::run_pte(&c.pte, std::slice::from_ref(&input)).unwrap();
        assert_eq!(out[0].to_i8().unwrap(), want, "budget {budget}");
    }
    assert!(
        staged > 16000,
        "weights are staged without a budget ({staged} B)"
    );
    match compile("ethos-u55-128", Some(15999)) {
        Err(CompileError::SramBudget { needed, budget, .. }) => {
            assert_eq!((needed, budget), (16000, 15999));
        }
        other => panic!("15999 B: {:?}", other.map(|c| c.report.notes)),
    }
    for budget in [4096usize, 10000] {
        let c = compile("ethos-u65-256", Some(budget as u64)).unwrap();
        let (_, fast) = sram_of(&c.pte);
        assert!(fast <= budget, "u65 budget {budget}: fast scratch {fast}");
        let out = kiln_compiler::run::run_pte(&c.pte, std::slice::from_ref(&input)).unwrap();
        assert_eq!(out[0].to_i8().unwrap(), want, "u65 budget {budget}");
    }
}
