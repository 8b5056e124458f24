//! `cargo xtask test`: every check CI runs, in order.
//!
//! New verification stages (QEMU firmware, `fvp-test`) are further [`Step`]s:
//! append them in [`steps`] or build another list for their own subcommand.

use crate::pipeline::{run_check, run_steps, run_tests, Step};
use std::path::Path;

/// Runs the test pipeline; `Ok(true)` when everything passed.
pub fn run(root: &Path) -> anyhow::Result<bool> {
    Ok(run_steps(steps(root)))
}

/// The steps of `cargo xtask test`.
pub fn steps(root: &Path) -> Vec<Step<'_>> {
    let mut steps = host_steps(root);
    // Then the firmware on the emulated Cortex-M (FVP if on PATH, else QEMU).
    steps.extend(crate::fvp::steps(root, &crate::fvp::FvpArgs::default()));
    steps
}

/// The host steps: toolchain, fmt, clippy, no_std, tests.
fn host_steps(root: &Path) -> Vec<Step<'_>> {
    let cargo = move |args: &[&str]| {
        let mut cmd = crate::cargo();
        cmd.current_dir(root).args(args);
        cmd
    };
    vec![
        Step::new(
            "target",
            format!("the rustup target {} (Cortex-M55) is installed, else add it", crate::THUMB_TARGET),
            || Ok(crate::pipeline::Outcome::Passed(crate::setup::ensure_rust_target(crate::THUMB_TARGET)?)),
        ),
        Step::new("fmt", "the code is formatted as rustfmt would", move || {
            run_check(cargo(&["fmt", "--all", "--", "--check"]), "formatted")
        }),
        Step::new("clippy", "every crate and test is free of compiler and clippy warnings", move || {
            run_check(cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]), "no warnings")
        }),
        Step::new(
            "no_std",
            format!(
                "kiln-rt builds for {} (no std there) and does not use alloc (no `extern crate alloc`, \
                 no allocator symbols in the built rlibs)",
                crate::THUMB_TARGET
            ),
            move || crate::noalloc::check(root),
        ),
        Step::new("tests", "unit, integration and doc tests of the whole workspace pass on the host", move || {
            // --no-fail-fast: run every test binary so the counts cover the whole workspace.
            run_tests(cargo(&["test", "--workspace", "--no-fail-fast"]))
        }),
    ]
}
