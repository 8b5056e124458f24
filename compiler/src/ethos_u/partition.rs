//! Placement of every node on the NPU or the CPU, with the reason, and the
//! NPU segments (maximal runs of consecutive NPU nodes) that become delegates.
//!
//! A node goes to the NPU when the constraint table ([`super::constraints`])
//! has no objection and kiln's lowering takes it (tried on the real shapes,
//! with placeholder addresses). Reshapes are free on either side: they join
//! the segment around them and never form a segment of their own.

use super::constraints;
use super::lower::{lower, Ctx, Place, ReadOnly, Scratch};
use crate::ir::{Graph, Op, TensorId};
use kiln_rt::ethos_u::config::AccelConfig;
use std::collections::HashMap;

/// Where a node runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Placement {
    /// On the NPU.
    Npu,
    /// On the CPU, with the reason it cannot run on the NPU.
    Cpu(String),
}

/// Places every node of `g` for `cfg`.
pub fn place(g: &Graph, cfg: &'static AccelConfig) -> Vec<Placement> {
    let limits = constraints::limits(cfg.is_u65());
    let places: HashMap<TensorId, Place> = (0..g.tensors.len())
        .filter(|&i| !g.tensors[i].is_const())
        .map(|i| (TensorId(i), Place::scratch(0)))
        .collect();
    let cx = Ctx {
        g,
        cfg,
        places: &places,
        probe: true,
        scratch: &Scratch::default(),
    };
    g.nodes
        .iter()
        .map(|n| {
            if matches!(n.op, Op::Reshape) {
                return Placement::Npu;
            }
            if let Err(v) = constraints::check(g, n, limits) {
                return Placement::Cpu(
                    v.iter()
                        .map(|v| v.detail.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                );
            }
            match lower(&cx, n, &mut ReadOnly::default()) {
                Ok(_) => Placement::Npu,
                Err(reason) => Placement::Cpu(reason),
            }
        })
        .collect()
}

/// The NPU segments: runs of consecutive NPU nodes, without leading or trailing reshapes
/// (those stay CPU aliases, which cost nothing). Reshapes left outside get placement `Cpu`.
pub fn segments(g: &Graph, placement: &mut [Placement]) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < placement.len() {
        if placement[i] != Placement::Npu {
            i += 1;
            continue;
        }
        let start = i;
        while i < placement.len() && placement[i] == Placement::Npu {
            i += 1;
        }
        // The run trimmed of reshapes at both ends is the range `lo..hi` (bounds, not list
        // searches: a run of k operators costs O(k)).
        let is_reshape = |k: usize| matches!(g.nodes[k].op, Op::Reshape);
        let mut hi = i;
        while hi > start && is_reshape(hi - 1) {
            hi -= 1;
        }
        let mut lo = start;
        while lo < hi && is_reshape(lo) {
            lo += 1;
        }
        for (k, p) in placement.iter_mut().enumerate().take(i).skip(start) {
            if !(lo..hi).contains(&k) {
                *p = Placement::Cpu("reshape outside an NPU segment (free on the CPU)".into());
            }
        }
        if lo < hi {
            out.push((lo..hi).collect());
        }
    }
    out
}

/// Folds a PAD of the zero point on H and W into the convolution or depthwise convolution
/// that is its only consumer (the NPU pads its IFM reads with the zero point, which the
/// convolution subtracts: the same as reading padded zeros), so no copy remains.
pub fn fold_pads(g: &Graph) -> Graph {
    let mut g = g.clone();
    let mut i = 0;
    while i < g.nodes.len() {
        if let Some((consumer, pads)) = foldable_pad(&g, i) {
            let x = g.nodes[i].input(0).expect("foldable_pad checked the input");
            let c = &mut g.nodes[consumer];
            c.inputs[0] = Some(x);
            if let Op::Conv2d { win, .. } | Op::DepthwiseConv2d { win, .. } = &mut c.op {
                for (w, p) in win.pads.iter_mut().zip(pads) {
                    *w += p;
                }
            }
            g.nodes.remove(i);
            continue;
        }
        i += 1;
    }
    g.compact();
    g
}

/// For a PAD node `i` that can fold into its only consumer: the consumer and `[t, l, b, r]`.
fn foldable_pad(g: &Graph, i: usize) -> Option<(usize, [usize; 4])> {
    let n = &g.nodes[i];
    let Op::Pad { pads, value } = &n.op else {
        return None;
    };
    let (x, y) = (n.input(0)?, *n.outputs.first()?);
    let q = g.tensor(x).quant.as_ref()?;
    if g.tensor(y).quant.as_ref() != Some(q) || pads.len() != 4 || g.outputs.contains(&y) {
        return None;
    }
    if crate::quant::float_to_quantized_i8(*value, q.scale[0], q.zero_point[0]) != q.zero_point[0] {
        return None;
    }
    if pads[0] != (0, 0) || pads[3] != (0, 0) {
        return None;
    }
    let consumers = g.consumers(y);
    let [c] = consumers.as_slice() else {
        return None;
    };
    let cn = &g.nodes[*c];
    if cn.input(0) != Some(y) || cn.inputs.iter().skip(1).any(|t| *t == Some(y)) {
        return None;
    }
    let win = match &cn.op {
        Op::Conv2d { win, .. } | Op::DepthwiseConv2d { win, .. } => win,
        _ => return None,
    };
    let p = [pads[1].0, pads[2].0, pads[1].1, pads[2].1];
    let total = [
        win.pads[0] + p[0],
        win.pads[1] + p[1],
        win.pads[2] + p[2],
        win.pads[3] + p[3],
    ];
    (total[0] <= 127 && total[1] <= 127 && total[2] <= 255 && total[3] <= 255).then_some((*c, p))
}
