//! `cargo xtask bench --npu`: per fixture model (4 int8 models) and configuration
//! (ethos-u55-64/128/256, ethos-u65-256), kiln's own Ethos-U compiler next to Vela 5.2's output
//! for the same model (`tests/fixtures/vela/<accelerator>/`), measured in the same run:
//!
//! - kiln: NPU operations and CPU operators of the compiled program, in-process compile time
//!   (median), cycles of its command streams, SRAM (scratch, plus the fast scratch on the U65)
//!   and flash (streams + weights);
//! - Vela: the same numbers for Vela's stream (cycles by the same cycle model, kiln's NPU
//!   model), next to Vela's own estimate (`*_vela_summary.csv` `cycles_total`);
//! - ratios kiln / Vela, and the NPU model's host time per inference of kiln's program.
//!
//! - compile speed: the `kiln compile` process and the in-process compile next to the Vela
//!   5.2 process (`target/vela-venv`, installed if missing) on the same model and
//!   configuration, each the median of several runs in this one bench run.
//!
//! Every run's output (kiln's and Vela's) is compared with TFLite Micro's golden, so a wrong
//! result cannot pass for a fast one.

use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Vela configurations of the fixtures (folder names).
pub const CONFIGS: [&str; 4] = [
    "ethos-u55-64",
    "ethos-u55-128",
    "ethos-u55-256",
    "ethos-u65-256",
];

/// One Vela-compiled fixture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpuCase {
    /// Fixture model name.
    pub model: String,
    /// Accelerator configuration.
    pub config: &'static str,
    /// The `*_vela.tflite`.
    pub path: PathBuf,
    /// `ref/tflm_int8` of the model (input_0.npy, output_0.npy).
    pub refs: PathBuf,
}

/// Vela's estimate for one fixture (from `*_vela_summary.csv`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VelaEstimate {
    /// `cycles_npu`: the NPU's compute cycles.
    pub npu: f64,
    /// `cycles_total`: with memory-access cycles.
    pub total: f64,
}

/// What the NPU model did for one program (kiln's or Vela's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NpuRun {
    /// Modelled cycles of one inference (all delegates).
    pub cycles: u64,
    /// NPU operations in the command streams (DMAs excluded).
    pub ops: u32,
    /// Operators left on the CPU.
    pub cpu_ops: u32,
    /// SRAM: the largest delegate scratch plus fast scratch.
    pub sram: u64,
    /// Flash: command streams and weights.
    pub flash: u64,
    /// Median in-process compile time (kiln) or packaging time (Vela).
    pub compile: Duration,
    /// Median host time of one inference.
    pub host: Duration,
}

/// Finds the Vela fixtures: models in `tests/fixtures/vela/<config>/`, sorted, filtered by name.
pub fn discover(fixtures: &Path, filter: Option<&str>) -> Result<Vec<NpuCase>> {
    let mut cases = Vec::new();
    for config in CONFIGS {
        let dir = fixtures.join("vela").join(config);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix("_int8_vela.tflite").map(str::to_owned))
            .collect();
        names.sort();
        for model in names {
            if filter.is_some_and(|f| !model.contains(f)) {
                continue;
            }
            cases.push(NpuCase {
                path: dir.join(format!("{model}_int8_vela.tflite")),
                refs: fixtures.join(&model).join("ref/tflm_int8"),
                model,
                config,
            });
        }
    }
    Ok(cases)
}

/// Reads `cycles_npu` and `cycles_total` from a Vela `--verbose-performance` summary CSV.
pub fn vela_estimate(csv: &str) -> Result<VelaEstimate, String> {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().ok_or("empty CSV")?.split(',').collect();
    let row: Vec<&str> = lines.next().ok_or("no data row")?.split(',').collect();
    let get = |name: &str| -> Result<f64, String> {
        let i = header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| format!("no column {name}"))?;
        let v = row
            .get(i)
            .ok_or_else(|| format!("row has no column {name}"))?;
        v.trim()
            .parse()
            .map_err(|_| format!("column {name}: {v:?} is not a number"))
    };
    Ok(VelaEstimate {
        npu: get("cycles_npu")?,
        total: get("cycles_total")?,
    })
}

/// The summary CSV next to a `*_vela.tflite`.
fn summary_path(case: &NpuCase) -> PathBuf {
    case.path
        .with_file_name(format!("{}_int8_vela_summary.csv", case.model))
}

/// Wall time of whole compiler processes: `kiln compile` and `vela` on one model.
#[derive(Debug, Clone)]
pub struct Processes {
    /// `kiln compile` (median).
    pub kiln: Result<Duration, String>,
    /// `vela` (median).
    pub vela: Result<Duration, String>,
}

/// Runs of each compiler process per row (the median is reported).
const KILN_PROCESS_RUNS: usize = 7;
/// Runs of the Vela process per row (the median is reported).
const VELA_PROCESS_RUNS: usize = 3;

/// The median wall time of `runs` runs of `make()`'s command (each must succeed).
fn time_process(runs: usize, make: &dyn Fn() -> Command) -> Result<Duration, String> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let mut cmd = make();
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let start = Instant::now();
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
        times.push(start.elapsed());
        if !out.status.success() {
            return Err(format!(
                "{cmd:?} exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(crate::bench::median(times))
}

/// Both compilers' process times on `case`'s model.
fn processes(root: &Path, kiln: &Path, vela: Option<&Path>, case: &NpuCase) -> Processes {
    let model = root
        .join("tests/fixtures")
        .join(&case.model)
        .join(format!("{}_int8.tflite", case.model));
    let out = root.join("target/bench-npu");
    let _ = std::fs::create_dir_all(&out);
    let pte = out.join(format!("{}-{}.pte", case.model, case.config));
    let kiln_time = time_process(KILN_PROCESS_RUNS, &|| {
        let mut c = Command::new(kiln);
        c.arg("compile")
            .arg(&model)
            .args(["--target", case.config, "-o"])
            .arg(&pte);
        c
    });
    let vela_time = match (vela, crate::vela::config(case.config)) {
        (Some(vela), Some(cfg)) => time_process(VELA_PROCESS_RUNS, &|| {
            let mut c = Command::new(vela);
            c.current_dir(root)
                .args(["--accelerator-config", cfg.accelerator])
                .args(["--config", "Arm/vela.ini"])
                .args(["--system-config", cfg.system])
                .args(["--memory-mode", cfg.memory_mode])
                .arg("--output-dir")
                .arg(out.join("vela").join(case.config))
                .arg(&model);
            c
        }),
        (None, _) => Err("Vela is not installed (see above)".into()),
        (_, None) => Err(format!("no Vela configuration {}", case.config)),
    };
    Processes {
        kiln: kiln_time,
        vela: vela_time,
    }
}

/// Runs `cargo xtask bench --npu` in this (optimized) process.
pub fn run(root: &Path, runs: u32, filter: Option<&str>) -> Result<bool> {
    let cases = discover(&root.join("tests/fixtures"), filter)?;
    if cases.is_empty() {
        anyhow::bail!("no Vela fixtures match (tests/fixtures/vela/<config>/*_int8_vela.tflite)");
    }
    // The processes compared: the release `kiln` binary and the pinned Vela.
    let mut build = crate::cargo();
    build
        .current_dir(root)
        .args(["build", "--release", "--quiet", "-p", "kiln-cli"]);
    if !crate::pipeline::run_visible(build)?.success() {
        anyhow::bail!("cargo build --release -p kiln-cli failed");
    }
    let kiln = root.join("target/release/kiln");
    let vela_exe = match crate::vela::ensure_vela(root) {
        Ok(v) => Some(v),
        Err(e) => {
            eprintln!("bench --npu: Vela process times unavailable: {e:#}");
            None
        }
    };
    let mut rows = Vec::new();
    for case in cases {
        eprintln!("bench --npu: {} ({})", case.model, case.config);
        let vela = std::fs::read_to_string(summary_path(&case))
            .map_err(|e| e.to_string())
            .and_then(|s| vela_estimate(&s))
            .map_err(|e| format!("{}: {e}", summary_path(&case).display()));
        let vela_run = engine::run_vela(&case, runs);
        let kiln_path = root
            .join("tests/fixtures")
            .join(&case.model)
            .join(format!("{}_int8.tflite", case.model));
        let kiln_run = engine::run_kiln(&case, &kiln_path, runs);
        let procs = processes(root, &kiln, vela_exe.as_deref(), &case);
        rows.push((case, vela, vela_run, kiln_run, procs));
    }
    print!("{}", table(&rows, runs));
    Ok(rows.iter().all(|(_, v, r, k, p)| {
        v.is_ok() && r.is_ok() && k.is_ok() && p.kiln.is_ok() && p.vela.is_ok()
    }))
}

type Row = (
    NpuCase,
    Result<VelaEstimate, String>,
    Result<NpuRun, String>,
    Result<NpuRun, String>,
    Processes,
);

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "-".into()
    }
}

fn table(rows: &[Row], runs: u32) -> String {
    let header = [
        "model",
        "config",
        "kiln NPU ops",
        "CPU ops",
        "kiln cycles",
        "Vela cycles",
        "cycles k/V",
        "Vela est.",
        "kiln SRAM",
        "Vela SRAM",
        "SRAM k/V",
        "kiln flash",
        "Vela flash",
        "flash k/V",
        "compile ms",
        "kiln proc ms",
        "Vela proc ms",
        "Vela/kiln proc",
        "Vela/in-proc",
        "host µs",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    let mut errors = Vec::new();
    let mut logs = [0f64; 3];
    let mut n = 0;
    // Speed-up logs: Vela process / kiln process, Vela process / kiln in-process.
    let mut speed = [0f64; 2];
    let mut n_speed = 0;
    for (case, est, vela, kiln, procs) in rows {
        let mut row = vec![case.model.clone(), case.config.to_owned()];
        for (what, r) in [("kiln", kiln), ("Vela", vela)] {
            if let Err(e) = r {
                errors.push(format!("{} ({}) {what}: {e}", case.model, case.config));
            }
        }
        if let Err(e) = est {
            errors.push(e.clone());
        }
        for (what, r) in [("kiln process", &procs.kiln), ("Vela process", &procs.vela)] {
            if let Err(e) = r {
                errors.push(format!("{} ({}) {what}: {e}", case.model, case.config));
            }
        }
        let ms = |d: &Result<Duration, String>| {
            d.as_ref().map_or_else(
                |_| "-".to_string(),
                |d| format!("{:.1}", d.as_secs_f64() * 1e3),
            )
        };
        let dash = || "-".to_string();
        match (kiln, vela) {
            (Ok(k), Ok(v)) => {
                row.extend([
                    k.ops.to_string(),
                    k.cpu_ops.to_string(),
                    k.cycles.to_string(),
                    v.cycles.to_string(),
                    ratio(k.cycles as f64, v.cycles as f64),
                    est.as_ref()
                        .map_or_else(|_| dash(), |e| format!("{:.0}", e.total)),
                    k.sram.to_string(),
                    v.sram.to_string(),
                    ratio(k.sram as f64, v.sram as f64),
                    k.flash.to_string(),
                    v.flash.to_string(),
                    ratio(k.flash as f64, v.flash as f64),
                    format!("{:.2}", k.compile.as_secs_f64() * 1e3),
                    ms(&procs.kiln),
                    ms(&procs.vela),
                ]);
                match (&procs.kiln, &procs.vela) {
                    (Ok(kp), Ok(vp)) => {
                        let (kp, vp, ki) =
                            (kp.as_secs_f64(), vp.as_secs_f64(), k.compile.as_secs_f64());
                        row.push(format!("{:.0}", vp / kp));
                        row.push(format!("{:.0}", vp / ki));
                        if kp > 0.0 && ki > 0.0 {
                            speed[0] += (vp / kp).ln();
                            speed[1] += (vp / ki).ln();
                            n_speed += 1;
                        }
                    }
                    _ => row.extend([dash(), dash()]),
                }
                row.push(format!("{:.0}", k.host.as_secs_f64() * 1e6));
                if v.cycles > 0 && v.sram > 0 && v.flash > 0 {
                    logs[0] += (k.cycles as f64 / v.cycles as f64).ln();
                    logs[1] += (k.sram as f64 / v.sram as f64).ln();
                    logs[2] += (k.flash as f64 / v.flash as f64).ln();
                    n += 1;
                }
            }
            _ => row.extend((0..18).map(|_| dash())),
        }
        cells.push(row);
    }
    if n > 0 {
        let g = |l: f64| format!("{:.2}", (l / n as f64).exp());
        let gs = |l: f64| {
            if n_speed > 0 {
                format!("{:.0}", (l / n_speed as f64).exp())
            } else {
                String::new()
            }
        };
        let mut row = vec!["geomean".to_string(), String::new()];
        row.extend(
            [
                "",
                "",
                "",
                "",
                &g(logs[0]),
                "",
                "",
                "",
                &g(logs[1]),
                "",
                "",
                &g(logs[2]),
                "",
                "",
                "",
                &gs(speed[0]),
                &gs(speed[1]),
                "",
            ]
            .map(str::to_string),
        );
        cells.push(row);
    }
    let mut out = format!(
        "\nkiln's Ethos-U compiler vs Vela 5.2.0 (fixture streams), both counted by kiln's cycle model; \
         Vela est. = Vela's own estimate (summary CSV); SRAM = scratch (+ fast scratch), flash = \
         command streams + weights; compile: kiln in-process, median of 3; proc: whole `kiln compile` \
         (median of {KILN_PROCESS_RUNS}) and `vela` (median of {VELA_PROCESS_RUNS}) processes, \
         Vela/kiln = how many times faster kiln is; host: NPU model, median of {runs} \
         inferences, each checked against TFLM\n"
    );
    out.push_str(&crate::bench::render_rows(&cells, 2, &|_| false));
    for e in errors {
        let _ = writeln!(out, "{e}");
    }
    out
}

/// The compiler, packager, runtime and NPU model, linked only with the `bench` feature.
#[cfg(feature = "bench")]
mod engine {
    use super::{NpuCase, NpuRun};
    use kiln_compiler::compile::{compile_file, CompileOptions};
    use kiln_compiler::npy::NpyArray;
    use kiln_compiler::run::HostModel;
    use kiln_compiler::target::Target;
    use kiln_compiler::vela::compile_vela;
    use std::path::Path;
    use std::time::{Duration, Instant};

    /// Cycles, NPU operations, SRAM and flash of every Ethos-U delegate of `pte` (by `kiln
    /// inspect`'s cycle-model summary), and the CPU operators.
    fn measure(pte: &[u8]) -> Result<(u64, u32, u32, u64, u64), String> {
        let d = kiln_cli::inspect::describe(pte).map_err(|e| e.to_string())?;
        let plan = &d["plans"][0];
        let (mut cycles, mut ops, mut sram, mut flash) = (0u64, 0u32, 0u64, 0u64);
        for dl in plan["delegates"].as_array().into_iter().flatten() {
            let npu = &dl["npu"];
            if let Some(e) = npu.get("error") {
                return Err(format!("NPU model: {e}"));
            }
            cycles += npu["cycles"].as_u64().ok_or("no cycles")?;
            ops += npu["ops"].as_array().map_or(0, |o| {
                o.iter().filter(|o| o["kind"] != "dma").count() as u32
            });
            sram = sram.max(npu["sram_bytes"].as_u64().unwrap_or(0));
            flash += npu["flash_bytes"].as_u64().unwrap_or(0);
        }
        let cpu = plan["instructions"].as_array().map_or(0, |i| {
            i.iter().filter(|i| i.get("kernel").is_some()).count() as u32
        });
        Ok((cycles, ops, cpu, sram, flash))
    }

    /// Runs `pte` `runs` times on the host (delegates on the NPU model), checking each output.
    fn time_runs(pte: &[u8], case: &NpuCase, runs: u32) -> Result<Duration, String> {
        let x = NpyArray::read(case.refs.join("input_0.npy")).map_err(|e| e.to_string())?;
        let want = NpyArray::read(case.refs.join("output_0.npy")).map_err(|e| e.to_string())?;
        let mut m = HostModel::new(pte).map_err(|e| e.to_string())?;
        let mut times = Vec::with_capacity(runs as usize);
        for _ in 0..runs.max(1) {
            let start = Instant::now();
            let out = m.run(std::slice::from_ref(&x)).map_err(|e| e.to_string())?;
            times.push(start.elapsed());
            if out.first().map(|o| &o.data) != Some(&want.data) {
                return Err("output differs from TFLM's golden".into());
            }
        }
        Ok(crate::bench::median(times))
    }

    /// Vela's stream for `case`: packaged, measured and run.
    pub fn run_vela(case: &NpuCase, runs: u32) -> Result<NpuRun, String> {
        let bytes =
            std::fs::read(&case.path).map_err(|e| format!("{}: {e}", case.path.display()))?;
        let start = Instant::now();
        let pte = compile_vela(&case.path, &bytes).map_err(|e| e.to_string())?;
        let compile = start.elapsed();
        let (cycles, ops, cpu_ops, sram, flash) = measure(&pte)?;
        Ok(NpuRun {
            cycles,
            ops,
            cpu_ops,
            sram,
            flash,
            compile,
            host: time_runs(&pte, case, runs)?,
        })
    }

    /// kiln's own compilation of the fixture's int8 TFLite for `case.config`.
    pub fn run_kiln(case: &NpuCase, model: &Path, runs: u32) -> Result<NpuRun, String> {
        let opts =
            CompileOptions::for_target(Target::lookup(case.config).map_err(|e| e.to_string())?);
        let mut times = Vec::new();
        let mut pte = Vec::new();
        for _ in 0..3 {
            let start = Instant::now();
            pte = compile_file(model, &opts).map_err(|e| e.to_string())?.pte;
            times.push(start.elapsed());
        }
        let (cycles, ops, cpu_ops, sram, flash) = measure(&pte)?;
        Ok(NpuRun {
            cycles,
            ops,
            cpu_ops,
            sram,
            flash,
            compile: crate::bench::median(times),
            host: time_runs(&pte, case, runs)?,
        })
    }
}

/// Without the `bench` feature nothing is linked; `bench` re-runs xtask with it.
#[cfg(not(feature = "bench"))]
mod engine {
    use super::{NpuCase, NpuRun};
    use std::path::Path;

    /// Always an error: the runtime is not linked.
    pub fn run_vela(_case: &NpuCase, _runs: u32) -> Result<NpuRun, String> {
        Err("xtask was built without the `bench` feature".to_owned())
    }

    /// Always an error: the compiler is not linked.
    pub fn run_kiln(_case: &NpuCase, _model: &Path, _runs: u32) -> Result<NpuRun, String> {
        Err("xtask was built without the `bench` feature".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vela_summary_columns() {
        let csv = "experiment,network,cycles_npu,cycles_sram_access,cycles_total\n\
                   default,kws,88902,36383,89900\n";
        let v = vela_estimate(csv).unwrap();
        assert_eq!(v.npu, 88902.0);
        assert_eq!(v.total, 89900.0);
        assert!(vela_estimate("a,b\n1,2\n")
            .unwrap_err()
            .contains("cycles_npu"));
        assert!(vela_estimate("cycles_npu,cycles_total\n").is_err());
        assert!(vela_estimate("cycles_npu,cycles_total\nx,1\n")
            .unwrap_err()
            .contains("not a number"));
    }

    #[test]
    fn discovers_the_vela_fixtures_with_their_summaries() {
        let fixtures = crate::workspace_root().join("tests/fixtures");
        let cases = discover(&fixtures, None).unwrap();
        assert_eq!(cases.len(), 16, "4 models x 4 configurations");
        for c in &cases {
            let csv = std::fs::read_to_string(summary_path(c)).unwrap();
            let v = vela_estimate(&csv).unwrap();
            assert!(v.total >= v.npu && v.npu > 0.0, "{c:?}");
            assert!(c.refs.join("output_0.npy").is_file(), "{c:?}");
        }
        let kws = discover(&fixtures, Some("kws")).unwrap();
        assert_eq!(kws.len(), 4);
        assert_eq!(kws[1].config, "ethos-u55-128");
    }

    #[test]
    fn table_shows_ratio_and_errors() {
        let case = |config| NpuCase {
            model: "kws".into(),
            config,
            path: "kws_int8_vela.tflite".into(),
            refs: "ref".into(),
        };
        let run = |cycles, sram, flash| NpuRun {
            cycles,
            ops: 11,
            cpu_ops: 1,
            sram,
            flash,
            compile: Duration::from_micros(1500),
            host: Duration::from_micros(250),
        };
        let rows: Vec<Row> = vec![
            (
                case("ethos-u55-128"),
                Ok(VelaEstimate {
                    npu: 800.0,
                    total: 1000.0,
                }),
                Ok(run(1000, 100, 400)),
                Ok(run(1500, 50, 200)),
                Processes {
                    kiln: Ok(Duration::from_millis(5)),
                    vela: Ok(Duration::from_millis(500)),
                },
            ),
            (
                case("ethos-u65-256"),
                Err("no csv".into()),
                Err("boom".into()),
                Ok(run(1, 1, 1)),
                Processes {
                    kiln: Ok(Duration::from_millis(5)),
                    vela: Err("no vela".into()),
                },
            ),
        ];
        let t = table(&rows, 7);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[1].contains("median of 7"), "{t}");
        let cols: Vec<&str> = lines[4].split_whitespace().collect();
        assert_eq!(
            cols,
            [
                "kws",
                "ethos-u55-128",
                "11",
                "1",
                "1500",
                "1000",
                "1.50",
                "1000",
                "50",
                "100",
                "0.50",
                "200",
                "400",
                "0.50",
                "1.50",
                "5.0",
                "500.0",
                "100",
                "333",
                "250"
            ]
        );
        assert!(t.contains("Vela process: no vela"), "{t}");
        assert!(lines[5].contains(" - "), "{t}");
        assert!(t.contains("kws (ethos-u65-256) Vela: boom"), "{t}");
        assert!(t.contains("no csv"), "{t}");
        assert!(lines[6].starts_with("geomean"), "{t}");
    }
}
