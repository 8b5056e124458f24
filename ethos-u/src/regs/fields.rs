//! The fields of the command-stream registers: each field's values (`field_enum!`) and the
//! parameter layouts, decoded and encoded from one definition per register.

use core::fmt;

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
