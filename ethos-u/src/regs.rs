//! The Ethos-U55/U65 register set (architecture 1.0.6): APB register offsets,
//! the bit fields of the ID/CONFIG/STATUS/CMD registers, the command-stream
//! opcodes and the decoders of every command's parameter fields.
//!
//! Names are spelled exactly as Vela 5.x (Regor core) prints them with
//! `--verbose-register-command-stream` (`NPU_SET_IFM_REGION`,
//! `ACTIVATION_FORMAT_NHCWB16`, ...), so a disassembly can be compared with
//! Vela's listing line by line. The facts come from Arm's published register
//! descriptions (`ethos_u55_regs.py` in ethos-u-vela, the core driver's
//! `ethosu55_interface.h`).
//!
//! Command word layout (both kinds): bits 9:0 opcode, bits 13:10 reserved
//! (zero), bits 15:14 control (0 = cmd0: no payload, 1 = cmd1: one 32-bit
//! payload word follows), bits 31:16 a 16-bit parameter.

use core::fmt;

/// APB register byte offsets from the NPU base address.
pub mod offset {
    /// Identification register (`ID`).
    pub const ID: u32 = 0x0000;
    /// Status register (`STATUS`).
    pub const STATUS: u32 = 0x0004;
    /// Command register (`CMD`): start, clear IRQ, clock/power Q enables.
    pub const CMD: u32 = 0x0008;
    /// Soft reset request and the security/privilege level after reset.
    pub const RESET: u32 = 0x000C;
    /// Command queue base address, low 32 bits.
    pub const QBASE: u32 = 0x0010;
    /// Command queue base address, high 32 bits.
    pub const QBASE_HI: u32 = 0x0014;
    /// Command queue read offset (bytes) of the command being executed.
    pub const QREAD: u32 = 0x0018;
    /// AXI memory attributes for the command queue.
    pub const QCONFIG: u32 = 0x001C;
    /// Command queue size in bytes.
    pub const QSIZE: u32 = 0x0020;
    /// Current protection level (security / privilege).
    pub const PROT: u32 = 0x0024;
    /// Hardware configuration (`CONFIG`): MACs per cycle, SHRAM size, product.
    pub const CONFIG: u32 = 0x0028;
    /// Lock register.
    pub const LOCK: u32 = 0x002C;
    /// Per-region AXI memory type selection (2 bits per region).
    pub const REGIONCFG: u32 = 0x003C;
    /// AXI limits for memory type 0.
    pub const AXI_LIMIT0: u32 = 0x0040;
    /// AXI limits for memory type 1.
    pub const AXI_LIMIT1: u32 = 0x0044;
    /// AXI limits for memory type 2.
    pub const AXI_LIMIT2: u32 = 0x0048;
    /// AXI limits for memory type 3.
    pub const AXI_LIMIT3: u32 = 0x004C;
    /// Base pointer of region 0 (low word); region `n` low word at `BASEP0 + 8 n`.
    pub const BASEP0: u32 = 0x0080;
    /// Number of base pointer regions.
    pub const BASEP_COUNT: u32 = 8;
    /// Weight decoder status (debug).
    pub const WD_STATUS: u32 = 0x0100;
    /// MAC status (debug).
    pub const MAC_STATUS: u32 = 0x0104;
    /// Activation output status (debug).
    pub const AO_STATUS: u32 = 0x0108;
    /// DMA status 0 (debug).
    pub const DMA_STATUS0: u32 = 0x0110;
    /// DMA status 1 (debug).
    pub const DMA_STATUS1: u32 = 0x0114;
    /// Clock force (debug).
    pub const CLKFORCE: u32 = 0x0140;
    /// PMU control register.
    pub const PMCR: u32 = 0x0180;
    /// PMU counter enable set.
    pub const PMCNTENSET: u32 = 0x0184;
    /// PMU counter enable clear.
    pub const PMCNTENCLR: u32 = 0x0188;
    /// PMU overflow status set.
    pub const PMOVSSET: u32 = 0x018C;
    /// PMU overflow status clear.
    pub const PMOVSCLR: u32 = 0x0190;
    /// PMU interrupt enable set.
    pub const PMINTSET: u32 = 0x0194;
    /// PMU interrupt enable clear.
    pub const PMINTCLR: u32 = 0x0198;
    /// PMU cycle counter, low word.
    pub const PMCCNTR: u32 = 0x01A0;
    /// PMU cycle counter, high word.
    pub const PMCCNTR_HI: u32 = 0x01A4;
    /// PMU event counter 0 (counters 0..3 at 4-byte steps).
    pub const PMEVCNTR0: u32 = 0x0300;
    /// PMU event type 0 (types 0..3 at 4-byte steps).
    pub const PMEVTYPER0: u32 = 0x0380;
    /// Hardware revision.
    pub const REVISION: u32 = 0x0FC0;
    /// Peripheral ID 4 (PID4..PID7 then PID0..PID3, CID0..CID3 follow).
    pub const PID4: u32 = 0x0FD0;
    /// Component ID 0.
    pub const CID0: u32 = 0x0FF0;

    /// Offset of the low word of base pointer `region` (0..8), `None` past the last.
    pub const fn basep(region: u32) -> Option<u32> {
        if region < BASEP_COUNT {
            Some(BASEP0 + 8 * region)
        } else {
            None
        }
    }
}

/// Number of base pointer registers (regions 0..8).
pub const MAX_REGIONS: usize = offset::BASEP_COUNT as usize;

/// The `ID` register: product and architecture version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdReg(pub u32);

impl IdReg {
    /// Bits 3:0, version status.
    pub const fn version_status(self) -> u32 {
        self.0 & 0xF
    }
    /// Bits 7:4, minor version.
    pub const fn version_minor(self) -> u32 {
        (self.0 >> 4) & 0xF
    }
    /// Bits 11:8, major version.
    pub const fn version_major(self) -> u32 {
        (self.0 >> 8) & 0xF
    }
    /// Bits 15:12, product major.
    pub const fn product_major(self) -> u32 {
        (self.0 >> 12) & 0xF
    }
    /// Bits 19:16, architecture patch revision.
    pub const fn arch_patch_rev(self) -> u32 {
        (self.0 >> 16) & 0xF
    }
    /// Bits 27:20, architecture minor revision.
    pub const fn arch_minor_rev(self) -> u32 {
        (self.0 >> 20) & 0xFF
    }
    /// Bits 31:28, architecture major revision.
    pub const fn arch_major_rev(self) -> u32 {
        (self.0 >> 28) & 0xF
    }
    /// Builds an ID word from an architecture version (the other fields zero).
    pub const fn from_arch(major: u32, minor: u32, patch: u32) -> IdReg {
        IdReg(((major & 0xF) << 28) | ((minor & 0xFF) << 20) | ((patch & 0xF) << 16))
    }
}

/// The NPU product in `CONFIG.product`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Product {
    /// Ethos-U55 (`product` 0).
    EthosU55,
    /// Ethos-U65 (`product` 1).
    EthosU65,
}

/// The `CONFIG` register: hardware configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigReg(pub u32);

impl ConfigReg {
    /// Bits 3:0, log2 of MACs per cycle (5 = 32 .. 8 = 256).
    pub const fn macs_per_cc_log2(self) -> u32 {
        self.0 & 0xF
    }
    /// MACs per clock cycle (`1 << macs_per_cc_log2`).
    pub const fn macs_per_cc(self) -> u32 {
        1 << (self.0 & 0xF)
    }
    /// Bits 7:4, command stream version.
    pub const fn cmd_stream_version(self) -> u32 {
        (self.0 >> 4) & 0xF
    }
    /// Bits 15:8, SHRAM size in KiB.
    pub const fn shram_size_kib(self) -> u32 {
        (self.0 >> 8) & 0xFF
    }
    /// Bit 27, custom DMA implemented.
    pub const fn custom_dma(self) -> bool {
        (self.0 >> 27) & 1 != 0
    }
    /// Bits 31:28, product (0 = U55, 1 = U65).
    pub const fn product_raw(self) -> u32 {
        (self.0 >> 28) & 0xF
    }
    /// The product, `None` for values this model does not know.
    pub const fn product(self) -> Option<Product> {
        match self.product_raw() {
            0 => Some(Product::EthosU55),
            1 => Some(Product::EthosU65),
            _ => None,
        }
    }
    /// Builds a CONFIG word.
    pub const fn new(product: Product, macs_per_cc_log2: u32, shram_kib: u32) -> ConfigReg {
        let p = match product {
            Product::EthosU55 => 0,
            Product::EthosU65 => 1,
        };
        ConfigReg((macs_per_cc_log2 & 0xF) | ((shram_kib & 0xFF) << 8) | (p << 28))
    }
}

/// Bits of the `STATUS` register.
pub mod status {
    /// Bit 0: 1 = running, 0 = stopped.
    pub const STATE_RUNNING: u32 = 1 << 0;
    /// Bit 1: an interrupt is raised.
    pub const IRQ_RAISED: u32 = 1 << 1;
    /// Bit 2: an AXI bus error occurred.
    pub const BUS_STATUS: u32 = 1 << 2;
    /// Bit 3: a reset is in progress.
    pub const RESET_STATUS: u32 = 1 << 3;
    /// Bit 4: the command stream could not be parsed.
    pub const CMD_PARSE_ERROR: u32 = 1 << 4;
    /// Bit 5: `NPU_OP_STOP` was reached.
    pub const CMD_END_REACHED: u32 = 1 << 5;
    /// Bit 6: PMU interrupt raised.
    pub const PMU_IRQ_RAISED: u32 = 1 << 6;
    /// Bit 7: weight decoder fault (bad compressed weight stream).
    pub const WD_FAULT: u32 = 1 << 7;
    /// Bit 8: ECC fault.
    pub const ECC_FAULT: u32 = 1 << 8;
    /// Bit 11: faulting AXI interface (0 = AXI0, 1 = AXI1).
    pub const FAULTING_INTERFACE: u32 = 1 << 11;
    /// Bits 15:12: faulting channel.
    pub const FAULTING_CHANNEL_SHIFT: u32 = 12;
    /// Bits 31:16: IRQ history mask.
    pub const IRQ_HISTORY_SHIFT: u32 = 16;
    /// Every error bit a driver must check after a run.
    pub const ERROR_MASK: u32 = BUS_STATUS | CMD_PARSE_ERROR | WD_FAULT | ECC_FAULT;
}

/// Bits of the `CMD` register.
pub mod cmd_reg {
    /// Bit 0: start executing the command queue (QBASE/QSIZE).
    pub const TRANSITION_TO_RUNNING_STATE: u32 = 1 << 0;
    /// Bit 1: clear the interrupt.
    pub const CLEAR_IRQ: u32 = 1 << 1;
    /// Bit 2: clock Q-channel enable.
    pub const CLOCK_Q_ENABLE: u32 = 1 << 2;
    /// Bit 3: power Q-channel enable.
    pub const POWER_Q_ENABLE: u32 = 1 << 3;
    /// Bit 4: stop request.
    pub const STOP_REQUEST: u32 = 1 << 4;
    /// Bits 31:16: clear IRQ history.
    pub const CLEAR_IRQ_HISTORY_SHIFT: u32 = 16;
}

/// Bits of the `RESET` register.
pub mod reset_reg {
    /// Bit 0: privilege level after reset (1 = privileged).
    pub const PENDING_CPL: u32 = 1 << 0;
    /// Bit 1: security level after reset (1 = non-secure).
    pub const PENDING_CSL: u32 = 1 << 1;
}

/// Fields of the `AXI_LIMITn` registers.
pub mod axi_limit {
    /// Bits 1:0: max burst length (0 = 64 bytes, 1 = 128 bytes).
    pub const MAX_BEATS_SHIFT: u32 = 0;
    /// Bits 7:4: AXI memory type encoding.
    pub const MEMTYPE_SHIFT: u32 = 4;
    /// Bits 23:16: max outstanding reads minus one.
    pub const MAX_OUTSTANDING_READ_M1_SHIFT: u32 = 16;
    /// Bits 31:24: max outstanding writes minus one.
    pub const MAX_OUTSTANDING_WRITE_M1_SHIFT: u32 = 24;
}

/// Command word: opcode mask (bits 9:0).
pub const CMD_OPCODE_MASK: u32 = 0x3FF;
/// Command word: reserved bits 13:10 (must be zero).
pub const CMD_RESERVED_MASK: u32 = 0x3C00;
/// Command word: control field shift (bits 15:14).
pub const CMD_CONTROL_SHIFT: u32 = 14;
/// Control value of a command with one payload word (cmd1).
pub const CMD1_CONTROL: u32 = 1;

/// Defines a closed opcode enum with its code and Vela name.
macro_rules! opcodes {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $val:expr,)* }) => {
        $(#[$m])*
        // Variant names mirror the hardware's command names (`NPU_` dropped).
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum $name {
            $($(#[$vm])* $var = $val,)*
        }
        impl $name {
            /// Every opcode of this kind.
            pub const ALL: &'static [$name] = &[$($name::$var,)*];
            /// The opcode with 10-bit `code`, `None` if there is none.
            pub const fn from_code(code: u16) -> Option<$name> {
                match code {
                    $($val => Some($name::$var),)*
                    _ => None,
                }
            }
            /// The 10-bit opcode.
            pub const fn code(self) -> u16 {
                self as u16
            }
            /// The name as Vela prints it, e.g. `NPU_SET_IFM_REGION`.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$var => concat!("NPU_", stringify!($var)),)*
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.name())
            }
        }
    };
}

opcodes! {
    /// Commands without payload (control 0): operations and 16-bit register setters.
    Cmd0Op {
        /// End of the command stream.
        OP_STOP = 0x000,
        /// Raise an interrupt.
        OP_IRQ = 0x001,
        /// Convolution (also fully connected as 1x1).
        OP_CONV = 0x002,
        /// Depthwise convolution.
        OP_DEPTHWISE = 0x003,
        /// Pooling (max, average, reduce-sum).
        OP_POOL = 0x005,
        /// Elementwise operation.
        OP_ELEMENTWISE = 0x006,
        /// Start a DMA transfer.
        OP_DMA_START = 0x010,
        /// Wait for outstanding DMA transfers.
        OP_DMA_WAIT = 0x011,
        /// Wait for outstanding kernel operations.
        OP_KERNEL_WAIT = 0x012,
        /// PMU enable mask.
        OP_PMU_MASK = 0x013,
        /// IFM top padding.
        SET_IFM_PAD_TOP = 0x100,
        /// IFM left padding.
        SET_IFM_PAD_LEFT = 0x101,
        /// IFM right padding.
        SET_IFM_PAD_RIGHT = 0x102,
        /// IFM bottom padding.
        SET_IFM_PAD_BOTTOM = 0x103,
        /// IFM depth minus one.
        SET_IFM_DEPTH_M1 = 0x104,
        /// IFM precision, format, scale and rounding mode.
        SET_IFM_PRECISION = 0x105,
        /// IFM upscaling mode.
        SET_IFM_UPSCALE = 0x107,
        /// IFM zero point.
        SET_IFM_ZERO_POINT = 0x109,
        /// IFM tile 0 width minus one.
        SET_IFM_WIDTH0_M1 = 0x10A,
        /// IFM tile 0 height minus one.
        SET_IFM_HEIGHT0_M1 = 0x10B,
        /// IFM tile 1 height minus one.
        SET_IFM_HEIGHT1_M1 = 0x10C,
        /// IFM input buffer end (SHRAM banks).
        SET_IFM_IB_END = 0x10D,
        /// IFM region index.
        SET_IFM_REGION = 0x10F,
        /// OFM width minus one.
        SET_OFM_WIDTH_M1 = 0x111,
        /// OFM height minus one.
        SET_OFM_HEIGHT_M1 = 0x112,
        /// OFM depth minus one.
        SET_OFM_DEPTH_M1 = 0x113,
        /// OFM precision, format, scale mode and rounding.
        SET_OFM_PRECISION = 0x114,
        /// OFM block width minus one.
        SET_OFM_BLK_WIDTH_M1 = 0x115,
        /// OFM block height minus one.
        SET_OFM_BLK_HEIGHT_M1 = 0x116,
        /// OFM block depth minus one.
        SET_OFM_BLK_DEPTH_M1 = 0x117,
        /// OFM zero point.
        SET_OFM_ZERO_POINT = 0x118,
        /// OFM tile 0 width minus one.
        SET_OFM_WIDTH0_M1 = 0x11A,
        /// OFM tile 0 height minus one.
        SET_OFM_HEIGHT0_M1 = 0x11B,
        /// OFM tile 1 height minus one.
        SET_OFM_HEIGHT1_M1 = 0x11C,
        /// OFM region index.
        SET_OFM_REGION = 0x11F,
        /// Kernel width minus one (dilated extent).
        SET_KERNEL_WIDTH_M1 = 0x120,
        /// Kernel height minus one (dilated extent).
        SET_KERNEL_HEIGHT_M1 = 0x121,
        /// Kernel stride, dilation and weight order.
        SET_KERNEL_STRIDE = 0x122,
        /// Parallel mode (dual-core U65-512).
        SET_PARALLEL_MODE = 0x123,
        /// Accumulator format.
        SET_ACC_FORMAT = 0x124,
        /// Activation function and clip range.
        SET_ACTIVATION = 0x125,
        /// Activation lower clip bound.
        SET_ACTIVATION_MIN = 0x126,
        /// Activation upper clip bound.
        SET_ACTIVATION_MAX = 0x127,
        /// Weight stream region index.
        SET_WEIGHT_REGION = 0x128,
        /// Scale (bias) stream region index.
        SET_SCALE_REGION = 0x129,
        /// Accumulator buffer start (SHRAM banks).
        SET_AB_START = 0x12D,
        /// Block dependency on the previous kernel.
        SET_BLOCKDEP = 0x12F,
        /// DMA source region and mode.
        SET_DMA0_SRC_REGION = 0x130,
        /// DMA destination region and mode.
        SET_DMA0_DST_REGION = 0x131,
        /// DMA inner size (2D/3D strided mode).
        SET_DMA0_SIZE0 = 0x132,
        /// DMA outer size (3D strided mode).
        SET_DMA0_SIZE1 = 0x133,
        /// IFM2 broadcast and operand order.
        SET_IFM2_BROADCAST = 0x180,
        /// IFM2 scalar value.
        SET_IFM2_SCALAR = 0x181,
        /// IFM2 precision and format.
        SET_IFM2_PRECISION = 0x185,
        /// IFM2 zero point.
        SET_IFM2_ZERO_POINT = 0x189,
        /// IFM2 tile 0 width minus one.
        SET_IFM2_WIDTH0_M1 = 0x18A,
        /// IFM2 tile 0 height minus one.
        SET_IFM2_HEIGHT0_M1 = 0x18B,
        /// IFM2 tile 1 height minus one.
        SET_IFM2_HEIGHT1_M1 = 0x18C,
        /// IFM2 input buffer start (SHRAM banks).
        SET_IFM2_IB_START = 0x18D,
        /// IFM2 region index.
        SET_IFM2_REGION = 0x18F,
    }
}

opcodes! {
    /// Commands with one 32-bit payload word (control 1): addresses, strides, lengths, scales.
    Cmd1Op {
        /// IFM tile 0 base address.
        SET_IFM_BASE0 = 0x000,
        /// IFM tile 1 base address.
        SET_IFM_BASE1 = 0x001,
        /// IFM tile 2 base address.
        SET_IFM_BASE2 = 0x002,
        /// IFM tile 3 base address.
        SET_IFM_BASE3 = 0x003,
        /// IFM byte stride between columns.
        SET_IFM_STRIDE_X = 0x004,
        /// IFM byte stride between rows.
        SET_IFM_STRIDE_Y = 0x005,
        /// IFM byte stride between channels (NHCWB16: between 16-channel bricks).
        SET_IFM_STRIDE_C = 0x006,
        /// OFM tile 0 base address.
        SET_OFM_BASE0 = 0x010,
        /// OFM tile 1 base address.
        SET_OFM_BASE1 = 0x011,
        /// OFM tile 2 base address.
        SET_OFM_BASE2 = 0x012,
        /// OFM tile 3 base address.
        SET_OFM_BASE3 = 0x013,
        /// OFM byte stride between columns.
        SET_OFM_STRIDE_X = 0x014,
        /// OFM byte stride between rows.
        SET_OFM_STRIDE_Y = 0x015,
        /// OFM byte stride between channels (bricks).
        SET_OFM_STRIDE_C = 0x016,
        /// Compressed weight stream address.
        SET_WEIGHT_BASE = 0x020,
        /// Compressed weight stream length in bytes.
        SET_WEIGHT_LENGTH = 0x021,
        /// Scale/bias record stream address.
        SET_SCALE_BASE = 0x022,
        /// Scale/bias record stream length in bytes.
        SET_SCALE_LENGTH = 0x023,
        /// Global OFM scale (param = shift, payload = multiplier).
        SET_OFM_SCALE = 0x024,
        /// Operand A scale (param = shift, payload = multiplier).
        SET_OPA_SCALE = 0x025,
        /// Operand B scale (payload = 16-bit multiplier).
        SET_OPB_SCALE = 0x026,
        /// DMA source address.
        SET_DMA0_SRC = 0x030,
        /// DMA destination address.
        SET_DMA0_DST = 0x031,
        /// DMA length in bytes.
        SET_DMA0_LEN = 0x032,
        /// DMA stride 0 (2D/3D mode).
        SET_DMA0_SKIP0 = 0x033,
        /// DMA stride 1 (3D mode).
        SET_DMA0_SKIP1 = 0x034,
        /// IFM2 tile 0 base address.
        SET_IFM2_BASE0 = 0x080,
        /// IFM2 tile 1 base address.
        SET_IFM2_BASE1 = 0x081,
        /// IFM2 tile 2 base address.
        SET_IFM2_BASE2 = 0x082,
        /// IFM2 tile 3 base address.
        SET_IFM2_BASE3 = 0x083,
        /// IFM2 byte stride between columns.
        SET_IFM2_STRIDE_X = 0x084,
        /// IFM2 byte stride between rows.
        SET_IFM2_STRIDE_Y = 0x085,
        /// IFM2 byte stride between channel bricks.
        SET_IFM2_STRIDE_C = 0x086,
        /// Second-core weight stream address (U65-512).
        SET_WEIGHT1_BASE = 0x090,
        /// Second-core weight stream length (U65-512).
        SET_WEIGHT1_LENGTH = 0x091,
        /// Second-core scale stream address (U65-512).
        SET_SCALE1_BASE = 0x092,
        /// Second-core scale stream length (U65-512).
        SET_SCALE1_LENGTH = 0x093,
    }
}

/// A decoded opcode: which kind of command and which one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// A command without payload.
    Cmd0(Cmd0Op),
    /// A command with one payload word.
    Cmd1(Cmd1Op),
}

impl Opcode {
    /// The name as Vela prints it.
    pub const fn name(self) -> &'static str {
        match self {
            Opcode::Cmd0(o) => o.name(),
            Opcode::Cmd1(o) => o.name(),
        }
    }
    /// The low 16 bits of the command word (opcode | control << 14).
    pub const fn code_word(self) -> u16 {
        match self {
            Opcode::Cmd0(o) => o.code(),
            Opcode::Cmd1(o) => o.code() | ((CMD1_CONTROL as u16) << CMD_CONTROL_SHIFT),
        }
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Defines a field enum decoded from a bit range, with Vela's value names.
macro_rules! field_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $val:expr => $text:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $var,)*
        }
        impl $name {
            /// The value for raw field bits, `None` if the encoding is reserved.
            pub const fn from_bits(bits: u32) -> Option<$name> {
                match bits {
                    $($val => Some($name::$var),)*
                    _ => None,
                }
            }
            /// The raw field bits.
            pub const fn bits(self) -> u32 {
                match self {
                    $($name::$var => $val,)*
                }
            }
            /// The name as Vela prints it.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$var => $text,)*
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

field_enum! {
    /// Signedness of a feature map.
    ActivationType {
        /// Unsigned elements.
        Unsigned = 0 => "ACTIVATION_TYPE_UNSIGNED",
        /// Signed elements.
        Signed = 1 => "ACTIVATION_TYPE_SIGNED",
    }
}

field_enum! {
    /// Element width of a feature map.
    ActivationPrecision {
        /// 8-bit.
        B8 = 0 => "ACTIVATION_PRECISION_B8",
        /// 16-bit.
        B16 = 1 => "ACTIVATION_PRECISION_B16",
        /// 32-bit.
        B32 = 2 => "ACTIVATION_PRECISION_B32",
        /// 64-bit.
        B64 = 3 => "ACTIVATION_PRECISION_B64",
    }
}

impl ActivationPrecision {
    /// Bytes per element.
    pub const fn bytes(self) -> u32 {
        match self {
            ActivationPrecision::B8 => 1,
            ActivationPrecision::B16 => 2,
            ActivationPrecision::B32 => 4,
            ActivationPrecision::B64 => 8,
        }
    }
}

field_enum! {
    /// Memory layout of a feature map.
    ActivationFormat {
        /// Plain NHWC.
        Nhwc = 0 => "ACTIVATION_FORMAT_NHWC",
        /// Bricks of 16 channels: N, H, C/16, W, 16.
        Nhcwb16 = 1 => "ACTIVATION_FORMAT_NHCWB16",
    }
}

field_enum! {
    /// How elementwise operands are scaled (IFM_PRECISION bits 9:8).
    IfmScaleMode {
        /// Both operands scaled with 16-bit OPA/OPB scales.
        OpaOpb16 = 0 => "IFM_SCALE_MODE_OPA_OPB_16",
        /// Operand A scaled with a 32-bit scale, B unscaled.
        Opa32 = 1 => "IFM_SCALE_MODE_OPA_32",
        /// Operand B scaled with a 32-bit scale, A unscaled.
        Opb32 = 2 => "IFM_SCALE_MODE_OPB_32",
    }
}

field_enum! {
    /// Where the OFM rescale comes from (OFM_PRECISION bit 8).
    OfmScaleMode {
        /// Per-channel records from the scale stream.
        PerChannel = 0 => "OFM_SCALE_MODE_PER_CHANNEL",
        /// The global OFM_SCALE register.
        Global = 1 => "OFM_SCALE_MODE_GLOBAL",
    }
}

field_enum! {
    /// Rounding mode of the output rescale (bits 15:14).
    RoundMode {
        /// TFLite double rounding: rounding doubling high multiply then rounding shift.
        Dbl = 0 => "ROUND_MODE_DBL",
        /// Truncate towards minus infinity.
        Truncate = 1 => "ROUND_MODE_TRUNCATE",
        /// Round to nearest, ties up.
        Natural = 2 => "ROUND_MODE_NATURAL",
    }
}

field_enum! {
    /// IFM upscaling.
    UpscaleMode {
        /// No upscaling.
        None = 0 => "IFM_UPSCALE_MODE_NONE",
        /// Nearest neighbour 2x.
        Nearest = 1 => "IFM_UPSCALE_MODE_NEAREST",
        /// Insert zeros 2x (transpose convolution).
        Zeros = 2 => "IFM_UPSCALE_MODE_ZEROS",
    }
}

field_enum! {
    /// Activation function applied after the rescale.
    ActivationFunction {
        /// Clamp only (ACTIVATION_MIN/MAX).
        Relu = 0 => "ACTIVATION_FUNCTION_RELU",
        /// Hardware tanh (16-bit).
        Tanh = 3 => "ACTIVATION_FUNCTION_TANH",
        /// Hardware sigmoid (16-bit).
        Sigmoid = 4 => "ACTIVATION_FUNCTION_SIGMOID",
        /// Lookup table in SHRAM slot 0.
        Table0 = 16 => "ACTIVATION_FUNCTION_TABLE_0",
        /// Lookup table slot 1.
        Table1 = 17 => "ACTIVATION_FUNCTION_TABLE_1",
        /// Lookup table slot 2.
        Table2 = 18 => "ACTIVATION_FUNCTION_TABLE_2",
        /// Lookup table slot 3.
        Table3 = 19 => "ACTIVATION_FUNCTION_TABLE_3",
        /// Lookup table slot 4.
        Table4 = 20 => "ACTIVATION_FUNCTION_TABLE_4",
        /// Lookup table slot 5.
        Table5 = 21 => "ACTIVATION_FUNCTION_TABLE_5",
        /// Lookup table slot 6.
        Table6 = 22 => "ACTIVATION_FUNCTION_TABLE_6",
        /// Lookup table slot 7.
        Table7 = 23 => "ACTIVATION_FUNCTION_TABLE_7",
    }
}

impl ActivationFunction {
    /// The LUT slot (0..8) of a table function.
    pub const fn table_slot(self) -> Option<u32> {
        let b = self.bits();
        if b >= 16 {
            Some(b - 16)
        } else {
            None
        }
    }
}

field_enum! {
    /// Range the activation output is clipped to before ACTIVATION_MIN/MAX.
    ClipRange {
        /// The OFM precision's range.
        OfmPrecision = 0 => "ACTIVATION_CLIP_RANGE_OFM_PRECISION",
        /// uint8 range.
        ForceUint8 = 2 => "ACTIVATION_CLIP_RANGE_FORCE_UINT8",
        /// int8 range.
        ForceInt8 = 3 => "ACTIVATION_CLIP_RANGE_FORCE_INT8",
        /// int16 range.
        ForceInt16 = 5 => "ACTIVATION_CLIP_RANGE_FORCE_INT16",
    }
}

field_enum! {
    /// Accumulator format.
    AccFormat {
        /// 32-bit integer.
        I32 = 0 => "ACC_FORMAT_I32",
        /// 40-bit integer.
        I40 = 1 => "ACC_FORMAT_I40",
        /// 16-bit float.
        F16 = 2 => "ACC_FORMAT_F16",
    }
}

field_enum! {
    /// NPU_OP_ELEMENTWISE mode.
    ElementwiseMode {
        /// a * b.
        Mul = 0 => "ELEMENTWISE_MODE_MUL",
        /// a + b.
        Add = 1 => "ELEMENTWISE_MODE_ADD",
        /// a - b.
        Sub = 2 => "ELEMENTWISE_MODE_SUB",
        /// min(a, b).
        Min = 3 => "ELEMENTWISE_MODE_MIN",
        /// max(a, b).
        Max = 4 => "ELEMENTWISE_MODE_MAX",
        /// Leaky ReLU (alpha from OPA scale).
        Lrelu = 5 => "ELEMENTWISE_MODE_LRELU",
        /// |a|.
        Abs = 6 => "ELEMENTWISE_MODE_ABS",
        /// Count leading zeros.
        Clz = 7 => "ELEMENTWISE_MODE_CLZ",
        /// Arithmetic shift right (with rounding mode).
        Shr = 8 => "ELEMENTWISE_MODE_SHR",
        /// Shift left.
        Shl = 9 => "ELEMENTWISE_MODE_SHL",
    }
}

impl ElementwiseMode {
    /// Whether the mode reads a second operand (IFM2).
    pub const fn is_binary(self) -> bool {
        !matches!(
            self,
            ElementwiseMode::Lrelu | ElementwiseMode::Abs | ElementwiseMode::Clz
        )
    }
}

field_enum! {
    /// NPU_OP_POOL mode.
    PoolingMode {
        /// Maximum.
        Max = 0 => "POOLING_MODE_MAX",
        /// Average (1/area folded into the OFM scale).
        Average = 1 => "POOLING_MODE_AVERAGE",
        /// Sum over the kernel (reduce-sum).
        ReduceSum = 2 => "POOLING_MODE_REDUCE_SUM",
    }
}

field_enum! {
    /// Order of weights in the compressed stream.
    WeightOrder {
        /// All IFM depth for one kernel position first.
        DepthFirst = 0 => "WEIGHT_ORDER_DEPTH_FIRST",
        /// Kernel positions for a slice of IFM depth first.
        PartKernelFirst = 1 => "WEIGHT_ORDER_PART_KERNEL_FIRST",
    }
}

field_enum! {
    /// Kernel dilation.
    KernelDilation {
        /// Dilation 1.
        None = 0 => "KERNEL_DILATION_NONE",
        /// Dilation 2.
        X2 = 1 => "KERNEL_DILATION_X2",
    }
}

field_enum! {
    /// Kernel decomposition size.
    KernelDecomposition {
        /// 8x8 sub-kernels.
        D8x8 = 0 => "KERNEL_DECOMPOSITION_D8X8",
        /// 4x4 sub-kernels.
        D4x4 = 1 => "KERNEL_DECOMPOSITION_D4X4",
    }
}

impl KernelDilation {
    /// The field for a dilation of 2 (any other value gives `None`, no dilation).
    pub const fn of(dilation: u32) -> KernelDilation {
        if dilation == 2 {
            KernelDilation::X2
        } else {
            KernelDilation::None
        }
    }
}

field_enum! {
    /// DMA region mode.
    DmaRegionMode {
        /// A memory region (base pointer index).
        External = 0 => "DMA_REGION_MODE_EXTERNAL",
        /// NPU-internal SHRAM (LUT load).
        Internal = 1 => "DMA_REGION_MODE_INTERNAL",
    }
}

field_enum! {
    /// DMA stride mode.
    DmaStrideMode {
        /// Linear copy.
        D1 = 0 => "DMA_STRIDE_MODE_D1",
        /// 2D strided copy.
        D2 = 1 => "DMA_STRIDE_MODE_D2",
        /// 3D strided copy.
        D3 = 2 => "DMA_STRIDE_MODE_D3",
    }
}

field_enum! {
    /// A broadcast enable bit.
    BroadcastMode {
        /// No broadcast.
        Disable = 0 => "BROADCAST_MODE_DISABLE",
        /// Broadcast along this axis.
        Enable = 1 => "BROADCAST_MODE_ENABLE",
    }
}

field_enum! {
    /// Which elementwise operand IFM2 is.
    OperandOrder {
        /// IFM is operand A, IFM2 operand B.
        OrderB = 0 => "IFM2_OPERAND_ORDER_ORDER_B",
        /// IFM2 is operand A (reversed, e.g. scalar - tensor).
        OrderA = 1 => "IFM2_OPERAND_ORDER_ORDER_A",
    }
}

/// A field holding a reserved encoding: which field, and the raw bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadField {
    /// The field name, e.g. `activation_precision`.
    pub field: &'static str,
    /// The raw value.
    pub value: u32,
}

impl fmt::Display for BadField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} has reserved value {}", self.field, self.value)
    }
}

fn field<T>(field: &'static str, value: u32, decode: fn(u32) -> Option<T>) -> Result<T, BadField> {
    decode(value).ok_or(BadField { field, value })
}

/// IFM_PRECISION / IFM2_PRECISION fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IfmPrecision {
    /// Bit 0.
    pub activation_type: ActivationType,
    /// Bits 3:2.
    pub precision: ActivationPrecision,
    /// Bits 7:6.
    pub format: ActivationFormat,
    /// Bits 9:8 (IFM only; IFM2 leaves them zero).
    pub scale_mode: IfmScaleMode,
    /// Bits 15:14 (IFM only).
    pub round_mode: RoundMode,
}

impl IfmPrecision {
    /// Encodes the 16-bit parameter (the inverse of [`IfmPrecision::decode`]).
    pub const fn encode(&self) -> u16 {
        (self.activation_type.bits()
            | (self.precision.bits() << 2)
            | (self.format.bits() << 6)
            | (self.scale_mode.bits() << 8)
            | (self.round_mode.bits() << 14)) as u16
    }
    /// Decodes the 16-bit parameter.
    pub fn decode(param: u16) -> Result<IfmPrecision, BadField> {
        let p = param as u32;
        Ok(IfmPrecision {
            activation_type: field("activation_type", p & 1, ActivationType::from_bits)?,
            precision: field(
                "activation_precision",
                (p >> 2) & 3,
                ActivationPrecision::from_bits,
            )?,
            format: field(
                "activation_format",
                (p >> 6) & 3,
                ActivationFormat::from_bits,
            )?,
            scale_mode: field("scale_mode", (p >> 8) & 3, IfmScaleMode::from_bits)?,
            round_mode: field("round_mode", (p >> 14) & 3, RoundMode::from_bits)?,
        })
    }
    /// Whether elements are signed.
    pub fn signed(&self) -> bool {
        self.activation_type == ActivationType::Signed
    }
}

/// OFM_PRECISION fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfmPrecision {
    /// Bit 0.
    pub activation_type: ActivationType,
    /// Bits 2:1.
    pub precision: ActivationPrecision,
    /// Bits 7:6.
    pub format: ActivationFormat,
    /// Bit 8.
    pub scale_mode: OfmScaleMode,
    /// Bits 15:14.
    pub round_mode: RoundMode,
}

impl OfmPrecision {
    /// Encodes the 16-bit parameter (the inverse of [`OfmPrecision::decode`]).
    pub const fn encode(&self) -> u16 {
        (self.activation_type.bits()
            | (self.precision.bits() << 1)
            | (self.format.bits() << 6)
            | (self.scale_mode.bits() << 8)
            | (self.round_mode.bits() << 14)) as u16
    }
    /// Decodes the 16-bit parameter.
    pub fn decode(param: u16) -> Result<OfmPrecision, BadField> {
        let p = param as u32;
        Ok(OfmPrecision {
            activation_type: field("activation_type", p & 1, ActivationType::from_bits)?,
            precision: field(
                "activation_precision",
                (p >> 1) & 3,
                ActivationPrecision::from_bits,
            )?,
            format: field(
                "activation_format",
                (p >> 6) & 3,
                ActivationFormat::from_bits,
            )?,
            scale_mode: field("scale_mode", (p >> 8) & 1, OfmScaleMode::from_bits)?,
            round_mode: field("round_mode", (p >> 14) & 3, RoundMode::from_bits)?,
        })
    }
    /// Whether elements are signed.
    pub fn signed(&self) -> bool {
        self.activation_type == ActivationType::Signed
    }
}

/// KERNEL_STRIDE fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelStride {
    /// Bit 0: (stride_x - 1) & 1.
    pub stride_x_lsb: u32,
    /// Bit 1: (stride_y - 1) & 1.
    pub stride_y_lsb: u32,
    /// Bit 2.
    pub weight_order: WeightOrder,
    /// Bit 3.
    pub dilation_x: KernelDilation,
    /// Bit 4.
    pub dilation_y: KernelDilation,
    /// Bit 5.
    pub decomposition: KernelDecomposition,
    /// Bit 6: (stride_x - 1) >> 1.
    pub stride_x_msb: u32,
    /// Bit 9: (stride_y - 1) >> 1.
    pub stride_y_msb: u32,
}

impl KernelStride {
    /// The fields for strides 1..=4, dilations 1 or 2 and a weight order (8x8 decomposition).
    pub const fn new(
        stride: [u32; 2],
        dilation: [u32; 2],
        weight_order: WeightOrder,
    ) -> KernelStride {
        let (sy, sx) = (stride[0].saturating_sub(1), stride[1].saturating_sub(1));
        KernelStride {
            stride_x_lsb: sx & 1,
            stride_y_lsb: sy & 1,
            weight_order,
            dilation_x: KernelDilation::of(dilation[1]),
            dilation_y: KernelDilation::of(dilation[0]),
            decomposition: KernelDecomposition::D8x8,
            stride_x_msb: (sx >> 1) & 1,
            stride_y_msb: (sy >> 1) & 1,
        }
    }
    /// Encodes the 16-bit parameter (the inverse of [`KernelStride::decode`]).
    pub const fn encode(&self) -> u16 {
        ((self.stride_x_lsb & 1)
            | ((self.stride_y_lsb & 1) << 1)
            | (self.weight_order.bits() << 2)
            | (self.dilation_x.bits() << 3)
            | (self.dilation_y.bits() << 4)
            | (self.decomposition.bits() << 5)
            | ((self.stride_x_msb & 1) << 6)
            | ((self.stride_y_msb & 1) << 9)) as u16
    }
    /// Decodes the 16-bit parameter (every bit pattern is valid).
    pub fn decode(param: u16) -> KernelStride {
        let p = param as u32;
        let bit = |n: u32| (p >> n) & 1;
        KernelStride {
            stride_x_lsb: bit(0),
            stride_y_lsb: bit(1),
            weight_order: if bit(2) == 1 {
                WeightOrder::PartKernelFirst
            } else {
                WeightOrder::DepthFirst
            },
            dilation_x: if bit(3) == 1 {
                KernelDilation::X2
            } else {
                KernelDilation::None
            },
            dilation_y: if bit(4) == 1 {
                KernelDilation::X2
            } else {
                KernelDilation::None
            },
            decomposition: if bit(5) == 1 {
                KernelDecomposition::D4x4
            } else {
                KernelDecomposition::D8x8
            },
            stride_x_msb: bit(6),
            stride_y_msb: bit(9),
        }
    }
    /// Horizontal stride (1..=4).
    pub fn stride_x(&self) -> u32 {
        ((self.stride_x_msb << 1) | self.stride_x_lsb) + 1
    }
    /// Vertical stride (1..=4).
    pub fn stride_y(&self) -> u32 {
        ((self.stride_y_msb << 1) | self.stride_y_lsb) + 1
    }
    /// Horizontal dilation (1 or 2).
    pub fn dilation_x(&self) -> u32 {
        self.dilation_x.bits() + 1
    }
    /// Vertical dilation (1 or 2).
    pub fn dilation_y(&self) -> u32 {
        self.dilation_y.bits() + 1
    }
}

/// ACTIVATION fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Activation {
    /// Bits 4:0.
    pub function: ActivationFunction,
    /// Bits 14:12.
    pub clip_range: ClipRange,
}

impl Activation {
    /// Encodes the 16-bit parameter (the inverse of [`Activation::decode`]).
    pub const fn encode(&self) -> u16 {
        (self.function.bits() | (self.clip_range.bits() << 12)) as u16
    }
    /// Decodes the 16-bit parameter.
    pub fn decode(param: u16) -> Result<Activation, BadField> {
        let p = param as u32;
        Ok(Activation {
            function: field(
                "activation_function",
                p & 0x1F,
                ActivationFunction::from_bits,
            )?,
            clip_range: field("activation_clip_range", (p >> 12) & 7, ClipRange::from_bits)?,
        })
    }
}

/// DMA0_SRC_REGION / DMA0_DST_REGION fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaRegion {
    /// Bits 7:0: region index (external) or SHRAM area (internal).
    pub region: u32,
    /// Bit 8.
    pub mode: DmaRegionMode,
    /// Bits 10:9.
    pub stride_mode: DmaStrideMode,
}

impl DmaRegion {
    /// Encodes the 16-bit parameter (the inverse of [`DmaRegion::decode`]).
    pub const fn encode(&self) -> u16 {
        ((self.region & 0xFF) | (self.mode.bits() << 8) | (self.stride_mode.bits() << 9)) as u16
    }
    /// Decodes the 16-bit parameter.
    pub fn decode(param: u16) -> Result<DmaRegion, BadField> {
        let p = param as u32;
        Ok(DmaRegion {
            region: p & 0xFF,
            mode: if (p >> 8) & 1 == 1 {
                DmaRegionMode::Internal
            } else {
                DmaRegionMode::External
            },
            stride_mode: field("stride_mode", (p >> 9) & 3, DmaStrideMode::from_bits)?,
        })
    }
}

/// IFM2_BROADCAST fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ifm2Broadcast {
    /// Bit 0: broadcast IFM2 along height.
    pub broadcast_h: bool,
    /// Bit 1: along width.
    pub broadcast_w: bool,
    /// Bit 2: along channels.
    pub broadcast_c: bool,
    /// Bit 6.
    pub operand_order: OperandOrder,
    /// Bit 7: IFM2 is the IFM2_SCALAR constant.
    pub broadcast_constant: bool,
}

impl Ifm2Broadcast {
    /// Encodes the 16-bit parameter (the inverse of [`Ifm2Broadcast::decode`]).
    pub const fn encode(&self) -> u16 {
        (self.broadcast_h as u16)
            | ((self.broadcast_w as u16) << 1)
            | ((self.broadcast_c as u16) << 2)
            | ((self.operand_order.bits() as u16) << 6)
            | ((self.broadcast_constant as u16) << 7)
    }
    /// Decodes the 16-bit parameter (every bit pattern is valid).
    pub fn decode(param: u16) -> Ifm2Broadcast {
        let p = param as u32;
        Ifm2Broadcast {
            broadcast_h: p & 1 != 0,
            broadcast_w: p & 2 != 0,
            broadcast_c: p & 4 != 0,
            operand_order: if p & 0x40 != 0 {
                OperandOrder::OrderA
            } else {
                OperandOrder::OrderB
            },
            broadcast_constant: p & 0x80 != 0,
        }
    }
}

/// Bytes of SHRAM reserved for lookup tables at its top (8 slots of 256 B).
pub const SHRAM_LUT_BYTES: u32 = 2048;
/// Bytes per LUT slot.
pub const SHRAM_LUT_SLOT_BYTES: u32 = 256;
/// Bytes per SHRAM bank.
pub const SHRAM_BANK_BYTES: u32 = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every parameter value that decodes encodes back to its defined bits: decode and encode
    /// are one definition of each field's position.
    #[test]
    fn parameter_fields_round_trip() {
        for p in 0..=u16::MAX {
            if let Ok(f) = IfmPrecision::decode(p) {
                assert_eq!(f.encode(), p & 0xC3CD, "IFM_PRECISION {p:#x}");
            }
            if let Ok(f) = OfmPrecision::decode(p) {
                assert_eq!(f.encode(), p & 0xC1C7, "OFM_PRECISION {p:#x}");
            }
            assert_eq!(
                KernelStride::decode(p).encode(),
                p & 0x027F,
                "KERNEL_STRIDE {p:#x}"
            );
            if let Ok(f) = Activation::decode(p) {
                assert_eq!(f.encode(), p & 0x701F, "ACTIVATION {p:#x}");
            }
            if let Ok(f) = DmaRegion::decode(p) {
                assert_eq!(f.encode(), p & 0x07FF, "DMA_REGION {p:#x}");
            }
            assert_eq!(
                Ifm2Broadcast::decode(p).encode(),
                p & 0x00C7,
                "IFM2_BROADCAST {p:#x}"
            );
        }
        let k = KernelStride::new([3, 2], [2, 1], WeightOrder::PartKernelFirst);
        assert_eq!(
            (k.stride_y(), k.stride_x(), k.dilation_y(), k.dilation_x()),
            (3, 2, 2, 1)
        );
    }

    #[test]
    fn opcodes_round_trip_and_names() {
        for op in Cmd0Op::ALL {
            assert_eq!(Cmd0Op::from_code(op.code()), Some(*op));
        }
        for op in Cmd1Op::ALL {
            assert_eq!(Cmd1Op::from_code(op.code()), Some(*op));
        }
        assert_eq!(Cmd0Op::ALL.len(), 60);
        assert_eq!(Cmd1Op::ALL.len(), 37);
        assert_eq!(Cmd0Op::SET_IFM_REGION.name(), "NPU_SET_IFM_REGION");
        assert_eq!(Cmd0Op::OP_STOP.code(), 0);
        assert_eq!(Cmd1Op::SET_OPB_SCALE.code(), 0x26);
        assert_eq!(Opcode::Cmd1(Cmd1Op::SET_DMA0_SRC).code_word(), 0x4030);
        assert_eq!(Cmd0Op::from_code(0x004), None);
        assert_eq!(offset::basep(7), Some(0xB8));
        assert_eq!(offset::basep(8), None);
    }

    #[test]
    fn id_and_config_fields() {
        // kws u55-128 COP1 header: CONFIG 0x00001807, ID 0x10066001.
        let c = ConfigReg(0x0000_1807);
        assert_eq!(c.macs_per_cc(), 128);
        assert_eq!(c.shram_size_kib(), 24);
        assert_eq!(c.product(), Some(Product::EthosU55));
        assert_eq!(ConfigReg::new(Product::EthosU55, 7, 24), c);
        let id = IdReg(0x1006_6001);
        assert_eq!(id.arch_major_rev(), 1);
        assert_eq!(id.arch_minor_rev(), 0);
        assert_eq!(id.arch_patch_rev(), 6);
        assert_eq!(id.product_major(), 6);
        assert_eq!(id.version_status(), 1);
        assert_eq!(IdReg::from_arch(1, 0, 6).0, 0x1006_0000);
    }

    #[test]
    fn precision_fields() {
        // 0x41: signed, 8-bit, NHCWB16 (kws conv0 OFM).
        let p = OfmPrecision::decode(0x41).unwrap();
        assert!(p.signed());
        assert_eq!(p.precision, ActivationPrecision::B8);
        assert_eq!(p.format, ActivationFormat::Nhcwb16);
        assert_eq!(p.scale_mode, OfmScaleMode::PerChannel);
        assert_eq!(p.round_mode, RoundMode::Dbl);
        // Global scale (bit 8), natural rounding, 32-bit OFM.
        let p = OfmPrecision::decode(0x8000 | 0x100 | (2 << 1) | 1).unwrap();
        assert_eq!(p.scale_mode, OfmScaleMode::Global);
        assert_eq!(p.round_mode, RoundMode::Natural);
        assert_eq!(p.precision, ActivationPrecision::B32);
        assert_eq!(
            OfmPrecision::decode(0xC000),
            Err(BadField {
                field: "round_mode",
                value: 3
            })
        );
        let i = IfmPrecision::decode(0x0001 | (1 << 2)).unwrap();
        assert_eq!(i.precision, ActivationPrecision::B16);
        assert_eq!(i.scale_mode, IfmScaleMode::OpaOpb16);
    }

    #[test]
    fn kernel_activation_dma_broadcast_fields() {
        let k = KernelStride::decode(0x0007);
        assert_eq!((k.stride_x(), k.stride_y()), (2, 2));
        assert_eq!(k.weight_order, WeightOrder::PartKernelFirst);
        let k = KernelStride::decode((1 << 6) | (1 << 9) | (1 << 3));
        assert_eq!((k.stride_x(), k.stride_y()), (3, 3));
        assert_eq!(k.dilation_x(), 2);
        assert_eq!(k.dilation_y(), 1);
        let a = Activation::decode(0x3010).unwrap();
        assert_eq!(a.function, ActivationFunction::Table0);
        assert_eq!(a.function.table_slot(), Some(0));
        assert_eq!(a.clip_range, ClipRange::ForceInt8);
        assert!(Activation::decode(0x0001).is_err());
        let d = DmaRegion::decode(0x0103).unwrap();
        assert_eq!(d.region, 3);
        assert_eq!(d.mode, DmaRegionMode::Internal);
        assert_eq!(d.stride_mode, DmaStrideMode::D1);
        let b = Ifm2Broadcast::decode(0x0004);
        assert!(b.broadcast_c && !b.broadcast_h && !b.broadcast_constant);
        let b = Ifm2Broadcast::decode(0x00C0);
        assert!(b.broadcast_constant);
        assert_eq!(b.operand_order, OperandOrder::OrderA);
    }
}
