//! Keyword spotting (DS-CNN, int8) on an Arm Corstone-300 (MPS3 AN547, Cortex-M55 + Ethos-U55): one `include_model!`, one recorded
//! utterance, the predicted keyword printed over semihosting.
//!
//! `cargo run --release` builds it and boots it on QEMU (`qemu-system-arm -M mps3-an547`).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use panic_semihosting as _;

// Compiled by kiln at build time (build.rs): the operators the Ethos-U55 runs become NPU command streams, the rest Cortex-M55 kernels.
kiln::include_model!(
    "models/kws_dscnn_int8.tflite",
    target = "ethos-u55-128",
    name = kws
);

/// One second of speech as the model's 49x10 MFCC features, quantized (int8): the first
/// reference input of MLCommons Tiny's keyword-spotting benchmark.
static SAMPLE: [u8; kws::INPUT_LEN] = *include_bytes!("../models/sample.bin");

/// The twelve classes of the Speech Commands keyword-spotting model, in output order.
const LABELS: [&str; 12] = [
    "down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "silence", "unknown",
];

#[entry]
fn main() -> ! {
    let code = match classify() {
        Ok(()) => debug::EXIT_SUCCESS,
        Err(e) => {
            hprintln!("inference failed: {}", e);
            debug::EXIT_FAILURE
        }
    };
    debug::exit(code);
    // Semihosting exit returns only without a debugger attached.
    loop {
        core::hint::spin_loop();
    }
}

/// Runs the model on the sample and prints the keyword it heard.
fn classify() -> Result<(), kiln::RtError> {
    let mut model = kws::Model::try_take()?;
    for (x, s) in model.input_mut().iter_mut().zip(SAMPLE) {
        *x = s as i8;
    }
    let scores = model.run()?;
    let (best, score) = scores
        .iter()
        .enumerate()
        .max_by_key(|(_, s)| **s)
        .map_or((0, i8::MIN), |(i, s)| (i, *s));
    // Output quantization: probability = scale * (q - zero point).
    let p = kws::OUTPUT_SCALE * (score as f32 - kws::OUTPUT_ZERO_POINT as f32);
    hprintln!("heard \"{}\" (p = {:.2})", LABELS[best], p);
    Ok(())
}
