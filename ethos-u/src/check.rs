//! A command-stream check in the manner of Linux's `accel/ethosu` driver
//! (`ethosu_gem.c`, `ethosu_gem_cmdstream_copy_and_validate`): the stream is walked with a
//! shadow of the register file, and every operation must find the registers it reads set
//! (a register never written is an error, not a default) and must touch only bytes inside the
//! regions it names. For each CONV/DEPTHWISE/POOL/ELEMENTWISE the check computes the last
//! byte of every feature map it reads or writes (IFM from the OFM size, kernel, stride,
//! padding and upscaling; IFM2 with its broadcast; the OFM; all four tiles; NHWC and
//! NHCWB16), of the weight and scale streams (scales only with per-channel scaling), and for
//! each DMA of its source and destination.
//!
//! It is independent of the NPU model (which checks every access as it executes) and of the
//! compiler (which runs it on every stream it writes): a stream that passes is one the Linux
//! driver would submit. No allocation.

use crate::cmd::{CmdError, CommandIter};
use crate::regs::{
    ActivationFormat, BadField, Cmd0Op as C0, Cmd1Op as C1, DmaRegion, DmaRegionMode,
    DmaStrideMode, Ifm2Broadcast, IfmPrecision, KernelStride, OfmPrecision, OfmScaleMode, Opcode,
    MAX_REGIONS,
};
use core::fmt;

/// The highest byte (exclusive) the stream touches in each region.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamUse {
    /// Per region: one past the last byte read or written, 0 if unused.
    pub end: [u64; MAX_REGIONS],
    /// Kernel operations (CONV, DEPTHWISE, POOL, ELEMENTWISE).
    pub kernel_ops: u32,
    /// DMA operations.
    pub dmas: u32,
}

/// Why a stream fails the check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckError {
    /// The stream does not decode.
    Cmd(CmdError),
    /// An operation reads a register the stream never set.
    Unset {
        /// Byte offset of the operation.
        offset: u32,
        /// The operation.
        op: C0,
        /// The register.
        register: Opcode,
    },
    /// A register field holds a reserved value.
    Field {
        /// Byte offset of the operation.
        offset: u32,
        /// The field.
        error: BadField,
    },
    /// An access names a region outside 0..8 or one the job does not provide.
    NoRegion {
        /// Byte offset of the operation.
        offset: u32,
        /// What is accessed (`"IFM"`, `"weights"`, ...).
        what: &'static str,
        /// The region number.
        region: u32,
    },
    /// An access ends past its region.
    OutOfBounds {
        /// Byte offset of the operation.
        offset: u32,
        /// What is accessed.
        what: &'static str,
        /// The region.
        region: u32,
        /// One past the last byte accessed.
        end: u64,
        /// The region's size.
        size: u64,
    },
    /// A DMA stride mode other than 1-D (the check does not model 2-D/3-D transfers).
    DmaMode {
        /// Byte offset of the DMA.
        offset: u32,
    },
    /// The stream does not end with `NPU_OP_STOP`.
    NoStop,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Cmd(e) => write!(f, "{e}"),
            CheckError::Unset {
                offset,
                op,
                register,
            } => write!(f, "{op} at byte {offset} reads {register}, which the stream never sets"),
            CheckError::Field { offset, error } => write!(f, "operation at byte {offset}: {error}"),
            CheckError::NoRegion {
                offset,
                what,
                region,
            } => write!(f, "operation at byte {offset}: {what} in region {region}, which the job does not provide"),
            CheckError::OutOfBounds {
                offset,
                what,
                region,
                end,
                size,
            } => write!(
                f,
                "operation at byte {offset}: {what} ends at byte {end} of region {region}, which has {size} bytes"
            ),
            CheckError::DmaMode { offset } => {
                write!(f, "DMA at byte {offset}: only 1-D DMA transfers are checked")
            }
            CheckError::NoStop => f.write_str("the command stream does not end with NPU_OP_STOP"),
        }
    }
}

impl core::error::Error for CheckError {}

const CODES: usize = 1024;

/// The shadow register file: what the stream set, nothing assumed.
struct Shadow {
    p0: [u16; CODES],
    p1: [(u16, u32); CODES],
    set0: [u64; CODES / 64],
    set1: [u64; CODES / 64],
}

impl Shadow {
    fn new() -> Shadow {
        Shadow {
            p0: [0; CODES],
            p1: [(0, 0); CODES],
            set0: [0; CODES / 64],
            set1: [0; CODES / 64],
        }
    }
}

/// One operation's view of the shadow.
struct Op<'s> {
    s: &'s Shadow,
    offset: u32,
    op: C0,
}

impl Op<'_> {
    fn r0(&self, r: C0) -> Result<u16, CheckError> {
        let c = r.code() as usize;
        if self.s.set0[c / 64] >> (c % 64) & 1 == 0 {
            return Err(self.unset(Opcode::Cmd0(r)));
        }
        Ok(self.s.p0[c])
    }
    fn r1(&self, r: C1) -> Result<u64, CheckError> {
        let c = r.code() as usize;
        if self.s.set1[c / 64] >> (c % 64) & 1 == 0 {
            return Err(self.unset(Opcode::Cmd1(r)));
        }
        // Addresses are 40 bits: the parameter's low byte is bits 39:32.
        let (param, payload) = self.s.p1[c];
        Ok(((param as u64 & 0xFF) << 32) | payload as u64)
    }
    /// Whether a cmd1 register was set (optional registers such as WEIGHT1 on U65).
    fn has1(&self, r: C1) -> bool {
        let c = r.code() as usize;
        self.s.set1[c / 64] >> (c % 64) & 1 == 1
    }
    fn m1(&self, r: C0) -> Result<u64, CheckError> {
        Ok(self.r0(r)? as u64 + 1)
    }
    fn unset(&self, register: Opcode) -> CheckError {
        CheckError::Unset {
            offset: self.offset,
            op: self.op,
            register,
        }
    }
    fn field<T>(&self, r: Result<T, BadField>) -> Result<T, CheckError> {
        r.map_err(|error| CheckError::Field {
            offset: self.offset,
            error,
        })
    }
}

/// The registers of one feature map.
struct FmRegs {
    what: &'static str,
    region: C0,
    base: [C1; 4],
    height0: C0,
    height1: C0,
    width0: C0,
    stride: [C1; 3],
}

const IFM: FmRegs = FmRegs {
    what: "IFM",
    region: C0::SET_IFM_REGION,
    base: [
        C1::SET_IFM_BASE0,
        C1::SET_IFM_BASE1,
        C1::SET_IFM_BASE2,
        C1::SET_IFM_BASE3,
    ],
    height0: C0::SET_IFM_HEIGHT0_M1,
    height1: C0::SET_IFM_HEIGHT1_M1,
    width0: C0::SET_IFM_WIDTH0_M1,
    stride: [
        C1::SET_IFM_STRIDE_X,
        C1::SET_IFM_STRIDE_Y,
        C1::SET_IFM_STRIDE_C,
    ],
};

const IFM2: FmRegs = FmRegs {
    what: "IFM2",
    region: C0::SET_IFM2_REGION,
    base: [
        C1::SET_IFM2_BASE0,
        C1::SET_IFM2_BASE1,
        C1::SET_IFM2_BASE2,
        C1::SET_IFM2_BASE3,
    ],
    height0: C0::SET_IFM2_HEIGHT0_M1,
    height1: C0::SET_IFM2_HEIGHT1_M1,
    width0: C0::SET_IFM2_WIDTH0_M1,
    stride: [
        C1::SET_IFM2_STRIDE_X,
        C1::SET_IFM2_STRIDE_Y,
        C1::SET_IFM2_STRIDE_C,
    ],
};

const OFM: FmRegs = FmRegs {
    what: "OFM",
    region: C0::SET_OFM_REGION,
    base: [
        C1::SET_OFM_BASE0,
        C1::SET_OFM_BASE1,
        C1::SET_OFM_BASE2,
        C1::SET_OFM_BASE3,
    ],
    height0: C0::SET_OFM_HEIGHT0_M1,
    height1: C0::SET_OFM_HEIGHT1_M1,
    width0: C0::SET_OFM_WIDTH0_M1,
    stride: [
        C1::SET_OFM_STRIDE_X,
        C1::SET_OFM_STRIDE_Y,
        C1::SET_OFM_STRIDE_C,
    ],
};

/// Checks a command stream (little-endian words) against the sizes of the regions a job
/// provides (`None`: the region is not provided, so any access to it fails).
pub fn check_stream(
    stream: &[u8],
    regions: &[Option<u64>; MAX_REGIONS],
) -> Result<StreamUse, CheckError> {
    let mut s = Shadow::new();
    let mut used = StreamUse::default();
    let mut stopped = false;
    let mut it = CommandIter::from_bytes(stream);
    for cmd in &mut it {
        let cmd = cmd.map_err(CheckError::Cmd)?;
        if stopped {
            // Words after NPU_OP_STOP are never executed.
            break;
        }
        match cmd.opcode {
            Opcode::Cmd1(op) => {
                let c = op.code() as usize;
                s.p1[c] = (cmd.param, cmd.payload.unwrap_or(0));
                s.set1[c / 64] |= 1 << (c % 64);
            }
            Opcode::Cmd0(op) if op.code() >= 0x100 => {
                let c = op.code() as usize;
                s.p0[c] = cmd.param;
                s.set0[c / 64] |= 1 << (c % 64);
            }
            Opcode::Cmd0(C0::OP_STOP) => stopped = true,
            Opcode::Cmd0(
                op @ (C0::OP_CONV | C0::OP_DEPTHWISE | C0::OP_POOL | C0::OP_ELEMENTWISE),
            ) => {
                let o = Op {
                    s: &s,
                    offset: cmd.offset,
                    op,
                };
                kernel_op(&o, cmd.param, regions, &mut used)?;
                used.kernel_ops += 1;
            }
            Opcode::Cmd0(C0::OP_DMA_START) => {
                let o = Op {
                    s: &s,
                    offset: cmd.offset,
                    op: C0::OP_DMA_START,
                };
                dma(&o, regions, &mut used)?;
                used.dmas += 1;
            }
            Opcode::Cmd0(_) => {}
        }
    }
    if !stopped {
        return Err(CheckError::NoStop);
    }
    Ok(used)
}

/// Records an access of `[start, end)` in `region`.
fn access(
    o: &Op<'_>,
    what: &'static str,
    region: u32,
    end: u64,
    regions: &[Option<u64>; MAX_REGIONS],
    used: &mut StreamUse,
) -> Result<(), CheckError> {
    let size = regions
        .get(region as usize)
        .copied()
        .flatten()
        .ok_or(CheckError::NoRegion {
            offset: o.offset,
            what,
            region,
        })?;
    if end > size {
        return Err(CheckError::OutOfBounds {
            offset: o.offset,
            what,
            region,
            end,
            size,
        });
    }
    let u = &mut used.end[region as usize];
    *u = (*u).max(end);
    Ok(())
}

/// One past the last byte of a feature map of `[h, w, c]` elements of `elem` bytes.
fn fm_end(
    o: &Op<'_>,
    r: &FmRegs,
    dims: [u64; 3],
    elem: u64,
    brick: bool,
) -> Result<u64, CheckError> {
    let [h, w, c] = dims;
    let (h0, h1, w0) = (o.m1(r.height0)?, o.m1(r.height1)?, o.m1(r.width0)?);
    let [sx, sy, sc] = [o.r1(r.stride[0])?, o.r1(r.stride[1])?, o.r1(r.stride[2])?];
    let c_last = c - 1;
    let c_off = if brick {
        (c_last / 16) * sc + (c_last % 16) * elem
    } else {
        c_last * sc
    };
    // (tile, rows, columns) of each tile the map covers.
    let tiles = [
        (0, h.min(h0), w.min(w0)),
        (1, h.min(h1), w.saturating_sub(w0)),
        (2, h.saturating_sub(h0), w.min(w0)),
        (3, h.saturating_sub(h1), w.saturating_sub(w0)),
    ];
    let mut end = 0u64;
    for (t, rows, cols) in tiles {
        if rows == 0 || cols == 0 {
            continue;
        }
        let base = o.r1(r.base[t])?;
        let last = base
            .saturating_add((rows - 1).saturating_mul(sy))
            .saturating_add((cols - 1).saturating_mul(sx))
            .saturating_add(c_off)
            .saturating_add(elem);
        end = end.max(last);
    }
    Ok(end)
}

fn kernel_op(
    o: &Op<'_>,
    param: u16,
    regions: &[Option<u64>; MAX_REGIONS],
    used: &mut StreamUse,
) -> Result<(), CheckError> {
    let ofm_p = o.field(OfmPrecision::decode(o.r0(C0::SET_OFM_PRECISION)?))?;
    let ifm_p = o.field(IfmPrecision::decode(o.r0(C0::SET_IFM_PRECISION)?))?;
    let (oh, ow, oc) = (
        o.m1(C0::SET_OFM_HEIGHT_M1)?,
        o.m1(C0::SET_OFM_WIDTH_M1)?,
        o.m1(C0::SET_OFM_DEPTH_M1)?,
    );
    let ifm_c = o.m1(C0::SET_IFM_DEPTH_M1)?;
    let elementwise = o.op == C0::OP_ELEMENTWISE;
    let (ih, iw) = if elementwise {
        (oh, ow)
    } else {
        let ks = KernelStride::decode(o.r0(C0::SET_KERNEL_STRIDE)?);
        // The kernel registers hold the dilated extent minus one.
        let (kh, kw) = (
            o.m1(C0::SET_KERNEL_HEIGHT_M1)?,
            o.m1(C0::SET_KERNEL_WIDTH_M1)?,
        );
        let pad = |r: C0| -> Result<u64, CheckError> { Ok(o.r0(r)? as u64) };
        let (pt, pl, pb, pr) = (
            pad(C0::SET_IFM_PAD_TOP)?,
            pad(C0::SET_IFM_PAD_LEFT)?,
            pad(C0::SET_IFM_PAD_BOTTOM)?,
            pad(C0::SET_IFM_PAD_RIGHT)?,
        );
        let up = if o.r0(C0::SET_IFM_UPSCALE)? & 3 != 0 {
            2
        } else {
            1
        };
        // Rows (columns) the windows span, less the padding on both sides, in IFM elements.
        let span = |o_n: u64, s: u64, k: u64, p0: u64, p1: u64| {
            ((o_n - 1) * s + k).saturating_sub(p0 + p1).div_ceil(up)
        };
        (
            span(oh, ks.stride_y() as u64, kh, pt, pb),
            span(ow, ks.stride_x() as u64, kw, pl, pr),
        )
    };
    let ifm_region = o.r0(IFM.region)? as u32;
    if ih > 0 && iw > 0 {
        let brick = ifm_p.format == ActivationFormat::Nhcwb16;
        let end = fm_end(
            o,
            &IFM,
            [ih, iw, ifm_c],
            ifm_p.precision.bytes() as u64,
            brick,
        )?;
        region_in_range(o, IFM.what, ifm_region)?;
        access(o, IFM.what, ifm_region, end, regions, used)?;
    }
    if elementwise {
        let mode = crate::regs::ElementwiseMode::from_bits(param as u32 & 0x1F);
        let binary = mode.is_some_and(|m| m.is_binary());
        let bc = if binary {
            Ifm2Broadcast::decode(o.r0(C0::SET_IFM2_BROADCAST)?)
        } else {
            Ifm2Broadcast::decode(0)
        };
        if binary && !bc.broadcast_constant {
            let p2 = o.field(IfmPrecision::decode(o.r0(C0::SET_IFM2_PRECISION)?))?;
            let dims = [
                if bc.broadcast_h { 1 } else { oh },
                if bc.broadcast_w { 1 } else { ow },
                if bc.broadcast_c { 1 } else { ifm_c },
            ];
            let region = o.r0(IFM2.region)? as u32;
            let brick = p2.format == ActivationFormat::Nhcwb16;
            let end = fm_end(o, &IFM2, dims, p2.precision.bytes() as u64, brick)?;
            region_in_range(o, IFM2.what, region)?;
            access(o, IFM2.what, region, end, regions, used)?;
        }
    }
    let ofm_region = o.r0(OFM.region)? as u32;
    let brick = ofm_p.format == ActivationFormat::Nhcwb16;
    let end = fm_end(o, &OFM, [oh, ow, oc], ofm_p.precision.bytes() as u64, brick)?;
    region_in_range(o, OFM.what, ofm_region)?;
    access(o, OFM.what, ofm_region, end, regions, used)?;
    if matches!(o.op, C0::OP_CONV | C0::OP_DEPTHWISE) {
        stream_span(
            o,
            "weights",
            C0::SET_WEIGHT_REGION,
            C1::SET_WEIGHT_BASE,
            C1::SET_WEIGHT_LENGTH,
            regions,
            used,
        )?;
        if o.has1(C1::SET_WEIGHT1_LENGTH) {
            stream_span(
                o,
                "weights (second core)",
                C0::SET_WEIGHT_REGION,
                C1::SET_WEIGHT1_BASE,
                C1::SET_WEIGHT1_LENGTH,
                regions,
                used,
            )?;
        }
    }
    if ofm_p.scale_mode == OfmScaleMode::PerChannel
        && o.op != C0::OP_ELEMENTWISE
        && o.op != C0::OP_POOL
    {
        stream_span(
            o,
            "scales",
            C0::SET_SCALE_REGION,
            C1::SET_SCALE_BASE,
            C1::SET_SCALE_LENGTH,
            regions,
            used,
        )?;
        if o.has1(C1::SET_SCALE1_LENGTH) {
            stream_span(
                o,
                "scales (second core)",
                C0::SET_SCALE_REGION,
                C1::SET_SCALE1_BASE,
                C1::SET_SCALE1_LENGTH,
                regions,
                used,
            )?;
        }
    }
    Ok(())
}

fn region_in_range(o: &Op<'_>, what: &'static str, region: u32) -> Result<(), CheckError> {
    if (region as usize) < MAX_REGIONS {
        Ok(())
    } else {
        Err(CheckError::NoRegion {
            offset: o.offset,
            what,
            region,
        })
    }
}

fn stream_span(
    o: &Op<'_>,
    what: &'static str,
    region: C0,
    base: C1,
    len: C1,
    regions: &[Option<u64>; MAX_REGIONS],
    used: &mut StreamUse,
) -> Result<(), CheckError> {
    let region = o.r0(region)? as u32;
    let (base, len) = (o.r1(base)?, o.r1(len)?);
    region_in_range(o, what, region)?;
    access(o, what, region, base.saturating_add(len), regions, used)
}

fn dma(
    o: &Op<'_>,
    regions: &[Option<u64>; MAX_REGIONS],
    used: &mut StreamUse,
) -> Result<(), CheckError> {
    let src = o.field(DmaRegion::decode(o.r0(C0::SET_DMA0_SRC_REGION)?))?;
    let dst = o.field(DmaRegion::decode(o.r0(C0::SET_DMA0_DST_REGION)?))?;
    if src.stride_mode != DmaStrideMode::D1 {
        return Err(CheckError::DmaMode { offset: o.offset });
    }
    let len = o.r1(C1::SET_DMA0_LEN)?;
    let (s, d) = (o.r1(C1::SET_DMA0_SRC)?, o.r1(C1::SET_DMA0_DST)?);
    for (what, r, at) in [("DMA source", src, s), ("DMA destination", dst, d)] {
        // Internal mode addresses the SHRAM, which the NPU model bounds-checks.
        if r.mode == DmaRegionMode::External {
            region_in_range(o, what, r.region)?;
            access(o, what, r.region, at.saturating_add(len), regions, used)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// A stream under construction.
    #[derive(Default)]
    struct S(Vec<u32>);

    impl S {
        fn c0(&mut self, op: C0, p: u16) -> &mut S {
            self.0.push(op.code() as u32 | ((p as u32) << 16));
            self
        }
        fn c1(&mut self, op: C1, v: u32) -> &mut S {
            self.0.push(op.code() as u32 | 0x4000);
            self.0.push(v);
            self
        }
        fn bytes(&self) -> Vec<u8> {
            self.0.iter().flat_map(|w| w.to_le_bytes()).collect()
        }
    }

    /// A 4x4x8 -> 2x2x8 2x2 stride-2 max pool, IFM at 0 and OFM at 128 in region 1.
    fn pool() -> S {
        let mut s = S::default();
        s.c0(C0::SET_IFM_REGION, 1)
            .c1(C1::SET_IFM_BASE0, 0)
            .c1(C1::SET_IFM_BASE1, 0)
            .c1(C1::SET_IFM_BASE2, 0)
            .c1(C1::SET_IFM_BASE3, 0)
            .c0(C0::SET_IFM_HEIGHT0_M1, 3)
            .c0(C0::SET_IFM_HEIGHT1_M1, 3)
            .c0(C0::SET_IFM_WIDTH0_M1, 3)
            .c0(C0::SET_IFM_DEPTH_M1, 7)
            .c1(C1::SET_IFM_STRIDE_X, 8)
            .c1(C1::SET_IFM_STRIDE_Y, 32)
            .c1(C1::SET_IFM_STRIDE_C, 1)
            .c0(C0::SET_IFM_PRECISION, 1)
            .c0(C0::SET_IFM_UPSCALE, 0)
            .c0(C0::SET_IFM_PAD_TOP, 0)
            .c0(C0::SET_IFM_PAD_LEFT, 0)
            .c0(C0::SET_IFM_PAD_BOTTOM, 0)
            .c0(C0::SET_IFM_PAD_RIGHT, 0)
            .c0(C0::SET_OFM_REGION, 1)
            .c1(C1::SET_OFM_BASE0, 128)
            .c1(C1::SET_OFM_BASE1, 128)
            .c1(C1::SET_OFM_BASE2, 128)
            .c1(C1::SET_OFM_BASE3, 128)
            .c0(C0::SET_OFM_HEIGHT_M1, 1)
            .c0(C0::SET_OFM_WIDTH_M1, 1)
            .c0(C0::SET_OFM_HEIGHT0_M1, 1)
            .c0(C0::SET_OFM_HEIGHT1_M1, 1)
            .c0(C0::SET_OFM_WIDTH0_M1, 1)
            .c0(C0::SET_OFM_DEPTH_M1, 7)
            .c1(C1::SET_OFM_STRIDE_X, 8)
            .c1(C1::SET_OFM_STRIDE_Y, 16)
            .c1(C1::SET_OFM_STRIDE_C, 1)
            .c0(C0::SET_OFM_PRECISION, 1 | (1 << 8))
            .c0(C0::SET_KERNEL_HEIGHT_M1, 1)
            .c0(C0::SET_KERNEL_WIDTH_M1, 1)
            .c0(C0::SET_KERNEL_STRIDE, 3);
        s
    }

    fn regions(r1: u64) -> [Option<u64>; MAX_REGIONS] {
        let mut r = [None; MAX_REGIONS];
        r[0] = Some(0);
        r[1] = Some(r1);
        r
    }

    #[test]
    fn a_pool_touches_exactly_its_maps() {
        let mut s = pool();
        s.c0(C0::OP_POOL, 0).c0(C0::OP_STOP, 0);
        let u = check_stream(&s.bytes(), &regions(160)).unwrap();
        // OFM: 128 + 1*16 + 1*8 + 7 + 1 = 160.
        assert_eq!(u.end[1], 160);
        assert_eq!(u.kernel_ops, 1);
        let e = check_stream(&s.bytes(), &regions(159)).unwrap_err();
        assert!(
            matches!(
                e,
                CheckError::OutOfBounds {
                    what: "OFM",
                    end: 160,
                    size: 159,
                    ..
                }
            ),
            "{e}"
        );
        assert!(check_stream(&s.bytes(), &[None; MAX_REGIONS]).is_err());
    }

    #[test]
    fn an_unset_register_is_an_error() {
        let mut s = pool();
        s.0.drain(0..1); // drop SET_IFM_REGION
        s.c0(C0::OP_POOL, 0).c0(C0::OP_STOP, 0);
        let e = check_stream(&s.bytes(), &regions(4096)).unwrap_err();
        assert_eq!(
            e,
            CheckError::Unset {
                offset: e_offset(&e),
                op: C0::OP_POOL,
                register: Opcode::Cmd0(C0::SET_IFM_REGION)
            }
        );
        std::println!("{e}");
    }

    fn e_offset(e: &CheckError) -> u32 {
        match e {
            CheckError::Unset { offset, .. } => *offset,
            _ => 0,
        }
    }

    #[test]
    fn padding_and_strides_bound_the_ifm() {
        // 3x3 stride 1 with one pixel of padding all round over 4x4: reads all 16 pixels.
        let mut s = pool();
        s.c0(C0::SET_KERNEL_HEIGHT_M1, 2)
            .c0(C0::SET_KERNEL_WIDTH_M1, 2)
            .c0(C0::SET_KERNEL_STRIDE, 0)
            .c0(C0::SET_IFM_PAD_TOP, 1)
            .c0(C0::SET_IFM_PAD_LEFT, 1)
            .c0(C0::SET_IFM_PAD_BOTTOM, 1)
            .c0(C0::SET_IFM_PAD_RIGHT, 1)
            .c0(C0::SET_OFM_HEIGHT_M1, 3)
            .c0(C0::SET_OFM_WIDTH_M1, 3)
            .c0(C0::SET_OFM_HEIGHT0_M1, 3)
            .c0(C0::SET_OFM_HEIGHT1_M1, 3)
            .c0(C0::SET_OFM_WIDTH0_M1, 3)
            .c1(C1::SET_OFM_BASE0, 200)
            .c1(C1::SET_OFM_STRIDE_Y, 32)
            .c0(C0::OP_POOL, 0)
            .c0(C0::OP_STOP, 0);
        let u = check_stream(&s.bytes(), &regions(1 << 20)).unwrap();
        assert_eq!(u.end[1], 200 + 3 * 32 + 3 * 8 + 8);
        // The IFM alone (4x4x8 = 128 bytes) with the OFM moved out of region 1.
        let mut t = S(s.0.clone());
        t.0.truncate(t.0.len() - 2); // drop OP_POOL and OP_STOP
        t.c0(C0::SET_OFM_REGION, 2)
            .c0(C0::OP_POOL, 0)
            .c0(C0::OP_STOP, 0);
        let mut r = regions(128);
        r[2] = Some(1 << 20);
        let u = check_stream(&t.bytes(), &r).unwrap();
        assert_eq!(u.end[1], 128);
        assert!(check_stream(&t.bytes(), &regions(127)).is_err());
    }

    #[test]
    fn dma_and_missing_stop() {
        let mut s = S::default();
        s.c0(C0::SET_DMA0_SRC_REGION, 0)
            .c0(C0::SET_DMA0_DST_REGION, 1 << 8)
            .c1(C1::SET_DMA0_SRC, 16)
            .c1(C1::SET_DMA0_DST, 0)
            .c1(C1::SET_DMA0_LEN, 256)
            .c0(C0::OP_DMA_START, 0);
        let mut r = regions(0);
        r[0] = Some(272);
        assert_eq!(check_stream(&s.bytes(), &r), Err(CheckError::NoStop));
        s.c0(C0::OP_STOP, 0);
        assert_eq!(check_stream(&s.bytes(), &r).unwrap().end[0], 272);
        r[0] = Some(271);
        assert!(check_stream(&s.bytes(), &r).is_err());
    }
}
