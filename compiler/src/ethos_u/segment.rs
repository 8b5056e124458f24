//! One NPU segment (a run of consecutive NPU-placed nodes) compiled into an
//! ExecuTorch `EthosUBackend` delegate blob: memory planned with live ranges
//! (the segment's graph-side inputs and outputs in the scratch, region 1, since
//! the backend copies them in and out; on the U65 its internal feature maps in
//! the fast scratch, region 2, as far as it holds them), every node lowered,
//! the temporaries a lowering asks for with [`Scratch`] (region 1, live during their node
//! only), the command stream written, and the `vela_bin_stream` blocks assembled.

use super::buffering::{expand, plan_weight_buffering, replan_jointly};
use super::lower::{lower, Ctx, Place, ReadOnly, Scratch};
use super::npu_op::{
    FeatureMap, NpuKind, NpuOp, Operand2, REGION_FAST_SCRATCH, REGION_SCRATCH, REGION_WEIGHTS,
};
use super::stream::StreamBuilder;
use crate::ir::{Graph, Op, TensorId};
use crate::plan::{self, Buffer, Placed};
use kiln_ethos_u::check::check_stream;
use kiln_ethos_u::perf::{Memory, SimConfig};
use kiln_ethos_u::regs::MAX_REGIONS;
pub use kiln_rt::ethos_u::backend::FAST_SCRATCH_SPEC;
use kiln_rt::ethos_u::blob::BlobParts;
use kiln_rt::ethos_u::config::AccelConfig;
use kiln_rt::ethos_u::payload::{write_cop1, ConfigReg, IdReg, OptimizerConfig};
use std::collections::HashMap;

/// Compile-spec key listing, one line per NPU operation, the IR node it implements (for
/// `kiln inspect`; ExecuTorch ignores compile specs it does not know).
pub const SOURCES_SPEC: &str = "kiln_op_sources";

/// Scratch alignment: the NPU's base addresses are 16-byte aligned.
pub const SCRATCH_ALIGN: usize = 16;

/// A node that could not be compiled for the NPU, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeRefusal {
    /// Node index in the graph.
    pub node: usize,
    /// The reason.
    pub reason: String,
}

/// One NPU operation in the reports.
#[derive(Clone, Debug, PartialEq)]
pub struct OpSummary {
    /// `conv`, `depthwise`, `pool`, `elementwise`.
    pub kind: String,
    /// The IR node it implements.
    pub source: String,
}

/// Why a segment could not be compiled.
#[derive(Clone, Debug, PartialEq)]
pub enum SegmentError {
    /// A node the NPU cannot run as planned.
    Node(NodeRefusal),
    /// The segment's feature maps alone need more SRAM than the budget allows.
    SramBudget {
        /// Bytes the feature maps need at their liveness peak as planned.
        needed: usize,
        /// The budget.
        budget: usize,
    },
}

impl From<NodeRefusal> for SegmentError {
    fn from(r: NodeRefusal) -> Self {
        SegmentError::Node(r)
    }
}

impl std::fmt::Display for SegmentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SegmentError::Node(r) => f.write_str(&r.reason),
            SegmentError::SramBudget { needed, budget } => write!(
                f,
                "the NPU's feature maps need {needed} bytes of SRAM, the SRAM budget is {budget} bytes"
            ),
        }
    }
}

/// A compiled segment.
#[derive(Clone, Debug)]
pub struct CompiledSegment {
    /// The delegate blob (`vela_bin_stream`).
    pub blob: Vec<u8>,
    /// Segment inputs (graph tensors the backend copies into the scratch), in blob order.
    pub inputs: Vec<TensorId>,
    /// Segment outputs, in blob order.
    pub outputs: Vec<TensorId>,
    /// Scratch bytes (region 1).
    pub scratch_bytes: usize,
    /// Fast scratch bytes (region 2; 0: the segment does not use it). The delegate gets them as
    /// compile spec [`FAST_SCRATCH_SPEC`].
    pub fast_scratch_bytes: usize,
    /// Command stream bytes.
    pub stream_bytes: usize,
    /// Weights, scales and LUTs (region 0).
    pub weight_bytes: usize,
    /// The NPU operations.
    pub ops: Vec<OpSummary>,
}

/// Tensors a run of nodes reads from outside and writes for outside (non-constant), each once,
/// in order of first appearance.
///
/// `nodes` are consecutive in execution order, so a tensor they write is read outside only by
/// a later node: one scan of the nodes after the run, set lookups instead of list searches
/// (a segment of `k` operators costs `O(k)` plus the nodes after it, not `k` times the graph).
pub fn segment_io(g: &Graph, nodes: &[usize]) -> (Vec<TensorId>, Vec<TensorId>) {
    use std::collections::HashSet;
    let inside: HashSet<usize> = nodes.iter().copied().collect();
    let produced: HashSet<TensorId> = nodes
        .iter()
        .flat_map(|&i| g.nodes[i].outputs.iter().copied())
        .collect();
    let mut inputs = Vec::new();
    let mut seen = HashSet::new();
    for &i in nodes {
        for t in g.nodes[i].inputs.iter().flatten() {
            if !g.tensor(*t).is_const() && !produced.contains(t) && seen.insert(*t) {
                inputs.push(*t);
            }
        }
    }
    // Everything the run writes that a node outside it or the graph's outputs read. (Nodes
    // before the run cannot read it in execution order, but are scanned too when the run is
    // not contiguous, so the answer never depends on that.)
    let contiguous = nodes.windows(2).all(|w| w[1] == w[0] + 1);
    let from = match (contiguous, nodes.first()) {
        (true, Some(&first)) => first,
        _ => 0,
    };
    let mut read_outside: HashSet<TensorId> = g
        .outputs
        .iter()
        .copied()
        .filter(|t| produced.contains(t))
        .collect();
    for (j, n) in g.nodes.iter().enumerate().skip(from) {
        if !inside.contains(&j) {
            read_outside.extend(n.inputs.iter().flatten().filter(|t| produced.contains(t)));
        }
    }
    let mut outputs = Vec::new();
    let mut seen = HashSet::new();
    for &i in nodes {
        for &t in &g.nodes[i].outputs {
            if read_outside.contains(&t) && seen.insert(t) {
                outputs.push(t);
            }
        }
    }
    (inputs, outputs)
}

/// Bytes of fast scratch (region 2) `cfg`'s default system gives a segment's internal feature
/// maps: Vela's U65 Dedicated_Sram SRAM ([`kiln_ethos_u::perf::DEDICATED_SRAM_BYTES`]); 0 on
/// the U55 (Shared_Sram), whose scratch is the SRAM already.
pub fn fast_scratch_budget(cfg: &AccelConfig) -> usize {
    Memory::fast_scratch_budget(cfg.product).map_or(0, |b| b as usize)
}

/// Compiles the nodes `nodes` (consecutive in execution order) for `cfg`, with the fast
/// scratch of its default system ([`fast_scratch_budget`]).
pub fn compile_segment(
    g: &Graph,
    nodes: &[usize],
    cfg: &'static AccelConfig,
) -> Result<CompiledSegment, SegmentError> {
    compile_segment_in(g, nodes, cfg, None)
}

/// [`compile_segment`] within an SRAM budget: on the U55 the scratch (feature maps and staged
/// weights) holds at most `sram_budget` bytes, or the segment fails with the bytes its feature
/// maps need; on the U65 the fast scratch does (what does not fit stays in DRAM).
pub fn compile_segment_in(
    g: &Graph,
    nodes: &[usize],
    cfg: &'static AccelConfig,
    sram_budget: Option<usize>,
) -> Result<CompiledSegment, SegmentError> {
    let fast = fast_scratch_budget(cfg);
    if fast > 0 {
        let fast = sram_budget.map_or(fast, |b| b.min(fast));
        // A budget of 0 on the U65 still has a fast scratch of nothing: region 1 (DRAM) only.
        compile_segment_with(g, nodes, cfg, fast, None)
    } else {
        compile_segment_with(g, nodes, cfg, 0, sram_budget)
    }
}

/// [`compile_segment`] with at most `fast_budget` bytes of fast scratch (region 2; 0: none)
/// and, without one, at most `sram_budget` bytes of scratch (region 1, the U55's SRAM).
///
/// Memory: the segment's graph-side inputs and outputs are in the scratch (region 1), where the
/// backend copies them. Its internal feature maps go to the fast scratch, planned with live
/// ranges: all of them when they fit in `fast_budget`, else those with the most bytes accessed
/// per byte of fast scratch first (greedily, each kept if the plan still fits); the rest are
/// planned in the scratch with the inputs and outputs.
pub fn compile_segment_with(
    g: &Graph,
    nodes: &[usize],
    cfg: &'static AccelConfig,
    fast_budget: usize,
    sram_budget: Option<usize>,
) -> Result<CompiledSegment, SegmentError> {
    let (inputs, outputs) = segment_io(g, nodes);
    // Alias roots: a reshape's output is its input's memory.
    let mut root: HashMap<TensorId, TensorId> = HashMap::new();
    let find = |root: &HashMap<TensorId, TensorId>, t: TensorId| root.get(&t).copied().unwrap_or(t);
    for &i in nodes {
        let n = &g.nodes[i];
        if matches!(n.op, Op::Reshape) {
            if let (Some(x), Some(&y)) = (n.input(0), n.outputs.first()) {
                let r = find(&root, x);
                root.insert(y, r);
            }
        }
    }
    // Temporaries of multi-operation lowerings: a probe lowering of every node says what it
    // needs; each lives only at its node's step, in the scratch (region 1).
    let probe_places: HashMap<TensorId, Place> = (0..g.tensors.len())
        .filter(|&i| !g.tensors[i].is_const())
        .map(|i| {
            (
                TensorId(i),
                Place {
                    region: REGION_SCRATCH,
                    addr: 0,
                },
            )
        })
        .collect();
    let probe_scratch = Scratch::default();
    let probe = Ctx {
        g,
        cfg,
        places: &probe_places,
        probe: true,
        scratch: &probe_scratch,
    };
    let mut step_of: HashMap<TensorId, usize> = HashMap::new();
    for (k, &i) in nodes.iter().enumerate() {
        let n = &g.nodes[i];
        if matches!(n.op, Op::Reshape) {
            continue;
        }
        let ops = lower(&probe, n, &mut ReadOnly::default())
            .map_err(|reason| NodeRefusal { node: i, reason })?;
        if let Some(&y) = n.outputs.first() {
            step_of.insert(y, k);
            if let Some(x) = in_place_operand(g, nodes, k, &ops, &inputs, &outputs, &root) {
                let r = find(&root, x);
                root.insert(y, r);
            }
        }
    }
    // Live ranges in segment steps: inputs from 0, outputs to the end; and the bytes the
    // NPU operations read and write of each buffer (reshapes move none).
    let end = nodes.len();
    let mut live: HashMap<TensorId, Live> = HashMap::new();
    let touch = |t: TensorId, step: usize, accessed: bool, live: &mut HashMap<TensorId, Live>| {
        if g.tensor(t).is_const() {
            return;
        }
        let r = find(&root, t);
        let e = live.entry(r).or_insert(Live {
            first: step,
            last: step,
            size: 0,
            accessed: 0,
        });
        e.first = e.first.min(step);
        e.last = e.last.max(step);
        e.size = e.size.max(g.tensor(t).nbytes());
        if accessed {
            e.accessed += g.tensor(t).nbytes() as u64;
        }
    };
    for &t in &inputs {
        touch(t, 0, false, &mut live);
    }
    for (k, &i) in nodes.iter().enumerate() {
        let n = &g.nodes[i];
        let moves = !matches!(n.op, Op::Reshape);
        for t in n.inputs.iter().flatten().chain(&n.outputs) {
            touch(*t, k, moves, &mut live);
        }
    }
    for &t in &outputs {
        touch(t, end, false, &mut live);
    }
    let mut roots: Vec<TensorId> = live.keys().copied().collect();
    roots.sort();
    let graph_side: std::collections::HashSet<TensorId> = inputs
        .iter()
        .chain(&outputs)
        .map(|&t| find(&root, t))
        .collect();
    let internal: Vec<usize> = (0..roots.len())
        .filter(|&k| !graph_side.contains(&roots[k]))
        .collect();
    let buffer = |k: usize| {
        let l = &live[&roots[k]];
        Buffer {
            size: l.size,
            first: l.first,
            last: l.last,
        }
    };
    let fast = choose_fast(
        &internal
            .iter()
            .map(|&k| (buffer(k), live[&roots[k]].accessed))
            .collect::<Vec<_>>(),
        fast_budget,
    );
    let in_fast: Vec<bool> = {
        let mut v = vec![false; roots.len()];
        for (&k, &f) in internal.iter().zip(&fast) {
            v[k] = f;
        }
        v
    };
    let temps = probe_scratch.requests();
    // One plan per region (the temporaries with the scratch).
    let mut root_place: HashMap<TensorId, Place> = HashMap::new();
    let mut temp_addr: HashMap<super::lower::TempKey, u32> = HashMap::new();
    let mut arena = [0usize; 2];
    // What each region holds, live ranges in segment steps (for the weight buffers).
    let mut held: [Vec<Placed>; 2] = [Vec::new(), Vec::new()];
    for (slot, (region, wanted)) in [(REGION_SCRATCH, false), (REGION_FAST_SCRATCH, true)]
        .into_iter()
        .enumerate()
    {
        let ks: Vec<usize> = (0..roots.len()).filter(|&k| in_fast[k] == wanted).collect();
        let mut bufs: Vec<Buffer> = ks.iter().map(|&k| buffer(k)).collect();
        if region == REGION_SCRATCH {
            for ((out, _), size) in &temps {
                let step = step_of[out];
                bufs.push(Buffer {
                    size: *size,
                    first: step,
                    last: step,
                });
            }
        }
        let memory = plan::plan(&bufs, SCRATCH_ALIGN);
        held[slot] = bufs
            .iter()
            .zip(&memory.offsets)
            .map(|(&buffer, o)| Placed {
                buffer,
                offset: o.0,
            })
            .collect();
        for (&k, o) in ks.iter().zip(&memory.offsets) {
            root_place.insert(
                roots[k],
                Place {
                    region,
                    addr: o.0 as u32,
                },
            );
        }
        if region == REGION_SCRATCH {
            for ((key, _), o) in temps.iter().zip(&memory.offsets[ks.len()..]) {
                temp_addr.insert(*key, o.0 as u32);
            }
        }
        arena[slot] = memory.arena_bytes;
    }
    let scratch = Scratch::planned(temp_addr);
    let mut places: HashMap<TensorId, Place> = HashMap::new();
    for (k, t) in g.tensors.iter().enumerate() {
        let id = TensorId(k);
        if t.is_const() {
            continue;
        }
        if let Some(&p) = root_place.get(&find(&root, id)) {
            places.insert(id, p);
        }
    }

    let cx = Ctx {
        g,
        cfg,
        places: &places,
        probe: false,
        scratch: &scratch,
    };
    let mut ro = ReadOnly::default();
    let mut ops: Vec<NpuOp> = Vec::new();
    // The operations of each step: [first, end).
    let mut step_ops: Vec<(usize, usize)> = Vec::with_capacity(end);
    // The node whose lowering pushed each pending weight stream.
    let mut job_node: Vec<usize> = Vec::new();
    for &i in nodes {
        let n = &g.nodes[i];
        let first = ops.len();
        if !matches!(n.op, Op::Reshape) {
            let lowered =
                lower(&cx, n, &mut ro).map_err(|reason| NodeRefusal { node: i, reason })?;
            ops.extend(lowered);
        }
        job_node.resize(ro.pending_jobs(), i);
        step_ops.push((first, ops.len()));
    }
    ro.finish(&mut ops).map_err(|(job, e)| NodeRefusal {
        node: job_node.get(job).copied().unwrap_or(nodes[0]),
        reason: e.to_string(),
    })?;
    // Weight buffers: in the fast scratch where the segment has one (the U65's SRAM), else in
    // the scratch (the U55's SRAM); live ranges in operation indices.
    let slot = usize::from(fast_budget > 0);
    let (region, budget) = if slot == 1 {
        (REGION_FAST_SCRATCH, fast_budget)
    } else {
        if let Some(budget) = sram_budget.filter(|&b| arena[0] > b) {
            return Err(SegmentError::SramBudget {
                needed: arena[0],
                budget,
            });
        }
        // Without a budget, staged weights may grow the SRAM by at most the largest feature
        // map's size: whole-weight buffers of a wide layer would otherwise cost more SRAM
        // than the feature maps themselves (a layer that does not fit is staged in depth
        // slices instead, `buffering::sliced`).
        let largest = held[0].iter().map(|p| p.buffer.size).max().unwrap_or(0);
        let default = arena[0] + largest.next_multiple_of(SCRATCH_ALIGN);
        (REGION_SCRATCH, sram_budget.unwrap_or(default))
    };
    let last_op = ops.len().saturating_sub(1);
    let op_time = |step: usize| -> (usize, usize) {
        match step_ops.get(step) {
            Some(&(a, b)) if b > a => (a, b - 1),
            Some(&(a, _)) => (a.min(last_op), a.min(last_op)),
            None => (last_op, last_op),
        }
    };
    let occupied: Vec<Placed> = held[slot]
        .iter()
        .map(|p| Placed {
            buffer: Buffer {
                size: p.buffer.size,
                first: op_time(p.buffer.first).0,
                last: op_time(p.buffer.last).1,
            },
            offset: p.offset,
        })
        .collect();
    let sim = SimConfig::from_accel(cfg);
    let staging = plan_weight_buffering(
        &sim,
        &mut ro,
        &mut ops,
        &occupied,
        region,
        arena[slot],
        budget,
    );
    let (mut dmas, mut sliced, staged_arena) = (staging.dmas, staging.sliced, staging.arena);
    arena[slot] = staged_arena;
    if dmas.iter().any(Option::is_some) || sliced.iter().any(Option::is_some) {
        // The segment's inputs (live from the first operation) and outputs (to the last) in
        // the staging region move with the joint plan.
        let io: Vec<TensorId> = inputs
            .iter()
            .chain(&outputs)
            .copied()
            .filter(|t| places.get(t).is_some_and(|p| p.region == region))
            .collect();
        let mut anchors: Vec<(usize, u32)> = io
            .iter()
            .map(|t| {
                let k = if inputs.contains(t) { 0 } else { last_op };
                (k, places[t].addr)
            })
            .collect();
        if let Some(joint) = replan_jointly(
            &mut ops,
            &mut dmas,
            &mut sliced,
            &mut anchors,
            &occupied,
            region,
            staged_arena,
        ) {
            arena[slot] = joint;
            for (t, &(_, addr)) in io.iter().zip(&anchors) {
                if let Some(p) = places.get_mut(t) {
                    p.addr = addr;
                }
            }
        }
    }
    // Sliced operations become their slices; the whole streams they replaced leave the
    // read-only data, and every address there moves down over the gaps.
    let (mut ops, mut dmas) = expand(ops, dmas, &sliced);
    if !staging.dead.is_empty() {
        let moved = ro.remove(&staging.dead);
        for op in &mut ops {
            relocate_read_only(op, &moved);
        }
        for d in dmas.iter_mut().flatten() {
            d.src.offset = moved(d.src.offset);
        }
    }
    let scratch_bytes = arena[0].max(SCRATCH_ALIGN);
    let fast_scratch_bytes = arena[1];
    let mut sb = StreamBuilder::default();
    if let Some(Some(d)) = dmas.first() {
        sb.weight_dma(d);
    }
    for (k, op) in ops.iter().enumerate() {
        sb.push(op, cfg.shram_kib());
        if let Some(Some(d)) = dmas.get(k + 1) {
            sb.weight_dma(d);
        }
    }
    let stream = sb.finish();
    let stream_bytes = stream.len();
    // The check Linux's driver applies before it submits a job: every register an operation
    // reads was set, every access lies inside region 0 (read-only data), 1 (scratch) or 2
    // (fast scratch, when the segment has one).
    let mut regions = [None; MAX_REGIONS];
    regions[REGION_WEIGHTS as usize] = Some(ro.bytes.len() as u64);
    regions[REGION_SCRATCH as usize] = Some(scratch_bytes as u64);
    if fast_scratch_bytes > 0 {
        regions[REGION_FAST_SCRATCH as usize] = Some(fast_scratch_bytes as u64);
    }
    check_stream(&stream, &regions).map_err(|e| NodeRefusal {
        node: nodes[0],
        reason: format!(
            "internal compiler error: the command stream fails the driver's check: {e}"
        ),
    })?;
    let config = OptimizerConfig {
        release: 0,
        patch: 0,
        config: ConfigReg(cfg.config_word()),
        id: IdReg(cfg.id_word()),
    };
    let mut payload = vec![0u8; stream.len() + 64];
    let n = write_cop1(Some(config), &stream, &mut payload).ok_or_else(|| NodeRefusal {
        node: nodes[0],
        reason: "command stream too long for a COP1 payload".into(),
    })?;
    payload.truncate(n);
    let io_entries = |list: &[TensorId]| -> Vec<u8> {
        let mut block = (list.len() as i32).to_le_bytes().to_vec();
        for &t in list {
            let ten = g.tensor(t);
            let mut shape = [1i32; 6];
            let rank = ten.shape.len().min(6);
            for (d, &s) in shape[6 - rank..]
                .iter_mut()
                .zip(&ten.shape[ten.shape.len() - rank..])
            {
                *d = s as i32;
            }
            // Graph-side tensors are always in the scratch (region 1, the entry's last field).
            let offset = places[&t].addr as i32;
            for v in shape.iter().chain(&[ten.dtype.size() as i32, offset, 1]) {
                block.extend_from_slice(&v.to_le_bytes());
            }
        }
        block
    };
    let blob = write_blob(
        &payload,
        &ro.bytes,
        scratch_bytes as u32,
        &io_entries(&inputs),
        &io_entries(&outputs),
    );
    Ok(CompiledSegment {
        blob,
        inputs,
        outputs,
        scratch_bytes,
        fast_scratch_bytes,
        stream_bytes,
        weight_bytes: ro.bytes.len(),
        ops: ops
            .iter()
            .map(|o| OpSummary {
                kind: match o.kind {
                    NpuKind::Conv { .. } => "conv",
                    NpuKind::Depthwise => "depthwise",
                    NpuKind::Pool(_) => "pool",
                    NpuKind::Elementwise(_) => "elementwise",
                }
                .into(),
                source: o.source.clone(),
            })
            .collect(),
    })
}

/// `op` with every read-only (region 0) address mapped by `moved`.
fn relocate_read_only(op: &mut NpuOp, moved: &impl Fn(u32) -> u32) {
    let mut maps: Vec<&mut FeatureMap> = vec![&mut op.ifm, &mut op.ofm];
    if let Some(Operand2::Map { fm, .. }) = &mut op.ifm2 {
        maps.push(fm);
    }
    for fm in maps {
        if fm.region == REGION_WEIGHTS {
            fm.base = moved(fm.base);
        }
    }
    for s in [&mut op.weights, &mut op.scales].into_iter().flatten() {
        if s.region == REGION_WEIGHTS {
            s.offset = moved(s.offset);
        }
    }
    if let Some(lut) = &mut op.lut {
        if lut.src.region == REGION_WEIGHTS {
            lut.src.offset = moved(lut.src.offset);
        }
    }
}

/// The input an elementwise node can write its output over (Vela's in-place elementwise
/// operations): the node is one NPU elementwise operation whose output and that operand have
/// the same shape, layout and strides (no broadcast), the input is internal to the segment and
/// no later node of the segment reads it. The NPU reads each IFM block before it writes the
/// OFM block at the same position, so the output may overwrite the input.
fn in_place_operand(
    g: &Graph,
    nodes: &[usize],
    k: usize,
    ops: &[NpuOp],
    inputs: &[TensorId],
    outputs: &[TensorId],
    root: &HashMap<TensorId, TensorId>,
) -> Option<TensorId> {
    let [op] = ops else {
        return None;
    };
    if !matches!(op.kind, NpuKind::Elementwise(_)) {
        return None;
    }
    let n = &g.nodes[nodes[k]];
    let y = *n.outputs.first()?;
    if outputs.contains(&y) {
        return None;
    }
    let same = |fm: &super::npu_op::FeatureMap| {
        fm.shape == op.ofm.shape
            && fm.strides == op.ofm.strides
            && fm.layout == op.ofm.layout
            && fm.bits == op.ofm.bits
            && fm.region == op.ofm.region
    };
    // Operand maps without broadcast, by graph input order (ifm2 may hold the first operand).
    let mut maps = vec![same(&op.ifm)];
    match op.ifm2 {
        Some(Operand2::Map { fm, broadcast }) => maps.push(same(&fm) && broadcast == [false; 3]),
        Some(Operand2::Scalar { .. }) | None => {}
    }
    if op.reversed {
        maps.reverse();
    }
    let find = |t: TensorId| root.get(&t).copied().unwrap_or(t);
    let ty = g.tensor(y);
    n.inputs
        .iter()
        .flatten()
        .copied()
        .zip(maps)
        .filter(|&(x, _)| !g.tensor(x).is_const())
        .find(|&(x, ok)| {
            let tx = g.tensor(x);
            ok && tx.shape == ty.shape
                && tx.dtype == ty.dtype
                && !inputs.contains(&x)
                && !outputs.contains(&x)
                && !nodes[k + 1..].iter().any(|&j| {
                    g.nodes[j]
                        .inputs
                        .iter()
                        .flatten()
                        .any(|&t| find(t) == find(x))
                })
        })
        .map(|(x, _)| x)
}

/// Live range, size and bytes accessed of one buffer (alias root) of a segment.
struct Live {
    first: usize,
    last: usize,
    size: usize,
    accessed: u64,
}

/// Which of `candidates` (buffer, bytes the operations access) go to the fast scratch of
/// `budget` bytes: all when their plan fits; else by bytes accessed per byte, most first (ties:
/// smaller, then earlier in the list), each kept when the plan of those kept so far and it still
/// fits.
fn choose_fast(candidates: &[(Buffer, u64)], budget: usize) -> Vec<bool> {
    let fits = |chosen: &[bool]| {
        let bufs: Vec<Buffer> = candidates
            .iter()
            .zip(chosen)
            .filter(|(_, c)| **c)
            .map(|(b, _)| b.0)
            .collect();
        plan::plan(&bufs, SCRATCH_ALIGN).arena_bytes <= budget
    };
    let mut chosen = vec![budget > 0; candidates.len()];
    if budget == 0 || fits(&chosen) {
        return chosen;
    }
    chosen.fill(false);
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    // a before b when accessed_a / size_a > accessed_b / size_b (sizes rounded to the alignment).
    let size = |i: usize| candidates[i].0.size.div_ceil(SCRATCH_ALIGN).max(1) as u128;
    order.sort_by(|&a, &b| {
        (candidates[b].1 as u128 * size(a))
            .cmp(&(candidates[a].1 as u128 * size(b)))
            .then(size(a).cmp(&size(b)))
            .then(a.cmp(&b))
    });
    for i in order {
        chosen[i] = true;
        if !fits(&chosen) {
            chosen[i] = false;
        }
    }
    chosen
}

/// ExecuTorch's `vela_bin_stream` blob of a compiled segment ([`BlobParts`]).
pub fn write_blob(
    payload: &[u8],
    weights: &[u8],
    scratch: u32,
    inputs: &[u8],
    outputs: &[u8],
) -> Vec<u8> {
    let parts = BlobParts {
        cmd_data: payload,
        weight_data: weights,
        scratch_size: scratch,
        inputs,
        outputs,
    };
    let mut blob = vec![0u8; parts.len()];
    // Sized by `parts.len()`; the compiler's blocks are far below 4 GiB.
    let n = parts.write(&mut blob).expect("blob sized for its blocks");
    blob.truncate(n);
    blob
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Act;
    use crate::passes::testutil::B;
    use kiln_rt::ethos_u::config::by_name;

    #[test]
    fn reshapes_inside_a_segment_cost_no_npu_operation() {
        // MEAN -> RESHAPE -> TRANSPOSE: the reshape aliases the mean's output.
        let mut b = B::new();
        let x = b.q8("x", &[1, 4, 4, 8], 0.05, 3);
        let m = b.q8("m", &[1, 1, 1, 8], 0.05, 3);
        let r = b.q8("r", &[2, 4], 0.05, 3);
        let y = b.q8("y", &[4, 2], 0.05, 3);
        b.g.inputs.push(x);
        let mean = Op::Mean {
            axes: vec![1, 2],
            keep_dims: true,
        };
        b.node("mean", mean, &[x], &[m]);
        b.node("reshape", Op::Reshape, &[m], &[r]);
        b.node("transpose", Op::Transpose { perm: vec![1, 0] }, &[r], &[y]);
        b.output(y);
        let cfg = by_name("ethos-u55-128").unwrap();
        let seg = compile_segment(&b.g, &[0, 1, 2], cfg).unwrap();
        let sources: Vec<&str> = seg.ops.iter().map(|o| o.source.as_str()).collect();
        assert_eq!(sources, ["mean", "transpose"]);
        assert_eq!(
            (seg.inputs.as_slice(), seg.outputs.as_slice()),
            (&[x][..], &[y][..])
        );
    }

    /// x -> a = relu(x) -> b = relu(a) -> c = a + b -> y = relu(c): a is accessed 3 times,
    /// b and c twice, each 1 KiB; at c's step a, b and c are live together.
    fn chain() -> (B, [TensorId; 5]) {
        let mut b = B::new();
        let s = [1, 8, 8, 16];
        let x = b.q8("x", &s, 0.05, 3);
        let a = b.q8("a", &s, 0.04, -128);
        let bb = b.q8("b", &s, 0.03, -128);
        let c = b.q8("c", &s, 0.06, -100);
        let y = b.q8("y", &s, 0.06, -128);
        b.g.inputs.push(x);
        b.node("relu_a", Op::Relu, &[x], &[a]);
        b.node("relu_b", Op::Relu, &[a], &[bb]);
        b.node("add", Op::Add { act: Act::None }, &[a, bb], &[c]);
        b.node("relu_y", Op::Relu, &[c], &[y]);
        b.output(y);
        (b, [x, a, bb, c, y])
    }

    #[test]
    fn fast_scratch_takes_the_most_accessed_maps_first() {
        let buf = |first, last| Buffer {
            size: 1024,
            first,
            last,
        };
        // a, b, c of `chain` (bytes accessed: 3, 2, 2 KiB).
        let cands = [(buf(0, 2), 3072), (buf(1, 2), 2048), (buf(2, 3), 2048)];
        assert_eq!(choose_fast(&cands, 3072), [true, true, true]);
        assert_eq!(choose_fast(&cands, 2048), [true, true, false]);
        assert_eq!(choose_fast(&cands, 2047), [true, false, false]);
        assert_eq!(choose_fast(&cands, 1023), [false, false, false]);
        assert_eq!(choose_fast(&cands, 0), [false, false, false]);
        // Denser maps first: with c accessed 4 times, c then a.
        let cands = [cands[0], cands[1], (buf(2, 3), 4096)];
        assert_eq!(choose_fast(&cands, 2048), [true, false, true]);
        assert_eq!(choose_fast(&cands, 1024), [false, false, true]);
    }

    /// An elementwise node writes its output over an input no later node reads (a of `chain`
    /// at c = a + b), never over one read later (the model tests run such adds on the NPU
    /// model against TFLite Micro).
    #[test]
    fn elementwise_output_goes_over_a_dead_input() {
        let (b, [_, a, bb, c, _]) = chain();
        let cfg = by_name("ethos-u55-128").unwrap();
        let ops = |g: &Graph| {
            let probe_places: HashMap<TensorId, Place> = (0..g.tensors.len())
                .map(|i| (TensorId(i), Place::scratch(0)))
                .collect();
            let scratch = Scratch::default();
            let cx = Ctx {
                g,
                cfg,
                places: &probe_places,
                probe: true,
                scratch: &scratch,
            };
            lower(&cx, &g.nodes[2], &mut ReadOnly::default()).unwrap()
        };
        let (inputs, outputs) = segment_io(&b.g, &[0, 1, 2, 3]);
        let none = HashMap::new();
        let add = ops(&b.g);
        assert_eq!(
            in_place_operand(&b.g, &[0, 1, 2, 3], 2, &add, &inputs, &outputs, &none),
            Some(a)
        );
        // With y = relu(a) instead of relu(c), a is read after the add: b is the one.
        let mut g2 = b.g.clone();
        g2.nodes[3].inputs[0] = Some(a);
        assert_eq!(
            in_place_operand(&g2, &[0, 1, 2, 3], 2, &ops(&g2), &inputs, &outputs, &none),
            Some(bb)
        );
        // The add's output is the segment's output: no aliasing.
        assert_eq!(
            in_place_operand(&b.g, &[0, 1, 2], 2, &add, &inputs, &[c], &none),
            None
        );
    }

    /// The chain on the U65 with fast-scratch budgets from none to all: the internal maps move
    /// to region 2 as far as the budget holds them (the stream's region-2 end is within the
    /// fast scratch, the graph-side input and output stay in region 1), and the NPU model gives
    /// the same output for every budget.
    #[test]
    fn internal_maps_go_to_the_fast_scratch_within_its_budget() {
        use kiln_rt::ethos_u::blob::VelaBlob;
        use kiln_rt::ethos_u::payload::Payload;
        use kiln_rt::ethos_u::sim::{NpuModel, SimConfig};
        use kiln_rt::ethos_u::{Driver, DriverConfig, EthosUBackend};
        let (b, [x, _, _, _, y]) = chain();
        let cfg = by_name("ethos-u65-256").unwrap();
        assert_eq!(fast_scratch_budget(cfg), 384 * 1024);
        assert_eq!(fast_scratch_budget(by_name("ethos-u55-128").unwrap()), 0);
        let input: Vec<u8> = (0..1024u32).map(|i| (i * 37 % 256) as u8).collect();
        let mut outputs = Vec::new();
        // (budget, fast scratch bytes, scratch bytes): x and y in region 1 always; c = a + b
        // is written over a (a's last reader), so a/c and b are the internal buffers.
        for (budget, fast, scratch) in [
            (384 * 1024, 2048, 1024),
            (2048, 2048, 1024),
            (1024, 1024, 1024),
            (0, 0, 2048),
        ] {
            let seg = compile_segment_with(&b.g, &[0, 1, 2, 3], cfg, budget, None).unwrap();
            assert_eq!(
                (seg.fast_scratch_bytes, seg.scratch_bytes),
                (fast, scratch),
                "budget {budget}"
            );
            assert_eq!(
                (seg.inputs.as_slice(), seg.outputs.as_slice()),
                (&[x][..], &[y][..])
            );
            let blob = VelaBlob::parse(&seg.blob).unwrap();
            assert!(blob
                .inputs
                .iter()
                .chain(blob.outputs.iter())
                .all(|io| io.region == 1));
            let stream = Payload::parse(blob.cmd_data).unwrap().command_stream;
            let mut regions = [None; MAX_REGIONS];
            regions[0] = Some(blob.weight_data.len() as u64);
            regions[1] = Some(blob.scratch_size as u64);
            regions[2] = (fast > 0).then_some(fast as u64);
            let used = check_stream(stream, &regions).unwrap();
            assert_eq!(used.end[2], fast as u64, "budget {budget}: {used:?}");
            let mut scratch_mem = vec![0u8; seg.scratch_bytes];
            let mut fast_mem = vec![0u8; seg.fast_scratch_bytes];
            let npu = NpuModel::new(SimConfig::ethos_u65(256).unwrap());
            let mut be = EthosUBackend::new(
                Driver::new(npu, DriverConfig::default()),
                &mut scratch_mem,
                &mut fast_mem,
            );
            be.write_input(&blob, 0, &input).unwrap();
            be.run(&blob).unwrap();
            let mut out = vec![0u8; 1024];
            be.read_output(&blob, 0, &mut out).unwrap();
            outputs.push(out);
        }
        assert!(outputs.windows(2).all(|w| w[0] == w[1]));
        assert!(outputs[0].iter().any(|&v| v != outputs[0][0]));
    }
}

#[cfg(test)]
mod lut_tests {
    use super::*;
    use crate::lower::assemble::{assemble_for, NpuSpec};
    use crate::npy::NpyArray;
    use crate::passes::testutil::B;
    use kiln_rt::ethos_u::blob::VelaBlob;
    use kiln_rt::ethos_u::cmd::CommandIter;
    use kiln_rt::ethos_u::config::by_name;
    use kiln_rt::ethos_u::payload::Payload;
    use kiln_rt::ethos_u::regs::{Cmd0Op, Opcode};

    /// sigmoid(x), tanh(x), sigmoid(x) again: the second sigmoid finds its table still in its
    /// LUT slot (2 LUT loads, not 3), and the program on the NPU model gives what it gives on
    /// the CPU.
    #[test]
    fn equal_tables_are_loaded_once() {
        let mut b = B::new();
        let x = b.q8("x", &[1, 4, 4, 16], 0.05, 3);
        let s1 = b.q8("s1", &[1, 4, 4, 16], 1.0 / 256.0, -128);
        let t = b.q8("t", &[1, 4, 4, 16], 1.0 / 128.0, 0);
        let s2 = b.q8("s2", &[1, 4, 4, 16], 1.0 / 256.0, -128);
        b.g.inputs.push(x);
        b.node("sig1", Op::Logistic, &[x], &[s1]);
        b.node("tanh", Op::Tanh, &[x], &[t]);
        b.node("sig2", Op::Logistic, &[x], &[s2]);
        for y in [s1, t, s2] {
            b.output(y);
        }
        let cfg = by_name("ethos-u55-128").unwrap();
        let seg = compile_segment(&b.g, &[0, 1, 2], cfg).unwrap();
        let blob = VelaBlob::parse(&seg.blob).unwrap();
        let stream = Payload::parse(blob.cmd_data).unwrap().command_stream;
        let dmas = CommandIter::from_bytes(stream)
            .filter_map(Result::ok)
            .filter(|c| c.opcode == Opcode::Cmd0(Cmd0Op::OP_DMA_START))
            .count();
        assert_eq!(dmas, 2, "LUT loads");
        let npu = assemble_for(
            &b.g,
            Some(&NpuSpec {
                cfg,
                cpu_fallback: false,
                sram_budget: None,
            }),
        )
        .unwrap();
        let cpu = assemble_for(&b.g, None).unwrap();
        let input: Vec<i8> = (0..256).map(|i| (i * 7 % 256) as u8 as i8).collect();
        let x = NpyArray::from_slice(&[1, 4, 4, 16], &input).unwrap();
        let a = crate::run::run_pte(&npu.pte, std::slice::from_ref(&x)).unwrap();
        let c = crate::run::run_pte(&cpu.pte, std::slice::from_ref(&x)).unwrap();
        assert_eq!(a.len(), 3);
        for (a, c) in a.iter().zip(&c) {
            assert_eq!(a.data, c.data);
        }
    }
}
