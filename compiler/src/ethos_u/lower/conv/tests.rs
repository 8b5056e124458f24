use super::*;
use crate::ethos_u::segment::{compile_segment, CompiledSegment};
use crate::ir::{Op, Quant};
use crate::passes::testutil::B;
use kiln_rt::ethos_u::config::by_name;

fn win(stride: [usize; 2], dilation: [usize; 2], pads: [usize; 4]) -> Window {
    Window {
        stride,
        dilation,
        pads,
    }
}

/// One CONV_2D (`depthwise`: DEPTHWISE_CONV_2D with multiplier `m`) compiled for the U55-128.
fn compile(x: [usize; 3], k: [usize; 2], o: usize, w: Window, m: Option<usize>) -> CompiledSegment {
    try_compile(x, k, o, w, m).unwrap()
}

fn try_compile(
    x: [usize; 3],
    k: [usize; 2],
    o: usize,
    w: Window,
    m: Option<usize>,
) -> Result<CompiledSegment, String> {
    let mut b = B::new();
    let xi = b.q8("x", &[1, x[0], x[1], x[2]], 0.05, 3);
    b.g.inputs.push(xi);
    let out =
        |n: usize, k: usize, s: usize, d: usize, p: usize| (n + p - ((k - 1) * d + 1)) / s + 1;
    let oh = out(
        x[0],
        k[0],
        w.stride[0],
        w.dilation[0],
        w.pads[0] + w.pads[2],
    );
    let ow = out(
        x[1],
        k[1],
        w.stride[1],
        w.dilation[1],
        w.pads[1] + w.pads[3],
    );
    let (wshape, oc) = match m {
        Some(m) => (vec![1, k[0], k[1], x[2] * m], x[2] * m),
        None => (vec![o, k[0], k[1], x[2]], o),
    };
    let n: usize = wshape.iter().product();
    let vals: Vec<i64> = (0..n as i64).map(|i| i % 7 - 3).collect();
    let wi = b.cint(
        "w",
        DType::I8,
        &wshape,
        &vals,
        Some(Quant::per_tensor(0.02, 0)),
    );
    let bi = b.cint("b", DType::I32, &[oc], &vec![5; oc], None);
    let y = b.q8("y", &[1, oh, ow, oc], 0.1, -2);
    b.output(y);
    let op = match m {
        Some(m) => Op::DepthwiseConv2d {
            win: w,
            depth_multiplier: m,
            act: Act::None,
        },
        None => Op::Conv2d {
            win: w,
            groups: 1,
            act: Act::None,
        },
    };
    b.node("n", op, &[xi, wi, bi], &[y]);
    compile_segment(&b.g, &[0], by_name("ethos-u55-128").unwrap()).map_err(|e| e.to_string())
}

fn kinds(s: &CompiledSegment) -> Vec<&str> {
    s.ops.iter().map(|o| o.kind.as_str()).collect()
}

#[test]
fn stride_above_3_with_one_tap_is_one_view() {
    let s = compile([16, 16, 4], [1, 1], 8, win([4, 5], [1, 1], [0; 4]), None);
    assert_eq!(kinds(&s), ["conv"]);
}

#[test]
fn stride_5_is_space_to_depth_with_a_zero_point_fill() {
    // Padding 1 is not a multiple of the 5 phases: the map is filled first.
    let s = compile([11, 11, 3], [3, 3], 8, win([5, 5], [1, 1], [1; 4]), None);
    let k = kinds(&s);
    assert_eq!(k.iter().filter(|&&k| k == "conv").count(), 1);
    assert_eq!(k.last(), Some(&"conv"));
    // Fill, then one copy per phase that holds IFM rows and columns.
    assert!(k.len() > 2 && k[..k.len() - 1].iter().all(|&k| k == "pool"));
    // The map (3 x 3 x 75) is a temporary beyond the IFM and OFM.
    assert!(s.scratch_bytes >= 11 * 11 * 3 + 3 * 3 * 8 + 3 * 3 * 75);
    // Stride 4 = 2 phases x stride 2, no padding: four copies, no fill.
    let s = compile([12, 12, 3], [3, 3], 8, win([4, 4], [1, 1], [0; 4]), None);
    assert_eq!(kinds(&s), ["pool", "pool", "pool", "pool", "conv"]);
}

#[test]
fn dilation_above_2_is_independent_output_phases() {
    let s = compile([12, 12, 4], [3, 3], 8, win([1, 1], [3, 3], [3; 4]), None);
    assert_eq!(kinds(&s), ["conv"; 9]);
    // Dilation 4: two phases per axis with the hardware's dilation 2.
    let s = compile(
        [12, 12, 4],
        [3, 3],
        8,
        win([1, 1], [4, 1], [4, 1, 4, 1]),
        None,
    );
    assert_eq!(kinds(&s), ["conv"; 2]);
    // Dilation 6 with stride 2: the common factor 2 is a view, then 3 x 3 phases of dilation 1.
    let s = compile([30, 30, 2], [3, 3], 4, win([2, 2], [6, 6], [0; 4]), None);
    assert_eq!(kinds(&s), ["conv"; 9]);
}

#[test]
fn depth_multiplier_with_many_channels_is_grouped_dense_convolutions() {
    // M = 3: per k, a depthwise operation into a temporary and its interleaving copy.
    let s = compile([6, 6, 10], [3, 3], 0, win([1, 1], [1, 1], [1; 4]), Some(3));
    assert_eq!(
        kinds(&s),
        [
            "depthwise",
            "pool",
            "depthwise",
            "pool",
            "depthwise",
            "pool"
        ]
    );
    assert!(s.scratch_bytes >= 6 * 6 * 10 + 6 * 6 * 30 + 6 * 6 * 10);
    // M = 3 with stride 4: groups of 6 input channels (18 outputs each), each through
    // space-to-depth (2 x 2 phases: four copies and one dense convolution per group).
    let s = compile(
        [12, 12, 10],
        [3, 3],
        0,
        win([4, 4], [1, 1], [0; 4]),
        Some(3),
    );
    assert_eq!(kinds(&s).iter().filter(|&&k| k == "conv").count(), 2);
    assert_eq!(kinds(&s).len(), 10);
    // M = 1 stays one depthwise operation.
    let s = compile([6, 6, 10], [3, 3], 0, win([1, 1], [1, 1], [1; 4]), Some(1));
    assert_eq!(kinds(&s), ["depthwise"]);
    // M = 1 with stride 5: groups of 8 channels through space-to-depth.
    let s = compile(
        [10, 10, 10],
        [3, 3],
        0,
        win([5, 5], [1, 1], [0; 4]),
        Some(1),
    );
    assert_eq!(kinds(&s).iter().filter(|&&k| k == "conv").count(), 2);
}

#[test]
fn kernels_beyond_the_hardware_extent_decompose_with_a_stride_or_dilation() {
    // 33 taps at dilation 2 span 65 rows: two phases of dilation 1 (33 rows each).
    let s = compile([70, 3, 2], [33, 1], 4, win([1, 1], [2, 1], [0; 4]), None);
    assert_eq!(kinds(&s), ["conv"; 2]);
    // 65 taps at stride 2: space-to-depth by 2 (33 taps), two copies, one convolution.
    let s = compile([70, 3, 2], [65, 1], 4, win([2, 1], [1, 1], [0; 4]), None);
    assert_eq!(kinds(&s), ["pool", "pool", "conv"]);
    // 70 taps over 70 rows (one output row, stride free): 3 phases of 24 taps; the map's
    // 72 rows pass the IFM's end, so a fill, then three copies.
    let s = compile([70, 3, 2], [70, 1], 4, win([1, 1], [1, 1], [0; 4]), None);
    assert_eq!(kinds(&s), ["pool", "pool", "pool", "pool", "conv"]);
    // 65 taps at stride 1 over 80 rows (16 outputs): no exact decomposition.
    let e = try_compile([80, 3, 2], [65, 1], 4, win([1, 1], [1, 1], [0; 4]), None);
    assert!(e.unwrap_err().contains("no exact decomposition"));
}

#[test]
fn view_axis_maps_virtual_rows_to_ifm_rows() {
    // Rows 3u - 2: u = 1 is row 1 (one padding row before), rows 1, 4, 7 of 9.
    assert_eq!(view_axis(9, 3, -2), (1, 3, 1));
    // Rows 2u + 3: rows 3, 5, 7 of 8, no padding.
    assert_eq!(view_axis(8, 2, 3), (3, 3, 0));
    // Rows 4u - 1 of 2 rows: none (row 3 is beyond).
    assert_eq!(view_axis(2, 4, -1).1, 0);
}
