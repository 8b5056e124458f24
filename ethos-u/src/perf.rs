//! The cycle model: Vela's performance model evaluated on what the command stream says about
//! each operation.
//!
//! Vela 5.2.0 compiles U55/U65 networks with its C++ core, Regor, unless told
//! `--debug-force-legacy-core`, so its estimates (the `--verbose-performance` tables) are
//! Regor's `EthosU55Performance` (`ethosu/regor/architecture/ethosu55/ethos_u55_performance.cpp`,
//! also used for the U65) and `NetworkPerformance::EstimateFullOpPerformance`. The NPU cycles
//! here follow Regor where it differs from the Python core (`ethosu/vela/npu_performance.py`)
//! this model was first ported from: OFM blocks counted as a fraction (micro-blocks of the
//! OFM / micro-blocks per block), the IFM and OFM block transfers overlapping (their
//! difference limits command issue) and added once for the first and last block, int8
//! pooling at 4x its kernel steps, and elementwise operations bound by the slower of their
//! block transfers. `cargo xtask bench --npu-fidelity` compares the model with Vela's
//! per-layer estimates on Vela's own streams.
//!
//! Vela estimates every operation as the larger of its NPU cycles and its memory-access
//! cycles per memory area, and the network as the sum over operations. Its NPU cycles are not
//! MACs / (MACs per cycle): the DPU works on micro-blocks (`ofm_ublock`: 1x1x8 on U55-64,
//! 2x1x8 on U55-128, 2x2x8 on U55-256/U65-256) of an OFM block (the block config Vela chose,
//! in `NPU_SET_OFM_BLK_*`), a step takes at least the write-back time of a micro-block (32
//! cycles per 8 channels), depthwise convolution consumes 4 kernel elements per step and
//! pooling one kernel (at least 4) per micro-block, and the output stage (scaling, activation,
//! write-out) has a per-element cost per configuration that overlaps the DPU block by block.
//! Memory traffic follows Vela's element access counts: IFM blocks are re-read per OFM block
//! and sub-kernel, weights are re-streamed per spatial OFM block, and each transfer is scaled
//! by the burst efficiency of its access pattern. Memory areas, bandwidths, latencies and
//! burst lengths are those of Vela's default system configurations
//! (`Ethos_U55_High_End_Embedded`, `Ethos_U65_High_End`; [`Memory`]).
//!
//! What it leaves out: Vela's per-operation weight-buffering slack; instead DMA commands run
//! on their own timeline next to the kernel operations and are waited for at
//! `NPU_OP_DMA_WAIT` (see [`Timeline`]).
//!
//! Fractions of a cycle are kept in sixteenths (`*16` names): every table value of Vela's
//! is a multiple of 1/16; Regor's per-block sums are kept exactly in 1/1024 cycle.

use crate::config::{self, AccelConfig};
use crate::regs::{ConfigReg, ElementwiseMode, IdReg, Product, MAX_REGIONS};

/// The SRAM of Vela's U65 `Memory_Mode.Dedicated_Sram`, its `arena_cache_size` (vela.ini:
/// 393216, "The SRAM (384KB) is only for use by the Ethos-U"): the most fast scratch (region 2)
/// the default U65 system gives a network.
pub const DEDICATED_SRAM_BYTES: u32 = 384 * 1024;

/// The kind of memory behind a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryArea {
    /// On-chip SRAM.
    Sram,
    /// External DRAM (U65 systems).
    Dram,
    /// Off-chip flash (U55 embedded systems).
    OffChipFlash,
}

impl MemoryArea {
    /// Index into per-area arrays.
    pub fn index(self) -> usize {
        match self {
            MemoryArea::Sram => 0,
            MemoryArea::Dram => 1,
            MemoryArea::OffChipFlash => 2,
        }
    }
}

/// The memory behind one region, as Vela's system configuration describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    /// The memory area (accesses to one area share its bandwidth).
    pub area: MemoryArea,
    /// Bandwidth in sixteenths of a byte per NPU cycle (AXI width x clock scale).
    pub bandwidth16: u32,
    /// Read latency in cycles.
    pub read_latency: u32,
    /// Write latency in cycles.
    pub write_latency: u32,
    /// Burst length in bytes.
    pub burst: u32,
}

impl Memory {
    /// Vela's `Sram` of `Ethos_U55_High_End_Embedded` (64-bit AXI, clock scale 1).
    pub const U55_SRAM: Memory = Memory {
        area: MemoryArea::Sram,
        bandwidth16: 128,
        read_latency: 32,
        write_latency: 32,
        burst: 32,
    };
    /// Vela's `OffChipFlash` of `Ethos_U55_High_End_Embedded` (clock scale 0.125).
    pub const U55_FLASH: Memory = Memory {
        area: MemoryArea::OffChipFlash,
        bandwidth16: 16,
        read_latency: 64,
        write_latency: 0,
        burst: 128,
    };
    /// Vela's `Sram` of `Ethos_U65_High_End` (128-bit AXI, clock scale 1).
    pub const U65_SRAM: Memory = Memory {
        area: MemoryArea::Sram,
        bandwidth16: 256,
        read_latency: 32,
        write_latency: 32,
        burst: 32,
    };
    /// Vela's `Dram` of `Ethos_U65_High_End` (clock scale 0.234375: 3.75 bytes per cycle).
    pub const U65_DRAM: Memory = Memory {
        area: MemoryArea::Dram,
        bandwidth16: 60,
        read_latency: 500,
        write_latency: 250,
        burst: 128,
    };

    /// The memory of each region in the layout ExecuTorch's Arm backend compiles for:
    /// U55 Shared_Sram (region 0 in flash, scratch and fast scratch in SRAM), U65
    /// Dedicated_Sram (region 0 and the scratch in DRAM, the fast scratch in SRAM).
    pub fn default_regions(product: Product) -> [Memory; MAX_REGIONS] {
        match product {
            Product::EthosU55 => {
                let mut m = [Memory::U55_SRAM; MAX_REGIONS];
                m[0] = Memory::U55_FLASH;
                m
            }
            Product::EthosU65 => {
                let mut m = [Memory::U65_DRAM; MAX_REGIONS];
                m[2] = Memory::U65_SRAM;
                m
            }
        }
    }

    /// Bytes of fast scratch (region 2, in SRAM) a compiler may plan feature maps in, in the
    /// layout of [`Memory::default_regions`]: [`DEDICATED_SRAM_BYTES`] on the U65
    /// (Dedicated_Sram); `None` on the U55 (Shared_Sram: the scratch already is the SRAM, and
    /// region 2 is an alias of it).
    pub fn fast_scratch_budget(product: Product) -> Option<u32> {
        match product {
            Product::EthosU55 => None,
            Product::EthosU65 => Some(DEDICATED_SRAM_BYTES),
        }
    }

    /// Sixteenths of a cycle to move `bytes`.
    pub fn cycles16(&self, bytes: u64) -> u64 {
        (bytes.saturating_mul(256)).div_ceil(self.bandwidth16.max(1) as u64)
    }
}

/// Per-configuration tables of Vela's `architecture_features.py`.
struct Arch {
    /// OFM micro-block (height, width, depth).
    ublock: (u64, u64, u64),
    /// `output_cycles_per_elem` in sixteenths.
    output16: [u64; 8],
    /// `activation_cycles_per_elem` in sixteenths (LUT, ReLU, none).
    activation16: [u64; 3],
    u55_32: bool,
    u55_64_or_128: bool,
}

fn arch(c: &SimConfig) -> Arch {
    let (ublock, output16, activation16) = match c.macs_log2 {
        0..=5 => ((1, 1, 4), [32, 48, 48, 48, 64, 96, 16, 32], [16, 16, 0]),
        6 => ((1, 1, 8), [16, 24, 24, 24, 32, 48, 8, 16], [16, 16, 0]),
        7 => ((1, 2, 8), [12, 20, 12, 12, 16, 24, 4, 8], [16, 8, 0]),
        _ => ((2, 2, 8), [10, 18, 8, 6, 8, 12, 2, 4], [16, 4, 0]),
    };
    Arch {
        ublock,
        output16,
        activation16,
        u55_32: c.macs_log2 <= 5,
        u55_64_or_128: matches!(c.macs_log2, 6 | 7) && c.product == Product::EthosU55,
    }
}

/// What the DPU does in a block operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dpu {
    /// Convolution or vector product; `part_kernel`: part-kernel-first weight traversal.
    Conv {
        /// Part-kernel-first traversal.
        part_kernel: bool,
    },
    /// Depthwise convolution.
    Depthwise,
    /// Max or average pooling.
    Pool {
        /// Max pooling (else average).
        max: bool,
    },
    /// Reduce-sum pooling (sums over the IFM depth, like a convolution).
    ReduceSum,
}

/// A feature map's access pattern.
#[derive(Clone, Copy, Debug)]
pub struct FmUse {
    /// Region.
    pub region: u8,
    /// Bytes per element.
    pub elem: u64,
    /// NHCWB16 (else NHWC).
    pub brick: bool,
    /// Full depth of the feature map.
    pub depth: u64,
}

/// Everything the cycle model needs about a convolution, depthwise or pooling operation.
#[derive(Clone, Copy, Debug)]
pub struct BlockOp {
    /// What the DPU does.
    pub dpu: Dpu,
    /// OFM (height, width, depth).
    pub ofm_shape: (u64, u64, u64),
    /// OFM block (height, width, depth) from NPU_SET_OFM_BLK_*_M1.
    pub block: (u64, u64, u64),
    /// Kernel taps (height, width), dilation (y, x), stride (y, x).
    pub taps: (u64, u64),
    /// Dilation (y, x).
    pub dilation: (u64, u64),
    /// Stride (y, x).
    pub stride: (u64, u64),
    /// 2 with IFM upscaling, else 1.
    pub upscale: u64,
    /// IFM depth and element bits.
    pub ifm_depth: u64,
    /// IFM element bits.
    pub ifm_bits: u32,
    /// The activation is a LUT.
    pub lut: bool,
    /// IFM access.
    pub ifm: FmUse,
    /// OFM access.
    pub ofm: FmUse,
    /// Weight stream (region, bytes).
    pub weights: Option<(u8, u64)>,
    /// Scale records (region, bytes).
    pub scales: Option<(u8, u64)>,
}

/// The cycle model's verdict on one operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    /// NPU (DPU + output stage) cycles.
    pub npu: u64,
    /// Bytes moved per region (unscaled).
    pub bytes: [u64; MAX_REGIONS],
    /// The operation's cycles: the larger of `npu` and each memory area's access cycles.
    pub cycles: u64,
}

fn div_up(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

fn round_up(a: u64, q: u64) -> u64 {
    div_up(a, q) * q.max(1)
}

/// Vela's `_estimate_memory_transfer_efficiency`: `bytes` scaled by burst length / achieved
/// burst for a block of `block` (height, width, depth) of `fm`.
fn burst_scaled(mem: &Memory, fm: &FmUse, read: bool, block: (u64, u64, u64), bytes: u64) -> u64 {
    let (_, bw, bd) = block;
    let e = fm.elem;
    let burst = if fm.brick {
        16 * e * bw
    } else if read {
        if fm.depth == bd {
            e * bd * bw
        } else {
            e * bd
        }
    } else if bd <= 16 && fm.depth == bd {
        e * bd * bw
    } else {
        (16 * e).min(bd * e).min(64)
    };
    let mem_burst = mem.burst.max(1) as u64;
    let burst = burst.clamp(1, mem_burst);
    bytes.saturating_mul(mem_burst) / burst
}

/// Regor's `MinimumIfmCycles` / `MinimumOfmCycles`: whole cycles to fetch one IFM block or
/// write one OFM block of `elems` elements of `fm` (latency + burst-scaled transfer, the
/// transfer truncated as Regor's `int64_t(float(tx) / bandwidth)` does). `burst_block` is the
/// block whose shape sets the burst (Regor passes the unclipped block configuration).
fn block_cycles(
    mem: &[Memory; MAX_REGIONS],
    fm: &FmUse,
    read: bool,
    burst_block: (u64, u64, u64),
    elems: u64,
) -> u64 {
    let m = &mem[fm.region as usize % MAX_REGIONS];
    let latency = if read {
        m.read_latency
    } else {
        m.write_latency
    } as u64;
    let tx = burst_scaled(m, fm, read, burst_block, elems * fm.elem);
    latency + (tx * 16) / m.bandwidth16.max(1) as u64
}

/// Memory-access cycles of `scaled` bytes per region: the busiest memory area.
fn access_cycles(mem: &[Memory; MAX_REGIONS], scaled: &[u64; MAX_REGIONS]) -> u64 {
    let mut per_area = [0u64; 3];
    for (m, &b) in mem.iter().zip(scaled) {
        per_area[m.area.index()] = per_area[m.area.index()].saturating_add(m.cycles16(b));
    }
    per_area.iter().copied().max().unwrap_or(0).div_ceil(16)
}

/// Vela's `_estimate_conv_cycles` and `measure_element_access` for a block operation.
pub fn block_op(c: &SimConfig, op: &BlockOp) -> Cost {
    let a = arch(c);
    let (oh, ow, od) = op.ofm_shape;
    let mut block = (
        op.block.0.clamp(1, oh),
        op.block.1.clamp(1, ow),
        op.block.2.clamp(1, od),
    );
    let mut ublock = a.ublock;
    // Regor's `GetOfmMicroBlock`: the 1x4 micro-block of a 2x2 configuration is for
    // convolutions (and vector products) only, not depthwise (Vela's Python core included it).
    if a.ublock.0 == 2
        && matches!(op.dpu, Dpu::Conv { .. })
        && oh == 1
        && ow % 2 == 0
        && op.taps.0 == 1
    {
        ublock = (1, 4, a.ublock.2);
        block.0 = 1;
    }
    let (n_y, n_x, n_z) = (
        div_up(block.0, ublock.0),
        div_up(block.1, ublock.1),
        div_up(block.2, ublock.2),
    );
    let n_xy = n_x * n_y;
    let wide = op.ifm_bits == 16;
    let part_kernel = matches!(op.dpu, Dpu::Conv { part_kernel: true });
    let acc40 = wide && !matches!(op.dpu, Dpu::Pool { .. });
    // The IFM block depth of the block configuration (Regor's `FindBlockConfig`: rounded up
    // to the IFM micro-block, so 8 for a 3-channel image), and clipped to the IFM as the DPU
    // cycles use it. The burst efficiency of IFM reads is judged on the configured depth.
    let ifm_cfg_depth = match op.dpu {
        Dpu::Conv { .. } | Dpu::ReduceSum => {
            if wide {
                round_up(op.ifm_depth.min(16), 4)
            } else {
                round_up(op.ifm_depth.min(if part_kernel { 16 } else { 32 }), 8)
            }
        }
        _ => op.block.2.max(1),
    };
    let ifm_block_depth = match op.dpu {
        Dpu::Conv { .. } | Dpu::ReduceSum => ifm_cfg_depth,
        _ => block.2,
    }
    .min(op.ifm_depth.max(1));

    // DPU cycles of one OFM block, sub-kernel by sub-kernel (at most 8x8 taps each).
    let cycles_wb = 32 * ublock.2 / 8;
    let mut dpu = 0u64;
    let (kh, kw) = op.taps;
    let mut y0 = 0;
    while y0 < kh {
        let sy = (kh - y0).min(8);
        let mut x0 = 0;
        while x0 < kw {
            let sx = (kw - x0).min(8);
            let elems = sy * sx;
            let (cycles, steps) = match op.dpu {
                Dpu::Pool { .. } => {
                    // Regor: `cycles * (ifmBits / 2)` except on the U55-32, i.e. x4 for int8
                    // and x8 for int16 (Vela's Python core doubled int16 only).
                    let mut cyc = elems.max(4) * n_xy * n_z;
                    if !a.u55_32 {
                        cyc *= op.ifm_bits as u64 / 2;
                    }
                    (cyc, 1)
                }
                Dpu::Depthwise => {
                    let per = 4 * n_xy * if wide { 2 } else { 1 };
                    let steps = div_up(elems, 4);
                    (cycles_wb.max(per) * steps * n_z, steps)
                }
                Dpu::Conv { part_kernel: false } | Dpu::ReduceSum => {
                    (cycles_wb.max(4 * n_xy) * elems * n_z, elems)
                }
                Dpu::Conv { part_kernel: true } => {
                    let steps = div_up(elems, if wide { 2 } else { 4 });
                    (
                        cycles_wb.max(4 * n_xy) * steps * div_up(ifm_block_depth, 8) * n_z,
                        steps,
                    )
                }
            };
            let mut delay = 0;
            if a.u55_32 {
                let d = if acc40 { 7 } else { 3 };
                if n_x == 1 && n_y == 1 {
                    if n_z == 1 {
                        delay = d * steps;
                    } else if steps > 1 {
                        delay = d * (steps - 1) * n_z;
                    }
                }
                if (n_x == 1 || n_y == 1) && n_z > 1 && acc40 {
                    delay += d * n_z;
                }
            } else {
                let d = if acc40 && a.u55_64_or_128 { 3 } else { 2 };
                if n_x == 1 && n_y == 1 {
                    if n_z == 1 {
                        delay = d * steps;
                    } else if steps > 1 {
                        delay = d * (steps - 1) * n_z;
                    }
                }
            }
            if part_kernel {
                delay *= div_up(ifm_block_depth, 8);
            }
            dpu += cycles + delay;
            x0 += sx;
        }
        y0 += sy;
    }
    if matches!(op.dpu, Dpu::Conv { .. } | Dpu::ReduceSum) {
        dpu *= div_up(op.ifm_depth, ifm_block_depth);
    }

    // Output stage of one OFM block (Regor's `EstimateMacOpCycles`), in 1/1024 cycle so that
    // every term below is exact: the AO cycles per block are rounded up to whole cycles, the
    // scale/bias read cost (10 x block depth x latency / 256, convolutions and depthwise only)
    // is a multiple of 1/256, and the command-issue limit a quarter of a sum of those.
    const S: u128 = 1024;
    let out_index = match op.dpu {
        _ if acc40 => 3,
        Dpu::Pool { max: true } => 6,
        _ => 7,
    };
    let per_elem16 = a.output16[out_index].max(if op.lut { a.activation16[0] } else { 0 });
    let block_elems = block.0 * block.1 * block.2;
    let mut ao = (per_elem16 * block_elems).div_ceil(16) as u128 * S;
    let mem = &c.memory;
    if let (Some((region, _)), Dpu::Conv { .. } | Dpu::Depthwise) = (op.scales, op.dpu) {
        let lat = mem[region as usize % MAX_REGIONS].read_latency as u128;
        ao = ao.max(10 * block.2 as u128 * lat * S / 256);
    }
    let mac = dpu as u128 * S;

    // IFM block: what the OFM block needs (at most an 8x8 sub-kernel), on IFM micro-blocks.
    let area = |taps: u64, dil: u64| (taps.saturating_sub(1)) * dil + 1;
    let need = |o: u64, s: u64, k: u64| ((o - 1) * s + k.min(8)).div_ceil(op.upscale.max(1));
    let ifm_block = (
        round_up(
            need(block.0, op.stride.0, area(kh, op.dilation.0)),
            ublock.0,
        ),
        round_up(
            need(block.1, op.stride.1, area(kw, op.dilation.1)),
            ublock.1,
        ),
        ifm_block_depth,
    );
    let ifm_block_elems = ifm_block.0 * ifm_block.1 * ifm_block.2;
    let ifm_burst = (ifm_block.0, ifm_block.1, ifm_cfg_depth);
    let ifm_cyc = block_cycles(mem, &op.ifm, true, ifm_burst, ifm_block_elems);
    let ofm_cyc = block_cycles(mem, &op.ofm, false, op.block, block_elems);

    // Blocks as a fraction: OFM micro-blocks / micro-blocks per block (a partial edge block
    // costs its share), n_ofm / n_blk.
    let n_ofm = (div_up(oh, ublock.0) * div_up(ow, ublock.1) * div_up(od, ublock.2)) as u128;
    let n_blk = (n_xy * n_z).max(1) as u128;
    // Regor: the IFM/OFM block transfers overlap; only their difference limits command
    // issue, and only when there is more than one block.
    let min_mem = if n_ofm > n_blk {
        ifm_cyc.abs_diff(ofm_cyc) as u128 * S
    } else {
        0
    };
    let cmd = (min_mem + mac + ao) / 4;
    let (bmac, bao) = (mac.max(cmd), ao.max(cmd));
    // One operation is a whole schedule (`OpScheduling::Single`): the last block's output
    // stage and the first IFM block and last OFM block transfers are not hidden.
    let npu = if bmac > bao {
        (bmac * n_ofm / (n_blk * S) + bao / S) as u64
    } else {
        ((bao * n_ofm + bmac * n_blk) / (n_blk * S)) as u64
    } + ifm_cyc
        + ofm_cyc;
    let blocks_hw = div_up(oh, block.0) * div_up(ow, block.1);
    let blocks = blocks_hw * div_up(od, block.2);

    // Element accesses: IFM blocks per OFM block and sub-kernel, weights per spatial block.
    let per_ofm_depth = !matches!(op.dpu, Dpu::Depthwise | Dpu::Pool { .. });
    let ifm_reads_blocks = if per_ofm_depth { blocks } else { blocks_hw };
    let subkernels = div_up(kh, 8) * div_up(kw, 8);
    let ifm_depth_stored = if op.ifm.brick {
        round_up(op.ifm_depth, 16)
    } else {
        op.ifm_depth
    };
    let ifm_bytes =
        ifm_block.0 * ifm_block.1 * ifm_depth_stored * subkernels * ifm_reads_blocks * op.ifm.elem;
    let ofm_depth_stored = if op.ofm.brick { round_up(od, 16) } else { od };
    let ofm_bytes = oh * ow * ofm_depth_stored * op.ofm.elem;
    let mut bytes = [0u64; MAX_REGIONS];
    let mut scaled = [0u64; MAX_REGIONS];
    let mut add = |region: u8, raw: u64, s: u64| {
        let i = region as usize % MAX_REGIONS;
        bytes[i] = bytes[i].saturating_add(raw);
        scaled[i] = scaled[i].saturating_add(s);
    };
    let m_ifm = &mem[op.ifm.region as usize % MAX_REGIONS];
    let m_ofm = &mem[op.ofm.region as usize % MAX_REGIONS];
    add(
        op.ifm.region,
        ifm_bytes,
        burst_scaled(m_ifm, &op.ifm, true, ifm_burst, ifm_bytes),
    );
    add(
        op.ofm.region,
        ofm_bytes,
        burst_scaled(m_ofm, &op.ofm, false, block, ofm_bytes),
    );
    if let Some((region, len)) = op.weights {
        let w = len.saturating_mul(blocks_hw);
        add(region, w, w);
    }
    if let Some((region, len)) = op.scales {
        add(region, len, len);
    }
    Cost {
        npu,
        bytes,
        cycles: npu.max(access_cycles(mem, &scaled)),
    }
}

/// Everything the cycle model needs about an elementwise operation.
#[derive(Clone, Copy, Debug)]
pub struct ElementwiseOp {
    /// The elementwise function.
    pub mode: ElementwiseMode,
    /// OFM (height, width, depth) and the OFM block.
    pub ofm_shape: (u64, u64, u64),
    /// OFM block.
    pub block: (u64, u64, u64),
    /// IFM access.
    pub ifm: FmUse,
    /// IFM2 when it is a tensor read from memory (not a scalar).
    pub ifm2: Option<FmUse>,
    /// Elements of that IFM2 tensor in memory: 1 when it is broadcast in every dimension
    /// (Vela reads such a tensor once, not once per OFM element).
    pub ifm2_elems: u64,
    /// The operation has a second operand (tensor or scalar).
    pub binary: bool,
    /// OFM access.
    pub ofm: FmUse,
    /// The activation is a LUT.
    pub lut: bool,
}

/// Vela's elementwise estimate (`_estimate_output_cycles_per_element` x OFM elements).
pub fn elementwise(c: &SimConfig, op: &ElementwiseOp) -> Cost {
    let a = arch(c);
    let (oh, ow, od) = op.ofm_shape;
    let block = (
        op.block.0.clamp(1, oh),
        op.block.1.clamp(1, ow),
        op.block.2.clamp(1, od),
    );
    let idx = match op.mode {
        _ if op.ifm.elem == 4 => {
            if op.binary {
                1
            } else {
                0
            }
        }
        ElementwiseMode::Mul if op.ofm.elem == 4 => 2,
        ElementwiseMode::Mul => 3,
        ElementwiseMode::Add | ElementwiseMode::Sub => 5,
        _ => 7,
    };
    let per_elem16 = a.output16[idx].max(if op.lut { a.activation16[0] } else { 0 });
    let mem = &c.memory;
    let depth = if op.ofm.brick { round_up(od, 16) } else { od };
    let elems = oh * ow * depth;
    // Regor's `EstimateElementwiseCycles`: the larger of the output stage (AO cycles per
    // element x elements, rounded up) and the command-issue limit, a quarter of (the slower
    // of the overlapped IFM and OFM block transfers per element of the block configuration
    // + AO cycles per element) x elements, rounded up. The per-element share divides by the
    // configured (unclipped) block, as Regor's `OfmBlock().Elements()` does.
    let block_elems = block.0 * block.1 * block.2;
    let mut io = block_cycles(mem, &op.ofm, false, op.block, block_elems);
    io = io.max(block_cycles(mem, &op.ifm, true, op.block, block_elems));
    if let Some(f) = &op.ifm2 {
        io = io.max(block_cycles(mem, f, true, op.block, block_elems));
    }
    let cfg_elems = (op.block.0 * op.block.1 * op.block.2).max(1) as u128;
    let ao = (per_elem16 * elems).div_ceil(16);
    let (e, io, per) = (elems as u128, io as u128, per_elem16 as u128);
    // ceil((io / cfg_elems + per / 16) / 4 * e) over the common denominator 64 * cfg_elems.
    let cmd = (io * 16 * e + per * e * cfg_elems).div_ceil(64 * cfg_elems) as u64;
    let npu = ao.max(cmd);

    // Element accesses (Regor's MeasureElementAccess), as bytes: scaling them by the burst
    // efficiency of the configured block (Regor's ElementTransferToBytes) makes softmax's
    // steps 8-19x Vela's per-layer numbers on the U55 fixtures (left open; see
    // `cargo xtask bench --npu-fidelity`), unscaled they are within 3x.
    let mut bytes = [0u64; MAX_REGIONS];
    let mut add = |fm: &FmUse, n: u64| {
        let i = fm.region as usize % MAX_REGIONS;
        bytes[i] = bytes[i].saturating_add(n * fm.elem);
    };
    add(&op.ifm, elems);
    if let Some(f) = &op.ifm2 {
        // A one-element IFM2 wider than 8 bits is read once (a brick rounds it to 16
        // elements), an 8-bit one not at all; any other once per OFM element.
        match (op.ifm2_elems, f.elem) {
            (0..=1, 1) => {}
            (0..=1, _) => add(f, if f.brick { 16 } else { 1 }),
            _ => add(f, elems),
        }
    }
    add(&op.ofm, elems);
    Cost {
        npu,
        bytes,
        cycles: npu.max(access_cycles(mem, &bytes)),
    }
}

/// A DMA of `len` bytes from region `src` to region `dst` (`None`: into the NPU's SHRAM):
/// Vela's `measure_mem2mem_cycles` (source latency + transfer at the slower side).
pub fn dma(c: &SimConfig, src: u8, dst: Option<u8>, len: u64) -> u64 {
    let m_src = &c.memory[src as usize % MAX_REGIONS];
    let from = m_src.cycles16(len).div_ceil(16) + m_src.read_latency as u64;
    let to = dst.map_or(0, |d| {
        c.memory[d as usize % MAX_REGIONS]
            .cycles16(len)
            .div_ceil(16)
    });
    from.max(to)
}

/// Kernel operations and DMAs on their own timelines, as the command processor issues them:
/// a kernel operation starts when the previous one has finished (and the command processor
/// waits for that), a DMA starts when issued and the DMAs before it are done, and runs next to
/// the kernels; `NPU_OP_DMA_WAIT n` holds the command processor until at most `n` DMAs are
/// outstanding, `NPU_OP_KERNEL_WAIT 0` until the kernels are done.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timeline {
    /// When the command processor issues the next command.
    issue: u64,
    /// When the last kernel operation ends.
    kernel_end: u64,
    /// End times of the DMAs issued so far, newest last (waits leave at most 3 outstanding).
    dma_ends: [u64; 4],
    dmas: u64,
}

impl Timeline {
    /// A kernel operation of `cycles`.
    pub fn kernel(&mut self, cycles: u64) {
        let start = self.issue.max(self.kernel_end);
        self.kernel_end = start.saturating_add(cycles);
        self.issue = start;
    }

    /// A DMA of `cycles`.
    pub fn dma(&mut self, cycles: u64) {
        let start = self.issue.max(self.last_dma_end());
        self.dma_ends.rotate_left(1);
        self.dma_ends[3] = start.saturating_add(cycles);
        self.dmas += 1;
    }

    /// `NPU_OP_DMA_WAIT` with `outstanding` DMAs allowed to remain.
    pub fn dma_wait(&mut self, outstanding: u64) {
        let k = outstanding.min(3) as usize;
        if (self.dmas as usize) > k {
            self.issue = self.issue.max(self.dma_ends[3 - k]);
        }
    }

    /// `NPU_OP_KERNEL_WAIT` with `outstanding` kernel operations allowed to remain.
    pub fn kernel_wait(&mut self, outstanding: u64) {
        if outstanding == 0 {
            self.issue = self.issue.max(self.kernel_end);
        }
    }

    fn last_dma_end(&self) -> u64 {
        if self.dmas == 0 {
            0
        } else {
            self.dma_ends[3]
        }
    }

    /// When the last kernel operation issued so far ends (per-operation attribution: the
    /// growth of this from one kernel operation to the next is the time that operation adds,
    /// including any wait for the DMAs it depends on).
    pub fn kernel_end(&self) -> u64 {
        self.kernel_end
    }

    /// The end of everything issued so far.
    pub fn total(&self) -> u64 {
        self.kernel_end.max(self.last_dma_end()).max(self.issue)
    }
}

/// The configuration of a modelled NPU: the accelerator and the memory behind each region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// U55 or U65.
    pub product: Product,
    /// log2 of MACs per cycle: 5 (32) .. 8 (256); 9 (U65-512) is not modelled.
    pub macs_log2: u32,
    /// SHRAM size in KiB (the LUT area is its top 2 KiB).
    pub shram_kib: u32,
    /// The ID register value.
    pub id: u32,
    /// The memory behind each region (cycle model).
    pub memory: [Memory; MAX_REGIONS],
    /// Element operations (MACs, pooled or elementwise elements, DMA bytes)
    /// one run may perform before it stops with a work-limit error.
    pub max_work: u64,
}

impl SimConfig {
    /// The architecture version the model implements (ID register: 1.0.6).
    pub const ID: u32 = IdReg::from_arch(1, 0, 6).0;

    /// An Ethos-U55 with 32, 64, 128 or 256 MACs per cycle; `None` otherwise.
    pub fn ethos_u55(macs: u32) -> Option<SimConfig> {
        config::by_product(Product::EthosU55, macs).map(SimConfig::from_accel)
    }

    /// An Ethos-U65 with 256 MACs per cycle; `None` otherwise (the two-core
    /// U65-512 is not modelled).
    pub fn ethos_u65(macs: u32) -> Option<SimConfig> {
        config::by_product(Product::EthosU65, macs).map(SimConfig::from_accel)
    }

    /// The model of a single-core configuration of the table in [`config`].
    pub fn from_accel(a: &'static AccelConfig) -> SimConfig {
        SimConfig {
            product: a.product,
            macs_log2: a.macs_log2(),
            shram_kib: a.shram_kib(),
            id: SimConfig::ID,
            memory: Memory::default_regions(a.product),
            max_work: 1 << 33,
        }
    }

    /// The configuration table entry of this product and MAC count (for
    /// MAC counts outside the table, the U55 entry nearest to it).
    pub fn accel(&self) -> &'static AccelConfig {
        config::by_product(self.product, self.macs_per_cc())
            .or_else(|| config::by_product(Product::EthosU55, 1 << self.macs_log2.clamp(5, 8)))
            .unwrap_or(&config::CONFIGS[0])
    }

    /// The CONFIG register value.
    pub fn config_word(&self) -> u32 {
        ConfigReg::new(self.product, self.macs_log2, self.shram_kib).0
    }

    /// MACs per cycle.
    pub fn macs_per_cc(&self) -> u32 {
        1 << self.macs_log2
    }

    /// OFM micro-block depth (weight order): 4 on the 32-MAC U55, else 8.
    pub fn ofm_ublock_depth(&self) -> u32 {
        self.accel().ofm_ublock[2]
    }

    /// IFM micro-block depth (weight order): 8 on every configuration.
    pub fn ifm_ublock_depth(&self) -> u32 {
        self.accel().ifm_ublock[2]
    }

    /// Elementwise/pooling elements per cycle (Vela's `elem_units`).
    pub fn elem_units(&self) -> u32 {
        self.accel().elem_units
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fm(region: u8, depth: u64, brick: bool) -> FmUse {
        FmUse {
            region,
            elem: 1,
            brick,
            depth,
        }
    }

    #[test]
    fn pointwise_conv_follows_velas_block_formula() {
        // U55-128, 1x1 conv 25x5x64 -> 64 channels, OFM block 8x8(h x w)... here 16x5x64:
        // ublock 1x2x8: n_y = 16, n_x = 3, n_z = 8: max(32, 4*48) * 1 * 8 = 1536 per IFM
        // depth block (64 <= 32? no: two blocks of 32) = 3072 DPU cycles per OFM block.
        let c = SimConfig::ethos_u55(128).unwrap();
        let op = BlockOp {
            dpu: Dpu::Conv { part_kernel: false },
            ofm_shape: (25, 5, 64),
            block: (16, 5, 64),
            taps: (1, 1),
            dilation: (1, 1),
            stride: (1, 1),
            upscale: 1,
            ifm_depth: 64,
            ifm_bits: 8,
            lut: false,
            ifm: fm(1, 64, true),
            ofm: fm(1, 64, true),
            weights: None,
            scales: Some((1, 640)),
        };
        let cost = block_op(&c, &op);
        // Regor's EstimateMacOpCycles: AO per block 0.5 x 16*5*64 = 2560 (bias 10*64*32/256 =
        // 80 is less). IFM block 16 x round_up(5, 2) = 6 x 32 deep = 3072 B, brick burst
        // 16*6 -> 32: 32 + 3072/8 = 416; OFM block 5120 B: 32 + 640 = 672. Blocks as a
        // fraction: OFM micro-blocks 25*3*8 = 600 / 48*8 = 384 per block = 1.5625 (> 1, so the
        // issue limit is (|672 - 416| + 3072 + 2560) / 4 = 1472 < 3072). MAC-bound:
        // 3072 * 1.5625 = 4800 + the last block's AO 2560 + first IFM 416 + last OFM 672 = 8448.
        // (The Python core's whole blocks gave 3072 * 2 + 2560 = 8704.)
        assert_eq!(cost.npu, 8448);
        assert!(cost.cycles >= cost.npu);
        // An ideal MAC count would say 25*5*64*64 / 128 = 4000.
        assert!(cost.npu > 4000);
    }

    #[test]
    fn depthwise_steps_four_taps_at_a_time() {
        // U55-256, 3x3 depthwise 4x4x8 in one block: ublock 2x2x8 -> n_xy = 4, n_z = 1;
        // per step max(32, 16) = 32; ceil(9/4) = 3 steps -> 96, no delay (n_xy > 1).
        let c = SimConfig::ethos_u55(256).unwrap();
        let op = BlockOp {
            dpu: Dpu::Depthwise,
            ofm_shape: (4, 4, 8),
            block: (4, 4, 8),
            taps: (3, 3),
            dilation: (1, 1),
            stride: (1, 1),
            upscale: 1,
            ifm_depth: 8,
            ifm_bits: 8,
            lut: false,
            ifm: fm(1, 8, false),
            ofm: fm(1, 8, false),
            weights: None,
            scales: None,
        };
        let cost = block_op(&c, &op);
        // AO 0.25 * 128 = 32. IFM block 6x6x8 = 288 B, NHWC depth = block depth: burst 48 ->
        // 32, 32 + 288/8 = 68; OFM block 128 B: 32 + 16 = 48. One block: no IFM/OFM term in
        // the issue limit, (96 + 32) / 4 = 32. MAC-bound: 96 * 1 + AO 32 + 68 + 48 = 244.
        assert_eq!(cost.npu, 244);
    }

    #[test]
    fn int8_pooling_costs_four_times_its_kernel_steps() {
        // Regor multiplies pooling DPU cycles by ifmBits / 2 (= 4 for int8) except on the
        // U55-32; Vela's per-layer numbers for kws/vww/resnet pools (avg, max, reduce-sum)
        // agree to within 0-9% with this, 0.25-0.44x without it.
        // U55-128 2x2/2 max pool, OFM 2x2x16 in one 2x2x16 block, NHWC in SRAM:
        // ublock 1x2x8 -> 2*1*2 = 4 micro-blocks; max(4, 4) * 4 * 4 = 64 DPU cycles.
        // AO (max pool, 0.25) * 64 = 16. IFM block 4x4x16 = 256 B (burst 64 -> 32): 32 + 32 =
        // 64; OFM 64 B (burst 32): 32 + 8 = 40. One block: issue limit (64 + 16) / 4 = 20.
        // 64 + 16 + 64 + 40 = 188.
        let c = SimConfig::ethos_u55(128).unwrap();
        let op = BlockOp {
            dpu: Dpu::Pool { max: true },
            ofm_shape: (2, 2, 16),
            block: (2, 2, 16),
            taps: (2, 2),
            dilation: (1, 1),
            stride: (2, 2),
            upscale: 1,
            ifm_depth: 16,
            ifm_bits: 8,
            lut: false,
            ifm: fm(1, 16, false),
            ofm: fm(1, 16, false),
            weights: None,
            scales: None,
        };
        assert_eq!(block_op(&c, &op).npu, 188);
    }

    #[test]
    fn elementwise_is_bound_by_its_block_transfers_per_element() {
        // Regor's EstimateElementwiseCycles, U55-256 Add of a scalar to 1x1x8 int8 read from
        // flash (region 0), written to SRAM, block 1x1x8: AO 0.75 * 8 = 6. IFM block: 8 B,
        // burst 8 of flash's 128 -> 128 B at 1 B/cycle + 64 latency = 192; OFM: 8 B, burst 8
        // of 32 -> 32 B at 8 B/cycle + 32 = 36; overlapped: max 192. Issue limit
        // ceil((192 / 8 + 0.75) / 4 * 8) = ceil(49.5) = 50 > 6.
        let c = SimConfig::ethos_u55(256).unwrap();
        let op = ElementwiseOp {
            mode: ElementwiseMode::Add,
            ofm_shape: (1, 1, 8),
            block: (1, 1, 8),
            ifm: fm(0, 8, false),
            ifm2: None,
            ifm2_elems: 0,
            binary: true,
            ofm: fm(1, 8, false),
            lut: false,
        };
        let cost = elementwise(&c, &op);
        assert_eq!(cost.npu, 50);
        // Access: 8 IFM bytes from flash at 1 B/cycle = 8 < 50.
        assert_eq!(cost.bytes[0], 8);
        assert_eq!(cost.cycles, 50);
        // IFM2 broadcast from one int32 element in flash (region 0): read once, 4 bytes, not
        // once per OFM element (Regor's MeasureElementAccess).
        let op = ElementwiseOp {
            ifm: fm(1, 8, false),
            ifm2: Some(FmUse {
                elem: 4,
                ..fm(0, 8, false)
            }),
            ifm2_elems: 1,
            ..op
        };
        assert_eq!(elementwise(&c, &op).bytes[0], 4);
    }

    #[test]
    fn a_three_channel_ifm_is_read_in_bursts_of_the_configured_block_depth() {
        // U65-256 1x1 conv of a 3-channel int8 image in DRAM (region 1) to 2x2x8 in SRAM
        // (region 2), one 2x2x8 block. DPU: one micro-block, max(32, 4) + delay 2 = 34; AO
        // 0.25 * 32 = 8; issue limit (34 + 8) / 4 = 10.5; MAC-bound: 34 + 10.5 -> 44.
        // IFM block 2x2x3 = 12 B, but the configured IFM block depth is 8 (Regor rounds to the
        // IFM micro-block), so NHWC bursts are 8 B of DRAM's 128: 12 * 128 / 8 = 192 B at
        // 3.75 B/cycle = 51 + 500 latency = 551. OFM 32 B, burst 16 of 32: 64 B / 16 + 32 =
        // 36. 44 + 551 + 36 = 631 (vww's first layer on the U65: Vela 133448, now 1.00x).
        let c = SimConfig::ethos_u65(256).unwrap();
        let op = BlockOp {
            dpu: Dpu::Conv { part_kernel: false },
            ofm_shape: (2, 2, 8),
            block: (2, 2, 8),
            taps: (1, 1),
            dilation: (1, 1),
            stride: (1, 1),
            upscale: 1,
            ifm_depth: 3,
            ifm_bits: 8,
            lut: false,
            ifm: fm(1, 3, false),
            ofm: fm(2, 8, false),
            weights: None,
            scales: None,
        };
        assert_eq!(block_op(&c, &op).npu, 631);
    }

    #[test]
    fn u65_dram_is_slower_than_its_sram() {
        let c = SimConfig::ethos_u65(256).unwrap();
        assert_eq!(c.memory[0].area, MemoryArea::Dram);
        assert_eq!(c.memory[2].area, MemoryArea::Sram);
        // 3.75 B/cycle: 3750 bytes take 1000 cycles + 500 latency.
        assert_eq!(dma(&c, 0, Some(2), 3750), 1500);
        assert_eq!(dma(&c, 2, Some(2), 3200), 32 + 200);
    }

    #[test]
    fn dmas_overlap_kernels_until_waited_for() {
        let mut t = Timeline::default();
        t.dma(100); // 0..100
        t.dma_wait(0); // issue at 100
        t.kernel(300); // 100..400
        t.dma(50); // issued with the kernel running: 100..150
        t.dma_wait(0); // issue at 150, the kernel still runs
        t.kernel(10); // after the first kernel: 400..410
        assert_eq!(t.total(), 410);
        t.dma(200); // issued at 400: 400..600
        t.kernel(20); // 410..430
        assert_eq!(t.total(), 600);
        t.dma_wait(1); // one may remain: nothing to wait for
        t.kernel_wait(0);
        assert_eq!(t.issue, 430);
        let mut idle = Timeline::default();
        idle.dma_wait(0);
        idle.kernel(7);
        assert_eq!(idle.total(), 7);
    }
}
