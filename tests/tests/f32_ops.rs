//! f32 operators end to end: hand-built IR graphs -> f32 lowering -> `.pte` -> kiln-rt's
//! portable kernels, checked against values computed here from the operators' definitions
//! (covers the operators and argument forms the fixture models do not use).

use kiln_compiler::ir::{Act, DType, Graph, Node, Op, Tensor, TensorId, Window};
use kiln_compiler::lower::assemble::assemble;
use kiln_compiler::npy::NpyArray;
use kiln_compiler::run::run_pte;

struct G {
    g: Graph,
    n: usize,
}

impl G {
    fn new() -> Self {
        G {
            g: Graph::default(),
            n: 0,
        }
    }
    fn t(&mut self, name: &str, shape: &[usize], data: Option<&[f32]>) -> TensorId {
        self.g.add_tensor(Tensor {
            name: name.into(),
            dtype: DType::F32,
            shape: shape.to_vec(),
            quant: None,
            data: data.map(|d| d.iter().flat_map(|v| v.to_le_bytes()).collect()),
        })
    }
    fn input(&mut self, name: &str, shape: &[usize]) -> TensorId {
        let t = self.t(name, shape, None);
        self.g.inputs.push(t);
        t
    }
    fn node(&mut self, op: Op, inputs: &[TensorId], out: TensorId) {
        self.n += 1;
        self.g.nodes.push(Node {
            name: format!("n{}", self.n),
            source_op: op.name().into(),
            op,
            inputs: inputs.iter().map(|&t| Some(t)).collect(),
            outputs: vec![out],
        });
    }
    fn run(mut self, outputs: &[TensorId], inputs: &[(&[usize], Vec<f32>)]) -> Vec<Vec<f32>> {
        self.g.outputs = outputs.to_vec();
        let pte = assemble(&self.g)
            .unwrap_or_else(|e| panic!("assemble: {e}"))
            .pte;
        let ins: Vec<NpyArray> = inputs
            .iter()
            .map(|(s, v)| NpyArray::from_slice(s, v).unwrap())
            .collect();
        let outs = run_pte(&pte, &ins).unwrap_or_else(|e| panic!("run: {e}"));
        outs.iter().map(|o| o.to_vec::<f32>().unwrap()).collect()
    }
}

fn close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-6 + 1e-6 * w.abs(),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

fn ramp(n: usize, scale: f32, shift: f32) -> Vec<f32> {
    (0..n).map(|i| i as f32 * scale + shift).collect()
}

#[test]
fn unary_activations_and_broadcast_binaries() {
    let mut g = G::new();
    let x = g.input("x", &[2, 5]);
    let c = g.t("c", &[5], Some(&[0.5, -1.0, 2.0, 0.0, 1.0]));
    let (a1, a2, a3, a4, a5, a6, a7, a8) = (
        g.t("lrelu", &[2, 5], None),
        g.t("hswish", &[2, 5], None),
        g.t("hsig", &[2, 5], None),
        g.t("tanh", &[2, 5], None),
        g.t("sig", &[2, 5], None),
        g.t("sub", &[2, 5], None),
        g.t("max", &[2, 5], None),
        g.t("min", &[2, 5], None),
    );
    g.node(Op::LeakyRelu { alpha: 0.1 }, &[x], a1);
    g.node(Op::HardSwish, &[x], a2);
    g.node(
        Op::HardSigmoid {
            alpha: 0.2,
            beta: 0.5,
        },
        &[x],
        a3,
    );
    g.node(Op::Tanh, &[x], a4);
    g.node(Op::Logistic, &[x], a5);
    g.node(Op::Sub { act: Act::Relu6 }, &[x, c], a6);
    g.node(Op::Maximum, &[x, c], a7);
    g.node(Op::Minimum, &[c, x], a8);
    let xv = ramp(10, 0.9, -4.0);
    let out = g.run(&[a1, a2, a3, a4, a5, a6, a7, a8], &[(&[2, 5], xv.clone())]);
    let cv = [0.5f32, -1.0, 2.0, 0.0, 1.0];
    let f = |f: &dyn Fn(f32, usize) -> f32| -> Vec<f32> {
        xv.iter().enumerate().map(|(i, &v)| f(v, i % 5)).collect()
    };
    close(
        &out[0],
        &f(&|v, _| if v > 0.0 { v } else { 0.1 * v }),
        "leaky_relu",
    );
    close(
        &out[1],
        &f(&|v, _| v * (v + 3.0).clamp(0.0, 6.0) / 6.0),
        "hardswish",
    );
    close(
        &out[2],
        &f(&|v, _| (0.2 * v + 0.5).clamp(0.0, 1.0)),
        "hard_sigmoid",
    );
    close(&out[3], &f(&|v, _| (v as f64).tanh() as f32), "tanh");
    close(
        &out[4],
        &f(&|v, _| (1.0 / (1.0 + (-(v as f64)).exp())) as f32),
        "sigmoid",
    );
    close(
        &out[5],
        &f(&|v, j| (v - cv[j]).clamp(0.0, 6.0)),
        "sub + relu6",
    );
    close(&out[6], &f(&|v, j| v.max(cv[j])), "maximum");
    close(&out[7], &f(&|v, j| v.min(cv[j])), "minimum");
}

#[test]
fn same_padding_pools_mean_softmax() {
    // 1x3x3x2 NHWC; avg pool 2x2 stride 2 with TFLite SAME padding (bottom/right 1).
    let mut g = G::new();
    let x = g.input("x", &[1, 3, 3, 2]);
    let avg = g.t("avg", &[1, 2, 2, 2], None);
    let max = g.t("max", &[1, 2, 2, 2], None);
    let mean = g.t("mean", &[1, 1, 1, 2], None);
    let sm = g.t("softmax", &[1, 3, 3, 2], None);
    let win = Window {
        stride: [2, 2],
        dilation: [1, 1],
        pads: [0, 0, 1, 1],
    };
    g.node(
        Op::AvgPool2d {
            kernel: [2, 2],
            win,
            count_include_pad: false,
            act: Act::None,
        },
        &[x],
        avg,
    );
    g.node(
        Op::MaxPool2d {
            kernel: [2, 2],
            win,
            act: Act::None,
        },
        &[x],
        max,
    );
    g.node(
        Op::Mean {
            axes: vec![1, 2],
            keep_dims: true,
        },
        &[x],
        mean,
    );
    g.node(Op::Softmax { beta: 1.0 }, &[x], sm);
    // channel 0 = 0..9 row-major, channel 1 = -(0..9)
    let xv: Vec<f32> = (0..9).flat_map(|i| [i as f32, -(i as f32)]).collect();
    let out = g.run(&[avg, max, mean, sm], &[(&[1, 3, 3, 2], xv.clone())]);
    // windows: rows {0,1},{2}; cols {0,1},{2} (padding excluded from the divisor)
    let c0_avg = [
        (0.0 + 1.0 + 3.0 + 4.0) / 4.0,
        (2.0 + 5.0) / 2.0,
        (6.0 + 7.0) / 2.0,
        8.0,
    ];
    let want_avg: Vec<f32> = c0_avg.iter().flat_map(|v| [*v, -*v]).collect();
    close(&out[0], &want_avg, "avg_pool SAME");
    let want_max: Vec<f32> = [(4.0, 0.0), (5.0, -2.0), (7.0, -6.0), (8.0, -8.0)]
        .iter()
        .flat_map(|&(a, b)| [a, b])
        .collect();
    close(&out[1], &want_max, "max_pool SAME");
    close(&out[2], &[4.0, -4.0], "mean over H, W");
    let want_sm: Vec<f32> = (0..9)
        .flat_map(|i| {
            let (a, b) = (i as f64, -(i as f64));
            let m = a.max(b);
            let (ea, eb) = ((a - m).exp(), (b - m).exp());
            [(ea / (ea + eb)) as f32, (eb / (ea + eb)) as f32]
        })
        .collect();
    close(&out[3], &want_sm, "softmax over channels");
}

#[test]
fn data_movement_pad_concat_transpose_resize_matmul() {
    let mut g = G::new();
    let x = g.input("x", &[1, 2, 2, 1]);
    let pad = g.t("pad", &[1, 3, 4, 1], None);
    let cat = g.t("cat", &[1, 2, 2, 2], None);
    let tr = g.t("tr", &[1, 1, 2, 2], None);
    let rs = g.t("rs", &[1, 4, 4, 1], None);
    let w = g.t("w", &[2, 3], Some(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    let m2 = g.t("m2", &[2, 2], None);
    let mm = g.t("mm", &[2, 3], None);
    g.node(
        Op::Pad {
            pads: vec![(0, 0), (1, 0), (1, 1), (0, 0)],
            value: -1.0,
        },
        &[x],
        pad,
    );
    g.node(Op::Concat { axis: 3 }, &[x, x], cat);
    g.node(
        Op::Transpose {
            perm: vec![0, 3, 2, 1],
        },
        &[x],
        tr,
    );
    g.node(
        Op::ResizeNearest {
            align_corners: false,
            half_pixel_centers: true,
        },
        &[x],
        rs,
    );
    g.node(Op::Reshape, &[x], m2);
    g.node(Op::MatMul, &[m2, w], mm);
    let out = g.run(
        &[pad, cat, tr, rs, mm],
        &[(&[1, 2, 2, 1], vec![1.0, 2.0, 3.0, 4.0])],
    );
    close(
        &out[0],
        &[
            -1.0, -1.0, -1.0, -1.0, -1.0, 1.0, 2.0, -1.0, -1.0, 3.0, 4.0, -1.0,
        ],
        "pad",
    );
    close(
        &out[1],
        &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0],
        "concat channels",
    );
    close(&out[2], &[1.0, 3.0, 2.0, 4.0], "transpose H/W");
    // half_pixel_centers: source = floor((o + 0.5) * 0.5) = 0, 0, 1, 1
    let rows = [
        [1.0, 1.0, 2.0, 2.0],
        [1.0, 1.0, 2.0, 2.0],
        [3.0, 3.0, 4.0, 4.0],
        [3.0, 3.0, 4.0, 4.0],
    ];
    close(&out[3], &rows.concat(), "resize nearest");
    // [[1, 2], [3, 4]] @ [[1, 2, 3], [4, 5, 6]]
    close(&out[4], &[9.0, 12.0, 15.0, 19.0, 26.0, 33.0], "matmul");
}
