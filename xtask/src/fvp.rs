//! `cargo xtask fvp-test`: the example firmware on an emulated Cortex-M.
//!
//! For each conformance firmware crate under `tests/firmware/` (each its own cargo workspace):
//! build it (`cargo build --release`, shared target dir `target/firmware`),
//! run it, and report per model: match or mismatch against the golden
//! outputs embedded at build time, instructions per inference, and flash/RAM
//! read from the ELF. Where it runs:
//!
//! - Corstone-300 firmware (Cortex-M55) on Arm's `FVP_Corstone_SSE-300_Ethos-U55`
//!   when it is on `PATH` (flags in [`fvp_command`], as ExecuTorch's
//!   `backends/arm/scripts/run_fvp.sh` passes them);
//! - otherwise, and for the Cortex-M4 firmware, on QEMU (`mps3-an547`,
//!   `mps2-an386`) with `-icount shift=0` (1 instruction = 1 ns of virtual
//!   time; SysTick then counts instructions, the firmware self-calibrates).
//!   `qemu-system-arm` is installed with apt-get when missing.
//!
//! Every run is wrapped in a timeout. The firmware prints `kiln: key=value ...`
//! lines over semihosting and exits through `SYS_EXIT_EXTENDED` (0 pass,
//! 1 mismatch, 100 panic, 101 HardFault); both are checked.
//!
//! Further steps: unused kernels are not linked (the KWS firmware with its
//! model's kernel table vs with every kernel), and the README's "use kiln in
//! your firmware" walkthrough is built as a fresh crate and run.

use crate::elf::Elf;
use crate::pipeline::{run_steps, run_visible, shown, Outcome, Step};
use anyhow::{bail, Context, Result};
use kiln_fwlog::Record;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Arm's Corstone-300 FVP with an Ethos-U55 (the executable's name).
/// Where the conformance firmware crates live (goldens, instruction counts, stack high-water marks).
pub const FIRMWARE_DIR: &str = "tests/firmware";

pub const FVP: &str = "FVP_Corstone_SSE-300_Ethos-U55";

/// Options of `cargo xtask fvp-test`.
#[derive(clap::Args, Debug, Clone)]
pub struct FvpArgs {
    /// Seconds one emulator run may take before it is killed (and fails).
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Use QEMU even when the FVP is on PATH.
    #[arg(long)]
    pub qemu: bool,
}

impl Default for FvpArgs {
    fn default() -> Self {
        FvpArgs {
            timeout: 300,
            qemu: false,
        }
    }
}

/// A board the firmware runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Board {
    /// Arm MPS3 AN547: Corstone-300 (Cortex-M55 + Ethos-U55); QEMU `mps3-an547` or the FVP.
    An547,
    /// Arm MPS2+ AN386: Cortex-M4 with FPU; QEMU `mps2-an386` only.
    An386,
}

impl Board {
    fn qemu_machine(self) -> &'static str {
        match self {
            Board::An547 => "mps3-an547",
            Board::An386 => "mps2-an386",
        }
    }
    fn rust_target(self) -> &'static str {
        match self {
            Board::An547 => "thumbv8m.main-none-eabihf",
            Board::An386 => "thumbv7em-none-eabihf",
        }
    }
    fn cpu(self) -> &'static str {
        match self {
            Board::An547 => "Cortex-M55",
            Board::An386 => "Cortex-M4",
        }
    }
    /// The Corstone-300 FVP models this board.
    fn fvp_capable(self) -> bool {
        self == Board::An547
    }
}

/// A conformance firmware crate under `tests/firmware/`.
#[derive(Clone, Copy, Debug)]
pub struct Firmware {
    /// Folder under `tests/firmware/` (also the binary's name).
    pub name: &'static str,
    /// Where it runs.
    pub board: Board,
    /// Cargo features of the build that runs on the FVP (e.g. the memory-mapped NPU
    /// instead of the NPU model).
    pub fvp_features: &'static str,
}

/// The example firmware `fvp-test` builds and runs.
pub const FIRMWARE: &[Firmware] = &[
    Firmware {
        name: "an547-kws",
        board: Board::An547,
        fvp_features: "",
    },
    Firmware {
        name: "an547-npu",
        board: Board::An547,
        fvp_features: "fvp",
    },
    Firmware {
        name: "an386-m4",
        board: Board::An386,
        fvp_features: "",
    },
];

/// The emulator a run uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Emulator {
    /// QEMU with `-icount shift=0`.
    Qemu,
    /// Arm's FVP at this path.
    Fvp(PathBuf),
}

impl std::fmt::Display for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Emulator::Qemu => f.write_str("QEMU -icount shift=0"),
            Emulator::Fvp(_) => f.write_str(FVP),
        }
    }
}

/// Runs `cargo xtask fvp-test`; `Ok(true)` when everything passed.
pub fn run(root: &Path, args: &FvpArgs) -> Result<bool> {
    Ok(run_steps(steps(root, args)))
}

/// The steps of `fvp-test` (also appended to `cargo xtask test`).
pub fn steps<'a>(root: &'a Path, args: &FvpArgs) -> Vec<Step<'a>> {
    let fvp = if args.qemu { None } else { find_on_path(FVP) };
    let timeout = Duration::from_secs(args.timeout);
    let mut steps = vec![Step::new(
        "fw-setup",
        "the Cortex-M rustup targets and an emulator (FVP on PATH, else qemu-system-arm) are present, else install them",
        {
            let fvp = fvp.clone();
            move || setup(fvp.as_deref())
        },
    )];
    for fw in FIRMWARE {
        let emulator = match (&fvp, fw.board.fvp_capable()) {
            (Some(path), true) => Emulator::Fvp(path.clone()),
            _ => Emulator::Qemu,
        };
        steps.push(Step::new(
            "firmware",
            format!(
                "tests/firmware/{} builds for {} and, on {} ({}), every model output equals its golden",
                fw.name,
                fw.board.cpu(),
                fw.board.qemu_machine(),
                emulator
            ),
            move || firmware_step(root, *fw, &emulator, timeout),
        ));
    }
    for name in EXAMPLES {
        steps.push(Step::new(
            "example",
            format!(
                "examples/{name}, as a user copies it, is formatted, has no clippy warnings, and `cargo run --release` prints the keyword it heard on QEMU"
            ),
            move || example_step(root, name, timeout),
        ));
    }
    steps.push(Step::new(
        "walkthrough",
        "the README's \"use kiln in your firmware\" crate, created fresh under target/walkthrough, builds for thumbv8m.main-none-eabihf and runs on QEMU",
        move || walkthrough_step(root, timeout),
    ));
    steps.push(Step::new(
        "kernels",
        "a firmware links only the kernels its models use: the KWS firmware vs the same with every kernel referenced",
        move || kernels_step(root),
    ));
    steps
}

/// `fw-setup`: rustup targets, then the FVP or QEMU.
fn setup(fvp: Option<&Path>) -> Result<Outcome> {
    let mut said = Vec::new();
    for target in [Board::An547.rust_target(), Board::An386.rust_target()] {
        said.push(crate::setup::ensure_rust_target(target)?);
    }
    match fvp {
        Some(path) => said.push(format!("{FVP} found at {}", path.display())),
        None => {
            println!("{FVP} is not on PATH: the Cortex-M55 firmware runs on QEMU mps3-an547");
            said.push(crate::setup::ensure_qemu()?);
        }
    }
    Ok(Outcome::Passed(said.join("; ")))
}

/// The shared target dir of the firmware builds.
fn target_dir(root: &Path) -> PathBuf {
    root.join("target").join("firmware")
}

/// `cargo build --release` of a firmware crate in `dir` (its own workspace).
pub fn cargo_build(dir: &Path, target_dir: &Path, extra: &[&str]) -> Command {
    cargo_firmware("build", dir, target_dir, extra)
}

/// `cargo <subcommand> --release` of a firmware crate in `dir` (its own workspace).
pub fn cargo_firmware(subcommand: &str, dir: &Path, target_dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = crate::cargo();
    cmd.current_dir(dir)
        .args([subcommand, "--release"])
        .args(extra)
        .env("CARGO_TARGET_DIR", target_dir)
        // The firmware's .cargo/config.toml sets the target and its rustflags
        // (target-cpu, -Tlink.x); flags from the environment would replace them.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    cmd
}

/// Builds, runs and reports one firmware.
fn firmware_step(
    root: &Path,
    fw: Firmware,
    emulator: &Emulator,
    timeout: Duration,
) -> Result<Outcome> {
    let dir = root.join(FIRMWARE_DIR).join(fw.name);
    let tdir = target_dir(root);
    let started = Instant::now();
    let features: &[&str] = match emulator {
        Emulator::Fvp(_) if !fw.fvp_features.is_empty() => &["--features", fw.fvp_features],
        _ => &[],
    };
    let status = run_visible(cargo_build(&dir, &tdir, features))?;
    if !status.success() {
        return Ok(Outcome::Failed(format!(
            "building tests/firmware/{} exited with {status}",
            fw.name
        )));
    }
    let build_time = started.elapsed();
    let elf_path = tdir
        .join(fw.board.rust_target())
        .join("release")
        .join(fw.name);
    let elf = Elf::read(&elf_path)?;
    let run = run_firmware(&elf_path, fw.board, emulator, timeout)?;
    print!("{}", run.stdout);
    let report = Report::from_output(&run.stdout);
    println!();
    println!(
        "{} ({}, {} on {}), built in {:.1} s, ran in {:.1} s:",
        fw.name,
        fw.board.cpu(),
        fw.board.qemu_machine(),
        emulator,
        build_time.as_secs_f64(),
        run.elapsed.as_secs_f64()
    );
    print!("{}", report.models_table());
    print!("{}", Sizes::of(&elf, report.stack_high_water).table());
    report.verdict(&run, emulator)
}

/// What one emulator run produced.
pub struct RunResult {
    /// Exit status (`None` when killed after the timeout).
    pub status: Option<ExitStatus>,
    /// Standard output (semihosting output).
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

/// The QEMU command line for `elf` on `board`.
pub fn qemu_command(elf: &Path, board: Board) -> Command {
    let mut cmd = Command::new("qemu-system-arm");
    cmd.args(["-M", board.qemu_machine()])
        .args(["-nographic", "-monitor", "none", "-serial", "none"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .args(["-icount", "shift=0"])
        .arg("-kernel")
        .arg(elf);
    cmd
}

/// The FVP command line for `elf`: no GUI, no telnet terminals, UART0 to stdout,
/// semihosting on (our output and exit), 128-MAC Ethos-U55, a time limit.
pub fn fvp_command(fvp: &Path, elf: &Path, timeout: Duration) -> Command {
    let mut cmd = Command::new(fvp);
    for c in [
        "ethosu.num_macs=128",
        "mps3_board.visualisation.disable-visualisation=1",
        "mps3_board.telnetterminal0.start_telnet=0",
        "mps3_board.uart0.out_file=-",
        "mps3_board.uart0.shutdown_on_eot=1",
        "cpu0.semihosting-enable=1",
    ] {
        cmd.args(["-C", c]);
    }
    cmd.arg("-a")
        .arg(elf)
        .args(["--timelimit", &timeout.as_secs().to_string()]);
    cmd
}

/// Runs `elf` on `emulator`, killed after `timeout`.
pub fn run_firmware(
    elf: &Path,
    board: Board,
    emulator: &Emulator,
    timeout: Duration,
) -> Result<RunResult> {
    let cmd = match emulator {
        Emulator::Qemu => qemu_command(elf, board),
        Emulator::Fvp(path) => fvp_command(path, elf, timeout),
    };
    run_with_timeout(cmd, timeout)
}

/// Runs `cmd` capturing its output; kills it after `timeout`.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<RunResult> {
    println!("$ {}", shown(&cmd));
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{}`", shown(&cmd)))?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = reader(child.stdout.take().map(|p| Box::new(p) as _));
    let err = reader(child.stderr.take().map(|p| Box::new(p) as _));
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for the emulator")? {
            break Some(status);
        }
        if started.elapsed() > timeout {
            // Our own child, by its handle.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(RunResult {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed: started.elapsed(),
    })
}

/// `path` of an executable named `name` on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// One inference as the firmware reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inference {
    /// Model name.
    pub model: String,
    /// Golden input index.
    pub input: u32,
    /// All outputs equal the golden.
    pub matched: bool,
    /// Instructions retired by the inference.
    pub insns: Option<u64>,
}

/// Everything the firmware printed that `fvp-test` uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Inferences in order.
    pub inferences: Vec<Inference>,
    /// Stack high-water mark (bytes).
    pub stack_high_water: Option<u64>,
    /// Exit code the firmware announced before exiting.
    pub exit: Option<u32>,
    /// Lines reporting an error (`kiln: error=...`, panics, faults).
    pub errors: Vec<String>,
}

impl Report {
    /// Parses the firmware's output.
    pub fn from_output(out: &str) -> Report {
        let mut r = Report::default();
        for line in out.lines() {
            if line.starts_with("panic:") || line.starts_with("HardFault:") {
                r.errors.push(line.to_owned());
            }
            // The records are kiln-fwlog's, as the firmware printed them.
            match kiln_fwlog::parse(line) {
                Some(Record::Inference {
                    model,
                    input,
                    mismatched,
                    insns,
                    ..
                }) => r.inferences.push(Inference {
                    model: model.to_owned(),
                    input,
                    matched: mismatched == 0,
                    insns: Some(insns),
                }),
                Some(Record::Stack { high_water, .. }) => r.stack_high_water = Some(high_water),
                Some(Record::Exit(code)) => r.exit = Some(code),
                Some(Record::Error(_)) => r.errors.push(line.trim().to_owned()),
                Some(Record::Board { .. }) | None => {}
            }
        }
        r
    }

    /// Per model: matches, instructions per inference.
    pub fn models_table(&self) -> String {
        let mut models: Vec<&str> = Vec::new();
        for i in &self.inferences {
            if !models.contains(&i.model.as_str()) {
                models.push(&i.model);
            }
        }
        let mut s = String::new();
        for m in models {
            let runs: Vec<&Inference> = self.inferences.iter().filter(|i| i.model == m).collect();
            let ok = runs.iter().filter(|i| i.matched).count();
            let insns: Vec<u64> = runs.iter().filter_map(|i| i.insns).collect();
            let (lo, hi) = (insns.iter().min(), insns.iter().max());
            let _ = writeln!(
                s,
                "  {m:<14} {:<9} {ok}/{} inputs   instructions/inference {}",
                if ok == runs.len() {
                    "match"
                } else {
                    "MISMATCH"
                },
                runs.len(),
                match (lo, hi) {
                    (Some(lo), Some(hi)) if lo == hi => thousands(*lo),
                    (Some(lo), Some(hi)) => format!("{} .. {}", thousands(*lo), thousands(*hi)),
                    _ => "not reported".into(),
                }
            );
        }
        s
    }

    /// The step's outcome: passed only if the run exited 0, announced exit 0, reported at
    /// least one inference and every inference matched.
    pub fn verdict(&self, run: &RunResult, emulator: &Emulator) -> Result<Outcome> {
        let bad: Vec<String> = self
            .inferences
            .iter()
            .filter(|i| !i.matched)
            .map(|i| format!("{} input {}", i.model, i.input))
            .collect();
        let mut problems = Vec::new();
        match (run.status, emulator) {
            (None, _) => problems.push(format!(
                "killed after {:.0} s (timeout)",
                run.elapsed.as_secs_f64()
            )),
            // QEMU's exit status is the firmware's SYS_EXIT_EXTENDED code.
            (Some(st), Emulator::Qemu) if !st.success() => problems.push(format!(
                "exit status {} ({})",
                st.code().map_or("signal".into(), |c| c.to_string()),
                exit_meaning(st.code())
            )),
            _ => {}
        }
        if self.exit != Some(0) {
            problems.push(format!(
                "firmware announced exit {}",
                self.exit.map_or("nothing".into(), |c| c.to_string())
            ));
        }
        if self.inferences.is_empty() {
            problems.push("no inference reported".into());
        }
        if !bad.is_empty() {
            problems.push(format!("mismatch: {}", bad.join(", ")));
        }
        problems.extend(self.errors.iter().cloned());
        if problems.is_empty() {
            Ok(Outcome::Passed(format!(
                "{} inferences, all equal to the goldens",
                self.inferences.len()
            )))
        } else {
            if !run.stderr.trim().is_empty() {
                println!("emulator stderr:\n{}", run.stderr.trim_end());
            }
            Ok(Outcome::Failed(problems.join("; ")))
        }
    }
}

/// What a firmware exit code means (the convention of `tests/firmware/fwkit`).
pub fn exit_meaning(code: Option<i32>) -> &'static str {
    match code {
        Some(0) => "pass",
        Some(1) => "mismatch",
        Some(100) => "panic",
        Some(101) => "HardFault",
        Some(134) => "QEMU aborted: semihosting not enabled?",
        _ => "unexpected",
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    // Groups of three from the right: the first group takes the remainder.
    let head = match digits.len() % 3 {
        0 => 3,
        r => r,
    };
    let mut s = String::from(&digits[..head.min(digits.len())]);
    let mut at = head;
    while at < digits.len() {
        s.push(',');
        s.push_str(&digits[at..at + 3]);
        at += 3;
    }
    s
}

/// Flash and RAM of a firmware, from its ELF.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sizes {
    /// `.vector_table` + `.text`.
    pub code: u64,
    /// Of `code`: functions of kiln-rt (by symbol; inlined code counts where it was inlined).
    pub code_kiln_rt: u64,
    /// Of `code`: `core` + `compiler_builtins`.
    pub code_core: u64,
    /// `.rodata`.
    pub rodata: u64,
    /// `.kiln_model`: the embedded `.pte` files (weights + program).
    pub models: u64,
    /// `.data` (load image in flash, copy in RAM).
    pub data: u64,
    /// `.bss` + `.uninit`.
    pub bss: u64,
    /// Of `bss`: the model arenas (symbols named `*ARENA*`).
    pub arenas: Vec<(String, u64)>,
    /// Test vectors (`.golden`), not counted in flash.
    pub goldens: u64,
    /// NPU scratch (`.kiln_npu_scratch`, in SRAM the NPU reaches), counted in RAM.
    pub npu_scratch: u64,
    /// Measured stack high-water mark.
    pub stack: Option<u64>,
}

impl Sizes {
    /// Reads the sizes from `elf`.
    pub fn of(elf: &Elf, stack: Option<u64>) -> Sizes {
        let mut s = Sizes {
            code: elf.size_of(&[".vector_table", ".text"]),
            rodata: elf.size_of(&[".rodata"]),
            models: elf.size_of(&[".kiln_model"]),
            data: elf.size_of(&[".data"]),
            bss: elf.size_of(&[".bss", ".uninit"]),
            goldens: elf.size_of(&[".golden"]),
            npu_scratch: elf.size_of(&[".kiln_npu_scratch"]),
            stack,
            ..Sizes::default()
        };
        for f in elf.functions() {
            let name = f.demangled();
            match crate_of(&name) {
                "kiln_rt" => s.code_kiln_rt += u64::from(f.size),
                "core" | "compiler_builtins" => s.code_core += u64::from(f.size),
                _ => {}
            }
        }
        let bss = [elf.section_index(".bss"), elf.section_index(".uninit")];
        for sym in &elf.symbols {
            if sym.size > 0 && bss.contains(&Some(sym.section)) {
                let name = sym.demangled();
                if name.contains("ARENA") {
                    s.arenas.push((name, u64::from(sym.size)));
                }
            }
        }
        s
    }

    /// Flash total: code + rodata + models + .data load image.
    pub fn flash(&self) -> u64 {
        self.code + self.rodata + self.models + self.data
    }

    /// RAM total: .data + .bss + NPU scratch + stack high-water.
    pub fn ram(&self) -> u64 {
        self.data + self.bss + self.npu_scratch + self.stack.unwrap_or(0)
    }

    /// The report lines.
    pub fn table(&self) -> String {
        let arena: u64 = self.arenas.iter().map(|a| a.1).sum();
        let mut s = format!(
            "  flash {:>9} B = code {} (kiln-rt {}, core+builtins {}, app+board {}) + rodata {} + models (.kiln_model, weights+program) {} + .data {}\n",
            thousands(self.flash()),
            thousands(self.code),
            thousands(self.code_kiln_rt),
            thousands(self.code_core),
            thousands(self.code.saturating_sub(self.code_kiln_rt + self.code_core)),
            thousands(self.rodata),
            thousands(self.models),
            thousands(self.data),
        );
        let _ = writeln!(
            s,
            "  RAM   {:>9} B = .data {} + .bss {} (arenas {}, other {}){} + stack high-water {}",
            thousands(self.ram()),
            thousands(self.data),
            thousands(self.bss),
            thousands(arena),
            thousands(self.bss.saturating_sub(arena)),
            if self.npu_scratch > 0 {
                format!(" + NPU scratch {}", thousands(self.npu_scratch))
            } else {
                String::new()
            },
            self.stack.map_or("not reported".into(), thousands),
        );
        for (name, size) in &self.arenas {
            let _ = writeln!(s, "          arena {name}: {} B", thousands(*size));
        }
        if self.goldens > 0 {
            let _ = writeln!(
                s,
                "  (test vectors in .golden, outside flash: {} B)",
                thousands(self.goldens)
            );
        }
        s
    }
}

/// The crate a demangled Rust symbol belongs to (`<a::b as c::D>::f` -> `a`).
pub fn crate_of(demangled: &str) -> &str {
    let s = demangled.trim_start_matches('<').trim_start_matches('&');
    let s = s.strip_prefix("mut ").unwrap_or(s);
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Kernel functions of kiln-rt linked into `elf` (demangled names, sorted) and their bytes.
pub fn kernel_functions(elf: &Elf) -> (Vec<String>, u64) {
    let mut names = Vec::new();
    let mut bytes = 0;
    for f in elf.functions() {
        let name = f.demangled();
        if name.starts_with("kiln_rt::kernels::") {
            bytes += u64::from(f.size);
            names.push(name);
        }
    }
    names.sort();
    (names, bytes)
}

/// `kernels`: builds the KWS firmware with feature `all-kernels` (references every kernel
/// table of kiln-rt) and compares the linked kernel functions and .text with the normal build.
fn kernels_step(root: &Path) -> Result<Outcome> {
    let fw = FIRMWARE[0];
    let dir = root.join(FIRMWARE_DIR).join(fw.name);
    let tdir = target_dir(root);
    let elf_path = tdir
        .join(fw.board.rust_target())
        .join("release")
        .join(fw.name);
    // The normal build (fresh after the firmware step), then the all-kernels variant. Same
    // target dir: cargo keeps both feature sets' artifacts, so switching only re-copies the
    // binary (read each ELF right after its build).
    let status = run_visible(cargo_build(&dir, &tdir, &[]))?;
    if !status.success() {
        bail!("building tests/firmware/{} exited with {status}", fw.name);
    }
    let normal = Elf::read(&elf_path)?;
    let status = run_visible(cargo_build(&dir, &tdir, &["--features", "all-kernels"]))?;
    if !status.success() {
        bail!(
            "building tests/firmware/{} --features all-kernels exited with {status}",
            fw.name
        );
    }
    let all = Elf::read(&elf_path)?;
    let (used, used_bytes) = kernel_functions(&normal);
    let (every, every_bytes) = kernel_functions(&all);
    let (text_used, text_all) = (normal.size_of(&[".text"]), all.size_of(&[".text"]));
    println!(
        "kernel functions linked with the models' tables ({}):",
        used.len()
    );
    for n in &used {
        println!("  {n}");
    }
    let extra: Vec<&String> = every.iter().filter(|n| !used.contains(n)).collect();
    println!(
        "with every kernel referenced: {} kernel functions ({} more, e.g. {})",
        every.len(),
        extra.len(),
        extra
            .iter()
            .take(5)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let detail = format!(
        "models' tables: {} kernel fns / {} B kernels / .text {} B; every kernel: {} fns / {} B / .text {} B",
        used.len(),
        thousands(used_bytes),
        thousands(text_used),
        every.len(),
        thousands(every_bytes),
        thousands(text_all)
    );
    Ok(if every.len() > used.len() && text_all > text_used {
        Outcome::Passed(detail)
    } else {
        Outcome::Failed(format!(
            "the all-kernels build links no more kernels than the normal one: {detail}"
        ))
    })
}

/// The files of the README's walkthrough: `(path, contents)` of every fenced block that follows
/// a `<!-- walkthrough: PATH -->` line.
pub fn walkthrough_files(readme: &str) -> Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line
            .trim()
            .strip_prefix("<!-- walkthrough:")
            .and_then(|r| r.strip_suffix("-->"))
        else {
            continue;
        };
        let path = path.trim().to_owned();
        if !lines
            .next()
            .is_some_and(|l| l.trim_start().starts_with("```"))
        {
            bail!("README.md: the walkthrough marker for {path} is not followed by a ``` block");
        }
        let mut body = String::new();
        let mut closed = false;
        for l in lines.by_ref() {
            if l.trim_start().starts_with("```") {
                closed = true;
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        if !closed {
            bail!("README.md: the walkthrough block for {path} is not closed");
        }
        files.push((path, body));
    }
    Ok(files)
}

/// `walkthrough`: writes the README's crate under `target/walkthrough/hello-kiln` (kiln's
/// path dependencies `../kiln/...` pointed at this checkout, the model copied to
/// `models/kws.tflite`), then `cargo run --release` as a user would (the runner boots QEMU).
/// The example crates under `examples/` (one per board).
pub const EXAMPLES: &[&str] = &["mps3-an547", "mps2-an386"];

/// `example`: fmt, clippy and `cargo run --release` of one example crate.
fn example_step(root: &Path, name: &str, timeout: Duration) -> Result<Outcome> {
    let dir = root.join("examples").join(name);
    let tdir = target_dir(root);
    let mut fmt = crate::cargo();
    fmt.current_dir(&dir).args(["fmt", "--", "--check"]);
    if !run_visible(fmt)?.success() {
        return Ok(Outcome::Failed(format!("examples/{name} is not formatted")));
    }
    let clippy = cargo_firmware("clippy", &dir, &tdir, &["--", "-D", "warnings"]);
    if !run_visible(clippy)?.success() {
        return Ok(Outcome::Failed(format!(
            "examples/{name} has clippy warnings"
        )));
    }
    let result = run_with_timeout(cargo_firmware("run", &dir, &tdir, &[]), timeout)?;
    print!("{}", result.stdout);
    let said = result.stdout.lines().find(|l| l.starts_with("heard \""));
    match (result.status, said) {
        (Some(st), Some(line)) if st.success() => Ok(Outcome::Passed(format!(
            "ran in {:.0} s: {line}",
            result.elapsed.as_secs_f64()
        ))),
        (status, _) => {
            println!("{}", result.stderr.trim_end());
            Ok(Outcome::Failed(format!(
                "`cargo run --release` in examples/{name} {} without printing `heard \"..\"`",
                match status {
                    Some(st) => format!("exited with {st}"),
                    None => "timed out".to_owned(),
                }
            )))
        }
    }
}

fn walkthrough_step(root: &Path, timeout: Duration) -> Result<Outcome> {
    let readme = std::fs::read_to_string(root.join("README.md")).context("reading README.md")?;
    let files = walkthrough_files(&readme)?;
    for needed in [
        "Cargo.toml",
        "build.rs",
        "src/main.rs",
        "memory.x",
        ".cargo/config.toml",
    ] {
        if !files.iter().any(|(p, _)| p == needed) {
            bail!("README.md has no walkthrough block for {needed}");
        }
    }
    let dir = root.join("target").join("walkthrough").join("hello-kiln");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let root_str = root.to_str().context("the checkout's path is not UTF-8")?;
    for (path, body) in &files {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let body = body.replace("\"../kiln/", &format!("\"{root_str}/"));
        std::fs::write(&file, body).with_context(|| format!("writing {}", file.display()))?;
    }
    std::fs::create_dir_all(dir.join("models"))?;
    std::fs::copy(
        root.join("tests/fixtures/kws_dscnn/kws_dscnn_int8.tflite"),
        dir.join("models/kws.tflite"),
    )
    .context("copying the KWS model")?;
    println!(
        "created {} from README.md ({} files + models/kws.tflite)",
        dir.display(),
        files.len()
    );
    // `cargo run`: the README's runner boots QEMU, as for a user.
    let cmd = cargo_firmware("run", &dir, &target_dir(root), &[]);
    let result = run_with_timeout(cmd, timeout)?;
    print!("{}", result.stdout);
    let said = result.stdout.lines().find(|l| l.starts_with("kws: class"));
    match (result.status, said) {
        (Some(st), Some(line)) if st.success() => Ok(Outcome::Passed(format!(
            "built and ran in {:.0} s: {line}",
            result.elapsed.as_secs_f64()
        ))),
        (status, _) => {
            println!("{}", result.stderr.trim_end());
            Ok(Outcome::Failed(format!(
                "`cargo run --release` in {} {} without printing `kws: class ..`",
                dir.display(),
                match status {
                    Some(st) => format!("exited with {st}"),
                    None => "timed out".to_owned(),
                }
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_firmware_output() {
        let out = "kiln: board=mps3-an547 cpu=cortex-m55 insns_per_tick=31.250\n\
                   kiln: model=kws_dscnn input=0 result=match mismatched=0/12 insns=1813647\n\
                   kiln: model=kws_dscnn input=1 result=MISMATCH mismatched=3/12 insns=1813700\n\
                   kiln: model=ic_resnet8 input=0 result=match mismatched=0/10 insns=5000000\n\
                   unrelated line\n\
                   kiln: stack_high_water=1272 stack_size=500000\n\
                   kiln: exit=1\n";
        let r = Report::from_output(out);
        assert_eq!(r.inferences.len(), 3);
        assert!(r.inferences[0].matched && !r.inferences[1].matched);
        assert_eq!(r.inferences[1].insns, Some(1_813_700));
        assert_eq!(r.stack_high_water, Some(1272));
        assert_eq!(r.exit, Some(1));
        let table = r.models_table();
        assert!(
            table.contains("kws_dscnn      MISMATCH  1/2 inputs"),
            "{table}"
        );
        assert!(table.contains("1,813,647 .. 1,813,700"), "{table}");
        assert!(
            table.contains("ic_resnet8     match     1/1 inputs"),
            "{table}"
        );
    }

    #[test]
    fn panics_and_faults_are_errors() {
        let r = Report::from_output("panic: oops\nHardFault: pc=0x0\nkiln: exit=100\n");
        assert_eq!(r.errors.len(), 2);
        assert_eq!(r.exit, Some(100));
    }

    #[test]
    fn formats_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_813_647), "1,813,647");
    }

    #[test]
    fn finds_the_crate_of_a_symbol() {
        assert_eq!(crate_of("kiln_rt::exec::Method::execute"), "kiln_rt");
        assert_eq!(
            crate_of("<kiln_rt::exec::X as core::fmt::Debug>::fmt"),
            "kiln_rt"
        );
        assert_eq!(crate_of("<&mut T as core::fmt::Write>::write_str"), "T");
        assert_eq!(
            crate_of("compiler_builtins::mem::memcpy"),
            "compiler_builtins"
        );
        assert_eq!(crate_of("memcpy"), "memcpy");
    }

    #[test]
    fn exit_codes_have_meanings() {
        assert_eq!(exit_meaning(Some(0)), "pass");
        assert_eq!(exit_meaning(Some(101)), "HardFault");
        assert_eq!(exit_meaning(None), "unexpected");
    }

    #[test]
    fn reads_walkthrough_blocks() {
        let md = "text\n<!-- walkthrough: a/b.rs -->\n```rust\nfn main() {}\n```\n\
                  <!-- walkthrough: c.toml -->\n```toml\nx = 1\ny = 2\n```\n";
        let f = walkthrough_files(md).unwrap();
        assert_eq!(
            f,
            [
                ("a/b.rs".to_owned(), "fn main() {}\n".to_owned()),
                ("c.toml".to_owned(), "x = 1\ny = 2\n".to_owned())
            ]
        );
        assert!(walkthrough_files("<!-- walkthrough: x -->\nno block\n").is_err());
        assert!(walkthrough_files("<!-- walkthrough: x -->\n```\nnever closed\n").is_err());
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
                .unwrap();
        let paths: Vec<String> = walkthrough_files(&readme)
            .unwrap()
            .into_iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(
            paths,
            [
                "Cargo.toml",
                "build.rs",
                "src/main.rs",
                "memory.x",
                ".cargo/config.toml"
            ]
        );
    }

    #[test]
    fn emulator_command_lines() {
        let q = shown(&qemu_command(Path::new("fw.elf"), Board::An547));
        assert_eq!(
            q,
            "qemu-system-arm -M mps3-an547 -nographic -monitor none -serial none \
             -semihosting-config enable=on,target=native -icount shift=0 -kernel fw.elf"
        );
        let f = shown(&fvp_command(
            Path::new("/opt/FVP_Corstone_SSE-300_Ethos-U55"),
            Path::new("fw.elf"),
            Duration::from_secs(60),
        ));
        assert!(
            f.starts_with("FVP_Corstone_SSE-300_Ethos-U55 -C ethosu.num_macs=128"),
            "{f}"
        );
        assert!(f.contains("-C cpu0.semihosting-enable=1"), "{f}");
        assert!(f.ends_with("-a fw.elf --timelimit 60"), "{f}");
    }
}
