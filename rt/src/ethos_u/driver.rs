//! The Ethos-U driver protocol over a register-access trait.
//!
//! What Arm's `ethos-u-core-driver` does for one inference, rewritten over
//! [`NpuRegisters`] so that the same code drives the real NPU ([`Mmio`]: FVP,
//! silicon) and the NPU model (feature `npu-sim`):
//!
//! 1. read ID (0 or all ones: no NPU there, an error rather than a hang) and
//!    CONFIG, and compare them with the payload's optimizer config (product,
//!    MACs per cycle, SHRAM size, command stream version, custom DMA,
//!    architecture major equal and minor at least the stream's);
//! 2. soft reset with the requested security/privilege level, bounded wait for
//!    STATUS.reset_status, check PROT, then QCONFIG, REGIONCFG and the four
//!    AXI limits;
//! 3. QBASE/QSIZE = the command stream, BASEP0..7 = the region base addresses
//!    (16-byte aligned, within the product's address width);
//! 4. CMD: transition to running; poll STATUS (bounded) until the IRQ is
//!    raised, clear it, decode the fault bits, and check QREAD == QSIZE.
//!
//! Register offsets and bit positions follow the core driver's
//! `ethosu55_interface.h` (used for U55 and U65): BASEP*n* is a 64-bit
//! register at `0x80 + 8n` (low word; the high word is written on U65 only).

// Kept from when the workspace supported Rust 1.80 (`is_multiple_of` is 1.87).
#![allow(clippy::manual_is_multiple_of)]

use super::error::{EthosUError, NpuFault};
use super::payload::{ConfigReg, IdReg, Payload, Product};
use core::sync::atomic::{fence, Ordering};

/// Number of base pointer registers (regions) the driver programs.
pub use super::regs::MAX_REGIONS;
use super::regs::{cmd_reg as cmd, offset as reg, status};

/// Offset of the low word of BASEP`n` (`n` < [`MAX_REGIONS`]).
fn basep(n: usize) -> u32 {
    reg::basep(n as u32).unwrap_or(reg::BASEP0)
}

/// Register access to one Ethos-U. Implemented by [`Mmio`] (real hardware)
/// and by the NPU model, so that [`Driver`] is the same code for both.
///
/// A model must behave like the hardware for the registers in [`reg`]:
/// RESET copies its two pending bits into PROT and completes at once
/// (STATUS.reset_status 0); writing CMD with bit 0 starts the command stream
/// at QBASE/QSIZE, which it may execute in [`NpuRegisters::wait`]; at the end
/// STATUS has `irq_raised` and `cmd_end_reached` (or fault bits) set and
/// QREAD holds the bytes consumed; CMD bit 1 clears `irq_raised`.
pub trait NpuRegisters {
    /// Reads the 32-bit register at byte `offset` from the NPU base.
    fn read(&mut self, offset: u32) -> u32;
    /// Writes the 32-bit register at byte `offset`.
    fn write(&mut self, offset: u32, value: u32);
    /// The bus address the NPU uses for host address `addr` (identity on
    /// hardware; a model may map it, e.g. to fit the U55's 32-bit bus).
    fn bus_address(&self, addr: usize) -> u64 {
        addr as u64
    }
    /// Called between STATUS polls while a command stream runs, with the
    /// memory the job may touch. Hardware: a spin hint (or WFE); the NPU
    /// model executes the command stream here.
    fn wait(&mut self, memory: &mut NpuMemory<'_, '_>) {
        let _ = memory;
        core::hint::spin_loop();
    }
    /// Before the NPU starts: writes the CPU's cached data for `[addr, addr + len)` back to
    /// memory, where the NPU reads it (D-cache clean). No-op without a data cache.
    fn clean_dcache(&mut self, addr: usize, len: usize) {
        let _ = (addr, len);
    }
    /// After the NPU stopped: drops cached copies of `[addr, addr + len)` so the CPU reads
    /// what the NPU wrote (D-cache invalidate; partial lines at the ends are cleaned first).
    fn invalidate_dcache(&mut self, addr: usize, len: usize) {
        let _ = (addr, len);
    }
}

/// The memory of one region (base pointer) of a job.
#[derive(Debug, Default)]
pub enum Region<'a> {
    /// Not used by the command stream (base address 0).
    #[default]
    Absent,
    /// Read-only memory, e.g. region 0: weights, scales, LUTs in flash.
    ReadOnly(&'a [u8]),
    /// Read-write memory, e.g. region 1: the scratch arena.
    ReadWrite(&'a mut [u8]),
    /// The same memory as region `n` (scratch_fast in Shared_Sram mode).
    Alias(u8),
}

/// Everything one job may touch: the command stream and the regions.
pub struct NpuMemory<'m, 'r> {
    /// The register command stream (QBASE/QSIZE).
    pub command_stream: &'m [u8],
    /// Region `n` is at base pointer BASEP`n`.
    pub regions: &'m mut [Region<'r>; MAX_REGIONS],
}

impl NpuMemory<'_, '_> {
    /// Index of the region that holds region `n`'s bytes (following one alias).
    pub fn resolve(&self, n: usize) -> Option<usize> {
        match self.regions.get(n)? {
            Region::Alias(m) => {
                let m = usize::from(*m);
                match self.regions.get(m)? {
                    Region::ReadOnly(_) | Region::ReadWrite(_) => Some(m),
                    _ => None,
                }
            }
            Region::Absent => None,
            _ => Some(n),
        }
    }

    /// Region `n`'s bytes, read-only.
    pub fn region(&self, n: usize) -> Option<&[u8]> {
        match self.regions.get(self.resolve(n)?)? {
            Region::ReadOnly(b) => Some(b),
            Region::ReadWrite(b) => Some(b),
            _ => None,
        }
    }

    /// Region `n`'s bytes, writable (`None` for read-only or absent regions).
    pub fn region_mut(&mut self, n: usize) -> Option<&mut [u8]> {
        let m = self.resolve(n)?;
        match self.regions.get_mut(m)? {
            Region::ReadWrite(b) => Some(b),
            _ => None,
        }
    }

    fn host_address(&self, n: usize) -> Option<(usize, usize)> {
        match self.regions.get(self.resolve(n)?)? {
            Region::ReadOnly(b) => Some((b.as_ptr() as usize, b.len())),
            Region::ReadWrite(b) => Some((b.as_ptr() as usize, b.len())),
            _ => None,
        }
    }
}

/// The driver's fixed settings (the core driver's build-time constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriverConfig {
    /// Run the NPU in the secure state (RESET.pending_CSL = 0).
    pub secure: bool,
    /// Run the NPU privileged (RESET.pending_CPL = 1).
    pub privileged: bool,
    /// QCONFIG: AXI setting for command stream fetches.
    pub qconfig: u32,
    /// REGIONCFG: AXI setting for regions 0..7, 2 bits each.
    pub regioncfg: u32,
    /// AXI_LIMIT0..3.
    pub axi_limits: [u32; 4],
    /// STATUS polls to wait for a soft reset.
    pub reset_polls: u32,
    /// STATUS polls to wait for a command stream to finish.
    pub run_polls: u32,
}

impl Default for DriverConfig {
    /// The core driver's defaults: secure, privileged, QCONFIG 2,
    /// REGIONCFG 0 = 3, 1 = 0, others 1; AXI limits 32 reads / 16 writes.
    fn default() -> Self {
        let regioncfg = 3 | (1 << 4) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 12) | (1 << 14);
        let limit = (31 << 16) | (15 << 24);
        DriverConfig {
            secure: true,
            privileged: true,
            qconfig: 2,
            regioncfg,
            axi_limits: [limit; 4],
            reset_polls: 100_000,
            run_polls: 100_000_000,
        }
    }
}

/// The Ethos-U driver over register backend `R`.
pub struct Driver<R> {
    regs: R,
    config: DriverConfig,
}

impl<R: NpuRegisters> Driver<R> {
    /// A driver for the NPU behind `regs`.
    pub fn new(regs: R, config: DriverConfig) -> Self {
        Driver { regs, config }
    }

    /// The register backend (e.g. the NPU model, for its statistics).
    pub fn registers(&mut self) -> &mut R {
        &mut self.regs
    }

    /// Gives the register backend back.
    pub fn into_registers(self) -> R {
        self.regs
    }

    /// Reads ID and CONFIG; an ID of 0 or all ones means there is no NPU.
    pub fn probe(&mut self) -> Result<(IdReg, ConfigReg), EthosUError> {
        let id = self.regs.read(reg::ID);
        if id == 0 || id == u32::MAX {
            return Err(EthosUError::NoNpu { id });
        }
        Ok((IdReg(id), ConfigReg(self.regs.read(reg::CONFIG))))
    }

    /// Soft reset to the configured security/privilege level, then the AXI setup.
    pub fn soft_reset(&mut self) -> Result<(), EthosUError> {
        let c = self.config;
        let cpl = u32::from(c.privileged);
        let csl = u32::from(!c.secure);
        self.regs.write(reg::RESET, cpl | (csl << 1));
        let mut st = self.regs.read(reg::STATUS);
        let mut polls = 0;
        while st & status::RESET_STATUS != 0 && polls < c.reset_polls {
            core::hint::spin_loop();
            st = self.regs.read(reg::STATUS);
            polls += 1;
        }
        if st & status::RESET_STATUS != 0 {
            return Err(EthosUError::Reset {
                what: "reset did not complete",
                value: st,
            });
        }
        let prot = self.regs.read(reg::PROT);
        if prot & 3 != cpl | (csl << 1) {
            return Err(EthosUError::Reset {
                what: "PROT does not show the requested privilege/security level",
                value: prot,
            });
        }
        self.regs.write(reg::QCONFIG, c.qconfig);
        self.regs.write(reg::REGIONCFG, c.regioncfg);
        for (i, &l) in c.axi_limits.iter().enumerate() {
            self.regs.write(reg::AXI_LIMIT0 + 4 * i as u32, l);
        }
        Ok(())
    }

    /// Runs `payload`'s command stream on `regions` and waits for it.
    ///
    /// `regions[n]` becomes BASEP`n`. Returns once the NPU has stopped at the
    /// end of the stream; any fault or timeout leaves the NPU soft-reset.
    pub fn invoke(
        &mut self,
        payload: &Payload<'_>,
        regions: &mut [Region<'_>; MAX_REGIONS],
    ) -> Result<(), EthosUError> {
        let (id, cfg) = self.probe()?;
        if let Some(want) = payload.config {
            check_config(id, cfg, want.id, want.config)?;
        }
        let wide = cfg.product() == Some(Product::EthosU65);
        let limit: u64 = if wide { (1 << 40) - 1 } else { u32::MAX as u64 };
        let mem = NpuMemory {
            command_stream: payload.command_stream,
            regions,
        };
        let qsize =
            u32::try_from(payload.command_stream.len()).map_err(|_| EthosUError::Payload {
                what: "command stream larger than 4 GiB",
                at: payload.command_stream_offset as u32,
            })?;
        let qbase = self
            .regs
            .bus_address(payload.command_stream.as_ptr() as usize);
        check_address("command stream", qbase, limit)?;
        let mut bases = [0u64; MAX_REGIONS];
        for (n, b) in bases.iter_mut().enumerate() {
            if let Some((addr, _len)) = mem.host_address(n) {
                *b = self.regs.bus_address(addr);
                check_address(REGION_NAMES[n], *b, limit)?;
            } else if !matches!(mem.regions[n], Region::Absent) {
                return Err(EthosUError::Address {
                    what: "an alias to an absent or aliased region",
                    address: n as u64,
                });
            }
        }
        self.soft_reset()?;
        self.regs.write(reg::QBASE, qbase as u32);
        if wide {
            self.regs.write(reg::QBASE_HI, (qbase >> 32) as u32);
        }
        self.regs.write(reg::QSIZE, qsize);
        for (n, &b) in bases.iter().enumerate() {
            self.regs.write(basep(n), b as u32);
            if wide {
                self.regs.write(basep(n) + 4, (b >> 32) as u32);
            }
        }
        // Our writes to the regions (inputs) must be visible before the NPU starts: past the
        // store buffer (fence) and, on cores with a data cache, past the cache.
        fence(Ordering::SeqCst);
        self.regs.clean_dcache(
            payload.command_stream.as_ptr() as usize,
            payload.command_stream.len(),
        );
        for n in 0..MAX_REGIONS {
            if let Some((addr, len)) = mem.host_address(n) {
                self.regs.clean_dcache(addr, len);
            }
        }
        let keep = self.regs.read(reg::CMD) & (cmd::CLOCK_Q_ENABLE | cmd::POWER_Q_ENABLE);
        self.regs
            .write(reg::CMD, keep | cmd::TRANSITION_TO_RUNNING_STATE);
        let mut mem = mem;
        let mut st = 0;
        let mut done = false;
        for _ in 0..self.config.run_polls {
            self.regs.wait(&mut mem);
            st = self.regs.read(reg::STATUS);
            if st & status::IRQ_RAISED != 0 {
                done = true;
                break;
            }
        }
        // The NPU's writes must be visible to our reads of the outputs.
        fence(Ordering::SeqCst);
        for n in 0..MAX_REGIONS {
            if let (Some((addr, len)), Region::ReadWrite(_)) =
                (mem.host_address(n), &mem.regions[n])
            {
                self.regs.invalidate_dcache(addr, len);
            }
        }
        let qread = self.regs.read(reg::QREAD);
        if !done {
            let _ = self.soft_reset();
            return Err(EthosUError::Timeout { status: st, qread });
        }
        let keep = self.regs.read(reg::CMD) & (cmd::CLOCK_Q_ENABLE | cmd::POWER_Q_ENABLE);
        self.regs.write(reg::CMD, keep | cmd::CLEAR_IRQ);
        if let Some(fault) = decode_fault(st) {
            let _ = self.soft_reset();
            return Err(EthosUError::Fault {
                fault,
                status: st,
                qread,
            });
        }
        if qread != qsize {
            let _ = self.soft_reset();
            return Err(EthosUError::QreadMismatch {
                qread,
                expected: qsize,
            });
        }
        Ok(())
    }
}

const REGION_NAMES: [&str; MAX_REGIONS] = [
    "region 0", "region 1", "region 2", "region 3", "region 4", "region 5", "region 6", "region 7",
];

fn check_address(what: &'static str, address: u64, limit: u64) -> Result<(), EthosUError> {
    if address % 16 != 0 || address > limit {
        return Err(EthosUError::Address { what, address });
    }
    Ok(())
}

/// The first fault in a STATUS value, in the core driver's order.
pub fn decode_fault(st: u32) -> Option<NpuFault> {
    if st & status::BUS_STATUS != 0 {
        Some(NpuFault::BusAbort)
    } else if st & status::CMD_PARSE_ERROR != 0 {
        Some(NpuFault::CommandParse)
    } else if st & status::WD_FAULT != 0 {
        Some(NpuFault::WeightDecoder)
    } else if st & status::ECC_FAULT != 0 {
        Some(NpuFault::Ecc)
    } else if st & status::CMD_END_REACHED == 0 {
        Some(NpuFault::EndNotReached)
    } else {
        None
    }
}

/// Compares the NPU's ID/CONFIG with what the command stream was compiled for.
pub fn check_config(
    npu_id: IdReg,
    npu: ConfigReg,
    want_id: IdReg,
    want: ConfigReg,
) -> Result<(), EthosUError> {
    let mismatch = |field, npu: u32, stream: u32| {
        if npu != stream {
            Err(EthosUError::ConfigMismatch { field, npu, stream })
        } else {
            Ok(())
        }
    };
    mismatch(
        "product (0 = U55, 1 = U65)",
        npu.product_raw(),
        want.product_raw(),
    )?;
    mismatch("macs_per_cc", npu.macs_per_cc(), want.macs_per_cc())?;
    mismatch(
        "shram_size (KiB)",
        npu.shram_size_kib(),
        want.shram_size_kib(),
    )?;
    mismatch(
        "cmd_stream_version",
        npu.cmd_stream_version(),
        want.cmd_stream_version(),
    )?;
    if want.custom_dma() && !npu.custom_dma() {
        return Err(EthosUError::ConfigMismatch {
            field: "custom_dma",
            npu: 0,
            stream: 1,
        });
    }
    mismatch(
        "architecture major revision",
        npu_id.arch_major_rev(),
        want_id.arch_major_rev(),
    )?;
    if npu_id.arch_minor_rev() < want_id.arch_minor_rev() {
        return Err(EthosUError::ConfigMismatch {
            field: "architecture minor revision (NPU older than the stream)",
            npu: npu_id.arch_minor_rev(),
            stream: want_id.arch_minor_rev(),
        });
    }
    Ok(())
}

/// Memory-mapped Ethos-U registers (FVP, silicon).
pub struct Mmio {
    base: usize,
}

impl Mmio {
    /// NPU register base on Arm Corstone-300 (AN547, FVP_Corstone_SSE-300_Ethos-U55), non-secure alias.
    pub const CORSTONE_300: usize = 0x4810_2000;
    /// NPU register base on Arm Corstone-300, secure alias.
    pub const CORSTONE_300_SECURE: usize = 0x5810_2000;
    /// Size of the register block accessed through this type.
    pub const SIZE: u32 = 0x1000;

    /// Registers at `base`.
    ///
    /// # Safety
    /// `base` must be the address of an Ethos-U register block, mapped as
    /// device memory for as long as this value lives, and nothing else may
    /// drive that NPU meanwhile.
    pub const unsafe fn new(base: usize) -> Mmio {
        Mmio { base }
    }

    /// The base address.
    pub fn base(&self) -> usize {
        self.base
    }
}

impl NpuRegisters for Mmio {
    /// Offsets outside the 4 KiB block or not word aligned read as 0.
    fn read(&mut self, offset: u32) -> u32 {
        if offset >= Mmio::SIZE || offset % 4 != 0 {
            return 0;
        }
        // SAFETY: `new`'s contract makes base..base+SIZE a mapped register
        // block; offset is word aligned and inside it.
        unsafe { core::ptr::read_volatile((self.base + offset as usize) as *const u32) }
    }

    /// Offsets outside the 4 KiB block or not word aligned are ignored.
    fn write(&mut self, offset: u32, value: u32) {
        if offset >= Mmio::SIZE || offset % 4 != 0 {
            return;
        }
        // SAFETY: as in `read`.
        unsafe { core::ptr::write_volatile((self.base + offset as usize) as *mut u32, value) }
    }

    fn clean_dcache(&mut self, addr: usize, len: usize) {
        super::cache::clean(addr, len);
    }

    fn invalidate_dcache(&mut self, addr: usize, len: usize) {
        super::cache::invalidate(addr, len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ethos_u::payload::OptimizerConfig;

    /// A register file that behaves like an idle NPU: reset completes at
    /// once, a started stream "finishes" on the first wait (or never, or with
    /// the fault bits given).
    struct FakeNpu {
        regs: [u32; 64],
        finish: Option<u32>,
        waits: u32,
        writes: std::vec::Vec<(u32, u32)>,
        started: bool,
    }

    impl FakeNpu {
        fn new(id: u32, config: u32, finish: Option<u32>) -> Self {
            let mut regs = [0; 64];
            regs[0] = id;
            regs[(reg::CONFIG / 4) as usize] = config;
            FakeNpu {
                regs,
                finish,
                waits: 0,
                writes: std::vec::Vec::new(),
                started: false,
            }
        }
    }

    impl NpuRegisters for FakeNpu {
        fn read(&mut self, offset: u32) -> u32 {
            self.regs.get((offset / 4) as usize).copied().unwrap_or(0)
        }
        fn write(&mut self, offset: u32, value: u32) {
            self.writes.push((offset, value));
            match offset {
                reg::RESET => self.regs[(reg::PROT / 4) as usize] = value & 3,
                reg::CMD if value & 1 != 0 => self.started = true,
                reg::CMD if value & 2 != 0 => self.regs[1] &= !status::IRQ_RAISED,
                o if (o / 4) < 64 => self.regs[(o / 4) as usize] = value,
                _ => {}
            }
        }
        // Host pointers are 64-bit; keep the low 32 bits as a U55 would see them.
        fn bus_address(&self, addr: usize) -> u64 {
            addr as u64 & 0xFFFF_FFFF
        }
        fn wait(&mut self, mem: &mut NpuMemory<'_, '_>) {
            self.waits += 1;
            if let (true, Some(st)) = (self.started, self.finish) {
                self.regs[1] = st;
                self.regs[(reg::QREAD / 4) as usize] = mem.command_stream.len() as u32;
                // The job's memory is reachable: write the first scratch byte.
                if let Some(s) = mem.region_mut(2) {
                    s[0] = 0x5A;
                }
            }
        }
    }

    #[repr(align(16))]
    struct Aligned([u8; 64]);

    fn payload(stream: &[u8]) -> Payload<'_> {
        Payload {
            config: Some(OptimizerConfig {
                release: 0,
                patch: 1,
                config: ConfigReg(0x1807),
                id: IdReg(0x1006_6001),
            }),
            command_stream: stream,
            command_stream_offset: 32,
        }
    }

    const DONE: u32 = status::IRQ_RAISED | status::CMD_END_REACHED;

    #[test]
    fn runs_and_programs_registers() {
        let stream = Aligned([0; 64]);
        let weights = Aligned([1; 64]);
        let mut scratch = Aligned([0; 64]);
        let mut npu = Driver::new(
            FakeNpu::new(0x1006_6001, 0x1807, Some(DONE)),
            DriverConfig::default(),
        );
        let mut regions: [Region<'_>; MAX_REGIONS] = Default::default();
        regions[0] = Region::ReadOnly(&weights.0);
        regions[1] = Region::ReadWrite(&mut scratch.0);
        regions[2] = Region::Alias(1);
        npu.invoke(&payload(&stream.0[..16]), &mut regions).unwrap();
        let _ = &mut regions;
        assert_eq!(scratch.0[0], 0x5A, "alias 2 -> 1 reaches the scratch");
        let f = npu.into_registers();
        assert_eq!(f.waits, 1);
        let w = |o: u32| f.writes.iter().rev().find(|x| x.0 == o).map(|x| x.1);
        assert_eq!(w(reg::QSIZE), Some(16));
        assert_eq!(w(reg::QBASE), Some(stream.0.as_ptr() as usize as u32));
        assert_eq!(w(basep(0)), Some(weights.0.as_ptr() as usize as u32));
        assert_eq!(w(basep(1)), Some(scratch.0.as_ptr() as usize as u32));
        assert_eq!(w(basep(2)), w(basep(1)));
        assert_eq!(w(basep(3)), Some(0));
        assert_eq!(w(reg::RESET), Some(1), "secure + privileged");
        assert_eq!(w(reg::AXI_LIMIT0), Some(0x0F1F_0000));
        assert_eq!(w(reg::REGIONCFG), Some(0x5553));
        // Start after every base pointer; then the IRQ is cleared.
        let start = f.writes.iter().position(|&x| x == (reg::CMD, 1)).unwrap();
        assert!(f.writes[..start].iter().any(|x| x.0 == basep(7)));
        assert_eq!(f.writes.last(), Some(&(reg::CMD, 2)));
    }

    #[test]
    fn errors_instead_of_hanging() {
        let stream = Aligned([0; 64]);
        let run = |id, cfg, finish, polls| {
            let c = DriverConfig {
                run_polls: polls,
                ..DriverConfig::default()
            };
            let mut d = Driver::new(FakeNpu::new(id, cfg, finish), c);
            let mut regions: [Region<'_>; MAX_REGIONS] = Default::default();
            d.invoke(&payload(&stream.0[..16]), &mut regions)
        };
        assert_eq!(run(0, 0, Some(DONE), 10), Err(EthosUError::NoNpu { id: 0 }));
        assert!(matches!(
            run(0x1006_6001, 0x1806, Some(DONE), 10),
            Err(EthosUError::ConfigMismatch {
                field: "macs_per_cc",
                npu: 64,
                stream: 128
            })
        ));
        assert!(matches!(
            run(0x1006_6001, 0x1000_1807, Some(DONE), 10),
            Err(EthosUError::ConfigMismatch { .. })
        ));
        assert!(matches!(
            run(0x2006_6001, 0x1807, Some(DONE), 10),
            Err(EthosUError::ConfigMismatch { .. })
        ));
        assert!(matches!(
            run(0x1006_6001, 0x1807, None, 1000),
            Err(EthosUError::Timeout { .. })
        ));
        assert!(matches!(
            run(
                0x1006_6001,
                0x1807,
                Some(status::IRQ_RAISED | status::CMD_PARSE_ERROR),
                10
            ),
            Err(EthosUError::Fault {
                fault: NpuFault::CommandParse,
                ..
            })
        ));
        assert!(matches!(
            run(0x1006_6001, 0x1807, Some(status::IRQ_RAISED), 10),
            Err(EthosUError::Fault {
                fault: NpuFault::EndNotReached,
                ..
            })
        ));
        // A newer NPU (arch minor 1) runs a 1.0 stream.
        assert_eq!(run(0x1016_6001, 0x1807, Some(DONE), 10), Ok(()));
    }

    #[test]
    fn rejects_misaligned_memory() {
        let stream = Aligned([0; 64]);
        let mut d = Driver::new(
            FakeNpu::new(0x1006_6001, 0x1807, Some(DONE)),
            DriverConfig::default(),
        );
        let mut regions: [Region<'_>; MAX_REGIONS] = Default::default();
        assert!(matches!(
            d.invoke(&payload(&stream.0[4..20]), &mut regions),
            Err(EthosUError::Address {
                what: "command stream",
                ..
            })
        ));
        regions[0] = Region::ReadOnly(&stream.0[1..]);
        assert!(matches!(
            d.invoke(&payload(&stream.0[..16]), &mut regions),
            Err(EthosUError::Address {
                what: "region 0",
                ..
            })
        ));
        regions[0] = Region::Alias(5);
        assert!(d.invoke(&payload(&stream.0[..16]), &mut regions).is_err());
    }
}
