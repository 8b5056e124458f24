//! Reading Vela-optimized `.tflite` files: the `ethos-u` custom operator.
//!
//! Vela (`ethosu/vela/npu_serialisation.py`, `rewrite_npu_call_ops`) replaces
//! every NPU subgraph by one `CUSTOM` operator with `custom_code = "ethos-u"`
//! and prepends four tensors to its inputs, so the operands are:
//!
//! | input | tensor | contents | NPU base-pointer region |
//! |---|---|---|---|
//! | 0 | `*_command_stream` | constant `uint8[N]`: the driver payload, fourcc `COP1`, config/ID words, then the register command stream | (passed separately) |
//! | 1 | `*_flash` / `read_only` | constant `uint8[M]`: encoded weights, scales/biases, LUTs | 0 |
//! | 2 | `*_scratch` | `uint8[S]`, no data: the NPU's working memory in the tensor arena | 1 |
//! | 3 | `*_scratch_fast` | `uint8[F]`, no data: fast scratch (in `Shared_Sram` mode the same tensor index as input 2) | 2 |
//! | 4.. | network IFMs | the graph inputs of the NPU subgraph | 3.. |
//! | outputs | network OFMs | | after the IFMs |
//!
//! The region numbering is what TFLite Micro's `ethosu.cc` kernel passes to
//! `ethosu_invoke_v3`: base address `n` is input `n + 1`, then the outputs,
//! at most 8. The custom options are the FlexBuffer scalar `1`
//! (`CO_TYPE_ETHOSU`). Vela also writes an `OfflineMemoryAllocation` metadata
//! entry (`[version, subgraphs, tensors, offset per tensor...]`, -1 = let the
//! runtime place it) that puts the graph I/O inside the scratch arena.

use super::model::{malformed, Model, OpCode};
use crate::error::CompileError;
use crate::ir::{DType, Tensor};
use std::path::{Path, PathBuf};

/// Custom code of Vela's NPU operator.
pub const ETHOS_U_CUSTOM_CODE: &str = "ethos-u";
/// The driver payload's fourcc (`driver_actions.py`), little-endian `"COP1"`.
pub const COP1: &[u8; 4] = b"COP1";
/// Most base addresses the Ethos-U driver takes (TFLM's `ethosu.cc`).
pub const MAX_REGIONS: usize = 8;

/// A Vela-optimized model: subgraph 0's tensors and operators, NPU and CPU.
#[derive(Clone, Debug, PartialEq)]
pub struct VelaModel {
    /// The file (for errors).
    pub source: PathBuf,
    /// `Model.description` (Vela writes "Vela Optimised").
    pub description: Option<String>,
    /// All tensors of subgraph 0, constant data attached (indexed by the op operand indices).
    pub tensors: Vec<Tensor>,
    /// Graph inputs (tensor indices).
    pub inputs: Vec<usize>,
    /// Graph outputs (tensor indices).
    pub outputs: Vec<usize>,
    /// Operators in execution order.
    pub ops: Vec<VelaOp>,
    /// Arena offset per tensor from the `OfflineMemoryAllocation` metadata (`None` = runtime-placed);
    /// empty when the file has no such metadata.
    pub offline_offsets: Vec<Option<u32>>,
}

/// One operator of a Vela-optimized model.
#[derive(Clone, Debug, PartialEq)]
pub enum VelaOp {
    /// An `ethos-u` custom operator (NPU).
    EthosU(EthosUOp),
    /// Any other operator, left for the CPU.
    Cpu(CpuOp),
}

/// The operands of one `ethos-u` custom operator (tensor indices into [`VelaModel::tensors`]).
#[derive(Clone, Debug, PartialEq)]
pub struct EthosUOp {
    /// Position in the operator list.
    pub position: usize,
    /// Input 0: the COP1 driver payload with the register command stream (constant).
    pub command_stream: usize,
    /// Input 1: the read-only (flash) tensor, region 0 (constant: weights, scales, LUTs).
    pub read_only: usize,
    /// Input 2: scratch, region 1 (arena; no data).
    pub scratch: usize,
    /// Input 3: fast scratch, region 2 (often the same tensor as `scratch`).
    pub scratch_fast: usize,
    /// Inputs 4..: the network input feature maps, regions 3...
    pub ifms: Vec<usize>,
    /// The network output feature maps (regions after the IFMs).
    pub ofms: Vec<usize>,
    /// The raw custom options (FlexBuffer `1`).
    pub custom_options: Vec<u8>,
}

impl EthosUOp {
    /// Tensor index per NPU base-pointer region, in region order (at most [`MAX_REGIONS`]).
    pub fn regions(&self) -> Vec<usize> {
        let mut r = vec![self.read_only, self.scratch, self.scratch_fast];
        r.extend(&self.ifms);
        r.extend(&self.ofms);
        r.truncate(MAX_REGIONS);
        r
    }
}

/// A non-NPU operator around the NPU part.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuOp {
    /// Position in the operator list.
    pub position: usize,
    /// TFLite operator name (builtin name or custom code).
    pub op_type: String,
    /// Operand tensor indices (`None` = absent optional operand).
    pub inputs: Vec<Option<usize>>,
    /// Result tensor indices.
    pub outputs: Vec<usize>,
}

impl VelaModel {
    /// The `ethos-u` operators, in order.
    pub fn npu_ops(&self) -> impl Iterator<Item = &EthosUOp> {
        self.ops.iter().filter_map(|o| match o {
            VelaOp::EthosU(e) => Some(e),
            VelaOp::Cpu(_) => None,
        })
    }

    /// The CPU operators, in order.
    pub fn cpu_ops(&self) -> impl Iterator<Item = &CpuOp> {
        self.ops.iter().filter_map(|o| match o {
            VelaOp::Cpu(c) => Some(c),
            VelaOp::EthosU(_) => None,
        })
    }

    /// The constant bytes of tensor `i` (empty when it has none).
    pub fn bytes(&self, i: usize) -> &[u8] {
        self.tensors
            .get(i)
            .and_then(|t| t.data.as_deref())
            .unwrap_or(&[])
    }

    /// Size in bytes of tensor `i` (0 for an unknown index).
    pub fn size(&self, i: usize) -> usize {
        self.tensors.get(i).map_or(0, Tensor::nbytes)
    }
}

/// Reads every `ethos-u` custom operator (and the CPU operators around them) of a Vela-optimized `.tflite`.
pub fn read_vela_custom_ops(path: &Path, bytes: &[u8]) -> Result<VelaModel, CompileError> {
    let m = Model::read(path, bytes)?;
    let mut ops = Vec::with_capacity(m.operators.len());
    for op in &m.operators {
        match &op.code {
            OpCode::Custom(c) if c == ETHOS_U_CUSTOM_CODE => {
                ops.push(VelaOp::EthosU(ethos_u_op(path, &m, op)?))
            }
            code => ops.push(VelaOp::Cpu(CpuOp {
                position: op.index,
                op_type: code.name(),
                inputs: op.inputs.clone(),
                outputs: op.outputs.clone(),
            })),
        }
    }
    let offline_offsets = match m.metadata("OfflineMemoryAllocation") {
        Some(d) => offline_offsets(path, d, m.tensors.len())?,
        None => Vec::new(),
    };
    Ok(VelaModel {
        source: path.to_path_buf(),
        description: m.description,
        tensors: m.tensors,
        inputs: m.inputs,
        outputs: m.outputs,
        ops,
        offline_offsets,
    })
}

fn ethos_u_op(
    path: &Path,
    m: &Model<'_>,
    op: &super::model::Operator<'_>,
) -> Result<EthosUOp, CompileError> {
    let name = |i: usize| m.tensors.get(i).map_or("?", |t| t.name.as_str());
    let ctx = || format!("ethos-u operator {}", op.index);
    if op.inputs.len() < 4 {
        return Err(malformed(
            path,
            format!("{}: {} inputs, expected command stream, read-only, scratch, scratch_fast and the IFMs", ctx(), op.inputs.len()),
        ));
    }
    let mut idx = Vec::with_capacity(op.inputs.len());
    for (k, i) in op.inputs.iter().enumerate() {
        idx.push(i.ok_or_else(|| malformed(path, format!("{}: input {k} is absent (-1)", ctx())))?);
    }
    let (cs, ro, scratch, fast) = (idx[0], idx[1], idx[2], idx[3]);
    // Operand tensors were checked to exist when the model was read.
    for (role, i, constant) in [
        ("command stream", cs, true),
        ("read-only", ro, true),
        ("scratch", scratch, false),
        ("scratch_fast", fast, false),
    ] {
        let t = &m.tensors[i];
        if t.dtype != DType::U8 && t.dtype != DType::I8 {
            return Err(malformed(
                path,
                format!(
                    "{}: {role} tensor '{}' is {}, expected a byte tensor",
                    ctx(),
                    name(i),
                    t.dtype
                ),
            ));
        }
        if constant && t.data.is_none() && t.nbytes() != 0 {
            return Err(malformed(
                path,
                format!(
                    "{}: {role} tensor '{}' has no constant data",
                    ctx(),
                    name(i)
                ),
            ));
        }
        if !constant && t.data.is_some() {
            return Err(malformed(
                path,
                format!(
                    "{}: {role} tensor '{}' must not be constant",
                    ctx(),
                    name(i)
                ),
            ));
        }
    }
    let payload = m.tensors[cs].data.as_deref().unwrap_or(&[]);
    if payload.get(..4) != Some(COP1.as_slice()) {
        return Err(malformed(
            path,
            format!(
                "{}: command stream '{}' does not start with the COP1 driver header",
                ctx(),
                name(cs)
            ),
        ));
    }
    let custom = op.custom_options.unwrap_or(&[]);
    match flexbuffer_scalar(custom) {
        Some(1) => {}
        Some(v) => {
            return Err(CompileError::Unsupported {
                path: path.to_path_buf(),
                node: m
                    .tensors
                    .get(op.outputs.first().copied().unwrap_or(usize::MAX))
                    .map_or_else(ctx, |t| t.name.clone()),
                op_type: ETHOS_U_CUSTOM_CODE.into(),
                reason: format!(
                    "custom options select co-processor type {v}, only 1 (CO_TYPE_ETHOSU) exists"
                ),
            })
        }
        None => {
            return Err(malformed(
                path,
                format!(
                    "{}: custom_options {custom:02x?} are not a FlexBuffer integer",
                    ctx()
                ),
            ))
        }
    }
    Ok(EthosUOp {
        position: op.index,
        command_stream: cs,
        read_only: ro,
        scratch,
        scratch_fast: fast,
        ifms: idx[4..].to_vec(),
        ofms: op.outputs.clone(),
        custom_options: custom.to_vec(),
    })
}

/// Decodes a FlexBuffer whose root is an integer scalar (what TFLM's `root.AsInt8()` reads).
///
/// Layout: `[value (w bytes)] [packed type] [root byte width w]`; the packed
/// type is `(type << 2) | bit_width`, with type 1 = INT, 2 = UINT.
fn flexbuffer_scalar(b: &[u8]) -> Option<i64> {
    let (&width, rest) = b.split_last()?;
    let (&packed, rest) = rest.split_last()?;
    let w = usize::from(width);
    if !matches!(w, 1 | 2 | 4 | 8) {
        return None;
    }
    let v = rest.get(rest.len().checked_sub(w)?..)?;
    let mut le = [0u8; 8];
    le[..w].copy_from_slice(v);
    let raw = u64::from_le_bytes(le);
    match packed >> 2 {
        // Sign-extend an INT of w bytes.
        1 => Some(((raw << (64 - 8 * w)) as i64) >> (64 - 8 * w)),
        2 => i64::try_from(raw).ok(),
        _ => None,
    }
}

/// Parses `OfflineMemoryAllocation`: int32 `[version 0, n_subgraphs, n_tensors, offset per tensor...]`.
fn offline_offsets(
    path: &Path,
    d: &[u8],
    n_tensors: usize,
) -> Result<Vec<Option<u32>>, CompileError> {
    let words: Vec<i32> = d
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let bad = |why: String| malformed(path, format!("metadata OfflineMemoryAllocation: {why}"));
    let [version, _subgraphs, n, offsets @ ..] = words.as_slice() else {
        return Err(bad(format!(
            "{} bytes, too short for its 3-word header",
            d.len()
        )));
    };
    if *version != 0 {
        return Err(bad(format!("version {version}, only 0 exists")));
    }
    // The offsets cover the tensors of all subgraphs, subgraph 0 first.
    let n = usize::try_from(*n).map_err(|_| bad(format!("tensor count {n}")))?;
    if n < n_tensors || offsets.len() < n_tensors {
        return Err(bad(format!(
            "{n} offsets ({} present) for {n_tensors} tensors of subgraph 0",
            offsets.len()
        )));
    }
    offsets[..n_tensors]
        .iter()
        .map(|&o| match o {
            -1 => Ok(None),
            o => u32::try_from(o)
                .map(Some)
                .map_err(|_| bad(format!("offset {o}"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flexbuffer_scalars() {
        assert_eq!(flexbuffer_scalar(&[1, 4, 1]), Some(1)); // what Vela writes
        assert_eq!(flexbuffer_scalar(&[0xff, 4, 1]), Some(-1));
        assert_eq!(flexbuffer_scalar(&[0x34, 0x12, 5, 2]), Some(0x1234)); // INT, width 2
        assert_eq!(flexbuffer_scalar(&[7, 8, 1]), Some(7)); // UINT
        assert_eq!(flexbuffer_scalar(&[1, 0x14, 1]), None); // STRING-ish type
        assert_eq!(flexbuffer_scalar(&[1, 4, 3]), None); // bad width
        assert_eq!(flexbuffer_scalar(&[4, 1]), None); // value missing
        assert_eq!(flexbuffer_scalar(&[]), None);
    }

    #[test]
    fn offline_allocation() {
        let words = |w: &[i32]| w.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
        let p = Path::new("m.tflite");
        assert_eq!(
            offline_offsets(p, &words(&[0, 1, 3, -1, 0, 16]), 3).unwrap(),
            vec![None, Some(0), Some(16)]
        );
        assert!(offline_offsets(p, &words(&[0, 1]), 0).is_err());
        assert!(offline_offsets(p, &words(&[1, 1, 0]), 0).is_err());
        assert!(offline_offsets(p, &words(&[0, 1, 3, -1, 0]), 3).is_err());
        assert!(offline_offsets(p, &words(&[0, 1, 1, -7]), 1).is_err());
    }
}
