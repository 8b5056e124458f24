//! The compiler driver: model file in, `.pte` bytes and a report out.

use crate::error::{CompileError, Result};
use crate::ir::Graph;
use crate::lower::assemble::{assemble_with, Assembled, NpuSpec};
use crate::passes::{self, PassOptions};
use crate::target::Target;
use std::fmt;
use std::path::Path;

/// What `kiln compile` and the build-script helper can ask for.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// The target (CPU, NPU, memory regions).
    pub target: &'static Target,
    /// Delegate what the target's NPU can run to it (`--no-delegate` / `delegate = false` turn it off).
    pub delegate: bool,
    /// Operators the NPU cannot run stay on the CPU (`--no-cpu-fallback` / `cpu_fallback = false`
    /// make them a compile error).
    pub cpu_fallback: bool,
    /// Most bytes of SRAM the NPU may use (`--sram-budget` / `sram_budget = N`): the U55's
    /// scratch, the U65's fast scratch; `None`: what the system gives.
    pub sram_budget: Option<u64>,
    /// Record each instruction's source-model nodes in the `.pte` (the chain's `stacktrace`,
    /// which `kiln run --profile`, `kiln compare` and `kiln inspect` show; a few bytes of flash
    /// per instruction, `--no-debug-info` leaves them out).
    pub debug_info: bool,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            target: Target::host(),
            delegate: true,
            cpu_fallback: true,
            sram_budget: None,
            debug_info: true,
        }
    }
}

impl CompileOptions {
    /// Options for `target` with the defaults (delegate, CPU fallback).
    pub fn for_target(target: &'static Target) -> Self {
        CompileOptions {
            target,
            ..CompileOptions::default()
        }
    }
}

/// Input formats kiln reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelFormat {
    /// ONNX protobuf.
    Onnx,
    /// TFLite flatbuffer (`TFL3`).
    Tflite,
    /// TFLite compiled by Arm's Vela: one `ethos-u` operator, packaged as an `EthosUBackend` delegate.
    VelaTflite,
}

impl fmt::Display for ModelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelFormat::Onnx => "ONNX",
            ModelFormat::Tflite => "TFLite",
            ModelFormat::VelaTflite => "Vela TFLite",
        })
    }
}

/// Decides the format from the file's content (TFLite's identifier) and, failing that, its extension.
pub fn detect_format(path: &Path, bytes: &[u8]) -> Result<ModelFormat> {
    if bytes.get(4..8) == Some(b"TFL3") {
        return Ok(ModelFormat::Tflite);
    }
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("onnx") => Ok(ModelFormat::Onnx),
        Some("tflite") => Ok(ModelFormat::Tflite),
        _ => Err(CompileError::Malformed {
            path: path.to_path_buf(),
            format: "model",
            reason: "not a TFLite flatbuffer (no TFL3 identifier) and not named *.onnx or *.tflite"
                .into(),
        }),
    }
}

pub use crate::report::NodeReport;

/// What the compiler tells the user about a compiled model.
#[derive(Clone, Debug, PartialEq)]
pub struct CompileReport {
    /// Model file.
    pub model: String,
    /// Input format.
    pub format: ModelFormat,
    /// Target name.
    pub target: &'static str,
    /// Placement per node.
    pub nodes: Vec<NodeReport>,
    /// Operators kept in f32 between a dequantize and a quantize, with the reason.
    pub f32_fallbacks: Vec<String>,
    /// Notes (e.g. NPU targets compiled CPU-only).
    pub notes: Vec<String>,
    /// Planned arena size in bytes.
    pub arena_bytes: usize,
    /// Liveness lower bound in bytes.
    pub liveness_bound: usize,
    /// Bytes of constant data in the `.pte`.
    pub constant_bytes: usize,
    /// Size of the `.pte`.
    pub pte_bytes: usize,
    /// Transposes in the graph after import and after the passes.
    pub transposes: (usize, usize),
}

impl fmt::Display for CompileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "model   {} ({}), target {}",
            self.model, self.format, self.target
        )?;
        for n in &self.notes {
            writeln!(f, "note    {n}")?;
        }
        for n in &self.nodes {
            let k = if n.kernels.is_empty() {
                "(alias, no instruction)".to_string()
            } else {
                n.kernels.join(" + ")
            };
            writeln!(
                f,
                "  {:<28} {:<18} -> {} [{}]",
                n.node, n.source_op, k, n.placement
            )?;
        }
        for fb in &self.f32_fallbacks {
            writeln!(f, "f32     {fb}")?;
        }
        writeln!(
            f,
            "arena   {} bytes (liveness lower bound {} bytes)",
            self.arena_bytes, self.liveness_bound
        )?;
        writeln!(f, "consts  {} bytes", self.constant_bytes)?;
        writeln!(
            f,
            "transp. {} after import, {} after passes",
            self.transposes.0, self.transposes.1
        )?;
        write!(f, ".pte    {} bytes", self.pte_bytes)
    }
}

/// A compiled model.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The `.pte` file contents.
    pub pte: Vec<u8>,
    /// The report.
    pub report: CompileReport,
    /// The graph after the passes (for inspection and tests).
    pub graph: Graph,
}

/// Imports a model file into the IR (no passes).
pub fn import(path: &Path, bytes: &[u8]) -> Result<(ModelFormat, Graph)> {
    let format = detect_format(path, bytes)?;
    let g = match format {
        ModelFormat::Onnx => crate::import::onnx::import(path, bytes)?,
        ModelFormat::Tflite | ModelFormat::VelaTflite => {
            crate::import::tflite::import(path, bytes)?
        }
    };
    Ok((format, g))
}

/// Compiles the model at `path`.
pub fn compile_file(path: &Path, opts: &CompileOptions) -> Result<Compiled> {
    let bytes = crate::limits::read_file(path)?;
    compile_bytes(path, &bytes, opts)
}

/// Compiles a model given its bytes; `path` names it in errors and decides the format with the content.
pub fn compile_bytes(path: &Path, bytes: &[u8], opts: &CompileOptions) -> Result<Compiled> {
    if crate::vela::is_vela_tflite(path, bytes) {
        return compile_vela_model(path, bytes, opts);
    }
    let (format, mut g) = import(path, bytes)?;
    let pass_report = passes::optimize(&mut g, &PassOptions::default())?;
    let npu = match (opts.target.accel(), opts.delegate) {
        (Some(cfg), true) => Some(NpuSpec {
            cfg,
            cpu_fallback: opts.cpu_fallback,
            sram_budget: opts
                .sram_budget
                .map(|b| usize::try_from(b).unwrap_or(usize::MAX)),
        }),
        _ => None,
    };
    let (before, after) = (pass_report.transposes_before, pass_report.transposes_after);
    let Assembled {
        pte,
        arena_bytes,
        liveness_bound,
        constant_bytes,
        nodes,
        delegates,
    } = assemble_with(&g, npu.as_ref(), opts.debug_info)?;
    let mut notes = Vec::new();
    if opts.target.npu.is_some() && !opts.delegate {
        notes.push(format!(
            "delegation turned off: every operator runs on the {:?} CPU of {}",
            opts.target.cpu, opts.target.name
        ));
    }
    for (k, d) in delegates.iter().enumerate() {
        notes.push(format!(
            "ethos-u delegate {k}: {} NPU operations, command stream {} B, weights {} B, scratch {} B{}",
            d.ops.len(),
            d.stream_bytes,
            d.weight_bytes,
            d.scratch_bytes,
            if d.fast_scratch_bytes > 0 {
                format!(", fast scratch {} B", d.fast_scratch_bytes)
            } else {
                String::new()
            }
        ));
    }
    let report = CompileReport {
        model: path.display().to_string(),
        format,
        target: opts.target.name,
        nodes,
        f32_fallbacks: pass_report
            .kept_f32
            .iter()
            .map(|k| {
                format!(
                    "{} ({}) runs in f32 between dequantize and quantize: {}",
                    k.node, k.op, k.reason
                )
            })
            .collect(),
        notes: notes
            .into_iter()
            .chain(pass_report.notes.iter().cloned())
            .collect(),
        arena_bytes,
        liveness_bound,
        constant_bytes,
        pte_bytes: pte.len(),
        transposes: (before, after),
    };
    Ok(Compiled {
        pte,
        report,
        graph: g,
    })
}

/// A Vela-optimized TFLite: Vela already compiled it for the NPU; kiln packages its command
/// stream and weights as ExecuTorch's `EthosUBackend` delegate blob.
fn compile_vela_model(path: &Path, bytes: &[u8], opts: &CompileOptions) -> Result<Compiled> {
    let pte = crate::vela::compile_vela(path, bytes)?;
    check_vela_config(path, &pte, opts.target)?;
    let mut notes = vec![
        "Vela-optimized model: the whole graph runs on the Ethos-U NPU as one delegate".to_string(),
    ];
    if opts.target.npu.is_none() {
        notes.push(format!(
            "target {} has no NPU: run it with the NPU model (host) or on an Ethos-U target",
            opts.target.name
        ));
    }
    let arena_bytes = kiln_rt::pte::Program::load(&pte)
        .ok()
        .and_then(|p| kiln_rt::exec::Method::arena_size(&p, "forward").ok())
        .unwrap_or(0);
    let report = CompileReport {
        model: path.display().to_string(),
        format: ModelFormat::VelaTflite,
        target: opts.target.name,
        nodes: vec![NodeReport {
            node: "ethos-u".into(),
            source_op: "CUSTOM ethos-u".into(),
            kernels: vec![format!("delegate {}", crate::vela::BACKEND_ID)],
            placement: "npu".into(),
        }],
        f32_fallbacks: vec![],
        notes,
        arena_bytes,
        liveness_bound: arena_bytes,
        constant_bytes: 0,
        pte_bytes: pte.len(),
        transposes: (0, 0),
    };
    // The graph's I/O tensors carry the model's quantization (for include_model!'s constants).
    let m = crate::import::tflite::read_vela_custom_ops(path, bytes)?;
    let graph = Graph {
        source: path.to_path_buf(),
        inputs: m.inputs.iter().map(|&i| crate::ir::TensorId(i)).collect(),
        outputs: m.outputs.iter().map(|&i| crate::ir::TensorId(i)).collect(),
        tensors: m.tensors,
        ..Graph::default()
    };
    Ok(Compiled { pte, report, graph })
}

/// The Ethos-U configuration a program's first `EthosUBackend` delegate was compiled for, as a
/// target name (`ethos-u55-128`), from its COP1 payload.
pub fn delegate_config(pte: &[u8]) -> Option<String> {
    use kiln_rt::ethos_u::payload::{Payload, Product};
    let program = kiln_rt::pte::Program::load(pte).ok()?;
    let plan = program.plan_by_name("forward").ok()?;
    for i in 0..plan.delegate_count().ok()? {
        let d = plan.delegate(i).ok()?;
        if d.id != kiln_rt::ethos_u::BACKEND_ID {
            continue;
        }
        let blob =
            kiln_rt::ethos_u::VelaBlob::parse(program.delegate_data(d.location, d.index).ok()?)
                .ok()?;
        let cfg = Payload::parse(blob.cmd_data).ok()?.config?;
        let family = match cfg.config.product() {
            Some(Product::EthosU55) => "u55",
            Some(Product::EthosU65) => "u65",
            _ => return None,
        };
        return Some(format!("ethos-{family}-{}", cfg.config.macs_per_cc()));
    }
    None
}

/// A Vela model runs only on the NPU it was compiled for (the host runs any on the NPU model).
fn check_vela_config(path: &Path, pte: &[u8], target: &Target) -> Result<()> {
    if target.cpu == crate::target::Cpu::Host {
        return Ok(());
    }
    let compiled_for = delegate_config(pte);
    let wanted = target.npu.map(|n| {
        format!(
            "ethos-{}-{}",
            match n.family {
                crate::target::NpuFamily::U55 => "u55",
                crate::target::NpuFamily::U65 => "u65",
            },
            n.macs
        )
    });
    if compiled_for.is_some() && compiled_for == wanted {
        return Ok(());
    }
    Err(CompileError::Unsupported {
        path: path.to_path_buf(),
        node: "ethos-u".into(),
        op_type: "ethos-u".into(),
        reason: format!(
            "Vela compiled this model for {}, but target {} {}; compile the model for the target's NPU (vela --accelerator-config) or choose the matching target",
            compiled_for.as_deref().unwrap_or("an unknown configuration"),
            target.name,
            match &wanted {
                Some(w) => format!("has an {w}"),
                None => "has no NPU".into(),
            }
        ),
    })
}
