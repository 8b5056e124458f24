//! Weight and bias/scale streams for Ethos-U55/U65 convolutions.
//!
//! [`encode_weights`] writes the compressed weight stream ("MLW") that the
//! NPU decodes while it runs a convolution: the weights in the hardware's
//! consumption order ([`WeightOrder::walk_block`], OFM block after OFM
//! block), compressed as one continuous stream that ends with an
//! end-of-stream marker and is padded with `0xFF` to a multiple of 16 bytes.
//! That is what the hardware reads from WEIGHT_BASE/WEIGHT_LENGTH (Vela
//! emits one such stream per NPU operation) and what kiln's NPU model
//! decodes: one `MlwDecoder` carried from block to block, never restarted.
//!
//! The encoder is kiln's own. It produces the bitstream of Arm's reference
//! codec (`mlw_encode`): one palette/direct-offset section, then slices that
//! each choose their Golomb-Rice parameters; weight indices and, in
//! zero-run mode, zero-run lengths are interleaved chunk by chunk exactly as
//! the decoder expects. Where Arm's encoder decides by heuristics (palette or
//! not, zero runs or not, a greedy slice search), this one measures: it
//! scores every palette size and both zero-run modes, then cuts slices with
//! a dynamic program over the exact per-value bit costs (only the cost of
//! starting a slice is estimated), and keeps the smallest stream.
//!
//! [`scale_records`] writes the 10-byte per-channel bias/scale records.

// Kept from when the workspace supported Rust 1.80 (`is_multiple_of` is 1.87).
#![allow(clippy::manual_is_multiple_of)]

use super::decode::{Slot, WeightOrder};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// How an operation consumes its weights (mirrors the registers the NPU reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightLayout {
    /// OFM depth of the operation (channels whose weights the stream holds).
    pub ofm_depth: u32,
    /// Kernel height in taps (not dilated).
    pub kernel_h: u32,
    /// Kernel width in taps (not dilated).
    pub kernel_w: u32,
    /// IFM depth the kernel reads (1 for depthwise).
    pub ifm_depth: u32,
    /// Depthwise convolution (one weight set per channel).
    pub depthwise: bool,
    /// Part-kernel-first traversal (KERNEL_STRIDE bit 2).
    pub part_kernel: bool,
    /// OFM block depth of the block config (OFM_BLK_DEPTH_M1 + 1).
    pub ofm_block_depth: u32,
    /// IFM element bits (8 or 16).
    pub ifm_bits: u32,
    /// OFM micro-block depth of the configuration (4 on U55-32, else 8).
    pub ofm_ublock_depth: u32,
    /// IFM micro-block depth of the configuration (8).
    pub ifm_ublock_depth: u32,
    /// Kernel dilation `[y, x]`, each 1 or 2.
    pub dilation: [u32; 2],
}

impl WeightLayout {
    /// The hardware's weight traversal for this layout, after checking every field.
    pub fn order(&self) -> Result<WeightOrder, WeightError> {
        let bad = |field: &'static str, value: u32| Err(WeightError::Layout { field, value });
        if self.ofm_depth == 0 {
            return bad("ofm_depth", self.ofm_depth);
        }
        if self.kernel_h == 0 {
            return bad("kernel_h", self.kernel_h);
        }
        if self.kernel_w == 0 {
            return bad("kernel_w", self.kernel_w);
        }
        if self.ifm_depth == 0 || (self.depthwise && self.ifm_depth != 1) {
            return bad("ifm_depth", self.ifm_depth);
        }
        // OFM_BLK_DEPTH_M1 is a 7-bit field.
        if !(1..=128).contains(&self.ofm_block_depth) {
            return bad("ofm_block_depth", self.ofm_block_depth);
        }
        if !matches!(self.ifm_bits, 8 | 16) {
            return bad("ifm_bits", self.ifm_bits);
        }
        if !matches!(self.ofm_ublock_depth, 4 | 8) {
            return bad("ofm_ublock_depth", self.ofm_ublock_depth);
        }
        if self.ifm_ublock_depth != 8 {
            return bad("ifm_ublock_depth", self.ifm_ublock_depth);
        }
        for d in self.dilation {
            if !matches!(d, 1 | 2) {
                return bad("dilation", d);
            }
        }
        Ok(WeightOrder {
            ifm_ublock_depth: self.ifm_ublock_depth,
            ofm_ublock_depth: self.ofm_ublock_depth,
            ofm_depth: self.ofm_depth,
            kernel_height: self.kernel_h,
            kernel_width: self.kernel_w,
            ifm_depth: self.ifm_depth,
            ofm_block_depth: self.ofm_block_depth,
            depthwise: self.depthwise,
            part_kernel: self.part_kernel,
            ifm_bits: self.ifm_bits,
            // The hardware decomposes kernels into 8x8 (dilated: 4x4) sub-kernels.
            decomp_h: 8 / self.dilation[0],
            decomp_w: 8 / self.dilation[1],
        })
    }

    /// Every stream position of the whole operation in order: the weight it
    /// holds as (OFM channel, ky, kx, IFM channel), or `None` for padding.
    pub fn slots(&self) -> Result<Vec<Slot>, WeightError> {
        let mut slots = Vec::new();
        self.for_each_slot(|s| slots.push(s))?;
        Ok(slots)
    }

    /// Calls `f` for every stream position of the whole operation, in order (see
    /// [`WeightLayout::slots`]), without collecting them.
    pub fn for_each_slot(&self, mut f: impl FnMut(Slot)) -> Result<(), WeightError> {
        let order = self.order()?;
        let mut bz = 0;
        while bz < self.ofm_depth {
            // The closure never fails, so neither does the walk.
            order
                .walk_block::<core::convert::Infallible>(bz, |s| {
                    f(s);
                    Ok(())
                })
                .unwrap_or_else(|e| match e {});
            bz += self.ofm_block_depth;
        }
        Ok(())
    }
}

/// Why weights or bias/scale records cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightError {
    /// A [`WeightLayout`] field has a value the hardware does not support.
    Layout {
        /// The field's name.
        field: &'static str,
        /// Its value.
        value: u32,
    },
    /// A weight (minus its zero point) is outside -255..=255.
    Weight {
        /// (OFM channel, ky, kx, IFM channel), `None` for [`encode_values`] input.
        at: Option<(u32, u32, u32, u32)>,
        /// Position in the stream.
        index: usize,
        /// The value.
        value: i16,
    },
    /// A bias does not fit the record's 40-bit signed field.
    Bias {
        /// OFM channel.
        channel: usize,
        /// The bias.
        bias: i64,
    },
    /// A shift does not fit the record's 6-bit field.
    Shift {
        /// OFM channel.
        channel: usize,
        /// The shift.
        shift: u8,
    },
}

impl fmt::Display for WeightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WeightError::Layout { field, value } => {
                write!(f, "weight layout: unsupported {field} {value}")
            }
            WeightError::Weight {
                at: Some((o, y, x, i)),
                index,
                value,
            } => write!(
                f,
                "weight {value} at (ofm {o}, ky {y}, kx {x}, ifm {i}, stream position {index}) \
                 is outside -255..=255"
            ),
            WeightError::Weight {
                at: None,
                index,
                value,
            } => write!(
                f,
                "weight {value} at stream position {index} is outside -255..=255"
            ),
            WeightError::Bias { channel, bias } => write!(
                f,
                "bias {bias} of channel {channel} does not fit 40 signed bits"
            ),
            WeightError::Shift { channel, shift } => {
                write!(f, "shift {shift} of channel {channel} is above 63")
            }
        }
    }
}

impl core::error::Error for WeightError {}

/// Encodes weights given as a closure w(ofm_channel, ky, kx, ifm_channel) -> i16
/// (int8 weights minus their zero point, range -255..=255) into the stream the
/// NPU reads for the whole operation: for each OFM block of `ofm_block_depth`
/// channels in order, the positions of `WeightOrder::walk_block`, padding
/// positions = 0. Returns the bytes (length a multiple of 16, as the hardware
/// requires).
pub fn encode_weights(
    layout: &WeightLayout,
    w: impl Fn(u32, u32, u32, u32) -> i16,
) -> Result<Vec<u8>, WeightError> {
    encode_values(&stream_values(layout, w)?)
}

/// The weights in the order the hardware consumes them (zeros in the padding slots), each
/// checked to be in -255..=255: what [`encode_values`] encodes.
pub fn stream_values(
    layout: &WeightLayout,
    w: impl Fn(u32, u32, u32, u32) -> i16,
) -> Result<Vec<i16>, WeightError> {
    let mut values = Vec::new();
    let mut bad = None;
    layout.for_each_slot(|slot| {
        let v = match slot {
            Some((o, y, x, i)) => w(o, y, x, i),
            None => 0,
        };
        if bad.is_none() && !(-255..=255).contains(&v) {
            bad = Some(WeightError::Weight {
                at: slot,
                index: values.len(),
                value: v,
            });
        }
        values.push(v);
    })?;
    match bad {
        Some(e) => Err(e),
        None => Ok(values),
    }
}

/// Encodes values already in stream order (-255..=255 each) as one MLW
/// stream: end-of-stream marker, `0xFF` padding to a multiple of 16 bytes.
pub fn encode_values(values: &[i16]) -> Result<Vec<u8>, WeightError> {
    if let Some((index, &value)) = values
        .iter()
        .enumerate()
        .find(|(_, v)| !(-255..=255).contains(*v))
    {
        return Err(WeightError::Weight {
            at: None,
            index,
            value,
        });
    }
    let mut out = Bits::default();
    if !values.is_empty() {
        // The candidate the slice search rates smallest; its estimate counts every weight's
        // and zero run's bits exactly and the headers closely, so only that one is written.
        let cands = candidates(values, FULL_SEARCH);
        // Long sections: the candidates ranked by a search over every 16th step, then
        // the full search for the best one only.
        let best = if values.len() > SAMPLED_RANKING_FROM && cands.len() > 1 {
            cands
                .into_iter()
                .map(|sym| {
                    let (_, estimate) = slice_search(&sym, 16);
                    (
                        estimate + sym.palette.len() as u64 * u64::from(sym.palbits),
                        sym,
                    )
                })
                .min_by_key(|(estimate, _)| *estimate)
                .map(|(estimate, sym)| {
                    let (plan, _) = plan_slices_estimated(&sym);
                    (estimate, sym, plan)
                })
        } else {
            cands
                .into_iter()
                .map(|sym| {
                    let (plan, estimate) = plan_slices_estimated(&sym);
                    (
                        estimate + sym.palette.len() as u64 * u64::from(sym.palbits),
                        sym,
                        plan,
                    )
                })
                .min_by_key(|(estimate, ..)| *estimate)
        };
        if let Some((_, sym, plan)) = best {
            write_section(&mut out, &sym, &plan);
        }
    }
    // End of stream (ZDIV = 7), then 1-bits to the byte and 0xFF bytes to 16.
    out.put(3, 7);
    while out.len % 8 != 0 {
        out.put(1, 1);
    }
    let mut bytes = out.into_bytes();
    while bytes.len() % 16 != 0 {
        bytes.push(0xFF);
    }
    Ok(bytes)
}

/// One 10-byte bias/scale record per OFM channel, as the NPU model's
/// `scale_record` in exec.rs reads them (40-bit signed bias, u32 multiplier,
/// 6-bit shift); checks ranges.
pub fn scale_records(channels: &[(i64, u32, u8)]) -> Result<Vec<u8>, WeightError> {
    let mut out = Vec::with_capacity(channels.len() * 10);
    for (channel, &(bias, multiplier, shift)) in channels.iter().enumerate() {
        if !(-(1i64 << 39)..(1i64 << 39)).contains(&bias) {
            return Err(WeightError::Bias { channel, bias });
        }
        if shift > 63 {
            return Err(WeightError::Shift { channel, shift });
        }
        out.extend_from_slice(&bias.to_le_bytes()[..5]);
        out.extend_from_slice(&multiplier.to_le_bytes());
        out.push(shift);
    }
    Ok(out)
}

// ---------------------------------------------------------------- bit writer

/// LSB-first bit packing, as the decoder reads: bits gather in a 64-bit accumulator and
/// leave it four bytes at a time.
#[derive(Clone, Debug, Default)]
struct Bits {
    buf: Vec<u8>,
    acc: u64,
    /// Bits in `acc` (below 32 between calls).
    pending: u32,
    len: u64,
}

impl Bits {
    /// Appends the `n` (at most 32) low bits of `v`, least significant first.
    fn put(&mut self, n: u32, v: u32) {
        if n == 0 {
            return;
        }
        let v = u64::from(v) & ((1u64 << n) - 1);
        self.acc |= v << self.pending;
        self.pending += n;
        self.len += u64::from(n);
        if self.pending >= 32 {
            self.buf.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.pending -= 32;
        }
    }

    /// The bytes written so far (the last one padded with zero bits).
    fn into_bytes(mut self) -> Vec<u8> {
        let tail = self.pending.div_ceil(8) as usize;
        self.buf.extend_from_slice(&self.acc.to_le_bytes()[..tail]);
        self.buf
    }
}

/// The remainders of one chunk of unary symbols (at most 12: one per symbol).
#[derive(Clone, Copy)]
struct Rem {
    v: [u32; 12],
    n: usize,
}

impl Rem {
    const EMPTY: Rem = Rem { v: [0; 12], n: 0 };

    fn push(&mut self, r: u32) {
        self.v[self.n] = r;
        self.n += 1;
    }

    fn as_slice(&self) -> &[u32] {
        &self.v[..self.n]
    }
}

// ---------------------------------------------------------------- symbols

/// Values per slice at most (SLICELEN holds length - 1 in 15 bits; Arm's
/// encoder stays one below the field's limit and so do we).
const MAX_SLICE: usize = (1 << 15) - 1;
/// Largest weight index the hardware accepts (9 bits).
const MAX_INDEX: u32 = 511;
/// Largest Golomb-Rice quotient of an untruncated weight index.
const MAX_Q: u32 = 31;
/// Slice header bits without a palette (ZDIV, SLICELEN, WDIV, WTRUNC, NEWPAL).
const HEADER_BITS: u64 = 3 + 15 + 3 + 1 + 1;
/// Estimated cost of starting another slice: its header plus the unused
/// half of the last chunk's unary fields on average.
const SWITCH_BITS: u64 = HEADER_BITS + 12;

/// A weight value as the hardware's 9-bit sign-magnitude number (LSB = sign).
fn palval(v: i16) -> u32 {
    (u32::from(v.unsigned_abs()) << 1) | u32::from(v < 0)
}

/// Bits to hold `v` (at least 0).
fn bit_len(v: u32) -> u32 {
    32 - v.leading_zeros()
}

/// One way to turn the values into the symbols of a section.
#[derive(Clone, Debug)]
struct Symbols {
    /// Palette/direct indices of the values coded as weights.
    idx: Vec<u16>,
    /// Zero-run mode: `runs[0]` zeros before the first weight, `runs[i + 1]` after weight `i`.
    runs: Option<Vec<u32>>,
    /// Palette entries (sign-magnitude values), empty or 2..=32 long.
    palette: Vec<u16>,
    /// Direct offset: index `palette.len() + k` is value `k + dirofs`.
    dirofs: u32,
    /// Palette entry width (2..=9); without a palette the uncompressed width.
    palbits: u32,
    /// Bits per index in uncompressed mode, `None` where the format forbids it
    /// (a palette that does not hold every value).
    raw_bits: Option<u32>,
}

/// A Golomb-Rice configuration for weight indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WCfg {
    /// Quotient in unary (at most [`MAX_Q`]), `div` remainder bits.
    Grc { div: u32 },
    /// Quotient 0..=2 truncated to at most 2 bits, `div` remainder bits.
    Trunc { div: u32 },
    /// Fixed-width indices (WDIV = 7).
    Raw,
}

impl WCfg {
    /// Bits to code index `v`, `None` if this configuration cannot.
    fn bits(self, v: u32, raw_bits: Option<u32>) -> Option<u64> {
        match self {
            WCfg::Grc { div } => {
                let q = v >> div;
                (q <= MAX_Q).then_some(u64::from(q + 1 + div))
            }
            WCfg::Trunc { div } => {
                let q = v >> div;
                (q <= 2).then_some(u64::from(q.min(1) + 1 + div))
            }
            WCfg::Raw => {
                let b = raw_bits?;
                (v < (1 << b)).then_some(u64::from(b))
            }
        }
    }
}

/// Every weight configuration the format has (WDIV 0..=5 with and without
/// truncation, and uncompressed).
const W_CFGS: [WCfg; 13] = [
    WCfg::Grc { div: 0 },
    WCfg::Grc { div: 1 },
    WCfg::Grc { div: 2 },
    WCfg::Grc { div: 3 },
    WCfg::Grc { div: 4 },
    WCfg::Grc { div: 5 },
    WCfg::Trunc { div: 0 },
    WCfg::Trunc { div: 1 },
    WCfg::Trunc { div: 2 },
    WCfg::Trunc { div: 3 },
    WCfg::Trunc { div: 4 },
    WCfg::Trunc { div: 5 },
    WCfg::Raw,
];

/// Zero-run divisors (ZDIV 0..=3; the format reserves 4 and 5).
const Z_DIVS: u32 = 4;

fn z_bits(run: u32, div: u32) -> u64 {
    u64::from(run >> div) + 1 + u64::from(div)
}

/// Palette sizes worth trying (clipped to the number of distinct values).
const PALETTE_SIZES: [usize; 14] = [0, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 28, 32];
/// Candidates that get the full slice search after the cheap estimate.
const FULL_SEARCH: usize = 3;
/// Sections longer than this rank their candidates by a sampled slice search first.
const SAMPLED_RANKING_FROM: usize = 8192;

/// The `keep` most promising symbolisations of `values` (non-empty): both
/// zero-run modes times the palette sizes, ranked by a one-configuration
/// estimate.
fn candidates(values: &[i16], keep: usize) -> Vec<Symbols> {
    let any_zero = values.contains(&0);
    // Per zero-run mode: the values coded as weights (sign-magnitude) and the
    // zero runs around them.
    let mut modes: Vec<(Vec<u32>, Option<Vec<u32>>)> = Vec::new();
    // (estimated bits, mode, symbols without indices, value -> index table)
    let mut scored: Vec<(u64, usize, Symbols, [u16; 512])> = Vec::new();
    for zero_runs in [false, true] {
        if zero_runs && !any_zero {
            continue;
        }
        let mut coded: Vec<u32> = Vec::with_capacity(values.len());
        let mut runs: Option<Vec<u32>> = None;
        if zero_runs {
            let mut r = vec![0u32];
            for &v in values {
                if v == 0 {
                    if let Some(last) = r.last_mut() {
                        *last += 1;
                    }
                } else {
                    coded.push(palval(v));
                    r.push(0);
                }
            }
            if coded.is_empty() {
                // A slice needs one weight: code the first zero as a weight.
                coded.push(0);
                r = vec![0, values.len() as u32 - 1];
            }
            runs = Some(r);
        } else {
            coded.extend(values.iter().map(|&v| palval(v)));
        }
        let mut freq = [0u64; 512];
        for &p in &coded {
            freq[p as usize] += 1;
        }
        // Distinct values by falling frequency (ties: smaller value first).
        let mut distinct: Vec<u32> = (0..512).filter(|&p| freq[p as usize] > 0).collect();
        distinct.sort_by(|&a, &b| freq[b as usize].cmp(&freq[a as usize]).then(a.cmp(&b)));
        let z_cost = runs.as_ref().map_or(0, |r| {
            (0..Z_DIVS)
                .map(|d| r.iter().map(|&n| z_bits(n, d)).sum::<u64>())
                .min()
                .unwrap_or(0)
        });
        let mode = modes.len();
        modes.push((coded, runs));
        let mut tried = Vec::new();
        for &size in &PALETTE_SIZES {
            let size = size.min(distinct.len());
            if tried.contains(&size) {
                continue;
            }
            tried.push(size);
            let Some((sym, inv)) = palette_for(&distinct, size) else {
                continue;
            };
            // (index, count) of every value present: the best single configuration for the
            // whole section, summed over the distinct values only.
            let counts: Vec<(u32, u64)> = distinct
                .iter()
                .map(|&p| (u32::from(inv[p as usize]), freq[p as usize]))
                .collect();
            let w_cost = W_CFGS
                .iter()
                .filter_map(|c| {
                    counts.iter().try_fold(0u64, |acc, &(i, n)| {
                        Some(acc + n * c.bits(i, sym.raw_bits)?)
                    })
                })
                .min()
                .unwrap_or(u64::MAX / 4);
            let pal_cost = 13 + sym.palette.len() as u64 * u64::from(sym.palbits);
            scored.push((pal_cost + w_cost + z_cost, mode, sym, inv));
        }
    }
    scored.sort_by_key(|(c, ..)| *c);
    // Candidates the one-configuration estimate puts more than 3% behind the best are not
    // searched: the slice search gains far less than that over one configuration.
    let cutoff = scored.first().map_or(0, |(c, ..)| c + c / 32);
    scored
        .into_iter()
        .take(keep)
        .filter(|(c, ..)| *c <= cutoff)
        .map(|(_, mode, mut sym, inv)| {
            let (coded, runs) = &modes[mode];
            sym.idx = coded.iter().map(|&p| inv[p as usize]).collect();
            sym.runs.clone_from(runs);
            sym
        })
        .collect()
}

/// The palette of the `size` most frequent of `distinct` (sign-magnitude
/// values by falling frequency) and the value -> index table; `None` if an
/// index would exceed the hardware's 9 bits. The returned symbols have no
/// indices or runs yet.
fn palette_for(distinct: &[u32], size: usize) -> Option<(Symbols, [u16; 512])> {
    let mut palette: Vec<u16> = distinct[..size].iter().map(|&p| p as u16).collect();
    if palette.len() == 1 {
        // A palette of one entry cannot be signalled (PALSIZE 0 means none):
        // repeat the entry; index 1 is never used.
        palette.push(palette[0]);
    }
    let n_pal = palette.len() as u32;
    let rest = &distinct[size..];
    // Direct values count from the smallest one not in the palette (5-bit field).
    let dirofs = rest.iter().copied().min().map_or(0, |m| m.min(31));
    let mut inv = [0u16; 512];
    for &p in rest {
        let i = n_pal + p - dirofs;
        if i > MAX_INDEX {
            return None;
        }
        inv[p as usize] = i as u16;
    }
    for (i, &p) in palette.iter().enumerate().rev() {
        inv[p as usize] = i as u16;
    }
    let max_idx = distinct.iter().map(|&p| u32::from(inv[p as usize])).max()?;
    let (palbits, raw_bits) = if palette.is_empty() {
        let b = bit_len(max_idx).max(2);
        (b, Some(b))
    } else {
        let b = palette
            .iter()
            .map(|&p| bit_len(u32::from(p)))
            .max()
            .unwrap_or(2)
            .max(2);
        // Uncompressed indices are ceil(log2(palette size)) bits wide, so
        // only a palette holding every value allows them.
        let raw = rest.is_empty().then(|| bit_len(n_pal - 1));
        (b, raw)
    };
    Some((
        Symbols {
            idx: Vec::new(),
            runs: None,
            palette,
            dirofs,
            palbits,
            raw_bits,
        },
        inv,
    ))
}

// ---------------------------------------------------------------- slicing

/// A slice: weights `start..end` with one weight and one zero-run configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slice {
    start: usize,
    end: usize,
    w: WCfg,
    zdiv: u32,
}

/// Positions per step of the slice search: slices start at multiples of it. A slice switch
/// costs a header (some 35 bits), which a few weights rarely repay, so coarse steps lose
/// next to nothing and make the search a few additions per weight.
const SLICE_STEP: usize = 16;

/// Cuts the weights into slices minimising the estimated stream size: a
/// shortest-path over (step of [`SLICE_STEP`] positions, weight configuration, zero-run
/// divisor) where staying in a configuration is free and switching costs a header.
#[cfg(test)]
fn plan_slices(sym: &Symbols) -> Vec<Slice> {
    plan_slices_estimated(sym).0
}

/// [`plan_slices`] with the search's estimate of the section's bits.
fn plan_slices_estimated(sym: &Symbols) -> (Vec<Slice>, u64) {
    slice_search(sym, 1)
}

/// The slice search over every `stride`-th step only (1: all of them, giving the plan); with a
/// larger stride, no plan and the estimate scaled to the whole section, to rank candidates.
fn slice_search(sym: &Symbols, stride: usize) -> (Vec<Slice>, u64) {
    const INF: u64 = u64::MAX / 4;
    let n = sym.idx.len();
    let cfgs: Vec<WCfg> = W_CFGS
        .iter()
        .copied()
        .filter(|c| *c != WCfg::Raw || sym.raw_bits.is_some())
        .collect();
    let nz = if sym.runs.is_some() {
        Z_DIVS as usize
    } else {
        1
    };
    let states = cfgs.len() * nz;
    debug_assert!(states <= 64);
    let runs = sym.runs.as_deref();
    let nw = cfgs.len();
    // Bits of every index under every configuration (INF: not representable), looked up per
    // position; u32 sums of a step cannot overflow (16 x INF32 < 2^32).
    const INF32: u32 = 1 << 24;
    // Rows padded to 16 lanes so a step's sums are whole vector additions.
    let mut table = vec![[INF32; 16]; MAX_INDEX as usize + 1];
    for (v, row) in table.iter_mut().enumerate() {
        for (a, c) in cfgs.iter().enumerate() {
            if let Some(b) = c.bits(v as u32, sym.raw_bits) {
                row[a] = b as u32;
            }
        }
    }
    let steps = n.div_ceil(SLICE_STEP);
    let mut cost = vec![0u64; states];
    // Bit s of started[k]: in the best path ending in state s at step k, a slice starts at k.
    let mut started = vec![0u64; steps];
    // The best state at step k - 1 (where a slice starting at step k comes from).
    let mut best_before = vec![0u8; steps];
    for k in (0..steps).step_by(stride.max(1)) {
        let (lo, hi) = (k * SLICE_STEP, ((k + 1) * SLICE_STEP).min(n));
        let mut wsum = [0u32; 16];
        for &v in &sym.idx[lo..hi] {
            let row = &table[usize::from(v)];
            for (acc, &b) in wsum.iter_mut().zip(row) {
                *acc += b;
            }
        }
        let mut zsum = [0u64; Z_DIVS as usize];
        if let Some(r) = runs {
            for (d, acc) in zsum.iter_mut().enumerate() {
                let d = d as u32;
                *acc = r[lo + 1..=hi].iter().map(|&x| z_bits(x, d)).sum::<u64>();
                if k == 0 {
                    // The first slice also codes the zeros before the first weight.
                    *acc += z_bits(r[0], d);
                }
            }
        }
        let (best_s, best) = cost
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(_, c)| c)
            .unwrap_or((0, 0));
        best_before[k] = best_s as u8;
        let switch = if k == 0 {
            HEADER_BITS
        } else {
            best.saturating_add(SWITCH_BITS)
        };
        let mut mask = 0u64;
        for (a, &w) in wsum[..nw].iter().enumerate() {
            let w_bits = if w >= INF32 { INF } else { u64::from(w) };
            for (z, &z_bits) in zsum[..nz].iter().enumerate() {
                let s = a * nz + z;
                let c = &mut cost[s];
                // At 0 every state starts the first slice.
                let base = if k == 0 || switch < *c {
                    mask |= 1 << s;
                    switch
                } else {
                    *c
                };
                *c = base.saturating_add(w_bits).saturating_add(z_bits).min(INF);
            }
        }
        started[k] = mask;
    }
    if stride > 1 {
        let best = cost.iter().copied().min().unwrap_or(0);
        return (Vec::new(), best.saturating_mul(stride as u64));
    }
    // Walk the best path back from the end.
    let (mut s, estimate) = cost
        .iter()
        .copied()
        .enumerate()
        .min_by_key(|&(_, c)| c)
        .unwrap_or((0, 0));
    let mut slices = Vec::new();
    let mut end = n;
    let mut k = steps;
    while k > 0 {
        k -= 1;
        if started[k] & (1 << s) != 0 {
            slices.push(Slice {
                start: k * SLICE_STEP,
                end,
                w: cfgs[s / nz],
                zdiv: (s % nz) as u32,
            });
            end = k * SLICE_STEP;
            s = usize::from(best_before[k]);
        }
    }
    slices.reverse();
    // Respect the SLICELEN field: split long slices (same configuration).
    let mut out = Vec::with_capacity(slices.len());
    for sl in slices {
        let mut a = sl.start;
        while a < sl.end {
            let b = (a + MAX_SLICE).min(sl.end);
            out.push(Slice {
                start: a,
                end: b,
                ..sl
            });
            a = b;
        }
    }
    (out, estimate)
}

// ---------------------------------------------------------------- bitstream

/// Writes the section: the first slice carries the palette (NEWPAL).
fn write_section(b: &mut Bits, sym: &Symbols, plan: &[Slice]) {
    for (k, sl) in plan.iter().enumerate() {
        write_slice(b, sym, sl, k == 0);
    }
}

/// Golomb-Rice state of one interleaved stream (weights or zero runs): the
/// quotient still to be sent in unary and its remainder (`None` for the
/// padding symbols after the stream's last value).
struct Grc {
    q: i64,
    r: Option<u32>,
}

/// Writes one slice: header, then chunks of up to 12 unary symbols per
/// stream, each chunk followed by the previous chunk's remainders, in the
/// interleaving of Arm's codec (which is what the decoder mirrors).
fn write_slice(b: &mut Bits, sym: &Symbols, sl: &Slice, first: bool) {
    let w = &sym.idx[sl.start..sl.end];
    let z: &[u32] = match &sym.runs {
        Some(r) if first => &r[..=sl.end],
        Some(r) => &r[sl.start + 1..=sl.end],
        None => &[],
    };
    let zero_runs = sym.runs.is_some();
    let (wdiv, trunc, raw) = match sl.w {
        WCfg::Grc { div } => (div, false, false),
        WCfg::Trunc { div } => (div, true, false),
        WCfg::Raw => (sym.raw_bits.unwrap_or(9), false, true),
    };
    // Header.
    b.put(3, if zero_runs { sl.zdiv } else { 6 });
    b.put(15, (w.len() - 1) as u32);
    b.put(3, if raw { 7 } else { wdiv });
    b.put(1, u32::from(trunc));
    b.put(1, u32::from(first));
    if first {
        b.put(5, sym.dirofs);
        b.put(5, (sym.palette.len() as u32).saturating_sub(1));
        b.put(3, sym.palbits - 2);
        for &p in &sym.palette {
            b.put(sym.palbits, u32::from(p));
        }
    }
    let zdiv = sl.zdiv;
    let z_unary_len = if zdiv < 3 { 12 } else { 8 };
    let max_symbols = if raw && wdiv > 5 { 8 } else { 12 };
    let (mut w_pos, mut z_pos) = (0usize, 0usize);
    let mut wg = Grc { q: -1, r: None };
    let mut zg = Grc { q: -1, r: None };
    let mut w_prev: Option<Rem> = None;
    let mut z_prev: Option<Rem> = None;
    loop {
        let balance = if zero_runs {
            w_pos as i64 - z_pos as i64
        } else {
            0
        };
        let w_enable = balance < 8 && w_pos < w.len();
        let z_enable = balance >= 0 && zero_runs && z_pos < z.len();
        let mut w_rem = Rem::EMPTY;
        let (mut u0, mut u1, mut u1_len) = (0u32, 0u32, 0u32);
        if w_enable {
            let mut j = 0;
            while j < max_symbols {
                if wg.q < 0 {
                    wg = match w.get(w_pos) {
                        Some(&v) => Grc {
                            q: i64::from(v >> wdiv),
                            r: Some(u32::from(v) & ((1 << wdiv) - 1)),
                        },
                        None => Grc { q: 0, r: None },
                    };
                }
                // Each unary symbol carries 0, 1 or 2 (truncated: 0..=2 in one symbol).
                while wg.q >= 0 && j < max_symbols {
                    if wg.q > 0 {
                        u0 |= 1 << j;
                        if wg.q > 1 {
                            u1 |= 1 << u1_len;
                        }
                        u1_len += 1;
                    }
                    j += 1;
                    wg.q -= if trunc { 3 } else { 2 };
                }
                if wg.q < 0 {
                    if let Some(r) = wg.r.take() {
                        w_rem.push(r);
                        w_pos += 1;
                    }
                }
            }
        }
        let mut z_rem = Rem::EMPTY;
        let mut zu = 0u32;
        if z_enable {
            let mut j = 0;
            while j < z_unary_len {
                if zg.q < 0 {
                    zg = match z.get(z_pos) {
                        Some(&v) => Grc {
                            q: i64::from(v >> zdiv),
                            r: Some(v & ((1 << zdiv) - 1)),
                        },
                        None => Grc { q: 0, r: None },
                    };
                }
                while zg.q >= 0 && j < z_unary_len {
                    if zg.q > 0 {
                        zu |= 1 << j;
                    }
                    j += 1;
                    zg.q -= 1;
                }
                if zg.q < 0 {
                    if let Some(r) = zg.r.take() {
                        z_rem.push(r);
                        z_pos += 1;
                    }
                }
            }
        }
        if w_enable && !raw {
            b.put(12, u0);
        }
        if z_enable {
            b.put(z_unary_len, zu);
        }
        if w_enable && !raw && u1_len > 0 {
            b.put(u1_len, u1);
        }
        if let Some(rem) = &w_prev {
            for &r in rem.as_slice() {
                b.put(wdiv, r);
            }
        }
        if let Some(rem) = &z_prev {
            for &r in rem.as_slice() {
                b.put(zdiv, r);
            }
        }
        w_prev = w_enable.then_some(w_rem);
        z_prev = z_enable.then_some(z_rem);
        if w_prev.is_none() && z_prev.is_none() {
            break;
        }
    }
}

#[cfg(test)]
mod tests;
