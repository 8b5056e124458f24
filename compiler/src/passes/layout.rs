//! Layout: transposes sink through layout-agnostic operators until they meet
//! their inverse; `Dequantize` sinks and `Quantize` rises through data movement
//! so quantized regions grow; a flatten of an NCHW-ordered tensor folds its
//! permutation into the next fully-connected layer's weights.
//!
//! Rewrites keep the node list in execution order: a moved node is re-inserted
//! right after the node whose output it now reads.

use super::util::{self, bypass, sole_consumer};
use super::PassReport;
use crate::error::{CompileError, Result};
use crate::ir::{Act, DType, Graph, Node, Op, Tensor, TensorId, Uses};

/// Upper bound on rewrites in one call; see `MAX_ROUNDS` in the driver.
const MAX_REWRITES: usize = 100_000;

/// A rewrite at node `i`; `Uses` describes the graph as it is on entry (rebuilt after every
/// rewrite), so a rule asks it, not the graph, who reads and writes a tensor.
type Rule = fn(&mut Graph, usize, &Uses, &mut PassReport) -> Result<bool>;

fn apply(g: &mut Graph, rules: &[Rule], report: &mut PassReport) -> Result<bool> {
    let mut any = false;
    let mut budget = MAX_REWRITES;
    loop {
        let mut changed = false;
        let mut i = 0;
        let mut uses = g.uses();
        while i < g.nodes.len() {
            let mut hit = false;
            for rule in rules {
                if rule(g, i, &uses, report)? {
                    hit = true;
                    break;
                }
            }
            if hit {
                uses = g.uses();
                changed = true;
                budget -= 1;
                if budget == 0 {
                    return Err(CompileError::Invalid {
                        path: g.source.clone(),
                        node: g.nodes.get(i).map_or_else(String::new, |n| n.name.clone()),
                        op_type: "layout".into(),
                        reason: "layout rewrites do not terminate".into(),
                    });
                }
            } else {
                i += 1;
            }
        }
        any |= changed;
        if !changed {
            return Ok(any);
        }
    }
}

/// Clean-up: identity transposes and reshapes vanish, transposes that only move unit dimensions
/// become reshapes, consecutive transposes compose, consecutive reshapes merge.
pub(crate) fn cleanup(g: &mut Graph) -> Result<bool> {
    apply(
        g,
        &[
            identity_transpose,
            identity_reshape,
            transpose_as_reshape,
            compose_transposes,
            merge_reshapes,
        ],
        &mut PassReport::default(),
    )
}

/// The layout rewrites (clean-up included).
pub(crate) fn run(g: &mut Graph, report: &mut PassReport) -> Result<bool> {
    apply(
        g,
        &[
            identity_transpose,
            identity_reshape,
            transpose_as_reshape,
            compose_transposes,
            merge_reshapes,
            sink_transpose_unary,
            sink_transpose_binary,
            sink_transpose_concat,
            sink_dequantize,
            hoist_quantize,
            flatten_into_fully_connected,
        ],
        report,
    )
}

/// `(perm, input, output)` of a well-formed single-input transpose node.
fn transpose_of(g: &Graph, n: &Node) -> Option<(Vec<usize>, TensorId, TensorId)> {
    let Op::Transpose { perm } = &n.op else {
        return None;
    };
    let (x, y) = (n.input(0)?, *n.outputs.first()?);
    let xs = &g.tensor(x).shape;
    (n.outputs.len() == 1
        && util::is_perm(perm, xs.len())
        && util::permute_shape(xs, perm) == g.tensor(y).shape)
        .then(|| (perm.clone(), x, y))
}

/// `(input, output)` of a single-input, single-output node.
fn unary_io(n: &Node) -> Option<(TensorId, TensorId)> {
    (n.outputs.len() == 1 && n.inputs.iter().flatten().count() == 1)
        .then(|| (n.input(0), n.outputs[0]))
        .and_then(|(x, y)| x.map(|x| (x, y)))
}

fn identity_transpose(g: &mut Graph, i: usize, _: &Uses, _: &mut PassReport) -> Result<bool> {
    let Some((perm, x, y)) = transpose_of(g, &g.nodes[i]) else {
        return Ok(false);
    };
    if perm.iter().enumerate().any(|(k, &p)| k != p) || !util::same_meta(g.tensor(x), g.tensor(y)) {
        return Ok(false);
    }
    Ok(bypass(g, i, x))
}

fn identity_reshape(g: &mut Graph, i: usize, _: &Uses, _: &mut PassReport) -> Result<bool> {
    let n = &g.nodes[i];
    let Some((x, y)) = unary_io(n).filter(|_| matches!(n.op, Op::Reshape)) else {
        return Ok(false);
    };
    if !util::same_meta(g.tensor(x), g.tensor(y)) {
        return Ok(false);
    }
    Ok(bypass(g, i, x))
}

fn per_tensor_or_none(t: &Tensor) -> bool {
    t.quant.as_ref().is_none_or(|q| q.is_per_tensor())
}

fn transpose_as_reshape(g: &mut Graph, i: usize, _: &Uses, _: &mut PassReport) -> Result<bool> {
    let Some((perm, x, _)) = transpose_of(g, &g.nodes[i]) else {
        return Ok(false);
    };
    let xt = g.tensor(x);
    if !util::perm_is_reshape(&xt.shape, &perm) || !per_tensor_or_none(xt) {
        return Ok(false);
    }
    g.nodes[i].op = Op::Reshape;
    Ok(true)
}

fn compose_transposes(g: &mut Graph, j: usize, u: &Uses, _: &mut PassReport) -> Result<bool> {
    let Some((q, t, y)) = transpose_of(g, &g.nodes[j]) else {
        return Ok(false);
    };
    let Some(i) = u.producer(t) else {
        return Ok(false);
    };
    let Some((p, a, _)) = transpose_of(g, &g.nodes[i]) else {
        return Ok(false);
    };
    let r: Vec<usize> = q.iter().map(|&k| p[k]).collect();
    if r.iter().enumerate().all(|(k, &v)| k == v) {
        if !util::same_meta(g.tensor(a), g.tensor(y)) {
            return Ok(false);
        }
        return Ok(bypass(g, j, a));
    }
    g.nodes[j].inputs[0] = Some(a);
    g.nodes[j].op = Op::Transpose { perm: r };
    Ok(true)
}

fn merge_reshapes(g: &mut Graph, j: usize, u: &Uses, _: &mut PassReport) -> Result<bool> {
    let n = &g.nodes[j];
    let Some((t, _)) = unary_io(n).filter(|_| matches!(n.op, Op::Reshape)) else {
        return Ok(false);
    };
    let Some(i) = util::producer_where_in(g, u, t, |op| matches!(op, Op::Reshape)) else {
        return Ok(false);
    };
    let Some((a, _)) = unary_io(&g.nodes[i]) else {
        return Ok(false);
    };
    if !per_tensor_or_none(g.tensor(a)) || g.tensor(a).dtype != g.tensor(t).dtype {
        return Ok(false);
    }
    g.nodes[j].inputs[0] = Some(a);
    Ok(true)
}

/// Elementwise operators of one operand that commute with any permutation.
fn is_unary_elementwise(op: &Op) -> bool {
    matches!(
        op,
        Op::Relu
            | Op::Relu6
            | Op::ReluN1To1
            | Op::Clip { .. }
            | Op::Logistic
            | Op::Tanh
            | Op::HardSwish
            | Op::HardSigmoid { .. }
            | Op::LeakyRelu { .. }
            | Op::Quantize { .. }
    )
}

/// Moves node `from` to just after node `after` (indices before the move).
fn move_after(g: &mut Graph, from: usize, after: usize) {
    let n = g.nodes.remove(from);
    let at = if from < after { after } else { after + 1 };
    g.nodes.insert(at, n);
}

/// `Transpose -> U` becomes `U -> Transpose` for a unary elementwise `U` (including `Quantize`).
fn sink_transpose_unary(g: &mut Graph, j: usize, ix: &Uses, _: &mut PassReport) -> Result<bool> {
    if !is_unary_elementwise(&g.nodes[j].op) {
        return Ok(false);
    }
    let Some((t, u)) = unary_io(&g.nodes[j]) else {
        return Ok(false);
    };
    let Some(i) = ix.producer(t) else {
        return Ok(false);
    };
    let Some((perm, a, _)) = transpose_of(g, &g.nodes[i]) else {
        return Ok(false);
    };
    if sole_consumer(g, ix, t) != Some(j) {
        return Ok(false);
    }
    let ut = g.tensor(u);
    let pre = Tensor {
        name: format!("{}_pre_transpose", ut.name),
        dtype: ut.dtype,
        shape: g.tensor(a).shape.clone(),
        quant: util::quant_before_transpose(&ut.quant, &perm),
        data: None,
    };
    let pre = g.add_tensor(pre);
    g.nodes[j].inputs[0] = Some(a);
    g.nodes[j].outputs[0] = pre;
    g.nodes[i].inputs[0] = Some(pre);
    g.nodes[i].outputs[0] = u;
    move_after(g, i, j);
    Ok(true)
}

/// A constant as it must be before `Transpose { perm }` to equal `c` after it, as a new tensor.
fn const_before_transpose(g: &mut Graph, c: TensorId, perm: &[usize]) -> Option<TensorId> {
    let t = g.tensor(c);
    if t.numel() == 1 {
        return Some(c);
    }
    if t.shape.len() != perm.len() {
        return None;
    }
    let inv = util::inverse_perm(perm);
    let data = util::transpose_bytes(t.data.as_ref()?, &t.shape, &inv, t.dtype.size());
    let nt = Tensor {
        name: format!("{}_pre_transpose", t.name),
        dtype: t.dtype,
        shape: util::permute_shape(&t.shape, &inv),
        quant: util::quant_after_transpose(&t.quant, &inv),
        data: Some(data),
    };
    Some(g.add_tensor(nt))
}

/// An operand seen through a transpose: `Ok(source)` of the transpose, or `Err(constant)`.
type Operand = Result<TensorId, TensorId>;

/// For a node whose operands all come out of `Transpose { perm }` (one perm) or are constants,
/// the common perm and the pre-transpose operands; constants are not yet rewritten.
fn common_transpose(g: &Graph, u: &Uses, n: &Node) -> Option<(Vec<usize>, Vec<Operand>)> {
    let mut perm: Option<Vec<usize>> = None;
    let mut srcs = Vec::new();
    for x in &n.inputs {
        let x = (*x)?;
        if g.tensor(x).is_const() {
            srcs.push(Err(x));
            continue;
        }
        let p = u.producer(x)?;
        let (pp, a, _) = transpose_of(g, &g.nodes[p])?;
        if perm.as_ref().is_some_and(|q| *q != pp) {
            return None;
        }
        perm = Some(pp);
        srcs.push(Ok(a));
    }
    Some((perm?, srcs))
}

/// Rewrites node `j` to operate before the transpose: operands `srcs`, output in pre-perm layout,
/// followed by a new `Transpose { perm }` writing the original output.
fn reroute_through(g: &mut Graph, j: usize, perm: Vec<usize>, srcs: Vec<Operand>) -> bool {
    let mut ins = Vec::with_capacity(srcs.len());
    for s in srcs {
        match s {
            Ok(a) => ins.push(Some(a)),
            Err(c) => match const_before_transpose(g, c, &perm) {
                Some(c2) => ins.push(Some(c2)),
                None => return false,
            },
        }
    }
    let y = g.nodes[j].outputs[0];
    let yt = g.tensor(y);
    let inv = util::inverse_perm(&perm);
    let pre = Tensor {
        name: format!("{}_pre_transpose", yt.name),
        dtype: yt.dtype,
        shape: util::permute_shape(&yt.shape, &inv),
        quant: util::quant_before_transpose(&yt.quant, &perm),
        data: None,
    };
    let pre = g.add_tensor(pre);
    let name = format!("{}_transpose", g.nodes[j].name);
    let source_op = g.nodes[j].source_op.clone();
    g.nodes[j].inputs = ins;
    g.nodes[j].outputs[0] = pre;
    g.nodes.insert(
        j + 1,
        Node {
            name,
            source_op,
            op: Op::Transpose { perm },
            inputs: vec![Some(pre)],
            outputs: vec![y],
        },
    );
    true
}

/// `op(T(a), T(b))` becomes `T(op(a, b))` for elementwise binary operators (constants are transposed).
fn sink_transpose_binary(g: &mut Graph, j: usize, u: &Uses, _: &mut PassReport) -> Result<bool> {
    let n = &g.nodes[j];
    if !matches!(
        n.op,
        Op::Add { .. } | Op::Sub { .. } | Op::Mul { .. } | Op::Maximum | Op::Minimum
    ) || n.outputs.len() != 1
    {
        return Ok(false);
    }
    let Some((perm, srcs)) = common_transpose(g, u, n) else {
        return Ok(false);
    };
    let rank = g.tensor(n.outputs[0]).shape.len();
    if perm.len() != rank {
        return Ok(false);
    }
    Ok(reroute_through(g, j, perm, srcs))
}

/// `Concat(T(a_i), axis)` becomes `T(Concat(a_i, perm[axis]))`.
fn sink_transpose_concat(g: &mut Graph, j: usize, u: &Uses, _: &mut PassReport) -> Result<bool> {
    let n = &g.nodes[j];
    let Op::Concat { axis } = n.op else {
        return Ok(false);
    };
    if n.outputs.len() != 1 {
        return Ok(false);
    }
    let Some((perm, srcs)) = common_transpose(g, u, n) else {
        return Ok(false);
    };
    let Some(&new_axis) = perm.get(axis) else {
        return Ok(false);
    };
    if perm.len() != g.tensor(n.outputs[0]).shape.len() {
        return Ok(false);
    }
    if !reroute_through(g, j, perm, srcs) {
        return Ok(false);
    }
    g.nodes[j].op = Op::Concat { axis: new_axis };
    Ok(true)
}

/// Whether data-movement node `m` can run on the 8-bit tensor `q` (quantization `qt`) unchanged.
fn moves_quantized(m: &Node, qt: &Tensor) -> bool {
    let per_tensor = util::per_tensor_q(qt);
    match &m.op {
        Op::Transpose { .. } => qt.quant.is_some(),
        Op::Reshape | Op::ResizeNearest { .. } | Op::MaxPool2d { act: Act::None, .. } => {
            per_tensor.is_some()
        }
        Op::Pad { value, .. } => match (per_tensor, util::int_range(qt.dtype)) {
            (Some(q), Some(r)) => util::representable(*value, q, r),
            _ => false,
        },
        _ => false,
    }
}

/// `Dequantize -> M` becomes `M -> Dequantize` for data-movement `M` (Transpose, Reshape, MaxPool,
/// Pad, ResizeNearest; Concat when every operand is dequantized with the same parameters).
fn sink_dequantize(g: &mut Graph, d: usize, u: &Uses, _: &mut PassReport) -> Result<bool> {
    let dn = &g.nodes[d];
    if !matches!(dn.op, Op::Dequantize) {
        return Ok(false);
    }
    let Some((q, f)) = unary_io(dn) else {
        return Ok(false);
    };
    let qt = g.tensor(q);
    if qt.dtype == DType::F32 || qt.quant.is_none() {
        return Ok(false);
    }
    for &m in u.consumers(f) {
        let mn = &g.nodes[m];
        if mn.outputs.len() != 1 || g.tensor(mn.outputs[0]).dtype != DType::F32 {
            continue;
        }
        if let Op::Concat { .. } = mn.op {
            if let Some(srcs) = concat_dequantized(g, u, mn) {
                let o = mn.outputs[0];
                let quant = g.tensor(srcs[0]).quant.clone();
                let oq = new_int_like(g, o, g.tensor(q).dtype, quant);
                g.nodes[m].inputs = srcs.into_iter().map(Some).collect();
                insert_dequantize(g, m, oq, o);
                return Ok(true);
            }
            continue;
        }
        if mn.input(0) != Some(f)
            || mn.inputs.iter().flatten().count() != 1
            || !moves_quantized(mn, qt)
        {
            continue;
        }
        let o = mn.outputs[0];
        let quant = match &mn.op {
            Op::Transpose { perm } if util::is_perm(perm, qt.shape.len()) => {
                util::quant_after_transpose(&qt.quant, perm)
            }
            Op::Transpose { .. } => continue,
            _ => qt.quant.clone(),
        };
        let oq = new_int_like(g, o, qt.dtype, quant);
        g.nodes[m].inputs[0] = Some(q);
        insert_dequantize(g, m, oq, o);
        return Ok(true);
    }
    Ok(false)
}

/// The quantized sources of a Concat whose operands are all `Dequantize` of per-tensor tensors with
/// one dtype and identical parameters.
fn concat_dequantized(g: &Graph, u: &Uses, n: &Node) -> Option<Vec<TensorId>> {
    let mut srcs = Vec::new();
    for x in &n.inputs {
        let p = util::producer_where_in(g, u, (*x)?, |op| matches!(op, Op::Dequantize))?;
        let (q, _) = unary_io(&g.nodes[p])?;
        srcs.push(q);
    }
    let first = g.tensor(*srcs.first()?);
    util::per_tensor_q(first)?;
    srcs.iter()
        .all(|s| {
            g.tensor(*s).dtype == first.dtype && util::quant_eq(&g.tensor(*s).quant, &first.quant)
        })
        .then_some(srcs)
}

/// A new integer tensor shaped like `like`.
fn new_int_like(
    g: &mut Graph,
    like: TensorId,
    dtype: DType,
    quant: Option<crate::ir::Quant>,
) -> TensorId {
    let t = g.tensor(like);
    let (name, shape) = (format!("{}_quantized", t.name), t.shape.clone());
    util::add_activation(g, name, dtype, shape, quant)
}

/// Makes node `m` write `oq` and adds `Dequantize(oq) -> o` right after it.
fn insert_dequantize(g: &mut Graph, m: usize, oq: TensorId, o: TensorId) {
    g.nodes[m].outputs[0] = oq;
    let name = format!("{}_dequantize", g.nodes[m].name);
    let source_op = g.nodes[m].source_op.clone();
    g.nodes.insert(
        m + 1,
        Node {
            name,
            source_op,
            op: Op::Dequantize,
            inputs: vec![Some(oq)],
            outputs: vec![o],
        },
    );
}

/// `M -> Quantize` becomes `Quantize -> M` for data-movement `M` (Reshape, MaxPool, Pad,
/// ResizeNearest; transposes are handled by [`sink_transpose_unary`]).
fn hoist_quantize(g: &mut Graph, k: usize, u: &Uses, _: &mut PassReport) -> Result<bool> {
    let qn = &g.nodes[k];
    if !matches!(qn.op, Op::Quantize { .. }) {
        return Ok(false);
    }
    let Some((f, q)) = unary_io(qn) else {
        return Ok(false);
    };
    let Some(m) = u.producer(f) else {
        return Ok(false);
    };
    let mn = &g.nodes[m];
    if matches!(mn.op, Op::Transpose { .. }) || sole_consumer(g, u, f) != Some(k) {
        return Ok(false);
    }
    let Some((x, _)) = unary_io(mn) else {
        return Ok(false);
    };
    let qt = g.tensor(q);
    if g.tensor(x).dtype != DType::F32 || !moves_quantized(mn, qt) {
        return Ok(false);
    }
    let xt = g.tensor(x);
    let xq = Tensor {
        name: format!("{}_quantized", xt.name),
        dtype: qt.dtype,
        shape: xt.shape.clone(),
        quant: qt.quant.clone(),
        data: None,
    };
    let xq = g.add_tensor(xq);
    g.nodes[k].inputs[0] = Some(x);
    g.nodes[k].outputs[0] = xq;
    g.nodes[m].inputs[0] = Some(xq);
    g.nodes[m].outputs[0] = q;
    let qn = g.nodes.remove(k);
    let at = if k < m { m - 1 } else { m };
    g.nodes.insert(at, qn);
    Ok(true)
}

/// `x [B,H,W,C] -> Transpose [0,3,1,2] -> Reshape [B, C*H*W] -> FullyConnected(w)` becomes
/// `x -> Reshape [B, H*W*C] -> FullyConnected(w')`, with `w'` the weight columns permuted from
/// NCHW to NHWC order, so no transpose runs.
fn flatten_into_fully_connected(
    g: &mut Graph,
    f: usize,
    u: &Uses,
    report: &mut PassReport,
) -> Result<bool> {
    let fc = &g.nodes[f];
    if !matches!(fc.op, Op::FullyConnected { .. }) {
        return Ok(false);
    }
    let (Some(r), Some(w)) = (fc.input(0), fc.input(1)) else {
        return Ok(false);
    };
    let Some(ri) = util::producer_where_in(g, u, r, |op| matches!(op, Op::Reshape)) else {
        return Ok(false);
    };
    let Some((t, _)) = unary_io(&g.nodes[ri]) else {
        return Ok(false);
    };
    let Some(ti) = u.producer(t) else {
        return Ok(false);
    };
    let Some((perm, x, _)) = transpose_of(g, &g.nodes[ti]) else {
        return Ok(false);
    };
    let xs = g.tensor(x).shape.clone();
    if perm != [0, 3, 1, 2] || sole_consumer(g, u, r) != Some(f) {
        return Ok(false);
    }
    let (b, h, wd, c) = (xs[0], xs[1], xs[2], xs[3]);
    if g.tensor(r).shape != [b, c * h * wd] {
        return Ok(false);
    }
    // The constant holding the weight: the FC operand itself, or the input of its own Dequantize.
    let (holder, wc) = if g.tensor(w).is_const() {
        (f, w)
    } else {
        let Some(d) = util::producer_where_in(g, u, w, |op| matches!(op, Op::Dequantize)) else {
            return Ok(false);
        };
        let Some((wq, _)) = unary_io(&g.nodes[d]) else {
            return Ok(false);
        };
        if sole_consumer(g, u, w) != Some(f) || !g.tensor(wq).is_const() {
            return Ok(false);
        }
        (d, wq)
    };
    let wt = g.tensor(wc);
    let k = c * h * wd;
    if wt.shape.len() != 2
        || wt.shape[1] != k
        || wt
            .quant
            .as_ref()
            .is_some_and(|q| !q.is_per_tensor() && q.axis != 0)
    {
        return Ok(false);
    }
    let Some(data) = wt.data.as_ref() else {
        return Ok(false);
    };
    let n = wt.shape[0];
    let permuted = util::transpose_bytes(data, &[n, c, h, wd], &[0, 2, 3, 1], wt.dtype.size());
    let nt = Tensor {
        name: format!("{}_nhwc_columns", wt.name),
        data: Some(permuted),
        ..wt.clone()
    };
    let nt = g.add_tensor(nt);
    for s in g.nodes[holder].inputs.iter_mut().flatten() {
        if *s == wc {
            *s = nt;
        }
    }
    g.nodes[ri].inputs[0] = Some(x);
    report.folded_flatten_permutations += 1;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Quant, Rounding, Window};
    use crate::passes::testutil::{count, eval, max_diff, noise, B};

    const TO_NHWC: [usize; 4] = [0, 2, 3, 1];
    const TO_NCHW: [usize; 4] = [0, 3, 1, 2];

    fn tr(b: &mut B, name: &str, x: TensorId, perm: &[usize]) -> TensorId {
        let t = b.g.tensor(x).clone();
        let shape = util::permute_shape(&t.shape, perm);
        let y = b.t(name, t.dtype, &shape);
        b.g.tensor_mut(y).quant = t.quant.clone();
        b.node(
            name,
            Op::Transpose {
                perm: perm.to_vec(),
            },
            &[x],
            &[y],
        );
        y
    }

    fn win1() -> Window {
        Window {
            stride: [1, 1],
            dilation: [1, 1],
            pads: [0, 0, 0, 0],
        }
    }

    fn conv1x1(b: &mut B, name: &str, x: TensorId, cout: usize, seed: u64) -> TensorId {
        let s = b.g.tensor(x).shape.clone();
        let w = b.cf32(
            &format!("{name}_w"),
            &[cout, 1, 1, s[3]],
            &noise(cout * s[3], seed),
        );
        let y = b.f(name, &[s[0], s[1], s[2], cout]);
        b.node(
            name,
            Op::Conv2d {
                win: win1(),
                groups: 1,
                act: Act::None,
            },
            &[x, w],
            &[y],
        );
        y
    }

    fn run_all(g: &mut Graph) -> PassReport {
        let mut r = PassReport::default();
        while run(g, &mut r).unwrap() | (util::remove_dead(g) > 0) {}
        util::check_order(g).unwrap();
        r
    }

    #[test]
    fn transposes_around_convs_cancel_through_relu_and_add() {
        // ONNX-style: each conv wrapped in NCHW<->NHWC transposes, relu and a residual add in NCHW.
        let mut b = B::new();
        let x = b.input("x", &[1, 3, 4, 4]);
        let xn = tr(&mut b, "t0", x, &TO_NHWC);
        let c1 = conv1x1(&mut b, "c1", xn, 3, 1);
        let c1t = tr(&mut b, "t1", c1, &TO_NCHW);
        let r = b.f("r", &[1, 3, 4, 4]);
        b.node("relu", Op::Relu, &[c1t], &[r]);
        let rn = tr(&mut b, "t2", r, &TO_NHWC);
        let c2 = conv1x1(&mut b, "c2", rn, 3, 2);
        let c2t = tr(&mut b, "t3", c2, &TO_NCHW);
        let bias = b.cf32("bias", &[1, 3, 1, 1], &[0.5, -0.5, 0.25]);
        let s = b.f("s", &[1, 3, 4, 4]);
        b.node("add", Op::Add { act: Act::None }, &[c2t, r], &[s]);
        let y = b.f("y", &[1, 3, 4, 4]);
        b.node("add_bias", Op::Add { act: Act::None }, &[s, bias], &[y]);
        b.output(y);
        let input = noise(48, 7);
        let before = eval(&b.g, &input);
        assert_eq!(count(&b.g, |o| matches!(o, Op::Transpose { .. })), 4);
        run_all(&mut b.g);
        // One transpose at the input, one at the 4-D output.
        assert_eq!(count(&b.g, |o| matches!(o, Op::Transpose { .. })), 2);
        assert_eq!(
            b.g.nodes.last().unwrap().op,
            Op::Transpose {
                perm: TO_NCHW.to_vec()
            }
        );
        let after = eval(&b.g, &input);
        assert!(max_diff(&before[0], &after[0]) < 1e-6);
    }

    #[test]
    fn concat_on_channel_axis_moves_to_nhwc_axis_3() {
        let mut b = B::new();
        let x = b.input("x", &[1, 2, 3, 3]);
        let xn = tr(&mut b, "t0", x, &TO_NHWC);
        let c1 = conv1x1(&mut b, "c1", xn, 2, 3);
        let c2 = conv1x1(&mut b, "c2", xn, 4, 4);
        let c1t = tr(&mut b, "t1", c1, &TO_NCHW);
        let c2t = tr(&mut b, "t2", c2, &TO_NCHW);
        let cat = b.f("cat", &[1, 6, 3, 3]);
        b.node("cat", Op::Concat { axis: 1 }, &[c1t, c2t], &[cat]);
        let catn = tr(&mut b, "t3", cat, &TO_NHWC);
        let y = conv1x1(&mut b, "c3", catn, 2, 5);
        b.output(y);
        let input = noise(18, 9);
        let before = eval(&b.g, &input);
        run_all(&mut b.g);
        assert_eq!(count(&b.g, |o| matches!(o, Op::Transpose { .. })), 1);
        assert!(b.g.nodes.iter().any(|n| n.op == Op::Concat { axis: 3 }));
        assert!(max_diff(&before[0], &eval(&b.g, &input)[0]) < 1e-6);
    }

    #[test]
    fn flatten_of_pooled_1x1_is_a_plain_reshape() {
        let mut b = B::new();
        let x = b.input("x", &[1, 1, 1, 8]);
        let xt = tr(&mut b, "t", x, &TO_NCHW);
        let flat = b.f("flat", &[1, 8]);
        b.node("flatten", Op::Reshape, &[xt], &[flat]);
        b.output(flat);
        run_all(&mut b.g);
        assert_eq!(count(&b.g, |o| matches!(o, Op::Transpose { .. })), 0);
        assert_eq!(b.g.nodes.len(), 1);
        assert_eq!(b.g.nodes[0].inputs[0], Some(x));
    }

    #[test]
    fn flatten_permutation_folds_into_fc_weights() {
        // x NHWC [1,2,3,2] -> NCHW -> flatten 12 -> FC 2 outputs; the NCHW flatten order k = c*6 + h*3 + w.
        let mut b = B::new();
        let x = b.input("x", &[1, 2, 3, 2]);
        let xt = tr(&mut b, "t", x, &TO_NCHW);
        let flat = b.f("flat", &[1, 12]);
        b.node("flatten", Op::Reshape, &[xt], &[flat]);
        let wv: Vec<f32> = (0..24).map(|i| i as f32).collect();
        let w = b.cf32("w", &[2, 12], &wv);
        let y = b.f("y", &[1, 2]);
        b.node(
            "fc",
            Op::FullyConnected { act: Act::None },
            &[flat, w],
            &[y],
        );
        b.output(y);
        let input = noise(12, 3);
        let before = eval(&b.g, &input);
        let r = run_all(&mut b.g);
        assert_eq!(r.folded_flatten_permutations, 1);
        assert_eq!(count(&b.g, |o| matches!(o, Op::Transpose { .. })), 0);
        let w2 = util::f32_values(b.g.tensor(b.g.nodes[1].input(1).unwrap())).unwrap();
        // Column (h=0, w=0, c=1) in NHWC order is index 1; in NCHW order it was c*6 = 6.
        assert_eq!(&w2[..4], &[0.0, 6.0, 1.0, 7.0]);
        assert_eq!(w2[12 + 1], 18.0);
        assert!(max_diff(&before[0], &eval(&b.g, &input)[0]) < 1e-5);
    }

    #[test]
    fn flatten_fold_reaches_a_dequantized_int8_weight() {
        let mut b = B::new();
        let x = b.input("x", &[1, 2, 2, 2]);
        let xt = tr(&mut b, "t", x, &TO_NCHW);
        let flat = b.f("flat", &[1, 8]);
        b.node("flatten", Op::Reshape, &[xt], &[flat]);
        let q = Quant {
            scale: vec![0.5, 0.25],
            zero_point: vec![0, 0],
            axis: 0,
        };
        let wv: Vec<i64> = (0..16).collect();
        let wq = b.cint("wq", DType::I8, &[2, 8], &wv, Some(q));
        let w = b.f("w", &[2, 8]);
        b.node("wdq", Op::Dequantize, &[wq], &[w]);
        let y = b.f("y", &[1, 2]);
        b.node(
            "fc",
            Op::FullyConnected { act: Act::None },
            &[flat, w],
            &[y],
        );
        b.output(y);
        let input = noise(8, 5);
        let before = eval(&b.g, &input);
        run_all(&mut b.g);
        assert_eq!(count(&b.g, |o| matches!(o, Op::Transpose { .. })), 0);
        let dq = b.g.nodes.iter().find(|n| n.op == Op::Dequantize).unwrap();
        let nq = b.g.tensor(dq.input(0).unwrap());
        assert_eq!(util::int_values(nq).unwrap()[..4], [0, 4, 1, 5]);
        assert_eq!(nq.quant.as_ref().unwrap().scale, vec![0.5, 0.25]);
        assert!(max_diff(&before[0], &eval(&b.g, &input)[0]) < 1e-5);
    }

    #[test]
    fn quantize_and_dequantize_commute_with_transposes_so_pairs_meet() {
        // conv -> T(nchw) -> Q -> DQ -> T(nhwc) -> conv: the transposes meet after Q rises and DQ sinks.
        let mut b = B::new();
        let x = b.input("x", &[1, 2, 2, 3]);
        let c1 = conv1x1(&mut b, "c1", x, 3, 1);
        let c1t = tr(&mut b, "t1", c1, &TO_NCHW);
        let d = b.qdq("act", c1t, 0.05, 3);
        let dn = tr(&mut b, "t2", d, &TO_NHWC);
        let y = conv1x1(&mut b, "c2", dn, 2, 2);
        b.output(y);
        let input = noise(12, 1);
        let before = eval(&b.g, &input);
        run_all(&mut b.g);
        assert_eq!(count(&b.g, |o| matches!(o, Op::Transpose { .. })), 0);
        assert_eq!(max_diff(&before[0], &eval(&b.g, &input)[0]), 0.0);
    }

    #[test]
    fn maxpool_and_reshape_move_into_the_quantized_region() {
        // DQ -> MaxPool -> Reshape -> Q: both data-movement ops end up on int8.
        let mut b = B::new();
        let x = b.input("x", &[1, 2, 2, 2]);
        let d = b.qdq("a", x, 0.1, -3);
        let p = b.f("p", &[1, 1, 1, 2]);
        let kernel = [2, 2];
        let win = Window {
            stride: [2, 2],
            dilation: [1, 1],
            pads: [0; 4],
        };
        b.node(
            "pool",
            Op::MaxPool2d {
                kernel,
                win,
                act: Act::None,
            },
            &[d],
            &[p],
        );
        let r = b.f("r", &[1, 2]);
        b.node("flatten", Op::Reshape, &[p], &[r]);
        let q = b.q8("q", &[1, 2], 0.1, -3);
        b.node(
            "quant",
            Op::Quantize {
                rounding: Rounding::HalfToEven,
            },
            &[r],
            &[q],
        );
        b.output(q);
        let input = noise(8, 2);
        let before = eval(&b.g, &input);
        run_all(&mut b.g);
        let pool = b.g.nodes.iter().find(|n| n.name == "pool").unwrap();
        assert_eq!(b.g.tensor(pool.input(0).unwrap()).dtype, DType::I8);
        let flatten = b.g.nodes.iter().find(|n| n.name == "flatten").unwrap();
        // What is left between flatten and `q` is a Dequantize -> Quantize pair, which QDQ folding collapses.
        assert_eq!(b.g.tensor(flatten.outputs[0]).dtype, DType::I8);
        assert_eq!(max_diff(&before[0], &eval(&b.g, &input)[0]), 0.0);
    }
}
