//! CONCATENATION int8 (copy when the quantization matches, as TFLM requires) and
//! RESIZE_NEAREST_NEIGHBOR (any element type, TFLite `reference_ops::ResizeNearestNeighbor`).

use super::check;
use super::quantize::{floor, round_half_away};
use crate::ops::OpKind;
use crate::RtError;

/// Per-tensor quantization of a concatenation operand, as the `.pte` carries it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConcatQuant {
    /// Zero point.
    pub zero_point: i32,
    /// Scale.
    pub scale: f32,
}

/// Copies one input of a concatenation into its place in the output.
///
/// The concatenation axis splits both tensors into `outer` rows: the input's rows are
/// `x_inner` long (its size from the axis inward), the output's `y_inner`, and this input
/// starts at `offset` within each output row. When the input's quantization equals the
/// output's, this is a copy (TFLM only accepts that case); otherwise the values are rescaled
/// as TFLite's `ConcatenationWithScaling` does, in f32 with round-half-away.
pub fn concat_part(
    x: &[i8],
    x_inner: usize,
    xq: ConcatQuant,
    y: &mut [i8],
    y_inner: usize,
    offset: usize,
    yq: ConcatQuant,
) -> Result<(), RtError> {
    const K: OpKind = OpKind::KilnQuantizedConcat;
    check(x_inner >= 1 && y_inner >= 1, K, "empty concatenation rows")?;
    check(
        x.len() % x_inner == 0 && y.len() % y_inner == 0,
        K,
        "size not a multiple of the row length",
    )?;
    check(
        x.len() / x_inner == y.len() / y_inner,
        K,
        "input and output outer sizes differ",
    )?;
    check(
        offset.checked_add(x_inner).is_some_and(|e| e <= y_inner),
        K,
        "input does not fit in the output row",
    )?;
    let same = xq.zero_point == yq.zero_point && xq.scale.to_bits() == yq.scale.to_bits();
    let scale = xq.scale * (1.0 / yq.scale);
    let bias = -(xq.zero_point as f32) * scale;
    for (src, dst) in x.chunks_exact(x_inner).zip(y.chunks_exact_mut(y_inner)) {
        let dst = &mut dst[offset..offset + x_inner];
        if same {
            dst.copy_from_slice(src);
        } else {
            for (o, &v) in dst.iter_mut().zip(src) {
                let r = round_half_away(v as f32 * scale + bias);
                let r = if r.is_nan() {
                    0.0
                } else {
                    r.clamp(-1024.0, 1024.0)
                };
                *o = (r as i32 + yq.zero_point).clamp(-128, 127) as i8;
            }
        }
    }
    Ok(())
}

/// TFLite `GetNearestNeighbor`: the source index of output index `out` along one axis.
fn nearest(
    out: usize,
    in_size: usize,
    out_size: usize,
    align_corners: bool,
    half_pixel_centers: bool,
) -> usize {
    let scale = if align_corners && out_size > 1 {
        (in_size - 1) as f32 / (out_size - 1) as f32
    } else {
        in_size as f32 / out_size as f32
    };
    let offset = if half_pixel_centers { 0.5f32 } else { 0.0 };
    let v = (out as f32 + offset) * scale;
    let idx = if align_corners {
        round_half_away(v)
    } else {
        floor(v)
    };
    // Non-negative by construction; min with the last index as TFLite does.
    (idx.max(0.0) as usize).min(in_size - 1)
}

/// RESIZE_NEAREST_NEIGHBOR over NHWC `[n, h, w, c]` to `[n, out_h, out_w, c]`, any element type.
#[allow(clippy::too_many_arguments)]
pub fn resize_nearest<T: Copy>(
    x: &[T],
    in_shape: [usize; 4],
    y: &mut [T],
    out_hw: [usize; 2],
    align_corners: bool,
    half_pixel_centers: bool,
) -> Result<(), RtError> {
    const K: OpKind = OpKind::KilnResizeNearest;
    let [n, h, w, c] = in_shape;
    let [oh, ow] = out_hw;
    let numel =
        |a: usize, b: usize, cc: usize, d: usize| a.checked_mul(b)?.checked_mul(cc)?.checked_mul(d);
    check(
        numel(n, h, w, c) == Some(x.len()),
        K,
        "input size does not match its NHWC shape",
    )?;
    check(
        numel(n, oh, ow, c) == Some(y.len()),
        K,
        "output size does not match its NHWC shape",
    )?;
    check(
        h >= 1 && w >= 1 || y.is_empty(),
        K,
        "empty input with a non-empty output",
    )?;
    if y.is_empty() {
        return Ok(());
    }
    // f32 index math is exact only below 2^24.
    check(
        h.max(w).max(oh).max(ow) < (1 << 23),
        K,
        "spatial size too large",
    )?;
    let mut out = y.chunks_exact_mut(c.max(1));
    for b in 0..n {
        for oy in 0..oh {
            let iy = nearest(oy, h, oh, align_corners, half_pixel_centers);
            for ox in 0..ow {
                let ix = nearest(ox, w, ow, align_corners, half_pixel_centers);
                let src = ((b * h + iy) * w + ix) * c;
                if let Some(dst) = out.next() {
                    dst.copy_from_slice(&x[src..src + c]);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_copies_and_rescales() {
        let q = ConcatQuant {
            zero_point: 1,
            scale: 0.5,
        };
        // Two rows; input rows of 2 into output rows of 5 at offset 3.
        let mut y = [0i8; 10];
        concat_part(&[1, 2, 3, 4], 2, q, &mut y, 5, 3, q).unwrap();
        assert_eq!(y, [0, 0, 0, 1, 2, 0, 0, 0, 3, 4]);
        // Input scale 0.25 zp 0 into output scale 0.5 zp 1: v * 0.5 + 1, ties away.
        let xq = ConcatQuant {
            zero_point: 0,
            scale: 0.25,
        };
        concat_part(&[3, -3, 127, -128], 2, xq, &mut y, 5, 0, q).unwrap();
        assert_eq!(&y[..2], &[3, -1]); // 1.5 -> 2 + 1 ; -1.5 -> -2 + 1
        assert_eq!(&y[5..7], &[65, -63]);
        assert!(concat_part(&[1, 2, 3, 4], 2, q, &mut y, 5, 4, q).is_err());
        assert!(concat_part(&[1, 2, 3], 3, q, &mut y, 5, 0, q).is_err());
    }

    #[test]
    fn resize_nearest_modes() {
        // 1x2x2x1 -> 1x4x4x1, plain: each source pixel repeated 2x2.
        let x = [1i8, 2, 3, 4];
        let mut y = [0i8; 16];
        resize_nearest(&x, [1, 2, 2, 1], &mut y, [4, 4], false, false).unwrap();
        assert_eq!(y, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
        // 1x3 -> 1x5 along width, align_corners: scale 0.5, idx round(0, .5, 1, 1.5, 2) = 0,1,1,2,2.
        let x = [10i8, 20, 30];
        let mut y = [0i8; 5];
        resize_nearest(&x, [1, 1, 3, 1], &mut y, [1, 5], true, false).unwrap();
        assert_eq!(y, [10, 20, 20, 30, 30]);
        // half_pixel_centers: scale 0.6, floor((o + .5) * .6) = 0, 0, 1, 2, 2.
        resize_nearest(&x, [1, 1, 3, 1], &mut y, [1, 5], false, true).unwrap();
        assert_eq!(y, [10, 10, 20, 30, 30]);
        // Downscale 4 -> 2 with f32 elements and channels.
        let xf = [0.0f32, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5];
        let mut yf = [0f32; 4];
        resize_nearest(&xf, [1, 1, 4, 2], &mut yf, [1, 2], false, false).unwrap();
        assert_eq!(yf, [0.0, 0.5, 2.0, 2.5]);
        assert!(resize_nearest(&xf, [1, 1, 4, 1], &mut yf, [1, 2], false, false).is_err());
    }
}
