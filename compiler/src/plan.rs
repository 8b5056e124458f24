//! Memory planner: one arena per model, an offset for every activation.
//!
//! Greedy by size (largest first, as TFLite Micro's `GreedyMemoryPlanner`):
//! each buffer goes at the lowest aligned offset where it does not overlap any
//! already placed buffer whose lifetime intersects its own. The result is
//! reported next to the liveness lower bound — the largest total size of
//! buffers live at the same step — which no plan can beat.

/// One buffer to place: its size and the execution steps during which it is live (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// Size in bytes.
    pub size: usize,
    /// First step at which the buffer holds data (its producer, or 0 for graph inputs).
    pub first: usize,
    /// Last step that reads it (or the last step for graph outputs).
    pub last: usize,
}

impl Buffer {
    fn overlaps_in_time(&self, other: &Buffer) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

/// Byte offset inside the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArenaOffset(pub usize);

/// The planner's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Offset of each buffer, in input order.
    pub offsets: Vec<ArenaOffset>,
    /// Arena size the plan needs (aligned).
    pub arena_bytes: usize,
    /// Largest total size of simultaneously live buffers (aligned sizes): a lower bound for any plan.
    pub liveness_bound: usize,
}

fn align_up(x: usize, align: usize) -> usize {
    x.div_ceil(align) * align
}

/// Places `buffers` in one arena with every offset a multiple of `align`.
pub fn plan(buffers: &[Buffer], align: usize) -> MemoryPlan {
    let align = align.max(1);
    let sizes: Vec<usize> = buffers.iter().map(|b| align_up(b.size, align)).collect();
    let mut order: Vec<usize> = (0..buffers.len()).collect();
    // Largest first; ties by earlier start, then index, so the plan is deterministic.
    order.sort_by(|&a, &b| {
        sizes[b]
            .cmp(&sizes[a])
            .then(buffers[a].first.cmp(&buffers[b].first))
            .then(a.cmp(&b))
    });
    let mut offsets = vec![ArenaOffset(0); buffers.len()];
    let mut placed: Vec<usize> = Vec::new();
    let mut arena_bytes = 0;
    for &i in &order {
        // Intervals already taken by buffers live at the same time, sorted by offset.
        let mut taken: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&j| buffers[i].overlaps_in_time(&buffers[j]) && sizes[j] > 0)
            .map(|&j| (offsets[j].0, offsets[j].0 + sizes[j]))
            .collect();
        taken.sort_unstable();
        let mut at = 0;
        for (start, end) in taken {
            if at + sizes[i] <= start {
                break;
            }
            at = at.max(end);
        }
        offsets[i] = ArenaOffset(at);
        arena_bytes = arena_bytes.max(at + sizes[i]);
        placed.push(i);
    }
    MemoryPlan {
        offsets,
        arena_bytes,
        liveness_bound: liveness_bound(buffers, align),
    }
}

/// A buffer already placed at a byte offset (see [`place_around`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The buffer.
    pub buffer: Buffer,
    /// Its offset.
    pub offset: usize,
}

/// The lowest `align`-aligned offset for `buffer` that overlaps none of `placed` live at the
/// same time: first fit around what is already there (a later stage's buffers, such as staged
/// weights, go into the holes an earlier plan left).
pub fn place_around(placed: &[Placed], buffer: &Buffer, align: usize) -> usize {
    let align = align.max(1);
    let size = align_up(buffer.size, align);
    let mut taken: Vec<(usize, usize)> = placed
        .iter()
        .filter(|p| p.buffer.overlaps_in_time(buffer) && p.buffer.size > 0)
        .map(|p| (p.offset, p.offset + align_up(p.buffer.size, align)))
        .collect();
    taken.sort_unstable();
    let mut at = 0;
    for (start, end) in taken {
        if at + size <= start {
            break;
        }
        at = at.max(align_up(end, align));
    }
    at
}

/// The largest total (aligned) size of buffers live at one step.
pub fn liveness_bound(buffers: &[Buffer], align: usize) -> usize {
    let steps = buffers.iter().map(|b| b.last + 1).max().unwrap_or(0);
    (0..steps)
        .map(|s| {
            buffers
                .iter()
                .filter(|b| b.first <= s && s <= b.last)
                .map(|b| align_up(b.size, align.max(1)))
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_no_conflicts(buffers: &[Buffer], p: &MemoryPlan) {
        for i in 0..buffers.len() {
            for j in i + 1..buffers.len() {
                if buffers[i].overlaps_in_time(&buffers[j])
                    && buffers[i].size > 0
                    && buffers[j].size > 0
                {
                    let (a0, a1) = (p.offsets[i].0, p.offsets[i].0 + buffers[i].size);
                    let (b0, b1) = (p.offsets[j].0, p.offsets[j].0 + buffers[j].size);
                    assert!(a1 <= b0 || b1 <= a0, "buffers {i} and {j} overlap: {p:?}");
                }
            }
        }
        for (b, o) in buffers.iter().zip(&p.offsets) {
            assert!(o.0 + b.size <= p.arena_bytes);
        }
    }

    #[test]
    fn chain_reuses_memory_and_meets_the_bound() {
        // a -> b -> c -> d: only neighbours are live together.
        let bufs = [
            Buffer {
                size: 100,
                first: 0,
                last: 1,
            },
            Buffer {
                size: 200,
                first: 1,
                last: 2,
            },
            Buffer {
                size: 100,
                first: 2,
                last: 3,
            },
            Buffer {
                size: 50,
                first: 3,
                last: 3,
            },
        ];
        let p = plan(&bufs, 16);
        check_no_conflicts(&bufs, &p);
        // Aligned sizes: 112, 208, 112, 64. Peak live: 208 + 112.
        assert_eq!(p.liveness_bound, 320);
        assert_eq!(p.arena_bytes, 320);
        for o in &p.offsets {
            assert_eq!(o.0 % 16, 0);
        }
    }

    #[test]
    fn residual_keeps_the_skip_tensor_alive() {
        let bufs = [
            Buffer {
                size: 64,
                first: 0,
                last: 3,
            }, // skip connection
            Buffer {
                size: 64,
                first: 1,
                last: 2,
            },
            Buffer {
                size: 64,
                first: 2,
                last: 3,
            },
            Buffer {
                size: 64,
                first: 3,
                last: 4,
            },
        ];
        let p = plan(&bufs, 16);
        check_no_conflicts(&bufs, &p);
        assert_eq!(p.liveness_bound, 192);
        assert!(p.arena_bytes >= p.liveness_bound);
        assert!(p.arena_bytes <= 192 + 64);
    }

    #[test]
    fn empty_and_zero_sized() {
        let p = plan(&[], 16);
        assert_eq!((p.arena_bytes, p.liveness_bound), (0, 0));
        let bufs = [
            Buffer {
                size: 0,
                first: 0,
                last: 0,
            },
            Buffer {
                size: 3,
                first: 0,
                last: 0,
            },
        ];
        let p = plan(&bufs, 16);
        check_no_conflicts(&bufs, &p);
        assert_eq!(p.arena_bytes, 16);
    }
}
