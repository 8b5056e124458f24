//! Weight buffering: which operations read their weights and scale records from a copy that a
//! DMA put into SRAM ahead of them, instead of from where the `.pte` keeps them (flash on the
//! U55, DRAM on the U65).
//!
//! A convolution re-reads its whole weight stream for every spatial OFM block, so a layer
//! with many blocks pays the slow memory many times; a staged copy costs one DMA, issued while
//! the previous operation runs (right after its `NPU_OP_*`, behind `NPU_OP_KERNEL_WAIT 1` so
//! the buffer two operations back is free), and waited for before the operation itself. The
//! choice is Vela's rule (`ProposeSlicedWeightBuffering`, `scheduler.cpp`): stage when the
//! operation's cost with staged weights plus the part of the DMA the previous operation does
//! not hide is below its cost reading the weights in place; the previous operation hides the
//! DMA only for the cycles it does not itself spend on the DMA's source memory. Costs are the
//! cycle model's (`kiln_ethos_u::perf`), the one the NPU model charges the stream with.
//!
//! Each buffer lives from the operation before its user to its user, and is placed in the
//! holes the feature-map plan left ([`plan::place_around`]), within a byte budget. An
//! operation whose whole weights do not fit (or do not pay) may run in OFM depth slices with
//! two alternating slots ([`sliced`]). The region is then planned again with everything
//! together ([`replan_jointly`], [`plan::plan_tight`]).

pub mod sliced;

pub use sliced::{expand, Slice, Sliced};

use super::lower::ReadOnly;
use super::npu_op::{FeatureMap, Layout, NpuKind, NpuOp, Operand2, Span, REGION_WEIGHTS};
use crate::plan::{self, Buffer, Placed};
use kiln_ethos_u::perf::{self, BlockOp, Cost, Dpu, ElementwiseOp, FmUse, SimConfig};
use kiln_ethos_u::regs::{PoolingMode, MAX_REGIONS};

/// Hill-climb steps of the joint re-plan (about 10 µs each for a model's worth of buffers;
/// ResNet-8 on the U55-64 reaches its liveness bound after some 1,500).
const REPLAN_CLIMB: usize = 2000;

/// Alignment of a weight buffer (the NPU's base addresses are 16-byte aligned).
const ALIGN: usize = 16;

/// One weight DMA: `src` (in the read-only region) to `dst` in region `dst_region`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightDma {
    /// Weights and scale records of the operation, one contiguous span.
    pub src: Span,
    /// Destination region.
    pub dst_region: u8,
    /// Destination byte address.
    pub dst: u32,
    /// Single-buffered: the DMA starts when the previous operation has finished (its buffer
    /// may overlap what that operation used), not while it runs.
    pub single: bool,
}

/// The cycle model's cost of `op` as its registers will describe it.
pub fn op_cost(sim: &SimConfig, op: &NpuOp) -> Cost {
    let shape = |f: &FeatureMap| (f.shape[0] as u64, f.shape[1] as u64, f.shape[2] as u64);
    let usage = |f: &FeatureMap| FmUse {
        region: f.region,
        elem: (f.bits / 8).max(1) as u64,
        brick: f.layout == Layout::Nhcwb16,
        depth: f.shape[2] as u64,
    };
    let b = op.block.ofm_block;
    let block = (b[0] as u64, b[1] as u64, b[2] as u64);
    let dpu = match op.kind {
        NpuKind::Conv { part_kernel } => Dpu::Conv { part_kernel },
        NpuKind::Depthwise => Dpu::Depthwise,
        NpuKind::Pool(PoolingMode::ReduceSum) => Dpu::ReduceSum,
        NpuKind::Pool(mode) => Dpu::Pool {
            max: mode == PoolingMode::Max,
        },
        NpuKind::Elementwise(mode) => {
            let ifm2 = match op.ifm2 {
                Some(Operand2::Map { fm, .. }) => Some(usage(&fm)),
                _ => None,
            };
            return perf::elementwise(
                sim,
                &ElementwiseOp {
                    mode,
                    ofm_shape: shape(&op.ofm),
                    block,
                    ifm: FmUse {
                        depth: op.ofm.shape[2] as u64,
                        ..usage(&op.ifm)
                    },
                    ifm2: ifm2.map(|u| FmUse {
                        depth: op.ofm.shape[2] as u64,
                        ..u
                    }),
                    // A map operand is read in full (as before Vela's one-element rule).
                    ifm2_elems: u64::MAX,
                    binary: op.ifm2.is_some(),
                    ofm: usage(&op.ofm),
                    lut: op.lut.is_some(),
                },
            );
        }
    };
    let k = &op.kernel;
    perf::block_op(
        sim,
        &BlockOp {
            dpu,
            ofm_shape: shape(&op.ofm),
            block,
            taps: (k.size[0] as u64, k.size[1] as u64),
            dilation: (k.dilation[0] as u64, k.dilation[1] as u64),
            stride: (k.stride[0] as u64, k.stride[1] as u64),
            upscale: if op.upscale_nearest { 2 } else { 1 },
            ifm_depth: op.ifm.shape[2] as u64,
            ifm_bits: op.ifm.bits,
            lut: op.lut.is_some(),
            ifm: usage(&op.ifm),
            ofm: usage(&op.ofm),
            weights: op.weights.map(|w| (w.region, w.len as u64)),
            scales: op.scales.map(|s| (s.region, s.len as u64)),
        },
    )
}

/// Buffers are planned in half operations: operation `k` is times `2k` (while it starts,
/// before its `NPU_OP_*` is issued) and `2k + 1` (while it runs, when the DMAs issued after
/// it overlap it). Something live over operations `first..=last` spans both halves of each.
fn halves(b: Buffer) -> Buffer {
    Buffer {
        size: b.size,
        first: 2 * b.first,
        last: 2 * b.last + 1,
    }
}

/// The buffer of operation `k`'s whole staged weights in half-operation time: loaded while
/// the operation before runs (double-buffered) or after it (single).
fn whole_buffer(size: usize, k: usize, single: bool) -> Buffer {
    Buffer {
        size,
        first: if single {
            2 * k
        } else {
            (2 * k).saturating_sub(1)
        },
        last: 2 * k + 1,
    }
}

/// Cycles `cost` spends on the memory area of region `region`.
pub(super) fn area_cycles(sim: &SimConfig, cost: &Cost, region: u8) -> u64 {
    let area = sim.memory[region as usize % MAX_REGIONS].area;
    let sixteenths: u64 = (0..MAX_REGIONS)
        .filter(|&r| sim.memory[r].area == area)
        .map(|r| sim.memory[r].cycles16(cost.bytes[r]))
        .sum();
    sixteenths.div_ceil(16)
}

/// The one span covering an operation's weights and scales in the read-only region, when
/// they are there and adjacent (the lowering pushes them one after the other).
fn staged_span(op: &NpuOp) -> Option<Span> {
    let (w, s) = (op.weights?, op.scales?);
    if w.region != REGION_WEIGHTS || s.region != REGION_WEIGHTS {
        return None;
    }
    let lo = w.offset.min(s.offset);
    let hi = (w.offset + w.len).max(s.offset + s.len);
    // Adjacent: at most the 16-byte alignment pads between them.
    (hi - lo <= w.len + s.len + 2 * ALIGN as u32).then_some(Span {
        region: REGION_WEIGHTS,
        offset: lo,
        len: hi - lo,
    })
}

/// What [`plan_weight_buffering`] chose, per operation.
#[derive(Clone, Debug, Default)]
pub struct Staging {
    /// The DMA that stages an operation's whole weights.
    pub dmas: Vec<Option<WeightDma>>,
    /// An operation cut into depth slices with their weights staged slice by slice.
    pub sliced: Vec<Option<Sliced>>,
    /// Read-only ranges no operation reads any more (the whole streams of sliced operations).
    pub dead: Vec<Span>,
    /// The staging region's size after the buffers.
    pub arena: usize,
}

/// Chooses the operations whose weights are staged in `region` (whole, or in depth slices
/// encoded into `ro`) and places their buffers around `occupied` (the region's feature maps
/// and temporaries, live ranges in operation indices) with the whole region at most `budget`
/// bytes. Rewrites the whole-staged operations' weight and scale addresses.
pub fn plan_weight_buffering(
    sim: &SimConfig,
    ro: &mut ReadOnly,
    ops: &mut [NpuOp],
    occupied: &[Placed],
    region: u8,
    arena_bytes: usize,
    budget: usize,
) -> Staging {
    let mut placed: Vec<Placed> = occupied
        .iter()
        .map(|p| Placed {
            buffer: halves(p.buffer),
            offset: p.offset,
        })
        .collect();
    let mut arena = arena_bytes;
    let mut dmas = vec![None; ops.len()];
    let mut sliced = vec![None; ops.len()];
    let mut dead = Vec::new();
    let mut prev: Option<Cost> = None;
    for k in 0..ops.len() {
        let base = op_cost(sim, &ops[k]);
        let mut chosen = base;
        if let Some(span) = staged_span(&ops[k]) {
            let dma = perf::dma(sim, REGION_WEIGHTS, Some(region), span.len as u64);
            let hidden = prev.map_or(0, |p| {
                p.cycles
                    .saturating_sub(area_cycles(sim, &p, REGION_WEIGHTS))
            });
            // Double-buffered (loaded while the previous operation runs) where the buffer fits
            // next to that operation's maps, else single-buffered (loaded after it, exposed).
            for (exposed, single) in [(dma.saturating_sub(hidden), false), (dma, true)] {
                let buffer = whole_buffer(span.len as usize, k, single);
                let at = plan::place_around(&placed, &buffer, ALIGN);
                let end = at + buffer.size.next_multiple_of(ALIGN);
                if end > budget {
                    continue;
                }
                let mut staged = ops[k].clone();
                for s in [&mut staged.weights, &mut staged.scales]
                    .into_iter()
                    .flatten()
                {
                    s.region = region;
                    s.offset = at as u32 + (s.offset - span.offset);
                }
                let cost = op_cost(sim, &staged);
                if cost.cycles + exposed < base.cycles {
                    placed.push(Placed { buffer, offset: at });
                    arena = arena.max(end);
                    ops[k] = staged;
                    dmas[k] = Some(WeightDma {
                        src: span,
                        dst_region: region,
                        dst: at as u32,
                        single,
                    });
                    chosen = cost;
                }
                break;
            }
        }
        if dmas[k].is_none() {
            if let Some((p, at, last)) = sliced::propose(
                sim,
                ro,
                &ops[k],
                k,
                base.cycles,
                prev,
                &placed,
                region,
                budget,
                &mut dead,
            ) {
                for p in at {
                    arena = arena.max(p.offset + p.buffer.size);
                    placed.push(p);
                }
                sliced[k] = Some(p);
                chosen = last;
            }
        }
        prev = Some(chosen);
    }
    Staging {
        dmas,
        sliced,
        dead,
        arena,
    }
}

/// A buffer of the staging region, where the first plan put it and where the joint plan does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Move {
    from: Placed,
    to: usize,
}

/// The address `addr` of something operation `k` reads or writes in the joint plan: inside
/// the one buffer of `moves` live as `k` starts that holds it (`None` when no buffer does).
fn relocate(moves: &[Move], k: usize, addr: u32) -> Option<u32> {
    let (a, k) = (addr as usize, 2 * k);
    moves
        .iter()
        .find(|m| {
            let b = &m.from.buffer;
            b.size > 0
                && b.first <= k
                && k <= b.last
                && (m.from.offset..m.from.offset + b.size).contains(&a)
        })
        .map(|m| (m.to + (a - m.from.offset)) as u32)
}

/// Plans the staging region again with the feature maps, temporaries and weight buffers
/// together (the first plan placed the weight buffers in the holes the feature maps left) and,
/// when that needs fewer bytes, moves every address of `region` in `ops` and `dmas` there,
/// and each of `anchors` (operation index, address: the segment's inputs and outputs).
/// Returns the region's new size, or `None` when the first plan stays (also when an address
/// is in no buffer live at its operation).
pub fn replan_jointly(
    ops: &mut [NpuOp],
    dmas: &mut [Option<WeightDma>],
    sliced: &mut [Option<Sliced>],
    anchors: &mut [(usize, u32)],
    occupied: &[Placed],
    region: u8,
    arena_bytes: usize,
) -> Option<usize> {
    let mut all: Vec<Placed> = occupied
        .iter()
        .map(|p| Placed {
            buffer: halves(p.buffer),
            offset: p.offset,
        })
        .collect();
    for (k, d) in dmas.iter().enumerate() {
        if let Some(d) = d {
            all.push(Placed {
                buffer: whole_buffer(d.src.len as usize, k, d.single),
                offset: d.dst as usize,
            });
        }
    }
    for (k, p) in sliced.iter().enumerate() {
        if let Some(p) = p {
            for (buffer, &dst) in p.buffers(k).into_iter().zip(&p.dst) {
                all.push(Placed {
                    buffer,
                    offset: dst as usize,
                });
            }
        }
    }
    let buffers: Vec<Buffer> = all.iter().map(|p| p.buffer).collect();
    let joint = plan::plan_tight(&buffers, ALIGN, REPLAN_CLIMB);
    if joint.arena_bytes >= arena_bytes {
        return None;
    }
    let moves: Vec<Move> = all
        .iter()
        .zip(&joint.offsets)
        .map(|(&from, to)| Move { from, to: to.0 })
        .collect();
    let mut new_ops = ops.to_vec();
    for (k, op) in new_ops.iter_mut().enumerate() {
        let mut maps: Vec<&mut FeatureMap> = vec![&mut op.ifm, &mut op.ofm];
        if let Some(Operand2::Map { fm, .. }) = &mut op.ifm2 {
            maps.push(fm);
        }
        for fm in maps {
            if fm.region == region {
                fm.base = relocate(&moves, k, fm.base)?;
            }
        }
        for s in [&mut op.weights, &mut op.scales].into_iter().flatten() {
            if s.region == region {
                s.offset = relocate(&moves, k, s.offset)?;
            }
        }
    }
    let mut new_dmas = dmas.to_vec();
    for (k, d) in new_dmas.iter_mut().enumerate() {
        if let Some(d) = d {
            d.dst = relocate(&moves, k, d.dst)?;
        }
    }
    let mut new_sliced = sliced.to_vec();
    for (k, p) in new_sliced.iter_mut().enumerate() {
        if let Some(p) = p {
            for d in &mut p.dst {
                *d = relocate(&moves, k, *d)?;
            }
        }
    }
    let new_anchors = anchors
        .iter()
        .map(|&(k, a)| Some((k, relocate(&moves, k, a)?)))
        .collect::<Option<Vec<_>>>()?;
    ops.clone_from_slice(&new_ops);
    dmas.copy_from_slice(&new_dmas);
    sliced.clone_from_slice(&new_sliced);
    anchors.copy_from_slice(&new_anchors);
    Some(joint.arena_bytes)
}
