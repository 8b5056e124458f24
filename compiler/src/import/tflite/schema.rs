//! The parts of the TFLite flatbuffer schema (`tensorflow/compiler/mlir/lite/schema/schema.fbs`,
//! file identifier `TFL3`) that kiln reads, as field slot numbers and enum values.
//!
//! A field's slot is its declaration index inside its table (the flatbuffers
//! vtable entry `4 + 2 * slot`). A union field `u` occupies two slots: the type
//! tag `u_type` (a `ubyte`) first, then the table offset. Values were checked
//! against the schema and the `tflite` Python bindings' accessors.

use crate::ir::DType;
use kiln_rt::pte::fb::Field;

/// `table Model`.
pub mod model {
    use super::Field;
    /// `version: uint` (schema version, 3 today).
    pub const VERSION: Field = Field::new(0, "Model.version");
    /// `operator_codes: [OperatorCode]`.
    pub const OPERATOR_CODES: Field = Field::new(1, "Model.operator_codes");
    /// `subgraphs: [SubGraph]` (subgraph 0 is the main graph).
    pub const SUBGRAPHS: Field = Field::new(2, "Model.subgraphs");
    /// `description: string`.
    pub const DESCRIPTION: Field = Field::new(3, "Model.description");
    /// `buffers: [Buffer]` (buffer 0 is the always-empty sentinel).
    pub const BUFFERS: Field = Field::new(4, "Model.buffers");
    /// `metadata: [Metadata]`.
    pub const METADATA: Field = Field::new(6, "Model.metadata");
}

/// `table OperatorCode`.
pub mod operator_code {
    use super::Field;
    /// `deprecated_builtin_code: byte` (codes < 127 in old files).
    pub const DEPRECATED_BUILTIN_CODE: Field =
        Field::new(0, "OperatorCode.deprecated_builtin_code");
    /// `custom_code: string`.
    pub const CUSTOM_CODE: Field = Field::new(1, "OperatorCode.custom_code");
    /// `version: int = 1`.
    pub const VERSION: Field = Field::new(2, "OperatorCode.version");
    /// `builtin_code: BuiltinOperator (int32)`; the effective code is the max of both fields.
    pub const BUILTIN_CODE: Field = Field::new(3, "OperatorCode.builtin_code");
}

/// `table SubGraph`.
pub mod subgraph {
    use super::Field;
    /// `tensors: [Tensor]`.
    pub const TENSORS: Field = Field::new(0, "SubGraph.tensors");
    /// `inputs: [int]` (tensor indices).
    pub const INPUTS: Field = Field::new(1, "SubGraph.inputs");
    /// `outputs: [int]` (tensor indices).
    pub const OUTPUTS: Field = Field::new(2, "SubGraph.outputs");
    /// `operators: [Operator]` in execution order.
    pub const OPERATORS: Field = Field::new(3, "SubGraph.operators");
    /// `name: string`.
    pub const NAME: Field = Field::new(4, "SubGraph.name");
}

/// `table Tensor`.
pub mod tensor {
    use super::Field;
    /// `shape: [int]`.
    pub const SHAPE: Field = Field::new(0, "Tensor.shape");
    /// `type: TensorType (byte)`.
    pub const TYPE: Field = Field::new(1, "Tensor.type");
    /// `buffer: uint` (index into `Model.buffers`; 0 = no data).
    pub const BUFFER: Field = Field::new(2, "Tensor.buffer");
    /// `name: string`.
    pub const NAME: Field = Field::new(3, "Tensor.name");
    /// `quantization: QuantizationParameters`.
    pub const QUANTIZATION: Field = Field::new(4, "Tensor.quantization");
    /// `is_variable: bool`.
    pub const IS_VARIABLE: Field = Field::new(5, "Tensor.is_variable");
    /// `sparsity: SparsityParameters`.
    pub const SPARSITY: Field = Field::new(6, "Tensor.sparsity");
}

/// `table QuantizationParameters`.
pub mod quantization {
    use super::Field;
    /// `scale: [float]`.
    pub const SCALE: Field = Field::new(2, "QuantizationParameters.scale");
    /// `zero_point: [long]`.
    pub const ZERO_POINT: Field = Field::new(3, "QuantizationParameters.zero_point");
    /// `details_type` (union tag; non-zero = custom/blockwise quantization).
    pub const DETAILS_TYPE: Field = Field::new(4, "QuantizationParameters.details_type");
    /// `quantized_dimension: int`.
    pub const QUANTIZED_DIMENSION: Field =
        Field::new(6, "QuantizationParameters.quantized_dimension");
}

/// `table Operator`.
pub mod operator {
    use super::Field;
    /// `opcode_index: uint` (into `Model.operator_codes`).
    pub const OPCODE_INDEX: Field = Field::new(0, "Operator.opcode_index");
    /// `inputs: [int]` (-1 = absent optional operand).
    pub const INPUTS: Field = Field::new(1, "Operator.inputs");
    /// `outputs: [int]`.
    pub const OUTPUTS: Field = Field::new(2, "Operator.outputs");
    /// `builtin_options_type: ubyte` (union tag, see [`super::options`]).
    pub const BUILTIN_OPTIONS_TYPE: Field = Field::new(3, "Operator.builtin_options_type");
    /// `builtin_options` (union value table).
    pub const BUILTIN_OPTIONS: Field = Field::new(4, "Operator.builtin_options");
    /// `custom_options: [ubyte]`.
    pub const CUSTOM_OPTIONS: Field = Field::new(5, "Operator.custom_options");
    /// `custom_options_format: byte` (0 = FlexBuffers).
    pub const CUSTOM_OPTIONS_FORMAT: Field = Field::new(6, "Operator.custom_options_format");
    /// `large_custom_options_offset: ulong` (custom options outside the flatbuffer).
    pub const LARGE_CUSTOM_OPTIONS_OFFSET: Field =
        Field::new(9, "Operator.large_custom_options_offset");
    /// `large_custom_options_size: ulong`.
    pub const LARGE_CUSTOM_OPTIONS_SIZE: Field =
        Field::new(10, "Operator.large_custom_options_size");
}

/// `table Buffer`.
pub mod buffer {
    use super::Field;
    /// `data: [ubyte]`.
    pub const DATA: Field = Field::new(0, "Buffer.data");
    /// `offset: ulong` (files > 2 GiB: data at this offset from the start of the file; 0/1 = unused).
    pub const OFFSET: Field = Field::new(1, "Buffer.offset");
    /// `size: ulong`.
    pub const SIZE: Field = Field::new(2, "Buffer.size");
}

/// `table Metadata`.
pub mod metadata {
    use super::Field;
    /// `name: string`.
    pub const NAME: Field = Field::new(0, "Metadata.name");
    /// `buffer: uint` (index into `Model.buffers`).
    pub const BUFFER: Field = Field::new(1, "Metadata.buffer");
}

/// `union BuiltinOptions` tags (declaration index + 1; 0 = NONE) and the option tables' slots.
pub mod options {
    use kiln_rt::pte::fb::Field;
    /// `Conv2DOptions` tag.
    pub const CONV_2D: u8 = 1;
    /// `DepthwiseConv2DOptions` tag.
    pub const DEPTHWISE_CONV_2D: u8 = 2;
    /// `Pool2DOptions` tag.
    pub const POOL_2D: u8 = 5;
    /// `FullyConnectedOptions` tag.
    pub const FULLY_CONNECTED: u8 = 8;
    /// `SoftmaxOptions` tag.
    pub const SOFTMAX: u8 = 9;
    /// `ConcatenationOptions` tag.
    pub const CONCATENATION: u8 = 10;
    /// `AddOptions` tag.
    pub const ADD: u8 = 11;
    /// `MulOptions` tag.
    pub const MUL: u8 = 21;
    /// `ReducerOptions` tag.
    pub const REDUCER: u8 = 27;
    /// `SubOptions` tag.
    pub const SUB: u8 = 28;
    /// `ResizeNearestNeighborOptions` tag.
    pub const RESIZE_NEAREST_NEIGHBOR: u8 = 74;
    /// `LeakyReluOptions` tag.
    pub const LEAKY_RELU: u8 = 75;

    /// `Conv2DOptions`: padding, stride_w, stride_h, fused_activation_function, dilation_w_factor (=1), dilation_h_factor (=1).
    pub mod conv2d {
        use super::Field;
        /// `padding: Padding`.
        pub const PADDING: Field = Field::new(0, "Conv2DOptions.padding");
        /// `stride_w: int`.
        pub const STRIDE_W: Field = Field::new(1, "Conv2DOptions.stride_w");
        /// `stride_h: int`.
        pub const STRIDE_H: Field = Field::new(2, "Conv2DOptions.stride_h");
        /// `fused_activation_function`.
        pub const ACTIVATION: Field = Field::new(3, "Conv2DOptions.fused_activation_function");
        /// `dilation_w_factor: int = 1`.
        pub const DILATION_W: Field = Field::new(4, "Conv2DOptions.dilation_w_factor");
        /// `dilation_h_factor: int = 1`.
        pub const DILATION_H: Field = Field::new(5, "Conv2DOptions.dilation_h_factor");
    }
    /// `DepthwiseConv2DOptions`: padding, stride_w, stride_h, depth_multiplier, activation, dilation_w (=1), dilation_h (=1).
    pub mod depthwise {
        use super::Field;
        /// `padding: Padding`.
        pub const PADDING: Field = Field::new(0, "DepthwiseConv2DOptions.padding");
        /// `stride_w: int`.
        pub const STRIDE_W: Field = Field::new(1, "DepthwiseConv2DOptions.stride_w");
        /// `stride_h: int`.
        pub const STRIDE_H: Field = Field::new(2, "DepthwiseConv2DOptions.stride_h");
        /// `depth_multiplier: int` (redundant: TFLite derives it from the shapes).
        pub const DEPTH_MULTIPLIER: Field =
            Field::new(3, "DepthwiseConv2DOptions.depth_multiplier");
        /// `fused_activation_function`.
        pub const ACTIVATION: Field =
            Field::new(4, "DepthwiseConv2DOptions.fused_activation_function");
        /// `dilation_w_factor: int = 1`.
        pub const DILATION_W: Field = Field::new(5, "DepthwiseConv2DOptions.dilation_w_factor");
        /// `dilation_h_factor: int = 1`.
        pub const DILATION_H: Field = Field::new(6, "DepthwiseConv2DOptions.dilation_h_factor");
    }
    /// `Pool2DOptions`: padding, stride_w, stride_h, filter_width, filter_height, activation.
    pub mod pool2d {
        use super::Field;
        /// `padding: Padding`.
        pub const PADDING: Field = Field::new(0, "Pool2DOptions.padding");
        /// `stride_w: int`.
        pub const STRIDE_W: Field = Field::new(1, "Pool2DOptions.stride_w");
        /// `stride_h: int`.
        pub const STRIDE_H: Field = Field::new(2, "Pool2DOptions.stride_h");
        /// `filter_width: int`.
        pub const FILTER_W: Field = Field::new(3, "Pool2DOptions.filter_width");
        /// `filter_height: int`.
        pub const FILTER_H: Field = Field::new(4, "Pool2DOptions.filter_height");
        /// `fused_activation_function`.
        pub const ACTIVATION: Field = Field::new(5, "Pool2DOptions.fused_activation_function");
    }
    /// `FullyConnectedOptions`: activation, weights_format, keep_num_dims, asymmetric_quantize_inputs.
    pub mod fully_connected {
        use super::Field;
        /// `fused_activation_function`.
        pub const ACTIVATION: Field =
            Field::new(0, "FullyConnectedOptions.fused_activation_function");
        /// `weights_format: byte` (0 = DEFAULT, 1 = SHUFFLED4x16INT8).
        pub const WEIGHTS_FORMAT: Field = Field::new(1, "FullyConnectedOptions.weights_format");
        /// `keep_num_dims: bool`.
        pub const KEEP_NUM_DIMS: Field = Field::new(2, "FullyConnectedOptions.keep_num_dims");
    }
    /// `SoftmaxOptions`: beta.
    pub mod softmax {
        use super::Field;
        /// `beta: float`.
        pub const BETA: Field = Field::new(0, "SoftmaxOptions.beta");
    }
    /// `ConcatenationOptions`: axis, activation.
    pub mod concatenation {
        use super::Field;
        /// `axis: int` (may be negative).
        pub const AXIS: Field = Field::new(0, "ConcatenationOptions.axis");
        /// `fused_activation_function`.
        pub const ACTIVATION: Field =
            Field::new(1, "ConcatenationOptions.fused_activation_function");
    }
    /// `AddOptions`, `SubOptions`, `MulOptions`: the activation is slot 0 in all three.
    pub mod binary {
        use super::Field;
        /// `fused_activation_function`.
        pub const ACTIVATION: Field = Field::new(0, "Add/Sub/MulOptions.fused_activation_function");
    }
    /// `ReducerOptions`: keep_dims.
    pub mod reducer {
        use super::Field;
        /// `keep_dims: bool`.
        pub const KEEP_DIMS: Field = Field::new(0, "ReducerOptions.keep_dims");
    }
    /// `ResizeNearestNeighborOptions`: align_corners, half_pixel_centers.
    pub mod resize_nearest {
        use super::Field;
        /// `align_corners: bool`.
        pub const ALIGN_CORNERS: Field =
            Field::new(0, "ResizeNearestNeighborOptions.align_corners");
        /// `half_pixel_centers: bool`.
        pub const HALF_PIXEL_CENTERS: Field =
            Field::new(1, "ResizeNearestNeighborOptions.half_pixel_centers");
    }
    /// `LeakyReluOptions`: alpha.
    pub mod leaky_relu {
        use super::Field;
        /// `alpha: float`.
        pub const ALPHA: Field = Field::new(0, "LeakyReluOptions.alpha");
    }
}

/// `enum Padding : byte { SAME, VALID }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Output size `ceil(in / stride)`, padding split with the extra cell at the end.
    Same,
    /// No padding: output size `ceil((in - effective_kernel + 1) / stride)`.
    Valid,
}

impl Padding {
    /// Decodes the schema value.
    pub fn from_raw(v: i8) -> Option<Self> {
        match v {
            0 => Some(Padding::Same),
            1 => Some(Padding::Valid),
            _ => None,
        }
    }
}

/// `enum ActivationFunctionType : byte`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// NONE = 0.
    None,
    /// RELU = 1.
    Relu,
    /// RELU_N1_TO_1 = 2.
    ReluN1To1,
    /// RELU6 = 3.
    Relu6,
    /// TANH = 4 (schema only; no kernel fuses it).
    Tanh,
    /// SIGN_BIT = 5 (schema only).
    SignBit,
}

impl Activation {
    /// Decodes the schema value.
    pub fn from_raw(v: i8) -> Option<Self> {
        Some(match v {
            0 => Activation::None,
            1 => Activation::Relu,
            2 => Activation::ReluN1To1,
            3 => Activation::Relu6,
            4 => Activation::Tanh,
            5 => Activation::SignBit,
            _ => return None,
        })
    }
}

/// `enum TensorType : byte` -> kiln dtype; `Err(name)` for the types kiln has no dtype for.
pub fn dtype(raw: i8) -> Result<DType, &'static str> {
    Ok(match raw {
        0 => DType::F32,
        2 => DType::I32,
        3 => DType::U8,
        4 => DType::I64,
        6 => DType::Bool,
        7 => DType::I16,
        9 => DType::I8,
        1 => return Err("FLOAT16"),
        5 => return Err("STRING"),
        8 => return Err("COMPLEX64"),
        10 => return Err("FLOAT64"),
        11 => return Err("COMPLEX128"),
        12 => return Err("UINT64"),
        13 => return Err("RESOURCE"),
        14 => return Err("VARIANT"),
        15 => return Err("UINT32"),
        16 => return Err("UINT16"),
        17 => return Err("INT4"),
        18 => return Err("BFLOAT16"),
        19 => return Err("INT2"),
        20 => return Err("UINT4"),
        21 => return Err("FLOAT8_E4M3FN"),
        22 => return Err("FLOAT8_E5M2"),
        _ => return Err("unknown TensorType"),
    })
}

/// `enum BuiltinOperator : int32` values kiln maps, by name.
pub mod builtin {
    /// ADD.
    pub const ADD: i32 = 0;
    /// AVERAGE_POOL_2D.
    pub const AVERAGE_POOL_2D: i32 = 1;
    /// CONCATENATION.
    pub const CONCATENATION: i32 = 2;
    /// CONV_2D.
    pub const CONV_2D: i32 = 3;
    /// DEPTHWISE_CONV_2D.
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    /// DEQUANTIZE.
    pub const DEQUANTIZE: i32 = 6;
    /// FULLY_CONNECTED.
    pub const FULLY_CONNECTED: i32 = 9;
    /// LOGISTIC.
    pub const LOGISTIC: i32 = 14;
    /// MAX_POOL_2D.
    pub const MAX_POOL_2D: i32 = 17;
    /// MUL.
    pub const MUL: i32 = 18;
    /// RELU.
    pub const RELU: i32 = 19;
    /// RELU_N1_TO_1.
    pub const RELU_N1_TO_1: i32 = 20;
    /// RELU6.
    pub const RELU6: i32 = 21;
    /// RESHAPE.
    pub const RESHAPE: i32 = 22;
    /// SOFTMAX.
    pub const SOFTMAX: i32 = 25;
    /// TANH.
    pub const TANH: i32 = 28;
    /// CUSTOM (the operator code's `custom_code` names it).
    pub const CUSTOM: i32 = 32;
    /// PAD.
    pub const PAD: i32 = 34;
    /// TRANSPOSE.
    pub const TRANSPOSE: i32 = 39;
    /// MEAN.
    pub const MEAN: i32 = 40;
    /// SUB.
    pub const SUB: i32 = 41;
    /// MAXIMUM.
    pub const MAXIMUM: i32 = 55;
    /// MINIMUM.
    pub const MINIMUM: i32 = 57;
    /// PADV2.
    pub const PADV2: i32 = 60;
    /// RESIZE_NEAREST_NEIGHBOR.
    pub const RESIZE_NEAREST_NEIGHBOR: i32 = 97;
    /// LEAKY_RELU.
    pub const LEAKY_RELU: i32 = 98;
    /// QUANTIZE.
    pub const QUANTIZE: i32 = 114;
    /// HARD_SWISH.
    pub const HARD_SWISH: i32 = 117;
}

/// Names of `BuiltinOperator` values 0..=161, for error messages and reports.
const BUILTIN_NAMES: [&str; 162] = [
    "ADD",
    "AVERAGE_POOL_2D",
    "CONCATENATION",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "DEPTH_TO_SPACE",
    "DEQUANTIZE",
    "EMBEDDING_LOOKUP",
    "FLOOR",
    "FULLY_CONNECTED",
    "HASHTABLE_LOOKUP",
    "L2_NORMALIZATION",
    "L2_POOL_2D",
    "LOCAL_RESPONSE_NORMALIZATION",
    "LOGISTIC",
    "LSH_PROJECTION",
    "LSTM",
    "MAX_POOL_2D",
    "MUL",
    "RELU",
    "RELU_N1_TO_1",
    "RELU6",
    "RESHAPE",
    "RESIZE_BILINEAR",
    "RNN",
    "SOFTMAX",
    "SPACE_TO_DEPTH",
    "SVDF",
    "TANH",
    "CONCAT_EMBEDDINGS",
    "SKIP_GRAM",
    "CALL",
    "CUSTOM",
    "EMBEDDING_LOOKUP_SPARSE",
    "PAD",
    "UNIDIRECTIONAL_SEQUENCE_RNN",
    "GATHER",
    "BATCH_TO_SPACE_ND",
    "SPACE_TO_BATCH_ND",
    "TRANSPOSE",
    "MEAN",
    "SUB",
    "DIV",
    "SQUEEZE",
    "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "STRIDED_SLICE",
    "BIDIRECTIONAL_SEQUENCE_RNN",
    "EXP",
    "TOPK_V2",
    "SPLIT",
    "LOG_SOFTMAX",
    "DELEGATE",
    "BIDIRECTIONAL_SEQUENCE_LSTM",
    "CAST",
    "PRELU",
    "MAXIMUM",
    "ARG_MAX",
    "MINIMUM",
    "LESS",
    "NEG",
    "PADV2",
    "GREATER",
    "GREATER_EQUAL",
    "LESS_EQUAL",
    "SELECT",
    "SLICE",
    "SIN",
    "TRANSPOSE_CONV",
    "SPARSE_TO_DENSE",
    "TILE",
    "EXPAND_DIMS",
    "EQUAL",
    "NOT_EQUAL",
    "LOG",
    "SUM",
    "SQRT",
    "RSQRT",
    "SHAPE",
    "POW",
    "ARG_MIN",
    "FAKE_QUANT",
    "REDUCE_PROD",
    "REDUCE_MAX",
    "PACK",
    "LOGICAL_OR",
    "ONE_HOT",
    "LOGICAL_AND",
    "LOGICAL_NOT",
    "UNPACK",
    "REDUCE_MIN",
    "FLOOR_DIV",
    "REDUCE_ANY",
    "SQUARE",
    "ZEROS_LIKE",
    "FILL",
    "FLOOR_MOD",
    "RANGE",
    "RESIZE_NEAREST_NEIGHBOR",
    "LEAKY_RELU",
    "SQUARED_DIFFERENCE",
    "MIRROR_PAD",
    "ABS",
    "SPLIT_V",
    "UNIQUE",
    "CEIL",
    "REVERSE_V2",
    "ADD_N",
    "GATHER_ND",
    "COS",
    "WHERE",
    "RANK",
    "ELU",
    "REVERSE_SEQUENCE",
    "MATRIX_DIAG",
    "QUANTIZE",
    "MATRIX_SET_DIAG",
    "ROUND",
    "HARD_SWISH",
    "IF",
    "WHILE",
    "NON_MAX_SUPPRESSION_V4",
    "NON_MAX_SUPPRESSION_V5",
    "SCATTER_ND",
    "SELECT_V2",
    "DENSIFY",
    "SEGMENT_SUM",
    "BATCH_MATMUL",
    "PLACEHOLDER_FOR_GREATER_OP_CODES",
    "CUMSUM",
    "CALL_ONCE",
    "BROADCAST_TO",
    "RFFT2D",
    "CONV_3D",
    "IMAG",
    "REAL",
    "COMPLEX_ABS",
    "HASHTABLE",
    "HASHTABLE_FIND",
    "HASHTABLE_IMPORT",
    "HASHTABLE_SIZE",
    "REDUCE_ALL",
    "CONV_3D_TRANSPOSE",
    "VAR_HANDLE",
    "READ_VARIABLE",
    "ASSIGN_VARIABLE",
    "BROADCAST_ARGS",
    "RANDOM_STANDARD_NORMAL",
    "BUCKETIZE",
    "RANDOM_UNIFORM",
    "MULTINOMIAL",
    "GELU",
    "DYNAMIC_UPDATE_SLICE",
    "RELU_0_TO_1",
    "UNSORTED_SEGMENT_PROD",
    "UNSORTED_SEGMENT_MAX",
    "UNSORTED_SEGMENT_SUM",
    "ATAN2",
    "UNSORTED_SEGMENT_MIN",
    "SIGN",
    "BITCAST",
    "BITWISE_XOR",
    "RIGHT_SHIFT",
];

/// The schema name of a builtin operator code (`BUILTIN_<n>` for codes this table does not know).
pub fn builtin_name(code: i32) -> String {
    usize::try_from(code)
        .ok()
        .and_then(|i| BUILTIN_NAMES.get(i))
        .map_or_else(|| format!("BUILTIN_{code}"), |s| (*s).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_names_match_their_codes() {
        // Spot checks against the schema's enum values.
        assert_eq!(builtin_name(builtin::CONV_2D), "CONV_2D");
        assert_eq!(builtin_name(builtin::CUSTOM), "CUSTOM");
        assert_eq!(builtin_name(builtin::PADV2), "PADV2");
        assert_eq!(builtin_name(87), "LOGICAL_NOT");
        assert_eq!(
            builtin_name(builtin::RESIZE_NEAREST_NEIGHBOR),
            "RESIZE_NEAREST_NEIGHBOR"
        );
        assert_eq!(builtin_name(builtin::LEAKY_RELU), "LEAKY_RELU");
        assert_eq!(builtin_name(builtin::QUANTIZE), "QUANTIZE");
        assert_eq!(builtin_name(builtin::HARD_SWISH), "HARD_SWISH");
        assert_eq!(builtin_name(126), "BATCH_MATMUL");
        assert_eq!(builtin_name(161), "RIGHT_SHIFT");
        assert_eq!(builtin_name(162), "BUILTIN_162");
        assert_eq!(builtin_name(-3), "BUILTIN_-3");
    }

    #[test]
    fn tensor_types() {
        assert_eq!(dtype(9), Ok(DType::I8));
        assert_eq!(dtype(0), Ok(DType::F32));
        assert_eq!(dtype(3), Ok(DType::U8));
        assert_eq!(dtype(1), Err("FLOAT16"));
        assert_eq!(dtype(-1), Err("unknown TensorType"));
    }
}
