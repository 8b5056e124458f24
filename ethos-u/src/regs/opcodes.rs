//! Command words: the opcode/control/parameter layout and every command opcode, with the
//! names Vela prints.

use core::fmt;

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
