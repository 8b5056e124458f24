//! Elementwise operations, binary (with broadcast and scalars) and unary.

use super::*;

pub(crate) fn elementwise(
    m: &mut NpuModel,
    offset: u32,
    param: u16,
    mem: &mut NpuMemory<'_, '_>,
) -> Result<OpReport, NpuError> {
    let r = m.regs;
    let mode = ElementwiseMode::from_bits(param as u32 & 0x3F).ok_or(NpuError::Field {
        offset,
        register: Opcode::Cmd0(C0::OP_ELEMENTWISE),
        bad: BadField {
            field: "elementwise_mode",
            value: param as u32 & 0x3F,
        },
    })?;
    let od = ofm_dims(&r);
    let (ifm, ip) = ifm(&r, offset)?;
    let (ofm, op) = ofm(&r, offset)?;
    let out = OutStage::new(&r, offset, &ofm)?;
    let binary = mode.is_binary();
    let bc = Ifm2Broadcast::decode(r.r0(C0::SET_IFM2_BROADCAST));
    let ifm2_kind = match (binary, bc.broadcast_constant) {
        (false, _) => Ifm2Kind::None,
        (true, true) => Ifm2Kind::Scalar,
        (true, false) => Ifm2Kind::FeatureMap,
    };
    check_shram(m, offset, ShramOp::Elementwise { ifm2: ifm2_kind })?;
    let ifm2 = if binary {
        Some(ifm2(&r, offset)?)
    } else {
        None
    };
    let (ofm_scale, ofm_shift) = global_scale(&r);
    let (opa_p, opa_scale) = r.r1(C1::SET_OPA_SCALE);
    let opa_shift = (opa_p & 0x3F) as u32;
    let opb_scale = r.r1(C1::SET_OPB_SCALE).1 & 0xFFFF;
    let wide = ip.precision.bytes() == 4 || ifm2.is_some_and(|f| f.elem == 4);
    // The operand that is not scaled in OPA_32/OPB_32 mode is aligned with
    // the scaled one's fixed point: 2^19 for 8-bit inputs, 2^14 for 16-bit
    // (Vela's advanced add/sub scaling uses input shifts of 20 and 15).
    let unscaled_shift = if ip.precision.bytes() == 1 { 19 } else { 14 };
    let work = od.h * od.w * od.d;
    m.spend(offset, work)?;
    for y in 0..od.h {
        for x in 0..od.w {
            for c in 0..od.d {
                let a = ifm.read(mem, offset, y, x, c)? - ifm.zp;
                let b = match ifm2 {
                    Some(f) if bc.broadcast_constant => {
                        zero_point(r.r0(C0::SET_IFM2_SCALAR), f.signed) - f.zp
                    }
                    Some(f) => {
                        let (y2, x2, c2) = (
                            if bc.broadcast_h { 0 } else { y },
                            if bc.broadcast_w { 0 } else { x },
                            if bc.broadcast_c { 0 } else { c },
                        );
                        f.read(mem, offset, y2, x2, c2)? - f.zp
                    }
                    None => 0,
                };
                let (a, b) = if bc.operand_order == OperandOrder::OrderA && binary {
                    (b, a)
                } else {
                    (a, b)
                };
                let v = match mode {
                    ElementwiseMode::Add | ElementwiseMode::Sub => {
                        let (sa, sb) = match ip.scale_mode {
                            IfmScaleMode::OpaOpb16 => (
                                rescale(a, opa_scale, opa_shift, ip.round_mode),
                                b.saturating_mul(opb_scale as i64),
                            ),
                            IfmScaleMode::Opa32 => (
                                rescale(a, opa_scale, opa_shift, ip.round_mode),
                                b << unscaled_shift,
                            ),
                            IfmScaleMode::Opb32 => (
                                a << unscaled_shift,
                                rescale(b, opa_scale, opa_shift, ip.round_mode),
                            ),
                        };
                        let s = if mode == ElementwiseMode::Add {
                            sa.saturating_add(sb)
                        } else {
                            sa.saturating_sub(sb)
                        };
                        rescale(s, ofm_scale, ofm_shift, op.round_mode)
                    }
                    ElementwiseMode::Mul => {
                        let p = a.saturating_mul(b);
                        if wide {
                            // 32-bit operands: the product is only shifted.
                            rescale(p, 1, ofm_shift, op.round_mode)
                        } else {
                            rescale(p, ofm_scale, ofm_shift, op.round_mode)
                        }
                    }
                    ElementwiseMode::Min => rescale(a.min(b), ofm_scale, ofm_shift, op.round_mode),
                    ElementwiseMode::Max => rescale(a.max(b), ofm_scale, ofm_shift, op.round_mode),
                    ElementwiseMode::Abs => {
                        rescale(a.saturating_abs(), ofm_scale, ofm_shift, op.round_mode)
                    }
                    ElementwiseMode::Lrelu => {
                        if a < 0 {
                            rescale(a, ofm_scale, ofm_shift, op.round_mode)
                        } else {
                            a
                        }
                    }
                    ElementwiseMode::Clz => (a as i32 as u32).leading_zeros() as i64,
                    ElementwiseMode::Shl => {
                        let s = b.clamp(0, 63) as u32;
                        (a as i128)
                            .checked_shl(s)
                            .unwrap_or(0)
                            .clamp(i64::MIN as i128, i64::MAX as i128)
                            as i64
                    }
                    ElementwiseMode::Shr => {
                        round_shift(a as i128, b.clamp(0, 63) as u32, op.round_mode) as i64
                    }
                };
                let v = out.apply(&m.lut, v);
                ofm.write(mem, offset, y, x, c, v)?;
            }
        }
    }
    let cost = perf::elementwise(
        &m.config,
        &ElementwiseOp {
            mode,
            ofm_shape: (od.h, od.w, od.d),
            block: ofm_block(&r),
            ifm: ifm.usage(od.d),
            ifm2: ifm2
                .filter(|_| !bc.broadcast_constant)
                .map(|f| f.usage(od.d)),
            ifm2_elems: [
                (bc.broadcast_h, od.h),
                (bc.broadcast_w, od.w),
                (bc.broadcast_c, od.d),
            ]
            .iter()
            .map(|&(b, n)| if b { 1 } else { n })
            .product(),
            binary,
            ofm: ofm.usage(od.d),
            lut: !matches!(out.lut, Lut::None),
        },
    );
    Ok(report(offset, OpKind::Elementwise(mode), work, cost))
}
