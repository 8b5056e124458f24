//! ONNX tensors (initializers, `Constant` values) to IR constants, and the
//! host-side data rearrangements the importer applies to constant weights.

use super::proto::{DataLocation, DataType, TensorProto};
use crate::ir::{DType, Quant, Tensor};

/// Largest dimension and element count kiln accepts (keeps shape arithmetic
/// far from overflow; no microcontroller model comes near it).
pub const MAX_ELEMS: usize = 1 << 31;

/// Why a tensor could not be converted: structural damage or a valid but
/// unsupported encoding. The caller adds file and node.
#[derive(Debug, PartialEq)]
pub enum TensorIssue {
    /// The message contradicts itself (sizes, dims).
    Malformed(String),
    /// Valid ONNX that kiln does not import.
    Unsupported(String),
}

/// Maps an ONNX element type code to the IR type.
pub fn dtype_from_onnx(code: i32) -> Result<DType, TensorIssue> {
    match DataType::try_from(code) {
        Ok(DataType::Float) => Ok(DType::F32),
        Ok(DataType::Uint8) => Ok(DType::U8),
        Ok(DataType::Int8) => Ok(DType::I8),
        Ok(DataType::Int16) => Ok(DType::I16),
        Ok(DataType::Int32) => Ok(DType::I32),
        Ok(DataType::Int64) => Ok(DType::I64),
        Ok(DataType::Bool) => Ok(DType::Bool),
        Ok(DataType::Undefined) => Err(TensorIssue::Malformed(
            "element type is UNDEFINED (0)".into(),
        )),
        Ok(other) => Err(TensorIssue::Unsupported(format!(
            "element type {other:?} (supported: FLOAT, UINT8, INT8, INT16, INT32, INT64, BOOL)"
        ))),
        Err(_) => Err(TensorIssue::Malformed(format!(
            "unknown element type code {code}"
        ))),
    }
}

/// Checks one dimension from the file and converts it.
pub fn dim_from_onnx(d: i64) -> Result<usize, String> {
    usize::try_from(d)
        .ok()
        .filter(|&v| v <= MAX_ELEMS)
        .ok_or_else(|| format!("dimension {d} is negative or larger than {MAX_ELEMS}"))
}

/// Element count of `shape`, or an error when it exceeds [`MAX_ELEMS`].
pub fn checked_numel(shape: &[usize]) -> Result<usize, String> {
    let mut n: usize = 1;
    for &d in shape {
        n = n
            .checked_mul(d)
            .filter(|&v| v <= MAX_ELEMS)
            .ok_or_else(|| format!("shape {shape:?} has more than {MAX_ELEMS} elements"))?;
    }
    Ok(n)
}

/// Converts a serialized tensor into an IR constant named `name`.
pub fn tensor_from_proto(name: &str, t: &TensorProto) -> Result<Tensor, TensorIssue> {
    if t.data_location == DataLocation::External as i32 || !t.external_data.is_empty() {
        let loc = t
            .external_data
            .iter()
            .find(|e| e.key == "location")
            .map(|e| e.value.as_str())
            .unwrap_or("?");
        return Err(TensorIssue::Unsupported(format!(
            "tensor data is stored in an external file (location '{loc}'); save the model with all tensors \
             inside the .onnx file (onnx.save(model, path, save_as_external_data=False))"
        )));
    }
    if t.segment.is_some() {
        return Err(TensorIssue::Unsupported(
            "segmented tensors are not supported".into(),
        ));
    }
    let dtype = dtype_from_onnx(t.data_type)?;
    let shape = t
        .dims
        .iter()
        .map(|&d| dim_from_onnx(d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(TensorIssue::Malformed)?;
    let numel = checked_numel(&shape).map_err(TensorIssue::Malformed)?;
    let nbytes = numel * dtype.size();
    let data = if !t.raw_data.is_empty() {
        if t.raw_data.len() != nbytes {
            return Err(TensorIssue::Malformed(format!(
                "raw_data has {} bytes, shape {shape:?} of {dtype} needs {nbytes}",
                t.raw_data.len()
            )));
        }
        t.raw_data.clone()
    } else {
        typed_data(t, dtype, numel)?
    };
    Ok(Tensor {
        name: name.to_string(),
        dtype,
        shape,
        quant: None,
        data: Some(data),
    })
}

/// Reads the type-specific `*_data` field matching `dtype`.
fn typed_data(t: &TensorProto, dtype: DType, numel: usize) -> Result<Vec<u8>, TensorIssue> {
    let count_err = |field: &str, have: usize| {
        TensorIssue::Malformed(format!(
            "{field} has {have} elements, the shape needs {numel}"
        ))
    };
    let mut out = Vec::with_capacity(numel * dtype.size());
    match dtype {
        DType::F32 => {
            if t.float_data.len() != numel {
                return Err(count_err("float_data", t.float_data.len()));
            }
            t.float_data
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        }
        DType::I64 => {
            if t.int64_data.len() != numel {
                return Err(count_err("int64_data", t.int64_data.len()));
            }
            t.int64_data
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        }
        DType::I32 | DType::I16 | DType::I8 | DType::U8 | DType::Bool => {
            if t.int32_data.len() != numel {
                return Err(count_err("int32_data", t.int32_data.len()));
            }
            for &v in &t.int32_data {
                let range_err =
                    || TensorIssue::Malformed(format!("int32_data value {v} does not fit {dtype}"));
                match dtype {
                    DType::I32 => out.extend_from_slice(&v.to_le_bytes()),
                    DType::I16 => out.extend_from_slice(
                        &i16::try_from(v).map_err(|_| range_err())?.to_le_bytes(),
                    ),
                    DType::I8 => out.extend_from_slice(
                        &i8::try_from(v).map_err(|_| range_err())?.to_le_bytes(),
                    ),
                    DType::U8 => out.push(u8::try_from(v).map_err(|_| range_err())?),
                    _ => out.push(u8::from(v != 0)),
                }
            }
        }
    }
    Ok(out)
}

/// Values of a constant as f32 (F32 constants only).
pub fn const_f32s(t: &Tensor) -> Option<Vec<f32>> {
    let data = t.data.as_ref()?;
    (t.dtype == DType::F32).then(|| {
        data.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    })
}

/// Values of an integer constant widened to i64.
pub fn const_ints(t: &Tensor) -> Option<Vec<i64>> {
    let data = t.data.as_ref()?;
    Some(match t.dtype {
        DType::I64 => data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        DType::I32 => data
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        DType::I16 => data
            .chunks_exact(2)
            .map(|c| i64::from(i16::from_le_bytes([c[0], c[1]])))
            .collect(),
        DType::I8 => data.iter().map(|&b| i64::from(b as i8)).collect(),
        DType::U8 | DType::Bool => data.iter().map(|&b| i64::from(b)).collect(),
        DType::F32 => return None,
    })
}

/// Encodes f32 values little-endian.
pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Encodes i64 values little-endian.
pub fn i64_bytes(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Transposes row-major `data` of `shape` (elements of `elem` bytes) so that
/// `out.shape[i] = shape[perm[i]]`. `perm` must be a permutation of the axes.
pub fn permute_bytes(data: &[u8], shape: &[usize], elem: usize, perm: &[usize]) -> Vec<u8> {
    let rank = shape.len();
    let mut in_strides = vec![elem; rank];
    for i in (0..rank.saturating_sub(1)).rev() {
        in_strides[i] = in_strides[i + 1] * shape[i + 1];
    }
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let numel: usize = shape.iter().product();
    let mut out = Vec::with_capacity(data.len());
    let mut idx = vec![0usize; rank];
    for _ in 0..numel {
        let off: usize = idx.iter().zip(perm).map(|(&i, &p)| i * in_strides[p]).sum();
        out.extend_from_slice(&data[off..off + elem]);
        // Odometer increment over the output index, last axis fastest.
        for ax in (0..rank).rev() {
            idx[ax] += 1;
            if idx[ax] < out_shape[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
    out
}

/// The constant `t` transposed by `perm`, with per-channel quantization
/// following its axis. `perm` must be a permutation of `t`'s axes.
pub fn permute_const(t: &Tensor, perm: &[usize], name: String) -> Tensor {
    let data = t
        .data
        .as_ref()
        .map(|d| permute_bytes(d, &t.shape, t.dtype.size(), perm));
    Tensor {
        name,
        dtype: t.dtype,
        shape: perm.iter().map(|&p| t.shape[p]).collect(),
        quant: t.quant.as_ref().map(|q| permute_quant(q, perm)),
        data,
    }
}

/// Quantization of a tensor after a transpose by `perm`: the channel axis moves
/// to the output position that reads it.
pub fn permute_quant(q: &Quant, perm: &[usize]) -> Quant {
    let axis = if q.is_per_tensor() {
        q.axis
    } else {
        perm.iter().position(|&p| p == q.axis).unwrap_or(q.axis)
    };
    Quant { axis, ..q.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permute_2x3_transpose() {
        // [[1,2,3],[4,5,6]] -> [[1,4],[2,5],[3,6]]
        let d: Vec<u8> = vec![1, 2, 3, 4, 5, 6];
        assert_eq!(
            permute_bytes(&d, &[2, 3], 1, &[1, 0]),
            vec![1, 4, 2, 5, 3, 6]
        );
    }

    #[test]
    fn permute_oihw_to_ohwi() {
        // O=1, I=2, H=1, W=2: w[0][i][0][x] = 10*i + x -> OHWI w[0][0][x][i]
        let d: Vec<u8> = vec![0, 1, 10, 11];
        assert_eq!(
            permute_bytes(&d, &[1, 2, 1, 2], 1, &[0, 2, 3, 1]),
            vec![0, 10, 1, 11]
        );
    }

    #[test]
    fn permute_multibyte_elements() {
        let v = [1.0f32, 2.0, 3.0, 4.0];
        let out = permute_bytes(&f32_bytes(&v), &[2, 2], 4, &[1, 0]);
        assert_eq!(out, f32_bytes(&[1.0, 3.0, 2.0, 4.0]));
    }

    #[test]
    fn quant_axis_follows_perm() {
        let q = Quant {
            scale: vec![1.0, 2.0],
            zero_point: vec![0, 0],
            axis: 0,
        };
        // [C*M,1,kh,kw] -> [1,kh,kw,C*M] puts axis 0 at position 3.
        assert_eq!(permute_quant(&q, &[1, 2, 3, 0]).axis, 3);
        assert_eq!(permute_quant(&q, &[1, 0]).axis, 1);
    }

    #[test]
    fn raw_and_typed_data() {
        let t = TensorProto {
            dims: vec![2],
            data_type: 3,
            int32_data: vec![-1, 127],
            ..Default::default()
        };
        let c = tensor_from_proto("w", &t).unwrap();
        assert_eq!(c.dtype, DType::I8);
        assert_eq!(c.data.unwrap(), vec![0xff, 0x7f]);
        let t = TensorProto {
            dims: vec![1],
            data_type: 1,
            raw_data: 2.5f32.to_le_bytes().to_vec(),
            ..Default::default()
        };
        assert_eq!(
            const_f32s(&tensor_from_proto("s", &t).unwrap()).unwrap(),
            vec![2.5]
        );
    }

    #[test]
    fn bad_tensors_are_reported() {
        let short = TensorProto {
            dims: vec![3],
            data_type: 1,
            raw_data: vec![0; 8],
            ..Default::default()
        };
        assert!(matches!(
            tensor_from_proto("a", &short),
            Err(TensorIssue::Malformed(_))
        ));
        let range = TensorProto {
            dims: vec![1],
            data_type: 3,
            int32_data: vec![200],
            ..Default::default()
        };
        assert!(matches!(
            tensor_from_proto("a", &range),
            Err(TensorIssue::Malformed(_))
        ));
        let neg = TensorProto {
            dims: vec![-1],
            data_type: 1,
            ..Default::default()
        };
        assert!(matches!(
            tensor_from_proto("a", &neg),
            Err(TensorIssue::Malformed(_))
        ));
        let f64t = TensorProto {
            dims: vec![1],
            data_type: 11,
            double_data: vec![1.0],
            ..Default::default()
        };
        assert!(matches!(
            tensor_from_proto("a", &f64t),
            Err(TensorIssue::Unsupported(_))
        ));
        let ext = TensorProto {
            dims: vec![1],
            data_type: 1,
            data_location: 1,
            ..Default::default()
        };
        assert!(matches!(
            tensor_from_proto("a", &ext),
            Err(TensorIssue::Unsupported(_))
        ));
        let huge = TensorProto {
            dims: vec![1 << 20, 1 << 20],
            data_type: 1,
            ..Default::default()
        };
        assert!(matches!(
            tensor_from_proto("a", &huge),
            Err(TensorIssue::Malformed(_))
        ));
    }
}
