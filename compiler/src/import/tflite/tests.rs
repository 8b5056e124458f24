//! Importer tests: the fixture models (checked against their manifest.json and
//! against Vela's decoded command stream), hand-built flatbuffers for every
//! mapped operator, and broken files.

use super::ops::resolve_padding;
use super::schema::Padding;
use super::*;
use crate::ir::{Act, DType, Graph, Op, Quant, Rounding, Window};
use flatbuffers::{FlatBufferBuilder, WIPOffset};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn load(rel: &str) -> (PathBuf, Vec<u8>) {
    let p = fixtures().join(rel);
    let b = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (p, b)
}

fn count(g: &Graph, name: &str) -> usize {
    g.nodes.iter().filter(|n| n.op.name() == name).count()
}

// ---------------------------------------------------------------- padding

#[test]
fn padding_matches_tflite_compute_padding() {
    // SAME, stride 1, k 3: out = in, one cell each side.
    assert_eq!(
        resolve_padding(Padding::Same, 32, 3, 1, 1),
        Some((32, 1, 1))
    );
    // SAME, stride 2, k 3, in 96: out 48, total = 47*2 + 3 - 96 = 1 -> (0, 1): the extra cell goes after.
    assert_eq!(
        resolve_padding(Padding::Same, 96, 3, 2, 1),
        Some((48, 0, 1))
    );
    // kws conv0 (Vela's cmd stream: padding t:4 b:5 l:1 r:1): H 49, k 10, s 2 / W 10, k 4, s 2.
    assert_eq!(
        resolve_padding(Padding::Same, 49, 10, 2, 1),
        Some((25, 4, 5))
    );
    assert_eq!(resolve_padding(Padding::Same, 10, 4, 2, 1), Some((5, 1, 1)));
    // SAME with dilation 2, k 3 (effective 5), in 10, stride 1: total 4.
    assert_eq!(
        resolve_padding(Padding::Same, 10, 3, 1, 2),
        Some((10, 2, 2))
    );
    // SAME where the window is smaller than the stride: no negative padding.
    assert_eq!(resolve_padding(Padding::Same, 10, 1, 3, 1), Some((4, 0, 0)));
    // VALID: ceil((in - eff + 1) / stride), no padding.
    assert_eq!(
        resolve_padding(Padding::Valid, 10, 3, 1, 1),
        Some((8, 0, 0))
    );
    assert_eq!(
        resolve_padding(Padding::Valid, 10, 3, 2, 1),
        Some((4, 0, 0))
    );
    assert_eq!(
        resolve_padding(Padding::Valid, 10, 3, 2, 2),
        Some((3, 0, 0))
    );
    assert_eq!(resolve_padding(Padding::Valid, 2, 3, 1, 1), None);
    assert_eq!(resolve_padding(Padding::Valid, 5, 0, 1, 1), None);
}

// ---------------------------------------------------------------- fixtures

/// Every int8 `.tflite` fixture imports, and its graph I/O matches manifest.json.
#[test]
fn fixtures_match_their_manifests() {
    let mut checked = 0;
    for model in [
        "kws_dscnn",
        "vww_mobilenetv1_025",
        "ic_resnet8",
        "ad_fc_autoencoder",
    ] {
        let dir = fixtures().join(model);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
                .expect("json");
        let fmt = &manifest["formats"]["tflite_int8"];
        let file = fmt["file"].as_str().expect("file");
        let bytes = std::fs::read(dir.join(file)).expect("model");
        let g = import(&dir.join(file), &bytes).unwrap_or_else(|e| panic!("{e}"));
        for (key, ids) in [("inputs", &g.inputs), ("outputs", &g.outputs)] {
            let want = fmt[key].as_array().expect("io list");
            assert_eq!(want.len(), ids.len(), "{model} {key}");
            for (w, id) in want.iter().zip(ids.iter()) {
                let t = g.tensor(*id);
                assert_eq!(t.name, w["name"].as_str().unwrap(), "{model}");
                let shape: Vec<usize> = w["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .collect();
                assert_eq!(t.shape, shape, "{model} {}", t.name);
                assert_eq!(w["dtype"], "int8");
                assert_eq!(t.dtype, DType::I8);
                let q = t.quant.as_ref().expect("quantized I/O");
                assert_eq!(
                    q,
                    &Quant::per_tensor(
                        w["scale"].as_f64().unwrap() as f32,
                        w["zero_point"].as_i64().unwrap() as i32
                    )
                );
                assert!(t.data.is_none());
            }
        }
        // Every operand is a known tensor, every constant has exactly its size.
        for n in &g.nodes {
            for id in n.inputs.iter().flatten().chain(&n.outputs) {
                let t = g.tensor(*id);
                if let Some(d) = &t.data {
                    assert_eq!(d.len(), t.nbytes(), "{model} {}", t.name);
                }
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn kws_structure_and_first_conv() {
    let (p, b) = load("kws_dscnn/kws_dscnn_int8.tflite");
    let g = import(&p, &b).unwrap();
    assert_eq!(g.nodes.len(), 13);
    assert_eq!(count(&g, "Conv2d"), 5);
    assert_eq!(count(&g, "DepthwiseConv2d"), 4);
    assert_eq!(count(&g, "AvgPool2d"), 1);
    assert_eq!(count(&g, "Reshape"), 1);
    assert_eq!(count(&g, "FullyConnected"), 1);
    assert_eq!(count(&g, "Softmax"), 1);
    let n = &g.nodes[0];
    assert_eq!(n.source_op, "CONV_2D");
    // The geometry Vela compiled for this layer (kws_dscnn_u55_128_cmdstream.txt):
    // kernel 10x4, stride 2x2, padding t:4 l:1 b:5 r:1, fused ReLU.
    assert_eq!(
        n.op,
        Op::Conv2d {
            win: Window {
                stride: [2, 2],
                dilation: [1, 1],
                pads: [4, 1, 5, 1]
            },
            groups: 1,
            act: Act::Relu
        }
    );
    let w = g.tensor(n.input(1).unwrap());
    assert_eq!(w.name, "functional_1/conv2d/Conv2D");
    assert_eq!(w.shape, [64, 10, 4, 1]);
    let q = w.quant.as_ref().unwrap();
    assert_eq!((q.scale.len(), q.axis), (64, 0));
    assert_eq!(q.zero_point, vec![0; 64]);
    // Byte sums from the `tflite` Python package's view of the same buffers.
    let data = w.data.as_ref().unwrap();
    assert_eq!(data.len(), 2560);
    assert_eq!(data.iter().map(|&v| i64::from(v as i8)).sum::<i64>(), 3144);
    let bias = g.tensor(n.input(2).unwrap());
    assert_eq!(
        (bias.dtype, bias.shape.as_slice()),
        (DType::I32, [64].as_slice())
    );
    let s: i64 = bias
        .data
        .as_ref()
        .unwrap()
        .chunks_exact(4)
        .map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap())))
        .sum();
    assert_eq!(s, -5662);
    // Depthwise layers: multiplier 1, 3x3.
    for n in g
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::DepthwiseConv2d { .. }))
    {
        let Op::DepthwiseConv2d {
            depth_multiplier,
            win,
            ..
        } = &n.op
        else {
            unreachable!()
        };
        assert_eq!(*depth_multiplier, 1);
        assert_eq!(g.tensor(n.input(1).unwrap()).shape, [1, 3, 3, 64]);
        assert_eq!(win.pads, [1, 1, 1, 1]);
    }
    // RESHAPE's shape operand is folded away.
    let r = g.nodes.iter().find(|n| n.op == Op::Reshape).unwrap();
    assert_eq!(r.inputs.len(), 1);
    let sm = g.nodes.last().unwrap();
    assert_eq!(sm.op, Op::Softmax { beta: 1.0 });
}

#[test]
fn other_fixtures_structure() {
    let (p, b) = load("vww_mobilenetv1_025/vww_mobilenetv1_025_int8.tflite");
    let g = import(&p, &b).unwrap();
    assert_eq!(
        (count(&g, "Conv2d"), count(&g, "DepthwiseConv2d")),
        (14, 13)
    );
    // First conv: 3x3 stride 2 SAME on 96x96 -> 48x48, pads (0, 1) per axis; fused ReLU
    // (its output tensor is named "model/activation/Relu;...").
    assert_eq!(
        g.nodes[0].op,
        Op::Conv2d {
            win: Window {
                stride: [2, 2],
                dilation: [1, 1],
                pads: [0, 0, 1, 1]
            },
            groups: 1,
            act: Act::Relu
        }
    );
    let (p, b) = load("ic_resnet8/ic_resnet8_int8.tflite");
    let g = import(&p, &b).unwrap();
    assert_eq!(
        (
            count(&g, "Conv2d"),
            count(&g, "Add"),
            count(&g, "AvgPool2d")
        ),
        (9, 3, 1)
    );
    let (p, b) = load("ad_fc_autoencoder/ad_fc_autoencoder_int8.tflite");
    let g = import(&p, &b).unwrap();
    assert_eq!(count(&g, "FullyConnected"), 10);
    let w = g.tensor(g.nodes[0].input(1).unwrap());
    assert_eq!(w.shape, [128, 640]);
    assert!(w.quant.as_ref().unwrap().is_per_tensor());
    assert_eq!(g.nodes[0].op, Op::FullyConnected { act: Act::Relu });
}

#[test]
fn vela_file_is_not_ir_but_reads_as_vela_model() {
    let (p, b) = load("vela/kws_dscnn_u55-128_vela.tflite");
    match import(&p, &b) {
        Err(CompileError::Unsupported { op_type, node, .. }) => {
            assert_eq!(op_type, "ethos-u");
            assert_eq!(node, "Identity");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    let v = read_vela_custom_ops(&p, &b).unwrap();
    assert_eq!(v.description.as_deref(), Some("Vela Optimised"));
    assert_eq!(v.cpu_ops().count(), 0);
    let ops: Vec<_> = v.npu_ops().collect();
    assert_eq!(ops.len(), 1);
    let e = ops[0];
    assert_eq!(
        (e.command_stream, e.read_only, e.scratch, e.scratch_fast),
        (0, 1, 2, 2)
    );
    assert_eq!(
        (e.ifms.as_slice(), e.ofms.as_slice()),
        ([3].as_slice(), [4].as_slice())
    );
    assert_eq!(e.custom_options, [1, 4, 1]);
    assert_eq!(e.regions(), [1, 2, 2, 3, 4]);
    // Sizes from ethos-u.md / Vela's summary: cmd 3,664 B, read_only 31,104 B, scratch 22,192 B.
    let cs = v.bytes(e.command_stream);
    assert_eq!(cs.len(), 3664);
    assert_eq!(&cs[..4], b"COP1");
    // The CmdStream driver action: id 2, 908 words (= kws_dscnn_u55_128_cmdstream.txt), at byte 28.
    assert_eq!(
        u32::from_le_bytes(cs[28..32].try_into().unwrap()),
        0x038c_0002
    );
    // First command: NPU_SET_DMA0_SRC_REGION 0 (0x0130), as the decoded stream shows.
    assert_eq!(
        u32::from_le_bytes(cs[32..36].try_into().unwrap()),
        0x0000_0130
    );
    assert_eq!(v.bytes(e.read_only).len(), 31104);
    assert_eq!((v.size(e.scratch), v.bytes(e.scratch).len()), (22192, 0));
    let ifm = &v.tensors[e.ifms[0]];
    assert_eq!(
        (ifm.name.as_str(), ifm.shape.as_slice(), ifm.dtype),
        ("input_1", [1, 49, 10, 1].as_slice(), DType::I8)
    );
    assert_eq!(ifm.quant, Some(Quant::per_tensor(0.584_702_9, 83)));
    let ofm = &v.tensors[e.ofms[0]];
    assert_eq!(
        (ofm.name.as_str(), ofm.shape.as_slice()),
        ("Identity", [1, 12].as_slice())
    );
    assert_eq!(ofm.quant, Some(Quant::per_tensor(0.003_906_25, -128)));
    assert_eq!(
        (v.inputs.as_slice(), v.outputs.as_slice()),
        ([3].as_slice(), [4].as_slice())
    );
    // Vela puts scratch and the graph I/O at arena offset 0.
    assert_eq!(v.offline_offsets, [None, None, Some(0), Some(0), Some(0)]);
}

// ---------------------------------------------------------------- broken files

fn malformed_reason(r: Result<Graph, CompileError>) -> String {
    match r {
        Err(CompileError::Malformed {
            format,
            reason,
            path,
        }) => {
            assert_eq!(format, "TFLite");
            assert_eq!(path, Path::new("bad.tflite"));
            reason
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn empty_garbage_and_foreign_files_are_malformed() {
    let p = Path::new("bad.tflite");
    assert!(malformed_reason(import(p, &[])).contains("empty"));
    assert!(malformed_reason(import(p, &[1, 2, 3])).contains("too short"));
    assert!(malformed_reason(import(p, b"\x10\0\0\0TFL")).contains("TFL3"));
    assert!(malformed_reason(import(p, b"garbage garbage garbage")).contains("file identifier"));
    // A real ExecuTorch file is not TFLite.
    let (_, pte) = load("executorch/conv_pool_fc_portable.pte");
    assert!(malformed_reason(import(p, &pte)).contains("ET12"));
    // Right identifier, hostile root offset.
    assert!(malformed_reason(import(p, b"\xff\xff\xff\x7fTFL3\0\0\0\0")).contains("Model"));
    assert!(read_vela_custom_ops(p, b"nope").is_err());
}

#[test]
fn every_truncation_of_a_real_model_is_an_error() {
    let (_, b) = load("kws_dscnn/kws_dscnn_int8.tflite");
    let p = Path::new("bad.tflite");
    // Cuts at every byte of the header region and at strides through the body:
    // none may panic, none may succeed (the root table sits near the end).
    let cuts = (0..256).chain((256..b.len()).step_by(97));
    for n in cuts {
        assert!(
            import(p, &b[..n]).is_err(),
            "truncation to {n} bytes accepted"
        );
    }
    let (_, v) = load("vela/kws_dscnn_u55-128_vela.tflite");
    for n in (0..v.len()).step_by(61) {
        assert!(
            read_vela_custom_ops(p, &v[..n]).is_err(),
            "vela truncation to {n} accepted"
        );
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    let (_, b) = load("ic_resnet8/ic_resnet8_int8.tflite");
    let p = Path::new("bad.tflite");
    // Flip bytes across the file (deterministic positions); the result may be
    // Ok (e.g. a changed weight) or Err, but it must not panic.
    let mut x: u32 = 0x1234_5678;
    for _ in 0..400 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let mut c = b.clone();
        let i = x as usize % c.len();
        c[i] ^= (x >> 24) as u8 | 1;
        let _ = import(p, &c);
    }
}

// ---------------------------------------------------------------- hand-built models

/// An option field value for the builder.
#[derive(Clone, Copy)]
enum V {
    I8(i8),
    I32(i32),
    F32(f32),
    B(bool),
}

struct T {
    name: &'static str,
    ty: i8,
    shape: Vec<i32>,
    data: Vec<u8>,
    quant: Option<(Vec<f32>, Vec<i64>, i32)>,
}

fn t(name: &'static str, ty: i8, shape: &[i32]) -> T {
    T {
        name,
        ty,
        shape: shape.to_vec(),
        data: Vec::new(),
        quant: None,
    }
}

fn tq(name: &'static str, shape: &[i32], scale: f32, zp: i64) -> T {
    T {
        quant: Some((vec![scale], vec![zp], 0)),
        ..t(name, 9, shape)
    }
}

fn ti32(name: &'static str, vals: &[i32]) -> T {
    T {
        data: vals.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..t(name, 2, &[vals.len() as i32])
    }
}

struct O {
    /// Builtin code, or CUSTOM (32) with `custom`.
    code: i32,
    custom: Option<&'static str>,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    opt_type: u8,
    opts: Vec<(u16, V)>,
    custom_options: Option<Vec<u8>>,
}

fn op(code: i32, inputs: &[i32], outputs: &[i32]) -> O {
    O {
        code,
        custom: None,
        inputs: inputs.to_vec(),
        outputs: outputs.to_vec(),
        opt_type: 0,
        opts: vec![],
        custom_options: None,
    }
}

impl O {
    fn opts(mut self, ty: u8, opts: &[(u16, V)]) -> O {
        self.opt_type = ty;
        self.opts = opts.to_vec();
        self
    }
}

fn slot(i: u16) -> u16 {
    4 + 2 * i
}

/// Serializes a one-subgraph TFLite model (schema version 3, identifier TFL3).
fn build(tensors: &[T], ops: &[O], inputs: &[i32], outputs: &[i32]) -> Vec<u8> {
    let mut f = FlatBufferBuilder::new();
    // Buffers: 0 = sentinel, then one per tensor with data.
    let mut buffers = vec![{
        let s = f.start_table();
        f.end_table(s)
    }];
    let mut tens = Vec::new();
    for t in tensors {
        let buf_index = if t.data.is_empty() {
            0
        } else {
            let d = f.create_vector(&t.data);
            let s = f.start_table();
            f.push_slot_always(slot(0), d);
            buffers.push(f.end_table(s));
            buffers.len() as u32 - 1
        };
        let shape = f.create_vector(&t.shape);
        let name = f.create_string(t.name);
        let quant = t.quant.as_ref().map(|(s, z, d)| {
            let s = f.create_vector(s);
            let z = f.create_vector(z);
            let st = f.start_table();
            f.push_slot_always(slot(2), s);
            f.push_slot_always(slot(3), z);
            f.push_slot(slot(6), *d, 0);
            f.end_table(st)
        });
        let s = f.start_table();
        f.push_slot_always(slot(0), shape);
        f.push_slot(slot(1), t.ty, 0);
        f.push_slot(slot(2), buf_index, 0);
        f.push_slot_always(slot(3), name);
        if let Some(q) = quant {
            f.push_slot_always(slot(4), q);
        }
        tens.push(f.end_table(s));
    }
    let mut codes = Vec::new();
    let mut operators = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        let custom = o.custom.map(|c| f.create_string(c));
        let s = f.start_table();
        f.push_slot(slot(0), o.code.min(127) as i8, 0);
        if let Some(c) = custom {
            f.push_slot_always(slot(1), c);
        }
        f.push_slot(slot(2), 1i32, 1);
        f.push_slot(slot(3), o.code, 0);
        codes.push(f.end_table(s));
        let options = (o.opt_type != 0).then(|| {
            let s = f.start_table();
            for &(k, v) in &o.opts {
                match v {
                    V::I8(x) => f.push_slot_always(slot(k), x),
                    V::I32(x) => f.push_slot_always(slot(k), x),
                    V::F32(x) => f.push_slot_always(slot(k), x),
                    V::B(x) => f.push_slot_always(slot(k), x),
                }
            }
            f.end_table(s)
        });
        let ins = f.create_vector(&o.inputs);
        let outs = f.create_vector(&o.outputs);
        let co = o.custom_options.as_ref().map(|c| f.create_vector(c));
        let s = f.start_table();
        f.push_slot(slot(0), i as u32, 0);
        f.push_slot_always(slot(1), ins);
        f.push_slot_always(slot(2), outs);
        if let Some(opt) = options {
            f.push_slot(slot(3), o.opt_type, 0);
            f.push_slot_always(slot(4), opt);
        }
        if let Some(c) = co {
            f.push_slot_always(slot(5), c);
        }
        operators.push(f.end_table(s));
    }
    let tens = f.create_vector(&tens);
    let ins = f.create_vector(inputs);
    let outs = f.create_vector(outputs);
    let operators = f.create_vector(&operators);
    let s = f.start_table();
    f.push_slot_always(slot(0), tens);
    f.push_slot_always(slot(1), ins);
    f.push_slot_always(slot(2), outs);
    f.push_slot_always(slot(3), operators);
    let sg: WIPOffset<flatbuffers::TableFinishedWIPOffset> = f.end_table(s);
    let sgs = f.create_vector(&[sg]);
    let codes = f.create_vector(&codes);
    let buffers = f.create_vector(&buffers);
    let s = f.start_table();
    f.push_slot(slot(0), 3u32, 0);
    f.push_slot_always(slot(1), codes);
    f.push_slot_always(slot(2), sgs);
    f.push_slot_always(slot(4), buffers);
    let root = f.end_table(s);
    f.finish(root, Some("TFL3"));
    f.finished_data().to_vec()
}

fn p() -> &'static Path {
    Path::new("m.tflite")
}

/// One operator from tensor 0 to tensor 1 (plus extra constant operands), imported.
fn single(tensors: Vec<T>, o: O) -> Result<Graph, CompileError> {
    let out = *o.outputs.first().unwrap();
    import(p(), &build(&tensors, &[o], &[0], &[out]))
}

#[test]
fn builder_sanity_unary_ops() {
    for (code, want) in [
        (14, Op::Logistic),
        (28, Op::Tanh),
        (117, Op::HardSwish),
        (19, Op::Relu),
        (21, Op::Relu6),
        (20, Op::ReluN1To1),
        (
            114,
            Op::Quantize {
                rounding: Rounding::HalfAwayFromZero,
            },
        ),
    ] {
        let g = single(
            vec![tq("x", &[1, 4], 0.5, 1), tq("y", &[1, 4], 0.5, 1)],
            op(code, &[0], &[1]),
        )
        .unwrap();
        assert_eq!(g.nodes.len(), 1);
        assert_eq!(g.nodes[0].op, want);
        assert_eq!(g.nodes[0].name, "y");
        assert_eq!(g.inputs, [crate::ir::TensorId(0)]);
    }
    let g = single(
        vec![tq("x", &[4], 0.5, 1), t("y", 0, &[4])],
        op(6, &[0], &[1]),
    )
    .unwrap();
    assert_eq!(g.nodes[0].op, Op::Dequantize);
    assert_eq!(g.nodes[0].source_op, "DEQUANTIZE");
}

#[test]
fn options_ops() {
    let x = || tq("x", &[1, 8], 0.1, 0);
    let y = || tq("y", &[1, 8], 0.1, 0);
    let g = single(
        vec![x(), y()],
        op(25, &[0], &[1]).opts(9, &[(0, V::F32(0.5))]),
    )
    .unwrap();
    assert_eq!(g.nodes[0].op, Op::Softmax { beta: 0.5 });
    let g = single(
        vec![x(), y()],
        op(98, &[0], &[1]).opts(75, &[(0, V::F32(0.2))]),
    )
    .unwrap();
    assert_eq!(g.nodes[0].op, Op::LeakyRelu { alpha: 0.2 });
    for (code, ty, want) in [
        (0, 11, Op::Add { act: Act::Relu6 }),
        (41, 28, Op::Sub { act: Act::Relu6 }),
        (18, 21, Op::Mul { act: Act::Relu6 }),
    ] {
        let g = single(
            vec![x(), y(), tq("z", &[1, 8], 0.1, 0)],
            op(code, &[0, 1], &[2]).opts(ty, &[(0, V::I8(3))]),
        )
        .unwrap();
        assert_eq!(g.nodes[0].op, want);
    }
    let g = single(
        vec![x(), y(), tq("z", &[1, 8], 0.1, 0)],
        op(55, &[0, 1], &[2]),
    )
    .unwrap();
    assert_eq!(g.nodes[0].op, Op::Maximum);
    let g = single(
        vec![x(), y(), tq("z", &[1, 8], 0.1, 0)],
        op(57, &[0, 1], &[2]),
    )
    .unwrap();
    assert_eq!(g.nodes[0].op, Op::Minimum);
    // Absent options take the schema defaults.
    let g = single(
        vec![x(), y(), tq("z", &[1, 8], 0.1, 0)],
        op(0, &[0, 1], &[2]),
    )
    .unwrap();
    assert_eq!(g.nodes[0].op, Op::Add { act: Act::None });
}

#[test]
fn conv_depthwise_pool_geometry() {
    // CONV_2D 3x3 stride 2 SAME on 1x9x9x4 -> 1x5x5x6, dilation 1: total = 4*2+3-9 = 2 -> (1, 1).
    let w = T {
        data: vec![1; 6 * 3 * 3 * 4],
        quant: Some((vec![0.5; 6], vec![0; 6], 0)),
        ..t("w", 9, &[6, 3, 3, 4])
    };
    let g = single(
        vec![
            tq("x", &[1, 9, 9, 4], 1.0, 0),
            tq("y", &[1, 5, 5, 6], 1.0, 0),
            w,
            t("b", 2, &[6]),
        ],
        op(3, &[0, 2, -1], &[1]).opts(
            1,
            &[(0, V::I8(0)), (1, V::I32(2)), (2, V::I32(2)), (3, V::I8(1))],
        ),
    )
    .unwrap();
    let n = &g.nodes[0];
    assert_eq!(
        n.op,
        Op::Conv2d {
            win: Window {
                stride: [2, 2],
                dilation: [1, 1],
                pads: [1, 1, 1, 1]
            },
            groups: 1,
            act: Act::Relu
        }
    );
    assert_eq!(n.inputs.len(), 3);
    assert_eq!(n.input(2), None); // -1: no bias
    let wq = g.tensor(n.input(1).unwrap()).quant.clone().unwrap();
    assert_eq!((wq.scale.len(), wq.axis), (6, 0));
    // Grouped conv: 8 input channels, weights take 4 -> 2 groups.
    let w = T {
        data: vec![1; 16],
        ..t("w", 9, &[4, 1, 1, 4])
    };
    let g = single(
        vec![
            tq("x", &[1, 3, 3, 8], 1.0, 0),
            tq("y", &[1, 3, 3, 4], 1.0, 0),
            w,
        ],
        op(3, &[0, 2], &[1]).opts(1, &[(0, V::I8(1)), (1, V::I32(1)), (2, V::I32(1))]),
    )
    .unwrap();
    assert!(matches!(g.nodes[0].op, Op::Conv2d { groups: 2, .. }));
    // DEPTHWISE 3x3 dilation 2 VALID, multiplier 2: 1x7x7x3 -> 1x3x3x6.
    let w = T {
        data: vec![1; 3 * 3 * 6],
        ..t("w", 9, &[1, 3, 3, 6])
    };
    let g = single(
        vec![
            tq("x", &[1, 7, 7, 3], 1.0, 0),
            tq("y", &[1, 3, 3, 6], 1.0, 0),
            w,
        ],
        op(4, &[0, 2], &[1]).opts(
            2,
            &[
                (0, V::I8(1)),
                (1, V::I32(1)),
                (2, V::I32(1)),
                (3, V::I32(2)),
                (5, V::I32(2)),
                (6, V::I32(2)),
            ],
        ),
    )
    .unwrap();
    assert_eq!(
        g.nodes[0].op,
        Op::DepthwiseConv2d {
            win: Window {
                stride: [1, 1],
                dilation: [2, 2],
                pads: [0, 0, 0, 0]
            },
            depth_multiplier: 2,
            act: Act::None
        }
    );
    // AVERAGE_POOL 2x3 (h x w) stride 2 SAME on 5x5 -> 3x3: H total = 2*2+2-5 = 1 -> (0,1); W total = 2*2+3-5 = 2 -> (1,1).
    let g = single(
        vec![
            tq("x", &[1, 5, 5, 2], 1.0, 0),
            tq("y", &[1, 3, 3, 2], 1.0, 0),
        ],
        op(1, &[0], &[1]).opts(
            5,
            &[
                (0, V::I8(0)),
                (1, V::I32(2)),
                (2, V::I32(2)),
                (3, V::I32(3)),
                (4, V::I32(2)),
            ],
        ),
    )
    .unwrap();
    assert_eq!(
        g.nodes[0].op,
        Op::AvgPool2d {
            kernel: [2, 3],
            win: Window {
                stride: [2, 2],
                dilation: [1, 1],
                pads: [0, 1, 1, 1]
            },
            count_include_pad: false,
            act: Act::None
        }
    );
    let g = single(
        vec![
            tq("x", &[1, 4, 4, 2], 1.0, 0),
            tq("y", &[1, 2, 2, 2], 1.0, 0),
        ],
        op(17, &[0], &[1]).opts(
            5,
            &[
                (0, V::I8(1)),
                (1, V::I32(2)),
                (2, V::I32(2)),
                (3, V::I32(2)),
                (4, V::I32(2)),
                (5, V::I8(2)),
            ],
        ),
    )
    .unwrap();
    assert_eq!(
        g.nodes[0].op,
        Op::MaxPool2d {
            kernel: [2, 2],
            win: Window {
                stride: [2, 2],
                dilation: [1, 1],
                pads: [0; 4]
            },
            act: Act::ReluN1To1
        }
    );
}

#[test]
fn geometry_errors_are_reported() {
    // Output shape that SAME padding cannot produce.
    let e = single(
        vec![
            tq("x", &[1, 5, 5, 2], 1.0, 0),
            tq("y", &[1, 2, 2, 2], 1.0, 0),
        ],
        op(1, &[0], &[1]).opts(
            5,
            &[
                (1, V::I32(2)),
                (2, V::I32(2)),
                (3, V::I32(2)),
                (4, V::I32(2)),
            ],
        ),
    )
    .unwrap_err();
    assert!(
        matches!(&e, CompileError::Invalid { node, op_type, .. } if node == "y" && op_type == "AVERAGE_POOL_2D"),
        "{e}"
    );
    // Stride 0 (absent options).
    let e = single(
        vec![
            tq("x", &[1, 5, 5, 2], 1.0, 0),
            tq("y", &[1, 5, 5, 2], 1.0, 0),
        ],
        op(17, &[0], &[1]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("must be positive"), "{e}");
    // Options of the wrong union type.
    let e = single(
        vec![tq("x", &[1, 4], 1.0, 0), tq("y", &[1, 4], 1.0, 0)],
        op(25, &[0], &[1]).opts(1, &[]),
    )
    .unwrap_err();
    assert!(
        matches!(&e, CompileError::Malformed { reason, .. } if reason.contains("SoftmaxOptions")),
        "{e}"
    );
    // Fused TANH is not an IR activation.
    let e = single(
        vec![
            tq("x", &[1, 4], 1.0, 0),
            tq("y", &[1, 4], 1.0, 0),
            tq("z", &[1, 4], 1.0, 0),
        ],
        op(0, &[0, 1], &[2]).opts(11, &[(0, V::I8(4))]),
    )
    .unwrap_err();
    assert!(
        matches!(&e, CompileError::Unsupported { reason, .. } if reason.contains("Tanh")),
        "{e}"
    );
}

#[test]
fn fully_connected_forms() {
    let w = || T {
        data: vec![1; 3 * 8],
        ..t("w", 9, &[3, 8])
    };
    // Rank-4 input flattens to [2, 8].
    let g = single(
        vec![
            tq("x", &[2, 2, 2, 2], 1.0, 0),
            tq("y", &[2, 3], 1.0, 0),
            w(),
            ti32("b", &[1, 2, 3]),
        ],
        op(9, &[0, 2, 3], &[1]).opts(8, &[(0, V::I8(1))]),
    )
    .unwrap();
    assert_eq!(g.nodes[0].op, Op::FullyConnected { act: Act::Relu });
    assert_eq!(g.nodes[0].inputs.len(), 3);
    // keep_num_dims with a rank-3 output is not the IR's FullyConnected.
    let e = single(
        vec![
            tq("x", &[1, 2, 8], 1.0, 0),
            tq("y", &[1, 2, 3], 1.0, 0),
            w(),
        ],
        op(9, &[0, 2], &[1]).opts(8, &[(2, V::B(true))]),
    )
    .unwrap_err();
    assert!(
        matches!(&e, CompileError::Unsupported { reason, .. } if reason.contains("keep_num_dims")),
        "{e}"
    );
    // Shuffled weights.
    let e = single(
        vec![tq("x", &[1, 8], 1.0, 0), tq("y", &[1, 3], 1.0, 0), w()],
        op(9, &[0, 2], &[1]).opts(8, &[(1, V::I8(1))]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("weights_format"), "{e}");
}

#[test]
fn constant_operands_fold_into_attributes() {
    // MEAN over axes [-2, 1] (duplicates collapse), keep_dims.
    let g = single(
        vec![
            tq("x", &[1, 4, 4, 3], 1.0, 0),
            tq("y", &[1, 1, 1, 3], 1.0, 0),
            ti32("axes", &[2, 1, -2]),
        ],
        op(40, &[0, 2], &[1]).opts(27, &[(0, V::B(true))]),
    )
    .unwrap();
    assert_eq!(
        g.nodes[0].op,
        Op::Mean {
            axes: vec![1, 2],
            keep_dims: true
        }
    );
    assert_eq!(g.nodes[0].inputs.len(), 1);
    assert_eq!(g.tensors.len(), 2, "the axes tensor is dropped");
    // TRANSPOSE with a constant permutation.
    let g = single(
        vec![
            tq("x", &[1, 2, 3, 4], 1.0, 0),
            tq("y", &[1, 4, 2, 3], 1.0, 0),
            ti32("perm", &[0, 3, 1, 2]),
        ],
        op(39, &[0, 2], &[1]),
    )
    .unwrap();
    assert_eq!(
        g.nodes[0].op,
        Op::Transpose {
            perm: vec![0, 3, 1, 2]
        }
    );
    let e = single(
        vec![
            tq("x", &[1, 2, 3, 4], 1.0, 0),
            tq("y", &[1, 4, 2, 3], 1.0, 0),
            ti32("perm", &[0, 3, 3, 2]),
        ],
        op(39, &[0, 2], &[1]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("not a permutation"), "{e}");
    // PAD: int8 pads with the zero point, i.e. real 0.
    let g = single(
        vec![
            tq("x", &[1, 2, 2, 1], 0.5, -3),
            tq("y", &[1, 4, 3, 1], 0.5, -3),
            ti32("pads", &[0, 0, 1, 1, 0, 1, 0, 0]),
        ],
        op(34, &[0, 2], &[1]),
    )
    .unwrap();
    assert_eq!(
        g.nodes[0].op,
        Op::Pad {
            pads: vec![(0, 0), (1, 1), (0, 1), (0, 0)],
            value: 0.0
        }
    );
    // PADV2 with constant value q = 5 at scale 0.5, zero point -3 -> real 4.0.
    let c = T {
        data: vec![5],
        ..tq("c", &[], 0.5, -3)
    };
    let g = single(
        vec![
            tq("x", &[1, 2], 0.5, -3),
            tq("y", &[1, 4], 0.5, -3),
            ti32("pads", &[0, 0, 1, 1]),
            c,
        ],
        op(60, &[0, 2, 3], &[1]),
    )
    .unwrap();
    assert_eq!(
        g.nodes[0].op,
        Op::Pad {
            pads: vec![(0, 0), (1, 1)],
            value: 4.0
        }
    );
    // Non-constant paddings.
    let e = single(
        vec![
            tq("x", &[1, 2], 0.5, -3),
            tq("y", &[1, 4], 0.5, -3),
            t("pads", 2, &[2, 2]),
        ],
        op(34, &[0, 2], &[1]),
    )
    .unwrap_err();
    assert!(
        matches!(&e, CompileError::Unsupported { reason, .. } if reason.contains("must be a constant")),
        "{e}"
    );
    // RESHAPE drops its shape operand; RESIZE_NEAREST reads its options.
    let g = single(
        vec![
            tq("x", &[1, 2, 3], 1.0, 0),
            tq("y", &[6], 1.0, 0),
            ti32("s", &[6]),
        ],
        op(22, &[0, 2], &[1]),
    )
    .unwrap();
    assert_eq!(
        (g.nodes[0].op.clone(), g.nodes[0].inputs.len()),
        (Op::Reshape, 1)
    );
    let g = single(
        vec![
            tq("x", &[1, 2, 2, 1], 1.0, 0),
            tq("y", &[1, 4, 4, 1], 1.0, 0),
            ti32("size", &[4, 4]),
        ],
        op(97, &[0, 2], &[1]).opts(74, &[(1, V::B(true))]),
    )
    .unwrap();
    assert_eq!(
        g.nodes[0].op,
        Op::ResizeNearest {
            align_corners: false,
            half_pixel_centers: true
        }
    );
}

#[test]
fn concatenation() {
    let g = single(
        vec![
            tq("a", &[1, 2, 3], 1.0, 0),
            tq("y", &[1, 2, 5], 1.0, 0),
            tq("b", &[1, 2, 2], 1.0, 0),
        ],
        op(2, &[0, 2], &[1]).opts(10, &[(0, V::I32(-1))]),
    )
    .unwrap();
    assert_eq!(g.nodes[0].op, Op::Concat { axis: 2 });
    let e = single(
        vec![
            tq("a", &[1, 2, 3], 1.0, 0),
            tq("y", &[1, 2, 5], 1.0, 0),
            tq("b", &[1, 2, 2], 1.0, 0),
        ],
        op(2, &[0, 2], &[1]).opts(10, &[(0, V::I32(2)), (1, V::I8(1))]),
    )
    .unwrap_err();
    assert!(
        matches!(&e, CompileError::Unsupported { op_type, .. } if op_type == "CONCATENATION"),
        "{e}"
    );
}

#[test]
fn unsupported_ops_name_the_op_node_and_file() {
    let e = single(
        vec![tq("x", &[4], 1.0, 0), tq("out_t", &[4], 1.0, 0)],
        op(47, &[0], &[1]),
    )
    .unwrap_err();
    match e {
        CompileError::Unsupported {
            path,
            node,
            op_type,
            ..
        } => {
            assert_eq!(
                (path.as_path(), node.as_str(), op_type.as_str()),
                (p(), "out_t", "EXP")
            );
        }
        other => panic!("{other:?}"),
    }
    let mut o = op(32, &[0], &[1]);
    o.custom = Some("MyOp");
    let e = single(vec![tq("x", &[4], 1.0, 0), tq("y", &[4], 1.0, 0)], o).unwrap_err();
    assert!(
        matches!(&e, CompileError::Unsupported { op_type, .. } if op_type == "MyOp"),
        "{e}"
    );
    // Unknown dtype (FLOAT16) names the tensor.
    let e = single(
        vec![t("h", 1, &[4]), tq("y", &[4], 1.0, 0)],
        op(6, &[0], &[1]),
    )
    .unwrap_err();
    assert!(
        matches!(&e, CompileError::Unsupported { node, reason, .. } if node == "h" && reason.contains("FLOAT16")),
        "{e}"
    );
    // Dynamic dimension.
    let e = single(
        vec![tq("x", &[-1, 4], 1.0, 0), tq("y", &[1, 4], 1.0, 0)],
        op(19, &[0], &[1]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("static shapes"), "{e}");
}

#[test]
fn structural_defects_are_malformed() {
    let two = || vec![tq("x", &[4], 1.0, 0), tq("y", &[4], 1.0, 0)];
    // Operand index past the tensor list.
    let e = import(p(), &build(&two(), &[op(19, &[7], &[1])], &[0], &[1])).unwrap_err();
    assert!(
        matches!(&e, CompileError::Malformed { reason, .. } if reason.contains("tensor 7")),
        "{e}"
    );
    // Graph output past the tensor list.
    let e = import(p(), &build(&two(), &[op(19, &[0], &[1])], &[0], &[9])).unwrap_err();
    assert!(
        matches!(&e, CompileError::Malformed { reason, .. } if reason.contains("SubGraph.outputs")),
        "{e}"
    );
    // Constant data of the wrong length.
    let bad = T {
        data: vec![1, 2, 3],
        ..tq("x", &[4], 1.0, 0)
    };
    let e = import(
        p(),
        &build(
            &[bad, tq("y", &[4], 1.0, 0)],
            &[op(19, &[0], &[1])],
            &[],
            &[1],
        ),
    )
    .unwrap_err();
    assert!(
        matches!(&e, CompileError::Malformed { reason, .. } if reason.contains("needs 4 bytes")),
        "{e}"
    );
    // Per-channel scales that do not match the quantized dimension.
    let bad = T {
        quant: Some((vec![1.0, 2.0, 3.0], vec![0, 0, 0], 1)),
        ..t("x", 9, &[3, 2])
    };
    let e = import(
        p(),
        &build(
            &[bad, tq("y", &[3, 2], 1.0, 0)],
            &[op(19, &[0], &[1])],
            &[0],
            &[1],
        ),
    )
    .unwrap_err();
    assert!(
        matches!(&e, CompileError::Malformed { reason, .. } if reason.contains("quantized_dimension 1")),
        "{e}"
    );
    // Wrong operator arity.
    let e = import(p(), &build(&two(), &[op(19, &[0, 0], &[1])], &[0], &[1])).unwrap_err();
    assert!(
        matches!(&e, CompileError::Invalid { reason, .. } if reason.contains("2 inputs")),
        "{e}"
    );
}

#[test]
fn ethos_u_custom_op_from_a_built_model() {
    let mut cs = b"COP1".to_vec();
    cs.extend([0u8; 12]);
    let tensors = vec![
        T {
            data: cs,
            ..t("cmd", 3, &[16])
        },
        T {
            data: vec![9; 8],
            ..t("flash", 3, &[8])
        },
        t("scratch", 3, &[64]),
        t("fast", 3, &[32]),
        tq("in", &[1, 4], 0.5, 0),
        tq("mid", &[1, 4], 0.5, 0),
        tq("out", &[1, 4], 0.5, 0),
    ];
    let mut npu = op(32, &[0, 1, 2, 3, 4], &[5]);
    npu.custom = Some("ethos-u");
    npu.custom_options = Some(vec![1, 4, 1]);
    let cpu = op(19, &[5], &[6]);
    let bytes = build(&tensors, &[npu, cpu], &[4], &[6]);
    let v = read_vela_custom_ops(p(), &bytes).unwrap();
    let e = v.npu_ops().next().unwrap();
    assert_eq!(
        (
            e.read_only,
            e.scratch,
            e.scratch_fast,
            e.ifms.clone(),
            e.ofms.clone()
        ),
        (1, 2, 3, vec![4], vec![5])
    );
    assert_eq!(e.regions(), [1, 2, 3, 4, 5]);
    assert_eq!(v.bytes(1), [9; 8]);
    let c: Vec<_> = v.cpu_ops().collect();
    assert_eq!(
        (c.len(), c[0].op_type.as_str(), c[0].position),
        (1, "RELU", 1)
    );
    assert!(v.offline_offsets.is_empty());
    // A command stream without the COP1 header is rejected.
    let mut bad = tensors;
    bad[0] = T {
        data: vec![0; 16],
        ..t("cmd", 3, &[16])
    };
    let mut npu = op(32, &[0, 1, 2, 3, 4], &[5]);
    npu.custom = Some("ethos-u");
    npu.custom_options = Some(vec![1, 4, 1]);
    let e = read_vela_custom_ops(p(), &build(&bad, &[npu], &[4], &[5])).unwrap_err();
    assert!(e.to_string().contains("COP1"), "{e}");
}
