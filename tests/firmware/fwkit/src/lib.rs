//! Board glue shared by kiln's example firmware (Cortex-M on QEMU, the FVP or silicon).
//!
//! - [`exit`]: ends the run through semihosting `SYS_EXIT_EXTENDED`, so the
//!   emulator's exit status is the firmware's verdict ([`ExitCode`]);
//! - [`InsnClock`]: instructions retired, counted with SysTick under QEMU
//!   `-icount` (QEMU does not model `DWT.CYCCNT`), self-calibrated;
//! - [`stack`]: paints the free stack at start-up and reports the high-water mark;
//! - a panic handler (exit code 100; feature `panic-handler`, on by default: turn it off to
//!   use these helpers beside your own) and [`hard_fault`] (exit code 101) that print what
//!   went wrong before exiting.
//!
//! Nothing here is kiln-specific: the model code lives in each conformance firmware.
#![no_std]
#![warn(missing_docs)]

use core::fmt::Write as _;
use core::sync::atomic::{compiler_fence, AtomicU32, Ordering};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::{exception, ExceptionFrame};

pub use cortex_m_semihosting::{hprint, hprintln};
/// The record lines `cargo xtask fvp-test` reads (one definition, shared with it).
pub use kiln_fwlog::{Milli, Record};

/// Exit status of a test firmware (QEMU returns it as its own exit status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// Every output matched its golden.
    Pass = 0,
    /// At least one output differed from its golden (or a model returned an error).
    Mismatch = 1,
    /// The firmware panicked.
    Panic = 100,
    /// A HardFault was taken.
    HardFault = 101,
}

/// Ends the run with `code` via semihosting `SYS_EXIT_EXTENDED` (0x20).
///
/// Plain `SYS_EXIT` can only report 0 or 1 on 32-bit Arm; the extended call
/// takes `[ADP_Stopped_ApplicationExit, code]` and QEMU / the FVP exit with `code`.
pub fn exit(code: ExitCode) -> ! {
    const SYS_EXIT_EXTENDED: usize = 0x20;
    const ADP_STOPPED_APPLICATION_EXIT: u32 = 0x2_0026;
    // Announced on stdout too: not every host turns the code into its own exit status (the FVP).
    hprintln!("{}", Record::Exit(code as u32));
    let block = [ADP_STOPPED_APPLICATION_EXIT, code as u32];
    // SAFETY: the semihosting call reads the two-word block we pass and nothing else.
    unsafe {
        cortex_m_semihosting::syscall(SYS_EXIT_EXTENDED, &block);
    }
    // Only reached without a debugger/semihosting host that honours the call.
    loop {
        cortex_m::asm::bkpt();
    }
}

/// SysTick wraps (each one is 2^24 ticks), counted by the SysTick exception.
static WRAPS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

/// SysTick reload value: the full 24-bit range.
const RELOAD: u32 = 0x00FF_FFFF;

/// Instructions of the calibration loop (`subs` + `bne`, 1,000,000 times).
const CAL_INSNS: u64 = 2_000_000;

/// Counts instructions retired, using SysTick on the core clock.
///
/// Under QEMU `-icount shift=N` one instruction takes 2^N ns of virtual time,
/// so SysTick ticks are proportional to instructions; the ratio depends on
/// the board's clock (32 MHz on AN547, 25 MHz on AN386) and on N, so it is
/// measured at start-up by a loop of exactly [`CAL_INSNS`] instructions.
/// On real hardware the same code measures cycles x (calibration loop CPI).
pub struct InsnClock {
    syst: SYST,
    /// Ticks the calibration loop took.
    cal_ticks: u64,
    /// Ticks an empty measured region takes (subtracted from every measurement).
    empty_ticks: u64,
}

impl InsnClock {
    /// Starts SysTick (core clock, full range, wrap interrupt) and calibrates.
    pub fn start(mut syst: SYST) -> InsnClock {
        syst.disable_counter();
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        let mut clock = InsnClock {
            syst,
            cal_ticks: 1,
            empty_ticks: 0,
        };
        // Seen on QEMU 7.2: right after enabling, SysTick reads can stay frozen across a
        // whole region; warm up, then calibrate until two calibrations agree.
        spin(10_000);
        let mut previous = 0;
        for _ in 0..4 {
            clock.empty_ticks = clock.ticks_of(|| ()).1;
            let cal = clock.ticks_of(|| spin(1_000_000)).1;
            clock.cal_ticks = cal.saturating_sub(clock.empty_ticks).max(1);
            if clock.cal_ticks.abs_diff(previous) <= 1 {
                break;
            }
            previous = clock.cal_ticks;
        }
        clock
    }

    /// Ticks since start, wraps included.
    fn now(&self) -> u64 {
        loop {
            let before = WRAPS.load(Ordering::SeqCst);
            let current = SYST::get_current();
            let after = WRAPS.load(Ordering::SeqCst);
            // A wrap between the two reads makes `current` ambiguous: read again.
            if before == after {
                return (u64::from(before) << 24) + u64::from(RELOAD - current);
            }
        }
    }

    fn ticks_of<R>(&self, f: impl FnOnce() -> R) -> (R, u64) {
        let t0 = self.now();
        // Fences keep the measured work between the two clock reads.
        compiler_fence(Ordering::SeqCst);
        let r = f();
        compiler_fence(Ordering::SeqCst);
        let t1 = self.now();
        (r, t1.saturating_sub(t0))
    }

    /// Runs `f` and returns its result with the instructions it retired.
    pub fn measure<R>(&self, f: impl FnOnce() -> R) -> (R, u64) {
        let (r, ticks) = self.ticks_of(f);
        let ticks = ticks.saturating_sub(self.empty_ticks);
        (r, (ticks * CAL_INSNS + self.cal_ticks / 2) / self.cal_ticks)
    }

    /// Instructions per SysTick tick x 1000 (31250 on AN547 at `-icount shift=0`).
    pub fn milli_insns_per_tick(&self) -> u64 {
        CAL_INSNS * 1000 / self.cal_ticks
    }

    /// Gives SysTick back.
    pub fn free(mut self) -> SYST {
        self.syst.disable_interrupt();
        self.syst.disable_counter();
        self.syst
    }
}

/// Exactly `2 * n` instructions (n > 0): `subs` + `bne` per iteration.
#[inline(never)]
fn spin(n: u32) {
    // SAFETY: register-only loop; touches no memory and no stack.
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {n}, {n}, #1",
            "bne 2b",
            n = inout(reg) n => _,
            // Not `nomem`: that would let the compiler move the SysTick reads across the loop.
            options(nostack),
        );
    }
}

/// Stack high-water mark by painting: fill the free stack with a pattern at
/// start-up, later find the lowest word that was overwritten.
pub mod stack {
    const PAINT: u32 = 0xC0DE_5AFE;
    /// Words left unpainted just below the current stack pointer (the painter's own frame).
    const MARGIN_WORDS: usize = 64;

    extern "C" {
        // cortex-m-rt's link.x: stack top (initial SP) and lowest stack address (end of .bss/.uninit).
        static _stack_start: u32;
        static _stack_end: u32;
    }

    fn bounds() -> (usize, usize) {
        // Only the addresses of the linker symbols are taken, never their values.
        (
            core::ptr::addr_of!(_stack_end) as usize,
            core::ptr::addr_of!(_stack_start) as usize,
        )
    }

    /// Paints from the bottom of the stack region up to a margin below the current SP.
    /// Call first thing in `main`.
    #[inline(never)]
    pub fn paint() {
        let (bottom, _) = bounds();
        let sp = cortex_m::register::msp::read() as usize;
        let top = sp.saturating_sub(MARGIN_WORDS * 4) & !3;
        let mut p = bottom;
        while p < top {
            // SAFETY: [bottom, top) lies between the end of .bss and the live stack
            // frames (below SP minus a margin): memory nothing else owns.
            unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
            p += 4;
        }
    }

    /// Bytes of stack used so far (from the stack top down to the lowest overwritten word).
    pub fn high_water() -> usize {
        let (bottom, top) = bounds();
        let mut p = bottom;
        // SAFETY: reads words of the stack region, which is RAM owned by this program.
        while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
            p += 4;
        }
        top - p
    }

    /// Size of the stack region (RAM left after .data/.bss).
    pub fn size() -> usize {
        let (bottom, top) = bounds();
        top - bottom
    }
}

/// Prints the fault state (CFSR, HFSR, BFAR, MMFAR, PC, LR) and exits with [`ExitCode::HardFault`].
/// Call from the firmware's `#[exception] unsafe fn HardFault`.
pub fn hard_fault(ef: &ExceptionFrame) -> ! {
    // SAFETY: the SCB fault registers are read-only status here; reading them has no side effects.
    let scb = unsafe { &*cortex_m::peripheral::SCB::PTR };
    let (cfsr, hfsr, bfar, mmfar) = (
        scb.cfsr.read(),
        scb.hfsr.read(),
        scb.bfar.read(),
        scb.mmfar.read(),
    );
    hprintln!(
        "HardFault: pc={:#010x} lr={:#010x} cfsr={:#010x} hfsr={:#010x} bfar={:#010x} mmfar={:#010x}",
        ef.pc(),
        ef.lr(),
        cfsr,
        hfsr,
        bfar,
        mmfar
    );
    exit(ExitCode::HardFault)
}

/// With the default feature `panic-handler`; without it the helpers work beside the
/// firmware's own handler (e.g. `panic-semihosting`).
#[cfg(feature = "panic-handler")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // Format into a fixed buffer first: one semihosting write, no allocation.
    let mut line = Line::new();
    let _ = write!(line, "panic: {info}");
    hprintln!("{}", line.as_str());
    exit(ExitCode::Panic)
}

/// A fixed-capacity line buffer for `write!` (truncates when full).
pub struct Line {
    buf: [u8; 256],
    len: usize,
}

impl Line {
    /// An empty line.
    pub const fn new() -> Line {
        Line {
            buf: [0; 256],
            len: 0,
        }
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are copied in (truncation backs off to a char boundary).
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("<non-utf8>")
    }
}

impl Default for Line {
    fn default() -> Self {
        Line::new()
    }
}

impl core::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.buf.len() - self.len;
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Prints `kiln: error=<args>` (formatted into a fixed line first: one write, no allocation).
pub fn error(args: core::fmt::Arguments<'_>) {
    let mut line = Line::new();
    let _ = line.write_fmt(args);
    hprintln!("{}", Record::Error(line.as_str()));
}

/// Takes the `Model` of an `include_model!` module, runs every golden input of `$goldens`
/// (`INPUTS`, `OUTPUTS`) through it with [`check`], instructions measured by `$clock` (an
/// [`InsnClock`]); a model that cannot be taken prints `kiln: error=load ..`. Whether every
/// output matched.
#[macro_export]
macro_rules! check_model {
    ($model:ident, $goldens:path, $clock:expr) => {{
        use $goldens as goldens;
        match $model::Model::try_take() {
            Ok(mut m) => $crate::check(
                $model::NAME,
                &goldens::INPUTS,
                &goldens::OUTPUTS,
                |x, y| {
                    *m.input_mut() = *x;
                    let (r, insns) = $clock.measure(|| m.run().map(|_| ()));
                    r.map(|()| {
                        *y = *m.output();
                        insns
                    })
                },
            ),
            Err(e) => {
                $crate::error(format_args!("load model={} reason: {}", $model::NAME, e));
                false
            }
        }
    }};
}

/// Runs every golden input through a model and compares each output with its golden.
///
/// `infer(input, output)` runs one inference and returns the instructions it took
/// (measure only the model's run with [`InsnClock::measure`]). Prints one
/// `kiln: model=.. input=.. result=match|MISMATCH mismatched=a/b insns=..` line per input
/// (or `kiln: error=..`); returns whether every output matched.
pub fn check<
    T: PartialEq + Copy + Default,
    const I: usize,
    const O: usize,
    E: core::fmt::Display,
>(
    model: &str,
    inputs: &[[T; I]],
    goldens: &[[T; O]],
    mut infer: impl FnMut(&[T; I], &mut [T; O]) -> Result<u64, E>,
) -> bool {
    let mut all = inputs.len() == goldens.len() && !inputs.is_empty();
    for (k, (input, golden)) in inputs.iter().zip(goldens).enumerate() {
        let mut out = [T::default(); O];
        match infer(input, &mut out) {
            Ok(insns) => {
                let bad = count_mismatches(&out, golden);
                all &= bad == 0;
                let record = Record::Inference {
                    model,
                    input: k as u32,
                    mismatched: bad as u32,
                    outputs: O as u32,
                    insns,
                };
                hprintln!("{}", record);
            }
            Err(e) => {
                all = false;
                let mut line = Line::new();
                let _ = write!(line, "run model={model} input={k} reason: {e}");
                hprintln!("{}", Record::Error(line.as_str()));
            }
        }
    }
    all
}

/// Compares `got` with `want`; returns the number of differing elements.
pub fn count_mismatches<T: PartialEq>(got: &[T], want: &[T]) -> usize {
    got.iter().zip(want).filter(|(a, b)| a != b).count() + got.len().abs_diff(want.len())
}
