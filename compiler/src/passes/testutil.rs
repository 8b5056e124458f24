//! Test helpers: a builder for hand-made graphs and a small reference
//! evaluator (real-valued semantics of the IR) used to check that a rewrite
//! preserves what the graph computes.

use crate::ir::{Act, DType, Graph, Node, Op, Quant, Tensor, TensorId};
use crate::passes::util;

/// Builds graphs tersely.
#[derive(Default)]
pub(crate) struct B {
    pub g: Graph,
}

impl B {
    pub fn new() -> Self {
        B::default()
    }
    pub fn t(&mut self, name: &str, dtype: DType, shape: &[usize]) -> TensorId {
        self.g.add_tensor(Tensor {
            name: name.into(),
            dtype,
            shape: shape.to_vec(),
            quant: None,
            data: None,
        })
    }
    pub fn f(&mut self, name: &str, shape: &[usize]) -> TensorId {
        self.t(name, DType::F32, shape)
    }
    pub fn q8(&mut self, name: &str, shape: &[usize], scale: f32, zp: i32) -> TensorId {
        let id = self.t(name, DType::I8, shape);
        self.g.tensor_mut(id).quant = Some(Quant::per_tensor(scale, zp));
        id
    }
    pub fn input(&mut self, name: &str, shape: &[usize]) -> TensorId {
        let id = self.f(name, shape);
        self.g.inputs.push(id);
        id
    }
    pub fn output(&mut self, id: TensorId) {
        self.g.outputs.push(id);
    }
    pub fn cf32(&mut self, name: &str, shape: &[usize], v: &[f32]) -> TensorId {
        assert_eq!(v.len(), shape.iter().product::<usize>());
        let id = self.f(name, shape);
        self.g.tensor_mut(id).data = Some(util::f32_bytes(v));
        id
    }
    pub fn cint(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[usize],
        v: &[i64],
        q: Option<Quant>,
    ) -> TensorId {
        assert_eq!(v.len(), shape.iter().product::<usize>());
        let id = self.t(name, dtype, shape);
        self.g.tensor_mut(id).data = Some(util::int_bytes(v, dtype));
        self.g.tensor_mut(id).quant = q;
        id
    }
    pub fn node(&mut self, name: &str, op: Op, inputs: &[TensorId], outputs: &[TensorId]) {
        self.g.nodes.push(Node {
            name: name.into(),
            source_op: op.name().into(),
            op,
            inputs: inputs.iter().map(|t| Some(*t)).collect(),
            outputs: outputs.to_vec(),
        });
    }
    /// `x` f32 -> Quantize -> int8 `name` -> Dequantize -> f32 `name_dq`; returns the f32 tensor.
    pub fn qdq(&mut self, name: &str, x: TensorId, scale: f32, zp: i32) -> TensorId {
        let shape = self.g.tensor(x).shape.clone();
        let q = self.q8(name, &shape, scale, zp);
        let d = self.f(&format!("{name}_dq"), &shape);
        self.node(
            &format!("{name}_q"),
            Op::Quantize {
                rounding: crate::ir::Rounding::HalfToEven,
            },
            &[x],
            &[q],
        );
        self.node(&format!("{name}_dqn"), Op::Dequantize, &[q], &[d]);
        d
    }
}

pub(crate) fn count(g: &Graph, pred: impl Fn(&Op) -> bool) -> usize {
    g.nodes.iter().filter(|n| pred(&n.op)).count()
}

/// Deterministic pseudo-random values in [-1, 1).
pub(crate) fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) as f64 / (1u64 << 31) as f64 * 2.0 - 1.0) as f32
        })
        .collect()
}

/// Values of a tensor as the evaluator stores them: reals for f32, integers for int types.
fn stored(t: &Tensor) -> Option<Vec<f64>> {
    util::f32_values(t)
        .map(|v| v.into_iter().map(|x| x as f64).collect())
        .or_else(|| util::int_values(t).map(|v| v.into_iter().map(|x| x as f64).collect()))
}

fn real(t: &Tensor, v: &[f64]) -> Vec<f64> {
    match &t.quant {
        Some(q) if t.dtype != DType::F32 => {
            let ch = util::channel_of(&t.shape, q.axis);
            v.iter()
                .enumerate()
                .map(|(i, x)| {
                    let (s, z) = util::channel_q(q, ch(i));
                    (x - z as f64) * s as f64
                })
                .collect()
        }
        _ => v.to_vec(),
    }
}

fn store(t: &Tensor, r: Vec<f64>) -> Vec<f64> {
    match (&t.quant, util::int_range(t.dtype)) {
        (Some(q), Some((lo, hi))) => {
            let ch = util::channel_of(&t.shape, q.axis);
            r.iter()
                .enumerate()
                .map(|(i, x)| {
                    let (s, z) = util::channel_q(q, ch(i));
                    ((x / s as f64).round() + z as f64).clamp(lo as f64, hi as f64)
                })
                .collect()
        }
        _ => r,
    }
}

fn act(a: Act, x: f64) -> f64 {
    let (lo, hi) = a.range();
    x.clamp(lo as f64, hi as f64)
}

fn bcast(out: &[usize], shape: &[usize], i: usize) -> usize {
    let os = util::strides(out);
    let is = util::strides(shape);
    let off = out.len() - shape.len();
    let mut src = 0;
    for d in 0..shape.len() {
        let oi = (i / os[d + off]) % out[d + off];
        src += if shape[d] == 1 { 0 } else { oi * is[d] };
    }
    src
}

/// Evaluates the graph on f32 values for its (first) input; returns the *real* values of the outputs.
pub(crate) fn eval(g: &Graph, input: &[f32]) -> Vec<Vec<f64>> {
    let inputs = [input];
    let mut vals: Vec<Option<Vec<f64>>> = g.tensors.iter().map(stored).collect();
    for (id, v) in g.inputs.iter().zip(inputs) {
        vals[id.0] = Some(store(g.tensor(*id), v.iter().map(|x| *x as f64).collect()));
    }
    for n in &g.nodes {
        let rin: Vec<Option<(Vec<f64>, &Tensor)>> = n
            .inputs
            .iter()
            .map(|t| {
                t.map(|t| {
                    (
                        real(g.tensor(t), vals[t.0].as_ref().expect("evaluated")),
                        g.tensor(t),
                    )
                })
            })
            .collect();
        let x = |i: usize| &rin[i].as_ref().expect("operand").0;
        let xs = |i: usize| &rin[i].as_ref().expect("operand").1.shape;
        let ot = g.tensor(n.outputs[0]);
        let on = ot.numel();
        let r: Vec<f64> = match &n.op {
            Op::Transpose { perm } => {
                let bytes: Vec<u8> = x(0).iter().flat_map(|v| v.to_le_bytes()).collect();
                let t = util::transpose_bytes(&bytes, xs(0), perm, 8);
                t.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                    .collect()
            }
            Op::Reshape | Op::Quantize { .. } | Op::Dequantize => x(0).clone(),
            Op::Relu => x(0).iter().map(|v| v.max(0.0)).collect(),
            Op::Relu6 => x(0).iter().map(|v| v.clamp(0.0, 6.0)).collect(),
            Op::Clip { min, max } => x(0)
                .iter()
                .map(|v| v.clamp(*min as f64, *max as f64))
                .collect(),
            Op::Add { act: a } | Op::Mul { act: a } => {
                let mul = matches!(n.op, Op::Mul { .. });
                (0..on)
                    .map(|i| {
                        let p = x(0)[bcast(&ot.shape, xs(0), i)];
                        let q = x(1)[bcast(&ot.shape, xs(1), i)];
                        act(*a, if mul { p * q } else { p + q })
                    })
                    .collect()
            }
            Op::FullyConnected { act: a } => {
                let w = x(1);
                let nout = xs(1)[0];
                let k = xs(1)[1];
                let b = rin.get(2).and_then(|b| b.as_ref()).map(|b| b.0.clone());
                (0..on)
                    .map(|i| {
                        let (bi, o) = (i / nout, i % nout);
                        let s: f64 = (0..k).map(|j| x(0)[bi * k + j] * w[o * k + j]).sum();
                        act(*a, s + b.as_ref().map_or(0.0, |b| b[o]))
                    })
                    .collect()
            }
            Op::Conv2d { win, act: a, .. } | Op::DepthwiseConv2d { win, act: a, .. } => {
                let (ish, wsh, osh) = (xs(0), xs(1), &ot.shape);
                let dw = matches!(n.op, Op::DepthwiseConv2d { .. });
                // Per output channel: the weight row and the input channels it reads.
                let wrow = |oc: usize| if dw { 0 } else { oc };
                let cin = if dw { 1 } else { wsh[3] };
                let groups = if dw { ish[3] } else { ish[3] / wsh[3] };
                let per_group = osh[3] / groups;
                let b = rin.get(2).and_then(|b| b.as_ref()).map(|b| b.0.clone());
                let mut out = vec![0.0; on];
                for oy in 0..osh[1] {
                    for ox in 0..osh[2] {
                        for oc in 0..osh[3] {
                            let mut s = b.as_ref().map_or(0.0, |b| b[oc]);
                            for ky in 0..wsh[1] {
                                for kx in 0..wsh[2] {
                                    let iy = (oy * win.stride[0] + ky * win.dilation[0]) as isize
                                        - win.pads[0] as isize;
                                    let ix = (ox * win.stride[1] + kx * win.dilation[1]) as isize
                                        - win.pads[1] as isize;
                                    if iy < 0
                                        || ix < 0
                                        || iy >= ish[1] as isize
                                        || ix >= ish[2] as isize
                                    {
                                        continue;
                                    }
                                    for j in 0..cin {
                                        let ic = (oc / per_group) * cin + j;
                                        let wi = if dw { oc } else { j };
                                        s += x(0)
                                            [((iy as usize) * ish[2] + ix as usize) * ish[3] + ic]
                                            * x(1)[((wrow(oc) * wsh[1] + ky) * wsh[2] + kx)
                                                * wsh[3]
                                                + wi];
                                    }
                                }
                            }
                            out[(oy * osh[2] + ox) * osh[3] + oc] = act(*a, s);
                        }
                    }
                }
                out
            }
            Op::MaxPool2d {
                kernel,
                win,
                act: a,
            } => {
                let (ish, osh) = (xs(0), &ot.shape);
                let mut out = vec![f64::NEG_INFINITY; on];
                for oy in 0..osh[1] {
                    for ox in 0..osh[2] {
                        for c in 0..osh[3] {
                            let o = &mut out[(oy * osh[2] + ox) * osh[3] + c];
                            for ky in 0..kernel[0] {
                                for kx in 0..kernel[1] {
                                    let iy =
                                        (oy * win.stride[0] + ky) as isize - win.pads[0] as isize;
                                    let ix =
                                        (ox * win.stride[1] + kx) as isize - win.pads[1] as isize;
                                    if iy >= 0
                                        && ix >= 0
                                        && (iy as usize) < ish[1]
                                        && (ix as usize) < ish[2]
                                    {
                                        *o = o.max(
                                            x(0)[((iy as usize) * ish[2] + ix as usize) * ish[3]
                                                + c],
                                        );
                                    }
                                }
                            }
                            *o = act(*a, *o);
                        }
                    }
                }
                out
            }
            Op::AvgPool2d {
                kernel,
                win,
                count_include_pad,
                act: a,
            } => {
                let (ish, osh) = (xs(0), &ot.shape);
                let mut out = vec![0.0; on];
                for oy in 0..osh[1] {
                    for ox in 0..osh[2] {
                        for c in 0..osh[3] {
                            let (mut s, mut cnt) = (0.0, 0);
                            for ky in 0..kernel[0] {
                                for kx in 0..kernel[1] {
                                    let iy =
                                        (oy * win.stride[0] + ky) as isize - win.pads[0] as isize;
                                    let ix =
                                        (ox * win.stride[1] + kx) as isize - win.pads[1] as isize;
                                    if iy >= 0
                                        && ix >= 0
                                        && (iy as usize) < ish[1]
                                        && (ix as usize) < ish[2]
                                    {
                                        s += x(0)
                                            [((iy as usize) * ish[2] + ix as usize) * ish[3] + c];
                                        cnt += 1;
                                    }
                                }
                            }
                            let div = if *count_include_pad {
                                kernel[0] * kernel[1]
                            } else {
                                cnt
                            };
                            out[(oy * osh[2] + ox) * osh[3] + c] = act(*a, s / div as f64);
                        }
                    }
                }
                out
            }
            Op::Mean { axes, .. } => {
                let ish = xs(0);
                let is = util::strides(ish);
                let kept: Vec<usize> = ish
                    .iter()
                    .enumerate()
                    .map(|(d, &n)| if axes.contains(&d) { 1 } else { n })
                    .collect();
                let ks = util::strides(&kept);
                let mut out = vec![0.0; on];
                for (i, v) in x(0).iter().enumerate() {
                    let o: usize = (0..ish.len())
                        .map(|d| {
                            if axes.contains(&d) {
                                0
                            } else {
                                (i / is[d]) % ish[d] * ks[d]
                            }
                        })
                        .sum();
                    out[o] += v;
                }
                let cnt: usize = axes.iter().map(|&d| ish[d]).product();
                out.iter().map(|v| v / cnt as f64).collect()
            }
            Op::Softmax { beta } => {
                let last = *xs(0).last().expect("rank >= 1");
                x(0).chunks(last)
                    .flat_map(|row| {
                        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let e: Vec<f64> =
                            row.iter().map(|v| ((v - m) * *beta as f64).exp()).collect();
                        let sum: f64 = e.iter().sum();
                        e.into_iter().map(move |v| v / sum)
                    })
                    .collect()
            }
            Op::Concat { axis } => {
                let outer: usize = ot.shape[..*axis].iter().product();
                let mut out = Vec::with_capacity(on);
                for o in 0..outer {
                    for (i, _) in n.inputs.iter().enumerate() {
                        let inner: usize = xs(i)[*axis..].iter().product();
                        out.extend_from_slice(&x(i)[o * inner..(o + 1) * inner]);
                    }
                }
                out
            }
            other => panic!("evaluator does not implement {}", other.name()),
        };
        vals[n.outputs[0].0] = Some(store(ot, r));
    }
    g.outputs
        .iter()
        .map(|o| real(g.tensor(*o), vals[o.0].as_ref().expect("output computed")))
        .collect()
}

/// Largest absolute difference.
pub(crate) fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}
