//! `kiln compare A B`: runs two programs of one model on the same inputs and compares them
//! layer by layer, matching layers by the source-model node whose output they are.
//!
//! A side is a `.pte`, or an ONNX/TFLite model that is compiled for the host first. Every CPU
//! kernel's output is a layer; an NPU delegate only exposes its segment's outputs (what happens
//! inside it stays in the NPU's scratch), so layers inside a delegate are compared where both
//! sides have them: at the delegate's outputs. Layers only one side has are skipped.

use kiln_compiler::compile::{compile_file, CompileOptions};
use kiln_compiler::npy::{NpyArray, NpyDType};
use kiln_compiler::run::{HostModel, RunError};
use kiln_compiler::target::Target;
use kiln_compiler::trace::trace_run;
use kiln_rt::pte::{Instruction, Program};
use serde_json::{json, Value as Json};
use std::path::{Path, PathBuf};

/// One side's value of one layer.
#[derive(Clone, Debug)]
pub struct LayerValue {
    /// The source-model node whose output it is.
    pub node: String,
    /// Where it was computed: `CPU #<instruction>` or `NPU #<instruction>`.
    pub place: String,
    /// The tensor (memory order).
    pub array: NpyArray,
}

/// A program run layer by layer: its layers in execution order and its outputs.
pub struct LayerRun {
    /// The layers with a source node, in execution order (the last write of a node wins).
    pub layers: Vec<LayerValue>,
    /// The program outputs.
    pub outputs: Vec<NpyArray>,
}

/// Loads a side: a `.pte` as it is, any other file compiled for the host.
pub fn load_side(path: &Path) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    if path.extension().is_some_and(|e| e == "pte") {
        return std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()));
    }
    let host = Target::lookup("host")?;
    Ok(compile_file(path, &CompileOptions::for_target(host))?.pte)
}

/// Runs `pte` on `inputs`, keeping every instruction's outputs under their source node.
pub fn run_layers(pte: &[u8], inputs: &[NpyArray]) -> Result<LayerRun, RunError> {
    let mut model = HostModel::new(pte)?;
    let (outputs, trace) = trace_run(&mut model, inputs, true)?;
    let program = Program::load(pte)?;
    let plan = program.plan_by_name("forward")?;
    let mut layers: Vec<LayerValue> = Vec::new();
    let mut put = |node: &str, place: String, array: NpyArray| {
        // A node lowered to several kernels (e.g. dequantize, operator, quantize): its
        // output is the last one's.
        layers.retain(|l| l.node != node);
        layers.push(LayerValue {
            node: node.to_string(),
            place,
            array,
        });
    };
    for t in &trace {
        let src = plan.instruction_sources(t.index)?;
        match plan.instruction(t.index)? {
            Instruction::KernelCall { .. } => {
                if let (false, Some(out)) = (src.is_empty(), t.outputs.first()) {
                    put(src.name(0)?, format!("CPU #{}", t.index), out.array.clone());
                }
            }
            Instruction::DelegateCall { .. } => {
                for k in 0..src.len() {
                    let j = src
                        .context(k)?
                        .strip_prefix("output ")
                        .and_then(|j| j.parse::<usize>().ok());
                    if let Some(out) = j.and_then(|j| t.outputs.get(j)) {
                        put(src.name(k)?, format!("NPU #{}", t.index), out.array.clone());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(LayerRun { layers, outputs })
}

/// The elements of an array as `f64` (`.npy` integer and float types; bool as 0/1).
fn as_f64(a: &NpyArray) -> Vec<f64> {
    let n = a.dtype.size();
    a.data
        .chunks_exact(n)
        .map(|c| match a.dtype {
            NpyDType::Bool | NpyDType::U8 => c[0] as f64,
            NpyDType::I8 => c[0] as i8 as f64,
            NpyDType::I16 => i16::from_le_bytes([c[0], c[1]]) as f64,
            NpyDType::I32 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
            NpyDType::I64 => i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64,
            NpyDType::F32 => f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
            NpyDType::F64 => f64::from_le_bytes(c.try_into().unwrap_or([0; 8])),
        })
        .collect()
}

/// How two tensors of one layer differ.
#[derive(Clone, Debug, PartialEq)]
pub enum Diff {
    /// Same shape: the largest absolute difference and how many elements differ at all.
    Values {
        /// max |a - b|.
        max_abs: f64,
        /// Elements with a != b.
        differing: usize,
        /// Elements.
        total: usize,
    },
    /// Shapes or element types differ: the values cannot be compared element by element.
    Incomparable(String),
}

/// Compares two tensors.
pub fn diff(a: &NpyArray, b: &NpyArray) -> Diff {
    if a.shape != b.shape || a.dtype != b.dtype {
        return Diff::Incomparable(format!(
            "{} {:?} vs {} {:?}",
            a.dtype.name(),
            a.shape,
            b.dtype.name(),
            b.shape
        ));
    }
    let (x, y) = (as_f64(a), as_f64(b));
    let mut max_abs = 0f64;
    let mut differing = 0;
    for (p, q) in x.iter().zip(&y) {
        let nan_mismatch = p.is_nan() != q.is_nan();
        let d = if nan_mismatch {
            f64::INFINITY
        } else if p.is_nan() {
            0.0
        } else {
            (p - q).abs()
        };
        if d > 0.0 {
            differing += 1;
        }
        max_abs = max_abs.max(d);
    }
    Diff::Values {
        max_abs,
        differing,
        total: x.len(),
    }
}

/// The outcome of a comparison.
pub struct Comparison {
    /// One row per compared layer, in A's execution order, up to the first divergence.
    pub rows: Json,
    /// The first layer beyond the tolerance, with both tensors.
    pub divergence: Option<(String, NpyArray, NpyArray)>,
    /// Layers only one side has (not compared).
    pub unmatched: usize,
    /// Layers compared element by element.
    pub compared: usize,
    /// Layers both sides have whose shapes or element types differ.
    pub incomparable: usize,
}

/// Compares `a` and `b` layer by layer (then output by output) with `tolerance` on the
/// absolute difference; stops at the first layer beyond it.
pub fn compare(a: &LayerRun, b: &LayerRun, tolerance: f64) -> Comparison {
    let mut rows = Vec::new();
    let mut pairs: Vec<(String, String, String, &NpyArray, &NpyArray)> = Vec::new();
    for la in &a.layers {
        if let Some(lb) = b.layers.iter().find(|l| l.node == la.node) {
            pairs.push((
                la.node.clone(),
                la.place.clone(),
                lb.place.clone(),
                &la.array,
                &lb.array,
            ));
        }
    }
    let unmatched = a.layers.len() + b.layers.len() - 2 * pairs.len();
    for (k, (x, y)) in a.outputs.iter().zip(&b.outputs).enumerate() {
        pairs.push((format!("program output {k}"), "-".into(), "-".into(), x, y));
    }
    let (mut compared, mut incomparable) = (0, 0);
    for (node, pa, pb, x, y) in pairs {
        let d = diff(x, y);
        match d {
            Diff::Values { .. } => compared += 1,
            Diff::Incomparable(_) => incomparable += 1,
        }
        let beyond = match &d {
            Diff::Values { max_abs, .. } => *max_abs > tolerance,
            Diff::Incomparable(_) => false,
        };
        rows.push(match &d {
            Diff::Values {
                max_abs,
                differing,
                total,
            } => json!({
                "layer": node, "a": pa, "b": pb, "shape": x.shape, "dtype": x.dtype.name(),
                "max_abs_diff": max_abs, "differing": differing, "elements": total,
                "beyond_tolerance": beyond,
            }),
            Diff::Incomparable(why) => json!({
                "layer": node, "a": pa, "b": pb, "incomparable": why,
            }),
        });
        if beyond {
            return Comparison {
                rows: Json::Array(rows),
                divergence: Some((node, x.clone(), y.clone())),
                unmatched,
                compared,
                incomparable,
            };
        }
    }
    Comparison {
        rows: Json::Array(rows),
        divergence: None,
        unmatched,
        compared,
        incomparable,
    }
}

/// The comparison as a table for people.
pub fn render(c: &Comparison, tolerance: f64) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<10} {:<10} {:<18} {:>12} {:>18}  layer (source node)",
        "A", "B", "shape", "max |diff|", "differing"
    );
    for r in c.rows.as_array().into_iter().flatten() {
        let layer = r["layer"].as_str().unwrap_or("?");
        let (a, b) = (r["a"].as_str().unwrap_or(""), r["b"].as_str().unwrap_or(""));
        if let Some(why) = r["incomparable"].as_str() {
            let _ = writeln!(s, "{a:<10} {b:<10} not comparable: {why}  {layer}");
            continue;
        }
        let shape: Vec<String> = r["shape"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| d.to_string())
            .collect();
        let _ = writeln!(
            s,
            "{a:<10} {b:<10} {:<18} {:>12} {:>18}  {layer}",
            format!("[{}]", shape.join(", ")),
            r["max_abs_diff"]
                .as_f64()
                .map_or(String::new(), |d| format!("{d}")),
            format!("{}/{}", r["differing"], r["elements"]),
        );
    }
    match &c.divergence {
        Some((layer, ..)) => {
            let _ = writeln!(s, "diverged at '{layer}': beyond the tolerance {tolerance}");
        }
        None => {
            let _ = writeln!(
                s,
                "all {} compared layers agree within {tolerance}; {} not comparable (shape or \
                 type differ), {} only one side has",
                c.compared, c.incomparable, c.unmatched
            );
        }
    }
    s
}

/// A file name for a layer's dump: the node name with anything but `[A-Za-z0-9._-]` as `_`.
pub fn dump_name(layer: &str) -> String {
    layer
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes both tensors of a divergent layer into `dir` as `<layer>.a.npy` and `<layer>.b.npy`.
pub fn dump(
    dir: &Path,
    layer: &str,
    a: &NpyArray,
    b: &NpyArray,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let base = dump_name(layer);
    let pa = dir.join(format!("{base}.a.npy"));
    let pb = dir.join(format!("{base}.b.npy"));
    a.write(&pa)?;
    b.write(&pb)?;
    Ok((pa, pb))
}
