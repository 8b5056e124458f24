//! The build-script helper behind `include_model!`.
//!
//! In a firmware crate's `build.rs` (with `kiln-build` in `[build-dependencies]`):
//!
//! ```text
//! fn main() {
//!     kiln_build::compile_models();
//! }
//! ```
//!
//! [`compile_models`] parses every `.rs` file under `src/` and `examples/` with syn, finds
//! each `include_model!(...)` call (any path ending in `include_model`), reads its arguments
//! with the parser the macro itself uses (`kiln-model-syntax`), and for each model writes
//! into `$OUT_DIR/kiln/`:
//!
//! - `<name>.pte` — the compiled program, and `<name>.rs` — the module body the macro
//!   includes (see [`generate`] for its exact API), or
//! - `<name>.error` — why the model could not be built (file, node, operator, reason; or the
//!   memory contract); the macro turns it into a compile error at the call.
//!
//! It never panics and never fails the build script itself. A content hash (model bytes,
//! options, compiler identity) in `<name>.hash` skips recompiling unchanged models.
//!
//! Every run stamps the models it handled with its own id (`<name>.build-id`) and hands the id
//! to the crate's compilation (`cargo:rustc-env=KILN_BUILD_ID=...`); `include_model!` refuses
//! outputs with another stamp — left in `OUT_DIR` by an earlier build whose build script no
//! longer runs or no longer sees the call — instead of embedding a possibly stale model. The
//! scan honours `#[cfg]`: a call behind a disabled feature (`CARGO_FEATURE_*`) or another
//! target (`CARGO_CFG_*`) is not compiled; a cfg the build script cannot decide (`test`)
//! compiles the model.
//! `ethos-u*` targets are compiled CPU-only for their Cortex-M55 until kiln compiles for the
//! NPU, with a `cargo:warning` saying so.
//!
//! Memory contract: the arena must fit the region it is placed in — `arena_region = "..."`,
//! default the target's data RAM ([`Target::data_region`], DTCM on Corstone-300) — or an
//! explicit `budget = <bytes>`, which overrides the region's size. Targets without a memory
//! map (host, ...) are only checked against an explicit budget.

mod build_target;
mod cfg;
mod codegen;

pub use build_target::BuildTarget;
pub use codegen::generate;

/// NumPy `.npy` I/O, for build scripts that embed test vectors next to a model.
pub use kiln_compiler::npy;

use kiln_compiler::compile::{compile_bytes, CompileOptions, Compiled};
use kiln_compiler::ir::Graph;
use kiln_compiler::run::{all_kernels, AlignedBytes};
use kiln_compiler::target::Target;
use kiln_model_syntax::{generated_error, generated_rs, BuildError, Field, ModelSpec};
use kiln_rt::exec::Method;
use kiln_rt::ops::OpKind;
use kiln_rt::pte::{Program, ScalarType, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Compiles every model named by an `include_model!` call in the crate; call it from `build.rs`.
///
/// Reads `CARGO_MANIFEST_DIR` and `OUT_DIR`, prints `cargo:rerun-if-changed` for the source
/// folders and model files and `cargo:warning` lines for notes. Errors go to the macro call.
pub fn compile_models() {
    let (Some(manifest), Some(out)) = (
        std::env::var_os("CARGO_MANIFEST_DIR"),
        std::env::var_os("OUT_DIR"),
    ) else {
        println!("cargo:warning=kiln_build::compile_models() must run from a build script (CARGO_MANIFEST_DIR / OUT_DIR are not set)");
        return;
    };
    // Cargo tells build scripts the target they build for.
    let bare_metal = std::env::var("TARGET").is_ok_and(|t| t.contains("-none"));
    let report = Builder::new(manifest.into(), out.into())
        .bare_metal(bare_metal)
        .build_target(BuildTarget::from_env())
        .run();
    for p in &report.rerun_if_changed {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    for w in &report.warnings {
        // Cargo reads one directive per line.
        println!("cargo:warning={}", w.replace('\n', " "));
    }
    // `include_model!` uses only outputs stamped with this id (cargo replays this line while
    // the build script does not need to rerun, and the stamps stay as they are).
    println!(
        "cargo:rustc-env={}={}",
        kiln_model_syntax::BUILD_ID_ENV,
        report.build_id
    );
    for script in &report.linker_scripts {
        if let (Some(dir), Some(file)) = (script.parent(), script.file_name()) {
            println!("cargo:rustc-link-search={}", dir.display());
            println!("cargo:rustc-link-arg=-T{}", file.to_string_lossy());
        }
    }
}

/// The linker script that places the arenas of `arena_region` calls: one section
/// `.kiln_arena.<region>` per region, into the memory region the firmware's `memory.x` aliases
/// as `KILN_<REGION>` (e.g. `REGION_ALIAS("KILN_ISRAM", SRAM2);`). Uninitialised (`NOLOAD`):
/// the arena's state lives in `.bss`. Inserted after `.rodata`: cortex-m-rt zeroes `.bss` up to
/// the location counter after the sections inserted after `.bss`, which must stay in RAM.
pub fn arena_linker_script(regions: &[String]) -> String {
    let mut s = String::from(
        "/* Generated by kiln-build: the arenas of include_model!(.., arena_region = ..). */\n",
    );
    for r in regions {
        let section = codegen::arena_section(r);
        let _ = writeln!(
            s,
            "SECTIONS {{\n  {section} (NOLOAD) : ALIGN(16) {{ KEEP(*({section} {section}.*)); }} > KILN_{}\n}} INSERT AFTER .rodata;",
            r.to_ascii_uppercase()
        );
    }
    s
}

/// Where to look for `include_model!` calls and where to write; [`compile_models`] with explicit paths.
#[derive(Clone, Debug)]
pub struct Builder {
    manifest_dir: PathBuf,
    out_dir: PathBuf,
    sources: Vec<PathBuf>,
    bare_metal: bool,
    cfg: cfg::CfgEnv,
    build_target: BuildTarget,
}

/// One `include_model!` call and what became of it.
#[derive(Clone, Debug)]
pub struct ModelOutcome {
    /// The generated module's name.
    pub name: String,
    /// Source file with the call.
    pub source: PathBuf,
    /// What was built, or the error the macro will report.
    pub result: Result<Built, BuildError>,
}

/// A model that was built.
#[derive(Clone, Debug, PartialEq)]
pub struct Built {
    /// Arena bytes.
    pub arena_bytes: usize,
    /// `.pte` bytes.
    pub pte_bytes: usize,
    /// The kernels the model uses, in the program's operator order.
    pub kernels: Vec<OpKind>,
    /// Whether the previous build's output was reused (content hash unchanged).
    pub cached: bool,
}

/// Everything one run did.
#[derive(Clone, Debug, Default)]
pub struct BuildReport {
    /// One entry per distinct module name.
    pub models: Vec<ModelOutcome>,
    /// Paths whose change must rerun the build script.
    pub rerun_if_changed: Vec<PathBuf>,
    /// Notes for `cargo:warning`.
    pub warnings: Vec<String>,
    /// Linker scripts the firmware must link (`arena_region`: the sections per region).
    pub linker_scripts: Vec<PathBuf>,
    /// The id of this run, stamped next to every model's outputs; [`compile_models`] hands it
    /// to the crate's compilation as [`kiln_model_syntax::BUILD_ID_ENV`].
    pub build_id: String,
}

/// Input or output of a compiled program, as the generated code types it.
#[derive(Clone, Debug, PartialEq)]
pub struct IoInfo {
    /// Rust element type (`i8`, `f32`, ...).
    pub rust_type: &'static str,
    /// Shape.
    pub shape: Vec<usize>,
    /// Quantization scale (1.0 when not quantized).
    pub scale: f32,
    /// Quantization zero point (0 when not quantized).
    pub zero_point: i32,
}

impl IoInfo {
    fn len(&self) -> usize {
        self.shape.iter().product()
    }
}

/// What [`generate`] needs about a compiled model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// Arena bytes.
    pub arena_bytes: usize,
    /// Inputs in plan order.
    pub inputs: Vec<IoInfo>,
    /// Outputs in plan order.
    pub outputs: Vec<IoInfo>,
    /// Operators of the plan (distinct, in first-use order).
    pub kernels: Vec<OpKind>,
    /// Bytes of Ethos-U scratch the program's `EthosUBackend` delegates need (0 without delegates).
    pub npu_scratch_bytes: usize,
    /// Bytes of Ethos-U fast scratch (region 2, U65 Dedicated_Sram) they need (0: none).
    pub npu_fast_scratch_bytes: usize,
}

impl Builder {
    /// Writes the linker script for `arena_region` placements and checks that the crate's
    /// `memory.x` names the region aliases it needs.
    fn place_arenas(&self, regions: &[String], report: &mut BuildReport) {
        if regions.is_empty() || !self.bare_metal {
            return;
        }
        let script = self.out_dir.join("kiln_arenas.x");
        if let Err(e) = write_if_changed(&script, arena_linker_script(regions).as_bytes()) {
            report
                .warnings
                .push(format!("kiln: cannot write {}: {e}", script.display()));
            return;
        }
        report.linker_scripts.push(script);
        let memory_x = self.manifest_dir.join("memory.x");
        let text = std::fs::read_to_string(&memory_x).unwrap_or_default();
        for r in regions {
            let alias = format!("KILN_{r}");
            if !text.contains(&alias) {
                report.warnings.push(format!(
                    "kiln: arena_region = \"{r}\" places arenas in section {}; add REGION_ALIAS(\"{alias}\", <your region for {r}>); to {}",
                    codegen::arena_section(r),
                    memory_x.display()
                ));
            }
        }
    }

    /// A builder for the crate at `manifest_dir` writing to `out_dir`, scanning `src/` and `examples/`.
    pub fn new(manifest_dir: PathBuf, out_dir: PathBuf) -> Builder {
        let sources = vec![manifest_dir.join("src"), manifest_dir.join("examples")];
        Builder {
            manifest_dir,
            out_dir,
            sources,
            bare_metal: false,
            cfg: cfg::CfgEnv::from_env(),
            build_target: BuildTarget::default(),
        }
    }

    /// The triple and target CPU the crate is built for: each call's `target` must match.
    pub fn build_target(mut self, build_target: BuildTarget) -> Builder {
        self.build_target = build_target;
        self
    }

    /// The enabled features (by default the `CARGO_FEATURE_*` variables cargo gives build
    /// scripts): a call behind `#[cfg(feature = "...")]` of another feature is not compiled.
    pub fn features<S: AsRef<str>>(mut self, features: &[S]) -> Builder {
        self.cfg.features = features
            .iter()
            .map(|f| cfg::feature_key(f.as_ref()))
            .collect();
        self
    }

    /// Whether the crate is built for a bare-metal target (`*-none-*`): only then are arenas
    /// placed with a linker script (elsewhere `link_section` is not applied).
    pub fn bare_metal(mut self, bare_metal: bool) -> Builder {
        self.bare_metal = bare_metal;
        self
    }

    /// Scans these files or folders instead (relative paths are relative to the manifest dir).
    pub fn sources(mut self, sources: Vec<PathBuf>) -> Builder {
        self.sources = sources
            .into_iter()
            .map(|p| self.manifest_dir.join(p))
            .collect();
        self
    }

    /// Finds the calls, builds every model, writes `$OUT_DIR/kiln/`.
    pub fn run(&self) -> BuildReport {
        let mut report = BuildReport {
            build_id: build_id(),
            ..BuildReport::default()
        };
        let mut files = Vec::new();
        for s in &self.sources {
            if s.exists() {
                report.rerun_if_changed.push(s.clone());
                collect_rs(s, &mut files);
            }
        }
        files.sort();
        let mut calls: Vec<(PathBuf, ModelSpec)> = Vec::new();
        for f in &files {
            let Ok(text) = std::fs::read_to_string(f) else {
                continue;
            };
            // A file that does not parse is rustc's to report.
            let Ok(ast) = syn::parse_file(&text) else {
                continue;
            };
            let mut v = Finder {
                cfg: &self.cfg,
                calls: Vec::new(),
            };
            syn::visit::Visit::visit_file(&mut v, &ast);
            // A call the parser rejects is the macro's to report (same parser, precise span).
            calls.extend(v.calls.into_iter().map(|s| (f.clone(), s)));
        }
        let mut calls_regions: Vec<String> = calls
            .iter()
            .filter_map(|(_, s)| {
                s.arena_region
                    .as_ref()
                    .map(|r| r.value.to_ascii_uppercase())
            })
            .collect();
        calls_regions.sort();
        calls_regions.dedup();
        let mut by_name: BTreeMap<String, Vec<(PathBuf, ModelSpec)>> = BTreeMap::new();
        for (f, s) in calls {
            by_name.entry(s.module_name()).or_default().push((f, s));
        }
        let dir = self.out_dir.join(kiln_model_syntax::GENERATED_DIR);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            report.warnings.push(format!(
                "kiln: cannot create {}: {e}; include_model! will report every model missing",
                dir.display()
            ));
            return report;
        }
        for (name, group) in by_name {
            let (source, spec) = group[0].clone();
            let model = self.manifest_dir.join(&spec.path.value);
            if !report.rerun_if_changed.contains(&model) {
                report.rerun_if_changed.push(model);
            }
            let distinct: Vec<&(PathBuf, ModelSpec)> = group
                .iter()
                .filter(|(_, s)| s.canonical() != spec.canonical())
                .collect();
            let result = if let Some((other_file, _)) = distinct.first() {
                Err(BuildError {
                    field: if spec.name.is_some() {
                        Field::Name
                    } else {
                        Field::Path
                    },
                    message: format!(
                        "two include_model! calls with different arguments make a module named `{name}` ({} and {}): give one of them `name = ...`",
                        source.display(),
                        other_file.display()
                    ),
                })
            } else {
                self.build_one(&name, &spec, &mut report.warnings)
            };
            self.write_result(&name, &result, &mut report.warnings);
            // Written on every run, built or cached: this run vouches for the outputs.
            let stamp = kiln_model_syntax::generated_stamp(&self.out_dir, &name);
            if let Err(e) = std::fs::write(&stamp, &report.build_id) {
                report.warnings.push(format!(
                    "kiln: model `{name}`: cannot write {}: {e}",
                    stamp.display()
                ));
            }
            report.models.push(ModelOutcome {
                name,
                source,
                result: result.map(|(b, _)| b),
            });
        }
        self.place_arenas(&calls_regions, &mut report);
        report
    }

    fn build_one(
        &self,
        name: &str,
        spec: &ModelSpec,
        _warnings: &mut Vec<String>,
    ) -> Result<(Built, Option<Output>), BuildError> {
        let err = |field: Field, message: String| BuildError { field, message };
        let target =
            Target::lookup(&spec.target.value).map_err(|e| err(Field::Target, e.to_string()))?;
        self.build_target
            .check(target)
            .map_err(|m| err(Field::Target, m))?;
        let limit = memory_limit(target, spec)?;
        let path = self.manifest_dir.join(&spec.path.value);
        let bytes = kiln_compiler::limits::read_file(&path).map_err(|e| {
            let not_found = matches!(&e, kiln_compiler::limits::ReadError::Io { source, .. }
                if source.kind() == std::io::ErrorKind::NotFound);
            err(
                Field::Path,
                if not_found {
                    format!(
                        "model file not found: {} (include_model! paths are relative to the crate's Cargo.toml folder, {})",
                        spec.path.value,
                        self.manifest_dir.display()
                    )
                } else {
                    e.to_string()
                },
            )
        })?;
        let hash = cache_key(&bytes, spec, target);
        let dir = self.out_dir.join(kiln_model_syntax::GENERATED_DIR);
        let hash_file = dir.join(format!("{name}.hash"));
        let rs = generated_rs(&self.out_dir, name);
        let pte = dir.join(format!("{name}.pte"));
        if std::fs::read_to_string(&hash_file).ok().as_deref() == Some(hash.as_str())
            && rs.is_file()
            && pte.is_file()
        {
            if let Ok(b) = cached_built(&pte) {
                return Ok((b, None));
            }
        }
        // Named as the call spells it: errors read "models/kws.tflite: node ...".
        let shown = Path::new(&spec.path.value);
        let compiled = compile_bytes(
            shown,
            &bytes,
            &CompileOptions {
                target,
                delegate: spec.delegate(),
                cpu_fallback: spec.cpu_fallback(),
                sram_budget: spec.sram_budget.as_ref().map(|b| b.value),
                debug_info: true,
            },
        )
        .map_err(|e| {
            let field = if matches!(e, kiln_compiler::error::CompileError::SramBudget { .. }) {
                Field::SramBudget
            } else {
                Field::Path
            };
            err(field, e.to_string())
        })?;
        let info = inspect(&compiled.pte, &compiled.graph).map_err(|e| {
            err(
                Field::Path,
                format!(
                    "{}: kiln-rt cannot run the compiled program: {e}",
                    shown.display()
                ),
            )
        })?;
        if let Some(l) = &limit {
            l.check(name, &spec.path.value, info.arena_bytes)?;
        }
        check_npu_scratch(name, &spec.path.value, target, &info)
            .map_err(|m| err(Field::Target, m))?;
        let source = generate(spec, target, &pte, &info).map_err(|m| err(Field::Path, m))?;
        Ok((
            Built {
                arena_bytes: info.arena_bytes,
                pte_bytes: compiled.pte.len(),
                kernels: info.kernels.clone(),
                cached: false,
            },
            Some(Output {
                compiled,
                source,
                hash,
            }),
        ))
    }

    fn write_result(
        &self,
        name: &str,
        result: &Result<(Built, Option<Output>), BuildError>,
        warnings: &mut Vec<String>,
    ) {
        let dir = self.out_dir.join(kiln_model_syntax::GENERATED_DIR);
        let rs = generated_rs(&self.out_dir, name);
        let error = generated_error(&self.out_dir, name);
        let hash = dir.join(format!("{name}.hash"));
        let pte = dir.join(format!("{name}.pte"));
        let written = match result {
            Ok((_, None)) => remove(&error),
            Ok((_, Some(o))) => remove(&error)
                .and_then(|_| write_if_changed(&pte, &o.compiled.pte))
                .and_then(|_| write_if_changed(&rs, o.source.as_bytes()))
                .and_then(|_| {
                    // The placement of every operator (NPU or CPU, and why), for people.
                    let report = dir.join(format!("{name}.report.txt"));
                    write_if_changed(&report, format!("{}\n", o.compiled.report).as_bytes())
                })
                .and_then(|_| write_if_changed(&hash, o.hash.as_bytes())),
            Err(e) => remove(&rs)
                .and_then(|_| remove(&hash))
                .and_then(|_| write_if_changed(&error, e.to_file().as_bytes())),
        };
        if let Err(e) = written {
            warnings.push(format!(
                "kiln: model `{name}`: cannot write into {}: {e}",
                dir.display()
            ));
        }
    }
}

/// A freshly compiled model and its generated code.
#[derive(Clone, Debug)]
struct Output {
    compiled: Compiled,
    source: String,
    hash: String,
}

/// The arena limit a call sets: a region's size or an explicit budget.
struct Limit {
    bytes: u64,
    what: String,
    field: Field,
}

fn memory_limit(target: &Target, spec: &ModelSpec) -> Result<Option<Limit>, BuildError> {
    let region = match &spec.arena_region {
        Some(r) => Some(target.region(&r.value).map_err(|e| BuildError {
            field: Field::ArenaRegion,
            message: e.to_string(),
        })?),
        None => None,
    };
    if let Some(b) = &spec.budget {
        return Ok(Some(Limit {
            bytes: b.value,
            what: "the budget".into(),
            field: Field::Budget,
        }));
    }
    Ok(match region {
        Some(r) => Some(Limit {
            bytes: u64::from(r.size),
            what: format!("region {r} of target {}", target.name),
            field: Field::ArenaRegion,
        }),
        None => target.data_region().map(|r| Limit {
            bytes: u64::from(r.size),
            what: format!(
                "region {r}, the data RAM of target {} (choose another with arena_region = \"...\")",
                target.name
            ),
            field: Field::Target,
        }),
    })
}

impl Limit {
    fn check(&self, name: &str, path: &str, arena: usize) -> Result<(), BuildError> {
        let need = arena as u64;
        if need <= self.bytes {
            return Ok(());
        }
        Err(BuildError {
            field: self.field,
            message: format!(
                "model `{name}` ({path}) does not fit its memory: the arena needs {need} bytes, {} allows {} bytes: {} bytes over (raise it with budget = <bytes> or place the arena elsewhere with arena_region = \"...\")",
                self.what,
                self.bytes,
                need - self.bytes
            ),
        })
    }
}

/// sha256 over the model bytes, the call's options, the target and the compiler's identity.
fn cache_key(bytes: &[u8], spec: &ModelSpec, target: &Target) -> String {
    let mut h = Sha256::new();
    h.update(bytes);
    h.update(spec.canonical().as_bytes());
    h.update(target.name.as_bytes());
    h.update(compiler_identity().as_bytes());
    h.finalize().iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// kiln-build's version plus the size and modification time of the running build script, which
/// links the compiler: a rebuilt compiler invalidates every cached model.
fn compiler_identity() -> String {
    let exe = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| format!("{}:{:?}", m.len(), m.modified().ok()))
        .unwrap_or_default();
    format!("kiln-build {} {exe}", env!("CARGO_PKG_VERSION"))
}

/// Re-derives the [`Built`] summary of a cached `.pte`.
fn cached_built(pte: &Path) -> Result<Built, String> {
    let bytes = std::fs::read(pte).map_err(|e| e.to_string())?;
    let aligned = AlignedBytes::copy_of(&bytes);
    let program = Program::load(aligned.as_slice()).map_err(|e| e.to_string())?;
    let arena = Method::arena_size(&program, kiln_rt::model::PLAN).map_err(|e| e.to_string())?;
    let kernels = plan_kernels(&program).map_err(|e| e.to_string())?;
    Ok(Built {
        arena_bytes: arena,
        pte_bytes: bytes.len(),
        kernels,
        cached: true,
    })
}

fn plan_kernels(program: &Program<'_>) -> Result<Vec<OpKind>, String> {
    let plan = program
        .plan_by_name(kiln_rt::model::PLAN)
        .map_err(|e| e.to_string())?;
    let mut kernels = Vec::new();
    for i in 0..plan.operator_count().map_err(|e| e.to_string())? {
        let o = plan.operator(i).map_err(|e| e.to_string())?;
        let k = OpKind::lookup(o.name, o.overload).ok_or_else(|| {
            format!(
                "operator {}.{} is not in kiln-rt's table",
                o.name, o.overload
            )
        })?;
        if kiln_rt::kernels::kernel(k).is_none() {
            return Err(format!("kiln-rt has no kernel for {k}"));
        }
        if !kernels.contains(&k) {
            kernels.push(k);
        }
    }
    Ok(kernels)
}

fn rust_type(st: ScalarType) -> Option<&'static str> {
    Some(match st {
        ScalarType::Char | ScalarType::QInt8 => "i8",
        ScalarType::Byte | ScalarType::QUInt8 | ScalarType::Bool => "u8",
        ScalarType::Short => "i16",
        ScalarType::Int | ScalarType::QInt32 => "i32",
        ScalarType::Long => "i64",
        ScalarType::Float => "f32",
        ScalarType::Double => "f64",
        _ => return None,
    })
}

/// Loads `pte` with kiln-rt on the host (the very checks the device runs) and reads the
/// arena size, the kernels and the typed inputs/outputs; quantization comes from `graph`.
pub fn inspect(pte: &[u8], graph: &Graph) -> Result<ModelInfo, String> {
    let aligned = AlignedBytes::copy_of(pte);
    let program = Program::load(aligned.as_slice()).map_err(|e| e.to_string())?;
    let arena_bytes =
        Method::arena_size(&program, kiln_rt::model::PLAN).map_err(|e| e.to_string())?;
    let kernels = plan_kernels(&program)?;
    let table = all_kernels();
    let mut arena = AlignedBytes::zeroed(arena_bytes);
    let mut m = Method::load(&program, kiln_rt::model::PLAN, &table, arena.as_mut_slice())
        .map_err(|e| e.to_string())?;
    let quant = |id: Option<&kiln_compiler::ir::TensorId>| {
        id.and_then(|&t| graph.tensors.get(t.0))
            .and_then(|t| t.quant.as_ref())
            .filter(|q| q.is_per_tensor())
            .and_then(|q| Some((*q.scale.first()?, *q.zero_point.first()?)))
            .unwrap_or((1.0, 0))
    };
    let io = |what: &str,
              i: usize,
              t: kiln_rt::exec::TensorRef<'_>,
              (scale, zero_point): (f32, i32)| {
        if !t.is_contiguous() {
            return Err(format!(
                "{what} {i} is not contiguous (dim_order {:?}); include_model! types I/O as flat arrays",
                &t.dim_order[..]
            ));
        }
        Ok(IoInfo {
            rust_type: rust_type(t.scalar_type)
                .ok_or_else(|| format!("{what} {i} has element type {}", t.scalar_type.name()))?,
            shape: t.sizes.to_vec(),
            scale,
            zero_point,
        })
    };
    let mut inputs = Vec::new();
    for i in 0..m.inputs() {
        let t = m
            .input_mut(i)
            .map_err(|e| format!("input {i}: {e} (the generated Model writes inputs in place)"))?;
        inputs.push(io("input", i, t.as_ref(), quant(graph.inputs.get(i)))?);
    }
    if m.outputs() == 0 {
        return Err("the program has no outputs".into());
    }
    let mut outputs = Vec::new();
    for i in 0..m.outputs() {
        if !matches!(
            m.output_value(i).map_err(|e| e.to_string())?,
            Value::Tensor(_)
        ) {
            return Err(format!("output {i} is not a tensor"));
        }
        let t = m.output_tensor(i).map_err(|e| e.to_string())?;
        outputs.push(io("output", i, t, quant(graph.outputs.get(i)))?);
    }
    type Backend<'s> = kiln_rt::ethos_u::EthosUBackend<'s, kiln_rt::ethos_u::sim::NpuModel>;
    let npu_scratch_bytes =
        Backend::scratch_size(&program, kiln_rt::model::PLAN).map_err(|e| e.to_string())?;
    let npu_fast_scratch_bytes =
        Backend::fast_scratch_size(&program, kiln_rt::model::PLAN).map_err(|e| e.to_string())?;
    Ok(ModelInfo {
        arena_bytes,
        inputs,
        outputs,
        kernels,
        npu_scratch_bytes,
        npu_fast_scratch_bytes,
    })
}

/// The memory contract of the NPU statics: the scratch and the fast scratch (both in section
/// `.kiln_npu_scratch`) together fit the target's region for them, if it has one.
fn check_npu_scratch(
    name: &str,
    path: &str,
    target: &Target,
    info: &ModelInfo,
) -> Result<(), String> {
    let (scratch, fast) = (info.npu_scratch_bytes, info.npu_fast_scratch_bytes);
    let need = (scratch + fast) as u64;
    match target.npu_scratch_region() {
        Some(r) if need > u64::from(r.size) => {
            let what = if fast > 0 {
                format!("the NPU scratch and fast scratch need {need} bytes ({scratch} + {fast})")
            } else {
                format!("the NPU scratch needs {need} bytes")
            };
            Err(format!(
                "model `{name}` ({path}): {what}, region {r} of target {} (where the NPU reaches it) has {} bytes: {} bytes over",
                target.name,
                r.size,
                need - u64::from(r.size)
            ))
        }
        _ => Ok(()),
    }
}

/// Suffix of the names for input/output `i`: none for 0, `_1`, `_2`, ... after.
/// An id no other run of a build script (in this process or another) has: the time, the
/// process and a counter.
fn build_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{nanos:x}-{:x}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    )
}

/// Collects `include_model!` calls whose arguments parse, except those behind a `#[cfg]` that
/// is false for this build.
struct Finder<'c> {
    cfg: &'c cfg::CfgEnv,
    calls: Vec<ModelSpec>,
}

impl<'ast> syn::visit::Visit<'ast> for Finder<'_> {
    fn visit_item(&mut self, i: &'ast syn::Item) {
        if self.cfg.enabled(cfg::item_attrs(i)) {
            syn::visit::visit_item(self, i);
        }
    }
    fn visit_stmt(&mut self, s: &'ast syn::Stmt) {
        let attrs: &[syn::Attribute] = match s {
            syn::Stmt::Local(l) => &l.attrs,
            syn::Stmt::Macro(m) => &m.attrs,
            syn::Stmt::Expr(e, _) => cfg::expr_attrs(e),
            syn::Stmt::Item(_) => &[],
        };
        if self.cfg.enabled(attrs) {
            syn::visit::visit_stmt(self, s);
        }
    }
    fn visit_expr(&mut self, e: &'ast syn::Expr) {
        if self.cfg.enabled(cfg::expr_attrs(e)) {
            syn::visit::visit_expr(self, e);
        }
    }
    fn visit_impl_item(&mut self, i: &'ast syn::ImplItem) {
        let attrs: &[syn::Attribute] = match i {
            syn::ImplItem::Const(c) => &c.attrs,
            syn::ImplItem::Fn(f) => &f.attrs,
            syn::ImplItem::Macro(m) => &m.attrs,
            _ => &[],
        };
        if self.cfg.enabled(attrs) {
            syn::visit::visit_impl_item(self, i);
        }
    }
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        if m.path
            .segments
            .last()
            .is_some_and(|s| s.ident == "include_model")
        {
            if let Ok(spec) = ModelSpec::parse_tokens(m.tokens.clone()) {
                self.calls.push(spec);
            }
        }
        syn::visit::visit_macro(self, m);
    }
}

/// Every `.rs` file at or under `p`.
fn collect_rs(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_file() {
        if p.extension().is_some_and(|e| e == "rs") {
            out.push(p.to_path_buf());
        }
        return;
    }
    if let Ok(entries) = std::fs::read_dir(p) {
        for e in entries.flatten() {
            collect_rs(&e.path(), out);
        }
    }
}

fn remove(p: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Writes only when the contents differ, so unchanged outputs keep their modification time.
fn write_if_changed(p: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if std::fs::read(p).ok().as_deref() == Some(bytes) {
        return Ok(());
    }
    std::fs::write(p, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text without whitespace (the generated code is token-printed).
    fn flat(s: &str) -> String {
        s.split_whitespace().collect()
    }

    /// A scratch crate under the system temp dir with `src/main.rs` = `main`.
    fn scratch(test: &str, main: &str) -> (PathBuf, PathBuf) {
        let root = std::env::temp_dir().join(format!("kiln-build-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/main.rs"), main).unwrap();
        (root.clone(), root.join("out"))
    }

    fn fixture(rel: &str) -> String {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures")
            .join(rel)
            .display()
            .to_string()
    }

    fn error_of<'r>(r: &'r BuildReport, name: &str) -> &'r BuildError {
        let m = r
            .models
            .iter()
            .find(|m| m.name == name)
            .expect("model listed");
        m.result.as_ref().expect_err("an error")
    }

    #[test]
    fn cfg_disabled_calls_are_not_compiled_and_every_run_stamps_its_outputs() {
        let kws = fixture("kws_dscnn/kws_dscnn_int8.tflite");
        let call = |name: &str| {
            format!("kiln::include_model!({kws:?}, target = \"cortex-m55\", delegate = false, name = {name});")
        };
        let (root, out) = scratch(
            "cfg",
            &format!(
                "#[cfg(feature = \"big-model\")]\n{}\n\
                 #[cfg(not(feature = \"big-model\"))]\n{}\n\
                 #[cfg(feature = \"other\")]\nmod m {{ {} }}\n\
                 fn main() {{ #[cfg(any(test, feature = \"other\"))] {} }}",
                call("on"),
                call("off"),
                call("in_mod"),
                call("in_fn")
            ),
        );
        let names =
            |r: &BuildReport| -> Vec<String> { r.models.iter().map(|m| m.name.clone()).collect() };
        let r1 = Builder::new(root.clone(), out.clone())
            .features(&["big-model"])
            .run();
        // `any(test, ..)`: whether `test` holds the build script cannot tell, so it is compiled.
        assert_eq!(names(&r1), ["in_fn", "on"], "{r1:#?}");
        let stamp =
            |n: &str| std::fs::read_to_string(kiln_model_syntax::generated_stamp(&out, n)).ok();
        assert_eq!(stamp("on").as_deref(), Some(r1.build_id.as_str()));
        // The next run (model cached) stamps anew; a model it no longer sees keeps the old stamp.
        let r2 = Builder::new(root.clone(), out.clone()).run();
        assert_ne!(r1.build_id, r2.build_id);
        assert_eq!(names(&r2), ["in_fn", "off"]);
        assert!(r2
            .models
            .iter()
            .all(|m| m.result.as_ref().is_ok_and(|b| b.cached) || m.name == "off"));
        assert_eq!(stamp("in_fn").as_deref(), Some(r2.build_id.as_str()));
        assert_eq!(stamp("on").as_deref(), Some(r1.build_id.as_str()));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn builds_generates_and_caches() {
        let kws = fixture("kws_dscnn/kws_dscnn_int8.tflite");
        let (root, out) = scratch(
            "ok",
            &format!(
                "mod m {{ kiln::include_model!({kws:?}, target = \"ethos-u55-128\"); }}\n\
                 fn main() {{ include_model!({kws:?}, target = \"cortex-m55\", delegate = false, name = quiet); }}"
            ),
        );
        let r = Builder::new(root.clone(), out.clone()).run();
        assert_eq!(r.models.len(), 2, "{r:?}");
        let b = r.models[0].result.as_ref().unwrap();
        assert_eq!(r.models[0].name, "kws_dscnn_int8");
        // ethos-u55-128: every operator, the softmax too, went to the NPU: no CPU kernel.
        assert!(
            !b.cached && b.arena_bytes > 0 && b.kernels.is_empty(),
            "{b:?}"
        );
        let quiet = r.models[1].result.as_ref().unwrap();
        assert!(quiet.kernels.contains(&OpKind::CmQuantizedConv2d));
        // The NPU call compiles for the NPU: no warnings.
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert!(r.rerun_if_changed.contains(&root.join("src")));
        assert!(r
            .rerun_if_changed
            .iter()
            .any(|p| p.ends_with("kws_dscnn_int8.tflite")));
        let rs = std::fs::read_to_string(generated_rs(&out, "kws_dscnn_int8")).unwrap();
        for want in [
            "pub const INPUT_SHAPE: [usize; 4] = [1, 49, 10, 1];",
            "pub type Input = [i8; 490];",
            "pub type Output = [i8; 12];",
            "pub const INPUTS: usize = 1;",
            "pub struct Model(__kiln::model::Model<i8, 490, i8, 12, __kiln::model::EthosU>);",
            "link_section = \".kiln_npu_scratch\"",
            "target: NPU,",
            &format!("pub const ARENA_BYTES: usize = {};", b.arena_bytes),
        ] {
            assert!(flat(&rs).contains(&flat(want)), "missing {want:?} in\n{rs}");
        }
        assert!(out.join("kiln/quiet.pte").is_file());
        let report = std::fs::read_to_string(out.join("kiln/kws_dscnn_int8.report.txt")).unwrap();
        assert!(
            report.contains("[npu]") && report.contains("SOFTMAX") && !report.contains("[cpu"),
            "{report}"
        );
        // Second run: same inputs, nothing recompiled, same files.
        let r2 = Builder::new(root.clone(), out.clone()).run();
        assert!(r2.models.iter().all(|m| m.result.as_ref().unwrap().cached));
        assert_eq!(
            r2.models[0].result.as_ref().unwrap().arena_bytes,
            b.arena_bytes
        );
        // Changed options: recompiled.
        std::fs::write(
            root.join("src/main.rs"),
            format!("fn main() {{ include_model!({kws:?}, target = \"cortex-m55\", name = quiet, budget = 400000); }}"),
        )
        .unwrap();
        let r3 = Builder::new(root.clone(), out).run();
        assert_eq!(r3.models.len(), 1);
        assert!(!r3.models[0].result.as_ref().unwrap().cached);
        let _ = std::fs::remove_dir_all(root);
    }

    /// U65: the delegates keep their internal feature maps in a fast scratch, a second static
    /// in `.kiln_npu_scratch` handed to the backend; U55 and CPU-only modules have none.
    #[test]
    fn u65_models_get_a_fast_scratch_static() {
        let kws = fixture("kws_dscnn/kws_dscnn_int8.tflite");
        let (root, out) = scratch(
            "u65",
            &format!(
                "fn main() {{ include_model!({kws:?}, target = \"ethos-u65-256\", name = u65);\n\
                 include_model!({kws:?}, target = \"ethos-u55-128\", name = u55);\n\
                 include_model!({kws:?}, target = \"cortex-m55\", name = cpu); }}"
            ),
        );
        let r = Builder::new(root.clone(), out.clone()).run();
        assert!(r.models.iter().all(|m| m.result.is_ok()), "{r:?}");
        let rs = |n: &str| flat(&std::fs::read_to_string(generated_rs(&out, n)).unwrap());
        let u65 = rs("u65");
        let fast: usize = u65
            .split(&flat("pub const NPU_FAST_SCRATCH_BYTES: usize = "))
            .nth(1)
            .and_then(|s| s.split(';').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no NPU_FAST_SCRATCH_BYTES in\n{u65}"));
        assert!(fast > 0 && fast.is_multiple_of(16), "{fast}");
        for want in [
            "static NPU_FAST_SCRATCH: __kiln::model::ArenaSlot<NPU_FAST_SCRATCH_BYTES>",
            "fast_scratch: NPU_FAST_SCRATCH.take()",
        ] {
            assert!(u65.contains(&flat(want)), "missing {want:?} in\n{u65}");
        }
        let u55 = rs("u55");
        assert!(u55.contains(&flat("pub const NPU_FAST_SCRATCH_BYTES: usize = 0;")));
        let cpu = rs("cpu");
        assert!(
            !cpu.contains("NPU_FAST_SCRATCH:") && !cpu.contains("EthosU"),
            "{cpu}"
        );
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn npu_contract_counts_the_fast_scratch() {
        let t = Target::lookup("ethos-u65-256").unwrap();
        let isram = t.npu_scratch_region().unwrap().size as usize;
        let info = |scratch, fast| ModelInfo {
            arena_bytes: 0,
            inputs: vec![],
            outputs: vec![],
            kernels: vec![],
            npu_scratch_bytes: scratch,
            npu_fast_scratch_bytes: fast,
        };
        assert!(check_npu_scratch("m", "m.tflite", t, &info(isram - 1024, 1024)).is_ok());
        let e = check_npu_scratch("m", "m.tflite", t, &info(isram - 1024, 1040)).unwrap_err();
        assert!(
            e.contains("scratch and fast scratch need")
                && e.contains(&format!("({} + 1040)", isram - 1024))
                && e.contains("16 bytes over"),
            "{e}"
        );
        // Targets without an NPU scratch region are not checked.
        let host = Target::lookup("host").unwrap();
        assert!(check_npu_scratch("m", "m.tflite", host, &info(usize::MAX / 4, 1)).is_ok());
    }

    #[test]
    fn vela_optimized_model_is_packaged_as_an_npu_delegate() {
        let vela = fixture("vela/ethos-u55-128/kws_dscnn_int8_vela.tflite");
        let (root, out) = scratch(
            "vela",
            &format!("fn main() {{ kiln::include_model!({vela:?}, target = \"ethos-u55-128\", name = kws); }}"),
        );
        let r = Builder::new(root.clone(), out.clone()).run();
        let b = r.models[0].result.as_ref().expect("Vela output compiles");
        // Everything runs on the NPU: no CPU kernels, and no CPU-only warning.
        assert!(b.kernels.is_empty(), "{:?}", b.kernels);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let rs = std::fs::read_to_string(generated_rs(&out, "kws")).unwrap();
        for want in [
            "pub const NPU_SCRATCH_BYTES: usize = 22192;",
            "pub type Input = [i8; 490];",
            "pub type Output = [i8; 12];",
            // The TFLite model's input quantization (kws_dscnn manifest: scale 0.5847029089927673, zp 83).
            "pub const INPUT_ZERO_POINT: i32 = 83;",
        ] {
            assert!(flat(&rs).contains(&flat(want)), "missing {want:?} in\n{rs}");
        }
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn errors_go_to_the_call() {
        let kws = fixture("kws_dscnn/kws_dscnn_int8.tflite");
        let (root, out) = scratch(
            "errors",
            &format!(
                "fn main() {{\n\
                 include_model!(\"models/none.onnx\", target = \"host\");\n\
                 include_model!({kws:?}, target = \"ethos-u99\", name = badtarget);\n\
                 include_model!({kws:?}, target = \"cortex-m55\", name = small, budget = 1000);\n\
                 include_model!({kws:?}, target = \"cortex-m55\", name = region, arena_region = \"FLASH\");\n\
                 include_model!({kws:?}, target = \"cortex-m55\", name = dup);\n\
                 include_model!({kws:?}, target = \"host\", name = dup);\n\
                 include_model!({kws:?}, target = \"host\", bogus = 1);\n\
                 }}"
            ),
        );
        let r = Builder::new(root.clone(), out.clone()).run();
        // The call with a bad option is left to the macro.
        assert_eq!(r.models.len(), 5, "{r:?}");
        let e = error_of(&r, "none");
        assert_eq!(e.field, Field::Path);
        assert!(
            e.message.contains("model file not found: models/none.onnx"),
            "{e}"
        );
        let e = error_of(&r, "badtarget");
        assert_eq!(e.field, Field::Target);
        assert!(
            e.message.contains("unknown target 'ethos-u99'") && e.message.contains("cortex-m4"),
            "{e}"
        );
        let e = error_of(&r, "small");
        assert_eq!(e.field, Field::Budget);
        let arena = e
            .message
            .split("needs ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .unwrap();
        let arena: u64 = arena.parse().unwrap();
        assert!(
            e.message.contains("allows 1000 bytes")
                && e.message.contains(&format!("{} bytes over", arena - 1000)),
            "{e}"
        );
        let e = error_of(&r, "region");
        assert_eq!(e.field, Field::ArenaRegion);
        assert!(
            e.message.contains("no memory region 'FLASH'") && e.message.contains("DTCM"),
            "{e}"
        );
        let e = error_of(&r, "dup");
        assert!(e.message.contains("module named `dup`"), "{e}");
        // Errors are written for the macro, and no stale module is left behind.
        let text = std::fs::read_to_string(generated_error(&out, "small")).unwrap();
        assert_eq!(BuildError::from_file(&text).field, Field::Budget);
        assert!(!generated_rs(&out, "small").exists());
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn a_model_for_another_cpu_than_the_build_is_an_error_at_its_target() {
        let kws = fixture("kws_dscnn/kws_dscnn_int8.tflite");
        let (root, out) = scratch(
            "wrongcpu",
            &format!(
                "fn main() {{\n\
                 include_model!({kws:?}, target = \"cortex-m4\", name = m4);\n\
                 include_model!({kws:?}, target = \"cortex-m55\", name = m55);\n\
                 }}"
            ),
        );
        let m55 = BuildTarget {
            triple: Some("thumbv8m.main-none-eabihf".into()),
            target_cpu: Some("cortex-m55".into()),
        };
        let r = Builder::new(root.clone(), out.clone())
            .build_target(m55)
            .run();
        let e = error_of(&r, "m4");
        assert_eq!(e.field, Field::Target);
        assert!(
            e.message.contains("built for thumbv8m.main-none-eabihf"),
            "{e}"
        );
        assert!(
            r.models.iter().any(|m| m.name == "m55" && m.result.is_ok()),
            "{r:?}"
        );
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn unsupported_operator_names_node_and_operator() {
        let m = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/ui/models/unsupported_einsum.onnx");
        let (root, out) = scratch(
            "unsupported",
            &format!(
                "include_model!({:?}, target = \"host\");",
                m.display().to_string()
            ),
        );
        let r = Builder::new(root.clone(), out).run();
        let e = error_of(&r, "unsupported_einsum");
        assert_eq!(e.field, Field::Path);
        assert!(
            e.message.contains("node 'transpose_einsum'")
                && e.message.contains("unsupported operator Einsum"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn arena_region_places_the_arena_in_its_section() {
        let kws = fixture("kws_dscnn/kws_dscnn_int8.tflite");
        let (root, out) = scratch(
            "arena-region",
            &format!("fn main() {{ kiln::include_model!({kws:?}, target = \"cortex-m55\", name = big, arena_region = \"isram\"); }}"),
        );
        // Host builds: no linker script, no warning.
        let r = Builder::new(root.clone(), out.clone()).run();
        assert!(
            r.linker_scripts.is_empty() && r.warnings.is_empty(),
            "{:?}",
            r.warnings
        );
        let r = Builder::new(root.clone(), out.clone())
            .bare_metal(true)
            .run();
        assert!(r.models[0].result.is_ok());
        let rs = std::fs::read_to_string(generated_rs(&out, "big")).unwrap();
        assert!(
            flat(&rs).contains(&flat("link_section = \".kiln_arena.isram\"")),
            "{rs}"
        );
        assert_eq!(r.linker_scripts, [out.join("kiln_arenas.x")]);
        let script = std::fs::read_to_string(out.join("kiln_arenas.x")).unwrap();
        assert!(
            script.contains(".kiln_arena.isram (NOLOAD)") && script.contains("> KILN_ISRAM"),
            "{script}"
        );
        // No memory.x alias yet: the build says what to add.
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("REGION_ALIAS(\"KILN_ISRAM\"")),
            "{:?}",
            r.warnings
        );
        std::fs::write(
            root.join("memory.x"),
            "REGION_ALIAS(\"KILN_ISRAM\", SRAM2);\n",
        )
        .unwrap();
        let r = Builder::new(root.clone(), out).run();
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let _ = std::fs::remove_dir_all(root);
    }
}
