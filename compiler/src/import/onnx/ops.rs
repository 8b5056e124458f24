//! One function per ONNX operator: checks operands, computes output shapes,
//! and emits IR nodes (with the NCHW <-> NHWC wrapping of layout-sensitive
//! operators described in the module docs of `onnx`).

use super::shape::{self, AutoPad, CoordMode, NearestMode, WindowSpec};
use super::tensor::{self, dim_from_onnx};
use super::{Importer, NodeCx, WeightSrc};
use crate::error::Result;
use crate::ir::{Act, DType, Op, Quant, Rounding, Tensor, TensorId, Window};

const TO_NHWC: [usize; 4] = [0, 2, 3, 1];
const TO_NCHW: [usize; 4] = [0, 3, 1, 2];

/// Converts one ONNX node.
pub(super) fn convert(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    match cx.op.as_str() {
        "Conv" => conv(im, cx),
        "Gemm" => gemm(im, cx),
        "MatMul" => matmul(im, cx),
        "Relu" => unary(im, cx, Op::Relu),
        "Sigmoid" => unary(im, cx, Op::Logistic),
        "Tanh" => unary(im, cx, Op::Tanh),
        "HardSwish" => unary(im, cx, Op::HardSwish),
        "LeakyRelu" => {
            let alpha = cx.attr_f("alpha", 0.01)?;
            unary(im, cx, Op::LeakyRelu { alpha })
        }
        "HardSigmoid" => {
            let (alpha, beta) = (cx.attr_f("alpha", 0.2)?, cx.attr_f("beta", 0.5)?);
            unary(im, cx, Op::HardSigmoid { alpha, beta })
        }
        "Clip" => clip(im, cx),
        "Add" => add(im, cx),
        "Sub" => binary(im, cx, Op::Sub { act: Act::None }),
        "Mul" => binary(im, cx, Op::Mul { act: Act::None }),
        "Max" => variadic(im, cx, Op::Maximum),
        "Min" => variadic(im, cx, Op::Minimum),
        "MaxPool" | "AveragePool" => pool(im, cx),
        "GlobalAveragePool" => global_avg_pool(im, cx),
        "ReduceMean" => reduce_mean(im, cx),
        "Concat" => concat(im, cx),
        "Pad" => pad(im, cx),
        "Resize" => resize(im, cx),
        "Transpose" => transpose(im, cx),
        "Flatten" => flatten(im, cx),
        "Reshape" => reshape(im, cx),
        "Softmax" => softmax(im, cx),
        "QuantizeLinear" => quantize(im, cx),
        "DequantizeLinear" => dequantize(im, cx),
        "Identity" => identity(im, cx),
        "Constant" => constant(im, cx),
        other => Err(cx.unsupported(format!(
            "kiln's ONNX importer has no conversion for '{other}' (supported: {})",
            super::SUPPORTED_OPS.join(", ")
        ))),
    }
}

fn require_f32(im: &Importer, cx: &NodeCx, x: TensorId, what: &str) -> Result<()> {
    let t = im.t(x);
    if t.dtype == DType::F32 {
        Ok(())
    } else {
        Err(cx.unsupported(format!(
            "{what} '{}' is {}; kiln imports float models and QDQ models (Q/DQ around float operators)",
            t.name, t.dtype
        )))
    }
}

fn require_rank4(im: &Importer, cx: &NodeCx, x: TensorId) -> Result<[usize; 4]> {
    let s = im.shape(x);
    <[usize; 4]>::try_from(s.as_slice()).map_err(|_| {
        cx.unsupported(format!(
            "input shape {s:?}: only 4-D (N, C, H, W) inputs are supported"
        ))
    })
}

/// Converts an ints attribute to sizes.
fn usizes(cx: &NodeCx, name: &str, v: &[i64]) -> Result<Vec<usize>> {
    v.iter()
        .map(|&d| dim_from_onnx(d).map_err(|r| cx.invalid(format!("attribute '{name}': {r}"))))
        .collect()
}

/// Reads a 2-element attribute (kernel_shape, strides, dilations) with a default.
fn pair(cx: &NodeCx, name: &str, default: Option<[usize; 2]>) -> Result<[usize; 2]> {
    match cx.attr_ints(name)? {
        Some(v) => {
            let u = usizes(cx, name, &v)?;
            <[usize; 2]>::try_from(u.as_slice()).map_err(|_| {
                cx.unsupported(format!(
                    "attribute '{name}' = {v:?}: only 2-D windows are supported"
                ))
            })
        }
        None => default.ok_or_else(|| cx.invalid(format!("attribute '{name}' is required"))),
    }
}

fn window_spec(cx: &NodeCx, kernel: [usize; 2], ceil_mode: bool) -> Result<WindowSpec> {
    let auto_pad = AutoPad::parse(&cx.attr_s("auto_pad", "NOTSET")?).map_err(|r| cx.invalid(r))?;
    let pads = match cx.attr_ints("pads")? {
        Some(v) => {
            let u = usizes(cx, "pads", &v)?;
            <[usize; 4]>::try_from(u.as_slice()).map_err(|_| {
                cx.invalid(format!(
                    "attribute 'pads' = {v:?}: expected 4 values for a 2-D window"
                ))
            })?
        }
        None => [0; 4],
    };
    Ok(WindowSpec {
        kernel,
        stride: pair(cx, "strides", Some([1, 1]))?,
        dilation: pair(cx, "dilations", Some([1, 1]))?,
        auto_pad,
        pads,
        ceil_mode,
    })
}

/// Emits `op` on the NHWC view of the NCHW tensor `x`, producing an NHWC
/// result of `nhwc_shape`, and defines ONNX output 0 as its NCHW transpose.
fn nhwc_wrapped(
    im: &mut Importer,
    cx: &NodeCx,
    x: TensorId,
    extra: Vec<Option<TensorId>>,
    op: Op,
    nhwc_shape: Vec<usize>,
) -> Result<TensorId> {
    let xn = im.transpose(cx, x, &TO_NHWC, "nhwc");
    let dtype = im.t(x).dtype;
    let out_name = cx.output_name(0).unwrap_or("out");
    let yn = im.temp(format!("{out_name}#nhwc"), dtype, nhwc_shape.clone(), None);
    let mut inputs = vec![Some(xn)];
    inputs.extend(extra);
    im.push(cx, cx.name.clone(), op, inputs, vec![yn]);
    let nchw: Vec<usize> = TO_NCHW.iter().map(|&p| nhwc_shape[p]).collect();
    let y = im.out(cx, 0, dtype, nchw)?;
    im.push(
        cx,
        format!("{}#nchw", cx.name),
        Op::Transpose {
            perm: TO_NCHW.to_vec(),
        },
        vec![Some(yn)],
        vec![y],
    );
    Ok(y)
}

fn conv(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let x = im.req(cx, 0)?;
    let w = im.req(cx, 1)?;
    let b = im.input(cx, 2)?;
    require_f32(im, cx, x, "input")?;
    let [n, c, h, wd] = require_rank4(im, cx, x)?;
    let ws = im.shape(w);
    let [m, cg, kh, kw] = <[usize; 4]>::try_from(ws.as_slice()).map_err(|_| {
        cx.unsupported(format!(
            "weight shape {ws:?}: only 2-D convolution is supported"
        ))
    })?;
    let group = usize::try_from(cx.attr_i("group", 1)?)
        .ok()
        .filter(|&g| g >= 1)
        .ok_or_else(|| cx.invalid("attribute 'group' must be >= 1"))?;
    if c % group != 0 || m % group != 0 || c / group != cg {
        return Err(cx.invalid(format!(
            "input channels {c}, weight {ws:?} and group {group} do not match (need C/group == weight dim 1)"
        )));
    }
    let kernel = pair(cx, "kernel_shape", Some([kh, kw]))?;
    if kernel != [kh, kw] {
        return Err(cx.invalid(format!(
            "kernel_shape {kernel:?} differs from the weight's {:?}",
            [kh, kw]
        )));
    }
    if let Some(b) = b {
        if im.shape(b) != [m] {
            return Err(cx.invalid(format!("bias shape {:?}, expected [{m}]", im.shape(b))));
        }
    }
    let geo =
        shape::window_2d([h, wd], &window_spec(cx, kernel, false)?).map_err(|r| cx.invalid(r))?;
    let spec = window_spec(cx, kernel, false)?;
    let win = Window {
        stride: spec.stride,
        dilation: spec.dilation,
        pads: geo.pads,
    };
    let out_shape = vec![n, geo.out[0], geo.out[1], m];
    if group > 1 && group == c && cg == 1 {
        // Depthwise: [C*M, 1, kh, kw] -> [1, kh, kw, C*M]; output channel o reads input channel o / M in both.
        let wt = im.relayout_weight(cx, w, &[1, 2, 3, 0], None, "dw")?;
        let op = Op::DepthwiseConv2d {
            win,
            depth_multiplier: m / c,
            act: Act::None,
        };
        nhwc_wrapped(im, cx, x, vec![Some(wt), b], op, out_shape)?;
    } else {
        let wt = im.relayout_weight(cx, w, &[0, 2, 3, 1], None, "ohwi")?;
        let op = Op::Conv2d {
            win,
            groups: group,
            act: Act::None,
        };
        nhwc_wrapped(im, cx, x, vec![Some(wt), b], op, out_shape)?;
    }
    Ok(())
}

fn gemm(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let a = im.req(cx, 0)?;
    let b = im.req(cx, 1)?;
    let c = im.input(cx, 2)?;
    require_f32(im, cx, a, "input A")?;
    let alpha = cx.attr_f("alpha", 1.0)?;
    let beta = cx.attr_f("beta", 1.0)?;
    let trans_a = cx.attr_i("transA", 0)? != 0;
    let trans_b = cx.attr_i("transB", 0)? != 0;
    let (sa, sb) = (im.shape(a), im.shape(b));
    if sa.len() != 2 || sb.len() != 2 {
        return Err(cx.invalid(format!("A {sa:?} and B {sb:?} must both be 2-D")));
    }
    let a2 = if trans_a {
        im.transpose(cx, a, &[1, 0], "At")
    } else {
        a
    };
    let (mm, k) = if trans_a {
        (sa[1], sa[0])
    } else {
        (sa[0], sa[1])
    };
    let (kb, nn) = if trans_b {
        (sb[1], sb[0])
    } else {
        (sb[0], sb[1])
    };
    if k != kb {
        return Err(cx.invalid(format!(
            "A {sa:?} and B {sb:?} (transA {trans_a}, transB {trans_b}) disagree on K"
        )));
    }
    if let Some(c) = c {
        shape::broadcast(&im.shape(c), &[mm, nn])
            .ok()
            .filter(|s| s == &[mm, nn])
            .ok_or_else(|| {
                cx.invalid(format!(
                    "C {:?} does not broadcast to [{mm}, {nn}]",
                    im.shape(c)
                ))
            })?;
    }
    let out_name = cx.output_name(0).unwrap_or("out").to_string();
    match im.weight_src(b) {
        WeightSrc::Const(_) | WeightSrc::Dequant { .. } => {
            let mut w = if trans_b {
                b
            } else {
                im.relayout_weight(cx, b, &[1, 0], None, "nk")?
            };
            if alpha != 1.0 {
                w = im.scale_weight(cx, w, alpha, "alpha")?;
            }
            // Bias: [N] as is, [1, N] reshaped, a scalar broadcast; anything else is added after.
            let mut bias = None;
            let mut post_add = None;
            if let Some(c) = c {
                let c = if beta != 1.0 {
                    im.scale_weight(cx, c, beta, "beta")?
                } else {
                    c
                };
                let cs = im.shape(c);
                let is_const = !matches!(im.weight_src(c), WeightSrc::Dynamic(_));
                if cs == [nn] {
                    bias = Some(c);
                } else if cs == [1, nn] && is_const {
                    bias = Some(im.relayout_weight(cx, c, &[0, 1], Some(vec![nn]), "bias")?);
                } else if let Some(v) = im
                    .constant(c)
                    .and_then(tensor::const_f32s)
                    .filter(|v| v.len() == 1)
                    .map(|v| v[0])
                {
                    let name = format!("{}#bias", im.t(c).name);
                    let data = tensor::f32_bytes(&vec![v; nn]);
                    let t = Tensor {
                        name,
                        dtype: DType::F32,
                        shape: vec![nn],
                        quant: None,
                        data: Some(data),
                    };
                    bias = Some(im.new_const(t));
                } else {
                    post_add = Some(c);
                }
            }
            let op = Op::FullyConnected { act: Act::None };
            match post_add {
                None => {
                    let y = im.out(cx, 0, DType::F32, vec![mm, nn])?;
                    im.push(
                        cx,
                        cx.name.clone(),
                        op,
                        vec![Some(a2), Some(w), bias],
                        vec![y],
                    );
                }
                Some(c) => {
                    let t = im.temp(format!("{out_name}#fc"), DType::F32, vec![mm, nn], None);
                    im.push(
                        cx,
                        cx.name.clone(),
                        op,
                        vec![Some(a2), Some(w), None],
                        vec![t],
                    );
                    let y = im.out(cx, 0, DType::F32, vec![mm, nn])?;
                    im.push(
                        cx,
                        format!("{}#add_c", cx.name),
                        Op::Add { act: Act::None },
                        vec![Some(t), Some(c)],
                        vec![y],
                    );
                }
            }
        }
        WeightSrc::Dynamic(_) => {
            let b2 = if trans_b {
                im.transpose(cx, b, &[1, 0], "Bt")
            } else {
                b
            };
            let mut cur = im.temp(format!("{out_name}#ab"), DType::F32, vec![mm, nn], None);
            im.push(
                cx,
                cx.name.clone(),
                Op::MatMul,
                vec![Some(a2), Some(b2)],
                vec![cur],
            );
            if alpha != 1.0 {
                cur = im.scale_weight(cx, cur, alpha, "alpha")?;
            }
            if let Some(c) = c {
                let c = if beta != 1.0 {
                    im.scale_weight(cx, c, beta, "beta")?
                } else {
                    c
                };
                let y = im.out(cx, 0, DType::F32, vec![mm, nn])?;
                im.push(
                    cx,
                    format!("{}#add_c", cx.name),
                    Op::Add { act: Act::None },
                    vec![Some(cur), Some(c)],
                    vec![y],
                );
            } else {
                let y = im.out(cx, 0, DType::F32, vec![mm, nn])?;
                im.push(
                    cx,
                    format!("{}#copy", cx.name),
                    Op::Reshape,
                    vec![Some(cur)],
                    vec![y],
                );
            }
        }
    }
    Ok(())
}

fn matmul(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let a = im.req(cx, 0)?;
    let b = im.req(cx, 1)?;
    require_f32(im, cx, a, "input A")?;
    let (sa, sb) = (im.shape(a), im.shape(b));
    let bad = || cx.invalid(format!("A {sa:?} and B {sb:?} do not multiply"));
    let Some(&k) = sa.last() else {
        return Err(bad());
    };
    let const_b = !matches!(im.weight_src(b), WeightSrc::Dynamic(_));
    if const_b && sb.len() == 2 {
        if sb[0] != k {
            return Err(bad());
        }
        let nn = sb[1];
        let w = im.relayout_weight(cx, b, &[1, 0], None, "nk")?;
        let batch = sa[..sa.len() - 1].iter().product::<usize>();
        let mut onnx_shape = sa[..sa.len() - 1].to_vec();
        onnx_shape.push(nn);
        let op = Op::FullyConnected { act: Act::None };
        if onnx_shape == [batch, nn] {
            let y = im.out(cx, 0, DType::F32, onnx_shape)?;
            im.push(
                cx,
                cx.name.clone(),
                op,
                vec![Some(a), Some(w), None],
                vec![y],
            );
        } else {
            let name = format!("{}#fc", cx.output_name(0).unwrap_or("out"));
            let t = im.temp(name, DType::F32, vec![batch, nn], None);
            im.push(
                cx,
                cx.name.clone(),
                op,
                vec![Some(a), Some(w), None],
                vec![t],
            );
            let y = im.out(cx, 0, DType::F32, onnx_shape)?;
            im.push(
                cx,
                format!("{}#reshape", cx.name),
                Op::Reshape,
                vec![Some(t)],
                vec![y],
            );
        }
        return Ok(());
    }
    if sa.len() < 2 || sb.len() < 2 {
        return Err(cx.unsupported(format!(
            "A {sa:?}, B {sb:?}: a 1-D operand needs a constant 2-D B"
        )));
    }
    let (m, n, kb) = (sa[sa.len() - 2], sb[sb.len() - 1], sb[sb.len() - 2]);
    if k != kb {
        return Err(bad());
    }
    let mut out =
        shape::broadcast(&sa[..sa.len() - 2], &sb[..sb.len() - 2]).map_err(|r| cx.invalid(r))?;
    out.extend([m, n]);
    let y = im.out(cx, 0, DType::F32, out)?;
    im.push(
        cx,
        cx.name.clone(),
        Op::MatMul,
        vec![Some(a), Some(b)],
        vec![y],
    );
    Ok(())
}

fn unary(im: &mut Importer, cx: &NodeCx, op: Op) -> Result<()> {
    let x = im.req(cx, 0)?;
    require_f32(im, cx, x, "input")?;
    let y = im.out(cx, 0, DType::F32, im.shape(x))?;
    im.push(cx, cx.name.clone(), op, vec![Some(x)], vec![y]);
    Ok(())
}

/// A scalar f32 constant operand (Clip bounds, Pad value).
fn scalar_operand(im: &Importer, cx: &NodeCx, i: usize, what: &str) -> Result<Option<f32>> {
    let Some(id) = im.input(cx, i)? else {
        return Ok(None);
    };
    let t = im.t(id);
    let v = im
        .constant(id)
        .and_then(|c| match c.dtype {
            DType::F32 => tensor::const_f32s(c),
            _ => tensor::const_ints(c).map(|v| v.into_iter().map(|x| x as f32).collect()),
        })
        .ok_or_else(|| cx.unsupported(format!("{what} '{}' must be a constant", t.name)))?;
    match v.as_slice() {
        [x] => Ok(Some(*x)),
        _ => Err(cx.invalid(format!(
            "{what} '{}' must be a scalar, has shape {:?}",
            t.name, t.shape
        ))),
    }
}

fn clip(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let min = scalar_operand(im, cx, 1, "min")?.unwrap_or(f32::NEG_INFINITY);
    let max = scalar_operand(im, cx, 2, "max")?.unwrap_or(f32::INFINITY);
    if min > max {
        return Err(cx.invalid(format!("min {min} > max {max}")));
    }
    let op = match (min, max) {
        (0.0, 6.0) => Op::Relu6,
        (0.0, f32::INFINITY) => Op::Relu,
        (-1.0, 1.0) => Op::ReluN1To1,
        _ => Op::Clip { min, max },
    };
    unary(im, cx, op)
}

/// `Add`; a constant `[N]` / `[1, N]` added to the sole use of a bias-less
/// FullyConnected (MatMul + Add, as exporters write a dense layer) becomes its bias.
fn add(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let a = im.req(cx, 0)?;
    let b = im.req(cx, 1)?;
    for (x, c) in [(a, b), (b, a)] {
        if fold_bias(im, cx, x, c)? {
            return Ok(());
        }
    }
    binary(im, cx, Op::Add { act: Act::None })
}

fn fold_bias(im: &mut Importer, cx: &NodeCx, x: TensorId, c: TensorId) -> Result<bool> {
    let Some(&p) = im.producer.get(&x) else {
        return Ok(false);
    };
    let node = &im.g.nodes[p];
    let fc_without_bias = matches!(node.op, Op::FullyConnected { .. }) && node.input(2).is_none();
    let xs = im.shape(x);
    let ct = im.t(c);
    if !fc_without_bias
        || im.uses(x) != 1
        || xs.len() != 2
        || ct.dtype != DType::F32
        || !ct.is_const()
    {
        return Ok(false);
    }
    let n = xs[1];
    let bias = if ct.shape == [n] {
        c
    } else if ct.shape == [1, n] {
        im.relayout_weight(cx, c, &[0, 1], Some(vec![n]), "bias")?
    } else {
        return Ok(false);
    };
    if let Some(slot) = im.g.nodes[p].inputs.get_mut(2) {
        *slot = Some(bias);
    } else {
        return Ok(false);
    }
    if let Some(name) = cx.output_name(0) {
        im.g.tensor_mut(x).name = name.to_string();
    }
    im.alias(cx, 0, x)?;
    Ok(true)
}

fn binary(im: &mut Importer, cx: &NodeCx, op: Op) -> Result<()> {
    let a = im.req(cx, 0)?;
    let b = im.req(cx, 1)?;
    let y_shape = broadcast_pair(im, cx, a, b)?;
    let y = im.out(cx, 0, im.t(a).dtype, y_shape)?;
    im.push(cx, cx.name.clone(), op, vec![Some(a), Some(b)], vec![y]);
    Ok(())
}

fn broadcast_pair(im: &Importer, cx: &NodeCx, a: TensorId, b: TensorId) -> Result<Vec<usize>> {
    let (ta, tb) = (im.t(a), im.t(b));
    if ta.dtype != tb.dtype {
        return Err(cx.invalid(format!(
            "operands '{}' ({}) and '{}' ({}) differ in type",
            ta.name, ta.dtype, tb.name, tb.dtype
        )));
    }
    require_f32(im, cx, a, "input")?;
    shape::broadcast(&ta.shape, &tb.shape).map_err(|r| cx.invalid(r))
}

fn variadic(im: &mut Importer, cx: &NodeCx, op: Op) -> Result<()> {
    let ids = (0..cx.num_inputs())
        .map(|i| im.req(cx, i))
        .collect::<Result<Vec<_>>>()?;
    let Some((&first, rest)) = ids.split_first() else {
        return Err(cx.invalid("needs at least one input"));
    };
    if rest.is_empty() {
        return identity(im, cx);
    }
    let mut acc = first;
    for (i, &next) in rest.iter().enumerate() {
        let s = broadcast_pair(im, cx, acc, next)?;
        let y = if i + 1 == rest.len() {
            im.out(cx, 0, DType::F32, s)?
        } else {
            im.temp(
                format!("{}#{i}", cx.output_name(0).unwrap_or("out")),
                DType::F32,
                s,
                None,
            )
        };
        im.push(
            cx,
            format!("{}#{i}", cx.name),
            op.clone(),
            vec![Some(acc), Some(next)],
            vec![y],
        );
        acc = y;
    }
    Ok(())
}

fn pool(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let x = im.req(cx, 0)?;
    require_f32(im, cx, x, "input")?;
    if cx.output_name(1).is_some() {
        return Err(cx.unsupported("the Indices output of MaxPool is not supported"));
    }
    let [n, c, h, w] = require_rank4(im, cx, x)?;
    let kernel = pair(cx, "kernel_shape", None)?;
    let ceil_mode = cx.attr_i("ceil_mode", 0)? != 0;
    let spec = window_spec(cx, kernel, ceil_mode)?;
    if spec.dilation != [1, 1] {
        return Err(cx.unsupported(format!("dilations {:?} in pooling", spec.dilation)));
    }
    let geo = shape::window_2d([h, w], &spec).map_err(|r| cx.invalid(r))?;
    let win = Window {
        stride: spec.stride,
        dilation: [1, 1],
        pads: geo.pads,
    };
    let op = if cx.op == "MaxPool" {
        Op::MaxPool2d {
            kernel,
            win,
            act: Act::None,
        }
    } else {
        let count_include_pad = cx.attr_i("count_include_pad", 0)? != 0;
        if geo.ceil_extended && count_include_pad {
            // ORT counts declared pads but not the ceil_mode extension; one flag cannot say both.
            return Err(cx.unsupported("ceil_mode=1 together with count_include_pad=1"));
        }
        Op::AvgPool2d {
            kernel,
            win,
            count_include_pad,
            act: Act::None,
        }
    };
    nhwc_wrapped(im, cx, x, vec![], op, vec![n, geo.out[0], geo.out[1], c])?;
    Ok(())
}

fn global_avg_pool(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let x = im.req(cx, 0)?;
    require_f32(im, cx, x, "input")?;
    let [n, c, _, _] = require_rank4(im, cx, x)?;
    nhwc_wrapped(
        im,
        cx,
        x,
        vec![],
        Op::Mean {
            axes: vec![1, 2],
            keep_dims: true,
        },
        vec![n, 1, 1, c],
    )?;
    Ok(())
}

fn reduce_mean(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let x = im.req(cx, 0)?;
    require_f32(im, cx, x, "input")?;
    let s = im.shape(x);
    let keep_dims = cx.attr_i("keepdims", 1)? != 0;
    let mut axes = match cx.attr_ints("axes")? {
        Some(v) => v
            .iter()
            .map(|&a| shape::norm_axis(a, s.len()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|r| cx.invalid(r))?,
        None => (0..s.len()).collect(),
    };
    axes.sort_unstable();
    axes.dedup();
    if s.len() == 4 && axes == [2, 3] {
        if keep_dims {
            nhwc_wrapped(
                im,
                cx,
                x,
                vec![],
                Op::Mean {
                    axes: vec![1, 2],
                    keep_dims: true,
                },
                vec![s[0], 1, 1, s[1]],
            )?;
        } else {
            // NHWC mean over H, W without kept dims is [N, C]: already the ONNX result.
            let xn = im.transpose(cx, x, &TO_NHWC, "nhwc");
            let y = im.out(cx, 0, DType::F32, vec![s[0], s[1]])?;
            im.push(
                cx,
                cx.name.clone(),
                Op::Mean {
                    axes: vec![1, 2],
                    keep_dims: false,
                },
                vec![Some(xn)],
                vec![y],
            );
        }
        return Ok(());
    }
    let out: Vec<usize> = if keep_dims {
        s.iter()
            .enumerate()
            .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
            .collect()
    } else {
        s.iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, &d)| d)
            .collect()
    };
    let y = im.out(cx, 0, DType::F32, out)?;
    im.push(
        cx,
        cx.name.clone(),
        Op::Mean { axes, keep_dims },
        vec![Some(x)],
        vec![y],
    );
    Ok(())
}

fn concat(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let ids = (0..cx.num_inputs())
        .map(|i| im.req(cx, i))
        .collect::<Result<Vec<_>>>()?;
    let Some(&first) = ids.first() else {
        return Err(cx.invalid("needs at least one input"));
    };
    if !cx.has_attr("axis") {
        return Err(cx.invalid("attribute 'axis' is required"));
    }
    let s0 = im.shape(first);
    let dtype = im.t(first).dtype;
    let axis = shape::norm_axis(cx.attr_i("axis", 0)?, s0.len()).map_err(|r| cx.invalid(r))?;
    let mut out = s0.clone();
    out[axis] = 0;
    for &id in &ids {
        let t = im.t(id);
        let same = t.shape.len() == s0.len()
            && t.shape
                .iter()
                .zip(&s0)
                .enumerate()
                .all(|(i, (a, b))| i == axis || a == b);
        if !same || t.dtype != dtype {
            return Err(cx.invalid(format!(
                "input '{}' {:?} ({}) does not concatenate with {s0:?} ({dtype}) on axis {axis}",
                t.name, t.shape, t.dtype
            )));
        }
        out[axis] += t.shape[axis];
    }
    let y = im.out(cx, 0, dtype, out)?;
    im.push(
        cx,
        cx.name.clone(),
        Op::Concat { axis },
        ids.into_iter().map(Some).collect(),
        vec![y],
    );
    Ok(())
}

fn pad(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let x = im.req(cx, 0)?;
    let mode = cx.attr_s("mode", "constant")?;
    if mode != "constant" {
        return Err(cx.unsupported(format!("mode '{mode}' (only 'constant')")));
    }
    let p = im.req(cx, 1)?;
    let s = im.shape(x);
    let pads = im
        .constant(p)
        .and_then(tensor::const_ints)
        .ok_or_else(|| cx.unsupported("the pads operand must be a constant integer tensor"))?;
    if pads.len() != 2 * s.len() {
        return Err(cx.invalid(format!(
            "pads has {} values, input rank {} needs {}",
            pads.len(),
            s.len(),
            2 * s.len()
        )));
    }
    let r = s.len();
    let mut pairs = Vec::with_capacity(r);
    let mut out = Vec::with_capacity(r);
    for d in 0..r {
        let (b, e) = (pads[d], pads[d + r]);
        let (b, e) = match (dim_from_onnx(b), dim_from_onnx(e)) {
            (Ok(b), Ok(e)) => (b, e),
            _ => {
                return Err(cx.unsupported(format!(
                    "negative or huge pads {pads:?} (cropping) are not supported"
                )))
            }
        };
        pairs.push((b, e));
        out.push(s[d] + b + e);
    }
    let value = scalar_operand(im, cx, 2, "constant_value")?.unwrap_or(0.0);
    let y = im.out(cx, 0, im.t(x).dtype, out)?;
    im.push(
        cx,
        cx.name.clone(),
        Op::Pad { pads: pairs, value },
        vec![Some(x)],
        vec![y],
    );
    Ok(())
}

fn resize(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let x = im.req(cx, 0)?;
    require_f32(im, cx, x, "input")?;
    let mode = cx.attr_s("mode", "nearest")?;
    if mode != "nearest" {
        return Err(cx.unsupported(format!("mode '{mode}' (only 'nearest')")));
    }
    let cm = CoordMode::parse(&cx.attr_s("coordinate_transformation_mode", "half_pixel")?)
        .map_err(|r| cx.unsupported(r))?;
    let nm = NearestMode::parse(&cx.attr_s("nearest_mode", "round_prefer_floor")?)
        .map_err(|r| cx.unsupported(r))?;
    let s = require_rank4(im, cx, x)?;
    let non_empty = |i: usize| -> Result<Option<TensorId>> {
        Ok(im.input(cx, i)?.filter(|&id| im.t(id).numel() > 0))
    };
    let (sizes, scales) = (non_empty(3)?, non_empty(2)?);
    let (out, scale): ([usize; 4], [f32; 4]) = if let Some(sz) = sizes {
        let v = im
            .constant(sz)
            .and_then(tensor::const_ints)
            .ok_or_else(|| cx.unsupported("sizes must be a constant"))?;
        let u = v
            .iter()
            .map(|&d| dim_from_onnx(d))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|r| cx.invalid(r))?;
        let o = <[usize; 4]>::try_from(u.as_slice())
            .map_err(|_| cx.invalid(format!("sizes {v:?} must have 4 values")))?;
        (o, std::array::from_fn(|i| o[i] as f32 / s[i] as f32))
    } else if let Some(sc) = scales {
        let v = im
            .constant(sc)
            .and_then(tensor::const_f32s)
            .ok_or_else(|| cx.unsupported("scales must be a constant"))?;
        let f = <[f32; 4]>::try_from(v.as_slice())
            .map_err(|_| cx.invalid(format!("scales {v:?} must have 4 values")))?;
        if f.iter().any(|&v| !(v > 0.0 && v.is_finite())) {
            return Err(cx.invalid(format!("scales {f:?} must be positive")));
        }
        let o: [usize; 4] = std::array::from_fn(|i| (s[i] as f32 * f[i]).floor() as usize);
        (o, f)
    } else {
        return Err(cx.invalid("one of scales and sizes is required"));
    };
    tensor::checked_numel(&out).map_err(|r| cx.unsupported(format!("output: {r}")))?;
    if out[0] != s[0] || out[1] != s[1] || out[2] == 0 || out[3] == 0 {
        return Err(cx.unsupported(format!(
            "resize from {s:?} to {out:?}: only H and W may change"
        )));
    }
    // Pick the TFLite (align_corners, half_pixel_centers) pair that selects the same source pixels.
    let found = [(false, false), (false, true), (true, false)]
        .into_iter()
        .find(|&(ac, hp)| {
            (2..4).all(|ax| {
                shape::onnx_nearest_map(s[ax], out[ax], scale[ax], cm, nm)
                    .eq(shape::tflite_nearest_map(s[ax], out[ax], ac, hp))
            })
        });
    let Some((align_corners, half_pixel_centers)) = found else {
        return Err(cx.unsupported(format!(
            "nearest resize {s:?} -> {out:?} with {cm:?}/{nm:?} selects pixels no TFLite resize mode selects"
        )));
    };
    let op = Op::ResizeNearest {
        align_corners,
        half_pixel_centers,
    };
    nhwc_wrapped(im, cx, x, vec![], op, vec![s[0], out[2], out[3], s[1]])?;
    Ok(())
}

fn transpose(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let x = im.req(cx, 0)?;
    let s = im.shape(x);
    let perm = match cx.attr_ints("perm")? {
        Some(p) => usizes(cx, "perm", &p)?,
        None => (0..s.len()).rev().collect(),
    };
    let mut seen = vec![false; s.len()];
    if perm.len() != s.len()
        || perm
            .iter()
            .any(|&p| p >= s.len() || std::mem::replace(&mut seen[p], true))
    {
        return Err(cx.invalid(format!(
            "perm {perm:?} is not a permutation of {} axes",
            s.len()
        )));
    }
    let t = im.t(x);
    let quant = t.quant.as_ref().map(|q| tensor::permute_quant(q, &perm));
    let out = Tensor {
        name: String::new(),
        dtype: t.dtype,
        shape: perm.iter().map(|&p| s[p]).collect(),
        quant,
        data: None,
    };
    let y = im.define(cx, 0, out)?;
    im.push(
        cx,
        cx.name.clone(),
        Op::Transpose { perm },
        vec![Some(x)],
        vec![y],
    );
    Ok(())
}

/// Emits a `Reshape` of `x` to `shape` as ONNX output 0 (per-tensor quantization carries over).
fn emit_reshape(im: &mut Importer, cx: &NodeCx, x: TensorId, shape: Vec<usize>) -> Result<()> {
    let t = im.t(x);
    let have = t.numel();
    let want = tensor::checked_numel(&shape).map_err(|r| cx.invalid(r))?;
    if have != want {
        return Err(cx.invalid(format!(
            "cannot reshape {:?} ({have} elements) to {shape:?} ({want})",
            t.shape
        )));
    }
    let out = Tensor {
        name: String::new(),
        dtype: t.dtype,
        shape,
        quant: t.quant.clone().filter(Quant::is_per_tensor),
        data: None,
    };
    let y = im.define(cx, 0, out)?;
    im.push(cx, cx.name.clone(), Op::Reshape, vec![Some(x)], vec![y]);
    Ok(())
}

fn flatten(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let x = im.req(cx, 0)?;
    let s = im.shape(x);
    let axis = cx.attr_i("axis", 1)?;
    // Flatten's axis may equal the rank (everything in the first dimension).
    let a = if axis < 0 {
        axis + s.len() as i64
    } else {
        axis
    };
    let a = usize::try_from(a)
        .ok()
        .filter(|&a| a <= s.len())
        .ok_or_else(|| cx.invalid(format!("axis {axis} out of range for rank {}", s.len())))?;
    let shape = vec![s[..a].iter().product(), s[a..].iter().product()];
    emit_reshape(im, cx, x, shape)
}

fn reshape(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let x = im.req(cx, 0)?;
    let sh = im.req(cx, 1)?;
    let spec = im
        .constant(sh)
        .and_then(tensor::const_ints)
        .ok_or_else(|| {
            cx.unsupported(format!(
                "the shape operand '{}' must be a constant",
                im.t(sh).name
            ))
        })?;
    let allow_zero = cx.attr_i("allowzero", 0)? != 0;
    let s = im.shape(x);
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allow_zero => out.push(*s.get(i).ok_or_else(|| {
                cx.invalid(format!(
                    "shape {spec:?}: 0 at {i} copies a missing input dim"
                ))
            })?),
            d => {
                out.push(dim_from_onnx(d).map_err(|r| cx.invalid(format!("shape {spec:?}: {r}")))?)
            }
        }
    }
    if let Some(i) = infer {
        let known = tensor::checked_numel(&out).map_err(|r| cx.invalid(r))?;
        let total: usize = s.iter().product();
        if known == 0 || !total.is_multiple_of(known) {
            return Err(cx.invalid(format!("cannot infer -1 in {spec:?} for input {s:?}")));
        }
        out[i] = total / known;
    }
    emit_reshape(im, cx, x, out)
}

fn softmax(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let x = im.req(cx, 0)?;
    require_f32(im, cx, x, "input")?;
    let s = im.shape(x);
    let r = s.len();
    let default_axis = if im.opset >= 13 { -1 } else { 1 };
    let axis = shape::norm_axis(cx.attr_i("axis", default_axis)?, r).map_err(|e| cx.invalid(e))?;
    let out_name = cx.output_name(0).unwrap_or("out").to_string();
    let op = Op::Softmax { beta: 1.0 };
    if axis + 1 == r {
        let y = im.out(cx, 0, DType::F32, s)?;
        im.push(cx, cx.name.clone(), op, vec![Some(x)], vec![y]);
    } else if im.opset >= 13 {
        // Swap the axis with the last one, softmax, swap back.
        let mut perm: Vec<usize> = (0..r).collect();
        perm.swap(axis, r - 1);
        let xt = im.transpose(cx, x, &perm, "swap");
        let ts = im.shape(xt);
        let yt = im.temp(format!("{out_name}#swap"), DType::F32, ts, None);
        im.push(cx, cx.name.clone(), op, vec![Some(xt)], vec![yt]);
        let y = im.out(cx, 0, DType::F32, s)?;
        im.push(
            cx,
            format!("{}#unswap", cx.name),
            Op::Transpose { perm },
            vec![Some(yt)],
            vec![y],
        );
    } else {
        // Opset < 13: softmax over the flattened [axis..] dimensions.
        let two_d = vec![s[..axis].iter().product(), s[axis..].iter().product()];
        let x2 = im.temp(format!("{out_name}#2d_in"), DType::F32, two_d.clone(), None);
        im.push(
            cx,
            format!("{}#to2d", cx.name),
            Op::Reshape,
            vec![Some(x)],
            vec![x2],
        );
        let y2 = im.temp(format!("{out_name}#2d"), DType::F32, two_d, None);
        im.push(cx, cx.name.clone(), op, vec![Some(x2)], vec![y2]);
        let y = im.out(cx, 0, DType::F32, s)?;
        im.push(
            cx,
            format!("{}#from2d", cx.name),
            Op::Reshape,
            vec![Some(y2)],
            vec![y],
        );
    }
    Ok(())
}

/// Quantization parameters from constant scale / zero-point operands 1 and 2,
/// with the zero point's type (`None` when the zero point is absent).
fn qparams(im: &Importer, cx: &NodeCx, x: TensorId) -> Result<(Quant, Option<DType>)> {
    let s = im.shape(x);
    let sc = im.req(cx, 1)?;
    let scale = im
        .constant(sc)
        .and_then(tensor::const_f32s)
        .ok_or_else(|| {
            cx.unsupported(format!(
                "scale '{}' must be a constant f32 tensor",
                im.t(sc).name
            ))
        })?;
    if scale.is_empty() || scale.iter().any(|&v| !(v > 0.0 && v.is_finite())) {
        return Err(cx.invalid(format!(
            "scale '{}' must hold positive finite values",
            im.t(sc).name
        )));
    }
    let zp = im.input(cx, 2)?;
    let (zero_point, zp_type) = match zp {
        Some(z) => {
            let t = im.t(z);
            let v = im.constant(z).and_then(tensor::const_ints).ok_or_else(|| {
                cx.unsupported(format!(
                    "zero point '{}' must be a constant integer tensor",
                    t.name
                ))
            })?;
            if !matches!(t.dtype, DType::I8 | DType::U8 | DType::I32) {
                return Err(cx.unsupported(format!(
                    "zero point '{}' is {} (expected i8, u8 or i32)",
                    t.name, t.dtype
                )));
            }
            let v = v.into_iter().map(|z| z as i32).collect::<Vec<_>>();
            (v, Some(t.dtype))
        }
        None => (vec![0; scale.len()], None),
    };
    if zero_point.len() != scale.len() {
        return Err(cx.invalid(format!(
            "{} scales but {} zero points",
            scale.len(),
            zero_point.len()
        )));
    }
    let per_axis = scale.len() > 1;
    if per_axis && im.t(sc).shape.len() != 1 {
        return Err(cx.invalid(format!(
            "scale shape {:?} must be a scalar or 1-D",
            im.t(sc).shape
        )));
    }
    let axis = if per_axis {
        let a = shape::norm_axis(cx.attr_i("axis", 1)?, s.len()).map_err(|r| cx.invalid(r))?;
        if s[a] != scale.len() {
            return Err(cx.invalid(format!(
                "{} scales for axis {a} of size {}",
                scale.len(),
                s[a]
            )));
        }
        a
    } else {
        0
    };
    Ok((
        Quant {
            scale,
            zero_point,
            axis,
        },
        zp_type,
    ))
}

fn quantize(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let x = im.req(cx, 0)?;
    require_f32(im, cx, x, "input")?;
    let (quant, zp_type) = qparams(im, cx, x)?;
    let dtype = zp_type.unwrap_or(DType::U8);
    if !matches!(dtype, DType::I8 | DType::U8) {
        return Err(cx.unsupported(format!("output type {dtype} (only int8 and uint8)")));
    }
    let out = Tensor {
        name: String::new(),
        dtype,
        shape: im.shape(x),
        quant: Some(quant),
        data: None,
    };
    let y = im.define(cx, 0, out)?;
    im.push(
        cx,
        cx.name.clone(),
        Op::Quantize {
            rounding: Rounding::HalfToEven,
        },
        vec![Some(x)],
        vec![y],
    );
    Ok(())
}

fn dequantize(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let mut x = im.req(cx, 0)?;
    let (quant, zp_type) = qparams(im, cx, x)?;
    let t = im.t(x);
    if !matches!(t.dtype, DType::I8 | DType::U8 | DType::I32) {
        return Err(cx.unsupported(format!(
            "input '{}' is {} (expected i8, u8 or i32)",
            t.name, t.dtype
        )));
    }
    if zp_type.is_some_and(|z| z != t.dtype) {
        return Err(cx.invalid(format!(
            "zero point type differs from input '{}' ({})",
            t.name, t.dtype
        )));
    }
    match &t.quant {
        None => im.g.tensor_mut(x).quant = Some(quant),
        Some(q) if *q == quant => {}
        Some(_) if t.is_const() => {
            // Same constant dequantized twice with different parameters: give this use its own copy.
            let copy = Tensor { name: format!("{}#{}", t.name, cx.name), quant: Some(quant), ..t.clone() };
            x = im.new_const(copy);
        }
        Some(q) => {
            return Err(cx.unsupported(format!(
                "'{}' is quantized with {q:?} but dequantized with {quant:?}; one tensor has one quantization",
                t.name
            )))
        }
    }
    let y = im.out(cx, 0, DType::F32, im.shape(x))?;
    im.push(cx, cx.name.clone(), Op::Dequantize, vec![Some(x)], vec![y]);
    Ok(())
}

fn identity(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let x = im.req(cx, 0)?;
    if im.is_graph_output(cx, 0) {
        // A graph output needs its own tensor: copy.
        return emit_reshape(im, cx, x, im.shape(x));
    }
    im.alias(cx, 0, x)
}

fn constant(im: &mut Importer, cx: &NodeCx) -> Result<()> {
    let name = cx.output_name(0).unwrap_or("").to_string();
    let t = if let Some(tp) = cx.attr_t("value")? {
        tensor::tensor_from_proto(&name, tp).map_err(|e| match e {
            tensor::TensorIssue::Malformed(r) => cx.malformed(format!("value: {r}")),
            tensor::TensorIssue::Unsupported(r) => cx.unsupported(format!("value: {r}")),
        })?
    } else if cx.has_attr("value_float") {
        let v = cx.attr_f("value_float", 0.0)?;
        Tensor {
            name,
            dtype: DType::F32,
            shape: vec![],
            quant: None,
            data: Some(tensor::f32_bytes(&[v])),
        }
    } else if let Some(v) = cx.attr_floats("value_floats")? {
        Tensor {
            name,
            dtype: DType::F32,
            shape: vec![v.len()],
            quant: None,
            data: Some(tensor::f32_bytes(&v)),
        }
    } else if cx.has_attr("value_int") {
        let v = cx.attr_i("value_int", 0)?;
        Tensor {
            name,
            dtype: DType::I64,
            shape: vec![],
            quant: None,
            data: Some(tensor::i64_bytes(&[v])),
        }
    } else if let Some(v) = cx.attr_ints("value_ints")? {
        Tensor {
            name,
            dtype: DType::I64,
            shape: vec![v.len()],
            quant: None,
            data: Some(tensor::i64_bytes(&v)),
        }
    } else {
        return Err(
            cx.unsupported("only value, value_float(s) and value_int(s) constants are supported")
        );
    };
    im.define(cx, 0, t)?;
    Ok(())
}
