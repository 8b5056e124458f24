//! The Ethos-U driver payload (`COP1`, "custom operator payload 1") that Vela
//! writes and ExecuTorch stores as the blob's `cmd_data`.
//!
//! Little-endian 32-bit words: the fourcc `COP1`, then driver actions, each a
//! tag word (byte 0 = action, byte 1 = reserved / length bits 23:16, bytes
//! 2..3 = data): `OPTIMIZER_CONFIG` (+ the CONFIG and ID words the stream was
//! compiled for), `NOP` (padding so that the command stream starts 16-byte
//! aligned) and one `COMMAND_STREAM` (+ its length in words, then the
//! register command stream). Arm's core driver accepts exactly these three
//! actions; so does this parser.

// Kept from when the workspace supported Rust 1.80 (`is_multiple_of` is 1.87).
#![allow(clippy::manual_is_multiple_of)]

use super::error::EthosUError;
pub use super::regs::{ConfigReg, IdReg, Product};

/// `COP1` as a little-endian word.
pub const COP1: u32 = 0x3150_4F43;
/// `COP2` as a little-endian word (the Ethos-U85 format; not supported here).
pub const COP2: u32 = 0x3250_4F43;

/// Driver action codes (byte 0 of a tag word).
mod action {
    pub const OPTIMIZER_CONFIG: u8 = 1;
    pub const COMMAND_STREAM: u8 = 2;
    pub const READ_APB_REG: u8 = 3;
    pub const DUMP_SHRAM: u8 = 4;
    pub const NOP: u8 = 5;
}

/// The `OPTIMIZER_CONFIG` action: what the command stream was compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptimizerConfig {
    /// Vela's release number (tag bits 19:16).
    pub release: u8,
    /// Vela's patch number (tag bits 23:20).
    pub patch: u8,
    /// The expected CONFIG register.
    pub config: ConfigReg,
    /// The expected ID register.
    pub id: IdReg,
}

/// A checked `COP1` driver payload.
#[derive(Clone, Copy, Debug)]
pub struct Payload<'a> {
    /// The optimizer configuration, if the payload has one.
    pub config: Option<OptimizerConfig>,
    /// The register command stream (a whole number of 32-bit words).
    pub command_stream: &'a [u8],
    /// Byte offset of the command stream in the payload (a multiple of 16).
    pub command_stream_offset: usize,
}

fn word(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

impl<'a> Payload<'a> {
    /// Parses and checks `bytes` (`cmd_data`): fourcc, a whole number of
    /// words, only known actions, exactly one 16-byte aligned command stream
    /// that fits, at most one optimizer config.
    pub fn parse(bytes: &'a [u8]) -> Result<Payload<'a>, EthosUError> {
        let err = |what, at: usize| EthosUError::Payload {
            what,
            at: at as u32,
        };
        match word(bytes, 0) {
            Some(COP1) => {}
            Some(COP2) => {
                return Err(err(
                    "COP2 payload (Ethos-U85 format) is not supported; expected COP1",
                    0,
                ))
            }
            Some(_) => return Err(err("does not start with the COP1 fourcc", 0)),
            None => return Err(err("shorter than the 4-byte fourcc", 0)),
        }
        if bytes.len() % 4 != 0 {
            return Err(err("length is not a multiple of 4 bytes", bytes.len()));
        }
        let mut config = None;
        let mut stream: Option<(&'a [u8], usize)> = None;
        let mut at = 4usize;
        // Each iteration consumes at least one word, so this ends within len/4 steps.
        while at < bytes.len() {
            let tag = word(bytes, at).ok_or(err("truncated action tag", at))?;
            let [cmd, reserved, lo, hi] = tag.to_le_bytes();
            let data = u16::from_le_bytes([lo, hi]);
            match cmd {
                action::OPTIMIZER_CONFIG => {
                    if config.is_some() {
                        return Err(err("second OPTIMIZER_CONFIG action", at));
                    }
                    let cfg = word(bytes, at + 4).ok_or(err("truncated OPTIMIZER_CONFIG", at))?;
                    let id = word(bytes, at + 8).ok_or(err("truncated OPTIMIZER_CONFIG", at))?;
                    config = Some(OptimizerConfig {
                        release: (data & 0xF) as u8,
                        patch: ((data >> 4) & 0xF) as u8,
                        config: ConfigReg(cfg),
                        id: IdReg(id),
                    });
                    at += 12;
                }
                action::COMMAND_STREAM => {
                    if stream.is_some() {
                        return Err(err(
                            "second COMMAND_STREAM action (the driver runs one per payload)",
                            at,
                        ));
                    }
                    let words = (usize::from(reserved) << 16) | usize::from(data);
                    let start = at + 4;
                    if start % 16 != 0 {
                        return Err(err("command stream does not start 16-byte aligned", start));
                    }
                    if words == 0 {
                        return Err(err("empty command stream", at));
                    }
                    let end = start
                        .checked_add(words * 4)
                        .filter(|&e| e <= bytes.len())
                        .ok_or(err("command stream length runs past the payload", at))?;
                    stream = Some((&bytes[start..end], start));
                    at = end;
                }
                action::NOP => at += 4,
                action::READ_APB_REG | action::DUMP_SHRAM => {
                    return Err(err(
                        "debug driver action (READ_APB_REG/DUMP_SHRAM) is not supported",
                        at,
                    ))
                }
                _ => return Err(err("unknown driver action", at)),
            }
        }
        let (command_stream, command_stream_offset) =
            stream.ok_or(err("no COMMAND_STREAM action", bytes.len()))?;
        Ok(Payload {
            config,
            command_stream,
            command_stream_offset,
        })
    }

    /// Number of 32-bit words in the command stream.
    pub fn command_words(&self) -> usize {
        self.command_stream.len() / 4
    }
}

/// Writes a `COP1` payload for `config` and `command_stream` (words, little
/// endian) into `out`; returns the bytes written. Used by tests and by the
/// AOT packager through the same layout Vela emits: fourcc, config action,
/// NOPs to 16-byte alignment, command stream action.
pub fn write_cop1(
    config: Option<OptimizerConfig>,
    command_stream: &[u8],
    out: &mut [u8],
) -> Option<usize> {
    if command_stream.len() % 4 != 0 || command_stream.len() / 4 >= 1 << 24 {
        return None;
    }
    let mut at = 0usize;
    let mut put = |w: u32, at: &mut usize| -> Option<()> {
        out.get_mut(*at..*at + 4)?.copy_from_slice(&w.to_le_bytes());
        *at += 4;
        Some(())
    };
    put(COP1, &mut at)?;
    if let Some(c) = config {
        let tag = u32::from(action::OPTIMIZER_CONFIG)
            | (u32::from(c.release & 0xF) << 16)
            | (u32::from(c.patch & 0xF) << 20);
        put(tag, &mut at)?;
        put(c.config.0, &mut at)?;
        put(c.id.0, &mut at)?;
    }
    while (at + 4) % 16 != 0 {
        put(u32::from(action::NOP), &mut at)?;
    }
    let words = (command_stream.len() / 4) as u32;
    let tag = u32::from(action::COMMAND_STREAM) | ((words >> 16) << 8) | ((words & 0xFFFF) << 16);
    put(tag, &mut at)?;
    out.get_mut(at..at + command_stream.len())?
        .copy_from_slice(command_stream);
    Some(at + command_stream.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header of `conv_pool_fc_u55_128.vela.bin`'s cmd_data, as decoded
    /// by hand in the research notes (executorch-format.md §10).
    fn header() -> [u32; 8] {
        [
            COP1,
            0x0010_0001,
            0x0000_1807,
            0x1006_6001,
            5,
            5,
            5,
            (272 << 16) | 2,
        ]
    }

    fn bytes(words: &[u32]) -> std::vec::Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn parses_vela_header() {
        let mut w = header().to_vec();
        w.resize(w.len() + 272, 0u32);
        let b = bytes(&w);
        let p = Payload::parse(&b).unwrap();
        let c = p.config.unwrap();
        assert_eq!((c.release, c.patch), (0, 1));
        assert_eq!(c.config.macs_per_cc(), 128);
        assert_eq!(c.config.shram_size_kib(), 24);
        assert_eq!(c.config.product(), Some(Product::EthosU55));
        assert_eq!(c.id.arch_major_rev(), 1);
        assert_eq!(c.id.arch_minor_rev(), 0);
        assert_eq!(c.id.arch_patch_rev(), 6);
        assert_eq!(p.command_stream_offset, 32);
        assert_eq!(p.command_words(), 272);
    }

    #[test]
    fn rejects_bad_payloads() {
        let mut w = header().to_vec();
        w.resize(w.len() + 272, 0u32);
        let good = bytes(&w);
        // Truncated by one word: the stream runs past the end.
        assert!(matches!(
            Payload::parse(&good[..good.len() - 4]),
            Err(EthosUError::Payload { at: 28, .. })
        ));
        // Not a multiple of 4.
        assert!(Payload::parse(&good[..good.len() - 1]).is_err());
        // COP2.
        let mut b = good.clone();
        b[3] = b'2';
        assert!(matches!(
            Payload::parse(&b),
            Err(EthosUError::Payload { at: 0, .. })
        ));
        // Misaligned stream: drop one NOP.
        let mut w2 = w.clone();
        w2.remove(4);
        assert!(Payload::parse(&bytes(&w2)).is_err());
        // Unknown action.
        let mut w3 = w.clone();
        w3[4] = 0x9;
        assert!(matches!(
            Payload::parse(&bytes(&w3)),
            Err(EthosUError::Payload { at: 16, .. })
        ));
        // Trailing garbage action after the stream.
        let mut w4 = w.clone();
        w4.push(0);
        assert!(Payload::parse(&bytes(&w4)).is_err());
        // No command stream.
        assert!(Payload::parse(&bytes(&[COP1, 5, 5, 5])).is_err());
        assert!(Payload::parse(&[]).is_err());
    }

    #[test]
    fn write_round_trips() {
        let cfg = OptimizerConfig {
            release: 0,
            patch: 1,
            config: ConfigReg(0x1807),
            id: IdReg(0x1006_6001),
        };
        let stream = bytes(&[0x0000_0130, 0xFFFF_0000]);
        let mut out = [0u8; 64];
        let n = write_cop1(Some(cfg), &stream, &mut out).unwrap();
        assert_eq!(n, 40);
        assert_eq!(
            &out[..32],
            &bytes(&{
                let mut h = header();
                h[7] = (2 << 16) | 2;
                h
            })[..]
        );
        let p = Payload::parse(&out[..n]).unwrap();
        assert_eq!(p.config, Some(cfg));
        assert_eq!(p.command_stream, &stream[..]);
        // Without a config: COP1, 2 NOPs, tag -> stream at 16.
        let n = write_cop1(None, &stream, &mut out).unwrap();
        assert_eq!(Payload::parse(&out[..n]).unwrap().command_stream_offset, 16);
        assert!(write_cop1(None, &stream, &mut out[..20]).is_none());
    }
}
