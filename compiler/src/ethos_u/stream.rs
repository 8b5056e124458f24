//! Register command stream generation: every [`NpuOp`] becomes the register
//! writes it needs (a write that repeats the register's current value is
//! left out, as Vela does) followed by its `NPU_OP_*` command; LUT loads
//! become DMAs with the waits that order them; the stream ends with
//! `NPU_OP_STOP`.
//!
//! Ordering is conservative and always correct: `BLOCKDEP` 0 (an operation
//! starts after the previous one finished), `NPU_OP_KERNEL_WAIT 0` before a
//! DMA that overwrites a LUT an earlier operation may still read,
//! `NPU_OP_KERNEL_WAIT 1` before a weight DMA (issued while the previous
//! operation runs; its buffer was last read two operations back), and
//! `NPU_OP_DMA_WAIT 0` before the operation that reads what a DMA wrote.

use super::buffering::WeightDma;
use super::npu_op::{FeatureMap, InputScaling, Layout, NpuKind, NpuOp, Operand2, Span};
use kiln_ethos_u::regs::{
    Activation, ActivationFormat, ActivationFunction, ActivationPrecision, ActivationType,
    Cmd0Op as C0, Cmd1Op as C1, DmaRegion, DmaRegionMode, DmaStrideMode, Ifm2Broadcast,
    IfmPrecision, IfmScaleMode, KernelStride, OfmPrecision, OfmScaleMode, OperandOrder, RoundMode,
    WeightOrder, SHRAM_LUT_BYTES, SHRAM_LUT_SLOT_BYTES,
};
use std::collections::HashMap;

/// Builds a command stream, skipping writes that do not change a register.
#[derive(Default)]
pub struct StreamBuilder {
    words: Vec<u32>,
    shadow0: HashMap<u16, u16>,
    shadow1: HashMap<u16, (u16, u32)>,
    kernel_ops: usize,
    /// A weight DMA was started and not yet waited for.
    dma_pending: bool,
    /// The table (read-only span) loaded at each LUT slot it starts at.
    luts: [Option<Span>; LUT_SLOTS],
    /// Where the next table goes when none is loaded.
    next_slot: usize,
}

/// 256-byte LUT slots in SHRAM.
const LUT_SLOTS: usize = (SHRAM_LUT_BYTES / SHRAM_LUT_SLOT_BYTES) as usize;

impl StreamBuilder {
    fn set0(&mut self, op: C0, param: u16) {
        if self.shadow0.get(&op.code()) == Some(&param) {
            return;
        }
        self.shadow0.insert(op.code(), param);
        self.cmd0(op, param);
    }
    fn cmd0(&mut self, op: C0, param: u16) {
        self.words.push(op.code() as u32 | ((param as u32) << 16));
    }
    fn set1(&mut self, op: C1, param: u16, payload: u32) {
        if self.shadow1.get(&op.code()) == Some(&(param, payload)) {
            return;
        }
        self.shadow1.insert(op.code(), (param, payload));
        self.words
            .push(op.code() as u32 | 0x4000 | ((param as u32) << 16));
        self.words.push(payload);
    }

    fn dma_region(region: u8, mode: DmaRegionMode) -> u16 {
        DmaRegion {
            region: region as u32,
            mode,
            stride_mode: DmaStrideMode::D1,
        }
        .encode()
    }

    /// Starts the DMA that stages the next operation's weights; the operation waits for it.
    pub fn weight_dma(&mut self, dma: &WeightDma) {
        self.set0(
            C0::SET_DMA0_SRC_REGION,
            Self::dma_region(dma.src.region, DmaRegionMode::External),
        );
        self.set1(C1::SET_DMA0_SRC, 0, dma.src.offset);
        self.set0(
            C0::SET_DMA0_DST_REGION,
            Self::dma_region(dma.dst_region, DmaRegionMode::External),
        );
        self.set1(C1::SET_DMA0_DST, 0, dma.dst);
        self.set1(C1::SET_DMA0_LEN, 0, dma.src.len);
        if self.kernel_ops > 0 {
            // Double-buffered: the operation two back is done; single: all of them are.
            self.cmd0(C0::OP_KERNEL_WAIT, if dma.single { 0 } else { 1 });
        }
        self.cmd0(C0::OP_DMA_START, 0);
        self.dma_pending = true;
    }

    /// The LUT slot holding `table`, and whether it must be loaded: a table loaded before
    /// (the same bytes of the read-only region) is used again where it is; a new one goes to
    /// the next free slots (a 1 KiB int32 table takes 4, aligned), round-robin.
    fn lut_slot(&mut self, table: Span) -> (usize, bool) {
        if let Some(s) = self.luts.iter().position(|l| *l == Some(table)) {
            return (s, false);
        }
        let n = (table.len.div_ceil(SHRAM_LUT_SLOT_BYTES) as usize).clamp(1, LUT_SLOTS);
        let mut at = self.next_slot.next_multiple_of(n);
        if at + n > LUT_SLOTS {
            at = 0;
        }
        // Tables overlapping the new one's slots are gone.
        for (s, l) in self.luts.iter_mut().enumerate() {
            if let Some(t) = l {
                let len = (t.len.div_ceil(SHRAM_LUT_SLOT_BYTES) as usize).max(1);
                if s < at + n && at < s + len {
                    *l = None;
                }
            }
        }
        self.luts[at] = Some(table);
        self.next_slot = (at + n) % LUT_SLOTS;
        (at, true)
    }

    /// Appends one operation (and the LUT load it needs).
    pub fn push(&mut self, op: &NpuOp, shram_kib: u32) {
        let lut_slot = op.lut.map(|lut| {
            let (slot, load) = self.lut_slot(lut.src);
            if load {
                if self.kernel_ops > 0 {
                    self.cmd0(C0::OP_KERNEL_WAIT, 0);
                }
                let lut_base = shram_kib * 1024 - SHRAM_LUT_BYTES;
                self.set0(
                    C0::SET_DMA0_SRC_REGION,
                    Self::dma_region(lut.src.region, DmaRegionMode::External),
                );
                self.set1(C1::SET_DMA0_SRC, 0, lut.src.offset);
                // Internal mode: the destination is SHRAM.
                self.set0(
                    C0::SET_DMA0_DST_REGION,
                    Self::dma_region(0, DmaRegionMode::Internal),
                );
                self.set1(
                    C1::SET_DMA0_DST,
                    0,
                    lut_base + slot as u32 * SHRAM_LUT_SLOT_BYTES,
                );
                self.set1(C1::SET_DMA0_LEN, 0, lut.src.len);
                self.cmd0(C0::OP_DMA_START, 0);
                self.cmd0(C0::OP_DMA_WAIT, 0);
                self.dma_pending = false;
            }
            slot as u32
        });
        self.ifm(op);
        self.ofm(op);
        let elementwise = matches!(op.kind, NpuKind::Elementwise(_));
        if !elementwise {
            let k = &op.kernel;
            self.set0(
                C0::SET_KERNEL_HEIGHT_M1,
                ((k.size[0] - 1) * k.dilation[0]) as u16,
            );
            self.set0(
                C0::SET_KERNEL_WIDTH_M1,
                ((k.size[1] - 1) * k.dilation[1]) as u16,
            );
            let order = if matches!(op.kind, NpuKind::Conv { part_kernel: true }) {
                WeightOrder::PartKernelFirst
            } else {
                WeightOrder::DepthFirst
            };
            let ks = KernelStride::new(k.stride, k.dilation, order);
            self.set0(C0::SET_KERNEL_STRIDE, ks.encode());
        }
        match (op.weights, op.scales) {
            (Some(w), Some(s)) => {
                self.set0(C0::SET_WEIGHT_REGION, w.region as u16);
                self.set1(C1::SET_WEIGHT_BASE, 0, w.offset);
                self.set1(C1::SET_WEIGHT_LENGTH, 0, w.len);
                self.set0(C0::SET_SCALE_REGION, s.region as u16);
                self.set1(C1::SET_SCALE_BASE, 0, s.offset);
                self.set1(C1::SET_SCALE_LENGTH, 0, s.len);
            }
            _ => {
                self.set1(
                    C1::SET_OFM_SCALE,
                    op.ofm_scale.shift as u16,
                    op.ofm_scale.multiplier,
                );
            }
        }
        if let Some(s) = op.input_scaling {
            let (a, b) = match s {
                InputScaling::Both { a, b } => (a, b as u32),
                InputScaling::ScaleA(a) | InputScaling::ScaleB(a) => (a, 0),
            };
            self.set1(C1::SET_OPA_SCALE, a.shift as u16, a.multiplier);
            self.set1(C1::SET_OPB_SCALE, 0, b);
        }
        let function = lut_slot
            .and_then(|slot| ActivationFunction::from_bits(16 + slot))
            .unwrap_or(ActivationFunction::Relu);
        let act = Activation {
            function,
            clip_range: op.clip_range,
        };
        self.set0(C0::SET_ACTIVATION, act.encode());
        self.set0(C0::SET_ACTIVATION_MIN, op.clamp.0 as i16 as u16);
        self.set0(C0::SET_ACTIVATION_MAX, op.clamp.1 as i16 as u16);
        let b = &op.block;
        self.set0(C0::SET_OFM_BLK_HEIGHT_M1, (b.ofm_block[0] - 1) as u16);
        self.set0(C0::SET_OFM_BLK_WIDTH_M1, (b.ofm_block[1] - 1) as u16);
        self.set0(C0::SET_OFM_BLK_DEPTH_M1, (b.ofm_block[2] - 1) as u16);
        self.set0(C0::SET_IFM_IB_END, b.ifm_ib_end as u16);
        if let Some(s) = b.ifm2_ib_start {
            self.set0(C0::SET_IFM2_IB_START, s as u16);
        }
        self.set0(C0::SET_AB_START, b.ab_start as u16);
        self.set0(C0::SET_ACC_FORMAT, b.acc_format_i40 as u16);
        self.set0(C0::SET_BLOCKDEP, 0);
        if self.dma_pending {
            self.cmd0(C0::OP_DMA_WAIT, 0);
            self.dma_pending = false;
        }
        match op.kind {
            NpuKind::Conv { .. } => self.cmd0(C0::OP_CONV, 0),
            NpuKind::Depthwise => self.cmd0(C0::OP_DEPTHWISE, 0),
            NpuKind::Pool(mode) => self.cmd0(C0::OP_POOL, mode.bits() as u16),
            NpuKind::Elementwise(mode) => self.cmd0(C0::OP_ELEMENTWISE, mode.bits() as u16),
        }
        self.kernel_ops += 1;
    }

    fn ifm(&mut self, op: &NpuOp) {
        let f = &op.ifm;
        self.set0(C0::SET_IFM_REGION, f.region as u16);
        for base in [
            C1::SET_IFM_BASE0,
            C1::SET_IFM_BASE1,
            C1::SET_IFM_BASE2,
            C1::SET_IFM_BASE3,
        ] {
            self.set1(base, 0, f.base);
        }
        let [h, w, c] = f.shape;
        self.set0(C0::SET_IFM_HEIGHT0_M1, (h - 1) as u16);
        self.set0(C0::SET_IFM_HEIGHT1_M1, (h - 1) as u16);
        self.set0(C0::SET_IFM_WIDTH0_M1, (w - 1) as u16);
        self.set0(C0::SET_IFM_DEPTH_M1, (c - 1) as u16);
        self.set1(C1::SET_IFM_STRIDE_X, 0, f.strides[0]);
        self.set1(C1::SET_IFM_STRIDE_Y, 0, f.strides[1]);
        self.set1(C1::SET_IFM_STRIDE_C, 0, f.strides[2]);
        self.set0(C0::SET_IFM_ZERO_POINT, f.zero_point as i16 as u16);
        let scale_mode = match op.input_scaling {
            None | Some(InputScaling::Both { .. }) => IfmScaleMode::OpaOpb16,
            Some(InputScaling::ScaleA(_)) => IfmScaleMode::Opa32,
            Some(InputScaling::ScaleB(_)) => IfmScaleMode::Opb32,
        };
        self.set0(
            C0::SET_IFM_PRECISION,
            ifm_precision(f, scale_mode, op.ifm_rounding),
        );
        self.set0(C0::SET_IFM_UPSCALE, op.upscale_nearest as u16);
        let p = op.kernel.pads;
        self.set0(C0::SET_IFM_PAD_TOP, p[0] as u16);
        self.set0(C0::SET_IFM_PAD_LEFT, p[1] as u16);
        self.set0(C0::SET_IFM_PAD_BOTTOM, p[2] as u16);
        self.set0(C0::SET_IFM_PAD_RIGHT, p[3] as u16);
        match op.ifm2 {
            None => {}
            Some(Operand2::Scalar { value, zero_point }) => {
                self.set0(
                    C0::SET_IFM2_BROADCAST,
                    broadcast([false; 3], true, op.reversed),
                );
                self.set0(C0::SET_IFM2_SCALAR, value as i16 as u16);
                // The scalar's precision field as the 8-bit IFM's (its sign only).
                let mut scalar = *f;
                scalar.layout = Layout::Nhwc;
                scalar.bits = 8;
                self.set0(
                    C0::SET_IFM2_PRECISION,
                    ifm_precision(&scalar, IfmScaleMode::OpaOpb16, RoundMode::Dbl),
                );
                self.set0(C0::SET_IFM2_ZERO_POINT, zero_point as i16 as u16);
            }
            Some(Operand2::Map { fm, broadcast }) => {
                self.set0(
                    C0::SET_IFM2_BROADCAST,
                    self::broadcast(broadcast, false, op.reversed),
                );
                self.set0(C0::SET_IFM2_REGION, fm.region as u16);
                for base in [
                    C1::SET_IFM2_BASE0,
                    C1::SET_IFM2_BASE1,
                    C1::SET_IFM2_BASE2,
                    C1::SET_IFM2_BASE3,
                ] {
                    self.set1(base, 0, fm.base);
                }
                self.set0(C0::SET_IFM2_HEIGHT0_M1, (fm.shape[0] - 1) as u16);
                self.set0(C0::SET_IFM2_HEIGHT1_M1, (fm.shape[0] - 1) as u16);
                self.set0(C0::SET_IFM2_WIDTH0_M1, (fm.shape[1] - 1) as u16);
                self.set1(C1::SET_IFM2_STRIDE_X, 0, fm.strides[0]);
                self.set1(C1::SET_IFM2_STRIDE_Y, 0, fm.strides[1]);
                self.set1(C1::SET_IFM2_STRIDE_C, 0, fm.strides[2]);
                self.set0(C0::SET_IFM2_ZERO_POINT, fm.zero_point as i16 as u16);
                self.set0(
                    C0::SET_IFM2_PRECISION,
                    ifm_precision(&fm, IfmScaleMode::OpaOpb16, RoundMode::Dbl),
                );
            }
        }
    }

    fn ofm(&mut self, op: &NpuOp) {
        let f = &op.ofm;
        self.set0(C0::SET_OFM_REGION, f.region as u16);
        for base in [
            C1::SET_OFM_BASE0,
            C1::SET_OFM_BASE1,
            C1::SET_OFM_BASE2,
            C1::SET_OFM_BASE3,
        ] {
            self.set1(base, 0, f.base);
        }
        let [h, w, c] = f.shape;
        self.set0(C0::SET_OFM_HEIGHT_M1, (h - 1) as u16);
        self.set0(C0::SET_OFM_WIDTH_M1, (w - 1) as u16);
        self.set0(C0::SET_OFM_HEIGHT0_M1, (h - 1) as u16);
        self.set0(C0::SET_OFM_HEIGHT1_M1, (h - 1) as u16);
        self.set0(C0::SET_OFM_WIDTH0_M1, (w - 1) as u16);
        self.set0(C0::SET_OFM_DEPTH_M1, (c - 1) as u16);
        self.set1(C1::SET_OFM_STRIDE_X, 0, f.strides[0]);
        self.set1(C1::SET_OFM_STRIDE_Y, 0, f.strides[1]);
        self.set1(C1::SET_OFM_STRIDE_C, 0, f.strides[2]);
        self.set0(C0::SET_OFM_ZERO_POINT, f.zero_point as i16 as u16);
        let precision = OfmPrecision {
            activation_type: activation_type(f),
            precision: precision_of(f.bits),
            format: format(f.layout),
            scale_mode: if op.scales.is_none() {
                OfmScaleMode::Global
            } else {
                OfmScaleMode::PerChannel
            },
            round_mode: op.rounding,
        };
        self.set0(C0::SET_OFM_PRECISION, precision.encode());
    }

    /// Ends the stream with `NPU_OP_STOP` and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.cmd0(C0::OP_STOP, 0);
        self.words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}

/// The element width of a map of `bits` (8, 16 or 32).
fn precision_of(bits: u32) -> ActivationPrecision {
    match bits {
        16 => ActivationPrecision::B16,
        32 => ActivationPrecision::B32,
        _ => ActivationPrecision::B8,
    }
}

fn format(l: Layout) -> ActivationFormat {
    match l {
        Layout::Nhwc => ActivationFormat::Nhwc,
        Layout::Nhcwb16 => ActivationFormat::Nhcwb16,
    }
}

fn activation_type(f: &FeatureMap) -> ActivationType {
    if f.signed {
        ActivationType::Signed
    } else {
        ActivationType::Unsigned
    }
}

/// IFM_PRECISION / IFM2_PRECISION of an 8-bit map.
fn ifm_precision(f: &FeatureMap, scale_mode: IfmScaleMode, round_mode: RoundMode) -> u16 {
    IfmPrecision {
        activation_type: activation_type(f),
        precision: precision_of(f.bits),
        format: format(f.layout),
        scale_mode,
        round_mode,
    }
    .encode()
}

/// IFM2_BROADCAST: `dims` [h, w, c] repeat, or IFM2 is the scalar; `reversed` swaps the operands back (ORDER_A).
fn broadcast(dims: [bool; 3], scalar: bool, reversed: bool) -> u16 {
    Ifm2Broadcast {
        broadcast_h: dims[0],
        broadcast_w: dims[1],
        broadcast_c: dims[2],
        operand_order: if reversed {
            OperandOrder::OrderA
        } else {
            OperandOrder::OrderB
        },
        broadcast_constant: scalar,
    }
    .encode()
}
