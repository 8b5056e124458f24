//! `cargo xtask`: the project's front door.
//!
//! - `test`  — everything CI checks, step by step, ending in `N passed, N failed`;
//! - `bench` — compile time, `.pte` size, arena use and host inference time per fixture model;
//! - `setup` — installs what the tests need that cargo does not.
//!
//! xtask deliberately does not link kiln's crates (except for `bench`, behind a
//! feature), so it builds and reports even while they are broken.

mod bench;
mod bench_fidelity;
mod bench_npu;
mod elf;
mod fvp;
mod noalloc;
mod ort;
mod pipeline;
mod setup;
mod test;
mod vela;

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The Cortex-M55 target the runtime must build for (Armv8.1-M mainline, hard float).
pub const THUMB_TARGET: &str = "thumbv8m.main-none-eabihf";

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "kiln's build, test and benchmark tasks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every check CI runs: toolchain, fmt, clippy, no_std build for Cortex-M55, tests.
    Test,
    /// Measure compile time, .pte size, arena use and host inference time per fixture model
    /// (`--npu`: Vela-compiled fixtures on the NPU model: cycles vs Vela, host time;
    /// `--npu-fidelity`: the cycle model vs Vela's own estimate per operation type).
    Bench(bench::BenchArgs),
    /// Install what the tests need that cargo does not (rustup target, qemu-system-arm).
    Setup(setup::SetupArgs),
    /// Build the example firmware and run it on the Corstone-300 FVP if on PATH, else QEMU; check outputs, report sizes.
    FvpTest(fvp::FvpArgs),
    /// Install Arm's Vela (pinned) under target/ and compile every int8 TFLite fixture for Ethos-U55/U65.
    VelaFixtures(vela::VelaArgs),
    /// Install ONNX Runtime (pinned) under target/ and regenerate the fixtures it is the oracle
    /// of (xtask/oracles/*.py).
    OrtFixtures,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = workspace_root();
    let result = match cli.command {
        Command::Test => test::run(&root),
        Command::Bench(args) => bench::run(&root, &args),
        Command::Setup(args) => setup::run(&args),
        Command::FvpTest(args) => fvp::run(&root, &args),
        Command::VelaFixtures(args) => vela::run(&root, &args),
        Command::OrtFixtures => ort::run(&root),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask lives in `<root>/xtask`.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// The cargo that started us (so nested builds use the same toolchain), else `cargo`.
pub fn cargo() -> std::process::Command {
    std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}
