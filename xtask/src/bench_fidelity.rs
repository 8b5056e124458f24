//! `cargo xtask bench --npu-fidelity`: how far kiln's cycle model is from Vela's own estimate,
//! on Vela's own streams, per operation type.
//!
//! For every Vela fixture (`tests/fixtures/vela/<config>/<model>_int8_vela.tflite`), Vela's
//! per-layer table (`*_vela_perf.txt`, from `--verbose-performance`: one row per scheduled
//! operation, "Op Cycles" = the larger of its NPU and memory-access cycles, weight DMAs
//! included) is matched, in order, to the NPU operations the NPU model executes in the same
//! stream. A row may be several NPU operations (weight slices, stripes): a convolution or
//! depthwise row takes operations of its kind until their MACs reach the row's MAC count;
//! fused activations (rows with no cycles and no MACs) are skipped. Each NPU operation is
//! charged what it adds to the model's timeline (`perf::Timeline::kernel_end`): its own
//! cycles plus any wait for the DMAs it depends on, so the weight transfers Vela counts inside
//! an operation are counted there too. The table is the ratio model / Vela per operation type
//! (sum over the operations of that type) and per fixture.
//!
//! The comparison is against Vela's estimate, never against kiln's own streams: it measures
//! the model, not the compiler.

use anyhow::Result;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// One row of Vela's per-layer table.
#[derive(Debug, Clone, PartialEq)]
pub struct VelaRow {
    /// The NNG operator ("Conv2D", "AvgPool", "Sub", ...).
    pub nng: String,
    /// The original (TFLite) operator ("FullyConnected", "Softmax", ...).
    pub original: String,
    /// "Op Cycles".
    pub cycles: f64,
    /// "MAC Count".
    pub macs: u64,
}

/// Parses the per-layer rows of a Vela `--verbose-performance` console log. The columns are
/// Original Operator, NNG Operator, Target, Staging Usage, Peak%, Op Cycles, Network%, NPU, SRAM AC,
/// DRAM AC, OnFlash AC, OffFlash AC, MAC Count, Network%, Util%, Name.
pub fn parse_perf(text: &str) -> Result<Vec<VelaRow>, String> {
    let mut lines = text.lines();
    lines
        .by_ref()
        .find(|l| l.starts_with("Original Operator"))
        .ok_or("no per-layer table (no \"Original Operator\" header)")?;
    lines.next(); // the dashes
    let mut rows = Vec::new();
    for l in lines {
        let t: Vec<&str> = l.split_whitespace().collect();
        if t.is_empty() {
            break;
        }
        if t.len() < 16 {
            return Err(format!("short per-layer row: {l:?}"));
        }
        let num = |i: usize| -> Result<f64, String> {
            t[i].parse()
                .map_err(|_| format!("column {i} of {l:?} is not a number"))
        };
        rows.push(VelaRow {
            original: t[0].to_owned(),
            nng: t[1].to_owned(),
            cycles: num(5)?,
            macs: num(12)? as u64,
        });
    }
    Ok(rows)
}

/// What kind of NPU operation the model executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// NPU_OP_CONV.
    Conv,
    /// NPU_OP_DEPTHWISE.
    Depthwise,
    /// NPU_OP_POOL with its mode ("max", "avg", "reduce-sum").
    Pool(&'static str),
    /// NPU_OP_ELEMENTWISE with its mode ("add", "mul", "shr", ...).
    Elementwise(&'static str),
}

/// One NPU operation of a stream as the model saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelOp {
    /// The operation.
    pub kind: Kind,
    /// MACs (convolutions; 0 otherwise).
    pub macs: u64,
    /// The operation's own cycles.
    pub cycles: u64,
    /// What it added to the timeline (its cycles plus exposed DMA waits).
    pub exposed: u64,
}

/// The NPU operation kind a Vela NNG operator runs as, or `None` for one the stream has no
/// operation of its own for.
fn expected(nng: &str) -> Option<Kind> {
    Some(match nng {
        "Conv2D" | "FullyConnected" | "Conv2DBias" => Kind::Conv,
        "DepthwiseConv2D" | "DepthwiseConv2DBias" => Kind::Depthwise,
        "MaxPool" => Kind::Pool("max"),
        "AvgPool" => Kind::Pool("avg"),
        "ReduceSum" => Kind::Pool("reduce-sum"),
        "Add" => Kind::Elementwise("add"),
        "Sub" => Kind::Elementwise("sub"),
        "Mul" => Kind::Elementwise("mul"),
        "Minimum" => Kind::Elementwise("min"),
        "Maximum" => Kind::Elementwise("max"),
        "Asr" | "SHR" => Kind::Elementwise("shr"),
        "SHL" => Kind::Elementwise("shl"),
        "CLZ" => Kind::Elementwise("clz"),
        "Abs" => Kind::Elementwise("abs"),
        "LeakyRelu" => Kind::Elementwise("lrelu"),
        _ => return None,
    })
}

/// The table column of a matched row.
fn category(row: &VelaRow, kind: Kind) -> String {
    match kind {
        Kind::Conv if row.original == "FullyConnected" || row.nng == "FullyConnected" => {
            "fc".into()
        }
        Kind::Conv => "conv".into(),
        Kind::Depthwise => "depthwise".into(),
        Kind::Pool(m) => format!("pool {m}"),
        Kind::Elementwise(m) => format!("ew {m}"),
    }
}

/// Per category: (model cycles, Vela cycles).
pub type Sums = BTreeMap<String, (u64, f64)>;

/// The outcome of matching one fixture.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matched {
    /// Per category sums.
    pub sums: Sums,
    /// Vela rows no NPU operation matched, and NPU operations left over.
    pub unmatched: Vec<String>,
    /// One line per matched row: category, Vela's cycles, the model's (exposed, own) cycles.
    pub detail: Vec<String>,
}

/// Matches Vela's rows to the model's operations in stream order.
pub fn match_ops(rows: &[VelaRow], ops: &[ModelOp]) -> Matched {
    let mut m = Matched::default();
    let mut i = 0;
    for row in rows {
        if row.cycles == 0.0 && row.macs == 0 {
            continue; // a fused activation
        }
        let Some(kind) = expected(&row.nng) else {
            m.unmatched
                .push(format!("Vela row {} ({})", row.nng, row.original));
            continue;
        };
        if ops.get(i).map(|o| o.kind) != Some(kind) {
            m.unmatched.push(format!(
                "Vela row {} ({}) vs NPU op {:?}",
                row.nng,
                row.original,
                ops.get(i).map(|o| o.kind)
            ));
            continue;
        }
        let (mut cycles, mut own, mut macs, mut n) = (0u64, 0u64, 0u64, 0);
        loop {
            cycles += ops[i].exposed;
            own += ops[i].cycles;
            n += 1;
            macs += ops[i].macs;
            i += 1;
            let more_macs = matches!(kind, Kind::Conv | Kind::Depthwise) && macs < row.macs;
            if !more_macs || ops.get(i).map(|o| o.kind) != Some(kind) {
                break;
            }
        }
        m.detail.push(format!(
            "{:<16} Vela {:>8.0}  model {:>8} (own {:>8}, {n} ops)",
            category(row, kind),
            row.cycles,
            cycles,
            own
        ));
        let e = m.sums.entry(category(row, kind)).or_default();
        e.0 += cycles;
        e.1 += row.cycles;
    }
    for o in &ops[i.min(ops.len())..] {
        m.unmatched
            .push(format!("NPU op {:?} without a Vela row", o.kind));
    }
    m
}

/// Runs `cargo xtask bench --npu-fidelity` and prints the table.
pub fn run(root: &Path, filter: Option<&str>) -> Result<bool> {
    let cases = crate::bench_npu::discover(&root.join("tests/fixtures"), filter)?;
    if cases.is_empty() {
        anyhow::bail!("no Vela fixtures match (tests/fixtures/vela/<config>/*_int8_vela.tflite)");
    }
    let mut rows = Vec::new();
    let mut ok = true;
    for case in &cases {
        let perf = case
            .path
            .with_file_name(format!("{}_int8_vela_perf.txt", case.model));
        let result = std::fs::read_to_string(&perf)
            .map_err(|e| format!("{}: {e}", perf.display()))
            .and_then(|t| parse_perf(&t))
            .and_then(|vela| Ok((vela, engine::model_ops(&case.path)?)))
            .map(|(vela, ops)| match_ops(&vela, &ops));
        ok &= result.as_ref().is_ok_and(|m| m.unmatched.is_empty());
        rows.push((format!("{} {}", case.model, case.config), result));
    }
    print!("{}", table(&rows));
    Ok(ok)
}

fn table(rows: &[(String, Result<Matched, String>)]) -> String {
    let mut cats: Vec<String> = Vec::new();
    for (_, r) in rows {
        if let Ok(m) = r {
            for c in m.sums.keys() {
                if !cats.contains(c) {
                    cats.push(c.clone());
                }
            }
        }
    }
    let order = |c: &str| {
        [
            "conv",
            "depthwise",
            "fc",
            "pool avg",
            "pool max",
            "pool reduce-sum",
        ]
        .iter()
        .position(|x| *x == c)
        .unwrap_or(99)
    };
    cats.sort_by(|a, b| order(a).cmp(&order(b)).then(a.cmp(b)));
    let mut header = vec!["fixture".to_string(), "model cyc".into(), "Vela cyc".into()];
    header.push("all".into());
    header.extend(cats.iter().cloned());
    let mut cells = vec![header];
    let mut notes = Vec::new();
    let mut all: Sums = BTreeMap::new();
    let ratio = |s: Option<&(u64, f64)>| match s {
        Some(&(m, v)) if v > 0.0 => format!("{:.2}", m as f64 / v),
        _ => "-".into(),
    };
    for (name, r) in rows {
        let mut row = vec![name.clone()];
        match r {
            Ok(m) => {
                let tot = m
                    .sums
                    .values()
                    .fold((0u64, 0f64), |a, b| (a.0 + b.0, a.1 + b.1));
                row.push(tot.0.to_string());
                row.push(format!("{:.0}", tot.1));
                row.push(ratio(Some(&tot)));
                for c in &cats {
                    row.push(ratio(m.sums.get(c)));
                    if let Some(s) = m.sums.get(c) {
                        let e = all.entry(c.clone()).or_default();
                        e.0 += s.0;
                        e.1 += s.1;
                    }
                }
                if std::env::var_os("KILN_FIDELITY_DETAIL").is_some() {
                    for d in &m.detail {
                        notes.push(format!("{name}: {d}"));
                    }
                }
                for u in &m.unmatched {
                    notes.push(format!("{name}: unmatched: {u}"));
                }
            }
            Err(e) => {
                row.extend((0..3 + cats.len()).map(|_| "-".to_string()));
                notes.push(format!("{name}: {e}"));
            }
        }
        cells.push(row);
    }
    let tot = all
        .values()
        .fold((0u64, 0f64), |a, b| (a.0 + b.0, a.1 + b.1));
    let mut row = vec![
        "all fixtures".to_string(),
        tot.0.to_string(),
        format!("{:.0}", tot.1),
        ratio(Some(&tot)),
    ];
    row.extend(cats.iter().map(|c| ratio(all.get(c))));
    cells.push(row);
    let mut out = String::from(
        "\nkiln's cycle model vs Vela 5.2's own estimate on Vela's streams: model / Vela per \
         operation type (sums over the operations of the type; model = cycles each NPU \
         operation adds to the timeline, exposed DMA waits included; Vela = per-layer Op Cycles)\n",
    );
    out.push_str(&crate::bench::render_rows(&cells, 1, &|i| {
        i + 2 == cells.len()
    }));
    for n in notes {
        let _ = writeln!(out, "{n}");
    }
    out
}

/// The Vela packager and the NPU model, linked only with the `bench` feature.
#[cfg(feature = "bench")]
mod engine {
    use super::{Kind, ModelOp};
    use kiln_rt::ethos_u::cmd::CommandIter;
    use kiln_rt::ethos_u::payload::{Payload, Product};
    use kiln_rt::ethos_u::perf::Timeline;
    use kiln_rt::ethos_u::regs::{Cmd0Op, ElementwiseMode as E, Opcode, PoolingMode as P};
    use kiln_rt::ethos_u::sim::{NpuModel, OpKind, SimConfig};
    use kiln_rt::ethos_u::VelaBlob;
    use kiln_rt::pte::Program;
    use std::path::Path;

    fn kind(k: OpKind) -> Option<Kind> {
        Some(match k {
            OpKind::Conv => Kind::Conv,
            OpKind::Depthwise => Kind::Depthwise,
            OpKind::Pool(P::Max) => Kind::Pool("max"),
            OpKind::Pool(P::Average) => Kind::Pool("avg"),
            OpKind::Pool(P::ReduceSum) => Kind::Pool("reduce-sum"),
            OpKind::Elementwise(m) => Kind::Elementwise(match m {
                E::Mul => "mul",
                E::Add => "add",
                E::Sub => "sub",
                E::Min => "min",
                E::Max => "max",
                E::Lrelu => "lrelu",
                E::Abs => "abs",
                E::Clz => "clz",
                E::Shr => "shr",
                E::Shl => "shl",
            }),
            OpKind::Dma => return None,
        })
    }

    /// Packages the Vela `.tflite` at `path`, runs every Ethos-U delegate on the NPU model and
    /// returns its kernel operations in stream order, each with what it adds to the timeline.
    pub fn model_ops(path: &Path) -> Result<Vec<ModelOp>, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let pte = kiln_compiler::vela::compile_vela(path, &bytes).map_err(|e| e.to_string())?;
        let program = Program::load(&pte).map_err(|e| e.to_string())?;
        let plan = program.plan(0).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for d in 0..plan.delegate_count().map_err(|e| e.to_string())? {
            let d = plan.delegate(d).map_err(|e| e.to_string())?;
            if d.id != kiln_rt::ethos_u::BACKEND_ID {
                continue;
            }
            let blob = program
                .delegate_data(d.location, d.index)
                .map_err(|e| e.to_string())?;
            let fast = d
                .compile_spec_value(kiln_compiler::vela::FAST_SCRATCH_SPEC)
                .map_err(|e| e.to_string())?
                .and_then(|v| <[u8; 4]>::try_from(v).ok())
                .map_or(0, |b| u32::from_le_bytes(b) as usize);
            out.extend(delegate_ops(blob, fast)?);
        }
        Ok(out)
    }

    fn delegate_ops(blob: &[u8], fast_scratch: usize) -> Result<Vec<ModelOp>, String> {
        let b = VelaBlob::parse(blob).map_err(|e| format!("{e:?}"))?;
        let payload = Payload::parse(b.cmd_data).map_err(|e| format!("{e:?}"))?;
        let cfg = payload.config.ok_or("payload without optimizer config")?;
        let macs = cfg.config.macs_per_cc();
        let sim = match cfg.config.product() {
            Some(Product::EthosU55) => SimConfig::ethos_u55(macs),
            Some(Product::EthosU65) => SimConfig::ethos_u65(macs),
            _ => None,
        }
        .ok_or("configuration not modelled")?;
        let mut scratch = vec![0u8; (b.scratch_size as usize).max(16)];
        let mut fast = vec![0u8; fast_scratch];
        let mut regions = kiln_rt::ethos_u::sim::shared_sram_regions(b.weight_data, &mut scratch);
        if fast_scratch > 0 {
            regions[2] = kiln_rt::ethos_u::driver::Region::ReadWrite(&mut fast);
        }
        let mut mem = kiln_rt::ethos_u::driver::NpuMemory {
            command_stream: payload.command_stream,
            regions: &mut regions,
        };
        let mut reports = Vec::new();
        NpuModel::new(sim)
            .run_with(payload.command_stream, &mut mem, &mut |r| reports.push(*r))
            .map_err(|e| e.to_string())?;
        // Replay the timeline as the model does, to see what each kernel operation adds.
        let mut t = Timeline::default();
        let mut next = reports.iter().peekable();
        let mut ops = Vec::new();
        for c in CommandIter::from_bytes(payload.command_stream) {
            let c = c.map_err(|e| format!("{e:?}"))?;
            if let Some(r) = next.next_if(|r| r.offset == c.offset) {
                match kind(r.kind) {
                    None => t.dma(r.cycles),
                    Some(k) => {
                        let before = t.kernel_end();
                        t.kernel(r.cycles);
                        ops.push(ModelOp {
                            kind: k,
                            macs: if matches!(k, Kind::Conv | Kind::Depthwise) {
                                r.work
                            } else {
                                0
                            },
                            cycles: r.cycles,
                            exposed: t.kernel_end() - before,
                        });
                    }
                }
            }
            match c.opcode {
                Opcode::Cmd0(Cmd0Op::OP_DMA_WAIT) => t.dma_wait(u64::from(c.param & 3)),
                Opcode::Cmd0(Cmd0Op::OP_KERNEL_WAIT) => t.kernel_wait(u64::from(c.param & 3)),
                Opcode::Cmd0(Cmd0Op::OP_STOP) => break,
                _ => {}
            }
        }
        Ok(ops)
    }
}

/// Without the `bench` feature nothing is linked; `bench` re-runs xtask with it.
#[cfg(not(feature = "bench"))]
mod engine {
    use super::ModelOp;
    use std::path::Path;

    /// Always an error: the runtime is not linked.
    pub fn model_ops(_path: &Path) -> Result<Vec<ModelOp>, String> {
        Err("xtask was built without the `bench` feature".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_velas_per_layer_table() {
        let text = std::fs::read_to_string(
            crate::workspace_root()
                .join("tests/fixtures/vela/ethos-u55-64/kws_dscnn_int8_vela_perf.txt"),
        )
        .unwrap();
        let rows = parse_perf(&text).unwrap();
        assert_eq!(rows[0].nng, "Conv2D");
        assert_eq!(rows[0].cycles, 42965.0);
        assert_eq!(rows[0].macs, 320000);
        assert_eq!(rows[1].nng, "Relu");
        let fc = rows
            .iter()
            .find(|r| r.original == "FullyConnected")
            .unwrap();
        assert_eq!(fc.cycles, 1040.0);
        assert_eq!(rows.last().unwrap().nng, "Asr");
    }

    #[test]
    fn matches_sliced_operations_by_macs() {
        let row = |nng: &str, cycles, macs| VelaRow {
            nng: nng.into(),
            original: nng.into(),
            cycles,
            macs,
        };
        let op = |kind, macs, exposed| ModelOp {
            kind,
            macs,
            cycles: exposed,
            exposed,
        };
        let rows = [
            row("Conv2D", 100.0, 40),
            row("Relu", 0.0, 0),
            row("Add", 10.0, 0),
        ];
        let ops = [
            op(Kind::Conv, 20, 60),
            op(Kind::Conv, 20, 60),
            op(Kind::Elementwise("add"), 0, 5),
        ];
        let m = match_ops(&rows, &ops);
        assert!(m.unmatched.is_empty(), "{m:?}");
        assert_eq!(m.sums["conv"], (120, 100.0));
        assert_eq!(m.sums["ew add"], (5, 10.0));
        let t = table(&[("kws u55".into(), Ok(m))]);
        assert!(t.contains("1.20"), "{t}");
        assert!(t.contains("0.50"), "{t}");
    }
}
