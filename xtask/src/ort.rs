//! `cargo xtask ort-fixtures`: ONNX Runtime as an oracle. Installs pinned `onnx`,
//! `onnxruntime` and `numpy` into `target/ort-venv` and runs the fixture scripts under
//! `xtask/oracles/` that need them; the fixtures they write are committed, so the tests never
//! need Python.

use crate::pipeline::run_visible;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The pinned oracle packages.
const PACKAGES: [&str; 3] = ["onnx==1.23.2", "onnxruntime==1.32.0", "numpy==2.4.6"];

/// Fixture scripts and the folder under `tests/fixtures` each writes.
const SCRIPTS: [(&str, &str); 1] = [("ort_tables.py", "synth_iii_tables")];

/// The venv's Python with the pinned packages, installing them if needed.
fn ensure_venv(root: &Path) -> Result<PathBuf> {
    let venv = root.join("target/ort-venv");
    let python = venv.join("bin/python");
    let check = Command::new(&python)
        .args(["-c", "import onnx, onnxruntime, numpy; print(onnx.__version__, onnxruntime.__version__, numpy.__version__)"])
        .output();
    let want: Vec<&str> = PACKAGES
        .iter()
        .filter_map(|p| p.split("==").nth(1))
        .collect();
    if let Ok(out) = check {
        let have = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && have == want.join(" ") {
            println!("==> onnx, onnxruntime, numpy {have} ({})", venv.display());
            return Ok(python);
        }
    }
    println!(
        "==> installing {} into {}",
        PACKAGES.join(", "),
        venv.display()
    );
    let mut mk = Command::new("python3");
    mk.args(["-m", "venv"]).arg(&venv);
    let st = run_visible(mk).context("python3 is needed for the ONNX Runtime oracle")?;
    if !st.success() {
        bail!("`python3 -m venv {}` exited with {st}", venv.display());
    }
    let mut pip = Command::new(venv.join("bin/pip"));
    pip.args(["install", "--quiet"]).args(PACKAGES);
    let st = run_visible(pip)?;
    if !st.success() {
        bail!("pip install {} exited with {st}", PACKAGES.join(" "));
    }
    Ok(python)
}

/// Regenerates every ONNX Runtime fixture.
pub fn run(root: &Path) -> Result<bool> {
    let python = ensure_venv(root)?;
    let mut ok = true;
    for (script, folder) in SCRIPTS {
        let mut cmd = Command::new(&python);
        cmd.arg(root.join("xtask/oracles").join(script))
            .arg(root.join("tests/fixtures").join(folder));
        ok &= run_visible(cmd)?.success();
    }
    Ok(ok)
}
