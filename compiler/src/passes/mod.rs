//! Graph passes: constant folding, QDQ folding, layout (transpose sinking and
//! cancellation), activation fusion and clean-up, run together to a fixed point
//! by [`optimize`].
//!
//! The rewrites are chosen so that none undoes another (which is what lets the
//! driver iterate until nothing changes):
//! - `Quantize` only ever moves *up* past data-movement operators, `Dequantize`
//!   only ever moves *down* past them, so quantized regions grow.
//! - `Transpose` only ever moves *down* (through elementwise operators and
//!   `Quantize`), until it meets its inverse or a layout-sensitive operator.
//! - `Dequantize` of a constant is folded to f32 only once nothing else
//!   applies: until then it marks an int8 weight that QDQ folding may use.

use std::collections::BTreeMap;

use crate::error::{CompileError, Result};
use crate::ir::{Graph, Op};

mod const_fold;
mod fuse;
mod layout;
mod qdq;
mod util;

/// Which passes [`optimize`] runs. All on by default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassOptions {
    /// Evaluate nodes whose inputs are all constant.
    pub fold_constants: bool,
    /// Rewrite `Dequantize -> op -> Quantize` as int8 operators.
    pub fold_qdq: bool,
    /// Cancel and sink transposes; fold flatten permutations into fully-connected weights.
    pub layout: bool,
    /// Fuse Relu/Relu6/Clip into the producing operator.
    pub fuse_activations: bool,
}

impl Default for PassOptions {
    fn default() -> Self {
        PassOptions {
            fold_constants: true,
            fold_qdq: true,
            layout: true,
            fuse_activations: true,
        }
    }
}

/// An operator that sits between `Dequantize` and `Quantize` (or next to one) but stays in f32.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptF32 {
    /// Node name.
    pub node: String,
    /// IR operator name.
    pub op: &'static str,
    /// Why it has no int8 form.
    pub reason: String,
}

/// What [`optimize`] did, for the compile report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// `Transpose` nodes before the passes.
    pub transposes_before: usize,
    /// `Transpose` nodes after the passes.
    pub transposes_after: usize,
    /// Nodes before the passes.
    pub nodes_before: usize,
    /// Nodes after the passes.
    pub nodes_after: usize,
    /// Nodes evaluated at compile time.
    pub folded_constants: usize,
    /// Operators rewritten from a `Dequantize -> op -> Quantize` pattern to int8.
    pub quantized_ops: usize,
    /// Activations fused into (or absorbed by) the operator producing their input.
    pub fused_activations: usize,
    /// Fully-connected layers whose weights absorbed a flatten permutation.
    pub folded_flatten_permutations: usize,
    /// Operators left in f32 next to quantized tensors, with the reason.
    pub kept_f32: Vec<KeptF32>,
    /// Other remarks (uint8 conversions at the graph boundary, ...).
    pub notes: Vec<String>,
}

/// Upper bound on driver rounds; each round changes the graph, so hitting it means two rewrites undo
/// each other (a bug), which is reported rather than looping forever.
const MAX_ROUNDS: usize = 10_000;

fn count_transposes(g: &Graph) -> usize {
    g.nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Transpose { .. }))
        .count()
}

/// Runs the enabled passes to a fixed point, then removes unused tensors.
pub fn optimize(g: &mut Graph, opts: &PassOptions) -> Result<PassReport, CompileError> {
    util::validate(g)?;
    util::check_order(g)?;
    let mut report = PassReport {
        transposes_before: count_transposes(g),
        nodes_before: g.nodes.len(),
        ..PassReport::default()
    };
    let mut kept: BTreeMap<String, KeptF32> = BTreeMap::new();
    if opts.fold_qdq {
        qdq::uint8_to_int8(g, &mut report)?;
    }
    let mut rounds = 0;
    // Reasons are recorded until int8 weights left behind `Dequantize` are folded to f32: after that
    // every remaining weight looks like f32, which is a consequence, not the reason.
    let mut record = true;
    loop {
        let mut changed = util::remove_dead(g) > 0;
        changed |= layout::cleanup(g)?;
        if opts.fold_constants {
            changed |= const_fold::run(g, false, &mut report)?;
        }
        if opts.layout {
            changed |= layout::run(g, &mut report)?;
        }
        if opts.fuse_activations {
            changed |= fuse::run(g, &mut report)?;
        }
        if opts.fold_qdq {
            changed |= qdq::run(g, record.then_some(&mut kept), &mut report)?;
        }
        if !changed {
            // Int8 weights no operator took stay behind `Dequantize`: their consumers run in f32.
            if opts.fold_constants && const_fold::run(g, true, &mut report)? {
                record = false;
                continue;
            }
            break;
        }
        rounds += 1;
        if rounds > MAX_ROUNDS {
            return Err(CompileError::Invalid {
                path: g.source.clone(),
                node: "graph".into(),
                op_type: "passes".into(),
                reason: format!(
                    "graph passes did not reach a fixed point after {MAX_ROUNDS} rounds"
                ),
            });
        }
    }
    util::check_order(g)?;
    g.compact();
    report.kept_f32 = kept
        .into_values()
        .filter(|k| {
            g.nodes
                .iter()
                .any(|n| n.name == k.node && qdq::is_f32_node(g, n))
        })
        .collect();
    report.transposes_after = count_transposes(g);
    report.nodes_after = g.nodes.len();
    Ok(report)
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests;
