//! QDQ folding: `Dequantize(q_i) -> op -> Quantize` becomes the int8 operator on
//! `q_i`, with the int8 weight constant (symmetric, per-channel on the
//! output-channel axis), an int32 bias at scale `input_scale * weight_scale`,
//! and the `Quantize` output as its output. Operators that cannot honour the
//! quantization stay in f32 and are recorded with the reason.
//!
//! Also here: `Dequantize -> Quantize` pairs collapse (identity or a direct
//! int-to-int requantize), and uint8 quantized tensors become int8 by shifting
//! the zero point by -128 (exact).

use std::collections::BTreeMap;

use super::util::{self, sole_consumer};
use super::{KeptF32, PassReport};
use crate::error::Result;
use crate::ir::{DType, Graph, Node, Op, Quant, Rounding, Tensor, TensorId, Uses};

/// Relative tolerance for a bias scale to count as `input_scale * weight_scale`.
const BIAS_SCALE_RTOL: f32 = 1e-4;

/// Runs `Dequantize -> Quantize` collapsing and QDQ folding over the graph. `kept` collects why
/// operators next to quantized tensors stay f32 (`None`: do not record).
pub(crate) fn run(
    g: &mut Graph,
    mut kept: Option<&mut BTreeMap<String, KeptF32>>,
    report: &mut PassReport,
) -> Result<bool> {
    let mut changed = false;
    let mut i = 0;
    // Who reads and writes what, rebuilt after each rewrite (a chain of n nodes asks n times).
    let mut uses = g.uses();
    while i < g.nodes.len() {
        if collapse_dq_q(g, &uses, i) {
            uses = g.uses();
            changed = true;
            continue;
        }
        match fold(g, &uses, i)? {
            Outcome::Folded => {
                uses = g.uses();
                report.quantized_ops += 1;
                changed = true;
            }
            Outcome::Kept(reason) => {
                if let Some(k) = kept.as_deref_mut() {
                    let n = &g.nodes[i];
                    k.insert(
                        n.name.clone(),
                        KeptF32 {
                            node: n.name.clone(),
                            op: n.op.name(),
                            reason,
                        },
                    );
                }
                i += 1;
            }
            Outcome::NotQdq => i += 1,
        }
    }
    Ok(changed)
}

/// True for an operator computing in f32 (quantize/dequantize and data movement excluded).
pub(crate) fn is_f32_node(g: &Graph, n: &Node) -> bool {
    !matches!(
        n.op,
        Op::Quantize { .. } | Op::Dequantize | Op::Transpose { .. } | Op::Reshape
    ) && n.outputs.iter().all(|o| g.tensor(*o).dtype == DType::F32)
}

/// `Dequantize(q1) -> Quantize -> q2` becomes `q1` (same parameters) or `Quantize(q1) -> q2` (int to int).
fn collapse_dq_q(g: &mut Graph, u: &Uses, k: usize) -> bool {
    let n = &g.nodes[k];
    if !matches!(n.op, Op::Quantize { .. }) || n.outputs.len() != 1 {
        return false;
    }
    let (Some(f), q2) = (n.input(0), n.outputs[0]) else {
        return false;
    };
    let Some(d) = util::producer_where_in(g, u, f, |op| matches!(op, Op::Dequantize)) else {
        return false;
    };
    let Some(q1) = g.nodes[d].input(0) else {
        return false;
    };
    let (t1, t2) = (g.tensor(q1), g.tensor(q2));
    if t1.dtype == DType::F32 || t1.quant.is_none() || t2.quant.is_none() {
        return false;
    }
    if t1.dtype == t2.dtype && util::quant_eq(&t1.quant, &t2.quant) && t1.shape == t2.shape {
        return util::bypass(g, k, q1);
    }
    if util::per_tensor_q(t1).is_some() && util::per_tensor_q(t2).is_some() {
        g.nodes[k].inputs[0] = Some(q1);
        return true;
    }
    false
}

enum Outcome {
    Folded,
    Kept(String),
    NotQdq,
}

/// What an operand is to the int8 kernel.
#[derive(Clone, Copy)]
enum Role {
    Act,
    /// Constant int8 weight, per-channel on this axis.
    Weight(usize),
    Bias,
}

fn roles(op: &Op, n: usize) -> Option<Vec<Role>> {
    use Role::*;
    Some(match op {
        Op::Conv2d { .. } | Op::FullyConnected { .. } => vec![Act, Weight(0), Bias],
        Op::DepthwiseConv2d { .. } => vec![Act, Weight(3), Bias],
        Op::Add { .. } | Op::Sub { .. } | Op::Mul { .. } | Op::Maximum | Op::Minimum => {
            vec![Act, Act]
        }
        Op::Concat { .. } => vec![Act; n],
        Op::AvgPool2d { .. }
        | Op::MaxPool2d { .. }
        | Op::Mean { .. }
        | Op::Softmax { .. }
        | Op::Logistic
        | Op::Tanh
        | Op::HardSwish
        | Op::LeakyRelu { .. }
        | Op::Relu
        | Op::Relu6
        | Op::ReluN1To1
        | Op::Clip { .. }
        | Op::Reshape
        | Op::Pad { .. }
        | Op::Transpose { .. }
        | Op::ResizeNearest { .. } => vec![Act],
        _ => return None,
    })
}

/// Operators whose int8 kernel cannot change the quantization: a different output quantization
/// becomes a requantize after them.
fn keeps_quantization(op: &Op) -> bool {
    matches!(
        op,
        Op::AvgPool2d { .. }
            | Op::MaxPool2d { .. }
            | Op::Reshape
            | Op::Pad { .. }
            | Op::Transpose { .. }
            | Op::ResizeNearest { .. }
    )
}

/// The rewrite QDQ folding decided on.
struct Plan {
    inputs: Vec<Option<TensorId>>,
    /// New constants to add, for operand slot `.0`.
    new_consts: Vec<(usize, Tensor)>,
    quantize_node: usize,
    /// The Quantize output: the operator's new output.
    out: TensorId,
    /// Quantization the operator itself produces when it must differ from `out`'s.
    requantize_from: Option<Quant>,
}

fn dequantized_source(g: &Graph, u: &Uses, t: TensorId) -> Option<TensorId> {
    let d = util::producer_where_in(g, u, t, |op| matches!(op, Op::Dequantize))?;
    g.nodes[d].input(0)
}

fn fold(g: &mut Graph, u: &Uses, i: usize) -> Result<Outcome> {
    let n = &g.nodes[i];
    if n.outputs.len() != 1
        || g.tensor(n.outputs[0]).dtype != DType::F32
        || !is_f32_node(g, n) && !is_movement(&n.op)
    {
        return Ok(Outcome::NotQdq);
    }
    let out = n.outputs[0];
    let into_quantize =
        sole_consumer(g, u, out).filter(|&k| matches!(g.nodes[k].op, Op::Quantize { .. }));
    let from_dequantize = n
        .inputs
        .iter()
        .flatten()
        .any(|t| dequantized_source(g, u, *t).is_some());
    if into_quantize.is_none() && !from_dequantize {
        return Ok(Outcome::NotQdq);
    }
    match plan(g, u, i, into_quantize) {
        Ok(p) => {
            apply(g, i, p);
            Ok(Outcome::Folded)
        }
        // Data movement is not computation: it simply runs in f32, there is nothing to report.
        Err(_) if is_movement(&g.nodes[i].op) => Ok(Outcome::NotQdq),
        Err(reason) => Ok(Outcome::Kept(reason)),
    }
}

fn is_movement(op: &Op) -> bool {
    matches!(op, Op::Reshape | Op::Transpose { .. })
}

fn plan(
    g: &Graph,
    u: &Uses,
    i: usize,
    into_quantize: Option<usize>,
) -> std::result::Result<Plan, String> {
    let n = &g.nodes[i];
    let Some(roles) = roles(&n.op, n.inputs.len()) else {
        return Err(format!("no int8 kernel for {}", n.op.name()));
    };
    let Some(k) = into_quantize else {
        return Err(format!(
            "output '{}' is used as float, not only by one Quantize",
            g.tensor(n.outputs[0]).name
        ));
    };
    let out = g.nodes[k].outputs[0];
    let ot = g.tensor(out);
    if ot.dtype != DType::I8 {
        return Err(format!(
            "output is quantized to {}; int8 kernels need i8",
            ot.dtype
        ));
    }
    let Some((os, ozp)) = util::per_tensor_q(ot) else {
        return Err("output quantization is per-channel; int8 kernels need per-tensor".into());
    };
    if n.inputs.len() > roles.len() {
        return Err(format!(
            "{} operands, the int8 kernel takes {}",
            n.inputs.len(),
            roles.len()
        ));
    }
    let mut inputs = n.inputs.clone();
    let mut act_q: Vec<(f32, i32)> = Vec::new();
    let mut weight: Option<(TensorId, Vec<f32>, usize)> = None;
    let mut bias_slot = None;
    for (slot, role) in roles.iter().enumerate() {
        let Some(t) = n.inputs.get(slot).copied().flatten() else {
            match role {
                Role::Bias => continue,
                _ => return Err(format!("operand {slot} is missing")),
            }
        };
        let name = &g.tensor(t).name;
        match *role {
            Role::Act => {
                let Some(src) = dequantized_source(g, u, t) else {
                    return Err(format!("operand '{name}' is not dequantized from int8"));
                };
                let st = g.tensor(src);
                if st.dtype != DType::I8 {
                    return Err(format!(
                        "operand '{name}' is dequantized from {}, not i8",
                        st.dtype
                    ));
                }
                let Some(q) = util::per_tensor_q(st) else {
                    return Err(format!("operand '{name}' is quantized per-channel"));
                };
                act_q.push(q);
                inputs[slot] = Some(src);
            }
            Role::Weight(axis) => {
                let src = dequantized_source(g, u, t).filter(|s| g.tensor(*s).is_const());
                let Some(src) = src else {
                    return Err(format!(
                        "weight '{name}' is not a dequantized int8 constant"
                    ));
                };
                let wt = g.tensor(src);
                let Some(q) = wt.quant.as_ref().filter(|_| wt.dtype == DType::I8) else {
                    return Err(format!("weight '{name}' is {}, not quantized i8", wt.dtype));
                };
                if q.zero_point.iter().any(|z| *z != 0) {
                    return Err(format!("weight '{name}' has a non-zero zero point (int8 kernels need symmetric weights)"));
                }
                let Some(&channels) = wt.shape.get(axis) else {
                    return Err(format!(
                        "weight '{name}' has rank {}, expected more than {axis}",
                        wt.shape.len()
                    ));
                };
                let scales = if q.is_per_tensor() {
                    vec![q.scale[0]; channels]
                } else if q.axis == axis {
                    q.scale.clone()
                } else {
                    return Err(format!(
                        "weight '{name}' is quantized per-channel on axis {}, the int8 kernel needs axis {axis}",
                        q.axis
                    ));
                };
                weight = Some((src, scales, channels));
                inputs[slot] = Some(src);
            }
            Role::Bias => bias_slot = Some((slot, t)),
        }
    }
    let expected_rank = match n.op {
        Op::Conv2d { .. } | Op::DepthwiseConv2d { .. } => Some(4),
        Op::FullyConnected { .. } => Some(2),
        _ => None,
    };
    if let (Some(r), Some((w, _, _))) = (expected_rank, &weight) {
        if g.tensor(*w).shape.len() != r {
            return Err(format!(
                "weight has rank {}, expected {r}",
                g.tensor(*w).shape.len()
            ));
        }
    }
    let mut new_consts = Vec::new();
    if let (Some((slot, b)), Some((_, wscales, channels))) = (bias_slot, &weight) {
        let sx = act_q.first().map_or(1.0, |q| q.0);
        match int32_bias(g, u, b, sx, wscales, *channels)? {
            BiasPlan::Reuse(t) => inputs[slot] = Some(t),
            BiasPlan::New(t) => new_consts.push((slot, t)),
        }
    }
    let first_in = act_q.first().copied();
    let mut requantize_from = None;
    match &n.op {
        // ONNX Runtime's QLinearSoftmax takes any output quantization; TFLite's softmax does not.
        Op::Softmax { .. }
            if g.int_semantics == crate::ir::IntSemantics::TfliteMicro
                && !(scale_near(os, 1.0 / 256.0) && ozp == -128) =>
        {
            return Err(format!(
                "int8 softmax output must have scale 1/256 and zero point -128 (TFLite); the model quantizes it with scale {os}, zero point {ozp}"
            ));
        }
        Op::Maximum | Op::Minimum
            if act_q.iter().any(|q| !util::scale_eq(q.0, os) || q.1 != ozp) =>
        {
            return Err(
                "int8 maximum/minimum need operands and output with the same quantization".into(),
            );
        }
        Op::Pad { value, .. } => {
            if let Some(q) = first_in {
                if !util::representable(*value, q, (-128, 127)) {
                    return Err(format!(
                        "pad value {value} is not representable in the input's int8 quantization"
                    ));
                }
            }
        }
        _ => {}
    }
    if keeps_quantization(&n.op) {
        if let Some((s, z)) = first_in {
            if !(util::scale_eq(s, os) && z == ozp) {
                requantize_from = Some(Quant::per_tensor(s, z));
            }
        }
    }
    Ok(Plan {
        inputs,
        new_consts,
        quantize_node: k,
        out,
        requantize_from,
    })
}

fn scale_near(s: f32, target: f32) -> bool {
    (s - target).abs() <= 0.001 * target
}

enum BiasPlan {
    Reuse(TensorId),
    New(Tensor),
}

/// The int32 bias at scale `sx * ws[c]`: the file's own int32 constant when its scale already is
/// that, else requantized from its real values.
fn int32_bias(
    g: &Graph,
    u: &Uses,
    b: TensorId,
    sx: f32,
    ws: &[f32],
    channels: usize,
) -> std::result::Result<BiasPlan, String> {
    let want: Vec<f32> = ws.iter().map(|w| sx * w).collect();
    let bt = g.tensor(b);
    let src = if bt.is_const() {
        Some(b)
    } else {
        dequantized_source(g, u, b).filter(|s| g.tensor(*s).is_const())
    };
    let Some(src) = src else {
        return Err(format!("bias '{}' is not constant", bt.name));
    };
    let st = g.tensor(src);
    if st.numel() != channels {
        return Err(format!(
            "bias '{}' has {} values for {channels} output channels",
            st.name,
            st.numel()
        ));
    }
    if st.dtype == DType::I32 {
        if let Some(q) = &st.quant {
            let same = q.zero_point.iter().all(|z| *z == 0)
                && (0..channels).all(|c| {
                    let (s, _) = util::channel_q(q, c);
                    (s - want[c]).abs() <= BIAS_SCALE_RTOL * want[c]
                });
            if same && st.shape.len() == 1 {
                return Ok(BiasPlan::Reuse(src));
            }
        }
    }
    let real = match st.dtype {
        DType::F32 => util::f32_values(st),
        _ => super::const_fold::dequantize_values(st),
    };
    let Some(real) = real else {
        return Err(format!(
            "bias '{}' is {} without quantization",
            st.name, st.dtype
        ));
    };
    let v: Vec<i64> = real
        .iter()
        .zip(&want)
        .map(|(r, s)| {
            ((*r as f64 / *s as f64).round() as i64).clamp(i32::MIN as i64, i32::MAX as i64)
        })
        .collect();
    Ok(BiasPlan::New(Tensor {
        name: format!("{}_int32", st.name),
        dtype: DType::I32,
        shape: vec![channels],
        quant: Some(Quant {
            scale: want,
            zero_point: vec![0; channels],
            axis: 0,
        }),
        data: Some(util::int_bytes(&v, DType::I32)),
    }))
}

fn apply(g: &mut Graph, i: usize, p: Plan) {
    let mut inputs = p.inputs;
    for (slot, t) in p.new_consts {
        let id = g.add_tensor(t);
        if let Some(s) = inputs.get_mut(slot) {
            *s = Some(id);
        }
    }
    g.nodes[i].inputs = inputs;
    match p.requantize_from {
        None => {
            g.nodes[i].outputs[0] = p.out;
            g.nodes.remove(p.quantize_node);
        }
        Some(q) => {
            let ot = g.tensor(p.out);
            let (name, shape) = (format!("{}_before_requantize", ot.name), ot.shape.clone());
            let mid = util::add_activation(g, name, DType::I8, shape, Some(q));
            g.nodes[i].outputs[0] = mid;
            g.nodes[p.quantize_node].inputs[0] = Some(mid);
        }
    }
}

/// Rewrites uint8 quantized tensors as int8 with the zero point shifted by -128 (the same real
/// values). Graph inputs and outputs keep their uint8 type behind an int-to-int `Quantize`.
pub(crate) fn uint8_to_int8(g: &mut Graph, report: &mut PassReport) -> Result<()> {
    for id in 0..g.tensors.len() {
        let id = TensorId(id);
        let t = g.tensor(id);
        if t.dtype != DType::U8 || t.quant.is_none() {
            continue;
        }
        let shifted = t.quant.as_ref().map(|q| Quant {
            zero_point: q.zero_point.iter().map(|z| z - 128).collect(),
            ..q.clone()
        });
        let (is_in, is_out) = (util::is_input(g, id), util::is_output(g, id));
        if is_in && is_out {
            continue;
        }
        if !is_in && !is_out {
            let t = g.tensor_mut(id);
            t.dtype = DType::I8;
            t.quant = shifted;
            if let Some(d) = &mut t.data {
                d.iter_mut().for_each(|b| *b ^= 0x80);
            }
            continue;
        }
        let name = format!("{}_int8", t.name);
        let shape = t.shape.clone();
        let i8t = util::add_activation(g, name, DType::I8, shape, shifted);
        let conv_name = format!("{}_uint8_to_int8", g.tensor(id).name);
        let rounding = Rounding::HalfAwayFromZero;
        if is_in {
            util::replace_uses(g, id, i8t);
            let node = Node {
                name: conv_name,
                source_op: "uint8 input".into(),
                op: Op::Quantize { rounding },
                inputs: vec![Some(id)],
                outputs: vec![i8t],
            };
            g.nodes.insert(0, node);
            report.notes.push(format!(
                "uint8 input '{}' is converted to int8 by a requantize",
                g.tensor(id).name
            ));
        } else {
            let Some(p) = g.producer(id) else { continue };
            util::replace_uses(g, id, i8t);
            for o in &mut g.nodes[p].outputs {
                if *o == id {
                    *o = i8t;
                }
            }
            let node = Node {
                name: format!("{}_int8_to_uint8", g.tensor(id).name),
                source_op: "uint8 output".into(),
                op: Op::Quantize { rounding },
                inputs: vec![Some(i8t)],
                outputs: vec![id],
            };
            g.nodes.insert(p + 1, node);
            report.notes.push(format!(
                "uint8 output '{}' is converted from int8 by a requantize",
                g.tensor(id).name
            ));
        }
    }
    Ok(())
}
