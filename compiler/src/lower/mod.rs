//! Lowering: IR nodes to `.pte` kernel calls.
//!
//! Each IR node becomes one or more [`Call`]s: an operator from the runtime's
//! table ([`kiln_rt::ops::OpKind`]) and its arguments in the layout documented
//! on that operator. The int8 and f32 rules live in [`int8`] and [`f32`]; the
//! program assembler turns `Call`s into EValues, constant tensors and planned
//! activations.

use crate::ir::{DType, TensorId};
use kiln_rt::ops::OpKind;

pub mod assemble;
pub mod f32;
pub mod int8;

/// A constant tensor created by lowering (requantization multipliers, transposed weights, lookup tables).
#[derive(Clone, Debug, PartialEq)]
pub struct ConstTensor {
    /// Element type.
    pub dtype: DType,
    /// Shape (logical sizes as written to the `.pte`).
    pub shape: Vec<usize>,
    /// Little-endian bytes.
    pub data: Vec<u8>,
}

impl ConstTensor {
    /// An INT32 vector.
    pub fn i32s(values: &[i32]) -> Self {
        ConstTensor {
            dtype: DType::I32,
            shape: vec![values.len()],
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
    /// An int8 tensor of the given shape.
    pub fn i8s(shape: Vec<usize>, values: &[i8]) -> Self {
        ConstTensor {
            dtype: DType::I8,
            shape,
            data: values.iter().map(|v| *v as u8).collect(),
        }
    }
    /// An f32 tensor of the given shape.
    pub fn f32s(shape: Vec<usize>, values: &[f32]) -> Self {
        ConstTensor {
            dtype: DType::F32,
            shape,
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

/// One argument of a kernel call, before it becomes an EValue.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// A graph tensor (activation, graph input/output, or IR constant) with its IR shape as sizes and
    /// the identity dim_order.
    Tensor(TensorId),
    /// A graph tensor described with other logical sizes and a dim_order (e.g. an NHWC activation seen by
    /// `aten::convolution` as sizes `[N, C, H, W]` with dim_order `[0, 2, 3, 1]`). Same memory.
    View {
        /// The tensor.
        id: TensorId,
        /// Logical sizes.
        sizes: Vec<usize>,
        /// Memory order of the logical dims (outermost first).
        dim_order: Vec<u8>,
    },
    /// A constant made by lowering.
    Const(ConstTensor),
    /// A list of graph tensors (`TensorList`).
    TensorList(Vec<TensorId>),
    /// `Int` scalar.
    Int(i64),
    /// `Double` scalar.
    Double(f64),
    /// `Bool` scalar.
    Bool(bool),
    /// `IntList`.
    IntList(Vec<i64>),
    /// `Null` (absent optional).
    Null,
}

/// A kernel call: operator plus arguments, in the operator's documented layout
/// (including the trailing `out, out`).
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The operator.
    pub op: OpKind,
    /// Its arguments.
    pub args: Vec<Arg>,
}

use crate::error::CompileError;
use crate::ir::{Graph, Node, Op, Rounding};

/// How a node runs after lowering (for the compile report).
#[derive(Clone, Debug, PartialEq)]
pub enum Placement {
    /// No instruction: the output aliases the input's memory (reshape).
    Alias,
    /// Kernel calls on the CPU.
    Cpu(Vec<Call>),
}

/// Lowers one node: aliases for reshapes, quantize/dequantize at dtype boundaries here,
/// everything else by the int8 or f32 rules according to the node's output type.
pub fn lower_node(g: &Graph, node: &Node) -> Result<Placement, CompileError> {
    let out = node.outputs.first().map(|&t| g.tensor(t));
    let input = node.input(0).map(|t| g.tensor(t));
    let invalid = |reason: String| CompileError::invalid(g, node, reason);
    let (Some(out), Some(input)) = (out, input) else {
        return Err(invalid("operator needs an input and an output".into()));
    };
    match (&node.op, input.dtype, out.dtype) {
        (Op::Reshape, a, b) if a == b && input.nbytes() == out.nbytes() => Ok(Placement::Alias),
        (Op::Quantize { rounding }, DType::F32, DType::I8) => {
            let q = out
                .quant
                .as_ref()
                .filter(|q| q.is_per_tensor())
                .ok_or_else(|| invalid("quantize output needs per-tensor quantization".into()))?;
            let mode = match rounding {
                Rounding::HalfToEven => 0,
                Rounding::HalfAwayFromZero => 1,
            };
            Ok(Placement::Cpu(vec![Call {
                op: OpKind::KilnQuantize,
                args: vec![
                    Arg::Tensor(node.inputs[0].expect("checked above")),
                    Arg::Double(q.scale[0] as f64),
                    Arg::Int(q.zero_point[0] as i64),
                    Arg::Int(-128),
                    Arg::Int(127),
                    Arg::Int(mode),
                    Arg::Tensor(node.outputs[0]),
                    Arg::Tensor(node.outputs[0]),
                ],
            }]))
        }
        (Op::Dequantize, DType::I8, DType::F32) => {
            let q = input
                .quant
                .as_ref()
                .filter(|q| q.is_per_tensor())
                .ok_or_else(|| invalid("dequantize input needs per-tensor quantization".into()))?;
            Ok(Placement::Cpu(vec![Call {
                op: OpKind::QdDequantizePerTensor,
                args: vec![
                    Arg::Tensor(node.inputs[0].expect("checked above")),
                    Arg::Double(q.scale[0] as f64),
                    Arg::Int(q.zero_point[0] as i64),
                    Arg::Int(-128),
                    Arg::Int(127),
                    Arg::Int(SCALAR_TYPE_CHAR),
                    Arg::Null,
                    Arg::Tensor(node.outputs[0]),
                    Arg::Tensor(node.outputs[0]),
                ],
            }]))
        }
        (_, _, DType::I8) => int8::lower(g, node).map(Placement::Cpu),
        (_, _, DType::F32) => f32::lower(g, node).map(Placement::Cpu),
        (op, a, b) => Err(CompileError::unsupported(
            g,
            node,
            format!("{} from {a} to {b} has no kernel", op.name()),
        )),
    }
}

/// ExecuTorch's `ScalarType::Char` (int8), as the `dtype` argument of quantize/dequantize.
const SCALAR_TYPE_CHAR: i64 = 1;
