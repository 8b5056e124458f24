//! The read-only data of one NPU segment (region 0): weight streams, scale records, LUTs and
//! constant operands, every item 16-byte aligned.
//!
//! Encoding weight streams is most of a compile's time, and each stream is independent, so a
//! lowering hands its weights over in stream order ([`ReadOnly::push_weights`]) and gets
//! pending spans back; [`ReadOnly::finish`] encodes them all on every core, appends each
//! stream followed by its scale records (one contiguous span, one DMA when staged) after the
//! immediate data, and rewrites the pending spans of the operations.

use super::super::npu_op::{NpuOp, Span, REGION_WEIGHTS};
use kiln_ethos_u::weights::{encode_values, WeightError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Region of a pending weight stream's span (its offset is the job index).
const PENDING_WEIGHTS: u8 = 0xFE;
/// Region of a pending scale records' span (its offset is the job index).
const PENDING_SCALES: u8 = 0xFF;

/// A weight stream to encode and the scale records that follow it.
struct Pending {
    values: Vec<i16>,
    scales: Vec<u8>,
    /// Values of one whole OFM block (the stream is OFM block after OFM block, so a run of
    /// whole blocks is a contiguous run of values).
    block_values: usize,
}

/// Bytes of one OFM channel's scale record.
const SCALE_RECORD_BYTES: usize = 10;

/// Read-only data of one NPU segment (weights, scale records, LUTs): region 0.
#[derive(Default)]
pub struct ReadOnly {
    /// The bytes, every item 16-byte aligned.
    pub bytes: Vec<u8>,
    pending: Vec<Pending>,
    /// Encoded jobs: their values (kept so a staged operation can be re-encoded in depth
    /// slices) and where [`ReadOnly::finish`] put them.
    done: Vec<(Pending, Span, Span)>,
    /// Tables pushed with [`ReadOnly::push_table`], by content.
    tables: std::collections::HashMap<Vec<u8>, Span>,
}

impl ReadOnly {
    /// Appends `data` at the next 16-byte boundary.
    pub fn push(&mut self, data: &[u8]) -> Span {
        let offset = self.bytes.len().div_ceil(16) * 16;
        self.bytes.resize(offset, 0);
        self.bytes.extend_from_slice(data);
        Span {
            region: REGION_WEIGHTS,
            offset: offset as u32,
            len: data.len() as u32,
        }
    }

    /// Appends a lookup table, or returns where the same bytes already are (so operations with
    /// equal tables share one, and the stream keeps it in its LUT slot).
    pub fn push_table(&mut self, data: &[u8]) -> Span {
        if let Some(&span) = self.tables.get(data) {
            return span;
        }
        let span = self.push(data);
        self.tables.insert(data.to_vec(), span);
        span
    }

    /// Weights in stream order (each -255..=255) to encode in [`ReadOnly::finish`], and their
    /// scale records: the pending (weights, scales) spans. `block_values` is the number of
    /// values of one whole OFM block.
    pub fn push_weights(
        &mut self,
        values: Vec<i16>,
        scales: Vec<u8>,
        block_values: usize,
    ) -> (Span, Span) {
        let job = self.pending.len() as u32;
        let len = scales.len() as u32;
        self.pending.push(Pending {
            values,
            scales,
            block_values,
        });
        let pending = |region, len| Span {
            region,
            offset: job,
            len,
        };
        (pending(PENDING_WEIGHTS, 0), pending(PENDING_SCALES, len))
    }

    /// Weight streams pushed so far (a lowering's jobs are those between two calls).
    pub fn pending_jobs(&self) -> usize {
        self.pending.len()
    }

    /// Encodes the pending weight streams, appends them each with its scale records, and
    /// rewrites the pending spans of `ops`. An error names the job whose values failed.
    pub fn finish(&mut self, ops: &mut [NpuOp]) -> Result<(), (usize, WeightError)> {
        let jobs = std::mem::take(&mut self.pending);
        let values: Vec<&[i16]> = jobs.iter().map(|j| j.values.as_slice()).collect();
        let encoded = encode_all(&values)?;
        let mut placed = Vec::with_capacity(jobs.len());
        for (job, stream) in jobs.into_iter().zip(&encoded) {
            let w = self.push(stream);
            let s = self.push(&job.scales);
            placed.push((w, s));
            self.done.push((job, w, s));
        }
        for op in ops {
            for span in [&mut op.weights, &mut op.scales].into_iter().flatten() {
                let weights = match span.region {
                    PENDING_WEIGHTS => true,
                    PENDING_SCALES => false,
                    _ => continue,
                };
                if let Some(&(w, s)) = placed.get(span.offset as usize) {
                    *span = if weights { w } else { s };
                }
            }
        }
        Ok(())
    }

    /// The encoded job whose weight stream is `weights`.
    pub fn job_of(&self, weights: Span) -> Option<usize> {
        self.done.iter().position(|(_, w, _)| *w == weights)
    }

    /// The channel ranges of job `job` cut every `step` OFM channels (a multiple of the OFM
    /// block depth `block_depth`) of its `depth`, with each slice's share of the job's values:
    /// `(first channel, channels, values)`. `None` when the job is not cut that way.
    pub fn slice_plan(
        &self,
        job: usize,
        depth: u32,
        block_depth: u32,
        step: u32,
    ) -> Option<Vec<(u32, u32, std::ops::Range<usize>)>> {
        let (p, ..) = self.done.get(job)?;
        if block_depth == 0 || step == 0 || !step.is_multiple_of(block_depth) || step >= depth {
            return None;
        }
        if p.scales.len() != depth as usize * SCALE_RECORD_BYTES {
            return None;
        }
        let per_channel_blocks = (step / block_depth) as usize;
        let mut out = Vec::new();
        let mut c0 = 0;
        while c0 < depth {
            let n = step.min(depth - c0);
            let lo = (c0 / block_depth) as usize * p.block_values;
            let hi = if c0 + n == depth {
                p.values.len()
            } else {
                lo + per_channel_blocks * p.block_values
            };
            if lo >= hi || hi > p.values.len() {
                return None;
            }
            out.push((c0, n, lo..hi));
            c0 += n;
        }
        Some(out)
    }

    /// Encodes the slices `plan` (from [`ReadOnly::slice_plan`]) of job `job`, each stream
    /// followed by its channels' scale records: their (weights, scales) spans.
    pub fn push_slices(
        &mut self,
        job: usize,
        plan: &[(u32, u32, std::ops::Range<usize>)],
    ) -> Result<Vec<(Span, Span)>, WeightError> {
        let Some((p, ..)) = self.done.get(job) else {
            return Ok(Vec::new());
        };
        let values: Vec<&[i16]> = plan.iter().map(|(.., r)| &p.values[r.clone()]).collect();
        let encoded = encode_all(&values).map_err(|(_, e)| e)?;
        let scales: Vec<Vec<u8>> = plan
            .iter()
            .map(|&(c0, n, _)| {
                let (a, b) = (c0 as usize, (c0 + n) as usize);
                p.scales[a * SCALE_RECORD_BYTES..b * SCALE_RECORD_BYTES].to_vec()
            })
            .collect();
        Ok(encoded
            .iter()
            .zip(&scales)
            .map(|(w, s)| (self.push(w), self.push(s)))
            .collect())
    }

    /// Where job `job`'s weights and scales are: one span from the stream to the end of its
    /// records, 16-byte aligned at both ends.
    pub fn job_span(&self, job: usize) -> Option<Span> {
        let (_, w, s) = self.done.get(job)?;
        Some(Span {
            region: REGION_WEIGHTS,
            offset: w.offset,
            len: (s.offset + s.len).next_multiple_of(16) - w.offset,
        })
    }

    /// Removes the byte ranges `dead` (16-byte aligned, disjoint, nothing refers into them)
    /// and returns the map from an old offset to its new one.
    pub fn remove(&mut self, dead: &[Span]) -> impl Fn(u32) -> u32 + use<> {
        let mut cuts: Vec<(u32, u32)> = dead
            .iter()
            .map(|d| {
                let end = (d.offset + d.len).min(self.bytes.len() as u32);
                (d.offset, end)
            })
            .filter(|(a, b)| a < b)
            .collect();
        cuts.sort_unstable();
        for &(a, b) in cuts.iter().rev() {
            self.bytes.drain(a as usize..b as usize);
        }
        self.done.clear();
        // (start of a cut, bytes removed up to and including it)
        let mut removed = 0;
        let table: Vec<(u32, u32)> = cuts
            .iter()
            .map(|&(a, b)| {
                removed += b - a;
                (a, removed)
            })
            .collect();
        move |offset| {
            let k = table.partition_point(|&(a, _)| a <= offset);
            offset - if k == 0 { 0 } else { table[k - 1].1 }
        }
    }
}

/// One encoded stream, or why its values cannot be encoded.
type Encoded = Result<Vec<u8>, WeightError>;

/// Encodes every job's values, the largest first, on as many threads as the machine has.
fn encode_all(jobs: &[&[i16]]) -> Result<Vec<Vec<u8>>, (usize, WeightError)> {
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&j| std::cmp::Reverse(jobs[j].len()));
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len());
    let results: Mutex<Vec<Option<Encoded>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    let work = || loop {
        let k = next.fetch_add(1, Ordering::Relaxed);
        let Some(&j) = order.get(k) else {
            break;
        };
        let r = encode_values(jobs[j]);
        if let Ok(mut all) = results.lock() {
            all[j] = Some(r);
        }
    };
    if threads <= 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 1..threads {
                s.spawn(work);
            }
            work();
        });
    }
    let results = results.into_inner().unwrap_or_default();
    results
        .into_iter()
        .enumerate()
        .map(|(j, r)| match r {
            Some(Ok(b)) => Ok(b),
            Some(Err(e)) => Err((j, e)),
            // A worker that stopped early (it cannot: encode_values returns for every input).
            None => encode_values(jobs[j]).map_err(|e| (j, e)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job of 3 OFM blocks of 8 channels (4 values per block, the last block 2 channels
    /// deep with 2 values), its records 10 bytes per channel.
    fn job(ro: &mut ReadOnly) {
        let values: Vec<i16> = (0..10).collect();
        ro.push_weights(values, vec![7; 18 * SCALE_RECORD_BYTES], 4);
        ro.finish(&mut []).unwrap();
    }

    #[test]
    fn slices_are_whole_blocks_of_values_and_channels() {
        let mut ro = ReadOnly::default();
        job(&mut ro);
        let plan = ro.slice_plan(0, 18, 8, 8).unwrap();
        assert_eq!(plan, vec![(0, 8, 0..4), (8, 8, 4..8), (16, 2, 8..10)]);
        let plan = ro.slice_plan(0, 18, 8, 16).unwrap();
        assert_eq!(plan, vec![(0, 16, 0..8), (16, 2, 8..10)]);
        // Not a multiple of the block depth, or not a cut at all.
        assert!(ro.slice_plan(0, 18, 8, 12).is_none());
        assert!(ro.slice_plan(0, 18, 8, 24).is_none());
        let spans = ro.push_slices(0, &plan).unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].1.len, 16 * SCALE_RECORD_BYTES as u32);
        assert_eq!(spans[1].1.len, 2 * SCALE_RECORD_BYTES as u32);
    }

    #[test]
    fn removing_ranges_moves_later_offsets_down() {
        let mut ro = ReadOnly::default();
        ro.push(&[1; 32]);
        ro.push(&[2; 16]);
        ro.push(&[3; 48]);
        ro.push(&[4; 16]);
        let dead = [
            Span {
                region: REGION_WEIGHTS,
                offset: 32,
                len: 16,
            },
            Span {
                region: REGION_WEIGHTS,
                offset: 96,
                len: 16,
            },
        ];
        let moved = ro.remove(&dead);
        assert_eq!(ro.bytes.len(), 80);
        assert_eq!(moved(0), 0);
        assert_eq!(moved(48), 32);
        assert_eq!(ro.bytes[32..80], [3; 48]);
    }
}
