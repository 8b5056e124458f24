//! IR nodes to NPU operations, with TFLite Micro's integer arithmetic: the
//! scale records, global scales, rounding modes and clamps are chosen so that
//! the hardware computes what the reference kernels compute (see each
//! function for the rule and where it differs).

use super::block::{choose_block, BlockOpKind, BlockRequest};
use super::npu_op::{
    FeatureMap, InputScaling, Kernel, LutLoad, NpuKind, NpuOp, Operand2, Scale, Span,
    REGION_WEIGHTS,
};
use super::weights::{encode_weights, scale_records, WeightLayout};
use crate::ir::{Act, DType, Graph, Node, Op, TensorId, Window};
use crate::quant;
use kiln_rt::ethos_u::config::AccelConfig;
use kiln_rt::ethos_u::regs::{ElementwiseMode, PoolingMode, RoundMode};
use std::collections::HashMap;

/// Why a node could not be lowered (it then runs on the CPU, or is an error with `cpu_fallback = false`).
pub type Refusal = String;

/// Read-only data of one NPU segment (weights, scale records, LUTs): region 0.
#[derive(Default)]
pub struct ReadOnly {
    /// The bytes, every item 16-byte aligned.
    pub bytes: Vec<u8>,
}

impl ReadOnly {
    /// Appends `data` at the next 16-byte boundary.
    pub fn push(&mut self, data: &[u8]) -> Span {
        let offset = self.bytes.len().div_ceil(16) * 16;
        self.bytes.resize(offset, 0);
        self.bytes.extend_from_slice(data);
        Span {
            region: REGION_WEIGHTS,
            offset: offset as u32,
            len: data.len() as u32,
        }
    }
}

/// What lowering needs to know about the segment.
pub struct Ctx<'a> {
    /// The graph.
    pub g: &'a Graph,
    /// The accelerator.
    pub cfg: &'static AccelConfig,
    /// Scratch address of every non-constant tensor of the segment.
    pub addr: &'a HashMap<TensorId, u32>,
    /// Placement probe: check that the node lowers, without encoding its weights.
    pub probe: bool,
}

/// `[h, w, c]` of an activation: NHWC rank 4 (batch 1), or `[.., c]` of lower rank.
pub fn hwc(shape: &[usize]) -> Result<[u32; 3], Refusal> {
    let d = |i: usize| u32::try_from(shape[i]).map_err(|_| "dimension above 2^32".to_string());
    match shape.len() {
        0 => Ok([1, 1, 1]),
        1 => Ok([1, 1, d(0)?]),
        2 => Ok([1, d(0)?, d(1)?]),
        3 => Ok([d(0)?, d(1)?, d(2)?]),
        4 if shape[0] == 1 => Ok([d(1)?, d(2)?, d(3)?]),
        _ => Err(format!(
            "shape {shape:?}: the NPU takes batch 1 and rank <= 4"
        )),
    }
}

fn qparams(g: &Graph, t: TensorId) -> Result<(f32, i32), Refusal> {
    let ten = g.tensor(t);
    if ten.dtype != DType::I8 {
        return Err(format!(
            "tensor {} is {}, kiln's NPU lowering takes int8",
            ten.name, ten.dtype
        ));
    }
    let q = ten
        .quant
        .as_ref()
        .ok_or_else(|| format!("tensor {} has no quantization", ten.name))?;
    if !q.is_per_tensor() {
        return Err(format!("activation {} is quantized per channel", ten.name));
    }
    Ok(quant::per_tensor(q))
}

impl Ctx<'_> {
    fn fm(&self, t: TensorId) -> Result<FeatureMap, Refusal> {
        let ten = self.g.tensor(t);
        let shape = hwc(&ten.shape)?;
        let (_, zp) = qparams(self.g, t)?;
        let base = *self
            .addr
            .get(&t)
            .ok_or_else(|| format!("tensor {} has no scratch address", ten.name))?;
        Ok(FeatureMap::nhwc(base, shape, shape[2], zp))
    }

    fn block(&self, req: BlockRequest) -> Result<super::block::BlockConfig, Refusal> {
        choose_block(self.cfg, &req).ok_or_else(|| {
            format!(
                "no OFM block of {} fits the SHRAM of {}",
                fmt_shape(req.ofm),
                self.cfg.name()
            )
        })
    }
}

fn fmt_shape(s: [u32; 3]) -> String {
    format!("{}x{}x{}", s[0], s[1], s[2])
}

fn clamp(act: Act, out: (f32, i32)) -> Result<(i32, i32), Refusal> {
    quant::activation_range(act, out.0, out.1).map_err(|e| e.to_string())
}

/// Padding registers for a window over an IFM of height/width `ifm` giving `ofm`: the
/// bottom/right padding the hardware needs so that it reads exactly the IFM's rows and columns.
fn pads(win: &Window, kernel: [u32; 2], ifm: [u32; 3], ofm: [u32; 3]) -> Result<[u32; 4], Refusal> {
    let [top, left, _, _] = win.pads.map(|p| p as i64);
    let need = |o: u32, s: usize, k: u32, d: usize, before: i64, size: u32| -> i64 {
        let extent = (o as i64 - 1) * s as i64 + (k as i64 - 1) * d as i64 + 1;
        (extent - before - size as i64).max(0)
    };
    let bottom = need(
        ofm[0],
        win.stride[0],
        kernel[0],
        win.dilation[0],
        top,
        ifm[0],
    );
    let right = need(
        ofm[1],
        win.stride[1],
        kernel[1],
        win.dilation[1],
        left,
        ifm[1],
    );
    // The hardware derives the IFM's extent from the padding: a window grid that lies wholly in
    // the padding along a dimension reads no IFM row or column and cannot be expressed.
    let rows = (ofm[0] as i64 - 1) * win.stride[0] as i64
        + (kernel[0] as i64 - 1) * win.dilation[0] as i64
        + 1
        - top
        - bottom;
    let cols = (ofm[1] as i64 - 1) * win.stride[1] as i64
        + (kernel[1] as i64 - 1) * win.dilation[1] as i64
        + 1
        - left
        - right;
    if rows <= 0 || cols <= 0 {
        return Err(format!(
            "every window lies in the padding {:?} along {} (no IFM element is read)",
            win.pads,
            if rows <= 0 { "the height" } else { "the width" }
        ));
    }
    if top > 127 || left > 127 || bottom > 255 || right > 255 {
        return Err(format!(
            "padding {:?} beyond the IFM_PAD registers",
            win.pads
        ));
    }
    Ok([top as u32, left as u32, bottom as u32, right as u32])
}

/// The window with the stride set to 1 along dimensions where the output has one element
/// (a global pool's stride never moves the window).
fn effective(win: &Window, ofm: [usize; 2]) -> Window {
    let mut w = *win;
    for (s, &o) in w.stride.iter_mut().zip(&ofm) {
        if o == 1 {
            *s = 1;
        }
    }
    w
}

/// `[h, w]` of the output of `node`.
fn out_hw(g: &Graph, node: &Node) -> [usize; 2] {
    let s = node
        .outputs
        .first()
        .map(|&y| g.tensor(y).shape.clone())
        .unwrap_or_default();
    match s.len() {
        4 => [s[1], s[2]],
        _ => [0, 0],
    }
}

fn window_checks(win: &Window) -> Result<(), Refusal> {
    if win.stride.iter().any(|&s| !(1..=3).contains(&s)) {
        return Err(format!("stride {:?} outside 1..=3", win.stride));
    }
    if win.dilation.iter().any(|&d| !(1..=2).contains(&d)) {
        return Err(format!("dilation {:?} outside 1..=2", win.dilation));
    }
    Ok(())
}

fn const_i8(g: &Graph, t: TensorId) -> Result<(&[u8], &crate::ir::Quant), Refusal> {
    let ten = g.tensor(t);
    match (&ten.data, &ten.quant, ten.dtype) {
        (Some(d), Some(q), DType::I8) => Ok((d, q)),
        _ => Err(format!(
            "weights {} are not constant int8 with quantization",
            ten.name
        )),
    }
}

fn bias_values(g: &Graph, b: Option<TensorId>, n: usize) -> Result<Vec<i64>, Refusal> {
    let Some(b) = b else {
        return Ok(vec![0; n]);
    };
    let ten = g.tensor(b);
    match (&ten.data, ten.dtype) {
        (Some(d), DType::I32) if d.len() == 4 * n => Ok(d
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
            .collect()),
        _ => Err(format!(
            "bias {} is not a constant int32 of {n} values",
            ten.name
        )),
    }
}

/// Scale records: TFLite's per-channel `(multiplier, shift)` as the hardware's `(scale, 31 - shift)`.
fn records(
    bias: &[i64],
    mults: &[i32],
    shifts: &[i32],
    ro: &mut ReadOnly,
) -> Result<Span, Refusal> {
    let mut recs = Vec::with_capacity(bias.len());
    for ((&b, &m), &s) in bias.iter().zip(mults).zip(shifts) {
        let (m, sh) = if m == 0 {
            (0u32, 0i32)
        } else {
            (m as u32, 31 - s)
        };
        if !(0..=63).contains(&sh) {
            return Err(format!(
                "requantization shift {s} outside the hardware's range"
            ));
        }
        recs.push((b, m, sh as u8));
    }
    let bytes = scale_records(&recs).map_err(|e| e.to_string())?;
    Ok(ro.push(&bytes))
}

/// TFLite's kernel-method rule as Vela applies it: part-kernel-first when the IFM is shallow
/// or when the kernel fills the 4-element part-kernel steps better than the depth fills 32.
fn part_kernel_first(ifm_depth: u32, kernel: [u32; 2]) -> bool {
    let k = kernel[0] * kernel[1];
    let depth_util = ifm_depth as f64 / ifm_depth.next_multiple_of(32) as f64;
    let part_util = (ifm_depth as f64 / ifm_depth.next_multiple_of(8) as f64)
        * (k as f64 / k.next_multiple_of(4) as f64);
    ifm_depth <= 8 || part_util > depth_util
}

/// How a convolution-like node's weights are read: `w(o, ky, kx, i)`.
struct ConvSpec<'a> {
    kind: NpuKind,
    ifm: FeatureMap,
    ofm: FeatureMap,
    kernel: Kernel,
    ifm_depth: u32,
    weight: &'a dyn Fn(u32, u32, u32, u32) -> i16,
    mults: Vec<i32>,
    shifts: Vec<i32>,
    bias: Vec<i64>,
    clamp: (i32, i32),
}

fn conv_op(
    cx: &Ctx<'_>,
    node: &Node,
    s: ConvSpec<'_>,
    ro: &mut ReadOnly,
) -> Result<NpuOp, Refusal> {
    let depthwise = s.kind == NpuKind::Depthwise;
    let part_kernel = matches!(s.kind, NpuKind::Conv { part_kernel: true });
    let block = cx.block(BlockRequest {
        kind: match s.kind {
            NpuKind::Depthwise => BlockOpKind::Depthwise,
            NpuKind::Conv { part_kernel: true } => BlockOpKind::ConvPartKernel,
            _ => BlockOpKind::Conv,
        },
        ofm: s.ofm.shape,
        ifm_hw: [s.ifm.shape[0], s.ifm.shape[1]],
        ifm_depth: s.ifm_depth,
        kernel: s.kernel.size,
        stride: s.kernel.stride,
        dilation: s.kernel.dilation,
        ifm_bits: 8,
        ofm_bits: 8,
        uses_lut: false,
        upscale: 1,
    })?;
    let layout = WeightLayout {
        ofm_depth: s.ofm.shape[2],
        kernel_h: s.kernel.size[0],
        kernel_w: s.kernel.size[1],
        ifm_depth: if depthwise { 1 } else { s.ifm_depth },
        depthwise,
        part_kernel,
        ofm_block_depth: block.ofm_block[2],
        ifm_bits: 8,
        ofm_ublock_depth: cx.cfg.ofm_ublock[2],
        ifm_ublock_depth: cx.cfg.ifm_ublock[2],
        dilation: s.kernel.dilation,
    };
    let w = if cx.probe {
        Vec::new()
    } else {
        encode_weights(&layout, s.weight).map_err(|e| e.to_string())?
    };
    let weights = ro.push(&w);
    let scales = records(&s.bias, &s.mults, &s.shifts, ro)?;
    Ok(NpuOp {
        kind: s.kind,
        ifm: s.ifm,
        ifm2: None,
        ofm: s.ofm,
        kernel: s.kernel,
        weights: Some(weights),
        scales: Some(scales),
        ofm_scale: Scale::ONE,
        rounding: RoundMode::Dbl,
        input_scaling: None,
        ifm_rounding: RoundMode::Dbl,
        clamp: s.clamp,
        lut: None,
        upscale_nearest: false,
        reversed: false,
        block,
        source: node.name.clone(),
    })
}

fn io(node: &Node) -> Result<(TensorId, TensorId), Refusal> {
    match (node.input(0), node.outputs.first()) {
        (Some(x), Some(&y)) => Ok((x, y)),
        _ => Err("operator needs an input and an output".into()),
    }
}

/// Lowers one node to NPU operations, appending its constant data to `ro`.
pub fn lower(cx: &Ctx<'_>, node: &Node, ro: &mut ReadOnly) -> Result<Vec<NpuOp>, Refusal> {
    let g = cx.g;
    let (x, y) = io(node)?;
    let hw = out_hw(g, node);
    match &node.op {
        Op::Conv2d { win, groups, act } => {
            let win = &effective(win, hw);
            if *groups != 1 {
                return Err(format!("grouped convolution ({groups} groups)"));
            }
            window_checks(win)?;
            let w = node.input(1).ok_or("convolution without weights")?;
            let (wd, wq) = const_i8(g, w)?;
            let ws = &g.tensor(w).shape;
            let [o, kh, kw, i] = [ws[0], ws[1], ws[2], ws[3]].map(|v| v as u32);
            let (xq, yq) = (qparams(g, x)?, qparams(g, y)?);
            let (mults, shifts) =
                quant::conv_per_channel(xq.0, &wq.scale, yq.0, o as usize).map_err(|e| e.to_string())?;
            let ifm = cx.fm(x)?;
            let ofm = cx.fm(y)?;
            if ifm.shape[2] != i {
                return Err("IFM depth differs from the weights' input channels".into());
            }
            let kernel = Kernel {
                size: [kh, kw],
                stride: win.stride.map(|s| s as u32),
                dilation: win.dilation.map(|d| d as u32),
                pads: pads(win, [kh, kw], ifm.shape, ofm.shape)?,
            };
            let wzp = wq.zero_point.first().copied().unwrap_or(0);
            let weight = move |oc: u32, ky: u32, kx: u32, ic: u32| {
                let at = (((oc * kh + ky) * kw + kx) * i + ic) as usize;
                wd[at] as i8 as i16 - wzp as i16
            };
            conv_op(
                cx,
                node,
                ConvSpec {
                    kind: NpuKind::Conv {
                        part_kernel: part_kernel_first(i, [kh, kw]),
                    },
                    ifm,
                    ofm,
                    kernel,
                    ifm_depth: i,
                    weight: &weight,
                    mults,
                    shifts,
                    bias: bias_values(g, node.input(2), o as usize)?,
                    clamp: clamp(*act, yq)?,
                },
                ro,
            )
            .map(|op| vec![op])
        }
        Op::DepthwiseConv2d {
            win,
            depth_multiplier,
            act,
        } => {
            let win = &effective(win, hw);
            window_checks(win)?;
            let w = node.input(1).ok_or("depthwise convolution without weights")?;
            let (wd, wq) = const_i8(g, w)?;
            let ws = &g.tensor(w).shape;
            let [kh, kw, oc] = [ws[1], ws[2], ws[3]].map(|v| v as u32);
            let (xq, yq) = (qparams(g, x)?, qparams(g, y)?);
            let ifm = cx.fm(x)?;
            let ofm = cx.fm(y)?;
            let c = ifm.shape[2];
            if *depth_multiplier != 1 && c != 1 {
                return Err(format!(
                    "depth multiplier {depth_multiplier} with {c} input channels (the NPU takes a multiplier above 1 only for one input channel, as a convolution)"
                ));
            }
            let (mults, shifts) =
                quant::conv_per_channel(xq.0, &wq.scale, yq.0, oc as usize).map_err(|e| e.to_string())?;
            let kernel = Kernel {
                size: [kh, kw],
                stride: win.stride.map(|s| s as u32),
                dilation: win.dilation.map(|d| d as u32),
                pads: pads(win, [kh, kw], ifm.shape, ofm.shape)?,
            };
            let wzp = wq.zero_point.first().copied().unwrap_or(0);
            let weight = move |o: u32, ky: u32, kx: u32, _ic: u32| {
                let at = ((ky * kw + kx) * oc + o) as usize;
                wd[at] as i8 as i16 - wzp as i16
            };
            let kind = if *depth_multiplier == 1 {
                NpuKind::Depthwise
            } else {
                NpuKind::Conv {
                    part_kernel: part_kernel_first(1, [kh, kw]),
                }
            };
            conv_op(
                cx,
                node,
                ConvSpec {
                    kind,
                    ifm,
                    ofm,
                    kernel,
                    ifm_depth: c,
                    weight: &weight,
                    mults,
                    shifts,
                    bias: bias_values(g, node.input(2), oc as usize)?,
                    clamp: clamp(*act, yq)?,
                },
                ro,
            )
            .map(|op| vec![op])
        }
        Op::FullyConnected { act } => {
            let w = node.input(1).ok_or("fully connected without weights")?;
            let (wd, wq) = const_i8(g, w)?;
            let ws = &g.tensor(w).shape;
            let (n, k) = (ws[0] as u32, ws[1] as u32);
            let (xq, yq) = (qparams(g, x)?, qparams(g, y)?);
            let numel = g.tensor(x).numel() as u32;
            if numel.checked_rem(k) != Some(0) {
                return Err("input size is not a multiple of the weights' depth".into());
            }
            let batch = numel / k;
            let (mults, shifts) = if wq.is_per_tensor() {
                let (m, s) = quant::fully_connected_per_tensor(xq.0, wq.scale[0], yq.0)
                    .map_err(|e| e.to_string())?;
                (vec![m; n as usize], vec![s; n as usize])
            } else {
                quant::conv_per_channel(xq.0, &wq.scale, yq.0, n as usize).map_err(|e| e.to_string())?
            };
            let base = |t: TensorId| {
                cx.addr
                    .get(&t)
                    .copied()
                    .ok_or_else(|| format!("tensor {} has no scratch address", g.tensor(t).name))
            };
            let ifm = FeatureMap::nhwc(base(x)?, [1, batch, k], k, xq.1);
            let ofm = FeatureMap::nhwc(base(y)?, [1, batch, n], n, yq.1);
            let wzp = wq.zero_point.first().copied().unwrap_or(0);
            let weight = move |o: u32, _ky: u32, _kx: u32, i: u32| {
                wd[(o * k + i) as usize] as i8 as i16 - wzp as i16
            };
            conv_op(
                cx,
                node,
                ConvSpec {
                    kind: NpuKind::Conv {
                        part_kernel: part_kernel_first(k, [1, 1]),
                    },
                    ifm,
                    ofm,
                    kernel: Kernel::UNIT,
                    ifm_depth: k,
                    weight: &weight,
                    mults,
                    shifts,
                    bias: bias_values(g, node.input(2), n as usize)?,
                    clamp: clamp(*act, yq)?,
                },
                ro,
            )
            .map(|op| vec![op])
        }
        Op::AvgPool2d {
            kernel,
            win,
            count_include_pad,
            act,
        } => {
            let win = &effective(win, hw);
            window_checks(win)?;
            if win.pads.iter().any(|&p| p > 0) && !count_include_pad {
                return Err("padded average pool that excludes padding from the divisor (the NPU divides by the kernel size)".into());
            }
            let (xq, yq) = (qparams(g, x)?, qparams(g, y)?);
            if xq != yq {
                return Err("average pool with different input and output quantization".into());
            }
            let n = (kernel[0] * kernel[1]) as u64;
            let ofm_scale = average_scale(n);
            let mut op = pool_op(cx, node, PoolingMode::Average, *kernel, win, ofm_scale, clamp(*act, yq)?)?;
            // TFLite Micro averages the raw values (input and output share the zero point) and
            // rounds half away from zero, which is not translation invariant: zero points 0.
            op.ifm.zero_point = 0;
            op.ofm.zero_point = 0;
            Ok(vec![op])
        }
        Op::MaxPool2d { kernel, win, act } => {
            let win = &effective(win, hw);
            window_checks(win)?;
            let (xq, yq) = (qparams(g, x)?, qparams(g, y)?);
            if xq != yq {
                return Err("max pool with different input and output quantization".into());
            }
            pool_op(cx, node, PoolingMode::Max, *kernel, win, Scale::ONE, clamp(*act, yq)?)
                .map(|op| vec![op])
        }
        Op::Add { act } | Op::Sub { act } | Op::Mul { act } => binary(cx, node, Some(*act), ro).map(|op| vec![op]),
        Op::Maximum | Op::Minimum => binary(cx, node, None, ro).map(|op| vec![op]),
        Op::Logistic
        | Op::Tanh
        | Op::HardSwish
        | Op::HardSigmoid { .. }
        | Op::LeakyRelu { .. }
        | Op::Relu
        | Op::Relu6
        | Op::ReluN1To1
        | Op::Clip { .. }
        | Op::Quantize { .. } => lut_op(cx, node, ro).map(|op| vec![op]),
        Op::Concat { axis } => concat(cx, node, *axis),
        Op::ResizeNearest {
            align_corners,
            half_pixel_centers: _,
        } => {
            let (xq, yq) = (qparams(g, x)?, qparams(g, y)?);
            if xq != yq {
                return Err("resize with different input and output quantization".into());
            }
            let ifm = cx.fm(x)?;
            let ofm = cx.fm(y)?;
            // 2x nearest: out (y, x) reads in (y/2, x/2), both with and without half-pixel centers.
            if *align_corners || ofm.shape != [ifm.shape[0] * 2, ifm.shape[1] * 2, ifm.shape[2]] {
                return Err("the NPU resizes by exactly 2x (nearest, no align_corners)".into());
            }
            let mut op = copy_op(cx, node, ifm, ofm)?;
            op.upscale_nearest = true;
            Ok(vec![op])
        }
        Op::Softmax { .. } => Err("softmax stays on the CPU: kiln does not lower it to the NPU (Vela's NPU softmax is a sequence of about 30 elementwise operations and LUTs); the CPU kernel is TFLite Micro's, bit-exact".into()),
        other => Err(format!("{} is not lowered to the NPU by kiln yet", other.name())),
    }
}

/// The global scale of an average over `n` elements that reproduces TFLite Micro's
/// `(sum ± n/2) / n` (round half away from zero) in `ROUND_MODE_DBL`: multiplier
/// `ceil(2^(31+s) / n)` with `2^s >= n`, shift `31 + s`. The hardware first rounds at bit 31
/// (exact for the multiplier's integer part) and then divides by `2^s` rounding half away
/// from zero; the multiplier's excess is below `n * 255 / 2^(31+s)`, too small to move a
/// non-tie across a rounding boundary, and pushes ties away from zero as TFLite does.
/// (Vela uses `ROUND_MODE_NATURAL`, which rounds negative ties towards zero.)
pub fn average_scale(n: u64) -> Scale {
    let s = 64 - (n.max(1) - 1).leading_zeros();
    let s = if n <= 1 { 0 } else { s };
    let num = 1u128 << (31 + s);
    let m = num.div_ceil(n.max(1) as u128);
    Scale {
        multiplier: m as u32,
        shift: (31 + s) as u8,
    }
}

/// An elementwise operand: a feature map in the scratch, a constant map in region 0, or a scalar.
fn operand(cx: &Ctx<'_>, t: TensorId, ro: &mut ReadOnly) -> Result<Operand2, Refusal> {
    let ten = cx.g.tensor(t);
    let (_, zp) = qparams(cx.g, t)?;
    match &ten.data {
        Some(d) if ten.numel() == 1 => Ok(Operand2::Scalar {
            value: d[0] as i8 as i32,
            zero_point: zp,
        }),
        Some(d) => {
            let shape = hwc(&ten.shape)?;
            let span = ro.push(d);
            let mut fm = FeatureMap::nhwc(span.offset, shape, shape[2], zp);
            fm.region = REGION_WEIGHTS;
            Ok(Operand2::Map {
                fm,
                broadcast: [false; 3],
            })
        }
        None => Ok(Operand2::Map {
            fm: cx.fm(t)?,
            broadcast: [false; 3],
        }),
    }
}

/// ADD, SUB, MUL, MAXIMUM, MINIMUM with TFLite Micro's arithmetic:
///
/// - ADD/SUB: TFLM shifts both inputs left by 20 and rescales each by `s_i / (2 max(s_a, s_b))`;
///   the input with the larger scale gets exactly `x << 19`, which is the hardware's alignment
///   of the unscaled operand (`OPA_32`/`OPB_32`), and the other is rescaled by its multiplier
///   with shift `11 + exponent`. The hardware rounds that rescale once where TFLM rounds twice
///   (at bit 11 of the shifted value, then by the exponent): the two differ when the scaled
///   value's low bits fall in a window of 2^-(1+exponent) of the cases, by 2^-19 of an input
///   step, which moves an output step only at an exact output rounding tie (Vela's streams
///   have the same property). Equal input scales are exact.
/// - MUL: one rescale of the product by `s_a s_b / s_out`, exactly TFLM's.
/// - MAXIMUM/MINIMUM: inputs and output must share their quantization (as TFLM requires).
fn binary(
    cx: &Ctx<'_>,
    node: &Node,
    act: Option<Act>,
    ro: &mut ReadOnly,
) -> Result<NpuOp, Refusal> {
    let g = cx.g;
    let (Some(a), Some(b), Some(&y)) = (node.input(0), node.input(1), node.outputs.first()) else {
        return Err("binary operator needs two inputs and an output".into());
    };
    let (qa, qb, qy) = (qparams(g, a)?, qparams(g, b)?, qparams(g, y)?);
    let ofm = cx.fm(y)?;
    // The hardware broadcasts IFM2 only: a constant or broadcast operand goes second.
    let sa = hwc(&g.tensor(a).shape)?;
    let sb = hwc(&g.tensor(b).shape)?;
    let needs_bc = |s: [u32; 3]| s != ofm.shape;
    let a_first = !(g.tensor(a).is_const() || needs_bc(sa))
        || (g.tensor(b).is_const() && g.tensor(b).numel() > 1 && needs_bc(sb));
    let (first, second, s1, s2) = if a_first {
        (a, b, sa, sb)
    } else {
        (b, a, sb, sa)
    };
    if g.tensor(first).is_const() || needs_bc(s1) {
        return Err("both operands are constant or broadcast".into());
    }
    let ifm = cx.fm(first)?;
    let mut ifm2 = operand(cx, second, ro)?;
    if let Operand2::Map { broadcast, .. } = &mut ifm2 {
        for d in 0..3 {
            if s2[d] != ofm.shape[d] {
                if s2[d] != 1 {
                    return Err(format!("shapes {:?} and {:?} do not broadcast", sa, sb));
                }
                broadcast[d] = true;
            }
        }
    }
    let kind = match node.op {
        Op::Add { .. } => ElementwiseMode::Add,
        Op::Sub { .. } => ElementwiseMode::Sub,
        Op::Mul { .. } => ElementwiseMode::Mul,
        Op::Maximum => ElementwiseMode::Max,
        _ => ElementwiseMode::Min,
    };
    let (input_scaling, ofm_scale, clamp_range) = match kind {
        ElementwiseMode::Add | ElementwiseMode::Sub => {
            let act = act.unwrap_or_default();
            let p = if kind == ElementwiseMode::Add {
                quant::add_params(qa, qb, qy, act)
            } else {
                quant::sub_params(qa, qb, qy, act)
            }
            .map_err(|e| e.to_string())?;
            let (am, ash, bm, bsh, om, osh) = (p[2], p[3], p[5], p[6], p[8], p[9]);
            let scaled = |m: i64, sh: i64| -> Result<Scale, Refusal> {
                let shift = 11 - sh;
                if !(0..=31).contains(&shift) || m <= 0 {
                    return Err(format!(
                        "input rescale exponent {sh} outside the hardware's range"
                    ));
                }
                Ok(Scale {
                    multiplier: m as u32,
                    shift: shift as u8,
                })
            };
            let exact = |m: i64, sh: i64| m == 1 << 30 && sh == 0;
            // Operand A is the graph's first input (the hardware swaps back with ORDER_A).
            let scaling = if exact(am, ash) {
                InputScaling::ScaleB(scaled(bm, bsh)?)
            } else if exact(bm, bsh) {
                InputScaling::ScaleA(scaled(am, ash)?)
            } else {
                return Err("neither input rescale is the identity".into());
            };
            let shift = 31 - osh;
            if !(0..=63).contains(&shift) {
                return Err("output rescale outside the hardware's range".into());
            }
            (
                Some(scaling),
                Scale {
                    multiplier: om as u32,
                    shift: shift as u8,
                },
                (p[10] as i32, p[11] as i32),
            )
        }
        ElementwiseMode::Mul => {
            let p = quant::mul_params(qa, qb, qy, act.unwrap_or_default())
                .map_err(|e| e.to_string())?;
            let (m, s) = (p[3], p[4]);
            let shift = 31 - s;
            if !(0..=63).contains(&shift) {
                return Err("output rescale outside the hardware's range".into());
            }
            let scale = if m == 0 {
                Scale {
                    multiplier: 0,
                    shift: 0,
                }
            } else {
                Scale {
                    multiplier: m as u32,
                    shift: shift as u8,
                }
            };
            (None, scale, (p[5] as i32, p[6] as i32))
        }
        _ => {
            if qa != qy || qb != qy {
                return Err("maximum/minimum with different input and output quantization".into());
            }
            (None, Scale::ONE, (-128, 127))
        }
    };
    // With the operands swapped, ORDER_A restores (graph a, graph b) before the scaling.
    let reversed = !a_first;
    let block = cx.block(BlockRequest {
        kind: if matches!(ifm2, Operand2::Scalar { .. }) {
            BlockOpKind::ElementwiseScalar
        } else {
            BlockOpKind::Elementwise
        },
        ofm: ofm.shape,
        ifm_hw: [0, 0],
        ifm_depth: ifm.shape[2],
        kernel: [1, 1],
        stride: [1, 1],
        dilation: [1, 1],
        ifm_bits: 8,
        ofm_bits: 8,
        uses_lut: false,
        upscale: 1,
    })?;
    Ok(NpuOp {
        kind: NpuKind::Elementwise(kind),
        ifm,
        ifm2: Some(ifm2),
        ofm,
        kernel: Kernel::UNIT,
        weights: None,
        scales: None,
        ofm_scale,
        rounding: RoundMode::Dbl,
        input_scaling,
        ifm_rounding: RoundMode::Dbl,
        clamp: clamp_range,
        lut: None,
        upscale_nearest: false,
        reversed,
        block,
        source: node.name.clone(),
    })
}

/// A unary int8 operator as a table lookup: the table is the one the CPU lowering builds from
/// TFLite Micro's arithmetic (`cortex_m::quantized_activation`'s 256 entries, `lut[x + 128]`),
/// so the NPU computes exactly the reference. The operation is a 1x1 max pool with zero points
/// 0 and unit scale, so the value reaching the output stage is the raw input, which indexes
/// the table loaded into SHRAM by DMA.
fn lut_op(cx: &Ctx<'_>, node: &Node, ro: &mut ReadOnly) -> Result<NpuOp, Refusal> {
    let (x, y) = io(node)?;
    qparams(cx.g, x)?;
    qparams(cx.g, y)?;
    let table = match crate::lower::lower_node(cx.g, node) {
        Ok(crate::lower::Placement::Cpu(calls)) => match calls.as_slice() {
            [c] if c.op == kiln_rt::ops::OpKind::CmQuantizedActivation => match c.args.get(1) {
                Some(crate::lower::Arg::Const(t)) if t.data.len() == 256 => t.data.clone(),
                _ => return Err("no 256-entry table".into()),
            },
            _ => return Err("not a table lookup on the CPU either".into()),
        },
        Ok(_) => return Err("not a table lookup".into()),
        Err(e) => return Err(e.to_string()),
    };
    let mut ifm = cx.fm(x)?;
    let mut ofm = cx.fm(y)?;
    ifm.zero_point = 0;
    ofm.zero_point = 0;
    if ifm.shape != ofm.shape {
        return Err("input and output shapes differ".into());
    }
    let src = ro.push(&table);
    let block = cx.block(BlockRequest {
        kind: BlockOpKind::Pool,
        ofm: ofm.shape,
        ifm_hw: [0, 0],
        ifm_depth: ifm.shape[2],
        kernel: [1, 1],
        stride: [1, 1],
        dilation: [1, 1],
        ifm_bits: 8,
        ofm_bits: 8,
        uses_lut: true,
        upscale: 1,
    })?;
    Ok(NpuOp {
        kind: NpuKind::Pool(PoolingMode::Max),
        ifm,
        ifm2: None,
        ofm,
        kernel: Kernel::UNIT,
        weights: None,
        scales: None,
        ofm_scale: Scale::ONE,
        rounding: RoundMode::Dbl,
        input_scaling: None,
        ifm_rounding: RoundMode::Dbl,
        clamp: (-128, 127),
        lut: Some(LutLoad { src, slot: 0 }),
        upscale_nearest: false,
        reversed: false,
        block,
        source: node.name.clone(),
    })
}

/// A copy of `ifm` into `ofm` (same quantization): a 1x1 max pool with unit scale.
fn copy_op(cx: &Ctx<'_>, node: &Node, ifm: FeatureMap, ofm: FeatureMap) -> Result<NpuOp, Refusal> {
    let block = cx.block(BlockRequest {
        kind: BlockOpKind::Pool,
        ofm: ofm.shape,
        ifm_hw: [0, 0],
        ifm_depth: ifm.shape[2],
        kernel: [1, 1],
        stride: [1, 1],
        dilation: [1, 1],
        ifm_bits: 8,
        ofm_bits: 8,
        uses_lut: false,
        upscale: 1,
    })?;
    Ok(NpuOp {
        kind: NpuKind::Pool(PoolingMode::Max),
        ifm,
        ifm2: None,
        ofm,
        kernel: Kernel::UNIT,
        weights: None,
        scales: None,
        ofm_scale: Scale::ONE,
        rounding: RoundMode::Dbl,
        input_scaling: None,
        ifm_rounding: RoundMode::Dbl,
        clamp: (-128, 127),
        lut: None,
        upscale_nearest: false,
        reversed: false,
        block,
        source: node.name.clone(),
    })
}

/// CONCATENATION as one copy per input into its slice of the output (strided writes at the
/// slice's offset; inputs and output share their quantization, as TFLite Micro requires).
fn concat(cx: &Ctx<'_>, node: &Node, axis: usize) -> Result<Vec<NpuOp>, Refusal> {
    let g = cx.g;
    let y = *node.outputs.first().ok_or("concatenation without output")?;
    let yq = qparams(g, y)?;
    let out = cx.fm(y)?;
    let rank = g.tensor(y).shape.len();
    let d = 3 + axis as i64 - rank as i64;
    if !(0..3).contains(&d) || (rank == 4 && axis == 0) {
        return Err(format!(
            "concatenation along axis {axis} of a rank-{rank} tensor"
        ));
    }
    let d = d as usize;
    let mut ops = Vec::new();
    let mut at = 0u32;
    for t in node.inputs.iter().flatten() {
        if qparams(g, *t)? != yq {
            return Err("concatenation inputs with different quantization than the output".into());
        }
        if g.tensor(*t).is_const() {
            return Err("concatenation of a constant".into());
        }
        let ifm = cx.fm(*t)?;
        let mut ofm = out;
        ofm.shape = ifm.shape;
        let stride = [out.strides[1], out.strides[0], out.strides[2]][d];
        ofm.base = out.base + at * stride;
        at += ifm.shape[d];
        ops.push(copy_op(cx, node, ifm, ofm)?);
    }
    if at != out.shape[d] {
        return Err("input sizes do not add up to the output".into());
    }
    Ok(ops)
}

fn pool_op(
    cx: &Ctx<'_>,
    node: &Node,
    mode: PoolingMode,
    kernel: [usize; 2],
    win: &Window,
    ofm_scale: Scale,
    clamp: (i32, i32),
) -> Result<NpuOp, Refusal> {
    let (x, y) = io(node)?;
    let ifm = cx.fm(x)?;
    let ofm = cx.fm(y)?;
    let k = kernel.map(|v| v as u32);
    let block = cx.block(BlockRequest {
        kind: BlockOpKind::Pool,
        ofm: ofm.shape,
        ifm_hw: [0, 0],
        ifm_depth: ifm.shape[2],
        kernel: k,
        stride: win.stride.map(|s| s as u32),
        dilation: [1, 1],
        ifm_bits: 8,
        ofm_bits: 8,
        uses_lut: false,
        upscale: 1,
    })?;
    Ok(NpuOp {
        kind: NpuKind::Pool(mode),
        ifm,
        ifm2: None,
        ofm,
        kernel: Kernel {
            size: k,
            stride: win.stride.map(|s| s as u32),
            dilation: [1, 1],
            pads: pads(win, k, ifm.shape, ofm.shape)?,
        },
        weights: None,
        scales: None,
        ofm_scale,
        rounding: RoundMode::Dbl,
        input_scaling: None,
        ifm_rounding: RoundMode::Dbl,
        clamp,
        lut: None,
        upscale_nearest: false,
        reversed: false,
        block,
        source: node.name.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_scale_divides_like_tflite_micro() {
        for n in [1u64, 2, 3, 4, 5, 6, 7, 9, 25, 49, 64, 100, 125, 4096] {
            let s = average_scale(n);
            for sum in -(255 * n as i64)..=(255 * n as i64) {
                let p = sum as i128 * s.multiplier as i128;
                // ROUND_MODE_DBL for shift > 31: half up at bit 31, then half away from zero.
                let t = (p + (1i128 << 30)) >> 31;
                let e = s.shift as u32 - 31;
                let npu = if e == 0 {
                    t
                } else {
                    let half = 1i128 << (e - 1);
                    if t >= 0 {
                        (t + half) >> e
                    } else {
                        -((-t + half) >> e)
                    }
                };
                let n = n as i64;
                let tflm = if sum > 0 {
                    (sum + n / 2) / n
                } else {
                    (sum - n / 2) / n
                };
                assert_eq!(npu as i64, tflm, "n {n} sum {sum}");
            }
        }
    }
}
