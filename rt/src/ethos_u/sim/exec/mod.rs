//! Execution of one NPU operation from the register file.

use super::mlw::{MlwDecoder, MlwError, WeightOrder};
use super::perf::{self, BlockOp, Cost, Dpu, ElementwiseOp, FmUse};
use super::{Access, NpuError, NpuModel, OpKind, OpReport, RegFile};
use crate::ethos_u::config::{Ifm2Kind, ShramOp, ShramUse};
use crate::ethos_u::driver::{NpuMemory, MAX_REGIONS};
use crate::ethos_u::regs::{
    AccFormat, Activation, ActivationFunction, ActivationPrecision, BadField, ClipRange,
    Cmd0Op as C0, Cmd1Op as C1, DmaRegion, DmaRegionMode, DmaStrideMode, ElementwiseMode,
    Ifm2Broadcast, IfmPrecision, IfmScaleMode, KernelStride, OfmPrecision, OfmScaleMode, Opcode,
    OperandOrder, PoolingMode, RoundMode, UpscaleMode, WeightOrder as WeightTraversal,
    SHRAM_LUT_BYTES, SHRAM_LUT_SLOT_BYTES,
};

/// Decoded weights held at once (one OFM block, or a channel group of it).
pub(super) const WEIGHT_CAPACITY: usize = 16384;

fn field_err(offset: u32, register: C0) -> impl Fn(BadField) -> NpuError {
    move |bad| NpuError::Field {
        offset,
        register: Opcode::Cmd0(register),
        bad,
    }
}

fn invalid(offset: u32, what: &'static str, value: i64) -> NpuError {
    NpuError::Invalid {
        offset,
        what,
        value,
    }
}

// ---------------------------------------------------------------- rescale

/// `p / 2^s` rounded half up (towards +infinity); `s` may be 0.
fn round_half_up(p: i128, s: u32) -> i128 {
    if s == 0 {
        p
    } else if s >= 127 {
        0
    } else {
        (p + (1i128 << (s - 1))) >> s
    }
}

/// `p / 2^s` rounded half away from zero (gemmlowp `RoundingDivideByPOT`).
fn round_half_away(p: i128, s: u32) -> i128 {
    if s == 0 {
        p
    } else if s >= 127 {
        0
    } else {
        let half = 1i128 << (s - 1);
        if p >= 0 {
            (p + half) >> s
        } else {
            -((-p + half) >> s)
        }
    }
}

/// `p / 2^s` with the given rounding.
fn round_shift(p: i128, s: u32, mode: RoundMode) -> i128 {
    match mode {
        // A pure shift in DBL mode is TFLite's RoundingDivideByPOT.
        RoundMode::Dbl => round_half_away(p, s),
        RoundMode::Natural => round_half_up(p, s),
        RoundMode::Truncate => {
            if s >= 127 {
                if p < 0 {
                    -1
                } else {
                    0
                }
            } else {
                p >> s
            }
        }
    }
}

/// `v * scale / 2^shift` with the output stage's rounding.
///
/// DBL is TFLite's `MultiplyByQuantizedMultiplier` with multiplier `scale`
/// and exponent `31 - shift`: for `shift <= 31` the left shift is exact and a
/// single rounding doubling high multiply remains (round half up); for
/// `shift > 31` the high multiply (half up at bit 31) is followed by a
/// rounding divide by `2^(shift - 31)` (half away from zero).
pub(super) fn rescale(v: i64, scale: u32, shift: u32, mode: RoundMode) -> i64 {
    let p = v as i128 * scale as i128;
    let r = match mode {
        RoundMode::Dbl if shift > 31 => round_half_away(round_half_up(p, 31), shift - 31),
        RoundMode::Dbl => round_half_up(p, shift),
        _ => round_shift(p, shift, mode),
    };
    r.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

// ---------------------------------------------------------------- memory

fn region_bytes<'m>(
    mem: &'m NpuMemory<'_, '_>,
    offset: u32,
    access: Access,
    region: u8,
) -> Result<&'m [u8], NpuError> {
    mem.region(region as usize).ok_or(NpuError::BadRegion {
        offset,
        access,
        region,
        what: "is absent",
    })
}

fn span(
    buf_len: usize,
    offset: u32,
    access: Access,
    region: u8,
    address: u64,
    len: u64,
) -> Result<core::ops::Range<usize>, NpuError> {
    let oob = NpuError::OutOfRegion {
        offset,
        access,
        region,
        address,
        len,
        region_len: buf_len as u64,
    };
    let end = address.checked_add(len).ok_or(oob)?;
    if end > buf_len as u64 {
        return Err(oob);
    }
    // Both fit in usize: they are at most buf_len.
    Ok(address as usize..end as usize)
}

/// Bytes `[address, address + len)` of a region, read-only.
fn read_span<'m>(
    mem: &'m NpuMemory<'_, '_>,
    offset: u32,
    access: Access,
    region: u8,
    address: u64,
    len: u64,
) -> Result<&'m [u8], NpuError> {
    let b = region_bytes(mem, offset, access, region)?;
    let r = span(b.len(), offset, access, region, address, len)?;
    Ok(&b[r])
}

/// Bytes `[address, address + len)` of a region, writable.
fn write_span<'m>(
    mem: &'m mut NpuMemory<'_, '_>,
    offset: u32,
    access: Access,
    region: u8,
    address: u64,
    len: u64,
) -> Result<&'m mut [u8], NpuError> {
    if mem.region(region as usize).is_none() {
        return Err(NpuError::BadRegion {
            offset,
            access,
            region,
            what: "is absent",
        });
    }
    let b = mem.region_mut(region as usize).ok_or(NpuError::BadRegion {
        offset,
        access,
        region,
        what: "is read-only",
    })?;
    let r = span(b.len(), offset, access, region, address, len)?;
    Ok(&mut b[r])
}

fn decode_elem(b: &[u8], signed: bool) -> i64 {
    match (b.len(), signed) {
        (1, true) => b[0] as i8 as i64,
        (1, false) => b[0] as i64,
        (2, true) => i16::from_le_bytes([b[0], b[1]]) as i64,
        (2, false) => u16::from_le_bytes([b[0], b[1]]) as i64,
        (4, true) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
        (4, false) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
        (8, _) => i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        _ => 0,
    }
}

/// A feature map as the registers describe it.
#[derive(Clone, Copy, Debug)]
struct Fm {
    access: Access,
    region: u8,
    base: [u64; 4],
    height0: u64,
    height1: u64,
    width0: u64,
    stride_x: u64,
    stride_y: u64,
    stride_c: u64,
    elem: u64,
    signed: bool,
    brick: bool,
    zp: i64,
    bits: u32,
}

impl Fm {
    /// Byte address of element (y, x, c): pick the tile, then NHWC or NHCWB16.
    fn addr(&self, y: u64, x: u64, c: u64) -> Option<u64> {
        let (t, y, x) = if x < self.width0 {
            if y < self.height0 {
                (0, y, x)
            } else {
                (2, y - self.height0, x)
            }
        } else if y < self.height1 {
            (1, y, x - self.width0)
        } else {
            (3, y - self.height1, x - self.width0)
        };
        let c_off = if self.brick {
            (c / 16)
                .checked_mul(self.stride_c)?
                .checked_add((c % 16) * self.elem)?
        } else {
            c.checked_mul(self.stride_c)?
        };
        self.base[t]
            .checked_add(y.checked_mul(self.stride_y)?)?
            .checked_add(x.checked_mul(self.stride_x)?)?
            .checked_add(c_off)
    }

    fn oob(&self, offset: u32) -> NpuError {
        NpuError::OutOfRegion {
            offset,
            access: self.access,
            region: self.region,
            address: u64::MAX,
            len: self.elem,
            region_len: 0,
        }
    }

    fn read(
        &self,
        mem: &NpuMemory<'_, '_>,
        offset: u32,
        y: u64,
        x: u64,
        c: u64,
    ) -> Result<i64, NpuError> {
        let a = self.addr(y, x, c).ok_or(self.oob(offset))?;
        let b = read_span(mem, offset, self.access, self.region, a, self.elem)?;
        Ok(decode_elem(b, self.signed))
    }

    fn write(
        &self,
        mem: &mut NpuMemory<'_, '_>,
        offset: u32,
        y: u64,
        x: u64,
        c: u64,
        v: i64,
    ) -> Result<(), NpuError> {
        let a = self.addr(y, x, c).ok_or(self.oob(offset))?;
        let b = write_span(mem, offset, self.access, self.region, a, self.elem)?;
        let bytes = v.to_le_bytes();
        b.copy_from_slice(&bytes[..b.len()]);
        Ok(())
    }

    /// The value range of the element type.
    fn range(&self) -> (i64, i64) {
        type_range(self.bits, self.signed)
    }
}

fn type_range(bits: u32, signed: bool) -> (i64, i64) {
    match (bits, signed) {
        (64, _) => (i64::MIN, i64::MAX),
        (b, true) => (-(1i64 << (b - 1)), (1i64 << (b - 1)) - 1),
        (b, false) => (0, (1i64 << b) - 1),
    }
}

fn zero_point(raw: u16, signed: bool) -> i64 {
    if signed {
        raw as i16 as i64
    } else {
        raw as i64
    }
}

#[allow(clippy::too_many_arguments)]
fn fm_from(
    r: &RegFile,
    access: Access,
    region: C0,
    bases: [C1; 4],
    tiles: [C0; 3],
    strides: [C1; 3],
    precision: ActivationPrecision,
    signed: bool,
    brick: bool,
    zp: C0,
) -> Fm {
    let bits = precision.bytes() * 8;
    Fm {
        access,
        region: (r.r0(region) & 7) as u8,
        base: bases.map(|b| r.addr(b)),
        height0: r.r0(tiles[0]) as u64 + 1,
        height1: r.r0(tiles[1]) as u64 + 1,
        width0: r.r0(tiles[2]) as u64 + 1,
        stride_x: r.addr(strides[0]),
        stride_y: r.addr(strides[1]),
        stride_c: r.addr(strides[2]),
        elem: precision.bytes() as u64,
        signed,
        brick,
        zp: zero_point(r.r0(zp), signed),
        bits,
    }
}

fn ifm(r: &RegFile, offset: u32) -> Result<(Fm, IfmPrecision), NpuError> {
    let p = IfmPrecision::decode(r.r0(C0::SET_IFM_PRECISION))
        .map_err(field_err(offset, C0::SET_IFM_PRECISION))?;
    let fm = fm_from(
        r,
        Access::IfmRead,
        C0::SET_IFM_REGION,
        [
            C1::SET_IFM_BASE0,
            C1::SET_IFM_BASE1,
            C1::SET_IFM_BASE2,
            C1::SET_IFM_BASE3,
        ],
        [
            C0::SET_IFM_HEIGHT0_M1,
            C0::SET_IFM_HEIGHT1_M1,
            C0::SET_IFM_WIDTH0_M1,
        ],
        [
            C1::SET_IFM_STRIDE_X,
            C1::SET_IFM_STRIDE_Y,
            C1::SET_IFM_STRIDE_C,
        ],
        p.precision,
        p.signed(),
        p.format == crate::ethos_u::regs::ActivationFormat::Nhcwb16,
        C0::SET_IFM_ZERO_POINT,
    );
    Ok((fm, p))
}

fn ifm2(r: &RegFile, offset: u32) -> Result<Fm, NpuError> {
    // IFM2_PRECISION has no scale/round fields; decode with them masked.
    let raw = r.r0(C0::SET_IFM2_PRECISION) & 0x00FF;
    let p = IfmPrecision::decode(raw).map_err(field_err(offset, C0::SET_IFM2_PRECISION))?;
    Ok(fm_from(
        r,
        Access::Ifm2Read,
        C0::SET_IFM2_REGION,
        [
            C1::SET_IFM2_BASE0,
            C1::SET_IFM2_BASE1,
            C1::SET_IFM2_BASE2,
            C1::SET_IFM2_BASE3,
        ],
        [
            C0::SET_IFM2_HEIGHT0_M1,
            C0::SET_IFM2_HEIGHT1_M1,
            C0::SET_IFM2_WIDTH0_M1,
        ],
        [
            C1::SET_IFM2_STRIDE_X,
            C1::SET_IFM2_STRIDE_Y,
            C1::SET_IFM2_STRIDE_C,
        ],
        p.precision,
        p.signed(),
        p.format == crate::ethos_u::regs::ActivationFormat::Nhcwb16,
        C0::SET_IFM2_ZERO_POINT,
    ))
}

fn ofm(r: &RegFile, offset: u32) -> Result<(Fm, OfmPrecision), NpuError> {
    let p = OfmPrecision::decode(r.r0(C0::SET_OFM_PRECISION))
        .map_err(field_err(offset, C0::SET_OFM_PRECISION))?;
    let fm = fm_from(
        r,
        Access::OfmWrite,
        C0::SET_OFM_REGION,
        [
            C1::SET_OFM_BASE0,
            C1::SET_OFM_BASE1,
            C1::SET_OFM_BASE2,
            C1::SET_OFM_BASE3,
        ],
        [
            C0::SET_OFM_HEIGHT0_M1,
            C0::SET_OFM_HEIGHT1_M1,
            C0::SET_OFM_WIDTH0_M1,
        ],
        [
            C1::SET_OFM_STRIDE_X,
            C1::SET_OFM_STRIDE_Y,
            C1::SET_OFM_STRIDE_C,
        ],
        p.precision,
        p.signed(),
        p.format == crate::ethos_u::regs::ActivationFormat::Nhcwb16,
        C0::SET_OFM_ZERO_POINT,
    );
    Ok((fm, p))
}

/// OFM dimensions.
#[derive(Clone, Copy, Debug)]
struct Dims {
    h: u64,
    w: u64,
    d: u64,
}

fn ofm_dims(r: &RegFile) -> Dims {
    Dims {
        h: r.r0(C0::SET_OFM_HEIGHT_M1) as u64 + 1,
        w: r.r0(C0::SET_OFM_WIDTH_M1) as u64 + 1,
        d: r.r0(C0::SET_OFM_DEPTH_M1) as u64 + 1,
    }
}

// ---------------------------------------------------------------- output stage

#[derive(Clone, Copy, Debug)]
enum Lut {
    None,
    /// 256 entries of the OFM's 8-bit type.
    Byte(u32),
    /// 256 little-endian i32 entries (1 KiB, 4 slots).
    Word(u32),
}

/// Everything after the rescale: zero point, clamp, LUT, saturation.
#[derive(Clone, Copy, Debug)]
struct OutStage {
    zp: i64,
    lo: i64,
    hi: i64,
    lut: Lut,
    lut_base: i64,
    sat: (i64, i64),
}

impl OutStage {
    fn new(r: &RegFile, offset: u32, o: &Fm) -> Result<OutStage, NpuError> {
        let act = Activation::decode(r.r0(C0::SET_ACTIVATION))
            .map_err(field_err(offset, C0::SET_ACTIVATION))?;
        let sat = o.range();
        let (range, forced) = match act.clip_range {
            ClipRange::OfmPrecision => (sat, false),
            ClipRange::ForceUint8 => ((0, 255), true),
            ClipRange::ForceInt8 => ((-128, 127), true),
            ClipRange::ForceInt16 => ((-32768, 32767), true),
        };
        let unsigned_bounds =
            matches!(act.clip_range, ClipRange::ForceUint8) || (!forced && !o.signed);
        let bound = |v: u16| {
            if unsigned_bounds {
                v as i64
            } else {
                v as i16 as i64
            }
        };
        let (mut lo, mut hi) = range;
        // The 16-bit clip bounds apply to outputs of at most 16 bits (or a forced range).
        if forced || o.bits <= 16 {
            lo = lo.max(bound(r.r0(C0::SET_ACTIVATION_MIN)));
            hi = hi.min(bound(r.r0(C0::SET_ACTIVATION_MAX)));
        }
        let lut = match act.function {
            ActivationFunction::Relu => Lut::None,
            ActivationFunction::Tanh | ActivationFunction::Sigmoid => {
                return Err(NpuError::Unsupported {
                    offset,
                    what: "hardware TANH/SIGMOID activation (int16)",
                })
            }
            f => {
                let slot = f.table_slot().unwrap_or(0);
                match o.bits {
                    8 => Lut::Byte(slot),
                    32 => Lut::Word(slot),
                    _ => {
                        return Err(NpuError::Unsupported {
                            offset,
                            what: "16-bit interpolating LUT activation",
                        })
                    }
                }
            }
        };
        let bytes = match lut {
            Lut::None => 0,
            Lut::Byte(s) => s * SHRAM_LUT_SLOT_BYTES + 256,
            Lut::Word(s) => s * SHRAM_LUT_SLOT_BYTES + 1024,
        };
        if bytes > SHRAM_LUT_BYTES {
            return Err(invalid(
                offset,
                "LUT extends past the SHRAM LUT area",
                bytes as i64,
            ));
        }
        Ok(OutStage {
            zp: o.zp,
            lo,
            hi,
            lut,
            lut_base: range.0,
            sat,
        })
    }

    fn apply(&self, lut: &[u8], v: i64) -> i64 {
        // Sequential max/min: ACTIVATION_MIN above ACTIVATION_MAX gives MAX, not a panic.
        let v = v.saturating_add(self.zp).max(self.lo).min(self.hi);
        let v = match self.lut {
            Lut::None => v,
            Lut::Byte(slot) => {
                let i = (slot * SHRAM_LUT_SLOT_BYTES) as usize + lut_index(v, self.lut_base);
                // The index is within 0..256 (v is clamped to an 8-bit range) and the
                // slot was checked against the LUT area in `new`.
                let b = lut.get(i).copied().unwrap_or(0);
                if self.sat.0 < 0 {
                    b as i8 as i64
                } else {
                    b as i64
                }
            }
            Lut::Word(slot) => {
                let i = (slot * SHRAM_LUT_SLOT_BYTES) as usize + 4 * lut_index(v, self.lut_base);
                match lut.get(i..i + 4) {
                    Some(b) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
                    None => 0,
                }
            }
        };
        v.clamp(self.sat.0, self.sat.1)
    }
}

/// The LUT entry for `v` (0..256); clip bounds outside the 8-bit range saturate.
fn lut_index(v: i64, base: i64) -> usize {
    v.saturating_sub(base).clamp(0, 255) as usize
}

fn global_scale(r: &RegFile) -> (u32, u32) {
    let (p, v) = r.r1(C1::SET_OFM_SCALE);
    (v, (p & 0x3F) as u32)
}

// ---------------------------------------------------------------- cycle model

/// The operation's report from the cycle model's verdict (see `perf.rs`).
fn report(offset: u32, kind: OpKind, work: u64, cost: Cost) -> OpReport {
    OpReport {
        offset,
        kind,
        work,
        bytes: cost.bytes,
        cycles: cost.cycles,
        ofm: [0; 3],
    }
}

/// The OFM block (height, width, depth) Vela chose: NPU_SET_OFM_BLK_*_M1.
fn ofm_block(r: &RegFile) -> (u64, u64, u64) {
    (
        (r.r0(C0::SET_OFM_BLK_HEIGHT_M1) & 0x3F) as u64 + 1,
        (r.r0(C0::SET_OFM_BLK_WIDTH_M1) & 0x3F) as u64 + 1,
        (r.r0(C0::SET_OFM_BLK_DEPTH_M1) & 0x7F) as u64 + 1,
    )
}

impl Fm {
    /// The feature map's access pattern for the cycle model.
    fn usage(&self, depth: u64) -> FmUse {
        FmUse {
            region: self.region,
            elem: self.elem,
            brick: self.brick,
            depth,
        }
    }
}

impl Kernel {
    /// 2 with IFM upscaling (nearest or zero insertion), else 1.
    fn upscale_factor(&self) -> u64 {
        match self.upscale {
            UpscaleMode::None => 1,
            _ => 2,
        }
    }
}

fn add_bytes(bytes: &mut [u64; MAX_REGIONS], region: u8, n: u64) {
    if let Some(b) = bytes.get_mut(region as usize) {
        *b = b.saturating_add(n);
    }
}

// ---------------------------------------------------------------- kernel geometry

#[derive(Clone, Copy, Debug)]
struct Kernel {
    taps_h: u64,
    taps_w: u64,
    stride_y: u64,
    stride_x: u64,
    dil_y: u64,
    dil_x: u64,
    pad_top: i64,
    pad_left: i64,
    /// IFM extent in (upscaled) IFM coordinates.
    ifm_h: i64,
    ifm_w: i64,
    upscale: UpscaleMode,
    stride_bits: KernelStride,
}

fn kernel(r: &RegFile, offset: u32, ofm: Dims) -> Result<Kernel, NpuError> {
    let ks = KernelStride::decode(r.r0(C0::SET_KERNEL_STRIDE));
    let dil_y = ks.dilation_y() as u64;
    let dil_x = ks.dilation_x() as u64;
    let kh_m1 = r.r0(C0::SET_KERNEL_HEIGHT_M1) as u64;
    let kw_m1 = r.r0(C0::SET_KERNEL_WIDTH_M1) as u64;
    if kh_m1 % dil_y != 0 || kw_m1 % dil_x != 0 {
        return Err(invalid(
            offset,
            "dilated kernel extent is not a multiple of the dilation",
            kh_m1 as i64,
        ));
    }
    let up = r.r0(C0::SET_IFM_UPSCALE) as u32 & 3;
    let upscale = UpscaleMode::from_bits(up).ok_or(NpuError::Field {
        offset,
        register: Opcode::Cmd0(C0::SET_IFM_UPSCALE),
        bad: BadField {
            field: "mode",
            value: up,
        },
    })?;
    let pt = (r.r0(C0::SET_IFM_PAD_TOP) & 0x7F) as i64;
    let pl = (r.r0(C0::SET_IFM_PAD_LEFT) & 0x7F) as i64;
    let pb = (r.r0(C0::SET_IFM_PAD_BOTTOM) & 0xFF) as i64;
    let pr = (r.r0(C0::SET_IFM_PAD_RIGHT) & 0xFF) as i64;
    let sy = ks.stride_y() as i64;
    let sx = ks.stride_x() as i64;
    // The IFM ends where the bottom/right padding starts.
    let ifm_h = (ofm.h as i64 - 1) * sy + kh_m1 as i64 + 1 - pt - pb;
    let ifm_w = (ofm.w as i64 - 1) * sx + kw_m1 as i64 + 1 - pl - pr;
    if ifm_h <= 0 || ifm_w <= 0 {
        return Err(invalid(
            offset,
            "padding leaves no IFM rows or columns",
            ifm_h.min(ifm_w),
        ));
    }
    Ok(Kernel {
        taps_h: kh_m1 / dil_y + 1,
        taps_w: kw_m1 / dil_x + 1,
        stride_y: sy as u64,
        stride_x: sx as u64,
        dil_y,
        dil_x,
        pad_top: pt,
        pad_left: pl,
        ifm_h,
        ifm_w,
        upscale,
        stride_bits: ks,
    })
}

impl Kernel {
    /// The IFM element (y, x) under output (oy, ox) and tap (ky, kx), or
    /// `None` for padding (and the zeros of zero-insertion upscaling).
    fn source(&self, oy: u64, ox: u64, ky: u64, kx: u64) -> Option<(u64, u64)> {
        let y = (oy * self.stride_y + ky * self.dil_y) as i64 - self.pad_top;
        let x = (ox * self.stride_x + kx * self.dil_x) as i64 - self.pad_left;
        if y < 0 || x < 0 || y >= self.ifm_h || x >= self.ifm_w {
            return None;
        }
        let (y, x) = (y as u64, x as u64);
        match self.upscale {
            UpscaleMode::None => Some((y, x)),
            UpscaleMode::Nearest => Some((y / 2, x / 2)),
            UpscaleMode::Zeros => {
                if y % 2 == 1 || x % 2 == 1 {
                    None
                } else {
                    Some((y / 2, x / 2))
                }
            }
        }
    }
}

// ---------------------------------------------------------------- SHRAM layout

/// Checks the operation's block configuration against the SHRAM layout
/// registers ([`crate::ethos_u::config::AccelConfig::check_shram`]).
fn check_shram(m: &NpuModel, offset: u32, op: ShramOp) -> Result<(), NpuError> {
    let r = &m.regs;
    if !r.layout_written {
        return Ok(());
    }
    let ks = KernelStride::decode(r.r0(C0::SET_KERNEL_STRIDE));
    let elementwise = matches!(op, ShramOp::Elementwise { .. });
    let up = UpscaleMode::from_bits(r.r0(C0::SET_IFM_UPSCALE) as u32 & 3);
    let (upscale, rounding) = match up {
        Some(UpscaleMode::Nearest) if !elementwise => (2, 1),
        Some(UpscaleMode::Zeros) if !elementwise => (2, 0),
        _ => (1, 0),
    };
    let bits = IfmPrecision::decode(r.r0(C0::SET_IFM_PRECISION))
        .map_err(field_err(offset, C0::SET_IFM_PRECISION))?
        .precision
        .bytes()
        * 8;
    let acc = r.r0(C0::SET_ACC_FORMAT) as u32 & 3;
    let acc = AccFormat::from_bits(acc).ok_or(NpuError::Field {
        offset,
        register: Opcode::Cmd0(C0::SET_ACC_FORMAT),
        bad: BadField {
            field: "acc_format",
            value: acc,
        },
    })?;
    let act = Activation::decode(r.r0(C0::SET_ACTIVATION))
        .map_err(field_err(offset, C0::SET_ACTIVATION))?;
    let kh = r.r0(C0::SET_KERNEL_HEIGHT_M1) as u32 + 1;
    let u = ShramUse {
        op,
        ofm: [
            r.r0(C0::SET_OFM_HEIGHT_M1) as u32 + 1,
            r.r0(C0::SET_OFM_WIDTH_M1) as u32 + 1,
            r.r0(C0::SET_OFM_DEPTH_M1) as u32 + 1,
        ],
        ofm_block: [
            r.r0(C0::SET_OFM_BLK_HEIGHT_M1) as u32 + 1,
            r.r0(C0::SET_OFM_BLK_WIDTH_M1) as u32 + 1,
            r.r0(C0::SET_OFM_BLK_DEPTH_M1) as u32 + 1,
        ],
        ifm_depth: r.r0(C0::SET_IFM_DEPTH_M1) as u32 + 1,
        kernel_extent: [kh, r.r0(C0::SET_KERNEL_WIDTH_M1) as u32 + 1],
        kernel_taps_h: (kh - 1) / ks.dilation_y() + 1,
        stride: [ks.stride_y(), ks.stride_x()],
        upscale,
        rounding,
        ifm_bits: bits,
        acc,
        uses_lut: act.function.table_slot().is_some(),
        ib_end: r.r0(C0::SET_IFM_IB_END) as u32,
        ifm2_ib_start: r.r0(C0::SET_IFM2_IB_START) as u32,
        ab_start: r.r0(C0::SET_AB_START) as u32,
    };
    m.config
        .accel()
        .check_shram(&u)
        .map_err(|violation| NpuError::Shram { offset, violation })
}

mod conv;
mod dma;
mod elementwise;
mod pool;

pub(super) use conv::conv;
pub(super) use dma::dma;
pub(super) use elementwise::elementwise;
pub(super) use pool::pool;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescale_matches_tflite_multiply_by_quantized_multiplier() {
        // kws conv0 channel 0: scale 1359514674, shift 37 (~0.0098917711).
        assert_eq!(rescale(1000, 1359514674, 37, RoundMode::Dbl), 10);
        assert_eq!(rescale(-1000, 1359514674, 37, RoundMode::Dbl), -10);
        // Exact halves: SRDHM rounds half up, the divide rounds half away from zero.
        assert_eq!(rescale(3, 1 << 30, 32, RoundMode::Dbl), 1); // 0.75 -> 1
        assert_eq!(rescale(-5, 1 << 30, 33, RoundMode::Dbl), -1); // -0.625
        assert_eq!(rescale(5, 1 << 30, 31, RoundMode::Dbl), 3); // 2.5 -> 3
        assert_eq!(rescale(-5, 1 << 30, 31, RoundMode::Dbl), -2); // -2.5 -> -2 (half up)
        assert_eq!(rescale(-10, 1 << 30, 33, RoundMode::Dbl), -1); // -1.25: -5 then -1.25 -> -1
        assert_eq!(rescale(7, 1, 0, RoundMode::Dbl), 7);
        // NATURAL: half up; TRUNCATE: floor.
        assert_eq!(rescale(-5, 1, 1, RoundMode::Natural), -2);
        assert_eq!(rescale(5, 1, 1, RoundMode::Natural), 3);
        assert_eq!(rescale(-5, 1, 1, RoundMode::Truncate), -3);
        // Average of 125 elements via Vela's pooling scale (kws).
        assert_eq!(rescale(125 * 7 + 62, 0x83126e98, 38, RoundMode::Natural), 7);
        assert_eq!(rescale(125 * 7 + 63, 0x83126e98, 38, RoundMode::Natural), 8);
    }

    #[test]
    fn round_shift_modes() {
        assert_eq!(round_shift(-6, 2, RoundMode::Dbl), -2); // -1.5 -> -2
        assert_eq!(round_shift(-6, 2, RoundMode::Natural), -1); // -1.5 -> -1
        assert_eq!(round_shift(-6, 2, RoundMode::Truncate), -2);
        assert_eq!(round_shift(6, 2, RoundMode::Truncate), 1);
        assert_eq!(round_shift(1, 200, RoundMode::Truncate), 0);
    }

    #[test]
    fn nhcwb16_and_tile_addressing() {
        let f = Fm {
            access: Access::IfmRead,
            region: 1,
            base: [0x100, 0x1000, 0x2000, 0x3000],
            height0: 4,
            height1: 2,
            width0: 3,
            stride_x: 16,
            stride_y: 5 * 16 * 2,
            stride_c: 5 * 16,
            elem: 1,
            signed: true,
            brick: true,
            zp: 0,
            bits: 8,
        };
        // Tile 0, channel 17: brick 1 (+stride_c), lane 1.
        assert_eq!(f.addr(1, 2, 17), Some(0x100 + 160 + 32 + 80 + 1));
        // Right of WIDTH0 -> tile 1 (x relative), below HEIGHT1 -> tile 3.
        assert_eq!(f.addr(0, 3, 0), Some(0x1000));
        assert_eq!(f.addr(2, 4, 0), Some(0x3000 + 16));
        // Below HEIGHT0 -> tile 2 (y relative).
        assert_eq!(f.addr(5, 0, 0), Some(0x2000 + 160));
    }
}
