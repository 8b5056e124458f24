//! Importer tests on hand-built ONNX models (encoded with the same prost
//! structs, so no Python or fixture is needed). Expected values are worked out
//! by hand from the ONNX operator definitions.

use super::proto::*;
use super::*;
use crate::ir::{Act, Rounding, Window};

fn vi(name: &str, elem: i32, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| Dimension {
            value: Some(DimValue::DimValue(d)),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(TypeProtoTensor {
                elem_type: elem,
                shape: Some(TensorShapeProto { dim }),
            })),
        }),
    }
}

fn f32_init(name: &str, dims: &[i64], vals: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: 1,
        float_data: vals.to_vec(),
        ..Default::default()
    }
}

fn int_init(name: &str, dtype: i32, dims: &[i64], vals: &[i32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: dtype,
        int32_data: vals.to_vec(),
        ..Default::default()
    }
}

fn i64_init(name: &str, vals: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![vals.len() as i64],
        data_type: 7,
        int64_data: vals.to_vec(),
        ..Default::default()
    }
}

fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

fn ai(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

fn af(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f,
        ..Default::default()
    }
}

fn ais(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: ints.to_vec(),
        ..Default::default()
    }
}

fn astr(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}

struct M {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    opset: i64,
}

impl M {
    fn new(inputs: Vec<ValueInfoProto>, outputs: Vec<ValueInfoProto>) -> Self {
        M {
            nodes: vec![],
            inits: vec![],
            inputs,
            outputs,
            opset: 13,
        }
    }
    fn node(mut self, n: NodeProto) -> Self {
        self.nodes.push(n);
        self
    }
    fn init(mut self, t: TensorProto) -> Self {
        self.inits.push(t);
        self
    }
    fn bytes(&self) -> Vec<u8> {
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: self.opset,
            }],
            producer_name: "kiln-test".into(),
            producer_version: String::new(),
            graph: Some(GraphProto {
                node: self.nodes.clone(),
                name: "g".into(),
                initializer: self.inits.clone(),
                input: self.inputs.clone(),
                output: self.outputs.clone(),
                value_info: vec![],
            }),
        }
        .encode_to_vec()
    }
    fn import(&self) -> Result<Graph> {
        import(Path::new("t.onnx"), &self.bytes())
    }
}

fn op_names(g: &Graph) -> Vec<&'static str> {
    g.nodes.iter().map(|n| n.op.name()).collect()
}

fn f32s(t: &Tensor) -> Vec<f32> {
    tensor::const_f32s(t).expect("f32 constant")
}

/// The node producing the weight operand `i` of node `n`, and the constant behind it.
fn weight_const(g: &Graph, n: usize, i: usize) -> &Tensor {
    let w = g.nodes[n].input(i).unwrap();
    if g.tensor(w).is_const() {
        return g.tensor(w);
    }
    let p = g.producer(w).expect("weight producer");
    assert_eq!(g.nodes[p].op, Op::Dequantize);
    g.tensor(g.nodes[p].input(0).unwrap())
}

fn position(g: &Graph, name: &str) -> usize {
    g.nodes
        .iter()
        .position(|n| n.op.name() == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", op_names(g)))
}

#[test]
fn empty_truncated_garbage_are_malformed() {
    let p = Path::new("bad.onnx");
    assert!(matches!(
        import(p, &[]),
        Err(CompileError::Malformed { .. })
    ));
    let m = M::new(vec![vi("x", 1, &[1, 4])], vec![vi("y", 1, &[1, 4])]).node(node(
        "Relu",
        "r",
        &["x"],
        &["y"],
        vec![],
    ));
    let b = m.bytes();
    assert!(matches!(
        import(p, &b[..b.len() / 2]),
        Err(CompileError::Malformed { .. })
    ));
    let garbage: Vec<u8> = (0..200u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let e = import(p, &garbage).unwrap_err();
    assert!(matches!(e, CompileError::Malformed { .. }), "{e}");
    assert!(e.to_string().contains("bad.onnx"));
}

#[test]
fn every_prefix_and_byte_flip_fails_cleanly() {
    // Robustness: no prefix or single corrupted byte of a real model may panic.
    let m = conv_model(1, 2, 2, &[1, 1, 1, 1]);
    let b = m.bytes();
    for len in 0..b.len() {
        let _ = import(Path::new("p.onnx"), &b[..len]);
    }
    for i in 0..b.len() {
        for v in [0x00, 0xff, 0x80, 0x7f] {
            let mut c = b.clone();
            c[i] = v;
            let _ = import(Path::new("p.onnx"), &c);
        }
    }
    assert!(import(Path::new("p.onnx"), &b).is_ok());
}

#[test]
fn opset_range_is_enforced() {
    let mut m = M::new(vec![vi("x", 1, &[1, 4])], vec![vi("y", 1, &[1, 4])]).node(node(
        "Relu",
        "r",
        &["x"],
        &["y"],
        vec![],
    ));
    m.opset = 9;
    let e = m.import().unwrap_err();
    assert!(
        matches!(e, CompileError::Unsupported { .. }) && e.to_string().contains("opset"),
        "{e}"
    );
    m.opset = 18;
    assert!(m.import().is_err());
    m.opset = 13;
    assert!(m.import().is_ok());
}

#[test]
fn unsupported_op_names_op_node_and_file() {
    let m = M::new(vec![vi("x", 1, &[1, 4])], vec![vi("y", 1, &[1, 4])]).node(node(
        "Erf",
        "my_erf",
        &["x"],
        &["y"],
        vec![],
    ));
    let e = m.import().unwrap_err().to_string();
    assert!(
        e.contains("Erf") && e.contains("my_erf") && e.contains("t.onnx"),
        "{e}"
    );
    let mut n = node("Relu", "r", &["x"], &["y"], vec![]);
    n.domain = "com.microsoft".into();
    let e = M::new(vec![vi("x", 1, &[1, 4])], vec![vi("y", 1, &[1, 4])])
        .node(n)
        .import()
        .unwrap_err()
        .to_string();
    assert!(e.contains("com.microsoft"), "{e}");
}

#[test]
fn unknown_input_name_is_malformed() {
    let m = M::new(vec![vi("x", 1, &[1, 4])], vec![vi("y", 1, &[1, 4])]).node(node(
        "Relu",
        "r",
        &["nope"],
        &["y"],
        vec![],
    ));
    let e = m.import().unwrap_err();
    assert!(
        matches!(e, CompileError::Malformed { .. }) && e.to_string().contains("nope"),
        "{e}"
    );
}

/// x [1,cin,3,3] -> Conv(cout, 2x2 kernel, `pads`) -> y; weight w[o][i][ky][kx] = 1000o + 100i + 10ky + kx.
fn conv_model(cin: i64, cout: i64, k: i64, pads: &[i64]) -> M {
    let mut w = vec![];
    for o in 0..cout {
        for i in 0..cin {
            for ky in 0..k {
                for kx in 0..k {
                    w.push((1000 * o + 100 * i + 10 * ky + kx) as f32);
                }
            }
        }
    }
    let oh = 3 + pads[0] + pads[2] - k + 1;
    M::new(
        vec![vi("x", 1, &[1, cin, 3, 3])],
        vec![vi("y", 1, &[1, cout, oh, oh])],
    )
    .init(f32_init("w", &[cout, cin, k, k], &w))
    .init(f32_init("b", &[cout], &vec![0.5; cout as usize]))
    .node(node(
        "Conv",
        "conv",
        &["x", "w", "b"],
        &["y"],
        vec![ais("kernel_shape", &[k, k]), ais("pads", pads)],
    ))
}

#[test]
fn conv_is_wrapped_in_transposes_with_ohwi_weights() {
    let g = conv_model(2, 2, 2, &[1, 0, 0, 1]).import().unwrap();
    assert_eq!(op_names(&g), ["Transpose", "Conv2d", "Transpose"]);
    assert_eq!(
        g.nodes[0].op,
        Op::Transpose {
            perm: vec![0, 2, 3, 1]
        }
    );
    assert_eq!(
        g.nodes[2].op,
        Op::Transpose {
            perm: vec![0, 3, 1, 2]
        }
    );
    let Op::Conv2d { win, groups, act } = &g.nodes[1].op else {
        unreachable!()
    };
    assert_eq!(
        (*win, *groups, *act),
        (
            Window {
                stride: [1, 1],
                dilation: [1, 1],
                pads: [1, 0, 0, 1]
            },
            1,
            Act::None
        )
    );
    let w = g.tensor(g.nodes[1].input(1).unwrap());
    assert_eq!(w.shape, [2, 2, 2, 2]);
    // OHWI: w[o][ky][kx][i] = 1000o + 100i + 10ky + kx.
    assert_eq!(&f32s(w)[..8], &[0., 100., 1., 101., 10., 110., 11., 111.]);
    assert_eq!(g.tensor(g.nodes[1].outputs[0]).shape, [1, 3, 3, 2]);
    assert_eq!(g.tensor(g.outputs[0]).shape, [1, 2, 3, 3]);
    assert_eq!(g.nodes[1].source_op, "Conv");
    assert_eq!(g.nodes[1].name, "conv");
}

#[test]
fn conv_auto_pad_same_upper_and_strides() {
    let m = M::new(
        vec![vi("x", 1, &[1, 1, 4, 4])],
        vec![vi("y", 1, &[1, 1, 2, 2])],
    )
    .init(f32_init("w", &[1, 1, 3, 3], &[1.0; 9]))
    .node(node(
        "Conv",
        "c",
        &["x", "w"],
        &["y"],
        vec![astr("auto_pad", "SAME_UPPER"), ais("strides", &[2, 2])],
    ));
    let g = m.import().unwrap();
    let Op::Conv2d { win, .. } = &g.nodes[1].op else {
        unreachable!()
    };
    assert_eq!(win.pads, [0, 0, 1, 1]);
    assert_eq!(win.stride, [2, 2]);
    assert_eq!(g.nodes[1].input(2), None);
}

#[test]
fn depthwise_conv_gets_1hwc_weights() {
    // C = 2, multiplier 2: weight [4,1,1,2], w[o][0][0][kx] = 10o + kx.
    let w: Vec<f32> = (0..4)
        .flat_map(|o| (0..2).map(move |kx| (10 * o + kx) as f32))
        .collect();
    let m = M::new(
        vec![vi("x", 1, &[1, 2, 3, 3])],
        vec![vi("y", 1, &[1, 4, 3, 2])],
    )
    .init(f32_init("w", &[4, 1, 1, 2], &w))
    .node(node(
        "Conv",
        "dw",
        &["x", "w"],
        &["y"],
        vec![ai("group", 2)],
    ));
    let g = m.import().unwrap();
    assert_eq!(op_names(&g), ["Transpose", "DepthwiseConv2d", "Transpose"]);
    let Op::DepthwiseConv2d {
        depth_multiplier, ..
    } = g.nodes[1].op
    else {
        unreachable!()
    };
    assert_eq!(depth_multiplier, 2);
    let wt = g.tensor(g.nodes[1].input(1).unwrap());
    assert_eq!(wt.shape, [1, 1, 2, 4]);
    assert_eq!(f32s(wt), [0., 10., 20., 30., 1., 11., 21., 31.]);
}

#[test]
fn grouped_conv_keeps_groups() {
    let m = M::new(
        vec![vi("x", 1, &[1, 4, 3, 3])],
        vec![vi("y", 1, &[1, 2, 3, 3])],
    )
    .init(f32_init("w", &[2, 2, 1, 1], &[1.0; 4]))
    .node(node("Conv", "g", &["x", "w"], &["y"], vec![ai("group", 2)]));
    let g = m.import().unwrap();
    assert!(matches!(g.nodes[1].op, Op::Conv2d { groups: 2, .. }));
    assert_eq!(g.tensor(g.nodes[1].input(1).unwrap()).shape, [2, 1, 1, 2]);
}

#[test]
fn gemm_folds_trans_alpha_beta_into_fully_connected() {
    // A [1,2], B [2,3] (transB = 0), C [1,3]; alpha 2, beta 0.5.
    let m = M::new(vec![vi("a", 1, &[1, 2])], vec![vi("y", 1, &[1, 3])])
        .init(f32_init("B", &[2, 3], &[1., 2., 3., 4., 5., 6.]))
        .init(f32_init("C", &[1, 3], &[2., 4., 6.]))
        .node(node(
            "Gemm",
            "fc",
            &["a", "B", "C"],
            &["y"],
            vec![af("alpha", 2.0), af("beta", 0.5)],
        ));
    let g = m.import().unwrap();
    assert_eq!(op_names(&g), ["FullyConnected"]);
    let w = g.tensor(g.nodes[0].input(1).unwrap());
    assert_eq!(w.shape, [3, 2]);
    assert_eq!(f32s(w), [2., 8., 4., 10., 6., 12.]);
    let b = g.tensor(g.nodes[0].input(2).unwrap());
    assert_eq!((b.shape.clone(), f32s(b)), (vec![3], vec![1., 2., 3.]));
}

#[test]
fn gemm_trans_b_keeps_weight_and_dynamic_b_is_matmul_add() {
    let m = M::new(vec![vi("a", 1, &[2, 3])], vec![vi("y", 1, &[2, 4])])
        .init(f32_init("B", &[4, 3], &[0.0; 12]))
        .node(node(
            "Gemm",
            "fc",
            &["a", "B"],
            &["y"],
            vec![ai("transB", 1)],
        ));
    let g = m.import().unwrap();
    assert_eq!(op_names(&g), ["FullyConnected"]);
    assert_eq!(g.tensor(g.nodes[0].input(1).unwrap()).shape, [4, 3]);

    let m = M::new(
        vec![
            vi("a", 1, &[2, 3]),
            vi("b", 1, &[3, 4]),
            vi("c", 1, &[2, 4]),
        ],
        vec![vi("y", 1, &[2, 4])],
    )
    .node(node("Gemm", "mm", &["a", "b", "c"], &["y"], vec![]));
    let g = m.import().unwrap();
    assert_eq!(op_names(&g), ["MatMul", "Add"]);
    assert_eq!(g.tensor(g.outputs[0]).shape, [2, 4]);
}

#[test]
fn matmul_with_constant_b_is_fully_connected() {
    let m = M::new(vec![vi("a", 1, &[1, 2])], vec![vi("y", 1, &[1, 3])])
        .init(f32_init("B", &[2, 3], &[1., 2., 3., 4., 5., 6.]))
        .node(node("MatMul", "mm", &["a", "B"], &["y"], vec![]));
    let g = m.import().unwrap();
    assert_eq!(op_names(&g), ["FullyConnected"]);
    assert_eq!(
        f32s(g.tensor(g.nodes[0].input(1).unwrap())),
        [1., 4., 2., 5., 3., 6.]
    );
    // Rank-3 A: FC on [6, K] then a reshape back to [2, 3, N].
    let m = M::new(vec![vi("a", 1, &[2, 3, 2])], vec![vi("y", 1, &[2, 3, 3])])
        .init(f32_init("B", &[2, 3], &[0.0; 6]))
        .node(node("MatMul", "mm", &["a", "B"], &["y"], vec![]));
    let g = m.import().unwrap();
    assert_eq!(op_names(&g), ["FullyConnected", "Reshape"]);
    assert_eq!(g.tensor(g.nodes[0].outputs[0]).shape, [6, 3]);
}

#[test]
fn clip_bounds_must_be_constant() {
    let base = || M::new(vec![vi("x", 1, &[1, 4])], vec![vi("y", 1, &[1, 4])]);
    let g = base()
        .init(f32_init("lo", &[], &[0.0]))
        .init(f32_init("hi", &[], &[6.0]))
        .node(node("Clip", "c", &["x", "lo", "hi"], &["y"], vec![]))
        .import()
        .unwrap();
    assert_eq!(g.nodes[0].op, Op::Relu6);
    let g = base()
        .init(f32_init("hi", &[], &[2.5]))
        .node(node("Clip", "c", &["x", "", "hi"], &["y"], vec![]))
        .import()
        .unwrap();
    assert_eq!(
        g.nodes[0].op,
        Op::Clip {
            min: f32::NEG_INFINITY,
            max: 2.5
        }
    );
    let m = M::new(
        vec![vi("x", 1, &[1, 4]), vi("lo", 1, &[])],
        vec![vi("y", 1, &[1, 4])],
    )
    .node(node("Clip", "c", &["x", "lo"], &["y"], vec![]));
    assert!(matches!(m.import(), Err(CompileError::Unsupported { .. })));
}

#[test]
fn elementwise_broadcast_and_variadic_max() {
    let m = M::new(
        vec![
            vi("a", 1, &[1, 3, 2, 2]),
            vi("b", 1, &[3, 1, 1]),
            vi("c", 1, &[1]),
        ],
        vec![vi("y", 1, &[1, 3, 2, 2])],
    )
    .node(node("Max", "m", &["a", "b", "c"], &["y"], vec![]));
    let g = m.import().unwrap();
    assert_eq!(op_names(&g), ["Maximum", "Maximum"]);
    assert_eq!(g.tensor(g.outputs[0]).shape, [1, 3, 2, 2]);
    let m = M::new(
        vec![vi("a", 1, &[2, 3]), vi("b", 1, &[4])],
        vec![vi("y", 1, &[2, 3])],
    )
    .node(node("Add", "add", &["a", "b"], &["y"], vec![]));
    assert!(matches!(m.import(), Err(CompileError::Invalid { .. })));
}

#[test]
fn pools_and_global_average_pool() {
    let m = M::new(
        vec![vi("x", 1, &[1, 2, 5, 5])],
        vec![vi("y", 1, &[1, 2, 3, 3])],
    )
    .node(node(
        "MaxPool",
        "mp",
        &["x"],
        &["y"],
        vec![
            ais("kernel_shape", &[2, 2]),
            ais("strides", &[2, 2]),
            ai("ceil_mode", 1),
        ],
    ));
    let g = m.import().unwrap();
    let Op::MaxPool2d { kernel, win, .. } = &g.nodes[1].op else {
        unreachable!()
    };
    assert_eq!((*kernel, win.pads), ([2, 2], [0, 0, 1, 1]));

    let m = M::new(
        vec![vi("x", 1, &[1, 2, 4, 4])],
        vec![vi("y", 1, &[1, 2, 4, 4])],
    )
    .node(node(
        "AveragePool",
        "ap",
        &["x"],
        &["y"],
        vec![
            ais("kernel_shape", &[3, 3]),
            ais("pads", &[1, 1, 1, 1]),
            ai("count_include_pad", 1),
        ],
    ));
    let g = m.import().unwrap();
    assert!(matches!(
        g.nodes[1].op,
        Op::AvgPool2d {
            count_include_pad: true,
            ..
        }
    ));

    let m = M::new(
        vec![vi("x", 1, &[1, 8, 4, 4])],
        vec![vi("y", 1, &[1, 8, 1, 1])],
    )
    .node(node("GlobalAveragePool", "gap", &["x"], &["y"], vec![]));
    let g = m.import().unwrap();
    assert_eq!(op_names(&g), ["Transpose", "Mean", "Transpose"]);
    assert_eq!(
        g.nodes[1].op,
        Op::Mean {
            axes: vec![1, 2],
            keep_dims: true
        }
    );
    assert_eq!(g.tensor(g.nodes[1].outputs[0]).shape, [1, 1, 1, 8]);
}

#[test]
fn reduce_mean_over_hw_goes_nhwc() {
    let m = M::new(vec![vi("x", 1, &[1, 8, 4, 4])], vec![vi("y", 1, &[1, 8])]).node(node(
        "ReduceMean",
        "rm",
        &["x"],
        &["y"],
        vec![ais("axes", &[-1, 2]), ai("keepdims", 0)],
    ));
    let g = m.import().unwrap();
    assert_eq!(op_names(&g), ["Transpose", "Mean"]);
    let m = M::new(vec![vi("x", 1, &[2, 3, 4])], vec![vi("y", 1, &[2, 1, 4])]).node(node(
        "ReduceMean",
        "rm",
        &["x"],
        &["y"],
        vec![ais("axes", &[1])],
    ));
    let g = m.import().unwrap();
    assert_eq!(
        g.nodes[0].op,
        Op::Mean {
            axes: vec![1],
            keep_dims: true
        }
    );
}

#[test]
fn concat_pad_transpose_reshape_flatten() {
    let m = M::new(
        vec![vi("a", 1, &[1, 2, 3, 3]), vi("b", 1, &[1, 5, 3, 3])],
        vec![vi("y", 1, &[1, 7, 3, 3])],
    )
    .node(node(
        "Concat",
        "cat",
        &["a", "b"],
        &["y"],
        vec![ai("axis", -3)],
    ));
    assert_eq!(m.import().unwrap().nodes[0].op, Op::Concat { axis: 1 });

    let m = M::new(
        vec![vi("x", 1, &[1, 2, 3, 3])],
        vec![vi("y", 1, &[1, 2, 6, 4])],
    )
    .init(i64_init("p", &[0, 0, 1, 0, 0, 0, 2, 1]))
    .init(f32_init("v", &[], &[-1.5]))
    .node(node("Pad", "pad", &["x", "p", "v"], &["y"], vec![]));
    assert_eq!(
        m.import().unwrap().nodes[0].op,
        Op::Pad {
            pads: vec![(0, 0), (0, 0), (1, 2), (0, 1)],
            value: -1.5
        }
    );

    let m = M::new(
        vec![vi("x", 1, &[1, 2, 3, 4])],
        vec![vi("y", 1, &[4, 3, 2, 1])],
    )
    .node(node("Transpose", "t", &["x"], &["y"], vec![]));
    assert_eq!(
        m.import().unwrap().nodes[0].op,
        Op::Transpose {
            perm: vec![3, 2, 1, 0]
        }
    );

    let m = M::new(vec![vi("x", 1, &[2, 3, 4])], vec![vi("y", 1, &[3, 2, 4])])
        .init(i64_init("s", &[3, -1, 0]))
        .node(node("Reshape", "r", &["x", "s"], &["y"], vec![]));
    let g = m.import().unwrap();
    assert_eq!(
        (op_names(&g), g.nodes[0].inputs.len()),
        (vec!["Reshape"], 1)
    );

    let m = M::new(vec![vi("x", 1, &[2, 3, 4])], vec![vi("y", 1, &[6, 4])]).node(node(
        "Flatten",
        "f",
        &["x"],
        &["y"],
        vec![ai("axis", 2)],
    ));
    assert_eq!(m.import().unwrap().tensor(TensorId(1)).shape, [6, 4]);

    let m = M::new(vec![vi("x", 1, &[2, 3, 4])], vec![vi("y", 1, &[5, 5])])
        .init(i64_init("s", &[5, 5]))
        .node(node("Reshape", "r", &["x", "s"], &["y"], vec![]));
    assert!(matches!(m.import(), Err(CompileError::Invalid { .. })));
}

#[test]
fn softmax_axes_by_opset() {
    let mk =
        |opset: i64, axis: i64| {
            let mut m = M::new(vec![vi("x", 1, &[2, 3, 4])], vec![vi("y", 1, &[2, 3, 4])])
                .node(node("Softmax", "s", &["x"], &["y"], vec![ai("axis", axis)]));
            m.opset = opset;
            m.import().unwrap()
        };
    assert_eq!(op_names(&mk(13, -1)), ["Softmax"]);
    let g = mk(13, 1);
    assert_eq!(op_names(&g), ["Transpose", "Softmax", "Transpose"]);
    assert_eq!(
        g.nodes[0].op,
        Op::Transpose {
            perm: vec![0, 2, 1]
        }
    );
    let g = mk(11, 1);
    assert_eq!(op_names(&g), ["Reshape", "Softmax", "Reshape"]);
    assert_eq!(g.tensor(g.nodes[1].inputs[0].unwrap()).shape, [2, 12]);
}

#[test]
fn resize_nearest_modes() {
    let mk = |ctm: &str, nm: &str, out: i64| {
        M::new(
            vec![vi("x", 1, &[1, 2, 4, 4])],
            vec![vi("y", 1, &[1, 2, out, out])],
        )
        .init(f32_init(
            "scales",
            &[4],
            &[1.0, 1.0, out as f32 / 4.0, out as f32 / 4.0],
        ))
        .node(node(
            "Resize",
            "rs",
            &["x", "", "scales"],
            &["y"],
            vec![
                astr("mode", "nearest"),
                astr("coordinate_transformation_mode", ctm),
                astr("nearest_mode", nm),
            ],
        ))
        .import()
    };
    let g = mk("asymmetric", "floor", 8).unwrap();
    assert_eq!(
        g.nodes[1].op,
        Op::ResizeNearest {
            align_corners: false,
            half_pixel_centers: false
        }
    );
    assert_eq!(g.tensor(g.outputs[0]).shape, [1, 2, 8, 8]);
    let g = mk("half_pixel", "round_prefer_floor", 8).unwrap();
    assert!(matches!(g.nodes[1].op, Op::ResizeNearest { .. }));
    // 2x downsample: ORT picks even pixels with half_pixel/round_prefer_floor, which is TFLite's (false, false).
    let g = mk("half_pixel", "round_prefer_floor", 2).unwrap();
    assert_eq!(
        g.nodes[1].op,
        Op::ResizeNearest {
            align_corners: false,
            half_pixel_centers: false
        }
    );
    // 4 -> 8 asymmetric/ceil picks [0,1,1,2,2,3,3,3]; no TFLite mode does.
    let e = mk("asymmetric", "ceil", 8).unwrap_err();
    assert!(matches!(e, CompileError::Unsupported { .. }), "{e}");
}

#[test]
fn constant_and_identity() {
    let m = M::new(vec![vi("x", 1, &[1, 3])], vec![vi("y", 1, &[1, 3])])
        .node(node(
            "Constant",
            "k",
            &[],
            &["kv"],
            vec![AttributeProto {
                name: "value".into(),
                r#type: 4,
                t: Some(f32_init("", &[3], &[1., 2., 3.])),
                ..Default::default()
            }],
        ))
        .node(node("Identity", "id", &["kv"], &["kv2"], vec![]))
        .node(node("Mul", "mul", &["x", "kv2"], &["y"], vec![]));
    let g = m.import().unwrap();
    assert_eq!(op_names(&g), ["Mul"]);
    assert_eq!(f32s(g.tensor(g.nodes[0].input(1).unwrap())), [1., 2., 3.]);
    // Identity that is a graph output becomes a copy.
    let m = M::new(vec![vi("x", 1, &[1, 3])], vec![vi("y", 1, &[1, 3])]).node(node(
        "Identity",
        "id",
        &["x"],
        &["y"],
        vec![],
    ));
    assert_eq!(op_names(&m.import().unwrap()), ["Reshape"]);
}

#[test]
fn symbolic_batch_is_one_other_symbols_fail() {
    let mut x = vi("x", 1, &[0, 4]);
    let Some(TypeValue::TensorType(tt)) = &mut x.r#type.as_mut().unwrap().value else {
        unreachable!()
    };
    tt.shape.as_mut().unwrap().dim[0].value = Some(DimValue::DimParam("N".into()));
    let m = M::new(vec![x.clone()], vec![vi("y", 1, &[1, 4])]).node(node(
        "Relu",
        "r",
        &["x"],
        &["y"],
        vec![],
    ));
    assert_eq!(m.import().unwrap().tensor(TensorId(0)).shape, [1, 4]);
    let Some(TypeValue::TensorType(tt)) = &mut x.r#type.as_mut().unwrap().value else {
        unreachable!()
    };
    tt.shape.as_mut().unwrap().dim.swap(0, 1);
    let m =
        M::new(vec![x], vec![vi("y", 1, &[4, 1])]).node(node("Relu", "r", &["x"], &["y"], vec![]));
    let e = m.import().unwrap_err().to_string();
    assert!(e.contains("'N'"), "{e}");
}

#[test]
fn declared_output_shape_is_checked() {
    let m = M::new(vec![vi("x", 1, &[1, 4])], vec![vi("y", 1, &[1, 5])]).node(node(
        "Relu",
        "r",
        &["x"],
        &["y"],
        vec![],
    ));
    assert!(matches!(m.import(), Err(CompileError::Invalid { .. })));
}

/// QDQ conv: x -> Q -> DQ -> Conv(DQ(int8 w, per-channel), DQ(int32 b)) -> Q -> DQ -> y.
fn qdq_conv(group: i64, cin: i64, cout: i64) -> M {
    let w: Vec<i32> = (0..cout * (cin / group) * 4)
        .map(|v| v as i32 - 8)
        .collect();
    let scales: Vec<f32> = (0..cout).map(|o| 0.01 * (o + 1) as f32).collect();
    M::new(
        vec![vi("x", 1, &[1, cin, 4, 4])],
        vec![vi("y", 1, &[1, cout, 3, 3])],
    )
    .init(f32_init("xs", &[], &[0.05]))
    .init(int_init("xz", 3, &[], &[-3]))
    .init(int_init("wq", 3, &[cout, cin / group, 2, 2], &w))
    .init(f32_init("ws", &[cout], &scales))
    .init(int_init("wz", 3, &[cout], &vec![0; cout as usize]))
    .init(int_init("bq", 6, &[cout], &vec![7; cout as usize]))
    .init(f32_init(
        "bs",
        &[cout],
        &scales.iter().map(|s| s * 0.05).collect::<Vec<_>>(),
    ))
    .init(f32_init("ys", &[], &[0.1]))
    .init(int_init("yz", 3, &[], &[5]))
    .node(node(
        "DequantizeLinear",
        "wdq",
        &["wq", "ws", "wz"],
        &["wf"],
        vec![ai("axis", 0)],
    ))
    .node(node(
        "DequantizeLinear",
        "bdq",
        &["bq", "bs"],
        &["bf"],
        vec![ai("axis", 0)],
    ))
    .node(node(
        "QuantizeLinear",
        "xq",
        &["x", "xs", "xz"],
        &["xq"],
        vec![],
    ))
    .node(node(
        "DequantizeLinear",
        "xdq",
        &["xq", "xs", "xz"],
        &["xf"],
        vec![],
    ))
    .node(node(
        "Conv",
        "conv",
        &["xf", "wf", "bf"],
        &["c"],
        vec![ai("group", group)],
    ))
    .node(node(
        "QuantizeLinear",
        "cq",
        &["c", "ys", "yz"],
        &["cq"],
        vec![],
    ))
    .node(node(
        "DequantizeLinear",
        "cdq",
        &["cq", "ys", "yz"],
        &["y"],
        vec![],
    ))
}

#[test]
fn qdq_conv_keeps_int8_weights_in_ohwi_with_per_channel_quant() {
    let g = qdq_conv(1, 2, 3).import().unwrap();
    let conv = position(&g, "Conv2d");
    let w = weight_const(&g, conv, 1);
    assert_eq!((w.dtype, w.shape.clone()), (DType::I8, vec![3, 2, 2, 2]));
    let q = w.quant.as_ref().unwrap();
    assert_eq!((q.axis, q.scale.len()), (0, 3));
    // OIHW value (o,i,ky,kx) = 8o + 4i + 2ky + kx - 8; OHWI first row: (0,0,0,0),(0,1,0,0),(0,0,0,1),(0,1,0,1).
    assert_eq!(
        &w.data.as_ref().unwrap()[..4],
        &[-8i8 as u8, -4i8 as u8, -7i8 as u8, -3i8 as u8]
    );
    // The original OIHW weight and its DQ node are gone.
    assert_eq!(g.nodes.iter().filter(|n| n.op == Op::Dequantize).count(), 4);
    assert!(g
        .tensors
        .iter()
        .all(|t| t.shape != [3, 2, 2, 2] || t.name.contains('#')));
    // Q / DQ carry quantization on the integer side.
    let xq = position(&g, "Quantize");
    assert_eq!(
        g.nodes[xq].op,
        Op::Quantize {
            rounding: Rounding::HalfToEven
        }
    );
    let t = g.tensor(g.nodes[xq].outputs[0]);
    assert_eq!(
        (t.dtype, t.quant.clone()),
        (DType::I8, Some(Quant::per_tensor(0.05, -3)))
    );
    let b = weight_const(&g, conv, 2);
    assert_eq!(
        (b.dtype, b.quant.as_ref().unwrap().scale.len()),
        (DType::I32, 3)
    );
    assert_eq!(g.tensor(g.outputs[0]).dtype, DType::F32);
}

#[test]
fn qdq_depthwise_moves_the_quant_axis() {
    let g = qdq_conv(2, 2, 2).import().unwrap();
    let dw = position(&g, "DepthwiseConv2d");
    let w = weight_const(&g, dw, 1);
    assert_eq!((w.dtype, w.shape.clone()), (DType::I8, vec![1, 2, 2, 2]));
    assert_eq!(w.quant.as_ref().unwrap().axis, 3);
}

#[test]
fn qdq_gemm_weight_axis_follows_transpose() {
    // B int8 [K=2, N=3] per-channel on axis 1, transB = 0 -> FC weight [3, 2] with axis 0.
    let m = M::new(vec![vi("a", 1, &[1, 2])], vec![vi("y", 1, &[1, 3])])
        .init(int_init("bq", 3, &[2, 3], &[1, 2, 3, 4, 5, 6]))
        .init(f32_init("bs", &[3], &[0.1, 0.2, 0.3]))
        .init(int_init("bz", 3, &[3], &[0, 0, 0]))
        .node(node(
            "DequantizeLinear",
            "bdq",
            &["bq", "bs", "bz"],
            &["bf"],
            vec![ai("axis", 1)],
        ))
        .node(node("Gemm", "fc", &["a", "bf"], &["y"], vec![]));
    let g = m.import().unwrap();
    assert_eq!(op_names(&g), ["Dequantize", "FullyConnected"]);
    let w = weight_const(&g, 1, 1);
    assert_eq!(w.shape, [3, 2]);
    assert_eq!(w.data.as_ref().unwrap(), &vec![1, 4, 2, 5, 3, 6]);
    assert_eq!(w.quant.as_ref().unwrap().axis, 0);
    assert_eq!(w.quant.as_ref().unwrap().scale, [0.1, 0.2, 0.3]);
}

#[test]
fn dequantize_with_conflicting_params_is_reported() {
    let m = M::new(vec![vi("x", 1, &[1, 4])], vec![vi("y", 1, &[1, 4])])
        .init(f32_init("s1", &[], &[0.1]))
        .init(f32_init("s2", &[], &[0.2]))
        .init(int_init("z", 3, &[], &[0]))
        .node(node(
            "QuantizeLinear",
            "q",
            &["x", "s1", "z"],
            &["xq"],
            vec![],
        ))
        .node(node(
            "DequantizeLinear",
            "dq",
            &["xq", "s2", "z"],
            &["y"],
            vec![],
        ));
    let e = m.import().unwrap_err();
    assert!(matches!(e, CompileError::Unsupported { .. }), "{e}");
    // Without a zero point, QuantizeLinear produces uint8.
    let m = M::new(vec![vi("x", 1, &[1, 4])], vec![vi("y", 2, &[1, 4])])
        .init(f32_init("s", &[], &[0.1]))
        .node(node("QuantizeLinear", "q", &["x", "s"], &["y"], vec![]));
    assert_eq!(m.import().unwrap().tensor(TensorId(1)).dtype, DType::U8);
}

#[test]
fn matmul_add_becomes_fc_bias_only_for_a_sole_use() {
    let base = || {
        M::new(vec![vi("a", 1, &[1, 2])], vec![vi("y", 1, &[1, 3])])
            .init(f32_init("B", &[2, 3], &[0.0; 6]))
            .init(f32_init("c", &[1, 3], &[1., 2., 3.]))
            .node(node("MatMul", "mm", &["a", "B"], &["t"], vec![]))
    };
    let g = base()
        .node(node("Add", "bias", &["c", "t"], &["y"], vec![]))
        .import()
        .unwrap();
    assert_eq!(op_names(&g), ["FullyConnected"]);
    let b = g.tensor(g.nodes[0].input(2).unwrap());
    assert_eq!((b.shape.clone(), f32s(b)), (vec![3], vec![1., 2., 3.]));
    assert_eq!(g.tensor(g.outputs[0]).name, "y");
    // t is also read by Mul: the bias stays a separate Add.
    let mut m = base()
        .node(node("Add", "bias", &["t", "c"], &["u"], vec![]))
        .node(node("Mul", "m", &["u", "t"], &["y"], vec![]));
    m.outputs = vec![vi("y", 1, &[1, 3])];
    assert_eq!(
        op_names(&m.import().unwrap()),
        ["FullyConnected", "Add", "Mul"]
    );
}
