//! The program assembler: lowered calls + memory plan -> `.pte` bytes.
//!
//! Every graph tensor that is not constant gets a buffer in the one arena
//! (memory id 1); a reshape's output shares its input's buffer (no
//! instruction, as ExecuTorch emits views). Constants stay in the `.pte`'s
//! constant segment and are read in place.

use super::{lower_node, Arg, Call, ConstTensor, Placement};
use crate::error::{CompileError, Result};
use crate::ethos_u::partition::{self, Placement as NpuPlacement};
use crate::ethos_u::segment::{compile_segment_in, CompiledSegment, SegmentError};
use crate::ir::{DType, Graph, TensorId};
use crate::plan::{self, Buffer};
use crate::pte::DataLocation;
use crate::pte::{EValue, ProgramBuilder, Storage, TensorSpec};
use crate::report::NodeReport;
use kiln_rt::ethos_u::config::AccelConfig;
use kiln_rt::pte::ScalarType;
use std::collections::HashMap;

/// Arena alignment: enough for any element type and for Helium/NEON loads.
pub const ARENA_ALIGN: usize = 16;

/// The assembled program and what the report needs from it.
#[derive(Clone, Debug)]
pub struct Assembled {
    /// `.pte` bytes.
    pub pte: Vec<u8>,
    /// Arena size.
    pub arena_bytes: usize,
    /// Liveness lower bound.
    pub liveness_bound: usize,
    /// Bytes of constant tensor data.
    pub constant_bytes: usize,
    /// Placement per node.
    pub nodes: Vec<NodeReport>,
    /// The Ethos-U delegates kiln compiled, in program order.
    pub delegates: Vec<CompiledSegment>,
}

/// Compile for an Ethos-U: which accelerator, and whether operators the NPU cannot run may stay on the CPU.
#[derive(Clone, Copy)]
pub struct NpuSpec {
    /// The accelerator configuration.
    pub cfg: &'static AccelConfig,
    /// Operators the NPU cannot run go to the CPU (else they are a compile error).
    pub cpu_fallback: bool,
    /// Most SRAM bytes an NPU segment may use (`--sram-budget` / `sram_budget`; `None`: the
    /// system's).
    pub sram_budget: Option<usize>,
}

/// The `.pte` scalar type of an IR dtype.
pub fn scalar_type(d: DType) -> ScalarType {
    match d {
        DType::F32 => ScalarType::Float,
        DType::I8 => ScalarType::Char,
        DType::U8 => ScalarType::Byte,
        DType::I16 => ScalarType::Short,
        DType::I32 => ScalarType::Int,
        DType::I64 => ScalarType::Long,
        DType::Bool => ScalarType::Bool,
    }
}

fn sizes_i32(g: &Graph, shape: &[usize]) -> Result<Vec<i32>> {
    shape
        .iter()
        .map(|&d| {
            i32::try_from(d).map_err(|_| CompileError::Malformed {
                path: g.source.clone(),
                format: "model",
                reason: format!("dimension {d} does not fit the .pte's int32 sizes"),
            })
        })
        .collect()
}

/// Lowers every node of `g` for the CPU, plans memory and writes the `.pte`.
pub fn assemble(g: &Graph) -> Result<Assembled> {
    assemble_for(g, None)
}

/// One instruction group of the program.
enum Step {
    /// Kernel calls of one CPU node.
    Cpu(Vec<Call>),
    /// The delegate call of NPU segment `k`.
    Npu(usize),
}

/// The cost note of an NPU-placed node: how many NPU operations implement it, by kind
/// (e.g. a softmax's `27 NPU ops: 2 pool, 25 elementwise`).
/// `mine`: the kinds of the NPU operations whose source is the node, in stream order.
fn npu_cost(mine: &[&str]) -> String {
    if mine.is_empty() {
        return "no NPU operation".into();
    }
    let mut kinds: Vec<(&str, usize)> = Vec::new();
    for k in mine {
        match kinds.iter_mut().find(|(n, _)| n == k) {
            Some((_, c)) => *c += 1,
            None => kinds.push((k, 1)),
        }
    }
    let by_kind: Vec<String> = kinds.iter().map(|(k, c)| format!("{c} {k}")).collect();
    format!(
        "{} NPU op{}: {}",
        mine.len(),
        if mine.len() == 1 { "" } else { "s" },
        by_kind.join(", ")
    )
}

/// Partitions `g` for the NPU (when `npu` is given), compiles the NPU segments, lowers the
/// rest for the CPU, plans memory and writes the `.pte`.
pub fn assemble_for(g: &Graph, npu: Option<&NpuSpec>) -> Result<Assembled> {
    assemble_with(g, npu, true)
}

/// [`assemble_for`], recording each instruction's source nodes in the `.pte` when
/// `debug_info` (the chain's `stacktrace`).
pub fn assemble_with(g: &Graph, npu: Option<&NpuSpec>, debug_info: bool) -> Result<Assembled> {
    let folded;
    let g = match npu {
        Some(_) => {
            folded = partition::fold_pads(g);
            &folded
        }
        None => g,
    };
    // 0. Placement and NPU segments.
    let (placement, segments) = match npu {
        Some(spec) => {
            let mut p = partition::place(g, spec.cfg);
            let segs = partition::segments(g, &mut p);
            (Some(p), segs)
        }
        None => (None, Vec::new()),
    };
    if let (Some(spec), Some(p)) = (npu, &placement) {
        if !spec.cpu_fallback {
            let refused: Vec<(String, String, String)> = g
                .nodes
                .iter()
                .zip(p)
                .filter(|(n, _)| !matches!(n.op, crate::ir::Op::Reshape))
                .filter_map(|(n, pl)| match pl {
                    NpuPlacement::Cpu(r) => Some((n.name.clone(), n.source_op.clone(), r.clone())),
                    NpuPlacement::Npu => None,
                })
                .collect();
            if !refused.is_empty() {
                return Err(CompileError::NpuFallback {
                    path: g.source.clone(),
                    target: spec.cfg.name().to_string(),
                    nodes: refused,
                });
            }
        }
    }
    let mut delegates = Vec::new();
    let mut segment_of: HashMap<usize, usize> = HashMap::new();
    for (k, seg) in segments.iter().enumerate() {
        let spec = npu.expect("segments exist only for NPU targets");
        let c = compile_segment_in(g, seg, spec.cfg, spec.sram_budget).map_err(|e| match e {
            SegmentError::Node(r) => {
                let n = &g.nodes[r.node];
                CompileError::Unsupported {
                    path: g.source.clone(),
                    node: n.name.clone(),
                    op_type: n.source_op.clone(),
                    reason: format!("NPU segment: {}", r.reason),
                }
            }
            SegmentError::SramBudget { needed, budget } => CompileError::SramBudget {
                path: g.source.clone(),
                target: spec.cfg.name().to_string(),
                needed,
                budget,
            },
        })?;
        for &i in seg {
            segment_of.insert(i, k);
        }
        delegates.push(c);
    }

    // 1. Lower, and find the buffer (alias root) of every tensor.
    let mut root: Vec<TensorId> = (0..g.tensors.len()).map(TensorId).collect();
    let mut steps: Vec<(usize, Step)> = Vec::new();
    let mut nodes = Vec::new();
    // Each delegate's operation kinds by source node, in stream order, gathered once (not a
    // scan of the delegate's operations per node).
    let ops_by_source: Vec<HashMap<&str, Vec<&str>>> = delegates
        .iter()
        .map(|d| {
            let mut m: HashMap<&str, Vec<&str>> = HashMap::new();
            for o in &d.ops {
                m.entry(o.source.as_str())
                    .or_default()
                    .push(o.kind.as_str());
            }
            m
        })
        .collect();
    for (i, node) in g.nodes.iter().enumerate() {
        if let Some(&k) = segment_of.get(&i) {
            nodes.push(NodeReport {
                node: node.name.clone(),
                source_op: node.source_op.clone(),
                kernels: vec![format!(
                    "ethos-u delegate {k}, {}",
                    npu_cost(
                        ops_by_source[k]
                            .get(node.name.as_str())
                            .map_or(&[][..], |v| v.as_slice())
                    )
                )],
                placement: "npu".into(),
            });
            if segments[k][0] == i {
                steps.push((i, Step::Npu(k)));
            }
            continue;
        }
        let cpu_reason = match placement.as_ref().map(|p| &p[i]) {
            Some(NpuPlacement::Cpu(r)) => Some(r.clone()),
            _ => None,
        };
        let placement = lower_node(g, node)?;
        let kernels = match &placement {
            Placement::Alias => {
                let src = node.input(0).expect("lower_node checked the input");
                if g.tensor(src).is_const() {
                    return Err(CompileError::Invalid {
                        path: g.source.clone(),
                        node: node.name.clone(),
                        op_type: node.source_op.clone(),
                        reason: "reshape of a constant should have been folded".into(),
                    });
                }
                root[node.outputs[0].0] = root[src.0];
                vec![]
            }
            Placement::Cpu(calls) => calls.iter().map(|c| c.op.to_string()).collect(),
        };
        nodes.push(NodeReport {
            node: node.name.clone(),
            source_op: node.source_op.clone(),
            placement: match (kernels.is_empty(), cpu_reason) {
                (true, _) => "alias".into(),
                (false, Some(r)) => format!("cpu: {r}"),
                (false, None) => "cpu".into(),
            },
            kernels,
        });
        if let Placement::Cpu(calls) = placement {
            steps.push((i, Step::Cpu(calls)));
        }
    }

    // 2. Lifetimes per buffer, in node steps: graph inputs live from step 0, outputs to the end.
    let last_step = g.nodes.len();
    let mut live: HashMap<TensorId, (usize, usize)> = HashMap::new();
    let touch = |t: TensorId, step: usize, live: &mut HashMap<TensorId, (usize, usize)>| {
        if g.tensor(t).is_const() {
            return;
        }
        let e = live.entry(root[t.0]).or_insert((step, step));
        e.0 = e.0.min(step);
        e.1 = e.1.max(step);
    };
    for &t in &g.inputs {
        touch(t, 0, &mut live);
    }
    for (i, node) in g.nodes.iter().enumerate() {
        if segment_of.contains_key(&i) {
            continue;
        }
        for t in node.inputs.iter().flatten().chain(&node.outputs) {
            touch(*t, i, &mut live);
        }
    }
    // A delegate's inputs and outputs are live across its whole segment.
    for (seg, d) in segments.iter().zip(&delegates) {
        for &t in d.inputs.iter().chain(&d.outputs) {
            touch(t, seg[0], &mut live);
            touch(t, seg[seg.len() - 1], &mut live);
        }
    }
    for &t in &g.outputs {
        touch(t, last_step, &mut live);
    }
    let mut roots: Vec<TensorId> = live.keys().copied().collect();
    roots.sort();
    // An aliased buffer must hold the largest view of it (they are equal for reshapes); one
    // pass over the tensors, not one per buffer.
    let mut root_bytes = vec![0usize; g.tensors.len()];
    for (t, r) in root.iter().enumerate() {
        root_bytes[r.0] = root_bytes[r.0].max(g.tensors[t].nbytes());
    }
    let buffers: Vec<Buffer> = roots
        .iter()
        .map(|r| {
            let (first, last) = live[r];
            Buffer {
                size: root_bytes[r.0],
                first,
                last,
            }
        })
        .collect();
    let memory = plan::plan(&buffers, ARENA_ALIGN);
    let offset_of: HashMap<TensorId, usize> = roots
        .iter()
        .zip(&memory.offsets)
        .map(|(r, o)| (*r, o.0))
        .collect();

    // 3. Emit values and instructions.
    let mut b = ProgramBuilder::new("forward");
    let mut tensor_values: HashMap<TensorId, usize> = HashMap::new();
    let mut constant_bytes = 0usize;
    let mut tensor_value = |b: &mut ProgramBuilder,
                            t: TensorId,
                            view: Option<(&[usize], &[u8])>,
                            constant_bytes: &mut usize|
     -> Result<usize> {
        if view.is_none() {
            if let Some(&v) = tensor_values.get(&t) {
                return Ok(v);
            }
        }
        let ten = g.tensor(t);
        let (sizes, dim_order): (Vec<usize>, Vec<u8>) = match view {
            Some((s, d)) => (s.to_vec(), d.to_vec()),
            None => (ten.shape.clone(), (0..ten.shape.len() as u8).collect()),
        };
        let storage = match &ten.data {
            Some(data) => {
                *constant_bytes += data.len();
                Storage::Constant(data.clone())
            }
            None => Storage::Planned {
                memory_id: 1,
                offset: offset_of[&root[t.0]] as u64,
            },
        };
        let v = b.value(EValue::Tensor(TensorSpec {
            scalar_type: scalar_type(ten.dtype),
            sizes: sizes_i32(g, &sizes)?,
            dim_order,
            storage,
        }));
        if view.is_none() {
            tensor_values.insert(t, v);
        }
        Ok(v)
    };
    // Graph inputs and outputs first, so their values exist even if no call names them.
    let mut inputs = Vec::new();
    for &t in &g.inputs {
        inputs.push(tensor_value(&mut b, t, None, &mut constant_bytes)?);
    }
    let mut outputs = Vec::new();
    for &t in &g.outputs {
        outputs.push(tensor_value(&mut b, t, None, &mut constant_bytes)?);
    }
    for (node, step) in &steps {
        let calls = match step {
            Step::Cpu(calls) => calls,
            Step::Npu(k) => {
                let d = &delegates[*k];
                let mut args = Vec::new();
                for &t in d.inputs.iter().chain(&d.outputs) {
                    args.push(tensor_value(&mut b, t, None, &mut constant_bytes)?);
                }
                let mut specs = vec![
                    ("output_format".to_string(), b"vela".to_vec()),
                    (
                        crate::ethos_u::segment::SOURCES_SPEC.to_string(),
                        d.ops
                            .iter()
                            .map(|o| o.source.as_str())
                            .collect::<Vec<_>>()
                            .join("\n")
                            .into_bytes(),
                    ),
                ];
                if d.fast_scratch_bytes > 0 {
                    // Region 2's size, as for Vela's U65 streams (u32 LE).
                    specs.push((
                        crate::ethos_u::segment::FAST_SCRATCH_SPEC.to_string(),
                        (d.fast_scratch_bytes as u32).to_le_bytes().to_vec(),
                    ));
                }
                let di = b.add_delegate(
                    kiln_rt::ethos_u::BACKEND_ID,
                    d.blob.clone(),
                    specs,
                    DataLocation::Inline,
                );
                b.delegate_call(di, &args);
                // Which node produces each delegate output, for layer-by-layer comparisons.
                let contexts: Vec<String> = segments[*k]
                    .iter()
                    .map(|&i| {
                        d.outputs
                            .iter()
                            .position(|t| g.nodes[i].outputs.contains(t))
                            .map_or(String::new(), |j| format!("output {j}"))
                    })
                    .collect();
                let frames: Vec<(&str, &str)> = segments[*k]
                    .iter()
                    .zip(&contexts)
                    .map(|(&i, c)| (g.nodes[i].name.as_str(), c.as_str()))
                    .collect();
                if debug_info {
                    b.set_source_frames(&frames);
                }
                continue;
            }
        };
        for call in calls {
            let mut args = Vec::with_capacity(call.args.len());
            for a in &call.args {
                let v = match a {
                    Arg::Tensor(t) => tensor_value(&mut b, *t, None, &mut constant_bytes)?,
                    Arg::View {
                        id,
                        sizes,
                        dim_order,
                    } => tensor_value(&mut b, *id, Some((sizes, dim_order)), &mut constant_bytes)?,
                    Arg::Const(ConstTensor { dtype, shape, data }) => {
                        constant_bytes += data.len();
                        b.value(EValue::Tensor(TensorSpec {
                            scalar_type: scalar_type(*dtype),
                            sizes: sizes_i32(g, shape)?,
                            dim_order: (0..shape.len() as u8).collect(),
                            storage: Storage::Constant(data.clone()),
                        }))
                    }
                    Arg::TensorList(ts) => {
                        let mut items = Vec::with_capacity(ts.len());
                        for t in ts {
                            items.push(tensor_value(&mut b, *t, None, &mut constant_bytes)?);
                        }
                        b.value(EValue::TensorList(items))
                    }
                    Arg::Int(x) => b.value(EValue::Int(*x)),
                    Arg::Double(x) => b.value(EValue::Double(*x)),
                    Arg::Bool(x) => b.value(EValue::Bool(*x)),
                    Arg::IntList(xs) => b.value(EValue::IntList(xs.clone())),
                    Arg::Null => b.value(EValue::Null),
                };
                args.push(v);
            }
            let op = b.op(call.op);
            b.kernel_call(op, &args);
            if debug_info {
                b.set_source(&[g.nodes[*node].name.as_str()]);
            }
        }
    }
    b.set_inputs(&inputs);
    b.set_outputs(&outputs);
    b.set_non_const_buffer_sizes(&[memory.arena_bytes as i64]);
    let pte = b.finish().map_err(|source| CompileError::Write {
        path: g.source.clone(),
        source,
    })?;
    Ok(Assembled {
        pte,
        arena_bytes: memory.arena_bytes,
        liveness_bound: memory.liveness_bound,
        constant_bytes,
        nodes,
        delegates,
    })
}
