//! The Ethos-U55/U65 compressed weight format ("MLW") and the order in which
//! the hardware consumes weights.
//!
//! [`MlwDecoder`] is a streaming, allocation-free decoder of the bitstream
//! described by Arm's reference codec (`mlw_decode.c` in ethos-u-vela): a
//! sequence of slices, each with a header (ZDIV, SLICELEN, WDIV, WTRUNC,
//! NEWPAL, optional palette) and a body of Golomb-Rice coded weight indices
//! interleaved, chunk by chunk, with Golomb-Rice coded zero runs; values are
//! 9-bit sign-magnitude (LSB = sign) after the palette / direct-offset mapping.
//! Every read is bounds-checked: a corrupt stream is a [`MlwError`], never a
//! panic, and every loop consumes input bits or output values, so decoding
//! terminates.
//!
//! [`WeightOrder`] walks the encoder's reorder (`reorder` in `mlw_encode.c`)
//! and says which (OFM channel, kernel y, kernel x, IFM channel) each stream
//! position holds, or that it is padding.

/// Why a compressed weight stream cannot be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MlwError {
    /// What is wrong.
    pub what: &'static str,
    /// Bit position in the weight stream.
    pub bit: u64,
}

/// Symbols decoded per chunk at most (`max_symbols` in the codec).
const CHUNK: usize = 12;
/// Ring buffer capacity for decoded-but-unconsumed values (power of two).
const RING: usize = 64;

#[derive(Clone, Copy, Debug)]
struct Ring {
    vals: [u32; RING],
    /// Absolute index of the next value to consume.
    head: usize,
    /// Absolute index one past the last value produced.
    tail: usize,
}

impl Ring {
    const fn new() -> Ring {
        Ring {
            vals: [0; RING],
            head: 0,
            tail: 0,
        }
    }
    fn reset(&mut self) {
        self.head = 0;
        self.tail = 0;
    }
    fn push(&mut self, v: u32) -> bool {
        if self.tail - self.head >= RING {
            return false;
        }
        self.vals[self.tail % RING] = v;
        self.tail += 1;
        true
    }
    fn pop(&mut self) -> Option<u32> {
        if self.head == self.tail {
            return None;
        }
        let v = self.vals[self.head % RING];
        self.head += 1;
        Some(v)
    }
}

/// Where the output side of the decoder is within a slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Out {
    /// Before the slice header.
    NeedSlice,
    /// Emitting the leading zero run of a slice with a new palette.
    Leading,
    /// About to emit weight `i` of the slice.
    Weight,
    /// Emitting the zero run after the last weight.
    Zeros,
    /// End of the whole stream.
    End,
}

/// Streaming decoder of one compressed weight stream. It holds the decoding
/// state only; every call takes the stream bytes, so the caller may release
/// its borrow of the memory between calls (and copy the state to rewind).
#[derive(Clone, Copy, Debug)]
pub struct MlwDecoder {
    pos: u64,
    // Slice header state.
    first: bool,
    z_prev_grc_div: u32,
    z_grc_div: u32,
    use_zero_run: bool,
    nvalues: usize,
    w_grc_div: u32,
    w_grc_trunc: bool,
    w_uncompressed: bool,
    new_palette: bool,
    palette: [u16; 32],
    palsize: u32,
    palbits: u32,
    direct_offset: u32,
    // Chunk decoding state (mirrors the reference loop).
    w_pos: usize,
    z_pos: usize,
    z_nvalues: usize,
    w_carry: u32,
    z_carry: u32,
    w_prev_enable: bool,
    z_prev_enable: bool,
    w_prev_q: [u32; CHUNK],
    z_prev_q: [u32; CHUNK],
    w_prev_n: usize,
    z_prev_n: usize,
    w_prev_pos: usize,
    z_prev_pos: usize,
    chunks_done: bool,
    w_ring: Ring,
    z_ring: Ring,
    // Output state.
    out: Out,
    out_i: usize,
    zeros_left: u32,
}

impl Default for MlwDecoder {
    fn default() -> Self {
        MlwDecoder::new()
    }
}

impl MlwDecoder {
    /// A decoder at the start of a weight stream.
    pub const fn new() -> MlwDecoder {
        MlwDecoder {
            pos: 0,
            first: true,
            z_prev_grc_div: 0,
            z_grc_div: 0,
            use_zero_run: false,
            nvalues: 0,
            w_grc_div: 0,
            w_grc_trunc: false,
            w_uncompressed: false,
            new_palette: false,
            palette: [0; 32],
            palsize: 0,
            palbits: 0,
            direct_offset: 0,
            w_pos: 0,
            z_pos: 0,
            z_nvalues: 0,
            w_carry: 0,
            z_carry: 0,
            w_prev_enable: false,
            z_prev_enable: false,
            w_prev_q: [0; CHUNK],
            z_prev_q: [0; CHUNK],
            w_prev_n: 0,
            z_prev_n: 0,
            w_prev_pos: 0,
            z_prev_pos: 0,
            chunks_done: true,
            w_ring: Ring::new(),
            z_ring: Ring::new(),
            out: Out::NeedSlice,
            out_i: 0,
            zeros_left: 0,
        }
    }

    fn err(&self, what: &'static str) -> MlwError {
        MlwError {
            what,
            bit: self.pos,
        }
    }

    fn bits(&mut self, buf: &[u8], len: u32) -> Result<u32, MlwError> {
        let mut v = 0u32;
        for i in 0..len {
            let byte = usize::try_from(self.pos >> 3)
                .ok()
                .and_then(|b| buf.get(b))
                .ok_or(self.err("weight stream ends inside a slice"))?;
            v |= u32::from((byte >> (self.pos & 7)) & 1) << i;
            self.pos += 1;
        }
        Ok(v)
    }

    fn at_end(&self, buf: &[u8]) -> bool {
        (self.pos / 8) >= buf.len() as u64
    }

    /// Reads the next slice header; `false` at the end of the stream.
    fn read_slice_header(&mut self, buf: &[u8]) -> Result<bool, MlwError> {
        if self.at_end(buf) {
            return Ok(false);
        }
        let mut z = self.bits(buf, 3)?;
        while z == 7 {
            // End of stream marker: byte align; continue if more data follows.
            let pad = ((8 - (self.pos & 7)) & 7) as u32;
            self.bits(buf, pad)?;
            self.first = true;
            if self.at_end(buf) {
                return Ok(false);
            }
            z = self.bits(buf, 3)?;
        }
        if self.at_end(buf) {
            return Ok(false);
        }
        if !(z < 4 || z == 6) {
            return Err(self.err("reserved ZDIV value"));
        }
        self.use_zero_run = z != 6;
        self.nvalues = self.bits(buf, 15)? as usize + 1;
        let mut wdiv = self.bits(buf, 3)?;
        self.w_grc_trunc = self.bits(buf, 1)? == 1;
        self.new_palette = self.bits(buf, 1)? == 1;
        if self.first {
            if !self.new_palette {
                return Err(self.err("first slice without a palette/direct-offset setup"));
            }
            self.first = false;
        }
        if !self.new_palette && (self.use_zero_run != (self.z_prev_grc_div != 6)) {
            return Err(self.err("zero-run mode changes without a new palette"));
        }
        self.z_prev_grc_div = z;
        self.z_grc_div = z;
        if self.new_palette {
            self.direct_offset = self.bits(buf, 5)?;
            let p = self.bits(buf, 5)?;
            self.palsize = if p > 0 { p + 1 } else { 0 };
            self.palbits = self.bits(buf, 3)? + 2;
            for i in 0..self.palsize as usize {
                self.palette[i] = self.bits(buf, self.palbits)? as u16;
            }
        }
        if wdiv == 7 {
            self.w_uncompressed = true;
            wdiv = if self.palsize > 0 {
                let mut b = 0;
                while (1u32 << b) < self.palsize {
                    b += 1;
                }
                b
            } else {
                self.palbits
            };
        } else {
            self.w_uncompressed = false;
            if wdiv >= 6 {
                return Err(self.err("reserved WDIV value"));
            }
        }
        self.w_grc_div = wdiv;
        self.z_nvalues = self.nvalues + usize::from(self.new_palette);
        self.w_pos = 0;
        self.z_pos = 0;
        self.w_carry = 0;
        self.z_carry = 0;
        self.w_prev_enable = false;
        self.z_prev_enable = false;
        self.w_prev_n = 0;
        self.z_prev_n = 0;
        self.w_prev_pos = 0;
        self.z_prev_pos = 0;
        self.chunks_done = false;
        self.w_ring.reset();
        self.z_ring.reset();
        Ok(true)
    }

    /// Decodes one chunk of the current slice (one iteration of the reference loop).
    fn decode_chunk(&mut self, buf: &[u8]) -> Result<(), MlwError> {
        let balance = if self.use_zero_run {
            self.w_pos as isize - self.z_pos as isize
        } else {
            0
        };
        let w_enable = (balance < 8 || !self.use_zero_run) && self.w_pos < self.nvalues;
        let z_enable = balance >= 0 && self.use_zero_run && self.z_pos < self.z_nvalues;
        let mut w_unary0 = 0;
        if w_enable && !self.w_uncompressed {
            w_unary0 = self.bits(buf, 12)?;
        }
        let mut z_q = [0u32; CHUNK];
        let mut z_n = 0;
        if z_enable {
            let z_unary_len = if self.z_grc_div < 3 { 12 } else { 8 };
            let z_unary = self.bits(buf, z_unary_len)?;
            let mut cnt = self.z_carry;
            for i in 0..z_unary_len {
                if z_unary & (1 << i) != 0 {
                    cnt += 1;
                } else {
                    z_q[z_n] = cnt;
                    z_n += 1;
                    cnt = 0;
                }
            }
            self.z_carry = cnt;
            self.z_pos += z_n;
        }
        let mut w_q = [0u32; CHUNK];
        let mut w_n = 0;
        if w_enable {
            let max_symbols = if self.w_uncompressed && self.w_grc_div > 5 {
                8
            } else {
                12
            };
            let ones = (0..max_symbols)
                .filter(|i| w_unary0 & (1 << i) != 0)
                .count() as u32;
            let mut w_unary1 = self.bits(buf, ones)?;
            let mut cnt = self.w_carry;
            for i in 0..max_symbols {
                let mut code = 0;
                if w_unary0 & (1 << i) != 0 {
                    code += 1;
                    if w_unary1 & 1 != 0 {
                        code += 1;
                    }
                    w_unary1 >>= 1;
                }
                cnt += code;
                if code < 2 || self.w_grc_trunc {
                    w_q[w_n] = cnt;
                    w_n += 1;
                    cnt = 0;
                }
            }
            self.w_carry = cnt;
            self.w_pos += w_n;
        }
        if self.w_prev_enable {
            let mut i = 0;
            while i < self.w_prev_n && self.w_prev_pos < self.nvalues {
                let remain = self.bits(buf, self.w_grc_div)?;
                let v = (self.w_prev_q[i] << self.w_grc_div) + remain;
                if !self.w_ring.push(v) {
                    return Err(self.err("weight values decoded too far ahead of zero runs"));
                }
                i += 1;
                self.w_prev_pos += 1;
            }
        }
        if self.z_prev_enable {
            let mut i = 0;
            while i < self.z_prev_n && self.z_prev_pos < self.z_nvalues {
                let remain = self.bits(buf, self.z_grc_div)?;
                let v = (self.z_prev_q[i] << self.z_grc_div) + remain;
                if !self.z_ring.push(v) {
                    return Err(self.err("zero runs decoded too far ahead of weights"));
                }
                i += 1;
                self.z_prev_pos += 1;
            }
        }
        self.w_prev_enable = w_enable;
        self.w_prev_n = w_n;
        self.w_prev_q = w_q;
        self.z_prev_enable = z_enable;
        self.z_prev_n = z_n;
        self.z_prev_q = z_q;
        if !self.w_prev_enable && !self.z_prev_enable {
            self.chunks_done = true;
        }
        Ok(())
    }

    fn next_w(&mut self, buf: &[u8]) -> Result<u32, MlwError> {
        loop {
            if let Some(v) = self.w_ring.pop() {
                return Ok(v);
            }
            if self.chunks_done {
                return Err(self.err("slice has fewer weights than its SLICELEN"));
            }
            self.decode_chunk(buf)?;
        }
    }

    fn next_z(&mut self, buf: &[u8]) -> Result<u32, MlwError> {
        loop {
            if let Some(v) = self.z_ring.pop() {
                return Ok(v);
            }
            if self.chunks_done {
                return Err(self.err("slice has fewer zero runs than weights"));
            }
            self.decode_chunk(buf)?;
        }
    }

    /// Finishes the chunk loop of the current slice (the reference decodes
    /// until neither stream is enabled before reading the next header).
    fn finish_slice(&mut self, buf: &[u8]) -> Result<(), MlwError> {
        while !self.chunks_done {
            self.decode_chunk(buf)?;
        }
        Ok(())
    }

    fn weight_value(&self, w: u32) -> Result<i16, MlwError> {
        let val = if w < self.palsize {
            u32::from(self.palette[w as usize])
        } else {
            (w - self.palsize)
                .checked_add(self.direct_offset)
                .ok_or(self.err("weight index overflows"))?
        };
        if val >= 512 {
            return Err(self.err("weight value wider than 9 bits"));
        }
        let mag = (val >> 1) as i16;
        Ok(if val & 1 != 0 { -mag } else { mag })
    }

    /// The next decoded weight, `Ok(None)` at the end of the stream.
    pub fn next_weight(&mut self, buf: &[u8]) -> Result<Option<i16>, MlwError> {
        loop {
            match self.out {
                Out::End => return Ok(None),
                Out::NeedSlice => {
                    if !self.read_slice_header(buf)? {
                        self.out = Out::End;
                        continue;
                    }
                    self.out_i = 0;
                    if self.new_palette && self.use_zero_run {
                        self.zeros_left = self.next_z(buf)?;
                        self.out = Out::Leading;
                    } else {
                        self.out = Out::Weight;
                    }
                }
                Out::Leading => {
                    if self.zeros_left > 0 {
                        self.zeros_left -= 1;
                        return Ok(Some(0));
                    }
                    self.out = Out::Weight;
                }
                Out::Weight => {
                    if self.out_i >= self.nvalues {
                        self.finish_slice(buf)?;
                        self.out = Out::NeedSlice;
                        continue;
                    }
                    let w = self.next_w(buf)?;
                    let v = self.weight_value(w)?;
                    self.out_i += 1;
                    if self.use_zero_run {
                        self.zeros_left = self.next_z(buf)?;
                        self.out = Out::Zeros;
                    }
                    return Ok(Some(v));
                }
                Out::Zeros => {
                    if self.zeros_left > 0 {
                        self.zeros_left -= 1;
                        return Ok(Some(0));
                    }
                    self.out = Out::Weight;
                }
            }
        }
    }

    /// The next weight; the end of the stream is an error (the hardware needs it).
    pub fn expect_weight(&mut self, buf: &[u8]) -> Result<i16, MlwError> {
        self.next_weight(buf)?
            .ok_or(self.err("weight stream ends before the operation's last weight"))
    }
}

/// Parameters of the weight order (from the operation's registers and the NPU configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightOrder {
    /// IFM micro-block depth of the configuration (8 on every U55/U65).
    pub ifm_ublock_depth: u32,
    /// OFM micro-block depth (4 on U55-32, else 8).
    pub ofm_ublock_depth: u32,
    /// OFM depth of the operation.
    pub ofm_depth: u32,
    /// Kernel height (taps, not dilated).
    pub kernel_height: u32,
    /// Kernel width (taps).
    pub kernel_width: u32,
    /// IFM depth of the operation (1 for depthwise).
    pub ifm_depth: u32,
    /// OFM block depth (OFM_BLK_DEPTH_M1 + 1).
    pub ofm_block_depth: u32,
    /// Depthwise operation.
    pub depthwise: bool,
    /// Part-kernel-first traversal.
    pub part_kernel: bool,
    /// IFM element bits (8 or 16).
    pub ifm_bits: u32,
    /// Sub-kernel height (8 / dilation).
    pub decomp_h: u32,
    /// Sub-kernel width (8 / dilation).
    pub decomp_w: u32,
}

/// One stream position: which weight it is (OFM channel, ky, kx, IFM channel), or padding.
pub type Slot = Option<(u32, u32, u32, u32)>;

impl WeightOrder {
    /// Calls `f` for every stream position of the OFM block starting at
    /// channel `block_z`, in stream order. Stops at the first error of `f`.
    pub fn walk_block<E>(
        &self,
        block_z: u32,
        mut f: impl FnMut(Slot) -> Result<(), E>,
    ) -> Result<(), E> {
        let ifm_ublock = self.ifm_ublock_depth.max(1);
        let ofm_ublock = self.ofm_ublock_depth.max(1);
        let decomp_h = self.decomp_h.max(1);
        let decomp_w = self.decomp_w.max(1);
        let ifm_block_depth = if self.part_kernel || self.ifm_bits == 16 {
            16
        } else {
            32
        };
        let clipped_ofm = self
            .ofm_block_depth
            .max(1)
            .min(self.ofm_depth.saturating_sub(block_z));
        let ifm_outer_end = if self.depthwise { 1 } else { self.ifm_depth };
        let mut ifm_block_z = 0;
        while ifm_block_z < ifm_outer_end {
            let clipped_ifm = if self.depthwise {
                ifm_ublock
            } else if self.part_kernel {
                ifm_block_depth.min(self.ifm_depth - ifm_block_z)
            } else {
                ifm_block_depth
            };
            let mut sy = 0;
            while sy < self.kernel_height {
                let sub_h = (self.kernel_height - sy).min(decomp_h);
                let mut sx = 0;
                while sx < self.kernel_width {
                    let sub_w = (self.kernel_width - sx).min(decomp_w);
                    let mut elements = sub_w * sub_h;
                    if self.part_kernel {
                        if self.ifm_bits == 16 {
                            elements = elements.div_ceil(2) * 2;
                        } else if self.ifm_bits == 8 {
                            elements = elements.div_ceil(4) * 4;
                        }
                    } else if self.depthwise {
                        elements = elements.div_ceil(4) * 4;
                    }
                    let (outer, inner) = if self.part_kernel {
                        (clipped_ifm, 1)
                    } else {
                        (1, clipped_ifm)
                    };
                    let mut ifm_ublk_outer = 0;
                    while ifm_ublk_outer < outer {
                        let mut ofm_ublk = 0;
                        while ofm_ublk < clipped_ofm {
                            for element in 0..elements {
                                let kx = element % sub_w;
                                let ky = element / sub_w;
                                let mut ifm_ublk_inner = 0;
                                while ifm_ublk_inner < inner {
                                    for ofm_uz in 0..ofm_ublock {
                                        let n = if self.depthwise { 1 } else { ifm_ublock };
                                        for ifm_uz in 0..n {
                                            let ifm_z = ifm_block_z
                                                + ifm_ublk_inner
                                                + ifm_ublk_outer
                                                + ifm_uz;
                                            let ofm_z = block_z + ofm_ublk + ofm_uz;
                                            let real = ifm_z < self.ifm_depth
                                                && ofm_z < self.ofm_depth
                                                && ofm_z < block_z + clipped_ofm
                                                && ky < sub_h;
                                            f(if real {
                                                Some((ofm_z, sy + ky, sx + kx, ifm_z))
                                            } else {
                                                None
                                            })?;
                                        }
                                    }
                                    ifm_ublk_inner += ifm_ublock;
                                }
                            }
                            ofm_ublk += ofm_ublock;
                        }
                        ifm_ublk_outer += ifm_ublock;
                    }
                    sx += decomp_w;
                }
                sy += decomp_h;
            }
            ifm_block_z += ifm_block_depth;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn decode_all(b: &[u8]) -> Result<Vec<i16>, MlwError> {
        let mut d = MlwDecoder::new();
        let mut v = Vec::new();
        while let Some(w) = d.next_weight(b)? {
            v.push(w);
            assert!(v.len() < 1 << 20);
        }
        Ok(v)
    }

    fn unhex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|c| c.is_ascii_hexdigit()).collect();
        s.chunks(2)
            .map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    #[test]
    fn empty_and_truncated_streams() {
        assert_eq!(decode_all(&[]).unwrap(), Vec::<i16>::new());
        // A lone end-of-stream marker.
        assert_eq!(decode_all(&[0x07]).unwrap(), Vec::<i16>::new());
        // A slice header cut short is an error, not a panic.
        assert!(decode_all(&[0x00, 0x01]).is_err());
    }

    #[test]
    fn every_short_mutation_terminates() {
        // Arbitrary bytes: decoding ends (value or error) without panicking.
        let mut seed = 0x1234_5678u32;
        for len in 0..40 {
            for _ in 0..50 {
                let b: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        seed as u8
                    })
                    .collect();
                let _ = decode_all(&b);
            }
        }
    }

    // Oracle vectors: Arm's codec (ethos-u-vela 5.2.0 `mlw_codec.encode`)
    // applied to the listed values; the decoder must return them exactly.
    #[test]
    fn decodes_reference_encoder_output() {
        for (values, hex) in super::super::oracle::VECTORS {
            let got = decode_all(&unhex(hex)).unwrap();
            assert_eq!(&got[..], *values);
        }
    }

    #[test]
    fn reorder_matches_reference_encoder() {
        for case in super::super::oracle::REORDER {
            let o = case.order;
            let mut slots = Vec::new();
            let mut z = 0;
            while z < o.ofm_depth {
                o.walk_block::<()>(z, |s| {
                    slots.push(s);
                    Ok(())
                })
                .unwrap();
                z += o.ofm_block_depth;
            }
            let decoded = decode_all(&unhex(case.hex)).unwrap();
            assert_eq!(decoded.len(), slots.len(), "{}", case.name);
            // The source weights are w(o, y, x, i) = case.value(o, y, x, i).
            for (s, d) in slots.iter().zip(&decoded) {
                let want = match s {
                    Some((oc, ky, kx, ic)) => (case.value)(*oc, *ky, *kx, *ic),
                    None => 0,
                };
                assert_eq!(*d, want, "{} slot {:?}", case.name, s);
            }
        }
    }
}
