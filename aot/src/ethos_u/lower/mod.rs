//! IR nodes to NPU operations, with TFLite Micro's integer arithmetic: the
//! scale records, global scales, rounding modes and clamps are chosen so that
//! the hardware computes what the reference kernels compute (see each
//! function for the rule and where it differs).

mod conv;
mod copy;
mod elementwise;
mod ort;
mod pool;

pub use pool::average_scale;

use super::block::{choose_block, BlockRequest};
use super::npu_op::{FeatureMap, NpuOp, Span, REGION_WEIGHTS};
use crate::ir::{Act, DType, Graph, Node, Op, TensorId, Window};
use crate::quant;
use kiln_rt::ethos_u::config::AccelConfig;
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

fn io(node: &Node) -> Result<(TensorId, TensorId), Refusal> {
    match (node.input(0), node.outputs.first()) {
        (Some(x), Some(&y)) => Ok((x, y)),
        _ => Err("operator needs an input and an output".into()),
    }
}

/// Lowers one node to NPU operations, appending its constant data to `ro`.
/// Lowers one node to NPU operations, appending its constant data to `ro`.
pub fn lower(cx: &Ctx<'_>, node: &Node, ro: &mut ReadOnly) -> Result<Vec<NpuOp>, Refusal> {
    if ort::is_ort(cx.g) {
        if let Some(ops) = ort::lower(cx, node, ro) {
            return ops;
        }
    }
    match &node.op {
        Op::Conv2d { win, groups, act } => conv::conv2d(cx, node, win, *groups, *act, ro),
        Op::DepthwiseConv2d { win, depth_multiplier, act } => conv::depthwise(cx, node, win, *depth_multiplier, *act, ro),
        Op::FullyConnected { act } => conv::fully_connected(cx, node, *act, ro),
        Op::AvgPool2d { kernel, win, count_include_pad, act } => pool::avg_pool(cx, node, kernel, win, *count_include_pad, *act),
        Op::MaxPool2d { kernel, win, act } => pool::max_pool(cx, node, kernel, win, *act),
        Op::Add { act } | Op::Sub { act } | Op::Mul { act } => elementwise::binary(cx, node, Some(*act), ro).map(|op| vec![op]),
        Op::Maximum | Op::Minimum => elementwise::binary(cx, node, None, ro).map(|op| vec![op]),
        Op::Logistic
        | Op::Tanh
        | Op::HardSwish
        | Op::HardSigmoid { .. }
        | Op::LeakyRelu { .. }
        | Op::Relu
        | Op::Relu6
        | Op::ReluN1To1
        | Op::Clip { .. }
        | Op::Quantize { .. } => elementwise::lut_op(cx, node, ro).map(|op| vec![op]),
        Op::Concat { axis } => copy::concat(cx, node, *axis),
        Op::ResizeNearest { align_corners, half_pixel_centers: _ } => copy::resize_nearest(cx, node, *align_corners),
        Op::Softmax { .. } => Err("softmax stays on the CPU: kiln does not lower it to the NPU (Vela's NPU softmax is a sequence of about 30 elementwise operations and LUTs); the CPU kernel is TFLite Micro's, bit-exact".into()),
        other => Err(format!("{} is not lowered to the NPU by kiln yet", other.name())),
    }
}
