//! Checks of weighted and windowed operators: weights (types, quantization, per-channel
//! sums, bias) and kernel windows (sizes, strides, dilation, padding).

use super::*;

impl<'a> Checker<'a> {
    /// Weights and bias of Conv2d, DepthwiseConv2d and FullyConnected.
    pub(super) fn weights(&mut self, r: &Roles) {
        let (n, l) = (self.n, self.l);
        let Some(wid) = r.weights else { return };
        let (x, w, y) = (self.t(r.ifms[0]), self.t(wid), self.t(r.ofm));
        // Weight shape against the feature maps; `oc` = output channels, `oc_axis` = their axis.
        let mut shape_ok = true;
        let (oc, oc_axis) = match &n.op {
            Op::Conv2d { groups, .. } => {
                if *groups != 1 {
                    self.bad(
                        Constraint::ConvGroups,
                        format!(
                            "grouped convolution with {groups} groups (depthwise ones are DepthwiseConv2d)"
                        ),
                    );
                }
                let ic = x.shape.last().copied().unwrap_or(0);
                let yc = y.shape.last().copied().unwrap_or(0);
                if w.shape.len() != 4
                    || x.shape.len() != 4
                    || y.shape.len() != 4
                    || w.shape[3] * groups != ic
                    || w.shape[0] != yc
                {
                    shape_ok = false;
                    self.bad(
                        Constraint::ConvWeightShape,
                        format!(
                            "weights '{}' have shape {:?} for input {:?} and output {:?}",
                            w.name, w.shape, x.shape, y.shape
                        ),
                    );
                }
                (w.shape.first().copied().unwrap_or(0), 0)
            }
            Op::DepthwiseConv2d {
                depth_multiplier, ..
            } => {
                let ic = x.shape.last().copied().unwrap_or(0);
                let yc = y.shape.last().copied().unwrap_or(0);
                let m = *depth_multiplier;
                if w.shape.len() != 4
                    || x.shape.len() != 4
                    || y.shape.len() != 4
                    || m == 0
                    || w.shape[0] != 1
                    || w.shape[3] != ic * m
                    || yc != ic * m
                {
                    shape_ok = false;
                    self.bad(
                        Constraint::DepthwiseShape,
                        format!(
                            "weights '{}' have shape {:?} with depth multiplier {m} for input {:?} and output {:?}",
                            w.name, w.shape, x.shape, y.shape
                        ),
                    );
                }
                (
                    w.shape.last().copied().unwrap_or(0),
                    w.shape.len().max(1) - 1,
                )
            }
            _ => {
                let fits = w.shape.len() == 2 && w.shape[1] > 0 && {
                    let (nn, k) = (w.shape[0], w.shape[1]);
                    let batch = x.numel() / k;
                    x.numel() % k == 0 && y.shape.last() == Some(&nn) && y.numel() == batch * nn
                };
                if !fits {
                    shape_ok = false;
                    self.bad(
                        Constraint::FullyConnectedShape,
                        format!(
                            "weights '{}' have shape {:?} for input {:?} and output {:?}",
                            w.name, w.shape, x.shape, y.shape
                        ),
                    );
                }
                (w.shape.first().copied().unwrap_or(0), 0)
            }
        };
        if !w.is_const() {
            self.bad(
                Constraint::WeightsConstant,
                format!("weights '{}' are not constant", w.name),
            );
        }
        if !l.weight_dtypes.contains(&w.dtype) {
            self.bad(
                Constraint::WeightsType,
                format!("weights '{}' are {}", w.name, w.dtype),
            );
        }
        self.quantization(w, true);
        self.dims(w);
        if let Some(q) = &w.quant {
            if let Some(z) = q.zero_point.iter().find(|&&z| z != 0) {
                self.bad(
                    Constraint::WeightZeroPoint,
                    format!("weights '{}' have zero point {z}", w.name),
                );
            }
            let per_channel = q.scale.len() > 1 || q.zero_point.len() > 1;
            let counts_ok = [q.scale.len(), q.zero_point.len()]
                .iter()
                .all(|&c| c == 1 || c == oc);
            if per_channel && (q.axis != oc_axis || !counts_ok) {
                self.bad(
                    Constraint::WeightQuantAxis,
                    format!(
                        "weights '{}' have {} scales along axis {}; the {oc} output channels are axis {oc_axis}",
                        w.name,
                        q.scale.len(),
                        q.axis
                    ),
                );
            }
        }
        let bytes = w.data.as_deref().filter(|d| d.len() == w.nbytes());
        if let (true, Some(vals)) = (shape_ok && oc > 0 && w.dtype.size() == 1, bytes) {
            {
                // Read in place: one byte per weight, signed for int8.
                let signed = w.dtype == DType::I8;
                let val = |b: u8| if signed { b as i8 as i64 } else { b as i64 };
                let zp: Vec<i64> = (0..oc)
                    .map(|o| {
                        w.quant.as_ref().map_or(0, |q| match q.zero_point.len() {
                            0 => 0,
                            1 => q.zero_point[0] as i64,
                            _ => q.zero_point.get(o).copied().unwrap_or(0) as i64,
                        })
                    })
                    .collect();
                let sums: Vec<i64> = if matches!(n.op, Op::DepthwiseConv2d { .. }) {
                    let mut s = vec![0i64; oc];
                    for row in vals.chunks(oc) {
                        for ((acc, &b), &z) in s.iter_mut().zip(row).zip(&zp) {
                            *acc += (val(b) - z).abs();
                        }
                    }
                    s
                } else {
                    let per = vals.len() / oc.max(1);
                    (0..oc)
                        .map(|o| {
                            vals[o * per..(o + 1) * per]
                                .iter()
                                .map(|&b| (val(b) - zp[o]).abs())
                                .sum()
                        })
                        .collect()
                };
                let limit = if x.dtype.size() == 2 {
                    l.max_weight_sum_16bit
                } else {
                    l.max_weight_sum_8bit
                };
                if let Some((o, s)) = sums.iter().enumerate().find(|(_, &s)| s > limit) {
                    self.bad(
                        Constraint::WeightSum,
                        format!(
                            "output channel {o} of weights '{}' has an absolute weight sum of {s}, above {limit}",
                            w.name
                        ),
                    );
                }
            }
        }
        let Some(bid) = r.bias else { return };
        let b = self.t(bid);
        if !b.is_const() {
            self.bad(
                Constraint::BiasConstant,
                format!("bias '{}' is not constant", b.name),
            );
        }
        match b.dtype {
            DType::I32 => {}
            DType::I64 => {
                let half = 1i64 << (l.bias_bits - 1);
                if let Some(v) = int_values(b)
                    .unwrap_or_default()
                    .into_iter()
                    .find(|v| !(-half..half).contains(v))
                {
                    self.bad(
                        Constraint::BiasType,
                        format!(
                            "i64 bias '{}' holds {v}, which does not fit in {} bits",
                            b.name, l.bias_bits
                        ),
                    );
                }
            }
            d => self.bad(Constraint::BiasType, format!("bias '{}' is {d}", b.name)),
        }
        if b.shape.len() != 1 || b.shape[0] != oc {
            self.bad(
                Constraint::BiasShape,
                format!(
                    "bias '{}' has shape {:?} for {oc} output channels",
                    b.name, b.shape
                ),
            );
        }
    }

    /// Stride, dilation, kernel and padding of convolutions and pools.
    pub(super) fn window(&mut self, r: &Roles) {
        let (n, l) = (self.n, self.l);
        let (win, pool) = match &n.op {
            Op::Conv2d { win, .. } | Op::DepthwiseConv2d { win, .. } => (win, None),
            Op::AvgPool2d { kernel, win, .. } | Op::MaxPool2d { kernel, win, .. } => {
                (win, Some(*kernel))
            }
            _ => return,
        };
        let y = &self.t(r.ofm).shape;
        // Vela's `constraint_stride_width_no_upper_limit`: Conv2d and AvgPool2d ignore the stride
        // along an output dimension of size 1 (the window never moves).
        // kiln decomposes convolutions beyond the hardware's stride and dilation (space-to-depth,
        // sub-sampled views: `lower/conv.rs`) and checks every operation they become.
        let decomposed = pool.is_none();
        let may_ignore = matches!(n.op, Op::AvgPool2d { .. });
        let stride_ok = (0..2).all(|d| {
            (1..=l.max_stride).contains(&win.stride[d])
                || (decomposed && win.stride[d] >= 1)
                || (may_ignore && y.len() == 4 && y[1 + d] == 1 && win.stride[d] >= 1)
        });
        if !stride_ok {
            self.bad(
                Constraint::StrideRange,
                format!(
                    "stride (h, w) = ({}, {}) is outside [1, {}]",
                    win.stride[0], win.stride[1], l.max_stride
                ),
            );
        }
        let [top, left, bottom, right] = win.pads;
        if top.max(left) > l.max_pad_top_left || bottom.max(right) > l.max_pad_bottom_right {
            self.bad(
                Constraint::PaddingRange,
                format!(
                    "padding (top, left, bottom, right) = ({top}, {left}, {bottom}, {right}); at most {} top/left and {} bottom/right",
                    l.max_pad_top_left, l.max_pad_bottom_right
                ),
            );
        }
        match pool {
            None => {
                if win.dilation.iter().any(|&d| d < 1) {
                    self.bad(
                        Constraint::DilationRange,
                        format!(
                            "dilation (h, w) = ({}, {}) has a factor below 1",
                            win.dilation[0], win.dilation[1]
                        ),
                    );
                }
                let Some(ws) = r.weights.map(|w| &self.t(w).shape) else {
                    return;
                };
                if ws.len() != 4 {
                    return;
                }
                // A stride or dilation lets kiln decompose a kernel beyond these limits (output
                // phases, space-to-depth); it checks the operations and refuses what stays beyond.
                let decomposable =
                    win.stride.iter().any(|&s| s > 1) || win.dilation.iter().any(|&d| d > 1);
                if decomposable {
                    return;
                }
                let dilated = |k: usize, d: usize| k.saturating_sub(1) * d.max(1) + 1;
                let dh = dilated(ws[1], win.dilation[0]);
                let dw = dilated(ws[2], win.dilation[1]);
                if ws[1] == 0 || dh > l.max_dilated_kernel_height {
                    self.bad(
                        Constraint::DilatedKernelHeight,
                        format!(
                            "kernel {}x{} with dilation {} has dilated height {dh}, outside [1, {}]",
                            ws[1], ws[2], win.dilation[0], l.max_dilated_kernel_height
                        ),
                    );
                }
                if ws[2] == 0 || dh * dw > l.max_dilated_kernel_product {
                    self.bad(
                        Constraint::DilatedKernelProduct,
                        format!(
                            "dilated kernel {dh}x{dw} has {} elements, outside [1, {}]",
                            dh * dw,
                            l.max_dilated_kernel_product
                        ),
                    );
                }
            }
            Some([kh, kw]) => {
                // Padding excluded from the divisor becomes unpadded pools (`lower/pool.rs`).
                let padded = win.pads.iter().any(|&p| p > 0)
                    && matches!(
                        n.op,
                        Op::AvgPool2d {
                            count_include_pad: true,
                            ..
                        }
                    );
                let avg = matches!(n.op, Op::AvgPool2d { .. });
                let side = 1..=l.max_padded_avgpool_kernel;
                if avg && padded && !(side.contains(&kh) && side.contains(&kw)) {
                    self.bad(
                        Constraint::AvgPoolPaddedKernel,
                        format!(
                            "padded average pool has kernel {kh}x{kw}; at most {0}x{0}",
                            l.max_padded_avgpool_kernel
                        ),
                    );
                }
                if !(avg && padded) {
                    if !(1..=l.max_pool_kernel_height).contains(&kh) {
                        self.bad(
                            Constraint::PoolKernelHeight,
                            format!(
                                "pooling kernel height {kh} is outside [1, {}]",
                                l.max_pool_kernel_height
                            ),
                        );
                    }
                    if !(1..=l.max_pool_kernel_product).contains(&(kh * kw)) {
                        self.bad(
                            Constraint::PoolKernelProduct,
                            format!(
                                "pooling kernel {kh}x{kw} has {} elements, outside [1, {}]",
                                kh * kw,
                                l.max_pool_kernel_product
                            ),
                        );
                    }
                }
            }
        }
    }
}
