//! ExecuTorch's Ethos-U delegate blob (`vela_bin_stream`, made by upstream
//! ExecuTorch 1.5.1 + Vela) and its `COP1` driver payload: parsing the real
//! files, listing them, and thousands of seeded mutations and truncations
//! that must give errors — never a panic or a hang.

use kiln_rt::ethos_u::blob::VelaBlob;
use kiln_rt::ethos_u::cmd::CommandIter;
use kiln_rt::ethos_u::disasm::{disassemble, disassemble_payload};
use kiln_rt::ethos_u::payload::{Payload, Product};
use kiln_rt::pte::Program;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/executorch")
        .join(name)
}

/// The bytes of the first `EthosUBackend` delegate of `forward` in a `.pte`.
fn delegate_blob(pte: &[u8]) -> Vec<u8> {
    let program = Program::load(pte).expect("program loads");
    let plan = program.plan_by_name("forward").expect("forward");
    for i in 0..plan.delegate_count().expect("delegates") {
        let d = plan.delegate(i).expect("delegate");
        if d.id == "EthosUBackend" {
            return program
                .delegate_data(d.location, d.index)
                .expect("delegate data")
                .to_vec();
        }
    }
    panic!("no EthosUBackend delegate");
}

#[test]
fn real_blob_parses_as_documented() {
    let bin = std::fs::read(fixture("conv_pool_fc_u55_128.vela.bin")).unwrap();
    let b = VelaBlob::parse(&bin).expect("blob parses");
    // executorch-format.md §5.2: cmd 1120 B, weights 6464 B, scratch 4608 B,
    // input [1,1,1,16,16,1] int8 at scratch+4096, output [1,1,1,1,1,10] at 0.
    assert_eq!(b.cmd_data.len(), 1120);
    assert_eq!(b.weight_data.len(), 6464);
    assert_eq!(b.scratch_size, 4608);
    let i = b.inputs.get(0).unwrap();
    assert_eq!(
        (i.shape, i.elem_size, i.offset, i.region),
        ([1, 1, 1, 16, 16, 1], 1, 4096, 1)
    );
    let o = b.outputs.get(0).unwrap();
    assert_eq!(
        (o.shape, o.elem_size, o.offset, o.region),
        ([1, 1, 1, 1, 1, 10], 1, 0, 1)
    );
    assert_eq!((b.inputs.len(), b.outputs.len()), (1, 1));

    let p = Payload::parse(b.cmd_data).expect("payload parses");
    let c = p.config.expect("optimizer config");
    assert_eq!(c.config.macs_per_cc(), 128);
    assert_eq!(c.config.shram_size_kib(), 24);
    assert_eq!(c.config.product(), Some(Product::EthosU55));
    assert_eq!(
        (
            c.id.arch_major_rev(),
            c.id.arch_minor_rev(),
            c.id.arch_patch_rev()
        ),
        (1, 0, 6)
    );
    assert_eq!(p.command_stream_offset, 32);
    assert_eq!(p.command_words(), 272);
    let commands: Vec<_> = CommandIter::from_bytes(p.command_stream)
        .collect::<Result<_, _>>()
        .expect("every command decodes");
    assert_eq!(commands.last().unwrap().opcode.name(), "NPU_OP_STOP");
}

#[test]
fn pte_files_carry_the_same_blob() {
    let bin = std::fs::read(fixture("conv_pool_fc_u55_128.vela.bin")).unwrap();
    // Inline (float IO and int8 IO) and segment-stored variants.
    for f in [
        "conv_pool_fc_u55_128.pte",
        "conv_pool_fc_u55_128_int8io.pte",
        "conv_pool_fc_u55_128_seg.pte",
    ] {
        let pte = std::fs::read(fixture(f)).unwrap();
        assert_eq!(delegate_blob(&pte), bin, "{f}");
    }
}

#[test]
fn real_blob_disassembles_with_operation_boundaries() {
    let bin = std::fs::read(fixture("conv_pool_fc_u55_128.vela.bin")).unwrap();
    let mut s = String::new();
    disassemble(&bin, &mut s).unwrap();
    assert!(!s.contains("error:"), "{s}");
    let ops: Vec<&str> = s
        .lines()
        .filter(|l| l.starts_with("// ---- end of operation"))
        .collect();
    // Vela: "NPU operators = 5"; the separators also count the weight DMAs.
    let compute = ops.iter().filter(|l| !l.contains("DMA")).count();
    assert!(compute >= 5, "{s}");
    // One line per command + header lines + separators + footer.
    let commands = s.lines().filter(|l| l.starts_with("0x")).count();
    let b = VelaBlob::parse(&bin).unwrap();
    let p = Payload::parse(b.cmd_data).unwrap();
    assert_eq!(commands, CommandIter::from_bytes(p.command_stream).count());
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

/// Flips bytes, writes interesting words, truncates or extends `bytes`.
fn mutate(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut m = bytes.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(5) {
            0 if !m.is_empty() => {
                let i = rng.below(m.len());
                m[i] ^= 1 << rng.below(8);
            }
            1 if m.len() >= 4 => {
                let i = rng.below(m.len() - 3) & !3;
                let w: u32 =
                    [0, 1, 0xFFFF_FFFF, 0x8000_0000, 0x7FFF_FFFF, 16, 0xFFFF][rng.below(7)];
                m[i..i + 4].copy_from_slice(&w.to_le_bytes());
            }
            2 => m.truncate(rng.below(m.len() + 1)),
            3 => m.extend(std::iter::repeat_n(rng.next() as u8, rng.below(40))),
            _ if !m.is_empty() => {
                let i = rng.below(m.len());
                m[i] = rng.next() as u8;
            }
            _ => {}
        }
    }
    m
}

#[test]
fn mutated_blobs_payloads_and_streams_give_errors_not_panics() {
    let bin = std::fs::read(fixture("conv_pool_fc_u55_128.vela.bin")).unwrap();
    let b = VelaBlob::parse(&bin).unwrap();
    let cmd = b.cmd_data.to_vec();
    let stream = Payload::parse(&cmd).unwrap().command_stream.to_vec();
    let mut rng = Rng(0x5EED_0004);
    let mut rejected = [0usize; 3];
    let mut listing = String::new();
    for round in 0..3000 {
        // Blob level: header fields, sizes, names, I/O entries.
        let m = mutate(&mut rng, &bin);
        if VelaBlob::parse(&m).is_err() {
            rejected[0] += 1;
        }
        listing.clear();
        disassemble(&m, &mut listing).unwrap();
        // Payload level: tags, lengths, alignment.
        let m = mutate(&mut rng, &cmd);
        if Payload::parse(&m).is_err() {
            rejected[1] += 1;
        }
        listing.clear();
        disassemble_payload(&m, &mut listing).unwrap();
        // Command stream level: the decoder ends (at most one step per word).
        let m = mutate(&mut rng, &stream);
        let mut steps = 0usize;
        for c in CommandIter::from_bytes(&m) {
            steps += 1;
            assert!(
                steps <= m.len() / 4 + 1,
                "round {round}: decoder does not advance"
            );
            if c.is_err() {
                rejected[2] += 1;
            }
        }
    }
    // Every truncation of the blob is an error.
    for n in 0..bin.len() {
        assert!(
            VelaBlob::parse(&bin[..n]).is_err(),
            "blob truncated to {n} bytes parsed"
        );
    }
    for n in 0..cmd.len() {
        assert!(
            Payload::parse(&cmd[..n]).is_err(),
            "payload truncated to {n} bytes parsed"
        );
    }
    // Most mutations are caught at the framing level (the rest change data only).
    assert!(rejected[0] > 1000, "{rejected:?}");
    assert!(rejected[1] > 300, "{rejected:?}");
}
