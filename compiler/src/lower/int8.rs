//! Lowering rules for int8 (quantized) nodes: TFLite Micro reference semantics.
//!
//! Every node becomes one `cortex_m::*` / `kiln::*` call in the argument layout documented in
//! [`kiln_rt::ops`], with the requantization parameters TFLM's `Prepare` would compute
//! ([`crate::quant`]). Unary operators (LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, RELU*, clip,
//! int8 -> int8 QUANTIZE, hard-sigmoid) become `cortex_m::quantized_activation` with a 256-entry
//! table produced by running kiln-rt's reference arithmetic over every input value.
//! Data movement (reshape, transpose) uses the dtype-agnostic portable operators.
//!
//! Graphs with [`IntSemantics::OnnxRuntime`](crate::ir::IntSemantics) (QDQ ONNX models) follow
//! ONNX Runtime's fused kernels instead where the arithmetic differs: convolutions and GEMMs
//! requantize with f32 scales (`kiln::qlinear_conv2d`, `kiln::qlinear_linear`), and add, average
//! pools, global average, concat and softmax have `kiln::qlinear_*` counterparts.

use super::{Arg, Call, ConstTensor};
use crate::error::CompileError;
use crate::ir::{Act, DType, Graph, Node, Op, Quant, TensorId, Window};
use crate::quant::{self, QuantError};
use kiln_rt::kernels::int8::activation::{ClampParams, Unary};
use kiln_rt::ops::OpKind;

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

    /// A quantization-parameter error, naming the node.
    fn qerr(&self) -> impl Fn(QuantError) -> CompileError + '_ {
        move |e| self.unsupported(format!("int8 parameters: {e}"))
    }

    fn input(&self, i: usize) -> Result<TensorId, CompileError> {
        self.node
            .input(i)
            .ok_or_else(|| self.invalid(format!("missing operand {i}")))
    }

    fn output(&self) -> Result<TensorId, CompileError> {
        match self.node.outputs.as_slice() {
            [y] => Ok(*y),
            o => Err(self.invalid(format!("expected one output, found {}", o.len()))),
        }
    }

    fn shape(&self, t: TensorId) -> &[usize] {
        &self.g.tensor(t).shape
    }

    /// The tensor's quantization, requiring the dtype.
    fn quant_of(&self, what: &str, t: TensorId, dtype: DType) -> Result<&Quant, CompileError> {
        let tensor = self.g.tensor(t);
        if tensor.dtype != dtype {
            return Err(self.unsupported(format!(
                "{what} '{}' is {}, expected {dtype}",
                tensor.name, tensor.dtype
            )));
        }
        tensor
            .quant
            .as_ref()
            .filter(|q| !q.scale.is_empty() && q.scale.len() == q.zero_point.len())
            .ok_or_else(|| {
                self.invalid(format!(
                    "{what} '{}' has no quantization parameters",
                    tensor.name
                ))
            })
    }

    /// Per-tensor `(scale, zero_point)` of an int8 activation.
    fn act_q(&self, what: &str, t: TensorId) -> Result<(f32, i32), CompileError> {
        let q = self.quant_of(what, t, DType::I8)?;
        if !q.is_per_tensor() {
            return Err(self.unsupported(format!(
                "{what} '{}' is quantized per channel; activations must be per tensor",
                self.g.tensor(t).name
            )));
        }
        let (s, zp) = quant::per_tensor(q);
        if !(-128..=127).contains(&zp) {
            return Err(self.invalid(format!("{what} zero point {zp} is outside int8")));
        }
        Ok((s, zp))
    }

    /// Checks a tensor's shape.
    fn expect_shape(&self, what: &str, t: TensorId, shape: &[usize]) -> Result<(), CompileError> {
        if self.shape(t) != shape {
            return Err(self.invalid(format!(
                "{what} '{}' has shape {:?}, expected {shape:?}",
                self.g.tensor(t).name,
                self.shape(t)
            )));
        }
        Ok(())
    }

    /// The optional int32 bias operand at `i` of length `n`.
    fn bias(&self, i: usize, n: usize) -> Result<Arg, CompileError> {
        match self.node.input(i) {
            None => Ok(Arg::Null),
            Some(b) => {
                let t = self.g.tensor(b);
                if t.dtype != DType::I32 || t.numel() != n {
                    return Err(self.unsupported(format!(
                        "bias '{}' is {} {:?}, expected i32 with {n} elements",
                        t.name, t.dtype, t.shape
                    )));
                }
                Ok(Arg::Tensor(b))
            }
        }
    }

    /// Symmetric int8 weight scales (all zero points 0), one per channel or one.
    fn weight_scales(
        &self,
        w: TensorId,
        channels: usize,
        axis: usize,
    ) -> Result<Vec<f32>, CompileError> {
        let q = self.quant_of("weight", w, DType::I8)?;
        if q.zero_point.iter().any(|&z| z != 0) {
            return Err(self.unsupported("int8 weights must be symmetric (zero point 0)"));
        }
        if !q.is_per_tensor() && (q.scale.len() != channels || q.axis != axis) {
            return Err(self.invalid(format!(
                "weight has {} scales on axis {}, expected {channels} on axis {axis}",
                q.scale.len(),
                q.axis
            )));
        }
        Ok(q.scale.clone())
    }
}

impl Ctx<'_> {
    /// Whether quantized operators reproduce ONNX Runtime's fused kernels (QDQ ONNX models).
    fn ort(&self) -> bool {
        self.g.int_semantics == crate::ir::IntSemantics::OnnxRuntime
    }
}

/// What ONNX Runtime adds to int8 values on x86, where its `QDQS8ToU8Transformer` runs the
/// QDQ groups on uint8; only matters where a zero point enters f32 arithmetic.
const ORT_DOMAIN_OFFSET: i64 = 128;

/// ONNX Runtime's per-channel requantization scales, `x_scale * w_scale[c] / y_scale` in f32
/// (`QLinearConv::ComputeOutputScale`, `QGemm::ComputeOutputScale`).
fn ort_scales(x_scale: f32, w_scales: &[f32], y_scale: f32) -> ConstTensor {
    let s: Vec<f32> = w_scales.iter().map(|&w| x_scale * w / y_scale).collect();
    ConstTensor::f32s(vec![s.len()], &s)
}

fn f32_bits(v: f32) -> i64 {
    v.to_bits() as i64
}

fn ints(v: &[usize]) -> Arg {
    Arg::IntList(v.iter().map(|&x| x as i64).collect())
}

/// Output size of a window along one axis (floor mode), `None` if the window does not fit.
fn out_size(
    input: usize,
    pad_a: usize,
    pad_b: usize,
    k: usize,
    stride: usize,
    dilation: usize,
) -> Option<usize> {
    let eff = (k.checked_sub(1)?).checked_mul(dilation)? + 1;
    let padded = input + pad_a + pad_b;
    (padded >= eff && stride >= 1).then(|| (padded - eff) / stride + 1)
}

/// Lowers an int8 node.
pub fn lower(g: &Graph, node: &Node) -> Result<Vec<Call>, CompileError> {
    let c = Ctx { g, node };
    let y = c.output()?;
    match &node.op {
        Op::Conv2d { win, groups, act } => conv(&c, win, *groups, *act, y),
        Op::DepthwiseConv2d {
            win,
            depth_multiplier,
            act,
        } => depthwise(&c, win, *depth_multiplier, *act, y),
        Op::FullyConnected { act } => fully_connected(&c, *act, y),
        Op::Add { act } | Op::Sub { act } | Op::Mul { act } => arithmetic(&c, *act, y),
        Op::Maximum | Op::Minimum => {
            let (a, b) = (c.input(0)?, c.input(1)?);
            let qa = c.act_q("input a", a)?;
            let qb = c.act_q("input b", b)?;
            let qy = c.act_q("output", y)?;
            if qa != qy || qb != qy {
                return Err(
                    c.unsupported("int8 maximum/minimum need equal input and output quantization")
                );
            }
            let op = if matches!(node.op, Op::Maximum) {
                OpKind::CmMaximum
            } else {
                OpKind::CmMinimum
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
            if c.ort() {
                return qlinear_avg_pool(&c, *kernel, win, *count_include_pad, *act, y);
            }
            if *count_include_pad && win.pads.iter().any(|&p| p != 0) {
                return Err(c.unsupported(
                    "int8 average pool counting padded cells (TFLite excludes them)",
                ));
            }
            pool(&c, OpKind::CmQuantizedAvgPool2d, *kernel, win, *act, y)
        }
        Op::MaxPool2d { kernel, win, act } => {
            pool(&c, OpKind::CmQuantizedMaxPool2d, *kernel, win, *act, y)
        }
        Op::Mean { axes, keep_dims } => mean(&c, axes, *keep_dims, y),
        Op::Softmax { beta } => softmax(&c, *beta, y),
        // ONNX Runtime runs these in f32 between their DequantizeLinear and QuantizeLinear
        // (or as its table-driven QLinear* kernels, the same arithmetic), with whatever output
        // quantization the quantizer chose: a table from the actual scales. TFLite fixes the
        // LOGISTIC and TANH outputs (1/256, -128 and 1/128, 0) and computes them in fixed
        // point; an int8 TFLite model with other output parameters gets the float table.
        Op::Logistic => {
            let (x, qx) = unary_in(&c)?;
            let qy = c.act_q("output", y)?;
            let sigmoid = |v: f32| 1.0 / (1.0 + (-v).exp());
            if c.ort() {
                lut_call(x, ort_lut(qx, qy, sigmoid), y)
            } else if qy == (1.0 / 256.0, -128) {
                lut_call(x, quant::logistic_params(qx).map_err(c.qerr())?.lut(), y)
            } else {
                lut_call(x, float_lut(qx, qy, sigmoid), y)
            }
        }
        Op::Tanh => {
            let (x, qx) = unary_in(&c)?;
            let qy = c.act_q("output", y)?;
            if c.ort() {
                lut_call(x, ort_lut(qx, qy, f32::tanh), y)
            } else if qy == (1.0 / 128.0, 0) {
                lut_call(x, quant::tanh_params(qx).map_err(c.qerr())?.lut(), y)
            } else {
                lut_call(x, float_lut(qx, qy, f32::tanh), y)
            }
        }
        Op::HardSwish if c.ort() => {
            let (x, qx) = unary_in(&c)?;
            let qy = c.act_q("output", y)?;
            let f = |v: f32| v * (v / 6.0 + 0.5).clamp(0.0, 1.0);
            lut_call(x, ort_lut(qx, qy, f), y)
        }
        Op::HardSwish => {
            let (x, qx) = unary_in(&c)?;
            let qy = c.act_q("output", y)?;
            lut_call(
                x,
                quant::hard_swish_params(qx, qy).map_err(c.qerr())?.lut(),
                y,
            )
        }
        Op::LeakyRelu { alpha } if c.ort() => {
            let (x, qx) = unary_in(&c)?;
            let qy = c.act_q("output", y)?;
            let a = *alpha;
            lut_call(x, ort_lut(qx, qy, |v| if v >= 0.0 { v } else { a * v }), y)
        }
        Op::LeakyRelu { alpha } => {
            let (x, qx) = unary_in(&c)?;
            let qy = c.act_q("output", y)?;
            lut_call(
                x,
                quant::leaky_relu_params(qx, qy, *alpha)
                    .map_err(c.qerr())?
                    .lut(),
                y,
            )
        }
        Op::Relu => clamp_lut(&c, 0.0, f32::INFINITY, false, y),
        Op::Relu6 => clamp_lut(&c, 0.0, 6.0, true, y),
        Op::ReluN1To1 => clamp_lut(&c, -1.0, 1.0, false, y),
        Op::Clip { min, max } => clamp_lut(&c, *min, *max, false, y),
        Op::Quantize { .. } => {
            let (x, qx) = unary_in(&c)?;
            let qy = c.act_q("output", y)?;
            lut_call(
                x,
                quant::requantize_params(qx, qy).map_err(c.qerr())?.lut(),
                y,
            )
        }
        Op::HardSigmoid { alpha, beta } => {
            let (x, qx) = unary_in(&c)?;
            let qy = c.act_q("output", y)?;
            let (a, b) = (*alpha, *beta);
            let f = |v: f32| (a * v + b).clamp(0.0, 1.0);
            if c.ort() {
                lut_call(x, ort_lut(qx, qy, f), y)
            } else {
                lut_call(x, float_lut(qx, qy, f), y)
            }
        }
        Op::Concat { axis } => concat(&c, *axis, y),
        Op::ResizeNearest { .. } | Op::Reshape | Op::Transpose { .. } => {
            let x = c.input(0)?;
            if c.act_q("input", x)? != c.act_q("output", y)? {
                return Err(c.unsupported(format!(
                    "int8 {} needs equal input and output quantization",
                    node.op.name()
                )));
            }
            super::f32::lower(g, node)
        }
        Op::Pad { pads, value } => {
            let x = c.input(0)?;
            let q = c.act_q("input", x)?;
            if q != c.act_q("output", y)? {
                return Err(c.unsupported("int8 pad needs equal input and output quantization"));
            }
            if pads.len() != c.shape(x).len() {
                return Err(c.invalid(format!(
                    "{} pads for a rank-{} input",
                    pads.len(),
                    c.shape(x).len()
                )));
            }
            let list: Vec<i64> = pads
                .iter()
                .rev()
                .flat_map(|&(b, a)| [b as i64, a as i64])
                .collect();
            let qv = quant::float_to_quantized_i8(*value, q.0, q.1);
            Ok(vec![Call {
                op: OpKind::AtenConstantPadNd,
                args: vec![
                    Arg::Tensor(x),
                    Arg::IntList(list),
                    Arg::Int(qv as i64),
                    Arg::Tensor(y),
                    Arg::Tensor(y),
                ],
            }])
        }
        Op::MatMul | Op::Dequantize => Err(c.unsupported(format!(
            "{} producing int8 has no int8 kernel",
            node.op.name()
        ))),
    }
}

/// The input of a unary operator and its quantization.
fn unary_in(c: &Ctx<'_>) -> Result<(TensorId, (f32, i32)), CompileError> {
    let x = c.input(0)?;
    let q = c.act_q("input", x)?;
    Ok((x, q))
}

/// `cortex_m::quantized_activation`: `[x, lut CHAR[256], out, out]`.
fn lut_call(x: TensorId, lut: [i8; 256], y: TensorId) -> Result<Vec<Call>, CompileError> {
    Ok(vec![Call {
        op: OpKind::CmQuantizedActivation,
        args: vec![
            Arg::Tensor(x),
            Arg::Const(ConstTensor::i8s(vec![256], &lut)),
            Arg::Tensor(y),
            Arg::Tensor(y),
        ],
    }])
}

/// RELU / RELU6 / RELU_N1_TO_1 / clip as a table. With equal input and output quantization
/// RELU6 is TFLM's plain clamp to `[zp, quantize(6)]`; otherwise TFLM's requantizing RELU
/// arithmetic clamped to the quantized bounds.
fn clamp_lut(
    c: &Ctx<'_>,
    lo: f32,
    hi: f32,
    relu6: bool,
    y: TensorId,
) -> Result<Vec<Call>, CompileError> {
    let (x, qx) = unary_in(c)?;
    let qy = c.act_q("output", y)?;
    if relu6 && qx == qy {
        let six = quant::float_to_quantized_i8(6.0, qx.0, qx.1);
        let p = ClampParams {
            lo: qx.1 as i8,
            hi: six as i8,
        };
        return lut_call(x, p.lut(), y);
    }
    lut_call(
        x,
        quant::relu_params(qx, qy, lo, hi).map_err(c.qerr())?.lut(),
        y,
    )
}

/// A table from a float function, as TFLite's `LUTPopulateInt8`: dequantize, apply, then
/// `round(f * (1 / s_out)) + zp` clamped.
fn float_lut(qx: (f32, i32), qy: (f32, i32), f: impl Fn(f32) -> f32) -> [i8; 256] {
    let inv = 1.0 / qy.0;
    let mut t = [0i8; 256];
    for (i, o) in t.iter_mut().enumerate() {
        let v = i as i32 - 128;
        let r = (f(qx.0 * (v - qx.1) as f32) * inv).round();
        let r = if r.is_nan() { 0.0 } else { r.clamp(-1e6, 1e6) };
        *o = ((r + qy.1 as f32) as i32).clamp(-128, 127) as i8;
    }
    t
}

/// ONNX Runtime's table for a float function between DequantizeLinear and QuantizeLinear
/// (`QlinearBuildLookupTable`): `(x - zp) * s` in f32, the function, then `y / s_out` rounded
/// half to even (MLAS's `QuantizeLinear`), plus the zero point, saturated.
fn ort_lut(qx: (f32, i32), qy: (f32, i32), f: impl Fn(f32) -> f32) -> [i8; 256] {
    let mut t = [0i8; 256];
    for (i, o) in t.iter_mut().enumerate() {
        let v = i as i32 - 128;
        let r = (f((v - qx.1) as f32 * qx.0) / qy.0).round_ties_even();
        let r = if r.is_nan() { 0.0 } else { r.clamp(-1e6, 1e6) };
        *o = (r as i32 + qy.1).clamp(-128, 127) as i8;
    }
    t
}

/// Padding `[top, left]` of a window.
fn top_left(win: &Window) -> Arg {
    ints(&[win.pads[0], win.pads[1]])
}

fn act_range(c: &Ctx<'_>, act: Act, qy: (f32, i32)) -> Result<(i64, i64), CompileError> {
    let (lo, hi) = quant::activation_range(act, qy.0, qy.1).map_err(c.qerr())?;
    Ok((lo as i64, hi as i64))
}

/// Checks the NHWC output size of a windowed operator.
fn check_window_out(
    c: &Ctx<'_>,
    x: TensorId,
    y: TensorId,
    k: [usize; 2],
    win: &Window,
    ch: usize,
) -> Result<(), CompileError> {
    let xs = c.shape(x);
    if xs.len() != 4 {
        return Err(c.invalid(format!("input has shape {xs:?}, expected NHWC")));
    }
    let oh = out_size(
        xs[1],
        win.pads[0],
        win.pads[2],
        k[0],
        win.stride[0],
        win.dilation[0],
    );
    let ow = out_size(
        xs[2],
        win.pads[1],
        win.pads[3],
        k[1],
        win.stride[1],
        win.dilation[1],
    );
    match (oh, ow) {
        (Some(oh), Some(ow)) => c.expect_shape("output", y, &[xs[0], oh, ow, ch]),
        _ => Err(c.invalid("window larger than the padded input")),
    }
}

fn conv(
    c: &Ctx<'_>,
    win: &Window,
    groups: usize,
    act: Act,
    y: TensorId,
) -> Result<Vec<Call>, CompileError> {
    let (x, w) = (c.input(0)?, c.input(1)?);
    let qx = c.act_q("input", x)?;
    let qy = c.act_q("output", y)?;
    let ws = c.shape(w).to_vec();
    if ws.len() != 4 || c.shape(x).len() != 4 {
        return Err(c.invalid(format!(
            "conv needs NHWC input and OHWI weight, found {:?} and {ws:?}",
            c.shape(x)
        )));
    }
    let (o, kh, kw, wi) = (ws[0], ws[1], ws[2], ws[3]);
    let in_c = c.shape(x)[3];
    if wi == 0 || groups == 0 || in_c != wi * groups || o % groups != 0 {
        return Err(c.invalid(format!(
            "{in_c} input channels, weight {ws:?} and {groups} groups do not fit"
        )));
    }
    check_window_out(c, x, y, [kh, kw], win, o)?;
    let scales = c.weight_scales(w, o, 0)?;
    let (lo, hi) = act_range(c, act, qy)?;
    if c.ort() {
        return Ok(vec![Call {
            op: OpKind::KilnQLinearConv2d,
            args: vec![
                Arg::Tensor(x),
                Arg::Tensor(w),
                c.bias(2, o)?,
                ints(&win.stride),
                top_left(win),
                ints(&win.dilation),
                Arg::Int(-(qx.1 as i64)),
                Arg::Int(qy.1 as i64),
                Arg::Const(ort_scales(qx.0, &scales, qy.0)),
                Arg::Int(lo),
                Arg::Int(hi),
                Arg::Tensor(y),
                Arg::Tensor(y),
            ],
        }]);
    }
    let (mults, shifts) = quant::conv_per_channel(qx.0, &scales, qy.0, o).map_err(c.qerr())?;
    Ok(vec![Call {
        op: OpKind::CmQuantizedConv2d,
        args: vec![
            Arg::Tensor(x),
            Arg::Tensor(w),
            c.bias(2, o)?,
            ints(&win.stride),
            top_left(win),
            ints(&win.dilation),
            Arg::Int(-(qx.1 as i64)),
            Arg::Int(qy.1 as i64),
            Arg::Const(ConstTensor::i32s(&mults)),
            Arg::Const(ConstTensor::i32s(&shifts)),
            Arg::Int(lo),
            Arg::Int(hi),
            Arg::Null,
            Arg::Tensor(y),
            Arg::Tensor(y),
        ],
    }])
}

fn depthwise(
    c: &Ctx<'_>,
    win: &Window,
    m: usize,
    act: Act,
    y: TensorId,
) -> Result<Vec<Call>, CompileError> {
    let (x, w) = (c.input(0)?, c.input(1)?);
    let qx = c.act_q("input", x)?;
    let qy = c.act_q("output", y)?;
    let ws = c.shape(w).to_vec();
    if ws.len() != 4 || ws[0] != 1 || c.shape(x).len() != 4 {
        return Err(c.invalid(format!(
            "depthwise needs NHWC input and a [1, kh, kw, C*M] weight, found {ws:?}"
        )));
    }
    let oc = ws[3];
    if m == 0 || c.shape(x)[3] * m != oc {
        return Err(c.invalid(format!(
            "{} channels x multiplier {m} != weight channels {oc}",
            c.shape(x)[3]
        )));
    }
    check_window_out(c, x, y, [ws[1], ws[2]], win, oc)?;
    let scales = c.weight_scales(w, oc, 3)?;
    let (lo, hi) = act_range(c, act, qy)?;
    if c.ort() {
        return Ok(vec![Call {
            op: OpKind::KilnQLinearDepthwiseConv2d,
            args: vec![
                Arg::Tensor(x),
                Arg::Tensor(w),
                c.bias(2, oc)?,
                ints(&win.stride),
                top_left(win),
                ints(&win.dilation),
                Arg::Int(m as i64),
                Arg::Int(-(qx.1 as i64)),
                Arg::Int(qy.1 as i64),
                Arg::Const(ort_scales(qx.0, &scales, qy.0)),
                Arg::Int(lo),
                Arg::Int(hi),
                Arg::Tensor(y),
                Arg::Tensor(y),
            ],
        }]);
    }
    let (mults, shifts) = quant::conv_per_channel(qx.0, &scales, qy.0, oc).map_err(c.qerr())?;
    Ok(vec![Call {
        op: OpKind::CmQuantizedDepthwiseConv2d,
        args: vec![
            Arg::Tensor(x),
            Arg::Tensor(w),
            c.bias(2, oc)?,
            ints(&win.stride),
            top_left(win),
            ints(&win.dilation),
            Arg::Int(m as i64),
            Arg::Int(-(qx.1 as i64)),
            Arg::Int(qy.1 as i64),
            Arg::Const(ConstTensor::i32s(&mults)),
            Arg::Const(ConstTensor::i32s(&shifts)),
            Arg::Int(lo),
            Arg::Int(hi),
            Arg::Null,
            Arg::Tensor(y),
            Arg::Tensor(y),
        ],
    }])
}

fn fully_connected(c: &Ctx<'_>, act: Act, y: TensorId) -> Result<Vec<Call>, CompileError> {
    let (x, w) = (c.input(0)?, c.input(1)?);
    let qx = c.act_q("input", x)?;
    let qy = c.act_q("output", y)?;
    let ws = c.shape(w).to_vec();
    let [n, k] = ws[..] else {
        return Err(c.invalid(format!(
            "fully-connected weight has shape {ws:?}, expected [N, K]"
        )));
    };
    let xn = c.g.tensor(x).numel();
    if k == 0 || (xn / k) * k != xn || c.g.tensor(y).numel() != xn / k * n {
        return Err(c.invalid(format!(
            "input {:?}, weight {ws:?} and output {:?} do not fit",
            c.shape(x),
            c.shape(y)
        )));
    }
    let wq = c.quant_of("weight", w, DType::I8)?;
    let (lo, hi) = act_range(c, act, qy)?;
    if c.ort() {
        // QGemm: one weight zero point (ONNX Runtime requires equal per-channel zero points).
        let (w_scales, wzp) = if wq.is_per_tensor() {
            let (s, z) = quant::per_tensor(wq);
            (vec![s], z)
        } else {
            (c.weight_scales(w, n, 0)?, 0)
        };
        return Ok(vec![Call {
            op: OpKind::KilnQLinearLinear,
            args: vec![
                Arg::Tensor(x),
                Arg::Tensor(w),
                c.bias(2, n)?,
                Arg::Int(-(qx.1 as i64)),
                Arg::Int(-(wzp as i64)),
                Arg::Int(qy.1 as i64),
                Arg::Const(ort_scales(qx.0, &w_scales, qy.0)),
                Arg::Int(lo),
                Arg::Int(hi),
                Arg::Tensor(y),
                Arg::Tensor(y),
            ],
        }]);
    }
    let (filter_offset, mult, shift) = if wq.is_per_tensor() {
        let (ws_, wzp) = quant::per_tensor(wq);
        let (m, s) = quant::fully_connected_per_tensor(qx.0, ws_, qy.0).map_err(c.qerr())?;
        (-(wzp as i64), Arg::Int(m as i64), Arg::Int(s as i64))
    } else {
        let scales = c.weight_scales(w, n, 0)?;
        let (m, s) = quant::conv_per_channel(qx.0, &scales, qy.0, n).map_err(c.qerr())?;
        (
            0,
            Arg::Const(ConstTensor::i32s(&m)),
            Arg::Const(ConstTensor::i32s(&s)),
        )
    };
    Ok(vec![Call {
        op: OpKind::CmQuantizedLinear,
        args: vec![
            Arg::Tensor(x),
            Arg::Tensor(w),
            c.bias(2, n)?,
            Arg::Int(-(qx.1 as i64)),
            Arg::Int(filter_offset),
            Arg::Int(qy.1 as i64),
            mult,
            shift,
            Arg::Int(lo),
            Arg::Int(hi),
            Arg::Tensor(y),
            Arg::Tensor(y),
        ],
    }])
}

fn arithmetic(c: &Ctx<'_>, act: Act, y: TensorId) -> Result<Vec<Call>, CompileError> {
    let (a, b) = (c.input(0)?, c.input(1)?);
    let qa = c.act_q("input a", a)?;
    let qb = c.act_q("input b", b)?;
    let qy = c.act_q("output", y)?;
    if c.ort() && matches!(c.node.op, Op::Add { .. }) {
        return qlinear_add(c, (a, qa), (b, qb), qy, act, y);
    }
    let (op, params) = match c.node.op {
        Op::Add { .. } => (OpKind::CmQuantizedAdd, quant::add_params(qa, qb, qy, act)),
        Op::Sub { .. } => (OpKind::KilnQuantizedSub, quant::sub_params(qa, qb, qy, act)),
        _ => (OpKind::CmQuantizedMul, quant::mul_params(qa, qb, qy, act)),
    };
    let params = params.map_err(c.qerr())?;
    Ok(vec![Call {
        op,
        args: vec![
            Arg::Tensor(a),
            Arg::Tensor(b),
            Arg::IntList(params),
            Arg::Tensor(y),
            Arg::Tensor(y),
        ],
    }])
}

fn pool(
    c: &Ctx<'_>,
    op: OpKind,
    kernel: [usize; 2],
    win: &Window,
    act: Act,
    y: TensorId,
) -> Result<Vec<Call>, CompileError> {
    let x = c.input(0)?;
    let qx = c.act_q("input", x)?;
    let qy = c.act_q("output", y)?;
    if qx != qy {
        return Err(
            c.unsupported("int8 pooling needs equal input and output quantization (TFLite)")
        );
    }
    if win.dilation != [1, 1] {
        return Err(c.unsupported("dilated pooling"));
    }
    let ch = c.shape(x).get(3).copied().unwrap_or(0);
    check_window_out(c, x, y, kernel, win, ch)?;
    let (lo, hi) = act_range(c, act, qy)?;
    Ok(vec![Call {
        op,
        args: vec![
            Arg::Tensor(x),
            ints(&kernel),
            ints(&win.stride),
            top_left(win),
            Arg::Int(lo),
            Arg::Int(hi),
            Arg::Tensor(y),
            Arg::Tensor(y),
        ],
    }])
}

fn mean(
    c: &Ctx<'_>,
    axes: &[usize],
    keep_dims: bool,
    y: TensorId,
) -> Result<Vec<Call>, CompileError> {
    let x = c.input(0)?;
    let qx = c.act_q("input", x)?;
    let qy = c.act_q("output", y)?;
    let rank = c.shape(x).len();
    if rank > 6 || axes.iter().any(|&a| a >= rank) {
        return Err(c.invalid(format!(
            "mean axes {axes:?} out of range for rank {rank} (at most 6)"
        )));
    }
    let kept: usize = c
        .shape(x)
        .iter()
        .enumerate()
        .filter(|(d, _)| !axes.contains(d))
        .map(|(_, &n)| n)
        .product();
    if c.g.tensor(y).numel() != kept {
        return Err(c.invalid(format!(
            "output {:?} does not hold the kept dimensions",
            c.shape(y)
        )));
    }
    if c.ort() && rank == 4 && axes == [1, 2] {
        // ONNX GlobalAveragePool (NHWC after the layout pass): QLinearGlobalAveragePool.
        let xs = c.shape(x);
        c.expect_shape("output", y, &[xs[0], 1, 1, xs[3]])?;
        return Ok(vec![Call {
            op: OpKind::KilnQLinearGlobalAvgPool,
            args: vec![
                Arg::Tensor(x),
                Arg::IntList(vec![
                    f32_bits(qx.0),
                    qx.1 as i64,
                    f32_bits(qy.0),
                    qy.1 as i64,
                    ORT_DOMAIN_OFFSET,
                ]),
                Arg::Tensor(y),
                Arg::Tensor(y),
            ],
        }]);
    }
    let (m, s) = quant::mean_multiplier(qx.0, qy.0).map_err(c.qerr())?;
    Ok(vec![Call {
        op: OpKind::KilnQuantizedMean,
        args: vec![
            Arg::Tensor(x),
            ints(axes),
            Arg::Bool(keep_dims),
            Arg::Int(qx.1 as i64),
            Arg::Int(qy.1 as i64),
            Arg::Int(m as i64),
            Arg::Int(s as i64),
            Arg::Tensor(y),
            Arg::Tensor(y),
        ],
    }])
}

/// ONNX Runtime's `QLinearAdd` (MLAS AVX2 arithmetic, on uint8 as ONNX Runtime runs it on x86).
fn qlinear_add(
    c: &Ctx<'_>,
    (a, qa): (TensorId, (f32, i32)),
    (b, qb): (TensorId, (f32, i32)),
    qy: (f32, i32),
    act: Act,
    y: TensorId,
) -> Result<Vec<Call>, CompileError> {
    let (lo, hi) = act_range(c, act, qy)?;
    let off = ORT_DOMAIN_OFFSET as i32;
    let a_ratio = qa.0 / qy.0;
    let b_ratio = qb.0 / qy.0;
    let fixed =
        (qy.1 + off) as f32 - (a_ratio * (qa.1 + off) as f32 + b_ratio * (qb.1 + off) as f32);
    Ok(vec![Call {
        op: OpKind::KilnQLinearAdd,
        args: vec![
            Arg::Tensor(a),
            Arg::Tensor(b),
            Arg::IntList(vec![
                f32_bits(a_ratio),
                f32_bits(b_ratio),
                f32_bits(fixed),
                ORT_DOMAIN_OFFSET,
                lo,
                hi,
            ]),
            Arg::Tensor(y),
            Arg::Tensor(y),
        ],
    }])
}

/// ONNX Runtime's `QLinearAveragePool` (input and output quantization may differ).
fn qlinear_avg_pool(
    c: &Ctx<'_>,
    kernel: [usize; 2],
    win: &Window,
    count_include_pad: bool,
    act: Act,
    y: TensorId,
) -> Result<Vec<Call>, CompileError> {
    let x = c.input(0)?;
    let qx = c.act_q("input", x)?;
    let qy = c.act_q("output", y)?;
    if win.dilation != [1, 1] {
        return Err(c.unsupported("dilated pooling"));
    }
    if act_range(c, act, qy)? != (-128, 127) {
        return Err(c.unsupported("a fused activation on an ONNX Runtime average pool"));
    }
    let ch = c.shape(x).get(3).copied().unwrap_or(0);
    check_window_out(c, x, y, kernel, win, ch)?;
    Ok(vec![Call {
        op: OpKind::KilnQLinearAvgPool2d,
        args: vec![
            Arg::Tensor(x),
            ints(&kernel),
            ints(&win.stride),
            ints(&win.pads),
            Arg::Bool(count_include_pad),
            Arg::IntList(vec![
                f32_bits(qx.0),
                qx.1 as i64,
                f32_bits(qy.0),
                qy.1 as i64,
                ORT_DOMAIN_OFFSET,
            ]),
            Arg::Tensor(y),
            Arg::Tensor(y),
        ],
    }])
}

/// ONNX Runtime's `QLinearSoftmax` for QDQ models: the exp table and output scale exactly as
/// ONNX Runtime builds them (`QlinearBuildLookupTableUint32`, f32 table entries computed in f64).
fn qlinear_softmax(
    c: &Ctx<'_>,
    beta: f32,
    x: TensorId,
    x_scale: f32,
    qy: (f32, i32),
    y: TensorId,
) -> Result<Vec<Call>, CompileError> {
    if beta != 1.0 {
        return Err(c.unsupported("ONNX softmax has no beta; found beta != 1"));
    }
    let depth = *c
        .shape(x)
        .last()
        .ok_or_else(|| c.invalid("softmax of a scalar"))?;
    // ONNX Runtime keeps sum(exp) below f32::MAX with 5 bits of headroom.
    let bit_shift = ((f32::MAX / depth as f32) as f64).ln();
    let bit_shift = (bit_shift - 5.0).max(0.0) / x_scale as f64;
    let mut table = [0f32; 256];
    for i in 0..256i32 {
        let e = ((i as f64 - 255.0 + bit_shift) * x_scale as f64).exp();
        table[(i - 128) as u8 as usize] = e as f32;
    }
    let y_scale = (1.0f32 / qy.0).floor();
    Ok(vec![Call {
        op: OpKind::KilnQLinearSoftmax,
        args: vec![
            Arg::Tensor(x),
            Arg::Const(ConstTensor::f32s(vec![256], &table)),
            Arg::Double(y_scale as f64),
            Arg::Int(qy.1 as i64),
            Arg::Tensor(y),
            Arg::Tensor(y),
        ],
    }])
}

fn softmax(c: &Ctx<'_>, beta: f32, y: TensorId) -> Result<Vec<Call>, CompileError> {
    let x = c.input(0)?;
    let qx = c.act_q("input", x)?;
    let qy = c.act_q("output", y)?;
    if c.g.int_semantics == crate::ir::IntSemantics::OnnxRuntime {
        return qlinear_softmax(c, beta, x, qx.0, qy, y);
    }
    if qy != (1.0 / 256.0, -128) {
        return Err(c.unsupported(format!(
            "int8 softmax output must have scale 1/256 and zero point -128 (TFLite), found {qy:?}"
        )));
    }
    if c.shape(x) != c.shape(y) || c.shape(x).is_empty() {
        return Err(c.invalid("softmax input and output shapes differ"));
    }
    let p = quant::softmax_params(beta, qx.0).map_err(c.qerr())?;
    Ok(vec![Call {
        op: OpKind::CmSoftmax,
        args: vec![
            Arg::Tensor(x),
            Arg::Int(p.input_multiplier as i64),
            Arg::Int(p.input_left_shift as i64),
            Arg::Int(p.diff_min as i64),
            Arg::Tensor(y),
            Arg::Tensor(y),
        ],
    }])
}

fn concat(c: &Ctx<'_>, axis: usize, y: TensorId) -> Result<Vec<Call>, CompileError> {
    let inputs: Vec<TensorId> = c.node.inputs.iter().flatten().copied().collect();
    if inputs.is_empty() {
        return Err(c.invalid("concatenation of no tensors"));
    }
    let ys = c.shape(y).to_vec();
    if axis >= ys.len() {
        return Err(c.invalid(format!("concat axis {axis} out of range for output {ys:?}")));
    }
    let mut params = Vec::with_capacity(2 * inputs.len() + 2);
    let mut total = 0;
    for &t in &inputs {
        let s = c.shape(t);
        if s.len() != ys.len()
            || s.iter()
                .zip(&ys)
                .enumerate()
                .any(|(d, (a, b))| d != axis && a != b)
        {
            return Err(c.invalid(format!(
                "input {s:?} does not concatenate into {ys:?} on axis {axis}"
            )));
        }
        total += s[axis];
        let (sc, zp) = c.act_q("input", t)?;
        params.extend([zp as i64, sc.to_bits() as i64]);
    }
    if total != ys[axis] {
        return Err(c.invalid(format!(
            "inputs add up to {total} on axis {axis}, output has {}",
            ys[axis]
        )));
    }
    let (sc, zp) = c.act_q("output", y)?;
    params.extend([zp as i64, sc.to_bits() as i64]);
    Ok(vec![Call {
        op: if c.ort() {
            OpKind::KilnQLinearConcat
        } else {
            OpKind::KilnQuantizedConcat
        },
        args: vec![
            Arg::TensorList(inputs),
            Arg::Int(axis as i64),
            Arg::IntList(params),
            Arg::Tensor(y),
            Arg::Tensor(y),
        ],
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Tensor;

    fn t(g: &mut Graph, name: &str, dtype: DType, shape: &[usize], q: Option<Quant>) -> TensorId {
        g.add_tensor(Tensor {
            name: name.into(),
            dtype,
            shape: shape.to_vec(),
            quant: q,
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

    fn pq(s: f32, z: i32) -> Option<Quant> {
        Some(Quant::per_tensor(s, z))
    }

    #[test]
    fn conv_args_follow_the_ops_layout() {
        let mut g = Graph::default();
        let x = t(&mut g, "x", DType::I8, &[1, 5, 5, 2], pq(0.5, -3));
        let w = t(
            &mut g,
            "w",
            DType::I8,
            &[3, 3, 3, 2],
            Some(Quant {
                scale: vec![0.01, 0.02, 0.04],
                zero_point: vec![0; 3],
                axis: 0,
            }),
        );
        let b = t(&mut g, "b", DType::I32, &[3], None);
        let y = t(&mut g, "y", DType::I8, &[1, 3, 3, 3], pq(0.25, 4));
        let win = Window {
            stride: [2, 2],
            dilation: [1, 1],
            pads: [1, 1, 1, 1],
        };
        let n = node(
            Op::Conv2d {
                win,
                groups: 1,
                act: Act::Relu,
            },
            &[Some(x), Some(w), Some(b)],
            y,
        );
        let calls = lower(&g, &n).unwrap();
        assert_eq!(calls.len(), 1);
        let a = &calls[0].args;
        assert_eq!(calls[0].op, OpKind::CmQuantizedConv2d);
        assert_eq!(a.len(), 15);
        assert_eq!(a[3], Arg::IntList(vec![2, 2]));
        assert_eq!(a[4], Arg::IntList(vec![1, 1]));
        assert_eq!(a[6], Arg::Int(3));
        assert_eq!(a[7], Arg::Int(4));
        let (m, s) = quant::conv_per_channel(0.5, &[0.01, 0.02, 0.04], 0.25, 3).unwrap();
        assert_eq!(a[8], Arg::Const(ConstTensor::i32s(&m)));
        assert_eq!(a[9], Arg::Const(ConstTensor::i32s(&s)));
        assert_eq!(a[10], Arg::Int(4)); // relu: zero point
        assert_eq!(a[11], Arg::Int(127));
        assert_eq!(a[12], Arg::Null);
        // A wrong output size names the node.
        let y2 = t(&mut g, "y2", DType::I8, &[1, 2, 3, 3], pq(0.25, 4));
        let n2 = node(
            Op::Conv2d {
                win,
                groups: 1,
                act: Act::None,
            },
            &[Some(x), Some(w), None],
            y2,
        );
        let e = lower(&g, &n2).unwrap_err().to_string();
        assert!(e.contains("n1") && e.contains("output"), "{e}");
    }

    #[test]
    fn fully_connected_per_tensor_and_per_channel() {
        let mut g = Graph::default();
        let x = t(&mut g, "x", DType::I8, &[2, 4], pq(0.1, 1));
        let w = t(&mut g, "w", DType::I8, &[3, 4], pq(0.3, 0));
        let y = t(&mut g, "y", DType::I8, &[2, 3], pq(0.7, -2));
        let calls = lower(
            &g,
            &node(
                Op::FullyConnected { act: Act::None },
                &[Some(x), Some(w), None],
                y,
            ),
        )
        .unwrap();
        let (m, s) = quant::fully_connected_per_tensor(0.1, 0.3, 0.7).unwrap();
        assert_eq!(calls[0].args[6], Arg::Int(m as i64));
        assert_eq!(calls[0].args[7], Arg::Int(s as i64));
        assert_eq!(calls[0].args[2], Arg::Null);
        let wc = t(
            &mut g,
            "wc",
            DType::I8,
            &[3, 4],
            Some(Quant {
                scale: vec![0.1, 0.2, 0.3],
                zero_point: vec![0; 3],
                axis: 0,
            }),
        );
        let calls = lower(
            &g,
            &node(
                Op::FullyConnected { act: Act::None },
                &[Some(x), Some(wc), None],
                y,
            ),
        )
        .unwrap();
        assert!(matches!(calls[0].args[6], Arg::Const(_)));
        assert_eq!(calls[0].args[4], Arg::Int(0));
    }

    #[test]
    fn unary_operators_become_tables() {
        let mut g = Graph::default();
        let x = t(&mut g, "x", DType::I8, &[1, 8], pq(1.0 / 16.0, 0));
        let y = t(&mut g, "y", DType::I8, &[1, 8], pq(1.0 / 256.0, -128));
        let calls = lower(&g, &node(Op::Logistic, &[Some(x)], y)).unwrap();
        assert_eq!(calls[0].op, OpKind::CmQuantizedActivation);
        let Arg::Const(lut) = &calls[0].args[1] else {
            panic!("lut is a constant")
        };
        assert_eq!(lut.shape, vec![256]);
        assert_eq!(lut.data[128] as i8, 0); // logistic(0) = 0.5 -> 0
                                            // Relu6 with equal quantization is TFLM's clamp to [zp, q(6)].
        let x6 = t(&mut g, "x6", DType::I8, &[4], pq(0.05, -10));
        let y6 = t(&mut g, "y6", DType::I8, &[4], pq(0.05, -10));
        let calls = lower(&g, &node(Op::Relu6, &[Some(x6)], y6)).unwrap();
        let Arg::Const(lut) = &calls[0].args[1] else {
            panic!("lut is a constant")
        };
        assert_eq!(lut.data[0] as i8, -10);
        assert_eq!(lut.data[255] as i8, 110);
        assert_eq!(lut.data[128] as i8, 0);
        // Logistic with another output quantization gets the table of the actual scales:
        // logistic(x / 16) at output scale 0.01, zero point -50.
        let other = t(&mut g, "other", DType::I8, &[1, 8], pq(0.01, -50));
        let calls = lower(&g, &node(Op::Logistic, &[Some(x)], other)).unwrap();
        let Arg::Const(lut) = &calls[0].args[1] else {
            panic!("lut is a constant")
        };
        for (i, &got) in lut.data.iter().enumerate() {
            let v = (i as i32 - 128) as f64 / 16.0;
            let want = ((1.0 / (1.0 + (-v).exp())) / 0.01).round() - 50.0;
            let want = want.clamp(-128.0, 127.0) as i8;
            assert!(
                (got as i8 - want).abs() <= 1,
                "entry {i}: {} vs {want}",
                got as i8
            );
        }
    }

    #[test]
    fn add_mean_softmax_concat_pool() {
        let mut g = Graph::default();
        let a = t(&mut g, "a", DType::I8, &[1, 2, 2, 3], pq(0.5, 1));
        let b = t(&mut g, "b", DType::I8, &[1, 2, 2, 3], pq(0.25, -2));
        let y = t(&mut g, "y", DType::I8, &[1, 2, 2, 3], pq(0.5, 3));
        let calls = lower(
            &g,
            &node(Op::Add { act: Act::None }, &[Some(a), Some(b)], y),
        )
        .unwrap();
        assert_eq!(
            calls[0].args[2],
            Arg::IntList(quant::add_params((0.5, 1), (0.25, -2), (0.5, 3), Act::None).unwrap())
        );
        let m = t(&mut g, "m", DType::I8, &[1, 1, 1, 3], pq(0.5, 1));
        let calls = lower(
            &g,
            &node(
                Op::Mean {
                    axes: vec![1, 2],
                    keep_dims: true,
                },
                &[Some(a)],
                m,
            ),
        )
        .unwrap();
        assert_eq!(calls[0].op, OpKind::KilnQuantizedMean);
        assert_eq!(calls[0].args[1], Arg::IntList(vec![1, 2]));
        let s = t(&mut g, "s", DType::I8, &[1, 2, 2, 3], pq(1.0 / 256.0, -128));
        let calls = lower(&g, &node(Op::Softmax { beta: 1.0 }, &[Some(a)], s)).unwrap();
        assert_eq!(calls[0].op, OpKind::CmSoftmax);
        let cat = t(&mut g, "cat", DType::I8, &[1, 2, 2, 6], pq(0.5, 1));
        let calls = lower(&g, &node(Op::Concat { axis: 3 }, &[Some(a), Some(a)], cat)).unwrap();
        let bits = 0.5f32.to_bits() as i64;
        assert_eq!(
            calls[0].args[2],
            Arg::IntList(vec![1, bits, 1, bits, 1, bits])
        );
        let p = t(&mut g, "p", DType::I8, &[1, 1, 1, 3], pq(0.5, 1));
        let win = Window {
            stride: [2, 2],
            dilation: [1, 1],
            pads: [0; 4],
        };
        let calls = lower(
            &g,
            &node(
                Op::MaxPool2d {
                    kernel: [2, 2],
                    win,
                    act: Act::None,
                },
                &[Some(a)],
                p,
            ),
        )
        .unwrap();
        assert_eq!(calls[0].args[1], Arg::IntList(vec![2, 2]));
        // Pooling across quantizations is refused.
        let p2 = t(&mut g, "p2", DType::I8, &[1, 1, 1, 3], pq(0.25, 1));
        assert!(lower(
            &g,
            &node(
                Op::MaxPool2d {
                    kernel: [2, 2],
                    win,
                    act: Act::None
                },
                &[Some(a)],
                p2
            )
        )
        .is_err());
    }

    #[test]
    fn onnx_runtime_semantics_lower_to_qlinear_kernels() {
        let mut g = Graph {
            int_semantics: crate::ir::IntSemantics::OnnxRuntime,
            ..Graph::default()
        };
        let x = t(&mut g, "x", DType::I8, &[1, 3, 3, 2], pq(0.5, -3));
        let w = t(
            &mut g,
            "w",
            DType::I8,
            &[2, 1, 1, 2],
            Some(Quant {
                scale: vec![0.01, 0.02],
                zero_point: vec![0; 2],
                axis: 0,
            }),
        );
        let y = t(&mut g, "y", DType::I8, &[1, 3, 3, 2], pq(0.25, 4));
        let win = Window {
            stride: [1, 1],
            dilation: [1, 1],
            pads: [0; 4],
        };
        let n = node(
            Op::Conv2d {
                win,
                groups: 1,
                act: Act::None,
            },
            &[Some(x), Some(w), None],
            y,
        );
        let calls = lower(&g, &n).unwrap();
        assert_eq!(calls[0].op, OpKind::KilnQLinearConv2d);
        assert_eq!(calls[0].args.len(), 13);
        // x_scale * w_scale / y_scale in f32, in that order.
        let want = [0.5f32 * 0.01 / 0.25, 0.5f32 * 0.02 / 0.25];
        assert_eq!(
            calls[0].args[8],
            Arg::Const(ConstTensor::f32s(vec![2], &want))
        );
        // Add -> QLinearAdd with the uint8 domain offset; GlobalAveragePool (Mean over H, W).
        let calls = lower(
            &g,
            &node(Op::Add { act: Act::None }, &[Some(x), Some(y)], y),
        )
        .unwrap();
        assert_eq!(calls[0].op, OpKind::KilnQLinearAdd);
        let Arg::IntList(p) = &calls[0].args[2] else {
            panic!("params are an IntList")
        };
        assert_eq!(f32::from_bits(p[0] as u32), 2.0);
        assert_eq!(f32::from_bits(p[1] as u32), 1.0);
        // y_zp' - (2 * x_zp' + 1 * y_zp') = 132 - (250 + 132).
        assert_eq!(f32::from_bits(p[2] as u32), -250.0);
        assert_eq!(&p[3..], &[128, -128, 127]);
        let m = t(&mut g, "m", DType::I8, &[1, 1, 1, 2], pq(0.1, 0));
        let calls = lower(
            &g,
            &node(
                Op::Mean {
                    axes: vec![1, 2],
                    keep_dims: true,
                },
                &[Some(x)],
                m,
            ),
        )
        .unwrap();
        assert_eq!(calls[0].op, OpKind::KilnQLinearGlobalAvgPool);
        // Average pools may change the quantization under ONNX Runtime semantics.
        let p = t(&mut g, "p", DType::I8, &[1, 2, 2, 2], pq(0.1, 0));
        let calls = lower(
            &g,
            &node(
                Op::AvgPool2d {
                    kernel: [2, 2],
                    win,
                    count_include_pad: false,
                    act: Act::None,
                },
                &[Some(x)],
                p,
            ),
        )
        .unwrap();
        assert_eq!(calls[0].op, OpKind::KilnQLinearAvgPool2d);
        assert_eq!(calls[0].args[3], Arg::IntList(vec![0, 0, 0, 0]));
    }
}
