//! Arm Ethos-U NPU delegate: ExecuTorch's `vela_bin_stream` blob, the driver
//! payload, the register protocol and the `EthosUBackend` delegate.

pub mod cmd;
pub mod regs;
#[cfg(feature = "npu-sim")]
pub mod sim;
