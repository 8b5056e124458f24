//! Every ONNX fixture imports; graph I/O shapes match the manifests and the
//! operator counts match the source models (counted with the `onnx` Python
//! package when the table was written). Structural invariants of the IR
//! (NHWC wrapping, OHWI / [N,K] weights, quantization on Q/DQ) are checked on
//! every node.

use std::path::PathBuf;

use kiln_compiler::import::onnx;
use kiln_compiler::ir::{DType, Graph, Op};

/// One fixture: file, input shape, output shape, ONNX Conv count (of which
/// depthwise), Gemm+MatMul, pools (Max/Average/GlobalAverage), QuantizeLinear,
/// DequantizeLinear, Softmax.
struct F(
    &'static str,
    &'static [usize],
    &'static [usize],
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
);

const FIXTURES: &[F] = &[
    F(
        "ad_fc_autoencoder/ad_fc_autoencoder_f32.onnx",
        &[1, 640],
        &[1, 640],
        0,
        0,
        10,
        0,
        0,
        0,
        0,
    ),
    F(
        "ad_fc_autoencoder/ad_fc_autoencoder_qdq_int8.onnx",
        &[1, 640],
        &[1, 640],
        0,
        0,
        10,
        0,
        11,
        31,
        0,
    ),
    F(
        "ic_resnet8/ic_resnet8_f32.onnx",
        &[1, 3, 32, 32],
        &[1, 10],
        9,
        0,
        1,
        1,
        0,
        0,
        1,
    ),
    F(
        "ic_resnet8/ic_resnet8_qdq_int8.onnx",
        &[1, 3, 32, 32],
        &[1, 10],
        9,
        0,
        1,
        1,
        17,
        37,
        1,
    ),
    F(
        "kws_dscnn/kws_dscnn_f32.onnx",
        &[1, 1, 49, 10],
        &[1, 12],
        9,
        4,
        1,
        1,
        0,
        0,
        1,
    ),
    F(
        "kws_dscnn/kws_dscnn_qdq_int8.onnx",
        &[1, 1, 49, 10],
        &[1, 12],
        9,
        4,
        1,
        1,
        14,
        34,
        1,
    ),
    F(
        "synth_i_conv_pool_fc/synth_i_conv_pool_fc_f32.onnx",
        &[1, 1, 16, 16],
        &[1, 10],
        1,
        0,
        1,
        1,
        0,
        0,
        1,
    ),
    F(
        "synth_i_conv_pool_fc/synth_i_conv_pool_fc_qdq_int8.onnx",
        &[1, 1, 16, 16],
        &[1, 10],
        1,
        0,
        1,
        1,
        6,
        10,
        1,
    ),
    F(
        "synth_ii_residual/synth_ii_residual_f32.onnx",
        &[1, 4, 16, 16],
        &[1, 5],
        3,
        1,
        1,
        2,
        0,
        0,
        0,
    ),
    F(
        "synth_ii_residual/synth_ii_residual_qdq_int8.onnx",
        &[1, 4, 16, 16],
        &[1, 5],
        3,
        1,
        1,
        2,
        10,
        18,
        0,
    ),
    F(
        "vww_mobilenetv1_025/vww_mobilenetv1_025_f32.onnx",
        &[1, 3, 96, 96],
        &[1, 2],
        27,
        13,
        1,
        1,
        0,
        0,
        1,
    ),
    F(
        "vww_mobilenetv1_025/vww_mobilenetv1_025_qdq_int8.onnx",
        &[1, 3, 96, 96],
        &[1, 2],
        27,
        13,
        1,
        1,
        32,
        88,
        1,
    ),
];

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

fn count(g: &Graph, pred: impl Fn(&Op) -> bool) -> usize {
    g.nodes.iter().filter(|n| pred(&n.op)).count()
}

/// Per-node shape/type invariants of the IR conventions.
fn check_invariants(g: &Graph, file: &str) {
    for n in &g.nodes {
        let sh = |i: usize| g.tensor(n.input(i).unwrap()).shape.clone();
        let out = g.tensor(n.outputs[0]);
        match &n.op {
            Op::Conv2d { groups, .. } => {
                let (x, w) = (sh(0), sh(1));
                assert_eq!(
                    w[3] * groups,
                    x[3],
                    "{file} {}: OHWI weight {w:?} vs NHWC input {x:?}",
                    n.name
                );
                assert_eq!(out.shape[3], w[0], "{file} {}", n.name);
            }
            Op::DepthwiseConv2d {
                depth_multiplier, ..
            } => {
                let (x, w) = (sh(0), sh(1));
                assert_eq!(w[0], 1, "{file} {}", n.name);
                assert_eq!(w[3], x[3] * depth_multiplier, "{file} {}", n.name);
            }
            Op::FullyConnected { .. } => {
                let (x, w) = (sh(0), sh(1));
                assert_eq!(
                    w[1],
                    *x.last().unwrap(),
                    "{file} {}: weight {w:?} must be [N, K] for input {x:?}",
                    n.name
                );
                assert_eq!(out.shape[out.shape.len() - 1], w[0], "{file} {}", n.name);
            }
            Op::Quantize { .. } => {
                assert!(
                    matches!(out.dtype, DType::I8 | DType::U8) && out.quant.is_some(),
                    "{file} {}",
                    n.name
                );
            }
            Op::Dequantize => {
                let x = g.tensor(n.input(0).unwrap());
                assert!(
                    x.quant.is_some(),
                    "{file} {}: DQ input without quant",
                    n.name
                );
                assert_eq!(out.dtype, DType::F32);
                if x.is_const() && x.dtype == DType::I8 {
                    let q = x.quant.as_ref().unwrap();
                    assert!(
                        q.is_per_tensor() || x.shape[q.axis] == q.scale.len(),
                        "{file} {}: per-channel axis",
                        n.name
                    );
                }
            }
            Op::Transpose { perm } => {
                assert!(
                    perm == &[0, 2, 3, 1] || perm == &[0, 3, 1, 2],
                    "{file} {}: unexpected perm {perm:?}",
                    n.name
                );
            }
            _ => {}
        }
    }
}

#[test]
fn every_onnx_fixture_imports_with_manifest_shapes() {
    for F(file, ins, outs, convs, dw, fc, pools, q, dq, softmax) in FIXTURES {
        let g = onnx::load(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(g.inputs.len(), 1, "{file}");
        assert_eq!(g.outputs.len(), 1, "{file}");
        assert_eq!(g.tensor(g.inputs[0]).shape, *ins, "{file}: input shape");
        assert_eq!(g.tensor(g.outputs[0]).shape, *outs, "{file}: output shape");
        assert_eq!(g.tensor(g.outputs[0]).dtype, DType::F32, "{file}");

        let n_dw = count(&g, |o| matches!(o, Op::DepthwiseConv2d { .. }));
        let n_conv = count(&g, |o| matches!(o, Op::Conv2d { .. }));
        assert_eq!(
            (n_conv + n_dw, n_dw),
            (*convs, *dw),
            "{file}: conv / depthwise"
        );
        assert_eq!(
            count(&g, |o| matches!(o, Op::FullyConnected { .. })),
            *fc,
            "{file}: FC"
        );
        let n_pool = count(&g, |o| {
            matches!(
                o,
                Op::MaxPool2d { .. } | Op::AvgPool2d { .. } | Op::Mean { .. }
            )
        });
        assert_eq!(n_pool, *pools, "{file}: pools");
        assert_eq!(
            count(&g, |o| matches!(o, Op::Quantize { .. })),
            *q,
            "{file}: Quantize"
        );
        // Weight DQs are replaced one for one by the re-laid-out ones.
        assert_eq!(
            count(&g, |o| *o == Op::Dequantize),
            *dq,
            "{file}: Dequantize"
        );
        assert_eq!(
            count(&g, |o| matches!(o, Op::Softmax { .. })),
            *softmax,
            "{file}: Softmax"
        );
        assert_eq!(
            count(&g, |o| matches!(o, Op::Transpose { .. })),
            2 * (convs + pools),
            "{file}: NHWC wrapping"
        );
        assert_eq!(
            count(&g, |o| *o == Op::MatMul),
            0,
            "{file}: all matrix products have constant weights"
        );
        check_invariants(&g, file);
        // Every tensor is referenced (dead nodes and the replaced weights are gone).
        let mut used = vec![false; g.tensors.len()];
        for n in &g.nodes {
            n.inputs
                .iter()
                .flatten()
                .chain(&n.outputs)
                .for_each(|t| used[t.0] = true);
        }
        g.inputs
            .iter()
            .chain(&g.outputs)
            .for_each(|t| used[t.0] = true);
        assert!(used.iter().all(|&u| u), "{file}: unreferenced tensors");
    }
}

#[test]
fn qdq_weights_stay_int8_per_channel() {
    let g = onnx::load(&fixture("kws_dscnn/kws_dscnn_qdq_int8.onnx")).unwrap();
    for n in g.nodes.iter().filter(|n| {
        matches!(
            n.op,
            Op::Conv2d { .. } | Op::DepthwiseConv2d { .. } | Op::FullyConnected { .. }
        )
    }) {
        let w = n.input(1).unwrap();
        let p = g.producer(w).expect("weight comes from a Dequantize");
        assert_eq!(g.nodes[p].op, Op::Dequantize, "{}", n.name);
        let q = g.tensor(g.nodes[p].input(0).unwrap());
        assert_eq!(q.dtype, DType::I8, "{}", n.name);
        let quant = q.quant.as_ref().unwrap();
        let channel_axis = if matches!(n.op, Op::DepthwiseConv2d { .. }) {
            3
        } else {
            0
        };
        assert_eq!(
            (quant.axis, quant.scale.len()),
            (channel_axis, q.shape[channel_axis]),
            "{}",
            n.name
        );
        let b = g.tensor(
            g.nodes[g.producer(n.input(2).unwrap()).unwrap()]
                .input(0)
                .unwrap(),
        );
        assert_eq!(b.dtype, DType::I32, "{}: bias", n.name);
    }
}

#[test]
fn corrupt_fixture_bytes_are_errors_not_panics() {
    let path = fixture("synth_ii_residual/synth_ii_residual_qdq_int8.onnx");
    let bytes = std::fs::read(&path).unwrap();
    for cut in [1, 10, bytes.len() / 3, bytes.len() - 1] {
        let r = onnx::import(&path, &bytes[..cut]);
        assert!(r.is_err(), "prefix of {cut} bytes imported");
    }
    let mut flipped = bytes.clone();
    for i in (0..flipped.len()).step_by(7) {
        flipped[i] ^= 0x5a;
    }
    assert!(onnx::import(&path, &flipped).is_err());
}

#[test]
fn dense_layers_get_their_bias() {
    // ad_fc_autoencoder_f32 writes each dense layer as MatMul + Add(constant [N]).
    let g = onnx::load(&fixture("ad_fc_autoencoder/ad_fc_autoencoder_f32.onnx")).unwrap();
    assert_eq!(count(&g, |o| matches!(o, Op::Add { .. })), 0);
    for n in g
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::FullyConnected { .. }))
    {
        let b = g.tensor(n.input(2).expect("bias"));
        assert!(
            b.is_const() && b.shape == [g.tensor(n.input(1).unwrap()).shape[0]],
            "{}",
            n.name
        );
    }
}
