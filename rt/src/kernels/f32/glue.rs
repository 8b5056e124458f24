//! ExecuTorch portable operator glue: one [`KernelFn`](crate::exec::KernelFn) per `aten::*`
//! operator of [`crate::ops`] (plus `kiln::hard_sigmoid` and `kiln::resize_nearest`),
//! decoding the `KernelCall` arguments exactly as ExecuTorch lays them out, honoring each
//! tensor's sizes and dim_order, checking dtypes and shapes, then calling the pure kernels.
//!
//! kiln extensions (ExecuTorch's own kernels reject these; kiln's compiler emits them):
//! - `padding` of convolution and the pools may have four items `[top, left, bottom, right]`.
//! - `max_pool2d_with_indices` accepts `Null` for `indices` (no indices computed).
//! - Elementwise unary operators run in place when input and output are the same memory.

use super::conv::{conv2d, window_out_size, Conv2dParams};
use super::data::{cat_part, constant_pad, copy_elements, permute_copy, resize_nearest_nhwc};
use super::elementwise::{binary, broadcast_shape, unary, unary_in_place, Binary, Unary};
use super::matmul::{addmm, mm};
use super::pool::{avg_pool2d, max_pool2d, Pool2dParams};
use super::reduce::{mean, softmax};
use super::{KernelError, Layout, MAX_RANK};
use crate::error::RtError;
use crate::exec::{IntList, KernelCtx, KernelEntry, TensorMut, TensorRef};
use crate::ops::OpKind;
use crate::pte::{ScalarType, Tag};

/// Every f32 / data-movement kernel, for [`crate::exec::Method::load`].
pub const KERNELS: &[KernelEntry] = &[
    KernelEntry {
        op: OpKind::AtenConvolution,
        run: convolution,
    },
    KernelEntry {
        op: OpKind::AtenRelu,
        run: relu,
    },
    KernelEntry {
        op: OpKind::AtenMaxPool2dWithIndices,
        run: max_pool2d_with_indices,
    },
    KernelEntry {
        op: OpKind::AtenAvgPool2d,
        run: avg_pool2d_k,
    },
    KernelEntry {
        op: OpKind::AtenPermuteCopy,
        run: permute_copy_k,
    },
    KernelEntry {
        op: OpKind::AtenViewCopy,
        run: view_copy,
    },
    KernelEntry {
        op: OpKind::AtenAddmm,
        run: addmm_k,
    },
    KernelEntry {
        op: OpKind::AtenMm,
        run: mm_k,
    },
    KernelEntry {
        op: OpKind::AtenAdd,
        run: add,
    },
    KernelEntry {
        op: OpKind::AtenSub,
        run: sub,
    },
    KernelEntry {
        op: OpKind::AtenMul,
        run: mul,
    },
    KernelEntry {
        op: OpKind::AtenMaximum,
        run: maximum,
    },
    KernelEntry {
        op: OpKind::AtenMinimum,
        run: minimum,
    },
    KernelEntry {
        op: OpKind::AtenClamp,
        run: clamp,
    },
    KernelEntry {
        op: OpKind::AtenLeakyRelu,
        run: leaky_relu,
    },
    KernelEntry {
        op: OpKind::AtenSigmoid,
        run: sigmoid,
    },
    KernelEntry {
        op: OpKind::AtenTanh,
        run: tanh,
    },
    KernelEntry {
        op: OpKind::AtenHardswish,
        run: hardswish,
    },
    KernelEntry {
        op: OpKind::AtenMean,
        run: mean_k,
    },
    KernelEntry {
        op: OpKind::AtenSoftmax,
        run: softmax_k,
    },
    KernelEntry {
        op: OpKind::AtenCat,
        run: cat,
    },
    KernelEntry {
        op: OpKind::AtenConstantPadNd,
        run: constant_pad_nd,
    },
    KernelEntry {
        op: OpKind::KilnResizeNearest,
        run: resize_nearest,
    },
    KernelEntry {
        op: OpKind::KilnHardSigmoid,
        run: hard_sigmoid,
    },
];

/// Maps a pure-kernel error to the runtime error naming the operator.
fn kerr(op: OpKind) -> impl Fn(KernelError) -> RtError {
    move |e| RtError::Kernel { op, what: e.what() }
}

fn fail(op: OpKind, what: &'static str) -> RtError {
    RtError::Kernel { op, what }
}

/// The layout a tensor's sizes and dim_order describe.
fn layout(op: OpKind, sizes: &[usize], dim_order: &[u8]) -> Result<Layout, RtError> {
    Layout::with_dim_order(sizes, dim_order).map_err(kerr(op))
}

fn layout_ref(op: OpKind, t: &TensorRef<'_>) -> Result<Layout, RtError> {
    layout(op, &t.sizes, &t.dim_order)
}

fn layout_mut(op: OpKind, t: &TensorMut<'_>) -> Result<Layout, RtError> {
    layout(op, &t.sizes, &t.dim_order)
}

/// A dim argument (negative counts from the end), checked against `rank`.
fn norm_dim(op: OpKind, d: i64, rank: usize) -> Result<usize, RtError> {
    let r = rank as i64;
    let d = if d < 0 { d + r } else { d };
    if d < 0 || d >= r.max(1) {
        return Err(fail(op, "dim out of range"));
    }
    Ok(d as usize)
}

/// A two-element `[h, w]` parameter given as 1 or 2 items (one item applies to both),
/// or `default` when empty and a default exists.
fn pair(
    op: OpKind,
    l: &IntList<'_>,
    default: Option<[usize; 2]>,
    what: &'static str,
) -> Result<[usize; 2], RtError> {
    let get = |k| {
        l.get(k)
            .and_then(|v| usize::try_from(v).map_err(|_| fail(op, what)))
    };
    match (l.len(), default) {
        (0, Some(d)) => Ok(d),
        (1, _) => {
            let v = get(0)?;
            Ok([v, v])
        }
        (2, _) => Ok([get(0)?, get(1)?]),
        _ => Err(fail(op, what)),
    }
}

/// Padding `[h, w]` (symmetric) or kiln's `[top, left, bottom, right]`.
fn pads(op: OpKind, l: &IntList<'_>) -> Result<[usize; 4], RtError> {
    const WHAT: &str = "padding must have 1, 2 or 4 non-negative items";
    if l.len() == 4 {
        return l.to_usize_array::<4>().map_err(|_| fail(op, WHAT));
    }
    let [h, w] = pair(op, l, None, WHAT)?;
    Ok([h, w, h, w])
}

fn f32_in<'a>(t: &'a TensorRef<'_>) -> Result<&'a [f32], RtError> {
    t.as_f32()
}

// ---- convolution ---------------------------------------------------------------------

/// `aten::convolution.out`: `[x, weight, bias|Null, stride, padding, dilation, transposed,
/// output_padding, groups, out, out]`.
fn convolution(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let stride = pair(
        op,
        &ctx.int_list(3)?,
        None,
        "stride must have 1 or 2 items >= 1",
    )?;
    let pad = pads(op, &ctx.int_list(4)?)?;
    let dilation = pair(
        op,
        &ctx.int_list(5)?,
        None,
        "dilation must have 1 or 2 items >= 1",
    )?;
    if ctx.bool(6)? {
        return Err(fail(op, "transposed convolution is not supported"));
    }
    let groups = usize::try_from(ctx.int(8)?).map_err(|_| fail(op, "groups must be positive"))?;
    let p = Conv2dParams {
        stride,
        dilation,
        pad: [pad[0], pad[1]],
        groups,
    };
    let has_bias = !ctx.is_null(2)?;
    let run =
        |x: &TensorRef<'_>, w: &TensorRef<'_>, b: Option<&TensorRef<'_>>, y: &mut TensorMut<'_>| {
            let (xl, wl, ol) = (layout_ref(op, x)?, layout_ref(op, w)?, layout_mut(op, y)?);
            if xl.rank() != 4 || wl.rank() != 4 || ol.rank() != 4 {
                return Err(fail(
                    op,
                    "only 2-D convolution (rank-4 input, weight, output) is supported",
                ));
            }
            let oh = window_out_size(
                xl.size(2),
                wl.size(2),
                stride[0],
                dilation[0],
                pad[0],
                pad[2],
                false,
            );
            let ow = window_out_size(
                xl.size(3),
                wl.size(3),
                stride[1],
                dilation[1],
                pad[1],
                pad[3],
                false,
            );
            if oh != Some(ol.size(2)) || ow != Some(ol.size(3)) {
                return Err(fail(
                    op,
                    "output height/width do not match input, kernel, stride, padding and dilation",
                ));
            }
            let bias = match b {
                Some(b) => {
                    if b.rank() != 1 || b.sizes[0] != wl.size(0) {
                        return Err(fail(
                            op,
                            "bias must be 1-D with one value per output channel",
                        ));
                    }
                    Some(b.as_f32()?)
                }
                None => None,
            };
            conv2d(
                &p,
                x.as_f32()?,
                &xl,
                w.as_f32()?,
                &wl,
                bias,
                y.as_f32_mut()?,
                &ol,
            )
            .map_err(kerr(op))
        };
    if has_bias {
        let ([x, w, b], mut y) = ctx.io([0, 1, 2], 9)?;
        run(&x, &w, Some(&b), &mut y)
    } else {
        let ([x, w], mut y) = ctx.io([0, 1], 9)?;
        run(&x, &w, None, &mut y)
    }
}

// ---- pools -----------------------------------------------------------------------------

/// Validates the output height/width of a pool against its geometry.
fn check_pool_out(
    op: OpKind,
    p: &Pool2dParams,
    xl: &Layout,
    ol: &Layout,
    ceil: bool,
) -> Result<(), RtError> {
    if xl.rank() != 4 || ol.rank() != 4 {
        return Err(fail(op, "pooling needs rank-4 input and output"));
    }
    let oh = window_out_size(
        xl.size(2),
        p.kernel[0],
        p.stride[0],
        p.dilation[0],
        p.pad[0],
        p.pad[2],
        ceil,
    );
    let ow = window_out_size(
        xl.size(3),
        p.kernel[1],
        p.stride[1],
        p.dilation[1],
        p.pad[1],
        p.pad[3],
        ceil,
    );
    if oh != Some(ol.size(2)) || ow != Some(ol.size(3)) {
        return Err(fail(
            op,
            "output height/width do not match input, kernel, stride and padding",
        ));
    }
    Ok(())
}

/// `aten::max_pool2d_with_indices.out`: `[x, kernel, stride, padding, dilation, ceil_mode,
/// out, indices|Null, TensorList[out, indices]]`.
fn max_pool2d_with_indices(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let kernel = pair(
        op,
        &ctx.int_list(1)?,
        None,
        "kernel_size must have 1 or 2 items",
    )?;
    let stride = pair(
        op,
        &ctx.int_list(2)?,
        Some(kernel),
        "stride must have 0, 1 or 2 items",
    )?;
    let pad = pads(op, &ctx.int_list(3)?)?;
    let dilation = pair(
        op,
        &ctx.int_list(4)?,
        None,
        "dilation must have 1 or 2 items",
    )?;
    let ceil = ctx.bool(5)?;
    let p = Pool2dParams {
        kernel,
        stride,
        dilation,
        pad,
    };
    if ctx.is_null(7)? {
        let ([x], mut y) = ctx.io([0], 6)?;
        let (xl, ol) = (layout_ref(op, &x)?, layout_mut(op, &y)?);
        check_pool_out(op, &p, &xl, &ol, ceil)?;
        return max_pool2d(&p, x.as_f32()?, &xl, y.as_f32_mut()?, &ol, None).map_err(kerr(op));
    }
    let ([x], [mut y, mut idx]) = ctx.io_n([0], [6, 7])?;
    let (xl, ol, il) = (
        layout_ref(op, &x)?,
        layout_mut(op, &y)?,
        layout_mut(op, &idx)?,
    );
    check_pool_out(op, &p, &xl, &ol, ceil)?;
    let indices = idx.as_i64_mut()?;
    max_pool2d(
        &p,
        x.as_f32()?,
        &xl,
        y.as_f32_mut()?,
        &ol,
        Some((indices, &il)),
    )
    .map_err(kerr(op))
}

/// `aten::avg_pool2d.out`: `[x, kernel, stride, padding, ceil_mode, count_include_pad,
/// divisor_override|Null, out, out]`.
fn avg_pool2d_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let kernel = pair(
        op,
        &ctx.int_list(1)?,
        None,
        "kernel_size must have 1 or 2 items",
    )?;
    let stride = pair(
        op,
        &ctx.int_list(2)?,
        Some(kernel),
        "stride must have 0, 1 or 2 items",
    )?;
    let pad = pads(op, &ctx.int_list(3)?)?;
    let ceil = ctx.bool(4)?;
    let include_pad = ctx.bool(5)?;
    let divisor = match ctx.opt_int(6)? {
        None => None,
        Some(d) => Some(
            usize::try_from(d)
                .ok()
                .filter(|&d| d > 0)
                .ok_or(fail(op, "divisor_override must be positive"))?,
        ),
    };
    let p = Pool2dParams {
        kernel,
        stride,
        dilation: [1, 1],
        pad,
    };
    let ([x], mut y) = ctx.io([0], 7)?;
    let (xl, ol) = (layout_ref(op, &x)?, layout_mut(op, &y)?);
    check_pool_out(op, &p, &xl, &ol, ceil)?;
    avg_pool2d(
        &p,
        include_pad,
        divisor,
        x.as_f32()?,
        &xl,
        y.as_f32_mut()?,
        &ol,
    )
    .map_err(kerr(op))
}

// ---- data movement (any dtype) -----------------------------------------------------------

fn same_dtype(op: OpKind, a: ScalarType, b: ScalarType) -> Result<usize, RtError> {
    if a != b {
        return Err(fail(op, "output dtype differs from input dtype"));
    }
    Ok(a.element_size())
}

/// `aten::permute_copy.out`: `[x, dims, out, out]`.
fn permute_copy_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let dims = ctx.int_list(1)?;
    let mut raw = [0i64; MAX_RANK];
    let raw = dims
        .read_into(&mut raw)
        .map_err(|_| fail(op, "permute of more than 6 dims"))?;
    let ([x], y) = ctx.io([0], 2)?;
    let elem = same_dtype(op, x.scalar_type, y.scalar_type)?;
    let mut perm = [0usize; MAX_RANK];
    for (p, &d) in perm.iter_mut().zip(raw) {
        *p = norm_dim(op, d, x.rank())?;
    }
    let (xl, ol) = (layout_ref(op, &x)?, layout_mut(op, &y)?);
    permute_copy(x.data, &xl, &perm[..raw.len()], y.data, &ol, elem).map_err(kerr(op))
}

/// `aten::view_copy.out`: `[x, size, out, out]` (a reshape in logical order; `-1` infers one size).
fn view_copy(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let size = ctx.int_list(1)?;
    let mut raw = [0i64; MAX_RANK];
    let raw = size
        .read_into(&mut raw)
        .map_err(|_| fail(op, "view of more than 6 dims"))?;
    let ([x], y) = ctx.io([0], 2)?;
    let elem = same_dtype(op, x.scalar_type, y.scalar_type)?;
    if raw.len() != y.rank() {
        return Err(fail(op, "size list length differs from the output rank"));
    }
    for (&s, &o) in raw.iter().zip(y.sizes.iter()) {
        if s != -1 && usize::try_from(s).ok() != Some(o) {
            return Err(fail(op, "output sizes differ from the size argument"));
        }
    }
    let (xl, ol) = (layout_ref(op, &x)?, layout_mut(op, &y)?);
    copy_elements(x.data, &xl, y.data, &ol, elem).map_err(kerr(op))
}

/// `aten::cat.out`: `[tensors, dim, out, out]` (legacy empty 1-D inputs are skipped, as torch).
fn cat(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let dim = ctx.int(1)?;
    let (list, y) = ctx.io_list(0, 2)?;
    let ol = layout_mut(op, &y)?;
    let d = norm_dim(op, dim, ol.rank())?;
    let mut start = 0usize;
    for t in list.iter() {
        if t.rank() == 1 && t.numel() == 0 {
            continue;
        }
        let elem = same_dtype(op, t.scalar_type, y.scalar_type)?;
        let tl = layout_ref(op, t)?;
        cat_part(t.data, &tl, y.data, &ol, d, start, elem).map_err(kerr(op))?;
        start += tl.size(d);
    }
    if start != ol.size(d) {
        return Err(fail(
            op,
            "output size along dim != sum of the inputs' sizes",
        ));
    }
    Ok(())
}

/// `value` as one element of `st`, little-endian (torch casts the scalar to the tensor's dtype).
fn scalar_bytes(op: OpKind, st: ScalarType, v: f64, out: &mut [u8; 8]) -> Result<usize, RtError> {
    let n = st.element_size();
    match st {
        ScalarType::Float => out[..4].copy_from_slice(&(v as f32).to_le_bytes()),
        ScalarType::Double => out.copy_from_slice(&v.to_le_bytes()),
        ScalarType::Char | ScalarType::QInt8 => out[0] = (v as i8) as u8,
        ScalarType::Byte | ScalarType::QUInt8 => out[0] = v as u8,
        ScalarType::Bool => out[0] = (v != 0.0) as u8,
        ScalarType::Short => out[..2].copy_from_slice(&(v as i16).to_le_bytes()),
        ScalarType::Int | ScalarType::QInt32 => out[..4].copy_from_slice(&(v as i32).to_le_bytes()),
        ScalarType::Long => out.copy_from_slice(&(v as i64).to_le_bytes()),
        _ => return Err(fail(op, "pad value for this dtype is not supported")),
    }
    Ok(n)
}

/// `aten::constant_pad_nd.out`: `[x, pad (last dim first: before, after, ...), value, out, out]`.
fn constant_pad_nd(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let pad = ctx.int_list(1)?;
    let mut raw = [0i64; 2 * MAX_RANK];
    let raw = pad
        .read_into(&mut raw)
        .map_err(|_| fail(op, "too many pad items"))?;
    let value = ctx.double(2)?;
    let ([x], y) = ctx.io([0], 3)?;
    let elem = same_dtype(op, x.scalar_type, y.scalar_type)?;
    let rank = x.rank();
    if raw.len() % 2 != 0 || raw.len() / 2 > rank || y.rank() != rank {
        return Err(fail(
            op,
            "pad must hold (before, after) pairs for at most every dim",
        ));
    }
    let mut before = [0usize; MAX_RANK];
    for (k, pr) in raw.chunks_exact(2).enumerate() {
        let d = rank - 1 - k;
        let (b, a) = match (usize::try_from(pr[0]), usize::try_from(pr[1])) {
            (Ok(b), Ok(a)) => (b, a),
            _ => return Err(fail(op, "negative padding is not supported")),
        };
        if x.sizes[d].checked_add(b).and_then(|s| s.checked_add(a)) != Some(y.sizes[d]) {
            return Err(fail(op, "output size != input size + padding"));
        }
        if let Some(slot) = before.get_mut(d) {
            *slot = b;
        }
    }
    let mut vb = [0u8; 8];
    let n = scalar_bytes(op, x.scalar_type, value, &mut vb)?;
    let (xl, ol) = (layout_ref(op, &x)?, layout_mut(op, &y)?);
    for d in 0..rank {
        if raw.len() / 2 <= rank - 1 - d && x.sizes[d] != y.sizes[d] {
            return Err(fail(op, "output size differs in an unpadded dim"));
        }
    }
    constant_pad(x.data, &xl, &before[..rank], &vb[..n], y.data, &ol, elem).map_err(kerr(op))
}

/// `kiln::resize_nearest.out`: `[x NHWC, align_corners, half_pixel_centers, out, out]`.
fn resize_nearest(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let align = ctx.bool(1)?;
    let half = ctx.bool(2)?;
    let ([x], y) = ctx.io([0], 3)?;
    let elem = same_dtype(op, x.scalar_type, y.scalar_type)?;
    let (xl, ol) = (layout_ref(op, &x)?, layout_mut(op, &y)?);
    resize_nearest_nhwc(x.data, &xl, y.data, &ol, align, half, elem).map_err(kerr(op))
}

// ---- matrix products ---------------------------------------------------------------------

/// `aten::addmm.out`: `[bias, mat1, mat2, beta, alpha, out, out]`.
fn addmm_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let beta = ctx.double(3)? as f32;
    let alpha = ctx.double(4)? as f32;
    let ([b, m1, m2], mut y) = ctx.io([0, 1, 2], 5)?;
    let (bl, l1, l2, ol) = (
        layout_ref(op, &b)?,
        layout_ref(op, &m1)?,
        layout_ref(op, &m2)?,
        layout_mut(op, &y)?,
    );
    let bias = f32_in(&b)?;
    addmm(
        beta,
        Some((bias, &bl)),
        alpha,
        m1.as_f32()?,
        &l1,
        m2.as_f32()?,
        &l2,
        y.as_f32_mut()?,
        &ol,
    )
    .map_err(kerr(op))
}

/// `aten::mm.out`: `[a, b, out, out]`.
fn mm_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let ([a, b], mut y) = ctx.io([0, 1], 2)?;
    let (al, bl, ol) = (
        layout_ref(op, &a)?,
        layout_ref(op, &b)?,
        layout_mut(op, &y)?,
    );
    mm(a.as_f32()?, &al, b.as_f32()?, &bl, y.as_f32_mut()?, &ol).map_err(kerr(op))
}

// ---- elementwise ---------------------------------------------------------------------------

/// Broadcasting binary operator with inputs at 0, 1 and the output at `out`.
fn binary_k(ctx: &mut KernelCtx<'_>, f: Binary, out: usize) -> Result<(), RtError> {
    let op = ctx.op();
    let ([a, b], mut y) = ctx.io([0, 1], out)?;
    let mut shape = [0usize; MAX_RANK];
    let r = broadcast_shape(&a.sizes, &b.sizes, &mut shape).map_err(kerr(op))?;
    if shape[..r] != *y.sizes {
        return Err(fail(op, "output sizes != broadcast of the input sizes"));
    }
    let (al, bl, ol) = (
        layout_ref(op, &a)?,
        layout_ref(op, &b)?,
        layout_mut(op, &y)?,
    );
    binary(f, a.as_f32()?, &al, b.as_f32()?, &bl, y.as_f32_mut()?, &ol).map_err(kerr(op))
}

fn add(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let alpha = ctx.double(2)? as f32;
    binary_k(ctx, Binary::Add(alpha), 3)
}

fn sub(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let alpha = ctx.double(2)? as f32;
    binary_k(ctx, Binary::Sub(alpha), 3)
}

fn mul(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    binary_k(ctx, Binary::Mul, 2)
}

fn maximum(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    binary_k(ctx, Binary::Maximum, 2)
}

fn minimum(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    binary_k(ctx, Binary::Minimum, 2)
}

/// Unary operator: input at 0, output at `out`; in place when both are the same memory.
fn unary_k(ctx: &mut KernelCtx<'_>, f: Unary, out: usize) -> Result<(), RtError> {
    let op = ctx.op();
    if ctx.same_memory(0, out)? {
        let x = ctx.tensor(0)?;
        let (st, sizes, order) = (x.scalar_type, x.sizes, x.dim_order);
        let mut y = ctx.tensor_mut(out)?;
        if st != y.scalar_type || sizes != y.sizes || order != y.dim_order {
            return Err(fail(
                op,
                "in-place input and output differ in dtype, sizes or dim_order",
            ));
        }
        unary_in_place(f, y.as_f32_mut()?);
        return Ok(());
    }
    let ([x], mut y) = ctx.io([0], out)?;
    if x.sizes != y.sizes {
        return Err(fail(op, "output sizes != input sizes"));
    }
    if x.dim_order != y.dim_order && x.numel() > 1 {
        return Err(fail(op, "output dim_order != input dim_order"));
    }
    unary(f, x.as_f32()?, y.as_f32_mut()?).map_err(kerr(op))
}

fn relu(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    unary_k(ctx, Unary::Relu, 1)
}

fn sigmoid(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    unary_k(ctx, Unary::Sigmoid, 1)
}

fn tanh(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    unary_k(ctx, Unary::Tanh, 1)
}

fn hardswish(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    unary_k(ctx, Unary::HardSwish, 1)
}

/// `aten::clamp.out`: `[x, min|Null, max|Null, out, out]`.
fn clamp(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let lo = ctx.opt_double(1)?.map_or(f32::NEG_INFINITY, |v| v as f32);
    let hi = ctx.opt_double(2)?.map_or(f32::INFINITY, |v| v as f32);
    if lo > hi {
        // torch sets everything to max in that case; keep the rule explicit.
        return unary_k(ctx, Unary::Clamp { lo: hi, hi }, 3);
    }
    unary_k(ctx, Unary::Clamp { lo, hi }, 3)
}

/// `aten::leaky_relu.out`: `[x, negative_slope, out, out]`.
fn leaky_relu(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let s = ctx.double(1)? as f32;
    unary_k(ctx, Unary::LeakyRelu(s), 2)
}

/// `kiln::hard_sigmoid.out`: `[x, alpha, beta, out, out]`.
fn hard_sigmoid(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let alpha = ctx.double(1)? as f32;
    let beta = ctx.double(2)? as f32;
    unary_k(ctx, Unary::HardSigmoid { alpha, beta }, 3)
}

// ---- reductions ----------------------------------------------------------------------------

/// `aten::mean.out`: `[x, dims, keepdim, dtype|Null, out, out]` (empty dims = all dims).
fn mean_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let dims = ctx.int_list(1)?;
    let mut raw = [0i64; MAX_RANK];
    let raw = dims
        .read_into(&mut raw)
        .map_err(|_| fail(op, "too many dims"))?;
    let keepdim = ctx.bool(2)?;
    match ctx.tag(3)? {
        Tag::Null => {}
        Tag::Int if ctx.int(3)? == ScalarType::Float as i64 => {}
        _ => return Err(fail(op, "dtype must be Null or FLOAT")),
    }
    let ([x], mut y) = ctx.io([0], 4)?;
    let mut mask = 0u32;
    for &d in raw {
        mask |= 1 << norm_dim(op, d, x.rank())?;
    }
    if raw.is_empty() {
        mask = (1u32 << x.rank()) - 1;
    }
    let (xl, ol) = (layout_ref(op, &x)?, layout_mut(op, &y)?);
    if keepdim != (ol.rank() == xl.rank()) && mask != 0 {
        return Err(fail(op, "output rank does not match keepdim"));
    }
    mean(x.as_f32()?, &xl, mask, y.as_f32_mut()?, &ol).map_err(kerr(op))
}

/// `aten::_softmax.out`: `[x, dim, half_to_float, out, out]`.
fn softmax_k(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    let op = ctx.op();
    let dim = ctx.int(1)?;
    if ctx.bool(2)? {
        return Err(fail(op, "half_to_float is not supported"));
    }
    let ([x], mut y) = ctx.io([0], 3)?;
    let d = if x.rank() == 0 {
        0
    } else {
        norm_dim(op, dim, x.rank())?
    };
    let (xl, ol) = (layout_ref(op, &x)?, layout_mut(op, &y)?);
    softmax(x.as_f32()?, &xl, d, y.as_f32_mut()?, &ol).map_err(kerr(op))
}
