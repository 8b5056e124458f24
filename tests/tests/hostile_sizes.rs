//! Every size a `.pte` declares is checked before the host allocates it: an arena of i64::MAX
//! or 73 GB, an NPU scratch of 0xffffffff, an arena far beyond what its tensors reach are typed
//! errors naming the field (never a panic, an abort or gigabytes allocated), and `kiln
//! inspect`'s reader refuses the same files. The fixtures' own files pass the same checks.

use kiln_compiler::compile::{compile_file, CompileOptions};
use kiln_compiler::run::{check_memory, HostModel, RunError, HOST_MEMORY_LIMIT};
use kiln_compiler::target::Target;
use kiln_rt::exec::Method;
use kiln_rt::pte::Program;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn compiled(model: &str, file: &str, target: &str) -> Vec<u8> {
    let opts = CompileOptions::for_target(Target::lookup(target).expect("target"));
    compile_file(&fixtures().join(model).join(file), &opts)
        .unwrap_or_else(|e| panic!("{model}/{file}: {e}"))
        .pte
}

/// Every `.pte` the tests have: kiln's (CPU and NPU, from TFLite and ONNX, Vela) and upstream
/// ExecuTorch's.
fn all_ptes() -> Vec<(String, Vec<u8>)> {
    let mut v = vec![
        (
            "kws host".into(),
            compiled("kws_dscnn", "kws_dscnn_int8.tflite", "host"),
        ),
        (
            "kws u55".into(),
            compiled("kws_dscnn", "kws_dscnn_int8.tflite", "ethos-u55-128"),
        ),
        (
            "ic u65".into(),
            compiled("ic_resnet8", "ic_resnet8_int8.tflite", "ethos-u65-256"),
        ),
        (
            "resnet f32".into(),
            compiled("synth_ii_residual", "synth_ii_residual_f32.onnx", "host"),
        ),
        (
            "vela".into(),
            kiln_compiler::compile::compile_file(
                &fixtures().join("vela/kws_dscnn_u55-128_vela.tflite"),
                &CompileOptions::for_target(Target::lookup("ethos-u55-128").unwrap()),
            )
            .expect("vela")
            .pte,
        ),
    ];
    for e in std::fs::read_dir(fixtures().join("executorch")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "pte") {
            v.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    v
}

fn aligned(bytes: &[u8]) -> kiln_compiler::run::AlignedBytes {
    kiln_compiler::run::AlignedBytes::copy_of(bytes)
}

#[test]
fn every_fixture_program_passes_the_checks() {
    for (name, pte) in all_ptes() {
        let a = aligned(&pte);
        let program = Program::load(a.as_slice()).unwrap();
        let u = Method::arena_use(&program, "forward").unwrap();
        let m = check_memory(&program).unwrap_or_else(|e| panic!("{name}: {e}"));
        println!(
            "{name}: declared {:?} used {:?} scratch {} fast {}",
            &u.declared[..u.count],
            &u.used[..u.count],
            m.scratch,
            m.fast_scratch
        );
        assert_eq!(m.arena, u.total);
        HostModel::new(&pte).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// Where `needle` is in `hay`, asserting it is there exactly once.
fn find_once(hay: &[u8], needle: &[u8], what: &str) -> usize {
    let hits: Vec<usize> = hay
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "{what}: {} matches", hits.len());
    hits[0]
}

/// `pte` with `non_const_buffer_sizes` `[0, old]` changed to `[0, new]` (the flatbuffer vector
/// found by its bytes: length 2, then the two i64s).
fn with_arena(pte: &[u8], new: i64) -> Vec<u8> {
    let a = aligned(pte);
    let old = Method::arena_size(&Program::load(a.as_slice()).unwrap(), "forward").unwrap();
    let mut needle = 2u32.to_le_bytes().to_vec();
    needle.extend_from_slice(&0i64.to_le_bytes());
    needle.extend_from_slice(&(old as i64).to_le_bytes());
    let at = find_once(pte, &needle, "non_const_buffer_sizes") + 12;
    let mut v = pte.to_vec();
    v[at..at + 8].copy_from_slice(&new.to_le_bytes());
    v
}

/// `pte` with its (one) Vela blob's `scratch_size` set to `new`.
fn with_scratch(pte: &[u8], new: u32) -> Vec<u8> {
    let name = *b"scratch_size\0\0\0\0";
    let at = find_once(pte, &name, "scratch_size block") + 32;
    let mut v = pte.to_vec();
    v[at..at + 4].copy_from_slice(&new.to_le_bytes());
    v
}

/// `bytes` is refused by the checks, by the host runner, with an error naming `field`.
fn refused(bytes: &[u8], field: &str) -> RunError {
    let a = aligned(bytes);
    let program = Program::load(a.as_slice()).expect("the reader accepts the patched file");
    let e = check_memory(&program).expect_err("must be refused");
    assert!(e.to_string().contains(field), "{e}");
    let e2 = HostModel::new(bytes)
        .err()
        .expect("the host runner refuses it too");
    assert_eq!(e.to_string(), e2.to_string());
    e
}

#[test]
fn arena_of_i64_max_is_too_large() {
    let pte = compiled("kws_dscnn", "kws_dscnn_int8.tflite", "host");
    let e = refused(
        &with_arena(&pte, i64::MAX),
        "ExecutionPlan.non_const_buffer_sizes[1]",
    );
    assert!(
        matches!(e, RunError::TooLarge { index: 1, declared, limit, .. }
            if declared == i64::MAX as u64 && limit == HOST_MEMORY_LIMIT),
        "{e:?}"
    );
    let e = refused(
        &with_arena(&pte, -1),
        "ExecutionPlan.non_const_buffer_sizes",
    );
    assert!(matches!(e, RunError::Runtime(_)), "{e:?}");
}

#[test]
fn upstream_ethos_u_program_asking_for_73_gb_is_too_large() {
    let pte = std::fs::read(fixtures().join("executorch/conv_pool_fc_u55_128.pte")).unwrap();
    let e = refused(
        &with_arena(&pte, 73_000_000_000),
        "non_const_buffer_sizes[1] declares 73000000000 bytes",
    );
    assert!(matches!(e, RunError::TooLarge { .. }), "{e:?}");
}

#[test]
fn arena_far_beyond_its_tensors_is_corrupt() {
    // Within the host limit, but 1 MiB past the 16,000 bytes the tensors reach.
    let pte = compiled("kws_dscnn", "kws_dscnn_int8.tflite", "host");
    let e = refused(
        &with_arena(&pte, 16_000 + (1 << 20)),
        "tensors reach no further than (16000 bytes)",
    );
    assert!(
        matches!(
            e,
            RunError::SizeMismatch {
                index: 1,
                content: 16000,
                ..
            }
        ),
        "{e:?}"
    );
    // A little spare room is what planners leave: accepted.
    let a = aligned(&with_arena(&pte, 16_000 + 4096));
    check_memory(&Program::load(a.as_slice()).unwrap()).unwrap();
}

#[test]
fn vela_scratch_size_of_0xffffffff_is_too_large() {
    for (name, pte) in [
        (
            "vela",
            compile_file(
                &fixtures().join("vela/kws_dscnn_u55-128_vela.tflite"),
                &CompileOptions::for_target(Target::lookup("ethos-u55-128").unwrap()),
            )
            .unwrap()
            .pte,
        ),
        (
            "upstream",
            std::fs::read(fixtures().join("executorch/conv_pool_fc_u55_128.pte")).unwrap(),
        ),
    ] {
        let e = refused(
            &with_scratch(&pte, 0xffff_ffff),
            "vela_bin_stream.scratch_size[0] declares 4294967295 bytes",
        );
        assert!(matches!(e, RunError::TooLarge { .. }), "{name}: {e:?}");
        // Just over the limit is refused; the limit itself is the arena's and scratch's sum.
        let e = refused(
            &with_scratch(&pte, HOST_MEMORY_LIMIT as u32),
            "arena + NPU scratch + fast scratch",
        );
        assert!(matches!(e, RunError::TooLarge { .. }), "{name}: {e:?}");
    }
}

#[test]
fn dev_zero_is_refused_promptly() {
    let t = std::time::Instant::now();
    let e = kiln_compiler::npy::NpyArray::read("/dev/zero").unwrap_err();
    assert!(e.to_string().contains("/dev/zero: more than"), "{e}");
    let e = compile_file(Path::new("/dev/zero"), &CompileOptions::default()).unwrap_err();
    assert!(e.to_string().contains("MAX_FILE_BYTES"), "{e}");
    assert!(t.elapsed().as_secs() < 10, "{:?}", t.elapsed());
}
