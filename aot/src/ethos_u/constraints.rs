//! The NPU's operator constraints, as data: the partitioner, `kiln compile`'s placement
//! report and the `cpu_fallback = false` error all read this one table.
//!
//! The rules and numbers follow Vela's supported-operator checks
//! (`ethosu/vela/tflite_supported_operators.py`, Vela 3.x-5.x: `tens_dim_range`,
//! `stride_range`, `dilation_range`, `dilated_height_range`, `dilated_product_range`,
//! `weights_limit`, `filter_range`, `filter_height_range`, `filter_product_range`); what kiln's
//! lowering additionally requires (e.g. equal quantization where TFLite Micro assumes it) is
//! refused by [`super::lower`] with its own reason.

use crate::ir::{DType, Graph, Node, Op, TensorId};
use std::fmt;

/// One rule of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Constraint {
    /// Activations are int8 with quantization.
    Int8Activations,
    /// Batch 1 and rank <= 4 (fully connected: any leading dimensions).
    Shape,
    /// Every dimension within the registers' range.
    DimensionRange,
    /// Convolution and pooling strides.
    StrideRange,
    /// Convolution dilation.
    DilationRange,
    /// Dilated kernel height.
    DilatedHeight,
    /// Dilated kernel area.
    DilatedProduct,
    /// Weights are constant int8 with quantization, zero point 0.
    ConstantWeights,
    /// Sum of absolute weights per output channel.
    WeightSum,
    /// Bias is constant int32 within 40 bits.
    Bias,
    /// Pooling with padding: kernel width and height.
    PaddedPoolKernel,
    /// Pooling without padding: kernel height.
    PoolKernelHeight,
    /// Pooling without padding: kernel area.
    PoolKernelProduct,
    /// Elementwise operands broadcast only along dimensions of size 1.
    Broadcast,
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &LIMITS;
        match self {
            Constraint::Int8Activations => {
                write!(f, "Input and output tensors must be int8 with quantization")
            }
            Constraint::Shape => write!(f, "Tensors must have batch 1 and at most 4 dimensions"),
            Constraint::DimensionRange => write!(
                f,
                "Tensor dimensions must be in the range [1, {}]",
                l.max_dim
            ),
            Constraint::StrideRange => write!(
                f,
                "Stride values for both width and height must be in the range [1, {}]",
                l.max_stride
            ),
            Constraint::DilationRange => write!(
                f,
                "Dilation factor values for both width and height must be in the range [1, {}]",
                l.max_dilation
            ),
            Constraint::DilatedHeight => write!(
                f,
                "Dilated kernel height must be in the range [1, {}]",
                l.max_dilated_height
            ),
            Constraint::DilatedProduct => write!(
                f,
                "Product of dilated kernel width and height must be in the range [1, {}]",
                l.max_dilated_product
            ),
            Constraint::ConstantWeights => write!(
                f,
                "Weights must be constant int8 with quantization and zero point 0"
            ),
            Constraint::WeightSum => write!(
                f,
                "The sum of the absolute weights of an output channel cannot exceed {}",
                l.max_weight_sum
            ),
            Constraint::Bias => {
                write!(f, "Optional bias must be constant int32 and fit in 40 bits")
            }
            Constraint::PaddedPoolKernel => write!(
                f,
                "With padding, the pooling kernel width and height must be in the range [1, {}]",
                l.max_padded_pool_kernel
            ),
            Constraint::PoolKernelHeight => write!(
                f,
                "Pooling kernel height must be in the range [1, {}]",
                l.max_pool_kernel_height
            ),
            Constraint::PoolKernelProduct => write!(
                f,
                "Product of pooling kernel width and height must be in the range [1, {}]",
                l.max_pool_kernel_product
            ),
            Constraint::Broadcast => write!(
                f,
                "Elementwise operands must have equal shapes or dimensions of size 1"
            ),
        }
    }
}

/// Why an operator cannot run on the NPU: the rule and the actual numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub constraint: Constraint,
    /// What the model has, in words.
    pub detail: String,
}

/// The numbers of the rules (the same on U55 and U65 in Vela's checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NpuLimits {
    /// Largest tensor dimension.
    pub max_dim: usize,
    /// Largest stride.
    pub max_stride: usize,
    /// Largest dilation.
    pub max_dilation: usize,
    /// Largest dilated kernel height.
    pub max_dilated_height: usize,
    /// Largest dilated kernel area.
    pub max_dilated_product: usize,
    /// Largest sum of absolute weights per output channel.
    pub max_weight_sum: i64,
    /// Largest padded pooling kernel side.
    pub max_padded_pool_kernel: usize,
    /// Largest pooling kernel height.
    pub max_pool_kernel_height: usize,
    /// Largest pooling kernel area.
    pub max_pool_kernel_product: usize,
}

const LIMITS: NpuLimits = NpuLimits {
    max_dim: 65535,
    max_stride: 3,
    max_dilation: 2,
    max_dilated_height: 64,
    max_dilated_product: 64 * 64,
    max_weight_sum: 127 * 65536,
    max_padded_pool_kernel: 8,
    max_pool_kernel_height: 256,
    max_pool_kernel_product: 256 * 256,
};

/// The limits of a family (U55 and U65 share them).
pub fn limits(_family_is_u65: bool) -> &'static NpuLimits {
    &LIMITS
}

/// Every rule, for listings.
pub fn all_constraints() -> &'static [Constraint] {
    use Constraint::*;
    &[
        Int8Activations,
        Shape,
        DimensionRange,
        StrideRange,
        DilationRange,
        DilatedHeight,
        DilatedProduct,
        ConstantWeights,
        WeightSum,
        Bias,
        PaddedPoolKernel,
        PoolKernelHeight,
        PoolKernelProduct,
        Broadcast,
    ]
}

/// What the NPU can do with node `n` of `g`: `Ok` or every violated rule.
pub fn check(g: &Graph, n: &Node, l: &NpuLimits) -> Result<(), Vec<Violation>> {
    let mut v = Vec::new();
    let mut bad = |constraint: Constraint, detail: String| v.push(Violation { constraint, detail });
    let fc = matches!(n.op, Op::FullyConnected { .. });
    let weighted = matches!(
        n.op,
        Op::Conv2d { .. } | Op::DepthwiseConv2d { .. } | Op::FullyConnected { .. }
    );
    let activations: Vec<TensorId> = n
        .inputs
        .iter()
        .enumerate()
        .filter(|(i, _)| !(weighted && *i > 0))
        .filter_map(|(_, t)| *t)
        .chain(n.outputs.iter().copied())
        .collect();
    for &t in &activations {
        let ten = g.tensor(t);
        if ten.dtype != DType::I8 || ten.quant.is_none() {
            bad(
                Constraint::Int8Activations,
                format!(
                    "tensor {} is {}{}",
                    ten.name,
                    ten.dtype,
                    if ten.quant.is_none() {
                        " without quantization"
                    } else {
                        ""
                    }
                ),
            );
        }
        if ten.is_const()
            && !matches!(
                n.op,
                Op::Add { .. } | Op::Sub { .. } | Op::Mul { .. } | Op::Maximum | Op::Minimum
            )
        {
            bad(
                Constraint::Int8Activations,
                format!("tensor {} is a constant activation", ten.name),
            );
        }
        if !fc && (ten.shape.len() > 4 || (ten.shape.len() == 4 && ten.shape[0] != 1)) {
            bad(
                Constraint::Shape,
                format!("tensor {} has shape {:?}", ten.name, ten.shape),
            );
        }
        if let Some(&d) = ten.shape.iter().find(|&&d| d == 0 || d > l.max_dim) {
            bad(
                Constraint::DimensionRange,
                format!("tensor {} has a dimension of {d}", ten.name),
            );
        }
    }
    let window = match &n.op {
        Op::Conv2d { win, .. } | Op::DepthwiseConv2d { win, .. } => Some((win, None)),
        Op::AvgPool2d { kernel, win, .. } | Op::MaxPool2d { kernel, win, .. } => {
            Some((win, Some(*kernel)))
        }
        _ => None,
    };
    if let Some((win, pool)) = window {
        let out = n
            .outputs
            .first()
            .map(|&y| g.tensor(y).shape.clone())
            .unwrap_or_default();
        // A stride along an output dimension of size 1 never moves the window.
        let moves = |d: usize| out.len() == 4 && out[1 + d] > 1;
        if (0..2).any(|d| moves(d) && !(1..=l.max_stride).contains(&win.stride[d])) {
            bad(Constraint::StrideRange, format!("stride {:?}", win.stride));
        }
        match pool {
            None => {
                if win
                    .dilation
                    .iter()
                    .any(|&d| !(1..=l.max_dilation).contains(&d))
                {
                    bad(
                        Constraint::DilationRange,
                        format!("dilation {:?}", win.dilation),
                    );
                }
                if let Some(w) = n.input(1) {
                    let ws = &g.tensor(w).shape;
                    if ws.len() == 4 {
                        let dh = (ws[1] - 1) * win.dilation[0] + 1;
                        let dw = (ws[2] - 1) * win.dilation[1] + 1;
                        if dh > l.max_dilated_height {
                            bad(
                                Constraint::DilatedHeight,
                                format!("dilated kernel height {dh}"),
                            );
                        }
                        if dh * dw > l.max_dilated_product {
                            bad(
                                Constraint::DilatedProduct,
                                format!("dilated kernel {dh}x{dw}"),
                            );
                        }
                    }
                }
            }
            Some(k) => {
                let padded = win.pads.iter().any(|&p| p > 0);
                if padded && k.iter().any(|&s| s > l.max_padded_pool_kernel) {
                    bad(
                        Constraint::PaddedPoolKernel,
                        format!("padded kernel {}x{}", k[0], k[1]),
                    );
                }
                if k[0] > l.max_pool_kernel_height {
                    bad(
                        Constraint::PoolKernelHeight,
                        format!("kernel height {}", k[0]),
                    );
                }
                if k[0] * k[1] > l.max_pool_kernel_product {
                    bad(
                        Constraint::PoolKernelProduct,
                        format!("kernel {}x{}", k[0], k[1]),
                    );
                }
            }
        }
    }
    if weighted {
        match n.input(1).map(|w| g.tensor(w)) {
            Some(w)
                if w.dtype == DType::I8
                    && w.is_const()
                    && w.quant
                        .as_ref()
                        .is_some_and(|q| q.zero_point.iter().all(|&z| z == 0)) =>
            {
                let data = w.data.as_deref().unwrap_or(&[]);
                let per = |o: usize| -> i64 {
                    match &n.op {
                        Op::DepthwiseConv2d { .. } => {
                            let c = *w.shape.last().unwrap_or(&1);
                            data.iter()
                                .skip(o)
                                .step_by(c.max(1))
                                .map(|&b| (b as i8 as i64).abs())
                                .sum()
                        }
                        _ => {
                            let per_oc = data.len() / w.shape[0].max(1);
                            data[o * per_oc..(o + 1) * per_oc]
                                .iter()
                                .map(|&b| (b as i8 as i64).abs())
                                .sum()
                        }
                    }
                };
                let channels = match &n.op {
                    Op::DepthwiseConv2d { .. } => *w.shape.last().unwrap_or(&0),
                    _ => w.shape[0],
                };
                if let Some((o, s)) = (0..channels)
                    .map(|o| (o, per(o)))
                    .find(|&(_, s)| s > l.max_weight_sum)
                {
                    bad(
                        Constraint::WeightSum,
                        format!("output channel {o} has a weight sum of {s}"),
                    );
                }
            }
            Some(w) => bad(
                Constraint::ConstantWeights,
                format!(
                    "weights {} are {}{}",
                    w.name,
                    w.dtype,
                    if w.is_const() {
                        ""
                    } else {
                        " and not constant"
                    }
                ),
            ),
            None => bad(Constraint::ConstantWeights, "no weights".into()),
        }
        if let Some(b) = n.input(2).map(|b| g.tensor(b)) {
            let ok = b.dtype == DType::I32 && b.is_const();
            if !ok {
                bad(
                    Constraint::Bias,
                    format!(
                        "bias {} is {}{}",
                        b.name,
                        b.dtype,
                        if b.is_const() {
                            ""
                        } else {
                            " and not constant"
                        }
                    ),
                );
            }
        }
    }
    if let (
        Op::Add { .. } | Op::Sub { .. } | Op::Mul { .. } | Op::Maximum | Op::Minimum,
        Some(a),
        Some(b),
        Some(&y),
    ) = (&n.op, n.input(0), n.input(1), n.outputs.first())
    {
        let ys = &g.tensor(y).shape;
        for t in [a, b] {
            let s = &g.tensor(t).shape;
            let fits = s.len() <= ys.len()
                && s.iter()
                    .rev()
                    .zip(ys.iter().rev())
                    .all(|(&d, &o)| d == o || d == 1);
            if !fits {
                bad(
                    Constraint::Broadcast,
                    format!("operand shape {s:?} for output {ys:?}"),
                );
            }
        }
    }
    if v.is_empty() {
        Ok(())
    } else {
        Err(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Act, Graph, Quant, Tensor, Window};

    fn t(g: &mut Graph, shape: &[usize], dtype: DType, data: Option<Vec<u8>>) -> TensorId {
        g.add_tensor(Tensor {
            name: format!("t{}", g.tensors.len()),
            dtype,
            shape: shape.to_vec(),
            quant: Some(Quant::per_tensor(0.1, 0)),
            data,
        })
    }

    fn conv(stride: usize, dilation: usize, k: usize, dtype: DType) -> (Graph, Node) {
        let mut g = Graph::default();
        let x = t(&mut g, &[1, 16, 16, 4], dtype, None);
        let w = t(
            &mut g,
            &[8, k, k, 4],
            DType::I8,
            Some(vec![1; 8 * k * k * 4]),
        );
        let y = t(&mut g, &[1, 8, 8, 8], DType::I8, None);
        let n = Node {
            name: "c".into(),
            source_op: "CONV_2D".into(),
            op: Op::Conv2d {
                win: Window {
                    stride: [stride; 2],
                    dilation: [dilation; 2],
                    pads: [0; 4],
                },
                groups: 1,
                act: Act::None,
            },
            inputs: vec![Some(x), Some(w), None],
            outputs: vec![y],
        };
        (g, n)
    }

    #[test]
    fn accepts_a_plain_convolution_and_lists_every_violation() {
        let (g, n) = conv(1, 1, 3, DType::I8);
        assert!(check(&g, &n, limits(false)).is_ok());
        let (g, n) = conv(4, 3, 3, DType::F32);
        let v = check(&g, &n, limits(false)).unwrap_err();
        let kinds: Vec<Constraint> = v.iter().map(|v| v.constraint).collect();
        assert!(kinds.contains(&Constraint::StrideRange), "{kinds:?}");
        assert!(kinds.contains(&Constraint::DilationRange), "{kinds:?}");
        assert!(kinds.contains(&Constraint::Int8Activations), "{kinds:?}");
        let (g, n) = conv(1, 2, 40, DType::I8);
        let kinds: Vec<Constraint> = check(&g, &n, limits(false))
            .unwrap_err()
            .iter()
            .map(|v| v.constraint)
            .collect();
        assert!(
            kinds.contains(&Constraint::DilatedHeight)
                && kinds.contains(&Constraint::DilatedProduct)
        );
        for c in all_constraints() {
            assert!(!c.to_string().is_empty());
        }
    }
}
