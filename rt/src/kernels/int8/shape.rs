//! Shape helpers: NumPy broadcasting of up to [`MAX_RANK`] dimensions (as TFLM's
//! `BroadcastBinaryFunction6DSlow`), without allocation.

use super::{check, MAX_RANK};
use crate::ops::OpKind;
use crate::RtError;

/// Product of `dims`, `None` on overflow.
pub fn numel(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Right-aligns `dims` into a `MAX_RANK` array padded with leading 1s.
fn extend(dims: &[usize]) -> [usize; MAX_RANK] {
    let mut out = [1usize; MAX_RANK];
    let skip = MAX_RANK - dims.len().min(MAX_RANK);
    for (o, &d) in out[skip..].iter_mut().zip(dims) {
        *o = d;
    }
    out
}

/// Row-major strides of an extended shape, with 0 on dimensions broadcast to `out`.
fn broadcast_strides(dims: &[usize; MAX_RANK], out: &[usize; MAX_RANK]) -> [usize; MAX_RANK] {
    let mut strides = [0usize; MAX_RANK];
    let mut s = 1usize;
    for d in (0..MAX_RANK).rev() {
        strides[d] = if dims[d] == 1 && out[d] != 1 { 0 } else { s };
        s *= dims[d];
    }
    strides
}

/// Applies `f` elementwise over `a` and `b` broadcast to `y_shape`.
///
/// Checks that each slice holds exactly its shape's elements, ranks are at most `MAX_RANK`, and
/// each operand dimension equals the output's or is 1.
#[allow(clippy::too_many_arguments)]
pub fn broadcast_binary<F: Fn(i8, i8) -> i8>(
    a: &[i8],
    a_shape: &[usize],
    b: &[i8],
    b_shape: &[usize],
    y: &mut [i8],
    y_shape: &[usize],
    op: OpKind,
    f: F,
) -> Result<(), RtError> {
    check(
        a_shape.len() <= MAX_RANK && b_shape.len() <= MAX_RANK && y_shape.len() <= MAX_RANK,
        op,
        "rank above 6",
    )?;
    check(
        a_shape.len() <= y_shape.len() && b_shape.len() <= y_shape.len(),
        op,
        "operand rank above output rank",
    )?;
    check(
        numel(a_shape) == Some(a.len()),
        op,
        "first operand size does not match its shape",
    )?;
    check(
        numel(b_shape) == Some(b.len()),
        op,
        "second operand size does not match its shape",
    )?;
    check(
        numel(y_shape) == Some(y.len()),
        op,
        "output size does not match its shape",
    )?;
    let ad = extend(a_shape);
    let bd = extend(b_shape);
    let yd = extend(y_shape);
    for d in 0..MAX_RANK {
        check(
            ad[d] == yd[d] || ad[d] == 1,
            op,
            "first operand does not broadcast to output",
        )?;
        check(
            bd[d] == yd[d] || bd[d] == 1,
            op,
            "second operand does not broadcast to output",
        )?;
    }
    if y.is_empty() {
        return Ok(());
    }
    // Fast paths: same shapes, or one side a single value.
    if a.len() == y.len() && b.len() == y.len() {
        for ((o, &p), &q) in y.iter_mut().zip(a).zip(b) {
            *o = f(p, q);
        }
        return Ok(());
    }
    if b.len() == 1 && a.len() == y.len() {
        let q = b[0];
        for (o, &p) in y.iter_mut().zip(a) {
            *o = f(p, q);
        }
        return Ok(());
    }
    if a.len() == 1 && b.len() == y.len() {
        let p = a[0];
        for (o, &q) in y.iter_mut().zip(b) {
            *o = f(p, q);
        }
        return Ok(());
    }
    let sa = broadcast_strides(&ad, &yd);
    let sb = broadcast_strides(&bd, &yd);
    let inner = yd[MAX_RANK - 1];
    let (ia, ib) = (sa[MAX_RANK - 1], sb[MAX_RANK - 1]);
    let mut idx = [0usize; MAX_RANK];
    for row in y.chunks_exact_mut(inner) {
        let base_a: usize = (0..MAX_RANK - 1).map(|d| idx[d] * sa[d]).sum();
        let base_b: usize = (0..MAX_RANK - 1).map(|d| idx[d] * sb[d]).sum();
        // Every index is below the operand's extent: idx[d] < yd[d] and stride 0 where the
        // operand's dim is 1, so the last element is at most numel - 1 (sizes checked above).
        for (x, o) in row.iter_mut().enumerate() {
            *o = f(a[base_a + x * ia], b[base_b + x * ib]);
        }
        // Odometer over the outer dimensions.
        for d in (0..MAX_RANK - 1).rev() {
            idx[d] += 1;
            if idx[d] < yd[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: &[i8], sa: &[usize], b: &[i8], sb: &[usize], sy: &[usize]) -> std::vec::Vec<i8> {
        let mut y = std::vec![0i8; numel(sy).unwrap()];
        broadcast_binary(
            a,
            sa,
            b,
            sb,
            &mut y,
            sy,
            OpKind::CmQuantizedActivation,
            |p, q| p.wrapping_add(q),
        )
        .unwrap();
        y
    }

    #[test]
    fn broadcasts_like_numpy() {
        // [2,1,3] + [1,2,1] -> [2,2,3]
        let a = [0i8, 1, 2, 10, 11, 12];
        let b = [100i8, 50];
        let y = sum(&a, &[2, 1, 3], &b, &[1, 2, 1], &[2, 2, 3]);
        assert_eq!(y, [100, 101, 102, 50, 51, 52, 110, 111, 112, 60, 61, 62]);
        // Lower rank on the left side, inner broadcast.
        let y = sum(&[1, 2], &[2, 1], &[10, 20, 30], &[3], &[2, 3]);
        assert_eq!(y, [11, 21, 31, 12, 22, 32]);
        // Scalar fast paths.
        assert_eq!(sum(&[1, 2, 3], &[3], &[5], &[], &[3]), [6, 7, 8]);
        assert_eq!(sum(&[5], &[1], &[1, 2, 3], &[3], &[3]), [6, 7, 8]);
        // 5-D.
        let a: std::vec::Vec<i8> = (0..32).collect();
        let y = sum(&a, &[2, 2, 2, 2, 2], &[1, 0], &[2, 1], &[2, 2, 2, 2, 2]);
        for (i, v) in y.iter().enumerate() {
            assert_eq!(*v as usize, i + if (i / 2) % 2 == 0 { 1 } else { 0 });
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        let mut y = [0i8; 6];
        let f = |p: i8, _q: i8| p;
        assert!(broadcast_binary(
            &[0; 6],
            &[2, 3],
            &[0; 2],
            &[2],
            &mut y,
            &[2, 3],
            OpKind::CmQuantizedActivation,
            f
        )
        .is_err());
        assert!(broadcast_binary(
            &[0; 5],
            &[2, 3],
            &[0; 3],
            &[3],
            &mut y,
            &[2, 3],
            OpKind::CmQuantizedActivation,
            f
        )
        .is_err());
        assert!(broadcast_binary(
            &[0; 6],
            &[2, 3],
            &[0; 3],
            &[3],
            &mut y[..5],
            &[2, 3],
            OpKind::CmQuantizedActivation,
            f
        )
        .is_err());
        let seven = [1usize; 7];
        assert!(broadcast_binary(
            &[0; 1],
            &seven,
            &[0; 1],
            &[1],
            &mut y[..1],
            &seven,
            OpKind::CmQuantizedActivation,
            f
        )
        .is_err());
    }
}
