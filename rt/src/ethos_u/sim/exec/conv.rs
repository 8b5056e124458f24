//! Convolution and depthwise convolution: weights decoded from the MLW stream, per-channel scale records.

use super::*;

fn weight_err(offset: u32) -> impl Fn(MlwError) -> NpuError {
    move |e| NpuError::WeightStream {
        offset,
        what: e.what,
        bit: e.bit,
    }
}

/// One per-channel record: (bias, scale, shift).
fn scale_record(
    mem: &NpuMemory<'_, '_>,
    offset: u32,
    region: u8,
    base: u64,
    c: u64,
) -> Result<(i64, u32, u32), NpuError> {
    let a = base.saturating_add(c.saturating_mul(10));
    let b = read_span(mem, offset, Access::Scales, region, a, 10)?;
    // 40-bit two's complement bias, u32 scale, 6-bit shift.
    let raw = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], 0, 0, 0]);
    let bias = ((raw << 24) as i64) >> 24;
    let scale = u32::from_le_bytes([b[5], b[6], b[7], b[8]]);
    Ok((bias, scale, (b[9] & 0x3F) as u32))
}

pub(crate) fn conv(
    m: &mut NpuModel,
    offset: u32,
    mem: &mut NpuMemory<'_, '_>,
    depthwise: bool,
) -> Result<OpReport, NpuError> {
    let r = m.regs;
    let shram_op = if depthwise {
        ShramOp::Depthwise
    } else {
        ShramOp::Conv {
            part_kernel: KernelStride::decode(r.r0(C0::SET_KERNEL_STRIDE)).weight_order
                == WeightTraversal::PartKernelFirst,
        }
    };
    check_shram(m, offset, shram_op)?;
    let od = ofm_dims(&r);
    let k = kernel(&r, offset, od)?;
    let (ifm, ip) = ifm(&r, offset)?;
    let (ofm, op) = ofm(&r, offset)?;
    let out = OutStage::new(&r, offset, &ofm)?;
    let ifm_depth = r.r0(C0::SET_IFM_DEPTH_M1) as u64 + 1;
    if depthwise && ifm_depth < od.d {
        return Err(invalid(
            offset,
            "depthwise IFM depth below the OFM depth",
            ifm_depth as i64,
        ));
    }
    if ip.precision.bytes() > 2 {
        return Err(NpuError::Unsupported {
            offset,
            what: "convolution with 32-bit IFM",
        });
    }
    let w_region = (r.r0(C0::SET_WEIGHT_REGION) & 7) as u8;
    let w_base = r.addr(C1::SET_WEIGHT_BASE);
    let w_len = r.addr(C1::SET_WEIGHT_LENGTH);
    let s_region = (r.r0(C0::SET_SCALE_REGION) & 7) as u8;
    let s_base = r.addr(C1::SET_SCALE_BASE);
    let s_len = r.addr(C1::SET_SCALE_LENGTH);
    let per_channel = op.scale_mode == OfmScaleMode::PerChannel;
    if per_channel && s_len < od.d * 10 {
        return Err(invalid(
            offset,
            "SCALE_LENGTH is shorter than 10 bytes per OFM channel",
            s_len as i64,
        ));
    }
    // Check the weight stream lies in its region before decoding.
    read_span(mem, offset, Access::Weights, w_region, w_base, w_len)?;
    let icd = if depthwise { 1 } else { ifm_depth };
    let taps = k.taps_h * k.taps_w;
    let per_oc = (taps * icd) as usize;
    if per_oc > WEIGHT_CAPACITY {
        return Err(NpuError::Unsupported {
            offset,
            what: "kernel height x width x IFM depth above the model's weight buffer",
        });
    }
    let block_depth = (r.r0(C0::SET_OFM_BLK_DEPTH_M1) & 0x7F) as u64 + 1;
    let order = WeightOrder {
        ifm_ublock_depth: m.config.ifm_ublock_depth(),
        ofm_ublock_depth: m.config.ofm_ublock_depth(),
        ofm_depth: od.d as u32,
        kernel_height: k.taps_h as u32,
        kernel_width: k.taps_w as u32,
        ifm_depth: icd as u32,
        ofm_block_depth: block_depth as u32,
        depthwise,
        part_kernel: k.stride_bits.weight_order == WeightTraversal::PartKernelFirst,
        ifm_bits: ip.precision.bytes() * 8,
        decomp_h: 8 / k.dil_y as u32,
        decomp_w: 8 / k.dil_x as u32,
    };
    let macs = od.h * od.w * od.d * taps * icd;
    m.spend(offset, macs)?;
    let (g_scale, g_shift) = global_scale(&r);
    let group = (WEIGHT_CAPACITY / per_oc).max(1) as u64;
    let mut dec = MlwDecoder::new();
    let mut bz = 0;
    while bz < od.d {
        let bd = block_depth.min(od.d - bz);
        let start = dec;
        let mut gz = bz;
        while gz < bz + bd {
            let gn = group.min(bz + bd - gz);
            // Decode the block's stream, keeping the weights of channels gz..gz+gn.
            dec = start;
            {
                let wbuf = read_span(mem, offset, Access::Weights, w_region, w_base, w_len)?;
                let weights = &mut m.weights;
                order.walk_block(bz as u32, |slot| {
                    let v = dec.expect_weight(wbuf).map_err(weight_err(offset))?;
                    if let Some((oc, ky, kx, ic)) = slot {
                        let oc = oc as u64;
                        if oc >= gz && oc < gz + gn {
                            let i = (oc - gz) as usize * per_oc
                                + ((ky as u64 * k.taps_w + kx as u64) * icd + ic as u64) as usize;
                            if let Some(w) = weights.get_mut(i) {
                                *w = v;
                            }
                        }
                    }
                    Ok::<(), NpuError>(())
                })?;
            }
            for oc in gz..gz + gn {
                let (bias, scale, shift) = if per_channel {
                    scale_record(mem, offset, s_region, s_base, oc)?
                } else {
                    (0, g_scale, g_shift)
                };
                let wbase = (oc - gz) as usize * per_oc;
                for oy in 0..od.h {
                    for ox in 0..od.w {
                        let mut acc = bias;
                        for ky in 0..k.taps_h {
                            for kx in 0..k.taps_w {
                                let Some((y, x)) = k.source(oy, ox, ky, kx) else {
                                    continue;
                                };
                                let wi = wbase + ((ky * k.taps_w + kx) * icd) as usize;
                                if depthwise {
                                    let v = ifm.read(mem, offset, y, x, oc)? - ifm.zp;
                                    acc += v * m.weights[wi] as i64;
                                } else {
                                    for ic in 0..icd {
                                        let v = ifm.read(mem, offset, y, x, ic)? - ifm.zp;
                                        acc += v * m.weights[wi + ic as usize] as i64;
                                    }
                                }
                            }
                        }
                        let v = rescale(acc, scale, shift, op.round_mode);
                        let v = out.apply(&m.lut, v);
                        ofm.write(mem, offset, oy, ox, oc, v)?;
                    }
                }
            }
            gz += gn;
        }
        bz += bd;
    }
    let cost = perf::block_op(
        &m.config,
        &BlockOp {
            dpu: if depthwise {
                Dpu::Depthwise
            } else {
                Dpu::Conv {
                    part_kernel: order.part_kernel,
                }
            },
            ofm_shape: (od.h, od.w, od.d),
            block: ofm_block(&r),
            taps: (k.taps_h, k.taps_w),
            dilation: (k.dil_y, k.dil_x),
            stride: (k.stride_y, k.stride_x),
            upscale: k.upscale_factor(),
            ifm_depth,
            ifm_bits: ip.precision.bytes() * 8,
            lut: !matches!(out.lut, Lut::None),
            ifm: ifm.usage(ifm_depth),
            ofm: ofm.usage(od.d),
            weights: Some((w_region, w_len)),
            scales: per_channel.then_some((s_region, s_len)),
        },
    );
    let kind = if depthwise {
        OpKind::Depthwise
    } else {
        OpKind::Conv
    };
    Ok(report(offset, kind, macs, cost))
}
