//! Operator-specific checks (softmax, concat, pad, mean, resize, transpose, ...).

use super::*;

impl<'a> Checker<'a> {
    /// Operator-specific rules.
    pub(super) fn per_op(&mut self, r: &Roles) {
        let (n, l) = (self.n, self.l);
        let x = self.t(r.ifms[0]);
        let y = self.t(r.ofm);
        match &n.op {
            Op::Softmax { beta } => {
                if beta.is_nan() || *beta < 0.0 {
                    self.bad(Constraint::SoftmaxBeta, format!("softmax has beta {beta}"));
                }
                if let Some(s) = pad4(&x.shape) {
                    if s[1] * s[2] > l.max_softmax_area {
                        self.bad(
                            Constraint::SoftmaxArea,
                            format!(
                                "softmax input '{}' has shape {:?}: width x height = {}, above {}",
                                x.name,
                                x.shape,
                                s[1] * s[2],
                                l.max_softmax_area
                            ),
                        );
                    }
                }
            }
            Op::Mean { axes, .. } => self.mean(x, axes),
            Op::Pad { pads, .. } => {
                let rank = x.shape.len();
                let batch = rank == 4 && pads.first().is_some_and(|&(a, b)| a + b > 0);
                if pads.len() != rank || !(1..=4).contains(&rank) || batch {
                    self.bad(
                        Constraint::PadDims,
                        format!("pads {pads:?} for input shape {:?}", x.shape),
                    );
                }
                let expect: Vec<usize> = x
                    .shape
                    .iter()
                    .zip(pads)
                    .map(|(&d, &(a, b))| d + a + b)
                    .collect();
                if pads.len() != rank || expect != y.shape {
                    self.bad(
                        Constraint::PadOutputShape,
                        format!(
                            "input {:?} padded by {pads:?} does not give the output's {:?}",
                            x.shape, y.shape
                        ),
                    );
                }
            }
            Op::Concat { axis } => {
                let axis = *axis;
                let ok = axis < y.shape.len() && {
                    let mut sum = 0;
                    r.ifms.iter().all(|&i| {
                        let s = &self.t(i).shape;
                        sum += s.get(axis).copied().unwrap_or(0);
                        s.len() == y.shape.len()
                            && s.iter()
                                .zip(&y.shape)
                                .enumerate()
                                .all(|(d, (a, b))| d == axis || a == b)
                    }) && sum == y.shape[axis]
                };
                if !ok {
                    let shapes: Vec<&Vec<usize>> =
                        r.ifms.iter().map(|&i| &self.t(i).shape).collect();
                    self.bad(
                        Constraint::ConcatShapes,
                        format!(
                            "inputs {shapes:?} along axis {axis} do not give the output's {:?}",
                            y.shape
                        ),
                    );
                }
            }
            Op::Reshape => {
                if !quant_eq(&x.quant, &y.quant) {
                    self.bad(
                        Constraint::ReshapeQuant,
                        format!(
                            "input '{}' is quantized {} but output '{}' {}",
                            x.name,
                            describe_q(&x.quant),
                            y.name,
                            describe_q(&y.quant)
                        ),
                    );
                }
                if x.numel() != y.numel() {
                    self.bad(
                        Constraint::ReshapeElements,
                        format!(
                            "input {:?} has {} elements, output {:?} has {}",
                            x.shape,
                            x.numel(),
                            y.shape,
                            y.numel()
                        ),
                    );
                }
            }
            Op::ResizeNearest {
                align_corners,
                half_pixel_centers,
            } => {
                if *align_corners && *half_pixel_centers {
                    self.bad(
                        Constraint::ResizeAttrs,
                        "resize sets both align_corners and half_pixel_centers".into(),
                    );
                }
                if let Some(why) = self.resize_scale(x, y, *align_corners) {
                    self.bad(Constraint::ResizeScale, why);
                }
            }
            Op::Transpose { perm } => {
                if let Some(why) = self.transpose(x, y, perm) {
                    self.bad(Constraint::TransposePerm, why);
                }
            }
            _ => {}
        }
    }

    pub(super) fn mean(&mut self, x: &Tensor, axes: &[usize]) {
        let l = self.l;
        let rank = x.shape.len();
        let mut sorted = axes.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        if axes.is_empty() || sorted.len() != axes.len() || axes.iter().any(|&a| a >= rank) {
            self.bad(
                Constraint::MeanAxes,
                format!("axes {axes:?} for input shape {:?}", x.shape),
            );
            return;
        }
        let Some(s) = pad4(&x.shape) else { return };
        let off = 4 - rank;
        let reduced: Vec<usize> = axes.iter().map(|&a| a + off).collect();
        let alternating = reduced.contains(&3) && reduced.contains(&1) && !reduced.contains(&2);
        // Unit axes do not count: a reduced axis of size 1 reduces nothing.
        if alternating && s[1] > 1 && s[3] > 1 && s[2] > 64 {
            self.bad(
                Constraint::MeanDepthReduction,
                format!(
                    "mean over height and depth of input {:?} keeps the width {} between them (above 64)",
                    x.shape, s[2]
                ),
            );
        }
        if let Some(&a) = reduced.iter().find(|&&a| s[a] > l.max_mean_axis) {
            self.bad(
                Constraint::MeanAxisSize,
                format!(
                    "reduced axis {} of input {:?} has size {}, above {}",
                    a - off,
                    x.shape,
                    s[a],
                    l.max_mean_axis
                ),
            );
        }
        let elements: usize = reduced.iter().map(|&a| s[a]).product();
        let limit = match x.dtype {
            DType::I8 => l.max_mean_elements_i8,
            DType::U8 => l.max_mean_elements_u8,
            DType::I16 => l.max_mean_elements_i16,
            _ => return,
        };
        if elements > limit {
            self.bad(
                Constraint::MeanElements,
                format!(
                    "mean reduces {elements} {} elements, above {limit}",
                    x.dtype
                ),
            );
        }
    }

    /// Why a nearest-neighbour resize is unsupported (Regor's U55 rule; Vela's Python one is the
    /// same without the unit-axis relaxation).
    pub(super) fn resize_scale(&self, x: &Tensor, y: &Tensor, align: bool) -> Option<String> {
        let l = self.l;
        let why = |s: &str| Some(format!("resize {:?} -> {:?}: {s}", x.shape, y.shape));
        if x.shape.len() != 4 || y.shape.len() != 4 {
            return why("input and output must be 4D NHWC");
        }
        if x.shape[0] != y.shape[0] || x.shape[3] != y.shape[3] {
            return why("batch and depth must not change");
        }
        let (ih, iw, oh, ow) = (x.shape[1], x.shape[2], y.shape[1], y.shape[2]);
        if (ih == 1 && iw == 1) || (ih == oh && iw == ow) {
            return None;
        }
        let factor = |i: usize, o: usize| -> f64 {
            if align {
                if o == 1 {
                    1.0
                } else {
                    (o as f64 - 1.0) / (i as f64 - 1.0)
                }
            } else {
                o as f64 / i as f64
            }
        };
        let (fh, fw) = (factor(ih, oh), factor(iw, ow));
        if fh != fw && !((oh == 1 && fh == 1.0) || (ow == 1 && fw == 1.0)) {
            return why(&format!(
                "height and width scale differently ({fh}x and {fw}x)"
            ));
        }
        let f = fh.max(fw);
        if !l.resize_factors.iter().any(|&k| k as f64 == f) {
            return why(&format!(
                "scale factor {f} is not one of {:?}",
                l.resize_factors
            ));
        }
        None
    }

    /// Why a transpose is unsupported (Regor's U55 rule).
    pub(super) fn transpose(&self, x: &Tensor, y: &Tensor, perm: &[usize]) -> Option<String> {
        let l = self.l;
        let rank = x.shape.len();
        let mut seen = vec![false; rank];
        let is_perm = perm.len() == rank
            && perm
                .iter()
                .all(|&p| p < rank && !std::mem::replace(&mut seen[p], true));
        if !is_perm {
            return Some(format!("perm {perm:?} is not a permutation of {rank} axes"));
        }
        let permuted: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
        if permuted != y.shape {
            return Some(format!(
                "input {:?} permuted by {perm:?} is {permuted:?}, not the output's {:?}",
                x.shape, y.shape
            ));
        }
        // Rank > 4 is reported by the generic rank rule.
        let (s, k) = (pad4(&x.shape)?, 4 - rank);
        let mut p4 = [0, 1, 2, 3];
        for (i, &p) in perm.iter().enumerate() {
            p4[k + i] = p + k;
        }
        const NHWC: [usize; 4] = [0, 1, 2, 3];
        const NWHC: [usize; 4] = [0, 2, 1, 3];
        const NHCW: [usize; 4] = [0, 1, 3, 2];
        const NCWH: [usize; 4] = [0, 3, 2, 1];
        const NWCH: [usize; 4] = [0, 2, 3, 1];
        const NCHW: [usize; 4] = [0, 3, 1, 2];
        let [nn, h, w, c] = s;
        let over = |v: &[usize], max: usize| v.iter().any(|&d| d > max);
        let why = |s: &str| {
            Some(format!(
                "{} transpose of {:?} by {perm:?}: {s}",
                x.dtype, x.shape
            ))
        };
        if x.dtype == DType::I32 {
            return match p4 {
                NHWC if c > l.max_transpose32_depth => {
                    why(&format!("depth {c} above {}", l.max_transpose32_depth))
                }
                NWHC if nn != 1
                    || over(&[h, w], l.max_transpose_axis)
                    || c > l.max_transpose32_nwhc_depth =>
                {
                    why("NWHC needs N == 1, H and W within the axis limit and a small depth")
                }
                NHCW if over(&[nn * h, w, c], l.max_transpose_axis) => {
                    why(&format!("N*H, W or C above {}", l.max_transpose_axis))
                }
                NHWC | NWHC | NHCW => None,
                _ => why("only NHWC, NWHC and NHCW permutations are supported for i32"),
            };
        }
        match p4 {
            NHWC => None,
            NWHC | NHCW | NCWH | NWCH | NCHW if over(&[nn * h, w, c], l.max_transpose_axis) => {
                why(&format!("N*H, W or C above {}", l.max_transpose_axis))
            }
            // Regor refuses other permutations above `max_transpose_elements`; kiln's lowering
            // (strided copies, `lower/transpose.rs`) has its own limits and reasons.
            _ => None,
        }
    }
}
