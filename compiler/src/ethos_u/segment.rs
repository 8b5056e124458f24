//! One NPU segment (a run of consecutive NPU-placed nodes) compiled into an
//! ExecuTorch `EthosUBackend` delegate blob: scratch planned with live ranges
//! (graph-side inputs and outputs of the segment included, since the backend
//! copies them in and out, and the temporaries a lowering asks for with
//! [`Scratch`], live during their node only), every node lowered, the command
//! stream written, and the `vela_bin_stream` blocks assembled.

use super::lower::{lower, Ctx, ReadOnly, Scratch};
use super::npu_op::{NpuKind, NpuOp, REGION_SCRATCH, REGION_WEIGHTS};
use super::stream::StreamBuilder;
use crate::ir::{Graph, Op, TensorId};
use crate::plan::{self, Buffer};
use kiln_ethos_u::check::check_stream;
use kiln_ethos_u::regs::MAX_REGIONS;
use kiln_rt::ethos_u::blob::write_block;
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
    /// Command stream bytes.
    pub stream_bytes: usize,
    /// Weights, scales and LUTs (region 0).
    pub weight_bytes: usize,
    /// The NPU operations.
    pub ops: Vec<OpSummary>,
}

/// Tensors a run of nodes reads from outside and writes for outside (non-constant).
pub fn segment_io(g: &Graph, nodes: &[usize]) -> (Vec<TensorId>, Vec<TensorId>) {
    let inside: std::collections::HashSet<usize> = nodes.iter().copied().collect();
    let produced: std::collections::HashSet<TensorId> = nodes
        .iter()
        .flat_map(|&i| g.nodes[i].outputs.iter().copied())
        .collect();
    let mut inputs = Vec::new();
    for &i in nodes {
        for t in g.nodes[i].inputs.iter().flatten() {
            if !g.tensor(*t).is_const() && !produced.contains(t) && !inputs.contains(t) {
                inputs.push(*t);
            }
        }
    }
    let mut outputs = Vec::new();
    for &i in nodes {
        for &t in &g.nodes[i].outputs {
            let used_outside = g.outputs.contains(&t)
                || g.nodes
                    .iter()
                    .enumerate()
                    .any(|(j, n)| !inside.contains(&j) && n.inputs.contains(&Some(t)));
            if used_outside && !outputs.contains(&t) {
                outputs.push(t);
            }
        }
    }
    (inputs, outputs)
}

/// Compiles the nodes `nodes` (consecutive in execution order) for `cfg`.
pub fn compile_segment(
    g: &Graph,
    nodes: &[usize],
    cfg: &'static AccelConfig,
) -> Result<CompiledSegment, NodeRefusal> {
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
    // Live ranges in segment steps: inputs from 0, outputs to the end.
    let end = nodes.len();
    let mut live: HashMap<TensorId, (usize, usize, usize)> = HashMap::new();
    let touch = |t: TensorId, step: usize, live: &mut HashMap<TensorId, (usize, usize, usize)>| {
        if g.tensor(t).is_const() {
            return;
        }
        let r = find(&root, t);
        let e = live.entry(r).or_insert((step, step, 0));
        e.0 = e.0.min(step);
        e.1 = e.1.max(step);
        e.2 = e.2.max(g.tensor(t).nbytes());
    };
    for &t in &inputs {
        touch(t, 0, &mut live);
    }
    for (k, &i) in nodes.iter().enumerate() {
        for t in g.nodes[i]
            .inputs
            .iter()
            .flatten()
            .chain(&g.nodes[i].outputs)
        {
            touch(*t, k, &mut live);
        }
    }
    for &t in &outputs {
        touch(t, end, &mut live);
    }
    let mut roots: Vec<TensorId> = live.keys().copied().collect();
    roots.sort();
    let mut buffers: Vec<Buffer> = roots
        .iter()
        .map(|r| {
            let (first, last, size) = live[r];
            Buffer { size, first, last }
        })
        .collect();
    // Temporaries of multi-operation lowerings: a probe lowering of every node says what it
    // needs; each lives only at its node's step.
    let probe_addr: HashMap<TensorId, u32> = (0..g.tensors.len())
        .filter(|&i| !g.tensors[i].is_const())
        .map(|i| (TensorId(i), 0))
        .collect();
    let probe_scratch = Scratch::default();
    let probe = Ctx {
        g,
        cfg,
        addr: &probe_addr,
        probe: true,
        scratch: &probe_scratch,
    };
    let mut step_of: HashMap<TensorId, usize> = HashMap::new();
    for (k, &i) in nodes.iter().enumerate() {
        let n = &g.nodes[i];
        if matches!(n.op, Op::Reshape) {
            continue;
        }
        lower(&probe, n, &mut ReadOnly::default())
            .map_err(|reason| NodeRefusal { node: i, reason })?;
        if let Some(&y) = n.outputs.first() {
            step_of.insert(y, k);
        }
    }
    let temps = probe_scratch.requests();
    for ((out, _), size) in &temps {
        let step = step_of[out];
        buffers.push(Buffer {
            size: *size,
            first: step,
            last: step,
        });
    }
    let memory = plan::plan(&buffers, SCRATCH_ALIGN);
    let scratch = Scratch::planned(
        temps
            .iter()
            .zip(&memory.offsets[roots.len()..])
            .map(|((key, _), o)| (*key, o.0 as u32))
            .collect(),
    );
    let root_addr: HashMap<TensorId, u32> = roots
        .iter()
        .zip(&memory.offsets)
        .map(|(r, o)| (*r, o.0 as u32))
        .collect();
    let mut addr: HashMap<TensorId, u32> = HashMap::new();
    for (k, t) in g.tensors.iter().enumerate() {
        let id = TensorId(k);
        if t.is_const() {
            continue;
        }
        if let Some(&a) = root_addr.get(&find(&root, id)) {
            addr.insert(id, a);
        }
    }

    let cx = Ctx {
        g,
        cfg,
        addr: &addr,
        probe: false,
        scratch: &scratch,
    };
    let mut ro = ReadOnly::default();
    let mut ops: Vec<NpuOp> = Vec::new();
    for &i in nodes {
        let n = &g.nodes[i];
        if matches!(n.op, Op::Reshape) {
            continue;
        }
        let lowered = lower(&cx, n, &mut ro).map_err(|reason| NodeRefusal { node: i, reason })?;
        ops.extend(lowered);
    }
    let mut sb = StreamBuilder::default();
    for op in &ops {
        sb.push(op, cfg.shram_kib());
    }
    let stream = sb.finish();
    let stream_bytes = stream.len();
    let scratch_bytes = memory.arena_bytes.max(SCRATCH_ALIGN);
    // The check Linux's driver applies before it submits a job: every register an operation
    // reads was set, every access lies inside region 0 (read-only data) or 1 (scratch).
    let mut regions = [None; MAX_REGIONS];
    regions[REGION_WEIGHTS as usize] = Some(ro.bytes.len() as u64);
    regions[REGION_SCRATCH as usize] = Some(scratch_bytes as u64);
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
            let offset = addr[&t] as i32;
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

/// ExecuTorch's `vela_bin_stream` blob: the COP1 payload, region 0's bytes, the scratch size
/// and the I/O tables (`VelaIOs` layout), each a 16-aligned block.
pub fn write_blob(
    payload: &[u8],
    weights: &[u8],
    scratch: u32,
    inputs: &[u8],
    outputs: &[u8],
) -> Vec<u8> {
    let scratch_word = scratch.to_le_bytes();
    let blocks: [(&str, &[u8]); 7] = [
        ("vela_bin_stream", &[]),
        ("cmd_data", payload),
        ("weight_data", weights),
        ("scratch_size", &scratch_word),
        ("inputs", inputs),
        ("outputs", outputs),
        ("vela_end_stream", &[]),
    ];
    let total: usize = blocks
        .iter()
        .map(|(_, d)| 32 + d.len().div_ceil(16) * 16)
        .sum();
    let mut blob = vec![0u8; total];
    let mut at = 0;
    for (name, data) in blocks {
        // The blob was sized for exactly these blocks.
        at = write_block(&mut blob, at, name, data).expect("blob sized for its blocks");
    }
    blob
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
