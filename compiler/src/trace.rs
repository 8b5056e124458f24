//! Tracing a host run instruction by instruction (`kiln run --profile`, `kiln compare`): the
//! host time of each instruction, the NPU model's report of every operation inside a delegate,
//! and, on request, a copy of every instruction's outputs before their memory is reused.
//!
//! The runtime's hooks ([`Observer`], [`NpuObserver`]) are fed from here; the runtime itself
//! measures nothing and allocates nothing.

use crate::npy::NpyArray;
use crate::run::{npy_dtype, HostModel, RunError};
use kiln_rt::ethos_u::blob::VelaBlob;
use kiln_rt::ethos_u::sim::{NpuObserver, OpReport, RunStats};
use kiln_rt::exec::{Observer, Values};
use kiln_rt::pte::{Instruction, Plan, Program, Value};
use kiln_rt::RtError;
use std::cell::RefCell;
use std::time::Instant;

/// One tensor an instruction wrote, copied right after it ran.
#[derive(Clone, Debug)]
pub struct Captured {
    /// Its value index in the plan.
    pub value: u32,
    /// Its bytes in memory order; `shape` is the logical sizes permuted by the dim order (the
    /// memory layout), so that two programs with one layout compare element by element.
    pub array: NpyArray,
}

/// What one executed instruction did.
#[derive(Clone, Debug, Default)]
pub struct InstrTrace {
    /// Instruction index in chain 0.
    pub index: usize,
    /// Wall-clock time on the host, in nanoseconds (for a delegate: simulating the NPU).
    pub host_ns: u64,
    /// Whether it returned without error.
    pub ok: bool,
    /// The NPU operations it ran (delegate calls on the NPU model), in order.
    pub npu_ops: Vec<OpReport>,
    /// The NPU model's totals of its command stream(s) (cycles with DMA overlap).
    pub npu_stats: Option<RunStats>,
    /// Its outputs (only when capture was asked for).
    pub outputs: Vec<Captured>,
}

/// The value indices each instruction of `plan` writes: a kernel call's returned value (its
/// last argument, the `out` tensor; the first item of a returned tensor list), a delegate
/// call's trailing arguments (as many as its blob has outputs).
pub fn instruction_outputs(
    program: &Program<'_>,
    plan: &Plan<'_>,
) -> Result<Vec<Vec<u32>>, RtError> {
    let mut all = Vec::new();
    for i in 0..plan.instruction_count()? {
        let outs = match plan.instruction(i)? {
            Instruction::KernelCall { args, .. } => match args.iter().last() {
                Some(v) => match plan.value(v as usize)? {
                    Value::Tensor(_) => vec![v as u32],
                    Value::TensorList(items) => items.iter().take(1).map(|x| x as u32).collect(),
                    _ => Vec::new(),
                },
                None => Vec::new(),
            },
            Instruction::DelegateCall {
                delegate_index,
                args,
            } => {
                let d = plan.delegate(usize::try_from(delegate_index).unwrap_or(usize::MAX))?;
                let n_out = if d.id == kiln_rt::ethos_u::BACKEND_ID {
                    VelaBlob::parse(program.delegate_data(d.location, d.index)?)?
                        .outputs
                        .len()
                } else {
                    0
                };
                let a: Vec<i32> = args.iter().collect();
                a[a.len().saturating_sub(n_out)..]
                    .iter()
                    .map(|&v| v as u32)
                    .collect()
            }
            _ => Vec::new(),
        };
        all.push(outs);
    }
    Ok(all)
}

/// What the NPU model reported since the last instruction ended.
#[derive(Default)]
struct NpuLog {
    ops: Vec<OpReport>,
    stats: Option<RunStats>,
}

struct NpuSide<'l>(&'l RefCell<NpuLog>);

impl NpuObserver for NpuSide<'_> {
    fn op(&mut self, report: &OpReport) {
        self.0.borrow_mut().ops.push(*report);
    }
    fn finished(&mut self, stats: &RunStats) {
        let mut log = self.0.borrow_mut();
        // A delegate may run more than one command stream: add them up.
        let s = log.stats.get_or_insert_with(RunStats::default);
        s.commands += stats.commands;
        s.ops += stats.ops;
        s.macs += stats.macs;
        s.cycles += stats.cycles;
        s.qread = stats.qread;
        s.stopped = stats.stopped;
    }
}

struct ExecSide<'l> {
    npu: &'l RefCell<NpuLog>,
    /// Outputs to capture per instruction (empty: capture nothing).
    capture: Vec<Vec<u32>>,
    started: Option<Instant>,
    trace: Vec<InstrTrace>,
}

impl Observer for ExecSide<'_> {
    fn before(&mut self, _index: usize) {
        self.started = Some(Instant::now());
    }
    fn after(&mut self, index: usize, ok: bool, values: &Values<'_, '_>) {
        let host_ns = self
            .started
            .take()
            .map_or(0, |t| t.elapsed().as_nanos() as u64);
        let log = std::mem::take(&mut *self.npu.borrow_mut());
        let mut outputs = Vec::new();
        for &v in self.capture.get(index).into_iter().flatten() {
            if let Some(array) = values.tensor(v).ok().and_then(|t| memory_order(&t)) {
                outputs.push(Captured { value: v, array });
            }
        }
        self.trace.push(InstrTrace {
            index,
            host_ns,
            ok,
            npu_ops: log.ops,
            npu_stats: log.stats,
            outputs,
        });
    }
}

/// A tensor's bytes as an array in memory order (None for types `.npy` cannot hold).
fn memory_order(t: &kiln_rt::exec::TensorRef<'_>) -> Option<NpyArray> {
    let dtype = npy_dtype(t.scalar_type)?;
    let order: Vec<usize> = t.dim_order.iter().map(|&d| d as usize).collect();
    let sizes: Vec<usize> = t.sizes.iter().copied().collect();
    let shape = if order.len() == sizes.len() {
        order
            .iter()
            .map(|&d| sizes.get(d).copied().unwrap_or(0))
            .collect()
    } else {
        sizes
    };
    Some(NpyArray {
        dtype,
        shape,
        data: t.data.to_vec(),
    })
}

/// Runs `model` once on `inputs`, tracing every instruction; with `capture`, every
/// instruction's outputs are copied too. Returns the program's outputs and the trace, one
/// entry per instruction in execution order; a failing run returns its error.
pub fn trace_run(
    model: &mut HostModel,
    inputs: &[NpyArray],
    capture: bool,
) -> Result<(Vec<NpyArray>, Vec<InstrTrace>), RunError> {
    let capture = if capture {
        let program = Program::load(model.pte_bytes())?;
        instruction_outputs(&program, &program.plan_by_name("forward")?)?
    } else {
        Vec::new()
    };
    let log = RefCell::new(NpuLog::default());
    let mut exec = ExecSide {
        npu: &log,
        capture,
        started: None,
        trace: Vec::new(),
    };
    let mut npu = NpuSide(&log);
    let outs = model.run_observed(inputs, &mut exec, Some(&mut npu))?;
    Ok((outs, exec.trace))
}
