//! Running a `.pte` on the host with the very runtime code that ships on the
//! device (`kiln-rt`), for `kiln run`, the tests and the benchmarks.

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
/// `COP1` payload of the first one), and the fast-scratch size Vela asked for.
fn npu_config(program: &Program<'_>) -> Result<Option<(SimConfig, usize)>, RtError> {
    let plan = program.plan_by_name("forward")?;
    for i in 0..plan.delegate_count()? {
        let d = plan.delegate(i)?;
        if d.id != kiln_rt::ethos_u::BACKEND_ID {
            continue;
        }
        let blob = VelaBlob::parse(program.delegate_data(d.location, d.index)?)?;
        let payload = Payload::parse(blob.cmd_data)?;
        let fast = d
            .compile_spec_value(crate::vela::FAST_SCRATCH_SPEC)?
            .and_then(|v| v.try_into().ok())
            .map_or(0, |b: [u8; 4]| u32::from_le_bytes(b) as usize);
        let Some(cfg) = payload.config else { continue };
        let macs = cfg.config.macs_per_cc();
        let sim = match cfg.config.product() {
            Some(Product::EthosU55) => SimConfig::ethos_u55(macs),
            Some(Product::EthosU65) => SimConfig::ethos_u65(macs),
            _ => None,
        };
        return Ok(sim.map(|s| (s, fast)));
    }
    Ok(None)
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
        let size = Method::arena_size(&program, "forward")?;
        let npu = match npu_config(&program)? {
            Some((config, fast)) => Some(NpuScratch {
                config,
                scratch: AlignedBytes::zeroed(EthosUBackend::<NpuModel>::scratch_size(
                    &program, "forward",
                )?),
                fast_scratch: AlignedBytes::zeroed(fast),
            }),
            None => None,
        };
        Ok(HostModel {
            pte,
            arena: AlignedBytes::zeroed(size),
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
