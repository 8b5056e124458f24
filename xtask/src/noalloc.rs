//! Proof that `kiln-rt` is `no_std` and does not use `alloc`.
//!
//! Three facts together:
//! 1. it builds for `thumbv8m.main-none-eabihf`, a target without `std`, so
//!    the crate and its dependencies are `no_std`;
//! 2. none of its sources declares `extern crate alloc` (and `extern crate
//!    std` only under `#[cfg(test)]`): in edition 2021 a `no_std` crate cannot
//!    name `alloc` without that declaration, so no code of the crate, generic
//!    or not, can allocate;
//! 3. no rlib of that build references the global allocator's symbols
//!    (`__rust_alloc`, `__rust_dealloc`, ...): this also covers dependencies,
//!    whose non-generic code would carry such a reference.
//!
//! The thumb build alone would not be enough: that target ships a prebuilt
//! `alloc`, and an rlib using it links fine until a final binary lacks a
//! `#[global_allocator]`.

use crate::pipeline::{shown, Outcome};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Symbol name fragments of the global allocator's entry points (these
/// appear inside the mangled names, e.g. `..._7___rustc12___rust_alloc`).
const ALLOCATOR_SYMBOLS: [&str; 4] = [
    "__rust_alloc",
    "__rust_dealloc",
    "__rust_realloc",
    "__rust_no_alloc_shim",
];

/// A source line that breaks the no-alloc rule.
#[derive(Debug, PartialEq, Eq)]
pub struct Finding {
    /// File.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub what: &'static str,
}

/// Builds `kiln-rt` for the thumb target and checks sources and artifacts.
pub fn check(root: &Path) -> Result<Outcome> {
    let mut problems = Vec::new();

    // kiln-ethos-u's weight encoder (host only) is behind its `alloc` feature, which kiln-rt
    // does not enable: the rlib scan below proves the firmware build is allocation-free.
    for dir in ["rt/src", "ethos-u/src"] {
        let findings = scan_sources(&root.join(dir))?;
        for f in &findings {
            problems.push(format!("{}:{}: {}", f.file.display(), f.line, f.what));
        }
        println!("source scan of {dir}: {} problem(s)", findings.len());
    }

    let mut cmd = crate::cargo();
    cmd.current_dir(root).args([
        "build",
        "-p",
        "kiln-rt",
        "--target",
        crate::THUMB_TARGET,
        "--message-format=json-render-diagnostics",
    ]);
    println!("$ {}", shown(&cmd));
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start `{}`", shown(&cmd)))?;
    if !out.status.success() {
        bail!("`{}` exited with {}", shown(&cmd), out.status);
    }
    // Only what links into the firmware counts: proc macros (kiln-macros) and their
    // dependencies are built for the host and may allocate freely.
    let rlibs: Vec<_> = rlibs_from_messages(&String::from_utf8_lossy(&out.stdout))
        .into_iter()
        .filter(|(_, p)| p.components().any(|c| c.as_os_str() == crate::THUMB_TARGET))
        .collect();
    if rlibs.is_empty() {
        bail!("the thumb build reported no rlib artifacts to check");
    }
    for (crate_name, rlib) in &rlibs {
        let bytes = std::fs::read(rlib).with_context(|| format!("reading {}", rlib.display()))?;
        let hits = allocator_references(&bytes);
        println!(
            "  {crate_name}: {} — allocator references: {}",
            rlib.display(),
            hits.len()
        );
        for sym in hits {
            problems.push(format!(
                "{crate_name} ({}) references {sym}",
                rlib.display()
            ));
        }
    }

    if problems.is_empty() {
        let names: Vec<&str> = rlibs.iter().map(|(n, _)| n.as_str()).collect();
        Ok(Outcome::Passed(format!(
            "kiln-rt builds for {} without std; no `extern crate alloc` (kiln-ethos-u: only behind its `alloc` feature, off here); no allocator symbols in {}",
            crate::THUMB_TARGET,
            names.join(", ")
        )))
    } else {
        Ok(Outcome::Failed(format!(
            "kiln-rt uses alloc/std: {}",
            problems.join("; ")
        )))
    }
}

/// Finds `extern crate alloc` anywhere and `extern crate std` outside `#[cfg(test)]`.
pub fn scan_sources(dir: &Path) -> Result<Vec<Finding>> {
    let mut files = Vec::new();
    rust_files(dir, &mut files)?;
    files.sort();
    let mut findings = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        findings.extend(scan_text(&file, &text));
    }
    Ok(findings)
}

fn scan_text(file: &Path, text: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut previous = "";
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with("//") {
            continue;
        }
        let code = line.split("//").next().unwrap_or("");
        let compact: String = code.split_whitespace().collect::<Vec<_>>().join(" ");
        // Only kiln-ethos-u may name `alloc`, and only behind its (host-only) feature.
        let feature_gated = previous.contains("#[cfg(feature = \"alloc\")]")
            && file.components().any(|c| c.as_os_str() == "ethos-u");
        if compact.contains("extern crate alloc") && !feature_gated {
            findings.push(Finding {
                file: file.to_path_buf(),
                line: i + 1,
                what: "`extern crate alloc`",
            });
        }
        if compact.contains("extern crate std")
            && !previous.contains("#[cfg(test)]")
            && !compact.contains("#[cfg(test)]")
        {
            findings.push(Finding {
                file: file.to_path_buf(),
                line: i + 1,
                what: "`extern crate std` outside `#[cfg(test)]`",
            });
        }
        if !line.is_empty() {
            previous = line;
        }
    }
    findings
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// `(crate name, rlib path)` of every library artifact in cargo's JSON messages.
fn rlibs_from_messages(stdout: &str) -> Vec<(String, PathBuf)> {
    let mut rlibs = Vec::new();
    for line in stdout.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let name = msg["target"]["name"].as_str().unwrap_or("?").to_owned();
        for file in msg["filenames"].as_array().into_iter().flatten() {
            if let Some(f) = file.as_str().filter(|f| f.ends_with(".rlib")) {
                rlibs.push((name.clone(), PathBuf::from(f)));
            }
        }
    }
    rlibs
}

/// The allocator symbol fragments present in `bytes`.
fn allocator_references(bytes: &[u8]) -> Vec<&'static str> {
    ALLOCATOR_SYMBOLS
        .into_iter()
        .filter(|sym| bytes.windows(sym.len()).any(|w| w == sym.as_bytes()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_scan_rules() {
        let f = Path::new("lib.rs");
        let ok = "#![no_std]\n#[cfg(test)]\nextern crate std;\n// extern crate alloc; in a comment\nuse core::alloc::Layout;\n";
        assert!(scan_text(f, ok).is_empty());
        let bad = "#![no_std]\n\nextern crate alloc;\nextern crate std;\n";
        let found = scan_text(f, bad);
        assert_eq!(found.iter().map(|f| f.line).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(scan_text(f, "extern  crate   alloc as a;").len(), 1);
    }

    #[test]
    fn the_runtime_sources_pass() {
        let rt = crate::workspace_root().join("rt/src");
        assert_eq!(scan_sources(&rt).unwrap(), vec![]);
    }

    #[test]
    fn allocator_symbols_are_found_inside_mangled_names() {
        assert_eq!(
            allocator_references(b"\0_RNvCsfLfy6EI15iL_7___rustc12___rust_alloc\0"),
            vec!["__rust_alloc"]
        );
        assert!(allocator_references(b"\0_ZN4core3fmt5write\0").is_empty());
    }

    #[test]
    fn rlibs_are_taken_from_cargo_messages() {
        let msgs = concat!(
            r#"{"reason":"compiler-artifact","target":{"name":"kiln_rt"},"filenames":["/t/libkiln_rt.rlib","/t/libkiln_rt.rmeta"]}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
            "\nnot json\n"
        );
        assert_eq!(
            rlibs_from_messages(msgs),
            vec![("kiln_rt".to_owned(), PathBuf::from("/t/libkiln_rt.rlib"))]
        );
    }
}
