//! The typed graph every importer produces and every pass rewrites.
//!
//! Conventions (one set for all front ends, so passes and lowering have one
//! meaning to deal with):
//! - Activations of rank 4 are **NHWC** for every layout-sensitive operator
//!   (convolution, pooling, resize, depthwise). The ONNX importer wraps NCHW
//!   operators in explicit [`Op::Transpose`] nodes; the layout pass removes the
//!   pairs that cancel.
//! - Convolution weights are `OHWI` (`[out_ch, kh, kw, in_ch / groups]`),
//!   depthwise weights are `[1, kh, kw, in_ch * multiplier]` (TFLite layout),
//!   fully-connected weights are `[out_features, in_features]`.
//! - Padding is always explicit (`[top, left, bottom, right]`): importers resolve
//!   SAME/VALID/auto_pad against the static input shape.
//! - Constant data is stored little-endian in [`Tensor::data`].
//! - Quantization follows the TFLite spec: `real = scale * (q - zero_point)`.

use std::fmt;

/// Index of a tensor in [`Graph::tensors`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(pub usize);

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE 754 single precision.
    F32,
    /// Signed 8-bit integer (quantized activations and weights).
    I8,
    /// Unsigned 8-bit integer.
    U8,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer (biases, shapes).
    I32,
    /// Signed 64-bit integer (ONNX shapes and indices).
    I64,
    /// Boolean, one byte per element.
    Bool,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::I16 => 2,
            DType::I64 => 8,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            DType::F32 => "f32",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::Bool => "bool",
        };
        f.write_str(s)
    }
}

/// Affine quantization parameters (TFLite convention).
///
/// Per-tensor when `scale.len() == 1`; per-channel along `axis` otherwise.
#[derive(Clone, Debug, PartialEq)]
pub struct Quant {
    /// Scale per channel (or one).
    pub scale: Vec<f32>,
    /// Zero point per channel (or one).
    pub zero_point: Vec<i32>,
    /// Channel axis for per-channel parameters.
    pub axis: usize,
}

impl Quant {
    /// Per-tensor parameters.
    pub fn per_tensor(scale: f32, zero_point: i32) -> Self {
        Quant {
            scale: vec![scale],
            zero_point: vec![zero_point],
            axis: 0,
        }
    }
    /// True when there is one scale for the whole tensor.
    pub fn is_per_tensor(&self) -> bool {
        self.scale.len() == 1
    }
}

/// A value in the graph: activation, graph input/output, or constant.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Name from the source model (for reports and errors).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Static shape.
    pub shape: Vec<usize>,
    /// Quantization, for quantized integer tensors.
    pub quant: Option<Quant>,
    /// Constant data, little-endian, `shape.product() * dtype.size()` bytes.
    pub data: Option<Vec<u8>>,
}

impl Tensor {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    /// Size in bytes.
    pub fn nbytes(&self) -> usize {
        self.numel() * self.dtype.size()
    }
    /// True when the tensor holds constant data.
    pub fn is_const(&self) -> bool {
        self.data.is_some()
    }
}

/// Activation fused into an operator's output.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Act {
    /// No activation.
    #[default]
    None,
    /// max(x, 0).
    Relu,
    /// clamp(x, 0, 6).
    Relu6,
    /// clamp(x, -1, 1).
    ReluN1To1,
    /// clamp(x, min, max) in real (dequantized) units.
    Clamp {
        /// Lower bound (may be -inf).
        min: f32,
        /// Upper bound (may be +inf).
        max: f32,
    },
}

impl Act {
    /// The real-valued range the activation clamps to.
    pub fn range(self) -> (f32, f32) {
        match self {
            Act::None => (f32::NEG_INFINITY, f32::INFINITY),
            Act::Relu => (0.0, f32::INFINITY),
            Act::Relu6 => (0.0, 6.0),
            Act::ReluN1To1 => (-1.0, 1.0),
            Act::Clamp { min, max } => (min, max),
        }
    }
}

/// How float -> int quantization rounds `x / scale` (the front ends differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    /// Round half to even (ONNX QuantizeLinear).
    HalfToEven,
    /// Round half away from zero (TFLite QUANTIZE, `std::round`).
    HalfAwayFromZero,
}

/// Two-dimensional window geometry shared by convolutions and pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Stride `[h, w]`.
    pub stride: [usize; 2],
    /// Dilation `[h, w]` (1 for pools).
    pub dilation: [usize; 2],
    /// Explicit padding `[top, left, bottom, right]`.
    pub pads: [usize; 4],
}

/// Operator semantics. Every variant is NHWC where layout matters.
///
/// Inputs and outputs are listed per variant as `in: [..] -> out: [..]`; the
/// attribute fields are named after what they hold and described on the variant.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum Op {
    /// in: [x NHWC, w OHWI, bias? [O]] -> [y NHWC]. `groups` = 1 for a dense conv.
    Conv2d {
        win: Window,
        groups: usize,
        act: Act,
    },
    /// in: [x NHWC, w [1,kh,kw,C*M], bias? [C*M]] -> [y NHWC].
    DepthwiseConv2d {
        win: Window,
        depth_multiplier: usize,
        act: Act,
    },
    /// in: [x [.., K], w [N, K], bias? [N]] -> [y [batch, N]] (`keep_dims` false, as TFLite).
    FullyConnected { act: Act },
    /// in: [a, b] -> [a @ b], general float matrix product (last two dims; b may be constant).
    MatMul,
    /// Elementwise with NumPy broadcasting; in: [a, b] -> [y].
    Add { act: Act },
    /// Elementwise a - b with broadcasting.
    Sub { act: Act },
    /// Elementwise a * b with broadcasting.
    Mul { act: Act },
    /// Elementwise max(a, b) with broadcasting.
    Maximum,
    /// Elementwise min(a, b) with broadcasting.
    Minimum,
    /// NHWC average pool; padded cells are excluded from the divisor unless `count_include_pad`.
    AvgPool2d {
        kernel: [usize; 2],
        win: Window,
        count_include_pad: bool,
        act: Act,
    },
    /// NHWC max pool; padded cells never win.
    MaxPool2d {
        kernel: [usize; 2],
        win: Window,
        act: Act,
    },
    /// Mean over `axes` (sorted, non-negative).
    Mean { axes: Vec<usize>, keep_dims: bool },
    /// Softmax over the last axis: `exp(beta * x) / sum`.
    Softmax { beta: f32 },
    /// 1 / (1 + exp(-x)).
    Logistic,
    /// tanh(x).
    Tanh,
    /// x * relu6(x + 3) / 6.
    HardSwish,
    /// max(0, min(1, alpha * x + beta)).
    HardSigmoid { alpha: f32, beta: f32 },
    /// x if x >= 0 else alpha * x.
    LeakyRelu { alpha: f32 },
    /// max(x, 0).
    Relu,
    /// clamp(x, 0, 6).
    Relu6,
    /// clamp(x, -1, 1).
    ReluN1To1,
    /// clamp(x, min, max).
    Clip { min: f32, max: f32 },
    /// Same data, new shape (the output tensor's shape). in: [x] (a shape operand, if any, is dropped by the importer).
    Reshape,
    /// Concatenate along `axis`.
    Concat { axis: usize },
    /// Pad with a constant: `pads[d] = (before, after)`; value in real units (int8: the zero point).
    Pad {
        pads: Vec<(usize, usize)>,
        value: f32,
    },
    /// out.shape[i] = in.shape[perm[i]].
    Transpose { perm: Vec<usize> },
    /// NHWC nearest-neighbour resize to the output's H and W.
    ResizeNearest {
        align_corners: bool,
        half_pixel_centers: bool,
    },
    /// float -> int (output tensor carries the quantization) or int -> int requantize.
    Quantize { rounding: Rounding },
    /// int -> float (input tensor carries the quantization).
    Dequantize,
}

impl Op {
    /// Short name used in reports and error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv2d { .. } => "Conv2d",
            Op::DepthwiseConv2d { .. } => "DepthwiseConv2d",
            Op::FullyConnected { .. } => "FullyConnected",
            Op::MatMul => "MatMul",
            Op::Add { .. } => "Add",
            Op::Sub { .. } => "Sub",
            Op::Mul { .. } => "Mul",
            Op::Maximum => "Maximum",
            Op::Minimum => "Minimum",
            Op::AvgPool2d { .. } => "AvgPool2d",
            Op::MaxPool2d { .. } => "MaxPool2d",
            Op::Mean { .. } => "Mean",
            Op::Softmax { .. } => "Softmax",
            Op::Logistic => "Logistic",
            Op::Tanh => "Tanh",
            Op::HardSwish => "HardSwish",
            Op::HardSigmoid { .. } => "HardSigmoid",
            Op::LeakyRelu { .. } => "LeakyRelu",
            Op::Relu => "Relu",
            Op::Relu6 => "Relu6",
            Op::ReluN1To1 => "ReluN1To1",
            Op::Clip { .. } => "Clip",
            Op::Reshape => "Reshape",
            Op::Concat { .. } => "Concat",
            Op::Pad { .. } => "Pad",
            Op::Transpose { .. } => "Transpose",
            Op::ResizeNearest { .. } => "ResizeNearest",
            Op::Quantize { .. } => "Quantize",
            Op::Dequantize => "Dequantize",
        }
    }
}

/// One operator application.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Node name from the source model (or a generated one); used in errors.
    pub name: String,
    /// Operator type as the source model spells it (e.g. `Conv`, `CONV_2D`), for errors and reports.
    pub source_op: String,
    /// Semantics.
    pub op: Op,
    /// Operand tensors, in the order documented on [`Op`]. `None` = absent optional operand.
    pub inputs: Vec<Option<TensorId>>,
    /// Result tensors.
    pub outputs: Vec<TensorId>,
}

impl Node {
    /// The `i`-th operand, if present.
    pub fn input(&self, i: usize) -> Option<TensorId> {
        self.inputs.get(i).copied().flatten()
    }
}

/// Which reference defines the integer arithmetic of quantized operators.
///
/// The oracles differ where the formats' reference runtimes differ: int8 TFLite
/// models follow TensorFlow Lite Micro's reference kernels (what the Ethos-U
/// matches); ONNX QDQ models follow ONNX Runtime's fused integer kernels (conv, GEMM,
/// add, average pools, concat and softmax lower to `kiln::qlinear_*` operators).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IntSemantics {
    /// TFLite Micro reference kernels.
    #[default]
    TfliteMicro,
    /// ONNX Runtime's QDQ-fused integer kernels (e.g. `QLinearSoftmax`).
    OnnxRuntime,
}

/// A whole model: tensors, nodes in a valid execution order, and graph I/O.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    /// The model file this graph came from (named in every error).
    pub source: std::path::PathBuf,
    /// Whose integer arithmetic quantized operators reproduce.
    pub int_semantics: IntSemantics,
    /// All tensors; indexed by [`TensorId`].
    pub tensors: Vec<Tensor>,
    /// Nodes in topological (execution) order.
    pub nodes: Vec<Node>,
    /// Graph inputs, in model order.
    pub inputs: Vec<TensorId>,
    /// Graph outputs, in model order.
    pub outputs: Vec<TensorId>,
}

impl Graph {
    /// Adds a tensor and returns its id.
    pub fn add_tensor(&mut self, t: Tensor) -> TensorId {
        self.tensors.push(t);
        TensorId(self.tensors.len() - 1)
    }
    /// The tensor with id `id`.
    pub fn tensor(&self, id: TensorId) -> &Tensor {
        &self.tensors[id.0]
    }
    /// Mutable access to tensor `id`.
    pub fn tensor_mut(&mut self, id: TensorId) -> &mut Tensor {
        &mut self.tensors[id.0]
    }
    /// Nodes that read `id`, as indices into `nodes`.
    pub fn consumers(&self, id: TensorId) -> Vec<usize> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.inputs.contains(&Some(id)))
            .map(|(i, _)| i)
            .collect()
    }
    /// The node that writes `id`, if any.
    pub fn producer(&self, id: TensorId) -> Option<usize> {
        self.nodes.iter().position(|n| n.outputs.contains(&id))
    }
    /// Who reads and writes every tensor, in one pass over the nodes (see [`Uses`]).
    pub fn uses(&self) -> Uses {
        Uses::new(self)
    }
    /// Removes tensors that no node, input or output references, renumbering ids.
    pub fn compact(&mut self) {
        let mut used = vec![false; self.tensors.len()];
        for n in &self.nodes {
            for t in n.inputs.iter().flatten().chain(n.outputs.iter()) {
                used[t.0] = true;
            }
        }
        for t in self.inputs.iter().chain(self.outputs.iter()) {
            used[t.0] = true;
        }
        let mut remap = vec![usize::MAX; self.tensors.len()];
        let mut kept = Vec::new();
        for (i, t) in std::mem::take(&mut self.tensors).into_iter().enumerate() {
            if used[i] {
                remap[i] = kept.len();
                kept.push(t);
            }
        }
        self.tensors = kept;
        let m = |t: &mut TensorId| t.0 = remap[t.0];
        for n in &mut self.nodes {
            n.inputs.iter_mut().flatten().for_each(m);
            n.outputs.iter_mut().for_each(m);
        }
        self.inputs.iter_mut().for_each(m);
        self.outputs.iter_mut().for_each(m);
    }
}

/// The readers and writer of every tensor of a graph, computed once: [`Graph::consumers`] and
/// [`Graph::producer`] scan all nodes, which a pass asking for every node would make quadratic.
/// It describes the graph as it was when built; a pass rebuilds it after changing the graph.
#[derive(Clone, Debug, Default)]
pub struct Uses {
    /// The first node writing each tensor (`usize::MAX`: none).
    producer: Vec<usize>,
    /// Nodes reading tensor `t`: `readers[start[t]..start[t + 1]]`, ascending, each once (one
    /// flat list rather than a list per tensor: passes rebuild this after every rewrite).
    start: Vec<usize>,
    readers: Vec<usize>,
}

impl Uses {
    /// The index of `g`.
    pub fn new(g: &Graph) -> Self {
        let n = g.tensors.len();
        let mut producer = vec![usize::MAX; n];
        // Each node once per tensor it reads, even if it reads it twice.
        let reads = |node: &Node, f: &mut dyn FnMut(usize)| {
            for (k, t) in node.inputs.iter().enumerate() {
                if let Some(t) = t {
                    if t.0 < n && !node.inputs[..k].contains(&Some(*t)) {
                        f(t.0);
                    }
                }
            }
        };
        let mut start = vec![0usize; n + 1];
        for node in &g.nodes {
            reads(node, &mut |t| start[t + 1] += 1);
        }
        for t in 0..n {
            start[t + 1] += start[t];
        }
        let mut fill = start.clone();
        let mut readers = vec![0usize; start[n]];
        for (i, node) in g.nodes.iter().enumerate() {
            reads(node, &mut |t| {
                readers[fill[t]] = i;
                fill[t] += 1;
            });
            for t in &node.outputs {
                if let Some(p) = producer.get_mut(t.0) {
                    if *p == usize::MAX {
                        *p = i;
                    }
                }
            }
        }
        Uses {
            producer,
            start,
            readers,
        }
    }
    /// As [`Graph::consumers`].
    pub fn consumers(&self, id: TensorId) -> &[usize] {
        match (self.start.get(id.0), self.start.get(id.0 + 1)) {
            (Some(&a), Some(&b)) => &self.readers[a..b],
            _ => &[],
        }
    }
    /// As [`Graph::producer`].
    pub fn producer(&self, id: TensorId) -> Option<usize> {
        self.producer
            .get(id.0)
            .copied()
            .filter(|&p| p != usize::MAX)
    }
    /// Records that node `node` now writes `id` (for a pass that rewires a producer in place).
    pub fn set_producer(&mut self, id: TensorId, node: usize) {
        if let Some(p) = self.producer.get_mut(id.0) {
            *p = node;
        }
    }
}
