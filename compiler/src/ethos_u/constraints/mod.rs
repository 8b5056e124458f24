//! The NPU's operator constraints, as data: the partitioner, `kiln compile`'s placement
//! report and the `cpu_fallback = false` error all read this one table.
//!
//! [`check`] answers, for one IR node, whether the Ethos-U55/U65 can run it, and if not lists
//! *every* violated rule ([`Constraint`]) with the node's actual numbers. The numbers that are
//! data live in one table, [`NpuLimits`] (U55 and U65 share it: Vela applies the same checks to
//! both). What kiln's lowering additionally requires (e.g. equal input and output quantization
//! where it has no rescale) is refused later by [`super::lower`] with its own reason.
//!
//! The rules follow Vela's supported-operator checks (read, then rewritten). Each constraint's
//! [`Constraint::source`] names the file it comes from:
//! - `ethosu/vela/tflite_supported_operators.py` (Vela's Python core, 3.x-5.x): `tens_dim_range`,
//!   `stride_range = (1, 3)`, `dilated_height_range = (1, 64)`, `dilated_product_range =
//!   (1, 64 * 64)`, `weights_limit = 127 * 65536`, `filter_range = (1, 8)`, `filter_height_range =
//!   (1, 256)`, `filter_product_range = (1, 256 * 256)`, batch 1, per-axis quantization, fused
//!   activation types, bias type/40 bits, broadcast, Min/Max quantization, pad and transpose rules.
//! - `ethosu/vela/tflite_model_semantic.py`: rank <= 4, quantization present and finite,
//!   matching input/output types and shapes, softmax beta, concat/pad/reshape shape semantics.
//! - `ethosu/regor/tflite/tflite_supported_operators.cpp` (Vela 5.x's default C++ core, Regor):
//!   average/max-pool kernels, weight sum per output channel (depthwise per channel), bias
//!   "stored in the channel axis", Mean (`MAX_MEAN_KERNEL_SIZE = 64 * 64`, `1 << 24` / `1 << 23` /
//!   `1 << 16` reduced elements), Softmax (`W * H <= 1 << 16`), FC weight shape.
//! - `ethosu/regor/tflite/tflite_supported_operators_u55.cpp` (also used for U65): weight-sum
//!   limits `127 * (1 << 16)` for 8- and 16-bit IFMs, one elementwise input must match the OFM,
//!   resize scale factors, transpose permutations and their shape limits, 32-bit operators.
//! - `ethosu/regor/architecture/ethosu55/ethos_u55_constraints.cpp`: `MAX_AXIS = 1 << 16` for the
//!   H, W, C axes, dilation > 2 needs decomposition, zero points (non-negative for unsigned, 0 for
//!   32-bit), per-channel IFM scales unsupported, no float.
//! - `ethosu/regor/architecture/ethosu65/ethos_u65_interface.hpp` (the register layout Regor's U55
//!   generator also uses): `NPU_SET_IFM_PAD_TOP/LEFT` are 7-bit, `..._BOTTOM/RIGHT` 8-bit.
//!
//! Where Vela's two cores disagree the table says which it follows (see the field docs of
//! [`NpuLimits`]). Strides above 3 and dilations above 2 of convolutions are the hardware's limits
//! per operation; kiln's lowering decomposes convolutions beyond them (`lower/conv.rs`), so the
//! table holds pools to them and convolutions only to a factor of at least 1.

mod kernel;
mod per_op;
mod table;

pub use table::*;

use crate::ir::{Act, DType, Graph, Node, Op, Quant, Tensor, TensorId};

/// What the NPU can do with node `n` of `g`: `Ok(())` or every violated constraint (all of
/// them, not only the first). Never panics on malformed nodes (they violate [`Constraint::Operands`]).
pub fn check(g: &Graph, n: &Node, limits: &NpuLimits) -> Result<(), Vec<Violation>> {
    let mut c = Checker {
        g,
        n,
        l: limits,
        v: Vec::new(),
    };
    c.run();
    if c.v.is_empty() {
        Ok(())
    } else {
        Err(c.v)
    }
}

/// The tensors of a node by role.
struct Roles {
    ifms: Vec<TensorId>,
    weights: Option<TensorId>,
    bias: Option<TensorId>,
    ofm: TensorId,
}

struct Checker<'a> {
    g: &'a Graph,
    n: &'a Node,
    l: &'a NpuLimits,
    v: Vec<Violation>,
}

fn is_weighted(op: &Op) -> bool {
    matches!(
        op,
        Op::Conv2d { .. } | Op::DepthwiseConv2d { .. } | Op::FullyConnected { .. }
    )
}

fn is_binary(op: &Op) -> bool {
    matches!(
        op,
        Op::Add { .. } | Op::Sub { .. } | Op::Mul { .. } | Op::Maximum | Op::Minimum
    )
}

fn fused_act(op: &Op) -> Option<Act> {
    match op {
        Op::Conv2d { act, .. }
        | Op::DepthwiseConv2d { act, .. }
        | Op::FullyConnected { act }
        | Op::Add { act }
        | Op::Sub { act }
        | Op::Mul { act }
        | Op::AvgPool2d { act, .. }
        | Op::MaxPool2d { act, .. } => Some(*act),
        _ => None,
    }
}

fn is_activation(op: &Op) -> bool {
    matches!(
        op,
        Op::Logistic
            | Op::Tanh
            | Op::HardSwish
            | Op::HardSigmoid { .. }
            | Op::LeakyRelu { .. }
            | Op::Relu
            | Op::Relu6
            | Op::ReluN1To1
            | Op::Clip { .. }
    )
}

fn int_range(d: DType) -> Option<(i64, i64)> {
    Some(match d {
        DType::I8 => (i8::MIN as i64, i8::MAX as i64),
        DType::U8 => (0, u8::MAX as i64),
        DType::I16 => (i16::MIN as i64, i16::MAX as i64),
        DType::I32 => (i32::MIN as i64, i32::MAX as i64),
        DType::I64 => (i64::MIN, i64::MAX),
        DType::F32 | DType::Bool => return None,
    })
}

fn is_signed(d: DType) -> bool {
    matches!(d, DType::I8 | DType::I16 | DType::I32 | DType::I64)
}

/// Integer values of a constant tensor (None for float, missing or short data).
fn int_values(t: &Tensor) -> Option<Vec<i64>> {
    let d = t.data.as_deref()?;
    if d.len() != t.nbytes() {
        return None;
    }
    Some(match t.dtype {
        DType::I8 => d.iter().map(|&b| b as i8 as i64).collect(),
        DType::U8 | DType::Bool => d.iter().map(|&b| b as i64).collect(),
        DType::I16 => d
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]) as i64)
            .collect(),
        DType::I32 => d
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
            .collect(),
        DType::I64 => d
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        DType::F32 => return None,
    })
}

/// `shape` left-padded with ones to 4 dimensions (None above 4).
fn pad4(shape: &[usize]) -> Option<[usize; 4]> {
    let k = 4usize.checked_sub(shape.len())?;
    let mut s = [1; 4];
    s[k..].copy_from_slice(shape);
    Some(s)
}

/// NumPy broadcast of two shapes (None when a pair is neither equal nor 1).
fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let at = |s: &[usize], i: usize| {
        if i < r - s.len() {
            1
        } else {
            s[i - (r - s.len())]
        }
    };
    (0..r)
        .map(|i| {
            let (x, y) = (at(a, i), at(b, i));
            if x == y || y == 1 {
                Some(x)
            } else if x == 1 {
                Some(y)
            } else {
                None
            }
        })
        .collect()
}

/// Equal shapes once leading ones are dropped (`[4, 8]` and `[1, 4, 8]`).
fn same_up_to_leading_ones(a: &[usize], b: &[usize]) -> bool {
    let strip = |s: &[usize]| -> Vec<usize> { s.iter().copied().skip_while(|&d| d == 1).collect() };
    strip(a) == strip(b)
}

fn quant_eq(a: &Option<Quant>, b: &Option<Quant>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.scale == b.scale && a.zero_point == b.zero_point,
        _ => false,
    }
}

impl<'a> Checker<'a> {
    fn bad(&mut self, constraint: Constraint, detail: String) {
        self.v.push(Violation { constraint, detail });
    }

    fn t(&self, id: TensorId) -> &'a Tensor {
        self.g.tensor(id)
    }

    fn run(&mut self) {
        let n = self.n;
        if matches!(n.op, Op::MatMul | Op::Dequantize) {
            self.bad(
                Constraint::UnsupportedOperator,
                format!("{} does not run on the NPU", n.op.name()),
            );
            return;
        }
        let Some(r) = self.roles() else { return };
        let ofm = self.t(r.ofm);
        for &i in &r.ifms {
            self.feature_map(i, true);
        }
        self.feature_map(r.ofm, false);
        if let Some(act) = fused_act(&n.op) {
            if act != Act::None && !self.l.fused_activation_dtypes.contains(&ofm.dtype) {
                self.bad(
                    Constraint::FusedActivationType,
                    format!(
                        "{} has a fused activation and output '{}' is {}",
                        n.op.name(),
                        ofm.name,
                        ofm.dtype
                    ),
                );
            }
        }
        if matches!(n.op, Op::HardSwish | Op::HardSigmoid { .. }) {
            let x = self.t(r.ifms[0]);
            if !matches!(x.dtype, DType::I8 | DType::U8) {
                self.bad(
                    Constraint::EightBitInput,
                    format!(
                        "{} input '{}' is {}, not i8 or u8",
                        n.op.name(),
                        x.name,
                        x.dtype
                    ),
                );
            }
        }
        self.types_and_shapes(&r);
        if is_weighted(&n.op) {
            self.weights(&r);
        }
        self.window(&r);
        self.per_op(&r);
    }

    /// The node's tensors by role, or `None` (with an [`Constraint::Operands`] violation).
    fn roles(&mut self) -> Option<Roles> {
        let n = self.n;
        let mut missing: Vec<String> = Vec::new();
        let need = |i: usize, what: &str, missing: &mut Vec<String>| {
            if n.input(i).is_none() {
                missing.push(format!("no {what} (operand {i})"));
            }
        };
        let ifms: Vec<TensorId> = match &n.op {
            Op::Concat { .. } => {
                if n.inputs.is_empty() || n.inputs.iter().any(Option::is_none) {
                    missing.push("a missing concatenation input".into());
                }
                n.inputs.iter().flatten().copied().collect()
            }
            op if is_binary(op) => {
                need(0, "first input", &mut missing);
                need(1, "second input", &mut missing);
                n.input(0).into_iter().chain(n.input(1)).collect()
            }
            _ => {
                need(0, "input", &mut missing);
                n.input(0).into_iter().collect()
            }
        };
        let weighted = is_weighted(&n.op);
        if weighted {
            need(1, "weights", &mut missing);
        }
        if n.outputs.len() != 1 {
            missing.push(format!("{} outputs instead of 1", n.outputs.len()));
        }
        let mut all = n.inputs.iter().flatten().chain(n.outputs.iter());
        if let Some(t) = all.find(|t| t.0 >= self.g.tensors.len()) {
            missing.push(format!("tensor id {} outside the graph", t.0));
        }
        if !missing.is_empty() {
            self.bad(
                Constraint::Operands,
                format!("node '{}' has {}", n.name, missing.join(", ")),
            );
            return None;
        }
        Some(Roles {
            ifms,
            weights: if weighted { n.input(1) } else { None },
            bias: if weighted { n.input(2) } else { None },
            ofm: n.outputs[0],
        })
    }

    /// The generic rules for one feature map.
    fn feature_map(&mut self, id: TensorId, is_ifm: bool) {
        let (n, l, t) = (self.n, self.l, self.t(id));
        let int32_ok = t.dtype == DType::I32 && int32_feature_map(&n.op);
        if !l.feature_map_dtypes.contains(&t.dtype) && !int32_ok {
            let what = match t.dtype {
                DType::F32 => " (floating point)",
                DType::I64 => " (64-bit)",
                DType::I32 => " (i32 only for Add, Sub, Mul, Reshape and Transpose)",
                _ => "",
            };
            self.bad(
                Constraint::FeatureMapType,
                format!(
                    "tensor '{}' of {} is {}{what}",
                    t.name,
                    n.op.name(),
                    t.dtype
                ),
            );
        }
        self.quantization(t, !matches!(n.op, Op::Pad { .. } | Op::Transpose { .. }));
        if let Some(q) = &t.quant {
            if q.scale.len() > 1 || q.zero_point.len() > 1 {
                self.bad(
                    Constraint::PerAxisQuant,
                    format!(
                        "feature map '{}' has {} quantization scales (per axis {})",
                        t.name,
                        q.scale.len(),
                        q.axis
                    ),
                );
            }
            if let Some((lo, hi)) = int_range(t.dtype) {
                let (lo, hi) = if t.dtype == DType::I32 {
                    (0, 0)
                } else {
                    (lo, hi)
                };
                if let Some(z) = q
                    .zero_point
                    .iter()
                    .find(|&&z| !(lo..=hi).contains(&(z as i64)))
                {
                    self.bad(
                        Constraint::ZeroPoint,
                        format!(
                            "tensor '{}' ({}) has zero point {z}, outside [{lo}, {hi}]",
                            t.name, t.dtype
                        ),
                    );
                }
            }
        }
        self.dims(t);
        let batch_exempt = matches!(
            n.op,
            Op::FullyConnected { .. } | Op::Softmax { .. } | Op::Reshape
        );
        if is_ifm && !batch_exempt && t.shape.len() >= 4 && t.shape[0] != 1 {
            self.bad(
                Constraint::Batch,
                format!(
                    "input '{}' has shape {:?}: batch {}",
                    t.name, t.shape, t.shape[0]
                ),
            );
        }
    }

    /// Quantization present (when `required` and the type is an integer) and scales valid.
    fn quantization(&mut self, t: &Tensor, required: bool) {
        match &t.quant {
            None if required && int_range(t.dtype).is_some() => self.bad(
                Constraint::Quantized,
                format!("tensor '{}' ({}) has no quantization", t.name, t.dtype),
            ),
            Some(q)
                if q.scale.is_empty()
                    || q.zero_point.is_empty()
                    || q.scale.iter().any(|s| !(s.is_finite() && *s > 0.0)) =>
            {
                self.bad(
                    Constraint::QuantScale,
                    format!("tensor '{}' has quantization scale {:?}", t.name, q.scale),
                )
            }
            _ => {}
        }
    }

    /// Rank and dimension range of a tensor.
    fn dims(&mut self, t: &Tensor) {
        let l = self.l;
        if t.shape.len() > l.max_rank {
            self.bad(
                Constraint::Rank,
                format!(
                    "tensor '{}' has shape {:?}: {} dimensions, more than {}",
                    t.name,
                    t.shape,
                    t.shape.len(),
                    l.max_rank
                ),
            );
        }
        if let Some(&d) = t.shape.iter().find(|&&d| d == 0 || d > l.max_dim) {
            self.bad(
                Constraint::DimensionRange,
                format!(
                    "tensor '{}' has shape {:?}: dimension {d} outside [1, {}]",
                    t.name, t.shape, l.max_dim
                ),
            );
        }
    }

    fn types_and_shapes(&mut self, r: &Roles) {
        let n = self.n;
        let ofm = self.t(r.ofm);
        let same_types = is_activation(&n.op)
            || matches!(
                n.op,
                Op::AvgPool2d { .. }
                    | Op::MaxPool2d { .. }
                    | Op::Maximum
                    | Op::Minimum
                    | Op::Softmax { .. }
                    | Op::Mean { .. }
                    | Op::Concat { .. }
                    | Op::Pad { .. }
                    | Op::Transpose { .. }
                    | Op::Reshape
                    | Op::ResizeNearest { .. }
            );
        if same_types {
            for &i in &r.ifms {
                let x = self.t(i);
                if x.dtype != ofm.dtype {
                    self.bad(
                        Constraint::InOutTypes,
                        format!(
                            "{} input '{}' is {} but output '{}' is {}",
                            n.op.name(),
                            x.name,
                            x.dtype,
                            ofm.name,
                            ofm.dtype
                        ),
                    );
                }
            }
        }
        if matches!(n.op, Op::Add { .. } | Op::Sub { .. } | Op::Mul { .. }) {
            let (a, b) = (self.t(r.ifms[0]), self.t(r.ifms[1]));
            let out_ok = if is_signed(a.dtype) {
                is_signed(ofm.dtype)
            } else {
                ofm.dtype == a.dtype || ofm.dtype == DType::I32
            };
            if a.dtype != b.dtype || !out_ok {
                self.bad(
                    Constraint::BinaryInputTypes,
                    format!(
                        "{} has inputs {} and {} and output {}",
                        n.op.name(),
                        a.dtype,
                        b.dtype,
                        ofm.dtype
                    ),
                );
            }
        }
        if is_activation(&n.op) || matches!(n.op, Op::Softmax { .. } | Op::Quantize { .. }) {
            let x = self.t(r.ifms[0]);
            if x.shape != ofm.shape {
                self.bad(
                    Constraint::InOutShapes,
                    format!(
                        "{} input '{}' has shape {:?} but output '{}' has {:?}",
                        n.op.name(),
                        x.name,
                        x.shape,
                        ofm.name,
                        ofm.shape
                    ),
                );
            }
        }
        if is_binary(&n.op) {
            let (a, b) = (self.t(r.ifms[0]), self.t(r.ifms[1]));
            let fits = broadcast(&a.shape, &b.shape)
                .is_some_and(|s| same_up_to_leading_ones(&s, &ofm.shape));
            if !fits {
                self.bad(
                    Constraint::Broadcast,
                    format!(
                        "{} operand shapes {:?} and {:?} do not broadcast to the output's {:?}",
                        n.op.name(),
                        a.shape,
                        b.shape,
                        ofm.shape
                    ),
                );
            } else if !same_up_to_leading_ones(&a.shape, &ofm.shape)
                && !same_up_to_leading_ones(&b.shape, &ofm.shape)
            {
                self.bad(
                    Constraint::BroadcastOneInput,
                    format!(
                        "neither operand shape {:?} nor {:?} equals the output's {:?}",
                        a.shape, b.shape, ofm.shape
                    ),
                );
            }
            if matches!(n.op, Op::Maximum | Op::Minimum) {
                for x in [a, b] {
                    if !quant_eq(&x.quant, &ofm.quant) {
                        self.bad(
                            Constraint::MinMaxQuant,
                            format!(
                                "input '{}' is quantized {} but output '{}' {}",
                                x.name,
                                describe_q(&x.quant),
                                ofm.name,
                                describe_q(&ofm.quant)
                            ),
                        );
                    }
                }
            }
        }
    }
}

fn describe_q(q: &Option<Quant>) -> String {
    match q {
        None => "not at all".into(),
        Some(q) if q.is_per_tensor() => {
            format!(
                "with scale {} and zero point {}",
                q.scale[0], q.zero_point[0]
            )
        }
        Some(q) => format!("per channel ({} scales)", q.scale.len()),
    }
}

#[cfg(test)]
mod tests;
