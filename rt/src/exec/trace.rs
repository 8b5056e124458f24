//! A fixed-size trace of instruction costs for firmware: an [`Observer`] that reads a clock
//! before and after every instruction and keeps one [`TraceEntry`] per instruction in an array
//! the firmware owns (a `static`, or the stack), so profiling a device run allocates nothing.
//!
//! The clock is the caller's, e.g. DWT CYCCNT on a Cortex-M (silicon, FVP) or an instruction
//! counter under QEMU `-icount`; 32-bit counters may wrap between two reads (differences are
//! taken modulo 2^32, right for any instruction shorter than the wrap period).

use super::{Observer, Values};

/// The cost of one executed instruction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceEntry {
    /// Instruction index in chain 0.
    pub instruction: u32,
    /// Clock ticks between the start and the end of the instruction.
    pub ticks: u32,
    /// Whether it returned without error.
    pub ok: bool,
}

impl TraceEntry {
    /// An empty entry (fills the array before a run).
    pub const EMPTY: TraceEntry = TraceEntry {
        instruction: 0,
        ticks: 0,
        ok: false,
    };
}

/// Records up to `N` instructions; later ones are counted in [`CycleTrace::dropped`].
pub struct CycleTrace<C, const N: usize> {
    clock: C,
    start: u32,
    entries: [TraceEntry; N],
    len: usize,
    dropped: u32,
}

impl<C: FnMut() -> u32, const N: usize> CycleTrace<C, N> {
    /// An empty trace reading `clock`.
    pub const fn new(clock: C) -> Self {
        CycleTrace {
            clock,
            start: 0,
            entries: [TraceEntry::EMPTY; N],
            len: 0,
            dropped: 0,
        }
    }

    /// The recorded instructions, in execution order.
    pub fn entries(&self) -> &[TraceEntry] {
        &self.entries[..self.len]
    }

    /// Instructions that ran after the array was full.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }

    /// Sum of the recorded ticks.
    pub fn total(&self) -> u64 {
        self.entries().iter().map(|e| u64::from(e.ticks)).sum()
    }

    /// Forgets the entries (e.g. between two runs).
    pub fn clear(&mut self) {
        self.len = 0;
        self.dropped = 0;
    }
}

impl<C: FnMut() -> u32, const N: usize> Observer for CycleTrace<C, N> {
    fn before(&mut self, _index: usize) {
        self.start = (self.clock)();
    }

    fn after(&mut self, index: usize, ok: bool, _values: &Values<'_, '_>) {
        let ticks = (self.clock)().wrapping_sub(self.start);
        match self.entries.get_mut(self.len) {
            Some(e) => {
                *e = TraceEntry {
                    instruction: index as u32,
                    ticks,
                    ok,
                };
                self.len += 1;
            }
            None => self.dropped = self.dropped.saturating_add(1),
        }
    }
}
