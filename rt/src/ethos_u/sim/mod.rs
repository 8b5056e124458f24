//! A functional, bit-exact model of the Arm Ethos-U55/U65 NPU (feature `npu-sim`).
//!
//! [`NpuModel`] executes a register command stream like the hardware does: a
//! register file is updated by every `NPU_SET_*` command and every `NPU_OP_*`
//! runs one operation with the registers' current values (Vela suppresses
//! redundant writes, so state carries over between operations). Waits and
//! block dependencies are no-ops: operations run in stream order.
//!
//! Memory is the driver's [`NpuMemory`]: region `n` (base pointer `n`) is
//! `memory.regions[n]`, region 0 is read-only, aliases follow
//! [`Region::Alias`]. Every feature-map, weight, scale, LUT and DMA access is
//! bounds-checked against its region: an access outside is a
//! [`NpuError::OutOfRegion`], never undefined behaviour or a panic. Execution
//! terminates on every input: commands are consumed once, each operation's
//! loops are bounded by its registers and a work budget
//! ([`SimConfig::max_work`]).
//!
//! Before each NPU_OP_CONV/DEPTHWISE/POOL/ELEMENTWISE the model checks, from
//! the registers alone, that the OFM block is within the hardware's limits
//! and that the IFM, IFM2 and accumulator buffers it needs fit the SHRAM
//! layout of IFM_IB_END, IFM2_IB_START and AB_START
//! ([`AccelConfig::check_shram`], rules and numbers in [`config`]); a
//! violation is an [`NpuError::Shram`]. Streams that never write a SHRAM
//! layout register (hand-made unit-test streams) are not checked.
//!
//! Arithmetic (see `exec.rs`): accumulators are 64-bit; conv/depthwise add a
//! 40-bit bias and rescale per channel with the 10-byte scale records;
//! pooling and elementwise use the global OFM_SCALE; the `ROUND_MODE_DBL`
//! rescale is TFLite's `MultiplyByQuantizedMultiplier` (rounding doubling
//! high multiply, then rounding right shift), NATURAL is round-half-up and
//! TRUNCATE is a floor shift. Weights are decoded from the MLW stream
//! ([`mlw`]) in the order the encoder wrote them.
//!
//! Cycle model ([`OpReport`], `perf.rs`): Vela's own performance model
//! (`npu_performance.py`) evaluated on each operation's registers — DPU
//! cycles per OFM block from the micro-block geometry of the configuration
//! and the block config in the stream, the output stage's cycles per
//! element, and memory-access cycles per memory area (bandwidth, latency and
//! burst efficiency of [`SimConfig::memory`], Vela's default system
//! configurations); an operation takes the larger of its NPU and access
//! cycles. Kernel operations run one after the other; DMAs run on their own
//! timeline next to them until an `NPU_OP_DMA_WAIT` ([`RunStats::cycles`]).

// Kept from when the workspace supported Rust 1.80 (`is_multiple_of` is 1.87).
#![allow(clippy::manual_is_multiple_of)]

#[cfg(test)]
mod encoded_weights;
mod exec;
#[cfg(test)]
mod tests;

use kiln_ethos_u::perf;
/// The weight codec (moved to [`kiln_ethos_u::weights`]).
pub use kiln_ethos_u::weights as mlw;

use super::cmd::{CmdError, Command, CommandIter};
use super::config;
use super::driver::{NpuMemory, NpuRegisters, Region, MAX_REGIONS};
use super::regs::{self, BadField, Opcode, Product};
use core::fmt;
pub use perf::{Memory, MemoryArea, SimConfig};

/// What kind of access failed, for [`NpuError`] messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reading an IFM element.
    IfmRead,
    /// Reading an IFM2 element.
    Ifm2Read,
    /// Writing an OFM element.
    OfmWrite,
    /// Reading the compressed weight stream.
    Weights,
    /// Reading the scale/bias records.
    Scales,
    /// Reading the DMA source.
    DmaRead,
    /// Writing the DMA destination.
    DmaWrite,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::IfmRead => "IFM read",
            Access::Ifm2Read => "IFM2 read",
            Access::OfmWrite => "OFM write",
            Access::Weights => "weight stream read",
            Access::Scales => "scale stream read",
            Access::DmaRead => "DMA source read",
            Access::DmaWrite => "DMA destination write",
        })
    }
}

/// Everything that stops the NPU model. `offset` is the byte offset of the
/// command (in the command stream) that was executing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpuError {
    /// The command stream cannot be decoded.
    Command(CmdError),
    /// A register used by an operation holds a reserved encoding.
    Field {
        /// Command offset of the operation.
        offset: u32,
        /// The register.
        register: Opcode,
        /// The field and value.
        bad: BadField,
    },
    /// An access outside its region.
    OutOfRegion {
        /// Command offset of the operation.
        offset: u32,
        /// The access.
        access: Access,
        /// Region index.
        region: u8,
        /// Byte address within the region.
        address: u64,
        /// Bytes accessed.
        len: u64,
        /// Size of the region in bytes.
        region_len: u64,
    },
    /// The region is absent (or an alias to nothing), or read-only for a write.
    BadRegion {
        /// Command offset of the operation.
        offset: u32,
        /// The access.
        access: Access,
        /// Region index.
        region: u8,
        /// What is wrong.
        what: &'static str,
    },
    /// The operation's registers describe something this model does not implement.
    Unsupported {
        /// Command offset of the operation.
        offset: u32,
        /// What.
        what: &'static str,
    },
    /// The operation's registers are inconsistent.
    Invalid {
        /// Command offset of the operation.
        offset: u32,
        /// What is wrong.
        what: &'static str,
        /// The offending value.
        value: i64,
    },
    /// The compressed weight stream is corrupt (the hardware's weight decoder fault).
    WeightStream {
        /// Command offset of the operation.
        offset: u32,
        /// What is wrong.
        what: &'static str,
        /// Bit position in the weight stream.
        bit: u64,
    },
    /// The run exceeded [`SimConfig::max_work`] element operations.
    WorkLimit {
        /// Command offset of the operation.
        offset: u32,
    },
    /// The operation's OFM block is outside the hardware's limits, or the
    /// buffers it needs do not fit the SHRAM layout of `IFM_IB_END`,
    /// `IFM2_IB_START` and `AB_START` ([`AccelConfig::check_shram`]).
    Shram {
        /// Command offset of the operation.
        offset: u32,
        /// What does not fit.
        violation: config::ShramViolation,
    },
}

impl fmt::Display for NpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NpuError::Command(e) => write!(f, "NPU model: {e}"),
            NpuError::Field {
                offset,
                register,
                bad,
            } => write!(
                f,
                "NPU model: command at byte {offset:#x}: {register}: {bad}"
            ),
            NpuError::OutOfRegion {
                offset,
                access,
                region,
                address,
                len,
                region_len,
            } => write!(
                f,
                "NPU model: command at byte {offset:#x}: {access} of {len} bytes at {address:#x} \
                 is outside region {region} ({region_len} bytes)"
            ),
            NpuError::BadRegion {
                offset,
                access,
                region,
                what,
            } => write!(
                f,
                "NPU model: command at byte {offset:#x}: {access}: region {region} {what}"
            ),
            NpuError::Unsupported { offset, what } => write!(
                f,
                "NPU model: command at byte {offset:#x}: unsupported: {what}"
            ),
            NpuError::Invalid {
                offset,
                what,
                value,
            } => write!(
                f,
                "NPU model: command at byte {offset:#x}: {what} (value {value})"
            ),
            NpuError::WeightStream { offset, what, bit } => write!(
                f,
                "NPU model: command at byte {offset:#x}: weight stream: {what} (bit {bit})"
            ),
            NpuError::WorkLimit { offset } => write!(
                f,
                "NPU model: command at byte {offset:#x}: work limit exceeded"
            ),
            NpuError::Shram { offset, violation } => write!(
                f,
                "NPU model: command at byte {offset:#x}: SHRAM layout: {violation}"
            ),
        }
    }
}

impl NpuError {
    /// The STATUS fault bit the hardware would raise for this error.
    pub fn status_bit(&self) -> u32 {
        match self {
            NpuError::OutOfRegion { .. } | NpuError::BadRegion { .. } => regs::status::BUS_STATUS,
            NpuError::WeightStream { .. } => regs::status::WD_FAULT,
            _ => regs::status::CMD_PARSE_ERROR,
        }
    }
}

/// The kind of an executed operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// NPU_OP_CONV.
    Conv,
    /// NPU_OP_DEPTHWISE.
    Depthwise,
    /// NPU_OP_POOL.
    Pool(regs::PoolingMode),
    /// NPU_OP_ELEMENTWISE.
    Elementwise(regs::ElementwiseMode),
    /// NPU_OP_DMA_START.
    Dma,
}

/// What one operation did, for statistics and the cycle model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpReport {
    /// Command offset of the `NPU_OP_*`.
    pub offset: u32,
    /// The operation.
    pub kind: OpKind,
    /// Multiply-accumulates (conv/depthwise) or element operations.
    pub work: u64,
    /// Bytes moved per region (reads + writes).
    pub bytes: [u64; MAX_REGIONS],
    /// Modelled cycles.
    pub cycles: u64,
    /// The OFM's height, width and depth as the registers set them (zeros for a DMA).
    pub ofm: [u32; 3],
}

/// Totals of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Commands executed (including NPU_OP_STOP).
    pub commands: u32,
    /// Operations executed (NPU_OP_CONV .. NPU_OP_DMA_START).
    pub ops: u32,
    /// MACs of conv/depthwise operations.
    pub macs: u64,
    /// Modelled cycles: kernel operations in sequence, DMAs overlapping them until waited for.
    pub cycles: u64,
    /// Bytes of the command stream consumed (QREAD).
    pub qread: u32,
    /// Whether NPU_OP_STOP was reached.
    pub stopped: bool,
}

/// The command-stream register file: the last value written by each command.
#[derive(Clone, Copy)]
pub(crate) struct RegFile {
    /// cmd0 parameters, indexed by opcode - 0x100.
    p0: [u16; 0x90],
    /// cmd1 (param, payload), indexed by opcode.
    p1: [(u16, u32); 0x94],
    /// Whether IFM_IB_END, IFM2_IB_START or AB_START was written since reset
    /// (hand-made streams that never set a SHRAM layout are not checked).
    pub(crate) layout_written: bool,
}

impl RegFile {
    const fn new() -> RegFile {
        RegFile {
            p0: [0; 0x90],
            p1: [(0, 0); 0x94],
            layout_written: false,
        }
    }
    fn set(&mut self, c: &Command) {
        match c.opcode {
            Opcode::Cmd0(op) => {
                use regs::Cmd0Op as C;
                if matches!(
                    op,
                    C::SET_IFM_IB_END | C::SET_IFM2_IB_START | C::SET_AB_START
                ) {
                    self.layout_written = true;
                }
                if let Some(r) = (op.code() as usize)
                    .checked_sub(0x100)
                    .and_then(|i| self.p0.get_mut(i))
                {
                    *r = c.param;
                }
            }
            Opcode::Cmd1(op) => {
                if let Some(r) = self.p1.get_mut(op.code() as usize) {
                    *r = (c.param, c.payload.unwrap_or(0));
                }
            }
        }
    }
    /// A cmd0 register's 16-bit value.
    pub(crate) fn r0(&self, op: regs::Cmd0Op) -> u16 {
        (op.code() as usize)
            .checked_sub(0x100)
            .and_then(|i| self.p0.get(i))
            .copied()
            .unwrap_or(0)
    }
    /// A cmd1 register's (param, payload).
    pub(crate) fn r1(&self, op: regs::Cmd1Op) -> (u16, u32) {
        self.p1.get(op.code() as usize).copied().unwrap_or((0, 0))
    }
    /// A cmd1 address register (param holds the bits above 32).
    pub(crate) fn addr(&self, op: regs::Cmd1Op) -> u64 {
        let (p, v) = self.r1(op);
        ((p as u64) << 32) | v as u64
    }
}

/// The NPU model. Drive it with [`NpuModel::run`] (command stream + memory),
/// or through [`NpuRegisters`] like the hardware.
pub struct NpuModel {
    config: SimConfig,
    regs: RegFile,
    /// The SHRAM LUT area (top 2 KiB of SHRAM; 8 slots of 256 bytes).
    lut: [u8; regs::SHRAM_LUT_BYTES as usize],
    /// Decoded weights of one OFM block (or a channel group of it).
    weights: [i16; exec::WEIGHT_CAPACITY],
    work: u64,
    // APB register state.
    status: u32,
    prot: u32,
    cmd: u32,
    qbase: u64,
    qsize: u32,
    qread: u32,
    qconfig: u32,
    regioncfg: u32,
    axi_limits: [u32; 4],
    basep: [u64; MAX_REGIONS],
    started: bool,
    last_error: Option<NpuError>,
    last_stats: RunStats,
}

impl NpuModel {
    /// A model of the configured NPU, in its reset state.
    pub fn new(config: SimConfig) -> NpuModel {
        NpuModel {
            config,
            regs: RegFile::new(),
            lut: [0; regs::SHRAM_LUT_BYTES as usize],
            weights: [0; exec::WEIGHT_CAPACITY],
            work: 0,
            status: 0,
            prot: 0,
            cmd: 0,
            qbase: 0,
            qsize: 0,
            qread: 0,
            qconfig: 0,
            regioncfg: 0,
            axi_limits: [0; 4],
            basep: [0; MAX_REGIONS],
            started: false,
            last_error: None,
            last_stats: RunStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The error that stopped the last run started through the registers, if any.
    pub fn last_error(&self) -> Option<NpuError> {
        self.last_error
    }

    /// Statistics of the last run.
    pub fn last_stats(&self) -> RunStats {
        self.last_stats
    }

    /// Runs a command stream (little-endian words, without the COP1 header)
    /// against `memory` until NPU_OP_STOP or the end of the stream.
    pub fn run(
        &mut self,
        stream: &[u8],
        memory: &mut NpuMemory<'_, '_>,
    ) -> Result<RunStats, NpuError> {
        self.run_with(stream, memory, &mut |_| {})
    }

    /// Like [`NpuModel::run`], calling `observe` after every operation.
    pub fn run_with(
        &mut self,
        stream: &[u8],
        memory: &mut NpuMemory<'_, '_>,
        observe: &mut dyn FnMut(&OpReport),
    ) -> Result<RunStats, NpuError> {
        let mut stats = RunStats::default();
        let mut timeline = perf::Timeline::default();
        self.work = 0;
        let mut it = CommandIter::from_bytes(stream);
        let result = loop {
            let Some(c) = it.next() else {
                break Ok(());
            };
            let c = match c {
                Ok(c) => c,
                Err(e) => break Err(NpuError::Command(e)),
            };
            stats.commands += 1;
            stats.qread = c.offset + c.len_bytes();
            match self.step(&c, memory) {
                Ok(Some(mut report)) => {
                    if report.kind != OpKind::Dma {
                        use regs::Cmd0Op as C0;
                        report.ofm = [
                            C0::SET_OFM_HEIGHT_M1,
                            C0::SET_OFM_WIDTH_M1,
                            C0::SET_OFM_DEPTH_M1,
                        ]
                        .map(|r| u32::from(self.regs.r0(r)) + 1);
                    }
                    stats.ops += 1;
                    if matches!(report.kind, OpKind::Conv | OpKind::Depthwise) {
                        stats.macs += report.work;
                    }
                    if report.kind == OpKind::Dma {
                        timeline.dma(report.cycles);
                    } else {
                        timeline.kernel(report.cycles);
                    }
                    stats.cycles = timeline.total();
                    observe(&report);
                }
                Ok(None) => {}
                Err(e) => break Err(e),
            }
            if c.opcode == Opcode::Cmd0(regs::Cmd0Op::OP_DMA_WAIT) {
                timeline.dma_wait(u64::from(c.param & 3));
                stats.cycles = timeline.total();
            }
            if c.opcode == Opcode::Cmd0(regs::Cmd0Op::OP_KERNEL_WAIT) {
                timeline.kernel_wait(u64::from(c.param & 3));
                stats.cycles = timeline.total();
            }
            if c.opcode == Opcode::Cmd0(regs::Cmd0Op::OP_STOP) {
                stats.stopped = true;
                break Ok(());
            }
        };
        self.last_stats = stats;
        result.map(|()| stats)
    }

    /// Executes one command: a register write, or an operation.
    fn step(
        &mut self,
        c: &Command,
        memory: &mut NpuMemory<'_, '_>,
    ) -> Result<Option<OpReport>, NpuError> {
        use regs::Cmd0Op as C;
        match c.opcode {
            Opcode::Cmd0(C::OP_CONV) => exec::conv(self, c.offset, memory, false).map(Some),
            Opcode::Cmd0(C::OP_DEPTHWISE) => exec::conv(self, c.offset, memory, true).map(Some),
            Opcode::Cmd0(C::OP_POOL) => exec::pool(self, c.offset, c.param, memory).map(Some),
            Opcode::Cmd0(C::OP_ELEMENTWISE) => {
                exec::elementwise(self, c.offset, c.param, memory).map(Some)
            }
            Opcode::Cmd0(C::OP_DMA_START) => exec::dma(self, c.offset, memory).map(Some),
            Opcode::Cmd0(
                C::OP_STOP | C::OP_IRQ | C::OP_DMA_WAIT | C::OP_KERNEL_WAIT | C::OP_PMU_MASK,
            ) => Ok(None),
            _ => {
                self.regs.set(c);
                Ok(None)
            }
        }
    }

    /// Counts `n` element operations against the work budget.
    pub(crate) fn spend(&mut self, offset: u32, n: u64) -> Result<(), NpuError> {
        self.work = self.work.saturating_add(n);
        if self.work > self.config.max_work {
            Err(NpuError::WorkLimit { offset })
        } else {
            Ok(())
        }
    }
}

impl NpuRegisters for NpuModel {
    fn read(&mut self, offset: u32) -> u32 {
        use regs::offset as o;
        match offset {
            o::ID => self.config.id,
            o::STATUS => self.status,
            o::CMD => self.cmd,
            o::QBASE => self.qbase as u32,
            o::QBASE_HI => (self.qbase >> 32) as u32,
            o::QREAD => self.qread,
            o::QCONFIG => self.qconfig,
            o::QSIZE => self.qsize,
            o::PROT => self.prot,
            o::CONFIG => self.config.config_word(),
            o::REGIONCFG => self.regioncfg,
            x if (o::AXI_LIMIT0..o::AXI_LIMIT0 + 16).contains(&x) => {
                self.axi_limits[((x - o::AXI_LIMIT0) / 4) as usize % 4]
            }
            x if (o::BASEP0..o::BASEP0 + 8 * MAX_REGIONS as u32).contains(&x) => {
                let i = ((x - o::BASEP0) / 8) as usize % MAX_REGIONS;
                if (x - o::BASEP0) % 8 == 0 {
                    self.basep[i] as u32
                } else {
                    (self.basep[i] >> 32) as u32
                }
            }
            _ => 0,
        }
    }

    fn write(&mut self, offset: u32, value: u32) {
        use regs::cmd_reg;
        use regs::offset as o;
        match offset {
            o::CMD => {
                self.cmd = value & (cmd_reg::CLOCK_Q_ENABLE | cmd_reg::POWER_Q_ENABLE);
                if value & cmd_reg::CLEAR_IRQ != 0 {
                    self.status &= !regs::status::IRQ_RAISED;
                }
                if value & cmd_reg::TRANSITION_TO_RUNNING_STATE != 0 {
                    self.started = true;
                    self.status = regs::status::STATE_RUNNING;
                    self.qread = 0;
                }
            }
            o::RESET => {
                // Reset completes at once; the pending levels become active.
                self.prot = value & 3;
                self.status = 0;
                self.started = false;
                self.qread = 0;
                self.regs = RegFile::new();
            }
            o::QBASE => self.qbase = (self.qbase & !0xFFFF_FFFF) | value as u64,
            o::QBASE_HI => self.qbase = (self.qbase & 0xFFFF_FFFF) | ((value as u64) << 32),
            o::QSIZE => self.qsize = value,
            o::QCONFIG => self.qconfig = value,
            o::REGIONCFG => self.regioncfg = value,
            x if (o::AXI_LIMIT0..o::AXI_LIMIT0 + 16).contains(&x) => {
                self.axi_limits[((x - o::AXI_LIMIT0) / 4) as usize % 4] = value;
            }
            x if (o::BASEP0..o::BASEP0 + 8 * MAX_REGIONS as u32).contains(&x) => {
                let i = ((x - o::BASEP0) / 8) as usize % MAX_REGIONS;
                if (x - o::BASEP0) % 8 == 0 {
                    self.basep[i] = (self.basep[i] & !0xFFFF_FFFF) | value as u64;
                } else {
                    self.basep[i] = (self.basep[i] & 0xFFFF_FFFF) | ((value as u64) << 32);
                }
            }
            _ => {}
        }
    }

    /// Host addresses are kept as they are; the model reaches memory through
    /// the regions it is given in [`NpuRegisters::wait`], not through them.
    fn bus_address(&self, addr: usize) -> u64 {
        // Keep what fits the product's address width (32 bits on U55, 40 on U65).
        match self.config.product {
            Product::EthosU55 => addr as u64 & 0xFFFF_FFFF,
            Product::EthosU65 => addr as u64 & 0xFF_FFFF_FFFF,
        }
    }

    fn wait(&mut self, memory: &mut NpuMemory<'_, '_>) {
        self.wait_observed(memory, &mut |_| {});
    }
}

impl NpuModel {
    /// [`NpuRegisters::wait`], calling `observe` after every operation; returns whether a
    /// command stream ran (its statistics are then [`NpuModel::last_stats`]).
    fn wait_observed(
        &mut self,
        memory: &mut NpuMemory<'_, '_>,
        observe: &mut dyn FnMut(&OpReport),
    ) -> bool {
        if !self.started {
            core::hint::spin_loop();
            return false;
        }
        self.started = false;
        let n = (self.qsize as usize).min(memory.command_stream.len());
        let stream = memory.command_stream;
        let stream = stream.get(..n).unwrap_or(stream);
        match self.run_with(stream, memory, observe) {
            Ok(stats) => {
                self.qread = stats.qread;
                self.last_error = None;
                self.status = regs::status::IRQ_RAISED
                    | if stats.stopped || stats.qread == self.qsize {
                        regs::status::CMD_END_REACHED
                    } else {
                        0
                    };
            }
            Err(e) => {
                self.qread = self.last_stats.qread;
                self.last_error = Some(e);
                self.status = regs::status::IRQ_RAISED | e.status_bit();
            }
        }
        true
    }
}

/// Receives what the NPU model does while a driver runs it (host profiling): every
/// operation's report, then the run's totals.
pub trait NpuObserver {
    /// Called after every operation of a command stream.
    fn op(&mut self, report: &OpReport);
    /// Called when a command stream ends (also after a fault), with its totals.
    fn finished(&mut self, stats: &RunStats) {
        let _ = stats;
    }
}

impl<O: NpuObserver + ?Sized> NpuObserver for &mut O {
    fn op(&mut self, report: &OpReport) {
        (**self).op(report)
    }
    fn finished(&mut self, stats: &RunStats) {
        (**self).finished(stats)
    }
}

/// An [`NpuModel`] that reports every operation to an [`NpuObserver`]; a register backend for
/// the [`Driver`](super::driver::Driver) like the bare model (which pays nothing for this).
pub struct ObservedNpu<O> {
    /// The model.
    pub model: NpuModel,
    /// Who is told.
    pub observer: O,
}

impl<O: NpuObserver> NpuRegisters for ObservedNpu<O> {
    fn read(&mut self, offset: u32) -> u32 {
        self.model.read(offset)
    }
    fn write(&mut self, offset: u32, value: u32) {
        self.model.write(offset, value)
    }
    fn bus_address(&self, addr: usize) -> u64 {
        self.model.bus_address(addr)
    }
    fn wait(&mut self, memory: &mut NpuMemory<'_, '_>) {
        let observer = &mut self.observer;
        let ran = self.model.wait_observed(memory, &mut |r| observer.op(r));
        if ran {
            self.observer.finished(&self.model.last_stats());
        }
    }
}

/// Convenience: `Region` slots for [`NpuMemory`] with region 0 read-only
/// weights, region 1 the scratch and region 2 an alias of it (Shared_Sram).
pub fn shared_sram_regions<'r>(
    read_only: &'r [u8],
    scratch: &'r mut [u8],
) -> [Region<'r>; MAX_REGIONS] {
    let mut r: [Region<'r>; MAX_REGIONS] = Default::default();
    r[0] = Region::ReadOnly(read_only);
    r[1] = Region::ReadWrite(scratch);
    r[2] = Region::Alias(1);
    r
}
