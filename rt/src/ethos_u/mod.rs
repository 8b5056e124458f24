//! Arm Ethos-U NPU delegate: ExecuTorch's `vela_bin_stream` blob, the driver
//! payload, the register protocol and the `EthosUBackend` delegate.

pub mod backend;
pub mod cache;
pub mod driver;
pub use kiln_ethos_u::{blob, cmd, config, disasm, error, payload, perf, regs, weights};
#[cfg(feature = "npu-sim")]
pub mod sim;

pub use backend::{EthosUBackend, BACKEND_ID};
pub use blob::{VelaBlob, VelaIo};
pub use disasm::disassemble;
pub use driver::{Driver, DriverConfig, Mmio, NpuMemory, NpuRegisters, Region};
pub use error::{EthosUError, IoKind, NpuFault};
