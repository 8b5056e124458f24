//! DMA: external memory to external memory or to SHRAM (LUTs).

use super::*;

pub(crate) fn dma(
    m: &mut NpuModel,
    offset: u32,
    mem: &mut NpuMemory<'_, '_>,
) -> Result<OpReport, NpuError> {
    let r = m.regs;
    let src = DmaRegion::decode(r.r0(C0::SET_DMA0_SRC_REGION))
        .map_err(field_err(offset, C0::SET_DMA0_SRC_REGION))?;
    let dst = DmaRegion::decode(r.r0(C0::SET_DMA0_DST_REGION))
        .map_err(field_err(offset, C0::SET_DMA0_DST_REGION))?;
    if src.stride_mode != DmaStrideMode::D1 || dst.stride_mode != DmaStrideMode::D1 {
        return Err(NpuError::Unsupported {
            offset,
            what: "strided (2D/3D) DMA",
        });
    }
    if src.mode != DmaRegionMode::External {
        return Err(NpuError::Unsupported {
            offset,
            what: "DMA from NPU-internal memory",
        });
    }
    let src_addr = r.addr(C1::SET_DMA0_SRC);
    let dst_addr = r.addr(C1::SET_DMA0_DST);
    let len = r.addr(C1::SET_DMA0_LEN);
    let src_region = (src.region & 7) as u8;
    m.spend(offset, len)?;
    let mut bytes = [0u64; MAX_REGIONS];
    add_bytes(&mut bytes, src_region, len);
    match dst.mode {
        DmaRegionMode::Internal => {
            // SHRAM: only the LUT area at its top is modelled.
            let shram = m.config.shram_kib as u64 * 1024;
            let lut_base = shram.saturating_sub(SHRAM_LUT_BYTES as u64);
            let end = dst_addr.saturating_add(len);
            if dst_addr < lut_base || end > shram {
                return Err(NpuError::OutOfRegion {
                    offset,
                    access: Access::DmaWrite,
                    region: dst.region as u8,
                    address: dst_addr,
                    len,
                    region_len: shram,
                });
            }
            let s = read_span(mem, offset, Access::DmaRead, src_region, src_addr, len)?;
            let at = (dst_addr - lut_base) as usize;
            m.lut[at..at + s.len()].copy_from_slice(s);
        }
        DmaRegionMode::External => {
            let dst_region = (dst.region & 7) as u8;
            add_bytes(&mut bytes, dst_region, len);
            let same = mem.resolve(src_region as usize).is_some()
                && mem.resolve(src_region as usize) == mem.resolve(dst_region as usize);
            // Validate both ends first so a failed DMA writes nothing.
            read_span(mem, offset, Access::DmaRead, src_region, src_addr, len)?;
            write_span(mem, offset, Access::DmaWrite, dst_region, dst_addr, len)?;
            if same {
                let b = mem
                    .region_mut(dst_region as usize)
                    .ok_or(NpuError::BadRegion {
                        offset,
                        access: Access::DmaWrite,
                        region: dst_region,
                        what: "is read-only",
                    })?;
                // Both spans were checked against this buffer above.
                let (s, d, n) = (src_addr as usize, dst_addr as usize, len as usize);
                b.copy_within(s..s + n, d);
            } else {
                let mut done = 0u64;
                let mut tmp = [0u8; 256];
                while done < len {
                    let n = (len - done).min(tmp.len() as u64);
                    let s =
                        read_span(mem, offset, Access::DmaRead, src_region, src_addr + done, n)?;
                    tmp[..n as usize].copy_from_slice(s);
                    let d = write_span(
                        mem,
                        offset,
                        Access::DmaWrite,
                        dst_region,
                        dst_addr + done,
                        n,
                    )?;
                    d.copy_from_slice(&tmp[..n as usize]);
                    done += n;
                }
            }
        }
    }
    let to = match dst.mode {
        DmaRegionMode::External => Some((dst.region & 7) as u8),
        DmaRegionMode::Internal => None,
    };
    Ok(OpReport {
        offset,
        kind: OpKind::Dma,
        work: len,
        bytes,
        cycles: perf::dma(&m.config, src_region, to, len),
        ofm: [0; 3],
    })
}
