//! Pooling: max, average, reduce-sum.

use super::*;

pub(crate) fn pool(
    m: &mut NpuModel,
    offset: u32,
    param: u16,
    mem: &mut NpuMemory<'_, '_>,
) -> Result<OpReport, NpuError> {
    let r = m.regs;
    let mode = PoolingMode::from_bits(param as u32 & 7).ok_or(NpuError::Field {
        offset,
        register: Opcode::Cmd0(C0::OP_POOL),
        bad: BadField {
            field: "pooling_mode",
            value: param as u32 & 7,
        },
    })?;
    let shram_op = if mode == PoolingMode::ReduceSum {
        ShramOp::ReduceSum
    } else {
        ShramOp::Pool
    };
    check_shram(m, offset, shram_op)?;
    let od = ofm_dims(&r);
    let k = kernel(&r, offset, od)?;
    let (ifm, _) = ifm(&r, offset)?;
    let (ofm, op) = ofm(&r, offset)?;
    let out = OutStage::new(&r, offset, &ofm)?;
    let ifm_depth = r.r0(C0::SET_IFM_DEPTH_M1) as u64 + 1;
    let (scale, shift) = global_scale(&r);
    let taps = k.taps_h * k.taps_w;
    let sum_depth = if mode == PoolingMode::ReduceSum {
        ifm_depth
    } else {
        1
    };
    if mode != PoolingMode::ReduceSum && ifm_depth < od.d {
        return Err(invalid(
            offset,
            "pooling IFM depth below the OFM depth",
            ifm_depth as i64,
        ));
    }
    let work = od.h * od.w * od.d * taps * sum_depth;
    m.spend(offset, work)?;
    for oy in 0..od.h {
        for ox in 0..od.w {
            for oc in 0..od.d {
                let mut acc: i64 = 0;
                let mut max: Option<i64> = None;
                for ky in 0..k.taps_h {
                    for kx in 0..k.taps_w {
                        let Some((y, x)) = k.source(oy, ox, ky, kx) else {
                            continue;
                        };
                        match mode {
                            PoolingMode::Max => {
                                let v = ifm.read(mem, offset, y, x, oc)?;
                                max = Some(max.map_or(v, |mx| mx.max(v)));
                            }
                            PoolingMode::Average => {
                                acc += ifm.read(mem, offset, y, x, oc)? - ifm.zp;
                            }
                            PoolingMode::ReduceSum => {
                                for ic in 0..ifm_depth {
                                    acc += ifm.read(mem, offset, y, x, ic)? - ifm.zp;
                                }
                            }
                        }
                    }
                }
                if mode == PoolingMode::Max {
                    // All-padding windows produce the IFM zero point.
                    acc = max.unwrap_or(ifm.zp) - ifm.zp;
                }
                let v = rescale(acc, scale, shift, op.round_mode);
                let v = out.apply(&m.lut, v);
                ofm.write(mem, offset, oy, ox, oc, v)?;
            }
        }
    }
    let cost = perf::block_op(
        &m.config,
        &BlockOp {
            dpu: match mode {
                PoolingMode::ReduceSum => Dpu::ReduceSum,
                _ => Dpu::Pool {
                    max: mode == PoolingMode::Max,
                },
            },
            ofm_shape: (od.h, od.w, od.d),
            block: ofm_block(&r),
            taps: (k.taps_h, k.taps_w),
            dilation: (k.dil_y, k.dil_x),
            stride: (k.stride_y, k.stride_x),
            upscale: k.upscale_factor(),
            ifm_depth,
            ifm_bits: (ifm.elem * 8) as u32,
            lut: !matches!(out.lut, Lut::None),
            ifm: ifm.usage(ifm_depth),
            ofm: ofm.usage(od.d),
            weights: None,
            scales: None,
        },
    );
    Ok(report(offset, OpKind::Pool(mode), work, cost))
}
