//! Human-readable listings of Ethos-U delegate blobs and command streams, for
//! `kiln inspect`: one line per command in the columns of Vela's
//! `--verbose-register-command-stream` listing, with a separator line after
//! each operation (`NPU_OP_CONV`, `NPU_OP_DEPTHWISE`, `NPU_OP_POOL`,
//! `NPU_OP_ELEMENTWISE`, `NPU_OP_DMA_START`). Malformed input is reported in
//! the listing (`error: ...`), never a panic. No allocation.

use super::blob::VelaBlob;
use super::cmd::{CmdError, CommandIter};
use super::payload::{Payload, Product};
use core::fmt::{self, Write};

/// Operations after which a separator is printed.
const OPERATIONS: [&str; 5] = [
    "NPU_OP_CONV",
    "NPU_OP_DEPTHWISE",
    "NPU_OP_POOL",
    "NPU_OP_ELEMENTWISE",
    "NPU_OP_DMA_START",
];

/// Lists a `vela_bin_stream` delegate blob: its blocks, I/O, the driver payload and every command.
pub fn disassemble(blob: &[u8], out: &mut impl Write) -> fmt::Result {
    let b = match VelaBlob::parse(blob) {
        Ok(b) => b,
        Err(e) => return writeln!(out, "error: {e}"),
    };
    writeln!(
        out,
        "vela_bin_stream: cmd_data {} B, weight_data {} B, scratch {} B",
        b.cmd_data.len(),
        b.weight_data.len(),
        b.scratch_size
    )?;
    for (name, list) in [("input", b.inputs), ("output", b.outputs)] {
        for (i, io) in list.iter().enumerate() {
            writeln!(
                out,
                "  {name} {i}: shape {:?}, {} B/element, region {} + {:#x}",
                io.shape, io.elem_size, io.region, io.offset
            )?;
        }
    }
    disassemble_payload(b.cmd_data, out)
}

/// Lists a `COP1` driver payload (`cmd_data`, or the `ethos-u` custom operator's command stream tensor).
pub fn disassemble_payload(payload: &[u8], out: &mut impl Write) -> fmt::Result {
    let p = match Payload::parse(payload) {
        Ok(p) => p,
        Err(e) => return writeln!(out, "error: {e}"),
    };
    if let Some(c) = p.config {
        let product = match c.config.product() {
            Some(Product::EthosU55) => "Ethos-U55",
            Some(Product::EthosU65) => "Ethos-U65",
            None => "Ethos-U (unknown product)",
        };
        writeln!(
            out,
            "driver payload COP1 (optimizer {}.{}): {product}, {} MACs/cycle, {} KiB SHRAM, \
             command stream v{}, architecture {}.{}.{}",
            c.release,
            c.patch,
            c.config.macs_per_cc(),
            c.config.shram_size_kib(),
            c.config.cmd_stream_version(),
            c.id.arch_major_rev(),
            c.id.arch_minor_rev(),
            c.id.arch_patch_rev()
        )?;
    } else {
        writeln!(out, "driver payload COP1 (no optimizer config)")?;
    }
    writeln!(
        out,
        "command stream: {} words at payload byte {}",
        p.command_words(),
        p.command_stream_offset
    )?;
    disassemble_stream(p.command_stream, out)
}

/// Lists a bare register command stream (little-endian words).
pub fn disassemble_stream(stream: &[u8], out: &mut impl Write) -> fmt::Result {
    let mut ops = 0u32;
    for c in CommandIter::from_bytes(stream) {
        match c {
            Ok(c) => {
                writeln!(out, "{}", c.listing())?;
                let name = c.opcode.name();
                if OPERATIONS.contains(&name) {
                    ops += 1;
                    writeln!(out, "// ---- end of operation {ops} ({name}) ----")?;
                }
            }
            Err(e) => return writeln!(out, "error: {e}"),
        }
    }
    writeln!(out, "// {ops} operations")
}

/// Bit mask of the base-pointer regions a command stream addresses (bit `n`
/// = region `n`), from its `NPU_SET_*_REGION` commands (DMA to SHRAM excluded).
pub fn regions_used(stream: &[u8]) -> Result<u8, CmdError> {
    let mut mask = 0u8;
    for c in CommandIter::from_bytes(stream) {
        let c = c?;
        let name = c.opcode.name();
        if !name.ends_with("_REGION") {
            continue;
        }
        // DMA region params: bit 8 set = NPU-internal SHRAM, not a base pointer.
        if name.starts_with("NPU_SET_DMA0_") && c.param & 0x100 != 0 {
            continue;
        }
        mask |= 1 << (c.param & 7);
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::write_block;
    use crate::payload::COP1;
    use std::string::String;
    use std::vec::Vec;

    fn blob(stream: &[u32]) -> Vec<u8> {
        let mut cmd: Vec<u8> = [COP1, 0x0010_0001, 0x1807, 0x1006_6001, 5, 5, 5]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        cmd.extend_from_slice(&(((stream.len() as u32) << 16) | 2).to_le_bytes());
        cmd.extend(stream.iter().flat_map(|w| w.to_le_bytes()));
        let io: Vec<u8> = [1i32, 1, 1, 1, 1, 1, 4, 1, 0, 1]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let mut out = std::vec![0u8; 4096];
        let mut at = 0;
        for (name, data) in [
            ("vela_bin_stream", &[][..]),
            ("cmd_data", &cmd[..]),
            ("weight_data", &[][..]),
            ("scratch_size", &16u32.to_le_bytes()[..]),
            ("inputs", &io[..]),
            ("outputs", &io[..]),
            ("vela_end_stream", &[][..]),
        ] {
            at = write_block(&mut out, at, name, data).unwrap();
        }
        out.truncate(at);
        out
    }

    #[test]
    fn lists_commands_and_marks_operations() {
        // NPU_SET_IFM_REGION 1; NPU_SET_IFM_BASE0 0x40; NPU_OP_CONV; NPU_OP_STOP.
        let b = blob(&[0x0001_010f, 0x4000, 0x40, 0x0000_0002, 0xFFFF_0000]);
        let mut s = String::new();
        disassemble(&b, &mut s).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        assert!(
            lines[0].starts_with("vela_bin_stream: cmd_data 52 B"),
            "{s}"
        );
        assert!(
            lines[3].contains("Ethos-U55, 128 MACs/cycle, 24 KiB SHRAM"),
            "{s}"
        );
        assert!(lines[4].contains("5 words at payload byte 32"), "{s}");
        assert!(lines[5].contains("NPU_SET_IFM_REGION"), "{s}");
        assert!(
            lines[6].contains("NPU_SET_IFM_BASE0") && lines[6].contains("0x40"),
            "{s}"
        );
        assert!(lines[7].contains("NPU_OP_CONV"), "{s}");
        assert_eq!(lines[8], "// ---- end of operation 1 (NPU_OP_CONV) ----");
        assert!(lines[9].contains("NPU_OP_STOP"), "{s}");
        assert_eq!(lines[10], "// 1 operations");
        // IFM_REGION 1 only; add OFM_REGION 2 and a DMA into SHRAM (internal, region bits 3).
        let words: Vec<u8> = [0x0001_010fu32, 0x0002_011f, 0x0103_0131, 0xFFFF_0000]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        assert_eq!(regions_used(&words), Ok(0b110));
    }

    #[test]
    fn reports_errors_in_the_listing() {
        let mut s = String::new();
        disassemble(&[1, 2, 3], &mut s).unwrap();
        assert!(s.starts_with("error: Ethos-U delegate blob"), "{s}");
        // A cmd1 missing its payload word.
        let b = blob(&[0x0001_010f, 0x4000]);
        let mut s = String::new();
        disassemble(&b, &mut s).unwrap();
        assert!(s.lines().last().unwrap().starts_with("error: "), "{s}");
    }
}
