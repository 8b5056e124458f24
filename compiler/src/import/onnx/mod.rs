//! ONNX importer: `.onnx` protobuf -> kiln IR ([`crate::ir::Graph`]).
//!
//! What is accepted:
//! - Default-domain (`""` / `ai.onnx`) operator sets **11 to 17**; opset 13 is
//!   the reference. Version-dependent semantics handled: `Softmax` before 13
//!   (coerce-to-2-D), `Reshape` `allowzero` (14+). Opset 18 moved attributes to
//!   inputs (`ReduceMean`, `Pad`, `Resize`) and is rejected, as is anything
//!   below 11 (`Clip`/`Pad` attributes). Other declared domains are fine as
//!   long as no node uses them.
//! - Static shapes. A symbolic or unknown **first** dimension of a graph input
//!   is taken as batch 1 (the runtime has no dynamic shapes); any other
//!   symbolic dimension is an error. Every output shape is computed here from
//!   the node semantics; `value_info` is not trusted or needed; declared
//!   graph-output shapes are checked against the computed ones.
//! - Operators: see [`SUPPORTED_OPS`]. Anything else is
//!   [`CompileError::Unsupported`] naming the operator, node and file.
//!
//! Layout (see `ir.rs`): ONNX values keep their NCHW shapes in the IR. Each
//! layout-sensitive operator (Conv, MaxPool, AveragePool, GlobalAveragePool,
//! ReduceMean over H,W, Resize) is wrapped as `Transpose[0,2,3,1]` -> NHWC op
//! -> `Transpose[0,3,1,2]`; the layout pass cancels adjacent pairs.
//!
//! Constant weights are re-laid out here, on the host: conv OIHW -> OHWI,
//! depthwise `[C*M,1,kh,kw]` -> `[1,kh,kw,C*M]`, Gemm/MatMul `[K,N]` -> `[N,K]`.
//! For QDQ models the weight reaches the operator through
//! `DequantizeLinear(int8 constant)`; the importer then permutes the **int8**
//! constant (moving the per-channel quantization axis with it) and emits a fresh
//! `Dequantize` node for the consumer, so weights stay int8 with per-channel
//! `Quant` in the layout the operator expects, and no pass has to fold
//! transposes through dequantization. The original (now unused) DQ node is
//! removed by dead-node elimination at the end of the import. Non-constant
//! weights get an explicit `Transpose` node instead.
//!
//! Q/DQ: `QuantizeLinear` -> [`Op::Quantize`] (half-to-even, output tensor
//! I8/U8 carrying [`Quant`]); `DequantizeLinear` -> [`Op::Dequantize`] with the
//! input tensor carrying [`Quant`]. Scale/zero-point operands must be
//! constants; they are moved into `Quant` and dropped from the node.

mod ops;
pub mod proto;
mod shape;
mod tensor;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use prost::Message;

use crate::error::{CompileError, Result};
use crate::ir::{DType, Graph, Node, Op, Quant, Tensor, TensorId};
use proto::{
    AttributeProto, AttributeType, DimValue, ModelProto, NodeProto, TypeValue, ValueInfoProto,
};
use tensor::TensorIssue;

/// Lowest default-domain opset accepted.
pub const MIN_OPSET: i64 = 11;
/// Highest default-domain opset accepted.
pub const MAX_OPSET: i64 = 17;

/// ONNX operator types the importer converts.
pub const SUPPORTED_OPS: &[&str] = &[
    "Conv",
    "Gemm",
    "MatMul",
    "Relu",
    "Clip",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "HardSigmoid",
    "HardSwish",
    "Mul",
    "Add",
    "Sub",
    "Max",
    "Min",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "ReduceMean",
    "Concat",
    "Pad",
    "Resize",
    "Transpose",
    "Flatten",
    "Reshape",
    "Softmax",
    "QuantizeLinear",
    "DequantizeLinear",
    "Identity",
    "Constant",
];

const FORMAT: &str = "ONNX";

/// Reads and imports the `.onnx` file at `path`.
pub fn load(path: &Path) -> Result<Graph> {
    let bytes = crate::limits::read_file(path)?;
    import(path, &bytes)
}

/// Imports the ONNX model `bytes` (read from `path`, named in every error).
pub fn import(path: &Path, bytes: &[u8]) -> Result<Graph> {
    let malformed = |reason: String| CompileError::Malformed {
        path: path.to_path_buf(),
        format: FORMAT,
        reason,
    };
    if bytes.is_empty() {
        return Err(malformed("the file is empty".into()));
    }
    let model = ModelProto::decode(bytes)
        .map_err(|e| malformed(format!("protobuf decoding failed: {e}")))?;
    let opset = check_opset(path, &model)?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| malformed("ModelProto has no graph (field 7)".into()))?;
    if graph.node.is_empty() && graph.output.is_empty() {
        return Err(malformed("the graph has no nodes and no outputs".into()));
    }
    Importer::new(path, opset).run(graph)
}

/// The default-domain opset version, checked against the accepted range.
fn check_opset(path: &Path, model: &ModelProto) -> Result<i64> {
    let version = model
        .opset_import
        .iter()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .max()
        .ok_or_else(|| CompileError::Malformed {
            path: path.to_path_buf(),
            format: FORMAT,
            reason: "opset_import has no entry for the default domain (\"\" / ai.onnx)".into(),
        })?;
    if !(MIN_OPSET..=MAX_OPSET).contains(&version) {
        return Err(CompileError::Unsupported {
            path: path.to_path_buf(),
            node: "(model)".into(),
            op_type: format!("opset ai.onnx v{version}"),
            reason: format!(
                "kiln imports ai.onnx opsets {MIN_OPSET} to {MAX_OPSET} (13 is the reference); \
                 convert the model, e.g. onnx.version_converter.convert_version(model, 13)"
            ),
        });
    }
    Ok(version)
}

/// Error context of one node (or initializer / graph input): file, name, type.
pub(crate) struct NodeCx<'a> {
    path: &'a Path,
    /// Node name (generated when the model has none).
    pub name: String,
    /// Operator type as the model spells it.
    pub op: String,
    node: Option<&'a NodeProto>,
}

impl<'a> NodeCx<'a> {
    fn for_node(path: &'a Path, node: &'a NodeProto, index: usize) -> Self {
        let name = if node.name.is_empty() {
            format!("{}_{index}", node.op_type)
        } else {
            node.name.clone()
        };
        NodeCx {
            path,
            name,
            op: node.op_type.clone(),
            node: Some(node),
        }
    }

    fn for_value(path: &'a Path, name: &str, what: &str) -> Self {
        NodeCx {
            path,
            name: name.to_string(),
            op: what.to_string(),
            node: None,
        }
    }

    /// An [`CompileError::Unsupported`] for this node.
    pub fn unsupported(&self, reason: impl Into<String>) -> CompileError {
        CompileError::Unsupported {
            path: self.path.to_path_buf(),
            node: self.name.clone(),
            op_type: self.op.clone(),
            reason: reason.into(),
        }
    }

    /// An [`CompileError::Invalid`] for this node.
    pub fn invalid(&self, reason: impl Into<String>) -> CompileError {
        CompileError::Invalid {
            path: self.path.to_path_buf(),
            node: self.name.clone(),
            op_type: self.op.clone(),
            reason: reason.into(),
        }
    }

    /// A [`CompileError::Malformed`] naming this node.
    pub fn malformed(&self, reason: impl std::fmt::Display) -> CompileError {
        CompileError::Malformed {
            path: self.path.to_path_buf(),
            format: FORMAT,
            reason: format!("{} '{}': {reason}", self.op, self.name),
        }
    }

    fn issue(&self, what: &str, issue: TensorIssue) -> CompileError {
        match issue {
            TensorIssue::Malformed(r) => self.malformed(format!("{what}: {r}")),
            TensorIssue::Unsupported(r) => self.unsupported(format!("{what}: {r}")),
        }
    }

    fn proto(&self) -> &'a NodeProto {
        // Only node contexts reach attribute/input accessors (ops.rs).
        self.node
            .expect("NodeCx::proto is only used on node contexts")
    }

    /// Name of input `i`, `None` when absent or empty (optional input left out).
    pub fn input_name(&self, i: usize) -> Option<&'a str> {
        self.proto()
            .input
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Number of inputs as written (including empty ones).
    pub fn num_inputs(&self) -> usize {
        self.proto().input.len()
    }

    /// Name of output `i`, `None` when absent or empty.
    pub fn output_name(&self, i: usize) -> Option<&'a str> {
        self.proto()
            .output
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    fn attr(&self, name: &str) -> Option<&'a AttributeProto> {
        self.proto().attribute.iter().find(|a| a.name == name)
    }

    fn attr_typed(&self, name: &str, want: AttributeType) -> Result<Option<&'a AttributeProto>> {
        match self.attr(name) {
            None => Ok(None),
            Some(a) if a.r#type == want as i32 || a.r#type == AttributeType::Undefined as i32 => {
                Ok(Some(a))
            }
            Some(a) => Err(self.malformed(format!(
                "attribute '{name}' has type {:?}, expected {want:?}",
                AttributeType::try_from(a.r#type)
                    .map_or_else(|_| format!("code {}", a.r#type), |t| format!("{t:?}"))
            ))),
        }
    }

    /// True when the node carries attribute `name`.
    pub fn has_attr(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }

    /// Integer attribute with a default.
    pub fn attr_i(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self
            .attr_typed(name, AttributeType::Int)?
            .map_or(default, |a| a.i))
    }

    /// Float attribute with a default.
    pub fn attr_f(&self, name: &str, default: f32) -> Result<f32> {
        Ok(self
            .attr_typed(name, AttributeType::Float)?
            .map_or(default, |a| a.f))
    }

    /// Integer-list attribute, `None` when absent.
    pub fn attr_ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        Ok(self
            .attr_typed(name, AttributeType::Ints)?
            .map(|a| a.ints.clone()))
    }

    /// Float-list attribute, `None` when absent.
    pub fn attr_floats(&self, name: &str) -> Result<Option<Vec<f32>>> {
        Ok(self
            .attr_typed(name, AttributeType::Floats)?
            .map(|a| a.floats.clone()))
    }

    /// String attribute with a default.
    pub fn attr_s(&self, name: &str, default: &str) -> Result<String> {
        match self.attr_typed(name, AttributeType::String)? {
            None => Ok(default.to_string()),
            Some(a) => String::from_utf8(a.s.clone())
                .map_err(|_| self.malformed(format!("attribute '{name}' is not UTF-8"))),
        }
    }

    /// Tensor attribute, `None` when absent.
    pub fn attr_t(&self, name: &str) -> Result<Option<&'a proto::TensorProto>> {
        match self.attr_typed(name, AttributeType::Tensor)? {
            None => Ok(None),
            Some(a) => {
                a.t.as_ref()
                    .map(Some)
                    .ok_or_else(|| self.malformed(format!("attribute '{name}' has no tensor")))
            }
        }
    }
}

/// Where a weight operand comes from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum WeightSrc {
    /// A constant tensor.
    Const(TensorId),
    /// `Dequantize` of constant `q`.
    Dequant {
        /// The quantized constant.
        q: TensorId,
    },
    /// Computed at run time.
    Dynamic(TensorId),
}

/// Import state: the graph under construction and the ONNX name table.
pub(crate) struct Importer<'p> {
    path: &'p Path,
    /// Default-domain opset version.
    pub opset: i64,
    /// The graph being built.
    pub g: Graph,
    values: HashMap<String, TensorId>,
    producer: HashMap<TensorId, usize>,
    graph_outputs: HashSet<String>,
    /// How many node inputs and graph outputs read each ONNX value.
    uses: HashMap<String, usize>,
}

impl<'p> Importer<'p> {
    fn new(path: &'p Path, opset: i64) -> Self {
        Importer {
            path,
            opset,
            g: Graph {
                source: path.to_path_buf(),
                int_semantics: crate::ir::IntSemantics::OnnxRuntime,
                ..Graph::default()
            },
            values: HashMap::new(),
            producer: HashMap::new(),
            graph_outputs: HashSet::new(),
            uses: HashMap::new(),
        }
    }

    fn run(mut self, graph: &proto::GraphProto) -> Result<Graph> {
        for init in &graph.initializer {
            let cx = NodeCx::for_value(self.path, &init.name, "initializer");
            if init.name.is_empty() {
                return Err(cx.malformed("an initializer has no name"));
            }
            let t = tensor::tensor_from_proto(&init.name, init).map_err(|e| cx.issue("data", e))?;
            let id = self.g.add_tensor(t);
            if self.values.insert(init.name.clone(), id).is_some() {
                return Err(cx.malformed("two initializers have this name"));
            }
        }
        for vi in &graph.input {
            if self.values.contains_key(&vi.name) {
                continue; // IR < 4 lists initializers as inputs too; the initializer wins.
            }
            let id = self.graph_input(vi)?;
            self.g.inputs.push(id);
        }
        self.graph_outputs = graph.output.iter().map(|o| o.name.clone()).collect();
        for name in graph
            .node
            .iter()
            .flat_map(|n| &n.input)
            .chain(graph.output.iter().map(|o| &o.name))
        {
            *self.uses.entry(name.clone()).or_default() += 1;
        }
        for (i, node) in graph.node.iter().enumerate() {
            let cx = NodeCx::for_node(self.path, node, i);
            if !(node.domain.is_empty() || node.domain == "ai.onnx") {
                return Err(cx.unsupported(format!(
                    "operator domain '{}' (kiln imports ai.onnx only)",
                    node.domain
                )));
            }
            ops::convert(&mut self, &cx)?;
        }
        for vo in &graph.output {
            let id = self.graph_output(vo)?;
            self.g.outputs.push(id);
        }
        remove_dead_nodes(&mut self.g);
        self.g.compact();
        Ok(self.g)
    }

    fn graph_input(&mut self, vi: &ValueInfoProto) -> Result<TensorId> {
        let cx = NodeCx::for_value(self.path, &vi.name, "graph input");
        if vi.name.is_empty() {
            return Err(cx.malformed("a graph input has no name"));
        }
        let Some(TypeValue::TensorType(tt)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref())
        else {
            return Err(cx.unsupported("not a tensor (sequence/map inputs are not supported)"));
        };
        let dtype =
            tensor::dtype_from_onnx(tt.elem_type).map_err(|e| cx.issue("element type", e))?;
        let dims = tt
            .shape
            .as_ref()
            .ok_or_else(|| cx.unsupported("no shape; kiln needs static input shapes"))?;
        let mut shape = Vec::with_capacity(dims.dim.len());
        for (axis, d) in dims.dim.iter().enumerate() {
            let v = match &d.value {
                Some(DimValue::DimValue(v)) if *v > 0 => {
                    tensor::dim_from_onnx(*v).map_err(|r| cx.malformed(r))?
                }
                // Dynamic batch: the runtime has static shapes, so batch 1.
                Some(DimValue::DimParam(_)) | None if axis == 0 => 1,
                other => {
                    let what = match other {
                        Some(DimValue::DimParam(p)) => format!("symbolic dimension '{p}'"),
                        Some(DimValue::DimValue(v)) => format!("dimension {v}"),
                        None => "unknown dimension".into(),
                    };
                    return Err(cx.unsupported(format!(
                        "{what} at axis {axis}; kiln needs static shapes (only a dynamic batch axis 0 is taken as 1)"
                    )));
                }
            };
            shape.push(v);
        }
        tensor::checked_numel(&shape).map_err(|r| cx.unsupported(r))?;
        let id = self.g.add_tensor(Tensor {
            name: vi.name.clone(),
            dtype,
            shape,
            quant: None,
            data: None,
        });
        if self.values.insert(vi.name.clone(), id).is_some() {
            return Err(cx.malformed("two graph inputs have this name"));
        }
        Ok(id)
    }

    fn graph_output(&mut self, vo: &ValueInfoProto) -> Result<TensorId> {
        let cx = NodeCx::for_value(self.path, &vo.name, "graph output");
        let id = *self
            .values
            .get(&vo.name)
            .ok_or_else(|| cx.malformed("no node, initializer or input produces it"))?;
        if let Some(TypeValue::TensorType(tt)) = vo.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            let t = self.g.tensor(id);
            if tt.elem_type != 0 {
                let declared = tensor::dtype_from_onnx(tt.elem_type)
                    .map_err(|e| cx.issue("element type", e))?;
                if declared != t.dtype {
                    return Err(cx.invalid(format!("declared {declared}, computed {}", t.dtype)));
                }
            }
            if let Some(s) = &tt.shape {
                let ok = s.dim.len() == t.shape.len()
                    && s.dim.iter().zip(&t.shape).all(|(d, &c)| match d.value {
                        Some(DimValue::DimValue(v)) => v == c as i64,
                        _ => true,
                    });
                if !ok {
                    return Err(cx.invalid(format!(
                        "declared shape {:?} differs from computed {:?}",
                        dims_str(s),
                        t.shape
                    )));
                }
            }
        }
        Ok(id)
    }

    /// The tensor `id`.
    pub fn t(&self, id: TensorId) -> &Tensor {
        self.g.tensor(id)
    }

    /// Shape of `id`.
    pub fn shape(&self, id: TensorId) -> Vec<usize> {
        self.g.tensor(id).shape.clone()
    }

    /// The constant tensor `id`, if it is one.
    pub fn constant(&self, id: TensorId) -> Option<&Tensor> {
        Some(self.g.tensor(id)).filter(|t| t.is_const())
    }

    /// Input `i` of the node, `None` when the optional input is absent.
    pub fn input(&self, cx: &NodeCx, i: usize) -> Result<Option<TensorId>> {
        match cx.input_name(i) {
            None => Ok(None),
            Some(name) => self.values.get(name).copied().map(Some).ok_or_else(|| {
                cx.malformed(format!(
                    "input {i} '{name}' is not produced by an earlier node, an initializer or a graph input"
                ))
            }),
        }
    }

    /// Input `i` of the node, which must be present.
    pub fn req(&self, cx: &NodeCx, i: usize) -> Result<TensorId> {
        self.input(cx, i)?
            .ok_or_else(|| cx.invalid(format!("required input {i} is missing")))
    }

    /// Creates the tensor for ONNX output `i` of the node and binds its name.
    pub fn define(&mut self, cx: &NodeCx, i: usize, mut t: Tensor) -> Result<TensorId> {
        tensor::checked_numel(&t.shape).map_err(|r| cx.unsupported(format!("output {i}: {r}")))?;
        let name = cx
            .output_name(i)
            .ok_or_else(|| cx.malformed(format!("output {i} has no name")))?;
        t.name = name.to_string();
        let id = self.g.add_tensor(t);
        if self.values.insert(name.to_string(), id).is_some() {
            return Err(cx.malformed(format!("value '{name}' is defined twice")));
        }
        Ok(id)
    }

    /// Defines ONNX output `i` as an activation of `dtype` and `shape`.
    pub fn out(
        &mut self,
        cx: &NodeCx,
        i: usize,
        dtype: DType,
        shape: Vec<usize>,
    ) -> Result<TensorId> {
        self.define(
            cx,
            i,
            Tensor {
                name: String::new(),
                dtype,
                shape,
                quant: None,
                data: None,
            },
        )
    }

    /// Binds ONNX output `i` to an existing tensor (Identity).
    pub fn alias(&mut self, cx: &NodeCx, i: usize, id: TensorId) -> Result<()> {
        let name = cx
            .output_name(i)
            .ok_or_else(|| cx.malformed(format!("output {i} has no name")))?;
        if self.values.insert(name.to_string(), id).is_some() {
            return Err(cx.malformed(format!("value '{name}' is defined twice")));
        }
        Ok(())
    }

    /// Number of readers (node inputs, graph outputs) of the ONNX value behind `id`.
    pub fn uses(&self, id: TensorId) -> usize {
        self.uses.get(&self.t(id).name).copied().unwrap_or(0)
    }

    /// True when ONNX output `i` of the node is a graph output.
    pub fn is_graph_output(&self, cx: &NodeCx, i: usize) -> bool {
        cx.output_name(i)
            .is_some_and(|n| self.graph_outputs.contains(n))
    }

    /// A generated (unnamed in ONNX) activation.
    pub fn temp(
        &mut self,
        name: String,
        dtype: DType,
        shape: Vec<usize>,
        quant: Option<Quant>,
    ) -> TensorId {
        self.g.add_tensor(Tensor {
            name,
            dtype,
            shape,
            quant,
            data: None,
        })
    }

    /// A generated constant.
    pub fn new_const(&mut self, t: Tensor) -> TensorId {
        self.g.add_tensor(t)
    }

    /// Appends a node named `name` (source op = the ONNX node's type).
    pub fn push(
        &mut self,
        cx: &NodeCx,
        name: String,
        op: Op,
        inputs: Vec<Option<TensorId>>,
        outputs: Vec<TensorId>,
    ) {
        let idx = self.g.nodes.len();
        for &o in &outputs {
            self.producer.insert(o, idx);
        }
        self.g.nodes.push(Node {
            name,
            source_op: cx.op.clone(),
            op,
            inputs,
            outputs,
        });
    }

    /// Emits `Transpose(x, perm)` into a generated tensor and returns it.
    pub fn transpose(&mut self, cx: &NodeCx, x: TensorId, perm: &[usize], tag: &str) -> TensorId {
        let t = self.t(x);
        let shape = perm.iter().map(|&p| t.shape[p]).collect();
        let quant = t.quant.as_ref().map(|q| tensor::permute_quant(q, perm));
        let name = format!("{}#{tag}", t.name);
        let dtype = t.dtype;
        let out = self.temp(name, dtype, shape, quant);
        self.push(
            cx,
            format!("{}#{tag}", cx.name),
            Op::Transpose {
                perm: perm.to_vec(),
            },
            vec![Some(x)],
            vec![out],
        );
        out
    }

    /// Classifies a weight operand (constant, dequantized constant, or dynamic).
    pub fn weight_src(&self, id: TensorId) -> WeightSrc {
        if self.t(id).is_const() {
            return WeightSrc::Const(id);
        }
        if let Some(&n) = self.producer.get(&id) {
            let node = &self.g.nodes[n];
            if node.op == Op::Dequantize {
                if let Some(q) = node.input(0).filter(|&q| self.t(q).is_const()) {
                    return WeightSrc::Dequant { q };
                }
            }
        }
        WeightSrc::Dynamic(id)
    }

    /// The weight `w` transposed by `perm` and then given `shape` (same element
    /// order), done on the constant data where possible (see module docs).
    pub fn relayout_weight(
        &mut self,
        cx: &NodeCx,
        w: TensorId,
        perm: &[usize],
        shape: Option<Vec<usize>>,
        tag: &str,
    ) -> Result<TensorId> {
        let remake = |im: &Self, c: TensorId| -> Result<Tensor> {
            let src = im.t(c);
            let mut t = tensor::permute_const(src, perm, format!("{}#{tag}", src.name));
            if let Some(s) = &shape {
                t.quant = match t.quant.take() {
                    Some(q) => Some(reshape_quant(&q, &t.shape, s).ok_or_else(|| {
                        cx.unsupported(format!(
                            "per-channel quantization of '{}' cannot follow a reshape to {s:?}",
                            src.name
                        ))
                    })?),
                    None => None,
                };
                t.shape = s.clone();
            }
            Ok(t)
        };
        match self.weight_src(w) {
            WeightSrc::Const(c) => {
                let t = remake(self, c)?;
                Ok(self.new_const(t))
            }
            WeightSrc::Dequant { q } => {
                let t = remake(self, q)?;
                let out_shape = t.shape.clone();
                let name = format!("{}#{tag}", self.t(w).name);
                let q2 = self.new_const(t);
                let out = self.temp(name, DType::F32, out_shape, None);
                self.push(
                    cx,
                    format!("{}#{tag}_dq", cx.name),
                    Op::Dequantize,
                    vec![Some(q2)],
                    vec![out],
                );
                Ok(out)
            }
            WeightSrc::Dynamic(d) => {
                let identity = perm.iter().enumerate().all(|(i, &p)| i == p);
                let mut x = if identity {
                    d
                } else {
                    self.transpose(cx, d, perm, tag)
                };
                if let Some(s) = shape {
                    let t = self.t(x);
                    let (dtype, quant) = (t.dtype, t.quant.clone().filter(Quant::is_per_tensor));
                    let y = self.temp(format!("{}#{tag}_r", t.name), dtype, s, quant);
                    self.push(
                        cx,
                        format!("{}#{tag}_reshape", cx.name),
                        Op::Reshape,
                        vec![Some(x)],
                        vec![y],
                    );
                    x = y;
                }
                Ok(x)
            }
        }
    }

    /// `w * factor` for a float weight: folded into constant data or into the
    /// quantization scales of a dequantized constant, else a `Mul` node.
    pub fn scale_weight(
        &mut self,
        cx: &NodeCx,
        w: TensorId,
        factor: f32,
        tag: &str,
    ) -> Result<TensorId> {
        match self.weight_src(w) {
            WeightSrc::Const(c) => {
                let src = self.t(c);
                let vals = tensor::const_f32s(src).ok_or_else(|| {
                    cx.unsupported(format!("'{}' is {}, expected f32", src.name, src.dtype))
                })?;
                let scaled: Vec<f32> = vals.iter().map(|v| v * factor).collect();
                let t = Tensor {
                    name: format!("{}#{tag}", src.name),
                    data: Some(tensor::f32_bytes(&scaled)),
                    ..src.clone()
                };
                Ok(self.new_const(t))
            }
            WeightSrc::Dequant { q } => {
                let src = self.t(q);
                let mut t = Tensor {
                    name: format!("{}#{tag}", src.name),
                    ..src.clone()
                };
                if let Some(qp) = &mut t.quant {
                    qp.scale.iter_mut().for_each(|s| *s *= factor);
                }
                let shape = t.shape.clone();
                let name = format!("{}#{tag}", self.t(w).name);
                let q2 = self.new_const(t);
                let out = self.temp(name, DType::F32, shape, None);
                self.push(
                    cx,
                    format!("{}#{tag}_dq", cx.name),
                    Op::Dequantize,
                    vec![Some(q2)],
                    vec![out],
                );
                Ok(out)
            }
            WeightSrc::Dynamic(d) => {
                let k = self.scalar_f32(format!("{}#{tag}_factor", cx.name), factor);
                let shape = self.shape(d);
                let y = self.temp(format!("{}#{tag}", self.t(d).name), DType::F32, shape, None);
                self.push(
                    cx,
                    format!("{}#{tag}", cx.name),
                    Op::Mul {
                        act: Default::default(),
                    },
                    vec![Some(d), Some(k)],
                    vec![y],
                );
                Ok(y)
            }
        }
    }

    /// A scalar f32 constant.
    pub fn scalar_f32(&mut self, name: String, v: f32) -> TensorId {
        self.new_const(Tensor {
            name,
            dtype: DType::F32,
            shape: vec![],
            quant: None,
            data: Some(v.to_le_bytes().to_vec()),
        })
    }
}

/// Per-channel quantization after a reshape that keeps the element order:
/// the channel axis moves to the new axis with the same size and the same
/// number of elements before it. `None` when no such axis exists.
fn reshape_quant(q: &Quant, old: &[usize], new: &[usize]) -> Option<Quant> {
    if q.is_per_tensor() {
        return Some(Quant {
            axis: 0,
            ..q.clone()
        });
    }
    let before: usize = old.get(..q.axis)?.iter().product();
    let size = *old.get(q.axis)?;
    let axis =
        (0..new.len()).find(|&k| new[k] == size && new[..k].iter().product::<usize>() == before)?;
    Some(Quant { axis, ..q.clone() })
}

/// Removes nodes none of whose outputs reach a graph output.
fn remove_dead_nodes(g: &mut Graph) {
    let mut live: HashSet<TensorId> = g.outputs.iter().copied().collect();
    let mut keep = vec![false; g.nodes.len()];
    for (i, n) in g.nodes.iter().enumerate().rev() {
        if n.outputs.iter().any(|o| live.contains(o)) {
            keep[i] = true;
            live.extend(n.inputs.iter().flatten().copied());
        }
    }
    let mut it = keep.into_iter();
    g.nodes.retain(|_| it.next().unwrap_or(false));
}

fn dims_str(s: &proto::TensorShapeProto) -> Vec<String> {
    s.dim
        .iter()
        .map(|d| match &d.value {
            Some(DimValue::DimValue(v)) => v.to_string(),
            Some(DimValue::DimParam(p)) => p.clone(),
            None => "?".into(),
        })
        .collect()
}

#[cfg(test)]
mod tests;
