//! The `kiln` command line: compile a model to an ExecuTorch `.pte`, run a
//! `.pte` on the host, inspect one, list the targets.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use kiln_compiler::compile::{compile_file, CompileOptions};
use kiln_compiler::npy::NpyArray;
use kiln_compiler::target::{Target, TARGETS};
use std::path::PathBuf;
use std::process::ExitCode;

/// kiln: compile trained models ahead of time into ExecuTorch `.pte` files and run them
/// with kiln's allocation-free runtime.
#[derive(Parser)]
#[command(name = "kiln", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile an ONNX or TFLite model into a `.pte`.
    Compile {
        /// The model file (`.onnx` opset 13, or int8/f32 `.tflite`).
        model: PathBuf,
        /// Target to compile for (`kiln targets` lists them).
        #[arg(long, default_value = "host")]
        target: String,
        /// Output `.pte` file.
        #[arg(short, long)]
        output: PathBuf,
        /// Print the compile report as JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Keep every operator on the CPU even when the target has an Ethos-U NPU.
        #[arg(long)]
        no_delegate: bool,
        /// Make any operator the NPU cannot run a compile error (naming the operator, node and constraint).
        #[arg(long)]
        no_cpu_fallback: bool,
    },
    /// Run a `.pte` on the host with `.npy` inputs; write `.npy` outputs.
    Run {
        /// The program.
        pte: PathBuf,
        /// One `.npy` per program input, in order.
        #[arg(long = "input", required = true)]
        inputs: Vec<PathBuf>,
        /// One `.npy` path per program output, in order (fewer is fine; extra outputs are not written).
        #[arg(long = "output")]
        outputs: Vec<PathBuf>,
    },
    /// Show what a `.pte` contains: operators, instructions, tensors, arena map, sizes.
    Inspect {
        /// The program.
        pte: PathBuf,
        /// Machine-readable JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the targets kiln compiles for.
    Targets,
}

/// Writes to stdout; a closed pipe (e.g. `kiln inspect x.pte | head`) ends the program quietly.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Compile {
            model,
            target,
            output,
            json,
            no_delegate,
            no_cpu_fallback,
        } => {
            let target = Target::lookup(&target)?;
            let opts = CompileOptions {
                target,
                delegate: !no_delegate,
                cpu_fallback: !no_cpu_fallback,
            };
            let compiled = compile_file(&model, &opts)?;
            std::fs::write(&output, &compiled.pte)
                .with_context(|| format!("{}: cannot write", output.display()))?;
            if json {
                emit(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&kiln_cli::report::report_json(&compiled.report))?
                ));
            } else {
                emit(&format!(
                    "{}\nwrote {}\n",
                    compiled.report,
                    output.display()
                ));
            }
        }
        Command::Run {
            pte,
            inputs,
            outputs,
        } => {
            let bytes = kiln_compiler::limits::read_file(&pte)?;
            let mut arrays = Vec::new();
            for p in &inputs {
                arrays.push(NpyArray::read(p)?);
            }
            let results = kiln_compiler::run::run_pte(&bytes, &arrays)
                .with_context(|| format!("{}", pte.display()))?;
            if outputs.len() > results.len() {
                bail!(
                    "{}: the program has {} output(s) but {} --output paths were given",
                    pte.display(),
                    results.len(),
                    outputs.len()
                );
            }
            for (i, r) in results.iter().enumerate() {
                match outputs.get(i) {
                    Some(p) => {
                        r.write(p)?;
                        emit(&format!(
                            "output {i}: {:?} {:?} -> {}\n",
                            r.dtype,
                            r.shape,
                            p.display()
                        ));
                    }
                    None => emit(&format!(
                        "output {i}: {:?} {:?} (not written)\n",
                        r.dtype, r.shape
                    )),
                }
            }
        }
        Command::Inspect { pte, json } => {
            let bytes = kiln_compiler::limits::read_file(&pte)?;
            let d = kiln_cli::inspect::describe(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", pte.display()))?;
            if json {
                emit(&format!("{}\n", serde_json::to_string_pretty(&d)?));
            } else {
                emit(&kiln_cli::inspect::render_text(&d));
            }
        }
        Command::Targets => emit(&targets_text()),
    }
    Ok(())
}

/// `kiln targets`: every target with its aliases, CPU, NPU and memory map, in words.
fn targets_text() -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for t in TARGETS {
        let aliases: Vec<&str> = t.aliases().collect();
        let _ = write!(s, "{}", t.name);
        if !aliases.is_empty() {
            let _ = write!(s, " (also: {})", aliases.join(", "));
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "  CPU: {}", t.cpu.describe());
        if let Some(triple) = t.cpu.rust_target() {
            let _ = writeln!(s, "  firmware builds for: {triple}");
        }
        match t.npu {
            Some(n) => {
                let family = match n.family {
                    kiln_compiler::target::NpuFamily::U55 => "Ethos-U55",
                    kiln_compiler::target::NpuFamily::U65 => "Ethos-U65",
                };
                let _ = write!(
                    s,
                    "  NPU: Arm {family} with {} MACs per cycle; kiln compiles for it and delegates by default",
                    n.macs
                );
                if let Some(base) = t.npu_base {
                    let _ = write!(s, " (registers at {base:#010x})");
                }
                let _ = writeln!(s);
            }
            None => {
                let _ = writeln!(s, "  NPU: none (every operator runs on the CPU)");
            }
        }
        if t.regions.is_empty() {
            let _ = writeln!(
                s,
                "  memory: no memory map; give include_model! an explicit budget = <bytes>"
            );
        } else {
            let _ = writeln!(s, "  memory (Corstone-300 map):");
            let scratch = t.npu_scratch_region().map(|r| r.name);
            for r in t.regions {
                let size = if r.size % (1024 * 1024) == 0 {
                    format!("{} MiB", r.size / (1024 * 1024))
                } else {
                    format!("{} KiB", r.size / 1024)
                };
                let npu = if scratch == Some(r.name) {
                    "; the NPU scratch goes here"
                } else {
                    ""
                };
                let _ = writeln!(
                    s,
                    "    {:<6} {:>8} at {:#010x}  {}{npu}",
                    r.name,
                    size,
                    r.base,
                    r.role.describe()
                );
            }
        }
        let _ = writeln!(s);
    }
    s
}
