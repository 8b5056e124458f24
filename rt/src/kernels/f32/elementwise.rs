//! Elementwise operators: broadcasting binary arithmetic and unary activations.

use super::layout::MAX_RANK;
use super::math;
use super::{check_fits, KernelError, Layout};

/// A broadcasting binary operator (torch semantics; `max`/`min` propagate NaN).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Binary {
    /// `a + alpha * b`.
    Add(f32),
    /// `a - alpha * b`.
    Sub(f32),
    /// `a * b`.
    Mul,
    /// `max(a, b)`, NaN if either is NaN.
    Maximum,
    /// `min(a, b)`, NaN if either is NaN.
    Minimum,
}

#[inline(always)]
fn nan_max(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if a > b {
        a
    } else {
        b
    }
}

#[inline(always)]
fn nan_min(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if a < b {
        a
    } else {
        b
    }
}

/// Runs `f` over broadcast operands. Innermost dim gets a tight loop; other dims an odometer.
fn zip_broadcast<F: Fn(f32, f32) -> f32>(
    a: &[f32],
    al: &Layout,
    b: &[f32],
    bl: &Layout,
    out: &mut [f32],
    ol: &Layout,
    f: F,
) -> Result<(), KernelError> {
    check_fits("a", al, a.len())?;
    check_fits("b", bl, b.len())?;
    check_fits("output", ol, out.len())?;
    let shape = ol.sizes();
    let ab = al.broadcast_to(shape)?;
    let bb = bl.broadcast_to(shape)?;
    if ol.numel() == 0 {
        return Ok(());
    }
    // Same-layout dense operands: one flat loop.
    if ab == *ol && bb == *ol && ol.is_contiguous() {
        let r = ol.offset()..ol.offset() + ol.numel();
        for ((o, x), y) in out[r.clone()].iter_mut().zip(&a[r.clone()]).zip(&b[r]) {
            *o = f(*x, *y);
        }
        return Ok(());
    }
    let rank = shape.len();
    let (inner, sa, sb, so) = if rank == 0 {
        (1, 0, 0, 0)
    } else {
        (
            shape[rank - 1],
            ab.stride(rank - 1),
            bb.stride(rank - 1),
            ol.stride(rank - 1),
        )
    };
    let outer = ol.numel() / inner;
    let mut idx = [0usize; MAX_RANK];
    let (mut pa, mut pb, mut po) = (ab.offset(), bb.offset(), ol.offset());
    for _ in 0..outer {
        match (sa, sb, so) {
            (1, 1, 1) => {
                for ((o, x), y) in out[po..po + inner]
                    .iter_mut()
                    .zip(&a[pa..pa + inner])
                    .zip(&b[pb..pb + inner])
                {
                    *o = f(*x, *y);
                }
            }
            (1, 0, 1) => {
                let y = b[pb];
                for (o, x) in out[po..po + inner].iter_mut().zip(&a[pa..pa + inner]) {
                    *o = f(*x, y);
                }
            }
            (0, 1, 1) => {
                let x = a[pa];
                for (o, y) in out[po..po + inner].iter_mut().zip(&b[pb..pb + inner]) {
                    *o = f(x, *y);
                }
            }
            _ => {
                for t in 0..inner {
                    out[po + t * so] = f(a[pa + t * sa], b[pb + t * sb]);
                }
            }
        }
        // Advance the outer odometer (dims 0..rank-1).
        let mut d = rank.saturating_sub(1);
        while d > 0 {
            d -= 1;
            idx[d] += 1;
            pa += ab.stride(d);
            pb += bb.stride(d);
            po += ol.stride(d);
            if idx[d] < shape[d] {
                break;
            }
            pa -= ab.stride(d) * shape[d];
            pb -= bb.stride(d) * shape[d];
            po -= ol.stride(d) * shape[d];
            idx[d] = 0;
        }
    }
    Ok(())
}

/// `out = op(a, b)` with NumPy/torch broadcasting (operands right-aligned to the output's rank,
/// size-1 dims stretch). The output layout gives the result shape; at most [`MAX_RANK`] dims.
pub fn binary(
    op: Binary,
    a: &[f32],
    al: &Layout,
    b: &[f32],
    bl: &Layout,
    out: &mut [f32],
    ol: &Layout,
) -> Result<(), KernelError> {
    match op {
        Binary::Add(1.0) => zip_broadcast(a, al, b, bl, out, ol, |x, y| x + y),
        Binary::Add(alpha) => zip_broadcast(a, al, b, bl, out, ol, |x, y| x + alpha * y),
        Binary::Sub(1.0) => zip_broadcast(a, al, b, bl, out, ol, |x, y| x - y),
        Binary::Sub(alpha) => zip_broadcast(a, al, b, bl, out, ol, |x, y| x - alpha * y),
        Binary::Mul => zip_broadcast(a, al, b, bl, out, ol, |x, y| x * y),
        Binary::Maximum => zip_broadcast(a, al, b, bl, out, ol, nan_max),
        Binary::Minimum => zip_broadcast(a, al, b, bl, out, ol, nan_min),
    }
}

/// The broadcast shape of two operand shapes (NumPy rules), written into `out`; returns its rank.
pub fn broadcast_shape(
    a: &[usize],
    b: &[usize],
    out: &mut [usize; MAX_RANK],
) -> Result<usize, KernelError> {
    let rank = a.len().max(b.len());
    if rank > MAX_RANK {
        return Err(KernelError::Rank {
            what: "broadcast operand",
            expected: MAX_RANK,
            got: rank,
        });
    }
    for i in 0..rank {
        let da = if i < rank - a.len() {
            1
        } else {
            a[i - (rank - a.len())]
        };
        let db = if i < rank - b.len() {
            1
        } else {
            b[i - (rank - b.len())]
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(KernelError::Shape {
                    what: "operands are not broadcastable",
                })
            }
        };
    }
    Ok(rank)
}

/// An elementwise unary operator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unary {
    /// `max(x, 0)` (NaN stays NaN).
    Relu,
    /// `min(max(x, lo), hi)` (NaN stays NaN).
    Clamp {
        /// Lower bound (`-inf` for none).
        lo: f32,
        /// Upper bound (`+inf` for none).
        hi: f32,
    },
    /// `x` if `x > 0` else `slope * x`.
    LeakyRelu(f32),
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// `x * min(max(x + 3, 0), 6) / 6`.
    HardSwish,
    /// `max(0, min(1, alpha * x + beta))`.
    HardSigmoid {
        /// Slope.
        alpha: f32,
        /// Offset.
        beta: f32,
    },
}

#[inline(always)]
fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
    if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

fn map_into<F: Fn(f32) -> f32>(x: &[f32], out: &mut [f32], f: F) {
    for (o, v) in out.iter_mut().zip(x) {
        *o = f(*v);
    }
}

fn map_in_place<F: Fn(f32) -> f32>(buf: &mut [f32], f: F) {
    for v in buf.iter_mut() {
        *v = f(*v);
    }
}

macro_rules! dispatch_unary {
    ($op:expr, $apply:ident, $($buf:expr),+) => {
        match $op {
            Unary::Relu => $apply($($buf),+, |v| if v < 0.0 { 0.0 } else { v }),
            Unary::Clamp { lo, hi } => $apply($($buf),+, |v| clamp(v, lo, hi)),
            Unary::LeakyRelu(s) => $apply($($buf),+, |v| if v > 0.0 { v } else { s * v }),
            Unary::Sigmoid => $apply($($buf),+, math::sigmoid),
            Unary::Tanh => $apply($($buf),+, math::tanh),
            Unary::HardSwish => $apply($($buf),+, |v| v * clamp(v + 3.0, 0.0, 6.0) / 6.0),
            Unary::HardSigmoid { alpha, beta } => $apply($($buf),+, |v| clamp(alpha * v + beta, 0.0, 1.0)),
        }
    };
}

/// `out[i] = op(x[i])` over equally long dense buffers (same memory order for both).
pub fn unary(op: Unary, x: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    if x.len() != out.len() {
        return Err(KernelError::Shape {
            what: "output length != input length",
        });
    }
    dispatch_unary!(op, map_into, x, out);
    Ok(())
}

/// `buf[i] = op(buf[i])` (input and output are the same tensor).
pub fn unary_in_place(op: Unary, buf: &mut [f32]) {
    dispatch_unary!(op, map_in_place, buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn l(s: &[usize]) -> Layout {
        Layout::contiguous(s).unwrap()
    }

    #[test]
    fn add_sub_with_alpha_same_shape() {
        let a = [1.0, 2.0, 3.0];
        let b = [10.0, 20.0, 30.0];
        let mut out = [0.0; 3];
        binary(
            Binary::Add(1.0),
            &a,
            &l(&[3]),
            &b,
            &l(&[3]),
            &mut out,
            &l(&[3]),
        )
        .unwrap();
        assert_eq!(out, [11.0, 22.0, 33.0]);
        binary(
            Binary::Sub(0.5),
            &a,
            &l(&[3]),
            &b,
            &l(&[3]),
            &mut out,
            &l(&[3]),
        )
        .unwrap();
        assert_eq!(out, [-4.0, -8.0, -12.0]);
    }

    #[test]
    fn broadcasting_row_column_scalar_and_rank_6() {
        // [2, 1] (+) [3] -> [2, 3]
        let a = [1.0, 2.0];
        let b = [10.0, 20.0, 30.0];
        let mut out = [0.0; 6];
        binary(
            Binary::Mul,
            &a,
            &l(&[2, 1]),
            &b,
            &l(&[3]),
            &mut out,
            &l(&[2, 3]),
        )
        .unwrap();
        assert_eq!(out, [10.0, 20.0, 30.0, 20.0, 40.0, 60.0]);
        binary(
            Binary::Sub(1.0),
            &b,
            &l(&[3]),
            &a,
            &l(&[2, 1]),
            &mut out,
            &l(&[2, 3]),
        )
        .unwrap();
        assert_eq!(out, [9.0, 19.0, 29.0, 8.0, 18.0, 28.0]);
        // scalar (rank 0) operand
        binary(
            Binary::Maximum,
            &a,
            &l(&[2, 1]),
            &[1.5],
            &l(&[]),
            &mut out[..2],
            &l(&[2, 1]),
        )
        .unwrap();
        assert_eq!(&out[..2], &[1.5, 2.0]);
        // rank 6 with broadcast in the middle; compare against index arithmetic.
        let xs = [2, 1, 3, 1, 2, 2];
        let ys = [1, 2, 1, 2, 1, 2];
        let os = [2, 2, 3, 2, 2, 2];
        let x: Vec<f32> = (0..24).map(|v| v as f32).collect();
        let y: Vec<f32> = (0..8).map(|v| (v * 100) as f32).collect();
        let mut o = [0.0f32; 96];
        binary(Binary::Add(1.0), &x, &l(&xs), &y, &l(&ys), &mut o, &l(&os)).unwrap();
        for (k, v) in o.iter().enumerate() {
            let mut i = [0usize; 6];
            let mut r = k;
            for d in (0..6).rev() {
                i[d] = r % os[d];
                r /= os[d];
            }
            let xi = (((i[0] * 3 + i[2]) * 2 + i[4]) * 2) + i[5];
            let yi = ((i[1] * 2 + i[3]) * 2) + i[5];
            assert_eq!(*v, x[xi] + y[yi], "at {i:?}");
        }
    }

    #[test]
    fn strided_output_and_nan_propagation() {
        let a = [1.0, f32::NAN, 3.0, 4.0];
        let b = [2.0, 2.0, 2.0, 2.0];
        let ot = l(&[2, 2]).permuted(&[1, 0]).unwrap();
        let mut out = [0.0; 4];
        binary(
            Binary::Minimum,
            &a,
            &l(&[2, 2]),
            &b,
            &l(&[2, 2]),
            &mut out,
            &ot,
        )
        .unwrap();
        assert_eq!(out[0], 1.0);
        assert_eq!(out[1], 2.0);
        assert!(out[2].is_nan());
        assert_eq!(out[3], 2.0);
        assert!(binary(Binary::Mul, &a, &l(&[4]), &b, &l(&[3]), &mut out, &l(&[4])).is_err());
        let mut s = [0usize; MAX_RANK];
        assert_eq!(broadcast_shape(&[4, 1, 3], &[2, 1], &mut s), Ok(3));
        assert_eq!(&s[..3], &[4, 2, 3]);
        assert!(broadcast_shape(&[3], &[2], &mut s).is_err());
    }

    #[test]
    fn unary_activations_hand_checked() {
        let x = [-4.0, -1.0, 0.0, 0.5, 2.0, 7.0];
        let mut out = [0.0; 6];
        unary(Unary::Relu, &x, &mut out).unwrap();
        assert_eq!(out, [0.0, 0.0, 0.0, 0.5, 2.0, 7.0]);
        unary(Unary::Clamp { lo: -1.0, hi: 1.0 }, &x, &mut out).unwrap();
        assert_eq!(out, [-1.0, -1.0, 0.0, 0.5, 1.0, 1.0]);
        unary(Unary::LeakyRelu(0.1), &x, &mut out).unwrap();
        assert_eq!(out, [-0.4, -0.1, 0.0, 0.5, 2.0, 7.0]);
        unary(Unary::HardSwish, &x, &mut out).unwrap();
        assert_eq!(
            out,
            [-0.0, -2.0 / 6.0, 0.0, 0.5 * 3.5 / 6.0, 2.0 * 5.0 / 6.0, 7.0]
        );
        unary(
            Unary::HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            },
            &x,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [0.0, 0.3, 0.5, 0.6, 0.9, 1.0]);
        let mut buf = x;
        unary_in_place(Unary::Sigmoid, &mut buf);
        assert_eq!(buf[2], 0.5);
        assert!((buf[4] - 0.880_797_1).abs() < 1e-7);
        unary_in_place(Unary::Tanh, &mut buf[..1]);
        assert!((buf[0] - (1.0f32 / (1.0 + 4.0f32.exp())).tanh()).abs() < 1e-7);
        assert!(unary(Unary::Relu, &x, &mut out[..5]).is_err());
        let mut n = [f32::NAN];
        unary_in_place(Unary::Clamp { lo: 0.0, hi: 6.0 }, &mut n);
        assert!(n[0].is_nan());
    }
}
