//! int8 operators with ONNX Runtime's arithmetic, for QDQ ONNX models (`IntSemantics::OnnxRuntime`).
//!
//! ONNX Runtime fuses `DequantizeLinear -> op -> QuantizeLinear` into integer kernels
//! (`QLinearConv`, `QGemm`, `QLinearAdd`, `QLinearAveragePool`, `QLinearGlobalAveragePool`,
//! `QLinearConcat`) whose requantization differs from TFLite's: MLAS scales the int32
//! accumulator by an f32 factor and rounds half to even (`MlasRequantizeOutput`), averages in
//! f32, and adds in f32. The accumulation stays integer exactly where ONNX Runtime's does
//! (convolution, GEMM, global average); f32 is used only where ONNX Runtime uses it.
//!
//! On x86, ONNX Runtime first rewrites int8 `QuantizeLinear -> DequantizeLinear` pairs to uint8
//! (`QDQS8ToU8Transformer`): values and zero points are shifted by 128. Integer arithmetic is
//! unaffected, but where a zero point enters f32 arithmetic (`QLinearAdd`, the f32 average pool)
//! the shift changes the rounding of near ties; those kernels take that `domain_offset`
//! (0 or 128) so they reproduce ONNX Runtime bit for bit.

use super::conv::Requantize;
use super::pool::{for_each_window, PoolParams};
use super::quantize::round_half_even;
use super::{check, shape, ActRange, Nhwc};
use crate::ops::OpKind;
use crate::RtError;

/// Largest magnitude kept before rounding: far outside int8, small enough for an exact `i32`.
const LIMIT: f32 = 65536.0;

/// `round_half_even(v)` as an `i32`, with `v` clamped to `[-LIMIT, LIMIT]` first (MLAS clamps
/// to the output range before rounding; the later int8 clamp gives the same result). NaN gives 0.
#[inline(always)]
pub fn round_to_i32(v: f32) -> i32 {
    if v.is_nan() {
        return 0;
    }
    round_half_even(v.clamp(-LIMIT, LIMIT)) as i32
}

/// `a * b + c` with a single rounding (the FMA ONNX Runtime's AVX2 kernels use). The product of
/// two f32 is exact in f64, so only the sum rounds (to f64, then to f32).
#[inline(always)]
pub fn fma(a: f32, b: f32, c: f32) -> f32 {
    (a as f64 * b as f64 + c as f64) as f32
}

/// ONNX Runtime's requantization (`MlasRequantizeOutput`): `round_half_even(f32(acc) * scale)`
/// plus the output zero point, with one f32 scale per output channel or one for all.
#[derive(Clone, Copy, Debug)]
pub struct FloatScales<'a> {
    /// `x_scale * w_scale[c] / y_scale`, computed in f32 in that order (as ONNX Runtime does).
    pub scales: &'a [f32],
}

impl Requantize for FloatScales<'_> {
    fn channels(&self) -> usize {
        self.scales.len()
    }
    fn validate(&self, op: OpKind) -> Result<(), RtError> {
        check(
            self.scales.iter().all(|s| s.is_finite() && *s > 0.0),
            op,
            "requantization scales must be finite and positive",
        )
    }
    #[inline(always)]
    fn requantize(&self, acc: i32, oc: usize, output_offset: i32) -> i32 {
        round_to_i32(acc as f32 * self.scales[oc]).wrapping_add(output_offset)
    }
}

/// Parameters of `QLinearAdd` as MLAS computes them (`MlasQLinearAddKernelAvx2Helper`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QLinearAddParams {
    /// `a_scale / y_scale`.
    pub a_ratio: f32,
    /// `b_scale / y_scale`.
    pub b_ratio: f32,
    /// `y_zp - (a_ratio * a_zp + b_ratio * b_zp)`, zero points in ONNX Runtime's domain.
    pub fixed: f32,
    /// Added to every int8 value to reach ONNX Runtime's domain (0, or 128 for uint8).
    pub domain_offset: i32,
    /// Clamp of the result (int8 domain).
    pub act: ActRange,
}

impl QLinearAddParams {
    /// Decodes `[a_ratio_bits, b_ratio_bits, fixed_bits, domain_offset, act_min, act_max]`.
    pub fn from_list(l: &[i64], op: OpKind) -> Result<Self, RtError> {
        let [ra, rb, fx, off, lo, hi] = l else {
            return Err(RtError::Kernel {
                op,
                what: "params must hold 6 values",
            });
        };
        let bits = |v: i64| {
            u32::try_from(v)
                .map(f32::from_bits)
                .map_err(|_| RtError::Kernel {
                    op,
                    what: "f32 bits out of u32 range",
                })
        };
        let int = |v: i64| {
            i32::try_from(v).map_err(|_| RtError::Kernel {
                op,
                what: "integer parameter out of i32 range",
            })
        };
        let p = QLinearAddParams {
            a_ratio: bits(*ra)?,
            b_ratio: bits(*rb)?,
            fixed: bits(*fx)?,
            domain_offset: int(*off)?,
            act: ActRange {
                min: int(*lo)?,
                max: int(*hi)?,
            }
            .validate(op)?,
        };
        check(
            p.domain_offset == 0 || p.domain_offset == 128,
            op,
            "domain_offset must be 0 or 128",
        )?;
        Ok(p)
    }
}

/// `QLinearAdd` with broadcasting: `y = round(fma(a, a_ratio, fma(b, b_ratio, fixed)))`.
pub fn qlinear_add(
    p: &QLinearAddParams,
    a: &[i8],
    a_shape: &[usize],
    b: &[i8],
    b_shape: &[usize],
    y: &mut [i8],
    y_shape: &[usize],
) -> Result<(), RtError> {
    let off = p.domain_offset;
    shape::broadcast_binary(
        a,
        a_shape,
        b,
        b_shape,
        y,
        y_shape,
        OpKind::KilnQLinearAdd,
        |va, vb| {
            let fa = (va as i32 + off) as f32;
            let fb = (vb as i32 + off) as f32;
            let v = fma(fa, p.a_ratio, fma(fb, p.b_ratio, p.fixed));
            p.act.apply(round_to_i32(v) - off)
        },
    )
}

/// Quantization of an f32-computing ONNX Runtime kernel's input and output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QLinearIo {
    /// Input scale.
    pub x_scale: f32,
    /// Input zero point (int8 domain).
    pub x_zero_point: i32,
    /// Output scale.
    pub y_scale: f32,
    /// Output zero point (int8 domain).
    pub y_zero_point: i32,
    /// 0, or 128 where ONNX Runtime runs the kernel on uint8.
    pub domain_offset: i32,
}

impl QLinearIo {
    /// Decodes `[x_scale_bits, x_zp, y_scale_bits, y_zp, domain_offset]`.
    pub fn from_list(l: &[i64], op: OpKind) -> Result<Self, RtError> {
        let [xs, xz, ys, yz, off] = l else {
            return Err(RtError::Kernel {
                op,
                what: "params must hold 5 values",
            });
        };
        let bits = |v: i64| {
            u32::try_from(v)
                .map(f32::from_bits)
                .map_err(|_| RtError::Kernel {
                    op,
                    what: "f32 bits out of u32 range",
                })
        };
        let int = |v: i64| {
            i32::try_from(v)
                .ok()
                .filter(|z| (-128..=128).contains(z))
                .ok_or(RtError::Kernel {
                    op,
                    what: "zero point or domain offset out of range",
                })
        };
        let io = QLinearIo {
            x_scale: bits(*xs)?,
            x_zero_point: int(*xz)?,
            y_scale: bits(*ys)?,
            y_zero_point: int(*yz)?,
            domain_offset: int(*off)?,
        };
        check(
            io.x_scale.is_finite()
                && io.x_scale > 0.0
                && io.y_scale.is_finite()
                && io.y_scale > 0.0,
            op,
            "scales must be finite and positive",
        )?;
        Ok(io)
    }
}

/// `QLinearAveragePool` (NHWC, 2-D). When the window covers the whole (unpadded) input, ONNX
/// Runtime runs [`qlinear_global_avg_pool`]; otherwise it dequantizes, sums in f32 row by row,
/// divides by the cell count and quantizes `round(avg / y_scale + y_zp)`.
#[allow(clippy::too_many_arguments)]
pub fn qlinear_avg_pool(
    io: &QLinearIo,
    kernel: [usize; 2],
    stride: [usize; 2],
    pads: [usize; 4],
    count_include_pad: bool,
    x: &[i8],
    xs: Nhwc,
    y: &mut [i8],
    ys: Nhwc,
) -> Result<(), RtError> {
    const K: OpKind = OpKind::KilnQLinearAvgPool2d;
    if kernel == [xs.h, xs.w] && pads == [0; 4] {
        return qlinear_global_avg_pool(io, x, xs, y, ys, K);
    }
    let p = PoolParams {
        kernel,
        stride,
        pad: [pads[0], pads[1]],
        act: ActRange::FULL,
    };
    super::pool::validate(K, &p, x, xs, y, ys)?;
    let c = xs.c;
    let full = (kernel[0] * kernel[1]) as f32;
    let y_zp = (io.y_zero_point + io.domain_offset) as f32;
    for_each_window(&p, xs, ys, y, |(r0, r1), (c0, c1), row_base, opix| {
        let count = if count_include_pad {
            full
        } else {
            ((r1 - r0) * (c1 - c0)) as f32
        };
        for (ch, o) in opix.iter_mut().enumerate() {
            let mut sum = 0.0f32;
            for iy in r0..r1 {
                for ix in c0..c1 {
                    let v = x[((row_base + iy) * xs.w + ix) * c + ch] as i32 - io.x_zero_point;
                    sum += io.x_scale * v as f32;
                }
            }
            let avg = sum / count;
            let q = round_to_i32(avg / io.y_scale + y_zp) - io.domain_offset;
            *o = q.clamp(-128, 127) as i8;
        }
        Ok(())
    })
}

/// `QLinearGlobalAveragePool` (NHWC): `acc = sum(x) - x_zp * n` in int32, then
/// `round(acc * (x_scale / (y_scale * n))) + y_zp` (MLAS's x86 kernel).
pub fn qlinear_global_avg_pool(
    io: &QLinearIo,
    x: &[i8],
    xs: Nhwc,
    y: &mut [i8],
    ys: Nhwc,
    op: OpKind,
) -> Result<(), RtError> {
    check(
        xs.numel() == Some(x.len()) && ys.numel() == Some(y.len()),
        op,
        "tensor size does not match its NHWC shape",
    )?;
    check(
        xs.n == ys.n && xs.c == ys.c && ys.h == 1 && ys.w == 1,
        op,
        "global average output must be [n, 1, 1, c]",
    )?;
    let n = xs.h * xs.w;
    check(
        (1..0x100_0000).contains(&n),
        op,
        "image size outside ONNX Runtime's range",
    )?;
    let scale = io.x_scale / (io.y_scale * n as f32);
    let bias = -io.x_zero_point * n as i32;
    let c = xs.c;
    for (b, yrow) in y.chunks_exact_mut(c.max(1)).enumerate() {
        let img = &x[b * n * c..(b + 1) * n * c];
        for (ch, o) in yrow.iter_mut().enumerate() {
            let acc = img
                .iter()
                .skip(ch)
                .step_by(c)
                .fold(bias, |a, &v| a.wrapping_add(v as i32));
            *o = (round_to_i32(acc as f32 * scale) + io.y_zero_point).clamp(-128, 127) as i8;
        }
    }
    Ok(())
}

/// One input of an ONNX Runtime concatenation (`QLinearConcat`, or `DequantizeLinear ->
/// Concat -> QuantizeLinear` in f32): `round_half_even((x - x_zp) * x_scale / y_scale) + y_zp`,
/// or a copy when the quantizations are equal. Layout as [`super::concat::concat_part`].
pub fn qlinear_concat_part(
    x: &[i8],
    x_inner: usize,
    xq: (f32, i32),
    y: &mut [i8],
    y_inner: usize,
    offset: usize,
    yq: (f32, i32),
) -> Result<(), RtError> {
    const K: OpKind = OpKind::KilnQLinearConcat;
    check(x_inner >= 1 && y_inner >= 1, K, "empty concatenation rows")?;
    check(
        x.len() % x_inner == 0 && y.len() % y_inner == 0 && x.len() / x_inner == y.len() / y_inner,
        K,
        "input and output outer sizes differ",
    )?;
    check(
        offset.checked_add(x_inner).is_some_and(|e| e <= y_inner),
        K,
        "input does not fit in the output row",
    )?;
    let same = xq.1 == yq.1 && xq.0.to_bits() == yq.0.to_bits();
    for (src, dst) in x.chunks_exact(x_inner).zip(y.chunks_exact_mut(y_inner)) {
        let dst = &mut dst[offset..offset + x_inner];
        if same {
            dst.copy_from_slice(src);
            continue;
        }
        for (o, &v) in dst.iter_mut().zip(src) {
            let f = (v as i32 - xq.1) as f32 * xq.0;
            *o = (round_to_i32(f / yq.0) + yq.1).clamp(-128, 127) as i8;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::int8::conv::{conv2d_with, ConvParams};
    use crate::kernels::int8::fully_connected::{fully_connected_with, FcParams};

    #[test]
    fn requantize_rounds_half_to_even_then_adds_the_zero_point() {
        let q = FloatScales {
            scales: &[0.5, 0.25],
        };
        // 2.5 -> 2, 3.5 -> 4, -2.5 -> -2 (TFLM's half-away rounding gives 3, 4, -3).
        assert_eq!(q.requantize(5, 0, 0), 2);
        assert_eq!(q.requantize(7, 0, 0), 4);
        assert_eq!(q.requantize(-5, 0, 10), 8);
        // Channel 1: 10 * 0.25 = 2.5 -> 2, plus zero point -3.
        assert_eq!(q.requantize(10, 1, -3), -1);
        // Far out of range saturates instead of overflowing.
        assert_eq!(q.requantize(i32::MAX, 0, 0), LIMIT as i32);
        assert!(FloatScales { scales: &[0.0] }
            .validate(OpKind::KilnQLinearConv2d)
            .is_err());
    }

    #[test]
    fn fma_rounds_once() {
        let a = 1.0 + 1.0 / 4096.0; // 1 + 2^-12
                                    // a * a = 1 + 2^-11 + 2^-24: the 2^-24 is lost when the product is rounded first.
        assert_eq!(fma(a, a, -1.0), 1.0 / 2048.0 + 1.0 / 16_777_216.0);
        assert_eq!(a * a - 1.0, 1.0 / 2048.0);
    }

    #[test]
    fn qlinear_conv_1x1_per_channel() {
        // x [1,1,2,2] zp 1 (offset -1); two filters of one tap each over 2 channels.
        let p = ConvParams {
            stride: [1, 1],
            dilation: [1, 1],
            pad: [0, 0],
            input_offset: -1,
            output_offset: 3,
            act: ActRange::FULL,
        };
        let x = [3i8, 5, -1, 1];
        let w = [1i8, 2, -1, 1];
        let bias = [1i32, 0];
        let q = FloatScales {
            scales: &[0.5, 0.25],
        };
        let mut y = [0i8; 4];
        conv2d_with(
            OpKind::KilnQLinearConv2d,
            &p,
            &x,
            Nhwc::new(1, 1, 2, 2),
            &w,
            Nhwc::new(2, 1, 1, 2),
            Some(&bias),
            &q,
            &mut y,
            Nhwc::new(1, 1, 2, 2),
        )
        .unwrap();
        // Pixel 0: x - zp = (2, 4). ch0: 2 + 8 + 1 = 11 -> 5.5 -> 6, +3 = 9.
        // ch1: -2 + 4 = 2 -> 0.5 -> 0, +3 = 3. Pixel 1: x - zp = (-2, 0).
        // ch0: -2 + 1 = -1 -> -0.5 -> -0 -> 3. ch1: 2 -> 0.5 -> 0 -> 3.
        assert_eq!(y, [9, 3, 3, 3]);
    }

    #[test]
    fn qgemm_applies_the_weight_zero_point_per_tensor() {
        let p = FcParams {
            input_offset: 0,
            filter_offset: -2,
            output_offset: 0,
            act: ActRange { min: -128, max: 5 },
        };
        let x = [1i8, 2, 3];
        let w = [2i8, 3, 4, 10, 10, 10];
        let q = FloatScales { scales: &[1.0] };
        let mut y = [0i8; 2];
        fully_connected_with(
            OpKind::KilnQLinearLinear,
            &p,
            true,
            &x,
            &w,
            None,
            &q,
            &mut y,
            3,
            2,
        )
        .unwrap();
        // (w - 2): [0, 1, 2] -> 2 + 6 = 8 -> clamped to 5; [8, 8, 8] -> 48 -> 5.
        assert_eq!(y, [5, 5]);
        let p = FcParams {
            act: ActRange::FULL,
            ..p
        };
        fully_connected_with(
            OpKind::KilnQLinearLinear,
            &p,
            true,
            &x,
            &w,
            Some(&[-20, 0]),
            &q,
            &mut y,
            3,
            2,
        )
        .unwrap();
        assert_eq!(y, [-12, 48]);
    }

    fn add_params(sa: f32, za: i32, sb: f32, zb: i32, sy: f32, zy: i32) -> QLinearAddParams {
        let off = 128;
        let (ra, rb) = (sa / sy, sb / sy);
        QLinearAddParams {
            a_ratio: ra,
            b_ratio: rb,
            fixed: (zy + off) as f32 - (ra * (za + off) as f32 + rb * (zb + off) as f32),
            domain_offset: off,
            act: ActRange::FULL,
        }
    }

    #[test]
    fn qlinear_add_hand_checked_with_broadcast() {
        // a: scale 0.5 zp 0; b: scale 0.25 zp -4; y: scale 1 zp 10.
        let p = add_params(0.5, 0, 0.25, -4, 1.0, 10);
        let a = [3i8, -3, 100, 1];
        let b = [4i8]; // real 2.0
        let mut y = [0i8; 4];
        qlinear_add(&p, &a, &[4], &b, &[1], &mut y, &[4]).unwrap();
        // 1.5 + 2 = 3.5 -> 4 (+10); -1.5 + 2 = 0.5 -> 0; 50 + 2 = 52; 0.5 + 2 = 2.5 -> 2.
        assert_eq!(y, [14, 10, 62, 12]);
        // Saturation and the clamp.
        let p2 = QLinearAddParams {
            act: ActRange { min: 0, max: 60 },
            ..p
        };
        qlinear_add(&p2, &[127, -128], &[2], &b, &[1], &mut y[..2], &[2]).unwrap();
        assert_eq!(&y[..2], &[60, 0]);
        // Param decoding checks the domain offset.
        let l = [
            p.a_ratio.to_bits() as i64,
            p.b_ratio.to_bits() as i64,
            p.fixed.to_bits() as i64,
            128,
            -128,
            127,
        ];
        assert_eq!(
            QLinearAddParams::from_list(&l, OpKind::KilnQLinearAdd).unwrap(),
            p
        );
        let mut bad = l;
        bad[3] = 5;
        assert!(QLinearAddParams::from_list(&bad, OpKind::KilnQLinearAdd).is_err());
    }

    fn io(xs: f32, xz: i32, ys: f32, yz: i32) -> QLinearIo {
        QLinearIo {
            x_scale: xs,
            x_zero_point: xz,
            y_scale: ys,
            y_zero_point: yz,
            domain_offset: 128,
        }
    }

    #[test]
    fn avg_pool_in_f32_with_and_without_padded_cells() {
        // 1x2x2x1 input, 2x2 window, stride 1, padding 1 on the bottom/right only: 4 outputs.
        let x = [1i8, 2, 3, 6]; // zp 0, scale 1 -> values as is.
        let xs = Nhwc::new(1, 2, 2, 1);
        let mut y = [0i8; 4];
        let q = io(1.0, 0, 1.0, 0);
        qlinear_avg_pool(&q, [2, 2], [1, 1], [0, 0, 1, 1], false, &x, xs, &mut y, xs).unwrap();
        // (1+2+3+6)/4 = 3; (2+6)/2 = 4; (3+6)/2 = 4.5 -> 4 (even); 6.
        assert_eq!(y, [3, 4, 4, 6]);
        qlinear_avg_pool(&q, [2, 2], [1, 1], [0, 0, 1, 1], true, &x, xs, &mut y, xs).unwrap();
        // Divided by 4: 3; 2; 2.25 -> 2; 1.5 -> 2.
        assert_eq!(y, [3, 2, 2, 2]);
        // Rescaling: x scale 0.5 zp 2, y scale 0.25 zp -1: 1x1 windows, values (x-2)*2 - 1.
        let q = io(0.5, 2, 0.25, -1);
        qlinear_avg_pool(&q, [1, 1], [1, 1], [0; 4], false, &x, xs, &mut y, xs).unwrap();
        assert_eq!(y, [-3, -1, 1, 7]);
    }

    #[test]
    fn global_average_is_integer_then_scaled() {
        // Two images of 2x2x2 (h, w, c), x zp 1; y scale = x scale: mean of (x - 1).
        let x = [1i8, 10, 2, 20, 3, 30, 5, 40, -7, 0, -7, 0, -7, 0, -6, 1];
        let xs = Nhwc::new(2, 2, 2, 2);
        let ys = Nhwc::new(2, 1, 1, 2);
        let mut y = [0i8; 4];
        let q = io(0.1, 1, 0.1, 0);
        qlinear_global_avg_pool(&q, &x, xs, &mut y, ys, OpKind::KilnQLinearGlobalAvgPool).unwrap();
        // ch0: (0+1+2+4)/4 = 1.75 -> 2; ch1: (9+19+29+39)/4 = 24;
        // image 2: ch0: (-8*3 - 7)/4 = -7.75 -> -8; ch1: (-1*3 + 0)/4 = -0.75 -> -1.
        assert_eq!(y, [2, 24, -8, -1]);
        // A whole-input average pool takes the same path.
        let mut y2 = [0i8; 4];
        qlinear_avg_pool(&q, [2, 2], [1, 1], [0; 4], false, &x, xs, &mut y2, ys).unwrap();
        assert_eq!(y2, y);
        assert!(qlinear_global_avg_pool(
            &q,
            &x,
            xs,
            &mut y[..2],
            ys,
            OpKind::KilnQLinearGlobalAvgPool
        )
        .is_err());
    }

    #[test]
    fn concat_requantizes_half_to_even() {
        // Input scale 0.5 zp 1 into output scale 1 zp 0: (x - 1) / 2.
        let x = [2i8, 4, 0, 127];
        let mut y = [9i8; 8];
        qlinear_concat_part(&x, 2, (0.5, 1), &mut y, 4, 1, (1.0, 0)).unwrap();
        // Rows [2, 4] -> [0.5 -> 0, 1.5 -> 2]; [0, 127] -> [-0.5 -> 0, 63].
        assert_eq!(y, [9, 0, 2, 9, 9, 0, 63, 9]);
        qlinear_concat_part(&x, 2, (1.0, 0), &mut y, 4, 0, (1.0, 0)).unwrap();
        assert_eq!(&y[..2], &[2, 4]);
        assert!(qlinear_concat_part(&x, 2, (1.0, 0), &mut y, 4, 3, (1.0, 0)).is_err());
    }
}
