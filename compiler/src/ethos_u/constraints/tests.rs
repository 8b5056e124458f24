use super::*;
use crate::ir::{Rounding, Window};
use crate::passes::testutil::B;
use Constraint as C;

/// A node and the graph holding its tensors.
struct Case {
    g: Graph,
    n: Node,
}

impl Case {
    fn input(&mut self, i: usize) -> &mut Tensor {
        let id = self.n.input(i).unwrap();
        self.g.tensor_mut(id)
    }
    fn output(&mut self) -> &mut Tensor {
        let id = self.n.outputs[0];
        self.g.tensor_mut(id)
    }
    fn violations(&self) -> Vec<Violation> {
        check(&self.g, &self.n, limits(false))
            .err()
            .unwrap_or_default()
    }
    fn kinds(&self) -> Vec<Constraint> {
        self.violations().iter().map(|v| v.constraint).collect()
    }
    fn with(mut self, f: impl FnOnce(&mut Case)) -> Case {
        f(&mut self);
        self
    }
}

fn fm(b: &mut B, name: &str, shape: &[usize]) -> TensorId {
    b.q8(name, shape, 0.05, 0)
}

fn consts(b: &mut B, dtype: DType, shape: &[usize], v: i64, q: Quant) -> TensorId {
    let n: usize = shape.iter().product();
    b.cint("w", dtype, shape, &vec![v; n], Some(q))
}

fn node(b: B, op: Op, inputs: &[Option<TensorId>], out: TensorId) -> Case {
    Case {
        g: b.g,
        n: Node {
            name: "n".into(),
            source_op: op.name().into(),
            op,
            inputs: inputs.to_vec(),
            outputs: vec![out],
        },
    }
}

fn win(stride: usize, dilation: usize, pad: usize) -> Window {
    Window {
        stride: [stride; 2],
        dilation: [dilation; 2],
        pads: [pad; 4],
    }
}

/// Conv2d over `x` with weights `[o, kh, kw, x.C]` all `v`, bias, 3x3-style geometry.
fn conv_with(x: &[usize], o: usize, k: [usize; 2], v: i64, w: Window) -> Case {
    let mut b = B::new();
    let xi = fm(&mut b, "x", x);
    let wi = consts(
        &mut b,
        DType::I8,
        &[o, k[0], k[1], x[3]],
        v,
        Quant::per_tensor(0.02, 0),
    );
    let bi = consts(&mut b, DType::I32, &[o], 0, Quant::per_tensor(0.001, 0));
    let y = fm(&mut b, "y", &[1, x[1], x[2], o]);
    let op = Op::Conv2d {
        win: w,
        groups: 1,
        act: Act::None,
    };
    node(b, op, &[Some(xi), Some(wi), Some(bi)], y)
}

fn conv() -> Case {
    conv_with(&[1, 8, 8, 4], 8, [3, 3], 1, win(1, 1, 1))
}

fn dw() -> Case {
    let mut b = B::new();
    let x = fm(&mut b, "x", &[1, 8, 8, 4]);
    let w = consts(
        &mut b,
        DType::I8,
        &[1, 3, 3, 8],
        1,
        Quant::per_tensor(0.02, 0),
    );
    let bias = consts(&mut b, DType::I32, &[8], 0, Quant::per_tensor(0.001, 0));
    let y = fm(&mut b, "y", &[1, 8, 8, 8]);
    let op = Op::DepthwiseConv2d {
        win: win(1, 1, 1),
        depth_multiplier: 2,
        act: Act::Relu6,
    };
    node(b, op, &[Some(x), Some(w), Some(bias)], y)
}

fn fc() -> Case {
    let mut b = B::new();
    let x = fm(&mut b, "x", &[1, 16]);
    let w = consts(&mut b, DType::I8, &[10, 16], 1, Quant::per_tensor(0.02, 0));
    let bias = consts(&mut b, DType::I32, &[10], 0, Quant::per_tensor(0.001, 0));
    let y = fm(&mut b, "y", &[1, 10]);
    node(
        b,
        Op::FullyConnected { act: Act::None },
        &[Some(x), Some(w), Some(bias)],
        y,
    )
}

fn pool(avg: bool, kernel: [usize; 2], pad: usize) -> Case {
    let mut b = B::new();
    let x = fm(&mut b, "x", &[1, 8, 8, 4]);
    let y = fm(&mut b, "y", &[1, 4, 4, 4]);
    let w = win(2, 1, pad);
    let op = if avg {
        Op::AvgPool2d {
            kernel,
            win: w,
            count_include_pad: false,
            act: Act::None,
        }
    } else {
        Op::MaxPool2d {
            kernel,
            win: w,
            act: Act::None,
        }
    };
    node(b, op, &[Some(x)], y)
}

fn binary(op: Op, a: &[usize], bs: &[usize], out: &[usize]) -> Case {
    let mut b = B::new();
    let x = fm(&mut b, "a", a);
    let z = fm(&mut b, "b", bs);
    let y = fm(&mut b, "y", out);
    node(b, op, &[Some(x), Some(z)], y)
}

fn add() -> Case {
    binary(
        Op::Add { act: Act::Relu },
        &[1, 4, 4, 8],
        &[1, 1, 1, 8],
        &[1, 4, 4, 8],
    )
}

fn unary(op: Op, shape: &[usize]) -> Case {
    let mut b = B::new();
    let x = fm(&mut b, "x", shape);
    let y = fm(&mut b, "y", shape);
    node(b, op, &[Some(x)], y)
}

fn relu() -> Case {
    unary(Op::Relu, &[1, 4, 4, 8])
}

fn softmax(shape: &[usize]) -> Case {
    unary(Op::Softmax { beta: 1.0 }, shape)
}

fn mean(x: &[usize], axes: &[usize], dtype: DType) -> Case {
    let mut b = B::new();
    let xi = fm(&mut b, "x", x);
    b.g.tensor_mut(xi).dtype = dtype;
    let mut ys = x.to_vec();
    for &a in axes {
        if let Some(d) = ys.get_mut(a) {
            *d = 1;
        }
    }
    let y = fm(&mut b, "y", &ys);
    b.g.tensor_mut(y).dtype = dtype;
    let op = Op::Mean {
        axes: axes.to_vec(),
        keep_dims: true,
    };
    node(b, op, &[Some(xi)], y)
}

fn pad() -> Case {
    let mut b = B::new();
    let x = fm(&mut b, "x", &[1, 4, 4, 8]);
    let y = fm(&mut b, "y", &[1, 6, 6, 8]);
    let op = Op::Pad {
        pads: vec![(0, 0), (1, 1), (1, 1), (0, 0)],
        value: 0.0,
    };
    node(b, op, &[Some(x)], y)
}

fn concat() -> Case {
    let mut b = B::new();
    let p = fm(&mut b, "p", &[1, 4, 4, 3]);
    let q = fm(&mut b, "q", &[1, 4, 4, 5]);
    let y = fm(&mut b, "y", &[1, 4, 4, 8]);
    node(b, Op::Concat { axis: 3 }, &[Some(p), Some(q)], y)
}

fn reshape() -> Case {
    let mut b = B::new();
    let x = fm(&mut b, "x", &[1, 4, 4, 8]);
    let y = fm(&mut b, "y", &[1, 128]);
    node(b, Op::Reshape, &[Some(x)], y)
}

fn resize(out: &[usize], align_corners: bool) -> Case {
    let mut b = B::new();
    let x = fm(&mut b, "x", &[1, 4, 4, 8]);
    let y = fm(&mut b, "y", out);
    let op = Op::ResizeNearest {
        align_corners,
        half_pixel_centers: false,
    };
    node(b, op, &[Some(x)], y)
}

fn transpose(x: &[usize], perm: &[usize]) -> Case {
    let mut b = B::new();
    let xi = fm(&mut b, "x", x);
    let ys: Vec<usize> = perm.iter().map(|&p| x[p]).collect();
    let y = fm(&mut b, "y", &ys);
    let op = Op::Transpose {
        perm: perm.to_vec(),
    };
    node(b, op, &[Some(xi)], y)
}

fn quantize() -> Case {
    let mut b = B::new();
    let x = fm(&mut b, "x", &[1, 4, 4, 8]);
    let y = b.q8("y", &[1, 4, 4, 8], 0.1, 3);
    let op = Op::Quantize {
        rounding: Rounding::HalfAwayFromZero,
    };
    node(b, op, &[Some(x)], y)
}

fn set_op_win(c: &mut Case, f: impl FnOnce(&mut Window)) {
    match &mut c.n.op {
        Op::Conv2d { win, .. }
        | Op::DepthwiseConv2d { win, .. }
        | Op::AvgPool2d { win, .. }
        | Op::MaxPool2d { win, .. } => f(win),
        _ => unreachable!(),
    }
}

/// For every constraint: a node that satisfies every rule, and one that breaks this one.
fn pair(c: Constraint) -> (Case, Case) {
    match c {
        C::UnsupportedOperator => (relu(), relu().with(|c| c.n.op = Op::Dequantize)),
        C::Operands => (conv(), conv().with(|c| c.n.inputs[1] = None)),
        C::FeatureMapType => (
            relu(),
            relu().with(|c| {
                c.input(0).dtype = DType::F32;
                c.input(0).quant = None;
            }),
        ),
        C::Quantized => (relu(), relu().with(|c| c.input(0).quant = None)),
        C::QuantScale => (
            relu(),
            relu().with(|c| c.input(0).quant = Some(Quant::per_tensor(0.0, 0))),
        ),
        C::PerAxisQuant => (
            relu(),
            relu().with(|c| {
                c.input(0).quant = Some(Quant {
                    scale: vec![0.05; 8],
                    zero_point: vec![0; 8],
                    axis: 3,
                })
            }),
        ),
        C::ZeroPoint => (
            relu(),
            relu().with(|c| c.input(0).quant = Some(Quant::per_tensor(0.05, 200))),
        ),
        C::Rank => (relu(), unary(Op::Relu, &[1, 1, 2, 2, 8])),
        C::DimensionRange => (relu(), unary(Op::Relu, &[1, 1, 70_000, 1])),
        C::Batch => (relu(), unary(Op::Relu, &[2, 4, 4, 8])),
        C::FusedActivationType => (
            add(),
            add().with(|c| {
                c.output().dtype = DType::I32;
                c.output().quant = Some(Quant::per_tensor(0.0025, 0));
            }),
        ),
        C::EightBitInput => (
            unary(Op::HardSwish, &[1, 4, 4, 8]),
            unary(Op::HardSwish, &[1, 4, 4, 8]).with(|c| {
                c.input(0).dtype = DType::I16;
                c.output().dtype = DType::I16;
            }),
        ),
        C::ConvGroups => (
            conv(),
            conv().with(|c| {
                if let Op::Conv2d { groups, .. } = &mut c.n.op {
                    *groups = 2;
                }
            }),
        ),
        C::ConvWeightShape => (conv(), conv().with(|c| c.input(0).shape = vec![1, 8, 8, 5])),
        C::DepthwiseShape => (dw(), dw().with(|c| c.output().shape = vec![1, 8, 8, 6])),
        C::FullyConnectedShape => (fc(), fc().with(|c| c.input(0).shape = vec![1, 15])),
        C::WeightsConstant => (conv(), conv().with(|c| c.input(1).data = None)),
        C::WeightsType => (conv(), conv().with(|c| c.input(1).dtype = DType::U8)),
        C::WeightZeroPoint => (
            conv(),
            conv().with(|c| c.input(1).quant = Some(Quant::per_tensor(0.02, 3))),
        ),
        C::WeightQuantAxis => {
            let per_channel = |n: usize, axis: usize| Quant {
                scale: vec![0.02; n],
                zero_point: vec![0; n],
                axis,
            };
            (
                conv().with(|c| c.input(1).quant = Some(per_channel(8, 0))),
                conv().with(|c| c.input(1).quant = Some(per_channel(4, 3))),
            )
        }
        C::WeightSum => (
            conv_with(&[1, 3, 3, 8000], 2, [3, 3], 100, win(1, 1, 0)),
            conv_with(&[1, 3, 3, 8000], 2, [3, 3], 127, win(1, 1, 0)),
        ),
        C::BiasConstant => (conv(), conv().with(|c| c.input(2).data = None)),
        C::BiasType => {
            let with_i64 = |v: i64| {
                conv().with(move |c| {
                    let n = c.input(2).numel();
                    let t = c.input(2);
                    t.dtype = DType::I64;
                    t.data = Some(vec![v; n].iter().flat_map(|x| x.to_le_bytes()).collect());
                })
            };
            (with_i64(-(1 << 39)), with_i64(1 << 40))
        }
        C::BiasShape => (conv(), conv().with(|c| c.input(2).shape = vec![4])),
        C::StrideRange => (
            pool(false, [2, 2], 0),
            pool(false, [2, 2], 0).with(|c| set_op_win(c, |w| w.stride = [4, 4])),
        ),
        C::DilationRange => (
            conv().with(|c| set_op_win(c, |w| w.dilation = [3, 1])),
            conv().with(|c| set_op_win(c, |w| w.dilation = [0, 1])),
        ),
        C::DilatedKernelHeight => (
            conv_with(&[1, 8, 8, 1], 1, [64, 1], 1, win(1, 1, 1)),
            conv_with(&[1, 8, 8, 1], 1, [65, 1], 1, win(1, 1, 1)),
        ),
        C::DilatedKernelProduct => (
            conv_with(&[1, 64, 64, 1], 1, [64, 64], 1, win(1, 1, 0)),
            conv_with(&[1, 64, 65, 1], 1, [64, 65], 1, win(1, 1, 0)),
        ),
        C::PaddingRange => (
            conv().with(|c| set_op_win(c, |w| w.pads = [127, 127, 255, 255])),
            conv().with(|c| set_op_win(c, |w| w.pads = [128, 0, 0, 0])),
        ),
        C::AvgPoolPaddedKernel => {
            let include = |c: &mut Case| {
                if let Op::AvgPool2d {
                    count_include_pad, ..
                } = &mut c.n.op
                {
                    *count_include_pad = true;
                }
            };
            (
                pool(true, [8, 8], 1).with(include),
                pool(true, [9, 8], 1).with(include),
            )
        }
        C::PoolKernelHeight => (pool(false, [256, 1], 0), pool(false, [257, 1], 0)),
        C::PoolKernelProduct => (pool(false, [256, 256], 0), pool(false, [256, 257], 0)),
        C::InOutTypes => (
            pool(false, [2, 2], 0),
            pool(false, [2, 2], 0).with(|c| c.output().dtype = DType::I16),
        ),
        C::BinaryInputTypes => (add(), add().with(|c| c.input(1).dtype = DType::I16)),
        C::InOutShapes => (
            unary(Op::Logistic, &[1, 4, 4, 8]),
            unary(Op::Logistic, &[1, 4, 4, 8]).with(|c| c.output().shape = vec![1, 4, 4, 4]),
        ),
        C::Broadcast => (
            add(),
            binary(
                Op::Add { act: Act::None },
                &[1, 4, 4, 8],
                &[1, 1, 1, 3],
                &[1, 4, 4, 8],
            ),
        ),
        C::BroadcastOneInput => (
            binary(Op::Mul { act: Act::None }, &[4, 4, 8], &[8], &[1, 4, 4, 8]),
            binary(
                Op::Mul { act: Act::None },
                &[1, 4, 1, 8],
                &[1, 1, 4, 8],
                &[1, 4, 4, 8],
            ),
        ),
        C::MinMaxQuant => {
            let max = || binary(Op::Maximum, &[1, 4, 4, 8], &[1, 4, 4, 8], &[1, 4, 4, 8]);
            (
                max(),
                max().with(|c| c.input(1).quant = Some(Quant::per_tensor(0.1, 0))),
            )
        }
        C::SoftmaxBeta => (
            softmax(&[1, 10]),
            softmax(&[1, 10]).with(|c| c.n.op = Op::Softmax { beta: -1.0 }),
        ),
        C::SoftmaxArea => (softmax(&[1, 256, 256, 2]), softmax(&[1, 300, 300, 2])),
        C::MeanAxes => (
            mean(&[1, 4, 4, 8], &[1, 2], DType::I8),
            mean(&[1, 4, 4, 8], &[1, 2], DType::I8).with(|c| {
                c.n.op = Op::Mean {
                    axes: vec![2, 2],
                    keep_dims: true,
                }
            }),
        ),
        C::MeanDepthReduction => (
            mean(&[1, 4, 4, 8], &[1, 3], DType::I8),
            mean(&[1, 4, 65, 8], &[1, 3], DType::I8),
        ),
        C::MeanAxisSize => (
            mean(&[1, 4096, 2, 8], &[1], DType::I8),
            mean(&[1, 4097, 2, 8], &[1], DType::I8),
        ),
        C::MeanElements => (
            mean(&[1, 256, 256, 1], &[1, 2], DType::I16),
            mean(&[1, 300, 300, 1], &[1, 2], DType::I16),
        ),
        C::PadDims => (
            pad(),
            pad().with(|c| {
                c.n.op = Op::Pad {
                    pads: vec![(1, 0), (1, 1), (1, 1), (0, 1)],
                    value: 0.0,
                };
                c.output().shape = vec![2, 6, 6, 9];
            }),
        ),
        C::PadOutputShape => (pad(), pad().with(|c| c.output().shape = vec![1, 6, 7, 8])),
        C::ConcatShapes => (
            concat(),
            concat().with(|c| c.output().shape = vec![1, 4, 4, 9]),
        ),
        C::ReshapeQuant => (
            reshape(),
            reshape().with(|c| c.output().quant = Some(Quant::per_tensor(0.1, 0))),
        ),
        C::ReshapeElements => (
            reshape(),
            reshape().with(|c| c.output().shape = vec![1, 127]),
        ),
        C::ResizeScale => (resize(&[1, 8, 8, 8], false), resize(&[1, 12, 12, 8], false)),
        C::ResizeAttrs => (
            resize(&[1, 8, 8, 8], false),
            resize(&[1, 8, 8, 8], false).with(|c| {
                c.n.op = Op::ResizeNearest {
                    align_corners: true,
                    half_pixel_centers: true,
                }
            }),
        ),
        C::TransposePerm => (
            transpose(&[1, 300, 300, 1], &[1, 0, 2, 3]),
            transpose(&[1, 70000, 2, 1], &[0, 2, 1, 3]),
        ),
    }
}

#[test]
fn every_constraint_has_a_passing_and_a_failing_case() {
    for &c in all_constraints() {
        let (pass, fail) = pair(c);
        let v = pass.violations();
        assert!(v.is_empty(), "{c:?}: the passing case violates {v:?}");
        let kinds = fail.kinds();
        assert!(
            kinds.contains(&c),
            "{c:?}: the failing case gives {kinds:?}"
        );
        for v in fail.violations().iter().filter(|v| v.constraint == c) {
            assert!(!v.detail.is_empty(), "{c:?}");
        }
    }
}

#[test]
fn the_table_lists_every_rule_once_with_words_and_a_source() {
    let mut seen = std::collections::HashSet::new();
    for &c in all_constraints() {
        assert!(seen.insert(c), "{c:?} listed twice");
        assert!(c.to_string().len() > 20, "{c:?}");
        assert!(!c.source().is_empty(), "{c:?}");
    }
    assert_eq!(
        C::StrideRange.to_string(),
        "Stride values for both width and height must be in the range [1, 3] (AvgPool2d: any stride along an output dimension of size 1; Conv2d and DepthwiseConv2d: any stride, kiln decomposes those above 3)"
    );
    assert!(C::WeightSum.to_string().contains("8323072"));
    assert!(C::DimensionRange.to_string().contains("65536"));
    assert!(C::MeanElements.to_string().contains("16777216"));
    assert_eq!(limits(true), limits(false));
}

#[test]
fn check_returns_every_violation_at_once() {
    let c = conv().with(|c| {
        c.input(0).dtype = DType::F32;
        c.input(0).quant = None;
        c.input(1).quant = Some(Quant::per_tensor(0.02, 1));
        c.input(2).data = None;
        set_op_win(c, |w| {
            w.stride = [0, 4];
            w.dilation = [0, 3];
            w.pads = [200, 0, 0, 0];
        });
    });
    let kinds = c.kinds();
    for k in [
        C::FeatureMapType,
        C::WeightZeroPoint,
        C::BiasConstant,
        C::StrideRange,
        C::DilationRange,
        C::PaddingRange,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
    }
    // The details carry the numbers.
    let v = c.violations();
    let stride = v.iter().find(|v| v.constraint == C::StrideRange).unwrap();
    assert!(stride.detail.contains("(0, 4)") && stride.detail.contains("[1, 3]"));
    assert!(v[0].to_string().contains("rule:"));
}

#[test]
fn exemptions_follow_vela() {
    // A stride along an output dimension of size 1 does not matter for Conv2d.
    let c = conv_with(&[1, 3, 3, 4], 8, [3, 3], 1, win(5, 1, 0)).with(|c| {
        c.output().shape = vec![1, 1, 1, 8];
    });
    assert!(c.violations().is_empty(), "{:?}", c.violations());
    // ... but it does for max pools; convolutions take any stride (kiln decomposes it).
    let m = pool(false, [2, 2], 0).with(|c| {
        set_op_win(c, |w| w.stride = [5, 5]);
        c.output().shape = vec![1, 1, 1, 4];
    });
    assert!(m.kinds().contains(&C::StrideRange));
    let d = dw().with(|c| set_op_win(c, |w| w.stride = [5, 5]));
    assert!(!d.kinds().contains(&C::StrideRange));
    // Fully connected, softmax and reshape may have a batch.
    let f = fc().with(|c| {
        c.input(0).shape = vec![4, 16];
        c.output().shape = vec![4, 10];
    });
    assert!(f.violations().is_empty(), "{:?}", f.violations());
    assert!(softmax(&[3, 2, 2, 10]).violations().is_empty());
    // Pad and transpose need no quantization; int32 adds are fine; clamps of any range.
    let p = pad().with(|c| {
        c.input(0).quant = None;
        c.output().quant = None;
    });
    assert!(p.violations().is_empty(), "{:?}", p.violations());
    let a = add().with(|c| {
        c.n.op = Op::Add { act: Act::None };
        for i in 0..2 {
            c.input(i).dtype = DType::I32;
        }
        c.output().dtype = DType::I32;
    });
    assert!(a.violations().is_empty(), "{:?}", a.violations());
    let clamp = conv().with(|c| {
        c.n.op = Op::Conv2d {
            win: win(1, 1, 1),
            groups: 1,
            act: Act::Clamp {
                min: -0.3,
                max: 2.5,
            },
        }
    });
    assert!(clamp.violations().is_empty());
    // Average pools without padding take big kernels.
    assert!(pool(true, [16, 16], 0).violations().is_empty());
    assert!(quantize().violations().is_empty());
}

#[test]
fn resize_and_transpose_cases() {
    for out in [[1, 8, 8, 8], [1, 16, 16, 8], [1, 32, 32, 8], [1, 4, 4, 8]] {
        assert!(resize(&out, false).violations().is_empty(), "{out:?}");
    }
    assert!(resize(&[1, 7, 7, 8], true).violations().is_empty());
    assert!(resize(&[1, 8, 4, 8], false)
        .kinds()
        .contains(&C::ResizeScale));
    assert!(resize(&[1, 8, 8, 4], false)
        .kinds()
        .contains(&C::ResizeScale));
    for perm in [[0, 3, 1, 2], [0, 2, 3, 1], [0, 1, 3, 2], [0, 3, 2, 1]] {
        assert!(
            transpose(&[1, 4, 6, 8], &perm).violations().is_empty(),
            "{perm:?}"
        );
    }
    assert!(transpose(&[4, 6], &[1, 0]).violations().is_empty());
    let t32 = transpose(&[1, 4, 6, 8], &[0, 3, 2, 1]).with(|c| {
        c.input(0).dtype = DType::I32;
        c.output().dtype = DType::I32;
    });
    assert_eq!(t32.kinds(), vec![C::TransposePerm]);
}

#[test]
fn weight_sums_are_per_output_channel() {
    // Depthwise: one channel sums kh*kw values only.
    let mut b = B::new();
    let x = fm(&mut b, "x", &[1, 64, 65, 2]);
    let mut v = vec![1i64; 64 * 65 * 2];
    for k in 0..64 * 65 {
        v[2 * k + 1] = 127;
    }
    let w = b.cint(
        "w",
        DType::I8,
        &[1, 64, 65, 2],
        &v,
        Some(Quant::per_tensor(0.02, 0)),
    );
    let y = fm(&mut b, "y", &[1, 1, 1, 2]);
    let op = Op::DepthwiseConv2d {
        win: win(1, 1, 0),
        depth_multiplier: 1,
        act: Act::None,
    };
    let c = node(b, op, &[Some(x), Some(w), None], y);
    // 127 * 4160 = 528320: within the limit (the kernel is too big, though).
    assert!(!c.kinds().contains(&C::WeightSum));
    assert!(c.kinds().contains(&C::DilatedKernelProduct));
    // Malformed nodes are reported, not a panic.
    let m = conv().with(|c| c.n.outputs.clear());
    assert_eq!(m.kinds(), vec![C::Operands]);
}
