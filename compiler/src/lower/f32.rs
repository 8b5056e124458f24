//! Lowering rules for f32 nodes: ExecuTorch portable `aten::*.out` operators.
//!
//! Layout: the IR is NHWC with OHWI weights; `aten::convolution` and the pools
//! see logical NCHW sizes, so activations are passed as [`Arg::View`]s with
//! dim_order `[0, 2, 3, 1]` (channels-last, same memory). Weights need no
//! re-layout either: OHWI is `[O, I, kh, kw]` with dim_order `[0, 2, 3, 1]`,
//! the depthwise `[1, kh, kw, C*M]` is `[C*M, 1, kh, kw]` with dim_order
//! `[1, 2, 3, 0]` (channel innermost: the runtime's vectorized depthwise path),
//! and a fully-connected weight `[N, K]` is `addmm`'s `mat2 [K, N]` with
//! dim_order `[1, 0]`.
//!
//! Padding: symmetric pads are aten's two-element `[p_h, p_w]`; asymmetric pads
//! (TFLite SAME) use kiln's four-element `[top, left, bottom, right]`, which
//! kiln-rt's kernels accept (ExecuTorch's do not).
//!
//! Fused activations become a second call (`aten::relu` / `aten::clamp`) that
//! reads and writes the node's output tensor in place.
//!
//! `max_pool2d_with_indices` gets `Null` for the indices output (kiln-rt then
//! computes no indices) and a one-tensor return list, so no LONG tensor is planned.

use super::{Arg, Call};
use crate::error::CompileError;
use crate::ir::{Act, DType, Graph, Node, Op, TensorId, Window};
use kiln_rt::ops::OpKind;

/// Channels-last dim_order of an NCHW logical view.
const CHANNELS_LAST: [u8; 4] = [0, 2, 3, 1];

/// Context for error messages about one node.
struct Ctx<'a> {
    g: &'a Graph,
    node: &'a Node,
}

impl Ctx<'_> {
    fn invalid(&self, reason: impl Into<String>) -> CompileError {
        CompileError::invalid(self.g, self.node, reason)
    }

    fn unsupported(&self, reason: impl Into<String>) -> CompileError {
        CompileError::unsupported(self.g, self.node, reason)
    }

    /// Required operand `i`.
    fn input(&self, i: usize) -> Result<TensorId, CompileError> {
        self.node
            .input(i)
            .ok_or_else(|| self.invalid(format!("missing operand {i}")))
    }

    /// The single output.
    fn output(&self) -> Result<TensorId, CompileError> {
        match self.node.outputs.as_slice() {
            [y] => Ok(*y),
            o => Err(self.invalid(format!("expected one output, found {}", o.len()))),
        }
    }

    fn shape(&self, t: TensorId) -> &[usize] {
        &self.g.tensor(t).shape
    }

    /// Checks a tensor is f32 of the given rank (`None` = any rank).
    fn f32_of_rank(
        &self,
        what: &str,
        t: TensorId,
        rank: Option<usize>,
    ) -> Result<(), CompileError> {
        let tensor = self.g.tensor(t);
        if tensor.dtype != DType::F32 {
            return Err(self.unsupported(format!(
                "{what} '{}' is {}, expected f32",
                tensor.name, tensor.dtype
            )));
        }
        if let Some(r) = rank {
            if tensor.shape.len() != r {
                return Err(self.invalid(format!(
                    "{what} '{}' has shape {:?}, expected rank {r}",
                    tensor.name, tensor.shape
                )));
            }
        }
        Ok(())
    }

    /// An NHWC tensor seen as NCHW sizes with channels-last dim_order.
    fn nchw_view(&self, t: TensorId) -> Arg {
        let s = self.shape(t);
        Arg::View {
            id: t,
            sizes: vec![s[0], s[3], s[1], s[2]],
            dim_order: CHANNELS_LAST.to_vec(),
        }
    }
}

fn ints(v: &[usize]) -> Arg {
    Arg::IntList(v.iter().map(|&x| x as i64).collect())
}

/// aten padding for explicit `[top, left, bottom, right]` pads.
fn padding(pads: [usize; 4]) -> Arg {
    let [t, l, b, r] = pads;
    if t == b && l == r {
        ints(&[t, l])
    } else {
        ints(&[t, l, b, r])
    }
}

/// The in-place activation call(s) that follow an operator with a fused activation.
fn activation(act: Act, y: TensorId) -> Option<Call> {
    let bound = |v: f32| {
        if v.is_finite() {
            Arg::Double(v as f64)
        } else {
            Arg::Null
        }
    };
    match act {
        Act::None => None,
        Act::Relu => Some(Call {
            op: OpKind::AtenRelu,
            args: vec![Arg::Tensor(y), Arg::Tensor(y), Arg::Tensor(y)],
        }),
        a => {
            let (lo, hi) = a.range();
            Some(Call {
                op: OpKind::AtenClamp,
                args: vec![
                    Arg::Tensor(y),
                    bound(lo),
                    bound(hi),
                    Arg::Tensor(y),
                    Arg::Tensor(y),
                ],
            })
        }
    }
}

fn with_act(main: Call, act: Act, y: TensorId) -> Vec<Call> {
    let mut v = vec![main];
    v.extend(activation(act, y));
    v
}

/// `[x, out, out]` unary call.
fn unary(op: OpKind, x: TensorId, y: TensorId) -> Call {
    Call {
        op,
        args: vec![Arg::Tensor(x), Arg::Tensor(y), Arg::Tensor(y)],
    }
}

/// Lowers an f32 node to portable aten (or kiln) kernel calls.
pub fn lower(g: &Graph, node: &Node) -> Result<Vec<Call>, CompileError> {
    let c = Ctx { g, node };
    let y = c.output()?;
    match &node.op {
        Op::Conv2d { win, groups, act } => conv(&c, *win, Some(*groups), *act, y),
        Op::DepthwiseConv2d {
            win,
            depth_multiplier,
            act,
        } => {
            let _ = depth_multiplier; // implied by the weight's channel count
            conv(&c, *win, None, *act, y)
        }
        Op::FullyConnected { act } => fully_connected(&c, *act, y),
        Op::MatMul => matmul(&c, y),
        Op::Add { act } | Op::Sub { act } | Op::Mul { act } => {
            let (a, b) = (c.input(0)?, c.input(1)?);
            c.f32_of_rank("input a", a, None)?;
            c.f32_of_rank("input b", b, None)?;
            let main = match node.op {
                Op::Add { .. } => OpKind::AtenAdd,
                Op::Sub { .. } => OpKind::AtenSub,
                _ => OpKind::AtenMul,
            };
            let mut args = vec![Arg::Tensor(a), Arg::Tensor(b)];
            if main != OpKind::AtenMul {
                args.push(Arg::Int(1));
            }
            args.extend([Arg::Tensor(y), Arg::Tensor(y)]);
            Ok(with_act(Call { op: main, args }, *act, y))
        }
        Op::Maximum | Op::Minimum => {
            let (a, b) = (c.input(0)?, c.input(1)?);
            c.f32_of_rank("input a", a, None)?;
            c.f32_of_rank("input b", b, None)?;
            let op = if node.op == Op::Maximum {
                OpKind::AtenMaximum
            } else {
                OpKind::AtenMinimum
            };
            Ok(vec![Call {
                op,
                args: vec![
                    Arg::Tensor(a),
                    Arg::Tensor(b),
                    Arg::Tensor(y),
                    Arg::Tensor(y),
                ],
            }])
        }
        Op::AvgPool2d {
            kernel,
            win,
            count_include_pad,
            act,
        } => {
            let x = pool_input(&c, win, y)?;
            let call = Call {
                op: OpKind::AtenAvgPool2d,
                args: vec![
                    c.nchw_view(x),
                    ints(kernel),
                    ints(&win.stride),
                    padding(win.pads),
                    Arg::Bool(false),
                    Arg::Bool(*count_include_pad),
                    Arg::Null,
                    c.nchw_view(y),
                    c.nchw_view(y),
                ],
            };
            Ok(with_act(call, *act, y))
        }
        Op::MaxPool2d { kernel, win, act } => {
            let x = pool_input(&c, win, y)?;
            let call = Call {
                op: OpKind::AtenMaxPool2dWithIndices,
                args: vec![
                    c.nchw_view(x),
                    ints(kernel),
                    ints(&win.stride),
                    padding(win.pads),
                    ints(&win.dilation),
                    Arg::Bool(false),
                    c.nchw_view(y),
                    Arg::Null,
                    Arg::TensorList(vec![y]),
                ],
            };
            Ok(with_act(call, *act, y))
        }
        Op::Mean { axes, keep_dims } => {
            let x = c.input(0)?;
            c.f32_of_rank("input", x, None)?;
            if let Some(a) = axes.iter().find(|&&a| a >= c.shape(x).len()) {
                return Err(c.invalid(format!(
                    "mean axis {a} out of range for shape {:?}",
                    c.shape(x)
                )));
            }
            Ok(vec![Call {
                op: OpKind::AtenMean,
                args: vec![
                    Arg::Tensor(x),
                    ints(axes),
                    Arg::Bool(*keep_dims),
                    Arg::Null,
                    Arg::Tensor(y),
                    Arg::Tensor(y),
                ],
            }])
        }
        Op::Softmax { beta } => {
            let x = c.input(0)?;
            c.f32_of_rank("input", x, None)?;
            if *beta != 1.0 {
                return Err(c.unsupported(format!("f32 softmax with beta {beta} (only 1.0)")));
            }
            let rank = c.shape(x).len();
            if rank == 0 {
                return Err(c.invalid("softmax of a scalar"));
            }
            Ok(vec![Call {
                op: OpKind::AtenSoftmax,
                args: vec![
                    Arg::Tensor(x),
                    Arg::Int(rank as i64 - 1),
                    Arg::Bool(false),
                    Arg::Tensor(y),
                    Arg::Tensor(y),
                ],
            }])
        }
        Op::Logistic | Op::Tanh | Op::HardSwish | Op::Relu => {
            let x = c.input(0)?;
            c.f32_of_rank("input", x, None)?;
            let op = match node.op {
                Op::Logistic => OpKind::AtenSigmoid,
                Op::Tanh => OpKind::AtenTanh,
                Op::HardSwish => OpKind::AtenHardswish,
                _ => OpKind::AtenRelu,
            };
            Ok(vec![unary(op, x, y)])
        }
        Op::Relu6 | Op::ReluN1To1 | Op::Clip { .. } => {
            let x = c.input(0)?;
            c.f32_of_rank("input", x, None)?;
            let (lo, hi) = match node.op {
                Op::Relu6 => (0.0, 6.0),
                Op::ReluN1To1 => (-1.0, 1.0),
                Op::Clip { min, max } => (min, max),
                _ => unreachable!("matched above"),
            };
            let bound = |v: f32| {
                if v.is_finite() {
                    Arg::Double(v as f64)
                } else {
                    Arg::Null
                }
            };
            Ok(vec![Call {
                op: OpKind::AtenClamp,
                args: vec![
                    Arg::Tensor(x),
                    bound(lo),
                    bound(hi),
                    Arg::Tensor(y),
                    Arg::Tensor(y),
                ],
            }])
        }
        Op::LeakyRelu { alpha } => {
            let x = c.input(0)?;
            c.f32_of_rank("input", x, None)?;
            Ok(vec![Call {
                op: OpKind::AtenLeakyRelu,
                args: vec![
                    Arg::Tensor(x),
                    Arg::Double(*alpha as f64),
                    Arg::Tensor(y),
                    Arg::Tensor(y),
                ],
            }])
        }
        Op::HardSigmoid { alpha, beta } => {
            let x = c.input(0)?;
            c.f32_of_rank("input", x, None)?;
            Ok(vec![Call {
                op: OpKind::KilnHardSigmoid,
                args: vec![
                    Arg::Tensor(x),
                    Arg::Double(*alpha as f64),
                    Arg::Double(*beta as f64),
                    Arg::Tensor(y),
                    Arg::Tensor(y),
                ],
            }])
        }
        Op::Reshape => {
            let x = c.input(0)?;
            Ok(vec![Call {
                op: OpKind::AtenViewCopy,
                args: vec![
                    Arg::Tensor(x),
                    ints(c.shape(y)),
                    Arg::Tensor(y),
                    Arg::Tensor(y),
                ],
            }])
        }
        Op::Concat { axis } => {
            let inputs: Vec<TensorId> = node.inputs.iter().flatten().copied().collect();
            if inputs.is_empty() {
                return Err(c.invalid("concatenation of no tensors"));
            }
            if *axis >= c.shape(y).len() {
                return Err(c.invalid(format!(
                    "concat axis {axis} out of range for output {:?}",
                    c.shape(y)
                )));
            }
            Ok(vec![Call {
                op: OpKind::AtenCat,
                args: vec![
                    Arg::TensorList(inputs),
                    Arg::Int(*axis as i64),
                    Arg::Tensor(y),
                    Arg::Tensor(y),
                ],
            }])
        }
        Op::Pad { pads, value } => {
            let x = c.input(0)?;
            if pads.len() != c.shape(x).len() {
                return Err(c.invalid(format!(
                    "{} pads for a rank-{} input",
                    pads.len(),
                    c.shape(x).len()
                )));
            }
            // aten order: last dim first.
            let list: Vec<i64> = pads
                .iter()
                .rev()
                .flat_map(|&(b, a)| [b as i64, a as i64])
                .collect();
            Ok(vec![Call {
                op: OpKind::AtenConstantPadNd,
                args: vec![
                    Arg::Tensor(x),
                    Arg::IntList(list),
                    Arg::Double(*value as f64),
                    Arg::Tensor(y),
                    Arg::Tensor(y),
                ],
            }])
        }
        Op::Transpose { perm } => {
            let x = c.input(0)?;
            Ok(vec![Call {
                op: OpKind::AtenPermuteCopy,
                args: vec![Arg::Tensor(x), ints(perm), Arg::Tensor(y), Arg::Tensor(y)],
            }])
        }
        Op::ResizeNearest {
            align_corners,
            half_pixel_centers,
        } => {
            let x = c.input(0)?;
            if c.shape(x).len() != 4 || c.shape(y).len() != 4 {
                return Err(c.invalid("resize needs rank-4 NHWC input and output"));
            }
            Ok(vec![Call {
                op: OpKind::KilnResizeNearest,
                args: vec![
                    Arg::Tensor(x),
                    Arg::Bool(*align_corners),
                    Arg::Bool(*half_pixel_centers),
                    Arg::Tensor(y),
                    Arg::Tensor(y),
                ],
            }])
        }
        Op::Quantize { .. } | Op::Dequantize => Err(c.unsupported(format!(
            "{} producing f32 has no f32 kernel",
            node.op.name()
        ))),
    }
}

/// Checks a pool's operands and returns the input.
fn pool_input(c: &Ctx<'_>, win: &Window, y: TensorId) -> Result<TensorId, CompileError> {
    let x = c.input(0)?;
    c.f32_of_rank("input", x, Some(4))?;
    c.f32_of_rank("output", y, Some(4))?;
    if win.stride.contains(&0) || win.dilation.contains(&0) {
        return Err(c.invalid("pool stride and dilation must be at least 1"));
    }
    Ok(x)
}

/// `aten::convolution`; `groups` is `None` for depthwise (weight `[1, kh, kw, C*M]`).
fn conv(
    c: &Ctx<'_>,
    win: Window,
    groups: Option<usize>,
    act: Act,
    y: TensorId,
) -> Result<Vec<Call>, CompileError> {
    let (x, w) = (c.input(0)?, c.input(1)?);
    c.f32_of_rank("input", x, Some(4))?;
    c.f32_of_rank("weight", w, Some(4))?;
    c.f32_of_rank("output", y, Some(4))?;
    let cin = c.shape(x)[3];
    let ws = c.shape(w).to_vec();
    let bias = match c.node.input(2) {
        Some(b) => {
            c.f32_of_rank("bias", b, Some(1))?;
            Arg::Tensor(b)
        }
        None => Arg::Null,
    };
    let (weight, groups) = match groups {
        Some(gr) => {
            if gr == 0 || ws[3] * gr != cin {
                return Err(c.invalid(format!(
                    "weight {ws:?} (OHWI) with {gr} groups does not match {cin} input channels"
                )));
            }
            (
                Arg::View {
                    id: w,
                    sizes: vec![ws[0], ws[3], ws[1], ws[2]],
                    dim_order: CHANNELS_LAST.to_vec(),
                },
                gr,
            )
        }
        None => {
            if ws[0] != 1 || cin == 0 || !ws[3].is_multiple_of(cin) {
                return Err(c.invalid(format!(
                    "depthwise weight {ws:?} is not [1, kh, kw, {cin} * multiplier]"
                )));
            }
            (
                Arg::View {
                    id: w,
                    sizes: vec![ws[3], 1, ws[1], ws[2]],
                    dim_order: vec![1, 2, 3, 0],
                },
                cin,
            )
        }
    };
    if win.stride.contains(&0) || win.dilation.contains(&0) {
        return Err(c.invalid("convolution stride and dilation must be at least 1"));
    }
    let call = Call {
        op: OpKind::AtenConvolution,
        args: vec![
            c.nchw_view(x),
            weight,
            bias,
            ints(&win.stride),
            padding(win.pads),
            ints(&win.dilation),
            Arg::Bool(false),
            ints(&[0, 0]),
            Arg::Int(groups as i64),
            c.nchw_view(y),
            c.nchw_view(y),
        ],
    };
    Ok(with_act(call, act, y))
}

/// `aten::addmm` (with bias) or `aten::mm`: `x [.., K]` as `[M, K]`, weight `[N, K]` as a `[K, N]` view.
fn fully_connected(c: &Ctx<'_>, act: Act, y: TensorId) -> Result<Vec<Call>, CompileError> {
    let (x, w) = (c.input(0)?, c.input(1)?);
    c.f32_of_rank("input", x, None)?;
    c.f32_of_rank("weight", w, Some(2))?;
    c.f32_of_rank("output", y, Some(2))?;
    let (n, k) = (c.shape(w)[0], c.shape(w)[1]);
    let numel: usize = c.shape(x).iter().product();
    if k == 0 || !numel.is_multiple_of(k) || c.shape(y) != [numel / k, n] {
        return Err(c.invalid(format!(
            "input {:?} and weight [{n}, {k}] do not give output {:?}",
            c.shape(x),
            c.shape(y)
        )));
    }
    let mat1 = Arg::View {
        id: x,
        sizes: vec![numel / k, k],
        dim_order: vec![0, 1],
    };
    let mat2 = Arg::View {
        id: w,
        sizes: vec![k, n],
        dim_order: vec![1, 0],
    };
    let call = match c.node.input(2) {
        Some(b) => {
            c.f32_of_rank("bias", b, Some(1))?;
            Call {
                op: OpKind::AtenAddmm,
                args: vec![
                    Arg::Tensor(b),
                    mat1,
                    mat2,
                    Arg::Int(1),
                    Arg::Int(1),
                    Arg::Tensor(y),
                    Arg::Tensor(y),
                ],
            }
        }
        None => Call {
            op: OpKind::AtenMm,
            args: vec![mat1, mat2, Arg::Tensor(y), Arg::Tensor(y)],
        },
    };
    Ok(with_act(call, act, y))
}

/// `aten::mm` for `[.., M, K] @ [.., K, N]` whose leading dims are all 1.
fn matmul(c: &Ctx<'_>, y: TensorId) -> Result<Vec<Call>, CompileError> {
    let (a, b) = (c.input(0)?, c.input(1)?);
    c.f32_of_rank("input a", a, None)?;
    c.f32_of_rank("input b", b, None)?;
    let as2 = matrix(c, a, false)?;
    let bs2 = matrix(c, b, true)?;
    if as2[1] != bs2[0] {
        return Err(c.invalid(format!(
            "matmul of {:?} and {:?}: inner sizes differ",
            c.shape(a),
            c.shape(b)
        )));
    }
    let view = |t: TensorId, s: [usize; 2]| Arg::View {
        id: t,
        sizes: s.to_vec(),
        dim_order: vec![0, 1],
    };
    let ys: usize = c.shape(y).iter().product();
    if ys != as2[0] * bs2[1] {
        return Err(c.invalid(format!(
            "matmul output {:?} is not [{}, {}]",
            c.shape(y),
            as2[0],
            bs2[1]
        )));
    }
    Ok(vec![Call {
        op: OpKind::AtenMm,
        args: vec![
            view(a, as2),
            view(b, bs2),
            view(y, [as2[0], bs2[1]]),
            view(y, [as2[0], bs2[1]]),
        ],
    }])
}

/// The `[rows, cols]` of a matmul operand whose leading dims are 1 (batched matmul is not lowered).
/// A 1-D operand is a row on the left and a column on the right (NumPy).
fn matrix(c: &Ctx<'_>, t: TensorId, rhs: bool) -> Result<[usize; 2], CompileError> {
    let s = c.shape(t);
    match s {
        [] => Err(c.invalid("matmul of a scalar")),
        [k] if rhs => Ok([*k, 1]),
        [k] => Ok([1, *k]),
        [lead @ .., r, k] if lead.iter().all(|&d| d == 1) => Ok([*r, *k]),
        _ => Err(c.unsupported(format!("batched f32 matmul of shape {s:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Tensor;

    fn t(g: &mut Graph, name: &str, shape: &[usize]) -> TensorId {
        g.add_tensor(Tensor {
            name: name.into(),
            dtype: DType::F32,
            shape: shape.to_vec(),
            quant: None,
            data: None,
        })
    }

    fn node(op: Op, inputs: &[Option<TensorId>], y: TensorId) -> Node {
        Node {
            name: "n1".into(),
            source_op: "OP".into(),
            op,
            inputs: inputs.to_vec(),
            outputs: vec![y],
        }
    }

    fn win(pads: [usize; 4]) -> Window {
        Window {
            stride: [2, 1],
            dilation: [1, 1],
            pads,
        }
    }

    #[test]
    fn conv_uses_channels_last_views_and_fused_clamp() {
        let mut g = Graph::default();
        let x = t(&mut g, "x", &[1, 9, 8, 3]);
        let w = t(&mut g, "w", &[4, 3, 3, 3]);
        let b = t(&mut g, "b", &[4]);
        let y = t(&mut g, "y", &[1, 5, 8, 4]);
        let n = node(
            Op::Conv2d {
                win: win([1, 1, 1, 1]),
                groups: 1,
                act: Act::Relu6,
            },
            &[Some(x), Some(w), Some(b)],
            y,
        );
        let calls = lower(&g, &n).unwrap();
        assert_eq!(calls.len(), 2);
        let a = &calls[0].args;
        assert_eq!(calls[0].op, OpKind::AtenConvolution);
        assert_eq!(a.len(), 11);
        assert_eq!(
            a[0],
            Arg::View {
                id: x,
                sizes: vec![1, 3, 9, 8],
                dim_order: vec![0, 2, 3, 1]
            }
        );
        assert_eq!(
            a[1],
            Arg::View {
                id: w,
                sizes: vec![4, 3, 3, 3],
                dim_order: vec![0, 2, 3, 1]
            }
        );
        assert_eq!(a[2], Arg::Tensor(b));
        assert_eq!(a[3], Arg::IntList(vec![2, 1]));
        assert_eq!(a[4], Arg::IntList(vec![1, 1]));
        assert_eq!(a[8], Arg::Int(1));
        assert_eq!(
            a[9],
            Arg::View {
                id: y,
                sizes: vec![1, 4, 5, 8],
                dim_order: vec![0, 2, 3, 1]
            }
        );
        assert_eq!(calls[1].op, OpKind::AtenClamp);
        assert_eq!(calls[1].args[1], Arg::Double(0.0));
        assert_eq!(calls[1].args[2], Arg::Double(6.0));
        assert_eq!(calls[1].args[3], Arg::Tensor(y));
    }

    #[test]
    fn depthwise_weight_view_and_asymmetric_padding() {
        let mut g = Graph::default();
        let x = t(&mut g, "x", &[1, 8, 8, 3]);
        let w = t(&mut g, "w", &[1, 3, 3, 6]);
        let y = t(&mut g, "y", &[1, 4, 8, 6]);
        let op = Op::DepthwiseConv2d {
            win: win([0, 1, 1, 1]),
            depth_multiplier: 2,
            act: Act::None,
        };
        let calls = lower(&g, &node(op, &[Some(x), Some(w), None], y)).unwrap();
        assert_eq!(calls.len(), 1);
        let a = &calls[0].args;
        assert_eq!(
            a[1],
            Arg::View {
                id: w,
                sizes: vec![6, 1, 3, 3],
                dim_order: vec![1, 2, 3, 0]
            }
        );
        assert_eq!(a[2], Arg::Null);
        assert_eq!(a[4], Arg::IntList(vec![0, 1, 1, 1]));
        assert_eq!(a[8], Arg::Int(3));
    }

    #[test]
    fn fully_connected_is_addmm_with_transposed_weight_view() {
        let mut g = Graph::default();
        let x = t(&mut g, "x", &[1, 2, 2, 3]);
        let w = t(&mut g, "w", &[10, 12]);
        let b = t(&mut g, "b", &[10]);
        let y = t(&mut g, "y", &[1, 10]);
        let calls = lower(
            &g,
            &node(
                Op::FullyConnected { act: Act::Relu },
                &[Some(x), Some(w), Some(b)],
                y,
            ),
        )
        .unwrap();
        assert_eq!(calls[0].op, OpKind::AtenAddmm);
        assert_eq!(
            calls[0].args[1],
            Arg::View {
                id: x,
                sizes: vec![1, 12],
                dim_order: vec![0, 1]
            }
        );
        assert_eq!(
            calls[0].args[2],
            Arg::View {
                id: w,
                sizes: vec![12, 10],
                dim_order: vec![1, 0]
            }
        );
        assert_eq!(
            calls[1],
            Call {
                op: OpKind::AtenRelu,
                args: vec![Arg::Tensor(y); 3]
            }
        );
        let calls = lower(
            &g,
            &node(
                Op::FullyConnected { act: Act::None },
                &[Some(x), Some(w), None],
                y,
            ),
        )
        .unwrap();
        assert_eq!(calls[0].op, OpKind::AtenMm);
        assert_eq!(calls[0].args.len(), 4);
    }

    #[test]
    fn pools_pad_clip_and_layout_ops() {
        let mut g = Graph::default();
        let x = t(&mut g, "x", &[1, 4, 4, 2]);
        let y = t(&mut g, "y", &[1, 2, 2, 2]);
        let op = Op::MaxPool2d {
            kernel: [2, 2],
            win: Window {
                stride: [2, 2],
                dilation: [1, 1],
                pads: [0; 4],
            },
            act: Act::None,
        };
        let calls = lower(&g, &node(op, &[Some(x)], y)).unwrap();
        assert_eq!(calls[0].op, OpKind::AtenMaxPool2dWithIndices);
        assert_eq!(calls[0].args.len(), 9);
        assert_eq!(calls[0].args[7], Arg::Null);
        let op = Op::AvgPool2d {
            kernel: [3, 3],
            win: Window {
                stride: [2, 2],
                dilation: [1, 1],
                pads: [0, 0, 1, 1],
            },
            count_include_pad: false,
            act: Act::None,
        };
        let calls = lower(&g, &node(op, &[Some(x)], y)).unwrap();
        assert_eq!(calls[0].args[3], Arg::IntList(vec![0, 0, 1, 1]));
        assert_eq!(calls[0].args.len(), 9);
        let z = t(&mut g, "z", &[1, 5, 7, 2]);
        let pad = Op::Pad {
            pads: vec![(0, 0), (1, 0), (2, 1), (0, 0)],
            value: 0.5,
        };
        let calls = lower(&g, &node(pad, &[Some(x)], z)).unwrap();
        assert_eq!(calls[0].args[1], Arg::IntList(vec![0, 0, 2, 1, 1, 0, 0, 0]));
        let clip = Op::Clip {
            min: f32::NEG_INFINITY,
            max: 3.0,
        };
        let calls = lower(&g, &node(clip, &[Some(x)], x)).unwrap();
        assert_eq!(calls[0].args[1], Arg::Null);
        assert_eq!(calls[0].args[2], Arg::Double(3.0));
    }

    #[test]
    fn errors_name_the_node() {
        let mut g = Graph::default();
        let x = t(&mut g, "x", &[1, 8, 8, 3]);
        let w = t(&mut g, "w", &[4, 3, 3, 2]);
        let y = t(&mut g, "y", &[1, 8, 8, 4]);
        let n = node(
            Op::Conv2d {
                win: win([1; 4]),
                groups: 1,
                act: Act::None,
            },
            &[Some(x), Some(w)],
            y,
        );
        let e = lower(&g, &n).unwrap_err().to_string();
        assert!(
            e.contains("node 'n1'") && e.contains("3 input channels"),
            "{e}"
        );
        let m = t(&mut g, "m", &[2, 3, 4]);
        let e = lower(&g, &node(Op::MatMul, &[Some(m), Some(m)], y))
            .unwrap_err()
            .to_string();
        assert!(e.contains("batched"), "{e}");
        let e = lower(&g, &node(Op::Softmax { beta: 2.0 }, &[Some(x)], y))
            .unwrap_err()
            .to_string();
        assert!(e.contains("beta"), "{e}");
    }
}
