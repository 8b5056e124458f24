//! ExecuTorch's Ethos-U delegate blob, `vela_bin_stream`.
//!
//! A sequence of blocks, each a 32-byte header — `name[16]` (NUL padded),
//! `size: u32` (unpadded), `external: u8`, 11 reserved bytes — followed by
//! `size` data bytes zero-padded to a multiple of 16. The first block is the
//! empty `vela_bin_stream`, the last the empty `vela_end_stream`, ending
//! exactly at the end of the blob; in between `cmd_data` (the `COP1` driver
//! payload), `weight_data` (region 0), `scratch_size` (u32: bytes of region 1),
//! `inputs` and `outputs` (`VelaIOs`: `i32 count`, then `count` entries of
//! `i32 shape[6], elem_size, offset, region`, 36 bytes each). Layout from
//! ExecuTorch's `backends/arm/arm_vela.py` and `runtime/VelaBinStream.cpp`.

use super::error::{BlockName, EthosUError, IoKind};
use super::payload::{COP1, COP2};

/// Size of a block header.
pub const BLOCK_HEADER: usize = 32;
/// Size of one `VelaIO` entry.
pub const VELA_IO_SIZE: usize = 36;
/// Region index of the scratch arena.
pub const SCRATCH_REGION: i32 = 1;
/// Region index of the fast scratch (U65/U85 Dedicated_Sram).
pub const FAST_SCRATCH_REGION: i32 = 2;

/// One input or output of the delegate: where it lives in scratch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VelaIo {
    /// The TOSA graph's shape, left-padded with 1s to 6 dimensions.
    pub shape: [i32; 6],
    /// Bytes per element.
    pub elem_size: i32,
    /// Byte offset in the region.
    pub offset: i32,
    /// Region index (1 = scratch).
    pub region: i32,
}

impl VelaIo {
    /// Number of elements (product of the shape), `None` on negative dims or overflow.
    pub fn elements(&self) -> Option<usize> {
        self.shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(usize::try_from(d).ok()?))
    }

    /// Size in bytes, `None` on negative fields or overflow.
    pub fn bytes(&self) -> Option<usize> {
        self.elements()?
            .checked_mul(usize::try_from(self.elem_size).ok()?)
    }

    /// `offset..offset + bytes` in its region, `None` if negative or overflowing.
    pub fn range(&self) -> Option<core::ops::Range<usize>> {
        let start = usize::try_from(self.offset).ok()?;
        Some(start..start.checked_add(self.bytes()?)?)
    }
}

/// The checked entries of an `inputs` or `outputs` block.
#[derive(Clone, Copy, Debug)]
pub struct VelaIos<'a> {
    entries: &'a [u8],
}

impl<'a> VelaIos<'a> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len() / VELA_IO_SIZE
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entry `i`.
    pub fn get(&self, i: usize) -> Option<VelaIo> {
        let at = i.checked_mul(VELA_IO_SIZE)?;
        let e = self.entries.get(at..at.checked_add(VELA_IO_SIZE)?)?;
        let f = |k: usize| i32::from_le_bytes([e[4 * k], e[4 * k + 1], e[4 * k + 2], e[4 * k + 3]]);
        Some(VelaIo {
            shape: [f(0), f(1), f(2), f(3), f(4), f(5)],
            elem_size: f(6),
            offset: f(7),
            region: f(8),
        })
    }

    /// All entries in order.
    pub fn iter(&self) -> impl Iterator<Item = VelaIo> + 'a {
        let s = *self;
        (0..s.len()).filter_map(move |i| s.get(i))
    }
}

/// A parsed, checked `vela_bin_stream`. All slices point into the blob.
#[derive(Clone, Copy, Debug)]
pub struct VelaBlob<'a> {
    /// The driver payload (`COP1`).
    pub cmd_data: &'a [u8],
    /// Encoded weights, biases, scales and LUTs: region 0, used in place.
    pub weight_data: &'a [u8],
    /// Bytes of scratch (region 1) the command stream uses, I/O included.
    pub scratch_size: u32,
    /// Where the delegate's inputs go.
    pub inputs: VelaIos<'a>,
    /// Where its outputs come from.
    pub outputs: VelaIos<'a>,
}

/// The blocks the format defines, in the order ExecuTorch writes them.
const NAMES: [&str; 7] = [
    "vela_bin_stream",
    "cmd_data",
    "weight_data",
    "scratch_size",
    "inputs",
    "outputs",
    "vela_end_stream",
];

fn block_index(name: &[u8; 16]) -> Option<usize> {
    let len = name.iter().position(|&b| b == 0).unwrap_or(16);
    // The rest of the field must be NUL padding.
    if name[len..].iter().any(|&b| b != 0) {
        return None;
    }
    NAMES.iter().position(|n| n.as_bytes() == &name[..len])
}

impl<'a> VelaBlob<'a> {
    /// Parses and checks `blob`: framing, block names, order constraints,
    /// sizes, and every I/O entry against `scratch_size` (region 1).
    pub fn parse(blob: &'a [u8]) -> Result<VelaBlob<'a>, EthosUError> {
        let err = |what, at: usize| EthosUError::Blob {
            what,
            at: at as u32,
        };
        let mut found: [Option<&'a [u8]>; 7] = [None; 7];
        let mut at = 0usize;
        let mut first = true;
        // Each block advances `at` by at least 32 bytes: at most len/32 iterations.
        loop {
            let header = blob.get(at..at + BLOCK_HEADER).ok_or(err(
                "truncated block header (no vela_end_stream at the end)",
                at,
            ))?;
            let mut name = [0u8; 16];
            name.copy_from_slice(&header[..16]);
            let size =
                u32::from_le_bytes([header[16], header[17], header[18], header[19]]) as usize;
            let external = header[20];
            let index = block_index(&name).ok_or(EthosUError::UnknownBlock {
                name: BlockName(name),
                at: at as u32,
            })?;
            if first && index != 0 {
                return Err(err("first block is not vela_bin_stream", at));
            }
            if !first && index == 0 {
                return Err(err("second vela_bin_stream block", at));
            }
            first = false;
            if found[index].is_some() {
                return Err(EthosUError::Block {
                    name: NAMES[index],
                    what: "appears twice",
                });
            }
            if external != 0 {
                return Err(EthosUError::ExternalBlock { name: NAMES[index] });
            }
            let start = at + BLOCK_HEADER;
            let padded = size
                .checked_add(15)
                .map(|s| s & !15)
                .ok_or(err("block size overflows", at))?;
            let end = start
                .checked_add(padded)
                .filter(|&e| e <= blob.len())
                .ok_or(err("block data runs past the end of the blob", at))?;
            found[index] = Some(&blob[start..start + size]);
            at = end;
            if index == 6 {
                if size != 0 {
                    return Err(err("vela_end_stream is not empty", at));
                }
                if at != blob.len() {
                    return Err(err("data after vela_end_stream", at));
                }
                break;
            }
        }
        let need = |i: usize| {
            found[i].ok_or(EthosUError::Block {
                name: NAMES[i],
                what: "missing",
            })
        };
        let cmd_data = need(1)?;
        let weight_data = need(2)?;
        let scratch = need(3)?;
        let inputs = need(4)?;
        let outputs = need(5)?;
        if found[0].is_some_and(|b| !b.is_empty()) {
            return Err(EthosUError::Block {
                name: NAMES[0],
                what: "must be empty",
            });
        }
        let fourcc = cmd_data
            .get(..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        if fourcc != Some(COP1) && fourcc != Some(COP2) {
            return Err(EthosUError::Block {
                name: "cmd_data",
                what: "does not start with COP1 or COP2",
            });
        }
        let scratch_size = match scratch {
            [a, b, c, d] => u32::from_le_bytes([*a, *b, *c, *d]),
            _ => {
                return Err(EthosUError::Block {
                    name: "scratch_size",
                    what: "is not 4 bytes",
                })
            }
        };
        let parsed = VelaBlob {
            cmd_data,
            weight_data,
            scratch_size,
            inputs: ios(inputs, "inputs")?,
            outputs: ios(outputs, "outputs")?,
        };
        for (kind, list) in [
            (IoKind::Input, parsed.inputs),
            (IoKind::Output, parsed.outputs),
        ] {
            for (i, io) in list.iter().enumerate() {
                check_io(kind, i, &io, scratch_size)?;
            }
        }
        Ok(parsed)
    }
}

fn ios<'a>(data: &'a [u8], name: &'static str) -> Result<VelaIos<'a>, EthosUError> {
    let bad = |what| EthosUError::Block { name, what };
    let count = match data.get(..4) {
        Some(b) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => return Err(bad("shorter than its 4-byte count")),
    };
    let count = usize::try_from(count).map_err(|_| bad("negative count"))?;
    let body = &data[4..];
    if count.checked_mul(VELA_IO_SIZE) != Some(body.len()) {
        return Err(bad("size is not 4 + 36 * count"));
    }
    Ok(VelaIos { entries: body })
}

fn check_io(kind: IoKind, i: usize, io: &VelaIo, scratch_size: u32) -> Result<(), EthosUError> {
    let bad = |what| EthosUError::Io {
        kind,
        index: i as u32,
        what,
    };
    if !matches!(io.elem_size, 1 | 2 | 4) {
        return Err(bad("element size is not 1, 2 or 4 bytes"));
    }
    let range = io
        .range()
        .ok_or(bad("negative shape or offset, or size overflows"))?;
    match io.region {
        SCRATCH_REGION if range.end > scratch_size as usize => {
            Err(bad("lies outside the scratch region (scratch_size)"))
        }
        SCRATCH_REGION | FAST_SCRATCH_REGION => Ok(()),
        _ => Err(bad("region is not 1 (scratch) or 2 (fast scratch)")),
    }
}

/// Appends one block (header, data, padding) to `out` at `at`; returns the new end.
/// For tests and the AOT packager, which builds blobs with the same layout.
pub fn write_block(out: &mut [u8], at: usize, name: &str, data: &[u8]) -> Option<usize> {
    if name.len() > 15 {
        return None;
    }
    let size = u32::try_from(data.len()).ok()?;
    let padded = data.len().checked_add(15)? & !15;
    let end = at.checked_add(BLOCK_HEADER)?.checked_add(padded)?;
    let dst = out.get_mut(at..end)?;
    dst.fill(0);
    dst[..name.len()].copy_from_slice(name.as_bytes());
    dst[16..20].copy_from_slice(&size.to_le_bytes());
    dst[BLOCK_HEADER..BLOCK_HEADER + data.len()].copy_from_slice(data);
    Some(end)
}

/// The contents of a `vela_bin_stream` blob, written in ExecuTorch's block order
/// (`vela_bin_stream`, `cmd_data`, `weight_data`, `scratch_size`, `inputs`, `outputs`,
/// `vela_end_stream`): the one writer of the layout [`VelaBlob::parse`] reads.
#[derive(Clone, Copy, Debug)]
pub struct BlobParts<'a> {
    /// The COP1 payload.
    pub cmd_data: &'a [u8],
    /// Region 0: weights, scales, LUTs.
    pub weight_data: &'a [u8],
    /// Bytes of scratch (region 1).
    pub scratch_size: u32,
    /// The `inputs` block (`VelaIOs`).
    pub inputs: &'a [u8],
    /// The `outputs` block (`VelaIOs`).
    pub outputs: &'a [u8],
}

impl BlobParts<'_> {
    fn blocks(&self) -> [(&'static str, &[u8]); 7] {
        [
            ("vela_bin_stream", &[]),
            ("cmd_data", self.cmd_data),
            ("weight_data", self.weight_data),
            ("scratch_size", &[]),
            ("inputs", self.inputs),
            ("outputs", self.outputs),
            ("vela_end_stream", &[]),
        ]
    }

    /// Bytes of the blob.
    pub fn len(&self) -> usize {
        self.blocks()
            .iter()
            .map(|(name, d)| {
                let n = if *name == "scratch_size" { 4 } else { d.len() };
                BLOCK_HEADER + n.div_ceil(16) * 16
            })
            .sum()
    }

    /// Whether the blob is empty (never: it always has its seven block headers).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the blob into `out`; the bytes written, `None` if `out` is too small or a block
    /// is larger than 4 GiB.
    pub fn write(&self, out: &mut [u8]) -> Option<usize> {
        let scratch = self.scratch_size.to_le_bytes();
        let mut at = 0;
        for (name, data) in self.blocks() {
            let data = if name == "scratch_size" {
                &scratch[..]
            } else {
                data
            };
            at = write_block(out, at, name, data)?;
        }
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn io_block(ios: &[VelaIo]) -> Vec<u8> {
        let mut v = (ios.len() as i32).to_le_bytes().to_vec();
        for io in ios {
            for x in io.shape.iter().chain(&[io.elem_size, io.offset, io.region]) {
                v.extend_from_slice(&x.to_le_bytes());
            }
        }
        v
    }

    /// A small well-formed blob: cmd_data is a COP1 header with a 1-word stream.
    pub(crate) fn small_blob() -> Vec<u8> {
        let cmd: Vec<u8> = [COP1, 5, 5, (1 << 16) | 2, 0xFFFF_0000]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let input = VelaIo {
            shape: [1, 1, 1, 4, 4, 1],
            elem_size: 1,
            offset: 16,
            region: 1,
        };
        let output = VelaIo {
            shape: [1, 1, 1, 1, 1, 10],
            elem_size: 1,
            offset: 0,
            region: 1,
        };
        let mut out = std::vec![0u8; 1024];
        let mut at = 0;
        for (name, data) in [
            ("vela_bin_stream", Vec::new()),
            ("cmd_data", cmd),
            ("weight_data", std::vec![7u8; 20]),
            ("scratch_size", 64u32.to_le_bytes().to_vec()),
            ("inputs", io_block(&[input])),
            ("outputs", io_block(&[output])),
            ("vela_end_stream", Vec::new()),
        ] {
            at = write_block(&mut out, at, name, &data).unwrap();
        }
        out.truncate(at);
        out
    }

    #[test]
    fn parses_a_written_blob() {
        let b = small_blob();
        let v = VelaBlob::parse(&b).unwrap();
        assert_eq!(v.cmd_data.len(), 20);
        assert_eq!(v.weight_data, &[7u8; 20][..]);
        assert_eq!(v.scratch_size, 64);
        assert_eq!(v.inputs.len(), 1);
        let i = v.inputs.get(0).unwrap();
        assert_eq!((i.bytes(), i.range()), (Some(16), Some(16..32)));
        assert_eq!(v.outputs.get(0).unwrap().bytes(), Some(10));
        assert_eq!(v.outputs.get(1), None);
    }

    #[test]
    fn rejects_malformed_blobs() {
        let b = small_blob();
        // Truncations: never a panic, always an error.
        for n in 0..b.len() {
            assert!(VelaBlob::parse(&b[..n]).is_err(), "truncated to {n}");
        }
        // Unknown block name.
        let mut u = b.clone();
        u[0] = b'X';
        assert!(matches!(
            VelaBlob::parse(&u),
            Err(EthosUError::UnknownBlock { at: 0, .. })
        ));
        // External flag on cmd_data (second block, header at 32).
        let mut e = b.clone();
        e[32 + 20] = 1;
        assert_eq!(
            VelaBlob::parse(&e).unwrap_err(),
            EthosUError::ExternalBlock { name: "cmd_data" }
        );
        // Trailing bytes after vela_end_stream.
        let mut t = b.clone();
        t.extend_from_slice(&[0; 16]);
        assert!(VelaBlob::parse(&t).is_err());
        // cmd_data without COP1.
        let mut c = b.clone();
        c[64] = b'X';
        assert!(matches!(
            VelaBlob::parse(&c),
            Err(EthosUError::Block {
                name: "cmd_data",
                ..
            })
        ));
    }

    #[test]
    fn io_entries_are_checked_against_scratch() {
        let b = small_blob();
        // scratch_size block: header at 32+32+32+32+32 = after cmd (20->32 B) and weights (20->32 B).
        let v = VelaBlob::parse(&b).unwrap();
        let at = v.cmd_data.as_ptr() as usize - b.as_ptr() as usize + 32 + 32 + 32 + 32;
        assert_eq!(&b[at..at + 4], &64u32.to_le_bytes());
        let mut s = b.clone();
        s[at..at + 4].copy_from_slice(&20u32.to_le_bytes());
        assert_eq!(
            VelaBlob::parse(&s).unwrap_err(),
            EthosUError::Io {
                kind: IoKind::Input,
                index: 0,
                what: "lies outside the scratch region (scratch_size)"
            }
        );
    }
}
