//! The one table of Ethos-U55/U65 accelerator configurations.
//!
//! Every number here is a hardware fact that Arm's Vela compiler also keeps
//! in a table; kiln's compiler (`kiln-compiler`'s block configuration), the NPU
//! model ([`crate::sim`], feature `npu-sim`: its `SimConfig` and its
//! SHRAM check) and the targets read them from here and nowhere else.
//!
//! Sources (Vela 5.x, Regor C++ core; the Python legacy core agrees):
//!
//! - `ethosu/regor/architecture/ethosu55/ethos_u55.cpp`: `s_EthosU55Configs`
//!   (MACs, cores, OFM/IFM micro-block, SHRAM banks, bank granules,
//!   elementwise units), `ArchEthosU55::ApplyConfig` (2 reserved output banks,
//!   1 KiB banks, 2 end banks reserved when there are more than 16),
//!   `ArchEthosU55()` (`_subkernelMax(8, 8, 65536)`, `_ofmBlockMax(32, 64,
//!   128)`), `ConfigRegister` (the `CONFIG` word);
//! - `ethosu/regor/architecture/ethosu65/ethos_u65.cpp`: `s_EthosU65Configs`;
//! - `ethosu/vela/architecture_features.py`: `accelerator_configs` (the same
//!   numbers), `shram_lut_size = 2048`, `axi_port_bytes_per_cycle` (8 on U55,
//!   16 on U65), `axi_port_address_width` (32 / 40), `max_outstanding_dma`
//!   (1 / 2), `ofm_block_max = Block(64, 32, 128)` (W, H, C);
//! - `ethosu/regor/architecture/ethosu65/ethos_u65_interface.hpp`: the
//!   register fields `OFM_BLK_HEIGHT_M1` (5 bits), `OFM_BLK_WIDTH_M1` (6),
//!   `OFM_BLK_DEPTH_M1` (7), `IFM_IB_END` / `IFM2_IB_START` / `AB_START` (6).
//!
//! (Read at `hapv3/neural-compiler` commit `e4b56335`, which keeps Arm's
//! history; `ethos_u55.cpp` is unchanged there since tag 5.1.0, and the
//! fixtures Vela 5.2.0 compiled agree with every SHRAM layout it implies.)

use super::regs::{AccFormat, ConfigReg, Product};
use core::fmt;

/// Bytes per SHRAM bank (`_shram.bankSizeBytes = 1024`).
pub const SHRAM_BANK_BYTES: u32 = 1024;

/// The value Vela 5.2 writes as the `ID` word of the COP1 driver header on
/// every U55/U65 configuration (architecture 1.0.6, product major 6; seen in
/// every fixture under `tests/fixtures/vela/`).
pub const VELA_ID_WORD: u32 = 0x1006_6001;

/// SHRAM bank granules: an IFM or accumulator buffer is a whole multiple of
/// its element type's granule (in banks). Vela's `shramGranules[8]`, in its
/// order `IFM8, IFM16, IFM8_Elementwise, IFM16_Elementwise, IFM32, Acc16,
/// Acc32, Acc40`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShramGranules {
    /// 8-bit IFM of a convolution, depthwise or pooling operation.
    pub ifm8: u32,
    /// 16-bit IFM of a convolution, depthwise or pooling operation.
    pub ifm16: u32,
    /// 8-bit IFM (and IFM2) of an elementwise operation.
    pub ifm8_elementwise: u32,
    /// 16-bit IFM (and IFM2) of an elementwise operation.
    pub ifm16_elementwise: u32,
    /// 32-bit IFM of any operation.
    pub ifm32: u32,
    /// 16-bit (F16) accumulators.
    pub acc16: u32,
    /// 32-bit accumulators.
    pub acc32: u32,
    /// 40-bit accumulators.
    pub acc40: u32,
}

/// One Ethos-U accelerator configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccelConfig {
    /// `"ethos-u55-128"` etc. (Vela's `--accelerator-config` names).
    pub name: &'static str,
    /// U55 or U65.
    pub product: Product,
    /// MACs per cycle of one core.
    pub macs: u32,
    /// Number of NPU cores (2 on the U65-512, each with its own SHRAM).
    pub cores: u32,
    /// SHRAM banks of one core ([`SHRAM_BANK_BYTES`] each).
    pub shram_banks: u32,
    /// Bank granules per element type.
    pub granules: ShramGranules,
    /// OFM micro-block, height x width x depth.
    pub ofm_ublock: [u32; 3],
    /// IFM micro-block, height x width x depth.
    pub ifm_ublock: [u32; 3],
    /// Banks at the start of SHRAM reserved for the output unit (IFM buffers start after them).
    pub reserved_output_banks: u32,
    /// Banks at the end of SHRAM reserved for the lookup table whether or not an
    /// operation uses one (2 when there are more than 16 banks, else 0).
    pub lut_reserved_banks: u32,
    /// Banks the lookup table occupies at the end of SHRAM (2 KiB: 8 slots of 256 B).
    /// Without [`Self::lut_reserved_banks`], an operation that uses the LUT
    /// must keep its buffers out of them.
    pub lut_banks: u32,
    /// Largest OFM block, height x width x depth (the register fields'
    /// ranges: 5, 6 and 7 bits of `*_M1`).
    pub ofm_block_max: [u32; 3],
    /// Largest sub-kernel, height x width: larger kernels are split into
    /// sub-kernels of at most this size (the IFM block covers one sub-kernel).
    pub subkernel_max: [u32; 2],
    /// Elementwise / pooling elements per cycle.
    pub elem_units: u32,
    /// Bytes per cycle of one AXI port.
    pub axi_port_bytes: u32,
    /// AXI address width in bits.
    pub axi_address_bits: u32,
    /// DMA operations that may be outstanding at once.
    pub max_outstanding_dma: u32,
}

const U55_GRANULES_16: ShramGranules = ShramGranules {
    ifm8: 2,
    ifm16: 2,
    ifm8_elementwise: 2,
    ifm16_elementwise: 2,
    ifm32: 4,
    acc16: 4,
    acc32: 4,
    acc40: 4,
};

const GRANULES_48: ShramGranules = ShramGranules {
    ifm8: 8,
    ifm16: 8,
    ifm8_elementwise: 8,
    ifm16_elementwise: 8,
    ifm32: 16,
    acc16: 8,
    acc32: 16,
    acc40: 20,
};

/// Fields every configuration shares.
const BASE: AccelConfig = AccelConfig {
    name: "",
    product: Product::EthosU55,
    macs: 0,
    cores: 1,
    shram_banks: 16,
    granules: U55_GRANULES_16,
    ofm_ublock: [1, 1, 8],
    ifm_ublock: [1, 1, 8],
    reserved_output_banks: 2,
    lut_reserved_banks: 0,
    lut_banks: 2,
    ofm_block_max: [32, 64, 128],
    subkernel_max: [8, 8],
    elem_units: 1,
    axi_port_bytes: 8,
    axi_address_bits: 32,
    max_outstanding_dma: 1,
};

const U65: AccelConfig = AccelConfig {
    product: Product::EthosU65,
    macs: 256,
    shram_banks: 48,
    granules: GRANULES_48,
    ofm_ublock: [2, 2, 8],
    ifm_ublock: [2, 2, 8],
    lut_reserved_banks: 2,
    elem_units: 8,
    axi_port_bytes: 16,
    axi_address_bits: 40,
    max_outstanding_dma: 2,
    ..BASE
};

/// Every configuration, U55 by MACs then U65.
pub const CONFIGS: &[AccelConfig] = &[
    // s_EthosU55Configs[0]: {32, 1, Shape(1, 1, 4), Shape(1, 1, 8), 16, {2, 2, 2, 2, 4, 4, 4, 4}, 1}
    AccelConfig {
        name: "ethos-u55-32",
        macs: 32,
        ofm_ublock: [1, 1, 4],
        ..BASE
    },
    // s_EthosU55Configs[1]: {64, 1, Shape(1, 1, 8), Shape(1, 1, 8), 16, {2, 2, 2, 2, 4, 4, 4, 8}, 2}
    AccelConfig {
        name: "ethos-u55-64",
        macs: 64,
        granules: ShramGranules {
            acc40: 8,
            ..U55_GRANULES_16
        },
        elem_units: 2,
        ..BASE
    },
    // s_EthosU55Configs[2]: {128, 1, Shape(1, 2, 8), Shape(1, 2, 8), 24, {4, 4, 4, 4, 8, 4, 8, 12}, 4}
    AccelConfig {
        name: "ethos-u55-128",
        macs: 128,
        shram_banks: 24,
        granules: ShramGranules {
            ifm8: 4,
            ifm16: 4,
            ifm8_elementwise: 4,
            ifm16_elementwise: 4,
            ifm32: 8,
            acc16: 4,
            acc32: 8,
            acc40: 12,
        },
        ofm_ublock: [1, 2, 8],
        ifm_ublock: [1, 2, 8],
        lut_reserved_banks: 2,
        elem_units: 4,
        ..BASE
    },
    // s_EthosU55Configs[3]: {256, 1, Shape(2, 2, 8), Shape(2, 2, 8), 48, {8, 8, 8, 8, 16, 8, 16, 20}, 8}
    AccelConfig {
        name: "ethos-u55-256",
        macs: 256,
        shram_banks: 48,
        granules: GRANULES_48,
        ofm_ublock: [2, 2, 8],
        ifm_ublock: [2, 2, 8],
        lut_reserved_banks: 2,
        elem_units: 8,
        ..BASE
    },
    // s_EthosU65Configs[0]: {256, 1, Shape(2, 2, 8), Shape(2, 2, 8), 48, {8, 8, 8, 8, 16, 8, 16, 20}, 8}
    AccelConfig {
        name: "ethos-u65-256",
        ..U65
    },
    // s_EthosU65Configs[1]: {256, 2, Shape(2, 2, 8), Shape(2, 2, 8), 48, {8, 8, 8, 8, 16, 8, 16, 20}, 8}
    AccelConfig {
        name: "ethos-u65-512",
        cores: 2,
        ..U65
    },
];

/// The configuration called `name` (`"ethos-u55-128"`, ..., `"ethos-u65-512"`).
pub fn by_name(name: &str) -> Option<&'static AccelConfig> {
    CONFIGS.iter().find(|c| c.name == name)
}

/// The single-core configuration of `product` with `macs` MACs per cycle.
pub fn by_product(product: Product, macs: u32) -> Option<&'static AccelConfig> {
    CONFIGS
        .iter()
        .find(|c| c.product == product && c.macs == macs && c.cores == 1)
}

impl AccelConfig {
    /// The configuration's name (`"ethos-u55-128"` etc.).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether this is an Ethos-U65.
    pub fn is_u65(&self) -> bool {
        self.product == Product::EthosU65
    }

    /// SHRAM of one core in KiB.
    pub fn shram_kib(&self) -> u32 {
        self.shram_banks * SHRAM_BANK_BYTES / 1024
    }

    /// log2 of the MACs per cycle of all cores (the `CONFIG` register's field).
    pub fn macs_log2(&self) -> u32 {
        (self.macs * self.cores).ilog2()
    }

    /// The `CONFIG` word Vela writes in the COP1 header (`ArchEthosU55::ConfigRegister`:
    /// MACs and SHRAM of all cores, product).
    pub fn config_word(&self) -> u32 {
        ConfigReg::new(
            self.product,
            self.macs_log2(),
            self.shram_kib() * self.cores,
        )
        .0
    }

    /// The `ID` word Vela writes in the COP1 header ([`VELA_ID_WORD`]).
    pub fn id_word(&self) -> u32 {
        VELA_ID_WORD
    }

    /// The first bank past the SHRAM an operation's IFM and accumulator
    /// buffers may use: the end banks reserved for the LUT, or, when none
    /// are reserved and the operation uses a LUT, the LUT's banks
    /// (`lut_start` of `ArchEthosU55::TryBlockConfig`, with
    /// `lutBanks = max(lut banks used, reservedEndBanks)`).
    pub fn usable_banks(&self, uses_lut: bool) -> u32 {
        let lut = if uses_lut { self.lut_banks } else { 0 };
        self.shram_banks - lut.max(self.lut_reserved_banks)
    }

    /// The bank granule of an IFM buffer with `bits`-bit elements (8, 16 or
    /// 32), for elementwise operations or the others; `None` for other widths.
    pub fn ifm_granule(&self, bits: u32, elementwise: bool) -> Option<u32> {
        let g = &self.granules;
        match (bits, elementwise) {
            (8, false) => Some(g.ifm8),
            (16, false) => Some(g.ifm16),
            (8, true) => Some(g.ifm8_elementwise),
            (16, true) => Some(g.ifm16_elementwise),
            (32, _) => Some(g.ifm32),
            _ => None,
        }
    }

    /// The bank granule and element bits of an accumulator buffer.
    pub fn acc_granule(&self, format: AccFormat) -> (u32, u32) {
        let g = &self.granules;
        match format {
            AccFormat::F16 => (g.acc16, 16),
            AccFormat::I32 => (g.acc32, 32),
            AccFormat::I40 => (g.acc40, 40),
        }
    }

    /// Banks of a double-buffered SHRAM buffer of `bytes` bytes per buffer,
    /// rounded up to `granule`: `round_up(2 * ceil(bytes / 1 KiB), granule)`.
    pub fn buffer_banks(bytes: u32, granule: u32) -> u32 {
        let banks = bytes.div_ceil(SHRAM_BANK_BYTES) * 2;
        banks.div_ceil(granule.max(1)) * granule.max(1)
    }

    /// Bytes of one IFM buffer of `h x w x depth` elements of `bits` bits:
    /// `h * w * round_up(depth * bytes, 8)`.
    pub fn ifm_buffer_bytes(h: u32, w: u32, depth: u32, bits: u32) -> u32 {
        h * w * (depth * (bits / 8)).div_ceil(8) * 8
    }

    /// Bytes of one accumulator buffer of `h x w x depth` accumulators of
    /// `acc_bits` bits: `h * w * round_up(depth, 8) * acc_bits / 8`.
    pub fn acc_buffer_bytes(h: u32, w: u32, depth: u32, acc_bits: u32) -> u32 {
        h * w * depth.div_ceil(8) * 8 * acc_bits / 8
    }
}

/// The kind of a kernel operation, for [`AccelConfig::check_shram`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShramOp {
    /// NPU_OP_CONV (`part_kernel`: `KERNEL_STRIDE.weight_order` part-kernel-first).
    Conv {
        /// Part-kernel-first weight order.
        part_kernel: bool,
    },
    /// NPU_OP_DEPTHWISE.
    Depthwise,
    /// NPU_OP_POOL other than REDUCE_SUM.
    Pool,
    /// NPU_OP_POOL with REDUCE_SUM (reads the whole IFM depth).
    ReduceSum,
    /// NPU_OP_ELEMENTWISE.
    Elementwise {
        /// What the second operand is.
        ifm2: Ifm2Kind,
    },
}

/// The second operand of an elementwise operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ifm2Kind {
    /// Unary operation (ABS, CLZ, LRELU): no IFM2.
    None,
    /// `IFM2_SCALAR` (`IFM2_BROADCAST.broadcast_constant`): no IFM2 buffer.
    Scalar,
    /// A feature map, buffered from `IFM2_IB_START` to `IFM_IB_END`.
    FeatureMap,
}

/// One kernel operation's SHRAM-relevant registers, for [`AccelConfig::check_shram`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShramUse {
    /// The operation.
    pub op: ShramOp,
    /// OFM height, width, depth (`OFM_*_M1 + 1`).
    pub ofm: [u32; 3],
    /// OFM block height, width, depth (`OFM_BLK_*_M1 + 1`, the whole 16-bit parameter).
    pub ofm_block: [u32; 3],
    /// IFM depth (`IFM_DEPTH_M1 + 1`).
    pub ifm_depth: u32,
    /// Kernel height, width as the registers give it (`KERNEL_*_M1 + 1`: the dilated extent).
    pub kernel_extent: [u32; 2],
    /// Kernel height in taps (extent / dilation).
    pub kernel_taps_h: u32,
    /// Stride y, x.
    pub stride: [u32; 2],
    /// `IFM_UPSCALE`: 1 (none), or 2 with `rounding` 1 (nearest) or 0 (zero insertion).
    pub upscale: u32,
    /// See `upscale`.
    pub rounding: u32,
    /// IFM element bits (8, 16 or 32).
    pub ifm_bits: u32,
    /// `ACC_FORMAT`.
    pub acc: AccFormat,
    /// The activation is a lookup table (`ACTIVATION` TABLE_n).
    pub uses_lut: bool,
    /// `IFM_IB_END`.
    pub ib_end: u32,
    /// `IFM2_IB_START`.
    pub ifm2_ib_start: u32,
    /// `AB_START`.
    pub ab_start: u32,
}

/// Why an operation's block configuration does not fit the SHRAM or the hardware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShramViolation {
    /// An OFM block dimension is outside `1..=max` (`OFM_BLK_*_M1` field range).
    BlockTooLarge {
        /// "height", "width" or "depth".
        axis: &'static str,
        /// The block size the register asks for.
        size: u32,
        /// The largest the hardware has.
        max: u32,
    },
    /// The IFM (or IFM2) buffers do not fit their bank range.
    Ifm {
        /// "IFM" or "IFM2".
        operand: &'static str,
        /// The IFM block (height, width, depth) the OFM block needs.
        block: [u32; 3],
        /// Element bits.
        bits: u32,
        /// Banks of the two buffers (rounded to the granule).
        banks: u32,
        /// First bank of the range.
        start: u32,
        /// The register ending the range and its value.
        end_reg: &'static str,
        /// See `end_reg`.
        end: u32,
    },
    /// `IFM_IB_END` is past `AB_START`: IFM buffers would overlap the accumulators.
    IfmOverlapsAccumulators {
        /// `IFM_IB_END`.
        ib_end: u32,
        /// `AB_START`.
        ab_start: u32,
    },
    /// The accumulator buffers run past the usable SHRAM.
    Accumulators {
        /// The accumulator block (height, width, depth).
        block: [u32; 3],
        /// Accumulator bits.
        bits: u32,
        /// Banks of the two buffers (rounded to the granule).
        banks: u32,
        /// `AB_START`.
        start: u32,
        /// First bank past the usable SHRAM.
        usable: u32,
    },
    /// An elementwise operation's input buffers run past the usable SHRAM.
    IfmPastUsable {
        /// `IFM_IB_END`.
        ib_end: u32,
        /// First bank past the usable SHRAM.
        usable: u32,
    },
}

impl fmt::Display for ShramViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lut = " (the lookup table's banks excluded)";
        match *self {
            ShramViolation::BlockTooLarge { axis, size, max } => {
                write!(f, "OFM block {axis} {size} is outside the hardware's 1..={max}")
            }
            ShramViolation::Ifm {
                operand,
                block: [h, w, d],
                bits,
                banks,
                start,
                end_reg,
                end,
            } => write!(
                f,
                "the {operand} block {h}x{w}x{d} of {bits}-bit elements needs {banks} SHRAM banks \
                 (double-buffered) from bank {start}, past {end_reg} = {end}"
            ),
            ShramViolation::IfmOverlapsAccumulators { ib_end, ab_start } => write!(
                f,
                "IFM_IB_END = {ib_end} is past AB_START = {ab_start}: the IFM buffers overlap the accumulators"
            ),
            ShramViolation::Accumulators {
                block: [h, w, d],
                bits,
                banks,
                start,
                usable,
            } => write!(
                f,
                "the accumulators of the {h}x{w}x{d} OFM block ({bits}-bit) need {banks} SHRAM banks \
                 (double-buffered) from AB_START = {start}, past the {usable} usable banks{lut}"
            ),
            ShramViolation::IfmPastUsable { ib_end, usable } => write!(
                f,
                "IFM_IB_END = {ib_end} is past the {usable} usable SHRAM banks{lut}"
            ),
        }
    }
}

impl AccelConfig {
    /// Checks from an operation's registers alone that its OFM block is within
    /// the hardware's limits and that the buffers the block needs fit the SHRAM
    /// layout the registers give. The rules (the hardware's, as Vela's
    /// `TryBlockConfig` and `GetArchIFMBlockSize` apply them):
    ///
    /// - every OFM block dimension is in `1..=`[`Self::ofm_block_max`];
    /// - the IFM block has the rows and columns one sub-kernel (at most
    ///   [`Self::subkernel_max`]) needs for the OFM block,
    ///   `ceil(((blk - 1) * stride + min(extent, 8) + rounding) / upscale)`,
    ///   rounded up to the OFM micro-block (elementwise: the OFM block's);
    ///   its depth is the OFM block's for depthwise, pooling and elementwise,
    ///   else `min(IFM depth, 16 if part-kernel-first or 16-bit else 32)`
    ///   rounded up to the IFM micro-block (4 for 16-bit);
    /// - a buffer of `h x w x round_up(depth * bytes, 8)` IFM bytes or
    ///   `h x w x round_up(depth, 8) x acc_bytes` accumulator bytes takes
    ///   `2 * ceil(bytes / 1 KiB)` banks (double-buffered) rounded up to its
    ///   [`ShramGranules`] granule;
    /// - IFM buffers start after [`Self::reserved_output_banks`] and end by
    ///   `IFM_IB_END` (binary elementwise: by `IFM2_IB_START`, and the IFM2
    ///   buffers, as large, from there by `IFM_IB_END`);
    /// - convolution, depthwise and pooling: `IFM_IB_END <= AB_START`, and the
    ///   accumulators from `AB_START` end by [`Self::usable_banks`] (the
    ///   accumulator block is one row high for a one-row OFM and a one-row
    ///   kernel on two-row micro-blocks, Vela's `FitBlockForOFM`);
    /// - elementwise: `IFM_IB_END` is at most [`Self::usable_banks`].
    pub fn check_shram(&self, u: &ShramUse) -> Result<(), ShramViolation> {
        for (i, axis) in ["height", "width", "depth"].into_iter().enumerate() {
            let (size, max) = (u.ofm_block[i], self.ofm_block_max[i]);
            if size == 0 || size > max {
                return Err(ShramViolation::BlockTooLarge { axis, size, max });
            }
        }
        let [bh, bw, bd] = u.ofm_block;
        let ub = self.ofm_ublock;
        let elementwise = matches!(u.op, ShramOp::Elementwise { .. });
        let usable = self.usable_banks(u.uses_lut);
        // The IFM block.
        let (ih, iw) = if elementwise {
            (bh, bw)
        } else {
            let rows = |blk: u32, stride: u32, extent: u32, limit: u32| {
                ((blk - 1) * stride + extent.min(limit) + u.rounding).div_ceil(u.upscale.max(1))
            };
            (
                rows(bh, u.stride[0], u.kernel_extent[0], self.subkernel_max[0]),
                rows(bw, u.stride[1], u.kernel_extent[1], self.subkernel_max[1]),
            )
        };
        let ih = ih.div_ceil(ub[0]) * ub[0];
        let iw = iw.div_ceil(ub[1]) * ub[1];
        let id = match u.op {
            ShramOp::Depthwise | ShramOp::Pool | ShramOp::Elementwise { .. } => bd,
            ShramOp::Conv { .. } | ShramOp::ReduceSum => {
                let part_kernel = matches!(u.op, ShramOp::Conv { part_kernel: true });
                if u.ifm_bits == 16 {
                    u.ifm_depth.min(16).div_ceil(4) * 4
                } else {
                    let cap = if part_kernel { 16 } else { 32 };
                    let q = self.ifm_ublock[2];
                    u.ifm_depth.min(cap).div_ceil(q) * q
                }
            }
        };
        let granule = self
            .ifm_granule(u.ifm_bits, elementwise)
            .unwrap_or(self.granules.ifm32);
        let ifm_banks = AccelConfig::buffer_banks(
            AccelConfig::ifm_buffer_bytes(ih, iw, id, u.ifm_bits),
            granule,
        );
        let ifm_err = |operand, start, end_reg, end| ShramViolation::Ifm {
            operand,
            block: [ih, iw, id],
            bits: u.ifm_bits,
            banks: ifm_banks,
            start,
            end_reg,
            end,
        };
        let start = self.reserved_output_banks;
        if let ShramOp::Elementwise { ifm2 } = u.op {
            if ifm2 == Ifm2Kind::FeatureMap {
                if start + ifm_banks > u.ifm2_ib_start {
                    return Err(ifm_err("IFM", start, "IFM2_IB_START", u.ifm2_ib_start));
                }
                if u.ifm2_ib_start + ifm_banks > u.ib_end {
                    return Err(ifm_err("IFM2", u.ifm2_ib_start, "IFM_IB_END", u.ib_end));
                }
            } else if start + ifm_banks > u.ib_end {
                return Err(ifm_err("IFM", start, "IFM_IB_END", u.ib_end));
            }
            if u.ib_end > usable {
                return Err(ShramViolation::IfmPastUsable {
                    ib_end: u.ib_end,
                    usable,
                });
            }
            return Ok(());
        }
        if start + ifm_banks > u.ib_end {
            return Err(ifm_err("IFM", start, "IFM_IB_END", u.ib_end));
        }
        if u.ib_end > u.ab_start {
            return Err(ShramViolation::IfmOverlapsAccumulators {
                ib_end: u.ib_end,
                ab_start: u.ab_start,
            });
        }
        let ah = if u.ofm[0] == 1 && u.kernel_taps_h == 1 && ub[0] == 2 {
            1
        } else {
            bh
        };
        let (acc_granule, acc_bits) = self.acc_granule(u.acc);
        let acc_banks = AccelConfig::buffer_banks(
            AccelConfig::acc_buffer_bytes(ah, bw, bd, acc_bits),
            acc_granule,
        );
        if u.ab_start + acc_banks > usable {
            return Err(ShramViolation::Accumulators {
                block: [ah, bw, bd],
                bits: acc_bits,
                banks: acc_banks,
                start: u.ab_start,
                usable,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_config_words() {
        assert_eq!(CONFIGS.len(), 6);
        for c in CONFIGS {
            assert_eq!(by_name(c.name()), Some(c));
            // The DPU is ofm_ublock h * w * c MACs wide, 8 deep (architecture_features.py).
            let [h, w, d] = c.ofm_ublock;
            assert_eq!(h * w * d * 8, c.macs, "{}", c.name);
        }
        assert_eq!(by_name("ethos-u55-96"), None);
        // The COP1 headers of the Vela fixtures.
        assert_eq!(by_name("ethos-u55-64").unwrap().config_word(), 0x1006);
        assert_eq!(by_name("ethos-u55-128").unwrap().config_word(), 0x1807);
        assert_eq!(by_name("ethos-u55-256").unwrap().config_word(), 0x3008);
        assert_eq!(by_name("ethos-u65-256").unwrap().config_word(), 0x1000_3008);
        assert_eq!(
            by_product(Product::EthosU65, 256).unwrap().name(),
            "ethos-u65-256"
        );
        assert_eq!(by_product(Product::EthosU55, 512), None);
    }

    /// kws conv0 on U55-128 as Vela 5.2 laid it out: OFM block 10x6x16,
    /// IFM_IB_END 10, AB_START 14.
    fn kws_conv0() -> ShramUse {
        ShramUse {
            op: ShramOp::Conv { part_kernel: true },
            ofm: [25, 5, 16],
            ofm_block: [10, 6, 16],
            ifm_depth: 1,
            kernel_extent: [10, 4],
            kernel_taps_h: 10,
            stride: [2, 2],
            upscale: 1,
            rounding: 0,
            ifm_bits: 8,
            acc: AccFormat::I32,
            uses_lut: false,
            ib_end: 10,
            ifm2_ib_start: 0,
            ab_start: 14,
        }
    }

    #[test]
    fn shram_check() {
        let c = by_name("ethos-u55-128").unwrap();
        assert_eq!(c.check_shram(&kws_conv0()), Ok(()));
        // IFM block 26x14x8 needs banks 2..10.
        let e = c
            .check_shram(&ShramUse {
                ib_end: 9,
                ..kws_conv0()
            })
            .unwrap_err();
        assert!(
            matches!(
                e,
                ShramViolation::Ifm {
                    banks: 8,
                    start: 2,
                    end: 9,
                    ..
                }
            ),
            "{e}"
        );
        assert!(std::format!("{e}").contains("26x14x8"), "{e}");
        // Accumulators 10x6x16 x 32-bit need 8 banks: 14..22 of 22 usable.
        let e = c
            .check_shram(&ShramUse {
                ab_start: 15,
                ..kws_conv0()
            })
            .unwrap_err();
        assert!(
            matches!(
                e,
                ShramViolation::Accumulators {
                    banks: 8,
                    usable: 22,
                    ..
                }
            ),
            "{e}"
        );
        let e = c
            .check_shram(&ShramUse {
                ab_start: 9,
                ..kws_conv0()
            })
            .unwrap_err();
        assert!(
            matches!(e, ShramViolation::IfmOverlapsAccumulators { .. }),
            "{e}"
        );
        let e = c
            .check_shram(&ShramUse {
                ofm_block: [33, 6, 16],
                ..kws_conv0()
            })
            .unwrap_err();
        assert_eq!(
            e,
            ShramViolation::BlockTooLarge {
                axis: "height",
                size: 33,
                max: 32
            }
        );
        // On U55-64 a LUT takes the top 2 of 16 banks from the accumulators.
        let c64 = by_name("ethos-u55-64").unwrap();
        let small = ShramUse {
            ofm_block: [4, 6, 16],
            ib_end: 8,
            ab_start: 12,
            ..kws_conv0()
        };
        assert_eq!(c64.check_shram(&small), Ok(()));
        let e = c64
            .check_shram(&ShramUse {
                uses_lut: true,
                ..small
            })
            .unwrap_err();
        assert!(
            matches!(e, ShramViolation::Accumulators { usable: 14, .. }),
            "{e}"
        );
        // Binary elementwise, Vela's resnet Add on U55-128: block 8x32x16, IFM 2..10, IFM2 10..18.
        let add = ShramUse {
            op: ShramOp::Elementwise {
                ifm2: Ifm2Kind::FeatureMap,
            },
            ofm: [32, 32, 16],
            ofm_block: [8, 32, 16],
            ifm_depth: 16,
            ib_end: 22,
            ifm2_ib_start: 10,
            ab_start: 22,
            ..kws_conv0()
        };
        assert_eq!(c.check_shram(&add), Ok(()));
        let e = c
            .check_shram(&ShramUse {
                ifm2_ib_start: 9,
                ..add
            })
            .unwrap_err();
        assert!(
            matches!(e, ShramViolation::Ifm { operand: "IFM", .. }),
            "{e}"
        );
        let e = c
            .check_shram(&ShramUse {
                ifm2_ib_start: 15,
                ..add
            })
            .unwrap_err();
        assert!(
            matches!(
                e,
                ShramViolation::Ifm {
                    operand: "IFM2",
                    ..
                }
            ),
            "{e}"
        );
        let e = c.check_shram(&ShramUse { ib_end: 23, ..add }).unwrap_err();
        assert!(
            matches!(e, ShramViolation::IfmPastUsable { usable: 22, .. }),
            "{e}"
        );
    }

    #[test]
    fn shram_rules() {
        let c = by_name("ethos-u55-128").unwrap();
        assert_eq!((c.usable_banks(false), c.usable_banks(true)), (22, 22));
        let c = by_name("ethos-u55-64").unwrap();
        assert_eq!((c.usable_banks(false), c.usable_banks(true)), (16, 14));
        // kws conv0 on U55-128: IFM block 26 x 14 x 8 int8 -> 2912 B -> 3 banks x 2 -> 8.
        assert_eq!(AccelConfig::ifm_buffer_bytes(26, 14, 8, 8), 2912);
        assert_eq!(AccelConfig::buffer_banks(2912, 4), 8);
        assert_eq!(AccelConfig::acc_buffer_bytes(10, 6, 16, 32), 3840);
        assert_eq!(AccelConfig::buffer_banks(3840, 8), 8);
    }
}
