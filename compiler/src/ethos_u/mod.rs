//! kiln's own Ethos-U compiler: partitioning, lowering to NPU operations,
//! block configuration, weight encoding, scratch planning and the register
//! command stream, packaged as an ExecuTorch `EthosUBackend` delegate.
//!
//! Flow: [`constraints`] says which nodes the hardware can run, [`lower`]
//! turns a node into [`npu_op::NpuOp`]s (choosing a block with [`block`] and
//! encoding weights with [`weights`]), [`segment`] plans a run of NPU nodes'
//! scratch and writes the delegate blob with [`stream`]'s command stream.
//! A node may become several operations with temporaries between them (e.g. a convolution
//! with stride 5 becomes copies into a space-to-depth map and a convolution over it); the
//! lowering asks for those through [`lower::Ctx`] and [`segment`] plans them with the tensors.

pub mod block;
pub mod buffering;
pub mod constraints;
pub mod lower;
pub mod npu_op;
pub mod partition;
pub mod segment;
pub mod stream;
