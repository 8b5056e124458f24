//! Executor tests on the real ExecuTorch files: the portable program run with
//! small reference kernels written here must reproduce ExecuTorch's own output;
//! the int8-IO program runs through a fake backend; hostile files never panic.

use super::*;
use crate::pte::tests::{fixture, Aligned, FILES};
use crate::pte::Tag;
use std::vec::Vec;

/// Reads a little-endian f32/i8 `.npy` fixture (version 1 header).
fn npy(name: &str) -> Vec<u8> {
    let path = std::format!(
        "{}/../tests/fixtures/executorch/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let b = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(&b[..6], b"\x93NUMPY");
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    b[10 + hlen..].to_vec()
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

// --- small reference kernels for conv_pool_fc (NCHW, contiguous) ----------

fn conv(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    // [x, w, b, stride, padding, dilation, transposed, output_padding, groups, out, out]
    let stride = ctx.int_list(3)?.to_usize_array::<2>()?;
    let pad = ctx.int_list(4)?.to_usize_array::<2>()?;
    let dil = ctx.int_list(5)?.to_usize_array::<2>()?;
    assert_eq!((stride, pad, dil), ([1, 1], [1, 1], [1, 1]));
    assert!(!ctx.bool(6)?);
    assert_eq!(ctx.int(8)?, 1);
    let ([x, w, b], mut y) = ctx.io([0, 1, 2], 9)?;
    let (c, h, wd) = (x.dim(1)?, x.dim(2)?, x.dim(3)?);
    let (o, kh, kw) = (w.dim(0)?, w.dim(2)?, w.dim(3)?);
    let (xs, ws, bs) = (x.as_f32()?, w.as_f32()?, b.as_f32()?);
    let ys = y.as_f32_mut()?;
    for oc in 0..o {
        for oy in 0..h {
            for ox in 0..wd {
                let mut acc = bs[oc];
                for ic in 0..c {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = oy as isize + ky as isize - 1;
                            let ix = ox as isize + kx as isize - 1;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                continue;
                            }
                            acc += xs[(ic * h + iy as usize) * wd + ix as usize]
                                * ws[((oc * c + ic) * kh + ky) * kw + kx];
                        }
                    }
                }
                ys[(oc * h + oy) * wd + ox] = acc;
            }
        }
    }
    Ok(())
}

fn relu(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let ([x], mut y) = ctx.io([0], 1)?;
    for (o, i) in y.as_f32_mut()?.iter_mut().zip(x.as_f32()?) {
        *o = i.max(0.0);
    }
    Ok(())
}

fn maxpool(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    // [x, kernel, stride, padding, dilation, ceil_mode, out, indices, TensorList]
    assert_eq!(ctx.int_list(1)?.to_usize_array::<2>()?, [2, 2]);
    assert_eq!(ctx.tag(8)?, Tag::TensorList);
    let ([x], [mut y, mut idx]) = ctx.io_n([0], [6, 7])?;
    let (c, h, w) = (x.dim(1)?, x.dim(2)?, x.dim(3)?);
    let xs = x.as_f32()?;
    let ys = y.as_f32_mut()?;
    let is = idx.as_i64_mut()?;
    for ch in 0..c {
        for oy in 0..h / 2 {
            for ox in 0..w / 2 {
                let mut best = (f32::NEG_INFINITY, 0usize);
                for ky in 0..2 {
                    for kx in 0..2 {
                        let p = (oy * 2 + ky) * w + ox * 2 + kx;
                        if xs[ch * h * w + p] > best.0 {
                            best = (xs[ch * h * w + p], p);
                        }
                    }
                }
                let o = (ch * (h / 2) + oy) * (w / 2) + ox;
                ys[o] = best.0;
                is[o] = best.1 as i64;
            }
        }
    }
    Ok(())
}

fn permute(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    assert_eq!(ctx.int_list(1)?.to_array::<2>()?, [1, 0]);
    let ([x], mut y) = ctx.io([0], 2)?;
    let (r, c) = (x.dim(0)?, x.dim(1)?);
    let xs = x.as_f32()?;
    let ys = y.as_f32_mut()?;
    for i in 0..r {
        for j in 0..c {
            ys[j * r + i] = xs[i * c + j];
        }
    }
    Ok(())
}

fn addmm(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let (beta, alpha) = (ctx.double(3)? as f32, ctx.double(4)? as f32);
    let ([bias, a, b], mut y) = ctx.io([0, 1, 2], 5)?;
    let (m, k, n) = (a.dim(0)?, a.dim(1)?, b.dim(1)?);
    let (bs, as_, bm) = (bias.as_f32()?, a.as_f32()?, b.as_f32()?);
    let ys = y.as_f32_mut()?;
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for t in 0..k {
                acc += as_[i * k + t] * bm[t * n + j];
            }
            ys[i * n + j] = beta * bs[j] + alpha * acc;
        }
    }
    Ok(())
}

const PORTABLE: &[KernelEntry] = &[
    KernelEntry {
        op: OpKind::AtenConvolution,
        run: conv,
    },
    KernelEntry {
        op: OpKind::AtenRelu,
        run: relu,
    },
    KernelEntry {
        op: OpKind::AtenMaxPool2dWithIndices,
        run: maxpool,
    },
    KernelEntry {
        op: OpKind::AtenPermuteCopy,
        run: permute,
    },
    KernelEntry {
        op: OpKind::AtenAddmm,
        run: addmm,
    },
];

#[test]
fn portable_program_matches_executorch_output() {
    let f = fixture("conv_pool_fc_portable.pte");
    let p = Program::load(f.bytes()).unwrap();
    assert_eq!(Method::arena_size(&p, "forward").unwrap(), 22576);
    let mut mem = Aligned::new(&[0u8; 22576]);
    let mut m = Method::load(&p, "forward", PORTABLE, mem.bytes_mut()).unwrap();
    assert_eq!((m.inputs(), m.outputs()), (1, 1));
    let inp = m.input(0).unwrap();
    assert_eq!(
        (inp.scalar_type, &*inp.sizes),
        (crate::pte::ScalarType::Float, &[1usize, 1, 16, 16][..])
    );
    for k in 0..4 {
        let x = npy(&std::format!("conv_pool_fc_input{k}.npy"));
        assert!(matches!(
            m.set_input(0, &x[1..]),
            Err(RtError::InputSize {
                expected: 1024,
                got: 1023,
                ..
            })
        ));
        m.set_input(0, &x).unwrap();
        m.execute().unwrap();
        let want = f32s(&npy(&std::format!("conv_pool_fc_portable_out{k}.npy")));
        let got = m.output_as::<f32>(0).unwrap();
        assert_eq!(got.len(), 10);
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                "input {k}: {got:?} vs {want:?}"
            );
        }
        assert_eq!(m.output_tensor(0).unwrap().sizes.len(), 2);
    }
    assert!(m.output(1).is_err());
}

/// The firmware's trace: one entry per instruction with the clock's ticks, the array never
/// overrun, a wrapping 32-bit counter measured right, and the same outputs as without it.
#[test]
fn cycle_trace_records_every_instruction_without_changing_results() {
    let f = fixture("conv_pool_fc_portable.pte");
    let p = Program::load(f.bytes()).unwrap();
    let mut mem = Aligned::new(&[0u8; 22576]);
    let mut m = Method::load(&p, "forward", PORTABLE, mem.bytes_mut()).unwrap();
    m.set_input(0, &npy("conv_pool_fc_input0.npy")).unwrap();
    m.execute().unwrap();
    let want: std::vec::Vec<f32> = m.output_as::<f32>(0).unwrap().to_vec();
    // A counter 3 ticks below the wrap that advances 5 per read: every instruction is 5 ticks.
    let mut t = u32::MAX - 3;
    let mut trace = CycleTrace::<_, 8>::new(|| {
        t = t.wrapping_add(5);
        t
    });
    // The plan reuses the input's bytes once it is consumed: set it again.
    m.set_input(0, &npy("conv_pool_fc_input0.npy")).unwrap();
    m.execute_observed(&mut [], &mut trace).unwrap();
    assert_eq!(m.output_as::<f32>(0).unwrap(), &want[..]);
    let e = trace.entries();
    assert_eq!(e.len(), 5);
    assert!(e
        .iter()
        .enumerate()
        .all(|(i, x)| x.instruction == i as u32 && x.ticks == 5 && x.ok));
    assert_eq!((trace.total(), trace.dropped()), (25, 0));
    // A full array counts the rest.
    let mut small = CycleTrace::<_, 2>::new(|| 0);
    m.execute_observed(&mut [], &mut small).unwrap();
    assert_eq!((small.entries().len(), small.dropped()), (2, 3));
    small.clear();
    assert_eq!((small.entries().len(), small.dropped()), (0, 0));
}

#[test]
fn load_errors_name_the_problem() {
    let f = fixture("conv_pool_fc_portable.pte");
    let p = Program::load(f.bytes()).unwrap();
    let mut mem = Aligned::new(&[0u8; 22576 + 16]);
    // Missing kernel: the error names the operator.
    let e = Method::load(&p, "forward", &PORTABLE[..4], mem.bytes_mut())
        .err()
        .unwrap();
    assert_eq!(
        std::string::ToString::to_string(&e),
        "operator 4 (aten::addmm.out) has no kernel in the kernel table"
    );
    // Too small.
    let e = Method::load(&p, "forward", PORTABLE, &mut mem.bytes_mut()[..22575])
        .err()
        .unwrap();
    assert_eq!(
        e,
        RtError::ArenaTooSmall {
            needed: 22576,
            provided: 22575
        }
    );
    // Misaligned.
    let e = Method::load(&p, "forward", PORTABLE, &mut mem.bytes_mut()[1..22577])
        .err()
        .unwrap();
    assert_eq!(e, RtError::ArenaMisaligned);
    assert!(matches!(
        Method::load(&p, "nope", PORTABLE, mem.bytes_mut()),
        Err(RtError::PlanNotFound { .. })
    ));
}

fn conv_aliasing(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    // args[9] and args[10] are the same value: as input and output they alias.
    let e = ctx.io([9], 10).err();
    assert_eq!(
        e,
        Some(RtError::OutputAliasesInput {
            op: OpKind::AtenConvolution,
            value: 5
        })
    );
    // Writing a constant is refused; asking for a non-tensor as tensor is a typed error.
    assert!(matches!(
        ctx.tensor_mut(1),
        Err(RtError::TensorView { value: 0, .. })
    ));
    assert!(matches!(
        ctx.tensor(3),
        Err(RtError::WrongValueType {
            value: 8,
            expected: "Tensor",
            found: 7
        })
    ));
    assert!(matches!(
        ctx.int(0),
        Err(RtError::WrongValueType {
            expected: "Int",
            ..
        })
    ));
    assert!(matches!(
        ctx.int(11),
        Err(RtError::ArgOutOfRange {
            arg: 11,
            len: 11,
            ..
        })
    ));
    assert_eq!(ctx.double(8)?, 1.0, "Int accepted as Double");
    let mut a = [0i64; 1];
    assert!(ctx.int_list(3)?.read_into(&mut a).is_err());
    assert!(ctx.int_list(3)?.to_array::<3>().is_err());
    assert!(ctx.is_null(2).ok() == Some(false));
    Err(ctx.fail("stop here"))
}

#[test]
fn kernel_ctx_refuses_aliasing_and_wrong_types() {
    let f = fixture("conv_pool_fc_portable.pte");
    let p = Program::load(f.bytes()).unwrap();
    let mut mem = Aligned::new(&[0u8; 22576]);
    let mut table = PORTABLE.to_vec();
    table[0].run = conv_aliasing;
    let mut m = Method::load(&p, "forward", &table, mem.bytes_mut()).unwrap();
    let e = m.execute().err().unwrap();
    assert_eq!(
        e,
        RtError::Kernel {
            op: OpKind::AtenConvolution,
            what: "stop here"
        }
    );
    assert_eq!(m.failed_instruction(), Some(0));
}

/// Copies input 0 to output 0 through an int8 "NPU" that adds 1, and checks the blob.
struct FakeNpu {
    calls: usize,
    blob_len: usize,
}

impl Backend for FakeNpu {
    fn id(&self) -> &str {
        "EthosUBackend"
    }
    fn execute(&mut self, blob: &[u8], args: &mut DelegateArgs<'_>) -> Result<(), RtError> {
        self.calls += 1;
        self.blob_len = blob.len();
        if args.compile_spec("output_format")? != Some(&b"vela"[..]) {
            return Err(RtError::Backend {
                what: "not a vela blob",
            });
        }
        let mut first = [0i8; 1];
        first[0] = args.tensor(0)?.as_i8()?[0];
        let ([x], [mut y]) = args.io([0], [1])?;
        for (o, i) in y.as_i8_mut()?.iter_mut().zip(x.as_i8()?) {
            *o = i.wrapping_add(1);
        }
        assert_eq!(first[0], x.as_i8()?[0]);
        Ok(())
    }
}

struct OtherBackend;
impl Backend for OtherBackend {
    fn id(&self) -> &str {
        "XnnpackBackend"
    }
    fn execute(&mut self, _: &[u8], _: &mut DelegateArgs<'_>) -> Result<(), RtError> {
        Err(RtError::Backend {
            what: "wrong backend called",
        })
    }
}

#[test]
fn int8io_program_runs_through_a_backend() {
    let f = fixture("conv_pool_fc_u55_128_int8io.pte");
    let p = Program::load(f.bytes()).unwrap();
    let mut mem = Aligned::new(&[0u8; 272]);
    let mut m = Method::load(&p, "forward", &[], mem.bytes_mut()).unwrap();
    let x = npy("conv_pool_fc_u55_in_int8_0.npy");
    assert_eq!(x.len(), 256);
    m.set_input(0, &x).unwrap();
    assert!(matches!(m.execute(), Err(RtError::NoBackend { .. })));
    let mut npu = FakeNpu {
        calls: 0,
        blob_len: 0,
    };
    let mut other = OtherBackend;
    m.execute_with(&mut [&mut other, &mut npu]).unwrap();
    assert_eq!((npu.calls, npu.blob_len), (1, 7920));
    // The output overlaps nothing: [1, 10] int8 at offset 256.
    let out = m.output_as::<i8>(0).unwrap();
    for k in 0..10 {
        assert_eq!(out[k], (x[k] as i8).wrapping_add(1));
    }
    let mut zp = Aligned::new(&[]);
    let q = Method::load(&p, "output0_zp", &[], zp.bytes_mut()).unwrap();
    assert_eq!(q.outputs(), 1);
    assert!(matches!(
        q.output_value(0).unwrap(),
        crate::pte::Value::Int(23)
    ));
    assert!(q.output(0).is_err(), "not a tensor");
}

// --- robustness: hostile files never panic -------------------------------

/// Touches every argument through the typed accessors; errors are fine, panics are not.
fn poke(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let n = ctx.args_len();
    for i in 0..n {
        let _ = ctx.int(i);
        let _ = ctx.double(i);
        let _ = ctx.bool(i);
        let _ = ctx.opt_int(i);
        if let Ok(l) = ctx.int_list(i) {
            let mut buf = [0i64; 8];
            let _ = l.read_into(&mut buf);
            let _ = l.to_usize_array::<2>();
        }
        if let Ok(t) = ctx.tensor(i) {
            let _ = (t.as_f32(), t.as_i8(), t.as_i64(), t.strides(), t.numel());
        }
        let _ = ctx.tensor_list(i).map(|l| l.len());
    }
    if n >= 2 {
        if let Ok((_, o)) = ctx.io([0], n - 2) {
            o.data.fill(1);
        }
        if let Ok((_, o)) = ctx.io_list(0, n - 2) {
            o.data.fill(2);
        }
        let _ = ctx.io_n([0, 1], [n - 2, n - 1]);
    }
    Ok(())
}

struct Echo;
impl Backend for Echo {
    fn id(&self) -> &str {
        "EthosUBackend"
    }
    fn execute(&mut self, _: &[u8], args: &mut DelegateArgs<'_>) -> Result<(), RtError> {
        let n = args.args_len();
        for i in 0..n {
            let _ = args.tensor(i).map(|t| t.data.len());
        }
        if n >= 2 {
            let ([x], [y]) = args.io([0], [n - 1])?;
            let k = x.data.len().min(y.data.len());
            y.data[..k].copy_from_slice(&x.data[..k]);
        }
        Ok(())
    }
}

fn all_poke() -> Vec<KernelEntry> {
    OpKind::ALL
        .iter()
        .map(|&op| KernelEntry { op, run: poke })
        .collect()
}

/// Loads and runs everything a hostile file offers; must return, never panic.
/// Returns how many methods were executed (so the test can check it is not vacuous).
fn exercise(bytes: &[u8], table: &[KernelEntry], mem: &mut [u8]) -> usize {
    let mut ran = 0;
    let Ok(p) = Program::load(bytes) else {
        return 0;
    };
    let _ = p.version();
    for i in 0..p.plan_count().unwrap_or(0).min(16) {
        let Ok(plan) = p.plan(i) else { continue };
        let _ = plan.name();
        for v in 0..plan.value_count().unwrap_or(0).min(64) {
            let _ = plan.value(v);
        }
        for k in 0..plan.delegate_count().unwrap_or(0) {
            if let Ok(d) = plan.delegate(k) {
                let _ = p.delegate_data(d.location, d.index);
                let _ = d.compile_spec_value("target");
            }
        }
        let Ok(name) = plan.name() else { continue };
        if let Ok(mut m) = Method::load(&p, name, table, mem) {
            for k in 0..m.inputs() {
                let _ = m.input_mut(k).map(|t| t.data.fill(3));
            }
            let _ = m.execute_with(&mut [&mut Echo]);
            ran += 1;
            for k in 0..m.outputs() {
                let _ = m.output(k);
                let _ = m.output_value(k);
            }
        }
    }
    ran
}

#[test]
fn mutated_and_truncated_files_never_panic() {
    let table = all_poke();
    let mut mem = Aligned::new(&std::vec![0u8; 1 << 16]);
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for name in FILES {
        let orig = fixture(name);
        let len = orig.bytes().len();
        // Every truncation (parse only beyond the flatbuffer part: segments are data).
        for n in 0..len {
            exercise(&orig.bytes()[..n], &table, mem.bytes_mut());
        }
        // Seeded byte mutations, 1-4 bytes at a time, biased to the flatbuffer part.
        let fb_len = Program::load(orig.bytes())
            .ok()
            .and_then(|p| p.extended_header())
            .map_or(len, |h| h.program_size as usize);
        let mut f = Aligned::new(orig.bytes());
        let mut ran = 0;
        for _ in 0..3000 {
            f.bytes_mut().copy_from_slice(orig.bytes());
            for _ in 0..1 + next() % 4 {
                let pos = if next() % 8 == 0 {
                    next() % len
                } else {
                    next() % fb_len
                };
                let b = &mut f.bytes_mut()[pos];
                *b = match next() % 4 {
                    0 => next() as u8,
                    1 => *b ^ (1 << (next() % 8)),
                    2 => 0xff,
                    _ => 0,
                };
            }
            ran += exercise(f.bytes(), &table, mem.bytes_mut());
        }
        assert!(
            ran > 300,
            "{name}: only {ran} mutated programs got as far as execute"
        );
    }
}
