//! Hand-made command streams, one per operation kind, with hand-checked results.

use super::*;
use crate::ethos_u::regs::{Cmd0Op as C0, Cmd1Op as C1};
use std::vec::Vec;

/// A command stream under construction.
#[derive(Default)]
struct S(Vec<u32>);

impl S {
    fn c0(&mut self, op: C0, p: i32) -> &mut S {
        self.0.push(op.code() as u32 | ((p as u32 & 0xFFFF) << 16));
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
    /// IFM: NHWC int8 in `region` at `base`, h x w x c, zero point `zp`.
    fn ifm(&mut self, region: i32, base: u32, h: i32, w: i32, c: i32, zp: i32) -> &mut S {
        self.c0(C0::SET_IFM_REGION, region)
            .c1(C1::SET_IFM_BASE0, base)
            .c0(C0::SET_IFM_HEIGHT0_M1, h - 1)
            .c0(C0::SET_IFM_HEIGHT1_M1, h - 1)
            .c0(C0::SET_IFM_WIDTH0_M1, w - 1)
            .c0(C0::SET_IFM_DEPTH_M1, c - 1)
            .c1(C1::SET_IFM_STRIDE_C, 1)
            .c1(C1::SET_IFM_STRIDE_X, c as u32)
            .c1(C1::SET_IFM_STRIDE_Y, (w * c) as u32)
            .c0(C0::SET_IFM_PRECISION, 1)
            .c0(C0::SET_IFM_ZERO_POINT, zp)
    }
    /// IFM2: NHWC int8 in region 1.
    fn ifm2(&mut self, base: u32, h: i32, w: i32, c: i32) -> &mut S {
        self.c0(C0::SET_IFM2_REGION, 1)
            .c1(C1::SET_IFM2_BASE0, base)
            .c0(C0::SET_IFM2_HEIGHT0_M1, h - 1)
            .c0(C0::SET_IFM2_HEIGHT1_M1, h - 1)
            .c0(C0::SET_IFM2_WIDTH0_M1, w - 1)
            .c1(C1::SET_IFM2_STRIDE_C, 1)
            .c1(C1::SET_IFM2_STRIDE_X, c as u32)
            .c1(C1::SET_IFM2_STRIDE_Y, (w * c) as u32)
            .c0(C0::SET_IFM2_PRECISION, 1)
    }
    /// OFM: NHWC int8 in `region` at `base`, with precision bits `prec`.
    // A test builder mirroring the register list one to one reads better than a parameter struct.
    #[allow(clippy::too_many_arguments)]
    fn ofm(
        &mut self,
        region: i32,
        base: u32,
        h: i32,
        w: i32,
        c: i32,
        zp: i32,
        prec: i32,
    ) -> &mut S {
        self.c0(C0::SET_OFM_REGION, region)
            .c1(C1::SET_OFM_BASE0, base)
            .c0(C0::SET_OFM_HEIGHT_M1, h - 1)
            .c0(C0::SET_OFM_WIDTH_M1, w - 1)
            .c0(C0::SET_OFM_DEPTH_M1, c - 1)
            .c0(C0::SET_OFM_HEIGHT0_M1, h - 1)
            .c0(C0::SET_OFM_HEIGHT1_M1, h - 1)
            .c0(C0::SET_OFM_WIDTH0_M1, w - 1)
            .c1(C1::SET_OFM_STRIDE_C, 1)
            .c1(C1::SET_OFM_STRIDE_X, c as u32)
            .c1(C1::SET_OFM_STRIDE_Y, (w * c) as u32)
            .c0(C0::SET_OFM_PRECISION, prec)
            .c0(C0::SET_OFM_ZERO_POINT, zp)
            .c0(C0::SET_ACTIVATION, 0)
            .c0(C0::SET_ACTIVATION_MIN, -128)
            .c0(C0::SET_ACTIVATION_MAX, 127)
    }
    fn kernel(&mut self, h: i32, w: i32, stride_bits: i32, pad: i32) -> &mut S {
        self.c0(C0::SET_KERNEL_HEIGHT_M1, h - 1)
            .c0(C0::SET_KERNEL_WIDTH_M1, w - 1)
            .c0(C0::SET_KERNEL_STRIDE, stride_bits)
            .c0(C0::SET_IFM_PAD_TOP, pad)
            .c0(C0::SET_IFM_PAD_LEFT, pad)
            .c0(C0::SET_IFM_PAD_BOTTOM, pad)
            .c0(C0::SET_IFM_PAD_RIGHT, pad)
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// A 10-byte scale record: 40-bit bias, u32 scale, shift.
fn record(bias: i64, scale: u32, shift: u8) -> [u8; 10] {
    let mut r = [0u8; 10];
    r[..5].copy_from_slice(&bias.to_le_bytes()[..5]);
    r[5..9].copy_from_slice(&scale.to_le_bytes());
    r[9] = shift;
    r
}

fn u55() -> NpuModel {
    NpuModel::new(SimConfig::ethos_u55(128).unwrap())
}

fn run(model: &mut NpuModel, s: &S, ro: &[u8], scratch: &mut [u8]) -> Result<RunStats, NpuError> {
    let stream = s.bytes();
    let mut regions = shared_sram_regions(ro, scratch);
    let mut mem = NpuMemory {
        command_stream: &stream,
        regions: &mut regions,
    };
    model.run(&stream, &mut mem)
}

fn i8s(b: &[u8]) -> Vec<i8> {
    b.iter().map(|&v| v as i8).collect()
}

// Weights [[1, 2, 3], [-1, 0, 4]] (OHWI 2x1x1x3), encoded by Arm's codec
// (`mlw_codec.reorder_encode(8, 8, w, 8, False, False, 8, 8, 8)`).
const CONV_W: &str = "180064418446230b802fe101001200fcfffbffe9ffffffffffffffffffffffff";
// Depthwise 3x3 weights, channel 0 = 1..9, channel 1 = [-1,0,1, 0,1,0, 1,0,-1]
// (`reorder_encode(8, 8, w, 8, True, False, 8, 8, 8)`).
const DW_W: &str = "620044912686848e2964089b53cab7328c098e530a24c719002000c041ffffff";

fn conv_stream(ofm_region: i32) -> S {
    let mut s = S::default();
    s.ifm(1, 0, 1, 1, 3, 0)
        .ofm(ofm_region, 16, 1, 1, 2, 3, 1)
        .kernel(1, 1, 0, 0)
        .c0(C0::SET_OFM_BLK_DEPTH_M1, 7)
        .c0(C0::SET_WEIGHT_REGION, 0)
        .c1(C1::SET_WEIGHT_BASE, 0)
        .c1(C1::SET_WEIGHT_LENGTH, 32)
        .c0(C0::SET_SCALE_REGION, 0)
        .c1(C1::SET_SCALE_BASE, 32)
        .c1(C1::SET_SCALE_LENGTH, 20)
        .c0(C0::OP_CONV, 0)
        .c0(C0::OP_STOP, 0xFFFF);
    s
}

fn conv_ro() -> Vec<u8> {
    let mut ro = unhex(CONV_W);
    ro.extend(record(5, 1 << 30, 31));
    ro.extend(record(5, 1 << 30, 31));
    ro
}

#[test]
fn conv_1x1_with_bias_and_per_channel_scale() {
    let ro = conv_ro();
    let mut scratch = [0u8; 32];
    scratch[..3].copy_from_slice(&[10, 20, (-30i8) as u8]);
    let stats = run(&mut u55(), &conv_stream(1), &ro, &mut scratch).unwrap();
    // acc0 = 5 + 10 + 40 - 90 = -35, x0.5 = -17.5 -> -17 (half up), + zp 3 = -14.
    // acc1 = 5 - 10 + 0 - 120 = -125 -> -62.5 -> -62, + 3 = -59.
    assert_eq!(i8s(&scratch[16..18]), [-14, -59]);
    assert_eq!(stats.ops, 1);
    assert_eq!(stats.macs, 3 * 2);
    assert!(stats.stopped);
}

#[test]
fn depthwise_3x3_double_rounding() {
    let mut ro = unhex(DW_W);
    let wl = ro.len() as u32;
    ro.extend(record(0, 1 << 30, 32));
    ro.extend(record(0, 1 << 30, 32));
    let mut scratch = [0u8; 32];
    for i in 0..9 {
        scratch[2 * i] = i as u8 + 1;
        scratch[2 * i + 1] = 1;
    }
    let mut s = S::default();
    s.ifm(1, 0, 3, 3, 2, 0)
        .ofm(1, 24, 1, 1, 2, 0, 1)
        .kernel(3, 3, 0, 0)
        .c0(C0::SET_OFM_BLK_DEPTH_M1, 7)
        .c0(C0::SET_WEIGHT_REGION, 0)
        .c1(C1::SET_WEIGHT_BASE, 0)
        .c1(C1::SET_WEIGHT_LENGTH, wl)
        .c0(C0::SET_SCALE_REGION, 0)
        .c1(C1::SET_SCALE_BASE, wl)
        .c1(C1::SET_SCALE_LENGTH, 20)
        .c0(C0::OP_DEPTHWISE, 0);
    run(&mut u55(), &s, &ro, &mut scratch).unwrap();
    // ch0: sum k^2 = 285, x0.25 in TFLite's two roundings: 142.5 -> 143, 71.5 -> 72.
    // ch1: sum of weights = 1: 0.5 -> 1, then 0.5 -> 1 (away from zero).
    assert_eq!(i8s(&scratch[24..26]), [72, 1]);
}

#[test]
fn elementwise_add_sub_mul_with_scalar_tensor_and_reversed_operands() {
    let mut scratch = [0u8; 64];
    scratch[..2].copy_from_slice(&[10, (-20i8) as u8]);
    scratch[8..10].copy_from_slice(&[7, 5]);
    let mut s = S::default();
    s.ifm(1, 0, 1, 2, 1, 0)
        .ofm(1, 16, 1, 2, 1, 0, 1)
        .c0(C0::SET_IFM2_PRECISION, 1)
        .c0(C0::SET_IFM2_ZERO_POINT, 0)
        .c0(C0::SET_IFM2_SCALAR, 5)
        .c0(C0::SET_IFM2_BROADCAST, 0x80)
        .c1(C1::SET_OPA_SCALE, 1)
        .c1(C1::SET_OPB_SCALE, 1)
        .c1(C1::SET_OFM_SCALE, 1)
        .c0(C0::OP_ELEMENTWISE, 1) // ADD: ifm + 5
        .c1(C1::SET_OFM_BASE0, 24)
        .c0(C0::SET_IFM2_BROADCAST, 0xC0)
        .c0(C0::OP_ELEMENTWISE, 2) // SUB, reversed: 5 - ifm
        .ifm2(8, 1, 2, 1)
        .c0(C0::SET_IFM2_BROADCAST, 0)
        .c1(C1::SET_OFM_BASE0, 32);
    // OFM_SCALE with shift 31 and multiplier 2^30 (x0.5) is a cmd1 with param = shift.
    s.0.push(C1::SET_OFM_SCALE.code() as u32 | 0x4000 | (31 << 16));
    s.0.push(1 << 30);
    s.c0(C0::OP_ELEMENTWISE, 0); // MUL
    run(&mut u55(), &s, &[], &mut scratch).unwrap();
    assert_eq!(i8s(&scratch[16..18]), [15, -15]);
    assert_eq!(i8s(&scratch[24..26]), [-5, 25]);
    // 70 x 0.5 = 35; -100 x 0.5 = -50.
    assert_eq!(i8s(&scratch[32..34]), [35, -50]);
}

#[test]
fn pooling_max_with_padding_and_average() {
    let mut scratch = [0u8; 64];
    scratch[..4].copy_from_slice(&[1, 5, (-3i8) as u8, 2]);
    let mut s = S::default();
    s.ifm(1, 0, 2, 2, 1, 0)
        .ofm(1, 16, 2, 2, 1, 0, 1)
        .kernel(3, 3, 0, 1)
        .c1(C1::SET_OFM_SCALE, 1)
        .c0(C0::OP_POOL, 0) // MAX 3x3, padding 1: every window sees all four
        .ofm(1, 32, 1, 1, 1, 0, 0x8001) // NATURAL rounding
        .kernel(2, 2, 0, 0);
    s.0.push(C1::SET_OFM_SCALE.code() as u32 | 0x4000 | (32 << 16));
    s.0.push(1 << 30);
    s.c0(C0::OP_POOL, 1); // AVERAGE 2x2: 5 x 0.25 = 1.25 -> 1
    run(&mut u55(), &s, &[], &mut scratch).unwrap();
    assert_eq!(i8s(&scratch[16..20]), [5, 5, 5, 5]);
    assert_eq!(scratch[32] as i8, 1);
}

#[test]
fn dma_to_scratch_and_to_the_lut_then_table_activation() {
    // Region 0: a LUT with lut[i] = 255 - i, then 16 bytes to copy.
    let mut ro: Vec<u8> = (0..256).map(|i| (255 - i) as u8).collect();
    ro.extend(1..=16u8);
    let mut scratch = [0u8; 128];
    scratch[..2].copy_from_slice(&[0, 100]);
    let lut_at = 24 * 1024 - 2048;
    let mut s = S::default();
    s.c0(C0::SET_DMA0_SRC_REGION, 0)
        .c0(C0::SET_DMA0_DST_REGION, 1)
        .c1(C1::SET_DMA0_SRC, 256)
        .c1(C1::SET_DMA0_DST, 64)
        .c1(C1::SET_DMA0_LEN, 16)
        .c0(C0::OP_DMA_START, 0)
        .c0(C0::SET_DMA0_DST_REGION, 0x100) // internal (SHRAM)
        .c1(C1::SET_DMA0_SRC, 0)
        .c1(C1::SET_DMA0_DST, lut_at)
        .c1(C1::SET_DMA0_LEN, 256)
        .c0(C0::OP_DMA_START, 0)
        .c0(C0::OP_DMA_WAIT, 0)
        .ifm(1, 0, 1, 2, 1, 0)
        .ofm(1, 16, 1, 2, 1, 0, 1)
        .c0(C0::SET_ACTIVATION, 0x0010) // TABLE_0
        .c0(C0::SET_IFM2_BROADCAST, 0x80)
        .c0(C0::SET_IFM2_PRECISION, 1)
        .c0(C0::SET_IFM2_SCALAR, 0)
        .c1(C1::SET_OPA_SCALE, 1)
        .c1(C1::SET_OPB_SCALE, 1)
        .c1(C1::SET_OFM_SCALE, 1)
        .c0(C0::OP_ELEMENTWISE, 1);
    run(&mut u55(), &s, &ro, &mut scratch).unwrap();
    assert_eq!(&scratch[64..80], &ro[256..272]);
    // v = 0 -> index 128 -> 127; v = 100 -> index 228 -> 27.
    assert_eq!(i8s(&scratch[16..18]), [127, 27]);
}

#[test]
fn accesses_outside_regions_and_bad_streams_are_errors() {
    let ro = conv_ro();
    // OFM in read-only region 0.
    let mut scratch = [0u8; 32];
    let e = run(&mut u55(), &conv_stream(0), &ro, &mut scratch).unwrap_err();
    assert!(matches!(
        e,
        NpuError::BadRegion {
            access: Access::OfmWrite,
            region: 0,
            ..
        }
    ));
    // OFM past the end of a 17-byte scratch.
    let mut small = [0u8; 17];
    let e = run(&mut u55(), &conv_stream(1), &ro, &mut small).unwrap_err();
    assert!(
        matches!(
            e,
            NpuError::OutOfRegion {
                access: Access::OfmWrite,
                address: 17,
                ..
            }
        ),
        "{e}"
    );
    // Absent region 5.
    let e = run(&mut u55(), &conv_stream(5), &ro, &mut scratch).unwrap_err();
    assert!(matches!(e, NpuError::BadRegion { region: 5, .. }));
    // Corrupt weight stream (all zeros: the first slice has no palette setup).
    let mut bad = ro.clone();
    bad[..32].fill(0);
    let e = run(&mut u55(), &conv_stream(1), &bad, &mut scratch).unwrap_err();
    assert!(matches!(e, NpuError::WeightStream { .. }), "{e}");
    assert_eq!(e.status_bit(), regs::status::WD_FAULT);
    // A cmd1 without its payload word.
    let mut s = S::default();
    s.0.push(C1::SET_IFM_BASE0.code() as u32 | 0x4000);
    let e = run(&mut u55(), &s, &ro, &mut scratch).unwrap_err();
    assert!(matches!(
        e,
        NpuError::Command(CmdError::Truncated { offset: 0 })
    ));
    // A reserved rounding mode in OFM_PRECISION.
    let mut s = conv_stream(1);
    s.0.insert(
        s.0.len() - 2,
        C0::SET_OFM_PRECISION.code() as u32 | (0xC001 << 16),
    );
    let e = run(&mut u55(), &s, &ro, &mut scratch).unwrap_err();
    assert!(matches!(e, NpuError::Field { .. }), "{e}");
    // The work budget stops long operations.
    let mut m = NpuModel::new(SimConfig {
        max_work: 5,
        ..SimConfig::ethos_u55(128).unwrap()
    });
    let e = run(&mut m, &conv_stream(1), &ro, &mut scratch).unwrap_err();
    assert!(matches!(e, NpuError::WorkLimit { .. }));
    assert!(std::format!("{e}").contains("work limit"));
}

#[test]
fn register_interface_runs_the_stream_and_reports_faults() {
    let ro = conv_ro();
    let stream = conv_stream(1).bytes();
    let mut scratch = [0u8; 32];
    scratch[..3].copy_from_slice(&[10, 20, (-30i8) as u8]);
    let mut m = u55();
    assert_eq!(m.read(regs::offset::CONFIG), 0x0000_1807);
    assert_eq!(m.read(regs::offset::ID), SimConfig::ID);
    m.write(regs::offset::RESET, 1);
    assert_eq!(m.read(regs::offset::PROT), 1);
    m.write(regs::offset::QSIZE, stream.len() as u32);
    m.write(regs::offset::BASEP0 + 8, 0x1234_5670);
    assert_eq!(m.read(regs::offset::BASEP0 + 8), 0x1234_5670);
    m.write(
        regs::offset::CMD,
        regs::cmd_reg::TRANSITION_TO_RUNNING_STATE,
    );
    {
        let mut regions = shared_sram_regions(&ro, &mut scratch);
        let mut mem = NpuMemory {
            command_stream: &stream,
            regions: &mut regions,
        };
        m.wait(&mut mem);
    }
    let st = m.read(regs::offset::STATUS);
    assert_eq!(st, regs::status::IRQ_RAISED | regs::status::CMD_END_REACHED);
    assert_eq!(m.read(regs::offset::QREAD), stream.len() as u32);
    assert_eq!(i8s(&scratch[16..18]), [-14, -59]);
    m.write(regs::offset::CMD, regs::cmd_reg::CLEAR_IRQ);
    assert_eq!(m.read(regs::offset::STATUS) & regs::status::IRQ_RAISED, 0);
    // A fault: the OFM does not fit -> bus error, QREAD at the faulting op.
    let mut small = [0u8; 8];
    m.write(regs::offset::CMD, 1);
    {
        let mut regions = shared_sram_regions(&ro, &mut small);
        let mut mem = NpuMemory {
            command_stream: &stream,
            regions: &mut regions,
        };
        m.wait(&mut mem);
    }
    let st = m.read(regs::offset::STATUS);
    assert_ne!(st & regs::status::BUS_STATUS, 0);
    assert_eq!(st & regs::status::CMD_END_REACHED, 0);
    assert!(m.last_error().is_some());
    assert!(m.read(regs::offset::QREAD) < stream.len() as u32);
}

#[test]
fn mutated_hand_made_streams_never_panic() {
    // The conv stream followed by a DMA to the LUT and a table activation.
    let mut base = conv_stream(1);
    base.0.pop(); // drop OP_STOP
    base.c0(C0::SET_DMA0_SRC_REGION, 0)
        .c0(C0::SET_DMA0_DST_REGION, 0x100)
        .c1(C1::SET_DMA0_SRC, 0)
        .c1(C1::SET_DMA0_DST, 24 * 1024 - 1024)
        .c1(C1::SET_DMA0_LEN, 52)
        .c0(C0::OP_DMA_START, 0)
        .ifm(1, 0, 1, 2, 1, 0)
        .ofm(1, 16, 1, 2, 1, 0, 1)
        .c0(C0::SET_ACTIVATION, 0x0014)
        .c0(C0::SET_IFM2_BROADCAST, 0x80)
        .c0(C0::SET_IFM2_PRECISION, 1)
        .c1(C1::SET_OFM_SCALE, 1)
        .c0(C0::OP_ELEMENTWISE, 1)
        .c0(C0::OP_POOL, 0)
        .c0(C0::OP_STOP, 0);
    let ro = conv_ro();
    let mut seed = 0x2545_F491u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let mut m = NpuModel::new(SimConfig {
        max_work: 1 << 16,
        ..SimConfig::ethos_u55(128).unwrap()
    });
    let (mut ok, mut err) = (0, 0);
    for _ in 0..20_000 {
        let mut s = S(base.0.clone());
        for _ in 0..1 + next() % 3 {
            let i = next() as usize % s.0.len();
            let bits = next();
            s.0[i] ^= match next() % 3 {
                0 => bits & 0xFFFF_0000,
                1 => 1 << (bits % 32),
                _ => bits,
            };
        }
        let mut scratch = [0u8; 48];
        match run(&mut m, &s, &ro, &mut scratch) {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
    }
    assert!(ok > 0 && err > 0, "{ok} ok, {err} errors");
}
