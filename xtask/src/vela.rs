//! `cargo xtask vela-fixtures`: Arm's Vela compiler as an oracle.
//!
//! Installs `ethos-u-vela` (pinned to [`VELA_VERSION`]) from PyPI into a
//! virtual environment under `target/vela-venv`, then compiles every int8
//! TFLite fixture (`tests/fixtures/*/*_int8.tflite`) for each accelerator in
//! [`CONFIGS`] with the system config and memory mode ExecuTorch's Arm backend
//! uses by default (U55: `Ethos_U55_High_End_Embedded` + `Shared_Sram`; U65:
//! `Ethos_U65_High_End` + `Dedicated_Sram`). Outputs go to
//! `tests/fixtures/vela/<accelerator>/`:
//!
//! - `<model>_vela.tflite` — the optimized model (one `ethos-u` custom op);
//! - `<model>_vela_perf.txt` — Vela's console output with `--verbose-performance`
//!   (per-layer cycle and memory-access estimates, totals);
//! - `<model>_vela_summary.csv` — Vela's summary CSV.
//!
//! `--check` compiles into `target/vela-out/` and fails if any committed
//! `.tflite` differs (Vela is deterministic for a given version).

use crate::pipeline::{run_visible, shown};
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Vela release the committed fixtures were made with.
pub const VELA_VERSION: &str = "5.2.0";

/// An accelerator configuration with its system config and memory mode.
pub struct VelaConfig {
    /// `--accelerator-config`.
    pub accelerator: &'static str,
    /// `--system-config` (from Vela's bundled `Arm/vela.ini`).
    pub system: &'static str,
    /// `--memory-mode`.
    pub memory_mode: &'static str,
}

/// Every configuration the fixtures are compiled for.
pub const CONFIGS: [VelaConfig; 4] = [
    VelaConfig {
        accelerator: "ethos-u55-64",
        system: "Ethos_U55_High_End_Embedded",
        memory_mode: "Shared_Sram",
    },
    VelaConfig {
        accelerator: "ethos-u55-128",
        system: "Ethos_U55_High_End_Embedded",
        memory_mode: "Shared_Sram",
    },
    VelaConfig {
        accelerator: "ethos-u55-256",
        system: "Ethos_U55_High_End_Embedded",
        memory_mode: "Shared_Sram",
    },
    VelaConfig {
        accelerator: "ethos-u65-256",
        system: "Ethos_U65_High_End",
        memory_mode: "Dedicated_Sram",
    },
];

/// The configuration compiled for `accelerator` (e.g. `ethos-u55-128`).
pub fn config(accelerator: &str) -> Option<&'static VelaConfig> {
    CONFIGS.iter().find(|c| c.accelerator == accelerator)
}

/// Options of `cargo xtask vela-fixtures`.
#[derive(clap::Args, Debug)]
pub struct VelaArgs {
    /// Compile into target/vela-out and compare with the committed fixtures instead of overwriting them.
    #[arg(long)]
    pub check: bool,
}

/// Installs Vela if needed and compiles every int8 TFLite fixture for every configuration.
pub fn run(root: &Path, args: &VelaArgs) -> Result<bool> {
    let vela = ensure_vela(root)?;
    let models = int8_fixtures(root)?;
    if models.is_empty() {
        bail!(
            "no tests/fixtures/*/*_int8.tflite found under {}",
            root.display()
        );
    }
    let work = root.join("target/vela-out");
    let mut differences = Vec::new();
    for cfg in &CONFIGS {
        let dest = root.join("tests/fixtures/vela").join(cfg.accelerator);
        fs::create_dir_all(&dest).with_context(|| format!("cannot create {}", dest.display()))?;
        for model in &models {
            let stem = model
                .file_stem()
                .and_then(|s| s.to_str())
                .context("fixture name is not UTF-8")?;
            // Relative paths keep absolute directories out of the committed text.
            let rel_model = model.strip_prefix(root).unwrap_or(model);
            let out_rel = PathBuf::from("target/vela-out").join(cfg.accelerator);
            let mut cmd = Command::new(&vela);
            cmd.current_dir(root)
                .args(["--accelerator-config", cfg.accelerator])
                .args(["--config", "Arm/vela.ini"])
                .args(["--system-config", cfg.system])
                .args(["--memory-mode", cfg.memory_mode])
                .arg("--output-dir")
                .arg(&out_rel)
                .arg("--verbose-performance")
                .arg(rel_model);
            println!("$ {}", shown(&cmd));
            let out = cmd
                .output()
                .with_context(|| format!("cannot run {}", vela.display()))?;
            if !out.status.success() {
                bail!(
                    "vela failed on {} for {} ({}):\n{}{}",
                    rel_model.display(),
                    cfg.accelerator,
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let produced = work.join(cfg.accelerator);
            let tflite = produced.join(format!("{stem}_vela.tflite"));
            let summary = produced.join(format!("{stem}_summary_{}.csv", cfg.system));
            let mut perf = out.stdout.clone();
            perf.extend_from_slice(&out.stderr);
            let target = dest.join(format!("{stem}_vela.tflite"));
            if args.check {
                let new = fs::read(&tflite)
                    .with_context(|| format!("cannot read {}", tflite.display()))?;
                match fs::read(&target) {
                    Ok(old) if old == new => {}
                    _ => differences.push(target.display().to_string()),
                }
                continue;
            }
            fs::copy(&tflite, &target)
                .with_context(|| format!("cannot copy {}", tflite.display()))?;
            fs::write(dest.join(format!("{stem}_vela_perf.txt")), &perf)?;
            if summary.exists() {
                fs::copy(&summary, dest.join(format!("{stem}_vela_summary.csv")))?;
            }
            println!(
                "  -> {}",
                target.strip_prefix(root).unwrap_or(&target).display()
            );
        }
    }
    if args.check {
        if differences.is_empty() {
            println!("all Vela fixtures match a fresh compile with Vela {VELA_VERSION}");
        } else {
            for d in &differences {
                println!("differs from a fresh compile: {d}");
            }
            return Ok(false);
        }
    }
    Ok(true)
}

/// `tests/fixtures/*/*_int8.tflite`, sorted.
fn int8_fixtures(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let dir = root.join("tests/fixtures");
    for entry in fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() || entry.file_name() == "vela" {
            continue;
        }
        for f in fs::read_dir(entry.path())? {
            let p = f?.path();
            if p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("_int8.tflite"))
            {
                found.push(p);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The `vela` executable of `target/vela-venv`, installing it if needed.
pub fn ensure_vela(root: &Path) -> Result<PathBuf> {
    let venv = root.join("target/vela-venv");
    let vela = venv.join("bin/vela");
    if let Ok(out) = Command::new(&vela).arg("--version").output() {
        let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && v == VELA_VERSION {
            println!("==> vela {v} ({})", vela.display());
            return Ok(vela);
        }
        println!(
            "==> {} reports {v:?}; reinstalling {VELA_VERSION}",
            vela.display()
        );
    }
    println!(
        "==> installing ethos-u-vela {VELA_VERSION} into {}",
        venv.display()
    );
    let mut mk = Command::new("python3");
    mk.args(["-m", "venv"]).arg(&venv);
    let st = run_visible(mk).context("python3 is needed to install Vela")?;
    if !st.success() {
        bail!("`python3 -m venv {}` exited with {st}", venv.display());
    }
    let mut pip = Command::new(venv.join("bin/pip"));
    pip.args([
        "install",
        "--quiet",
        &format!("ethos-u-vela=={VELA_VERSION}"),
    ]);
    let st = run_visible(pip)?;
    if !st.success() {
        bail!("pip install ethos-u-vela=={VELA_VERSION} exited with {st}");
    }
    Ok(vela)
}
