//! IR nodes to NPU operations, with TFLite Micro's integer arithmetic: the
//! scale records, global scales, rounding modes and clamps are chosen so that
//! the hardware computes what the reference kernels compute (see each
//! function for the rule and where it differs).

mod conv;
mod copy;
mod elementwise;
mod mean;
mod ort;
mod pad;
mod pool;
mod read_only;
mod softmax;
mod transpose;

pub use pool::average_scale;
pub use read_only::ReadOnly;

use super::block::{choose_block, BlockOpKind, BlockRequest};
use super::npu_op::{FeatureMap, Kernel, Layout, NpuKind, NpuOp, Scale, REGION_SCRATCH};
use crate::ir::{Act, DType, Graph, Node, Op, TensorId, Window};
use crate::quant;
use kiln_rt::ethos_u::config::AccelConfig;
use kiln_rt::ethos_u::regs::{ClipRange, PoolingMode, RoundMode};
use std::cell::RefCell;
use std::collections::HashMap;

/// Why a node could not be lowered (it then runs on the CPU, or is an error with `cpu_fallback = false`).
pub type Refusal = String;

/// Where a non-constant tensor of the segment lives: a base pointer region (the scratch,
/// [`REGION_SCRATCH`], or the U65's fast scratch) and the byte address of its element 0 in it.
/// Adding a byte offset moves the address within the region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    /// Base pointer region.
    pub region: u8,
    /// Byte address in the region.
    pub addr: u32,
}

impl Place {
    /// In the scratch (region 1) at `addr`.
    pub const fn scratch(addr: u32) -> Place {
        Place {
            region: REGION_SCRATCH,
            addr,
        }
    }

    /// A dense NHWC int8 map of `shape` here (see [`FeatureMap::nhwc`]).
    pub fn nhwc(self, shape: [u32; 3], full_depth: u32, zero_point: i32) -> FeatureMap {
        FeatureMap {
            region: self.region,
            ..FeatureMap::nhwc(self.addr, shape, full_depth, zero_point)
        }
    }
}

impl core::ops::Add<u32> for Place {
    type Output = Place;
    fn add(self, offset: u32) -> Place {
        Place {
            addr: self.addr + offset,
            ..self
        }
    }
}

/// What lowering needs to know about the segment.
pub struct Ctx<'a> {
    /// The graph.
    pub g: &'a Graph,
    /// The accelerator.
    pub cfg: &'static AccelConfig,
    /// Region and address of every non-constant tensor of the segment (read through
    /// [`Ctx::base`]).
    pub places: &'a HashMap<TensorId, Place>,
    /// Placement probe: check that the node lowers, without encoding its weights.
    pub probe: bool,
    /// Temporary buffers of multi-operation lowerings.
    pub scratch: &'a Scratch,
}

/// Where a temporary buffer is: the node's first output and the temporary's index in the node.
pub type TempKey = (TensorId, usize);

/// Temporary buffers that a lowering needs between its own NPU operations (e.g. the
/// space-to-depth map of a convolution with a stride above 3), live only while its node
/// runs. A probe records what each node asks for ([`Scratch::requests`]); the segment plans
/// them with the tensors and lowers again with their addresses ([`Scratch::planned`]).
#[derive(Default)]
pub struct Scratch {
    planned: HashMap<TempKey, u32>,
    requests: RefCell<HashMap<TempKey, usize>>,
}

impl Scratch {
    /// Scratch with the planned addresses of the temporaries.
    pub fn planned(planned: HashMap<TempKey, u32>) -> Scratch {
        Scratch {
            planned,
            requests: RefCell::default(),
        }
    }

    /// The temporaries asked for while probing, with their largest size in bytes, sorted.
    pub fn requests(&self) -> Vec<(TempKey, usize)> {
        let mut v: Vec<(TempKey, usize)> = self
            .requests
            .borrow()
            .iter()
            .map(|(&k, &b)| (k, b))
            .collect();
        v.sort();
        v
    }
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
    /// Address of temporary `index` of `node`, `bytes` long (a placeholder while probing).
    fn temp(&self, node: &Node, index: usize, bytes: usize) -> Result<u32, Refusal> {
        let out = *node.outputs.first().ok_or("operator without an output")?;
        let key = (out, index);
        if let Some(&a) = self.scratch.planned.get(&key) {
            return Ok(a);
        }
        if self.probe {
            let mut r = self.scratch.requests.borrow_mut();
            let e = r.entry(key).or_insert(0);
            *e = (*e).max(bytes);
            return Ok(0);
        }
        Err(format!(
            "no scratch was planned for a temporary of {}",
            node.name
        ))
    }

    fn fm(&self, t: TensorId) -> Result<FeatureMap, Refusal> {
        let shape = hwc(&self.g.tensor(t).shape)?;
        let (_, zp) = qparams(self.g, t)?;
        Ok(self.base(t)?.nhwc(shape, shape[2], zp))
    }

    /// Where a non-constant tensor lives (region and address), as the segment placed it.
    fn base(&self, t: TensorId) -> Result<Place, Refusal> {
        let ten = self.g.tensor(t);
        if ten.is_const() {
            return Err(format!("tensor {} is a constant", ten.name));
        }
        self.places
            .get(&t)
            .copied()
            .ok_or_else(|| format!("tensor {} has no scratch address", ten.name))
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

/// Largest height, width and depth of a feature map (the `*_M1` registers are 16-bit).
const MAX_FM_DIM: u32 = 1 << 16;

/// An int8 NHWC view of a tensor's memory: `shape` `[h, w, c]` at `base` with byte strides
/// `[x, y, c]` (the channels are contiguous, c stride 1). NHWC feature maps need their row and
/// column strides and base address to be multiples of the element size only (Vela,
/// `register_command_stream_util.py`: `check_strides`, `check_addresses`), so for int8 any
/// strides and offsets are legal: a depth-1 view with x/y strides of its own reinterprets
/// memory freely (MEAN over the channels, TRANSPOSE).
fn view(base: Place, shape: [u32; 3], strides: [u32; 3], zero_point: i32) -> FeatureMap {
    FeatureMap {
        region: base.region,
        base: base.addr,
        shape,
        strides,
        layout: Layout::Nhwc,
        zero_point,
        signed: true,
        bits: 8,
    }
}

/// One pooling operation over explicit IFM and OFM views (no padding, stride 1 along both
/// axes; a window that spans a whole axis has an OFM of 1 along it). Checks the feature-map
/// and kernel limits and chooses the block.
#[allow(clippy::too_many_arguments)]
fn pool_view(
    cx: &Ctx<'_>,
    node: &Node,
    mode: PoolingMode,
    ifm: FeatureMap,
    ofm: FeatureMap,
    kernel: [u32; 2],
    ofm_scale: Scale,
    clamp: (i32, i32),
) -> Result<NpuOp, Refusal> {
    for (what, s) in [("IFM", ifm.shape), ("OFM", ofm.shape)] {
        if s.iter().any(|&d| d == 0 || d > MAX_FM_DIM) {
            return Err(format!(
                "{what} view {} outside the feature-map limits (1..={MAX_FM_DIM} per axis)",
                fmt_shape(s)
            ));
        }
    }
    // Vela's pooling kernel limits (tflite_supported_operators.py: filter_height_range,
    // filter_product_range).
    if kernel[0] > 256 || kernel[0] * kernel[1] > 256 * 256 {
        return Err(format!(
            "pooling kernel {}x{} beyond the hardware's (height <= 256, area <= 65536)",
            kernel[0], kernel[1]
        ));
    }
    if (0..2).any(|a| ifm.shape[a] != ofm.shape[a] + kernel[a] - 1) {
        return Err("view shapes do not match the kernel".into());
    }
    let block = cx.block(BlockRequest {
        kind: BlockOpKind::Pool,
        ofm: ofm.shape,
        ifm_hw: [0, 0],
        ifm_depth: ifm.shape[2],
        kernel,
        stride: [1, 1],
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
            size: kernel,
            stride: [1, 1],
            dilation: [1, 1],
            pads: [0; 4],
        },
        weights: None,
        scales: None,
        ofm_scale,
        rounding: RoundMode::Dbl,
        input_scaling: None,
        ifm_rounding: RoundMode::Dbl,
        clamp,
        clip_range: ClipRange::OfmPrecision,
        lut: None,
        upscale_nearest: false,
        reversed: false,
        block,
        source: node.name.clone(),
    })
}

/// `[h, w, c]` (each at most [`MAX_FM_DIM`]) with product `n`, for a dense view of `n` bytes.
fn dense3(n: usize) -> Option<[u32; 3]> {
    let m = MAX_FM_DIM as usize;
    if n <= m {
        return Some([1, 1, n as u32]);
    }
    // n = a * c with c <= m, a = h * w.
    for c in (1..=m.min(n)).rev() {
        if !n.is_multiple_of(c) {
            continue;
        }
        let a = n / c;
        if a <= m {
            return Some([1, a as u32, c as u32]);
        }
        for w in (1..=m.min(a)).rev() {
            if a.is_multiple_of(w) && a / w <= m {
                return Some([(a / w) as u32, w as u32, c as u32]);
            }
        }
    }
    None
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

/// The hardware's window limits for one NPU operation: stride 1..=3 and dilation 1..=2
/// (`NPU_SET_KERNEL_STRIDE`). Convolutions beyond them are decomposed (see `conv.rs`).
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
pub fn lower(cx: &Ctx<'_>, node: &Node, ro: &mut ReadOnly) -> Result<Vec<NpuOp>, Refusal> {
    if ort::is_ort(cx.g) {
        if let Some(ops) = ort::lower(cx, node, ro) {
            return ops;
        }
    }
    match &node.op {
        Op::Conv2d { win, groups, act } => conv::conv2d(cx, node, win, *groups, *act, ro),
        Op::DepthwiseConv2d {
            win,
            depth_multiplier,
            act,
        } => conv::depthwise(cx, node, win, *depth_multiplier, *act, ro),
        Op::FullyConnected { act } => conv::fully_connected(cx, node, *act, ro),
        Op::AvgPool2d {
            kernel,
            win,
            count_include_pad,
            act,
        } => pool::avg_pool(cx, node, kernel, win, *count_include_pad, *act),
        Op::MaxPool2d { kernel, win, act } => pool::max_pool(cx, node, kernel, win, *act),
        Op::Add { act } | Op::Sub { act } | Op::Mul { act } => {
            elementwise::binary(cx, node, Some(*act), ro).map(|op| vec![op])
        }
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
        Op::Mean { axes, .. } => mean::mean(cx, node, axes),
        Op::Pad { pads, value } => pad::pad(cx, node, pads, *value),
        Op::Transpose { perm } => transpose::transpose(cx, node, perm),
        Op::ResizeNearest {
            align_corners,
            half_pixel_centers: _,
        } => copy::resize_nearest(cx, node, *align_corners),
        Op::Softmax { .. } => softmax::softmax(cx, node, ro),
        other => Err(format!(
            "{} is not lowered to the NPU by kiln yet",
            other.name()
        )),
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::ethos_u::partition::{place, Placement};
    use crate::ir::Op;
    use crate::passes::testutil::B;
    use kiln_rt::ethos_u::config::by_name;

    /// The configurations the probes run on.
    pub const CONFIGS: [&str; 5] = [
        "ethos-u55-32",
        "ethos-u55-64",
        "ethos-u55-128",
        "ethos-u55-256",
        "ethos-u65-256",
    ];

    /// Placement of one int8 node `x -> op -> y` on each configuration.
    pub fn placements(x: &[usize], op: Op, y: &[usize], yq: (f32, i32)) -> Vec<Placement> {
        let mut b = B::new();
        let xi = b.q8("x", x, 0.05, 3);
        let yi = b.q8("y", y, yq.0, yq.1);
        b.g.inputs.push(xi);
        b.node("n", op, &[xi], &[yi]);
        b.output(yi);
        CONFIGS
            .iter()
            .map(|c| place(&b.g, by_name(c).expect("config")).remove(0))
            .collect()
    }

    /// Panics unless the node lands on the NPU everywhere.
    pub fn assert_npu(x: &[usize], op: Op, y: &[usize], yq: (f32, i32)) {
        let what = format!("{op:?} {x:?} -> {y:?}");
        for (c, p) in CONFIGS.iter().zip(placements(x, op, y, yq)) {
            assert_eq!(p, Placement::Npu, "{what} on {c}");
        }
    }
}
