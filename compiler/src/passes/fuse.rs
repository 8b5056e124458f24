//! Activation fusion: `Relu`, `Relu6`, `ReluN1To1` and `Clip` following an
//! operator with a fused-activation slot (sole consumer) move into that slot,
//! in f32 and in int8 (when the activation keeps the quantization). An int8
//! activation whose input quantization cannot represent anything outside its
//! range is the identity and vanishes.

use super::util::{self, bypass, sole_consumer};
use super::PassReport;
use crate::error::Result;
use crate::ir::{Act, DType, Graph, Op, Uses};

/// Runs fusion over the whole graph.
///
/// Linear in the graph: a fused activation is only marked dead (its producer now writes its
/// output, so nothing reads or needs it) and all dead nodes go in one pass at the end, with
/// the [`Uses`] index updated in place; removing each from the node list and re-indexing the
/// graph per fusion would be quadratic in a chain of fusable pairs. An absorbed activation
/// (rare: int8 only) edits the graph in place, so the dead ones go first and the index is
/// rebuilt.
pub(crate) fn run(g: &mut Graph, report: &mut PassReport) -> Result<bool> {
    let mut changed = false;
    let mut uses = g.uses();
    let mut dead = vec![false; g.nodes.len()];
    let mut i = 0;
    while i < g.nodes.len() {
        if let Some(x) = absorbable(g, i) {
            // Node `i` keeps its place among the live nodes.
            i -= dead[..i].iter().filter(|&&d| d).count();
            remove_dead(g, &dead);
            let absorbed = bypass(g, i, x);
            uses = g.uses();
            dead = vec![false; g.nodes.len()];
            if absorbed {
                report.fused_activations += 1;
                changed = true;
                continue;
            }
        }
        if fuse(g, &mut uses, i) {
            dead[i] = true;
            report.fused_activations += 1;
            changed = true;
        }
        i += 1;
    }
    remove_dead(g, &dead);
    Ok(changed)
}

/// Drops the nodes marked in `dead` (same length as `g.nodes`).
fn remove_dead(g: &mut Graph, dead: &[bool]) {
    let mut k = 0;
    g.nodes.retain(|_| {
        k += 1;
        !dead[k - 1]
    });
}

/// The clamp an activation node applies, in real units.
fn act_range(op: &Op) -> Option<(f32, f32)> {
    match op {
        Op::Relu => Some(Act::Relu.range()),
        Op::Relu6 => Some(Act::Relu6.range()),
        Op::ReluN1To1 => Some(Act::ReluN1To1.range()),
        Op::Clip { min, max } => Some((*min, *max)),
        _ => None,
    }
}

/// The canonical `Act` for a clamp range.
pub(crate) fn act_for(lo: f32, hi: f32) -> Act {
    match (lo, hi) {
        (l, h) if l == f32::NEG_INFINITY && h == f32::INFINITY => Act::None,
        (l, h) if l == 0.0 && h == f32::INFINITY => Act::Relu,
        (l, h) if l == 0.0 && h == 6.0 => Act::Relu6,
        (l, h) if l == -1.0 && h == 1.0 => Act::ReluN1To1,
        (min, max) => Act::Clamp { min, max },
    }
}

fn act_slot(op: &mut Op) -> Option<&mut Act> {
    match op {
        Op::Conv2d { act, .. }
        | Op::DepthwiseConv2d { act, .. }
        | Op::FullyConnected { act }
        | Op::Add { act }
        | Op::Sub { act }
        | Op::Mul { act }
        | Op::AvgPool2d { act, .. }
        | Op::MaxPool2d { act, .. } => Some(act),
        _ => None,
    }
}

/// `(input, output, lo, hi)` of an activation node.
fn activation(g: &Graph, i: usize) -> Option<(crate::ir::TensorId, crate::ir::TensorId, f32, f32)> {
    let n = &g.nodes[i];
    let (lo, hi) = act_range(&n.op)?;
    if n.outputs.len() != 1
        || n.inputs.iter().flatten().count() != 1
        || lo > hi
        || lo.is_nan()
        || hi.is_nan()
    {
        return None;
    }
    Some((n.input(0)?, n.outputs[0], lo, hi))
}

/// For an int8 activation whose input range already lies inside the clamp: its input, which
/// can replace its output ([`bypass`] removes it).
fn absorbable(g: &Graph, i: usize) -> Option<crate::ir::TensorId> {
    let (x, y, lo, hi) = activation(g, i)?;
    let (xt, yt) = (g.tensor(x), g.tensor(y));
    let (s, zp) = util::per_tensor_q(xt)?;
    let (qlo, qhi) = util::int_range(xt.dtype)?;
    if xt.dtype == DType::F32 || !util::same_meta(xt, yt) {
        return None;
    }
    // Tolerance of half a step: the clamp bounds are themselves quantized by the kernel.
    let (rmin, rmax) = (s * (qlo - zp as i64) as f32, s * (qhi - zp as i64) as f32);
    (rmin >= lo - s / 2.0 && rmax <= hi + s / 2.0).then_some(x)
}

/// Moves an activation into the fused slot of its input's producer, which then writes the
/// activation's output; node `i` is left for the caller to remove (nothing reads its input or
/// needs it any more), `u` updated.
fn fuse(g: &mut Graph, u: &mut Uses, i: usize) -> bool {
    let Some((x, y, lo, hi)) = activation(g, i) else {
        return false;
    };
    let Some(p) = u.producer(x) else { return false };
    if sole_consumer(g, u, x) != Some(i) || g.nodes[p].outputs.len() != 1 {
        return false;
    }
    let (xt, yt) = (g.tensor(x), g.tensor(y));
    if xt.dtype != yt.dtype || xt.shape != yt.shape || !util::quant_eq(&xt.quant, &yt.quant) {
        return false;
    }
    let Some(slot) = act_slot(&mut g.nodes[p].op) else {
        return false;
    };
    let (plo, phi) = slot.range();
    let (nlo, nhi) = (plo.max(lo), phi.min(hi));
    if nlo > nhi {
        return false;
    }
    *slot = act_for(nlo, nhi);
    g.nodes[p].outputs[0] = y;
    u.set_producer(y, p);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Window;
    use crate::passes::testutil::{eval, max_diff, noise, B};

    fn fc(b: &mut B, x: crate::ir::TensorId, act: Act) -> crate::ir::TensorId {
        let w = b.cf32("w", &[3, 4], &noise(12, 4));
        let y = b.f("fc", &[1, 3]);
        b.node("fc", Op::FullyConnected { act }, &[x, w], &[y]);
        y
    }

    #[test]
    fn relu6_and_clip_fuse_into_fc_in_f32() {
        let mut b = B::new();
        let x = b.input("x", &[1, 4]);
        let h = fc(&mut b, x, Act::None);
        let r = b.f("r", &[1, 3]);
        b.node("relu6", Op::Relu6, &[h], &[r]);
        let c = b.f("c", &[1, 3]);
        b.node(
            "clip",
            Op::Clip {
                min: -1.0,
                max: 0.1,
            },
            &[r],
            &[c],
        );
        b.output(c);
        let input = noise(4, 8).iter().map(|v| v * 4.0).collect::<Vec<_>>();
        let before = eval(&b.g, &input);
        let mut rep = PassReport::default();
        assert!(run(&mut b.g, &mut rep).unwrap());
        assert_eq!(rep.fused_activations, 2);
        assert_eq!(b.g.nodes.len(), 1);
        assert_eq!(
            b.g.nodes[0].op,
            Op::FullyConnected {
                act: Act::Clamp { min: 0.0, max: 0.1 }
            }
        );
        assert_eq!(b.g.nodes[0].outputs[0], c);
        assert!(max_diff(&before[0], &eval(&b.g, &input)[0]) < 1e-6);
    }

    #[test]
    fn relu_with_two_consumers_of_its_input_is_not_fused() {
        let mut b = B::new();
        let x = b.input("x", &[1, 4]);
        let h = fc(&mut b, x, Act::None);
        let r = b.f("r", &[1, 3]);
        b.node("relu", Op::Relu, &[h], &[r]);
        b.output(r);
        b.output(h);
        assert!(!run(&mut b.g, &mut PassReport::default()).unwrap());
    }

    #[test]
    fn int8_relu_after_clamping_range_is_absorbed_else_fused() {
        let mut b = B::new();
        let x = b.q8("x", &[1, 2, 2, 1], 0.1, 0);
        b.g.inputs.push(x);
        let win = Window {
            stride: [1, 1],
            dilation: [1, 1],
            pads: [0; 4],
        };
        let kernel = [1, 1];
        // zp -128: the tensor cannot hold negatives, so relu is the identity.
        let p = b.q8("p", &[1, 2, 2, 1], 0.1, -128);
        b.node(
            "pool",
            Op::AvgPool2d {
                kernel,
                win,
                count_include_pad: false,
                act: Act::None,
            },
            &[x],
            &[p],
        );
        let r = b.q8("r", &[1, 2, 2, 1], 0.1, -128);
        b.node("relu", Op::Relu, &[p], &[r]);
        // zp 0: relu6 is a real clamp, it fuses into the pool.
        let p2 = b.q8("p2", &[1, 2, 2, 1], 0.1, 0);
        b.node(
            "pool2",
            Op::MaxPool2d {
                kernel,
                win,
                act: Act::None,
            },
            &[r],
            &[p2],
        );
        let r2 = b.q8("r2", &[1, 2, 2, 1], 0.1, 0);
        b.node("relu6", Op::Relu6, &[p2], &[r2]);
        b.output(r2);
        let mut rep = PassReport::default();
        assert!(run(&mut b.g, &mut rep).unwrap());
        assert_eq!(rep.fused_activations, 2);
        assert_eq!(b.g.nodes.len(), 2);
        assert_eq!(
            b.g.nodes[1].op,
            Op::MaxPool2d {
                kernel,
                win,
                act: Act::Relu6
            }
        );
        assert_eq!(b.g.nodes[1].input(0), Some(p));
    }
}
