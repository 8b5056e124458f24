//! PAD (and PADV2 / ONNX Pad with a constant) that is not folded into a convolution: the NPU
//! writes the whole padded output.
//!
//! - The interior is a 1x1 copy of the input into its place in the output (a strided write at
//!   the offset of the first unpadded element, with the output's row and column strides).
//! - Each border (top and bottom rows, left and right columns, channels before and after) is
//!   filled by a 1x1 average pool over the border itself whose OFM scale is 0: the rescaled
//!   value is 0 whatever the IFM holds, and the OFM zero point register, set to the quantized
//!   pad value, is what reaches memory (`0 + zp`, inside the clamp). The pool reads the memory
//!   it writes (an in-place 1x1 operation, each element read before its own write), so it needs
//!   no constant data. (Vela's `convert_pad`, `tflite_graph_optimiser.py`,
//!   copies constant tensors of the zero point into the borders with average pools instead,
//!   and pads only H and W.)
//!
//! The pad value is quantized as the CPU kernel quantizes it (`float_to_quantized_i8`), so an
//! int8 TFLite PAD (value 0.0, i.e. the zero point) and explicit constants both match.

use super::{hwc, io, pool_view, qparams, view, Ctx, Refusal};
use crate::ethos_u::npu_op::{NpuOp, Scale};
use crate::ir::Node;
use crate::quant;
use kiln_rt::ethos_u::regs::PoolingMode;

/// PAD with `pads[d] = (before, after)` of the constant `value` (real units).
pub(super) fn pad(
    cx: &Ctx<'_>,
    node: &Node,
    pads: &[(usize, usize)],
    value: f32,
) -> Result<Vec<NpuOp>, Refusal> {
    let g = cx.g;
    let (x, y) = io(node)?;
    let (xq, yq) = (qparams(g, x)?, qparams(g, y)?);
    if xq != yq {
        return Err("pad with different input and output quantization".into());
    }
    let xs = &g.tensor(x).shape;
    let ys = &g.tensor(y).shape;
    if pads.len() != xs.len() || xs.len() > 4 {
        return Err(format!("{} pads for input shape {xs:?}", pads.len()));
    }
    if xs.len() == 4 && pads[0] != (0, 0) {
        return Err("padding of the batch axis (the NPU takes batch 1)".into());
    }
    let expect: Vec<usize> = xs.iter().zip(pads).map(|(&d, &(a, b))| d + a + b).collect();
    if &expect != ys {
        return Err(format!(
            "input {xs:?} padded by {pads:?} is not the output's {ys:?}"
        ));
    }
    // [h, w, c] pads of the NHWC view (lower ranks pad the trailing axes).
    let mut p = [(0usize, 0usize); 3];
    for (i, &pd) in pads.iter().rev().take(3).enumerate() {
        p[2 - i] = pd;
    }
    let [h, w, c] = hwc(xs)?;
    let [oh, ow, oc] = hwc(ys)?;
    let fill = quant::float_to_quantized_i8(value, xq.0, xq.1);
    let (bx, by) = (cx.base(x)?, cx.base(y)?);
    // Output strides.
    let (sx, sy) = (oc, oc * ow);
    let at = |r: u32, col: u32, ch: u32| by + r * sy + col * sx + ch;
    let [(t, b), (l, rt), (c0, c1)] = p.map(|(a, b)| (a as u32, b as u32));
    let mut ops = Vec::new();
    // Interior: the input, written at (t, l, c0) of the output.
    let ifm = view(bx, [h, w, c], [c, c * w, 1], xq.1);
    let ofm = view(at(t, l, c0), [h, w, c], [sx, sy, 1], yq.1);
    ops.push(pool_view(
        cx,
        node,
        PoolingMode::Max,
        ifm,
        ofm,
        [1, 1],
        Scale::ONE,
        (-128, 127),
    )?);
    // Borders: (origin row, column, channel) and shape.
    let borders = [
        ((0, 0, 0), [t, ow, oc]),
        ((t + h, 0, 0), [b, ow, oc]),
        ((t, 0, 0), [h, l, oc]),
        ((t, l + w, 0), [h, rt, oc]),
        ((t, l, 0), [h, w, c0]),
        ((t, l, c0 + c), [h, w, c1]),
    ];
    for ((r, col, ch), shape) in borders {
        if shape.contains(&0) {
            continue;
        }
        let fm = view(at(r, col, ch), shape, [sx, sy, 1], 0);
        let mut ofm = fm;
        ofm.zero_point = fill;
        ops.push(pool_view(
            cx,
            node,
            PoolingMode::Average,
            fm,
            ofm,
            [1, 1],
            Scale {
                multiplier: 0,
                shift: 0,
            },
            (-128, 127),
        )?);
    }
    debug_assert_eq!(oh, t + h + b);
    Ok(ops)
}

#[cfg(test)]
mod placement {
    use super::super::test_support::assert_npu;
    use crate::ir::Op;

    #[test]
    fn standalone_pads_land_on_the_npu() {
        let q = (0.05, 3);
        for (x, pads) in [
            (&[1, 32, 32, 3][..], &[(0, 0), (0, 0), (0, 0), (0, 1)][..]), // C 3 -> 4
            (&[1, 32, 32, 3], &[(0, 0), (1, 1), (1, 1), (0, 0)]),
            (&[1, 8, 8, 16], &[(0, 0), (100, 200), (0, 255), (7, 9)]),
            (&[5, 7], &[(1, 2), (3, 0)]),
            (&[4, 5, 6], &[(0, 0), (0, 1), (2, 0)]),
        ] {
            let y: Vec<usize> = x.iter().zip(pads).map(|(&d, &(a, b))| d + a + b).collect();
            let op = Op::Pad {
                pads: pads.to_vec(),
                value: 0.0,
            };
            assert_npu(x, op, &y, q);
        }
    }
}
