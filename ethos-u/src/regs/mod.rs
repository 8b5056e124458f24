//! The Ethos-U55/U65 register set (architecture 1.0.6): APB register offsets,
//! the bit fields of the ID/CONFIG/STATUS/CMD registers, the command-stream
//! opcodes and the decoders of every command's parameter fields.
//!
//! Names are spelled exactly as Vela 5.x (Regor core) prints them with
//! `--verbose-register-command-stream` (`NPU_SET_IFM_REGION`,
//! `ACTIVATION_FORMAT_NHCWB16`, ...), so a disassembly can be compared with
//! Vela's listing line by line. The facts come from Arm's published register
//! descriptions (`ethos_u55_regs.py` in ethos-u-vela, the core driver's
//! `ethosu55_interface.h`).
//!
//! Command word layout (both kinds): bits 9:0 opcode, bits 13:10 reserved
//! (zero), bits 15:14 control (0 = cmd0: no payload, 1 = cmd1: one 32-bit
//! payload word follows), bits 31:16 a 16-bit parameter.

/// APB register byte offsets from the NPU base address.
pub mod offset {
    /// Identification register (`ID`).
    pub const ID: u32 = 0x0000;
    /// Status register (`STATUS`).
    pub const STATUS: u32 = 0x0004;
    /// Command register (`CMD`): start, clear IRQ, clock/power Q enables.
    pub const CMD: u32 = 0x0008;
    /// Soft reset request and the security/privilege level after reset.
    pub const RESET: u32 = 0x000C;
    /// Command queue base address, low 32 bits.
    pub const QBASE: u32 = 0x0010;
    /// Command queue base address, high 32 bits.
    pub const QBASE_HI: u32 = 0x0014;
    /// Command queue read offset (bytes) of the command being executed.
    pub const QREAD: u32 = 0x0018;
    /// AXI memory attributes for the command queue.
    pub const QCONFIG: u32 = 0x001C;
    /// Command queue size in bytes.
    pub const QSIZE: u32 = 0x0020;
    /// Current protection level (security / privilege).
    pub const PROT: u32 = 0x0024;
    /// Hardware configuration (`CONFIG`): MACs per cycle, SHRAM size, product.
    pub const CONFIG: u32 = 0x0028;
    /// Lock register.
    pub const LOCK: u32 = 0x002C;
    /// Per-region AXI memory type selection (2 bits per region).
    pub const REGIONCFG: u32 = 0x003C;
    /// AXI limits for memory type 0.
    pub const AXI_LIMIT0: u32 = 0x0040;
    /// AXI limits for memory type 1.
    pub const AXI_LIMIT1: u32 = 0x0044;
    /// AXI limits for memory type 2.
    pub const AXI_LIMIT2: u32 = 0x0048;
    /// AXI limits for memory type 3.
    pub const AXI_LIMIT3: u32 = 0x004C;
    /// Base pointer of region 0 (low word); region `n` low word at `BASEP0 + 8 n`.
    pub const BASEP0: u32 = 0x0080;
    /// Number of base pointer regions.
    pub const BASEP_COUNT: u32 = 8;
    /// Weight decoder status (debug).
    pub const WD_STATUS: u32 = 0x0100;
    /// MAC status (debug).
    pub const MAC_STATUS: u32 = 0x0104;
    /// Activation output status (debug).
    pub const AO_STATUS: u32 = 0x0108;
    /// DMA status 0 (debug).
    pub const DMA_STATUS0: u32 = 0x0110;
    /// DMA status 1 (debug).
    pub const DMA_STATUS1: u32 = 0x0114;
    /// Clock force (debug).
    pub const CLKFORCE: u32 = 0x0140;
    /// PMU control register.
    pub const PMCR: u32 = 0x0180;
    /// PMU counter enable set.
    pub const PMCNTENSET: u32 = 0x0184;
    /// PMU counter enable clear.
    pub const PMCNTENCLR: u32 = 0x0188;
    /// PMU overflow status set.
    pub const PMOVSSET: u32 = 0x018C;
    /// PMU overflow status clear.
    pub const PMOVSCLR: u32 = 0x0190;
    /// PMU interrupt enable set.
    pub const PMINTSET: u32 = 0x0194;
    /// PMU interrupt enable clear.
    pub const PMINTCLR: u32 = 0x0198;
    /// PMU cycle counter, low word.
    pub const PMCCNTR: u32 = 0x01A0;
    /// PMU cycle counter, high word.
    pub const PMCCNTR_HI: u32 = 0x01A4;
    /// PMU event counter 0 (counters 0..3 at 4-byte steps).
    pub const PMEVCNTR0: u32 = 0x0300;
    /// PMU event type 0 (types 0..3 at 4-byte steps).
    pub const PMEVTYPER0: u32 = 0x0380;
    /// Hardware revision.
    pub const REVISION: u32 = 0x0FC0;
    /// Peripheral ID 4 (PID4..PID7 then PID0..PID3, CID0..CID3 follow).
    pub const PID4: u32 = 0x0FD0;
    /// Component ID 0.
    pub const CID0: u32 = 0x0FF0;

    /// Offset of the low word of base pointer `region` (0..8), `None` past the last.
    pub const fn basep(region: u32) -> Option<u32> {
        if region < BASEP_COUNT {
            Some(BASEP0 + 8 * region)
        } else {
            None
        }
    }
}

/// Number of base pointer registers (regions 0..8).
pub const MAX_REGIONS: usize = offset::BASEP_COUNT as usize;

/// The `ID` register: product and architecture version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdReg(pub u32);

impl IdReg {
    /// Bits 3:0, version status.
    pub const fn version_status(self) -> u32 {
        self.0 & 0xF
    }
    /// Bits 7:4, minor version.
    pub const fn version_minor(self) -> u32 {
        (self.0 >> 4) & 0xF
    }
    /// Bits 11:8, major version.
    pub const fn version_major(self) -> u32 {
        (self.0 >> 8) & 0xF
    }
    /// Bits 15:12, product major.
    pub const fn product_major(self) -> u32 {
        (self.0 >> 12) & 0xF
    }
    /// Bits 19:16, architecture patch revision.
    pub const fn arch_patch_rev(self) -> u32 {
        (self.0 >> 16) & 0xF
    }
    /// Bits 27:20, architecture minor revision.
    pub const fn arch_minor_rev(self) -> u32 {
        (self.0 >> 20) & 0xFF
    }
    /// Bits 31:28, architecture major revision.
    pub const fn arch_major_rev(self) -> u32 {
        (self.0 >> 28) & 0xF
    }
    /// Builds an ID word from an architecture version (the other fields zero).
    pub const fn from_arch(major: u32, minor: u32, patch: u32) -> IdReg {
        IdReg(((major & 0xF) << 28) | ((minor & 0xFF) << 20) | ((patch & 0xF) << 16))
    }
}

/// The NPU product in `CONFIG.product`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Product {
    /// Ethos-U55 (`product` 0).
    EthosU55,
    /// Ethos-U65 (`product` 1).
    EthosU65,
}

/// The `CONFIG` register: hardware configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigReg(pub u32);

impl ConfigReg {
    /// Bits 3:0, log2 of MACs per cycle (5 = 32 .. 8 = 256).
    pub const fn macs_per_cc_log2(self) -> u32 {
        self.0 & 0xF
    }
    /// MACs per clock cycle (`1 << macs_per_cc_log2`).
    pub const fn macs_per_cc(self) -> u32 {
        1 << (self.0 & 0xF)
    }
    /// Bits 7:4, command stream version.
    pub const fn cmd_stream_version(self) -> u32 {
        (self.0 >> 4) & 0xF
    }
    /// Bits 15:8, SHRAM size in KiB.
    pub const fn shram_size_kib(self) -> u32 {
        (self.0 >> 8) & 0xFF
    }
    /// Bit 27, custom DMA implemented.
    pub const fn custom_dma(self) -> bool {
        (self.0 >> 27) & 1 != 0
    }
    /// Bits 31:28, product (0 = U55, 1 = U65).
    pub const fn product_raw(self) -> u32 {
        (self.0 >> 28) & 0xF
    }
    /// The product, `None` for values this model does not know.
    pub const fn product(self) -> Option<Product> {
        match self.product_raw() {
            0 => Some(Product::EthosU55),
            1 => Some(Product::EthosU65),
            _ => None,
        }
    }
    /// Builds a CONFIG word.
    pub const fn new(product: Product, macs_per_cc_log2: u32, shram_kib: u32) -> ConfigReg {
        let p = match product {
            Product::EthosU55 => 0,
            Product::EthosU65 => 1,
        };
        ConfigReg((macs_per_cc_log2 & 0xF) | ((shram_kib & 0xFF) << 8) | (p << 28))
    }
}

/// Bits of the `STATUS` register.
pub mod status {
    /// Bit 0: 1 = running, 0 = stopped.
    pub const STATE_RUNNING: u32 = 1 << 0;
    /// Bit 1: an interrupt is raised.
    pub const IRQ_RAISED: u32 = 1 << 1;
    /// Bit 2: an AXI bus error occurred.
    pub const BUS_STATUS: u32 = 1 << 2;
    /// Bit 3: a reset is in progress.
    pub const RESET_STATUS: u32 = 1 << 3;
    /// Bit 4: the command stream could not be parsed.
    pub const CMD_PARSE_ERROR: u32 = 1 << 4;
    /// Bit 5: `NPU_OP_STOP` was reached.
    pub const CMD_END_REACHED: u32 = 1 << 5;
    /// Bit 6: PMU interrupt raised.
    pub const PMU_IRQ_RAISED: u32 = 1 << 6;
    /// Bit 7: weight decoder fault (bad compressed weight stream).
    pub const WD_FAULT: u32 = 1 << 7;
    /// Bit 8: ECC fault.
    pub const ECC_FAULT: u32 = 1 << 8;
    /// Bit 11: faulting AXI interface (0 = AXI0, 1 = AXI1).
    pub const FAULTING_INTERFACE: u32 = 1 << 11;
    /// Bits 15:12: faulting channel.
    pub const FAULTING_CHANNEL_SHIFT: u32 = 12;
    /// Bits 31:16: IRQ history mask.
    pub const IRQ_HISTORY_SHIFT: u32 = 16;
    /// Every error bit a driver must check after a run.
    pub const ERROR_MASK: u32 = BUS_STATUS | CMD_PARSE_ERROR | WD_FAULT | ECC_FAULT;
}

/// Bits of the `CMD` register.
pub mod cmd_reg {
    /// Bit 0: start executing the command queue (QBASE/QSIZE).
    pub const TRANSITION_TO_RUNNING_STATE: u32 = 1 << 0;
    /// Bit 1: clear the interrupt.
    pub const CLEAR_IRQ: u32 = 1 << 1;
    /// Bit 2: clock Q-channel enable.
    pub const CLOCK_Q_ENABLE: u32 = 1 << 2;
    /// Bit 3: power Q-channel enable.
    pub const POWER_Q_ENABLE: u32 = 1 << 3;
    /// Bit 4: stop request.
    pub const STOP_REQUEST: u32 = 1 << 4;
    /// Bits 31:16: clear IRQ history.
    pub const CLEAR_IRQ_HISTORY_SHIFT: u32 = 16;
}

/// Bits of the `RESET` register.
pub mod reset_reg {
    /// Bit 0: privilege level after reset (1 = privileged).
    pub const PENDING_CPL: u32 = 1 << 0;
    /// Bit 1: security level after reset (1 = non-secure).
    pub const PENDING_CSL: u32 = 1 << 1;
}

/// Fields of the `AXI_LIMITn` registers.
pub mod axi_limit {
    /// Bits 1:0: max burst length (0 = 64 bytes, 1 = 128 bytes).
    pub const MAX_BEATS_SHIFT: u32 = 0;
    /// Bits 7:4: AXI memory type encoding.
    pub const MEMTYPE_SHIFT: u32 = 4;
    /// Bits 23:16: max outstanding reads minus one.
    pub const MAX_OUTSTANDING_READ_M1_SHIFT: u32 = 16;
    /// Bits 31:24: max outstanding writes minus one.
    pub const MAX_OUTSTANDING_WRITE_M1_SHIFT: u32 = 24;
}

/// Bytes of SHRAM reserved for lookup tables at its top (8 slots of 256 B).
pub const SHRAM_LUT_BYTES: u32 = 2048;
/// Bytes per LUT slot.
pub const SHRAM_LUT_SLOT_BYTES: u32 = 256;
/// Bytes per SHRAM bank.
pub const SHRAM_BANK_BYTES: u32 = 1024;

mod fields;
mod opcodes;
#[cfg(test)]
mod tests;

pub use fields::*;
pub use opcodes::*;
