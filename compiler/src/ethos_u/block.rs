//! The OFM block configuration and SHRAM layout of one NPU operation, chosen
//! the way Vela chooses them.
//!
//! The NPU computes an operation block by block: an OFM block (height x
//! width x depth, at most 32 x 64 x 128) is accumulated from the IFM block
//! it needs, both double-buffered in the SHRAM. SHRAM is split into 1 KiB
//! banks: 2 reserved for the output unit, then the IFM buffers up to
//! `IFM_IB_END` (for a binary elementwise operation the IFM2 buffers from
//! `IFM2_IB_START`), then the accumulators from `AB_START` up to the end of
//! the usable banks (the lookup table's banks excluded). Each buffer is a
//! whole multiple of its element type's bank granule.
//!
//! [`choose_block`] searches every OFM block in micro-block steps, keeps the
//! ones whose buffers fit ([`layout_for`]) and returns the one with the
//! lowest IFM + weight fetch cost per OFM element, breaking ties like Vela.
//! It follows Vela's `ArchEthosU55::FindBlockConfig`, `TryBlockConfig`,
//! `GetArchIFMBlockSize` and `FitBlockForOFM`
//! (`ethosu/regor/architecture/ethosu55/ethos_u55.cpp`, Vela 5.x; the Python
//! twin is `ethosu/vela/architecture_allocator.py::find_block_config`),
//! including its single-precision float arithmetic, so that equal costs tie
//! exactly as in Vela. The numbers of the configuration (micro-blocks,
//! banks, granules, limits) come from [`kiln_rt::ethos_u::config`].
//!
//! The test below decodes every NPU operation of the Vela 5.2 fixture streams
//! (`tests/fixtures/vela/`), rebuilds its [`BlockRequest`] from the registers
//! and checks that [`layout_for`] of Vela's block gives Vela's registers and
//! that [`choose_block`] gives Vela's block.

use kiln_rt::ethos_u::config::AccelConfig;
use kiln_rt::ethos_u::regs::AccFormat;

/// Vela's `OFMSplitDepth`: block depths below the OFM depth are multiples of 16.
const OFM_SPLIT_DEPTH: u32 = 16;

/// What kind of NPU operation a block is chosen for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockOpKind {
    /// NPU_OP_CONV with depth-first weight order (also fully connected layers).
    Conv,
    /// NPU_OP_CONV with part-kernel-first weight order (see [`part_kernel_first`]).
    ConvPartKernel,
    /// NPU_OP_DEPTHWISE.
    Depthwise,
    /// NPU_OP_POOL (max, average; also copies and LUT-only operations).
    Pool,
    /// NPU_OP_POOL with `POOLING_MODE_REDUCE_SUM` (sums over the IFM depth).
    ReduceSum,
    /// NPU_OP_ELEMENTWISE with two feature maps, or a unary one (ABS, CLZ, LRELU).
    Elementwise,
    /// NPU_OP_ELEMENTWISE with a scalar IFM2 (`IFM2_SCALAR`).
    ElementwiseScalar,
    /// NPU_OP_DMA_START: no block configuration ([`choose_block`] returns `None`).
    Dma,
}

/// One operation's shapes, as the block search needs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRequest {
    /// The operation.
    pub kind: BlockOpKind,
    /// OFM height, width, depth (of the stripe the operation computes).
    pub ofm: [u32; 3],
    /// IFM height and width (in IFM elements, before upscaling; for a binary
    /// elementwise operation those of the larger operand). They only weigh
    /// blocks against each other (Vela's "IFM fits in two blocks" and
    /// "IFM coverage" rules); `[0, 0]` means "derive from the OFM and kernel".
    pub ifm_hw: [u32; 2],
    /// IFM depth.
    pub ifm_depth: u32,
    /// Kernel height, width (undilated).
    pub kernel: [u32; 2],
    /// Stride y, x.
    pub stride: [u32; 2],
    /// Dilation y, x.
    pub dilation: [u32; 2],
    /// IFM element bits: 8, 16 or 32.
    pub ifm_bits: u32,
    /// OFM element bits (does not affect the choice; kept for the caller's records).
    pub ofm_bits: u32,
    /// Whether the operation's activation is a lookup table.
    pub uses_lut: bool,
    /// IFM upscaling: 1, or 2 for nearest-neighbour upscaling
    /// (`IFM_UPSCALE_MODE_NEAREST`, with Vela's rounding of one extra row).
    pub upscale: u32,
}

impl Default for BlockRequest {
    /// A 1x1 8-bit convolution of a 1x1x1 OFM: a base for `..Default::default()`.
    fn default() -> BlockRequest {
        BlockRequest {
            kind: BlockOpKind::Conv,
            ofm: [1, 1, 1],
            ifm_hw: [0, 0],
            ifm_depth: 1,
            kernel: [1, 1],
            stride: [1, 1],
            dilation: [1, 1],
            ifm_bits: 8,
            ofm_bits: 8,
            uses_lut: false,
            upscale: 1,
        }
    }
}

/// A block configuration and its SHRAM layout: the values of the
/// `OFM_BLK_{HEIGHT,WIDTH,DEPTH}_M1` (`ofm_block - 1`), `IFM_IB_END`,
/// `IFM2_IB_START`, `AB_START` and `ACC_FORMAT` registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockConfig {
    /// OFM block height, width, depth.
    pub ofm_block: [u32; 3],
    /// The IFM block that feeds it: height, width, depth.
    pub ifm_block: [u32; 3],
    /// `IFM_IB_END`: first bank past the IFM buffers (elementwise: past IFM and IFM2).
    pub ifm_ib_end: u32,
    /// `IFM2_IB_START` for elementwise operations (write it when there is an IFM2), else `None`.
    pub ifm2_ib_start: Option<u32>,
    /// `AB_START`: first bank of the accumulators.
    pub ab_start: u32,
    /// `ACC_FORMAT`: 40-bit accumulators (else 32-bit).
    pub acc_format_i40: bool,
}

/// Vela's choice between part-kernel-first and depth-first weight order for
/// a convolution (`ChooseKernelMethod`, `ethos_u55.cpp`): part-kernel when the
/// IFM depth is at most 8, or when its utilisation
/// `(depth / round_up(depth, 8)) * (kernel_elements / round_up(kernel_elements, 4 or 2))`
/// is at least the depth-first one, `depth / round_up(depth, 32 or 16)` (8- or 16-bit IFM).
pub fn part_kernel_first(ifm_depth: u32, ifm_bits: u32, kernel: [u32; 2]) -> bool {
    if ifm_depth <= 8 {
        return true;
    }
    let d = ifm_depth as f64;
    let k = (kernel[0] * kernel[1]) as f64;
    let eight = ifm_bits == 8;
    let depth_util = d / round_up(ifm_depth, if eight { 32 } else { 16 }) as f64;
    let part_util = (d / round_up(ifm_depth, 8) as f64)
        * (k / round_up(kernel[0] * kernel[1], if eight { 4 } else { 2 }) as f64);
    part_util >= depth_util
}

fn round_up(v: u32, m: u32) -> u32 {
    v.div_ceil(m.max(1)) * m.max(1)
}

/// How the SHRAM is shared for elementwise operations (Vela's `ElementwiseUsage`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum EwUsage {
    No,
    Full,
    Scalar,
}

/// What the search needs of a request, derived once.
struct Op {
    ew: EwUsage,
    equal_depth: bool,
    depthwise: bool,
    has_weights: bool,
    acc_i40: bool,
    acc_bits: u32,
    acc_granule: u32,
    ifm_granule: u32,
    /// First bank past the usable SHRAM (the LUT start).
    lut_start: u32,
    /// IFM block depth of operations that do not keep the OFM depth.
    ifm_block_depth: u32,
    /// Sub-kernel repeats of the IFM.
    ifm_repeats: u32,
    rounding: u32,
    /// The IFM as Vela's query sees it: height, width, depth.
    ifm: [u32; 3],
}

fn analyse(cfg: &AccelConfig, req: &BlockRequest) -> Option<Op> {
    use BlockOpKind as K;
    if req.kind == K::Dma
        || !matches!(req.ifm_bits, 8 | 16 | 32)
        || req.ofm.contains(&0)
        || req.kernel.contains(&0)
        || req.stride.contains(&0)
        || req.dilation.contains(&0)
        || !matches!(req.upscale, 1 | 2)
        || req.ifm_depth == 0
    {
        return None;
    }
    let ew = match req.kind {
        K::Elementwise => EwUsage::Full,
        K::ElementwiseScalar if req.ifm_bits <= 16 => EwUsage::Scalar,
        K::ElementwiseScalar => EwUsage::Full,
        _ => EwUsage::No,
    };
    let pooling = matches!(req.kind, K::Pool | K::ReduceSum);
    let reduce_sum = req.kind == K::ReduceSum;
    let depthwise = req.kind == K::Depthwise;
    let part_kernel = req.kind == K::ConvPartKernel;
    // Vela: 40-bit accumulators for scaled 16-bit operations other than pooling
    // (every operation kiln lowers is scaled).
    let acc_i40 = req.ifm_bits == 16 && (!pooling || reduce_sum);
    let (acc_granule, acc_bits) = cfg.acc_granule(if acc_i40 {
        AccFormat::I40
    } else {
        AccFormat::I32
    });
    let ifm_granule = cfg.ifm_granule(req.ifm_bits, ew != EwUsage::No)?;
    let dil_h = (req.kernel[0] - 1) * req.dilation[0] + 1;
    let dil_w = (req.kernel[1] - 1) * req.dilation[1] + 1;
    let ifm_repeats = dil_w.div_ceil(cfg.subkernel_max[1]) * dil_h.div_ceil(cfg.subkernel_max[0]);
    let ifm_block_depth = if req.ifm_bits == 16 {
        round_up(req.ifm_depth.min(16), 4)
    } else {
        round_up(
            req.ifm_depth.min(if part_kernel { 16 } else { 32 }),
            cfg.ifm_ublock[2],
        )
    };
    let ifm_hw = if req.ifm_hw.contains(&0) {
        // IFM rows the OFM reads, without padding.
        [
            ((req.ofm[0] - 1) * req.stride[0] + 1).div_ceil(req.upscale),
            ((req.ofm[1] - 1) * req.stride[1] + 1).div_ceil(req.upscale),
        ]
    } else {
        req.ifm_hw
    };
    Some(Op {
        ew,
        equal_depth: ew != EwUsage::No || (pooling && !reduce_sum) || depthwise,
        depthwise,
        has_weights: matches!(req.kind, K::Conv | K::ConvPartKernel | K::Depthwise),
        acc_i40,
        acc_bits,
        acc_granule,
        ifm_granule,
        lut_start: cfg.usable_banks(req.uses_lut),
        ifm_block_depth,
        ifm_repeats,
        rounding: if req.upscale == 2 { 1 } else { 0 },
        ifm: [ifm_hw[0], ifm_hw[1], req.ifm_depth],
    })
}

/// Vela's `RequiredInputSize`: `ceil(((v - 1) * stride + border + rounding) / upscale)` (in f32).
fn required_input(v: u32, stride: u32, border: u32, upscale: u32, rounding: u32) -> u32 {
    (((v - 1) * stride + border + rounding) as f32 / upscale as f32).ceil() as u32
}

/// The IFM block an OFM block needs (`GetArchIFMBlockSize`): one sub-kernel's
/// input rows and columns, rounded to the OFM micro-block.
fn ifm_block_for(cfg: &AccelConfig, req: &BlockRequest, op: &Op, ofm_block: [u32; 3]) -> [u32; 3] {
    let ub = cfg.ofm_ublock;
    let dil = [
        (req.kernel[0] - 1) * req.dilation[0] + 1,
        (req.kernel[1] - 1) * req.dilation[1] + 1,
    ];
    let h = required_input(
        ofm_block[0],
        req.stride[0],
        dil[0].min(cfg.subkernel_max[0]),
        req.upscale,
        op.rounding,
    );
    let w = required_input(
        ofm_block[1],
        req.stride[1],
        dil[1].min(cfg.subkernel_max[1]),
        req.upscale,
        op.rounding,
    );
    let d = if op.equal_depth {
        ofm_block[2]
    } else {
        op.ifm_block_depth
    };
    [round_up(h, ub[0]), round_up(w, ub[1]), d]
}

/// The block the accumulators are sized for (`FitBlockForOFM`): on
/// configurations with 2-row micro-blocks, an OFM of height 1 computed with a
/// kernel of height 1 needs only one row.
fn fit_block(cfg: &AccelConfig, req: &BlockRequest, block: [u32; 3]) -> [u32; 3] {
    if req.ofm[0] == 1 && req.kernel[0] == 1 && cfg.ofm_ublock[0] == 2 {
        [block[0].min(1), block[1], block[2]]
    } else {
        block
    }
}

/// `TryBlockConfig`: the SHRAM layout of an IFM block and (fitted) OFM block,
/// `None` if it does not fit.
fn try_layout(
    cfg: &AccelConfig,
    req: &BlockRequest,
    op: &Op,
    ofm_block: [u32; 3],
    ifm_block: [u32; 3],
) -> Option<BlockConfig> {
    let fitted = fit_block(cfg, req, ofm_block);
    let ifm_bytes =
        AccelConfig::ifm_buffer_bytes(ifm_block[0], ifm_block[1], ifm_block[2], req.ifm_bits);
    let ifm_banks = AccelConfig::buffer_banks(ifm_bytes, op.ifm_granule);
    let mut ifm_end = cfg.reserved_output_banks + ifm_banks;
    let ifm2_start = ifm_end;
    let mut acc_start = op.lut_start;
    if op.ew == EwUsage::No {
        let acc_bytes = AccelConfig::acc_buffer_bytes(fitted[0], fitted[1], fitted[2], op.acc_bits);
        acc_start = acc_start.checked_sub(AccelConfig::buffer_banks(acc_bytes, op.acc_granule))?;
    } else {
        let ifm2_banks = if op.ew == EwUsage::Full { ifm_banks } else { 0 };
        if ifm2_start + ifm2_banks > acc_start {
            return None;
        }
        ifm_end = acc_start;
    }
    if ifm_end > acc_start {
        return None;
    }
    Some(BlockConfig {
        ofm_block,
        ifm_block,
        ifm_ib_end: ifm_end,
        ifm2_ib_start: (op.ew != EwUsage::No).then_some(ifm2_start),
        ab_start: acc_start,
        acc_format_i40: op.acc_i40,
    })
}

/// The SHRAM layout of `req` computed in OFM blocks of `ofm_block` (height,
/// width, depth); `None` if the block is outside the hardware's limits or its
/// buffers do not fit. This is how Vela lays out the SHRAM for a block it
/// chose, so for Vela's block it gives Vela's registers.
pub fn layout_for(
    cfg: &AccelConfig,
    req: &BlockRequest,
    ofm_block: [u32; 3],
) -> Option<BlockConfig> {
    let op = analyse(cfg, req)?;
    if ofm_block.contains(&0) || ofm_block.iter().zip(cfg.ofm_block_max).any(|(&b, m)| b > m) {
        return None;
    }
    let ifm_block = ifm_block_for(cfg, req, &op, ofm_block);
    try_layout(cfg, req, &op, ofm_block, ifm_block)
}

/// The OFM block Vela would choose for `req`, with its SHRAM layout; `None`
/// when no block fits (or for [`BlockOpKind::Dma`] and malformed requests).
///
/// Every block in micro-block steps up to `min(OFM, 32 x 64 x 128)` is
/// tried; depths below the OFM depth are multiples of 16. The cost of a
/// block that fits is, per OFM element, the IFM elements fetched (IFM block
/// x IFM depth x sub-kernel repeats x blocks in H and W, times the depth
/// blocks unless the operation keeps the depth) plus the weights fetched
/// (kernel area x IFM depth x blocks in H and W, times the OFM depth unless
/// depthwise); for elementwise operations it is the number of blocks. The
/// cost is halved when the whole IFM fits in two IFM blocks. The cheapest
/// block wins; on equal cost a block of at most 4 x 4 replaces the best if it
/// covers the IFM at least as well, and the later one in the search order
/// (depth, then height, then width ascending) wins otherwise.
pub fn choose_block(cfg: &AccelConfig, req: &BlockRequest) -> Option<BlockConfig> {
    let op = analyse(cfg, req)?;
    let ub = cfg.ofm_ublock;
    let space = [0, 1, 2].map(|i| round_up(req.ofm[i].min(cfg.ofm_block_max[i]), ub[i]));
    let ofm_elements = (req.ofm[0] * req.ofm[1] * req.ofm[2]) as f32;
    let [ifm_h, ifm_w, ifm_d] = op.ifm;
    let ifm_elements = ifm_h * ifm_w * ifm_d;
    let weight_fetch_wh = if op.has_weights {
        req.kernel[0] * req.kernel[1]
    } else {
        0
    };
    let mut best: Option<BlockConfig> = None;
    let mut best_cost = f32::INFINITY;
    let mut best_coverage = f32::INFINITY;
    // (height, width) pairs that did not fit at a smaller depth.
    let (nh, nw) = ((space[0] / ub[0]) as usize, (space[1] / ub[1]) as usize);
    let mut wont_fit = vec![false; nh * nw];

    let mut depth = ub[2].max(space[2].min(OFM_SPLIT_DEPTH));
    if depth < req.ofm[2] {
        depth = round_up(depth, OFM_SPLIT_DEPTH);
    }
    while depth <= space[2] {
        for hi in 0..nh {
            let height = (hi as u32 + 1) * ub[0];
            for wi in 0..nw {
                let width = (wi as u32 + 1) * ub[1];
                if wont_fit[hi * nw + wi] {
                    continue;
                }
                let block = [height, width, depth];
                let ifm_block = ifm_block_for(cfg, req, &op, block);
                let Some(layout) = try_layout(cfg, req, &op, block, ifm_block) else {
                    wont_fit[hi * nw + wi] = true;
                    continue;
                };
                let fitted = fit_block(cfg, req, block);
                let full_blocks = [0, 1, 2].map(|i| req.ofm[i].div_ceil(fitted[i]));
                // Vela's Point3 order: x = width, y = height, z = depth.
                let bx = req.ofm[1] as f32 / fitted[1] as f32;
                let by = req.ofm[0] as f32 / fitted[0] as f32;
                let bz = req.ofm[2] as f32 / fitted[2] as f32;
                let mut weight_fetch =
                    (weight_fetch_wh * ifm_d * full_blocks[0] * full_blocks[1]) as f32;
                if !op.depthwise {
                    weight_fetch *= bz * fitted[2] as f32;
                }
                let mut ifm_fetch =
                    (ifm_block[0] * ifm_block[1] * ifm_d * op.ifm_repeats) as f32 * bx * by;
                if !op.equal_depth {
                    ifm_fetch *= full_blocks[2] as f32;
                }
                let mut cost = if op.ew != EwUsage::No {
                    ofm_elements / (height * width * depth) as f32
                } else {
                    (ifm_fetch + weight_fetch) / ofm_elements
                };
                if ifm_elements < ifm_block[0] * ifm_block[1] * ifm_block[2] * 2 {
                    cost /= 2.0;
                }
                if cost <= best_cost {
                    let choose = if cost == best_cost {
                        let cov = ifm_h.min(ifm_block[0]) * ifm_w.min(ifm_block[1]);
                        let coverage = (ifm_h * ifm_w) as f32 / cov.max(1) as f32;
                        if coverage <= best_coverage && height <= 4 && width <= 4 {
                            best_coverage = coverage;
                            true
                        } else {
                            false
                        }
                    } else {
                        best_coverage = f32::INFINITY;
                        true
                    };
                    if choose {
                        best_cost = cost;
                        best = Some(layout);
                    }
                }
            }
        }
        depth += ub[2];
        if depth < req.ofm[2] {
            depth = round_up(depth, OFM_SPLIT_DEPTH);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::tflite::read_vela_custom_ops;
    use kiln_rt::ethos_u::cmd::CommandIter;
    use kiln_rt::ethos_u::config::by_name;
    use kiln_rt::ethos_u::payload::Payload;
    use kiln_rt::ethos_u::regs::{
        Activation, ActivationPrecision, Cmd0Op as C0, Cmd1Op as C1, ElementwiseMode,
        Ifm2Broadcast, IfmPrecision, KernelStride, Opcode, PoolingMode, WeightOrder,
    };
    use std::collections::HashMap;
    use std::path::Path;

    const CONFIGS: [&str; 4] = [
        "ethos-u55-64",
        "ethos-u55-128",
        "ethos-u55-256",
        "ethos-u65-256",
    ];
    const MODELS: [&str; 4] = [
        "ad_fc_autoencoder_int8",
        "ic_resnet8_int8",
        "kws_dscnn_int8",
        "vww_mobilenetv1_025_int8",
    ];

    /// One kernel operation of a Vela stream, as its registers describe it.
    #[derive(Clone, Debug)]
    struct VelaOp {
        offset: u32,
        req: BlockRequest,
        block: [u32; 3],
        ib_end: u32,
        ab_start: u32,
        ifm2_ib_start: u32,
        acc_i40: bool,
        /// A binary elementwise operation (IFM2 a feature map or a scalar).
        has_ifm2: bool,
        /// IFM and OFM (region, BASE0).
        ifm_at: (u32, u64),
        ofm_at: (u32, u64),
    }

    /// The kernel operations of a command stream, each with the register values at its NPU_OP.
    fn vela_ops(stream: &[u8]) -> Vec<VelaOp> {
        let mut regs: HashMap<u16, u16> = HashMap::new();
        let mut addrs: HashMap<u16, u64> = HashMap::new();
        let mut ops = Vec::new();
        for c in CommandIter::from_bytes(stream) {
            let c = c.unwrap();
            let op = match c.opcode {
                Opcode::Cmd0(op) => op,
                Opcode::Cmd1(op) => {
                    addrs.insert(op.code(), c.address());
                    continue;
                }
            };
            let r = |o: C0| regs.get(&o.code()).copied().unwrap_or(0) as u32;
            let a = |o: C1| addrs.get(&o.code()).copied().unwrap_or(0);
            let kind = match op {
                C0::OP_CONV => {
                    let ks = KernelStride::decode(r(C0::SET_KERNEL_STRIDE) as u16);
                    if ks.weight_order == WeightOrder::PartKernelFirst {
                        BlockOpKind::ConvPartKernel
                    } else {
                        BlockOpKind::Conv
                    }
                }
                C0::OP_DEPTHWISE => BlockOpKind::Depthwise,
                C0::OP_POOL
                    if PoolingMode::from_bits(c.param as u32 & 7)
                        == Some(PoolingMode::ReduceSum) =>
                {
                    BlockOpKind::ReduceSum
                }
                C0::OP_POOL => BlockOpKind::Pool,
                C0::OP_ELEMENTWISE => {
                    if Ifm2Broadcast::decode(r(C0::SET_IFM2_BROADCAST) as u16).broadcast_constant {
                        BlockOpKind::ElementwiseScalar
                    } else {
                        BlockOpKind::Elementwise
                    }
                }
                _ => {
                    regs.insert(op.code(), c.param);
                    continue;
                }
            };
            let mode = ElementwiseMode::from_bits(c.param as u32 & 0x3F);
            let unary = matches!(
                mode,
                Some(ElementwiseMode::Abs | ElementwiseMode::Clz | ElementwiseMode::Lrelu)
            );
            let elementwise = op == C0::OP_ELEMENTWISE;
            // Elementwise operations have no kernel (its registers keep older values).
            let ks = KernelStride::decode(if elementwise {
                0
            } else {
                r(C0::SET_KERNEL_STRIDE) as u16
            });
            let dilation = [ks.dilation_y(), ks.dilation_x()];
            let kernel = if elementwise {
                [1, 1]
            } else {
                [
                    r(C0::SET_KERNEL_HEIGHT_M1) / dilation[0] + 1,
                    r(C0::SET_KERNEL_WIDTH_M1) / dilation[1] + 1,
                ]
            };
            let stride = [ks.stride_y(), ks.stride_x()];
            let ofm = [
                r(C0::SET_OFM_HEIGHT_M1) + 1,
                r(C0::SET_OFM_WIDTH_M1) + 1,
                r(C0::SET_OFM_DEPTH_M1) + 1,
            ];
            let upscale = if r(C0::SET_IFM_UPSCALE) & 3 != 0 {
                2
            } else {
                1
            };
            let ifm_hw = if elementwise {
                [ofm[0], ofm[1]]
            } else {
                [r(C0::SET_IFM_HEIGHT0_M1) + 1, r(C0::SET_IFM_WIDTH0_M1) + 1]
            };
            let ifm_p = IfmPrecision::decode(r(C0::SET_IFM_PRECISION) as u16).unwrap();
            let bits = |p: ActivationPrecision| p.bytes() * 8;
            let act = Activation::decode(r(C0::SET_ACTIVATION) as u16).unwrap();
            let req = BlockRequest {
                kind,
                ofm,
                ifm_hw,
                ifm_depth: if elementwise {
                    ofm[2]
                } else {
                    r(C0::SET_IFM_DEPTH_M1) + 1
                },
                kernel,
                stride,
                dilation,
                ifm_bits: bits(ifm_p.precision),
                ofm_bits: 8,
                uses_lut: act.function.table_slot().is_some(),
                upscale,
            };
            ops.push(VelaOp {
                offset: c.offset,
                req,
                block: [
                    r(C0::SET_OFM_BLK_HEIGHT_M1) + 1,
                    r(C0::SET_OFM_BLK_WIDTH_M1) + 1,
                    r(C0::SET_OFM_BLK_DEPTH_M1) + 1,
                ],
                ib_end: r(C0::SET_IFM_IB_END),
                ab_start: r(C0::SET_AB_START),
                ifm2_ib_start: r(C0::SET_IFM2_IB_START),
                acc_i40: r(C0::SET_ACC_FORMAT) & 3 == 1,
                has_ifm2: elementwise && !unary,
                ifm_at: (r(C0::SET_IFM_REGION) & 7, a(C1::SET_IFM_BASE0)),
                ofm_at: (r(C0::SET_OFM_REGION) & 7, a(C1::SET_OFM_BASE0)),
            });
        }
        ops
    }

    /// The requests Vela's block search saw, rebuilt from the operations:
    /// the IFM height and width are those of the OFM that the last earlier
    /// operation wrote at the IFM's address (the registers give the part of
    /// the IFM the kernel reads, which can be a row and column short); an
    /// operation that weight buffering split in depth (consecutive
    /// operations that differ only in OFM address and depth) is searched
    /// with its whole depth.
    fn vela_requests(ops: &[VelaOp]) -> Vec<BlockRequest> {
        let mut written: HashMap<(u32, u64), [u32; 2]> = HashMap::new();
        let mut reqs: Vec<BlockRequest> = Vec::new();
        for v in ops {
            let mut req = v.req;
            if !matches!(
                req.kind,
                BlockOpKind::Elementwise | BlockOpKind::ElementwiseScalar
            ) {
                if let Some(&hw) = written.get(&v.ifm_at) {
                    req.ifm_hw = hw;
                }
            }
            written.insert(v.ofm_at, [req.ofm[0], req.ofm[1]]);
            reqs.push(req);
        }
        // Depth slices: same kernel, block and OFM height x width, other OFM
        // addresses; the same IFM (depthwise: other IFM channels).
        let mut i = 0;
        while i < ops.len() {
            let same = |a: &VelaOp, b: &VelaOp| {
                let dw = a.req.kind == BlockOpKind::Depthwise;
                let strip = |r: BlockRequest| BlockRequest {
                    ofm: [r.ofm[0], r.ofm[1], 0],
                    ifm_depth: if dw { 0 } else { r.ifm_depth },
                    ..r
                };
                (a.ifm_at == b.ifm_at || (dw && a.ifm_at.0 == b.ifm_at.0))
                    && a.ofm_at.0 == b.ofm_at.0
                    && a.ofm_at != b.ofm_at
                    && a.block == b.block
                    && strip(a.req) == strip(b.req)
            };
            let mut j = i + 1;
            while j < ops.len() && same(&ops[i], &ops[j]) {
                j += 1;
            }
            let depth: u32 = ops[i..j].iter().map(|v| v.req.ofm[2]).sum();
            let ifm_depth: u32 = ops[i..j].iter().map(|v| v.req.ifm_depth).sum();
            for r in &mut reqs[i..j] {
                r.ofm[2] = depth;
                if r.kind == BlockOpKind::Depthwise {
                    r.ifm_depth = ifm_depth;
                }
            }
            i = j;
        }
        reqs
    }

    fn fixture_stream(config: &str, model: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/vela")
            .join(config)
            .join(format!("{model}_vela.tflite"));
        let bytes = std::fs::read(&path).unwrap();
        let m = read_vela_custom_ops(&path, &bytes).unwrap();
        let op = m.npu_ops().next().unwrap();
        Payload::parse(m.bytes(op.command_stream))
            .unwrap()
            .command_stream
            .to_vec()
    }

    /// For every kernel operation of every Vela fixture stream: `layout_for`
    /// Vela's block gives exactly Vela's SHRAM registers, and `choose_block`
    /// gives Vela's block.
    #[test]
    fn vela_fixtures_layout_and_choice() {
        let mut bad = Vec::new();
        let mut report = Vec::new();
        let mut kinds: HashMap<String, usize> = HashMap::new();
        for config in CONFIGS {
            let cfg = by_name(config).unwrap();
            let (mut n, mut laid_out, mut chosen) = (0, 0, 0);
            for model in MODELS {
                let ops = vela_ops(&fixture_stream(config, model));
                let reqs = vela_requests(&ops);
                for (v, op_req) in ops.iter().zip(&reqs) {
                    n += 1;
                    *kinds.entry(format!("{:?}", v.req.kind)).or_default() += 1;
                    let l = layout_for(cfg, &v.req, v.block);
                    let ok = l.is_some_and(|l| {
                        l.ofm_block == v.block
                            && l.ifm_ib_end == v.ib_end
                            && l.ab_start == v.ab_start
                            && l.acc_format_i40 == v.acc_i40
                            && (!v.has_ifm2 || l.ifm2_ib_start == Some(v.ifm2_ib_start))
                    });
                    if ok {
                        laid_out += 1;
                    } else {
                        bad.push(format!(
                            "{config} {model} @{:#x}: {:?} block {:?}: Vela IB_END {} AB_START {} \
                             IFM2_IB_START {} I40 {}, layout_for {:?}",
                            v.offset,
                            v.req,
                            v.block,
                            v.ib_end,
                            v.ab_start,
                            v.ifm2_ib_start,
                            v.acc_i40,
                            l
                        ));
                    }
                    let b = choose_block(cfg, op_req);
                    if b.is_some_and(|b| b.ofm_block == v.block) {
                        chosen += 1;
                    } else {
                        bad.push(format!(
                            "{config} {model} @{:#x}: {op_req:?}: Vela's block {:?}, choose_block {:?}",
                            v.offset,
                            v.block,
                            b.map(|b| b.ofm_block)
                        ));
                    }
                }
            }
            report.push(format!(
                "{config}: {n} operations, layout_for = Vela's registers for {laid_out}, \
                 choose_block = Vela's block for {chosen}"
            ));
        }
        let mut kinds: Vec<_> = kinds.into_iter().collect();
        kinds.sort();
        report.push(format!("operation kinds: {kinds:?}"));
        eprintln!("{}", report.join("\n"));
        assert!(
            bad.is_empty(),
            "{} differences:\n{}",
            bad.len(),
            bad.join("\n")
        );
        assert_eq!(report.len(), CONFIGS.len() + 1);
    }

    /// Vela's listing of the kws stream names each operation's OFM and IFM
    /// block (`// Conv2D ... OFM Block=[1, 10, 6, 16], IFM Block=[1, 26, 14, 8]`):
    /// `layout_for` gives the same IFM block.
    #[test]
    fn kws_listing_ifm_blocks() {
        let listing = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../tests/fixtures/vela/kws_dscnn_u55_128_cmdstream.txt"),
        )
        .unwrap();
        let shape = |l: &str, key: &str| -> [u32; 3] {
            let at = l.find(key).unwrap() + key.len();
            let end = at + l[at..].find(']').unwrap();
            let v: Vec<u32> = l[at..end].split(", ").map(|x| x.parse().unwrap()).collect();
            [v[1], v[2], v[3]]
        };
        let blocks: Vec<([u32; 3], [u32; 3])> = listing
            .lines()
            .filter(|l| l.starts_with("// ") && l.contains("OFM Block="))
            .map(|l| (shape(l, "OFM Block=["), shape(l, "IFM Block=[")))
            .collect();
        let cfg = by_name("ethos-u55-128").unwrap();
        let ops = vela_ops(&fixture_stream("ethos-u55-128", "kws_dscnn_int8"));
        assert_eq!(ops.len(), blocks.len());
        for (v, (ofm_block, ifm_block)) in ops.iter().zip(blocks) {
            assert_eq!(v.block, ofm_block, "@{:#x}", v.offset);
            let l = layout_for(cfg, &v.req, v.block).unwrap();
            assert_eq!(l.ifm_block, ifm_block, "@{:#x}: {:?}", v.offset, v.req);
        }
    }

    /// The NPU model judges the SHRAM layout on its own: the kws stream with
    /// its first convolution's IFM_IB_END, AB_START or OFM block changed
    /// stops at that convolution with `NpuError::Shram`.
    #[test]
    fn npu_model_rejects_a_broken_layout() {
        use kiln_rt::ethos_u::config::ShramViolation;
        use kiln_rt::ethos_u::driver::NpuMemory;
        use kiln_rt::ethos_u::sim::{shared_sram_regions, NpuError, NpuModel, SimConfig};
        let stream = fixture_stream("ethos-u55-128", "kws_dscnn_int8");
        let first_conv = vela_ops(&stream)[0].offset;
        // Replaces the parameter of the first `op` command.
        let patch = |op: C0, f: &dyn Fn(u16) -> u16| {
            let mut s = stream.clone();
            let c = CommandIter::from_bytes(&stream)
                .map(Result::unwrap)
                .find(|c| c.opcode == Opcode::Cmd0(op))
                .unwrap();
            let at = c.offset as usize + 2;
            s[at..at + 2].copy_from_slice(&f(c.param).to_le_bytes());
            s
        };
        let run = |s: &[u8]| {
            let ro = vec![0u8; 1 << 16];
            let mut scratch = vec![0u8; 1 << 16];
            let mut regions = shared_sram_regions(&ro, &mut scratch);
            let mut mem = NpuMemory {
                command_stream: s,
                regions: &mut regions,
            };
            NpuModel::new(SimConfig::ethos_u55(128).unwrap()).run(s, &mut mem)
        };
        let cases: [(C0, &dyn Fn(u16) -> u16); 3] = [
            (C0::SET_IFM_IB_END, &|p| p - 1),
            (C0::SET_AB_START, &|p| p + 1),
            (C0::SET_OFM_BLK_HEIGHT_M1, &|_| 32),
        ];
        for (op, f) in cases {
            match run(&patch(op, f)) {
                Err(e @ NpuError::Shram { offset, violation }) => {
                    assert_eq!(offset, first_conv, "{e}");
                    let want = match op {
                        C0::SET_IFM_IB_END => matches!(violation, ShramViolation::Ifm { .. }),
                        C0::SET_AB_START => {
                            matches!(violation, ShramViolation::Accumulators { .. })
                        }
                        _ => matches!(violation, ShramViolation::BlockTooLarge { .. }),
                    };
                    assert!(want, "{op:?}: {e}");
                }
                r => panic!("{op:?}: {r:?}"),
            }
        }
    }

    #[test]
    fn kws_conv0_u55_128_by_hand() {
        // Vela: OFM Block [10, 6, 16], IFM Block [26, 14, 8], IB_END 10, AB_START 14.
        let cfg = by_name("ethos-u55-128").unwrap();
        let req = BlockRequest {
            kind: BlockOpKind::ConvPartKernel,
            ofm: [25, 5, 64],
            ifm_hw: [49, 10],
            ifm_depth: 1,
            kernel: [10, 4],
            stride: [2, 2],
            ..BlockRequest::default()
        };
        let b = choose_block(cfg, &req).unwrap();
        assert_eq!(
            b,
            BlockConfig {
                ofm_block: [10, 6, 16],
                ifm_block: [26, 14, 8],
                ifm_ib_end: 10,
                ifm2_ib_start: None,
                ab_start: 14,
                acc_format_i40: false,
            }
        );
        assert_eq!(layout_for(cfg, &req, [10, 6, 16]), Some(b));
        // Too large for the hardware, and too large for the SHRAM.
        assert_eq!(layout_for(cfg, &req, [33, 6, 16]), None);
        assert_eq!(layout_for(cfg, &req, [32, 64, 128]), None);
        assert_eq!(
            choose_block(
                cfg,
                &BlockRequest {
                    kind: BlockOpKind::Dma,
                    ..req
                }
            ),
            None
        );
        assert!(part_kernel_first(1, 8, [10, 4]));
        assert!(!part_kernel_first(64, 8, [1, 1]));
    }
}
