//! Vela output as an input format: every Vela-compiled fixture
//! (`tests/fixtures/vela/<accelerator>/*_vela.tflite`, made by
//! `cargo xtask vela-fixtures` with ethos-u-vela 5.2.0) is packaged by
//! `kiln_compiler::vela::compile_vela` into a `.pte` that kiln-rt loads, whose
//! delegate blob is a valid `vela_bin_stream` carrying Vela's bytes unchanged.

use kiln_compiler::import::tflite::read_vela_custom_ops;
use kiln_compiler::vela::{compile_vela, is_vela_tflite, FAST_SCRATCH_SPEC};
use kiln_ethos_u::check::check_stream;
use kiln_rt::ethos_u::blob::VelaBlob;
use kiln_rt::ethos_u::disasm::{disassemble, regions_used};
use kiln_rt::ethos_u::payload::{Payload, Product};
use kiln_rt::pte::Program;
use std::path::{Path, PathBuf};

const CONFIGS: [&str; 4] = [
    "ethos-u55-64",
    "ethos-u55-128",
    "ethos-u55-256",
    "ethos-u65-256",
];
const MODELS: [&str; 4] = [
    "ad_fc_autoencoder",
    "ic_resnet8",
    "kws_dscnn",
    "vww_mobilenetv1_025",
];

fn vela_fixture(config: &str, model: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/vela")
        .join(config)
        .join(format!("{model}_int8_vela.tflite"))
}

#[test]
fn every_vela_fixture_packages_as_a_pte() {
    for config in CONFIGS {
        for model in MODELS {
            let path = vela_fixture(config, model);
            let bytes = std::fs::read(&path).unwrap();
            assert!(is_vela_tflite(&path, &bytes), "{}", path.display());
            let vm = read_vela_custom_ops(&path, &bytes).unwrap();
            let op = vm.npu_ops().next().unwrap();
            let pte = compile_vela(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));

            let program = Program::load(&pte).expect("kiln-rt loads the .pte");
            let plan = program.plan_by_name("forward").unwrap();
            assert_eq!(plan.delegate_count().unwrap(), 1);
            let d = plan.delegate(0).unwrap();
            assert_eq!(d.id, "EthosUBackend");
            let blob = VelaBlob::parse(program.delegate_data(d.location, d.index).unwrap())
                .unwrap_or_else(|e| panic!("{config}/{model}: {e}"));
            // Vela's bytes, unchanged.
            assert_eq!(blob.cmd_data, vm.bytes(op.command_stream));
            assert_eq!(blob.weight_data, vm.bytes(op.read_only));
            assert_eq!(blob.scratch_size as usize, vm.size(op.scratch));
            assert_eq!(blob.inputs.len(), vm.inputs.len());
            assert_eq!(blob.outputs.len(), vm.outputs.len());
            for (io, &t) in blob.inputs.iter().zip(&vm.inputs) {
                assert_eq!(io.bytes(), Some(vm.size(t)), "{config}/{model}");
            }
            // U65 Dedicated_Sram: fast scratch is its own tensor, recorded in a compile spec.
            let fast = d.compile_spec_value(FAST_SCRATCH_SPEC).unwrap();
            assert_eq!(
                fast.is_some(),
                op.scratch_fast != op.scratch,
                "{config}/{model}"
            );
            let p = Payload::parse(blob.cmd_data).unwrap();
            let product = p.config.unwrap().config.product();
            let want = if config.starts_with("ethos-u65") {
                Product::EthosU65
            } else {
                Product::EthosU55
            };
            assert_eq!(product, Some(want), "{config}/{model}");
            let used = regions_used(p.command_stream).unwrap();
            assert_eq!(used & !0b111, 0, "{config}/{model}: regions {used:#b}");
            // Vela's streams pass the check Linux's accel/ethosu driver applies, with the
            // region sizes of the blob (region 2, the fast scratch, aliases the scratch on U55).
            let mut regions = [None; 8];
            regions[0] = Some(blob.weight_data.len() as u64);
            regions[1] = Some(blob.scratch_size as u64);
            regions[2] = Some(vm.size(op.scratch_fast) as u64);
            let checked = check_stream(p.command_stream, &regions)
                .unwrap_or_else(|e| panic!("{config}/{model}: {e}"));
            assert!(checked.kernel_ops > 0);
            let mut listing = String::new();
            disassemble(
                program.delegate_data(d.location, d.index).unwrap(),
                &mut listing,
            )
            .unwrap();
            assert!(!listing.contains("error:"), "{config}/{model}:\n{listing}");
        }
    }
}

#[test]
fn non_vela_models_are_not_taken_for_vela_output() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kws_dscnn/kws_dscnn_int8.tflite");
    let bytes = std::fs::read(&path).unwrap();
    assert!(!is_vela_tflite(&path, &bytes));
    let e = compile_vela(&path, &bytes).unwrap_err().to_string();
    assert!(e.contains("CPU"), "{e}");
}

/// `len` zero bytes starting on a 16-byte boundary.
struct Aligned {
    buf: Vec<u8>,
    off: usize,
    len: usize,
}

impl Aligned {
    fn new(bytes: &[u8]) -> Self {
        let mut buf = vec![0u8; bytes.len() + 16];
        let off = buf.as_ptr().align_offset(16);
        buf[off..off + bytes.len()].copy_from_slice(bytes);
        Aligned {
            buf,
            off,
            len: bytes.len(),
        }
    }
    fn bytes(&self) -> &[u8] {
        &self.buf[self.off..self.off + self.len]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.off..self.off + self.len]
    }
}

/// Runs one packaged Vela fixture on the NPU model for the 4 golden inputs;
/// returns (outputs that differ from TFLM, NPU-model cycles of the last run).
fn run_packaged(config: &str, model: &str) -> (Vec<String>, u64) {
    use kiln_compiler::npy::NpyArray;
    use kiln_rt::ethos_u::sim::{NpuModel, SimConfig};
    use kiln_rt::ethos_u::{Driver, DriverConfig, EthosUBackend};
    use kiln_rt::exec::{Backend, Method};

    let path = vela_fixture(config, model);
    let pte = Aligned::new(&compile_vela(&path, &std::fs::read(&path).unwrap()).unwrap());
    let program = Program::load(pte.bytes()).unwrap();
    let plan = program.plan_by_name("forward").unwrap();
    let fast_size = plan
        .delegate(0)
        .unwrap()
        .compile_spec_value(FAST_SCRATCH_SPEC)
        .unwrap()
        .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap()) as usize);
    let macs: u32 = config.rsplit('-').next().unwrap().parse().unwrap();
    let sim = if config.starts_with("ethos-u65") {
        SimConfig::ethos_u65(macs)
    } else {
        SimConfig::ethos_u55(macs)
    }
    .unwrap();
    let mut scratch = Aligned::new(&vec![
        0;
        EthosUBackend::<NpuModel>::scratch_size(
            &program, "forward"
        )
        .unwrap()
    ]);
    let mut fast = Aligned::new(&vec![0; fast_size]);
    let mut backend = EthosUBackend::new(
        Driver::new(NpuModel::new(sim), DriverConfig::default()),
        scratch.bytes_mut(),
        fast.bytes_mut(),
    );
    let mut arena = Aligned::new(&vec![0; Method::arena_size(&program, "forward").unwrap()]);
    let mut method = Method::load(&program, "forward", &[], arena.bytes_mut()).unwrap();
    let refs = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(model)
        .join("ref/tflm_int8");
    let mut diffs = Vec::new();
    for k in 0..4 {
        let x = NpyArray::read(refs.join(format!("input_{k}.npy"))).unwrap();
        let want = NpyArray::read(refs.join(format!("output_{k}.npy"))).unwrap();
        method.set_input(0, &x.data).unwrap();
        let mut backends: [&mut dyn Backend; 1] = [&mut backend];
        if let Err(e) = method.execute_with(&mut backends) {
            diffs.push(format!("input {k}: {e}"));
            continue;
        }
        let got = method.output(0).unwrap();
        let n = got.iter().zip(&want.data).filter(|(a, b)| a != b).count();
        if n > 0 {
            diffs.push(format!("input {k}: {n} of {} bytes differ", got.len()));
        }
    }
    let cycles = backend.driver().registers().last_stats().cycles;
    (diffs, cycles)
}

#[test]
fn packaged_vela_fixtures_run_on_the_npu_model() {
    let mut report = Vec::new();
    let mut failures = 0;
    for config in CONFIGS {
        for model in MODELS {
            let (diffs, cycles) = run_packaged(config, model);
            failures += diffs.len();
            report.push(format!("{config} {model}: {cycles} cycles; {diffs:?}"));
        }
    }
    println!("{}", report.join("\n"));
    assert_eq!(failures, 0, "\n{}", report.join("\n"));
}
