//! End-to-end tests of [`optimize`] on hand-made graphs in the shapes the
//! importers produce (ONNX QDQ with NCHW<->NHWC transposes, TFLite-style int8).

use super::testutil::{count, eval, max_diff, noise, B};
use super::util;
use super::*;
use crate::ir::{Act, DType, Op, Quant, Rounding, TensorId, Window};

const TO_NHWC: [usize; 4] = [0, 2, 3, 1];
const TO_NCHW: [usize; 4] = [0, 3, 1, 2];

fn tr(b: &mut B, name: &str, x: TensorId, perm: &[usize]) -> TensorId {
    let t = b.g.tensor(x).clone();
    let shape = util::permute_shape(&t.shape, perm);
    let y = b.t(name, t.dtype, &shape);
    b.g.tensor_mut(y).quant = util::quant_after_transpose(&t.quant, perm);
    b.node(
        name,
        Op::Transpose {
            perm: perm.to_vec(),
        },
        &[x],
        &[y],
    );
    y
}

/// An int8 constant with per-channel scales on `axis`, behind a Dequantize; returns the f32 tensor.
fn dq_weight(b: &mut B, name: &str, shape: &[usize], axis: usize, seed: u64) -> TensorId {
    let n: usize = shape.iter().product();
    let scales: Vec<f32> = (0..shape[axis]).map(|c| 0.01 * (c + 1) as f32).collect();
    let q = Quant {
        scale: scales,
        zero_point: vec![0; shape[axis]],
        axis,
    };
    let v: Vec<i64> = noise(n, seed).iter().map(|x| (x * 127.0) as i64).collect();
    let c = b.cint(&format!("{name}_q"), DType::I8, shape, &v, Some(q));
    let f = b.f(name, shape);
    b.node(&format!("{name}_dq"), Op::Dequantize, &[c], &[f]);
    f
}

/// An ONNX-style int32 bias `DequantizeLinear(int32, scale = sx * sw)`.
fn dq_bias(b: &mut B, name: &str, sx: f32, n: usize, seed: u64) -> TensorId {
    let scales: Vec<f32> = (0..n).map(|c| sx * 0.01 * (c + 1) as f32).collect();
    let q = Quant {
        scale: scales,
        zero_point: vec![0; n],
        axis: 0,
    };
    let v: Vec<i64> = noise(n, seed).iter().map(|x| (x * 300.0) as i64).collect();
    let c = b.cint(&format!("{name}_q"), DType::I32, &[n], &v, Some(q));
    let f = b.f(name, &[n]);
    b.node(&format!("{name}_dq"), Op::Dequantize, &[c], &[f]);
    f
}

fn win(pad: usize) -> Window {
    Window {
        stride: [1, 1],
        dilation: [1, 1],
        pads: [pad; 4],
    }
}

/// ONNX-style QDQ conv on an NCHW tensor: T -> Conv(NHWC) -> T, then Q/DQ at `scale, zp`.
fn onnx_conv(
    b: &mut B,
    name: &str,
    x: TensorId,
    sx: f32,
    cout: usize,
    scale: f32,
    zp: i32,
) -> TensorId {
    let s = b.g.tensor(x).shape.clone();
    let xn = tr(b, &format!("{name}_in_t"), x, &TO_NHWC);
    let w = dq_weight(
        b,
        &format!("{name}_w"),
        &[cout, 3, 3, s[1]],
        0,
        cout as u64 + s[1] as u64,
    );
    let bias = dq_bias(b, &format!("{name}_b"), sx, cout, 11);
    let y = b.f(name, &[s[0], s[2], s[3], cout]);
    b.node(
        name,
        Op::Conv2d {
            win: win(1),
            groups: 1,
            act: Act::None,
        },
        &[xn, w, bias],
        &[y],
    );
    let yt = tr(b, &format!("{name}_out_t"), y, &TO_NCHW);
    b.qdq(&format!("{name}_act"), yt, scale, zp)
}

fn node<'a>(g: &'a crate::ir::Graph, name: &str) -> &'a crate::ir::Node {
    g.nodes
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("node {name} not found"))
}

#[test]
fn onnx_qdq_convs_become_int8_with_one_transpose_each_side() {
    let mut b = B::new();
    let x = b.input("x", &[1, 2, 5, 5]);
    let xd = b.qdq("x", x, 0.02, -5);
    let c1 = onnx_conv(&mut b, "c1", xd, 0.02, 4, 0.05, -128);
    let c2 = onnx_conv(&mut b, "c2", c1, 0.05, 3, 0.04, 7);
    b.output(c2);
    let input = noise(50, 21);
    let before = eval(&b.g, &input);
    let r = optimize(&mut b.g, &PassOptions::default()).unwrap();
    assert_eq!(r.transposes_before, 4);
    assert_eq!(r.transposes_after, 2);
    assert_eq!(r.quantized_ops, 2);
    assert!(r.kept_f32.is_empty(), "{:?}", r.kept_f32);
    for name in ["c1", "c2"] {
        let n = node(&b.g, name);
        let (x, w, bias) = (
            n.input(0).unwrap(),
            n.input(1).unwrap(),
            n.input(2).unwrap(),
        );
        assert_eq!(b.g.tensor(x).dtype, DType::I8);
        assert_eq!(b.g.tensor(n.outputs[0]).dtype, DType::I8);
        let wt = b.g.tensor(w);
        assert!(wt.is_const() && wt.dtype == DType::I8 && wt.quant.as_ref().unwrap().axis == 0);
        let bt = b.g.tensor(bias);
        assert!(bt.is_const() && bt.dtype == DType::I32);
    }
    // Quantize at the input, int8 transposes at both ends, dequantize at the output.
    let ops: Vec<&str> = b.g.nodes.iter().map(|n| n.op.name()).collect();
    assert_eq!(
        ops,
        [
            "Quantize",
            "Transpose",
            "Conv2d",
            "Conv2d",
            "Transpose",
            "Dequantize"
        ]
    );
    let after = eval(&b.g, &input);
    assert!(max_diff(&before[0], &after[0]) < 1e-6);
}

#[test]
fn gemm_weights_behind_transpose_and_flatten_become_int8_fully_connected() {
    // kws/resnet tail: pooled [1,1,1,C] NHWC -> T -> Q/DQ -> Reshape -> Q/DQ -> Gemm(transB=0) -> Q/DQ.
    let mut b = B::new();
    let x = b.input("x", &[1, 1, 1, 4]);
    let xd = b.qdq("x", x, 0.1, -128);
    let xt = tr(&mut b, "pool_out_t", xd, &TO_NCHW);
    let xq = b.qdq("pool", xt, 0.1, -128);
    let flat = b.f("flat", &[1, 4]);
    b.node("flatten", Op::Reshape, &[xq], &[flat]);
    let fq = b.qdq("flat", flat, 0.1, -128);
    let wkn = dq_weight(&mut b, "w", &[4, 3], 1, 5);
    let wnk = tr(&mut b, "w_t", wkn, &[1, 0]);
    let bias = dq_bias(&mut b, "b", 0.1, 3, 6);
    let y = b.f("y", &[1, 3]);
    b.node(
        "fc",
        Op::FullyConnected { act: Act::None },
        &[fq, wnk, bias],
        &[y],
    );
    let yd = b.qdq("y", y, 0.07, 3);
    b.output(yd);
    let input = noise(4, 2)
        .iter()
        .map(|v| v.abs() * 10.0)
        .collect::<Vec<_>>();
    let before = eval(&b.g, &input);
    let r = optimize(&mut b.g, &PassOptions::default()).unwrap();
    assert_eq!(r.transposes_after, 0);
    let ops: Vec<&str> = b.g.nodes.iter().map(|n| n.op.name()).collect();
    assert_eq!(ops, ["Quantize", "Reshape", "FullyConnected", "Dequantize"]);
    let fc = node(&b.g, "fc");
    let w = b.g.tensor(fc.input(1).unwrap());
    assert_eq!(w.shape, vec![3, 4]);
    assert_eq!(w.quant.as_ref().unwrap().axis, 0);
    assert_eq!(w.quant.as_ref().unwrap().scale, vec![0.01, 0.02, 0.03]);
    assert!(max_diff(&before[0], &eval(&b.g, &input)[0]) < 1e-6);
}

#[test]
fn maxpool_and_flatten_without_their_own_qdq_pair_pass_int8_through() {
    // DQ -> MaxPool -> Flatten(NCHW order) -> Gemm -> Q: no Q/DQ around the pool and flatten.
    let mut b = B::new();
    let x = b.input("x", &[1, 4, 4, 2]);
    let xd = b.qdq("x", x, 0.05, 0);
    let kernel = [2, 2];
    let w2 = Window {
        stride: [2, 2],
        dilation: [1, 1],
        pads: [0; 4],
    };
    let p = b.f("p", &[1, 2, 2, 2]);
    b.node(
        "pool",
        Op::MaxPool2d {
            kernel,
            win: w2,
            act: Act::None,
        },
        &[xd],
        &[p],
    );
    let pt = tr(&mut b, "pool_t", p, &TO_NCHW);
    let flat = b.f("flat", &[1, 8]);
    b.node("flatten", Op::Reshape, &[pt], &[flat]);
    let w = dq_weight(&mut b, "w", &[3, 8], 0, 9);
    let bias = dq_bias(&mut b, "b", 0.05, 3, 10);
    let y = b.f("y", &[1, 3]);
    b.node(
        "fc",
        Op::FullyConnected { act: Act::None },
        &[flat, w, bias],
        &[y],
    );
    let yd = b.qdq("y", y, 0.03, -2);
    b.output(yd);
    let input = noise(32, 4);
    let before = eval(&b.g, &input);
    let r = optimize(&mut b.g, &PassOptions::default()).unwrap();
    assert_eq!(r.transposes_after, 0);
    assert_eq!(r.folded_flatten_permutations, 1);
    let ops: Vec<&str> = b.g.nodes.iter().map(|n| n.op.name()).collect();
    assert_eq!(
        ops,
        [
            "Quantize",
            "MaxPool2d",
            "Reshape",
            "FullyConnected",
            "Dequantize"
        ]
    );
    assert_eq!(b.g.tensor(node(&b.g, "pool").outputs[0]).dtype, DType::I8);
    assert!(max_diff(&before[0], &eval(&b.g, &input)[0]) < 1e-6);
}

#[test]
fn softmax_keeps_f32_unless_output_is_1_over_256() {
    for (scale, folds) in [(1.0 / 255.0, false), (1.0 / 256.0, true)] {
        let mut b = B::new();
        let x = b.input("x", &[1, 10]);
        let xd = b.qdq("x", x, 0.1, 0);
        let s = b.f("s", &[1, 10]);
        b.node("softmax", Op::Softmax { beta: 1.0 }, &[xd], &[s]);
        let y = b.qdq("y", s, scale, -128);
        b.output(y);
        let r = optimize(&mut b.g, &PassOptions::default()).unwrap();
        let sm = node(&b.g, "softmax");
        assert_eq!(b.g.tensor(sm.outputs[0]).dtype == DType::I8, folds);
        if folds {
            assert!(r.kept_f32.is_empty());
        } else {
            assert_eq!(r.kept_f32.len(), 1);
            assert_eq!(r.kept_f32[0].node, "softmax");
            assert!(
                r.kept_f32[0].reason.contains("1/256"),
                "{}",
                r.kept_f32[0].reason
            );
            // Never dropped: still dequantized in, quantized out.
            assert_eq!(count(&b.g, |o| matches!(o, Op::Dequantize)), 2);
        }
    }
}

#[test]
fn op_without_int8_kernel_stays_between_its_dequantize_and_quantize() {
    let mut b = B::new();
    let x = b.input("x", &[1, 8]);
    let xd = b.qdq("x", x, 0.1, 0);
    let h = b.f("h", &[1, 8]);
    b.node(
        "hsig",
        Op::HardSigmoid {
            alpha: 0.2,
            beta: 0.5,
        },
        &[xd],
        &[h],
    );
    let y = b.qdq("y", h, 1.0 / 256.0, -128);
    b.output(y);
    let r = optimize(&mut b.g, &PassOptions::default()).unwrap();
    assert_eq!(
        r.kept_f32,
        vec![KeptF32 {
            node: "hsig".into(),
            op: "HardSigmoid",
            reason: "no int8 kernel for HardSigmoid".into()
        }]
    );
    let ops: Vec<&str> = b.g.nodes.iter().map(|n| n.op.name()).collect();
    assert_eq!(
        ops,
        [
            "Quantize",
            "Dequantize",
            "HardSigmoid",
            "Quantize",
            "Dequantize"
        ]
    );
}

#[test]
fn asymmetric_weights_keep_conv_in_f32_and_the_weight_is_dequantized_at_compile_time() {
    let mut b = B::new();
    let x = b.input("x", &[1, 3, 3, 1]);
    let xd = b.qdq("x", x, 0.1, 0);
    let q = Quant::per_tensor(0.01, 3);
    let wq = b.cint("w_q", DType::I8, &[2, 1, 1, 1], &[10, -20], Some(q));
    let w = b.f("w", &[2, 1, 1, 1]);
    b.node("w_dq", Op::Dequantize, &[wq], &[w]);
    let y = b.f("y", &[1, 3, 3, 2]);
    b.node(
        "conv",
        Op::Conv2d {
            win: win(0),
            groups: 1,
            act: Act::None,
        },
        &[xd, w],
        &[y],
    );
    let yd = b.qdq("y", y, 0.05, 0);
    b.output(yd);
    let r = optimize(&mut b.g, &PassOptions::default()).unwrap();
    assert_eq!(r.kept_f32.len(), 1);
    assert!(
        r.kept_f32[0].reason.contains("zero point"),
        "{}",
        r.kept_f32[0].reason
    );
    let conv = node(&b.g, "conv");
    let wt = b.g.tensor(conv.input(1).unwrap());
    assert_eq!(
        util::f32_values(wt).unwrap(),
        vec![(10.0 - 3.0) * 0.01, (-20.0 - 3.0) * 0.01]
    );
}

#[test]
fn bias_is_requantized_when_its_scale_is_not_input_times_weight() {
    let mut b = B::new();
    let x = b.input("x", &[1, 4]);
    let xd = b.qdq("x", x, 0.5, 0);
    let w = dq_weight(&mut b, "w", &[2, 4], 0, 3);
    // f32 bias (TFLite-style float graph with QDQ around): becomes int32 at 0.5 * w_scale.
    let bias = b.cf32("b", &[2], &[0.1, -0.3]);
    let y = b.f("y", &[1, 2]);
    b.node(
        "fc",
        Op::FullyConnected { act: Act::None },
        &[xd, w, bias],
        &[y],
    );
    let yd = b.qdq("y", y, 0.01, 0);
    b.output(yd);
    optimize(&mut b.g, &PassOptions::default()).unwrap();
    let fc = node(&b.g, "fc");
    let bt = b.g.tensor(fc.input(2).unwrap());
    assert_eq!(bt.dtype, DType::I32);
    // 0.1 / (0.5 * 0.01) = 20, -0.3 / (0.5 * 0.02) = -30.
    assert_eq!(util::int_values(bt).unwrap(), vec![20, -30]);
    assert_eq!(bt.quant.as_ref().unwrap().scale, vec![0.005, 0.01]);
}

#[test]
fn avgpool_with_new_output_scale_gets_a_requantize() {
    let mut b = B::new();
    let x = b.input("x", &[1, 2, 2, 1]);
    let xd = b.qdq("x", x, 0.1, 0);
    let kernel = [2, 2];
    let w2 = Window {
        stride: [2, 2],
        dilation: [1, 1],
        pads: [0; 4],
    };
    let p = b.f("p", &[1, 1, 1, 1]);
    b.node(
        "pool",
        Op::AvgPool2d {
            kernel,
            win: w2,
            count_include_pad: false,
            act: Act::None,
        },
        &[xd],
        &[p],
    );
    let y = b.qdq("y", p, 0.2, 1);
    b.output(y);
    let r = optimize(&mut b.g, &PassOptions::default()).unwrap();
    assert_eq!(r.quantized_ops, 1);
    let pool = node(&b.g, "pool");
    let mid = b.g.tensor(pool.outputs[0]);
    assert_eq!(
        (mid.dtype, mid.quant.clone()),
        (DType::I8, Some(Quant::per_tensor(0.1, 0)))
    );
    let ops: Vec<&str> = b.g.nodes.iter().map(|n| n.op.name()).collect();
    // input quantize, pool, int8 -> int8 requantize, output dequantize.
    assert_eq!(ops, ["Quantize", "AvgPool2d", "Quantize", "Dequantize"]);
    let rq = &b.g.nodes[2];
    assert_eq!(b.g.tensor(rq.input(0).unwrap()).dtype, DType::I8);
}

#[test]
fn relu_after_a_clamping_quantized_conv_is_absorbed() {
    let mut b = B::new();
    let x = b.input("x", &[1, 2, 2, 1]);
    let xd = b.qdq("x", x, 0.1, 0);
    let w = dq_weight(&mut b, "w", &[2, 1, 1, 1], 0, 2);
    let y = b.f("y", &[1, 2, 2, 2]);
    b.node(
        "conv",
        Op::Conv2d {
            win: win(0),
            groups: 1,
            act: Act::None,
        },
        &[xd, w],
        &[y],
    );
    let yd = b.qdq("y", y, 0.01, -128);
    let r = b.f("r", &[1, 2, 2, 2]);
    b.node("relu", Op::Relu, &[yd], &[r]);
    let rd = b.qdq("r", r, 0.01, -128);
    b.output(rd);
    let input = noise(4, 1);
    let before = eval(&b.g, &input);
    let rep = optimize(&mut b.g, &PassOptions::default()).unwrap();
    assert_eq!(rep.fused_activations, 1);
    assert!(b.g.nodes.iter().all(|n| n.op != Op::Relu));
    let ops: Vec<&str> = b.g.nodes.iter().map(|n| n.op.name()).collect();
    assert_eq!(ops, ["Quantize", "Conv2d", "Dequantize"]);
    assert!(max_diff(&before[0], &eval(&b.g, &input)[0]) < 1e-9);
}

#[test]
fn f32_conv_relu_fuses_before_qdq_folding() {
    // PyTorch-style QDQ: Conv -> Relu -> Q with no Q/DQ between conv and relu.
    let mut b = B::new();
    let x = b.input("x", &[1, 2, 2, 1]);
    let xd = b.qdq("x", x, 0.1, 0);
    let w = dq_weight(&mut b, "w", &[2, 1, 1, 1], 0, 2);
    let y = b.f("y", &[1, 2, 2, 2]);
    b.node(
        "conv",
        Op::Conv2d {
            win: win(0),
            groups: 1,
            act: Act::None,
        },
        &[xd, w],
        &[y],
    );
    let r = b.f("r", &[1, 2, 2, 2]);
    b.node("relu6", Op::Clip { min: 0.0, max: 6.0 }, &[y], &[r]);
    let rd = b.qdq("r", r, 0.01, -100);
    b.output(rd);
    optimize(&mut b.g, &PassOptions::default()).unwrap();
    let conv = node(&b.g, "conv");
    assert_eq!(
        conv.op,
        Op::Conv2d {
            win: win(0),
            groups: 1,
            act: Act::Relu6
        }
    );
    assert_eq!(b.g.tensor(conv.outputs[0]).dtype, DType::I8);
}

#[test]
fn residual_add_in_nchw_folds_to_int8_nhwc() {
    let mut b = B::new();
    let x = b.input("x", &[1, 2, 4, 4]);
    let xd = b.qdq("x", x, 0.02, 0);
    let a = onnx_conv(&mut b, "a", xd, 0.02, 2, 0.05, -128);
    let c = onnx_conv(&mut b, "c", a, 0.05, 2, 0.06, -3);
    let s = b.f("s", &[1, 2, 4, 4]);
    b.node("add", Op::Add { act: Act::None }, &[a, c], &[s]);
    let sd = b.qdq("s", s, 0.08, -10);
    let d = onnx_conv(&mut b, "d", sd, 0.08, 2, 0.05, 0);
    b.output(d);
    let input = noise(32, 77);
    let before = eval(&b.g, &input);
    let r = optimize(&mut b.g, &PassOptions::default()).unwrap();
    assert_eq!(
        r.transposes_after,
        2,
        "{:#?}",
        b.g.nodes.iter().map(|n| n.op.name()).collect::<Vec<_>>()
    );
    assert_eq!(r.quantized_ops, 4);
    let add = node(&b.g, "add");
    assert!(add
        .inputs
        .iter()
        .flatten()
        .all(|t| b.g.tensor(*t).dtype == DType::I8));
    assert_eq!(b.g.tensor(add.outputs[0]).shape, vec![1, 4, 4, 2]);
    assert!(max_diff(&before[0], &eval(&b.g, &input)[0]) < 1e-6);
}

#[test]
fn uint8_qdq_becomes_int8_with_shifted_zero_points() {
    let mut b = B::new();
    let x = b.input("x", &[1, 4]);
    let xq = b.t("xq", DType::U8, &[1, 4]);
    b.g.tensor_mut(xq).quant = Some(Quant::per_tensor(0.1, 128));
    b.node(
        "xq",
        Op::Quantize {
            rounding: Rounding::HalfToEven,
        },
        &[x],
        &[xq],
    );
    let xd = b.f("xd", &[1, 4]);
    b.node("xdq", Op::Dequantize, &[xq], &[xd]);
    let w = dq_weight(&mut b, "w", &[2, 4], 0, 1);
    let y = b.f("y", &[1, 2]);
    b.node("fc", Op::FullyConnected { act: Act::None }, &[xd, w], &[y]);
    let yq = b.t("yq", DType::U8, &[1, 2]);
    b.g.tensor_mut(yq).quant = Some(Quant::per_tensor(0.05, 100));
    b.node(
        "yq",
        Op::Quantize {
            rounding: Rounding::HalfToEven,
        },
        &[y],
        &[yq],
    );
    let yd = b.f("yd", &[1, 2]);
    b.node("ydq", Op::Dequantize, &[yq], &[yd]);
    b.output(yd);
    let input = noise(4, 3);
    let before = eval(&b.g, &input);
    optimize(&mut b.g, &PassOptions::default()).unwrap();
    let fc = node(&b.g, "fc");
    let xi = b.g.tensor(fc.input(0).unwrap());
    assert_eq!(
        (xi.dtype, xi.quant.clone()),
        (DType::I8, Some(Quant::per_tensor(0.1, 0)))
    );
    let yo = b.g.tensor(fc.outputs[0]);
    assert_eq!(
        (yo.dtype, yo.quant.clone()),
        (DType::I8, Some(Quant::per_tensor(0.05, -28)))
    );
    assert_eq!(max_diff(&before[0], &eval(&b.g, &input)[0]), 0.0);
}

#[test]
fn uint8_graph_input_gets_an_exact_conversion() {
    let mut b = B::new();
    let x = b.t("x", DType::U8, &[1, 4]);
    b.g.tensor_mut(x).quant = Some(Quant::per_tensor(0.1, 130));
    b.g.inputs.push(x);
    let xd = b.f("xd", &[1, 4]);
    b.node("xdq", Op::Dequantize, &[x], &[xd]);
    let y = b.f("y", &[1, 4]);
    b.node("relu", Op::Relu, &[xd], &[y]);
    let yd = b.qdq("y", y, 0.1, 2);
    b.output(yd);
    let r = optimize(&mut b.g, &PassOptions::default()).unwrap();
    assert_eq!(r.notes.len(), 1);
    let first = &b.g.nodes[0];
    assert_eq!(first.input(0), Some(x));
    let conv = b.g.tensor(first.outputs[0]);
    assert_eq!(
        (conv.dtype, conv.quant.clone()),
        (DType::I8, Some(Quant::per_tensor(0.1, 2)))
    );
    let relu = node(&b.g, "relu");
    assert_eq!(b.g.tensor(relu.input(0).unwrap()).dtype, DType::I8);
}

#[test]
fn options_disable_passes() {
    let mut b = B::new();
    let x = b.input("x", &[1, 4]);
    let xd = b.qdq("x", x, 0.1, 0);
    let r = b.f("r", &[1, 4]);
    b.node("relu", Op::Relu, &[xd], &[r]);
    let y = b.qdq("y", r, 0.1, 0);
    b.output(y);
    let before = b.g.clone();
    let none = PassOptions {
        fold_constants: false,
        fold_qdq: false,
        layout: false,
        fuse_activations: false,
    };
    let rep = optimize(&mut b.g, &none).unwrap();
    assert_eq!(b.g, before);
    assert_eq!(rep.nodes_before, rep.nodes_after);
}

#[test]
fn malformed_graph_is_an_error_not_a_panic() {
    let mut b = B::new();
    let x = b.input("x", &[1, 4]);
    let c = b.cf32("c", &[1, 4], &[0.0; 4]);
    b.g.tensor_mut(c).data = Some(vec![0; 3]);
    let y = b.f("y", &[1, 4]);
    b.node("add", Op::Add { act: Act::None }, &[x, c], &[y]);
    b.output(y);
    let e = optimize(&mut b.g, &PassOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("'c'") || e.contains(" c") || e.contains("c:"),
        "{e}"
    );
    assert!(e.contains("3 bytes"), "{e}");

    let mut b = B::new();
    let x = b.input("x", &[1, 4]);
    let y = b.f("y", &[1, 4]);
    b.node("relu", Op::Relu, &[x], &[TensorId(99)]);
    b.output(y);
    let e = optimize(&mut b.g, &PassOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("relu") && e.contains("99"), "{e}");
}

/// `(model folder, transposes left in the QDQ and the f32 graph)`.
const FIXTURES: [(&str, usize); 6] = [
    ("kws_dscnn", 0),
    ("vww_mobilenetv1_025", 1),
    ("ic_resnet8", 1),
    ("ad_fc_autoencoder", 0),
    ("synth_i_conv_pool_fc", 0),
    ("synth_ii_residual", 1),
];

fn fixture(model: &str, file: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(model)
        .join(file)
}

fn npy_f32(path: std::path::PathBuf) -> Vec<f32> {
    crate::npy::NpyArray::read(&path)
        .and_then(|a| a.to_f32())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The QDQ fixtures: every compute operator becomes int8 (softmax may stay f32: TFLite's int8
/// softmax needs output scale 1/256, these models use 1/255). Under the reference evaluator the
/// optimized graph computes exactly what the imported graph computes, and both agree with ONNX
/// Runtime's float simulation of the QDQ graph (`output_k_ort_noopt.npy`): ORT rounds in f32 where
/// the evaluator uses f64, so a near-tie can flip one internal step, which softmax amplifies; the
/// bound is one output step on average and four at most.
#[test]
fn qdq_fixtures_fold_to_int8_and_match_onnx_runtime() {
    for (model, transposes) in FIXTURES {
        let path = fixture(model, &format!("{model}_qdq_int8.onnx"));
        let mut g = crate::import::onnx::load(&path).unwrap();
        let has_softmax = g.nodes.iter().any(|n| matches!(n.op, Op::Softmax { .. }));
        let original = g.clone();
        let r = optimize(&mut g, &PassOptions::default()).unwrap();
        assert_eq!(r.transposes_after, transposes, "{model}");
        let kept: Vec<&str> = r.kept_f32.iter().map(|k| k.node.as_str()).collect();
        assert!(
            r.kept_f32.iter().all(|k| k.op == "Softmax"),
            "{model}: {:?}",
            r.kept_f32
        );
        assert!(r.kept_f32.len() <= usize::from(has_softmax), "{model}");
        for n in &g.nodes {
            let qdq = matches!(n.op, Op::Dequantize | Op::Quantize { .. });
            if !qdq && !kept.contains(&n.name.as_str()) {
                let dt = g.tensor(n.outputs[0]).dtype;
                assert_eq!(dt, DType::I8, "{model}: {} stays {}", n.name, n.op.name());
            }
        }
        let last_dq = g.producer(g.outputs[0]).unwrap();
        let out_q = g.tensor(g.nodes[last_dq].input(0).unwrap());
        let step = util::per_tensor_q(out_q).unwrap().0 as f64;
        for k in 0..4 {
            let input = npy_f32(fixture(model, &format!("ref/onnx_qdq/input_{k}.npy")));
            let want = format!("ref/onnx_qdq/output_{k}_ort_noopt.npy");
            let want: Vec<f64> = npy_f32(fixture(model, &want))
                .iter()
                .map(|v| *v as f64)
                .collect();
            let got = eval(&g, &input);
            let same = max_diff(&got[0], &eval(&original, &input)[0]);
            assert_eq!(
                same, 0.0,
                "{model} input {k}: the passes changed the result"
            );
            let d = max_diff(&got[0], &want);
            let mean = got[0]
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .sum::<f64>()
                / want.len() as f64;
            assert!(
                d <= 4.01 * step && mean <= step,
                "{model} input {k}: max {d}, mean {mean}, step {step}"
            );
        }
    }
}

/// The f32 fixtures: transposes cancel, activations fuse, and the result equals ONNX Runtime.
#[test]
fn f32_fixtures_lose_their_transposes_and_match_onnx_runtime() {
    for (model, transposes) in FIXTURES {
        let path = fixture(model, &format!("{model}_f32.onnx"));
        let mut g = crate::import::onnx::load(&path).unwrap();
        let r = optimize(&mut g, &PassOptions::default()).unwrap();
        assert_eq!(r.transposes_after, transposes, "{model}");
        let acts = count(&g, |o| matches!(o, Op::Relu | Op::Relu6 | Op::Clip { .. }));
        assert_eq!(acts, 0, "{model}");
        let flatten_folds = usize::from(model == "synth_i_conv_pool_fc");
        assert_eq!(r.folded_flatten_permutations, flatten_folds, "{model}");
        for k in 0..4 {
            let input = npy_f32(fixture(model, &format!("ref/onnx_f32/input_{k}.npy")));
            let want = npy_f32(fixture(model, &format!("ref/onnx_f32/output_{k}.npy")));
            let got = eval(&g, &input);
            for (a, b) in got[0].iter().zip(&want) {
                let tol = 1e-4 + 1e-3 * b.abs() as f64;
                assert!(
                    (a - *b as f64).abs() <= tol,
                    "{model} input {k}: {a} vs {b}"
                );
            }
        }
    }
}
