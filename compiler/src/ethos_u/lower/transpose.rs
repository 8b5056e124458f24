//! TRANSPOSE as 1x1 copies with strided reads and writes.
//!
//! Size-1 axes are dropped and input axes that stay neighbours in the output are merged, which
//! leaves `k` axis groups, each with its byte stride in the input and in the output. A copy
//! walks three of them: the depth (only a group that is innermost in both the input and the
//! output, since NHWC channels are contiguous; otherwise the depth is 1) and the two largest
//! other groups as the view's rows and columns, with their own x/y strides on each side (the
//! read and the write strides differ, which is the transpose). Any further group is looped
//! over, one copy per index, at most [`MAX_COPIES`]. Examples: NHWC -> NWHC (swap H and W)
//! is one copy with the channels as depth; NHWC <-> NCHW is one copy of depth 1 (the `H*W x C`
//! matrix transposed); `[A, B, C] -> [C, B, A]` loops over one axis.

use super::{dense3, io, pool_view, qparams, view, Ctx, Refusal};
use crate::ethos_u::npu_op::{NpuOp, Scale};
use crate::ir::Node;
use kiln_rt::ethos_u::regs::PoolingMode;

/// Most copies one transpose may take (the looped axes' product).
const MAX_COPIES: usize = 64;

/// One axis group: size, input stride, output stride (elements).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Group {
    size: usize,
    ins: usize,
    outs: usize,
}

/// The axis groups of `shape` transposed by `perm`.
fn groups(shape: &[usize], perm: &[usize]) -> Vec<Group> {
    let kept: Vec<usize> = (0..shape.len()).filter(|&d| shape[d] > 1).collect();
    let next = |d: usize| {
        kept.iter()
            .position(|&k| k == d)
            .and_then(|i| kept.get(i + 1))
    };
    // Groups (input axes) in output order.
    let mut out: Vec<Vec<usize>> = Vec::new();
    for &d in perm.iter().filter(|&&d| shape[d] > 1) {
        match out.last_mut() {
            Some(gr) if next(*gr.last().unwrap_or(&usize::MAX)) == Some(&d) => gr.push(d),
            _ => out.push(vec![d]),
        }
    }
    let size = |gr: &Vec<usize>| -> usize { gr.iter().map(|&d| shape[d]).product() };
    let mut by_input: Vec<usize> = (0..out.len()).collect();
    by_input.sort_by_key(|&i| out[i][0]);
    let mut ins = vec![0; out.len()];
    let mut acc = 1;
    for &i in by_input.iter().rev() {
        ins[i] = acc;
        acc *= size(&out[i]);
    }
    let mut res = vec![
        Group {
            size: 0,
            ins: 0,
            outs: 0
        };
        out.len()
    ];
    let mut acc = 1;
    for i in (0..out.len()).rev() {
        res[i] = Group {
            size: size(&out[i]),
            ins: ins[i],
            outs: acc,
        };
        acc *= res[i].size;
    }
    res
}

/// TRANSPOSE by `perm`.
pub(super) fn transpose(cx: &Ctx<'_>, node: &Node, perm: &[usize]) -> Result<Vec<NpuOp>, Refusal> {
    let g = cx.g;
    let (x, y) = io(node)?;
    let (xq, yq) = (qparams(g, x)?, qparams(g, y)?);
    if xq != yq {
        return Err("transpose with different input and output quantization".into());
    }
    let xs = &g.tensor(x).shape;
    let mut seen = vec![false; xs.len()];
    if perm.len() != xs.len()
        || !perm
            .iter()
            .all(|&p| p < xs.len() && !std::mem::replace(&mut seen[p], true))
    {
        return Err(format!("perm {perm:?} is not a permutation of {xs:?}"));
    }
    let (bx, by) = (cx.base(x)?, cx.base(y)?);
    let copy = |ifm, ofm| {
        pool_view(
            cx,
            node,
            PoolingMode::Max,
            ifm,
            ofm,
            [1, 1],
            Scale::ONE,
            (-128, 127),
        )
    };
    let mut gs = groups(xs, perm);
    if gs.len() <= 1 {
        // Only unit axes move: a plain copy.
        let n = g.tensor(x).numel();
        let s = dense3(n).ok_or_else(|| format!("{n} elements have no view"))?;
        let st = [s[2], s[1] * s[2], 1];
        return Ok(vec![copy(view(bx, s, st, xq.1), view(by, s, st, yq.1))?]);
    }
    // The depth: a group innermost on both sides.
    let depth = gs
        .iter()
        .position(|gr| gr.ins == 1 && gr.outs == 1)
        .map(|i| gs.remove(i));
    let c = depth.map_or(1, |d| d.size);
    // Rows and columns: the two largest groups; the rest are looped over.
    gs.sort_by_key(|gr| std::cmp::Reverse(gr.size));
    let unit = Group {
        size: 1,
        ins: 0,
        outs: 0,
    };
    let cols = gs.first().copied().unwrap_or(unit);
    let rows = gs.get(1).copied().unwrap_or(unit);
    let looped: Vec<Group> = gs.iter().skip(2).copied().collect();
    let copies: usize = looped.iter().map(|gr| gr.size).product();
    if copies > MAX_COPIES {
        return Err(format!(
            "transpose of {xs:?} by {perm:?} needs {copies} strided copies (more than {MAX_COPIES}: more than three axis groups move)"
        ));
    }
    let u = |v: usize| -> Result<u32, Refusal> {
        u32::try_from(v).map_err(|_| "transpose stride above 2^32".to_string())
    };
    let shape = [u(rows.size)?, u(cols.size)?, u(c)?];
    // Group strides are in elements of the whole tensor (int8: bytes).
    let in_st = [u(cols.ins)?, u(rows.ins)?, 1];
    let out_st = [u(cols.outs)?, u(rows.outs)?, 1];
    let mut ops = Vec::with_capacity(copies);
    for k in 0..copies {
        let (mut rest, mut io_, mut oo) = (k, 0usize, 0usize);
        for gr in &looped {
            let i = rest % gr.size;
            rest /= gr.size;
            io_ += i * gr.ins;
            oo += i * gr.outs;
        }
        let ifm = view(bx + u(io_)?, shape, in_st, xq.1);
        let ofm = view(by + u(oo)?, shape, out_st, yq.1);
        ops.push(copy(ifm, ofm)?);
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_merge_neighbours() {
        // NHWC -> NCHW: [H*W] and [C].
        let g = groups(&[1, 4, 5, 3], &[0, 3, 1, 2]);
        assert_eq!(
            g,
            vec![
                Group {
                    size: 3,
                    ins: 1,
                    outs: 20
                },
                Group {
                    size: 20,
                    ins: 3,
                    outs: 1
                }
            ]
        );
        // Swap H and W: three groups, C innermost on both sides.
        let g = groups(&[1, 4, 5, 3], &[0, 2, 1, 3]);
        assert_eq!(g.len(), 3);
        assert_eq!((g[2].ins, g[2].outs), (1, 1));
        // Identity up to unit axes.
        assert_eq!(groups(&[1, 4, 1, 3], &[2, 1, 0, 3]).len(), 1);
    }
}

#[cfg(test)]
mod placement {
    use super::super::test_support::{assert_npu, placements};
    use crate::ethos_u::partition::Placement;
    use crate::ir::Op;

    fn t(x: &[usize], perm: &[usize]) -> (Vec<usize>, Op) {
        let y = perm.iter().map(|&p| x[p]).collect();
        (
            y,
            Op::Transpose {
                perm: perm.to_vec(),
            },
        )
    }

    #[test]
    fn strided_copies_express_these_permutations() {
        let q = (0.05, 3);
        for (x, perm) in [
            (&[1, 56, 56, 24][..], &[0, 3, 1, 2][..]), // NHWC -> NCHW
            (&[1, 24, 56, 56], &[0, 2, 3, 1]),         // NCHW -> NHWC
            (&[1, 30, 20, 17], &[0, 2, 1, 3]),         // swap H and W
            (&[1, 9, 7, 5], &[0, 3, 2, 1]),            // reverse: 5 copies
            (&[1, 9, 7, 5], &[0, 1, 3, 2]),            // NHCW: 9 copies
            (&[300, 7], &[1, 0]),
            (&[1, 1, 5, 9], &[2, 0, 1, 3]), // only unit axes move
        ] {
            let (y, op) = t(x, perm);
            assert_npu(x, op, &y, q);
        }
    }

    #[test]
    fn too_many_copies_are_refused() {
        let (y, op) = t(&[1, 100, 90, 80], &[0, 3, 2, 1]);
        for p in placements(&[1, 100, 90, 80], op, &y, (0.05, 3)) {
            assert!(
                matches!(&p, Placement::Cpu(r) if r.contains("strided copies")),
                "{p:?}"
            );
        }
    }
}
