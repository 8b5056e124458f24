//! The operator table: every operator kiln-rt can run, with the name the `.pte`
//! gives it. One source of truth: the `.pte` writer in `kiln-compiler` emits these
//! names and argument layouts, the executor resolves them once at load time to
//! an index into a kernel table, and nothing compares strings at run time.
//!
//! Naming follows ExecuTorch where ExecuTorch has the operator:
//! `aten::*.out` portable operators (f32, and dtype-agnostic data movement),
//! `quantized_decomposed::*` for ExecuTorch's quantize/dequantize, and
//! `cortex_m::*` for the int8 CMSIS-NN-style operators of ExecuTorch's
//! Cortex-M backend. Operators ExecuTorch does not have live in the `kiln::`
//! namespace; each is documented on its variant.
//!
//! Argument layouts are EValue indices in `KernelCall.args`, following
//! ExecuTorch's convention: schema arguments in order, then the `out`
//! tensor(s), then the returned value (the out EValue again). Scalars are `Int`,
//! `Double` or `Bool` EValues, lists are `IntList`, absent optionals are `Null`.
//! int8 operators take requantization parameters precomputed by the compiler
//! (TFLite's `QuantizeMultiplier`: a Q31 multiplier and a shift, positive = left).

macro_rules! op_table {
    ($( $(#[$doc:meta])* $variant:ident => ($name:literal, $overload:literal), )*) => {
        /// An operator kiln-rt implements, as the `.pte` names it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum OpKind {
            $( $(#[$doc])* $variant, )*
        }

        impl OpKind {
            /// Every operator, in table order (`ALL[k as usize] == k`).
            pub const ALL: &'static [OpKind] = &[ $( OpKind::$variant, )* ];

            /// Fully qualified operator name, e.g. `aten::convolution`.
            pub const fn name(self) -> &'static str {
                match self { $( OpKind::$variant => $name, )* }
            }

            /// Overload name, e.g. `out`.
            pub const fn overload(self) -> &'static str {
                match self { $( OpKind::$variant => $overload, )* }
            }
        }
    };
}

op_table! {
    // ---- ExecuTorch quantize / dequantize (kernels/quantized) -------------
    /// `[x f32, scale Double, zero_point Int, quant_min Int, quant_max Int, dtype Int, out, out]`;
    /// `q = clamp(zp + nearbyint(float(1/scale) * x))` in f32, round half to even (ExecuTorch's formula).
    QdQuantizePerTensor => ("quantized_decomposed::quantize_per_tensor", "out"),
    /// `[q, scale Double, zero_point Int, quant_min Int, quant_max Int, dtype Int, out_dtype Null|Int, out, out]`;
    /// `x = (q - zp) * scale` in f32.
    QdDequantizePerTensor => ("quantized_decomposed::dequantize_per_tensor", "out"),

    // ---- portable aten operators (f32; data movement for any dtype) -------
    /// `[x, weight, bias|Null, stride IntList, padding IntList, dilation IntList, transposed Bool,
    /// output_padding IntList, groups Int, out, out]`. Honors the tensors' dim_order (NCHW or NHWC memory).
    /// kiln extension: `padding` may be `[top, left, bottom, right]` (asymmetric, e.g. TFLite SAME).
    AtenConvolution => ("aten::convolution", "out"),
    /// `[x, out, out]`.
    AtenRelu => ("aten::relu", "out"),
    /// `[x, kernel IntList, stride IntList, padding IntList, dilation IntList, ceil_mode Bool,
    /// out, indices(LONG), TensorList[out, indices]]`. kiln extensions: `indices` may be `Null`
    /// (not computed; the list is then `[out]`), `padding` may be `[top, left, bottom, right]`.
    AtenMaxPool2dWithIndices => ("aten::max_pool2d_with_indices", "out"),
    /// `[x, kernel IntList, stride IntList, padding IntList, ceil_mode Bool, count_include_pad Bool,
    /// divisor_override Null|Int, out, out]`. kiln extension: `padding` may be `[top, left, bottom, right]`.
    AtenAvgPool2d => ("aten::avg_pool2d", "out"),
    /// `[x, dims IntList, out, out]`; any dtype.
    AtenPermuteCopy => ("aten::permute_copy", "out"),
    /// `[x, size IntList, out, out]`; any dtype (a reshape that could not alias).
    AtenViewCopy => ("aten::view_copy", "out"),
    /// `[bias, mat1, mat2, beta Int|Double, alpha Int|Double, out, out]`: `beta*bias + alpha*(mat1 @ mat2)`.
    AtenAddmm => ("aten::addmm", "out"),
    /// `[a, b, out, out]`: matrix product.
    AtenMm => ("aten::mm", "out"),
    /// `[a, b, alpha Int|Double, out, out]`: broadcasting `a + alpha * b`.
    AtenAdd => ("aten::add", "out"),
    /// `[a, b, alpha Int|Double, out, out]`: broadcasting `a - alpha * b`.
    AtenSub => ("aten::sub", "out"),
    /// `[a, b, out, out]`: broadcasting product.
    AtenMul => ("aten::mul", "out"),
    /// `[a, b, out, out]`.
    AtenMaximum => ("aten::maximum", "out"),
    /// `[a, b, out, out]`.
    AtenMinimum => ("aten::minimum", "out"),
    /// `[x, min Int|Double|Null, max Int|Double|Null, out, out]`.
    AtenClamp => ("aten::clamp", "out"),
    /// `[x, negative_slope Double, out, out]`.
    AtenLeakyRelu => ("aten::leaky_relu", "out"),
    /// `[x, out, out]`.
    AtenSigmoid => ("aten::sigmoid", "out"),
    /// `[x, out, out]`.
    AtenTanh => ("aten::tanh", "out"),
    /// `[x, out, out]`: `x * relu6(x + 3) / 6`.
    AtenHardswish => ("aten::hardswish", "out"),
    /// `[x, dims IntList, keepdim Bool, dtype Null, out, out]`.
    AtenMean => ("aten::mean", "out"),
    /// `[x, dim Int, half_to_float Bool, out, out]`.
    AtenSoftmax => ("aten::_softmax", "out"),
    /// `[tensors TensorList, dim Int, out, out]`; any dtype.
    AtenCat => ("aten::cat", "out"),
    /// `[x, pad IntList (last dim first: [before, after, ...]), value Int|Double, out, out]`; any dtype.
    AtenConstantPadNd => ("aten::constant_pad_nd", "out"),

    // ---- int8 operators of ExecuTorch's Cortex-M backend ------------------
    /// `[x NHWC, weight OHWI, bias INT32|Null, stride IntList, padding IntList [top, left],
    /// dilation IntList, input_offset Int (-x_zp), output_offset Int (y_zp),
    /// multipliers INT32[Cout], shifts INT32[Cout], act_min Int, act_max Int, scratch Null, out, out]`.
    CmQuantizedConv2d => ("cortex_m::quantized_conv2d", "out"),
    /// As `quantized_conv2d` with `depth_multiplier Int` after `dilation`; weight `[1, kh, kw, C*M]`.
    CmQuantizedDepthwiseConv2d => ("cortex_m::quantized_depthwise_conv2d", "out"),
    /// `[x [.., K], weight [N, K], bias INT32|Null, input_offset Int, filter_offset Int, output_offset Int,
    /// multiplier Int|INT32[N], shift Int|INT32[N], act_min Int, act_max Int, out, out]` (TFLite FULLY_CONNECTED
    /// as TFLM runs it: `Int` multiplier/shift = per-tensor, `(w + filter_offset) * (x + input_offset)`;
    /// `INT32[N]` tensors = per-channel `FullyConnectedPerChannel`, filter_offset ignored).
    CmQuantizedLinear => ("cortex_m::quantized_linear", "out"),
    /// `[a, b, params IntList, out, out]`; params =
    /// `[left_shift, a_offset, a_mult, a_shift, b_offset, b_mult, b_shift, out_offset, out_mult, out_shift, act_min, act_max]`
    /// (TFLite ADD; offsets are negated input zero points).
    CmQuantizedAdd => ("cortex_m::quantized_add", "out"),
    /// `[a, b, params IntList, out, out]`; params =
    /// `[a_offset, b_offset, out_offset, out_mult, out_shift, act_min, act_max]` (TFLite MUL).
    CmQuantizedMul => ("cortex_m::quantized_mul", "out"),
    /// `[x NHWC, kernel IntList, stride IntList, padding IntList [top, left], act_min Int, act_max Int, out, out]`
    /// (TFLite AVERAGE_POOL_2D: padded cells excluded from the count).
    CmQuantizedAvgPool2d => ("cortex_m::quantized_avg_pool2d", "out"),
    /// `[x NHWC, kernel IntList, stride IntList, padding IntList [top, left], act_min Int, act_max Int, out, out]`.
    CmQuantizedMaxPool2d => ("cortex_m::quantized_max_pool2d", "out"),
    /// `[x, input_multiplier Int, input_left_shift Int, diff_min Int, out, out]` over the last axis
    /// (TFLite SOFTMAX int8 -> int8).
    CmSoftmax => ("cortex_m::softmax", "out"),
    /// `[x, lut CHAR[256], out, out]`: `y = lut[x + 128]`. Any int8 -> int8 unary operator
    /// (LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, RELU*, requantize) as a table the compiler computed
    /// with the TFLite reference arithmetic.
    CmQuantizedActivation => ("cortex_m::quantized_activation", "out"),
    /// `[a, b, out, out]`: int8 with shared quantization.
    CmMaximum => ("cortex_m::maximum", "out"),
    /// `[a, b, out, out]`: int8 with shared quantization.
    CmMinimum => ("cortex_m::minimum", "out"),

    // ---- kiln's own operators (ExecuTorch has no equivalent) --------------
    /// `[x f32, scale Double, zero_point Int, quant_min Int, quant_max Int, rounding Int, out, out]`:
    /// `q = clamp(zp + round(x / scale))` with f32 division; `rounding` 0 = half to even (ONNX QuantizeLinear),
    /// 1 = half away from zero (TFLite QUANTIZE).
    KilnQuantize => ("kiln::quantize_per_tensor", "out"),
    /// `[a, b, params IntList, out, out]`: TFLite SUB int8; params as `cortex_m::quantized_add`.
    KilnQuantizedSub => ("kiln::quantized_sub", "out"),
    /// `[x, dims IntList, keepdim Bool, input_zp Int, output_zp Int, multiplier Int, shift Int, out, out]`:
    /// TFLite MEAN int8.
    KilnQuantizedMean => ("kiln::quantized_mean", "out"),
    /// `[tensors TensorList, dim Int, params IntList, out, out]`: TFLite CONCATENATION int8;
    /// params = per input `[zp, scale_f32_bits]` then `[out_zp, out_scale_f32_bits]`.
    KilnQuantizedConcat => ("kiln::quantized_concat", "out"),
    /// `[x NHWC, align_corners Bool, half_pixel_centers Bool, out, out]`; any dtype (TFLite RESIZE_NEAREST_NEIGHBOR).
    KilnResizeNearest => ("kiln::resize_nearest", "out"),
    /// `[x, table FLOAT[256], y_scale Double, y_zero_point Int, out, out]`: ONNX Runtime's `QLinearSoftmax`
    /// (what ONNX Runtime fuses `DequantizeLinear -> Softmax -> QuantizeLinear` into) over the last axis:
    /// `e = table[(x - max + 127) as u8]`, `y = nearbyint(e * y_scale / sum(e)) + zp`, in f32; `table` and
    /// `y_scale = floor(1 / output_scale)` are computed by the compiler.
    KilnQLinearSoftmax => ("kiln::qlinear_softmax", "out"),
    /// `[x f32, alpha Double, beta Double, out, out]`: `max(0, min(1, alpha * x + beta))` (ONNX HardSigmoid).
    KilnHardSigmoid => ("kiln::hard_sigmoid", "out"),

    // ---- ONNX Runtime's int8 arithmetic (QDQ ONNX models; kernels/int8/qlinear.rs) --
    /// `[x NHWC, weight OHWI, bias INT32|Null, stride IntList, padding IntList [top, left], dilation IntList,
    /// input_offset Int (-x_zp), output_offset Int (y_zp), scales FLOAT[Cout], act_min Int, act_max Int, out, out]`:
    /// ONNX Runtime's `QLinearConv`: int32 accumulation as `cortex_m::quantized_conv2d`, then
    /// `round_half_even(f32(acc) * scale[c]) + y_zp` with `scale[c] = x_scale * w_scale[c] / y_scale` in f32.
    KilnQLinearConv2d => ("kiln::qlinear_conv2d", "out"),
    /// As `kiln::qlinear_conv2d` with `depth_multiplier Int` after `dilation`; weight `[1, kh, kw, C*M]`.
    KilnQLinearDepthwiseConv2d => ("kiln::qlinear_depthwise_conv2d", "out"),
    /// `[x [.., K], weight [N, K], bias INT32|Null, input_offset Int, filter_offset Int, output_offset Int,
    /// scales FLOAT[1|N], act_min Int, act_max Int, out, out]`: ONNX Runtime's `QGemm`:
    /// `sum((x + input_offset) * (w + filter_offset)) + bias`, requantized as `kiln::qlinear_conv2d`.
    KilnQLinearLinear => ("kiln::qlinear_linear", "out"),
    /// `[a, b, params IntList, out, out]`, broadcasting; params =
    /// `[a_ratio_bits, b_ratio_bits, fixed_bits, domain_offset, act_min, act_max]` (f32 bits):
    /// ONNX Runtime's `QLinearAdd` (MLAS AVX2): `y = round_half_even(fma(a', a_ratio, fma(b', b_ratio, fixed))) - domain_offset`
    /// with `v' = v + domain_offset` (128 where ONNX Runtime runs on uint8), `a_ratio = a_scale / y_scale`,
    /// `fixed = y_zp' - (a_ratio * a_zp' + b_ratio * b_zp')`.
    KilnQLinearAdd => ("kiln::qlinear_add", "out"),
    /// `[x NHWC, kernel IntList, stride IntList, padding IntList [top, left, bottom, right], count_include_pad Bool,
    /// params IntList [x_scale_bits, x_zp, y_scale_bits, y_zp, domain_offset], out, out]`: ONNX Runtime's
    /// `QLinearAveragePool`: a window covering the whole unpadded input is `kiln::qlinear_global_avg_pool`;
    /// otherwise f32: `avg = sum(x_scale * (x - x_zp)) / count`, `y = round_half_even(avg / y_scale + y_zp') - domain_offset`.
    KilnQLinearAvgPool2d => ("kiln::qlinear_avg_pool2d", "out"),
    /// `[x NHWC, params IntList [x_scale_bits, x_zp, y_scale_bits, y_zp, domain_offset], out [n, 1, 1, c], out]`:
    /// ONNX Runtime's `QLinearGlobalAveragePool`: `acc = sum(x) - x_zp * hw` (int32),
    /// `y = round_half_even(f32(acc) * (x_scale / (y_scale * hw))) + y_zp`.
    KilnQLinearGlobalAvgPool => ("kiln::qlinear_global_avg_pool", "out"),
    /// `[tensors TensorList, dim Int, params IntList, out, out]`, params as `kiln::quantized_concat`:
    /// ONNX Runtime's concatenation: `round_half_even((x - x_zp) * x_scale / y_scale) + y_zp` in f32
    /// (a copy when the quantizations are equal).
    KilnQLinearConcat => ("kiln::qlinear_concat", "out"),
}

impl OpKind {
    /// Finds the operator a `.pte` names. Used once per operator at load time.
    pub fn lookup(name: &str, overload: &str) -> Option<OpKind> {
        OpKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == name && k.overload() == overload)
    }
}

impl core::fmt::Display for OpKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{}", self.name(), self.overload())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_order_matches_discriminants_and_names_are_unique() {
        for (i, k) in OpKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
            assert_eq!(OpKind::lookup(k.name(), k.overload()), Some(*k));
        }
        assert_eq!(OpKind::lookup("aten::convolution", "default"), None);
    }
}
