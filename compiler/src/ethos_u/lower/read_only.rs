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
}

/// Read-only data of one NPU segment (weights, scale records, LUTs): region 0.
#[derive(Default)]
pub struct ReadOnly {
    /// The bytes, every item 16-byte aligned.
    pub bytes: Vec<u8>,
    pending: Vec<Pending>,
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
    /// scale records: the pending (weights, scales) spans.
    pub fn push_weights(&mut self, values: Vec<i16>, scales: Vec<u8>) -> (Span, Span) {
        let job = self.pending.len() as u32;
        let len = scales.len() as u32;
        self.pending.push(Pending { values, scales });
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
        let encoded = encode_all(&jobs)?;
        let mut placed = Vec::with_capacity(jobs.len());
        for (job, stream) in jobs.iter().zip(&encoded) {
            let w = self.push(stream);
            let s = self.push(&job.scales);
            placed.push((w, s));
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
}

/// One encoded stream, or why its values cannot be encoded.
type Encoded = Result<Vec<u8>, WeightError>;

/// Encodes every job's values, the largest first, on as many threads as the machine has.
fn encode_all(jobs: &[Pending]) -> Result<Vec<Vec<u8>>, (usize, WeightError)> {
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&j| std::cmp::Reverse(jobs[j].values.len()));
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
        let r = encode_values(&jobs[j].values);
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
            None => encode_values(&jobs[j].values).map_err(|e| (j, e)),
        })
        .collect()
}
