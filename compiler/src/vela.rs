//! Vela output as an input format: a Vela-optimized `.tflite` (one `ethos-u`
//! custom operator) packaged as a `.pte` whose single instruction is a
//! `DelegateCall` to `EthosUBackend`, with the delegate blob in ExecuTorch's
//! `vela_bin_stream` layout (see `kiln_rt::ethos_u::blob`):
//!
//! - `cmd_data` = the operator's command stream tensor (the `COP1` payload);
//! - `weight_data` = the read-only tensor (region 0);
//! - `scratch_size` = the scratch tensor's size (region 1);
//! - `inputs`/`outputs` = the graph's I/O, each at its scratch offset from the
//!   `OfflineMemoryAllocation` metadata (Vela places graph I/O inside the
//!   scratch arena), shape left-padded with 1s to 6-D.
//!
//! When `scratch_fast` is a tensor of its own (U65 `Dedicated_Sram`), region 2
//! must be provided by the runtime: its size is recorded in the delegate's
//! compile spec `fast_scratch_size` (u32 LE), which ExecuTorch ignores.
//!
//! The `.pte`'s inputs and outputs are the TFLite graph's (int8/uint8/int16,
//! TFLite shapes), planned in memory id 1; the program does nothing but the
//! delegate call. CPU operators around the NPU operator, several NPU
//! operators, and command streams that address the I/O through base pointers
//! 3.. (TFLM's convention, not expressible in ExecuTorch's three-region blob)
//! are rejected with an error that says so.

use crate::error::{CompileError, Result};
use crate::import::tflite::{read_vela_custom_ops, EthosUOp, VelaModel, ETHOS_U_CUSTOM_CODE};
use crate::ir::DType;
use crate::pte::{DataLocation, ProgramBuilder, ScalarType, Storage, TensorSpec};
use kiln_rt::ethos_u::blob::BlobParts;
use kiln_rt::ethos_u::disasm::regions_used;
use kiln_rt::ethos_u::payload::Payload;
use std::path::Path;

/// The delegate id ExecuTorch's Arm backend uses.
pub const BACKEND_ID: &str = kiln_rt::ethos_u::BACKEND_ID;
/// Compile-spec key recording the fast scratch (region 2) size when it is not the scratch.
pub const FAST_SCRATCH_SPEC: &str = kiln_rt::ethos_u::backend::FAST_SCRATCH_SPEC;

/// True when `bytes` is a TFLite model whose operators are all Vela's `ethos-u`
/// custom operator (how `kiln compile` recognizes Vela output).
pub fn is_vela_tflite(path: &Path, bytes: &[u8]) -> bool {
    // A Vela model names its NPU operator's custom code in its operator codes; without it the
    // full read (as long as the import itself) is skipped.
    bytes.get(4..8) == Some(b"TFL3")
        && crate::import::tflite::has_custom_op(bytes, ETHOS_U_CUSTOM_CODE)
        && read_vela_custom_ops(path, bytes)
            .is_ok_and(|m| m.npu_ops().count() > 0 && m.cpu_ops().count() == 0)
}

/// Packages a Vela-optimized `.tflite` as a `.pte` (see the module docs).
pub fn compile_vela(path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    let m = read_vela_custom_ops(path, bytes)?;
    let unsupported = |node: &str, op_type: &str, reason: String| CompileError::Unsupported {
        path: path.to_path_buf(),
        node: node.to_string(),
        op_type: op_type.to_string(),
        reason,
    };
    if let Some(c) = m.cpu_ops().next() {
        let node = c
            .outputs
            .first()
            .and_then(|&o| m.tensors.get(o))
            .map_or_else(|| format!("operator {}", c.position), |t| t.name.clone());
        return Err(unsupported(
            &node,
            &c.op_type,
            "Vela left this operator for the CPU; kiln packages only models that Vela placed entirely on the NPU (one ethos-u operator)".into(),
        ));
    }
    let npu: Vec<&EthosUOp> = m.npu_ops().collect();
    let op = match npu.as_slice() {
        [op] => *op,
        [] => {
            return Err(malformed(path, "no ethos-u custom operator".into()));
        }
        ops => {
            return Err(unsupported(
                "ethos-u",
                "ethos-u",
                format!("{} ethos-u operators; kiln packages exactly one", ops.len()),
            ))
        }
    };
    if op.ifms != m.inputs || op.ofms != m.outputs {
        return Err(unsupported(
            "ethos-u",
            "ethos-u",
            "the ethos-u operator's feature maps are not exactly the graph's inputs and outputs"
                .into(),
        ));
    }
    let payload = m.bytes(op.command_stream);
    let stream = Payload::parse(payload)
        .map_err(|e| malformed(path, format!("ethos-u command stream tensor: {e}")))?;
    let used = regions_used(stream.command_stream)
        .map_err(|e| malformed(path, format!("ethos-u command stream: {e}")))?;
    if used & !0b111 != 0 {
        return Err(unsupported(
            "ethos-u",
            "ethos-u",
            format!(
                "the command stream addresses base pointer regions {:#010b}; an ExecuTorch delegate provides only 0 (weights), 1 (scratch) and 2 (fast scratch)",
                used
            ),
        ));
    }
    let scratch_size = m.size(op.scratch);
    let fast_size = (op.scratch_fast != op.scratch).then(|| m.size(op.scratch_fast));
    let base = offline(&m, path, op.scratch, "scratch")?;
    let mut io_blocks = Vec::new();
    for (what, list) in [("input", &m.inputs), ("output", &m.outputs)] {
        let mut block = (list.len() as i32).to_le_bytes().to_vec();
        for &t in list.iter() {
            let tensor = &m.tensors[t];
            let at = offline(&m, path, t, what)?;
            let offset = at
                .checked_sub(base)
                .filter(|o| o + tensor.nbytes() <= scratch_size)
                .ok_or_else(|| {
                    unsupported(
                        &tensor.name,
                        "ethos-u",
                        format!(
                            "graph {what} is at arena offset {at}, outside the scratch tensor ({base}..{})",
                            base + scratch_size
                        ),
                    )
                })?;
            if tensor.shape.len() > 6 {
                return Err(unsupported(&tensor.name, "ethos-u", "rank above 6".into()));
            }
            let mut shape = [1i32; 6];
            for (d, &s) in shape[6 - tensor.shape.len()..]
                .iter_mut()
                .zip(&tensor.shape)
            {
                *d = i32::try_from(s).map_err(|_| malformed(path, "dimension too large".into()))?;
            }
            for v in shape
                .iter()
                .chain(&[tensor.dtype.size() as i32, offset as i32, 1])
            {
                block.extend_from_slice(&v.to_le_bytes());
            }
        }
        io_blocks.push(block);
    }
    let weights = m.bytes(op.read_only);
    let scratch_size = u32::try_from(scratch_size)
        .map_err(|_| malformed(path, "scratch larger than 4 GiB".into()))?;
    let parts = BlobParts {
        cmd_data: payload,
        weight_data: weights,
        scratch_size,
        inputs: &io_blocks[0],
        outputs: &io_blocks[1],
    };
    let mut blob = vec![0u8; parts.len()];
    parts
        .write(&mut blob)
        .ok_or_else(|| malformed(path, "a block is larger than 4 GiB".into()))?;

    let mut b = ProgramBuilder::new("forward");
    let mut offset = 0u64;
    let mut values = Vec::new();
    for &t in m.inputs.iter().chain(&m.outputs) {
        let tensor = &m.tensors[t];
        let scalar_type = match tensor.dtype {
            DType::I8 => ScalarType::Char,
            DType::U8 => ScalarType::Byte,
            DType::I16 => ScalarType::Short,
            DType::I32 => ScalarType::Int,
            d => {
                return Err(unsupported(
                    &tensor.name,
                    "ethos-u",
                    format!("graph I/O of type {d} (expected int8, uint8, int16 or int32)"),
                ))
            }
        };
        values.push(b.tensor(TensorSpec {
            scalar_type,
            sizes: tensor.shape.iter().map(|&s| s as i32).collect(),
            dim_order: Vec::new(),
            storage: Storage::Planned {
                memory_id: 1,
                offset,
            },
        }));
        offset += (tensor.nbytes() as u64).div_ceil(16) * 16;
    }
    let mut specs = vec![("output_format".to_string(), b"vela".to_vec())];
    if let Some(f) = fast_size {
        specs.push((
            FAST_SCRATCH_SPEC.to_string(),
            (f as u32).to_le_bytes().to_vec(),
        ));
    }
    let d = b.add_delegate(BACKEND_ID, blob, specs, DataLocation::Inline);
    b.delegate_call(d, &values);
    // Vela's operator is opaque: name what it produces (TFLite names a node by its output),
    // so layer-by-layer comparisons can match the outputs.
    let outputs: Vec<(String, String)> = m
        .outputs
        .iter()
        .enumerate()
        .map(|(j, &t)| (m.tensors[t].name.clone(), format!("output {j}")))
        .collect();
    let frames: Vec<(&str, &str)> = outputs
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_str()))
        .collect();
    b.set_source_frames(&frames);
    let n_in = m.inputs.len();
    b.set_inputs(&values[..n_in]);
    b.set_outputs(&values[n_in..]);
    b.set_non_const_buffer_sizes(&[offset as i64]);
    b.finish().map_err(|source| CompileError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn malformed(path: &Path, reason: String) -> CompileError {
    CompileError::Malformed {
        path: path.to_path_buf(),
        format: "Vela TFLite",
        reason,
    }
}

/// Tensor `t`'s arena offset from `OfflineMemoryAllocation`.
fn offline(m: &VelaModel, path: &Path, t: usize, what: &str) -> Result<usize> {
    m.offline_offsets
        .get(t)
        .copied()
        .flatten()
        .map(|o| o as usize)
        .ok_or_else(|| CompileError::Unsupported {
            path: path.to_path_buf(),
            node: m.tensors.get(t).map_or_else(String::new, |x| x.name.clone()),
            op_type: "ethos-u".into(),
            reason: format!(
                "the {what} tensor has no OfflineMemoryAllocation offset; kiln needs Vela's arena placement to locate it in scratch"
            ),
        })
}
