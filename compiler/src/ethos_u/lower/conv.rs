//! Convolution-like operators (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED): weights in the
//! hardware's compressed format and per-channel scale records.

use super::{clamp, effective, io, out_hw, pads, qparams, window_checks, Ctx, ReadOnly, Refusal};
use crate::ethos_u::block::{BlockOpKind, BlockRequest};
use crate::ethos_u::npu_op::{FeatureMap, Kernel, NpuKind, NpuOp, Scale, Span};
use crate::ir::{Act, DType, Graph, Node, TensorId, Window};
use crate::quant;
use kiln_ethos_u::weights::{encode_weights, scale_records, WeightLayout};
use kiln_rt::ethos_u::regs::RoundMode;

/// CONV_2D.
pub(super) fn conv2d(
    cx: &Ctx<'_>,
    node: &Node,
    win: &Window,
    groups: usize,
    act: Act,
    ro: &mut ReadOnly,
) -> Result<Vec<NpuOp>, Refusal> {
    let g = cx.g;
    let (x, y) = io(node)?;
    let hw = out_hw(g, node);
    let win = &effective(win, hw);
    if groups != 1 {
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
            clamp: clamp(act, yq)?,
        },
        ro,
    )
    .map(|op| vec![op])
}

/// DEPTHWISE_CONV_2D.
pub(super) fn depthwise(
    cx: &Ctx<'_>,
    node: &Node,
    win: &Window,
    depth_multiplier: usize,
    act: Act,
    ro: &mut ReadOnly,
) -> Result<Vec<NpuOp>, Refusal> {
    let g = cx.g;
    let (x, y) = io(node)?;
    let hw = out_hw(g, node);
    let win = &effective(win, hw);
    window_checks(win)?;
    let w = node
        .input(1)
        .ok_or("depthwise convolution without weights")?;
    let (wd, wq) = const_i8(g, w)?;
    let ws = &g.tensor(w).shape;
    let [kh, kw, oc] = [ws[1], ws[2], ws[3]].map(|v| v as u32);
    let (xq, yq) = (qparams(g, x)?, qparams(g, y)?);
    let ifm = cx.fm(x)?;
    let ofm = cx.fm(y)?;
    let c = ifm.shape[2];
    if depth_multiplier != 1 && c != 1 {
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
    let kind = if depth_multiplier == 1 {
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
            clamp: clamp(act, yq)?,
        },
        ro,
    )
    .map(|op| vec![op])
}

/// FULLY_CONNECTED (a 1x1 convolution over a 1 x batch x k map).
pub(super) fn fully_connected(
    cx: &Ctx<'_>,
    node: &Node,
    act: Act,
    ro: &mut ReadOnly,
) -> Result<Vec<NpuOp>, Refusal> {
    let g = cx.g;
    let (x, y) = io(node)?;
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
    let ifm = cx.base(x)?.nhwc([1, batch, k], k, xq.1);
    let ofm = cx.base(y)?.nhwc([1, batch, n], n, yq.1);
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
            clamp: clamp(act, yq)?,
        },
        ro,
    )
    .map(|op| vec![op])
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
