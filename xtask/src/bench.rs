//! `cargo xtask bench`: per fixture model and format, compile time, `.pte`
//! size, arena size against the liveness lower bound, and host inference time; then the
//! compile time of synthetic 10,000- and 100,000-operator chains (ONNX and TFLite, generated in
//! process by `kiln_compiler::synth`), which shows any pass that is not linear in graph size.
//!
//! Timing a debug build would measure the wrong thing, so unless it is already
//! an optimized build with the `bench` feature (which links the compiler and
//! runtime), `bench` re-runs itself as
//! `cargo run --release -p xtask --features bench -- bench --here ...`.

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Set in the re-run child so it never re-runs itself again.
const CHILD_ENV: &str = "KILN_XTASK_BENCH_CHILD";

/// Options of `cargo xtask bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Compilations per model (the median is reported).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Inferences per model (the median is reported).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub infer_runs: u32,
    /// Only models whose folder name contains this text (`chain`: only the synthetic chains).
    #[arg(long)]
    pub model: Option<String>,
    /// Compiler target.
    #[arg(long, default_value = "host")]
    pub target: String,
    /// Measure in this process as built, without re-running in release mode.
    #[arg(long)]
    pub here: bool,
    /// Instead: the Vela-compiled fixtures on kiln's NPU model (modelled cycles next to
    /// Vela's estimate, host time); `--infer-runs` and `--model` apply.
    #[arg(long)]
    pub npu: bool,
    /// Instead: the cycle model's fidelity, per operation type, to Vela's own estimate on
    /// Vela's fixture streams; `--model` applies.
    #[arg(long)]
    pub npu_fidelity: bool,
}

/// Input formats of the fixtures and where their goldens live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `*_int8.tflite`.
    TfliteInt8,
    /// `*_f32.onnx`.
    OnnxF32,
    /// `*_qdq_int8.onnx`.
    OnnxQdq,
}

impl Format {
    const ALL: [Format; 3] = [Format::TfliteInt8, Format::OnnxF32, Format::OnnxQdq];

    fn suffix(self) -> &'static str {
        match self {
            Format::TfliteInt8 => "_int8.tflite",
            Format::OnnxF32 => "_f32.onnx",
            Format::OnnxQdq => "_qdq_int8.onnx",
        }
    }

    /// The `ref/` folder with inputs in this format's dtype and layout.
    fn ref_dir(self) -> &'static str {
        match self {
            Format::TfliteInt8 => "tflite_int8",
            Format::OnnxF32 => "onnx_f32",
            Format::OnnxQdq => "onnx_qdq",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Format::TfliteInt8 => "tflite int8",
            Format::OnnxF32 => "onnx f32",
            Format::OnnxQdq => "onnx qdq",
        }
    }
}

/// One model file to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// Fixture folder name.
    pub model: String,
    /// Its format.
    pub format: Format,
    /// The model file.
    pub path: PathBuf,
    /// Inputs for one inference (`ref/<format>/input_0.npy`).
    pub inputs: Vec<PathBuf>,
}

/// What the compiler reports about one compilation.
#[derive(Debug, Clone)]
pub struct CompileOutput {
    /// The `.pte` bytes.
    pub pte: Vec<u8>,
    /// Planned arena bytes.
    pub arena_bytes: usize,
    /// Liveness lower bound in bytes.
    pub liveness_bound: usize,
}

/// One row of the table.
#[derive(Debug)]
struct Row {
    case: Case,
    model_bytes: u64,
    compile: Result<(Duration, CompileOutput), String>,
    infer: Option<Result<Duration, String>>,
}

/// Runs the benchmark (re-running itself optimized when needed).
pub fn run(root: &Path, args: &BenchArgs) -> Result<bool> {
    let is_child = std::env::var_os(CHILD_ENV).is_some();
    let in_process = cfg!(feature = "bench") && (args.here || !cfg!(debug_assertions));
    if !in_process {
        if is_child {
            bail!("xtask bench child was built without the `bench` feature");
        }
        return rerun_optimized(root, args);
    }
    if cfg!(debug_assertions) {
        println!("note: measuring an unoptimized build (--here); timings are not representative");
    }
    if args.npu_fidelity {
        return crate::bench_fidelity::run(root, args.model.as_deref());
    }
    if args.npu {
        return crate::bench_npu::run(root, args.infer_runs, args.model.as_deref());
    }

    let cases = discover(&root.join("tests/fixtures"), args.model.as_deref())?;
    let synth_only = args.model.as_deref().is_some_and(|m| "chain".contains(m));
    if cases.is_empty() && !synth_only {
        bail!("no fixture models match (looked for *{{_int8.tflite,_f32.onnx,_qdq_int8.onnx}} in tests/fixtures/*/)");
    }
    let mut rows = Vec::with_capacity(cases.len());
    for case in cases {
        eprintln!("bench: {} ({})", case.path.display(), case.format.label());
        let model_bytes = std::fs::metadata(&case.path)
            .with_context(|| format!("{}: cannot stat", case.path.display()))?
            .len();
        let compile = measure_compile(&case.path, &args.target, args.runs);
        let infer = compile
            .as_ref()
            .ok()
            .map(|(_, out)| engine::infer(&out.pte, &case.inputs, args.infer_runs).map(median));
        rows.push(Row {
            case,
            model_bytes,
            compile,
            infer,
        });
    }
    if !rows.is_empty() {
        print!("{}", table(&rows, args));
    }
    let synth_ok = if args.model.as_deref().is_none_or(|m| "chain".contains(m)) {
        let synth = synthetic(&args.target, args.runs);
        print!("{}", synth_table(&synth, args.runs));
        synth.iter().all(|r| r.compile.is_ok())
    } else {
        true
    };
    Ok(synth_ok
        && rows
            .iter()
            .all(|r| r.compile.is_ok() && r.infer.as_ref().is_some_and(|i| i.is_ok())))
}

/// One synthetic graph: a chain of `ops` operators, generated in process.
struct SynthRow {
    name: &'static str,
    ops: usize,
    compile: Result<(Duration, CompileOutput), String>,
}

/// Chain lengths of the synthetic rows: compile time must grow linearly with them.
const SYNTH_OPS: [usize; 2] = [10_000, 100_000];

/// Compiles chains of ONNX `Relu` and TFLite int8 `RELU` operators ([`SYNTH_OPS`] long):
/// graphs in which any pass that visits every node per node is quadratic and shows.
fn synthetic(target: &str, runs: u32) -> Vec<SynthRow> {
    let mut rows = Vec::new();
    for ops in SYNTH_OPS {
        for (name, file) in [
            ("onnx Relu chain", "chain.onnx"),
            ("tflite RELU chain", "chain.tflite"),
        ] {
            eprintln!("bench: {name}, {ops} operators");
            let compile = engine::synth_model(file, ops).and_then(|bytes| {
                let mut times = Vec::with_capacity(runs as usize);
                let mut last = None;
                for _ in 0..runs {
                    let start = std::time::Instant::now();
                    let out = engine::compile_bytes(Path::new(file), &bytes, target)?;
                    times.push(start.elapsed());
                    last = Some(out);
                }
                Ok((median(times), last.ok_or("no compile runs")?))
            });
            rows.push(SynthRow { name, ops, compile });
        }
    }
    rows
}

fn synth_table(rows: &[SynthRow], runs: u32) -> String {
    let mut out = format!(
        "\nsynthetic chains (generated in process); compile: median of {runs} runs\n{:<18}  {:>9}  {:>11}  {:>11}  {:>10}\n",
        "graph", "operators", "compile ms", ".pte B", "arena B"
    );
    for r in rows {
        match &r.compile {
            Ok((t, o)) => {
                let _ = writeln!(
                    out,
                    "{:<18}  {:>9}  {:>11.1}  {:>11}  {:>10}",
                    r.name,
                    r.ops,
                    t.as_secs_f64() * 1e3,
                    o.pte.len(),
                    o.arena_bytes
                );
            }
            Err(e) => {
                let _ = writeln!(out, "{:<18}  {:>9}  error: {e}", r.name, r.ops);
            }
        }
    }
    out
}

fn rerun_optimized(root: &Path, args: &BenchArgs) -> Result<bool> {
    let mut cmd = crate::cargo();
    cmd.current_dir(root)
        .env(CHILD_ENV, "1")
        .args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "xtask",
            "--features",
            "bench",
            "--",
            "bench",
            "--here",
        ])
        .args([
            "--runs",
            &args.runs.to_string(),
            "--infer-runs",
            &args.infer_runs.to_string(),
        ])
        .args(["--target", &args.target]);
    if let Some(m) = &args.model {
        cmd.args(["--model", m]);
    }
    if args.npu {
        cmd.arg("--npu");
    }
    if args.npu_fidelity {
        cmd.arg("--npu-fidelity");
    }
    println!("bench measures an optimized build; running:");
    Ok(crate::pipeline::run_visible(cmd)?.success())
}

/// Finds the fixture models, sorted by folder and format.
pub fn discover(fixtures: &Path, filter: Option<&str>) -> Result<Vec<Case>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures)
        .with_context(|| format!("listing {}", fixtures.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut cases = Vec::new();
    for dir in dirs {
        let Some(model) = dir.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if filter.is_some_and(|f| !model.contains(f)) {
            continue;
        }
        for format in Format::ALL {
            let path = dir.join(format!("{model}{}", format.suffix()));
            if path.is_file() {
                let inputs = vec![dir.join("ref").join(format.ref_dir()).join("input_0.npy")];
                cases.push(Case {
                    model: model.clone(),
                    format,
                    path,
                    inputs,
                });
            }
        }
    }
    Ok(cases)
}

fn measure_compile(
    path: &Path,
    target: &str,
    runs: u32,
) -> Result<(Duration, CompileOutput), String> {
    let mut times = Vec::with_capacity(runs as usize);
    let mut last = None;
    for _ in 0..runs {
        let start = std::time::Instant::now();
        let out = engine::compile(path, target)?;
        times.push(start.elapsed());
        last = Some(out);
    }
    // `runs >= 1` is enforced by the argument parser.
    let out = last.ok_or("no compile runs")?;
    Ok((median(times), out))
}

/// The median (mean of the middle two for an even count); zero for none.
pub fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    let n = times.len();
    match n {
        0 => Duration::ZERO,
        _ if n % 2 == 1 => times[n / 2],
        _ => (times[n / 2 - 1] + times[n / 2]) / 2,
    }
}

fn table(rows: &[Row], args: &BenchArgs) -> String {
    let header = [
        "model",
        "format",
        "compile ms",
        ".pte B",
        "model B",
        "pte/model",
        "arena B",
        "liveness B",
        "arena/bound",
        "host µs",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    let mut errors = Vec::new();
    for r in rows {
        let mut row = vec![r.case.model.clone(), r.case.format.label().to_owned()];
        match &r.compile {
            Ok((time, out)) => {
                row.push(format!("{:.1}", time.as_secs_f64() * 1e3));
                row.push(out.pte.len().to_string());
                row.push(r.model_bytes.to_string());
                row.push(ratio(out.pte.len() as f64, r.model_bytes as f64));
                row.push(out.arena_bytes.to_string());
                row.push(out.liveness_bound.to_string());
                row.push(ratio(out.arena_bytes as f64, out.liveness_bound as f64));
            }
            Err(e) => {
                row.extend(["error".to_owned(), "-".into(), r.model_bytes.to_string()]);
                row.extend(["-", "-", "-", "-"].map(String::from));
                errors.push(format!(
                    "{} ({}): compile: {e}",
                    r.case.model,
                    r.case.format.label()
                ));
            }
        }
        row.push(match &r.infer {
            Some(Ok(t)) => format!("{:.1}", t.as_secs_f64() * 1e6),
            Some(Err(e)) => {
                errors.push(format!(
                    "{} ({}): run: {e}",
                    r.case.model,
                    r.case.format.label()
                ));
                "error".into()
            }
            None => "-".into(),
        });
        cells.push(row);
    }

    let mut out = format!(
        "\ntarget {}; compile: median of {} runs; host inference: median of {} runs\n",
        args.target, args.runs, args.infer_runs
    );
    out.push_str(&crate::bench::render_rows(&cells, 2, &|_| false));
    for e in errors {
        let _ = writeln!(out, "{e}");
    }
    out
}

/// `cells` (header first) as aligned columns: the first `left` left-aligned, the rest right;
/// a rule under the header and under every row `rule_after` names (by index).
pub fn render_rows(
    cells: &[Vec<String>],
    left: usize,
    rule_after: &dyn Fn(usize) -> bool,
) -> String {
    let columns = cells.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            cells
                .iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, row) in cells.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| {
                if c < left {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
        if i == 0 || rule_after(i) {
            let _ = writeln!(
                out,
                "{}",
                "-".repeat(widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1))
            );
        }
    }
    out
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "-".into()
    }
}

/// The compiler and runtime, linked only with the `bench` feature.
#[cfg(feature = "bench")]
mod engine {
    use super::CompileOutput;
    use kiln_compiler::compile::{compile_file, CompileOptions};
    use kiln_compiler::npy::NpyArray;
    use kiln_compiler::run::HostModel;
    use kiln_compiler::target::Target;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    /// Compiles `model` for `target`.
    pub fn compile(model: &Path, target: &str) -> Result<CompileOutput, String> {
        let opts = CompileOptions::for_target(Target::lookup(target).map_err(|e| e.to_string())?);
        let out = compile_file(model, &opts).map_err(|e| e.to_string())?;
        Ok(CompileOutput {
            pte: out.pte,
            arena_bytes: out.report.arena_bytes,
            liveness_bound: out.report.liveness_bound,
        })
    }

    /// Compiles model `bytes` (named `name`, which decides the format) for `target`.
    pub fn compile_bytes(name: &Path, bytes: &[u8], target: &str) -> Result<CompileOutput, String> {
        let opts = CompileOptions::for_target(Target::lookup(target).map_err(|e| e.to_string())?);
        let out =
            kiln_compiler::compile::compile_bytes(name, bytes, &opts).map_err(|e| e.to_string())?;
        Ok(CompileOutput {
            pte: out.pte,
            arena_bytes: out.report.arena_bytes,
            liveness_bound: out.report.liveness_bound,
        })
    }

    /// A synthetic chain of `ops` operators in the format of `file` (`.onnx`, `.tflite`).
    pub fn synth_model(file: &str, ops: usize) -> Result<Vec<u8>, String> {
        Ok(if file.ends_with(".onnx") {
            kiln_compiler::synth::onnx_relu_chain(ops)
        } else {
            kiln_compiler::synth::tflite_relu_chain(ops)
        })
    }

    /// Runs the `.pte` on `inputs` `runs` times; the time of each run
    /// (loading the program and reading the inputs are not timed).
    pub fn infer(pte: &[u8], inputs: &[PathBuf], runs: u32) -> Result<Vec<Duration>, String> {
        let inputs = inputs
            .iter()
            .map(|p| NpyArray::read(p).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut model = HostModel::new(pte).map_err(|e| e.to_string())?;
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                model.run(&inputs).map_err(|e| e.to_string())?;
                Ok(start.elapsed())
            })
            .collect()
    }
}

/// Without the `bench` feature nothing is linked; `run` re-runs xtask with it.
#[cfg(not(feature = "bench"))]
mod engine {
    use super::CompileOutput;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    const NOT_LINKED: &str = "xtask was built without the `bench` feature";

    /// Always an error: the compiler is not linked.
    pub fn compile(_model: &Path, _target: &str) -> Result<CompileOutput, String> {
        Err(NOT_LINKED.to_owned())
    }

    /// Always an error: the compiler is not linked.
    pub fn compile_bytes(
        _name: &Path,
        _bytes: &[u8],
        _target: &str,
    ) -> Result<CompileOutput, String> {
        Err(NOT_LINKED.to_owned())
    }

    /// Always an error: the compiler is not linked.
    pub fn synth_model(_file: &str, _ops: usize) -> Result<Vec<u8>, String> {
        Err(NOT_LINKED.to_owned())
    }

    /// Always an error: the runtime is not linked.
    pub fn infer(_pte: &[u8], _inputs: &[PathBuf], _runs: u32) -> Result<Vec<Duration>, String> {
        Err(NOT_LINKED.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        assert_eq!(median(ms(&[5, 1, 3])), Duration::from_millis(3));
        assert_eq!(median(ms(&[4, 1, 3, 2])), Duration::from_micros(2500));
        assert_eq!(median(vec![]), Duration::ZERO);
    }

    #[test]
    fn discovers_the_fixture_models() {
        let fixtures = crate::workspace_root().join("tests/fixtures");
        let cases = discover(&fixtures, None).unwrap();
        // 4 models in all three formats, 3 synthetic ones in the two ONNX formats.
        assert_eq!(cases.len(), 18);
        assert!(
            cases.iter().all(|c| c.inputs.iter().all(|i| i.is_file())),
            "every case has its input_0.npy"
        );
        let kws = discover(&fixtures, Some("kws")).unwrap();
        let formats: Vec<Format> = kws.iter().map(|c| c.format).collect();
        assert_eq!(
            formats,
            vec![Format::TfliteInt8, Format::OnnxF32, Format::OnnxQdq]
        );
        assert!(kws[0].path.ends_with("kws_dscnn/kws_dscnn_int8.tflite"));
        assert!(kws[0].inputs[0].ends_with("kws_dscnn/ref/tflite_int8/input_0.npy"));
    }

    #[test]
    fn table_shows_values_and_errors() {
        let case = |f| Case {
            model: "m".into(),
            format: f,
            path: "m.onnx".into(),
            inputs: vec![],
        };
        let rows = vec![
            Row {
                case: case(Format::OnnxF32),
                model_bytes: 200,
                compile: Ok((
                    Duration::from_micros(1500),
                    CompileOutput {
                        pte: vec![0; 100],
                        arena_bytes: 64,
                        liveness_bound: 32,
                    },
                )),
                infer: Some(Ok(Duration::from_micros(42))),
            },
            Row {
                case: case(Format::OnnxQdq),
                model_bytes: 10,
                compile: Err("boom".into()),
                infer: None,
            },
        ];
        let args = BenchArgs {
            runs: 5,
            infer_runs: 20,
            model: None,
            target: "host".into(),
            here: true,
            npu: false,
            npu_fidelity: false,
        };
        let t = table(&rows, &args);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[2].starts_with("model"), "{t}");
        let cols: Vec<&str> = lines[4].split_whitespace().collect();
        assert_eq!(
            cols,
            ["m", "onnx", "f32", "1.5", "100", "200", "0.50", "64", "32", "2.00", "42.0"]
        );
        assert!(lines[5].contains("error"));
        assert_eq!(lines[6], "m (onnx qdq): compile: boom");
    }
}
