//! Real ExecuTorch Arm-flow programs (upstream ExecuTorch 1.5.1 + Vela, fully
//! delegated to `EthosUBackend` for ethos-u55-128) run on kiln-rt with the
//! Ethos-U driver over the NPU model, and match the TOSA reference model's
//! outputs exactly: int8 for the int8-IO program, its dequantized value for
//! the float-IO programs (inline blob and blob in a segment).

use kiln_compiler::npy::NpyArray;
use kiln_rt::ethos_u::sim::{NpuModel, SimConfig};
use kiln_rt::ethos_u::{Driver, DriverConfig, EthosUBackend};
use kiln_rt::exec::{Backend, Method};
use kiln_rt::kernels::int8::KERNELS;
use kiln_rt::pte::Program;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/executorch")
        .join(name)
}

/// `len` zero bytes starting on a 16-byte boundary (the NPU needs aligned memory).
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
    fn zeroed(len: usize) -> Self {
        Aligned::new(&vec![0u8; len])
    }
    fn bytes(&self) -> &[u8] {
        &self.buf[self.off..self.off + self.len]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.off..self.off + self.len]
    }
}

fn u55_128() -> NpuModel {
    NpuModel::new(SimConfig::ethos_u55(128).expect("U55-128 is modelled"))
}

/// Runs `pte` for the 4 inputs; `read` gives the output bytes to compare.
fn run_pte(file: &str, int8_io: bool) {
    let pte = Aligned::new(&std::fs::read(fixture(file)).unwrap());
    let program = Program::load(pte.bytes()).expect("program loads");
    let scratch_size = EthosUBackend::<NpuModel>::scratch_size(&program, "forward").unwrap();
    assert_eq!(scratch_size, 4608, "executorch-format.md §5.2");
    let mut scratch = Aligned::zeroed(scratch_size);
    let mut backend = EthosUBackend::new(
        Driver::new(u55_128(), DriverConfig::default()),
        scratch.bytes_mut(),
        &mut [],
    );
    let size = Method::arena_size(&program, "forward").unwrap();
    let mut arena = Aligned::zeroed(size);
    let mut method = Method::load(&program, "forward", KERNELS, arena.bytes_mut()).unwrap();
    for k in 0..4 {
        if int8_io {
            let x = NpyArray::read(fixture(&format!("conv_pool_fc_u55_in_int8_{k}.npy"))).unwrap();
            method.set_input(0, &x.data).unwrap();
        } else {
            let x = NpyArray::read(fixture(&format!("conv_pool_fc_input{k}.npy"))).unwrap();
            method.set_input(0, &x.data).unwrap();
        }
        let mut backends: [&mut dyn Backend; 1] = [&mut backend];
        method
            .execute_with(&mut backends)
            .unwrap_or_else(|e| panic!("{file} input {k}: {e}"));
        let kind = if int8_io { "int8" } else { "float" };
        let want = NpyArray::read(fixture(&format!(
            "conv_pool_fc_u55_tosa_ref_out_{kind}_{k}.npy"
        )))
        .unwrap();
        assert_eq!(
            method.output(0).unwrap(),
            &want.data[..],
            "{file} input {k}: output differs from the TOSA reference"
        );
    }
    let stats = backend.driver().registers().last_stats();
    assert!(stats.stopped && stats.ops >= 5, "{stats:?}");
}

#[test]
fn int8_io_program_matches_tosa_reference() {
    run_pte("conv_pool_fc_u55_128_int8io.pte", true);
}

#[test]
fn float_io_program_matches_tosa_reference() {
    run_pte("conv_pool_fc_u55_128.pte", false);
}

#[test]
fn segment_program_matches_tosa_reference() {
    run_pte("conv_pool_fc_u55_128_seg.pte", false);
}

#[test]
fn wrong_npu_configuration_is_an_error() {
    // The stream was compiled for 128 MACs; a 256-MAC NPU refuses it.
    let pte = Aligned::new(&std::fs::read(fixture("conv_pool_fc_u55_128_int8io.pte")).unwrap());
    let program = Program::load(pte.bytes()).unwrap();
    let mut scratch = Aligned::zeroed(4608);
    let npu = NpuModel::new(SimConfig::ethos_u55(256).unwrap());
    let mut backend = EthosUBackend::new(
        Driver::new(npu, DriverConfig::default()),
        scratch.bytes_mut(),
        &mut [],
    );
    let mut arena = Aligned::zeroed(Method::arena_size(&program, "forward").unwrap());
    let mut method = Method::load(&program, "forward", KERNELS, arena.bytes_mut()).unwrap();
    let mut backends: [&mut dyn Backend; 1] = [&mut backend];
    let e = method.execute_with(&mut backends).unwrap_err().to_string();
    assert!(e.contains("macs_per_cc"), "{e}");
    // Too little scratch is an error too, before the NPU is touched.
    let mut small = Aligned::zeroed(4096);
    let mut backend = EthosUBackend::new(
        Driver::new(u55_128(), DriverConfig::default()),
        small.bytes_mut(),
        &mut [],
    );
    let mut backends: [&mut dyn Backend; 1] = [&mut backend];
    let e = method.execute_with(&mut backends).unwrap_err().to_string();
    assert!(e.contains("scratch"), "{e}");
}

/// xorshift64*: a fixed, seeded sequence (the test is reproducible).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn mutated_command_streams_on_the_npu_model_give_errors_not_panics() {
    use kiln_rt::ethos_u::blob::VelaBlob;
    let bin = std::fs::read(fixture("conv_pool_fc_u55_128.vela.bin")).unwrap();
    let good = VelaBlob::parse(&bin).unwrap();
    // cmd_data starts after two block headers; its command stream 32 bytes later.
    let stream_at = good.cmd_data.as_ptr() as usize - bin.as_ptr() as usize + 32;
    let words = (good.cmd_data.len() - 32) / 4;
    let inputs = std::fs::read(fixture("conv_pool_fc_u55_in_int8_0.npy")).unwrap();
    let input = &inputs[inputs.len() - 256..];
    let mut rng = Rng(0xE7_405E);
    let (mut ok, mut failed, mut panics) = (0, 0, 0);
    let mut scratch = Aligned::zeroed(4608);
    let mut out = [0u8; 10];
    for _ in 0..2000 {
        let mut m = bin.clone();
        for _ in 0..1 + rng.below(3) {
            let w = stream_at + 4 * rng.below(words);
            match rng.below(4) {
                // Another parameter (region, sizes, strides, zero points...).
                0 => {
                    let p = rng.next() as u16;
                    m[w + 2..w + 4].copy_from_slice(&p.to_le_bytes());
                }
                // Another payload / address word.
                1 => {
                    let v = [0u32, 0xFFFF_FFF0, 0x8000_0000, 4096, rng.next() as u32][rng.below(5)];
                    m[w..w + 4].copy_from_slice(&v.to_le_bytes());
                }
                // Another opcode.
                2 => {
                    let op = rng.below(0x200) as u16 | (rng.below(2) as u16) << 14;
                    m[w..w + 2].copy_from_slice(&op.to_le_bytes());
                }
                _ => m[w + rng.below(4)] ^= 1 << rng.below(8),
            }
        }
        let blob = Aligned::new(&m);
        let Ok(parsed) = VelaBlob::parse(blob.bytes()) else {
            failed += 1;
            continue;
        };
        // A small work budget keeps absurd (but valid) shapes fast; exceeding it is an error.
        let mut sim = SimConfig::ethos_u55(128).unwrap();
        sim.max_work = 1 << 22;
        let mut backend = EthosUBackend::new(
            Driver::new(NpuModel::new(sim), DriverConfig::default()),
            scratch.bytes_mut(),
            &mut [],
        );
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            backend
                .write_input(&parsed, 0, input)
                .and_then(|()| backend.run(&parsed))
                .and_then(|()| backend.read_output(&parsed, 0, &mut out))
        }));
        match r {
            Ok(Ok(())) => ok += 1,
            Ok(Err(_)) => failed += 1,
            Err(_) => panics += 1,
        }
    }
    // Both outcomes occur: harmless mutations run, the rest are reported.
    assert_eq!(
        panics, 0,
        "the NPU model panicked on {panics} mutated streams (ok {ok}, errors {failed})"
    );
    assert!(ok > 0 && failed > 300, "ok {ok}, failed {failed}");
}
