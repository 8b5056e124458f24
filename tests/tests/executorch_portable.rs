//! The real ExecuTorch portable program (`conv_pool_fc_portable.pte`, exported by upstream
//! ExecuTorch 1.5.1) runs on kiln-rt's f32 kernels and matches ExecuTorch's own outputs.

use kiln_compiler::npy::NpyArray;
use kiln_rt::exec::Method;
use kiln_rt::kernels::f32::KERNELS;
use kiln_rt::pte::Program;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/executorch")
        .join(name)
}

/// A copy of `bytes` starting on a 16-byte boundary (constants are viewed in place as f32).
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

#[test]
fn conv_pool_fc_portable_matches_executorch() {
    let file = std::fs::read(fixture("conv_pool_fc_portable.pte")).expect("fixture .pte");
    let file = Aligned::new(&file);
    let program = Program::load(file.bytes()).expect("program loads");
    let size = Method::arena_size(&program, "forward").expect("arena size");
    let mut arena = Aligned::new(&vec![0u8; size]);
    let mut method =
        Method::load(&program, "forward", KERNELS, arena.bytes_mut()).expect("method loads");
    for k in 0..4 {
        let x = NpyArray::read(fixture(&format!("conv_pool_fc_input{k}.npy"))).expect("input npy");
        let want = NpyArray::read(fixture(&format!("conv_pool_fc_portable_out{k}.npy")))
            .expect("golden npy")
            .to_vec::<f32>()
            .expect("f32 golden");
        method.set_input(0, &x.data).expect("input size");
        method
            .execute()
            .unwrap_or_else(|e| panic!("input {k}: {e}"));
        let got = method.output_as::<f32>(0).expect("f32 output");
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-5,
                "input {k}, logit {i}: kiln {g} vs ExecuTorch {w}"
            );
        }
    }
}
