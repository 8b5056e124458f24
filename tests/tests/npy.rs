//! `.npy` reading against files written by numpy (the fixtures' goldens).

use kiln_compiler::npy::{NpyArray, NpyDType};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn npy_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            npy_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "npy") {
            out.push(path);
        }
    }
}

/// Every fixture parses, and writing it back reproduces numpy's bytes exactly.
#[test]
fn every_fixture_parses_and_round_trips_byte_for_byte() {
    let mut files = Vec::new();
    npy_files(&fixtures(), &mut files);
    assert!(
        files.len() >= 200,
        "expected the ~212 fixture .npy files, found {}",
        files.len()
    );
    for path in &files {
        let bytes = std::fs::read(path).expect("fixture is readable");
        let array = NpyArray::parse(path, &bytes).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(array.dtype, NpyDType::I8 | NpyDType::F32),
            "{}: {:?}",
            path.display(),
            array.dtype
        );
        assert_eq!(array.data.len(), array.num_elements() * array.dtype.size());
        assert!(
            array.to_bytes() == bytes,
            "{}: to_bytes differs from numpy's file",
            path.display()
        );
    }
}

/// Values checked by hand with `numpy.load`.
#[test]
fn kws_goldens_have_the_numpy_values() {
    let dir = fixtures().join("kws_dscnn/ref");
    let input = NpyArray::read(dir.join("tflm_int8/input_0.npy")).unwrap();
    assert_eq!(input.shape, vec![1, 49, 10, 1]);
    let v = input.to_i8().unwrap();
    assert_eq!((&v[..4], v[v.len() - 1]), (&[76i8, 77, 85, 83][..], 85));

    let output = NpyArray::read(dir.join("tflm_int8/output_0.npy")).unwrap();
    assert_eq!(output.shape, vec![1, 12]);
    assert_eq!(output.to_i8().unwrap()[..4], [-128i8; 4]);

    let input_f = NpyArray::read(dir.join("onnx_f32/input_0.npy")).unwrap();
    assert_eq!(input_f.shape, vec![1, 1, 49, 10]);
    let f = input_f.to_f32().unwrap();
    assert_eq!(f[..4], [-4.092_920_3_f32, -3.508_217_3, 1.169_405_8, 0.0]);
    assert!(input_f.to_i8().is_err());
}
