//! kiln on a Cortex-M55 (Arm MPS3 AN547 / Corstone-300): keyword spotting and image
//! classification, int8, checked against TensorFlow Lite Micro's outputs.
//!
//! Every golden input goes through the model; every output is compared with
//! TFLM's; one line per input over semihosting; exit status 0 only if all match.
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception, ExceptionFrame};
use kiln_fwkit::{exit, hprintln, stack, ExitCode, InsnClock};
use kiln_rt::exec::{KernelEntry, Method};
use kiln_rt::pte::Program;

mod goldens {
    include!(concat!(env!("OUT_DIR"), "/goldens.rs"));
}

/// A `.pte` aligned for in-place reads.
#[repr(C, align(16))]
struct Aligned<T: ?Sized>(T);

#[link_section = ".kiln_model"]
static KWS_PTE: Aligned<[u8; include_bytes!(concat!(env!("OUT_DIR"), "/kws_dscnn.pte")).len()]> =
    Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/kws_dscnn.pte")));

#[entry]
fn main() -> ! {
    stack::paint();
    #[cfg(feature = "all-kernels")]
    core::hint::black_box([
        kiln_rt::kernels::int8::KERNELS,
        kiln_rt::kernels::f32::KERNELS,
    ]);
    let cp = cortex_m::Peripherals::take().unwrap();
    let clock = InsnClock::start(cp.SYST);
    hprintln!(
        "kiln: board=mps3-an547 cpu=cortex-m55 insns_per_tick={}.{:03}",
        clock.milli_insns_per_tick() / 1000,
        clock.milli_insns_per_tick() % 1000
    );
    let mut all_ok = true;
    all_ok &= run_kws(&clock);
    hprintln!(
        "kiln: stack_high_water={} stack_size={}",
        stack::high_water(),
        stack::size()
    );
    exit(if all_ok {
        ExitCode::Pass
    } else {
        ExitCode::Mismatch
    })
}

#[repr(C, align(16))]
struct Arena([u8; 16000]);
static mut ARENA: Arena = Arena([0; 16000]);

fn run_kws(clock: &InsnClock) -> bool {
    let kernels: &[KernelEntry] = kiln_rt::kernels::int8::KERNELS;
    let program = match Program::load(&KWS_PTE.0) {
        Ok(p) => p,
        Err(e) => {
            hprintln!("kws_dscnn: load: {}", e);
            return false;
        }
    };
    // SAFETY: interim: main runs once and this is the only reference to ARENA.
    let arena = unsafe { &mut *core::ptr::addr_of_mut!(ARENA) };
    let mut method = match Method::load(&program, "forward", kernels, &mut arena.0) {
        Ok(m) => m,
        Err(e) => {
            hprintln!("kws_dscnn: load: {}", e);
            return false;
        }
    };
    let mut ok = true;
    for (k, (input, golden)) in goldens::kws_dscnn::INPUTS
        .iter()
        .zip(&goldens::kws_dscnn::OUTPUTS)
        .enumerate()
    {
        if let Err(e) = method.set_input_as::<i8>(0, input) {
            hprintln!("kws_dscnn: input {}: {}", k, e);
            ok = false;
            continue;
        }
        let (r, insns) = clock.measure(|| method.execute());
        if let Err(e) = r {
            hprintln!("kws_dscnn: input {}: {}", k, e);
            ok = false;
            continue;
        }
        let out = method.output_as::<i8>(0).unwrap_or(&[]);
        let bad = kiln_fwkit::count_mismatches(out, golden);
        ok &= bad == 0;
        hprintln!(
            "kiln: model=kws_dscnn input={} result={} mismatched={}/{} insns={}",
            k,
            if bad == 0 { "match" } else { "MISMATCH" },
            bad,
            golden.len(),
            insns
        );
    }
    ok
}

#[exception]
unsafe fn HardFault(ef: &ExceptionFrame) -> ! {
    kiln_fwkit::hard_fault(ef)
}
