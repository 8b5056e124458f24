//! Data movement for any dtype: buffers are bytes, layouts count elements of `elem` bytes.

use super::{check_rank, KernelError, Layout};

fn check_bytes(what: &'static str, l: &Layout, len: usize, elem: usize) -> Result<(), KernelError> {
    let need = l.span().checked_mul(elem).ok_or(KernelError::Overflow)?;
    if need > len {
        return Err(KernelError::BufferTooSmall {
            what,
            need: l.span(),
            have: len / elem.max(1),
        });
    }
    Ok(())
}

fn check_elem(elem: usize) -> Result<(), KernelError> {
    if elem == 0 {
        return Err(KernelError::Param {
            what: "element size 0",
        });
    }
    Ok(())
}

/// Copies the logical elements of `src` (in row-major logical order) to those of `dst`.
/// The two views must have the same number of elements (their shapes may differ: a reshape).
pub fn copy_elements(
    src: &[u8],
    sl: &Layout,
    dst: &mut [u8],
    dl: &Layout,
    elem: usize,
) -> Result<(), KernelError> {
    check_elem(elem)?;
    check_bytes("input", sl, src.len(), elem)?;
    check_bytes("output", dl, dst.len(), elem)?;
    if sl.numel() != dl.numel() {
        return Err(KernelError::Shape {
            what: "element counts differ",
        });
    }
    if sl.is_contiguous() && dl.is_contiguous() {
        let n = sl.numel() * elem;
        let (s, d) = (sl.offset() * elem, dl.offset() * elem);
        dst[d..d + n].copy_from_slice(&src[s..s + n]);
        return Ok(());
    }
    // Rows that are contiguous on both sides (same shape, unit inner stride) copy as blocks.
    let r = sl.rank();
    if r > 0 && sl.sizes() == dl.sizes() && sl.stride(r - 1) == 1 && dl.stride(r - 1) == 1 {
        let row = sl.size(r - 1);
        let rs = sl.narrowed(r - 1, 0, row.min(1))?;
        let rd = dl.narrowed(r - 1, 0, row.min(1))?;
        let n = row * elem;
        for (so, doff) in rs.offsets().zip(rd.offsets()) {
            let (s, d) = (so * elem, doff * elem);
            dst[d..d + n].copy_from_slice(&src[s..s + n]);
        }
        return Ok(());
    }
    for (so, doff) in sl.offsets().zip(dl.offsets()) {
        let (s, d) = (so * elem, doff * elem);
        dst[d..d + elem].copy_from_slice(&src[s..s + elem]);
    }
    Ok(())
}

/// `aten::permute_copy`: `dst[i0, i1, ..] = src[.. i_k at dim perm[k] ..]`, i.e. output dim `k` is input dim `perm[k]`.
pub fn permute_copy(
    src: &[u8],
    sl: &Layout,
    perm: &[usize],
    dst: &mut [u8],
    dl: &Layout,
    elem: usize,
) -> Result<(), KernelError> {
    let view = sl.permuted(perm)?;
    if view.sizes() != dl.sizes() {
        return Err(KernelError::Shape {
            what: "output sizes != permuted input sizes",
        });
    }
    copy_elements(src, &view, dst, dl, elem)
}

/// Copies `src` into the slab `start..start + src.size(dim)` of `dst` along `dim` (one `aten::cat` input).
pub fn cat_part(
    src: &[u8],
    sl: &Layout,
    dst: &mut [u8],
    dl: &Layout,
    dim: usize,
    start: usize,
    elem: usize,
) -> Result<(), KernelError> {
    if sl.rank() != dl.rank() || dim >= dl.rank() {
        return Err(KernelError::Shape {
            what: "cat input rank != output rank (or dim out of range)",
        });
    }
    for d in 0..dl.rank() {
        if d != dim && sl.size(d) != dl.size(d) {
            return Err(KernelError::Shape {
                what: "cat inputs differ outside the cat dim",
            });
        }
    }
    let slab = dl.narrowed(dim, start, sl.size(dim))?;
    copy_elements(src, sl, dst, &slab, elem)
}

/// `aten::constant_pad_nd` with non-negative pads: `dst` is filled with `value` (one element's
/// bytes) and `src` is copied at offset `before[d]` in each dim `d`.
pub fn constant_pad(
    src: &[u8],
    sl: &Layout,
    before: &[usize],
    value: &[u8],
    dst: &mut [u8],
    dl: &Layout,
    elem: usize,
) -> Result<(), KernelError> {
    check_elem(elem)?;
    check_bytes("output", dl, dst.len(), elem)?;
    if value.len() != elem {
        return Err(KernelError::Param {
            what: "pad value size != element size",
        });
    }
    if sl.rank() != dl.rank() || before.len() != dl.rank() {
        return Err(KernelError::Shape {
            what: "pad input/output/pads ranks differ",
        });
    }
    for o in dl.offsets() {
        dst[o * elem..o * elem + elem].copy_from_slice(value);
    }
    let mut inner = *dl;
    for (d, &b) in before.iter().enumerate() {
        inner = inner.narrowed(d, b, sl.size(d))?;
    }
    copy_elements(src, sl, dst, &inner, elem)
}

/// Input coordinate for output coordinate `o` of TFLite's RESIZE_NEAREST_NEIGHBOR.
pub fn nearest_source(
    o: usize,
    in_size: usize,
    out_size: usize,
    align_corners: bool,
    half_pixel_centers: bool,
) -> usize {
    let scale = if align_corners && out_size > 1 {
        (in_size as f32 - 1.0) / (out_size as f32 - 1.0)
    } else {
        in_size as f32 / out_size as f32
    };
    let offset = if half_pixel_centers { 0.5 } else { 0.0 };
    let pos = (o as f32 + offset) * scale;
    // pos >= 0: `as` truncation is floor; round half away from zero is floor(pos + 0.5).
    let i = if align_corners {
        (pos + 0.5) as usize
    } else {
        pos as usize
    };
    i.min(in_size.saturating_sub(1))
}

/// Nearest-neighbour resize of `[N, H, W, C]` views (TFLite semantics) for any dtype.
pub fn resize_nearest_nhwc(
    src: &[u8],
    sl: &Layout,
    dst: &mut [u8],
    dl: &Layout,
    align_corners: bool,
    half_pixel_centers: bool,
    elem: usize,
) -> Result<(), KernelError> {
    check_elem(elem)?;
    check_rank("input", sl, 4)?;
    check_rank("output", dl, 4)?;
    check_bytes("input", sl, src.len(), elem)?;
    check_bytes("output", dl, dst.len(), elem)?;
    if sl.size(0) != dl.size(0) || sl.size(3) != dl.size(3) {
        return Err(KernelError::Shape {
            what: "output batch/channels != input batch/channels",
        });
    }
    let (ih, iw, oh, ow) = (sl.size(1), sl.size(2), dl.size(1), dl.size(2));
    if (ih == 0 || iw == 0) && dl.numel() > 0 {
        return Err(KernelError::Shape {
            what: "resize of an empty image",
        });
    }
    let (ss, ds) = (sl.strides(), dl.strides());
    for n in 0..dl.size(0) {
        for y in 0..oh {
            let sy = nearest_source(y, ih, oh, align_corners, half_pixel_centers);
            for x in 0..ow {
                let sx = nearest_source(x, iw, ow, align_corners, half_pixel_centers);
                for c in 0..dl.size(3) {
                    let s = (sl.offset() + n * ss[0] + sy * ss[1] + sx * ss[2] + c * ss[3]) * elem;
                    let d = (dl.offset() + n * ds[0] + y * ds[1] + x * ds[2] + c * ds[3]) * elem;
                    dst[d..d + elem].copy_from_slice(&src[s..s + elem]);
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

    fn l(s: &[usize]) -> Layout {
        Layout::contiguous(s).unwrap()
    }

    fn bytes_i16(v: &[i16]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn i16s(b: &[u8]) -> Vec<i16> {
        b.chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn permute_nchw_to_nhwc_and_transpose() {
        // [1, 2, 2, 3] NCHW values 0..12 -> [1, 2, 3, 2] (NHWC)
        let src = bytes_i16(&(0..12).collect::<Vec<i16>>());
        let mut dst = vec![0u8; 24];
        permute_copy(
            &src,
            &l(&[1, 2, 2, 3]),
            &[0, 2, 3, 1],
            &mut dst,
            &l(&[1, 2, 3, 2]),
            2,
        )
        .unwrap();
        assert_eq!(i16s(&dst), [0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11]);
        // 2-D transpose of f32 as bytes (4-byte elements), odd size.
        let m: Vec<u8> = (0..15u32).flat_map(|v| (v as f32).to_le_bytes()).collect();
        let mut t = vec![0u8; 60];
        permute_copy(&m, &l(&[3, 5]), &[1, 0], &mut t, &l(&[5, 3]), 4).unwrap();
        let tv: Vec<f32> = t
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(tv[..6], [0.0, 5.0, 10.0, 1.0, 6.0, 11.0]);
        assert!(permute_copy(&m, &l(&[3, 5]), &[0, 0], &mut t, &l(&[5, 3]), 4).is_err());
        assert!(permute_copy(&m, &l(&[3, 5]), &[1, 0], &mut t, &l(&[3, 5]), 4).is_err());
    }

    #[test]
    fn view_copy_from_channels_last_is_logical_order() {
        // Logical [1, 2, 1, 2] NCHW tensor stored channels-last; flattening follows logical order.
        let src = [1u8, 3, 2, 4]; // memory: (h0w0: c0=1, c1=3), (h0w1: c0=2, c1=4)
        let sl = Layout::with_dim_order(&[1, 2, 1, 2], &[0, 2, 3, 1]).unwrap();
        let mut dst = [0u8; 4];
        copy_elements(&src, &sl, &mut dst, &l(&[4]), 1).unwrap();
        assert_eq!(dst, [1, 2, 3, 4]);
        assert!(copy_elements(&src, &sl, &mut dst[..3], &l(&[3]), 1).is_err());
    }

    #[test]
    fn cat_along_each_dim() {
        let a = [1u8, 2, 3, 4]; // [2, 2]
        let b = [5u8, 6]; // [2, 1] or [1, 2]
        let mut out = [0u8; 6];
        cat_part(&a, &l(&[2, 2]), &mut out, &l(&[2, 3]), 1, 0, 1).unwrap();
        cat_part(&b, &l(&[2, 1]), &mut out, &l(&[2, 3]), 1, 2, 1).unwrap();
        assert_eq!(out, [1, 2, 5, 3, 4, 6]);
        cat_part(&a, &l(&[2, 2]), &mut out, &l(&[3, 2]), 0, 0, 1).unwrap();
        cat_part(&b, &l(&[1, 2]), &mut out, &l(&[3, 2]), 0, 2, 1).unwrap();
        assert_eq!(out, [1, 2, 3, 4, 5, 6]);
        assert!(cat_part(&b, &l(&[1, 2]), &mut out, &l(&[3, 2]), 0, 3, 1).is_err());
        assert!(cat_part(&b, &l(&[2, 1]), &mut out, &l(&[3, 2]), 0, 0, 1).is_err());
    }

    #[test]
    fn constant_pad_2d() {
        let src = bytes_i16(&[1, 2, 3, 4]); // [2, 2]
        let mut dst = vec![0u8; 2 * 3 * 5];
        constant_pad(
            &src,
            &l(&[2, 2]),
            &[0, 2],
            &(-7i16).to_le_bytes(),
            &mut dst,
            &l(&[3, 5]),
            2,
        )
        .unwrap();
        assert_eq!(
            i16s(&dst),
            [-7, -7, 1, 2, -7, -7, -7, 3, 4, -7, -7, -7, -7, -7, -7]
        );
        assert!(constant_pad(
            &src,
            &l(&[2, 2]),
            &[2, 0],
            &[0, 0],
            &mut dst,
            &l(&[3, 5]),
            2
        )
        .is_err());
    }

    #[test]
    fn resize_nearest_tflite_modes() {
        // 1-D checks of the coordinate rule (TFLite reference): in 3 -> out 5.
        let m = |ac, hp| {
            (0..5)
                .map(|o| nearest_source(o, 3, 5, ac, hp))
                .collect::<Vec<_>>()
        };
        assert_eq!(m(false, false), [0, 0, 1, 1, 2]); // floor(o * 0.6)
        assert_eq!(m(true, false), [0, 1, 1, 2, 2]); // round(o * 0.5)
        assert_eq!(m(false, true), [0, 0, 1, 2, 2]); // floor((o + .5) * .6)
                                                     // Upscale 2x2 -> 4x4, 2 channels, NHWC.
        let src: Vec<u8> = (0..8).collect();
        let mut dst = [0u8; 32];
        resize_nearest_nhwc(
            &src,
            &l(&[1, 2, 2, 2]),
            &mut dst,
            &l(&[1, 4, 4, 2]),
            false,
            false,
            1,
        )
        .unwrap();
        assert_eq!(&dst[..8], &[0, 1, 0, 1, 2, 3, 2, 3]);
        assert_eq!(&dst[24..], &[4, 5, 4, 5, 6, 7, 6, 7]);
    }
}
