//! Synthetic models built in process, for compile-time benchmarks (`cargo xtask bench`) and
//! scaling tests: a chain of `n` operators, the shape of graph in which any pass that looks at
//! every node per node shows up as quadratic compile time.

use crate::import::onnx::proto::*;
use flatbuffers::{FlatBufferBuilder, WIPOffset};
use prost::Message;

/// An f32 ONNX model (opset 13): input `x` `[1, 16]`, then `n` `Relu` nodes in a chain, output
/// the last one's result.
pub fn onnx_relu_chain(n: usize) -> Vec<u8> {
    let vi = |name: &str| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(TypeProtoTensor {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: [1, 16]
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(DimValue::DimValue(d)),
                        })
                        .collect(),
                }),
            })),
        }),
    };
    let name = |i: usize| {
        if i == 0 {
            "x".to_string()
        } else {
            format!("t{i}")
        }
    };
    let node = (0..n)
        .map(|i| NodeProto {
            op_type: "Relu".into(),
            name: format!("relu{i}"),
            input: vec![name(i)],
            output: vec![name(i + 1)],
            ..Default::default()
        })
        .collect();
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        producer_name: "kiln-synth".into(),
        producer_version: String::new(),
        graph: Some(GraphProto {
            node,
            name: "relu_chain".into(),
            initializer: vec![],
            input: vec![vi("x")],
            output: vec![vi(&name(n))],
            value_info: vec![],
        }),
    }
    .encode_to_vec()
}

/// The vtable slot of field `i` of a flatbuffer table.
fn slot(i: u16) -> u16 {
    4 + 2 * i
}

/// An int8 TFLite model (schema 3): input `[1, 16]`, then `n` `RELU` operators in a chain, every
/// tensor with the same quantization.
pub fn tflite_relu_chain(n: usize) -> Vec<u8> {
    const RELU: i32 = 19;
    const INT8: i8 = 9;
    let mut f = FlatBufferBuilder::new();
    let sentinel = {
        let s = f.start_table();
        f.end_table(s)
    };
    let buffers = f.create_vector(&[sentinel]);
    let mut tensors = Vec::with_capacity(n + 1);
    for i in 0..=n {
        let shape = f.create_vector(&[1i32, 16]);
        let name = f.create_string(&format!("t{i}"));
        let scale = f.create_vector(&[0.05f32]);
        let zp = f.create_vector(&[-3i64]);
        let q = {
            let s = f.start_table();
            f.push_slot_always(slot(2), scale);
            f.push_slot_always(slot(3), zp);
            f.end_table(s)
        };
        let s = f.start_table();
        f.push_slot_always(slot(0), shape);
        f.push_slot(slot(1), INT8, 0);
        f.push_slot(slot(2), 0u32, 0);
        f.push_slot_always(slot(3), name);
        f.push_slot_always(slot(4), q);
        tensors.push(f.end_table(s));
    }
    let mut operators = Vec::with_capacity(n);
    for i in 0..n {
        let ins = f.create_vector(&[i as i32]);
        let outs = f.create_vector(&[i as i32 + 1]);
        let s = f.start_table();
        f.push_slot(slot(0), 0u32, 0);
        f.push_slot_always(slot(1), ins);
        f.push_slot_always(slot(2), outs);
        operators.push(f.end_table(s));
    }
    let code = {
        let s = f.start_table();
        f.push_slot(slot(0), RELU as i8, 0);
        f.push_slot(slot(2), 1i32, 1);
        f.push_slot(slot(3), RELU, 0);
        f.end_table(s)
    };
    let tensors = f.create_vector(&tensors);
    let ins = f.create_vector(&[0i32]);
    let outs = f.create_vector(&[n as i32]);
    let operators = f.create_vector(&operators);
    let s = f.start_table();
    f.push_slot_always(slot(0), tensors);
    f.push_slot_always(slot(1), ins);
    f.push_slot_always(slot(2), outs);
    f.push_slot_always(slot(3), operators);
    let sg: WIPOffset<flatbuffers::TableFinishedWIPOffset> = f.end_table(s);
    let sgs = f.create_vector(&[sg]);
    let codes = f.create_vector(&[code]);
    let s = f.start_table();
    f.push_slot(slot(0), 3u32, 0);
    f.push_slot_always(slot(1), codes);
    f.push_slot_always(slot(2), sgs);
    f.push_slot_always(slot(4), buffers);
    let root = f.end_table(s);
    f.finish(root, Some("TFL3"));
    f.finished_data().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{compile_bytes, CompileOptions};
    use std::path::Path;

    #[test]
    fn chains_compile() {
        for (file, bytes) in [
            ("chain.onnx", onnx_relu_chain(5)),
            ("chain.tflite", tflite_relu_chain(5)),
        ] {
            let c = compile_bytes(Path::new(file), &bytes, &CompileOptions::default())
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(!c.pte.is_empty());
        }
    }
}
