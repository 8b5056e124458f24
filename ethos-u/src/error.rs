//! What can go wrong in the Ethos-U delegate: a malformed blob or driver
//! payload, an NPU that is absent, configured differently or faulting.

use core::fmt;

/// The 16-byte name field of a `vela_bin_stream` block, kept for messages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BlockName(pub [u8; 16]);

impl fmt::Display for BlockName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0.iter().take_while(|&&b| b != 0) {
            if b.is_ascii_graphic() {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for BlockName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Which list of a blob an I/O entry belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoKind {
    /// The `inputs` block.
    Input,
    /// The `outputs` block.
    Output,
}

impl fmt::Display for IoKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoKind::Input => "input",
            IoKind::Output => "output",
        })
    }
}

/// A fault the NPU reported in its STATUS register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpuFault {
    /// STATUS.bus_status: an AXI bus abort (e.g. an address outside memory).
    BusAbort,
    /// STATUS.cmd_parse_error: the command stream is not valid.
    CommandParse,
    /// STATUS.wd_fault: the weight decoder met a corrupt weight stream.
    WeightDecoder,
    /// STATUS.ecc_fault: an ECC error in the NPU's internal RAMs.
    Ecc,
    /// The NPU stopped without reaching the end of the command stream.
    EndNotReached,
}

impl fmt::Display for NpuFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NpuFault::BusAbort => "bus abort",
            NpuFault::CommandParse => "command stream parse error",
            NpuFault::WeightDecoder => "weight decoder fault",
            NpuFault::Ecc => "ECC fault",
            NpuFault::EndNotReached => "stopped before the end of the command stream",
        })
    }
}

/// Everything that can go wrong in the Ethos-U delegate, blob to completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EthosUError {
    /// The `vela_bin_stream` delegate blob is malformed at byte `at`.
    Blob {
        /// What is wrong.
        what: &'static str,
        /// Byte offset in the blob.
        at: u32,
    },
    /// A block of the blob has a name the format does not define.
    UnknownBlock {
        /// The name found.
        name: BlockName,
        /// Byte offset of its header.
        at: u32,
    },
    /// A block the format requires is missing (or appears twice).
    Block {
        /// The block, e.g. `cmd_data`.
        name: &'static str,
        /// What is wrong, e.g. `missing`.
        what: &'static str,
    },
    /// A block refers to external data (a NamedDataMap key), which kiln-rt does not load.
    ExternalBlock {
        /// The block, e.g. `weight_data`.
        name: &'static str,
    },
    /// An `inputs`/`outputs` entry is inconsistent with the blob or the tensors.
    Io {
        /// Input or output.
        kind: IoKind,
        /// Its index.
        index: u32,
        /// What is wrong.
        what: &'static str,
    },
    /// The `COP1` driver payload in `cmd_data` is malformed at byte `at`.
    Payload {
        /// What is wrong.
        what: &'static str,
        /// Byte offset in the payload.
        at: u32,
    },
    /// The NPU's ID register reads as 0 (or all ones): there is no NPU at this address.
    NoNpu {
        /// The value read.
        id: u32,
    },
    /// The NPU's configuration differs from the one the command stream was compiled for.
    ConfigMismatch {
        /// The field, e.g. `macs_per_cc`.
        field: &'static str,
        /// The NPU's value.
        npu: u32,
        /// The command stream's value.
        stream: u32,
    },
    /// The soft reset did not complete, or did not set the requested security/privilege level.
    Reset {
        /// What is wrong.
        what: &'static str,
        /// STATUS or PROT as read.
        value: u32,
    },
    /// The command stream or a region is not 16-byte aligned, or lies outside the NPU's address range.
    Address {
        /// What, e.g. `command stream` or `region 1`.
        what: &'static str,
        /// Its bus address.
        address: u64,
    },
    /// The NPU did not finish within the configured number of polls.
    Timeout {
        /// STATUS at the last poll.
        status: u32,
        /// QREAD at the last poll.
        qread: u32,
    },
    /// The NPU stopped with a fault.
    Fault {
        /// The first fault found in STATUS.
        fault: NpuFault,
        /// STATUS as read.
        status: u32,
        /// QREAD: bytes of the command stream consumed.
        qread: u32,
    },
    /// The NPU finished, but QREAD does not point at the end of the command stream.
    QreadMismatch {
        /// QREAD as read.
        qread: u32,
        /// Command stream length in bytes.
        expected: u32,
    },
    /// The scratch memory given to the backend is too small for the blob.
    ScratchTooSmall {
        /// Which region: 1 scratch, 2 fast scratch.
        region: u8,
        /// Bytes needed.
        needed: usize,
        /// Bytes provided.
        provided: usize,
    },
}

impl fmt::Display for EthosUError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EthosUError::Blob { what, at } => {
                write!(f, "Ethos-U delegate blob: {what} (at byte {at})")
            }
            EthosUError::UnknownBlock { name, at } => {
                write!(f, "Ethos-U delegate blob: unknown block \"{name}\" at byte {at}")
            }
            EthosUError::Block { name, what } => {
                write!(f, "Ethos-U delegate blob: block {name}: {what}")
            }
            EthosUError::ExternalBlock { name } => write!(
                f,
                "Ethos-U delegate blob: block {name} is stored externally (NamedDataMap key); \
                 kiln-rt needs it inline (export without VelaExternalBlockPlacements)"
            ),
            EthosUError::Io { kind, index, what } => {
                write!(f, "Ethos-U delegate {kind} {index}: {what}")
            }
            EthosUError::Payload { what, at } => {
                write!(f, "Ethos-U driver payload (cmd_data): {what} (at byte {at})")
            }
            EthosUError::NoNpu { id } => write!(
                f,
                "no Ethos-U NPU at this address: ID register reads {id:#010x}"
            ),
            EthosUError::ConfigMismatch { field, npu, stream } => write!(
                f,
                "Ethos-U configuration mismatch: {field} is {npu} on the NPU but the command stream was compiled for {stream}"
            ),
            EthosUError::Reset { what, value } => {
                write!(f, "Ethos-U soft reset: {what} (register value {value:#010x})")
            }
            EthosUError::Address { what, address } => write!(
                f,
                "Ethos-U: {what} at bus address {address:#x} is not 16-byte aligned or out of the NPU's address range"
            ),
            EthosUError::Timeout { status, qread } => write!(
                f,
                "Ethos-U did not finish in time (STATUS {status:#010x}, QREAD {qread})"
            ),
            EthosUError::Fault {
                fault,
                status,
                qread,
            } => write!(
                f,
                "Ethos-U fault: {fault} (STATUS {status:#010x}, command stream byte {qread})"
            ),
            EthosUError::QreadMismatch { qread, expected } => write!(
                f,
                "Ethos-U finished at command stream byte {qread}, expected the end at {expected}"
            ),
            EthosUError::ScratchTooSmall {
                region,
                needed,
                provided,
            } => write!(
                f,
                "Ethos-U region {region} needs {needed} bytes of scratch, {provided} provided"
            ),
        }
    }
}
