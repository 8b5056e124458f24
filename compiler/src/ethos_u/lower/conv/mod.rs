//! Convolution-like operators (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED): weights in the
//! hardware's compressed format and per-channel scale records.
//!
//! One hardware operation takes strides 1..=3, dilations 1..=2 and a dilated kernel of at most
//! 64 rows and 4096 elements. [`emit`] decomposes convolutions beyond that into operations
//! within it, every one exact (each output is still one accumulator's sum, requantized once):
//! sub-sampled IFM views for a stride and dilation with a common factor, space-to-depth for
//! strides above 3 ([`space_to_depth`], with a scratch temporary), independent output phases
//! over strided IFM and OFM views for dilations above 2 (as Regor's `HandleDilation` in
//! `scheduler_decompose.cpp`; its large-stride decomposition needs the U85's accumulator
//! save/restore, kiln's does not), and a requantized-bias operation for outputs whose windows
//! lie wholly in the padding. Depth multipliers above 1 are in [`depthwise`].

use super::{clamp, effective, io, out_hw, pads, qparams, window_checks, Ctx, ReadOnly, Refusal};
use crate::ethos_u::block::{BlockOpKind, BlockRequest};
use crate::ethos_u::npu_op::{FeatureMap, Kernel, NpuKind, NpuOp, Scale};
use crate::ir::{Act, DType, Graph, Node, TensorId, Window};
use crate::quant;
use kiln_ethos_u::weights::{scale_records, stream_values, WeightLayout};
use kiln_rt::ethos_u::regs::{ClipRange, RoundMode};

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
    if groups != 1 {
        return Err(format!("grouped convolution ({groups} groups)"));
    }
    let w = node.input(1).ok_or("convolution without weights")?;
    let (wd, wq) = const_i8(g, w)?;
    let ws = &g.tensor(w).shape;
    let [o, kh, kw, i] = [ws[0], ws[1], ws[2], ws[3]].map(|v| v as u32);
    let (xq, yq) = (qparams(g, x)?, qparams(g, y)?);
    let (mults, shifts) = super::ort::conv_scales(g, xq.0, &wq.scale, yq.0, o as usize)?;
    let ifm = cx.fm(x)?;
    let ofm = cx.fm(y)?;
    if ifm.shape[2] != i {
        return Err("IFM depth differs from the weights' input channels".into());
    }
    let wzp = wq.zero_point.first().copied().unwrap_or(0);
    let weight = move |oc: u32, ky: u32, kx: u32, ic: u32| {
        let at = (((oc * kh + ky) * kw + kx) * i + ic) as usize;
        wd[at] as i8 as i16 - wzp as i16
    };
    let job = Job {
        depthwise: false,
        ifm,
        ofm,
        kernel: [kh, kw],
        stride: win.stride.map(|s| s as u32),
        dilation: win.dilation.map(|d| d as u32),
        before: [win.pads[0] as i64, win.pads[1] as i64],
        weight: &weight,
        next_temp: 0,
        mults,
        shifts,
        bias: bias_values(g, node.input(2), o as usize)?,
        clamp: clamp(act, yq)?,
    };
    let mut ops = Vec::new();
    emit(cx, node, job, ro, &mut ops)?;
    Ok(ops)
}

/// DEPTHWISE_CONV_2D.
///
/// With depth multiplier 1 and strides the hardware takes (directly, or after the
/// sub-sampled views of [`emit`]) this is one depthwise operation per view.
///
/// A depth multiplier `M` > 1 with `C` > 1 input channels: output channel `c * M + k` is
/// input channel `c` under filter `c * M + k`, so for each `k` one depthwise operation
/// (filters and scales `k, M + k, 2M + k, ..`) writes a `C`-channel temporary, and a copy
/// moves it into the OFM's channels `k, M + k, ..`: both maps seen with depth 1 and their
/// `W * C` columns as (x, c), the OFM's columns `M` bytes apart (the NPU cannot write an NHWC
/// channel slice with a channel stride, but takes any column stride). Exact (the same
/// depthwise sums, then an int8 copy); cost: the depthwise multiply-accumulates, plus `M`
/// copies of `H * W * C` bytes, and one `H * W * C` temporary. (`M` > 1 with one channel is
/// a convolution of one input channel, as before.)
///
/// Where space-to-depth is needed (a stride above 3; or `W * C` beyond the 16-bit width)
/// the channels are cut into groups of `m` input channels, each a dense convolution over
/// its IFM channel slice writing its contiguous `m * M` OFM channels, with the weights zero
/// outside each input channel's `M` outputs (exact: a zero weight adds nothing; MLW
/// compresses the zeros). The cost is `m` times the depthwise multiply-accumulates; `m` is
/// the smallest that gives an OFM depth of 16 (`M` >= 16: one input channel). Depth
/// multiplier 1 goes the same way there (groups of up to 8 channels), since space-to-depth
/// sums the phases of a channel across channels.
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
    let m = depth_multiplier as u32;
    if m == 0 || c * m != oc || ofm.shape[2] != oc {
        return Err(format!(
            "depth multiplier {m} with {c} input and {oc} output channels"
        ));
    }
    let (mults, shifts) = super::ort::conv_scales(g, xq.0, &wq.scale, yq.0, oc as usize)?;
    let bias = bias_values(g, node.input(2), oc as usize)?;
    let wzp = wq.zero_point.first().copied().unwrap_or(0);
    let weight = move |o: u32, ky: u32, kx: u32| {
        let at = ((ky * kw + kx) * oc + o) as usize;
        wd[at] as i8 as i16 - wzp as i16
    };
    let hw = out_hw(g, node);
    let win = effective(win, hw);
    let stride = win.stride.map(|s| s as u32);
    let dilation = win.dilation.map(|d| d as u32);
    let s2d = (0..2).any(|a| needs_space_to_depth([kh, kw][a], stride[a], dilation[a]));
    let none = |_: u32, _: u32, _: u32, _: u32| 0i16;
    let whole = Job {
        depthwise: true,
        ifm,
        ofm,
        kernel: [kh, kw],
        stride,
        dilation,
        before: [win.pads[0] as i64, win.pads[1] as i64],
        weight: &none,
        next_temp: 0,
        mults,
        shifts,
        bias,
        clamp: clamp(act, yq)?,
    };
    let mut ops = Vec::new();
    if m == 1 && !s2d {
        let wf = move |o: u32, ky: u32, kx: u32, _i: u32| weight(o, ky, kx);
        emit(cx, node, whole.with(&wf), ro, &mut ops)?;
        return Ok(ops);
    }
    let (ho, wo) = (ofm.shape[0], ofm.shape[1]);
    if m > 1 && c > 1 && !s2d && wo * c <= 1 << 16 {
        // M depthwise operations into a temporary, each interleaved into the OFM.
        let bytes = (ho * wo * c) as usize;
        let t = FeatureMap::nhwc(cx.temp(node, 0, bytes)?, [ho, wo, c], c, ofm.zero_point);
        for k in 0..m {
            let wf = move |o: u32, ky: u32, kx: u32, _i: u32| weight(o * m + k, ky, kx);
            let mut j = whole.with(&wf);
            j.ofm = t;
            j.next_temp = 1;
            let at = |o: u32| (o * m + k) as usize;
            j.bias = (0..c).map(|o| whole.bias[at(o)]).collect();
            j.mults = (0..c).map(|o| whole.mults[at(o)]).collect();
            j.shifts = (0..c).map(|o| whole.shifts[at(o)]).collect();
            emit(cx, node, j, ro, &mut ops)?;
            // Channel c of the temporary to channel c * M + k of the OFM: both as maps of depth 1
            // whose columns are (x, c), the OFM's `M` bytes apart.
            let mut src = t;
            src.shape = [ho, wo * c, 1];
            src.strides = [1, wo * c, 1];
            let mut dst = ofm;
            dst.base += k;
            dst.shape = [ho, wo * c, 1];
            dst.strides = [m, ofm.strides[1], 1];
            ops.push(super::copy::copy_op(cx, node, src, dst)?);
        }
        return Ok(ops);
    }
    // Groups of `per` input channels.
    let per = if m == 1 {
        c.min(8)
    } else {
        c.min(16u32.div_ceil(m))
    };
    let mut c0 = 0;
    while c0 < c {
        let n = per.min(c - c0);
        let base = c0 * m;
        let wf = move |o: u32, ky: u32, kx: u32, i: u32| {
            if m == 1 || o / m == i {
                weight(base + o, ky, kx)
            } else {
                0
            }
        };
        let mut j = whole.with(&wf);
        // Depth multiplier 1: depthwise slices (space-to-depth makes them dense).
        j.depthwise = m == 1;
        j.ifm = channel_slice(ifm, c0, n);
        j.ofm = channel_slice(ofm, base, n * m);
        let r = base as usize..(base + n * m) as usize;
        j.mults = whole.mults[r.clone()].to_vec();
        j.shifts = whole.shifts[r.clone()].to_vec();
        j.bias = whole.bias[r].to_vec();
        emit(cx, node, j, ro, &mut ops)?;
        c0 += n;
    }
    Ok(ops)
}

/// Channels `[c0, c0 + n)` of a feature map (an offset view; the row and column strides stay).
fn channel_slice(fm: FeatureMap, c0: u32, n: u32) -> FeatureMap {
    let mut v = fm;
    v.base += c0 * fm.strides[2];
    v.shape[2] = n;
    v
}

/// A convolution to emit: one hardware operation when its window is within the hardware's
/// limits, else decomposed by [`emit`].
struct Job<'a> {
    /// Depthwise (channel by channel: OFM depth = IFM depth), else dense.
    depthwise: bool,
    ifm: FeatureMap,
    ofm: FeatureMap,
    /// Taps (undilated) height, width.
    kernel: [u32; 2],
    stride: [u32; 2],
    dilation: [u32; 2],
    /// Padding before the IFM (rows on top, columns on the left); the padding after it is
    /// what the window needs beyond the IFM.
    before: [i64; 2],
    /// `w(o, ky, kx, i)` with `o` and `i` the job's own channels.
    weight: &'a dyn Fn(u32, u32, u32, u32) -> i16,
    /// Index of the next temporary (nested space-to-depth maps are distinct temporaries).
    next_temp: usize,
    mults: Vec<i32>,
    shifts: Vec<i32>,
    bias: Vec<i64>,
    clamp: (i32, i32),
}

impl Job<'_> {
    fn with<'b>(&self, weight: &'b dyn Fn(u32, u32, u32, u32) -> i16) -> Job<'b> {
        Job {
            depthwise: self.depthwise,
            ifm: self.ifm,
            ofm: self.ofm,
            kernel: self.kernel,
            stride: self.stride,
            dilation: self.dilation,
            before: self.before,
            weight,
            next_temp: self.next_temp,
            mults: self.mults.clone(),
            shifts: self.shifts.clone(),
            bias: self.bias.clone(),
            clamp: self.clamp,
        }
    }
}

/// Greatest common divisor.
fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Along one axis (taps `k`, stride `s`, dilation `d`), whether [`emit`] needs space-to-depth:
/// a stride above 3 that a common factor with the dilation does not bring within 3.
fn needs_space_to_depth(k: u32, s: u32, d: u32) -> bool {
    k > 1 && s > 3 && s / gcd(s, d) > 3
}

/// Byte-stride index of an axis (0 = rows, 1 = columns) in [`FeatureMap::strides`].
fn stride_index(axis: usize) -> usize {
    1 - axis
}

/// The rows (axis 0) or columns (axis 1) `first + pitch * v`, `v < count`, of a map.
fn view(fm: FeatureMap, axis: usize, first: u32, count: u32, pitch: u32) -> FeatureMap {
    let mut v = fm;
    let si = stride_index(axis);
    v.base += first * fm.strides[si];
    v.strides[si] *= pitch;
    v.shape[axis] = count;
    v
}

/// The IFM rows `pitch * u + c` (`u` >= 0 a row of the decomposed convolution's virtual,
/// padded IFM) as a view: `(first IFM row, rows, padding rows before the view)`.
fn view_axis(len: u32, pitch: u32, c: i64) -> (u32, u32, i64) {
    let q = pitch as i64;
    // Smallest u with q * u + c >= 0.
    let u0 = (-c).div_euclid(q) + ((-c).rem_euclid(q) != 0) as i64;
    let u0 = u0.max(0);
    let first = q * u0 + c;
    let count = if first < len as i64 {
        (len as i64 - first + q - 1) / q
    } else {
        0
    };
    (first.max(0) as u32, count as u32, u0)
}

/// Emits `job` as hardware operations:
/// - within the limits (stride 1..=3, dilation 1..=2): one operation;
/// - a stride above 3 or a dilation above 2 with a common factor `p` (or any stride with one
///   tap): one operation over the view of every `p`-th IFM row, whose stride and dilation are
///   divided by `p` (the taps land on the same rows);
/// - a stride still above 3: space-to-depth ([`space_to_depth`]);
/// - a dilation `d` above 2: the outputs split by their row (column) modulo `q` (`q = d / 2`
///   for even `d`, else `d`), each a convolution with dilation `d / q` over the view of every
///   `q`-th IFM row writing the view of every `q`-th OFM row. The outputs of one phase read
///   only IFM rows of one phase, so the phases are independent operations: exact, no
///   accumulation across operations, and the multiply-accumulates of the original;
/// - a kernel beyond the hardware's extent (64 dilated rows, 4096 dilated elements): with a
///   dilation, output phases of dilation 1 (extent `k`); else with a stride, space-to-depth by
///   the stride (about `k / s` taps); with neither it is refused (no exact decomposition
///   without accumulating partial sums across operations, which the U55/U65 cannot).
fn emit(
    cx: &Ctx<'_>,
    node: &Node,
    mut job: Job<'_>,
    ro: &mut ReadOnly,
    ops: &mut Vec<NpuOp>,
) -> Result<(), Refusal> {
    for a in 0..2 {
        if job.ofm.shape[a] == 1 {
            job.stride[a] = 1;
        }
        if job.kernel[a] == 1 {
            job.dilation[a] = 1;
        }
    }
    // Windows wholly in the padding along an axis: the output is the bias alone.
    let reads = |a: usize| {
        let extent = (job.ofm.shape[a] as i64 - 1) * job.stride[a] as i64
            + (job.kernel[a] as i64 - 1) * job.dilation[a] as i64
            + 1;
        extent > job.before[a] && job.ifm.shape[a] > 0
    };
    if !reads(0) || !reads(1) {
        ops.push(direct(cx, node, &bias_only(&job, job.ifm), ro)?);
        return Ok(());
    }
    let over = |j: &Job<'_>, a: usize| j.stride[a] > 3 || j.dilation[a] > 2;
    let big = !kernel_fits(job.kernel, job.dilation);
    if !over(&job, 0) && !over(&job, 1) && !big {
        ops.push(direct(cx, node, &job, ro)?);
        return Ok(());
    }
    // A common factor of stride and dilation: a sub-sampled IFM view.
    let p = [0, 1].map(|a| {
        if !over(&job, a) {
            1
        } else if job.kernel[a] == 1 {
            job.stride[a]
        } else {
            gcd(job.stride[a], job.dilation[a])
        }
    });
    if p.iter().any(|&p| p > 1) {
        let whole = job.ifm;
        for (a, &p) in p.iter().enumerate() {
            if p == 1 {
                continue;
            }
            let (first, count, before) = view_axis(job.ifm.shape[a], p, -job.before[a]);
            if count == 0 {
                ops.push(direct(cx, node, &bias_only(&job, whole), ro)?);
                return Ok(());
            }
            job.ifm = view(job.ifm, a, first, count, p);
            job.stride[a] /= p;
            job.dilation[a] = (job.dilation[a] / p).max(1);
            job.before[a] = before;
        }
        return emit(cx, node, job, ro, ops);
    }
    if job.stride.iter().any(|&s| s > 3) {
        let p = job.stride.map(|s| if s > 3 { phases(s) } else { 1 });
        return space_to_depth(cx, node, job, p, ro, ops);
    }
    let q = if job.dilation.iter().any(|&d| d > 2) {
        // Dilation above 2: independent output phases.
        job.dilation.map(|d| match d {
            0..=2 => 1,
            d if d.is_multiple_of(2) => d / 2,
            d => d,
        })
    } else if job.dilation.iter().any(|&d| d > 1) {
        // A dilated kernel beyond the hardware's extent: phases of dilation 1 (extent `k`).
        job.dilation
    } else if job.stride.iter().any(|&s| s > 1) {
        // A kernel beyond the hardware's extent with a stride: space-to-depth by the stride
        // (stride 1, about `k / s` taps).
        let p = job.stride;
        return space_to_depth(cx, node, job, p, ro, ops);
    } else if (0..2).any(|a| job.ofm.shape[a] == 1 && job.kernel[a] > 1) {
        // One output along an axis: its stride is free, so space-to-depth by enough phases
        // to bring the taps within 32.
        let mut job = job;
        let p = [0, 1].map(|a| {
            if job.ofm.shape[a] == 1 && job.kernel[a] > 1 {
                job.kernel[a].div_ceil(32).max(2)
            } else {
                1
            }
        });
        job.stride = p;
        return space_to_depth(cx, node, job, p, ro, ops);
    } else {
        return Err(format!(
            "kernel {}x{} beyond the hardware's 64 rows and 4096 elements with stride 1 and dilation 1 (no exact decomposition without accumulating across operations)",
            job.kernel[0], job.kernel[1]
        ));
    };
    for ry in 0..q[0] {
        for rx in 0..q[1] {
            let r = [ry, rx];
            let mut sub = job.with(job.weight);
            let mut empty = false;
            let mut padding_only = false;
            for a in 0..2 {
                let outs = (job.ofm.shape[a] as i64 - r[a] as i64).max(0) as u32;
                let outs = outs.div_ceil(q[a]);
                if outs == 0 {
                    empty = true;
                    break;
                }
                let c = job.stride[a] as i64 * r[a] as i64 - job.before[a];
                let (first, count, before) = view_axis(job.ifm.shape[a], q[a], c);
                padding_only |= count == 0;
                if count > 0 {
                    sub.ifm = view(sub.ifm, a, first, count, q[a]);
                }
                sub.ofm = view(sub.ofm, a, r[a], outs, q[a]);
                sub.dilation[a] /= q[a];
                sub.before[a] = before;
            }
            if empty {
                continue;
            }
            if padding_only {
                ops.push(direct(cx, node, &bias_only(&sub, job.ifm), ro)?);
            } else {
                emit(cx, node, sub, ro, ops)?;
            }
        }
    }
    Ok(())
}

/// `job` for outputs whose windows lie wholly in the padding: the requantized bias, as a 1x1
/// convolution with zero weights over the first element of `ifm` padded out to the OFM's size
/// (the hardware needs one IFM element to read; a zero weight adds nothing).
fn bias_only<'a>(job: &Job<'_>, ifm: FeatureMap) -> Job<'a> {
    fn zero(_: u32, _: u32, _: u32, _: u32) -> i16 {
        0
    }
    let mut j = job.with(&zero);
    j.ifm = ifm;
    j.ifm.shape = [1, 1, ifm.shape[2]];
    j.kernel = [1, 1];
    j.stride = [1, 1];
    j.dilation = [1, 1];
    j.before = [0, 0];
    j
}

/// Smallest divisor `p` of `s` with `s / p` <= 3.
fn phases(s: u32) -> u32 {
    (1..=s)
        .find(|&p| s.is_multiple_of(p) && s / p <= 3)
        .unwrap_or(s)
}

/// A stride `s` above 3 by space-to-depth: with `p` the smallest divisor of `s` leaving a
/// stride `s / p` <= 3, the padded IFM's row `p * Y + r` (column `p * X + t`) becomes row `Y`
/// (column `X`) of a temporary map whose channels are the `p_y * p_x` phases `(r, t)` times the
/// IFM's channels, written by one strided copy per phase (a 1x1 max pool, unit scale); the
/// convolution over it has stride `s / p`, no dilation, kernel `((k - 1) * d) / p + 1` and the
/// original taps at their phases (zero weights elsewhere). Whole padded rows (columns) before
/// the IFM stay the convolution's padding; where a row of the map holds both padding and IFM
/// rows (padding not a multiple of `p`, or the IFM's end), the map is first filled with the
/// zero point, which contributes nothing, as padding does. Exact: the same products summed in
/// one accumulator. Cost: the copies move the IFM once; the taps rounded up to `p` are zeros.
fn space_to_depth(
    cx: &Ctx<'_>,
    node: &Node,
    job: Job<'_>,
    p: [u32; 2],
    ro: &mut ReadOnly,
    ops: &mut Vec<NpuOp>,
) -> Result<(), Refusal> {
    let cg = job.ifm.shape[2];
    let ct = p[0] * p[1] * cg;
    // Per axis: phase offset, padding of the map, new stride/dilation/kernel, map extent.
    let mut off = [0u32; 2];
    let mut before = [0i64; 2];
    let mut stride = [1u32; 2];
    let mut dil = [1u32; 2];
    let mut kq = [1u32; 2];
    let mut ext = [0u32; 2];
    let mut partial = false;
    for a in 0..2 {
        let t = job.before[a];
        if t < 0 {
            return Err("negative padding".into());
        }
        let pa = p[a] as i64;
        off[a] = (t % pa) as u32;
        before[a] = t / pa;
        stride[a] = job.stride[a] / p[a];
        if p[a] > 1 {
            kq[a] = (job.kernel[a] - 1) * job.dilation[a] / p[a] + 1;
            dil[a] = 1;
        } else {
            kq[a] = job.kernel[a];
            dil[a] = job.dilation[a];
        }
        let o = job.ofm.shape[a] as i64;
        let need = (o - 1) * stride[a] as i64 + (kq[a] as i64 - 1) * dil[a] as i64 + 1 - before[a];
        let len = job.ifm.shape[a] as i64;
        let cover = (len + off[a] as i64 + pa - 1) / pa;
        let e = need.min(cover);
        if e <= 0 {
            ops.push(direct(cx, node, &bias_only(&job, job.ifm), ro)?);
            return Ok(());
        }
        ext[a] = e as u32;
        partial |= off[a] > 0 || pa * e - (off[a] as i64) > len;
    }
    let bytes = (ext[0] * ext[1] * ct) as usize;
    let addr = cx.temp(node, job.next_temp, bytes)?;
    let map = FeatureMap::nhwc(addr, [ext[0], ext[1], ct], ct, job.ifm.zero_point);
    if partial {
        ops.push(super::copy::fill_op(cx, node, map)?);
    }
    for ry in 0..p[0] {
        for rx in 0..p[1] {
            let r = [ry, rx];
            let mut src = job.ifm;
            let mut dst = map;
            let mut empty = false;
            for a in 0..2 {
                let pa = p[a] as i64;
                // Map rows Y with IFM row p * Y + r - off in the IFM.
                let lo = off[a] as i64 - r[a] as i64;
                let y0 = (lo.max(0) + pa - 1) / pa;
                let hi = job.ifm.shape[a] as i64 - 1 + off[a] as i64 - r[a] as i64;
                if hi < 0 {
                    empty = true;
                    break;
                }
                let y1 = (hi / pa + 1).min(ext[a] as i64);
                if y1 <= y0 {
                    empty = true;
                    break;
                }
                let first = (pa * y0 - lo) as u32;
                src = view(src, a, first, (y1 - y0) as u32, p[a]);
                dst = view(dst, a, y0 as u32, (y1 - y0) as u32, 1);
            }
            if empty {
                continue;
            }
            dst = channel_slice(dst, (ry * p[1] + rx) * cg, cg);
            ops.push(super::copy::copy_op(cx, node, src, dst)?);
        }
    }
    let (k, d, w) = (job.kernel, job.dilation, job.weight);
    let depthwise = job.depthwise;
    let tap = move |a: usize, q: u32, r: u32| -> Option<u32> {
        if p[a] == 1 {
            return Some(q);
        }
        let n = p[a] * q + r;
        (n.is_multiple_of(d[a]) && n / d[a] < k[a]).then_some(n / d[a])
    };
    let weight = move |o: u32, qy: u32, qx: u32, i: u32| -> i16 {
        let (ph, ci) = (i / cg, i % cg);
        let (ry, rx) = (ph / p[1], ph % p[1]);
        match (tap(0, qy, ry), tap(1, qx, rx)) {
            (Some(ky), Some(kx)) if !depthwise => w(o, ky, kx, ci),
            (Some(ky), Some(kx)) if ci == o => w(o, ky, kx, 0),
            _ => 0,
        }
    };
    let mut sub = job.with(&weight);
    sub.depthwise = false;
    sub.ifm = map;
    sub.kernel = kq;
    sub.stride = stride;
    sub.dilation = dil;
    sub.before = before;
    sub.next_temp = job.next_temp + 1;
    emit(cx, node, sub, ro, ops)
}

/// The hardware's kernel extent: dilated height at most 64 and dilated area at most 4096
/// (Vela's `dilated_height_range = (1, 64)`, `dilated_product_range = (1, 64 * 64)`).
fn kernel_fits(k: [u32; 2], d: [u32; 2]) -> bool {
    let dh = (k[0] - 1) * d[0] + 1;
    let dw = (k[1] - 1) * d[1] + 1;
    dh <= 64 && dh * dw <= 64 * 64
}

/// One hardware convolution (the window within the hardware's limits).
fn direct(cx: &Ctx<'_>, node: &Node, job: &Job<'_>, ro: &mut ReadOnly) -> Result<NpuOp, Refusal> {
    let win = Window {
        stride: job.stride.map(|s| s as usize),
        dilation: job.dilation.map(|d| d as usize),
        pads: [
            usize::try_from(job.before[0]).map_err(|_| "negative padding")?,
            usize::try_from(job.before[1]).map_err(|_| "negative padding")?,
            0,
            0,
        ],
    };
    window_checks(&win)?;
    if !kernel_fits(job.kernel, job.dilation) {
        return Err(format!(
            "kernel {:?} with dilation {:?} beyond the hardware's 64 rows and 4096 elements",
            job.kernel, job.dilation
        ));
    }
    let kernel = Kernel {
        size: job.kernel,
        stride: job.stride,
        dilation: job.dilation,
        pads: pads(&win, job.kernel, job.ifm.shape, job.ofm.shape)?,
    };
    let ifm_depth = job.ifm.shape[2];
    let kind = if job.depthwise {
        NpuKind::Depthwise
    } else {
        NpuKind::Conv {
            part_kernel: part_kernel_first(ifm_depth, job.kernel),
        }
    };
    conv_op(
        cx,
        node,
        ConvSpec {
            kind,
            ifm: job.ifm,
            ofm: job.ofm,
            kernel,
            ifm_depth,
            weight: job.weight,
            mults: job.mults.clone(),
            shifts: job.shifts.clone(),
            bias: job.bias.clone(),
            clamp: job.clamp,
        },
        ro,
    )
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
    let (mults, shifts) = if wq.is_per_tensor() && !super::ort::is_ort(g) {
        let (m, s) = quant::fully_connected_per_tensor(xq.0, wq.scale[0], yq.0)
            .map_err(|e| e.to_string())?;
        (vec![m; n as usize], vec![s; n as usize])
    } else {
        super::ort::conv_scales(g, xq.0, &wq.scale, yq.0, n as usize)?
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
fn records(bias: &[i64], mults: &[i32], shifts: &[i32]) -> Result<Vec<u8>, Refusal> {
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
    scale_records(&recs).map_err(|e| e.to_string())
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
    let recs = records(&s.bias, &s.mults, &s.shifts)?;
    // The probe only checks that the node lowers: no weights; else encoded with the
    // segment's other streams (ReadOnly::finish).
    let (weights, scales) = if cx.probe {
        (ro.push(&[]), ro.push(&recs))
    } else {
        let values = stream_values(&layout, s.weight).map_err(|e| e.to_string())?;
        let block_values = block_values(&layout).map_err(|e| e.to_string())?;
        ro.push_weights(values, recs, block_values)
    };
    Ok(NpuOp {
        kind: s.kind,
        ifm: s.ifm,
        ifm2: None,
        ofm: s.ofm,
        kernel: s.kernel,
        weights: Some(weights),
        scales: Some(scales),
        ofm_scale: Scale::ONE,
        rounding: super::ort::conv_rounding(cx.g),
        input_scaling: None,
        ifm_rounding: RoundMode::Dbl,
        clamp: s.clamp,
        clip_range: ClipRange::OfmPrecision,
        lut: None,
        upscale_nearest: false,
        reversed: false,
        block,
        source: node.name.clone(),
    })
}

/// Values of the stream's first OFM block (every block but the last is a whole one).
fn block_values(layout: &WeightLayout) -> Result<usize, kiln_ethos_u::weights::WeightError> {
    let mut n = 0;
    layout
        .order()?
        .walk_block::<core::convert::Infallible>(0, |_| {
            n += 1;
            Ok(())
        })
        .unwrap_or_else(|e| match e {});
    Ok(n)
}

#[cfg(test)]
mod tests;
