//! The Ethos-U command-stream decoder against Vela's own listing: the command
//! stream of `kws_dscnn_u55-128_vela.tflite` decodes to exactly the 613
//! commands Vela 5.2.0 printed with `--verbose-register-command-stream`
//! (`tests/fixtures/vela/kws_dscnn_u55_128_cmdstream.txt`), line by line:
//! offset, raw words, name, parameter and every decoded field.

use kiln_compiler::import::tflite::read_vela_custom_ops;
use kiln_rt::ethos_u::cmd::{CmdError, CommandIter};
use std::path::{Path, PathBuf};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// The register command stream words of the first `ethos-u` operator (after the 32-byte COP1 header).
fn kws_stream() -> Vec<u8> {
    let path = fixture("vela/kws_dscnn_u55-128_vela.tflite");
    let bytes = std::fs::read(&path).unwrap();
    let m = read_vela_custom_ops(&path, &bytes).unwrap();
    let op = m.npu_ops().next().expect("one ethos-u operator");
    let payload = m.bytes(op.command_stream);
    assert_eq!(&payload[..4], b"COP1");
    // Header: fourcc, config action + CONFIG + ID, 3 NOPs, command-stream tag.
    let tag = u32::from_le_bytes(payload[28..32].try_into().unwrap());
    assert_eq!(tag & 0xFF, 0x02, "command stream action");
    let words = ((tag >> 16) & 0xFFFF) | (((tag >> 8) & 0xFF) << 16);
    assert_eq!(payload.len(), 32 + 4 * words as usize);
    payload[32..].to_vec()
}

#[test]
fn kws_stream_matches_vela_listing_line_by_line() {
    let stream = kws_stream();
    let listing = std::fs::read_to_string(fixture("vela/kws_dscnn_u55_128_cmdstream.txt")).unwrap();
    let expected: Vec<&str> = listing.lines().filter(|l| l.starts_with("0x")).collect();
    assert_eq!(expected.len(), 613);
    let got: Vec<String> = CommandIter::from_bytes(&stream)
        .map(|c| c.map(|c| c.listing().to_string()))
        .collect::<Result<_, CmdError>>()
        .unwrap();
    assert_eq!(got.len(), expected.len());
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "command {i}");
    }
}

#[test]
fn truncated_kws_stream_is_an_error() {
    let stream = kws_stream();
    // Cut inside the second command (a cmd1: NPU_SET_DMA0_SRC at byte 4).
    let r: Vec<_> = CommandIter::from_bytes(&stream[..8]).collect();
    assert_eq!(r.last(), Some(&Err(CmdError::Truncated { offset: 4 })));
    // Every prefix decodes to commands then at most one error, never a panic.
    for n in 0..stream.len().min(400) {
        let errors = CommandIter::from_bytes(&stream[..n])
            .filter(|c| c.is_err())
            .count();
        assert!(errors <= 1);
    }
}
