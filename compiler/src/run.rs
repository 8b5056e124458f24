//! Running a `.pte` on the host with the very runtime code that ships on the
//! device (`kiln-rt`), for `kiln run`, the tests and the benchmarks.

pub use crate::limits::HOST_MEMORY_LIMIT;
use crate::npy::{NpyArray, NpyDType};
use kiln_rt::ethos_u::blob::VelaBlob;
use kiln_rt::ethos_u::payload::{Payload, Product};
use kiln_rt::ethos_u::sim::{NpuModel, NpuObserver, ObservedNpu, SimConfig};
use kiln_rt::ethos_u::{Driver, DriverConfig, EthosUBackend};
use kiln_rt::exec::{Backend, KernelEntry, Method, Observer};
use kiln_rt::pte::{Program, ScalarType, Value};
use kiln_rt::RtError;
use std::fmt;

/// Every kernel kiln-rt has: the host links them all (firmware gets only the ones its model uses).
pub fn all_kernels() -> Vec<KernelEntry> {
    let mut k = Vec::new();
    k.extend_from_slice(kiln_rt::kernels::int8::KERNELS);
    k.extend_from_slice(kiln_rt::kernels::f32::KERNELS);
    k
}

/// What can go wrong running a program on the host.
#[derive(Debug)]
pub enum RunError {
    /// The runtime rejected the program or failed while running it.
    Runtime(RtError),
    /// Wrong number of inputs.
    InputCount {
        /// Inputs the program takes.
        expected: usize,
        /// Inputs given.
        got: usize,
    },
    /// An input's element type does not match the program's.
    InputDType {
        /// Input index.
        index: usize,
        /// What the program takes.
        expected: &'static str,
        /// What the `.npy` holds.
        got: &'static str,
    },
    /// An input's shape does not match the program's.
    InputShape {
        /// Input index.
        index: usize,
        /// What the program takes.
        expected: Vec<usize>,
        /// What the `.npy` holds.
        got: Vec<usize>,
    },
    /// An output of a type `.npy` cannot hold.
    OutputDType {
        /// Output index.
        index: usize,
        /// The type.
        dtype: &'static str,
    },
    /// The program asks for more host memory than [`HOST_MEMORY_LIMIT`].
    TooLarge {
        /// The field, e.g. `vela_bin_stream.scratch_size`.
        field: &'static str,
        /// The index of the entry (memory id, delegate).
        index: usize,
        /// Bytes the field (or, for the total, all fields together) declares.
        declared: u64,
        /// The limit.
        limit: usize,
    },
    /// A declared memory size does not match what the program's own content needs.
    SizeMismatch {
        /// The field, e.g. `ExecutionPlan.non_const_buffer_sizes`.
        field: &'static str,
        /// The index of the entry (memory id, delegate).
        index: usize,
        /// Bytes declared.
        declared: usize,
        /// Bytes the content needs (a tensor's or an I/O entry's end; for an upper bound, the
        /// most the content can use).
        content: usize,
        /// What the content is and which way it fails.
        what: &'static str,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Runtime(e) => write!(f, "{e}"),
            RunError::InputCount { expected, got } => {
                write!(
                    f,
                    "the program takes {expected} input(s) but {got} were given"
                )
            }
            RunError::InputDType {
                index,
                expected,
                got,
            } => {
                write!(
                    f,
                    "input {index}: the program takes {expected} but the .npy holds {got}"
                )
            }
            RunError::InputShape {
                index,
                expected,
                got,
            } => {
                write!(f, "input {index}: the program takes shape {expected:?} but the .npy has shape {got:?}")
            }
            RunError::OutputDType { index, dtype } => {
                write!(
                    f,
                    "output {index}: element type {dtype} cannot be written as .npy"
                )
            }
            RunError::TooLarge {
                field,
                index,
                declared,
                limit,
            } => write!(
                f,
                "{field}[{index}] declares {declared} bytes, more than the {limit} bytes a program \
                 may allocate on the host (kiln_compiler::limits::HOST_MEMORY_LIMIT)"
            ),
            RunError::SizeMismatch {
                field,
                index,
                declared,
                content,
                what,
            } => write!(
                f,
                "{field}[{index}] declares {declared} bytes but {what} ({content} bytes): \
                 the file is corrupt"
            ),
        }
    }
}

impl std::error::Error for RunError {}

impl From<RtError> for RunError {
    fn from(e: RtError) -> Self {
        RunError::Runtime(e)
    }
}

/// A byte buffer whose usable part starts 16-byte aligned (the runtime reads constants in place
/// and needs the arena aligned).
pub struct AlignedBytes {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBytes {
    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> Self {
        let buf = vec![0u8; len + 16];
        let start = buf.as_ptr().align_offset(16);
        AlignedBytes { buf, start, len }
    }
    /// A copy of `bytes`.
    pub fn copy_of(bytes: &[u8]) -> Self {
        let mut a = Self::zeroed(bytes.len());
        a.as_mut_slice().copy_from_slice(bytes);
        a
    }
    /// The aligned bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
    /// The aligned bytes, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

/// The `.npy` element type of a `.pte` scalar type, if `.npy` has one.
pub fn npy_dtype(st: ScalarType) -> Option<NpyDType> {
    Some(match st {
        ScalarType::Char => NpyDType::I8,
        ScalarType::Byte => NpyDType::U8,
        ScalarType::Short => NpyDType::I16,
        ScalarType::Int => NpyDType::I32,
        ScalarType::Long => NpyDType::I64,
        ScalarType::Float => NpyDType::F32,
        ScalarType::Double => NpyDType::F64,
        ScalarType::Bool => NpyDType::Bool,
        _ => return None,
    })
}

/// The Ethos-U configuration a program's `EthosUBackend` delegates were compiled for (from the
/// `COP1` payload of the first one).
fn npu_config(program: &Program<'_>) -> Result<Option<SimConfig>, RtError> {
    let plan = program.plan_by_name("forward")?;
    for i in 0..plan.delegate_count()? {
        let d = plan.delegate(i)?;
        if d.id != kiln_rt::ethos_u::BACKEND_ID {
            continue;
        }
        let blob = VelaBlob::parse(program.delegate_data(d.location, d.index)?)?;
        let payload = Payload::parse(blob.cmd_data)?;
        let Some(cfg) = payload.config else { continue };
        let macs = cfg.config.macs_per_cc();
        return Ok(match cfg.config.product() {
            Some(Product::EthosU55) => SimConfig::ethos_u55(macs),
            Some(Product::EthosU65) => SimConfig::ethos_u65(macs),
            _ => None,
        });
    }
    Ok(None)
}

/// Bytes a memory id may declare beyond what its tensors use before the file is refused: the
/// larger of this and the used size itself (planners round, pad and keep spare room; none asks
/// for more than twice what its tensors reach plus a little).
pub const ARENA_SLACK: usize = 64 << 10;

/// The host memory a program needs, every size checked (see [`check_memory`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostMemory {
    /// Arena bytes (all memory ids of `non_const_buffer_sizes`).
    pub arena: usize,
    /// NPU scratch (region 1): the largest `scratch_size` of the `EthosUBackend` delegates.
    pub scratch: usize,
    /// NPU fast scratch (region 2): the largest [`crate::vela::FAST_SCRATCH_SPEC`].
    pub fast_scratch: usize,
}

/// Checks every memory size plan `forward` of `program` declares, before anything is
/// allocated: each memory id of `non_const_buffer_sizes` against what its tensors reach (at
/// least their end, at most [`ARENA_SLACK`] or twice that beyond it), each Ethos-U delegate's
/// `scratch_size` (its I/O entries must fit, which the blob parser checks), and every size and
/// their total against
/// [`HOST_MEMORY_LIMIT`]. `kiln run`, [`HostModel`] and `kiln inspect` call it.
pub fn check_memory(program: &Program<'_>) -> Result<HostMemory, RunError> {
    const ARENA: &str = "ExecutionPlan.non_const_buffer_sizes";
    const SCRATCH: &str = "vela_bin_stream.scratch_size";
    let limit = HOST_MEMORY_LIMIT;
    let too_large = |field, index, declared: u64| RunError::TooLarge {
        field,
        index,
        declared,
        limit,
    };
    let plan = program.plan_by_name("forward")?;
    // Sizes are checked one by one as i64 before the runtime's layout adds them up, so that
    // i64::MAX is "too large", not an overflow.
    let sizes = plan.non_const_buffer_sizes()?;
    for (id, s) in sizes.iter().enumerate().skip(1) {
        if s > limit as i64 {
            return Err(too_large(ARENA, id, s as u64));
        }
    }
    let usage = Method::arena_use(program, "forward")?;
    for id in 1..usage.count {
        let (declared, used) = (usage.declared[id], usage.used[id]);
        if declared > used + used.max(ARENA_SLACK) {
            return Err(RunError::SizeMismatch {
                field: ARENA,
                index: id,
                declared,
                content: used,
                what: "its tensors reach no further than",
            });
        }
    }
    if usage.total > limit {
        return Err(too_large(ARENA, 0, usage.total as u64));
    }
    let mut scratch = 0usize;
    let mut fast_scratch = 0usize;
    for i in 0..plan.delegate_count()? {
        let d = plan.delegate(i)?;
        if d.id != kiln_rt::ethos_u::BACKEND_ID {
            continue;
        }
        let blob =
            VelaBlob::parse(program.delegate_data(d.location, d.index)?).map_err(RtError::from)?;
        // The blob parser has checked every I/O entry against `scratch_size` (its lower bound).
        let declared = blob.scratch_size as usize;
        if declared > limit {
            return Err(too_large(SCRATCH, i, declared as u64));
        }
        scratch = scratch.max(declared);
        if let Some(v) = d.compile_spec_value(crate::vela::FAST_SCRATCH_SPEC)? {
            let b: [u8; 4] = v.try_into().map_err(|_| {
                RunError::Runtime(RtError::InvalidProgram {
                    field: "BackendDelegate.compile_specs[fast_scratch_size]",
                    what: "not a 4-byte little-endian size",
                    value: v.len() as i64,
                })
            })?;
            let fast = u32::from_le_bytes(b) as usize;
            if fast > limit {
                return Err(too_large(
                    "BackendDelegate.compile_specs[fast_scratch_size]",
                    i,
                    fast as u64,
                ));
            }
            fast_scratch = fast_scratch.max(fast);
        }
    }
    let total = usage.total as u64 + scratch as u64 + fast_scratch as u64;
    if total > limit as u64 {
        return Err(too_large("arena + NPU scratch + fast scratch", 0, total));
    }
    Ok(HostMemory {
        arena: usage.total,
        scratch,
        fast_scratch,
    })
}

/// NPU scratch memory for the host's Ethos-U model.
struct NpuScratch {
    config: SimConfig,
    scratch: AlignedBytes,
    fast_scratch: AlignedBytes,
}

/// A program loaded for repeated runs on the host (benchmarks time [`HostModel::run`] alone).
/// Delegated parts run on kiln's bit-exact model of the Ethos-U NPU, through the same driver
/// that talks to the hardware.
pub struct HostModel {
    pte: AlignedBytes,
    arena: AlignedBytes,
    kernels: Vec<KernelEntry>,
    npu: Option<NpuScratch>,
}

impl HostModel {
    /// Checks the program and sizes its arena.
    pub fn new(pte: &[u8]) -> Result<Self, RunError> {
        let pte = AlignedBytes::copy_of(pte);
        let program = Program::load(pte.as_slice())?;
        // Nothing the file declares is allocated before it is checked.
        let mem = check_memory(&program)?;
        let npu = npu_config(&program)?.map(|config| NpuScratch {
            config,
            scratch: AlignedBytes::zeroed(mem.scratch),
            fast_scratch: AlignedBytes::zeroed(mem.fast_scratch),
        });
        Ok(HostModel {
            pte,
            arena: AlignedBytes::zeroed(mem.arena),
            kernels: all_kernels(),
            npu,
        })
    }

    /// The program's bytes (16-byte aligned).
    pub fn pte_bytes(&self) -> &[u8] {
        self.pte.as_slice()
    }

    /// Arena bytes the program needs.
    pub fn arena_bytes(&self) -> usize {
        self.arena.len
    }

    /// Runs the `forward` plan on `inputs`.
    pub fn run(&mut self, inputs: &[NpyArray]) -> Result<Vec<NpyArray>, RunError> {
        self.run_observed(inputs, &mut (), None)
    }

    /// Runs the `forward` plan on `inputs` with `observer` around every instruction and, when
    /// the program has Ethos-U delegates, `npu` told about every NPU operation.
    pub fn run_observed<O: Observer>(
        &mut self,
        inputs: &[NpyArray],
        observer: &mut O,
        npu: Option<&mut dyn NpuObserver>,
    ) -> Result<Vec<NpyArray>, RunError> {
        let program = Program::load(self.pte.as_slice())?;
        let mut m = Method::load(
            &program,
            "forward",
            &self.kernels,
            self.arena.as_mut_slice(),
        )?;
        if inputs.len() != m.inputs() {
            return Err(RunError::InputCount {
                expected: m.inputs(),
                got: inputs.len(),
            });
        }
        for (i, x) in inputs.iter().enumerate() {
            let t = m.input(i)?;
            let expected = npy_dtype(t.scalar_type);
            if expected != Some(x.dtype) {
                return Err(RunError::InputDType {
                    index: i,
                    expected: t.scalar_type.name(),
                    got: x.dtype.name(),
                });
            }
            let want: Vec<usize> = (0..t.rank())
                .map(|k| t.dim(k as isize).unwrap_or(0))
                .collect();
            if want != x.shape {
                return Err(RunError::InputShape {
                    index: i,
                    expected: want,
                    got: x.shape.clone(),
                });
            }
            m.set_input(i, &x.data)?;
        }
        match (self.npu.as_mut(), npu) {
            (Some(n), None) => {
                let driver = Driver::new(NpuModel::new(n.config), DriverConfig::default());
                let mut backend = EthosUBackend::new(
                    driver,
                    n.scratch.as_mut_slice(),
                    n.fast_scratch.as_mut_slice(),
                );
                let mut backends: [&mut dyn Backend; 1] = [&mut backend];
                m.execute_observed(&mut backends, observer)?;
            }
            (Some(n), Some(npu)) => {
                let model = ObservedNpu {
                    model: NpuModel::new(n.config),
                    observer: npu,
                };
                let driver = Driver::new(model, DriverConfig::default());
                let mut backend = EthosUBackend::new(
                    driver,
                    n.scratch.as_mut_slice(),
                    n.fast_scratch.as_mut_slice(),
                );
                let mut backends: [&mut dyn Backend; 1] = [&mut backend];
                m.execute_observed(&mut backends, observer)?;
            }
            (None, _) => m.execute_observed(&mut [], observer)?,
        }
        let mut outs = Vec::new();
        for i in 0..m.outputs() {
            match m.output_value(i)? {
                Value::Tensor(_) => {
                    let t = m.output_tensor(i)?;
                    let dtype = npy_dtype(t.scalar_type).ok_or(RunError::OutputDType {
                        index: i,
                        dtype: t.scalar_type.name(),
                    })?;
                    let shape = (0..t.rank())
                        .map(|k| t.dim(k as isize).unwrap_or(0))
                        .collect();
                    outs.push(NpyArray {
                        dtype,
                        shape,
                        data: m.output(i)?.to_vec(),
                    });
                }
                other => {
                    return Err(RunError::OutputDType {
                        index: i,
                        dtype: other.tag().name(),
                    })
                }
            }
        }
        Ok(outs)
    }
}

/// Loads and runs `pte` once on `inputs`.
pub fn run_pte(pte: &[u8], inputs: &[NpyArray]) -> Result<Vec<NpyArray>, RunError> {
    HostModel::new(pte)?.run(inputs)
}
