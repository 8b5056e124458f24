//! Target descriptions, defined once: the CLI, the build-script helper, the
//! partitioner and the error messages all read this table.

use crate::error::CompileError;
use std::fmt;

/// The CPU a target runs kernels on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cpu {
    /// The machine running the compiler (tests, `kiln run`).
    Host,
    /// Arm Cortex-M4 (DSP extension).
    CortexM4,
    /// Arm Cortex-M7 (DSP extension).
    CortexM7,
    /// Arm Cortex-M33 (DSP extension).
    CortexM33,
    /// Arm Cortex-M55 (Helium/MVE).
    CortexM55,
    /// Arm Cortex-M85 (Helium/MVE).
    CortexM85,
}

impl Cpu {
    /// The CPU as a person names it, with the instruction-set extension kiln's kernels use.
    pub fn describe(self) -> &'static str {
        match self {
            Cpu::Host => "the machine kiln runs on (tests, `kiln run`)",
            Cpu::CortexM4 => "Arm Cortex-M4 (DSP extension)",
            Cpu::CortexM7 => "Arm Cortex-M7 (DSP extension)",
            Cpu::CortexM33 => "Arm Cortex-M33 (DSP extension)",
            Cpu::CortexM55 => "Arm Cortex-M55 (Helium)",
            Cpu::CortexM85 => "Arm Cortex-M85 (Helium)",
        }
    }
    /// LLVM's name of the CPU (`-C target-cpu=`), `None` for the host.
    pub fn llvm_name(self) -> Option<&'static str> {
        match self {
            Cpu::Host => None,
            Cpu::CortexM4 => Some("cortex-m4"),
            Cpu::CortexM7 => Some("cortex-m7"),
            Cpu::CortexM33 => Some("cortex-m33"),
            Cpu::CortexM55 => Some("cortex-m55"),
            Cpu::CortexM85 => Some("cortex-m85"),
        }
    }
    /// The Rust target triple firmware for this CPU is built for (`None` for the host).
    pub fn rust_target(self) -> Option<&'static str> {
        match self {
            Cpu::Host => None,
            Cpu::CortexM4 | Cpu::CortexM7 => Some("thumbv7em-none-eabihf"),
            Cpu::CortexM33 | Cpu::CortexM55 | Cpu::CortexM85 => Some("thumbv8m.main-none-eabihf"),
        }
    }
}

/// Which Ethos-U NPU family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpuFamily {
    /// Ethos-U55 (Corstone-300 class).
    U55,
    /// Ethos-U65.
    U65,
}

/// An Ethos-U configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Npu {
    /// Family.
    pub family: NpuFamily,
    /// MACs per cycle (the `-128` in `ethos-u55-128`).
    pub macs: u32,
}

/// What a memory region is for, on the reference platform's usual memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionRole {
    /// Code and read-only data (the firmware's `FLASH`).
    Code,
    /// The data RAM (`.data`, `.bss`, stack): where a model's arena goes by default.
    Data,
    /// Other on-chip RAM (larger arenas, weights).
    Spare,
    /// External memory.
    External,
}

impl RegionRole {
    /// What the region is used for, in words.
    pub fn describe(self) -> &'static str {
        match self {
            RegionRole::Code => "code and read-only data",
            RegionRole::Data => "data RAM: .data, .bss, stack; model arenas by default",
            RegionRole::Spare => "other on-chip RAM (larger arenas with arena_region)",
            RegionRole::External => "external memory",
        }
    }
}

/// A memory region of a target platform (for the memory contract of firmware builds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Name as the platform documentation gives it.
    pub name: &'static str,
    /// Base address.
    pub base: u32,
    /// Size in bytes.
    pub size: u32,
    /// What it is for.
    pub role: RegionRole,
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, unit) = if (self.size >> 20) << 20 == self.size {
            (self.size / (1024 * 1024), "MiB")
        } else {
            (self.size / 1024, "KiB")
        };
        write!(f, "{} ({n} {unit} at {:#010x})", self.name, self.base)
    }
}

/// Corstone-300 (MPS3 AN547) memory map, non-secure aliases (the platform of every
/// Cortex-M55 + Ethos-U55 target; ../shared/research/embedded.md section 3).
pub const CORSTONE_300: &[Region] = &[
    Region {
        name: "ITCM",
        base: 0x0000_0000,
        size: 512 * 1024,
        role: RegionRole::Code,
    },
    Region {
        name: "SRAM",
        base: 0x0100_0000,
        size: 2 * 1024 * 1024,
        role: RegionRole::Spare,
    },
    Region {
        name: "DTCM",
        base: 0x2000_0000,
        size: 512 * 1024,
        role: RegionRole::Data,
    },
    Region {
        name: "ISRAM",
        base: 0x2100_0000,
        size: 4 * 1024 * 1024,
        role: RegionRole::Spare,
    },
    Region {
        name: "DDR",
        base: 0x6000_0000,
        size: 0x1000_0000,
        role: RegionRole::External,
    },
];

/// A compilation target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// Name used on the command line and in `include_model!`.
    pub name: &'static str,
    /// CPU that runs the non-delegated operators.
    pub cpu: Cpu,
    /// The NPU, if any.
    pub npu: Option<Npu>,
    /// Memory regions of the reference platform (empty for the host).
    pub regions: &'static [Region],
    /// Address of the NPU's register block on the reference platform.
    pub npu_base: Option<usize>,
}

/// Ethos-U55 register block on Corstone-300 (non-secure alias).
pub const CORSTONE_300_NPU_BASE: usize = 0x4810_2000;

const fn cpu(name: &'static str, cpu: Cpu) -> Target {
    Target {
        name,
        cpu,
        npu: None,
        regions: &[],
        npu_base: None,
    }
}

const fn npu(name: &'static str, family: NpuFamily, macs: u32) -> Target {
    Target {
        name,
        cpu: Cpu::CortexM55,
        npu: Some(Npu { family, macs }),
        regions: CORSTONE_300,
        npu_base: Some(CORSTONE_300_NPU_BASE),
    }
}

/// Every target kiln knows.
pub const TARGETS: &[Target] = &[
    cpu("host", Cpu::Host),
    cpu("cortex-m4", Cpu::CortexM4),
    cpu("cortex-m7", Cpu::CortexM7),
    cpu("cortex-m33", Cpu::CortexM33),
    Target {
        name: "cortex-m55",
        cpu: Cpu::CortexM55,
        npu: None,
        regions: CORSTONE_300,
        npu_base: None,
    },
    cpu("cortex-m85", Cpu::CortexM85),
    npu("ethos-u55-32", NpuFamily::U55, 32),
    npu("ethos-u55-64", NpuFamily::U55, 64),
    npu("ethos-u55-128", NpuFamily::U55, 128),
    npu("ethos-u55-256", NpuFamily::U55, 256),
    npu("ethos-u65-256", NpuFamily::U65, 256),
    npu("ethos-u65-512", NpuFamily::U65, 512),
];

/// Short names that stand for a full target name.
const ALIASES: &[(&str, &str)] = &[
    ("ethos-u55", "ethos-u55-128"),
    ("ethos-u65", "ethos-u65-256"),
];

impl Target {
    /// The aliases that name this target.
    pub fn aliases(&self) -> impl Iterator<Item = &'static str> + '_ {
        ALIASES
            .iter()
            .filter(move |(_, t)| *t == self.name)
            .map(|(a, _)| *a)
    }
    /// The region the NPU scratch is placed in (`.kiln_npu_scratch`): on Corstone-300 the
    /// 4 MiB ISRAM, which the NPU's AXI masters reach (the TCMs they do not).
    pub fn npu_scratch_region(&self) -> Option<&'static Region> {
        self.npu?;
        self.regions.iter().find(|r| r.name == "ISRAM")
    }
    /// The Ethos-U configuration of this target's NPU, from the one table in kiln-rt.
    pub fn accel(&self) -> Option<&'static kiln_rt::ethos_u::config::AccelConfig> {
        let npu = self.npu?;
        let family = match npu.family {
            NpuFamily::U55 => "u55",
            NpuFamily::U65 => "u65",
        };
        kiln_rt::ethos_u::config::by_name(&format!("ethos-{family}-{}", npu.macs))
    }
    /// Finds a target by name or alias; the error lists every known target.
    pub fn lookup(name: &str) -> Result<&'static Target, CompileError> {
        let name = ALIASES
            .iter()
            .find(|(a, _)| *a == name)
            .map(|(_, t)| *t)
            .unwrap_or(name);
        TARGETS
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| CompileError::Option {
                option: "target".into(),
                reason: format!(
                    "unknown target '{name}'; known targets: {}",
                    known_targets()
                ),
            })
    }

    /// The region a model's arena goes into by default (the platform's data RAM).
    pub fn data_region(&self) -> Option<&'static Region> {
        self.regions.iter().find(|r| r.role == RegionRole::Data)
    }

    /// The region named `name` (case-insensitive); the error lists the target's regions.
    pub fn region(&self, name: &str) -> Result<&'static Region, CompileError> {
        if let Some(r) = self
            .regions
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
        {
            return Ok(r);
        }
        let reason = if self.regions.is_empty() {
            format!(
                "target {} has no memory map (no regions); give an explicit budget = <bytes> instead",
                self.name
            )
        } else {
            let list: Vec<String> = self.regions.iter().map(|r| r.to_string()).collect();
            format!(
                "target {} has no memory region '{name}'; its regions: {}",
                self.name,
                list.join(", ")
            )
        };
        Err(CompileError::Option {
            option: "arena_region".into(),
            reason,
        })
    }

    /// The host target.
    pub fn host() -> &'static Target {
        &TARGETS[0]
    }
}

/// Comma-separated list of target names and aliases, for messages.
pub fn known_targets() -> String {
    let mut names: Vec<String> = TARGETS.iter().map(|t| t.name.to_string()).collect();
    names.extend(ALIASES.iter().map(|(a, t)| format!("{a} (= {t})")));
    names.join(", ")
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_aliases() {
        assert_eq!(Target::lookup("ethos-u55").unwrap().name, "ethos-u55-128");
        assert_eq!(
            Target::lookup("ethos-u55-64").unwrap().npu.unwrap().macs,
            64
        );
        assert_eq!(
            Target::lookup("cortex-m4").unwrap().cpu.rust_target(),
            Some("thumbv7em-none-eabihf")
        );
        let m55 = Target::lookup("cortex-m55").unwrap();
        assert_eq!(m55.data_region().unwrap().name, "DTCM");
        assert_eq!(m55.data_region().unwrap().size, 512 * 1024);
        assert_eq!(m55.region("sram").unwrap().size, 2 * 1024 * 1024);
        let e = m55.region("FLASH").unwrap_err().to_string();
        assert!(
            e.contains("no memory region 'FLASH'") && e.contains("ISRAM (4 MiB at 0x21000000)"),
            "{e}"
        );
        assert!(Target::host().data_region().is_none());
        assert!(Target::host()
            .region("DTCM")
            .unwrap_err()
            .to_string()
            .contains("budget"));
        let e = Target::lookup("ethos-u99").unwrap_err().to_string();
        assert!(
            e.contains("unknown target 'ethos-u99'") && e.contains("cortex-m55"),
            "{e}"
        );
    }
}
