//! Runtime errors. The runtime never panics on data it reads: every problem
//! with a `.pte`, an argument or an input is one of these.
//!
//! `RtError` is `Copy` and has no lifetime so it can cross every API; names
//! that come from the file (operators, backends) are copied into a small
//! inline [`Name`] so they can be displayed without allocation.

use crate::ops::OpKind;
pub use crate::pte::fb::FbError;
use core::fmt;

/// A name copied out of a file (e.g. `aten::convolution.out`), truncated to
/// [`Name::CAPACITY`] bytes (marked with `...`) so errors stay `Copy`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Name {
    bytes: [u8; Name::CAPACITY],
    len: u8,
    truncated: bool,
}

impl Name {
    /// Bytes kept; longer names are truncated at a character boundary.
    pub const CAPACITY: usize = 56;

    /// Copies `parts` joined by `sep` (e.g. name and overload joined by `.`).
    pub fn join(parts: &[&str], sep: &str) -> Name {
        let mut n = Name {
            bytes: [0; Name::CAPACITY],
            len: 0,
            truncated: false,
        };
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                n.push(sep);
            }
            n.push(p);
        }
        n
    }

    /// Copies one string.
    pub fn new(s: &str) -> Name {
        Name::join(&[s], "")
    }

    fn push(&mut self, s: &str) {
        for c in s.chars() {
            let mut b = [0u8; 4];
            let e = c.encode_utf8(&mut b).as_bytes();
            let at = self.len as usize;
            if at + e.len() > Name::CAPACITY {
                self.truncated = true;
                return;
            }
            self.bytes[at..at + e.len()].copy_from_slice(e);
            self.len += e.len() as u8;
        }
    }

    /// The (possibly truncated) text.
    pub fn as_str(&self) -> &str {
        // Only whole UTF-8 characters are ever pushed, so this cannot fail;
        // fall back to "" rather than panic.
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.truncated {
            f.write_str("...")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// Everything that can go wrong loading or running a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtError {
    /// A flatbuffer (the `.pte` program, or a TFLite model) is malformed at `field`.
    Flatbuffer {
        /// What is wrong.
        what: FbError,
        /// The schema field being read, e.g. `Tensor.sizes`.
        field: &'static str,
    },
    /// The buffer does not carry the expected file identifier.
    BadFileIdentifier {
        /// The identifier expected, e.g. `ET12`.
        expected: [u8; 4],
        /// The 4 bytes found (zeros if the buffer is too short).
        found: [u8; 4],
    },
    /// The `eh00` extended header of a `.pte` is corrupt.
    BadExtendedHeader {
        /// What is wrong.
        what: &'static str,
    },
    /// A field of the program holds a value the format does not allow.
    InvalidProgram {
        /// The field or object, e.g. `KernelCall.op_index`.
        field: &'static str,
        /// What is wrong.
        what: &'static str,
        /// The offending value (an index, a tag, a size).
        value: i64,
    },
    /// A piece of data (segment, constant, delegate blob) lies outside the file.
    DataOutOfBounds {
        /// Which piece, e.g. `constant tensor`.
        what: &'static str,
        /// Its index in its table.
        index: u32,
    },
    /// The program uses a construct kiln-rt does not support.
    Unsupported {
        /// The construct, e.g. `MoveCall instruction`.
        what: &'static str,
    },
    /// No execution plan with the requested name.
    PlanNotFound {
        /// The requested plan name.
        name: Name,
    },
    /// More items than a fixed-capacity table of the runtime holds.
    TooMany {
        /// What, e.g. `operators`.
        what: &'static str,
        /// How many the program has.
        count: u32,
        /// The runtime's capacity.
        max: u32,
    },
    /// The program names an operator the kernel table does not provide.
    MissingKernel {
        /// Index in `ExecutionPlan.operators`.
        index: u32,
        /// `name.overload`.
        name: Name,
    },
    /// The arena is smaller than the program's planned memory.
    ArenaTooSmall {
        /// Bytes the plan needs.
        needed: usize,
        /// Bytes provided.
        provided: usize,
    },
    /// The arena does not start on a 16-byte boundary.
    ArenaMisaligned,
    /// A value has another type than an operator or the API expects.
    WrongValueType {
        /// EValue index.
        value: u32,
        /// Expected type, e.g. `Tensor`.
        expected: &'static str,
        /// The EValue tag found (see `pte::Tag`).
        found: u8,
    },
    /// A kernel asked for an argument past the end of its argument list.
    ArgOutOfRange {
        /// The operator.
        op: OpKind,
        /// The argument position.
        arg: u32,
        /// Number of arguments.
        len: u32,
    },
    /// An output tensor's memory overlaps one of the operator's inputs.
    OutputAliasesInput {
        /// The operator.
        op: OpKind,
        /// EValue index of the output.
        value: u32,
    },
    /// A tensor's bytes cannot be viewed as the requested element type.
    TensorView {
        /// EValue index of the tensor (or `u32::MAX` if unknown).
        value: u32,
        /// What is wrong, e.g. `dtype is not FLOAT` or `misaligned`.
        what: &'static str,
    },
    /// An input or output index past the method's inputs/outputs.
    IoIndex {
        /// `input` or `output`.
        what: &'static str,
        /// The index asked for.
        index: u32,
        /// Number of inputs/outputs.
        len: u32,
    },
    /// Data passed to `set_input` has the wrong size.
    InputSize {
        /// Input index.
        index: u32,
        /// Expected bytes.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// A method input has no planned memory to copy into.
    InputNotPlanned {
        /// Input index.
        index: u32,
    },
    /// No backend with the id a `DelegateCall` needs.
    NoBackend {
        /// The delegate's backend id, e.g. `EthosUBackend`.
        id: Name,
    },
    /// A kernel rejected its arguments or data.
    Kernel {
        /// The operator.
        op: OpKind,
        /// What is wrong.
        what: &'static str,
    },
    /// A delegate backend failed.
    Backend {
        /// What is wrong.
        what: &'static str,
    },
    /// The Ethos-U delegate failed (blob, driver payload or NPU).
    EthosU(crate::ethos_u::EthosUError),
    /// `Model::try_take` of an `include_model!` module was called after the model was handed out.
    ModelTaken,
    /// An input or output of an embedded `.pte` does not have the element type and count the
    /// code `include_model!` generated expects (the `.pte` and the generated code disagree).
    ModelIo {
        /// `input` or `output`.
        what: &'static str,
        /// Its index.
        index: u32,
    },
}

fn write_id(f: &mut fmt::Formatter<'_>, id: &[u8; 4]) -> fmt::Result {
    for &b in id {
        if b.is_ascii_graphic() {
            write!(f, "{}", b as char)?;
        } else {
            write!(f, "\\x{b:02x}")?;
        }
    }
    Ok(())
}

impl fmt::Display for RtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtError::Flatbuffer { what, field } => {
                write!(f, "malformed flatbuffer at {field}: {what}")
            }
            RtError::BadFileIdentifier { expected, found } => {
                f.write_str("bad file identifier: expected \"")?;
                write_id(f, expected)?;
                f.write_str("\", found \"")?;
                write_id(f, found)?;
                f.write_str("\"")
            }
            RtError::BadExtendedHeader { what } => {
                write!(f, "corrupt .pte extended header (eh00): {what}")
            }
            RtError::InvalidProgram { field, what, value } => {
                write!(f, "invalid program: {field}: {what} (value {value})")
            }
            RtError::DataOutOfBounds { what, index } => {
                write!(f, "{what} {index} lies outside the file")
            }
            RtError::Unsupported { what } => write!(f, "unsupported by kiln-rt: {what}"),
            RtError::PlanNotFound { name } => write!(f, "no execution plan named \"{name}\""),
            RtError::TooMany { what, count, max } => {
                write!(
                    f,
                    "too many {what}: {count} (kiln-rt supports at most {max})"
                )
            }
            RtError::MissingKernel { index, name } => {
                write!(
                    f,
                    "operator {index} ({name}) has no kernel in the kernel table"
                )
            }
            RtError::ArenaTooSmall { needed, provided } => {
                write!(
                    f,
                    "arena too small: the plan needs {needed} bytes, {provided} provided"
                )
            }
            RtError::ArenaMisaligned => f.write_str("arena must start on a 16-byte boundary"),
            RtError::ModelTaken => f.write_str("the model was already taken (Model::take hands it out once)"),
            RtError::ModelIo { what, index } => write!(
                f,
                "{what} {index} of the embedded .pte does not match the type include_model! generated"
            ),
            RtError::WrongValueType {
                value,
                expected,
                found,
            } => {
                write!(f, "value {value} is not a {expected} (EValue tag {found})")
            }
            RtError::ArgOutOfRange { op, arg, len } => {
                write!(f, "{op}: argument {arg} out of range ({len} arguments)")
            }
            RtError::OutputAliasesInput { op, value } => {
                write!(f, "{op}: output value {value} overlaps an input")
            }
            RtError::TensorView { value, what } => write!(f, "tensor value {value}: {what}"),
            RtError::IoIndex { what, index, len } => {
                write!(f, "{what} {index} out of range ({len} {what}s)")
            }
            RtError::InputSize {
                index,
                expected,
                got,
            } => {
                write!(f, "input {index}: expected {expected} bytes, got {got}")
            }
            RtError::InputNotPlanned { index } => write!(f, "input {index} has no planned memory"),
            RtError::NoBackend { id } => write!(f, "no backend {id}"),
            RtError::Kernel { op, what } => write!(f, "{op}: {what}"),
            RtError::Backend { what } => write!(f, "backend: {what}"),
            RtError::EthosU(e) => e.fmt(f),
        }
    }
}

impl From<kiln_ethos_u::EthosUError> for RtError {
    fn from(e: kiln_ethos_u::EthosUError) -> Self {
        RtError::EthosU(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn names_truncate_on_char_boundary_and_display() {
        let n = Name::join(&["aten::convolution", "out"], ".");
        assert_eq!(n.as_str(), "aten::convolution.out");
        let long = "é".repeat(40); // 80 bytes
        let n = Name::new(&long);
        assert_eq!(n.as_str().len(), 56);
        assert!(n.to_string().ends_with("..."));
        let e = RtError::MissingKernel {
            index: 3,
            name: Name::join(&["foo::bar", "out"], "."),
        };
        assert_eq!(
            e.to_string(),
            "operator 3 (foo::bar.out) has no kernel in the kernel table"
        );
        let e = RtError::BadFileIdentifier {
            expected: *b"ET12",
            found: [b'T', b'F', b'L', 0],
        };
        assert_eq!(
            e.to_string(),
            "bad file identifier: expected \"ET12\", found \"TFL\\x00\""
        );
    }
}
