//! `cargo xtask setup`: what the tests need that cargo does not install.

use crate::pipeline::{run_visible, shown};
use anyhow::{bail, Context, Result};
use std::process::Command;

/// Options of `cargo xtask setup`.
#[derive(clap::Args, Debug)]
pub struct SetupArgs {
    /// Do not install qemu-system-arm (only the QEMU end-to-end tests need it).
    #[arg(long)]
    pub skip_qemu: bool,
}

/// Installs the rustup target and, unless skipped, qemu-system-arm.
pub fn run(args: &SetupArgs) -> Result<bool> {
    println!("==> rustup target {}", crate::THUMB_TARGET);
    println!("{}", ensure_rust_target(crate::THUMB_TARGET)?);
    if args.skip_qemu {
        println!("==> qemu-system-arm: skipped (--skip-qemu)");
    } else {
        println!("==> qemu-system-arm (runs the Cortex-M55 firmware on mps3-an547)");
        println!("{}", ensure_qemu()?);
    }
    Ok(true)
}

/// Makes sure `rustup` has the standard library for `target`; says what it did.
pub fn ensure_rust_target(target: &str) -> Result<String> {
    let mut list = Command::new("rustup");
    list.args(["target", "list", "--installed"]);
    println!("$ {}", shown(&list));
    let out = list
        .output()
        .context("cannot run `rustup` (install it from https://rustup.rs; kiln needs it to add the Cortex-M target)")?;
    if !out.status.success() {
        bail!(
            "`rustup target list --installed` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let installed = String::from_utf8_lossy(&out.stdout);
    if installed.lines().any(|l| l.trim() == target) {
        return Ok(format!("{target} is installed"));
    }
    println!("{target} is not installed: adding it");
    let mut add = Command::new("rustup");
    add.args(["target", "add", target]);
    let status = run_visible(add)?;
    if !status.success() {
        bail!("`rustup target add {target}` exited with {status}");
    }
    Ok(format!("{target} was missing and is now installed"))
}

/// Makes sure `qemu-system-arm` is on PATH, installing it with apt-get if not.
pub fn ensure_qemu() -> Result<String> {
    if let Some(version) = qemu_version() {
        return Ok(format!("qemu-system-arm is installed: {version}"));
    }
    println!("qemu-system-arm is not installed: installing it with apt-get");
    if Command::new("apt-get").arg("--version").output().is_err() {
        bail!("qemu-system-arm is missing and apt-get is not available: install qemu-system-arm (>= 7.0, machine mps3-an547) with your package manager");
    }
    // apt-get needs root; use sudo when we are not root and it exists.
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    for args in [&["update"][..], &["install", "-y", "qemu-system-arm"][..]] {
        let mut cmd = if as_root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        cmd.args(args);
        let line = shown(&cmd);
        let status = run_visible(cmd)?;
        if !status.success() {
            bail!("`{line}` exited with {status}");
        }
    }
    match qemu_version() {
        Some(version) => Ok(format!(
            "qemu-system-arm was missing and is now installed: {version}"
        )),
        None => bail!("apt-get finished but `qemu-system-arm --version` still does not run"),
    }
}

/// The first line of `qemu-system-arm --version`, if it runs.
fn qemu_version() -> Option<String> {
    let out = Command::new("qemu-system-arm")
        .arg("--version")
        .output()
        .ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    })
}
