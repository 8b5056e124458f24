//! The constraint table: every rule ([`Constraint`]), where it comes from, its words with the
//! numbers of [`NpuLimits`], and the limits themselves. [`super::check`] applies it to a node.

use crate::ir::{DType, Op};
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
