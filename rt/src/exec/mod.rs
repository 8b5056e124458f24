//! The executor: loads a program's method and runs its instructions in a caller-provided arena.
//!
//! [`Method::load`] checks the whole plan once (operators resolved to kernel
//! functions, every value, tensor and instruction validated, arena size and
//! alignment), so that [`Method::execute`] does no string comparisons for
//! kernels and no allocation.
//!
//! # Memory
//!
//! One arena holds every planned memory id: id 1 starts at offset 0, and each
//! following id starts at the next 16-byte boundary after the previous one
//! (`non_const_buffer_sizes[0]` is reserved and ignored). A planned tensor's
//! bytes are at `base(memory_id) + offset`. Constant tensors are read in place
//! from the `.pte` bytes, which must therefore be 16-byte aligned in memory
//! for typed views (`as_f32` etc.) to succeed.

mod ctx;
mod tensor;
mod trace;

pub use ctx::{DelegateArgs, IntList, KernelCtx, TensorList, MAX_TENSOR_LIST};
pub use tensor::{Dims, Element, TensorMut, TensorRef, MAX_RANK};
pub use trace::{CycleTrace, TraceEntry};

use crate::error::{Name, RtError};
use crate::ops::OpKind;
use crate::pte::fb::Vector;
use crate::pte::{Instruction, Plan, Program, TensorData, Value};
use ctx::{wrong, Frame, Loc};

/// A kernel: runs one `KernelCall` with its arguments in `ctx`.
pub type KernelFn = fn(&mut KernelCtx<'_>) -> Result<(), RtError>;

/// One row of a kernel table: the operator and the function that runs it.
#[derive(Clone, Copy, Debug)]
pub struct KernelEntry {
    /// The operator.
    pub op: OpKind,
    /// Its kernel.
    pub run: KernelFn,
}

/// A delegate backend (e.g. the Ethos-U NPU), called for `DelegateCall`s whose delegate id matches [`Backend::id`].
pub trait Backend {
    /// The delegate id this backend handles, e.g. `EthosUBackend`.
    fn id(&self) -> &str;
    /// Runs the delegate's processed `blob` on `args`.
    fn execute(&mut self, blob: &[u8], args: &mut DelegateArgs<'_>) -> Result<(), RtError>;
}

/// Hooks around every executed instruction, for profiling: on the device `before`/`after`
/// read a cycle counter (DWT CYCCNT, SysTick), on the host a clock. Generic parameter of
/// [`Method::execute_observed`], so a run without an observer (`()`) compiles to the same code
/// as one that never heard of observers; nothing is allocated.
pub trait Observer {
    /// Called before instruction `index` of chain 0 runs.
    fn before(&mut self, index: usize) {
        let _ = index;
    }
    /// Called after instruction `index` returned (`ok`: without error); `values` reads the
    /// tensors as they are now (e.g. to keep an intermediate result before its memory is reused).
    fn after(&mut self, index: usize, ok: bool, values: &Values<'_, '_>) {
        let _ = (index, ok, values);
    }
}

/// Read access to a running method's values, for [`Observer::after`].
pub struct Values<'m, 'p> {
    env: &'m Env<'p>,
    arena: &'m [u8],
}

impl Values<'_, '_> {
    /// Tensor value `v` as it is now (planned, constant or aliasing another value).
    pub fn tensor(&self, v: u32) -> Result<TensorRef<'_>, RtError> {
        tensor_ref(self.env, self.arena, v)
    }
}

/// No observer: the hooks are empty and vanish when inlined.
impl Observer for () {}

/// Maximum operators per plan.
pub const MAX_OPERATORS: usize = 64;
/// Maximum entries of `non_const_buffer_sizes` (memory ids 0..8; id 0 is reserved).
pub const MAX_MEMORY_IDS: usize = 8;
/// Required alignment of the arena and of each memory id's region in it.
pub const ARENA_ALIGN: usize = 16;

/// The program, plan and arena layout: everything a kernel can look up.
pub(crate) struct Env<'p> {
    pub(crate) program: Program<'p>,
    pub(crate) plan: Plan<'p>,
    pub(crate) mem_base: [usize; MAX_MEMORY_IDS],
    pub(crate) mem_size: [usize; MAX_MEMORY_IDS],
    /// Number of entries in `non_const_buffer_sizes`.
    pub(crate) mem_count: usize,
}

/// Arena layout of a plan: (base offsets, sizes, count, total bytes).
fn layout(
    plan: &Plan<'_>,
) -> Result<
    (
        [usize; MAX_MEMORY_IDS],
        [usize; MAX_MEMORY_IDS],
        usize,
        usize,
    ),
    RtError,
> {
    let sizes = plan.non_const_buffer_sizes()?;
    if sizes.len() > MAX_MEMORY_IDS {
        return Err(RtError::TooMany {
            what: "memory ids (non_const_buffer_sizes)",
            count: sizes.len() as u32,
            max: MAX_MEMORY_IDS as u32,
        });
    }
    let mut base = [0usize; MAX_MEMORY_IDS];
    let mut size = [0usize; MAX_MEMORY_IDS];
    let mut end = 0usize;
    let overflow = RtError::InvalidProgram {
        field: "ExecutionPlan.non_const_buffer_sizes",
        what: "total planned memory overflows",
        value: -1,
    };
    for (id, s) in sizes.iter().enumerate().skip(1) {
        let s = usize::try_from(s).map_err(|_| RtError::InvalidProgram {
            field: "ExecutionPlan.non_const_buffer_sizes",
            what: "negative or too large buffer size",
            value: s,
        })?;
        let start = end.checked_add(ARENA_ALIGN - 1).ok_or(overflow)? & !(ARENA_ALIGN - 1);
        base[id] = start;
        size[id] = s;
        end = start.checked_add(s).ok_or(overflow)?;
    }
    Ok((base, size, sizes.len(), end))
}

/// What a plan declares for each memory id next to what its tensors use: a host that sizes
/// memory from a file compares the two before allocating (a declared size far beyond what any
/// tensor needs is a corrupt or hostile file, not a reason to allocate gigabytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArenaUse {
    /// `non_const_buffer_sizes[id]` (0 for id 0 and ids past `count`).
    pub declared: [usize; MAX_MEMORY_IDS],
    /// The largest `offset + bytes` of the plan's tensors planned in memory id `id`.
    pub used: [usize; MAX_MEMORY_IDS],
    /// Entries of `non_const_buffer_sizes`.
    pub count: usize,
    /// Arena bytes the declared sizes add up to ([`Method::arena_size`]).
    pub total: usize,
}

/// A loaded method (execution plan) bound to a kernel table and an arena.
pub struct Method<'p, 'a> {
    env: Env<'p>,
    kernels: [Option<KernelEntry>; MAX_OPERATORS],
    arena: &'a mut [u8],
    inputs: Vector<'p, i32>,
    outputs: Vector<'p, i32>,
    instruction_count: usize,
    failed_at: Option<u32>,
}

impl<'p, 'a> Method<'p, 'a> {
    /// Bytes of arena plan `plan` needs (all memory ids laid out as described in the module docs).
    pub fn arena_size(program: &Program<'p>, plan: &str) -> Result<usize, RtError> {
        Ok(layout(&program.plan_by_name(plan)?)?.3)
    }

    /// The declared and used bytes of every memory id of plan `plan` (see [`ArenaUse`]). Every
    /// planned tensor is located as [`Method::load`] does, so a tensor outside its memory id is
    /// an error here too.
    pub fn arena_use(program: &Program<'p>, plan: &str) -> Result<ArenaUse, RtError> {
        let plan = program.plan_by_name(plan)?;
        let (mem_base, mem_size, mem_count, total) = layout(&plan)?;
        let env = Env {
            program: *program,
            plan,
            mem_base,
            mem_size,
            mem_count,
        };
        let mut used = [0usize; MAX_MEMORY_IDS];
        for i in 0..plan.value_count()? {
            if let Value::Tensor(t) = plan.value(i)? {
                if let TensorData::Planned { memory_id, .. } = t.data {
                    // `locate` checks the id and that offset + bytes lies inside its size.
                    if let Loc::Arena { start, len } = env.locate(i as u32)?.loc {
                        let id = memory_id as usize;
                        used[id] = used[id].max(start - mem_base[id] + len);
                    }
                }
            }
        }
        Ok(ArenaUse {
            declared: mem_size,
            used,
            count: mem_count,
            total,
        })
    }

    /// Loads plan `plan` of `program`: resolves operators in `kernels`, checks
    /// every value and instruction, and checks that `arena` is 16-byte aligned
    /// and large enough.
    pub fn load(
        program: &Program<'p>,
        plan: &str,
        kernels: &[KernelEntry],
        arena: &'a mut [u8],
    ) -> Result<Method<'p, 'a>, RtError> {
        let plan = program.plan_by_name(plan)?;
        let (mem_base, mem_size, mem_count, needed) = layout(&plan)?;
        if needed > 0 && arena.as_ptr().align_offset(ARENA_ALIGN) != 0 {
            return Err(RtError::ArenaMisaligned);
        }
        if arena.len() < needed {
            return Err(RtError::ArenaTooSmall {
                needed,
                provided: arena.len(),
            });
        }
        let n_ops = plan.operator_count()?;
        if n_ops > MAX_OPERATORS {
            return Err(RtError::TooMany {
                what: "operators",
                count: n_ops as u32,
                max: MAX_OPERATORS as u32,
            });
        }
        let mut table = [None; MAX_OPERATORS];
        for (i, slot) in table.iter_mut().enumerate().take(n_ops) {
            let o = plan.operator(i)?;
            let entry =
                OpKind::lookup(o.name, o.overload).and_then(|k| kernels.iter().find(|e| e.op == k));
            *slot = Some(*entry.ok_or(RtError::MissingKernel {
                index: i as u32,
                name: Name::join(&[o.name, o.overload], "."),
            })?);
        }
        let env = Env {
            program: *program,
            plan,
            mem_base,
            mem_size,
            mem_count,
        };
        let n_values = plan.value_count()?;
        let check_index = |field: &'static str, v: i64| -> Result<u32, RtError> {
            match u32::try_from(v) {
                Ok(i) if (i as usize) < n_values => Ok(i),
                _ => Err(RtError::InvalidProgram {
                    field,
                    what: "value index out of range",
                    value: v,
                }),
            }
        };
        // Every value: tensors located, list items pointing at the right types.
        for i in 0..n_values {
            match plan.value(i)? {
                Value::Tensor(t) if t.data != TensorData::Unplanned => {
                    env.locate(i as u32)?;
                }
                Value::IntList(items) => {
                    for it in items.iter() {
                        let j = check_index("IntList.items", it)?;
                        if !matches!(plan.value(j as usize)?, Value::Int(_)) {
                            return Err(wrong(j, "Int", plan.value(j as usize)?.tag()));
                        }
                    }
                }
                Value::TensorList(items) => {
                    for it in items.iter() {
                        let j = check_index("TensorList.items", it as i64)?;
                        if !matches!(plan.value(j as usize)?, Value::Tensor(_)) {
                            return Err(wrong(j, "Tensor", plan.value(j as usize)?.tag()));
                        }
                    }
                }
                Value::OptionalTensorList(items) => {
                    for it in items.iter().filter(|&it| it != -1) {
                        let j = check_index("OptionalTensorList.items", it as i64)?;
                        if !matches!(plan.value(j as usize)?, Value::Tensor(_)) {
                            return Err(wrong(j, "Tensor", plan.value(j as usize)?.tag()));
                        }
                    }
                }
                _ => {}
            }
        }
        let instruction_count = plan.instruction_count()?;
        for i in 0..instruction_count {
            match plan.instruction(i)? {
                Instruction::KernelCall { op_index, args } => {
                    if op_index < 0 || op_index as usize >= n_ops {
                        return Err(RtError::InvalidProgram {
                            field: "KernelCall.op_index",
                            what: "operator index out of range",
                            value: op_index as i64,
                        });
                    }
                    for a in args.iter() {
                        check_index("KernelCall.args", a as i64)?;
                    }
                }
                Instruction::DelegateCall {
                    delegate_index,
                    args,
                } => {
                    let d = usize::try_from(delegate_index)
                        .ok()
                        .filter(|&d| d < plan.delegate_count().unwrap_or(0))
                        .ok_or(RtError::InvalidProgram {
                            field: "DelegateCall.delegate_index",
                            what: "delegate index out of range",
                            value: delegate_index as i64,
                        })?;
                    let d = plan.delegate(d)?;
                    program.delegate_data(d.location, d.index)?;
                    for a in args.iter() {
                        check_index("DelegateCall.args", a as i64)?;
                    }
                }
                Instruction::MoveCall { .. } => {
                    return Err(RtError::Unsupported {
                        what: "MoveCall instruction",
                    })
                }
                Instruction::JumpFalseCall { .. } => {
                    return Err(RtError::Unsupported {
                        what: "JumpFalseCall instruction (control flow)",
                    })
                }
                Instruction::FreeCall { .. } => {
                    return Err(RtError::Unsupported {
                        what: "FreeCall instruction",
                    })
                }
            }
        }
        let inputs = plan.inputs()?;
        for v in inputs.iter() {
            check_index("ExecutionPlan.inputs", v as i64)?;
        }
        let outputs = plan.outputs()?;
        for v in outputs.iter() {
            check_index("ExecutionPlan.outputs", v as i64)?;
        }
        Ok(Method {
            env,
            kernels: table,
            arena,
            inputs,
            outputs,
            instruction_count,
            failed_at: None,
        })
    }

    /// The plan this method runs.
    pub fn plan(&self) -> Plan<'p> {
        self.env.plan
    }

    /// Number of inputs.
    pub fn inputs(&self) -> usize {
        self.inputs.len()
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.outputs.len()
    }

    fn io_value(
        &self,
        what: &'static str,
        list: &Vector<'p, i32>,
        i: usize,
    ) -> Result<u32, RtError> {
        let v = list.get(i).ok_or(RtError::IoIndex {
            what,
            index: i as u32,
            len: list.len() as u32,
        })?;
        // Checked in `load`: non-negative and in range.
        Ok(v as u32)
    }

    fn frame(&mut self) -> Frame<'_> {
        Frame {
            env: &self.env,
            arena: &mut *self.arena,
        }
    }

    /// Input `i` as a tensor (metadata and current bytes).
    pub fn input(&self, i: usize) -> Result<TensorRef<'_>, RtError> {
        let v = self.io_value("input", &self.inputs, i)?;
        tensor_ref(&self.env, self.arena, v)
    }

    /// Input `i`, writable in place (planned inputs only).
    pub fn input_mut(&mut self, i: usize) -> Result<TensorMut<'_>, RtError> {
        let v = self.io_value("input", &self.inputs, i)?;
        match self.env.value(v)? {
            Value::Tensor(t) if t.data == TensorData::Unplanned => {
                return Err(RtError::InputNotPlanned { index: i as u32 })
            }
            _ => {}
        }
        ctx::tensor_mut_in(&self.env, self.arena, v)
    }

    /// Copies `bytes` into planned input `i` (the length must equal the tensor's byte size).
    pub fn set_input(&mut self, i: usize, bytes: &[u8]) -> Result<(), RtError> {
        let t = self.input_mut(i)?;
        if t.data.len() != bytes.len() {
            return Err(RtError::InputSize {
                index: i as u32,
                expected: t.data.len(),
                got: bytes.len(),
            });
        }
        t.data.copy_from_slice(bytes);
        Ok(())
    }

    /// Copies typed `data` into planned input `i` (dtype and element count checked).
    pub fn set_input_as<T: Element>(&mut self, i: usize, data: &[T]) -> Result<(), RtError> {
        let mut t = self.input_mut(i)?;
        let dst = t.as_mut_slice::<T>()?;
        if dst.len() != data.len() {
            return Err(RtError::InputSize {
                index: i as u32,
                expected: dst.len(),
                got: data.len(),
            });
        }
        dst.copy_from_slice(data);
        Ok(())
    }

    /// Output `i` as a tensor (planned, constant or aliasing another value).
    pub fn output_tensor(&self, i: usize) -> Result<TensorRef<'_>, RtError> {
        let v = self.io_value("output", &self.outputs, i)?;
        tensor_ref(&self.env, self.arena, v)
    }

    /// The bytes of tensor output `i`.
    pub fn output(&self, i: usize) -> Result<&[u8], RtError> {
        Ok(self.output_tensor(i)?.data)
    }

    /// Tensor output `i` as `[T]` (dtype checked).
    pub fn output_as<T: Element>(&self, i: usize) -> Result<&[T], RtError> {
        let v = self.io_value("output", &self.outputs, i)?;
        tensor_ref(&self.env, self.arena, v)?.into_slice()
    }

    /// Output `i` as a value (for non-tensor outputs such as the quantization parameters of int8-IO files).
    pub fn output_value(&self, i: usize) -> Result<Value<'p>, RtError> {
        let v = self.io_value("output", &self.outputs, i)?;
        self.env.plan.value(v as usize)
    }

    /// Runs chain 0 (programs without `DelegateCall`s).
    pub fn execute(&mut self) -> Result<(), RtError> {
        self.execute_with(&mut [])
    }

    /// Runs chain 0, dispatching `DelegateCall`s to the backend whose id matches the delegate's.
    pub fn execute_with(&mut self, backends: &mut [&mut dyn Backend]) -> Result<(), RtError> {
        self.execute_observed(backends, &mut ())
    }

    /// Like [`Method::execute_with`], calling `observer` around every instruction.
    pub fn execute_observed<O: Observer + ?Sized>(
        &mut self,
        backends: &mut [&mut dyn Backend],
        observer: &mut O,
    ) -> Result<(), RtError> {
        self.failed_at = None;
        for i in 0..self.instruction_count {
            observer.before(i);
            let r = self.step(i, backends);
            let values = Values {
                env: &self.env,
                arena: &*self.arena,
            };
            observer.after(i, r.is_ok(), &values);
            if let Err(e) = r {
                self.failed_at = Some(i as u32);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Index of the instruction that failed in the last `execute`, if any.
    pub fn failed_instruction(&self) -> Option<u32> {
        self.failed_at
    }

    fn step(&mut self, i: usize, backends: &mut [&mut dyn Backend]) -> Result<(), RtError> {
        match self.env.plan.instruction(i)? {
            Instruction::KernelCall { op_index, args } => {
                // op_index was range-checked at load and every slot below n_ops is Some.
                let entry = usize::try_from(op_index)
                    .ok()
                    .and_then(|k| self.kernels.get(k).copied().flatten())
                    .ok_or(RtError::InvalidProgram {
                        field: "KernelCall.op_index",
                        what: "operator index out of range",
                        value: op_index as i64,
                    })?;
                let mut ctx = KernelCtx {
                    frame: self.frame(),
                    args,
                    op: entry.op,
                };
                (entry.run)(&mut ctx)
            }
            Instruction::DelegateCall {
                delegate_index,
                args,
            } => {
                let d = self.env.plan.delegate(delegate_index as usize)?;
                let blob = self.env.program.delegate_data(d.location, d.index)?;
                let backend =
                    backends
                        .iter_mut()
                        .find(|b| b.id() == d.id)
                        .ok_or(RtError::NoBackend {
                            id: Name::new(d.id),
                        })?;
                let mut a = DelegateArgs {
                    frame: Frame {
                        env: &self.env,
                        arena: &mut *self.arena,
                    },
                    args,
                    delegate: d,
                    index: delegate_index as u32,
                };
                backend.execute(blob, &mut a)
            }
            // Rejected at load.
            _ => Err(RtError::Unsupported {
                what: "instruction other than KernelCall/DelegateCall",
            }),
        }
    }
}

/// A read-only view of tensor value `v`.
fn tensor_ref<'m>(env: &'m Env<'_>, arena: &'m [u8], v: u32) -> Result<TensorRef<'m>, RtError> {
    let l = env.locate(v)?;
    let data = match l.loc {
        Loc::Const(d) => d,
        Loc::Arena { start, len } => arena.get(start..start + len).ok_or(RtError::TensorView {
            value: v,
            what: "outside the arena",
        })?,
    };
    Ok(TensorRef { data, ..l.meta })
}

#[cfg(test)]
mod tests;
