//! CONV_2D and DEPTHWISE_CONV_2D int8 with per-channel requantization (TFLM
//! `reference_integer_ops::ConvPerChannel` / `DepthwiseConvPerChannel`), NHWC activations.

use super::fixedpoint::multiply_by_quantized_multiplier as mbqm;
use super::fixedpoint::rounding_divide_by_pot;
use super::{check, check_shifts, ActRange, Nhwc};
use crate::ops::OpKind;
use crate::RtError;

/// Window geometry and offsets shared by both convolutions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvParams {
    /// Stride `[h, w]` (>= 1).
    pub stride: [usize; 2],
    /// Dilation `[h, w]` (>= 1).
    pub dilation: [usize; 2],
    /// Padding `[top, left]`; bottom/right follow from the output size.
    pub pad: [usize; 2],
    /// `-input_zero_point`.
    pub input_offset: i32,
    /// Output zero point.
    pub output_offset: i32,
    /// Fused activation range.
    pub act: ActRange,
}

/// Per-output-channel requantization: Q31 multipliers and shifts.
#[derive(Clone, Copy, Debug)]
pub struct PerChannel<'a> {
    /// Multipliers, one per output channel.
    pub multipliers: &'a [i32],
    /// Shifts (positive = left), one per output channel.
    pub shifts: &'a [i32],
}

/// How a convolution turns an int32 accumulator (bias included) into the output value before
/// the activation clamp: TFLM's Q31 multipliers ([`PerChannel`]) or ONNX Runtime's f32 scales
/// ([`super::qlinear::FloatScales`]). Generic so the inner loops are monomorphized per mode.
pub trait Requantize {
    /// Number of channels the parameters cover (1 = per tensor where allowed).
    fn channels(&self) -> usize;
    /// Checks the parameters (e.g. shift ranges) once, before the loops.
    fn validate(&self, op: OpKind) -> Result<(), RtError>;
    /// The requantized value of `acc` for output channel `oc`, output offset included.
    fn requantize(&self, acc: i32, oc: usize, output_offset: i32) -> i32;
    /// Requantizes the accumulators of output channels `oc0..oc0 + acc.len()` into `out`,
    /// clamped to `act`: the same values as [`Requantize::requantize`] channel by channel.
    /// Kernels call this once per run of channels, so a mode can override it with a loop that
    /// has its per-channel parameters at hand (and, on Helium, vectorizes).
    #[inline]
    fn requantize_run(
        &self,
        acc: &[i32],
        oc0: usize,
        output_offset: i32,
        act: ActRange,
        out: &mut [i8],
    ) {
        for (k, (o, &a)) in out.iter_mut().zip(acc).enumerate() {
            *o = act.apply(self.requantize(a, oc0 + k, output_offset));
        }
    }
}

impl Requantize for PerChannel<'_> {
    fn channels(&self) -> usize {
        if self.multipliers.len() == self.shifts.len() {
            self.multipliers.len()
        } else {
            usize::MAX
        }
    }
    fn validate(&self, op: OpKind) -> Result<(), RtError> {
        check_shifts(self.shifts, op)
    }
    #[inline(always)]
    fn requantize(&self, acc: i32, oc: usize, output_offset: i32) -> i32 {
        mbqm(acc, self.multipliers[oc], self.shifts[oc]).wrapping_add(output_offset)
    }
    #[inline]
    fn requantize_run(
        &self,
        acc: &[i32],
        oc0: usize,
        output_offset: i32,
        act: ActRange,
        out: &mut [i8],
    ) {
        let n = acc.len().min(out.len());
        let end = oc0.saturating_add(n);
        match (self.multipliers.get(oc0..end), self.shifts.get(oc0..end)) {
            (Some(m), Some(s)) => {
                requantize_q31(&acc[..n], m, s, output_offset, act, &mut out[..n])
            }
            // Kernels validate the lengths first; keep the per-channel form (which panics with
            // an index error, as before) rather than silently skipping outputs.
            _ => {
                for (k, (o, &a)) in out.iter_mut().zip(acc).enumerate() {
                    *o = act.apply(self.requantize(a, oc0 + k, output_offset));
                }
            }
        }
    }
}

/// `act(MultiplyByQuantizedMultiplier(acc[i], m[i], s[i]) + output_offset)` over equally long
/// runs: a tight loop of its own, so the per-channel parameters and the fixed-point steps stay
/// in registers (inlined into a convolution's loop nest, they spilled).
#[inline(never)]
fn requantize_q31(
    acc: &[i32],
    m: &[i32],
    s: &[i32],
    output_offset: i32,
    act: ActRange,
    out: &mut [i8],
) {
    // Same values either way; with Helium the 32-bit-only form runs four lanes at a time.
    #[cfg(feature = "helium")]
    use super::fixedpoint::multiply_by_quantized_multiplier_i32_ops as mbqm;
    #[cfg(not(feature = "helium"))]
    use super::fixedpoint::srdhm_branchless as srdhm;
    #[cfg(feature = "helium")]
    use super::fixedpoint::srdhm_i32_ops as srdhm;
    if s.iter().fold(i32::MIN, |a, &b| a.max(b)) <= 0 {
        // No left shifts (the usual case: every multiplier below 1): mbqm without that step.
        for (((o, &a), &m), &s) in out.iter_mut().zip(acc).zip(m).zip(s) {
            let v = rounding_divide_by_pot(srdhm(a, m), s.wrapping_neg());
            *o = act.apply(v.wrapping_add(output_offset));
        }
        return;
    }
    for (((o, &a), &m), &s) in out.iter_mut().zip(acc).zip(m).zip(s) {
        *o = act.apply(mbqm(a, m, s).wrapping_add(output_offset));
    }
}

/// A filter's spatial size `[kh, kw]`.
pub type Kernel2 = [usize; 2];

#[allow(clippy::too_many_arguments)]
fn validate_common(
    op: OpKind,
    p: &ConvParams,
    xs: Nhwc,
    x: &[i8],
    ys: Nhwc,
    y: &[i8],
    out_channels: usize,
    bias: Option<&[i32]>,
    q: &impl Requantize,
) -> Result<(), RtError> {
    p.act.validate(op)?;
    check(
        xs.numel() == Some(x.len()),
        op,
        "input size does not match its NHWC shape",
    )?;
    check(
        ys.numel() == Some(y.len()),
        op,
        "output size does not match its NHWC shape",
    )?;
    check(xs.n == ys.n, op, "input and output batch differ")?;
    check(
        ys.c == out_channels,
        op,
        "output channels differ from the filter's",
    )?;
    check(
        p.stride[0] >= 1 && p.stride[1] >= 1 && p.dilation[0] >= 1 && p.dilation[1] >= 1,
        op,
        "stride and dilation must be >= 1",
    )?;
    if let Some(b) = bias {
        check(
            b.len() == out_channels,
            op,
            "bias length differs from output channels",
        )?;
    }
    check(
        q.channels() == out_channels,
        op,
        "requantization parameters differ in length from output channels",
    )?;
    q.validate(op)?;
    // Keep window arithmetic in isize without overflow.
    let lim = isize::MAX as usize / 4;
    check(
        ys.h.saturating_mul(p.stride[0]) < lim
            && ys.w.saturating_mul(p.stride[1]) < lim
            && p.pad[0] < lim
            && p.pad[1] < lim,
        op,
        "window geometry too large",
    )?;
    Ok(())
}

/// Valid filter taps along one axis: `(first, end)` such that for `k` in `first..end`,
/// `origin + k * dilation` lies in `0..size`.
#[inline]
fn tap_range(origin: isize, dilation: usize, taps: usize, size: usize) -> (usize, usize) {
    let d = dilation as isize;
    let first = if origin >= 0 {
        0
    } else {
        ((-origin) + d - 1) / d
    };
    let end = if (size as isize) <= origin {
        0
    } else {
        (((size as isize - origin) + d - 1) / d).min(taps as isize)
    };
    let first = (first as usize).min(taps);
    (first, (end.max(0) as usize).max(first))
}

/// `sum((x + offset) * w)` over two equally long rows, wrapping like the C++ `int32_t` sum.
#[inline(always)]
fn dot_offset(x: &[i8], w: &[i8], offset: i32) -> i32 {
    x.iter().zip(w).fold(0i32, |acc, (&a, &b)| {
        acc.wrapping_add((a as i32).wrapping_add(offset).wrapping_mul(b as i32))
    })
}

/// CONV_2D int8, per-channel. `w` is OHWI `[out_c, kh, kw, in_c / groups]`; groups are
/// `x.c / filter_in_c` (TFLM derives them the same way).
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    p: &ConvParams,
    x: &[i8],
    xs: Nhwc,
    w: &[i8],
    ws: Nhwc,
    bias: Option<&[i32]>,
    q: &PerChannel<'_>,
    y: &mut [i8],
    ys: Nhwc,
) -> Result<(), RtError> {
    conv2d_with(OpKind::CmQuantizedConv2d, p, x, xs, w, ws, bias, q, y, ys)
}

/// [`conv2d`] with any [`Requantize`]; `op` names the operator in errors.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_with(
    op: OpKind,
    p: &ConvParams,
    x: &[i8],
    xs: Nhwc,
    w: &[i8],
    ws: Nhwc,
    bias: Option<&[i32]>,
    q: &impl Requantize,
    y: &mut [i8],
    ys: Nhwc,
) -> Result<(), RtError> {
    validate_common(op, p, xs, x, ys, y, ws.n, bias, q)?;
    check(
        ws.numel() == Some(w.len()),
        op,
        "weight size does not match its OHWI shape",
    )?;
    check(
        ws.c >= 1 && xs.c % ws.c == 0,
        op,
        "input channels not a multiple of filter input channels",
    )?;
    let groups = xs.c / ws.c;
    check(
        groups >= 1 && ws.n % groups == 0,
        op,
        "output channels not a multiple of groups",
    )?;
    if conv2d_patch(p, x, xs, w, ws, groups, bias, q, y, ys) {
        return Ok(());
    }
    let per_group = ws.n / groups;
    let (kh, kw, ic) = (ws.h, ws.w, ws.c);
    let mut out = y.chunks_exact_mut(ys.c.max(1));
    for b in 0..xs.n {
        for oy in 0..ys.h {
            let iy0 = (oy * p.stride[0]) as isize - p.pad[0] as isize;
            let (ky0, ky1) = tap_range(iy0, p.dilation[0], kh, xs.h);
            for ox in 0..ys.w {
                let ix0 = (ox * p.stride[1]) as isize - p.pad[1] as isize;
                let (kx0, kx1) = tap_range(ix0, p.dilation[1], kw, xs.w);
                let Some(orow) = out.next() else {
                    return Ok(());
                };
                for (oc, o) in orow.iter_mut().enumerate() {
                    let group_base = (oc / per_group) * ic;
                    let mut acc = 0i32;
                    for ky in ky0..ky1 {
                        // In range by tap_range: 0 <= iy < xs.h.
                        let iy = (iy0 + (ky * p.dilation[0]) as isize) as usize;
                        let xrow = ((b * xs.h + iy) * xs.w) * xs.c;
                        let wrow = ((oc * kh + ky) * kw) * ic;
                        for kx in kx0..kx1 {
                            let ix = (ix0 + (kx * p.dilation[1]) as isize) as usize;
                            let xo = xrow + ix * xs.c + group_base;
                            let wo = wrow + kx * ic;
                            acc = acc.wrapping_add(dot_offset(
                                &x[xo..xo + ic],
                                &w[wo..wo + ic],
                                p.input_offset,
                            ));
                        }
                    }
                    if let Some(bias) = bias {
                        acc = acc.wrapping_add(bias[oc]);
                    }
                    *o = p.act.apply(q.requantize(acc, oc, p.output_offset));
                }
            }
        }
    }
    Ok(())
}

/// Largest im2col patch (`kh * kw * in_c / groups` values) [`conv2d_patch`] gathers on the stack.
const PATCH_MAX: usize = 1024;

/// Output channels whose constant terms (bias + input offset x weight sum) one pass keeps.
const OC_CHUNK: usize = 64;

/// `sum(a * b)` over two equally long int8 rows, wrapping. The products are formed from the
/// int8 values themselves (no offset), which LLVM turns into widening multiply-accumulate
/// reductions (Helium `VMLADAVA.S8`, 16 per instruction; DSP `SMLAD` on Cortex-M4).
#[inline(always)]
pub(super) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).fold(0i32, |s, (&x, &y)| {
        s.wrapping_add(i32::from(x) * i32::from(y))
    })
}

/// [`dot_i8`] of `x` with four rows at once (each as long as `x`).
#[inline(always)]
fn dot4_i8(x: &[i8], [w0, w1, w2, w3]: [&[i8]; 4]) -> [i32; 4] {
    x.iter().zip(w0).zip(w1).zip(w2).zip(w3).fold(
        [0i32; 4],
        |[s0, s1, s2, s3], ((((&x, &a), &b), &c), &d)| {
            let x = i32::from(x);
            [
                s0.wrapping_add(x * i32::from(a)),
                s1.wrapping_add(x * i32::from(b)),
                s2.wrapping_add(x * i32::from(c)),
                s3.wrapping_add(x * i32::from(d)),
            ]
        },
    )
}

/// `sum(a)`, wrapping.
#[inline(always)]
pub(super) fn sum_i8(a: &[i8]) -> i32 {
    a.iter().fold(0i32, |s, &x| s.wrapping_add(i32::from(x)))
}

/// Copies the receptive field of one output pixel, group `goff..goff + ic` of the input
/// channels, into `patch` in OHWI order (the order of a weight row); taps in the padding get
/// `zp`. `iy0`/`ix0` are the window's top-left input coordinates (possibly negative).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gather_patch(
    patch: &mut [i8],
    x: &[i8],
    xs: Nhwc,
    b: usize,
    [iy0, ix0]: [isize; 2],
    [kh, kw, ic]: [usize; 3],
    goff: usize,
    dilation: [usize; 2],
    zp: i8,
) {
    for (ky, row) in patch.chunks_exact_mut(kw * ic).take(kh).enumerate() {
        let iy = iy0 + (ky * dilation[0]) as isize;
        if iy < 0 || iy >= xs.h as isize {
            row.fill(zp);
            continue;
        }
        let xrow = (b * xs.h + iy as usize) * xs.w;
        let last = ix0 + ((kw - 1) * dilation[1]) as isize;
        if dilation[1] == 1 && ic == xs.c && ix0 >= 0 && last < xs.w as isize {
            // Whole row inside, all channels: one contiguous run of the input.
            let s = (xrow + ix0 as usize) * xs.c;
            row.copy_from_slice(&x[s..s + kw * ic]);
            continue;
        }
        for (kx, tap) in row.chunks_exact_mut(ic).enumerate() {
            let ix = ix0 + (kx * dilation[1]) as isize;
            if ix < 0 || ix >= xs.w as isize {
                tap.fill(zp);
            } else {
                let s = (xrow + ix as usize) * xs.c + goff;
                tap.copy_from_slice(&x[s..s + ic]);
            }
        }
    }
}

/// The fast CONV_2D: TFLM's `sum((x + io) * w)` computed as `sum(x * w) + io * sum(w)`
/// (equal in wrapping int32), the second term and the bias precomputed per output channel.
/// Padded taps, which TFLM skips, are filled with the input zero point `-io`, so that they
/// contribute `(-io + io) * w = 0` in the original form as well. Each output pixel's patch
/// (`kh * kw * ic` values, laid out like a weight row) is gathered once (a 1x1 filter reads
/// the input pixel in place) and dotted with every output channel's weight row.
///
/// Returns `false`, having written nothing, when the patch does not fit [`PATCH_MAX`] or the
/// zero point is not an int8; the caller then runs the general loop. Operands are validated.
#[allow(clippy::too_many_arguments)]
fn conv2d_patch(
    p: &ConvParams,
    x: &[i8],
    xs: Nhwc,
    w: &[i8],
    ws: Nhwc,
    groups: usize,
    bias: Option<&[i32]>,
    q: &impl Requantize,
    y: &mut [i8],
    ys: Nhwc,
) -> bool {
    let (kh, kw, ic) = (ws.h, ws.w, ws.c);
    // No overflow: equals w.len() / ws.n (validated).
    let plen = kh * kw * ic;
    let Ok(zp) = i8::try_from(p.input_offset.wrapping_neg()) else {
        return false;
    };
    if plen == 0 || plen > PATCH_MAX || groups == 0 || ws.n == 0 {
        return false;
    }
    let per_group = ws.n / groups;
    let io = p.input_offset;
    let mut patch = [0i8; PATCH_MAX];
    let mut consts = [0i32; OC_CHUNK];
    let mut accs = [0i32; OC_CHUNK];
    let mut oc0 = 0;
    while oc0 < ws.n {
        let oc1 = (oc0 + OC_CHUNK).min(ws.n);
        for (k, c) in consts[..oc1 - oc0].iter_mut().enumerate() {
            let oc = oc0 + k;
            let wsum = sum_i8(&w[oc * plen..(oc + 1) * plen]);
            let b = bias.map_or(0, |b| b[oc]);
            *c = b.wrapping_add(io.wrapping_mul(wsum));
        }
        let mut pix = 0usize;
        for b in 0..xs.n {
            for oy in 0..ys.h {
                let iy0 = (oy * p.stride[0]) as isize - p.pad[0] as isize;
                for ox in 0..ys.w {
                    let ix0 = (ox * p.stride[1]) as isize - p.pad[1] as isize;
                    let orow = &mut y[pix * ys.c..(pix + 1) * ys.c];
                    pix += 1;
                    for g in oc0 / per_group..=(oc1 - 1) / per_group {
                        let goff = g * ic;
                        let inside =
                            iy0 >= 0 && ix0 >= 0 && (iy0 as usize) < xs.h && (ix0 as usize) < xs.w;
                        let patch: &[i8] = if kh == 1 && kw == 1 && inside {
                            let s = ((b * xs.h + iy0 as usize) * xs.w + ix0 as usize) * xs.c + goff;
                            &x[s..s + ic]
                        } else {
                            gather_patch(
                                &mut patch,
                                x,
                                xs,
                                b,
                                [iy0, ix0],
                                [kh, kw, ic],
                                goff,
                                p.dilation,
                                zp,
                            );
                            &patch[..plen]
                        };
                        let first = oc0.max(g * per_group);
                        let end = oc1.min((g + 1) * per_group);
                        let accs = &mut accs[..end - first];
                        let wg = &w[first * plen..end * plen];
                        // Four output channels per pass share each load of the patch.
                        let mut quads = accs.chunks_exact_mut(4);
                        let mut wquads = wg.chunks_exact(4 * plen);
                        for (a4, w4) in (&mut quads).zip(&mut wquads) {
                            let (w01, w23) = w4.split_at(2 * plen);
                            let (w0, w1) = w01.split_at(plen);
                            let (w2, w3) = w23.split_at(plen);
                            a4.copy_from_slice(&dot4_i8(patch, [w0, w1, w2, w3]));
                        }
                        let rows = wquads.remainder().chunks_exact(plen);
                        for (a, wrow) in quads.into_remainder().iter_mut().zip(rows) {
                            *a = dot_i8(patch, wrow);
                        }
                        for (a, &c) in accs.iter_mut().zip(&consts[first - oc0..]) {
                            *a = a.wrapping_add(c);
                        }
                        q.requantize_run(
                            accs,
                            first,
                            p.output_offset,
                            p.act,
                            &mut orow[first..end],
                        );
                    }
                }
            }
        }
        oc0 = oc1;
    }
    true
}

/// Channels one block of [`depthwise_m1`] accumulates together: four Helium vectors of int32.
const DW_BLOCK: usize = 16;

/// The accumulators of channels `c0..c0 + len` (`len <= DW_BLOCK`) of one depthwise output
/// pixel: bias plus `(x + io) * w` over the valid taps (TFLM skips padded taps). `xpix(iy, ix)`
/// is the offset of input pixel `(iy, ix)`. Inlined with a constant `len` for full blocks, so
/// the accumulators stay in registers.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn dw_block(
    x: &[i8],
    w: &[i8],
    bias: Option<&[i32]>,
    io: i32,
    c: usize,
    c0: usize,
    len: usize,
    taps: ([usize; 2], [usize; 2], usize),
    pixel: impl Fn(usize, usize) -> usize,
) -> [i32; DW_BLOCK] {
    let ([ky0, ky1], [kx0, kx1], kw) = taps;
    let mut acc = [0i32; DW_BLOCK];
    if let Some(bias) = bias {
        acc[..len].copy_from_slice(&bias[c0..c0 + len]);
    }
    for ky in ky0..ky1 {
        for kx in kx0..kx1 {
            let xo = pixel(ky, kx) + c0;
            let wo = (ky * kw + kx) * c + c0;
            for ((a, &xv), &wv) in acc[..len]
                .iter_mut()
                .zip(&x[xo..xo + len])
                .zip(&w[wo..wo + len])
            {
                *a = a.wrapping_add((i32::from(xv).wrapping_add(io)).wrapping_mul(i32::from(wv)));
            }
        }
    }
    acc
}

/// DEPTHWISE_CONV_2D with depth multiplier 1: output channel = input channel, so each tap
/// is an elementwise multiply-accumulate over contiguous channels. Per output pixel, blocks of
/// [`DW_BLOCK`] channels run through all valid taps with their accumulators in registers, then
/// are requantized. Operands are validated.
#[allow(clippy::too_many_arguments)]
fn depthwise_m1(
    p: &ConvParams,
    x: &[i8],
    xs: Nhwc,
    w: &[i8],
    [kh, kw]: Kernel2,
    bias: Option<&[i32]>,
    q: &impl Requantize,
    y: &mut [i8],
    ys: Nhwc,
) {
    let c = xs.c;
    if c == 0 {
        return;
    }
    let io = p.input_offset;
    let mut out = y.chunks_exact_mut(c);
    for b in 0..xs.n {
        for oy in 0..ys.h {
            let iy0 = (oy * p.stride[0]) as isize - p.pad[0] as isize;
            let (ky0, ky1) = tap_range(iy0, p.dilation[0], kh, xs.h);
            for ox in 0..ys.w {
                let ix0 = (ox * p.stride[1]) as isize - p.pad[1] as isize;
                let (kx0, kx1) = tap_range(ix0, p.dilation[1], kw, xs.w);
                let Some(orow) = out.next() else {
                    return;
                };
                // In range by tap_range: 0 <= iy < xs.h, 0 <= ix < xs.w.
                let pixel = |ky: usize, kx: usize| {
                    let iy = (iy0 + (ky * p.dilation[0]) as isize) as usize;
                    let ix = (ix0 + (kx * p.dilation[1]) as isize) as usize;
                    ((b * xs.h + iy) * xs.w + ix) * c
                };
                let taps = ([ky0, ky1], [kx0, kx1], kw);
                let mut c0 = 0;
                while c0 < c {
                    let len = DW_BLOCK.min(c - c0);
                    let acc = if len == DW_BLOCK {
                        dw_block(x, w, bias, io, c, c0, DW_BLOCK, taps, pixel)
                    } else {
                        dw_block(x, w, bias, io, c, c0, len, taps, pixel)
                    };
                    q.requantize_run(
                        &acc[..len],
                        c0,
                        p.output_offset,
                        p.act,
                        &mut orow[c0..c0 + len],
                    );
                    c0 += len;
                }
            }
        }
    }
}

/// Channels accumulated together by the depthwise fast path (stack buffer, no allocation).
const DW_CHUNK: usize = 64;

/// DEPTHWISE_CONV_2D int8, per-channel. `w` is `[1, kh, kw, x.c * depth_multiplier]`.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d(
    p: &ConvParams,
    depth_multiplier: usize,
    x: &[i8],
    xs: Nhwc,
    w: &[i8],
    kernel: Kernel2,
    bias: Option<&[i32]>,
    q: &PerChannel<'_>,
    y: &mut [i8],
    ys: Nhwc,
) -> Result<(), RtError> {
    depthwise_conv2d_with(
        OpKind::CmQuantizedDepthwiseConv2d,
        p,
        depth_multiplier,
        x,
        xs,
        w,
        kernel,
        bias,
        q,
        y,
        ys,
    )
}

/// [`depthwise_conv2d`] with any [`Requantize`]; `op` names the operator in errors.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_with(
    op: OpKind,
    p: &ConvParams,
    depth_multiplier: usize,
    x: &[i8],
    xs: Nhwc,
    w: &[i8],
    kernel: Kernel2,
    bias: Option<&[i32]>,
    q: &impl Requantize,
    y: &mut [i8],
    ys: Nhwc,
) -> Result<(), RtError> {
    check(depth_multiplier >= 1, op, "depth_multiplier must be >= 1")?;
    let oc_total = xs.c.checked_mul(depth_multiplier).ok_or(RtError::Kernel {
        op,
        what: "channel count overflows",
    })?;
    validate_common(op, p, xs, x, ys, y, oc_total, bias, q)?;
    let [kh, kw] = kernel;
    check(
        Nhwc::new(1, kh, kw, oc_total).numel() == Some(w.len()),
        op,
        "weight size does not match [1, kh, kw, C * M]",
    )?;
    let m = depth_multiplier;
    if m == 1 {
        depthwise_m1(p, x, xs, w, kernel, bias, q, y, ys);
        return Ok(());
    }
    let mut out = y.chunks_exact_mut(oc_total.max(1));
    for b in 0..xs.n {
        for oy in 0..ys.h {
            let iy0 = (oy * p.stride[0]) as isize - p.pad[0] as isize;
            let (ky0, ky1) = tap_range(iy0, p.dilation[0], kh, xs.h);
            for ox in 0..ys.w {
                let ix0 = (ox * p.stride[1]) as isize - p.pad[1] as isize;
                let (kx0, kx1) = tap_range(ix0, p.dilation[1], kw, xs.w);
                let Some(orow) = out.next() else {
                    return Ok(());
                };
                let mut c0 = 0;
                while c0 < oc_total {
                    let len = DW_CHUNK.min(oc_total - c0);
                    let mut acc = [0i32; DW_CHUNK];
                    let acc = &mut acc[..len];
                    for ky in ky0..ky1 {
                        let iy = (iy0 + (ky * p.dilation[0]) as isize) as usize;
                        for kx in kx0..kx1 {
                            let ix = (ix0 + (kx * p.dilation[1]) as isize) as usize;
                            let xpix = ((b * xs.h + iy) * xs.w + ix) * xs.c;
                            let wo = (ky * kw + kx) * oc_total + c0;
                            let wrow = &w[wo..wo + len];
                            if m == 1 {
                                // Output channel == input channel: both rows contiguous.
                                let xrow = &x[xpix + c0..xpix + c0 + len];
                                for ((a, &xv), &wv) in acc.iter_mut().zip(xrow).zip(wrow) {
                                    *a = a.wrapping_add(
                                        (xv as i32)
                                            .wrapping_add(p.input_offset)
                                            .wrapping_mul(wv as i32),
                                    );
                                }
                            } else {
                                let xpixel = &x[xpix..xpix + xs.c];
                                for (j, (a, &wv)) in acc.iter_mut().zip(wrow).enumerate() {
                                    let xv = xpixel[(c0 + j) / m];
                                    *a = a.wrapping_add(
                                        (xv as i32)
                                            .wrapping_add(p.input_offset)
                                            .wrapping_mul(wv as i32),
                                    );
                                }
                            }
                        }
                    }
                    for (j, (o, &a)) in orow[c0..c0 + len].iter_mut().zip(acc.iter()).enumerate() {
                        let oc = c0 + j;
                        let a = match bias {
                            Some(bias) => a.wrapping_add(bias[oc]),
                            None => a,
                        };
                        *o = p.act.apply(q.requantize(a, oc, p.output_offset));
                    }
                    c0 += len;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// Straightforward transcription of TFLM's loop nest, used as a second opinion on the
    /// optimized loops over many geometries.
    #[allow(clippy::too_many_arguments)]
    fn naive_conv(
        p: &ConvParams,
        x: &[i8],
        xs: Nhwc,
        w: &[i8],
        ws: Nhwc,
        bias: Option<&[i32]>,
        mult: &[i32],
        shift: &[i32],
        ys: Nhwc,
    ) -> Vec<i8> {
        let groups = xs.c / ws.c;
        let fpg = ws.n / groups;
        let mut y = vec![0i8; ys.numel().unwrap()];
        for b in 0..ys.n {
            for oy in 0..ys.h {
                for ox in 0..ys.w {
                    for oc in 0..ys.c {
                        let g = oc / fpg;
                        let mut acc = 0i32;
                        for ky in 0..ws.h {
                            let iy = (oy * p.stride[0] + ky * p.dilation[0]) as isize
                                - p.pad[0] as isize;
                            for kx in 0..ws.w {
                                let ix = (ox * p.stride[1] + kx * p.dilation[1]) as isize
                                    - p.pad[1] as isize;
                                if iy < 0 || ix < 0 || iy >= xs.h as isize || ix >= xs.w as isize {
                                    continue;
                                }
                                for ic in 0..ws.c {
                                    let xv = x[((b * xs.h + iy as usize) * xs.w + ix as usize)
                                        * xs.c
                                        + g * ws.c
                                        + ic] as i32;
                                    let wv = w[((oc * ws.h + ky) * ws.w + kx) * ws.c + ic] as i32;
                                    acc += wv * (xv + p.input_offset);
                                }
                            }
                        }
                        if let Some(bias) = bias {
                            acc += bias[oc];
                        }
                        let v = mbqm(acc, mult[oc], shift[oc]) + p.output_offset;
                        y[((b * ys.h + oy) * ys.w + ox) * ys.c + oc] =
                            v.clamp(p.act.min, p.act.max) as i8;
                    }
                }
            }
        }
        y
    }

    fn pseudo(n: usize, seed: u32) -> Vec<i8> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 24) as u8 as i8
            })
            .collect()
    }

    #[test]
    fn conv_hand_checked_3x3_same_padding() {
        // 1x3x3x1 input 1..9, zero point 0; 3x3 filter of ones; pad 1: output = window sums.
        let x: Vec<i8> = (1..=9).collect();
        let w = [1i8; 9];
        let p = ConvParams {
            stride: [1, 1],
            dilation: [1, 1],
            pad: [1, 1],
            input_offset: 0,
            output_offset: 0,
            act: ActRange::FULL,
        };
        let q = PerChannel {
            multipliers: &[1 << 30],
            shifts: &[1],
        }; // x1.0
        let mut y = [0i8; 9];
        conv2d(
            &p,
            &x,
            Nhwc::new(1, 3, 3, 1),
            &w,
            Nhwc::new(1, 3, 3, 1),
            None,
            &q,
            &mut y,
            Nhwc::new(1, 3, 3, 1),
        )
        .unwrap();
        assert_eq!(y, [12, 21, 16, 27, 45, 33, 24, 39, 28]);
        // Input offset applies only to taps inside the image: zp = 1 -> offset -1.
        let p1 = ConvParams {
            input_offset: -1,
            ..p
        };
        conv2d(
            &p1,
            &x,
            Nhwc::new(1, 3, 3, 1),
            &w,
            Nhwc::new(1, 3, 3, 1),
            None,
            &q,
            &mut y,
            Nhwc::new(1, 3, 3, 1),
        )
        .unwrap();
        assert_eq!(
            y,
            [
                12 - 4,
                21 - 6,
                16 - 4,
                27 - 6,
                45 - 9,
                33 - 6,
                24 - 4,
                39 - 6,
                28 - 4
            ]
        );
        // Bias, output offset, x0.5 multiplier with rounding, and saturation.
        let q2 = PerChannel {
            multipliers: &[1 << 30],
            shifts: &[0],
        };
        let p2 = ConvParams {
            output_offset: -10,
            act: ActRange { min: -128, max: 5 },
            ..p
        };
        conv2d(
            &p2,
            &x,
            Nhwc::new(1, 3, 3, 1),
            &w,
            Nhwc::new(1, 3, 3, 1),
            Some(&[1]),
            &q2,
            &mut y,
            Nhwc::new(1, 3, 3, 1),
        )
        .unwrap();
        // (12+1)/2 = 6.5 -> 7 - 10 = -3; (21+1)/2 = 11 -> 1; (45+1)/2 = 23 -> 13 -> clamp 5.
        assert_eq!(&y[..3], &[-3, 1, -1]); // (16+1)/2 = 8.5 -> 9
        assert_eq!(y[4], 5);
    }

    #[test]
    fn conv_matches_naive_over_geometries() {
        let mut case = 0u32;
        for &(h, w_, c, oc, kh, kw) in &[
            (5usize, 7usize, 3usize, 4usize, 3usize, 3usize),
            (6, 5, 4, 6, 2, 3),
            (4, 4, 6, 4, 1, 1),
            (7, 3, 2, 2, 3, 1),
            // More output channels than one pass of the fast path keeps (OC_CHUNK).
            (3, 4, 8, 70, 1, 1),
            // A patch larger than PATCH_MAX: the general loop.
            (4, 4, 130, 3, 3, 3),
        ] {
            // 5 and 128: zero points -5 and -128 (fast path); -128: zero point 128, which is
            // no int8 (general loop).
            for input_offset in [5, 128, -128] {
                for stride in [[1usize, 1], [2, 2], [2, 1], [3, 2]] {
                    for dilation in [[1, 1], [2, 2], [1, 2]] {
                        for pad in [[0usize, 0], [1, 1], [2, 0], [0, 3]] {
                            for groups in [1, 2] {
                                if c % groups != 0 || oc % groups != 0 {
                                    continue;
                                }
                                case += 1;
                                let eff_h = (kh - 1) * dilation[0] + 1;
                                let eff_w = (kw - 1) * dilation[1] + 1;
                                // Output size as SAME-ish/VALID-ish from top/left pads (bottom pad = top pad).
                                let oh = (h + 2 * pad[0]).saturating_sub(eff_h) / stride[0] + 1;
                                let ow = (w_ + 2 * pad[1]).saturating_sub(eff_w) / stride[1] + 1;
                                let xs = Nhwc::new(2, h, w_, c);
                                let ws = Nhwc::new(oc, kh, kw, c / groups);
                                let ys = Nhwc::new(2, oh, ow, oc);
                                let x = pseudo(xs.numel().unwrap(), case);
                                let w = pseudo(ws.numel().unwrap(), case + 1000);
                                let bias: Vec<i32> = (0..oc as i32).map(|i| i * 37 - 50).collect();
                                let mult: Vec<i32> = (0..oc)
                                    .map(|i| 1_100_000_000 + i as i32 * 12_345_678)
                                    .collect();
                                let shift: Vec<i32> =
                                    (0..oc).map(|i| -7 - (i as i32 % 3)).collect();
                                let p = ConvParams {
                                    stride,
                                    dilation,
                                    pad,
                                    input_offset,
                                    output_offset: -3,
                                    act: ActRange {
                                        min: -100,
                                        max: 120,
                                    },
                                };
                                let mut y = vec![0i8; ys.numel().unwrap()];
                                let q = PerChannel {
                                    multipliers: &mult,
                                    shifts: &shift,
                                };
                                conv2d(&p, &x, xs, &w, ws, Some(&bias), &q, &mut y, ys).unwrap();
                                let expect =
                                    naive_conv(&p, &x, xs, &w, ws, Some(&bias), &mult, &shift, ys);
                                assert_eq!(y, expect, "case {case}: {h}x{w_}x{c}->{oc} k{kh}x{kw} s{stride:?} d{dilation:?} p{pad:?} g{groups} io{input_offset}");
                            }
                        }
                    }
                }
            }
        }
        assert!(case > 500);
    }

    #[test]
    fn depthwise_matches_naive_conv_with_groups() {
        // A depthwise conv with multiplier M equals a grouped conv with groups = C, where the
        // OHWI weight of output channel oc is the depthwise weight column oc.
        let mut case = 0;
        for &(h, w_, c, m) in &[
            (5usize, 6usize, 3usize, 1usize),
            (4, 7, 2, 3),
            (6, 6, 70, 1),
            (3, 5, 33, 2),
        ] {
            for stride in [[1usize, 1], [2, 2], [1, 2]] {
                for dilation in [[1, 1], [2, 1]] {
                    for pad in [[0usize, 0], [1, 1], [0, 2]] {
                        case += 1;
                        let (kh, kw) = (3, 2);
                        let oc = c * m;
                        let oh = (h + 2 * pad[0]).saturating_sub((kh - 1) * dilation[0] + 1)
                            / stride[0]
                            + 1;
                        let ow = (w_ + 2 * pad[1]).saturating_sub((kw - 1) * dilation[1] + 1)
                            / stride[1]
                            + 1;
                        let xs = Nhwc::new(1, h, w_, c);
                        let ys = Nhwc::new(1, oh, ow, oc);
                        let x = pseudo(xs.numel().unwrap(), case);
                        let wd = pseudo(kh * kw * oc, case + 77);
                        // Transpose [1, kh, kw, oc] -> OHWI [oc, kh, kw, 1].
                        let mut wo = vec![0i8; wd.len()];
                        for t in 0..kh * kw {
                            for o in 0..oc {
                                wo[o * kh * kw + t] = wd[t * oc + o];
                            }
                        }
                        let bias: Vec<i32> = (0..oc as i32).map(|i| 100 - i * 9).collect();
                        let mult: Vec<i32> = (0..oc)
                            .map(|i| 1_500_000_000 - i as i32 * 1_000_003)
                            .collect();
                        let shift: Vec<i32> = (0..oc).map(|i| -6 - (i as i32 % 2)).collect();
                        let p = ConvParams {
                            stride,
                            dilation,
                            pad,
                            input_offset: -7,
                            output_offset: 4,
                            act: ActRange::FULL,
                        };
                        let q = PerChannel {
                            multipliers: &mult,
                            shifts: &shift,
                        };
                        let mut y = vec![0i8; ys.numel().unwrap()];
                        depthwise_conv2d(&p, m, &x, xs, &wd, [kh, kw], Some(&bias), &q, &mut y, ys)
                            .unwrap();
                        let expect = naive_conv(
                            &p,
                            &x,
                            xs,
                            &wo,
                            Nhwc::new(oc, kh, kw, 1),
                            Some(&bias),
                            &mult,
                            &shift,
                            ys,
                        );
                        assert_eq!(y, expect, "case {case}");
                    }
                }
            }
        }
    }

    #[test]
    fn requantize_run_equals_per_channel_requantize() {
        let acc: Vec<i32> = pseudo(4 * 40, 9)
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8]) >> 8)
            .collect();
        let mult: Vec<i32> = (0..40).map(|i| 1_073_741_824 + i * 25_000_000).collect();
        // All right shifts (the fast branch), then a mix with left shifts and extremes.
        let right: Vec<i32> = (0..40).map(|i| -(i % 32)).collect();
        let mixed: Vec<i32> = (0..40)
            .map(|i| (i % 7) - 3 + if i == 5 { 30 } else { 0 })
            .collect();
        for shifts in [&right, &mixed] {
            let q = PerChannel {
                multipliers: &mult,
                shifts,
            };
            let act = ActRange { min: -100, max: 90 };
            let mut out = [0i8; 37];
            q.requantize_run(&acc[3..], 3, 7, act, &mut out);
            for (k, &o) in out.iter().enumerate() {
                assert_eq!(
                    o,
                    act.apply(q.requantize(acc[3 + k], 3 + k, 7)),
                    "channel {}",
                    3 + k
                );
            }
        }
    }

    #[test]
    fn rejects_inconsistent_operands() {
        let p = ConvParams {
            stride: [1, 1],
            dilation: [1, 1],
            pad: [0, 0],
            input_offset: 0,
            output_offset: 0,
            act: ActRange::FULL,
        };
        let q = PerChannel {
            multipliers: &[1 << 30],
            shifts: &[0],
        };
        let x = [0i8; 9];
        let mut y = [0i8; 1];
        let xs = Nhwc::new(1, 3, 3, 1);
        let ws = Nhwc::new(1, 3, 3, 1);
        let ys = Nhwc::new(1, 1, 1, 1);
        assert!(conv2d(&p, &x, xs, &[0; 9], ws, None, &q, &mut y, ys).is_ok());
        assert!(conv2d(&p, &x[..8], xs, &[0; 9], ws, None, &q, &mut y, ys).is_err());
        assert!(conv2d(&p, &x, xs, &[0; 8], ws, None, &q, &mut y, ys).is_err());
        assert!(conv2d(&p, &x, xs, &[0; 9], ws, Some(&[1, 2]), &q, &mut y, ys).is_err());
        let bad_shift = PerChannel {
            multipliers: &[1 << 30],
            shifts: &[31],
        };
        assert!(conv2d(&p, &x, xs, &[0; 9], ws, None, &bad_shift, &mut y, ys).is_err());
        let p0 = ConvParams {
            stride: [0, 1],
            ..p
        };
        assert!(conv2d(&p0, &x, xs, &[0; 9], ws, None, &q, &mut y, ys).is_err());
        assert!(depthwise_conv2d(&p, 0, &x, xs, &[0; 9], [3, 3], None, &q, &mut y, ys).is_err());
        assert!(depthwise_conv2d(&p, 1, &x, xs, &[0; 9], [3, 3], None, &q, &mut y, ys).is_ok());
    }
}
