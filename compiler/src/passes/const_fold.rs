//! Constant folding: nodes whose operands are all constant and that are cheap
//! to evaluate on the host become constants.

use super::util::{self, node_err};
use super::PassReport;
use crate::error::Result;
use crate::ir::{Act, DType, Graph, Op, Quant, Rounding, Tensor};

/// Folds every foldable node. `dequantize` also folds `Dequantize` of constants (the driver does
/// that last, once no int8 operator can take the quantized weight any more).
pub(crate) fn run(g: &mut Graph, dequantize: bool, report: &mut PassReport) -> Result<bool> {
    let mut changed = false;
    let mut i = 0;
    while i < g.nodes.len() {
        if let Some((data, quant)) = evaluate(g, i, dequantize)? {
            let out = g.nodes[i].outputs[0];
            let t = g.tensor_mut(out);
            t.data = Some(data);
            if t.quant.is_none() {
                t.quant = quant;
            }
            g.nodes.remove(i);
            report.folded_constants += 1;
            changed = true;
        } else {
            i += 1;
        }
    }
    Ok(changed)
}

/// Rounds `x` as the quantizer `r` does.
pub(crate) fn round(x: f32, r: Rounding) -> f32 {
    match r {
        Rounding::HalfToEven => x.round_ties_even(),
        Rounding::HalfAwayFromZero => x.round(),
    }
}

/// `clamp(round(x / scale) + zp)` per element, channel-wise for per-channel `q`.
pub(crate) fn quantize_values(
    x: &[f32],
    shape: &[usize],
    q: &Quant,
    dtype: DType,
    r: Rounding,
) -> Option<Vec<u8>> {
    let (lo, hi) = util::int_range(dtype)?;
    let ch = util::channel_of(shape, q.axis);
    let v: Vec<i64> = x
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let (s, z) = util::channel_q(q, ch(i));
            (round(x / s, r) as i64)
                .saturating_add(z as i64)
                .clamp(lo, hi)
        })
        .collect();
    Some(util::int_bytes(&v, dtype))
}

/// `(q - zp) * scale` per element in f32.
pub(crate) fn dequantize_values(t: &Tensor) -> Option<Vec<f32>> {
    let q = t.quant.as_ref()?;
    let v = util::int_values(t)?;
    let ch = util::channel_of(&t.shape, q.axis);
    Some(
        v.iter()
            .enumerate()
            .map(|(i, &x)| {
                let (s, z) = util::channel_q(q, ch(i));
                (x - z as i64) as f32 * s
            })
            .collect(),
    )
}

type Folded = Option<(Vec<u8>, Option<Quant>)>;

fn evaluate(g: &Graph, i: usize, dequantize: bool) -> Result<Folded> {
    let n = &g.nodes[i];
    let ins: Vec<_> = n.inputs.iter().flatten().copied().collect();
    if n.outputs.len() != 1 || ins.is_empty() || !ins.iter().all(|t| g.tensor(*t).is_const()) {
        return Ok(None);
    }
    let out_id = n.outputs[0];
    if util::is_output(g, out_id) || g.tensor(out_id).is_const() {
        return Ok(None);
    }
    let out = g.tensor(out_id);
    let x = g.tensor(ins[0]);
    let bad = |why: String| Err(node_err(g, n, why));
    if !matches!(n.op, Op::Quantize { .. } | Op::Dequantize) && out.dtype != x.dtype {
        return bad(format!(
            "output '{}' is {} but input '{}' is {}",
            out.name, out.dtype, x.name, x.dtype
        ));
    }
    let Some(xd) = x.data.as_ref() else {
        return Ok(None);
    };
    match &n.op {
        Op::Transpose { perm } => {
            if !util::is_perm(perm, x.shape.len())
                || util::permute_shape(&x.shape, perm) != out.shape
            {
                return bad(format!(
                    "perm {perm:?} does not map {:?} to {:?}",
                    x.shape, out.shape
                ));
            }
            let data = util::transpose_bytes(xd, &x.shape, perm, x.dtype.size());
            Ok(Some((data, util::quant_after_transpose(&x.quant, perm))))
        }
        Op::Reshape => {
            if x.numel() != out.numel() {
                return bad(format!("cannot reshape {:?} to {:?}", x.shape, out.shape));
            }
            match &x.quant {
                Some(q) if !q.is_per_tensor() && x.shape != out.shape => Ok(None),
                q => Ok(Some((xd.clone(), q.clone()))),
            }
        }
        Op::Quantize { rounding } => {
            let Some(q) = out.quant.as_ref() else {
                return bad(format!(
                    "quantize output '{}' has no quantization parameters",
                    out.name
                ));
            };
            if !q.is_per_tensor() && out.shape.get(q.axis) != Some(&q.scale.len()) {
                return Ok(None);
            }
            let real = match x.dtype {
                DType::F32 => util::f32_values(x),
                _ => dequantize_values(x),
            };
            let Some(real) = real else { return Ok(None) };
            Ok(quantize_values(&real, &out.shape, q, out.dtype, *rounding).map(|d| (d, None)))
        }
        Op::Dequantize if dequantize => {
            if out.dtype != DType::F32 {
                return Ok(None);
            }
            match dequantize_values(x) {
                Some(v) => Ok(Some((util::f32_bytes(&v), None))),
                None => bad(format!(
                    "dequantize input '{}' has no quantization parameters",
                    x.name
                )),
            }
        }
        Op::Add { act } | Op::Sub { act } | Op::Mul { act } => {
            if ins.len() != 2 || out.dtype != DType::F32 {
                return Ok(None);
            }
            let y = g.tensor(ins[1]);
            let (Some(a), Some(b)) = (util::f32_values(x), util::f32_values(y)) else {
                return Ok(None);
            };
            if !broadcasts(&x.shape, &out.shape) || !broadcasts(&y.shape, &out.shape) {
                return bad(format!(
                    "cannot broadcast {:?} and {:?} to {:?}",
                    x.shape, y.shape, out.shape
                ));
            }
            let (lo, hi) = act.range();
            let v: Vec<f32> = (0..out.numel())
                .map(|k| {
                    let p = a[broadcast_src(&out.shape, &x.shape, k)];
                    let q = b[broadcast_src(&out.shape, &y.shape, k)];
                    let r = match n.op {
                        Op::Add { .. } => p + q,
                        Op::Sub { .. } => p - q,
                        _ => p * q,
                    };
                    if *act == Act::None {
                        r
                    } else {
                        r.clamp(lo, hi)
                    }
                })
                .collect();
            Ok(Some((util::f32_bytes(&v), None)))
        }
        Op::Pad { pads, value } => {
            let expect: Vec<usize> = x
                .shape
                .iter()
                .zip(pads)
                .map(|(d, (b, a))| d + b + a)
                .collect();
            if pads.len() != x.shape.len() || expect != out.shape {
                return bad(format!(
                    "pads {pads:?} do not map {:?} to {:?}",
                    x.shape, out.shape
                ));
            }
            let fill = match (x.dtype, &x.quant) {
                (DType::F32, _) => value.to_le_bytes().to_vec(),
                (d, Some(q)) if q.is_per_tensor() => {
                    let Some(b) = quantize_values(&[*value], &[1], q, d, Rounding::HalfToEven)
                    else {
                        return Ok(None);
                    };
                    b
                }
                (_, Some(_)) => return Ok(None),
                (d, None) => util::int_bytes(&[*value as i64], d),
            };
            Ok(Some((
                pad_bytes(xd, &x.shape, pads, &fill),
                x.quant.clone(),
            )))
        }
        Op::Concat { axis } => {
            let ts: Vec<&Tensor> = ins.iter().map(|t| g.tensor(*t)).collect();
            if *axis >= out.shape.len()
                || ts
                    .iter()
                    .any(|t| t.shape.len() != out.shape.len() || t.dtype != out.dtype)
                || ts.iter().map(|t| t.shape[*axis]).sum::<usize>() != out.shape[*axis]
            {
                return bad(format!(
                    "inputs do not concatenate to {:?} on axis {axis}",
                    out.shape
                ));
            }
            if ts.iter().any(|t| !util::quant_eq(&t.quant, &x.quant)) {
                return Ok(None);
            }
            let outer: usize = out.shape[..*axis].iter().product();
            let mut data = Vec::with_capacity(out.nbytes());
            for o in 0..outer {
                for t in &ts {
                    let inner = t.shape[*axis..].iter().product::<usize>() * t.dtype.size();
                    if let Some(d) = &t.data {
                        data.extend_from_slice(&d[o * inner..(o + 1) * inner]);
                    }
                }
            }
            Ok(Some((data, x.quant.clone())))
        }
        _ => Ok(None),
    }
}

/// NumPy broadcasting of `shape` to `out`.
pub(crate) fn broadcasts(shape: &[usize], out: &[usize]) -> bool {
    shape.len() <= out.len()
        && shape
            .iter()
            .rev()
            .zip(out.iter().rev())
            .all(|(s, o)| *s == *o || *s == 1)
}

/// Index into a tensor of `shape` broadcast to `out` for flat output index `k`.
pub(crate) fn broadcast_src(out: &[usize], shape: &[usize], k: usize) -> usize {
    let os = util::strides(out);
    let is = util::strides(shape);
    let off = out.len() - shape.len();
    (0..shape.len())
        .map(|d| {
            if shape[d] == 1 {
                0
            } else {
                (k / os[d + off]) % out[d + off] * is[d]
            }
        })
        .sum()
}

fn pad_bytes(data: &[u8], shape: &[usize], pads: &[(usize, usize)], fill: &[u8]) -> Vec<u8> {
    let elem = fill.len();
    let out_shape: Vec<usize> = shape
        .iter()
        .zip(pads)
        .map(|(d, (b, a))| d + b + a)
        .collect();
    let n: usize = out_shape.iter().product();
    let in_strides = util::strides(shape);
    let mut out = Vec::with_capacity(n * elem);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        let mut src = Some(0usize);
        for d in 0..shape.len() {
            let i = idx[d];
            if i < pads[d].0 || i >= pads[d].0 + shape[d] {
                src = None;
                break;
            }
            src = src.map(|s| s + (i - pads[d].0) * in_strides[d]);
        }
        match src {
            Some(s) => out.extend_from_slice(&data[s * elem..(s + 1) * elem]),
            None => out.extend_from_slice(fill),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Quant;
    use crate::passes::testutil::B;

    fn fold(b: &mut B, deq: bool) -> bool {
        run(&mut b.g, deq, &mut PassReport::default()).unwrap()
    }

    #[test]
    fn transpose_of_quantized_constant_moves_channel_axis() {
        let mut b = B::new();
        // Gemm-style weight [K=2, N=3], per-channel on N (axis 1).
        let q = Quant {
            scale: vec![0.1, 0.2, 0.3],
            zero_point: vec![0; 3],
            axis: 1,
        };
        let w = b.cint("w", DType::I8, &[2, 3], &[1, 2, 3, 4, 5, 6], Some(q));
        let wt = b.t("wt", DType::I8, &[3, 2]);
        b.node("t", Op::Transpose { perm: vec![1, 0] }, &[w], &[wt]);
        let y = b.f("y", &[3, 2]);
        b.node("dq", Op::Dequantize, &[wt], &[y]);
        b.output(y);
        assert!(fold(&mut b, false));
        let t = b.g.tensor(wt);
        assert_eq!(util::int_values(t).unwrap(), vec![1, 4, 2, 5, 3, 6]);
        assert_eq!(t.quant.as_ref().unwrap().axis, 0);
        // The dequantize stays until the final phase.
        assert_eq!(b.g.nodes.len(), 1);
        assert!(!fold(&mut b, false));
        // Graph outputs are never turned into constants.
        assert!(!fold(&mut b, true));
    }

    #[test]
    fn dequantize_per_channel_and_quantize_rounding() {
        let mut b = B::new();
        let q = Quant {
            scale: vec![0.5, 0.25],
            zero_point: vec![0, 0],
            axis: 0,
        };
        let w = b.cint("w", DType::I8, &[2, 2], &[2, -4, 2, -4], Some(q));
        let wf = b.f("wf", &[2, 2]);
        b.node("dq", Op::Dequantize, &[w], &[wf]);
        let x = b.input("x", &[2, 2]);
        let y = b.f("y", &[2, 2]);
        b.node("add", Op::Add { act: Act::None }, &[x, wf], &[y]);
        b.output(y);
        assert!(fold(&mut b, true));
        assert_eq!(
            util::f32_values(b.g.tensor(wf)).unwrap(),
            vec![1.0, -2.0, 0.5, -1.0]
        );

        let v = [0.5f32, 1.5, 2.5, -0.5, -2.5, 300.0];
        let q = Quant::per_tensor(1.0, 0);
        let even = quantize_values(&v, &[6], &q, DType::I8, Rounding::HalfToEven).unwrap();
        let away = quantize_values(&v, &[6], &q, DType::I8, Rounding::HalfAwayFromZero).unwrap();
        assert_eq!(
            even.iter().map(|b| *b as i8).collect::<Vec<_>>(),
            vec![0, 2, 2, 0, -2, 127]
        );
        assert_eq!(
            away.iter().map(|b| *b as i8).collect::<Vec<_>>(),
            vec![1, 2, 3, -1, -3, 127]
        );
    }

    #[test]
    fn add_mul_pad_concat_reshape_of_constants() {
        let mut b = B::new();
        let a = b.cf32("a", &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let s = b.cf32("s", &[2], &[10.0, -10.0]);
        let sum = b.f("sum", &[2, 2]);
        b.node("add", Op::Add { act: Act::Relu }, &[a, s], &[sum]);
        let prod = b.f("prod", &[2, 2]);
        b.node("mul", Op::Mul { act: Act::None }, &[sum, a], &[prod]);
        let padded = b.f("padded", &[2, 3]);
        b.node(
            "pad",
            Op::Pad {
                pads: vec![(0, 0), (1, 0)],
                value: 7.0,
            },
            &[prod],
            &[padded],
        );
        let cat = b.f("cat", &[4, 3]);
        b.node("cat", Op::Concat { axis: 0 }, &[padded, padded], &[cat]);
        let flat = b.f("flat", &[12]);
        b.node("r", Op::Reshape, &[cat], &[flat]);
        let x = b.input("x", &[12]);
        let y = b.f("y", &[12]);
        b.node("use", Op::Add { act: Act::None }, &[x, flat], &[y]);
        b.output(y);
        assert!(fold(&mut b, false));
        assert_eq!(b.g.nodes.len(), 1);
        // sum = relu([11, -8, 13, -6]) = [11, 0, 13, 0]; prod = [11, 0, 39, 0].
        let row = [7.0, 11.0, 0.0, 7.0, 39.0, 0.0];
        let want: Vec<f32> = row.iter().chain(row.iter()).copied().collect();
        assert_eq!(util::f32_values(b.g.tensor(flat)).unwrap(), want);
    }

    #[test]
    fn malformed_transpose_is_an_error_naming_the_node() {
        let mut b = B::new();
        let c = b.cf32("c", &[2, 3], &[0.0; 6]);
        let t = b.f("t", &[2, 3]);
        b.node(
            "bad_transpose",
            Op::Transpose { perm: vec![1, 0] },
            &[c],
            &[t],
        );
        let x = b.input("x", &[2, 3]);
        let y = b.f("y", &[2, 3]);
        b.node("add", Op::Add { act: Act::None }, &[x, t], &[y]);
        b.output(y);
        let e = run(&mut b.g, false, &mut PassReport::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad_transpose") && e.contains("perm"), "{e}");
    }
}
