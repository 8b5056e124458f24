//! What cargo builds the crate for, checked against the `target` of each `include_model!`:
//! kernels are chosen for the model's CPU, so a model compiled for a Cortex-M4 inside a
//! Cortex-M55 build (or the other way round) is an error at the call, not a silent mismatch.

use kiln_compiler::target::Target;

/// The target triple and `-C target-cpu` of the build (as cargo tells build scripts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildTarget {
    /// `TARGET`, e.g. `thumbv8m.main-none-eabihf`.
    pub triple: Option<String>,
    /// The last `target-cpu` in `CARGO_ENCODED_RUSTFLAGS`.
    pub target_cpu: Option<String>,
}

impl BuildTarget {
    /// From the variables cargo sets for build scripts (both absent elsewhere).
    pub fn from_env() -> BuildTarget {
        let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
        BuildTarget {
            triple: std::env::var("TARGET").ok(),
            target_cpu: target_cpu(flags.split('\x1f')),
        }
    }

    /// Whether a model compiled for `target` may go into this build. Host builds (tests,
    /// tools) take any target.
    pub fn check(&self, target: &Target) -> Result<(), String> {
        let Some(triple) = self.triple.as_deref().filter(|t| t.contains("-none")) else {
            return Ok(());
        };
        let arch = |t: &str| t.split('-').next().unwrap_or("").to_owned();
        let Some(want) = target.cpu.rust_target() else {
            return Err(format!(
                "target \"{}\" is the machine kiln runs on, but this crate is built for {triple}; \
                 name the CPU the firmware runs on (`kiln targets` lists them)",
                target.name
            ));
        };
        if arch(want) != arch(triple) {
            return Err(format!(
                "target \"{}\" runs on {} (Rust target {want}), but this crate is built for {triple}; \
                 build with `--target {want}` or name the CPU this build is for",
                target.name,
                target.cpu.describe()
            ));
        }
        if let (Some(have), Some(cpu)) = (self.target_cpu.as_deref(), target.cpu.llvm_name()) {
            if have != cpu && have != "native" {
                return Err(format!(
                    "target \"{}\" runs on {}, but this build's `-C target-cpu` is {have}; \
                     use target-cpu={cpu} (RUSTFLAGS or .cargo/config.toml) or a target for {have}",
                    target.name,
                    target.cpu.describe()
                ));
            }
        }
        Ok(())
    }
}

/// The last `target-cpu` among rustc flags (`-Ctarget-cpu=X` or `-C target-cpu=X`).
fn target_cpu<'a>(flags: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut cpu = None;
    let mut after_c = false;
    for f in flags {
        let f = f.trim();
        let opt = if after_c {
            after_c = false;
            Some(f)
        } else if f == "-C" {
            after_c = true;
            None
        } else {
            f.strip_prefix("-C")
        };
        if let Some(v) = opt.and_then(|o| o.strip_prefix("target-cpu=")) {
            cpu = Some(v.to_owned());
        }
    }
    cpu
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(triple: &str, cpu: Option<&str>) -> BuildTarget {
        BuildTarget {
            triple: Some(triple.into()),
            target_cpu: cpu.map(Into::into),
        }
    }

    #[test]
    fn target_cpu_is_read_from_either_spelling() {
        let f = ["-C", "target-cpu=cortex-m4", "-Clink-arg=-Tlink.x"];
        assert_eq!(target_cpu(f.into_iter()).as_deref(), Some("cortex-m4"));
        let f = ["-Ctarget-cpu=cortex-m33", "-C", "target-cpu=cortex-m55"];
        assert_eq!(target_cpu(f.into_iter()).as_deref(), Some("cortex-m55"));
        assert_eq!(target_cpu([""].into_iter()), None);
    }

    #[test]
    fn a_model_for_another_cpu_is_refused() {
        let t = |n| Target::lookup(n).unwrap();
        let m55 = build("thumbv8m.main-none-eabihf", Some("cortex-m55"));
        assert!(m55.check(t("cortex-m55")).is_ok());
        assert!(m55.check(t("ethos-u55-128")).is_ok());
        let e = m55.check(t("cortex-m4")).unwrap_err();
        assert!(
            e.contains("thumbv7em-none-eabihf") && e.contains("thumbv8m.main"),
            "{e}"
        );
        let e = m55.check(t("cortex-m33")).unwrap_err();
        assert!(e.contains("target-cpu") && e.contains("cortex-m55"), "{e}");
        assert!(m55.check(t("host")).is_err());
        // Without target-cpu the triple decides; host builds take anything.
        assert!(build("thumbv8m.main-none-eabi", None)
            .check(t("cortex-m33"))
            .is_ok());
        assert!(build("x86_64-unknown-linux-gnu", None)
            .check(t("cortex-m4"))
            .is_ok());
        assert!(BuildTarget::default().check(t("cortex-m4")).is_ok());
    }
}
