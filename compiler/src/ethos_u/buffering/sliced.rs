//! Depth-sliced weight buffering: a convolution whose whole weight stream does not fit the
//! SRAM (or does not pay) runs as several NPU operations over consecutive OFM channel ranges,
//! each with its own weight stream; the streams are DMA'd into two alternating SRAM slots,
//! slice `i + 1` while slice `i` runs (Vela's `ProposeSlicedWeightBuffering` and its
//! per-depth-slice weight encoding).
//!
//! A slice is a whole number of OFM blocks deep, so its values are a contiguous run of the
//! layer's stream order ([`ReadOnly::slice_plan`]) and the sliced operations read exactly the
//! weights the whole one would, block for block.

use super::{area_cycles, op_cost, WeightDma, ALIGN};
use crate::ethos_u::lower::ReadOnly;
use crate::ethos_u::npu_op::{Layout, NpuKind, NpuOp, Span, REGION_WEIGHTS};
use crate::plan::{self, Buffer, Placed};
use kiln_ethos_u::perf::{self, Cost, SimConfig};

/// Most slices one operation is cut into.
const MAX_SLICES: u32 = 16;

/// One OFM channel range of a sliced operation and where its weights are in the read-only
/// region (the stream, then its scale records).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slice {
    /// First OFM channel.
    pub c0: u32,
    /// OFM channels.
    pub channels: u32,
    /// The slice's weight stream.
    pub weights: Span,
    /// Its scale records.
    pub scales: Span,
}

impl Slice {
    /// The one span a DMA copies: the stream and the records after it.
    fn src(&self) -> Span {
        Span {
            region: REGION_WEIGHTS,
            offset: self.weights.offset,
            len: self.scales.offset + self.scales.len - self.weights.offset,
        }
    }
}

/// An operation cut into OFM depth slices whose weights alternate between two SRAM slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sliced {
    /// The slices in OFM channel order.
    pub slices: Vec<Slice>,
    /// Region of the two slots.
    pub region: u8,
    /// Addresses of the two slots.
    pub dst: [u32; 2],
    /// Bytes of one slot (16-byte aligned).
    pub slot: u32,
}

impl Sliced {
    /// The two slots of operation `k` as buffers in half-operation time (see
    /// [`super::halves`]).
    pub fn buffers(&self, k: usize) -> [Buffer; 2] {
        slot_buffers(self.slot, k, self.slices.len())
    }
}

/// The slots of operation `k` cut into `n` slices, in half-operation time. Slot 0 is loaded
/// while the operation before runs; slot 1 after it has finished (its DMA follows the first
/// slice, behind `KERNEL_WAIT 1`). The slot of the last slice is busy to the end of `k`; the
/// other one is free once `k` has started its last slice, so the next operation's staged
/// weights (loaded after that, behind `KERNEL_WAIT 1`) may go there.
fn slot_buffers(slot: u32, k: usize, n: usize) -> [Buffer; 2] {
    let size = slot as usize;
    let last_slot = n.saturating_sub(1) % 2;
    let end = |s: usize| if s == last_slot { 2 * k + 1 } else { 2 * k };
    [
        Buffer {
            size,
            first: (2 * k).saturating_sub(1),
            last: end(0),
        },
        Buffer {
            size,
            first: 2 * k,
            last: end(1),
        },
    ]
}

/// Slice `s` of `op`, its weights read from `at` in region `region`.
fn sub_op(op: &NpuOp, s: &Slice, region: u8, at: u32) -> NpuOp {
    let mut o = op.clone();
    o.ofm.base += s.c0 * op.ofm.strides[2];
    o.ofm.shape[2] = s.channels;
    o.weights = Some(Span {
        region,
        offset: at,
        len: s.weights.len,
    });
    o.scales = Some(Span {
        region,
        offset: at + (s.scales.offset - s.weights.offset),
        len: s.scales.len,
    });
    o
}

/// Cycles of running `op` as `slices` (weights in `region`) after an operation costing
/// `prev`: each slice's DMA is hidden by what runs before it except for the cycles that spends
/// on the DMA's source memory. Returns the total and the last slice's cost.
fn cost(
    sim: &SimConfig,
    op: &NpuOp,
    slices: &[Slice],
    region: u8,
    prev: Option<Cost>,
) -> (u64, Option<Cost>) {
    let hides = |c: &Cost| c.cycles.saturating_sub(area_cycles(sim, c, REGION_WEIGHTS));
    let mut hidden = prev.as_ref().map_or(0, hides);
    let mut total = 0u64;
    let mut last = None;
    for s in slices {
        let dma = perf::dma(sim, REGION_WEIGHTS, Some(region), u64::from(s.src().len));
        let c = op_cost(sim, &sub_op(op, s, region, 0));
        total = total
            .saturating_add(dma.saturating_sub(hidden))
            .saturating_add(c.cycles);
        hidden = hides(&c);
        last = Some(c);
    }
    (total, last)
}

/// Bytes of the larger slot the slices need.
fn slot_bytes(slices: &[Slice]) -> u32 {
    slices
        .iter()
        .map(|s| s.src().len.next_multiple_of(ALIGN as u32))
        .max()
        .unwrap_or(0)
}

/// A sliced plan for operation `k` (`op`, costing `base` with its weights where they are)
/// whose two slots fit with `placed` within `budget`, when one is cheaper than `base`:
/// the plan, where its slots go, and its last slice's cost. The slices' streams are encoded
/// into `ro`; `dead` gets what is then unused there.
#[allow(clippy::too_many_arguments)]
pub fn propose(
    sim: &SimConfig,
    ro: &mut ReadOnly,
    op: &NpuOp,
    k: usize,
    base: u64,
    prev: Option<Cost>,
    placed: &[Placed],
    region: u8,
    budget: usize,
    dead: &mut Vec<Span>,
) -> Option<(Sliced, [Placed; 2], Cost)> {
    if !matches!(op.kind, NpuKind::Conv { .. }) || op.ofm.layout != Layout::Nhwc {
        return None;
    }
    let (w, s) = (op.weights?, op.scales?);
    if w.region != REGION_WEIGHTS || s.region != REGION_WEIGHTS {
        return None;
    }
    let job = ro.job_of(w)?;

    let depth = op.ofm.shape[2];
    let block = op.block.ofm_block[2].max(1);
    let fits = |slot: u32, n: usize| -> Option<[Placed; 2]> {
        let [b0, b1] = slot_buffers(slot, k, n);
        let at0 = plan::place_around(placed, &b0, ALIGN);
        let mut with0 = placed.to_vec();
        with0.push(Placed {
            buffer: b0,
            offset: at0,
        });
        let at1 = plan::place_around(&with0, &b1, ALIGN);
        let both = [
            Placed {
                buffer: b0,
                offset: at0,
            },
            Placed {
                buffer: b1,
                offset: at1,
            },
        ];
        if both.iter().all(|p| p.offset + p.buffer.size <= budget) {
            return Some(both);
        }
        // No holes for the slots around the first plan: the joint re-plan of the region
        // (`replan_jointly`, feature maps and buffers together) may still fit them.
        let mut all: Vec<Buffer> = placed.iter().map(|p| p.buffer).collect();
        all.extend([b0, b1]);
        (plan::plan_tight(&all, ALIGN, 0).arena_bytes <= budget).then_some(both)
    };
    // Rank the depth steps with each slice's stream estimated as its share of the whole one.
    let total_values = ro
        .slice_plan(job, depth, block, block)
        .map_or(0, |p| p.last().map_or(0, |(.., r)| r.end));
    if total_values == 0 {
        return None;
    }
    let mut best: Option<(u64, u32)> = None;
    let mut step = block;
    while step < depth {
        if depth.div_ceil(step) <= MAX_SLICES {
            if let Some(plan) = ro.slice_plan(job, depth, block, step) {
                let estimated: Vec<Slice> = plan
                    .iter()
                    .map(|&(c0, channels, ref r)| {
                        let len = (u64::from(w.len) * r.len() as u64).div_ceil(total_values as u64)
                            as u32;
                        let len = len.next_multiple_of(ALIGN as u32);
                        Slice {
                            c0,
                            channels,
                            weights: Span {
                                region: REGION_WEIGHTS,
                                offset: 0,
                                len,
                            },
                            scales: Span {
                                region: REGION_WEIGHTS,
                                offset: len,
                                len: channels * 10,
                            },
                        }
                    })
                    .collect();
                if fits(slot_bytes(&estimated), estimated.len()).is_some() {
                    let (c, _) = cost(sim, op, &estimated, region, prev);
                    if c < base && best.is_none_or(|(b, _)| c < b) {
                        best = Some((c, step));
                    }
                }
            }
        }
        step += block;
    }
    let (_, step) = best?;
    // The chosen step with its streams encoded: its exact sizes must still fit and pay.
    let plan = ro.slice_plan(job, depth, block, step)?;
    let spans = ro.push_slices(job, &plan).ok()?;
    let slices: Vec<Slice> = plan
        .iter()
        .zip(&spans)
        .map(|(&(c0, channels, _), &(weights, scales))| Slice {
            c0,
            channels,
            weights,
            scales,
        })
        .collect();
    let slot = slot_bytes(&slices);
    let (c, last) = cost(sim, op, &slices, region, prev);
    match (fits(slot, slices.len()), last) {
        (Some(at), Some(last)) if c < base => {
            dead.extend(ro.job_span(job));
            Some((
                Sliced {
                    slices,
                    region,
                    dst: at.map(|p| p.offset as u32),
                    slot,
                },
                at,
                last,
            ))
        }
        _ => {
            dead.extend(slices.iter().map(|s| Span {
                len: s.src().len.next_multiple_of(ALIGN as u32),
                ..s.src()
            }));
            None
        }
    }
}

/// The operations with every sliced one replaced by its slices, and the weight DMA each of
/// them waits for: slice `i` reads slot `i % 2`, and its DMA is issued after the operation
/// before it (behind `KERNEL_WAIT 1`: the one that read that slot is done).
pub fn expand(
    ops: Vec<NpuOp>,
    dmas: Vec<Option<WeightDma>>,
    sliced: &[Option<Sliced>],
) -> (Vec<NpuOp>, Vec<Option<WeightDma>>) {
    let mut out_ops = Vec::with_capacity(ops.len());
    let mut out_dmas = Vec::with_capacity(ops.len());
    for (k, (op, dma)) in ops.into_iter().zip(dmas).enumerate() {
        match sliced.get(k).and_then(Option::as_ref) {
            Some(p) => {
                for (i, s) in p.slices.iter().enumerate() {
                    let at = p.dst[i % 2];
                    out_ops.push(sub_op(&op, s, p.region, at));
                    out_dmas.push(Some(WeightDma {
                        src: s.src(),
                        dst_region: p.region,
                        dst: at,
                        single: false,
                    }));
                }
            }
            None => {
                out_ops.push(op);
                out_dmas.push(dma);
            }
        }
    }
    (out_ops, out_dmas)
}
