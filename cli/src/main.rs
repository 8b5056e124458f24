//! The `kiln` command line: compile a model to an ExecuTorch `.pte`, run a
//! `.pte` on the host (optionally profiled), inspect one, compare two layer by layer, list the
//! targets.

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
        /// Most bytes of SRAM the Ethos-U may use (the U55's scratch: feature maps and staged
        /// weights; the U65's fast scratch): weight staging shrinks to fit, and a model whose
        /// feature maps alone need more is an error giving the bytes it needs.
        #[arg(long, value_name = "BYTES")]
        sram_budget: Option<u64>,
        /// Leave the source-model node names out of the `.pte` (a few bytes of flash per
        /// instruction; `kiln run --profile`, `compare` and `inspect` then show no source nodes).
        #[arg(long)]
        no_debug_info: bool,
        /// Also write a self-contained HTML report (the arena as a picture, flash split, NPU
        /// scratch, per-operator placement, MACs and cycles) here, and its JSON twin next to it
        /// (same name, `.json`).
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
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
        /// Print a table with one row per executed instruction (kernel or delegate call) and per
        /// NPU operation inside a delegate: operator, source node, CPU/NPU, output shape, MACs,
        /// NPU cycles (kiln's cycle model of the Ethos-U) or host time, and totals.
        #[arg(long)]
        profile: bool,
        /// Write the profile as JSON to this file (one entry per executed instruction and per
        /// NPU operation).
        #[arg(long, value_name = "FILE")]
        profile_json: Option<PathBuf>,
    },
    /// Show what a `.pte` contains: operators, instructions, tensors, arena map, sizes.
    Inspect {
        /// The program.
        pte: PathBuf,
        /// Machine-readable JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run two programs of one model on the same inputs and compare them layer by layer.
    ///
    /// A and B are `.pte` files (e.g. one compiled for ethos-u55-128 and one for cortex-m55) or
    /// an ONNX/TFLite model, which is compiled for the host first. Layers are matched by the
    /// source-model node whose output they are; for each, the largest absolute difference and
    /// the number of differing elements are printed, then the program outputs. The comparison
    /// stops at the first layer beyond --tolerance, writes both tensors as .npy into --dump and
    /// exits with 1; it exits with 0 when every layer agrees.
    ///
    /// Limit: an Ethos-U delegate only exposes its segment's outputs (everything else stays in
    /// the NPU's scratch), so the layers inside an NPU segment are compared only where the
    /// segment writes them out; a CPU program has every kernel's output. Layers only one side
    /// has are skipped (and counted). Tensors are compared in memory order.
    Compare {
        /// The first program (`.pte`, or a model file compiled for the host).
        a: PathBuf,
        /// The second program (`.pte`, or a model file compiled for the host).
        b: PathBuf,
        /// One `.npy` per program input, in order.
        #[arg(long = "input", required = true)]
        inputs: Vec<PathBuf>,
        /// Largest absolute difference still counted as agreement.
        #[arg(long, default_value_t = 0.0)]
        tolerance: f64,
        /// Where to write the two tensors of the first divergent layer.
        #[arg(long, value_name = "DIR", default_value = "kiln-compare")]
        dump: PathBuf,
        /// Print the comparison as JSON.
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
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Compile {
            model,
            target,
            output,
            json,
            no_delegate,
            no_cpu_fallback,
            sram_budget,
            no_debug_info,
            report,
        } => {
            let target = Target::lookup(&target)?;
            let opts = CompileOptions {
                target,
                delegate: !no_delegate,
                cpu_fallback: !no_cpu_fallback,
                sram_budget,
                debug_info: !no_debug_info,
            };
            let compiled = compile_file(&model, &opts)?;
            std::fs::write(&output, &compiled.pte)
                .with_context(|| format!("{}: cannot write", output.display()))?;
            if let Some(html) = &report {
                let data = kiln_cli::html::report_data(&compiled.pte, &compiled.report)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", output.display()))?;
                let twin = html.with_extension("json");
                std::fs::write(html, kiln_cli::html::render_html(&data))
                    .with_context(|| format!("{}: cannot write", html.display()))?;
                std::fs::write(&twin, format!("{}\n", serde_json::to_string_pretty(&data)?))
                    .with_context(|| format!("{}: cannot write", twin.display()))?;
                eprintln!("report: {} and {}", html.display(), twin.display());
            }
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
            profile,
            profile_json,
        } => {
            let bytes = kiln_compiler::limits::read_file(&pte)?;
            let mut arrays = Vec::new();
            for p in &inputs {
                arrays.push(NpyArray::read(p)?);
            }
            let results = if profile || profile_json.is_some() {
                let (results, p) = kiln_cli::profile::profile(&bytes, &arrays)
                    .with_context(|| format!("{}", pte.display()))?;
                if profile {
                    emit(&kiln_cli::profile::render_profile(&p));
                }
                if let Some(f) = &profile_json {
                    std::fs::write(f, format!("{}\n", serde_json::to_string_pretty(&p)?))
                        .with_context(|| format!("{}: cannot write", f.display()))?;
                }
                results
            } else {
                kiln_compiler::run::run_pte(&bytes, &arrays)
                    .with_context(|| format!("{}", pte.display()))?
            };
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
        Command::Compare {
            a,
            b,
            inputs,
            tolerance,
            dump,
            json,
        } => return compare(&a, &b, &inputs, tolerance, &dump, json),
        Command::Targets => emit(&targets_text()),
    }
    Ok(ExitCode::SUCCESS)
}

/// `kiln compare`: exit code 0 when every layer agrees, 1 at the first divergence.
fn compare(
    a: &std::path::Path,
    b: &std::path::Path,
    inputs: &[PathBuf],
    tolerance: f64,
    dump: &std::path::Path,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use kiln_cli::compare as c;
    let mut arrays = Vec::new();
    for p in inputs {
        arrays.push(NpyArray::read(p)?);
    }
    let pa = c::load_side(a)?;
    let pb = c::load_side(b)?;
    let ra = c::run_layers(&pa, &arrays).with_context(|| format!("{}", a.display()))?;
    let rb = c::run_layers(&pb, &arrays).with_context(|| format!("{}", b.display()))?;
    let cmp = c::compare(&ra, &rb, tolerance);
    if cmp.compared == 0 {
        bail!(
            "{} and {}: no layer matches in source node, shape and element type \
             (e.g. an f32 model against an int8 program), nothing was compared",
            a.display(),
            b.display()
        );
    }
    let dumped = match &cmp.divergence {
        Some((layer, x, y)) => Some(c::dump(dump, layer, x, y)?),
        None => None,
    };
    if json {
        let out = serde_json::json!({
            "layers": cmp.rows,
            "unmatched": cmp.unmatched,
            "compared": cmp.compared,
            "incomparable": cmp.incomparable,
            "diverged_at": cmp.divergence.as_ref().map(|d| d.0.clone()),
            "dump": dumped.as_ref().map(|(x, y)| [x.display().to_string(), y.display().to_string()]),
        });
        emit(&format!("{}\n", serde_json::to_string_pretty(&out)?));
    } else {
        emit(&c::render(&cmp, tolerance));
        if let Some((x, y)) = &dumped {
            emit(&format!("wrote {} and {}\n", x.display(), y.display()));
        }
    }
    Ok(if cmp.divergence.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
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
