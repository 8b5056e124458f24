//! `EthosUBackend`: the ExecuTorch delegate that runs a `vela_bin_stream` on
//! an Ethos-U through [`Driver`].
//!
//! Memory: the backend is built with the scratch it may use (no heap): a
//! 16-byte aligned `&mut [u8]` of at least the blob's `scratch_size` (region
//! 1; [`EthosUBackend::scratch_size`] reads it from a program so a build can
//! size a static buffer, or carve it from the same arena as the plan), and an
//! optional fast scratch (region 2, U65 Dedicated_Sram; when empty, region 2
//! aliases region 1 as in Shared_Sram mode). Weights (region 0) are used in
//! place in the program.
//!
//! One `DelegateCall` (arguments: inputs, then outputs — ExecuTorch's order):
//! check each input's element size and count against the blob's `inputs`,
//! copy its bytes to scratch + offset, run the command stream with base
//! pointers [weights, scratch, fast scratch], copy each output from scratch.

use super::blob::{VelaBlob, VelaIo, FAST_SCRATCH_REGION};
use super::driver::{Driver, NpuRegisters, Region, MAX_REGIONS};
use super::error::{EthosUError, IoKind};
use super::payload::Payload;
use crate::error::RtError;
use crate::exec::{Backend, DelegateArgs};
use crate::pte::{Instruction, Program};

/// The delegate id ExecuTorch's Arm backend writes.
pub const BACKEND_ID: &str = "EthosUBackend";
/// Compile-spec key (kiln's; ExecuTorch ignores unknown keys) with the fast
/// scratch (region 2) size in bytes, u32 LE, for streams compiled with a
/// separate fast scratch (U65 `Dedicated_Sram`).
pub const FAST_SCRATCH_SPEC: &str = "fast_scratch_size";

/// The Ethos-U delegate over register backend `R` (see the module docs).
pub struct EthosUBackend<'s, R> {
    driver: Driver<R>,
    scratch: &'s mut [u8],
    fast_scratch: &'s mut [u8],
}

impl<'s, R: NpuRegisters> EthosUBackend<'s, R> {
    /// A backend driving `driver`, with `scratch` (region 1) and `fast_scratch`
    /// (region 2; empty = alias of region 1).
    pub fn new(driver: Driver<R>, scratch: &'s mut [u8], fast_scratch: &'s mut [u8]) -> Self {
        EthosUBackend {
            driver,
            scratch,
            fast_scratch,
        }
    }

    /// The driver (e.g. to reach the NPU model's statistics).
    pub fn driver(&mut self) -> &mut Driver<R> {
        &mut self.driver
    }

    /// Copies `data` into the scratch slot of input `i` of `blob`.
    pub fn write_input(
        &mut self,
        blob: &VelaBlob<'_>,
        i: usize,
        data: &[u8],
    ) -> Result<(), EthosUError> {
        let io = blob.inputs.get(i).ok_or(EthosUError::Io {
            kind: IoKind::Input,
            index: i as u32,
            what: "the blob has no such input",
        })?;
        let dst = io_slot(self.scratch, self.fast_scratch, blob, IoKind::Input, i, &io)?;
        if dst.len() != data.len() {
            return Err(size_mismatch(IoKind::Input, i));
        }
        dst.copy_from_slice(data);
        Ok(())
    }

    /// Copies output `j` of `blob` from scratch into `out`.
    pub fn read_output(
        &mut self,
        blob: &VelaBlob<'_>,
        j: usize,
        out: &mut [u8],
    ) -> Result<(), EthosUError> {
        let io = blob.outputs.get(j).ok_or(EthosUError::Io {
            kind: IoKind::Output,
            index: j as u32,
            what: "the blob has no such output",
        })?;
        let src = io_slot(
            self.scratch,
            self.fast_scratch,
            blob,
            IoKind::Output,
            j,
            &io,
        )?;
        if src.len() != out.len() {
            return Err(size_mismatch(IoKind::Output, j));
        }
        out.copy_from_slice(src);
        Ok(())
    }

    /// Runs `blob`'s command stream with base pointers [weights, scratch, fast scratch].
    pub fn run(&mut self, blob: &VelaBlob<'_>) -> Result<(), EthosUError> {
        let payload = Payload::parse(blob.cmd_data)?;
        let need = blob.scratch_size as usize;
        let provided = self.scratch.len();
        let scratch = self
            .scratch
            .get_mut(..need)
            .ok_or(EthosUError::ScratchTooSmall {
                region: 1,
                needed: need,
                provided,
            })?;
        let mut regions: [Region<'_>; MAX_REGIONS] = Default::default();
        regions[0] = Region::ReadOnly(blob.weight_data);
        regions[1] = Region::ReadWrite(scratch);
        regions[2] = if self.fast_scratch.is_empty() {
            Region::Alias(1)
        } else {
            Region::ReadWrite(&mut *self.fast_scratch)
        };
        self.driver.invoke(&payload, &mut regions)
    }

    /// The largest `scratch_size` of the `EthosUBackend` delegates called by
    /// plan `plan` of `program`: the bytes of scratch a backend needs for it.
    pub fn scratch_size(program: &Program<'_>, plan: &str) -> Result<usize, RtError> {
        let plan = program.plan_by_name(plan)?;
        let mut most = 0usize;
        for i in 0..plan.instruction_count()? {
            if let Instruction::DelegateCall { delegate_index, .. } = plan.instruction(i)? {
                let d = plan.delegate(usize::try_from(delegate_index).unwrap_or(usize::MAX))?;
                if d.id == BACKEND_ID {
                    let blob = VelaBlob::parse(program.delegate_data(d.location, d.index)?)?;
                    most = most.max(blob.scratch_size as usize);
                }
            }
        }
        Ok(most)
    }

    /// The largest fast scratch (compile spec [`FAST_SCRATCH_SPEC`]) of the `EthosUBackend`
    /// delegates called by plan `plan` of `program`: the bytes of region 2 a backend needs for
    /// it (0 when no delegate has one).
    pub fn fast_scratch_size(program: &Program<'_>, plan: &str) -> Result<usize, RtError> {
        let plan = program.plan_by_name(plan)?;
        let mut most = 0usize;
        for i in 0..plan.instruction_count()? {
            if let Instruction::DelegateCall { delegate_index, .. } = plan.instruction(i)? {
                let d = plan.delegate(usize::try_from(delegate_index).unwrap_or(usize::MAX))?;
                if d.id == BACKEND_ID {
                    if let Some([a, b, c, e]) = d.compile_spec_value(FAST_SCRATCH_SPEC)? {
                        most = most.max(u32::from_le_bytes([*a, *b, *c, *e]) as usize);
                    }
                }
            }
        }
        Ok(most)
    }
}

fn size_mismatch(kind: IoKind, index: usize) -> EthosUError {
    EthosUError::Io {
        kind,
        index: index as u32,
        what: "byte size differs from the blob's (padded Vela layouts are not supported)",
    }
}

/// The bytes of I/O entry `io` in its region.
fn io_slot<'a>(
    scratch: &'a mut [u8],
    fast: &'a mut [u8],
    blob: &VelaBlob<'_>,
    kind: IoKind,
    index: usize,
    io: &VelaIo,
) -> Result<&'a mut [u8], EthosUError> {
    let bad = |what| EthosUError::Io {
        kind,
        index: index as u32,
        what,
    };
    let range = io.range().ok_or(bad("negative shape or offset"))?;
    let region: &'a mut [u8] = if io.region == FAST_SCRATCH_REGION && !fast.is_empty() {
        fast
    } else {
        let n = (blob.scratch_size as usize).min(scratch.len());
        &mut scratch[..n]
    };
    region
        .get_mut(range)
        .ok_or(bad("lies outside the scratch memory given to the backend"))
}

impl<R: NpuRegisters> Backend for EthosUBackend<'_, R> {
    fn id(&self) -> &str {
        BACKEND_ID
    }

    fn execute(&mut self, blob: &[u8], args: &mut DelegateArgs<'_>) -> Result<(), RtError> {
        let blob = VelaBlob::parse(blob)?;
        if let Some([a, b, c, d]) = args.compile_spec(FAST_SCRATCH_SPEC)? {
            let needed = u32::from_le_bytes([*a, *b, *c, *d]) as usize;
            if self.fast_scratch.len() < needed {
                return Err(EthosUError::ScratchTooSmall {
                    region: 2,
                    needed,
                    provided: self.fast_scratch.len(),
                }
                .into());
            }
        }
        let (n_in, n_out) = (blob.inputs.len(), blob.outputs.len());
        if args.args_len() != n_in + n_out {
            return Err(RtError::Backend {
                what: "EthosUBackend: DelegateCall argument count differs from the blob's inputs + outputs",
            });
        }
        for i in 0..n_in {
            let t = args.tensor(i)?;
            check_tensor(
                &blob,
                IoKind::Input,
                i,
                t.scalar_type.element_size(),
                t.numel(),
            )?;
            self.write_input(&blob, i, t.data)?;
        }
        self.run(&blob)?;
        for j in 0..n_out {
            let t = args.tensor_mut(n_in + j)?;
            check_tensor(
                &blob,
                IoKind::Output,
                j,
                t.scalar_type.element_size(),
                t.as_ref().numel(),
            )?;
            self.read_output(&blob, j, t.data)?;
        }
        Ok(())
    }
}

/// ExecuTorch's checks: element size and element count match the blob's entry.
fn check_tensor(
    blob: &VelaBlob<'_>,
    kind: IoKind,
    index: usize,
    elem_size: usize,
    numel: usize,
) -> Result<(), EthosUError> {
    let list = match kind {
        IoKind::Input => blob.inputs,
        IoKind::Output => blob.outputs,
    };
    let bad = |what| EthosUError::Io {
        kind,
        index: index as u32,
        what,
    };
    let io = list.get(index).ok_or(bad("the blob has no such entry"))?;
    if usize::try_from(io.elem_size).ok() != Some(elem_size) {
        return Err(bad("tensor element size differs from the blob's elem_size"));
    }
    if io.elements() != Some(numel) {
        return Err(bad("tensor element count differs from the blob's shape"));
    }
    Ok(())
}
