//! Graph-editing helpers shared by the passes: use lookups, bypassing a node,
//! validation of the graph the importer handed over, and element access to
//! constant data.

use crate::error::{CompileError, Result};
use crate::ir::{DType, Graph, Node, Op, Quant, Tensor, TensorId, Uses};

/// Relative tolerance under which two scales count as the same quantization.
const SCALE_RTOL: f32 = 1e-6;

/// An `Invalid` error about node `node`.
pub(crate) fn node_err(g: &Graph, node: &Node, reason: impl Into<String>) -> CompileError {
    CompileError::Invalid {
        path: g.source.clone(),
        node: node.name.clone(),
        op_type: node.source_op.clone(),
        reason: reason.into(),
    }
}

/// An `Invalid` error about a tensor that has no node to blame.
fn tensor_err(g: &Graph, t: &Tensor, reason: impl Into<String>) -> CompileError {
    CompileError::Invalid {
        path: g.source.clone(),
        node: t.name.clone(),
        op_type: "tensor".into(),
        reason: reason.into(),
    }
}

/// Checks every index and constant the passes rely on, so that later code can
/// index tensors and read constant data without further checks.
pub(crate) fn validate(g: &Graph) -> Result<()> {
    let n = g.tensors.len();
    for node in &g.nodes {
        for id in node.inputs.iter().flatten().chain(node.outputs.iter()) {
            if id.0 >= n {
                return Err(node_err(
                    g,
                    node,
                    format!("tensor index {} out of range ({n} tensors)", id.0),
                ));
            }
        }
    }
    for id in g.inputs.iter().chain(g.outputs.iter()) {
        if id.0 >= n {
            return Err(CompileError::Invalid {
                path: g.source.clone(),
                node: "graph".into(),
                op_type: "graph I/O".into(),
                reason: format!("graph I/O tensor index {} out of range ({n} tensors)", id.0),
            });
        }
    }
    for t in &g.tensors {
        if let Some(d) = &t.data {
            if d.len() != t.nbytes() {
                return Err(tensor_err(
                    g,
                    t,
                    format!(
                        "constant has {} bytes, shape {:?} of {} needs {}",
                        d.len(),
                        t.shape,
                        t.dtype,
                        t.nbytes()
                    ),
                ));
            }
        }
        if let Some(q) = &t.quant {
            if q.scale.is_empty() || q.scale.len() != q.zero_point.len() {
                return Err(tensor_err(
                    g,
                    t,
                    format!(
                        "quantization has {} scales and {} zero points",
                        q.scale.len(),
                        q.zero_point.len()
                    ),
                ));
            }
            if !q.is_per_tensor() && t.shape.get(q.axis) != Some(&q.scale.len()) {
                return Err(tensor_err(
                    g,
                    t,
                    format!(
                        "per-channel quantization with {} scales on axis {} of shape {:?}",
                        q.scale.len(),
                        q.axis,
                        t.shape
                    ),
                ));
            }
            if q.scale.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
                return Err(tensor_err(
                    g,
                    t,
                    "quantization scale is not a positive finite number",
                ));
            }
        }
    }
    Ok(())
}

/// True when `id` is one of the graph outputs.
pub(crate) fn is_output(g: &Graph, id: TensorId) -> bool {
    g.outputs.contains(&id)
}

/// True when `id` is one of the graph inputs.
pub(crate) fn is_input(g: &Graph, id: TensorId) -> bool {
    g.inputs.contains(&id)
}

/// The single node reading `id`, when exactly one node reads it and it is not a graph output
/// (`u` is `g`'s current [`Uses`]).
pub(crate) fn sole_consumer(g: &Graph, u: &Uses, id: TensorId) -> Option<usize> {
    let c = u.consumers(id);
    (c.len() == 1 && !is_output(g, id)).then(|| c[0])
}

/// The producing node of `id` (by `g`'s current [`Uses`]) when it computes `op`-kind `pred`.
pub(crate) fn producer_where_in(
    g: &Graph,
    u: &Uses,
    id: TensorId,
    pred: impl Fn(&Op) -> bool,
) -> Option<usize> {
    u.producer(id).filter(|&p| pred(&g.nodes[p].op))
}

/// Makes every node that reads `old` read `new` instead (graph outputs are untouched).
pub(crate) fn replace_uses(g: &mut Graph, old: TensorId, new: TensorId) {
    for n in &mut g.nodes {
        for t in n.inputs.iter_mut().flatten() {
            if *t == old {
                *t = new;
            }
        }
    }
}

/// Same element type, shape and quantization.
pub(crate) fn same_meta(a: &Tensor, b: &Tensor) -> bool {
    a.dtype == b.dtype && a.shape == b.shape && quant_eq(&a.quant, &b.quant)
}

/// Removes node `i`, whose output carries the same values as tensor `a`
/// (identity transpose, reshape to the same shape, absorbed activation, ...).
/// Returns false (and changes nothing) when the output is a graph output that
/// cannot be re-pointed.
pub(crate) fn bypass(g: &mut Graph, i: usize, a: TensorId) -> bool {
    let Some(&b) = g.nodes[i].outputs.first() else {
        return false;
    };
    if g.nodes[i].outputs.len() != 1 || a == b {
        return false;
    }
    if !is_output(g, b) {
        replace_uses(g, b, a);
        g.nodes.remove(i);
        return true;
    }
    // `b` names a graph output: let the producer of `a` write `b` directly.
    let Some(p) = g.producer(a) else { return false };
    if p == i || is_output(g, a) || is_input(g, a) || !same_meta(g.tensor(a), g.tensor(b)) {
        return false;
    }
    for o in &mut g.nodes[p].outputs {
        if *o == a {
            *o = b;
        }
    }
    replace_uses(g, a, b);
    g.nodes.remove(i);
    true
}

/// Adds a tensor without data.
pub(crate) fn add_activation(
    g: &mut Graph,
    name: String,
    dtype: DType,
    shape: Vec<usize>,
    quant: Option<Quant>,
) -> TensorId {
    g.add_tensor(Tensor {
        name,
        dtype,
        shape,
        quant,
        data: None,
    })
}

/// Removes nodes none of whose outputs are used, repeatedly (a node whose only reader is
/// removed goes too). Returns the count removed.
///
/// One sweep from the last node to the first: in execution order every reader of a node's
/// outputs comes after it, so when the sweep reaches a node, whether any live node reads it is
/// already known. (Removing one layer of dead nodes per scan would be quadratic in a dead chain.)
pub(crate) fn remove_dead(g: &mut Graph) -> usize {
    let mut used = vec![false; g.tensors.len()];
    for t in &g.outputs {
        used[t.0] = true;
    }
    let mut live = vec![false; g.nodes.len()];
    for (i, n) in g.nodes.iter().enumerate().rev() {
        if n.outputs.iter().any(|o| used[o.0]) {
            live[i] = true;
            for t in n.inputs.iter().flatten() {
                used[t.0] = true;
            }
        }
    }
    let before = g.nodes.len();
    let mut k = 0;
    g.nodes.retain(|_| {
        k += 1;
        live[k - 1]
    });
    before - g.nodes.len()
}

/// Checks that nodes are in a valid execution order.
pub(crate) fn check_order(g: &Graph) -> Result<()> {
    let mut ready = vec![false; g.tensors.len()];
    for t in &g.inputs {
        ready[t.0] = true;
    }
    for (i, t) in g.tensors.iter().enumerate() {
        if t.is_const() {
            ready[i] = true;
        }
    }
    for n in &g.nodes {
        if let Some(t) = n.inputs.iter().flatten().find(|t| !ready[t.0]) {
            return Err(node_err(
                g,
                n,
                format!(
                    "reads tensor '{}' before it is computed (graph is not in execution order)",
                    g.tensor(*t).name
                ),
            ));
        }
        for o in &n.outputs {
            ready[o.0] = true;
        }
    }
    Ok(())
}

// ---- quantization --------------------------------------------------------

/// Same quantization (scales within a relative 1e-6, equal zero points and axis).
pub(crate) fn quant_eq(a: &Option<Quant>, b: &Option<Quant>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.scale.len() == b.scale.len()
                && a.zero_point == b.zero_point
                && (a.is_per_tensor() || a.axis == b.axis)
                && a.scale.iter().zip(&b.scale).all(|(x, y)| scale_eq(*x, *y))
        }
        _ => false,
    }
}

/// Two scales equal within a relative 1e-6.
pub(crate) fn scale_eq(x: f32, y: f32) -> bool {
    (x - y).abs() <= SCALE_RTOL * x.abs().max(y.abs())
}

/// Per-tensor quantization of an 8-bit tensor (`(scale, zero_point)`), if that is what `t` has.
pub(crate) fn per_tensor_q(t: &Tensor) -> Option<(f32, i32)> {
    match &t.quant {
        Some(q) if q.is_per_tensor() => Some((q.scale[0], q.zero_point[0])),
        _ => None,
    }
}

/// The quantization of a tensor after `Transpose { perm }`: the channel axis moves with its dimension.
pub(crate) fn quant_after_transpose(q: &Option<Quant>, perm: &[usize]) -> Option<Quant> {
    q.as_ref().map(|q| {
        let mut q = q.clone();
        if !q.is_per_tensor() {
            q.axis = perm.iter().position(|&p| p == q.axis).unwrap_or(q.axis);
        }
        q
    })
}

/// The quantization of a tensor before `Transpose { perm }` given the one after it.
pub(crate) fn quant_before_transpose(q: &Option<Quant>, perm: &[usize]) -> Option<Quant> {
    q.as_ref().map(|q| {
        let mut q = q.clone();
        if !q.is_per_tensor() {
            q.axis = perm.get(q.axis).copied().unwrap_or(q.axis);
        }
        q
    })
}

/// Integer range of a quantized element type.
pub(crate) fn int_range(d: DType) -> Option<(i64, i64)> {
    match d {
        DType::I8 => Some((-128, 127)),
        DType::U8 => Some((0, 255)),
        DType::I16 => Some((i16::MIN as i64, i16::MAX as i64)),
        DType::I32 => Some((i32::MIN as i64, i32::MAX as i64)),
        _ => None,
    }
}

/// Whether real value `v` is exactly representable in 8-bit quantization `(scale, zp)`: `v / scale + zp`
/// is an integer (within 1e-4) inside `[lo, hi]`.
pub(crate) fn representable(v: f32, (scale, zp): (f32, i32), (lo, hi): (i64, i64)) -> bool {
    let q = v as f64 / scale as f64 + zp as f64;
    (q - q.round()).abs() < 1e-4 && q.round() >= lo as f64 && q.round() <= hi as f64
}

// ---- permutations ----------------------------------------------------------

/// True when `p` is a permutation of `0..rank`.
pub(crate) fn is_perm(p: &[usize], rank: usize) -> bool {
    let mut seen = vec![false; rank];
    p.len() == rank
        && p.iter()
            .all(|&i| i < rank && !std::mem::replace(&mut seen[i], true))
}

/// The inverse permutation (`inv[p[i]] = i`). `p` must be a permutation.
pub(crate) fn inverse_perm(p: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; p.len()];
    for (i, &pi) in p.iter().enumerate() {
        inv[pi] = i;
    }
    inv
}

/// `out[i] = shape[perm[i]]`. `perm` must be a permutation of `shape`'s axes.
pub(crate) fn permute_shape(shape: &[usize], perm: &[usize]) -> Vec<usize> {
    perm.iter().map(|&p| shape[p]).collect()
}

/// True when the permutation moves no dimension larger than one relative to another: then the
/// transpose is a pure reshape.
pub(crate) fn perm_is_reshape(shape: &[usize], perm: &[usize]) -> bool {
    let order: Vec<usize> = perm.iter().copied().filter(|&p| shape[p] != 1).collect();
    order.windows(2).all(|w| w[0] < w[1])
}

/// Row-major strides of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Transposes row-major data of `elem`-byte elements: output dim `i` is input dim `perm[i]`.
pub(crate) fn transpose_bytes(
    data: &[u8],
    shape: &[usize],
    perm: &[usize],
    elem: usize,
) -> Vec<u8> {
    let out_shape = permute_shape(shape, perm);
    let in_strides = strides(shape);
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n * elem);
    let mut idx = vec![0usize; out_shape.len()];
    for _ in 0..n {
        let src: usize = idx.iter().zip(perm).map(|(&i, &p)| i * in_strides[p]).sum();
        out.extend_from_slice(&data[src * elem..(src + 1) * elem]);
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < out_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

// ---- constant data -----------------------------------------------------------

/// The f32 values of a validated F32 constant.
pub(crate) fn f32_values(t: &Tensor) -> Option<Vec<f32>> {
    let d = t.data.as_ref()?;
    (t.dtype == DType::F32).then(|| {
        d.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    })
}

/// The values of a validated integer (or bool) constant.
pub(crate) fn int_values(t: &Tensor) -> Option<Vec<i64>> {
    let d = t.data.as_ref()?;
    let v = match t.dtype {
        DType::I8 => d.iter().map(|&b| b as i8 as i64).collect(),
        DType::U8 | DType::Bool => d.iter().map(|&b| b as i64).collect(),
        DType::I16 => d
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]) as i64)
            .collect(),
        DType::I32 => d
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
            .collect(),
        DType::I64 => d
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        DType::F32 => return None,
    };
    Some(v)
}

/// Little-endian bytes of f32 values.
pub(crate) fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Little-endian bytes of integers stored as `dtype` (values are truncated to the type).
pub(crate) fn int_bytes(v: &[i64], dtype: DType) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * dtype.size());
    for &x in v {
        match dtype {
            DType::I8 | DType::U8 | DType::Bool => out.push(x as u8),
            DType::I16 => out.extend_from_slice(&(x as i16).to_le_bytes()),
            DType::I32 => out.extend_from_slice(&(x as i32).to_le_bytes()),
            DType::I64 => out.extend_from_slice(&x.to_le_bytes()),
            DType::F32 => out.extend_from_slice(&(x as f32).to_le_bytes()),
        }
    }
    out
}

/// Scale and zero point of channel `c` (the only one for per-tensor).
pub(crate) fn channel_q(q: &Quant, c: usize) -> (f32, i32) {
    if q.is_per_tensor() {
        (q.scale[0], q.zero_point[0])
    } else {
        (
            q.scale[c % q.scale.len()],
            q.zero_point[c % q.zero_point.len()],
        )
    }
}

/// Channel index of each element of a tensor of `shape` along `axis`.
pub(crate) fn channel_of(shape: &[usize], axis: usize) -> impl Fn(usize) -> usize {
    let inner: usize = shape.iter().skip(axis + 1).product();
    let dim = shape.get(axis).copied().unwrap_or(1).max(1);
    move |i| (i / inner.max(1)) % dim
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_bytes_nchw_to_nhwc() {
        // [1, 2, 2, 3] NCHW -> NHWC: element (c, h, w) = c*100 + h*10 + w.
        let shape = [1, 2, 2, 3];
        let mut v = Vec::new();
        for c in 0..2 {
            for h in 0..2 {
                for w in 0..3 {
                    v.push((c * 100 + h * 10 + w) as f32);
                }
            }
        }
        let out = transpose_bytes(&f32_bytes(&v), &shape, &[0, 2, 3, 1], 4);
        let t = Tensor {
            name: "t".into(),
            dtype: DType::F32,
            shape: vec![1, 2, 3, 2],
            quant: None,
            data: Some(out),
        };
        let got = f32_values(&t).unwrap();
        assert_eq!(&got[..6], &[0.0, 100.0, 1.0, 101.0, 2.0, 102.0]);
        assert_eq!(got[6], 10.0);
    }

    #[test]
    fn perm_helpers() {
        assert!(is_perm(&[0, 3, 1, 2], 4));
        assert!(!is_perm(&[0, 3, 3, 2], 4));
        assert!(!is_perm(&[0, 1], 3));
        assert_eq!(inverse_perm(&[0, 3, 1, 2]), vec![0, 2, 3, 1]);
        assert!(perm_is_reshape(&[1, 1, 1, 64], &[0, 3, 1, 2]));
        assert!(perm_is_reshape(&[1, 1, 49, 10], &[0, 2, 3, 1]));
        assert!(!perm_is_reshape(&[1, 2, 2, 8], &[0, 3, 1, 2]));
    }

    #[test]
    fn quant_axis_follows_transpose() {
        let q = Some(Quant {
            scale: vec![1.0; 3],
            zero_point: vec![0; 3],
            axis: 1,
        });
        // [K=2, N=3] axis 1 -> transposed [N, K]: axis 0.
        assert_eq!(quant_after_transpose(&q, &[1, 0]).unwrap().axis, 0);
        assert_eq!(
            quant_before_transpose(&quant_after_transpose(&q, &[1, 0]), &[1, 0])
                .unwrap()
                .axis,
            1
        );
        // OIHW axis 0 -> depthwise [1, kh, kw, C] via perm [1, 2, 3, 0]: axis 3.
        let q0 = Some(Quant {
            scale: vec![1.0; 3],
            zero_point: vec![0; 3],
            axis: 0,
        });
        assert_eq!(quant_after_transpose(&q0, &[1, 2, 3, 0]).unwrap().axis, 3);
    }

    #[test]
    fn representable_values() {
        assert!(representable(0.0, (0.5, -128), (-128, 127)));
        assert!(representable(1.0, (0.5, 0), (-128, 127)));
        assert!(!representable(0.3, (0.5, 0), (-128, 127)));
        assert!(!representable(0.0, (0.5, 200), (-128, 127)));
    }
}
