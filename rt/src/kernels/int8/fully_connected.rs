//! FULLY_CONNECTED int8 as TFLite Micro runs it (`reference_integer_ops::FullyConnected` with a
//! per-tensor Q31 multiplier, or `FullyConnectedPerChannel`).
//!
//! TFLM and the LiteRT (TFLite) reference interpreter differ here: TFLM requantizes the int32
//! accumulator with `MultiplyByQuantizedMultiplier` (Q31 multiplier, double rounding), while
//! recent LiteRT reference kernels requantize in floating point, `round(acc * double(s_in * s_w /
//! s_out))` (the `FullyConnected(..., float input_scale, float output_scale, float filter_scale)`
//! overload). The two round differently in a few cases, which is why `ad_fc_autoencoder` and
//! `ic_resnet8` goldens differ by 1-2 steps between the two oracles. We match TFLM: it is what
//! Cortex-M firmware runs and what the Ethos-U is specified against, and it needs no floats.

use super::conv::{dot_i8, sum_i8, PerChannel, Requantize};
use super::{check, ActRange};
use crate::ops::OpKind;
use crate::RtError;

/// Offsets and clamp of a FULLY_CONNECTED.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FcParams {
    /// `-input_zero_point`.
    pub input_offset: i32,
    /// `-filter_zero_point` (TFLM applies it on the per-tensor path only; 0 for int8 weights).
    pub filter_offset: i32,
    /// Output zero point.
    pub output_offset: i32,
    /// Fused activation range.
    pub act: ActRange,
}

/// FULLY_CONNECTED int8: `x` is `[batches, k]`, `w` `[n, k]`, `y` `[batches, n]`.
/// `multipliers`/`shifts` hold one entry (per-tensor) or `n` entries (per-channel).
#[allow(clippy::too_many_arguments)]
pub fn fully_connected(
    p: &FcParams,
    x: &[i8],
    w: &[i8],
    bias: Option<&[i32]>,
    multipliers: &[i32],
    shifts: &[i32],
    y: &mut [i8],
    k: usize,
    n: usize,
) -> Result<(), RtError> {
    const K: OpKind = OpKind::CmQuantizedLinear;
    check(
        multipliers.len() == shifts.len() && (multipliers.len() == 1 || multipliers.len() == n),
        K,
        "multipliers/shifts must have 1 or n entries",
    )?;
    let q = PerChannel {
        multipliers,
        shifts,
    };
    // TFLM applies the filter offset on the per-tensor path only.
    let per_channel = multipliers.len() == n && n > 1;
    fully_connected_with(K, p, !per_channel, x, w, bias, &q, y, k, n)
}

/// [`fully_connected`] with any [`Requantize`] holding 1 (per tensor) or `n` channels;
/// `filter_offset` is added to the weights when `use_filter_offset`.
#[allow(clippy::too_many_arguments)]
pub fn fully_connected_with(
    op: OpKind,
    p: &FcParams,
    use_filter_offset: bool,
    x: &[i8],
    w: &[i8],
    bias: Option<&[i32]>,
    q: &impl Requantize,
    y: &mut [i8],
    k: usize,
    n: usize,
) -> Result<(), RtError> {
    p.act.validate(op)?;
    check(k >= 1 && n >= 1, op, "input and output depth must be >= 1")?;
    check(
        x.len() % k == 0,
        op,
        "input size is not a multiple of the weight's input depth",
    )?;
    let batches = x.len() / k;
    check(
        Some(w.len()) == n.checked_mul(k),
        op,
        "weight size differs from [n, k]",
    )?;
    check(
        Some(y.len()) == batches.checked_mul(n),
        op,
        "output size differs from [batches, n]",
    )?;
    if let Some(b) = bias {
        check(b.len() == n, op, "bias length differs from n")?;
    }
    check(
        q.channels() == 1 || q.channels() == n,
        op,
        "requantization parameters must have 1 or n entries",
    )?;
    q.validate(op)?;
    let per_channel = q.channels() == n && n > 1;
    let fo = if use_filter_offset {
        p.filter_offset
    } else {
        0
    };
    let io = p.input_offset;
    // TFLM's sum((x + io) * (w + fo)) expanded: sum(x * w) + io * sum(w) + fo * sum(x)
    // + k * io * fo, equal in wrapping int32; the int8 dot product vectorizes.
    let kiofo = (k as i32).wrapping_mul(io).wrapping_mul(fo);
    for (xrow, yrow) in x.chunks_exact(k).zip(y.chunks_exact_mut(n)) {
        let xterm = fo.wrapping_mul(sum_i8(xrow)).wrapping_add(kiofo);
        for (oc, (wrow, o)) in w.chunks_exact(k).zip(yrow.iter_mut()).enumerate() {
            let mut acc = dot_i8(xrow, wrow)
                .wrapping_add(io.wrapping_mul(sum_i8(wrow)))
                .wrapping_add(xterm);
            if let Some(bias) = bias {
                acc = acc.wrapping_add(bias[oc]);
            }
            let qc = if per_channel { oc } else { 0 };
            *o = p.act.apply(q.requantize(acc, qc, p.output_offset));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_checked_two_batches() {
        // x zp = 2 (offset -2), w zp 0, y zp = -1, scale x0.25 (2^30, -1).
        let p = FcParams {
            input_offset: -2,
            filter_offset: 0,
            output_offset: -1,
            act: ActRange::FULL,
        };
        let x = [3i8, 4, 5, 2, 2, 2];
        let w = [1i8, 2, 3, -1, 0, 1];
        let mut y = [0i8; 4];
        fully_connected(&p, &x, &w, Some(&[2, -3]), &[1 << 30], &[-1], &mut y, 3, 2).unwrap();
        // batch 0: (1,2,3).(1,2,3) = 14 + 2 = 16 * 0.25 = 4 - 1 = 3; (-1,0,1).(1,2,3) = 2 - 3 = -1:
        // srdhm(-1, 0.5) = -0.5 rounds up to 0; 0 - 1 = -1.
        // batch 1: bias only: 2 -> srdhm 1, /2 = 0.5 -> 1 (away); 1 - 1 = 0; -3 -> srdhm -1.5 -> -1,
        // /2 = -0.5 -> -1 (away); -1 - 1 = -2.
        assert_eq!(y, [3, -1, 0, -2]);
    }

    #[test]
    fn per_channel_and_filter_offset_and_saturation() {
        let p = FcParams {
            input_offset: 0,
            filter_offset: 1,
            output_offset: 0,
            act: ActRange {
                min: -128,
                max: 127,
            },
        };
        let x = [100i8, 100];
        let w = [100i8, 100, -100, -100];
        let mut y = [0i8; 2];
        // Per-tensor: filter offset applies: (101 * 100) * 2 = 20200 -> saturates; (-99*100)*2 -> -128.
        fully_connected(&p, &x, &w, None, &[1 << 30], &[1], &mut y, 2, 2).unwrap();
        assert_eq!(y, [127, -128]);
        // Per-channel: filter offset ignored (TFLM FullyConnectedPerChannel), scale 2^-8 and 2^-9.
        fully_connected(
            &p,
            &x,
            &w,
            None,
            &[1 << 30, 1 << 30],
            &[-7, -8],
            &mut y,
            2,
            2,
        )
        .unwrap();
        // 20000 / 256 = 78.125 -> 78 ; -20000 / 512 = -39.06 -> -39.
        assert_eq!(y, [78, -39]);
    }

    #[test]
    fn matches_tflm_loop_over_offsets_and_sizes() {
        let mut seed = 0x2545_f491u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed >> 24) as u8 as i8
        };
        for (k, n, batches) in [(1usize, 1usize, 1usize), (7, 3, 2), (64, 12, 1), (33, 5, 3)] {
            for (io, fo) in [(0, 0), (-5, 0), (128, 0), (-127, 3), (17, -128)] {
                let x: std::vec::Vec<i8> = (0..k * batches).map(|_| next()).collect();
                let w: std::vec::Vec<i8> = (0..k * n).map(|_| next()).collect();
                let bias: std::vec::Vec<i32> = (0..n as i32).map(|i| i * 1000 - 777).collect();
                let p = FcParams {
                    input_offset: io,
                    filter_offset: fo,
                    output_offset: 3,
                    act: ActRange::FULL,
                };
                let (m, sh) = (1_300_000_000, -9);
                let mut y = std::vec![0i8; batches * n];
                fully_connected(&p, &x, &w, Some(&bias), &[m], &[sh], &mut y, k, n).unwrap();
                for b in 0..batches {
                    for o in 0..n {
                        // TFLM's FullyConnected loop, literally.
                        let mut acc = 0i32;
                        for d in 0..k {
                            acc += (x[b * k + d] as i32 + io) * (w[o * k + d] as i32 + fo);
                        }
                        acc += bias[o];
                        let v = super::super::multiply_by_quantized_multiplier(acc, m, sh) + 3;
                        assert_eq!(
                            y[b * n + o],
                            v.clamp(-128, 127) as i8,
                            "k{k} n{n} io{io} fo{fo}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rejects_inconsistent_sizes() {
        let p = FcParams {
            input_offset: 0,
            filter_offset: 0,
            output_offset: 0,
            act: ActRange::FULL,
        };
        let mut y = [0i8; 2];
        assert!(fully_connected(&p, &[0; 3], &[0; 6], None, &[1], &[0], &mut y, 3, 2).is_ok());
        assert!(fully_connected(&p, &[0; 4], &[0; 6], None, &[1], &[0], &mut y, 3, 2).is_err());
        assert!(fully_connected(&p, &[0; 3], &[0; 5], None, &[1], &[0], &mut y, 3, 2).is_err());
        assert!(
            fully_connected(&p, &[0; 3], &[0; 6], Some(&[0]), &[1], &[0], &mut y, 3, 2).is_err()
        );
        assert!(fully_connected(
            &p,
            &[0; 3],
            &[0; 6],
            None,
            &[1, 1, 1],
            &[0, 0, 0],
            &mut y,
            3,
            2
        )
        .is_err());
        assert!(fully_connected(&p, &[0; 3], &[0; 6], None, &[1], &[0], &mut y, 0, 2).is_err());
    }
}
