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
    fn chains_compile_and_run() {
        for (file, bytes) in [
            ("chain.onnx", onnx_relu_chain(5)),
            ("chain.tflite", tflite_relu_chain(5)),
        ] {
            let c = compile_bytes(Path::new(file), &bytes, &CompileOptions::default())
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(!c.pte.is_empty());
        }
    }

    /// Compile time grows linearly with the chain: four times the operators may take about
    /// four times as long (a quadratic pass would take sixteen). Generous bounds: the machine
    /// may be busy.
    #[test]
    fn compile_time_is_linear_in_chain_length() {
        let time = |file: &str, bytes: &[u8]| {
            let t = std::time::Instant::now();
            compile_bytes(Path::new(file), bytes, &CompileOptions::default()).unwrap();
            t.elapsed().as_secs_f64()
        };
        for file in ["chain.onnx", "chain.tflite"] {
            let model = |n| {
                if file.ends_with(".onnx") {
                    onnx_relu_chain(n)
                } else {
                    tflite_relu_chain(n)
                }
            };
            let (small, large) = (model(4000), model(16_000));
            // Best of three, against scheduling noise.
            let t_small = (0..3).map(|_| time(file, &small)).fold(f64::MAX, f64::min);
            let t_large = (0..3).map(|_| time(file, &large)).fold(f64::MAX, f64::min);
            assert!(
                t_large < 9.0 * t_small + 0.05,
                "{file}: 4,000 operators {t_small:.3} s, 16,000 {t_large:.3} s"
            );
        }
    }

    /// An 8k TFLite chain on the NPU, for a profiler.
    #[test]
    #[ignore = "timing probe"]
    fn timing_npu_8k() {
        let npu = crate::target::Target::lookup("ethos-u55-128").unwrap();
        let bytes = tflite_relu_chain(8000);
        let t = std::time::Instant::now();
        compile_bytes(
            Path::new("c.tflite"),
            &bytes,
            &CompileOptions::for_target(npu),
        )
        .unwrap();
        println!("{:?}", t.elapsed());
    }

    /// Fusion-heavy chain (Relu after Relu6 would not fuse; after an activation-slot op it
    /// does): ONNX `Add(x, c) -> Relu` pairs.
    #[test]
    #[ignore = "timing probe"]
    fn timing_fused_pairs() {
        for n in [2000, 4000, 8000] {
            let mut m =
                crate::import::onnx::proto::ModelProto::decode(&onnx_relu_chain(n)[..]).unwrap();
            let g = m.graph.as_mut().unwrap();
            for (k, node) in g.node.iter_mut().enumerate() {
                if k % 2 == 0 {
                    node.op_type = "Add".into();
                    node.input.push("c".into());
                }
            }
            g.initializer.push(TensorProto {
                name: "c".into(),
                dims: vec![1, 16],
                data_type: 1,
                float_data: vec![0.5; 16],
                ..Default::default()
            });
            let bytes = m.encode_to_vec();
            let t = std::time::Instant::now();
            let c = compile_bytes(Path::new("p.onnx"), &bytes, &CompileOptions::default()).unwrap();
            println!(
                "{n} ops (Add+Relu pairs): {:?}, {} nodes after",
                t.elapsed(),
                c.graph.nodes.len()
            );
        }
    }

    /// QDQ chain: `DequantizeLinear -> Relu -> QuantizeLinear` per step, folded to int8.
    #[test]
    #[ignore = "timing probe"]
    fn timing_qdq_chain() {
        for n in [1000, 2000, 4000] {
            let mut m =
                crate::import::onnx::proto::ModelProto::decode(&onnx_relu_chain(n)[..]).unwrap();
            let g = m.graph.as_mut().unwrap();
            let mut nodes = Vec::new();
            for (k, node) in g.node.iter().enumerate() {
                let (x, y) = (node.input[0].clone(), node.output[0].clone());
                let mk = |op: &str, name: String, i: Vec<String>, o: String| NodeProto {
                    op_type: op.into(),
                    name,
                    input: i,
                    output: vec![o],
                    ..Default::default()
                };
                nodes.push(mk(
                    "QuantizeLinear",
                    format!("q{k}"),
                    vec![x.clone(), "s".into(), "z".into()],
                    format!("{x}_q"),
                ));
                nodes.push(mk(
                    "DequantizeLinear",
                    format!("d{k}"),
                    vec![format!("{x}_q"), "s".into(), "z".into()],
                    format!("{x}_d"),
                ));
                nodes.push(mk("Relu", format!("r{k}"), vec![format!("{x}_d")], y));
            }
            g.node = nodes;
            g.initializer.push(TensorProto {
                name: "s".into(),
                dims: vec![],
                data_type: 1,
                float_data: vec![0.05],
                ..Default::default()
            });
            g.initializer.push(TensorProto {
                name: "z".into(),
                dims: vec![],
                data_type: 3,
                int32_data: vec![0],
                ..Default::default()
            });
            let bytes = m.encode_to_vec();
            let t = std::time::Instant::now();
            let c = compile_bytes(Path::new("q.onnx"), &bytes, &CompileOptions::default());
            println!(
                "{} nodes (QDQ): {:?}, {:?}",
                3 * n,
                t.elapsed(),
                c.map(|c| c.graph.nodes.len()).map_err(|e| e.to_string())
            );
        }
    }

    /// One 100k TFLite chain, for a profiler.
    #[test]
    #[ignore = "timing probe"]
    fn timing_tflite_100k() {
        let bytes = tflite_relu_chain(100_000);
        let t = std::time::Instant::now();
        compile_bytes(Path::new("c.tflite"), &bytes, &CompileOptions::default()).unwrap();
        println!("{:?}", t.elapsed());
    }

    /// `cargo test --release -p kiln-compiler synth::tests::timing -- --ignored --nocapture`
    #[test]
    #[ignore = "timing probe"]
    fn timing() {
        for n in [10_000, 50_000, 100_000] {
            for (file, bytes) in [
                ("chain.onnx", onnx_relu_chain(n)),
                ("chain.tflite", tflite_relu_chain(n)),
            ] {
                let t = std::time::Instant::now();
                compile_bytes(Path::new(file), &bytes, &CompileOptions::default()).unwrap();
                println!("{file} {n}: {:?}", t.elapsed());
            }
        }
        let npu = crate::target::Target::lookup("ethos-u55-128").unwrap();
        for n in [1000, 2000, 4000] {
            let bytes = tflite_relu_chain(n);
            let t = std::time::Instant::now();
            let r = compile_bytes(
                Path::new("chain.tflite"),
                &bytes,
                &CompileOptions::for_target(npu),
            );
            println!(
                "chain.tflite {n} on {}: {:?} {}",
                npu.name,
                t.elapsed(),
                r.is_ok()
            );
        }
    }
}
