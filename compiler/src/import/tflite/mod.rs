//! TFLite flatbuffer importer.
//!
//! [`import`] turns subgraph 0 of a `.tflite` file into an [`ir::Graph`]:
//! tensors with dtype, static shape, (per-channel) quantization and constant
//! data, graph inputs/outputs, and one node per operator. The file is
//! untrusted: it is read through the checked [`kiln_rt::pte::fb`] reader and
//! every defect is a [`CompileError::Malformed`] naming the field. Operators
//! or options kiln cannot run are [`CompileError::Unsupported`] naming the
//! operator, the node (its first output tensor's name) and the file.
//!
//! Vela-optimized files (one `ethos-u` custom operator holding an NPU command
//! stream) are not IR: [`read_vela_custom_ops`] exposes their operands.
//!
//! [`ir::Graph`]: crate::ir::Graph

mod model;
mod ops;
pub mod schema;
mod vela;

#[cfg(test)]
mod tests;

pub use model::has_custom_op;
pub use vela::{
    read_vela_custom_ops, CpuOp, EthosUOp, VelaModel, VelaOp, COP1, ETHOS_U_CUSTOM_CODE,
    MAX_REGIONS,
};

use crate::error::CompileError;
use crate::ir::{Graph, TensorId};
use std::path::Path;

/// Imports subgraph 0 of the TFLite model `bytes` (read from `path`, which errors name).
///
/// Constant operands that TFLite passes as tensors but the IR keeps as
/// attributes (reshape shapes, mean axes, paddings, permutations, resize
/// sizes) are folded and the tensors dropped.
pub fn import(path: &Path, bytes: &[u8]) -> Result<Graph, CompileError> {
    let m = model::Model::read(path, bytes)?;
    let mut nodes = Vec::with_capacity(m.operators.len());
    for op in &m.operators {
        nodes.push(ops::convert(&ops::OpCtx::new(path, &m, op))?);
    }
    let mut g = Graph {
        source: path.to_path_buf(),
        int_semantics: crate::ir::IntSemantics::TfliteMicro,
        tensors: m.tensors,
        nodes,
        inputs: m.inputs.into_iter().map(TensorId).collect(),
        outputs: m.outputs.into_iter().map(TensorId).collect(),
    };
    g.compact();
    Ok(g)
}
