//! `kiln run --profile`: one row per executed instruction (kernel call or delegate call) and,
//! inside an Ethos-U delegate, one per NPU operation, with the operator, the source-model node,
//! where it ran, the output shape, MACs, the NPU model's cycles (Vela's performance model) or
//! the host time, and totals. The JSON form (`--profile-json`) has the same rows.

use kiln_compiler::npy::NpyArray;
use kiln_compiler::run::{HostModel, RunError};
use kiln_compiler::trace::{instruction_outputs, trace_run, InstrTrace};
use kiln_rt::ethos_u::sim::{OpKind as NpuKind, OpReport};
use kiln_rt::ops::OpKind;
use kiln_rt::pte::{Instruction, Plan, Program, Value};
use kiln_rt::RtError;
use serde_json::{json, Value as Json};

/// What can go wrong profiling.
#[derive(Debug)]
pub enum ProfileError {
    /// Loading or running the program failed.
    Run(RunError),
    /// The program could not be read while describing the rows.
    Read(RtError),
}

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProfileError::Run(e) => write!(f, "{e}"),
            ProfileError::Read(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ProfileError {}

impl From<RunError> for ProfileError {
    fn from(e: RunError) -> Self {
        ProfileError::Run(e)
    }
}

impl From<RtError> for ProfileError {
    fn from(e: RtError) -> Self {
        ProfileError::Read(e)
    }
}

/// The source-model nodes instruction `i` implements (empty when the program records none).
pub fn instruction_sources(plan: &Plan<'_>, i: usize) -> Result<Vec<String>, RtError> {
    let s = plan.instruction_sources(i)?;
    (0..s.len())
        .map(|k| s.name(k).map(str::to_string))
        .collect()
}

/// The per-NPU-operation source nodes of a delegate (compile spec `kiln_op_sources`: one line
/// per operation other than DMA).
pub fn npu_op_sources(plan: &Plan<'_>, delegate: usize) -> Result<Vec<String>, RtError> {
    let d = plan.delegate(delegate)?;
    Ok(
        d.compile_spec_value(kiln_compiler::ethos_u::segment::SOURCES_SPEC)?
            .map(|v| {
                String::from_utf8_lossy(v)
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// A tensor value's sizes (empty for anything else).
fn sizes(plan: &Plan<'_>, v: u32) -> Vec<i64> {
    match plan.value(v as usize) {
        Ok(Value::Tensor(t)) => t.sizes.iter().map(i64::from).collect(),
        _ => Vec::new(),
    }
}

fn numel(s: &[i64]) -> u64 {
    s.iter().map(|&d| d.max(0) as u64).product()
}

/// Multiply-accumulates of a kernel call: output elements times the products each sums
/// (convolutions, fully connected and matrix products; 0 for everything else).
fn kernel_macs(plan: &Plan<'_>, op: OpKind, args: &[i32], out: &[i64]) -> u64 {
    let arg = |k: usize| args.get(k).map_or(Vec::new(), |&v| sizes(plan, v as u32));
    let per_output = match op {
        // Weights [Cout, Cin/groups, kh, kw] / OHWI / [N, K]: one output sums numel / first dim.
        OpKind::AtenConvolution
        | OpKind::CmQuantizedConv2d
        | OpKind::KilnQLinearConv2d
        | OpKind::CmQuantizedLinear
        | OpKind::KilnQLinearLinear => {
            let w = arg(1);
            numel(&w) / w.first().map_or(1, |&d| d.max(1) as u64)
        }
        // Weights [1, kh, kw, C*M]: one output sums kh * kw.
        OpKind::CmQuantizedDepthwiseConv2d | OpKind::KilnQLinearDepthwiseConv2d => {
            let w = arg(1);
            numel(&w) / w.last().map_or(1, |&d| d.max(1) as u64)
        }
        OpKind::AtenAddmm => arg(1).last().map_or(0, |&k| k.max(0) as u64),
        OpKind::AtenMm => arg(0).last().map_or(0, |&k| k.max(0) as u64),
        _ => 0,
    };
    numel(out) * per_output
}

/// Multiply-accumulates of instruction `i` when it is a kernel call (0 otherwise; delegates
/// count their NPU operations' instead).
pub fn instruction_macs(plan: &Plan<'_>, outputs: &[u32], i: usize) -> Result<u64, RtError> {
    let Instruction::KernelCall { op_index, args } = plan.instruction(i)? else {
        return Ok(0);
    };
    let o = plan.operator(usize::try_from(op_index).unwrap_or(usize::MAX))?;
    let args: Vec<i32> = args.iter().collect();
    let shape = outputs.first().map_or(Vec::new(), |&v| sizes(plan, v));
    Ok(OpKind::lookup(o.name, o.overload).map_or(0, |k| kernel_macs(plan, k, &args, &shape)))
}

/// How the NPU model names an operation kind.
pub fn npu_kind_name(k: NpuKind) -> String {
    match k {
        NpuKind::Conv => "conv".to_string(),
        NpuKind::Depthwise => "depthwise".to_string(),
        NpuKind::Pool(m) => format!("pool {}", m.name()),
        NpuKind::Elementwise(m) => format!("elementwise {}", m.name()),
        NpuKind::Dma => "dma".to_string(),
    }
}

/// Multiply-accumulates of an NPU operation (convolutions; 0 for the others).
pub fn npu_op_macs(r: &OpReport) -> u64 {
    match r.kind {
        NpuKind::Conv | NpuKind::Depthwise => r.work,
        _ => 0,
    }
}

/// The profile of one run as JSON: `entries` (one per executed instruction, followed by one per
/// NPU operation it ran) and `totals`.
pub fn profile_json(pte: &[u8], trace: &[InstrTrace]) -> Result<Json, RtError> {
    let program = Program::load(pte)?;
    let plan = program.plan_by_name("forward")?;
    let outputs = instruction_outputs(&program, &plan)?;
    let mut entries = Vec::new();
    let (mut macs, mut cycles, mut cpu_ns, mut npu_ns, mut n_ops) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for t in trace {
        let i = t.index;
        let source = instruction_sources(&plan, i)?;
        let shape: Vec<i64> = outputs
            .get(i)
            .and_then(|o| o.first())
            .map_or(Vec::new(), |&v| sizes(&plan, v));
        match plan.instruction(i)? {
            Instruction::KernelCall { op_index, .. } => {
                let o = plan.operator(usize::try_from(op_index).unwrap_or(usize::MAX))?;
                let m = instruction_macs(&plan, outputs.get(i).map_or(&[], |o| o), i)?;
                macs += m;
                cpu_ns += t.host_ns;
                entries.push(json!({
                    "instruction": i, "npu_op": null, "operator": o.name, "source": source.join(", "),
                    "placement": "CPU", "output_shape": shape, "macs": m,
                    "npu_cycles": null, "host_ns": t.host_ns, "ok": t.ok,
                }));
            }
            Instruction::DelegateCall { delegate_index, .. } => {
                let di = usize::try_from(delegate_index).unwrap_or(usize::MAX);
                let d = plan.delegate(di)?;
                let npu = d.id == kiln_rt::ethos_u::BACKEND_ID;
                let m: u64 = t.npu_ops.iter().map(npu_op_macs).sum();
                let c = t.npu_stats.map(|s| s.cycles);
                macs += m;
                cycles += c.unwrap_or(0);
                npu_ns += t.host_ns;
                let n_nodes = source.len();
                entries.push(json!({
                    "instruction": i, "npu_op": null, "operator": format!("delegate {} #{di}", d.id),
                    "source": match n_nodes {
                        0 => String::new(),
                        1 => source[0].clone(),
                        n => format!("{n} nodes"),
                    },
                    "nodes": source,
                    "placement": if npu { "NPU" } else { "delegate" }, "output_shape": shape, "macs": m,
                    "npu_cycles": c, "host_ns": t.host_ns, "ok": t.ok,
                }));
                let op_sources = npu_op_sources(&plan, di)?;
                let mut k_src = 0;
                for (k, r) in t.npu_ops.iter().enumerate() {
                    // The sources list every operation but DMAs, in stream order.
                    let src = if r.kind == NpuKind::Dma {
                        String::new()
                    } else {
                        k_src += 1;
                        op_sources.get(k_src - 1).cloned().unwrap_or_default()
                    };
                    n_ops += 1;
                    entries.push(json!({
                        "instruction": i, "npu_op": k, "operator": npu_kind_name(r.kind),
                        "source": src, "placement": "NPU",
                        // NHWC, as the NPU lays feature maps out.
                        "output_shape": (r.kind != NpuKind::Dma).then(|| [1, r.ofm[0], r.ofm[1], r.ofm[2]]),
                        "macs": npu_op_macs(r), "npu_cycles": r.cycles, "host_ns": null,
                        "command_offset": r.offset,
                    }));
                }
            }
            _ => {}
        }
    }
    Ok(json!({
        "entries": entries,
        "totals": {
            "instructions": trace.len(),
            "npu_ops": n_ops,
            "macs": macs,
            "npu_cycles": cycles,
            "cpu_host_ns": cpu_ns,
            "npu_sim_host_ns": npu_ns,
        },
    }))
}

/// Runs `pte` once on `inputs` and profiles it: the outputs and the profile (see
/// [`profile_json`]).
pub fn profile(pte: &[u8], inputs: &[NpyArray]) -> Result<(Vec<NpyArray>, Json), ProfileError> {
    let mut model = HostModel::new(pte)?;
    let (outs, trace) = trace_run(&mut model, inputs, false)?;
    Ok((outs, profile_json(pte, &trace)?))
}

fn us(ns: &Json) -> String {
    ns.as_u64()
        .map_or(String::new(), |n| format!("{:.1}", n as f64 / 1000.0))
}

fn num(v: &Json) -> String {
    match v.as_u64() {
        Some(0) | None => String::new(),
        Some(n) => n.to_string(),
    }
}

fn shape(v: &Json) -> String {
    match v.as_array() {
        Some(a) => {
            let d: Vec<String> = a.iter().map(|x| x.to_string()).collect();
            format!("[{}]", d.join(", "))
        }
        None => String::new(),
    }
}

/// The profile as a table for people (the source node last: TFLite names are long).
pub fn render_profile(p: &Json) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>6}  {:<44} {:<5} {:<16} {:>10} {:>10} {:>9}  source node",
        "#", "operator", "where", "output shape", "MACs", "NPU cycles", "host µs"
    );
    for e in p["entries"].as_array().into_iter().flatten() {
        let (idx, op, host) = match e["npu_op"].as_u64() {
            Some(k) => (
                format!("{}.{k}", e["instruction"]),
                format!("  {}", e["operator"].as_str().unwrap_or("?")),
                String::new(),
            ),
            // A delegate's host time is the time simulating the NPU: in the totals, not here.
            None if e["placement"] == "NPU" => (
                e["instruction"].to_string(),
                e["operator"].as_str().unwrap_or("?").to_string(),
                String::new(),
            ),
            None => (
                e["instruction"].to_string(),
                e["operator"].as_str().unwrap_or("?").to_string(),
                us(&e["host_ns"]),
            ),
        };
        let _ = writeln!(
            s,
            "{idx:>6}  {op:<44} {:<5} {:<16} {:>10} {:>10} {host:>9}  {}",
            e["placement"].as_str().unwrap_or(""),
            shape(&e["output_shape"]),
            num(&e["macs"]),
            num(&e["npu_cycles"]),
            e["source"].as_str().unwrap_or(""),
        );
    }
    let t = &p["totals"];
    let _ = writeln!(
        s,
        "total: {} instructions, {} NPU operations, {} MACs; CPU kernels {} µs on this host; \
         NPU {} cycles (cycle model; simulating them took {} µs)",
        t["instructions"],
        t["npu_ops"],
        t["macs"],
        us(&t["cpu_host_ns"]),
        t["npu_cycles"],
        us(&t["npu_sim_host_ns"]),
    );
    s
}
