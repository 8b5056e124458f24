//! The NPU's operator constraints, as data: the partitioner, `kiln compile`'s placement
//! report and the `cpu_fallback = false` error all read this one table.
//!
//! [`check`] answers, for one IR node, whether the Ethos-U55/U65 can run it, and if not lists
//! *every* violated rule ([`Constraint`]) with the node's actual numbers. The numbers that are
//! data live in one table, [`NpuLimits`] (U55 and U65 share it: Vela applies the same checks to
//! both). What kiln's lowering additionally requires (e.g. equal input and output quantization
//! where it has no rescale) is refused later by [`super::lower`] with its own reason.
//!
//! The rules follow Vela's supported-operator checks (read, then rewritten). Each constraint's
//! [`Constraint::source`] names the file it comes from:
//! - `ethosu/vela/tflite_supported_operators.py` (Vela's Python core, 3.x-5.x): `tens_dim_range`,
//!   `stride_range = (1, 3)`, `dilated_height_range = (1, 64)`, `dilated_product_range =
//!   (1, 64 * 64)`, `weights_limit = 127 * 65536`, `filter_range = (1, 8)`, `filter_height_range =
//!   (1, 256)`, `filter_product_range = (1, 256 * 256)`, batch 1, per-axis quantization, fused
//!   activation types, bias type/40 bits, broadcast, Min/Max quantization, pad and transpose rules.
//! - `ethosu/vela/tflite_model_semantic.py`: rank <= 4, quantization present and finite,
//!   matching input/output types and shapes, softmax beta, concat/pad/reshape shape semantics.
//! - `ethosu/regor/tflite/tflite_supported_operators.cpp` (Vela 5.x's default C++ core, Regor):
//!   average/max-pool kernels, weight sum per output channel (depthwise per channel), bias
//!   "stored in the channel axis", Mean (`MAX_MEAN_KERNEL_SIZE = 64 * 64`, `1 << 24` / `1 << 23` /
//!   `1 << 16` reduced elements), Softmax (`W * H <= 1 << 16`), FC weight shape.
//! - `ethosu/regor/tflite/tflite_supported_operators_u55.cpp` (also used for U65): weight-sum
//!   limits `127 * (1 << 16)` for 8- and 16-bit IFMs, one elementwise input must match the OFM,
//!   resize scale factors, transpose permutations and their shape limits, 32-bit operators.
//! - `ethosu/regor/architecture/ethosu55/ethos_u55_constraints.cpp`: `MAX_AXIS = 1 << 16` for the
//!   H, W, C axes, dilation > 2 needs decomposition, zero points (non-negative for unsigned, 0 for
//!   32-bit), per-channel IFM scales unsupported, no float.
//! - `ethosu/regor/architecture/ethosu65/ethos_u65_interface.hpp` (the register layout Regor's U55
//!   generator also uses): `NPU_SET_IFM_PAD_TOP/LEFT` are 7-bit, `..._BOTTOM/RIGHT` 8-bit.
//!
//! Where Vela's two cores disagree the table says which it follows (see the field docs of
//! [`NpuLimits`]). Strides above 3 and dilations above 2 of convolutions are the hardware's limits
//! per operation; kiln's lowering decomposes convolutions beyond them (`lower/conv.rs`), so the
//! table holds pools to them and convolutions only to a factor of at least 1.

use crate::ir::{Act, DType, Graph, Node, Op, Quant, Tensor, TensorId};
use std::fmt;

const PY: &str = "ethosu/vela/tflite_supported_operators.py";
const SEM: &str = "ethosu/vela/tflite_model_semantic.py";
const REGOR: &str = "ethosu/regor/tflite/tflite_supported_operators.cpp";
const REGOR_U55: &str = "ethosu/regor/tflite/tflite_supported_operators_u55.cpp";
const ARCH_U55: &str = "ethosu/regor/architecture/ethosu55/ethos_u55_constraints.cpp";
const REGS: &str = "ethosu/regor/architecture/ethosu65/ethos_u65_interface.hpp";
const KILN: &str = "kiln (the IR's conventions and kiln's lowering)";

macro_rules! constraints {
    ($($(#[$meta:meta])* $v:ident,)*) => {
        /// One rule of the table: a closed set, one variant per rule. `Display` gives the rule in
        /// words with its numbers (like Vela's report), [`Constraint::source`] where it comes from.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Constraint {
            $($(#[$meta])* $v,)*
        }

        const ALL: &[Constraint] = &[$(Constraint::$v,)*];
    };
}

constraints! {
    /// The operator type is one the NPU runs (not MatMul or Dequantize).
    UnsupportedOperator,
    /// The node has its input feature maps (and weights) and exactly one output.
    Operands,
    /// Feature maps are int8, uint8 or int16 (int32 for a few operators); never float.
    FeatureMapType,
    /// Input, output and weight tensors carry quantization parameters.
    Quantized,
    /// Quantization scales are positive and finite.
    QuantScale,
    /// Only weights may be quantized per channel.
    PerAxisQuant,
    /// Zero points fit the data type (non-negative unsigned, 0 for int32).
    ZeroPoint,
    /// Tensors have at most 4 dimensions.
    Rank,
    /// Every dimension is in `[1, max_dim]`.
    DimensionRange,
    /// Input feature maps have batch 1.
    Batch,
    /// A fused activation needs an 8- or 16-bit output.
    FusedActivationType,
    /// Table-lookup activations need an 8-bit input.
    EightBitInput,
    /// Convolutions are dense (groups 1).
    ConvGroups,
    /// Convolution weights are OHWI matching the IFM and OFM depths.
    ConvWeightShape,
    /// Depthwise weights are `[1, kh, kw, C*M]` matching IFM depth `C` and OFM depth `C*M`.
    DepthwiseShape,
    /// Fully-connected weights are `[N, K]`, the input reshapes to `[batch, K]`, the output is `[batch, N]`.
    FullyConnectedShape,
    /// Weights are constant.
    WeightsConstant,
    /// Weights are int8.
    WeightsType,
    /// Weights are quantized symmetrically (zero point 0).
    WeightZeroPoint,
    /// Per-channel weight scales run along the output channel, one per output channel.
    WeightQuantAxis,
    /// The absolute weight sum of an output channel is bounded.
    WeightSum,
    /// The bias is constant.
    BiasConstant,
    /// The bias is int32 (or int64 within 40 bits).
    BiasType,
    /// The bias is 1-D with one value per output channel.
    BiasShape,
    /// Strides are in `[1, max_stride]` (pools; convolutions: at least 1).
    StrideRange,
    /// Dilations are at least 1 (kiln decomposes those above `max_dilation`).
    DilationRange,
    /// The dilated kernel height is bounded.
    DilatedKernelHeight,
    /// The dilated kernel area is bounded.
    DilatedKernelProduct,
    /// Explicit padding fits the padding registers.
    PaddingRange,
    /// A padded average pool has a small kernel.
    AvgPoolPaddedKernel,
    /// Pooling kernel height is bounded.
    PoolKernelHeight,
    /// Pooling kernel area is bounded.
    PoolKernelProduct,
    /// Input and output data types match.
    InOutTypes,
    /// Add/Sub/Mul inputs have one data type and the output keeps its signedness.
    BinaryInputTypes,
    /// Input and output shapes match.
    InOutShapes,
    /// Elementwise operands broadcast only along dimensions of size 1.
    Broadcast,
    /// One elementwise input has the output's shape.
    BroadcastOneInput,
    /// Maximum/Minimum inputs are quantized like the output.
    MinMaxQuant,
    /// Softmax beta is not negative.
    SoftmaxBeta,
    /// Softmax IFM width times height is bounded.
    SoftmaxArea,
    /// Mean axes are distinct axes of the input.
    MeanAxes,
    /// Mean over depth with H reduced needs W reduced too (or at most 64 wide).
    MeanDepthReduction,
    /// Each reduced Mean axis is bounded.
    MeanAxisSize,
    /// The number of elements a Mean reduces is bounded per data type.
    MeanElements,
    /// Pad pads a tensor of rank at most 4, not its batch.
    PadDims,
    /// Pad's output is its input plus the padding.
    PadOutputShape,
    /// Concat inputs agree with the output except along the axis.
    ConcatShapes,
    /// Reshape keeps the quantization.
    ReshapeQuant,
    /// Reshape keeps the number of elements.
    ReshapeElements,
    /// Nearest-neighbour resize scales by 2x/4x/8x (or is trivial).
    ResizeScale,
    /// Resize does not set both align_corners and half_pixel_centers.
    ResizeAttrs,
    /// Transpose permutations and shapes the NPU supports.
    TransposePerm,
}

/// The limits that are data (numbers and type lists), one const table per family.
///
/// U55 and U65 share every number: Vela runs the same checks for both
/// (`tflite_supported_operators_u55.cpp` serves both; the Python core has no per-family limits).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NpuLimits {
    /// Which families the table is for (for listings).
    pub family: &'static str,
    /// Feature-map data types every NPU operator accepts (`supported_op_dtypes` minus int32,
    /// which only [`int32_feature_map`] operators take).
    pub feature_map_dtypes: &'static [DType],
    /// Output types allowed with a fused activation (`supported_faf_dtypes`).
    pub fused_activation_dtypes: &'static [DType],
    /// Weight data types. Vela takes any 8-bit type; kiln requires TFLite's symmetric int8.
    pub weight_dtypes: &'static [DType],
    /// Highest tensor rank (`constraint_tens_shape_size`).
    pub max_rank: usize,
    /// Largest dimension: Regor's `MAX_AXIS = 1 << 16` (the `*_M1` registers are 16-bit);
    /// Vela's Python core says `tens_dim_range = (1, 65535)`.
    pub max_dim: usize,
    /// Largest stride of one operation (`stride_range = (1, 3)`); kiln decomposes larger ones
    /// of convolutions, not of pools.
    pub max_stride: usize,
    /// Largest dilation without decomposition (Regor: dilation > 2 needs `KernelDilation`
    /// decomposition; `NPU_SET_KERNEL_STRIDE` has one dilation bit per axis).
    pub max_dilation: usize,
    /// Largest dilated kernel height (`dilated_height_range = (1, 64)`).
    pub max_dilated_kernel_height: usize,
    /// Largest dilated kernel width times height (`dilated_product_range = (1, 64 * 64)`).
    pub max_dilated_kernel_product: usize,
    /// Largest top/left padding (7-bit `NPU_SET_IFM_PAD_TOP/LEFT`).
    pub max_pad_top_left: usize,
    /// Largest bottom/right padding (8-bit `NPU_SET_IFM_PAD_BOTTOM/RIGHT`).
    pub max_pad_bottom_right: usize,
    /// Largest absolute weight sum per output channel with an 8-bit IFM (`127 * 65536`).
    pub max_weight_sum_8bit: i64,
    /// The same with a 16-bit IFM (U55/U65: also `127 * 65536`; U85 has 2130706432).
    pub max_weight_sum_16bit: i64,
    /// Bits an int64 bias must fit in (signed).
    pub bias_bits: u32,
    /// Largest kernel side of a padded average pool (`filter_range = (1, 8)`).
    pub max_padded_avgpool_kernel: usize,
    /// Largest pooling kernel height (`filter_height_range = (1, 256)`).
    pub max_pool_kernel_height: usize,
    /// Largest pooling kernel area (`filter_product_range = (1, 256 * 256)`).
    pub max_pool_kernel_product: usize,
    /// Largest softmax IFM width times height (Regor: `W * H <= 1 << 16`).
    pub max_softmax_area: usize,
    /// Largest reduced Mean axis (`MAX_MEAN_KERNEL_SIZE = 64 * 64`).
    pub max_mean_axis: usize,
    /// Largest number of elements a Mean reduces, int8 (`1 << 24`).
    pub max_mean_elements_i8: usize,
    /// The same for uint8 (`1 << 23`).
    pub max_mean_elements_u8: usize,
    /// The same for int16 (`1 << 16`).
    pub max_mean_elements_i16: usize,
    /// Nearest-neighbour resize factors (2x/4x/8x).
    pub resize_factors: &'static [usize],
    /// 8/16-bit transposes the hardware does directly (NWHC, NHCW, NCWH, and NWCH, NCHW by
    /// decomposition): largest `N*H`, `W` and `C` (`1 << 16`).
    pub max_transpose_axis: usize,
    /// Other 8/16-bit transposes: largest element count (`1 << 16`).
    pub max_transpose_elements: usize,
    /// 32-bit identity (NHWC) transpose: largest depth (Regor's code: `1 << 15`).
    pub max_transpose32_depth: usize,
    /// 32-bit NWHC transpose: largest depth (`1 << 14`).
    pub max_transpose32_nwhc_depth: usize,
}

static ETHOS_U55_U65: NpuLimits = NpuLimits {
    family: "Ethos-U55/Ethos-U65",
    feature_map_dtypes: &[DType::I8, DType::U8, DType::I16],
    fused_activation_dtypes: &[DType::I8, DType::U8, DType::I16],
    weight_dtypes: &[DType::I8],
    max_rank: 4,
    max_dim: 1 << 16,
    max_stride: 3,
    max_dilation: 2,
    max_dilated_kernel_height: 64,
    max_dilated_kernel_product: 64 * 64,
    max_pad_top_left: 127,
    max_pad_bottom_right: 255,
    max_weight_sum_8bit: 127 * 65536,
    max_weight_sum_16bit: 127 * 65536,
    bias_bits: 40,
    max_padded_avgpool_kernel: 8,
    max_pool_kernel_height: 256,
    max_pool_kernel_product: 256 * 256,
    max_softmax_area: 1 << 16,
    max_mean_axis: 64 * 64,
    max_mean_elements_i8: 1 << 24,
    max_mean_elements_u8: 1 << 23,
    max_mean_elements_i16: 1 << 16,
    resize_factors: &[2, 4, 8],
    max_transpose_axis: 1 << 16,
    max_transpose_elements: 1 << 16,
    max_transpose32_depth: 1 << 15,
    max_transpose32_nwhc_depth: 1 << 14,
};

/// The limits of a family (U55 and U65 share one table).
pub fn limits(family_is_u65: bool) -> &'static NpuLimits {
    let _ = family_is_u65;
    &ETHOS_U55_U65
}

/// Every constraint, in table order, for `kiln targets`-style listings and docs.
pub fn all_constraints() -> &'static [Constraint] {
    ALL
}

/// True for the operators whose feature maps may be int32 (Vela's `supported_int32_tensor_ops`
/// and Regor's `Constraint32bitOps`, restricted to IR operators).
pub fn int32_feature_map(op: &Op) -> bool {
    matches!(
        op,
        Op::Add { .. } | Op::Sub { .. } | Op::Mul { .. } | Op::Reshape | Op::Transpose { .. }
    )
}

impl Constraint {
    /// The Vela source file (or kiln) the rule comes from.
    pub fn source(self) -> &'static str {
        use Constraint::*;
        match self {
            UnsupportedOperator | FeatureMapType => REGOR_U55,
            Operands | ConvGroups | WeightZeroPoint | WeightQuantAxis | DepthwiseShape
            | MeanAxes | MeanDepthReduction | PadDims => KILN,
            Quantized | QuantScale | Rank | InOutTypes | BinaryInputTypes | InOutShapes
            | SoftmaxBeta | PadOutputShape | ConcatShapes | ReshapeQuant | ReshapeElements
            | EightBitInput | ConvWeightShape => SEM,
            PerAxisQuant | Batch | FusedActivationType | WeightsConstant | WeightsType
            | StrideRange | DilatedKernelHeight | DilatedKernelProduct | Broadcast
            | ResizeAttrs => PY,
            ZeroPoint | DimensionRange | DilationRange => ARCH_U55,
            PaddingRange => REGS,
            FullyConnectedShape | BiasConstant | BiasType | BiasShape | AvgPoolPaddedKernel
            | PoolKernelHeight | PoolKernelProduct | MinMaxQuant | SoftmaxArea | MeanAxisSize
            | MeanElements => REGOR,
            WeightSum | BroadcastOneInput | ResizeScale | TransposePerm => REGOR_U55,
        }
    }

    /// The rule in words with the numbers of `l`.
    pub fn rule(self, l: &NpuLimits) -> String {
        use Constraint::*;
        let types = |t: &[DType]| {
            t.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            UnsupportedOperator => {
                "The operator must be one the NPU runs (MatMul and Dequantize are not)".into()
            }
            Operands => "Operations must have their input feature maps (and weights) and exactly one output feature map".into(),
            FeatureMapType => format!(
                "Feature maps must be of type {} (i32 only for Add, Sub, Mul, Reshape and Transpose); floating-point, 64-bit and boolean tensors are not supported",
                types(l.feature_map_dtypes)
            ),
            Quantized => "Input(s), Output and Weight tensors must have quantization parameters (Pad and Transpose excepted)".into(),
            QuantScale => "Quantization scales must be positive and finite".into(),
            PerAxisQuant => "Per-axis quantization is only supported for the weights of Conv2d, DepthwiseConv2d and FullyConnected".into(),
            ZeroPoint => "Zero-points must be within the data type's range: non-negative for unsigned types and 0 for i32".into(),
            Rank => format!("Input(s) and Output tensors must not be greater than {}D", l.max_rank),
            DimensionRange => format!("Tensor dimensions must be in the range [1, {}]", l.max_dim),
            Batch => "IFM Tensor batch size must be 1 (FullyConnected, Softmax and Reshape excepted)".into(),
            FusedActivationType => format!(
                "If a fused activation function is present, the Output tensor must be one of type: {}",
                types(l.fused_activation_dtypes)
            ),
            EightBitInput => "IFM must be i8 or u8 (HardSwish, HardSigmoid)".into(),
            ConvGroups => "Convolutions must be dense (groups = 1); depthwise convolutions are DepthwiseConv2d".into(),
            ConvWeightShape => "Convolution weights must be OHWI with O the OFM depth and I the IFM depth".into(),
            DepthwiseShape => "Depthwise weights must be [1, kh, kw, C*M] with C the IFM depth, M the depth multiplier and C*M the OFM depth".into(),
            FullyConnectedShape => "FullyConnected weights must be [N, K], the input must reshape to [batch, K] and the output must be [batch, N]".into(),
            WeightsConstant => "Weight tensor must be constant".into(),
            WeightsType => format!("Weight tensor must be of type: {}", types(l.weight_dtypes)),
            WeightZeroPoint => "Weights must be quantized symmetrically (zero point 0), per tensor or per output channel".into(),
            WeightQuantAxis => "Per-channel weight quantization must have one scale per output channel, along the output-channel axis".into(),
            WeightSum => format!(
                "The sum of absolute weights of an output channel cannot exceed {} for an 8-bit IFM and {} for a 16-bit IFM",
                l.max_weight_sum_8bit, l.max_weight_sum_16bit
            ),
            BiasConstant => "Optional Bias tensor must be constant".into(),
            BiasType => format!(
                "Optional Bias tensor must be i32, or i64 with values that fit within {} bits",
                l.bias_bits
            ),
            BiasShape => "Optional Bias tensor must be 1D with one value per output channel".into(),
            StrideRange => format!(
                "Stride values for both width and height must be in the range [1, {}] (AvgPool2d: any stride along an output dimension of size 1; Conv2d and DepthwiseConv2d: any stride, kiln decomposes those above {0})",
                l.max_stride
            ),
            DilationRange => format!(
                "Dilation factor values for both width and height must be at least 1 (kiln decomposes those above the hardware's {})",
                l.max_dilation
            ),
            DilatedKernelHeight => format!(
                "Dilated kernel height must be in the range [1, {}] (stride 1 and dilation 1; kiln decomposes others and checks the operations they become)",
                l.max_dilated_kernel_height
            ),
            DilatedKernelProduct => format!(
                "Product of dilated kernel width and height must be in the range [1, {}] (stride 1 and dilation 1; kiln decomposes others and checks the operations they become)",
                l.max_dilated_kernel_product
            ),
            PaddingRange => format!(
                "Top and left padding must be at most {}, bottom and right padding at most {}",
                l.max_pad_top_left, l.max_pad_bottom_right
            ),
            AvgPoolPaddedKernel => format!(
                "With padding that counts in the divisor, AvgPool2d kernel width and height must be in the range [1, {}] (kiln lowers TFLite's padding, excluded from the divisor, as unpadded pools)",
                l.max_padded_avgpool_kernel
            ),
            PoolKernelHeight => format!(
                "Kernel height must be in the range [1, {}] (MaxPool2d, and AvgPool2d without padding in the divisor)",
                l.max_pool_kernel_height
            ),
            PoolKernelProduct => format!(
                "Product of kernel width and height must be in the range [1, {}] (MaxPool2d, and AvgPool2d without padding in the divisor)",
                l.max_pool_kernel_product
            ),
            InOutTypes => "IFM and OFM data types must match".into(),
            BinaryInputTypes => "Both Input data types must match; for signed inputs the OFM must be signed, for unsigned inputs the same type or i32".into(),
            InOutShapes => "IFM and OFM shapes must match".into(),
            Broadcast => "Broadcasting is only allowed for rank indices with dimension 1, from either IFM1 or IFM2, and the OFM must have the broadcast shape".into(),
            BroadcastOneInput => "One input tensor must match the shape of the output tensor".into(),
            MinMaxQuant => "Both Input quantization parameters must match OFM quantization parameters".into(),
            SoftmaxBeta => "Beta value needs to be positive".into(),
            SoftmaxArea => format!(
                "The product of IFM width and height must be at most {}",
                l.max_softmax_area
            ),
            MeanAxes => "Mean axes must be distinct axes of the input".into(),
            MeanDepthReduction => "Reduction over depth together with height needs the width reduced too, or at most 64 wide (kiln reads adjacent reduced axes as one pooling window of a reinterpreted map, and H with C as one pooling per column; Vela requires any of h, w, c == 1)".into(),
            MeanAxisSize => format!("Each reduced axis must be at most {}", l.max_mean_axis),
            MeanElements => format!(
                "Amount of reduced elements cannot exceed: {} (i8), {} (u8), {} (i16)",
                l.max_mean_elements_i8, l.max_mean_elements_u8, l.max_mean_elements_i16
            ),
            PadDims => "The pad input must have rank 4 or less, and the batch cannot be padded (kiln pads height, width and depth with strided NPU copies; Vela pads only height and width of 3D/4D inputs)".into(),
            PadOutputShape => "Shape of output tensor must equal the input shape plus padding".into(),
            ConcatShapes => "All inputs must have the OFM's rank and dimensions except along the axis, and their sizes along the axis must add up to the OFM's".into(),
            ReshapeQuant => "Input and output quantisation must match".into(),
            ReshapeElements => "Input and output number of elements must match".into(),
            ResizeScale => format!(
                "Resize: IFM H == W == 1, or IFM shape == OFM shape, or OFM H and W are {}x IFM H and W (OFM-1 over IFM-1 with align_corners; one of H, W may instead be 1 with scale 1); batch and depth unchanged",
                l.resize_factors
                    .iter()
                    .map(|f| f.to_string())
                    .collect::<Vec<_>>()
                    .join("x/")
            ),
            ResizeAttrs => "Both align_corners and half_pixel_centers can't be True".into(),
            TransposePerm => format!(
                "Transpose: i8/i16 any permutation, with N*H, W and C at most {} for NWHC/NHCW/NCWH/NWCH/NCHW (Regor also limits others to {} elements; kiln's strided copies take any size and refuse in the lowering what they cannot express); i32 only NHWC (C <= {}), NWHC (N == 1, C <= {}) and NHCW (N*H, W, C <= {})",
                l.max_transpose_axis,
                l.max_transpose_elements,
                l.max_transpose32_depth,
                l.max_transpose32_nwhc_depth,
                l.max_transpose_axis
            ),
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rule(&ETHOS_U55_U65))
    }
}

/// Why an operator cannot run on the NPU: the constraint's id and a sentence with the actual numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub constraint: Constraint,
    /// What the node has, in words and numbers (self-contained: names the tensor and the limit).
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (rule: {})", self.detail, self.constraint)
    }
}

/// What the NPU can do with node `n` of `g`: `Ok(())` or every violated constraint (all of
/// them, not only the first). Never panics on malformed nodes (they violate [`Constraint::Operands`]).
pub fn check(g: &Graph, n: &Node, limits: &NpuLimits) -> Result<(), Vec<Violation>> {
    let mut c = Checker {
        g,
        n,
        l: limits,
        v: Vec::new(),
    };
    c.run();
    if c.v.is_empty() {
        Ok(())
    } else {
        Err(c.v)
    }
}

/// The tensors of a node by role.
struct Roles {
    ifms: Vec<TensorId>,
    weights: Option<TensorId>,
    bias: Option<TensorId>,
    ofm: TensorId,
}

struct Checker<'a> {
    g: &'a Graph,
    n: &'a Node,
    l: &'a NpuLimits,
    v: Vec<Violation>,
}

fn is_weighted(op: &Op) -> bool {
    matches!(
        op,
        Op::Conv2d { .. } | Op::DepthwiseConv2d { .. } | Op::FullyConnected { .. }
    )
}

fn is_binary(op: &Op) -> bool {
    matches!(
        op,
        Op::Add { .. } | Op::Sub { .. } | Op::Mul { .. } | Op::Maximum | Op::Minimum
    )
}

fn fused_act(op: &Op) -> Option<Act> {
    match op {
        Op::Conv2d { act, .. }
        | Op::DepthwiseConv2d { act, .. }
        | Op::FullyConnected { act }
        | Op::Add { act }
        | Op::Sub { act }
        | Op::Mul { act }
        | Op::AvgPool2d { act, .. }
        | Op::MaxPool2d { act, .. } => Some(*act),
        _ => None,
    }
}

fn is_activation(op: &Op) -> bool {
    matches!(
        op,
        Op::Logistic
            | Op::Tanh
            | Op::HardSwish
            | Op::HardSigmoid { .. }
            | Op::LeakyRelu { .. }
            | Op::Relu
            | Op::Relu6
            | Op::ReluN1To1
            | Op::Clip { .. }
    )
}

fn int_range(d: DType) -> Option<(i64, i64)> {
    Some(match d {
        DType::I8 => (i8::MIN as i64, i8::MAX as i64),
        DType::U8 => (0, u8::MAX as i64),
        DType::I16 => (i16::MIN as i64, i16::MAX as i64),
        DType::I32 => (i32::MIN as i64, i32::MAX as i64),
        DType::I64 => (i64::MIN, i64::MAX),
        DType::F32 | DType::Bool => return None,
    })
}

fn is_signed(d: DType) -> bool {
    matches!(d, DType::I8 | DType::I16 | DType::I32 | DType::I64)
}

/// Integer values of a constant tensor (None for float, missing or short data).
fn int_values(t: &Tensor) -> Option<Vec<i64>> {
    let d = t.data.as_deref()?;
    if d.len() != t.nbytes() {
        return None;
    }
    Some(match t.dtype {
        DType::I8 => d.iter().map(|&b| b as i8 as i64).collect(),
        DType::U8 | DType::Bool => d.iter().map(|&b| b as i64).collect(),
        DType::I16 => d
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]) as i64)
            .collect(),
        DType::I32 => d
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
            .collect(),
        DType::I64 => d
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        DType::F32 => return None,
    })
}

/// `shape` left-padded with ones to 4 dimensions (None above 4).
fn pad4(shape: &[usize]) -> Option<[usize; 4]> {
    let k = 4usize.checked_sub(shape.len())?;
    let mut s = [1; 4];
    s[k..].copy_from_slice(shape);
    Some(s)
}

/// NumPy broadcast of two shapes (None when a pair is neither equal nor 1).
fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let at = |s: &[usize], i: usize| {
        if i < r - s.len() {
            1
        } else {
            s[i - (r - s.len())]
        }
    };
    (0..r)
        .map(|i| {
            let (x, y) = (at(a, i), at(b, i));
            if x == y || y == 1 {
                Some(x)
            } else if x == 1 {
                Some(y)
            } else {
                None
            }
        })
        .collect()
}

/// Equal shapes once leading ones are dropped (`[4, 8]` and `[1, 4, 8]`).
fn same_up_to_leading_ones(a: &[usize], b: &[usize]) -> bool {
    let strip = |s: &[usize]| -> Vec<usize> { s.iter().copied().skip_while(|&d| d == 1).collect() };
    strip(a) == strip(b)
}

fn quant_eq(a: &Option<Quant>, b: &Option<Quant>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.scale == b.scale && a.zero_point == b.zero_point,
        _ => false,
    }
}

impl<'a> Checker<'a> {
    fn bad(&mut self, constraint: Constraint, detail: String) {
        self.v.push(Violation { constraint, detail });
    }

    fn t(&self, id: TensorId) -> &'a Tensor {
        self.g.tensor(id)
    }

    fn run(&mut self) {
        let n = self.n;
        if matches!(n.op, Op::MatMul | Op::Dequantize) {
            self.bad(
                Constraint::UnsupportedOperator,
                format!("{} does not run on the NPU", n.op.name()),
            );
            return;
        }
        let Some(r) = self.roles() else { return };
        let ofm = self.t(r.ofm);
        for &i in &r.ifms {
            self.feature_map(i, true);
        }
        self.feature_map(r.ofm, false);
        if let Some(act) = fused_act(&n.op) {
            if act != Act::None && !self.l.fused_activation_dtypes.contains(&ofm.dtype) {
                self.bad(
                    Constraint::FusedActivationType,
                    format!(
                        "{} has a fused activation and output '{}' is {}",
                        n.op.name(),
                        ofm.name,
                        ofm.dtype
                    ),
                );
            }
        }
        if matches!(n.op, Op::HardSwish | Op::HardSigmoid { .. }) {
            let x = self.t(r.ifms[0]);
            if !matches!(x.dtype, DType::I8 | DType::U8) {
                self.bad(
                    Constraint::EightBitInput,
                    format!(
                        "{} input '{}' is {}, not i8 or u8",
                        n.op.name(),
                        x.name,
                        x.dtype
                    ),
                );
            }
        }
        self.types_and_shapes(&r);
        if is_weighted(&n.op) {
            self.weights(&r);
        }
        self.window(&r);
        self.per_op(&r);
    }

    /// The node's tensors by role, or `None` (with an [`Constraint::Operands`] violation).
    fn roles(&mut self) -> Option<Roles> {
        let n = self.n;
        let mut missing: Vec<String> = Vec::new();
        let need = |i: usize, what: &str, missing: &mut Vec<String>| {
            if n.input(i).is_none() {
                missing.push(format!("no {what} (operand {i})"));
            }
        };
        let ifms: Vec<TensorId> = match &n.op {
            Op::Concat { .. } => {
                if n.inputs.is_empty() || n.inputs.iter().any(Option::is_none) {
                    missing.push("a missing concatenation input".into());
                }
                n.inputs.iter().flatten().copied().collect()
            }
            op if is_binary(op) => {
                need(0, "first input", &mut missing);
                need(1, "second input", &mut missing);
                n.input(0).into_iter().chain(n.input(1)).collect()
            }
            _ => {
                need(0, "input", &mut missing);
                n.input(0).into_iter().collect()
            }
        };
        let weighted = is_weighted(&n.op);
        if weighted {
            need(1, "weights", &mut missing);
        }
        if n.outputs.len() != 1 {
            missing.push(format!("{} outputs instead of 1", n.outputs.len()));
        }
        let mut all = n.inputs.iter().flatten().chain(n.outputs.iter());
        if let Some(t) = all.find(|t| t.0 >= self.g.tensors.len()) {
            missing.push(format!("tensor id {} outside the graph", t.0));
        }
        if !missing.is_empty() {
            self.bad(
                Constraint::Operands,
                format!("node '{}' has {}", n.name, missing.join(", ")),
            );
            return None;
        }
        Some(Roles {
            ifms,
            weights: if weighted { n.input(1) } else { None },
            bias: if weighted { n.input(2) } else { None },
            ofm: n.outputs[0],
        })
    }

    /// The generic rules for one feature map.
    fn feature_map(&mut self, id: TensorId, is_ifm: bool) {
        let (n, l, t) = (self.n, self.l, self.t(id));
        let int32_ok = t.dtype == DType::I32 && int32_feature_map(&n.op);
        if !l.feature_map_dtypes.contains(&t.dtype) && !int32_ok {
            let what = match t.dtype {
                DType::F32 => " (floating point)",
                DType::I64 => " (64-bit)",
                DType::I32 => " (i32 only for Add, Sub, Mul, Reshape and Transpose)",
                _ => "",
            };
            self.bad(
                Constraint::FeatureMapType,
                format!(
                    "tensor '{}' of {} is {}{what}",
                    t.name,
                    n.op.name(),
                    t.dtype
                ),
            );
        }
        self.quantization(t, !matches!(n.op, Op::Pad { .. } | Op::Transpose { .. }));
        if let Some(q) = &t.quant {
            if q.scale.len() > 1 || q.zero_point.len() > 1 {
                self.bad(
                    Constraint::PerAxisQuant,
                    format!(
                        "feature map '{}' has {} quantization scales (per axis {})",
                        t.name,
                        q.scale.len(),
                        q.axis
                    ),
                );
            }
            if let Some((lo, hi)) = int_range(t.dtype) {
                let (lo, hi) = if t.dtype == DType::I32 {
                    (0, 0)
                } else {
                    (lo, hi)
                };
                if let Some(z) = q
                    .zero_point
                    .iter()
                    .find(|&&z| !(lo..=hi).contains(&(z as i64)))
                {
                    self.bad(
                        Constraint::ZeroPoint,
                        format!(
                            "tensor '{}' ({}) has zero point {z}, outside [{lo}, {hi}]",
                            t.name, t.dtype
                        ),
                    );
                }
            }
        }
        self.dims(t);
        let batch_exempt = matches!(
            n.op,
            Op::FullyConnected { .. } | Op::Softmax { .. } | Op::Reshape
        );
        if is_ifm && !batch_exempt && t.shape.len() >= 4 && t.shape[0] != 1 {
            self.bad(
                Constraint::Batch,
                format!(
                    "input '{}' has shape {:?}: batch {}",
                    t.name, t.shape, t.shape[0]
                ),
            );
        }
    }

    /// Quantization present (when `required` and the type is an integer) and scales valid.
    fn quantization(&mut self, t: &Tensor, required: bool) {
        match &t.quant {
            None if required && int_range(t.dtype).is_some() => self.bad(
                Constraint::Quantized,
                format!("tensor '{}' ({}) has no quantization", t.name, t.dtype),
            ),
            Some(q)
                if q.scale.is_empty()
                    || q.zero_point.is_empty()
                    || q.scale.iter().any(|s| !(s.is_finite() && *s > 0.0)) =>
            {
                self.bad(
                    Constraint::QuantScale,
                    format!("tensor '{}' has quantization scale {:?}", t.name, q.scale),
                )
            }
            _ => {}
        }
    }

    /// Rank and dimension range of a tensor.
    fn dims(&mut self, t: &Tensor) {
        let l = self.l;
        if t.shape.len() > l.max_rank {
            self.bad(
                Constraint::Rank,
                format!(
                    "tensor '{}' has shape {:?}: {} dimensions, more than {}",
                    t.name,
                    t.shape,
                    t.shape.len(),
                    l.max_rank
                ),
            );
        }
        if let Some(&d) = t.shape.iter().find(|&&d| d == 0 || d > l.max_dim) {
            self.bad(
                Constraint::DimensionRange,
                format!(
                    "tensor '{}' has shape {:?}: dimension {d} outside [1, {}]",
                    t.name, t.shape, l.max_dim
                ),
            );
        }
    }

    fn types_and_shapes(&mut self, r: &Roles) {
        let n = self.n;
        let ofm = self.t(r.ofm);
        let same_types = is_activation(&n.op)
            || matches!(
                n.op,
                Op::AvgPool2d { .. }
                    | Op::MaxPool2d { .. }
                    | Op::Maximum
                    | Op::Minimum
                    | Op::Softmax { .. }
                    | Op::Mean { .. }
                    | Op::Concat { .. }
                    | Op::Pad { .. }
                    | Op::Transpose { .. }
                    | Op::Reshape
                    | Op::ResizeNearest { .. }
            );
        if same_types {
            for &i in &r.ifms {
                let x = self.t(i);
                if x.dtype != ofm.dtype {
                    self.bad(
                        Constraint::InOutTypes,
                        format!(
                            "{} input '{}' is {} but output '{}' is {}",
                            n.op.name(),
                            x.name,
                            x.dtype,
                            ofm.name,
                            ofm.dtype
                        ),
                    );
                }
            }
        }
        if matches!(n.op, Op::Add { .. } | Op::Sub { .. } | Op::Mul { .. }) {
            let (a, b) = (self.t(r.ifms[0]), self.t(r.ifms[1]));
            let out_ok = if is_signed(a.dtype) {
                is_signed(ofm.dtype)
            } else {
                ofm.dtype == a.dtype || ofm.dtype == DType::I32
            };
            if a.dtype != b.dtype || !out_ok {
                self.bad(
                    Constraint::BinaryInputTypes,
                    format!(
                        "{} has inputs {} and {} and output {}",
                        n.op.name(),
                        a.dtype,
                        b.dtype,
                        ofm.dtype
                    ),
                );
            }
        }
        if is_activation(&n.op) || matches!(n.op, Op::Softmax { .. } | Op::Quantize { .. }) {
            let x = self.t(r.ifms[0]);
            if x.shape != ofm.shape {
                self.bad(
                    Constraint::InOutShapes,
                    format!(
                        "{} input '{}' has shape {:?} but output '{}' has {:?}",
                        n.op.name(),
                        x.name,
                        x.shape,
                        ofm.name,
                        ofm.shape
                    ),
                );
            }
        }
        if is_binary(&n.op) {
            let (a, b) = (self.t(r.ifms[0]), self.t(r.ifms[1]));
            let fits = broadcast(&a.shape, &b.shape)
                .is_some_and(|s| same_up_to_leading_ones(&s, &ofm.shape));
            if !fits {
                self.bad(
                    Constraint::Broadcast,
                    format!(
                        "{} operand shapes {:?} and {:?} do not broadcast to the output's {:?}",
                        n.op.name(),
                        a.shape,
                        b.shape,
                        ofm.shape
                    ),
                );
            } else if !same_up_to_leading_ones(&a.shape, &ofm.shape)
                && !same_up_to_leading_ones(&b.shape, &ofm.shape)
            {
                self.bad(
                    Constraint::BroadcastOneInput,
                    format!(
                        "neither operand shape {:?} nor {:?} equals the output's {:?}",
                        a.shape, b.shape, ofm.shape
                    ),
                );
            }
            if matches!(n.op, Op::Maximum | Op::Minimum) {
                for x in [a, b] {
                    if !quant_eq(&x.quant, &ofm.quant) {
                        self.bad(
                            Constraint::MinMaxQuant,
                            format!(
                                "input '{}' is quantized {} but output '{}' {}",
                                x.name,
                                describe_q(&x.quant),
                                ofm.name,
                                describe_q(&ofm.quant)
                            ),
                        );
                    }
                }
            }
        }
    }

    /// Weights and bias of Conv2d, DepthwiseConv2d and FullyConnected.
    fn weights(&mut self, r: &Roles) {
        let (n, l) = (self.n, self.l);
        let Some(wid) = r.weights else { return };
        let (x, w, y) = (self.t(r.ifms[0]), self.t(wid), self.t(r.ofm));
        // Weight shape against the feature maps; `oc` = output channels, `oc_axis` = their axis.
        let mut shape_ok = true;
        let (oc, oc_axis) = match &n.op {
            Op::Conv2d { groups, .. } => {
                if *groups != 1 {
                    self.bad(
                        Constraint::ConvGroups,
                        format!(
                            "grouped convolution with {groups} groups (depthwise ones are DepthwiseConv2d)"
                        ),
                    );
                }
                let ic = x.shape.last().copied().unwrap_or(0);
                let yc = y.shape.last().copied().unwrap_or(0);
                if w.shape.len() != 4
                    || x.shape.len() != 4
                    || y.shape.len() != 4
                    || w.shape[3] * groups != ic
                    || w.shape[0] != yc
                {
                    shape_ok = false;
                    self.bad(
                        Constraint::ConvWeightShape,
                        format!(
                            "weights '{}' have shape {:?} for input {:?} and output {:?}",
                            w.name, w.shape, x.shape, y.shape
                        ),
                    );
                }
                (w.shape.first().copied().unwrap_or(0), 0)
            }
            Op::DepthwiseConv2d {
                depth_multiplier, ..
            } => {
                let ic = x.shape.last().copied().unwrap_or(0);
                let yc = y.shape.last().copied().unwrap_or(0);
                let m = *depth_multiplier;
                if w.shape.len() != 4
                    || x.shape.len() != 4
                    || y.shape.len() != 4
                    || m == 0
                    || w.shape[0] != 1
                    || w.shape[3] != ic * m
                    || yc != ic * m
                {
                    shape_ok = false;
                    self.bad(
                        Constraint::DepthwiseShape,
                        format!(
                            "weights '{}' have shape {:?} with depth multiplier {m} for input {:?} and output {:?}",
                            w.name, w.shape, x.shape, y.shape
                        ),
                    );
                }
                (
                    w.shape.last().copied().unwrap_or(0),
                    w.shape.len().max(1) - 1,
                )
            }
            _ => {
                let fits = w.shape.len() == 2 && w.shape[1] > 0 && {
                    let (nn, k) = (w.shape[0], w.shape[1]);
                    let batch = x.numel() / k;
                    x.numel() % k == 0 && y.shape.last() == Some(&nn) && y.numel() == batch * nn
                };
                if !fits {
                    shape_ok = false;
                    self.bad(
                        Constraint::FullyConnectedShape,
                        format!(
                            "weights '{}' have shape {:?} for input {:?} and output {:?}",
                            w.name, w.shape, x.shape, y.shape
                        ),
                    );
                }
                (w.shape.first().copied().unwrap_or(0), 0)
            }
        };
        if !w.is_const() {
            self.bad(
                Constraint::WeightsConstant,
                format!("weights '{}' are not constant", w.name),
            );
        }
        if !l.weight_dtypes.contains(&w.dtype) {
            self.bad(
                Constraint::WeightsType,
                format!("weights '{}' are {}", w.name, w.dtype),
            );
        }
        self.quantization(w, true);
        self.dims(w);
        if let Some(q) = &w.quant {
            if let Some(z) = q.zero_point.iter().find(|&&z| z != 0) {
                self.bad(
                    Constraint::WeightZeroPoint,
                    format!("weights '{}' have zero point {z}", w.name),
                );
            }
            let per_channel = q.scale.len() > 1 || q.zero_point.len() > 1;
            let counts_ok = [q.scale.len(), q.zero_point.len()]
                .iter()
                .all(|&c| c == 1 || c == oc);
            if per_channel && (q.axis != oc_axis || !counts_ok) {
                self.bad(
                    Constraint::WeightQuantAxis,
                    format!(
                        "weights '{}' have {} scales along axis {}; the {oc} output channels are axis {oc_axis}",
                        w.name,
                        q.scale.len(),
                        q.axis
                    ),
                );
            }
        }
        let bytes = w.data.as_deref().filter(|d| d.len() == w.nbytes());
        if let (true, Some(vals)) = (shape_ok && oc > 0 && w.dtype.size() == 1, bytes) {
            {
                // Read in place: one byte per weight, signed for int8.
                let signed = w.dtype == DType::I8;
                let val = |b: u8| if signed { b as i8 as i64 } else { b as i64 };
                let zp: Vec<i64> = (0..oc)
                    .map(|o| {
                        w.quant.as_ref().map_or(0, |q| match q.zero_point.len() {
                            0 => 0,
                            1 => q.zero_point[0] as i64,
                            _ => q.zero_point.get(o).copied().unwrap_or(0) as i64,
                        })
                    })
                    .collect();
                let sums: Vec<i64> = if matches!(n.op, Op::DepthwiseConv2d { .. }) {
                    let mut s = vec![0i64; oc];
                    for row in vals.chunks(oc) {
                        for ((acc, &b), &z) in s.iter_mut().zip(row).zip(&zp) {
                            *acc += (val(b) - z).abs();
                        }
                    }
                    s
                } else {
                    let per = vals.len() / oc.max(1);
                    (0..oc)
                        .map(|o| {
                            vals[o * per..(o + 1) * per]
                                .iter()
                                .map(|&b| (val(b) - zp[o]).abs())
                                .sum()
                        })
                        .collect()
                };
                let limit = if x.dtype.size() == 2 {
                    l.max_weight_sum_16bit
                } else {
                    l.max_weight_sum_8bit
                };
                if let Some((o, s)) = sums.iter().enumerate().find(|(_, &s)| s > limit) {
                    self.bad(
                        Constraint::WeightSum,
                        format!(
                            "output channel {o} of weights '{}' has an absolute weight sum of {s}, above {limit}",
                            w.name
                        ),
                    );
                }
            }
        }
        let Some(bid) = r.bias else { return };
        let b = self.t(bid);
        if !b.is_const() {
            self.bad(
                Constraint::BiasConstant,
                format!("bias '{}' is not constant", b.name),
            );
        }
        match b.dtype {
            DType::I32 => {}
            DType::I64 => {
                let half = 1i64 << (l.bias_bits - 1);
                if let Some(v) = int_values(b)
                    .unwrap_or_default()
                    .into_iter()
                    .find(|v| !(-half..half).contains(v))
                {
                    self.bad(
                        Constraint::BiasType,
                        format!(
                            "i64 bias '{}' holds {v}, which does not fit in {} bits",
                            b.name, l.bias_bits
                        ),
                    );
                }
            }
            d => self.bad(Constraint::BiasType, format!("bias '{}' is {d}", b.name)),
        }
        if b.shape.len() != 1 || b.shape[0] != oc {
            self.bad(
                Constraint::BiasShape,
                format!(
                    "bias '{}' has shape {:?} for {oc} output channels",
                    b.name, b.shape
                ),
            );
        }
    }

    /// Stride, dilation, kernel and padding of convolutions and pools.
    fn window(&mut self, r: &Roles) {
        let (n, l) = (self.n, self.l);
        let (win, pool) = match &n.op {
            Op::Conv2d { win, .. } | Op::DepthwiseConv2d { win, .. } => (win, None),
            Op::AvgPool2d { kernel, win, .. } | Op::MaxPool2d { kernel, win, .. } => {
                (win, Some(*kernel))
            }
            _ => return,
        };
        let y = &self.t(r.ofm).shape;
        // Vela's `constraint_stride_width_no_upper_limit`: Conv2d and AvgPool2d ignore the stride
        // along an output dimension of size 1 (the window never moves).
        // kiln decomposes convolutions beyond the hardware's stride and dilation (space-to-depth,
        // sub-sampled views: `lower/conv.rs`) and checks every operation they become.
        let decomposed = pool.is_none();
        let may_ignore = matches!(n.op, Op::AvgPool2d { .. });
        let stride_ok = (0..2).all(|d| {
            (1..=l.max_stride).contains(&win.stride[d])
                || (decomposed && win.stride[d] >= 1)
                || (may_ignore && y.len() == 4 && y[1 + d] == 1 && win.stride[d] >= 1)
        });
        if !stride_ok {
            self.bad(
                Constraint::StrideRange,
                format!(
                    "stride (h, w) = ({}, {}) is outside [1, {}]",
                    win.stride[0], win.stride[1], l.max_stride
                ),
            );
        }
        let [top, left, bottom, right] = win.pads;
        if top.max(left) > l.max_pad_top_left || bottom.max(right) > l.max_pad_bottom_right {
            self.bad(
                Constraint::PaddingRange,
                format!(
                    "padding (top, left, bottom, right) = ({top}, {left}, {bottom}, {right}); at most {} top/left and {} bottom/right",
                    l.max_pad_top_left, l.max_pad_bottom_right
                ),
            );
        }
        match pool {
            None => {
                if win.dilation.iter().any(|&d| d < 1) {
                    self.bad(
                        Constraint::DilationRange,
                        format!(
                            "dilation (h, w) = ({}, {}) has a factor below 1",
                            win.dilation[0], win.dilation[1]
                        ),
                    );
                }
                let Some(ws) = r.weights.map(|w| &self.t(w).shape) else {
                    return;
                };
                if ws.len() != 4 {
                    return;
                }
                // A stride or dilation lets kiln decompose a kernel beyond these limits (output
                // phases, space-to-depth); it checks the operations and refuses what stays beyond.
                let decomposable =
                    win.stride.iter().any(|&s| s > 1) || win.dilation.iter().any(|&d| d > 1);
                if decomposable {
                    return;
                }
                let dilated = |k: usize, d: usize| k.saturating_sub(1) * d.max(1) + 1;
                let dh = dilated(ws[1], win.dilation[0]);
                let dw = dilated(ws[2], win.dilation[1]);
                if ws[1] == 0 || dh > l.max_dilated_kernel_height {
                    self.bad(
                        Constraint::DilatedKernelHeight,
                        format!(
                            "kernel {}x{} with dilation {} has dilated height {dh}, outside [1, {}]",
                            ws[1], ws[2], win.dilation[0], l.max_dilated_kernel_height
                        ),
                    );
                }
                if ws[2] == 0 || dh * dw > l.max_dilated_kernel_product {
                    self.bad(
                        Constraint::DilatedKernelProduct,
                        format!(
                            "dilated kernel {dh}x{dw} has {} elements, outside [1, {}]",
                            dh * dw,
                            l.max_dilated_kernel_product
                        ),
                    );
                }
            }
            Some([kh, kw]) => {
                // Padding excluded from the divisor becomes unpadded pools (`lower/pool.rs`).
                let padded = win.pads.iter().any(|&p| p > 0)
                    && matches!(
                        n.op,
                        Op::AvgPool2d {
                            count_include_pad: true,
                            ..
                        }
                    );
                let avg = matches!(n.op, Op::AvgPool2d { .. });
                let side = 1..=l.max_padded_avgpool_kernel;
                if avg && padded && !(side.contains(&kh) && side.contains(&kw)) {
                    self.bad(
                        Constraint::AvgPoolPaddedKernel,
                        format!(
                            "padded average pool has kernel {kh}x{kw}; at most {0}x{0}",
                            l.max_padded_avgpool_kernel
                        ),
                    );
                }
                if !(avg && padded) {
                    if !(1..=l.max_pool_kernel_height).contains(&kh) {
                        self.bad(
                            Constraint::PoolKernelHeight,
                            format!(
                                "pooling kernel height {kh} is outside [1, {}]",
                                l.max_pool_kernel_height
                            ),
                        );
                    }
                    if !(1..=l.max_pool_kernel_product).contains(&(kh * kw)) {
                        self.bad(
                            Constraint::PoolKernelProduct,
                            format!(
                                "pooling kernel {kh}x{kw} has {} elements, outside [1, {}]",
                                kh * kw,
                                l.max_pool_kernel_product
                            ),
                        );
                    }
                }
            }
        }
    }

    /// Operator-specific rules.
    fn per_op(&mut self, r: &Roles) {
        let (n, l) = (self.n, self.l);
        let x = self.t(r.ifms[0]);
        let y = self.t(r.ofm);
        match &n.op {
            Op::Softmax { beta } => {
                if beta.is_nan() || *beta < 0.0 {
                    self.bad(Constraint::SoftmaxBeta, format!("softmax has beta {beta}"));
                }
                if let Some(s) = pad4(&x.shape) {
                    if s[1] * s[2] > l.max_softmax_area {
                        self.bad(
                            Constraint::SoftmaxArea,
                            format!(
                                "softmax input '{}' has shape {:?}: width x height = {}, above {}",
                                x.name,
                                x.shape,
                                s[1] * s[2],
                                l.max_softmax_area
                            ),
                        );
                    }
                }
            }
            Op::Mean { axes, .. } => self.mean(x, axes),
            Op::Pad { pads, .. } => {
                let rank = x.shape.len();
                let batch = rank == 4 && pads.first().is_some_and(|&(a, b)| a + b > 0);
                if pads.len() != rank || !(1..=4).contains(&rank) || batch {
                    self.bad(
                        Constraint::PadDims,
                        format!("pads {pads:?} for input shape {:?}", x.shape),
                    );
                }
                let expect: Vec<usize> = x
                    .shape
                    .iter()
                    .zip(pads)
                    .map(|(&d, &(a, b))| d + a + b)
                    .collect();
                if pads.len() != rank || expect != y.shape {
                    self.bad(
                        Constraint::PadOutputShape,
                        format!(
                            "input {:?} padded by {pads:?} does not give the output's {:?}",
                            x.shape, y.shape
                        ),
                    );
                }
            }
            Op::Concat { axis } => {
                let axis = *axis;
                let ok = axis < y.shape.len() && {
                    let mut sum = 0;
                    r.ifms.iter().all(|&i| {
                        let s = &self.t(i).shape;
                        sum += s.get(axis).copied().unwrap_or(0);
                        s.len() == y.shape.len()
                            && s.iter()
                                .zip(&y.shape)
                                .enumerate()
                                .all(|(d, (a, b))| d == axis || a == b)
                    }) && sum == y.shape[axis]
                };
                if !ok {
                    let shapes: Vec<&Vec<usize>> =
                        r.ifms.iter().map(|&i| &self.t(i).shape).collect();
                    self.bad(
                        Constraint::ConcatShapes,
                        format!(
                            "inputs {shapes:?} along axis {axis} do not give the output's {:?}",
                            y.shape
                        ),
                    );
                }
            }
            Op::Reshape => {
                if !quant_eq(&x.quant, &y.quant) {
                    self.bad(
                        Constraint::ReshapeQuant,
                        format!(
                            "input '{}' is quantized {} but output '{}' {}",
                            x.name,
                            describe_q(&x.quant),
                            y.name,
                            describe_q(&y.quant)
                        ),
                    );
                }
                if x.numel() != y.numel() {
                    self.bad(
                        Constraint::ReshapeElements,
                        format!(
                            "input {:?} has {} elements, output {:?} has {}",
                            x.shape,
                            x.numel(),
                            y.shape,
                            y.numel()
                        ),
                    );
                }
            }
            Op::ResizeNearest {
                align_corners,
                half_pixel_centers,
            } => {
                if *align_corners && *half_pixel_centers {
                    self.bad(
                        Constraint::ResizeAttrs,
                        "resize sets both align_corners and half_pixel_centers".into(),
                    );
                }
                if let Some(why) = self.resize_scale(x, y, *align_corners) {
                    self.bad(Constraint::ResizeScale, why);
                }
            }
            Op::Transpose { perm } => {
                if let Some(why) = self.transpose(x, y, perm) {
                    self.bad(Constraint::TransposePerm, why);
                }
            }
            _ => {}
        }
    }

    fn mean(&mut self, x: &Tensor, axes: &[usize]) {
        let l = self.l;
        let rank = x.shape.len();
        let mut sorted = axes.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        if axes.is_empty() || sorted.len() != axes.len() || axes.iter().any(|&a| a >= rank) {
            self.bad(
                Constraint::MeanAxes,
                format!("axes {axes:?} for input shape {:?}", x.shape),
            );
            return;
        }
        let Some(s) = pad4(&x.shape) else { return };
        let off = 4 - rank;
        let reduced: Vec<usize> = axes.iter().map(|&a| a + off).collect();
        let alternating = reduced.contains(&3) && reduced.contains(&1) && !reduced.contains(&2);
        // Unit axes do not count: a reduced axis of size 1 reduces nothing.
        if alternating && s[1] > 1 && s[3] > 1 && s[2] > 64 {
            self.bad(
                Constraint::MeanDepthReduction,
                format!(
                    "mean over height and depth of input {:?} keeps the width {} between them (above 64)",
                    x.shape, s[2]
                ),
            );
        }
        if let Some(&a) = reduced.iter().find(|&&a| s[a] > l.max_mean_axis) {
            self.bad(
                Constraint::MeanAxisSize,
                format!(
                    "reduced axis {} of input {:?} has size {}, above {}",
                    a - off,
                    x.shape,
                    s[a],
                    l.max_mean_axis
                ),
            );
        }
        let elements: usize = reduced.iter().map(|&a| s[a]).product();
        let limit = match x.dtype {
            DType::I8 => l.max_mean_elements_i8,
            DType::U8 => l.max_mean_elements_u8,
            DType::I16 => l.max_mean_elements_i16,
            _ => return,
        };
        if elements > limit {
            self.bad(
                Constraint::MeanElements,
                format!(
                    "mean reduces {elements} {} elements, above {limit}",
                    x.dtype
                ),
            );
        }
    }

    /// Why a nearest-neighbour resize is unsupported (Regor's U55 rule; Vela's Python one is the
    /// same without the unit-axis relaxation).
    fn resize_scale(&self, x: &Tensor, y: &Tensor, align: bool) -> Option<String> {
        let l = self.l;
        let why = |s: &str| Some(format!("resize {:?} -> {:?}: {s}", x.shape, y.shape));
        if x.shape.len() != 4 || y.shape.len() != 4 {
            return why("input and output must be 4D NHWC");
        }
        if x.shape[0] != y.shape[0] || x.shape[3] != y.shape[3] {
            return why("batch and depth must not change");
        }
        let (ih, iw, oh, ow) = (x.shape[1], x.shape[2], y.shape[1], y.shape[2]);
        if (ih == 1 && iw == 1) || (ih == oh && iw == ow) {
            return None;
        }
        let factor = |i: usize, o: usize| -> f64 {
            if align {
                if o == 1 {
                    1.0
                } else {
                    (o as f64 - 1.0) / (i as f64 - 1.0)
                }
            } else {
                o as f64 / i as f64
            }
        };
        let (fh, fw) = (factor(ih, oh), factor(iw, ow));
        if fh != fw && !((oh == 1 && fh == 1.0) || (ow == 1 && fw == 1.0)) {
            return why(&format!(
                "height and width scale differently ({fh}x and {fw}x)"
            ));
        }
        let f = fh.max(fw);
        if !l.resize_factors.iter().any(|&k| k as f64 == f) {
            return why(&format!(
                "scale factor {f} is not one of {:?}",
                l.resize_factors
            ));
        }
        None
    }

    /// Why a transpose is unsupported (Regor's U55 rule).
    fn transpose(&self, x: &Tensor, y: &Tensor, perm: &[usize]) -> Option<String> {
        let l = self.l;
        let rank = x.shape.len();
        let mut seen = vec![false; rank];
        let is_perm = perm.len() == rank
            && perm
                .iter()
                .all(|&p| p < rank && !std::mem::replace(&mut seen[p], true));
        if !is_perm {
            return Some(format!("perm {perm:?} is not a permutation of {rank} axes"));
        }
        let permuted: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
        if permuted != y.shape {
            return Some(format!(
                "input {:?} permuted by {perm:?} is {permuted:?}, not the output's {:?}",
                x.shape, y.shape
            ));
        }
        // Rank > 4 is reported by the generic rank rule.
        let (s, k) = (pad4(&x.shape)?, 4 - rank);
        let mut p4 = [0, 1, 2, 3];
        for (i, &p) in perm.iter().enumerate() {
            p4[k + i] = p + k;
        }
        const NHWC: [usize; 4] = [0, 1, 2, 3];
        const NWHC: [usize; 4] = [0, 2, 1, 3];
        const NHCW: [usize; 4] = [0, 1, 3, 2];
        const NCWH: [usize; 4] = [0, 3, 2, 1];
        const NWCH: [usize; 4] = [0, 2, 3, 1];
        const NCHW: [usize; 4] = [0, 3, 1, 2];
        let [nn, h, w, c] = s;
        let over = |v: &[usize], max: usize| v.iter().any(|&d| d > max);
        let why = |s: &str| {
            Some(format!(
                "{} transpose of {:?} by {perm:?}: {s}",
                x.dtype, x.shape
            ))
        };
        if x.dtype == DType::I32 {
            return match p4 {
                NHWC if c > l.max_transpose32_depth => {
                    why(&format!("depth {c} above {}", l.max_transpose32_depth))
                }
                NWHC if nn != 1
                    || over(&[h, w], l.max_transpose_axis)
                    || c > l.max_transpose32_nwhc_depth =>
                {
                    why("NWHC needs N == 1, H and W within the axis limit and a small depth")
                }
                NHCW if over(&[nn * h, w, c], l.max_transpose_axis) => {
                    why(&format!("N*H, W or C above {}", l.max_transpose_axis))
                }
                NHWC | NWHC | NHCW => None,
                _ => why("only NHWC, NWHC and NHCW permutations are supported for i32"),
            };
        }
        match p4 {
            NHWC => None,
            NWHC | NHCW | NCWH | NWCH | NCHW if over(&[nn * h, w, c], l.max_transpose_axis) => {
                why(&format!("N*H, W or C above {}", l.max_transpose_axis))
            }
            // Regor refuses other permutations above `max_transpose_elements`; kiln's lowering
            // (strided copies, `lower/transpose.rs`) has its own limits and reasons.
            _ => None,
        }
    }
}

fn describe_q(q: &Option<Quant>) -> String {
    match q {
        None => "not at all".into(),
        Some(q) if q.is_per_tensor() => {
            format!(
                "with scale {} and zero point {}",
                q.scale[0], q.zero_point[0]
            )
        }
        Some(q) => format!("per channel ({} scales)", q.scale.len()),
    }
}

#[cfg(test)]
mod tests;
