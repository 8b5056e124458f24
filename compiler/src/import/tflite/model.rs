//! Checked reading of a `.tflite` flatbuffer into plain owned values.
//!
//! Everything the importer and the Vela reader need from subgraph 0 is pulled
//! out here, once, through the bounds-checked [`kiln_rt::pte::fb`] reader:
//! operator codes, tensors (dtype, shape, quantization, constant bytes),
//! graph I/O, operators (operands, builtin options table, custom options) and
//! metadata. Every defect becomes [`CompileError::Malformed`] naming the file
//! and the schema field; types kiln has no dtype for become
//! [`CompileError::Unsupported`] naming the tensor.

use super::schema::{
    self, buffer, metadata, model, operator, operator_code, quantization, subgraph, tensor,
};
use crate::error::CompileError;
use crate::ir::{Quant, Tensor};
use kiln_rt::pte::fb::{self, Field, Table, Tables};
use kiln_rt::RtError;
use std::path::Path;

/// The TFLite file identifier (bytes 4..8).
const IDENTIFIER: &[u8; 4] = b"TFL3";
/// The only schema version TFLite itself accepts (`TFLITE_SCHEMA_VERSION`).
const SCHEMA_VERSION: u32 = 3;
/// Largest tensor kiln accepts (bytes); bounds shape products from hostile files.
const MAX_TENSOR_BYTES: usize = 1 << 31;

/// `CompileError::Malformed` for a TFLite file.
pub(super) fn malformed(path: &Path, reason: impl Into<String>) -> CompileError {
    CompileError::Malformed {
        path: path.to_path_buf(),
        format: "TFLite",
        reason: reason.into(),
    }
}

/// Maps a flatbuffer reader error (which names the field) to `Malformed`.
fn fb_err(path: &Path) -> impl Fn(RtError) -> CompileError + '_ {
    move |e| malformed(path, e.to_string())
}

/// An operator code: a builtin operator or a named custom one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum OpCode {
    /// `BuiltinOperator` value (never `CUSTOM`).
    Builtin(i32),
    /// `CUSTOM` with its `custom_code`.
    Custom(String),
}

impl OpCode {
    /// The name as TFLite spells it: builtin name, or the custom code.
    pub(super) fn name(&self) -> String {
        match self {
            OpCode::Builtin(c) => schema::builtin_name(*c),
            OpCode::Custom(s) => s.clone(),
        }
    }
}

/// One operator of subgraph 0.
#[derive(Clone, Debug)]
pub(super) struct Operator<'a> {
    /// Position in the subgraph's operator list.
    pub index: usize,
    /// What it computes.
    pub code: OpCode,
    /// Operand tensor indices (`None` = TFLite's -1, an absent optional operand).
    pub inputs: Vec<Option<usize>>,
    /// Result tensor indices.
    pub outputs: Vec<usize>,
    /// `builtin_options`: union tag and table.
    pub options: Option<(u8, Table<'a>)>,
    /// `custom_options` bytes (in place or from the large-model offset).
    pub custom_options: Option<&'a [u8]>,
}

/// Subgraph 0 of a model, read and checked.
#[derive(Clone, Debug)]
pub(super) struct Model<'a> {
    /// `Model.description`.
    pub description: Option<String>,
    /// Tensors of subgraph 0, constant data attached.
    pub tensors: Vec<Tensor>,
    /// Graph inputs (tensor indices).
    pub inputs: Vec<usize>,
    /// Graph outputs (tensor indices).
    pub outputs: Vec<usize>,
    /// Operators in execution order.
    pub operators: Vec<Operator<'a>>,
    /// `Model.metadata`: name and the bytes of its buffer.
    pub metadata: Vec<(String, &'a [u8])>,
}

/// Reads the model buffers' table vector lazily: buffer `i`'s bytes.
struct Buffers<'a, 'p> {
    path: &'p Path,
    file: &'a [u8],
    list: Option<Tables<'a>>,
}

impl<'a> Buffers<'a, '_> {
    /// The bytes of buffer `index` (empty for buffer 0, the sentinel, and for absent data).
    fn get(&self, index: u32, field: &str) -> Result<&'a [u8], CompileError> {
        let path = self.path;
        let Some(list) = self.list else {
            if index == 0 {
                return Ok(&[]);
            }
            return Err(malformed(
                path,
                format!("{field} = {index}, but Model.buffers is absent"),
            ));
        };
        if index as usize >= list.len() {
            return Err(malformed(
                path,
                format!(
                    "{field} = {index} is past the end of Model.buffers ({} entries)",
                    list.len()
                ),
            ));
        }
        let b = list.get(index as usize).map_err(fb_err(path))?;
        let data = b
            .get_bytes(buffer::DATA)
            .map_err(fb_err(path))?
            .unwrap_or(&[]);
        if !data.is_empty() {
            return Ok(data);
        }
        // Files over 2 GiB keep data outside the flatbuffer: `offset` from the
        // start of the file. TFLite treats offset 0 and 1 as "not used" (1 is
        // the placeholder the converter writes before patching).
        let offset = b.get_u64(buffer::OFFSET, 0).map_err(fb_err(path))?;
        if offset <= 1 {
            return Ok(&[]);
        }
        let size = b.get_u64(buffer::SIZE, 0).map_err(fb_err(path))?;
        let range = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(o, s)| Some(o..o.checked_add(s)?));
        range.and_then(|r| self.file.get(r)).ok_or_else(|| {
            malformed(
                path,
                format!(
                    "Buffer {index}: offset {offset} + size {size} lies outside the file ({} bytes)",
                    self.file.len()
                ),
            )
        })
    }
}

impl<'a> Model<'a> {
    /// Reads and checks subgraph 0 of `bytes` (`path` names the file in errors).
    pub(super) fn read(path: &Path, bytes: &'a [u8]) -> Result<Model<'a>, CompileError> {
        let fbe = fb_err(path);
        if bytes.is_empty() {
            return Err(malformed(path, "the file is empty"));
        }
        let buf = fb::Buffer::new(bytes).map_err(|_| {
            malformed(
                path,
                format!(
                    "the file is {} bytes long, too short for a flatbuffer",
                    bytes.len()
                ),
            )
        })?;
        match buf.file_identifier() {
            Some(id) if id == IDENTIFIER => {}
            Some(id) => {
                return Err(malformed(
                    path,
                    format!(
                        "file identifier is {:?}, expected \"TFL3\" (not a TFLite flatbuffer)",
                        String::from_utf8_lossy(id)
                    ),
                ))
            }
            None => {
                return Err(malformed(
                    path,
                    "the file is too short to hold the \"TFL3\" file identifier",
                ))
            }
        }
        let root = buf.root("Model").map_err(&fbe)?;
        let version = root.get_u32(model::VERSION, 0).map_err(&fbe)?;
        if version != SCHEMA_VERSION {
            return Err(malformed(
                path,
                format!("Model.version is {version}, only schema version {SCHEMA_VERSION} exists"),
            ));
        }
        let description = root
            .get_str(model::DESCRIPTION)
            .map_err(&fbe)?
            .map(str::to_string);
        let buffers = Buffers {
            path,
            file: bytes,
            list: root.get_tables(model::BUFFERS).map_err(&fbe)?,
        };

        let codes = read_opcodes(path, &root)?;

        let subgraphs = fb::required(
            root.get_tables(model::SUBGRAPHS).map_err(&fbe)?,
            model::SUBGRAPHS,
        )
        .map_err(&fbe)?;
        if subgraphs.is_empty() {
            return Err(malformed(path, "Model.subgraphs is empty"));
        }
        let sg = subgraphs.get(0).map_err(&fbe)?;
        let tensor_list = sg.get_tables(subgraph::TENSORS).map_err(&fbe)?;
        let mut tensors = Vec::new();
        if let Some(list) = tensor_list {
            for i in 0..list.len() {
                let t = list.get(i).map_err(&fbe)?;
                tensors.push(read_tensor(path, &buffers, &t, i)?);
            }
        }
        let n = tensors.len();
        let inputs = tensor_indices(path, &sg, subgraph::INPUTS, n)?;
        let outputs = tensor_indices(path, &sg, subgraph::OUTPUTS, n)?;

        let mut operators = Vec::new();
        if let Some(list) = sg.get_tables(subgraph::OPERATORS).map_err(&fbe)? {
            for i in 0..list.len() {
                let op = list.get(i).map_err(&fbe)?;
                operators.push(read_operator(path, bytes, &op, i, &codes, n)?);
            }
        }

        let mut meta = Vec::new();
        if let Some(list) = root.get_tables(model::METADATA).map_err(&fbe)? {
            for i in 0..list.len() {
                let m = list.get(i).map_err(&fbe)?;
                let name = m
                    .get_str(metadata::NAME)
                    .map_err(&fbe)?
                    .unwrap_or("")
                    .to_string();
                let index = m.get_u32(metadata::BUFFER, 0).map_err(&fbe)?;
                let data = buffers.get(index, &format!("Metadata[{i}] ('{name}').buffer"))?;
                meta.push((name, data));
            }
        }

        Ok(Model {
            description,
            tensors,
            inputs,
            outputs,
            operators,
            metadata: meta,
        })
    }

    /// The bytes of the metadata entry called `name`, if there is one.
    pub(super) fn metadata(&self, name: &str) -> Option<&'a [u8]> {
        self.metadata
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| *d)
    }
}

/// Whether the model's operator codes include the custom operator `code`: read from the
/// header and the code table only (deciding how to import a file without reading it twice).
pub fn has_custom_op(bytes: &[u8], code: &str) -> bool {
    let Ok(buf) = fb::Buffer::new(bytes) else {
        return false;
    };
    if buf.file_identifier() != Some(IDENTIFIER) {
        return false;
    }
    let Ok(root) = buf.root("Model") else {
        return false;
    };
    read_opcodes(Path::new(""), &root).is_ok_and(|codes| {
        codes
            .iter()
            .any(|c| matches!(c, OpCode::Custom(n) if n == code))
    })
}

/// `Model.operator_codes`, with the effective code `max(deprecated_builtin_code, builtin_code)`.
fn read_opcodes(path: &Path, root: &Table<'_>) -> Result<Vec<OpCode>, CompileError> {
    let fbe = fb_err(path);
    let mut codes = Vec::new();
    if let Some(list) = root.get_tables(model::OPERATOR_CODES).map_err(&fbe)? {
        for i in 0..list.len() {
            let c = list.get(i).map_err(&fbe)?;
            let deprecated = c
                .get_i8(operator_code::DEPRECATED_BUILTIN_CODE, 0)
                .map_err(&fbe)?;
            let builtin = c.get_i32(operator_code::BUILTIN_CODE, 0).map_err(&fbe)?;
            // Old files only set the i8 field, new ones both (the i8 saturated at 127):
            // the larger one is the real code, as in TFLite's GetBuiltinCode.
            let code = builtin.max(i32::from(deprecated));
            codes.push(if code == schema::builtin::CUSTOM {
                let name = c.get_str(operator_code::CUSTOM_CODE).map_err(&fbe)?;
                let name = name.ok_or_else(|| {
                    malformed(
                        path,
                        format!("OperatorCode[{i}] is CUSTOM but has no custom_code"),
                    )
                })?;
                OpCode::Custom(name.to_string())
            } else {
                OpCode::Builtin(code)
            });
        }
    }
    Ok(codes)
}

/// A `[int]` vector of tensor indices (all must exist).
fn tensor_indices(
    path: &Path,
    t: &Table<'_>,
    f: Field,
    n: usize,
) -> Result<Vec<usize>, CompileError> {
    let Some(v) = t.get_vector::<i32>(f).map_err(fb_err(path))? else {
        return Ok(Vec::new());
    };
    v.iter()
        .map(|i| {
            usize::try_from(i).ok().filter(|&i| i < n).ok_or_else(|| {
                malformed(
                    path,
                    format!(
                        "{} refers to tensor {i}, but subgraph 0 has {n} tensors",
                        f.name
                    ),
                )
            })
        })
        .collect()
}

/// One `Tensor` table -> IR tensor (constant data attached, length checked).
fn read_tensor(
    path: &Path,
    buffers: &Buffers<'_, '_>,
    t: &Table<'_>,
    i: usize,
) -> Result<Tensor, CompileError> {
    let fbe = fb_err(path);
    let name = match t.get_str(tensor::NAME).map_err(&fbe)? {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => format!("tensor{i}"),
    };
    let raw_type = t.get_i8(tensor::TYPE, 0).map_err(&fbe)?;
    let dtype = schema::dtype(raw_type).map_err(|ty| CompileError::Unsupported {
        path: path.to_path_buf(),
        node: name.clone(),
        op_type: "tensor".into(),
        reason: format!("element type {ty} ({raw_type}) is not supported"),
    })?;
    let mut shape = Vec::new();
    if let Some(v) = t.get_vector::<i32>(tensor::SHAPE).map_err(&fbe)? {
        for d in v.iter() {
            let d = usize::try_from(d).map_err(|_| CompileError::Unsupported {
                path: path.to_path_buf(),
                node: name.clone(),
                op_type: "tensor".into(),
                reason: format!(
                    "dimension {d} in shape {:?}: only static shapes are supported",
                    v.iter().collect::<Vec<_>>()
                ),
            })?;
            shape.push(d);
        }
    }
    let nbytes = shape
        .iter()
        .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
        .filter(|&b| b <= MAX_TENSOR_BYTES)
        .ok_or_else(|| {
            malformed(
                path,
                format!("tensor '{name}': shape {shape:?} is too large"),
            )
        })?;
    if t.has(tensor::SPARSITY).map_err(&fbe)? {
        return Err(CompileError::Unsupported {
            path: path.to_path_buf(),
            node: name,
            op_type: "tensor".into(),
            reason: "sparse tensors are not supported".into(),
        });
    }
    let quant = match t.get_table(tensor::QUANTIZATION).map_err(&fbe)? {
        Some(q) => read_quant(path, &q, &name, &shape)?,
        None => None,
    };
    let index = t.get_u32(tensor::BUFFER, 0).map_err(&fbe)?;
    let bytes = buffers.get(index, &format!("Tensor '{name}'.buffer"))?;
    let data = if bytes.is_empty() {
        None
    } else if bytes.len() != nbytes {
        return Err(malformed(
            path,
            format!(
                "tensor '{name}' ({dtype} {shape:?}) needs {nbytes} bytes, but its buffer {index} holds {}",
                bytes.len()
            ),
        ));
    } else {
        Some(bytes.to_vec())
    };
    Ok(Tensor {
        name,
        dtype,
        shape,
        quant,
        data,
    })
}

/// `QuantizationParameters` -> [`Quant`] (`None` when there is no scale/zero point, as in TFLite).
fn read_quant(
    path: &Path,
    q: &Table<'_>,
    name: &str,
    shape: &[usize],
) -> Result<Option<Quant>, CompileError> {
    let fbe = fb_err(path);
    if q.get_u8(quantization::DETAILS_TYPE, 0).map_err(&fbe)? != 0 {
        return Err(CompileError::Unsupported {
            path: path.to_path_buf(),
            node: name.to_string(),
            op_type: "tensor".into(),
            reason:
                "custom/blockwise quantization (QuantizationParameters.details) is not supported"
                    .into(),
        });
    }
    let scale = q.get_vector::<f32>(quantization::SCALE).map_err(&fbe)?;
    let zp = q
        .get_vector::<i64>(quantization::ZERO_POINT)
        .map_err(&fbe)?;
    // TFLite's interpreter ignores quantization unless both vectors are present.
    let (Some(scale), Some(zp)) = (scale, zp) else {
        return Ok(None);
    };
    if scale.is_empty() {
        return Ok(None);
    }
    if scale.len() != zp.len() {
        return Err(malformed(
            path,
            format!(
                "tensor '{name}': {} scales but {} zero points in QuantizationParameters",
                scale.len(),
                zp.len()
            ),
        ));
    }
    let zero_point = zp
        .iter()
        .map(|z| {
            i32::try_from(z).map_err(|_| {
                malformed(
                    path,
                    format!("tensor '{name}': zero point {z} does not fit in 32 bits"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let dim = q
        .get_i32(quantization::QUANTIZED_DIMENSION, 0)
        .map_err(&fbe)?;
    let axis = usize::try_from(dim)
        .ok()
        .filter(|&d| d < shape.len().max(1));
    let axis = if scale.len() > 1 {
        // Per-channel: one parameter per slice along the quantized dimension.
        let axis = axis.ok_or_else(|| {
            malformed(
                path,
                format!(
                    "tensor '{name}': quantized_dimension {dim} is outside its shape {shape:?}"
                ),
            )
        })?;
        if shape.get(axis) != Some(&scale.len()) {
            return Err(malformed(
                path,
                format!("tensor '{name}': {} scales along quantized_dimension {axis} of shape {shape:?}", scale.len()),
            ));
        }
        axis
    } else {
        axis.unwrap_or(0)
    };
    Ok(Some(Quant {
        scale: scale.iter().collect(),
        zero_point,
        axis,
    }))
}

/// One `Operator` table (operands checked against the tensor count).
fn read_operator<'a>(
    path: &Path,
    file: &'a [u8],
    op: &Table<'a>,
    index: usize,
    codes: &[OpCode],
    n_tensors: usize,
) -> Result<Operator<'a>, CompileError> {
    let fbe = fb_err(path);
    let ci = op.get_u32(operator::OPCODE_INDEX, 0).map_err(&fbe)?;
    let code = codes.get(ci as usize).cloned().ok_or_else(|| {
        malformed(
            path,
            format!(
                "Operator[{index}].opcode_index = {ci}, but there are {} operator codes",
                codes.len()
            ),
        )
    })?;
    let mut inputs = Vec::new();
    if let Some(v) = op.get_vector::<i32>(operator::INPUTS).map_err(&fbe)? {
        for t in v.iter() {
            inputs.push(match t {
                -1 => None,
                t => Some(usize::try_from(t).ok().filter(|&t| t < n_tensors).ok_or_else(|| {
                    malformed(path, format!("Operator[{index}] ({}).inputs refers to tensor {t} of {n_tensors}", code.name()))
                })?),
            });
        }
    }
    let mut outputs = Vec::new();
    if let Some(v) = op.get_vector::<i32>(operator::OUTPUTS).map_err(&fbe)? {
        for t in v.iter() {
            outputs.push(usize::try_from(t).ok().filter(|&t| t < n_tensors).ok_or_else(|| {
                malformed(path, format!("Operator[{index}] ({}).outputs refers to tensor {t} of {n_tensors}", code.name()))
            })?);
        }
    }
    let options = op.get_union(operator::BUILTIN_OPTIONS_TYPE).map_err(&fbe)?;
    let mut custom_options = op.get_bytes(operator::CUSTOM_OPTIONS).map_err(&fbe)?;
    let large_offset = op
        .get_u64(operator::LARGE_CUSTOM_OPTIONS_OFFSET, 0)
        .map_err(&fbe)?;
    if custom_options.is_none() && large_offset > 1 {
        let size = op
            .get_u64(operator::LARGE_CUSTOM_OPTIONS_SIZE, 0)
            .map_err(&fbe)?;
        let range = usize::try_from(large_offset)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(o, s)| Some(o..o.checked_add(s)?));
        custom_options = Some(range.and_then(|r| file.get(r)).ok_or_else(|| {
            malformed(
                path,
                format!("Operator[{index}].large_custom_options_offset {large_offset} + size {size} lies outside the file"),
            )
        })?);
    }
    Ok(Operator {
        index,
        code,
        inputs,
        outputs,
        options,
        custom_options,
    })
}
