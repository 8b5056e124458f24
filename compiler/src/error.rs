//! Errors of the ahead-of-time compiler. Every variant names the file and,
//! where there is one, the node and operator.

use std::path::PathBuf;
use thiserror::Error;

/// Anything that stops a model from compiling.
#[derive(Debug, Error)]
pub enum CompileError {
    /// The model file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The model file is larger than [`crate::limits::MAX_FILE_BYTES`] (or never ends).
    #[error(transparent)]
    Read(crate::limits::ReadError),
    /// The file is not a well-formed model of its format.
    #[error("{path}: malformed {format} model: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// "ONNX", "TFLite", ".pte".
        format: &'static str,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// The model uses an operator kiln cannot run.
    #[error("{path}: node '{node}': unsupported operator {op_type}: {reason}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Node name.
        node: String,
        /// Operator type as the model spells it.
        op_type: String,
        /// Why (attribute value, dtype, ...).
        reason: String,
    },
    /// `cpu_fallback = false` / `--no-cpu-fallback`, and operators the NPU cannot run (all listed).
    #[error("{path}: cpu_fallback = false, but {} cannot run on the NPU of {target}:{}", if nodes.len() == 1 { "this operator".to_string() } else { format!("these {} operators", nodes.len()) }, nodes.iter().map(|n| format!("\n  node '{}' ({}): {}", n.0, n.1, n.2)).collect::<String>())]
    NpuFallback {
        /// The file.
        path: PathBuf,
        /// The target.
        target: String,
        /// (node, operator type, why the NPU cannot run it).
        nodes: Vec<(String, String, String)>,
    },
    /// `--sram-budget` / `sram_budget`: the NPU's feature maps need more SRAM than allowed.
    #[error("{path}: the Ethos-U feature maps need {needed} bytes of SRAM on {target}, the SRAM budget is {budget} bytes ({} bytes over; kiln does not cascade operations into rolling buffers yet, so raise sram_budget or run part of the model on the CPU)", needed - budget)]
    SramBudget {
        /// The file.
        path: PathBuf,
        /// The target.
        target: String,
        /// Bytes needed.
        needed: usize,
        /// The budget.
        budget: usize,
    },
    /// A node's operands are inconsistent (shapes, dtypes, quantization).
    #[error("{path}: node '{node}' ({op_type}): {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Node name.
        node: String,
        /// Operator type.
        op_type: String,
        /// What is wrong.
        reason: String,
    },
    /// The `.pte` writer rejected what the compiler built (a compiler bug, reported rather than hidden).
    #[error("{path}: cannot write the .pte: {source}")]
    Write {
        /// The model file.
        path: PathBuf,
        /// The writer's complaint.
        source: crate::pte::WriteError,
    },
    /// An option (target, flag) is not valid.
    #[error("invalid option {option}: {reason}")]
    Option {
        /// Option name.
        option: String,
        /// What is wrong (lists the valid values where there is a list).
        reason: String,
    },
}

impl From<crate::limits::ReadError> for CompileError {
    fn from(e: crate::limits::ReadError) -> Self {
        match e {
            crate::limits::ReadError::Io { path, source } => CompileError::Io { path, source },
            too_large => CompileError::Read(too_large),
        }
    }
}

impl CompileError {
    /// `Invalid`: `node` of `g` has inconsistent operands.
    pub fn invalid(
        g: &crate::ir::Graph,
        node: &crate::ir::Node,
        reason: impl Into<String>,
    ) -> Self {
        CompileError::Invalid {
            path: g.source.clone(),
            node: node.name.clone(),
            op_type: node.source_op.clone(),
            reason: reason.into(),
        }
    }

    /// `Unsupported`: kiln has no kernel for `node` of `g` as it stands.
    pub fn unsupported(
        g: &crate::ir::Graph,
        node: &crate::ir::Node,
        reason: impl Into<String>,
    ) -> Self {
        CompileError::Unsupported {
            path: g.source.clone(),
            node: node.name.clone(),
            op_type: node.source_op.clone(),
            reason: reason.into(),
        }
    }
}

/// Result alias for the compiler.
pub type Result<T, E = CompileError> = std::result::Result<T, E>;
