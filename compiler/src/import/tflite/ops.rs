//! TFLite operators -> IR nodes.
//!
//! TFLite is already in kiln's conventions (NHWC activations, OHWI conv
//! weights, `[1, kh, kw, C*M]` depthwise weights, `[N, K]` fully-connected
//! weights), so the work here is reading options, resolving SAME/VALID padding
//! to explicit pads exactly as TFLite does, folding constant operands (axes,
//! paddings, permutations) into attributes, and rejecting what TFLite's own
//! kernels reject.

use super::model::{malformed, Model, OpCode, Operator};
use super::schema::{builtin as b, options as o, Activation, Padding};
use crate::error::CompileError;
use crate::ir::{Act, DType, Node, Op, Rounding, Tensor, TensorId, Window};
use kiln_rt::pte::fb::{Field, Table};
use std::path::Path;

/// Everything an error about one operator needs.
pub(super) struct OpCtx<'m, 'a> {
    path: &'m Path,
    model: &'m Model<'a>,
    op: &'m Operator<'a>,
    /// The node's name: its first output tensor's name.
    node: String,
    /// The operator's TFLite name (`CONV_2D`, or the custom code).
    op_type: String,
}

impl<'m, 'a> OpCtx<'m, 'a> {
    pub(super) fn new(path: &'m Path, model: &'m Model<'a>, op: &'m Operator<'a>) -> Self {
        let node = op
            .outputs
            .first()
            .and_then(|&t| model.tensors.get(t))
            .map_or_else(|| format!("operator{}", op.index), |t| t.name.clone());
        OpCtx {
            path,
            model,
            op,
            node,
            op_type: op.code.name(),
        }
    }

    /// `Unsupported` naming this node.
    pub(super) fn unsupported(&self, reason: impl Into<String>) -> CompileError {
        CompileError::Unsupported {
            path: self.path.to_path_buf(),
            node: self.node.clone(),
            op_type: self.op_type.clone(),
            reason: reason.into(),
        }
    }

    /// `Invalid` naming this node.
    fn invalid(&self, reason: impl Into<String>) -> CompileError {
        CompileError::Invalid {
            path: self.path.to_path_buf(),
            node: self.node.clone(),
            op_type: self.op_type.clone(),
            reason: reason.into(),
        }
    }

    /// Checks the operand counts: `inputs` range (optional operands may be -1) and exactly `outputs`.
    fn arity(&self, min_in: usize, max_in: usize, outputs: usize) -> Result<(), CompileError> {
        let n = self.op.inputs.len();
        if n < min_in || n > max_in {
            let want = if min_in == max_in {
                format!("{min_in}")
            } else {
                format!("{min_in} to {max_in}")
            };
            return Err(self.invalid(format!("has {n} inputs, expected {want}")));
        }
        if self.op.outputs.len() != outputs {
            return Err(self.invalid(format!(
                "has {} outputs, expected {outputs}",
                self.op.outputs.len()
            )));
        }
        Ok(())
    }

    /// Required input `i` (present, not -1).
    fn input(&self, i: usize) -> Result<usize, CompileError> {
        self.op
            .inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| self.invalid(format!("input {i} is missing")))
    }

    fn tensor(&self, i: usize) -> &'m Tensor {
        // Operand indices were checked against the tensor count when the model was read.
        &self.model.tensors[i]
    }

    /// Input `i`'s tensor, checked to have rank `rank`.
    fn input_rank(&self, i: usize, rank: usize) -> Result<&'m Tensor, CompileError> {
        let t = self.tensor(self.input(i)?);
        if t.shape.len() != rank {
            return Err(self.invalid(format!(
                "input {i} '{}' has shape {:?}, expected rank {rank}",
                t.name, t.shape
            )));
        }
        Ok(t)
    }

    /// Output 0's tensor, checked to have rank `rank`.
    fn output_rank(&self, rank: usize) -> Result<&'m Tensor, CompileError> {
        let t = self.tensor(self.op.outputs[0]); // arity() checked there is an output
        if t.shape.len() != rank {
            return Err(self.invalid(format!(
                "output '{}' has shape {:?}, expected rank {rank}",
                t.name, t.shape
            )));
        }
        Ok(t)
    }

    /// The builtin options table, checked to be of union type `tag`; `None` when absent (schema defaults apply).
    fn options(&self, tag: u8, table: &str) -> Result<Option<Table<'a>>, CompileError> {
        match self.op.options {
            None => Ok(None),
            Some((t, tab)) if t == tag => Ok(Some(tab)),
            Some((t, _)) => Err(malformed(
                self.path,
                format!(
                    "operator '{}' ({}): builtin_options has union type {t}, expected {table} ({tag})",
                    self.node, self.op_type
                ),
            )),
        }
    }

    fn fb<T>(&self, r: Result<T, kiln_rt::RtError>) -> Result<T, CompileError> {
        r.map_err(|e| {
            malformed(
                self.path,
                format!("operator '{}' ({}): {e}", self.node, self.op_type),
            )
        })
    }

    fn get_i32(&self, t: Option<Table<'a>>, f: Field, default: i32) -> Result<i32, CompileError> {
        t.map_or(Ok(default), |t| self.fb(t.get_i32(f, default)))
    }
    fn get_i8(&self, t: Option<Table<'a>>, f: Field, default: i8) -> Result<i8, CompileError> {
        t.map_or(Ok(default), |t| self.fb(t.get_i8(f, default)))
    }
    fn get_bool(&self, t: Option<Table<'a>>, f: Field) -> Result<bool, CompileError> {
        t.map_or(Ok(false), |t| self.fb(t.get_bool(f, false)))
    }
    fn get_f32(&self, t: Option<Table<'a>>, f: Field) -> Result<f32, CompileError> {
        t.map_or(Ok(0.0), |t| self.fb(t.get_f32(f, 0.0)))
    }

    /// A positive integer option (strides, filter sizes, dilations).
    fn positive(
        &self,
        t: Option<Table<'a>>,
        f: Field,
        default: i32,
    ) -> Result<usize, CompileError> {
        let v = self.get_i32(t, f, default)?;
        usize::try_from(v)
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| self.invalid(format!("{} is {v}, must be positive", f.name)))
    }

    fn padding(&self, t: Option<Table<'a>>, f: Field) -> Result<Padding, CompileError> {
        let raw = self.get_i8(t, f, 0)?;
        Padding::from_raw(raw).ok_or_else(|| {
            malformed(
                self.path,
                format!(
                    "operator '{}': {} = {raw} is not SAME or VALID",
                    self.node, f.name
                ),
            )
        })
    }

    /// A fused activation as an IR [`Act`].
    fn act(&self, t: Option<Table<'a>>, f: Field) -> Result<Act, CompileError> {
        let raw = self.get_i8(t, f, 0)?;
        match Activation::from_raw(raw) {
            Some(Activation::None) => Ok(Act::None),
            Some(Activation::Relu) => Ok(Act::Relu),
            Some(Activation::Relu6) => Ok(Act::Relu6),
            Some(Activation::ReluN1To1) => Ok(Act::ReluN1To1),
            Some(a) => Err(self.unsupported(format!("fused activation {a:?} is not supported"))),
            None => Err(malformed(
                self.path,
                format!(
                    "operator '{}': {} = {raw} is not an activation",
                    self.node, f.name
                ),
            )),
        }
    }

    /// The integer values of constant input `i` (int32 or int64 data).
    fn const_ints(&self, i: usize, what: &str) -> Result<Vec<i64>, CompileError> {
        let t = self.tensor(self.input(i)?);
        let Some(data) = &t.data else {
            return Err(self.unsupported(format!(
                "{what} (input {i} '{}') must be a constant",
                t.name
            )));
        };
        Ok(match t.dtype {
            DType::I32 => data
                .chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            DType::I64 => data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
            d => {
                return Err(self.invalid(format!(
                    "{what} (input {i} '{}') has type {d}, expected i32 or i64",
                    t.name
                )))
            }
        })
    }

    /// Normalizes a possibly negative axis against `rank`.
    fn axis(&self, a: i64, rank: usize, what: &str) -> Result<usize, CompileError> {
        let r = rank as i64;
        let n = if a < 0 { a + r } else { a };
        if (0..r).contains(&n) {
            Ok(n as usize) // 0 <= n < rank
        } else {
            Err(self.invalid(format!("{what} {a} is out of range for rank {rank}")))
        }
    }
}

/// SAME/VALID -> (output size, pad before, pad after) along one spatial axis,
/// exactly as TFLite's `ComputeOutSize` and `ComputePaddingHeightWidth`:
/// `total = max((out - 1) * stride + eff_k - in, 0)`, `before = total / 2`,
/// the odd cell goes after. `None` when the window does not fit (VALID, in < eff_k).
pub(super) fn resolve_padding(
    pad: Padding,
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
) -> Option<(usize, usize, usize)> {
    let eff = kernel
        .checked_sub(1)?
        .checked_mul(dilation)?
        .checked_add(1)?;
    let out = match pad {
        Padding::Same => input.checked_add(stride - 1)? / stride,
        Padding::Valid => (input.checked_add(stride)?.checked_sub(eff)?) / stride,
    };
    if out == 0 {
        return None;
    }
    let needed = (out - 1).checked_mul(stride)?.checked_add(eff)?;
    let total = needed.saturating_sub(input);
    Some((out, total / 2, total - total / 2))
}

/// Window geometry for a 2-D op on NHWC `x` with kernel `[kh, kw]`, checked against the output shape.
fn window(
    cx: &OpCtx<'_, '_>,
    pad: Padding,
    x: &Tensor,
    y: &Tensor,
    k: [usize; 2],
    stride: [usize; 2],
    dil: [usize; 2],
) -> Result<Window, CompileError> {
    let mut pads = [0usize; 4];
    for d in 0..2 {
        let (out, before, after) = resolve_padding(pad, x.shape[1 + d], k[d], stride[d], dil[d])
            .ok_or_else(|| {
                cx.invalid(format!(
                    "kernel {}x{} (dilation {:?}) does not fit input {:?} with {pad:?} padding",
                    k[0], k[1], dil, x.shape
                ))
            })?;
        if y.shape[1 + d] != out {
            return Err(cx.invalid(format!(
                "output shape {:?} disagrees with {pad:?} padding: input {:?}, kernel {:?}, stride {:?}, dilation {:?} give {} along {}",
                y.shape,
                x.shape,
                k,
                stride,
                dil,
                out,
                if d == 0 { "H" } else { "W" }
            )));
        }
        pads[d] = before;
        pads[d + 2] = after;
    }
    Ok(Window {
        stride,
        dilation: dil,
        pads,
    })
}

/// Converts one operator into one IR node (operand indices are TFLite tensor indices).
pub(super) fn convert(cx: &OpCtx<'_, '_>) -> Result<Node, CompileError> {
    let code = match &cx.op.code {
        OpCode::Builtin(c) => *c,
        OpCode::Custom(name) if name == "ethos-u" => {
            return Err(cx.unsupported(
                "Vela-compiled Ethos-U operator: read it with read_vela_custom_ops, not as IR operators",
            ))
        }
        OpCode::Custom(_) => return Err(cx.unsupported("custom operators are not supported")),
    };
    // Operands in TFLite order; ops whose trailing operands became attributes truncate this.
    let mut inputs: Vec<Option<TensorId>> = cx.op.inputs.iter().map(|i| i.map(TensorId)).collect();
    let op = match code {
        b::CONV_2D => {
            cx.arity(2, 3, 1)?;
            let opt = cx.options(o::CONV_2D, "Conv2DOptions")?;
            let x = cx.input_rank(0, 4)?;
            let w = cx.input_rank(1, 4)?;
            let y = cx.output_rank(4)?;
            let stride = [
                cx.positive(opt, o::conv2d::STRIDE_H, 0)?,
                cx.positive(opt, o::conv2d::STRIDE_W, 0)?,
            ];
            let dil = [
                cx.positive(opt, o::conv2d::DILATION_H, 1)?,
                cx.positive(opt, o::conv2d::DILATION_W, 1)?,
            ];
            let pad = cx.padding(opt, o::conv2d::PADDING)?;
            let win = window(cx, pad, x, y, [w.shape[1], w.shape[2]], stride, dil)?;
            // TFLite infers groups from the channel counts (grouped conv, CONV_2D v6+).
            let (cin, wcin, cout) = (x.shape[3], w.shape[3], w.shape[0]);
            if cin.checked_rem(wcin) != Some(0) || cout.checked_rem(cin / wcin.max(1)) != Some(0) {
                return Err(cx.invalid(format!(
                    "input channels {cin} and weights {:?} give no whole number of groups",
                    w.shape
                )));
            }
            if y.shape[3] != cout {
                return Err(cx.invalid(format!(
                    "output channels {} != weight output channels {cout}",
                    y.shape[3]
                )));
            }
            Op::Conv2d {
                win,
                groups: cin / wcin,
                act: cx.act(opt, o::conv2d::ACTIVATION)?,
            }
        }
        b::DEPTHWISE_CONV_2D => {
            cx.arity(2, 3, 1)?;
            let opt = cx.options(o::DEPTHWISE_CONV_2D, "DepthwiseConv2DOptions")?;
            let x = cx.input_rank(0, 4)?;
            let w = cx.input_rank(1, 4)?;
            let y = cx.output_rank(4)?;
            let stride = [
                cx.positive(opt, o::depthwise::STRIDE_H, 0)?,
                cx.positive(opt, o::depthwise::STRIDE_W, 0)?,
            ];
            let dil = [
                cx.positive(opt, o::depthwise::DILATION_H, 1)?,
                cx.positive(opt, o::depthwise::DILATION_W, 1)?,
            ];
            let pad = cx.padding(opt, o::depthwise::PADDING)?;
            let win = window(cx, pad, x, y, [w.shape[1], w.shape[2]], stride, dil)?;
            // `depth_multiplier` in the options is redundant (TFLite ignores it): derive it from the shapes.
            let (cin, cout) = (x.shape[3], w.shape[3]);
            if w.shape[0] != 1 || cout.checked_rem(cin) != Some(0) || y.shape[3] != cout {
                return Err(cx.invalid(format!(
                    "weights {:?} do not fit input channels {cin} and output channels {}",
                    w.shape, y.shape[3]
                )));
            }
            Op::DepthwiseConv2d {
                win,
                depth_multiplier: cout / cin,
                act: cx.act(opt, o::depthwise::ACTIVATION)?,
            }
        }
        b::FULLY_CONNECTED => {
            cx.arity(2, 3, 1)?;
            let opt = cx.options(o::FULLY_CONNECTED, "FullyConnectedOptions")?;
            let x = cx.tensor(cx.input(0)?);
            let w = cx.input_rank(1, 2)?;
            let y = cx.tensor(cx.op.outputs[0]);
            let format = cx.get_i8(opt, o::fully_connected::WEIGHTS_FORMAT, 0)?;
            if format != 0 {
                return Err(cx.unsupported(format!(
                    "weights_format {format} (shuffled weights) is not supported"
                )));
            }
            let (n, k) = (w.shape[0], w.shape[1]);
            if x.numel().checked_rem(k) != Some(0) {
                return Err(cx.invalid(format!(
                    "input {:?} cannot be flattened to rows of {k} (weights {:?})",
                    x.shape, w.shape
                )));
            }
            let keep = cx.get_bool(opt, o::fully_connected::KEEP_NUM_DIMS)?;
            let batch = x.numel() / k;
            if y.shape != [batch, n] {
                let why = if keep {
                    " (keep_num_dims = true is not supported)"
                } else {
                    ""
                };
                return Err(cx.unsupported(format!(
                    "output shape {:?}, expected [{batch}, {n}]{why}",
                    y.shape
                )));
            }
            Op::FullyConnected {
                act: cx.act(opt, o::fully_connected::ACTIVATION)?,
            }
        }
        b::ADD | b::SUB | b::MUL => {
            cx.arity(2, 2, 1)?;
            let (tag, name) = match code {
                b::ADD => (o::ADD, "AddOptions"),
                b::SUB => (o::SUB, "SubOptions"),
                _ => (o::MUL, "MulOptions"),
            };
            let act = cx.act(cx.options(tag, name)?, o::binary::ACTIVATION)?;
            match code {
                b::ADD => Op::Add { act },
                b::SUB => Op::Sub { act },
                _ => Op::Mul { act },
            }
        }
        b::AVERAGE_POOL_2D | b::MAX_POOL_2D => {
            cx.arity(1, 1, 1)?;
            let opt = cx.options(o::POOL_2D, "Pool2DOptions")?;
            let x = cx.input_rank(0, 4)?;
            let y = cx.output_rank(4)?;
            let kernel = [
                cx.positive(opt, o::pool2d::FILTER_H, 0)?,
                cx.positive(opt, o::pool2d::FILTER_W, 0)?,
            ];
            let stride = [
                cx.positive(opt, o::pool2d::STRIDE_H, 0)?,
                cx.positive(opt, o::pool2d::STRIDE_W, 0)?,
            ];
            let pad = cx.padding(opt, o::pool2d::PADDING)?;
            let win = window(cx, pad, x, y, kernel, stride, [1, 1])?;
            let act = cx.act(opt, o::pool2d::ACTIVATION)?;
            if code == b::AVERAGE_POOL_2D {
                // TFLite divides by the number of in-bounds cells.
                Op::AvgPool2d {
                    kernel,
                    win,
                    count_include_pad: false,
                    act,
                }
            } else {
                Op::MaxPool2d { kernel, win, act }
            }
        }
        b::MEAN => {
            cx.arity(2, 2, 1)?;
            let opt = cx.options(o::REDUCER, "ReducerOptions")?;
            let rank = cx.tensor(cx.input(0)?).shape.len();
            let mut axes = cx
                .const_ints(1, "axes")?
                .into_iter()
                .map(|a| cx.axis(a, rank, "axis"))
                .collect::<Result<Vec<_>, _>>()?;
            axes.sort_unstable();
            axes.dedup();
            inputs.truncate(1);
            Op::Mean {
                axes,
                keep_dims: cx.get_bool(opt, o::reducer::KEEP_DIMS)?,
            }
        }
        b::SOFTMAX => {
            cx.arity(1, 1, 1)?;
            let opt = cx.options(o::SOFTMAX, "SoftmaxOptions")?;
            Op::Softmax {
                beta: cx.get_f32(opt, o::softmax::BETA)?,
            }
        }
        b::LEAKY_RELU => {
            cx.arity(1, 1, 1)?;
            let opt = cx.options(o::LEAKY_RELU, "LeakyReluOptions")?;
            Op::LeakyRelu {
                alpha: cx.get_f32(opt, o::leaky_relu::ALPHA)?,
            }
        }
        b::LOGISTIC
        | b::TANH
        | b::HARD_SWISH
        | b::RELU
        | b::RELU6
        | b::RELU_N1_TO_1
        | b::DEQUANTIZE
        | b::QUANTIZE => {
            cx.arity(1, 1, 1)?;
            match code {
                b::LOGISTIC => Op::Logistic,
                b::TANH => Op::Tanh,
                b::HARD_SWISH => Op::HardSwish,
                b::RELU => Op::Relu,
                b::RELU6 => Op::Relu6,
                b::RELU_N1_TO_1 => Op::ReluN1To1,
                b::DEQUANTIZE => Op::Dequantize,
                // TFLite's reference QUANTIZE rounds with std::round (half away from zero).
                _ => Op::Quantize {
                    rounding: Rounding::HalfAwayFromZero,
                },
            }
        }
        b::MAXIMUM | b::MINIMUM => {
            cx.arity(2, 2, 1)?;
            if code == b::MAXIMUM {
                Op::Maximum
            } else {
                Op::Minimum
            }
        }
        b::RESHAPE => {
            // The optional shape operand is redundant with the output tensor's static shape.
            cx.arity(1, 2, 1)?;
            let x = cx.tensor(cx.input(0)?);
            let y = cx.tensor(cx.op.outputs[0]);
            if x.numel() != y.numel() {
                return Err(cx.invalid(format!("cannot reshape {:?} to {:?}", x.shape, y.shape)));
            }
            inputs.truncate(1);
            Op::Reshape
        }
        b::CONCATENATION => {
            if cx.op.inputs.is_empty() {
                return Err(cx.invalid("has no inputs"));
            }
            cx.arity(1, usize::MAX, 1)?;
            let opt = cx.options(o::CONCATENATION, "ConcatenationOptions")?;
            if cx.act(opt, o::concatenation::ACTIVATION)? != Act::None {
                // TFLite's own kernel rejects fused activations on CONCATENATION.
                return Err(cx.unsupported(
                    "fused activation on CONCATENATION (TFLite's kernels reject it too)",
                ));
            }
            let rank = cx.tensor(cx.op.outputs[0]).shape.len();
            let axis = cx.axis(
                i64::from(cx.get_i32(opt, o::concatenation::AXIS, 0)?),
                rank,
                "axis",
            )?;
            for i in 0..cx.op.inputs.len() {
                cx.input(i)?;
            }
            Op::Concat { axis }
        }
        b::PAD | b::PADV2 => {
            let max_in = if code == b::PAD { 2 } else { 3 };
            cx.arity(2, max_in, 1)?;
            let x = cx.tensor(cx.input(0)?);
            let y = cx.tensor(cx.op.outputs[0]);
            let rank = x.shape.len();
            let p = cx.const_ints(1, "paddings")?;
            if p.len() != 2 * rank {
                return Err(cx.invalid(format!(
                    "paddings has {} values, expected {rank}x2",
                    p.len()
                )));
            }
            let mut pads = Vec::with_capacity(rank);
            for d in 0..rank {
                let (lo, hi) = (p[2 * d], p[2 * d + 1]);
                let (Ok(lo), Ok(hi)) = (usize::try_from(lo), usize::try_from(hi)) else {
                    return Err(cx.invalid(format!("negative padding ({lo}, {hi}) on axis {d}")));
                };
                let padded = x.shape[d].checked_add(lo).and_then(|v| v.checked_add(hi));
                if padded.is_none() || padded != y.shape.get(d).copied() {
                    return Err(cx.invalid(format!(
                        "paddings {p:?} turn {:?} into something other than {:?}",
                        x.shape, y.shape
                    )));
                }
                pads.push((lo, hi));
            }
            let value = match cx.op.inputs.get(2).copied().flatten() {
                Some(c) => pad_value(cx, cx.tensor(c), y)?,
                // PAD fills with the real value 0 (the zero point for quantized tensors).
                None => 0.0,
            };
            inputs.truncate(1);
            Op::Pad { pads, value }
        }
        b::TRANSPOSE => {
            cx.arity(2, 2, 1)?;
            let rank = cx.tensor(cx.input(0)?).shape.len();
            let perm = cx
                .const_ints(1, "perm")?
                .into_iter()
                .map(|a| cx.axis(a, rank, "perm entry"))
                .collect::<Result<Vec<_>, _>>()?;
            let mut seen = vec![false; rank];
            for &p in &perm {
                seen[p] = true; // axis() proved p < rank
            }
            if perm.len() != rank || seen.contains(&false) {
                return Err(
                    cx.invalid(format!("perm {perm:?} is not a permutation of {rank} axes"))
                );
            }
            inputs.truncate(1);
            Op::Transpose { perm }
        }
        b::RESIZE_NEAREST_NEIGHBOR => {
            cx.arity(2, 2, 1)?;
            let opt = cx.options(o::RESIZE_NEAREST_NEIGHBOR, "ResizeNearestNeighborOptions")?;
            cx.input_rank(0, 4)?;
            cx.output_rank(4)?;
            inputs.truncate(1);
            Op::ResizeNearest {
                align_corners: cx.get_bool(opt, o::resize_nearest::ALIGN_CORNERS)?,
                half_pixel_centers: cx.get_bool(opt, o::resize_nearest::HALF_PIXEL_CENTERS)?,
            }
        }
        _ => return Err(cx.unsupported("operator not supported by kiln")),
    };
    Ok(Node {
        name: cx.node.clone(),
        source_op: cx.op_type.clone(),
        op,
        inputs,
        outputs: cx.op.outputs.iter().map(|&i| TensorId(i)).collect(),
    })
}

/// PADV2's `constant_values` scalar in real units.
fn pad_value(cx: &OpCtx<'_, '_>, c: &Tensor, y: &Tensor) -> Result<f32, CompileError> {
    let Some(data) = &c.data else {
        return Err(cx.unsupported(format!("constant_values '{}' must be a constant", c.name)));
    };
    if c.numel() != 1 || c.dtype != y.dtype {
        return Err(cx.invalid(format!(
            "constant_values '{}' must be one {} value, found {} {:?}",
            c.name, y.dtype, c.dtype, c.shape
        )));
    }
    // read_tensor checked data.len() == numel * dtype size, and numel == 1 here.
    let q: i64 = match c.dtype {
        DType::F32 => return Ok(f32::from_le_bytes([data[0], data[1], data[2], data[3]])),
        DType::I8 => i64::from(data[0] as i8),
        DType::U8 => i64::from(data[0]),
        DType::I16 => i64::from(i16::from_le_bytes([data[0], data[1]])),
        DType::I32 => i64::from(i32::from_le_bytes([data[0], data[1], data[2], data[3]])),
        d => return Err(cx.unsupported(format!("padding {d} tensors is not supported"))),
    };
    // Quantized: the stored integer is in the output's (== the constant's) quantization.
    let quant = c.quant.as_ref().or(y.quant.as_ref());
    Ok(match quant {
        Some(qp) => qp.scale[0] * (q - i64::from(qp.zero_point[0])) as f32,
        None => q as f32,
    })
}
