//! Executor glue for the int8 operators and the quantize/dequantize edges: one
//! [`KernelFn`](crate::exec::KernelFn) per operator, decoding the `KernelCall` arguments in the
//! layout documented in [`crate::ops`], checking dtypes and layouts, then calling the pure
//! kernels. All int8 tensors must be contiguous (the compiler emits identity dim_orders).

use super::concat::{concat_part, ConcatQuant};
use super::conv::{
    conv2d, conv2d_with, depthwise_conv2d, depthwise_conv2d_with, ConvParams, PerChannel,
};
use super::elementwise::{add, mul, sub, AddParams, MulParams};
use super::fully_connected::{fully_connected, fully_connected_with, FcParams};
use super::pool::{avg_pool, max_pool, PoolParams};
use super::qlinear::{
    qlinear_add, qlinear_avg_pool, qlinear_concat_part, qlinear_global_avg_pool, FloatScales,
    QLinearAddParams, QLinearIo,
};
use super::quantize::{
    kiln_quantize, qd_dequantize_per_tensor, qd_quantize_per_tensor, QRange, RoundMode,
};
use super::reduce::{mean, MeanParams};
use super::softmax::{qlinear_softmax, softmax, SoftmaxParams};
use super::{lut_apply, lut_apply_in_place, maximum, minimum, ActRange, Nhwc};
use crate::error::RtError;
use crate::exec::{IntList, KernelCtx, KernelEntry, TensorMut, TensorRef, MAX_TENSOR_LIST};
use crate::ops::OpKind;
use crate::pte::Tag;

/// Every int8 kernel plus ExecuTorch's quantize/dequantize, for [`crate::exec::Method::load`].
pub const KERNELS: &[KernelEntry] = &[
    KernelEntry {
        op: OpKind::QdQuantizePerTensor,
        run: qd_quantize,
    },
    KernelEntry {
        op: OpKind::QdDequantizePerTensor,
        run: qd_dequantize,
    },
    KernelEntry {
        op: OpKind::KilnQuantize,
        run: kiln_quantize_k,
    },
    KernelEntry {
        op: OpKind::CmQuantizedConv2d,
        run: conv2d_k,
    },
    KernelEntry {
        op: OpKind::CmQuantizedDepthwiseConv2d,
        run: depthwise_k,
    },
    KernelEntry {
        op: OpKind::CmQuantizedLinear,
        run: linear_k,
    },
    KernelEntry {
        op: OpKind::CmQuantizedAdd,
        run: add_k,
    },
    KernelEntry {
        op: OpKind::KilnQuantizedSub,
        run: sub_k,
    },
    KernelEntry {
        op: OpKind::CmQuantizedMul,
        run: mul_k,
    },
    KernelEntry {
        op: OpKind::CmQuantizedAvgPool2d,
        run: avg_pool_k,
    },
    KernelEntry {
        op: OpKind::CmQuantizedMaxPool2d,
        run: max_pool_k,
    },
    KernelEntry {
        op: OpKind::CmSoftmax,
        run: softmax_k,
    },
    KernelEntry {
        op: OpKind::KilnQLinearSoftmax,
        run: qlinear_softmax_k,
    },
    KernelEntry {
        op: OpKind::CmQuantizedActivation,
        run: activation_k,
    },
    KernelEntry {
        op: OpKind::CmMaximum,
        run: maximum_k,
    },
    KernelEntry {
        op: OpKind::CmMinimum,
        run: minimum_k,
    },
    KernelEntry {
        op: OpKind::KilnQuantizedMean,
        run: mean_k,
    },
    KernelEntry {
        op: OpKind::KilnQuantizedConcat,
        run: concat_k,
    },
    KernelEntry {
        op: OpKind::KilnQLinearConv2d,
        run: qlinear_conv2d_k,
    },
    KernelEntry {
        op: OpKind::KilnQLinearDepthwiseConv2d,
        run: qlinear_depthwise_k,
    },
    KernelEntry {
        op: OpKind::KilnQLinearLinear,
        run: qlinear_linear_k,
    },
    KernelEntry {
        op: OpKind::KilnQLinearAdd,
        run: qlinear_add_k,
    },
    KernelEntry {
        op: OpKind::KilnQLinearAvgPool2d,
        run: qlinear_avg_pool_k,
    },
    KernelEntry {
        op: OpKind::KilnQLinearGlobalAvgPool,
        run: qlinear_global_avg_pool_k,
    },
    KernelEntry {
        op: OpKind::KilnQLinearConcat,
        run: concat_k,
    },
];

fn fail(op: OpKind, what: &'static str) -> RtError {
    RtError::Kernel { op, what }
}

/// An `Int` argument that must fit `i32`.
fn int32(ctx: &KernelCtx<'_>, i: usize, what: &'static str) -> Result<i32, RtError> {
    i32::try_from(ctx.int(i)?).map_err(|_| fail(ctx.op(), what))
}

/// A two-item `IntList` of non-negative sizes.
fn pair(ctx: &KernelCtx<'_>, i: usize) -> Result<[usize; 2], RtError> {
    ctx.int_list(i)?.to_usize_array::<2>()
}

fn act(ctx: &KernelCtx<'_>, lo: usize, hi: usize) -> Result<ActRange, RtError> {
    Ok(ActRange {
        min: int32(ctx, lo, "act_min out of i32 range")?,
        max: int32(ctx, hi, "act_max out of i32 range")?,
    })
}

/// The NHWC shape of a contiguous rank-4 tensor.
fn nhwc(op: OpKind, sizes: &[usize], contiguous: bool) -> Result<Nhwc, RtError> {
    match (sizes, contiguous) {
        ([n, h, w, c], true) => Ok(Nhwc::new(*n, *h, *w, *c)),
        (_, false) => Err(fail(op, "int8 tensors must be contiguous (NHWC memory)")),
        _ => Err(fail(op, "expected a rank-4 NHWC tensor")),
    }
}

fn nhwc_ref(op: OpKind, t: &TensorRef<'_>) -> Result<Nhwc, RtError> {
    nhwc(op, &t.sizes, t.is_contiguous())
}

fn nhwc_mut(op: OpKind, t: &TensorMut<'_>) -> Result<Nhwc, RtError> {
    nhwc(op, &t.sizes, t.is_contiguous())
}

fn contiguous(op: OpKind, ok: bool) -> Result<(), RtError> {
    if ok {
        Ok(())
    } else {
        Err(fail(op, "int8 tensors must be contiguous"))
    }
}

/// Elementwise conversions need the same element order (dim_order) on both sides.
fn same_order(op: OpKind, x: &TensorRef<'_>, y: &TensorMut<'_>) -> Result<(), RtError> {
    if *x.dim_order == *y.dim_order && x.numel() == y.numel() {
        Ok(())
    } else {
        Err(fail(op, "input and output differ in size or memory order"))
    }
}

fn conv2d_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let p = ConvParams {
        stride: pair(ctx, 3)?,
        pad: pair(ctx, 4)?,
        dilation: pair(ctx, 5)?,
        input_offset: int32(ctx, 6, "input_offset out of i32 range")?,
        output_offset: int32(ctx, 7, "output_offset out of i32 range")?,
        act: act(ctx, 10, 11)?,
    };
    let has_bias = !ctx.is_null(2)?;
    // Without a bias, argument 0 stands in (read, never used).
    let ([x, w, b, m, s], mut y) = ctx.io([0, 1, if has_bias { 2 } else { 0 }, 8, 9], 13)?;
    let (xs, ws, ys) = (nhwc_ref(op, &x)?, nhwc_ref(op, &w)?, nhwc_mut(op, &y)?);
    let bias = if has_bias { Some(b.as_i32()?) } else { None };
    let q = PerChannel {
        multipliers: m.as_i32()?,
        shifts: s.as_i32()?,
    };
    conv2d(
        &p,
        x.as_i8()?,
        xs,
        w.as_i8()?,
        ws,
        bias,
        &q,
        y.as_i8_mut()?,
        ys,
    )
}

fn depthwise_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let p = ConvParams {
        stride: pair(ctx, 3)?,
        pad: pair(ctx, 4)?,
        dilation: pair(ctx, 5)?,
        input_offset: int32(ctx, 7, "input_offset out of i32 range")?,
        output_offset: int32(ctx, 8, "output_offset out of i32 range")?,
        act: act(ctx, 11, 12)?,
    };
    let m =
        usize::try_from(ctx.int(6)?).map_err(|_| fail(op, "depth_multiplier must be positive"))?;
    let has_bias = !ctx.is_null(2)?;
    let ([x, w, b, mu, s], mut y) = ctx.io([0, 1, if has_bias { 2 } else { 0 }, 9, 10], 14)?;
    let (xs, ws, ys) = (nhwc_ref(op, &x)?, nhwc_ref(op, &w)?, nhwc_mut(op, &y)?);
    if ws.n != 1 {
        return Err(fail(op, "depthwise weight must be [1, kh, kw, C * M]"));
    }
    let bias = if has_bias { Some(b.as_i32()?) } else { None };
    let q = PerChannel {
        multipliers: mu.as_i32()?,
        shifts: s.as_i32()?,
    };
    depthwise_conv2d(
        &p,
        m,
        x.as_i8()?,
        xs,
        w.as_i8()?,
        [ws.h, ws.w],
        bias,
        &q,
        y.as_i8_mut()?,
        ys,
    )
}

fn linear_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let p = FcParams {
        input_offset: int32(ctx, 3, "input_offset out of i32 range")?,
        filter_offset: int32(ctx, 4, "filter_offset out of i32 range")?,
        output_offset: int32(ctx, 5, "output_offset out of i32 range")?,
        act: act(ctx, 8, 9)?,
    };
    let has_bias = !ctx.is_null(2)?;
    let b_idx = if has_bias { 2 } else { 0 };
    let run = |x: &TensorRef<'_>,
               w: &TensorRef<'_>,
               b: &TensorRef<'_>,
               m: &[i32],
               s: &[i32],
               y: &mut TensorMut<'_>| {
        contiguous(
            op,
            x.is_contiguous() && w.is_contiguous() && y.is_contiguous(),
        )?;
        let [n, k] = w.sizes[..] else {
            return Err(fail(op, "weight must be [N, K]"));
        };
        let bias = if has_bias { Some(b.as_i32()?) } else { None };
        fully_connected(&p, x.as_i8()?, w.as_i8()?, bias, m, s, y.as_i8_mut()?, k, n)
    };
    if ctx.tag(6)? == Tag::Int {
        let m = int32(ctx, 6, "multiplier out of i32 range")?;
        let s = int32(ctx, 7, "shift out of i32 range")?;
        let ([x, w, b], mut y) = ctx.io([0, 1, b_idx], 10)?;
        run(&x, &w, &b, &[m], &[s], &mut y)
    } else {
        let ([x, w, b, m, s], mut y) = ctx.io([0, 1, b_idx, 6, 7], 10)?;
        run(&x, &w, &b, m.as_i32()?, s.as_i32()?, &mut y)
    }
}

/// Reads an `IntList` argument into `buf`.
fn list<'b>(ctx: &KernelCtx<'_>, i: usize, buf: &'b mut [i64]) -> Result<&'b [i64], RtError> {
    let l: IntList<'_> = ctx.int_list(i)?;
    l.read_into(buf)
}

type Binary = fn(&[i8], &[usize], &[i8], &[usize], &mut [i8], &[usize]) -> Result<(), RtError>;

fn binary(
    ctx: &mut KernelCtx<'_>,
    out: usize,
    f: impl Fn(&[i8], &[usize], &[i8], &[usize], &mut [i8], &[usize]) -> Result<(), RtError>,
) -> Result<(), RtError> {
    let op = ctx.op();
    let ([a, b], mut y) = ctx.io([0, 1], out)?;
    contiguous(
        op,
        a.is_contiguous() && b.is_contiguous() && y.is_contiguous(),
    )?;
    let ys = y.sizes;
    f(
        a.as_i8()?,
        &a.sizes,
        b.as_i8()?,
        &b.sizes,
        y.as_i8_mut()?,
        &ys,
    )
}

fn add_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let mut buf = [0i64; 12];
    let p = AddParams::from_list(list(ctx, 2, &mut buf)?, ctx.op())?;
    binary(ctx, 3, |a, sa, b, sb, y, sy| add(&p, a, sa, b, sb, y, sy))
}

fn sub_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let mut buf = [0i64; 12];
    let p = AddParams::from_list(list(ctx, 2, &mut buf)?, ctx.op())?;
    binary(ctx, 3, |a, sa, b, sb, y, sy| sub(&p, a, sa, b, sb, y, sy))
}

fn mul_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let mut buf = [0i64; 7];
    let p = MulParams::from_list(list(ctx, 2, &mut buf)?, ctx.op())?;
    binary(ctx, 3, |a, sa, b, sb, y, sy| mul(&p, a, sa, b, sb, y, sy))
}

fn maximum_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    binary(ctx, 2, maximum as Binary)
}

fn minimum_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    binary(ctx, 2, minimum as Binary)
}

fn pool_k(ctx: &mut KernelCtx<'_>, avg: bool) -> Result<(), RtError> {
    let op = ctx.op();
    let p = PoolParams {
        kernel: pair(ctx, 1)?,
        stride: pair(ctx, 2)?,
        pad: pair(ctx, 3)?,
        act: act(ctx, 4, 5)?,
    };
    let ([x], mut y) = ctx.io([0], 6)?;
    let (xs, ys) = (nhwc_ref(op, &x)?, nhwc_mut(op, &y)?);
    if avg {
        avg_pool(&p, x.as_i8()?, xs, y.as_i8_mut()?, ys)
    } else {
        max_pool(&p, x.as_i8()?, xs, y.as_i8_mut()?, ys)
    }
}

fn avg_pool_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    pool_k(ctx, true)
}

fn max_pool_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    pool_k(ctx, false)
}

fn softmax_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let p = SoftmaxParams {
        input_multiplier: int32(ctx, 1, "input_multiplier out of i32 range")?,
        input_left_shift: int32(ctx, 2, "input_left_shift out of i32 range")?,
        diff_min: int32(ctx, 3, "diff_min out of i32 range")?,
    };
    let ([x], mut y) = ctx.io([0], 4)?;
    contiguous(op, x.is_contiguous() && y.is_contiguous())?;
    let depth = x.dim(-1)?;
    softmax(&p, x.as_i8()?, depth, y.as_i8_mut()?)
}

fn qlinear_softmax_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let y_scale = ctx.double(2)? as f32;
    let zp = int32(ctx, 3, "y_zero_point out of i32 range")?;
    let ([x, table], mut y) = ctx.io([0, 1], 4)?;
    contiguous(op, x.is_contiguous() && y.is_contiguous())?;
    let depth = x.dim(-1)?;
    qlinear_softmax(
        table.as_f32()?,
        y_scale,
        zp,
        x.as_i8()?,
        depth,
        y.as_i8_mut()?,
    )
}

fn activation_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let mut lut = [0i8; 256];
    {
        let t = ctx.tensor(1)?;
        let l = t.as_i8()?;
        if l.len() != 256 {
            return Err(fail(op, "lookup table must have 256 entries"));
        }
        lut.copy_from_slice(l);
    }
    if ctx.same_memory(0, 2)? {
        let mut y = ctx.tensor_mut(2)?;
        lut_apply_in_place(y.as_i8_mut()?, &lut);
        return Ok(());
    }
    let ([x], mut y) = ctx.io([0], 2)?;
    lut_apply(x.as_i8()?, &lut, y.as_i8_mut()?)
}

fn mean_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let p = MeanParams {
        input_zp: int32(ctx, 3, "input zero point out of i32 range")?,
        output_zp: int32(ctx, 4, "output zero point out of i32 range")?,
        multiplier: int32(ctx, 5, "multiplier out of i32 range")?,
        shift: int32(ctx, 6, "shift out of i32 range")?,
    };
    let mut buf = [0i64; super::MAX_RANK];
    let dims = ctx.int_list(1)?;
    if dims.len() > super::MAX_RANK {
        return Err(fail(op, "more than 6 reduction dims"));
    }
    let dims = dims.read_into(&mut buf)?;
    let ([x], mut y) = ctx.io([0], 7)?;
    contiguous(op, x.is_contiguous() && y.is_contiguous())?;
    let rank = x.rank() as i64;
    let mut axes = 0u32;
    for &d in dims {
        let d = if d < 0 { d + rank } else { d };
        if !(0..rank).contains(&d) || rank > super::MAX_RANK as i64 {
            return Err(fail(op, "reduction dim out of range"));
        }
        axes |= 1 << d;
    }
    mean(&p, x.as_i8()?, &x.sizes, axes, y.as_i8_mut()?)
}

fn concat_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let mut buf = [0i64; 2 * MAX_TENSOR_LIST + 2];
    let params = list(ctx, 2, &mut buf)?;
    let dim = ctx.int(1)?;
    let quant = |k: usize| -> Result<ConcatQuant, RtError> {
        let (zp, bits) = (params[2 * k], params[2 * k + 1]);
        Ok(ConcatQuant {
            zero_point: i32::try_from(zp).map_err(|_| fail(op, "zero point out of i32 range"))?,
            scale: f32::from_bits(
                u32::try_from(bits).map_err(|_| fail(op, "scale bits out of u32 range"))?,
            ),
        })
    };
    let (xs, mut y) = ctx.io_list(0, 3)?;
    if params.len() != 2 * xs.len() + 2 {
        return Err(fail(
            op,
            "params must hold [zp, scale] per input and for the output",
        ));
    }
    let yq = quant(xs.len())?;
    let rank = y.rank() as i64;
    let axis = if dim < 0 { dim + rank } else { dim };
    if !(0..rank).contains(&axis) {
        return Err(fail(op, "concatenation dim out of range"));
    }
    let axis = axis as usize;
    contiguous(op, y.is_contiguous())?;
    let y_inner: usize = y.sizes[axis..].iter().product();
    let ys = y.sizes;
    let yd = y.as_i8_mut()?;
    let mut offset = 0usize;
    for (k, x) in xs.iter().enumerate() {
        contiguous(op, x.is_contiguous())?;
        if x.rank() != ys.len()
            || x.sizes
                .iter()
                .zip(ys.iter())
                .enumerate()
                .any(|(d, (a, b))| d != axis && a != b)
        {
            return Err(fail(
                op,
                "input shape does not match the output off the concatenation dim",
            ));
        }
        let x_inner: usize = x.sizes[axis..].iter().product();
        if x_inner == 0 {
            continue;
        }
        if op == OpKind::KilnQLinearConcat {
            let xq = quant(k)?;
            qlinear_concat_part(
                x.as_i8()?,
                x_inner,
                (xq.scale, xq.zero_point),
                yd,
                y_inner,
                offset,
                (yq.scale, yq.zero_point),
            )?;
        } else {
            concat_part(x.as_i8()?, x_inner, quant(k)?, yd, y_inner, offset, yq)?;
        }
        offset += x_inner;
    }
    if offset != y_inner {
        return Err(fail(
            op,
            "inputs do not fill the output along the concatenation dim",
        ));
    }
    Ok(())
}

fn qlinear_conv2d_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let p = ConvParams {
        stride: pair(ctx, 3)?,
        pad: pair(ctx, 4)?,
        dilation: pair(ctx, 5)?,
        input_offset: int32(ctx, 6, "input_offset out of i32 range")?,
        output_offset: int32(ctx, 7, "output_offset out of i32 range")?,
        act: act(ctx, 9, 10)?,
    };
    let has_bias = !ctx.is_null(2)?;
    let ([x, w, b, sc], mut y) = ctx.io([0, 1, if has_bias { 2 } else { 0 }, 8], 11)?;
    let (xs, ws, ys) = (nhwc_ref(op, &x)?, nhwc_ref(op, &w)?, nhwc_mut(op, &y)?);
    let bias = if has_bias { Some(b.as_i32()?) } else { None };
    let q = FloatScales {
        scales: sc.as_f32()?,
    };
    conv2d_with(
        op,
        &p,
        x.as_i8()?,
        xs,
        w.as_i8()?,
        ws,
        bias,
        &q,
        y.as_i8_mut()?,
        ys,
    )
}

fn qlinear_depthwise_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let p = ConvParams {
        stride: pair(ctx, 3)?,
        pad: pair(ctx, 4)?,
        dilation: pair(ctx, 5)?,
        input_offset: int32(ctx, 7, "input_offset out of i32 range")?,
        output_offset: int32(ctx, 8, "output_offset out of i32 range")?,
        act: act(ctx, 10, 11)?,
    };
    let m =
        usize::try_from(ctx.int(6)?).map_err(|_| fail(op, "depth_multiplier must be positive"))?;
    let has_bias = !ctx.is_null(2)?;
    let ([x, w, b, sc], mut y) = ctx.io([0, 1, if has_bias { 2 } else { 0 }, 9], 12)?;
    let (xs, ws, ys) = (nhwc_ref(op, &x)?, nhwc_ref(op, &w)?, nhwc_mut(op, &y)?);
    if ws.n != 1 {
        return Err(fail(op, "depthwise weight must be [1, kh, kw, C * M]"));
    }
    let bias = if has_bias { Some(b.as_i32()?) } else { None };
    let q = FloatScales {
        scales: sc.as_f32()?,
    };
    depthwise_conv2d_with(
        op,
        &p,
        m,
        x.as_i8()?,
        xs,
        w.as_i8()?,
        [ws.h, ws.w],
        bias,
        &q,
        y.as_i8_mut()?,
        ys,
    )
}

fn qlinear_linear_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let p = FcParams {
        input_offset: int32(ctx, 3, "input_offset out of i32 range")?,
        filter_offset: int32(ctx, 4, "filter_offset out of i32 range")?,
        output_offset: int32(ctx, 5, "output_offset out of i32 range")?,
        act: act(ctx, 7, 8)?,
    };
    let has_bias = !ctx.is_null(2)?;
    let ([x, w, b, sc], mut y) = ctx.io([0, 1, if has_bias { 2 } else { 0 }, 6], 9)?;
    contiguous(
        op,
        x.is_contiguous() && w.is_contiguous() && y.is_contiguous(),
    )?;
    let [n, k] = w.sizes[..] else {
        return Err(fail(op, "weight must be [N, K]"));
    };
    let bias = if has_bias { Some(b.as_i32()?) } else { None };
    let q = FloatScales {
        scales: sc.as_f32()?,
    };
    fully_connected_with(
        op,
        &p,
        true,
        x.as_i8()?,
        w.as_i8()?,
        bias,
        &q,
        y.as_i8_mut()?,
        k,
        n,
    )
}

fn qlinear_add_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let mut buf = [0i64; 6];
    let p = QLinearAddParams::from_list(list(ctx, 2, &mut buf)?, ctx.op())?;
    binary(ctx, 3, |a, sa, b, sb, y, sy| {
        qlinear_add(&p, a, sa, b, sb, y, sy)
    })
}

fn qlinear_avg_pool_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let kernel = pair(ctx, 1)?;
    let stride = pair(ctx, 2)?;
    let pads = ctx.int_list(3)?.to_usize_array::<4>()?;
    let count_include_pad = ctx.bool(4)?;
    let mut buf = [0i64; 5];
    let io = QLinearIo::from_list(list(ctx, 5, &mut buf)?, op)?;
    let ([x], mut y) = ctx.io([0], 6)?;
    let (xs, ys) = (nhwc_ref(op, &x)?, nhwc_mut(op, &y)?);
    qlinear_avg_pool(
        &io,
        kernel,
        stride,
        pads,
        count_include_pad,
        x.as_i8()?,
        xs,
        y.as_i8_mut()?,
        ys,
    )
}

fn qlinear_global_avg_pool_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let mut buf = [0i64; 5];
    let io = QLinearIo::from_list(list(ctx, 1, &mut buf)?, op)?;
    let ([x], mut y) = ctx.io([0], 2)?;
    let (xs, ys) = (nhwc_ref(op, &x)?, nhwc_mut(op, &y)?);
    qlinear_global_avg_pool(&io, x.as_i8()?, xs, y.as_i8_mut()?, ys, op)
}

/// `[quant_min, quant_max]` and the zero point of quantize/dequantize.
fn qrange(ctx: &KernelCtx<'_>) -> Result<QRange, RtError> {
    Ok(QRange {
        zero_point: int32(ctx, 2, "zero point out of i32 range")?,
        qmin: int32(ctx, 3, "quant_min out of i32 range")?,
        qmax: int32(ctx, 4, "quant_max out of i32 range")?,
    })
}

fn qd_quantize(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let (scale, q) = (ctx.double(1)?, qrange(ctx)?);
    let ([x], mut y) = ctx.io([0], 6)?;
    same_order(op, &x, &y)?;
    qd_quantize_per_tensor(x.as_f32()?, scale, q, y.as_i8_mut()?)
}

fn qd_dequantize(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let scale = ctx.double(1)?;
    let zp = int32(ctx, 2, "zero point out of i32 range")?;
    let ([x], mut y) = ctx.io([0], 7)?;
    same_order(OpKind::QdDequantizePerTensor, &x, &y)?;
    qd_dequantize_per_tensor(x.as_i8()?, scale, zp, y.as_f32_mut()?)
}

fn kiln_quantize_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let (scale, q) = (ctx.double(1)?, qrange(ctx)?);
    let mode = match ctx.int(5)? {
        0 => RoundMode::HalfToEven,
        1 => RoundMode::HalfAway,
        _ => {
            return Err(fail(
                op,
                "rounding must be 0 (half to even) or 1 (half away from zero)",
            ))
        }
    };
    let ([x], mut y) = ctx.io([0], 6)?;
    same_order(op, &x, &y)?;
    kiln_quantize(x.as_f32()?, scale, q, mode, y.as_i8_mut()?)
}
