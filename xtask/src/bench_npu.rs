//! `cargo xtask bench --npu`: per Vela-compiled fixture (4 int8 models x ethos-u55-64/128/256,
//! ethos-u65-256, in `tests/fixtures/vela/<accelerator>/`), the cycles kiln's NPU model counts
//! for one inference next to Vela's own estimate (`*_vela_summary.csv`: `cycles_npu`, the
//! compute-bound part, and `cycles_total`, with the memory-access cycles), and the NPU model's
//! execution time on the host (median of the runs; the whole `DelegateCall`: input copy,
//! driver, command stream, output copy). Every run's output is compared with TFLite Micro's
//! golden, so a wrong result cannot pass for a fast one.

use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// What the NPU model did for one fixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NpuRun {
    /// Modelled cycles of one inference.
    pub cycles: u64,
    /// Operations in the command stream.
    pub ops: u32,
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

/// Runs `cargo xtask bench --npu` in this (optimized) process.
pub fn run(root: &Path, runs: u32, filter: Option<&str>) -> Result<bool> {
    let cases = discover(&root.join("tests/fixtures"), filter)?;
    if cases.is_empty() {
        anyhow::bail!("no Vela fixtures match (tests/fixtures/vela/<config>/*_int8_vela.tflite)");
    }
    let mut rows = Vec::new();
    for case in cases {
        eprintln!("bench --npu: {} ({})", case.model, case.config);
        let vela = std::fs::read_to_string(summary_path(&case))
            .map_err(|e| e.to_string())
            .and_then(|s| vela_estimate(&s))
            .map_err(|e| format!("{}: {e}", summary_path(&case).display()));
        let run = engine::run(&case, runs);
        rows.push((case, vela, run));
    }
    print!("{}", table(&rows, runs));
    Ok(rows.iter().all(|(_, v, r)| v.is_ok() && r.is_ok()))
}

type Row = (
    NpuCase,
    Result<VelaEstimate, String>,
    Result<NpuRun, String>,
);

fn table(rows: &[Row], runs: u32) -> String {
    let header = [
        "model",
        "config",
        "NPU ops",
        "model cycles",
        "Vela npu",
        "Vela total",
        "model/Vela total",
        "host µs",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    let mut errors = Vec::new();
    for (case, vela, run) in rows {
        let mut row = vec![case.model.clone(), case.config.to_owned()];
        match run {
            Ok(r) => row.extend([r.ops.to_string(), r.cycles.to_string()]),
            Err(e) => {
                row.extend(["error".to_owned(), "-".to_owned()]);
                errors.push(format!("{} ({}): {e}", case.model, case.config));
            }
        }
        match vela {
            Ok(v) => row.extend([format!("{:.0}", v.npu), format!("{:.0}", v.total)]),
            Err(e) => {
                row.extend(["-".to_owned(), "-".to_owned()]);
                errors.push(e.clone());
            }
        }
        row.push(match (run, vela) {
            (Ok(r), Ok(v)) if v.total > 0.0 => format!("{:.2}", r.cycles as f64 / v.total),
            _ => "-".into(),
        });
        row.push(match run {
            Ok(r) => format!("{:.0}", r.host.as_secs_f64() * 1e6),
            Err(_) => "-".into(),
        });
        cells.push(row);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!(
        "\nVela-compiled fixtures on kiln's NPU model: modelled cycles vs Vela 5.2.0's estimate \
         (summary CSV); host time: median of {runs} inferences, each checked against TFLM\n"
    );
    for (i, row) in cells.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| {
                if c < 2 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
        if i == 0 {
            let _ = writeln!(
                out,
                "{}",
                "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1))
            );
        }
    }
    for e in errors {
        let _ = writeln!(out, "{e}");
    }
    out
}

/// The packager, runtime and NPU model, linked only with the `bench` feature.
#[cfg(feature = "bench")]
mod engine {
    use super::{NpuCase, NpuRun};
    use kiln_aot::npy::NpyArray;
    use kiln_aot::vela::{compile_vela, FAST_SCRATCH_SPEC};
    use kiln_rt::ethos_u::sim::{NpuModel, SimConfig};
    use kiln_rt::ethos_u::{Driver, DriverConfig, EthosUBackend};
    use kiln_rt::exec::{Backend, Method};
    use kiln_rt::pte::Program;
    use std::time::Instant;

    /// `len` zero bytes starting on a 16-byte boundary (what `Program` and `Method` require).
    struct Aligned {
        buf: Vec<u8>,
        off: usize,
        len: usize,
    }

    impl Aligned {
        fn zeroed(len: usize) -> Aligned {
            let buf = vec![0u8; len + 16];
            let off = buf.as_ptr().align_offset(16);
            Aligned { buf, off, len }
        }
        fn bytes_mut(&mut self) -> &mut [u8] {
            &mut self.buf[self.off..self.off + self.len]
        }
    }

    /// Packages `case`, runs it `runs` times on the NPU model (checking every output against
    /// the golden) and returns the model's cycles and the median host time.
    pub fn run(case: &NpuCase, runs: u32) -> Result<NpuRun, String> {
        let e = |e: kiln_rt::RtError| e.to_string();
        let bytes =
            std::fs::read(&case.path).map_err(|e| format!("{}: {e}", case.path.display()))?;
        let pte_bytes = compile_vela(&case.path, &bytes).map_err(|e| e.to_string())?;
        let mut pte = Aligned::zeroed(pte_bytes.len());
        pte.bytes_mut().copy_from_slice(&pte_bytes);
        let pte: &[u8] = pte.bytes_mut();
        let program = Program::load(pte).map_err(e)?;
        let plan = "forward";
        let fast_size = match program
            .plan_by_name(plan)
            .and_then(|p| p.delegate(0))
            .and_then(|d| d.compile_spec_value(FAST_SCRATCH_SPEC))
            .map_err(e)?
        {
            Some(v) => u32::from_le_bytes(
                v.try_into()
                    .map_err(|_| format!("{FAST_SCRATCH_SPEC} is not a u32"))?,
            ) as usize,
            None => 0,
        };
        let macs: u32 = case
            .config
            .rsplit('-')
            .next()
            .and_then(|m| m.parse().ok())
            .ok_or("configuration without a MAC count")?;
        let sim = if case.config.starts_with("ethos-u65") {
            SimConfig::ethos_u65(macs)
        } else {
            SimConfig::ethos_u55(macs)
        }
        .ok_or_else(|| format!("the NPU model has no {} configuration", case.config))?;
        let mut scratch =
            Aligned::zeroed(EthosUBackend::<NpuModel>::scratch_size(&program, plan).map_err(e)?);
        let mut fast = Aligned::zeroed(fast_size);
        let mut backend = EthosUBackend::new(
            Driver::new(NpuModel::new(sim), DriverConfig::default()),
            scratch.bytes_mut(),
            fast.bytes_mut(),
        );
        let mut arena = Aligned::zeroed(Method::arena_size(&program, plan).map_err(e)?);
        let mut method = Method::load(&program, plan, &[], arena.bytes_mut()).map_err(e)?;
        let x = NpyArray::read(case.refs.join("input_0.npy")).map_err(|e| e.to_string())?;
        let want = NpyArray::read(case.refs.join("output_0.npy")).map_err(|e| e.to_string())?;
        let mut times = Vec::with_capacity(runs as usize);
        for _ in 0..runs {
            method.set_input(0, &x.data).map_err(e)?;
            let start = Instant::now();
            {
                let mut backends: [&mut dyn Backend; 1] = [&mut backend];
                method.execute_with(&mut backends).map_err(e)?;
            }
            times.push(start.elapsed());
            let got = method.output(0).map_err(e)?;
            if got != want.data.as_slice() {
                return Err("output differs from TFLM's golden".into());
            }
        }
        let stats = backend.driver().registers().last_stats();
        Ok(NpuRun {
            cycles: stats.cycles,
            ops: stats.ops,
            host: crate::bench::median(times),
        })
    }
}

/// Without the `bench` feature nothing is linked; `bench` re-runs xtask with it.
#[cfg(not(feature = "bench"))]
mod engine {
    use super::{NpuCase, NpuRun};

    /// Always an error: the runtime is not linked.
    pub fn run(_case: &NpuCase, _runs: u32) -> Result<NpuRun, String> {
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
        let rows: Vec<Row> = vec![
            (
                case("ethos-u55-128"),
                Ok(VelaEstimate {
                    npu: 800.0,
                    total: 1000.0,
                }),
                Ok(NpuRun {
                    cycles: 1500,
                    ops: 51,
                    host: Duration::from_micros(250),
                }),
            ),
            (
                case("ethos-u65-256"),
                Err("no csv".into()),
                Err("boom".into()),
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
                "51",
                "1500",
                "800",
                "1000",
                "1.50",
                "250"
            ]
        );
        assert!(lines[5].contains("error"), "{t}");
        assert!(t.contains("kws (ethos-u65-256): boom"), "{t}");
        assert!(t.contains("no csv"), "{t}");
    }
}
