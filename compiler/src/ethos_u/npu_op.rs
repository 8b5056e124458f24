//! NPU operations as the compiler plans them: one hardware operation each, with
//! every feature map placed (region, address, strides), its weights and scales
//! encoded and its block configuration chosen. [`super::stream`] turns a list of
//! them into register commands.

use super::block::BlockConfig;
use kiln_rt::ethos_u::regs::{ClipRange, ElementwiseMode, PoolingMode, RoundMode};

/// Base pointer region of the read-only data (weights, scales, LUTs): the `.pte`'s delegate blob.
pub const REGION_WEIGHTS: u8 = 0;
/// Base pointer region of the scratch (feature maps, graph I/O): in SRAM on the U55
/// (Shared_Sram), in DRAM on the U65 (Dedicated_Sram).
pub const REGION_SCRATCH: u8 = 1;
/// Base pointer region of the fast scratch (the U65's Dedicated_Sram SRAM; a segment's internal
/// feature maps): [`kiln_rt::ethos_u::blob::FAST_SCRATCH_REGION`].
pub const REGION_FAST_SCRATCH: u8 = kiln_rt::ethos_u::blob::FAST_SCRATCH_REGION as u8;

/// Memory layout of a feature map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Channels innermost.
    Nhwc,
    /// 16-channel bricks (the NPU's native layout).
    Nhcwb16,
}

/// A feature map as the NPU addresses it (one tile).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureMap {
    /// Base pointer region.
    pub region: u8,
    /// Byte address of element (0, 0, 0) in the region.
    pub base: u32,
    /// Height, width, depth.
    pub shape: [u32; 3],
    /// Byte strides: x (column), y (row), c (channel, or 16-channel brick for NHCWB16).
    pub strides: [u32; 3],
    /// Layout.
    pub layout: Layout,
    /// Zero point.
    pub zero_point: i32,
    /// Signed elements or unsigned.
    pub signed: bool,
    /// Element precision in bits: 8, 16 or 32 (`IFM/IFM2/OFM_PRECISION`).
    pub bits: u32,
}

impl FeatureMap {
    /// A dense NHWC int8 map of `shape` at `base` in the scratch, with row/column strides of `row_shape`'s width and depth
    /// (a channel slice of a wider map has `full_depth` > `shape[2]`).
    pub fn nhwc(base: u32, shape: [u32; 3], full_depth: u32, zero_point: i32) -> FeatureMap {
        FeatureMap {
            region: REGION_SCRATCH,
            base,
            shape,
            strides: [full_depth, full_depth * shape[1], 1],
            layout: Layout::Nhwc,
            zero_point,
            signed: true,
            bits: 8,
        }
    }

    /// The same map with `bits`-bit elements (byte strides scaled by the element size; `bits`
    /// a multiple of the current precision).
    pub fn with_bits(self, bits: u32) -> FeatureMap {
        let k = bits / self.bits;
        FeatureMap {
            strides: self.strides.map(|s| s * k),
            bits,
            ..self
        }
    }
}

/// The second operand of a binary elementwise operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand2 {
    /// A feature map; `broadcast` = [h, w, c] dimensions of size 1 that repeat.
    Map {
        /// The map.
        fm: FeatureMap,
        /// Which dimensions broadcast.
        broadcast: [bool; 3],
    },
    /// A scalar (quantized value and its zero point).
    Scalar {
        /// Quantized value.
        value: i32,
        /// Zero point.
        zero_point: i32,
    },
}

/// What the hardware unit does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpuKind {
    /// Convolution (also fully connected); part-kernel-first weight traversal or depth-first.
    Conv {
        /// Part-kernel-first traversal.
        part_kernel: bool,
    },
    /// Depthwise convolution.
    Depthwise,
    /// Pooling.
    Pool(PoolingMode),
    /// Elementwise.
    Elementwise(ElementwiseMode),
}

/// Kernel geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernel {
    /// Taps (undilated) height, width.
    pub size: [u32; 2],
    /// Stride y, x (1..=3).
    pub stride: [u32; 2],
    /// Dilation y, x (1 or 2).
    pub dilation: [u32; 2],
    /// Padding top, left, bottom, right.
    pub pads: [u32; 4],
}

impl Kernel {
    /// A 1x1 kernel with stride 1 and no padding (elementwise, copies, fully connected).
    pub const UNIT: Kernel = Kernel {
        size: [1, 1],
        stride: [1, 1],
        dilation: [1, 1],
        pads: [0; 4],
    };
}

/// Where a stream of weights or scales is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Region.
    pub region: u8,
    /// Byte offset.
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
}

/// A rescale `v * multiplier / 2^shift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    /// Multiplier.
    pub multiplier: u32,
    /// Right shift (0..=63).
    pub shift: u8,
}

impl Scale {
    /// The identity.
    pub const ONE: Scale = Scale {
        multiplier: 1,
        shift: 0,
    };
}

/// Elementwise ADD/SUB input scaling (IFM_PRECISION scale mode + OPA/OPB scales).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputScaling {
    /// OPA_OPB_16: both operands scaled (OPA by a 32-bit scale, OPB by a 16-bit multiplier).
    Both {
        /// Operand A.
        a: Scale,
        /// Operand B multiplier.
        b: u16,
    },
    /// OPA_32: A rescaled, B aligned by 2^19.
    ScaleA(Scale),
    /// OPB_32: B rescaled, A aligned by 2^19.
    ScaleB(Scale),
}

/// A table the operation looks its results up in: the stream puts it in a LUT slot of SHRAM
/// (by DMA, unless that slot still holds it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LutLoad {
    /// The table in the read-only region (256 bytes, or 1 KiB of int32 entries).
    pub src: Span,
}

/// One NPU operation, fully planned.
#[derive(Clone, Debug, PartialEq)]
pub struct NpuOp {
    /// The hardware operation.
    pub kind: NpuKind,
    /// Input feature map.
    pub ifm: FeatureMap,
    /// Second input (binary elementwise).
    pub ifm2: Option<Operand2>,
    /// Output feature map.
    pub ofm: FeatureMap,
    /// Kernel geometry (pooling and convolutions).
    pub kernel: Kernel,
    /// Compressed weights.
    pub weights: Option<Span>,
    /// Bias/scale records (per-channel scaling).
    pub scales: Option<Span>,
    /// Global OFM scale (pooling, elementwise, or convolution without records).
    pub ofm_scale: Scale,
    /// OFM rounding.
    pub rounding: RoundMode,
    /// Elementwise ADD/SUB input scaling.
    pub input_scaling: Option<InputScaling>,
    /// Rounding of the input scaling.
    pub ifm_rounding: RoundMode,
    /// Output clamp in the OFM's quantized domain (after adding the zero point).
    pub clamp: (i32, i32),
    /// Clip range of the activation (`ACTIVATION_CLIP_RANGE`): the OFM precision's, or a
    /// forced 8/16-bit range (a LUT on a 32-bit OFM is indexed by the int8-clipped value).
    pub clip_range: ClipRange,
    /// Table lookup after the clamp, with the table to load.
    pub lut: Option<LutLoad>,
    /// Upscaling of the IFM by 2 (nearest).
    pub upscale_nearest: bool,
    /// IFM2 holds the graph's first operand (`IFM2_OPERAND_ORDER_ORDER_A`).
    pub reversed: bool,
    /// Block configuration and SHRAM layout.
    pub block: BlockConfig,
    /// The IR node it implements (reports).
    pub source: String,
}
