//! The one parser of `include_model!` arguments.
//!
//! Two programs read the macro's arguments: the `kiln-macros` proc macro (to
//! find the file the build script generated and to point errors at the right
//! token) and `kiln_build::compile_models` (to find the models to compile,
//! by parsing the crate's sources with syn). Both call [`ModelSpec::parse`], so a
//! call the build script accepts is exactly a call the macro accepts.
//!
//! Syntax: `include_model!("path/to/model.tflite", target = "cortex-m55", name = kws,
//! delegate = false, arena_region = "SRAM", budget = 65536, sram_budget = 262144)`. The path comes first and is
//! relative to the crate's `CARGO_MANIFEST_DIR`; `target` is required; the rest is optional,
//! in any order, each at most once.
//!
//! The build script writes, per call, `$OUT_DIR/kiln/<name>.rs` (the module body) or,
//! when the model cannot be built, `$OUT_DIR/kiln/<name>.error` ([`BuildError`]).
#![warn(missing_docs)]

use proc_macro2::{Span, TokenStream};
use std::fmt;
use std::path::{Path, PathBuf};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::{Ident, LitBool, LitInt, LitStr, Token};

/// Every option `include_model!` takes after the path, with what it expects (for messages).
pub const OPTIONS: &[(&str, &str)] = &[
    ("target", "a string literal naming a kiln target, e.g. target = \"cortex-m55\""),
    ("name", "an identifier, the generated module's name, e.g. name = kws"),
    ("delegate", "true or false: delegate operators to the target's NPU (default true)"),
    ("cpu_fallback", "true or false: operators the NPU cannot run stay on the CPU (default true; false makes them a build error)"),
    ("arena_region", "a string literal naming the memory region the arena is placed in, e.g. arena_region = \"SRAM\""),
    ("budget", "an integer: the arena's byte budget, overriding the region's size, e.g. budget = 65536"),
    ("sram_budget", "an integer: most bytes of SRAM the Ethos-U may use (feature maps and staged weights), e.g. sram_budget = 262144"),
];

/// Folder under `OUT_DIR` the build script writes into.
pub const GENERATED_DIR: &str = "kiln";

/// A value and the span of the token it came from (so errors point at it).
#[derive(Clone, Debug)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

/// The arguments of one `include_model!` call.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    /// Model file, relative to `CARGO_MANIFEST_DIR`.
    pub path: Spanned<String>,
    /// Target name (e.g. `ethos-u55-128`).
    pub target: Spanned<String>,
    /// Explicit module name.
    pub name: Option<Spanned<String>>,
    /// `delegate = false` keeps every operator on the CPU.
    pub delegate: Option<Spanned<bool>>,
    /// `cpu_fallback = false` makes operators the NPU cannot run a build error.
    pub cpu_fallback: Option<Spanned<bool>>,
    /// Memory region the arena is placed in (its size is the budget).
    pub arena_region: Option<Spanned<String>>,
    /// Explicit arena budget in bytes (overrides the region's size).
    pub budget: Option<Spanned<u64>>,
    /// Most bytes of SRAM the NPU may use.
    pub sram_budget: Option<Spanned<u64>>,
}

/// Which argument a build error is about, so the macro can point at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The model path.
    Path,
    /// `target = ..`.
    Target,
    /// `name = ..`.
    Name,
    /// `delegate = ..`.
    Delegate,
    /// `cpu_fallback = ..`.
    CpuFallback,
    /// `arena_region = ..`.
    ArenaRegion,
    /// `budget = ..`.
    Budget,
    /// `sram_budget = ..`.
    SramBudget,
    /// The whole call.
    Call,
}

impl Field {
    /// The key written in `.error` files.
    pub fn key(self) -> &'static str {
        match self {
            Field::Path => "path",
            Field::Target => "target",
            Field::Name => "name",
            Field::Delegate => "delegate",
            Field::CpuFallback => "cpu_fallback",
            Field::ArenaRegion => "arena_region",
            Field::Budget => "budget",
            Field::SramBudget => "sram_budget",
            Field::Call => "call",
        }
    }

    /// Inverse of [`Field::key`].
    pub fn from_key(key: &str) -> Option<Field> {
        [
            Field::Path,
            Field::Target,
            Field::Name,
            Field::Delegate,
            Field::CpuFallback,
            Field::ArenaRegion,
            Field::Budget,
            Field::SramBudget,
            Field::Call,
        ]
        .into_iter()
        .find(|f| f.key() == key)
    }
}

/// An error the build script recorded for one call: the argument it is about and the message.
///
/// File format (`$OUT_DIR/kiln/<name>.error`): the field key on the first line, the message after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildError {
    /// The argument the error is about.
    pub field: Field,
    /// The full message (model file, node, operator, reason).
    pub message: String,
}

impl BuildError {
    /// The `.error` file contents.
    pub fn to_file(&self) -> String {
        format!("{}\n{}", self.field.key(), self.message)
    }

    /// Parses `.error` file contents (an unknown field key means the whole call).
    pub fn from_file(text: &str) -> BuildError {
        let (key, message) = text.split_once('\n').unwrap_or(("call", text));
        BuildError {
            field: Field::from_key(key.trim()).unwrap_or(Field::Call),
            message: message.to_string(),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn option_list() -> String {
    OPTIONS
        .iter()
        .map(|(k, _)| *k)
        .collect::<Vec<_>>()
        .join(", ")
}

fn expects(key: &str) -> &'static str {
    OPTIONS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, e)| *e)
        .unwrap_or("a value")
}

fn value_error(key: &str, span: Span) -> syn::Error {
    syn::Error::new(
        span,
        format!(
            "include_model!: bad value for `{key}`: expected {}",
            expects(key)
        ),
    )
}

impl Parse for ModelSpec {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(input.error(
                "include_model!: expected the model path first, e.g. include_model!(\"models/kws.tflite\", target = \"cortex-m55\")",
            ));
        }
        let path: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "include_model!: the first argument must be the model path as a string literal, relative to the crate's Cargo.toml",
            )
        })?;
        if path.value().trim().is_empty() {
            return Err(syn::Error::new(
                path.span(),
                "include_model!: the model path is empty",
            ));
        }
        let mut target = None;
        let mut name = None;
        let mut delegate = None;
        let mut cpu_fallback = None;
        let mut arena_region = None;
        let mut budget = None;
        let mut sram_budget = None;
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key = Ident::parse_any(input).map_err(|e| {
                syn::Error::new(
                    e.span(),
                    format!(
                        "include_model!: expected an option name; the options are: {}",
                        option_list()
                    ),
                )
            })?;
            let k = key.to_string();
            if !OPTIONS.iter().any(|(o, _)| *o == k) {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "include_model!: unknown option `{k}`; the options are: {}",
                        option_list()
                    ),
                ));
            }
            input.parse::<Token![=]>().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    format!("include_model!: expected `=` after `{k}`"),
                )
            })?;
            let taken = match k.as_str() {
                "target" => target.is_some(),
                "name" => name.is_some(),
                "delegate" => delegate.is_some(),
                "cpu_fallback" => cpu_fallback.is_some(),
                "arena_region" => arena_region.is_some(),
                "sram_budget" => sram_budget.is_some(),
                _ => budget.is_some(),
            };
            if taken {
                return Err(syn::Error::new(
                    key.span(),
                    format!("include_model!: option `{k}` given twice"),
                ));
            }
            let span = input.span();
            match k.as_str() {
                "target" | "arena_region" => {
                    let v: LitStr = input.parse().map_err(|_| value_error(&k, span))?;
                    if v.value().is_empty() {
                        return Err(value_error(&k, v.span()));
                    }
                    let s = Some(Spanned {
                        value: v.value(),
                        span: v.span(),
                    });
                    if k == "target" {
                        target = s;
                    } else {
                        arena_region = s;
                    }
                }
                "name" => {
                    let v: Ident = input.parse().map_err(|_| value_error(&k, span))?;
                    if v.to_string().starts_with("r#") {
                        return Err(value_error(&k, v.span()));
                    }
                    name = Some(Spanned {
                        value: v.to_string(),
                        span: v.span(),
                    });
                }
                "delegate" | "cpu_fallback" => {
                    let v: LitBool = input.parse().map_err(|_| value_error(&k, span))?;
                    let b = Some(Spanned {
                        value: v.value,
                        span: v.span,
                    });
                    if k == "delegate" {
                        delegate = b;
                    } else {
                        cpu_fallback = b;
                    }
                }
                _ => {
                    let v: LitInt = input.parse().map_err(|_| value_error(&k, span))?;
                    let n: u64 = v
                        .base10_parse()
                        .ok()
                        .filter(|_| v.suffix().is_empty())
                        .ok_or_else(|| value_error(&k, v.span()))?;
                    let v = Some(Spanned {
                        value: n,
                        span: v.span(),
                    });
                    if k == "sram_budget" {
                        sram_budget = v;
                    } else {
                        budget = v;
                    }
                }
            }
        }
        let target = target.ok_or_else(|| {
            syn::Error::new(
                path.span(),
                "include_model!: missing `target = \"...\"` (e.g. target = \"cortex-m55\"; `kiln targets` lists them)",
            )
        })?;
        Ok(ModelSpec {
            path: Spanned {
                value: path.value(),
                span: path.span(),
            },
            target,
            name,
            delegate,
            cpu_fallback,
            arena_region,
            budget,
            sram_budget,
        })
    }
}

impl ModelSpec {
    /// Parses the tokens between the macro's delimiters.
    pub fn parse_tokens(tokens: TokenStream) -> syn::Result<ModelSpec> {
        <ModelSpec as Parse>::parse.parse2(tokens)
    }

    /// The generated module's name: `name = ..`, or the model file's stem made an identifier.
    pub fn module_name(&self) -> String {
        match &self.name {
            Some(n) => n.value.clone(),
            None => default_module_name(Path::new(&self.path.value)),
        }
    }

    /// Whether operators may go to the NPU (`delegate`, default true).
    pub fn delegate(&self) -> bool {
        !matches!(self.delegate, Some(Spanned { value: false, .. }))
    }

    /// Whether operators the NPU cannot run may stay on the CPU (`cpu_fallback`, default true).
    pub fn cpu_fallback(&self) -> bool {
        !matches!(self.cpu_fallback, Some(Spanned { value: false, .. }))
    }

    /// The options in a fixed textual form, for the build cache key.
    pub fn canonical(&self) -> String {
        format!(
            "path={:?};target={:?};name={};delegate={};cpu_fallback={};arena_region={:?};budget={:?};sram_budget={:?}",
            self.path.value,
            self.target.value,
            self.module_name(),
            self.delegate(),
            self.cpu_fallback(),
            self.arena_region.as_ref().map(|r| &r.value),
            self.budget.as_ref().map(|b| b.value),
            self.sram_budget.as_ref().map(|b| b.value),
        )
    }

    /// The span of `field` in this call (the path's span for [`Field::Call`] and absent options).
    pub fn span_of(&self, field: Field) -> Span {
        let opt = match field {
            Field::Path | Field::Call => None,
            Field::Target => Some(self.target.span),
            Field::Name => self.name.as_ref().map(|n| n.span),
            Field::Delegate => self.delegate.as_ref().map(|d| d.span),
            Field::CpuFallback => self.cpu_fallback.as_ref().map(|d| d.span),
            Field::ArenaRegion => self.arena_region.as_ref().map(|r| r.span),
            Field::Budget => self.budget.as_ref().map(|b| b.span),
            Field::SramBudget => self.sram_budget.as_ref().map(|b| b.span),
        };
        opt.unwrap_or(self.path.span)
    }
}

/// The module name for a model file: its stem, lower-cased, every character that cannot be in
/// an identifier replaced by `_`, prefixed with `_` when it starts with a digit, suffixed with
/// `_` when it is a keyword (`mobilenet-v2.onnx` -> `mobilenet_v2`, `2conv.tflite` -> `_2conv`).
pub fn default_module_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut s: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    if s == "_" || syn::parse_str::<Ident>(&s).is_err() {
        s.push('_');
    }
    s
}

/// `$out_dir/kiln/<name>.rs`: the module body the build script generated.
pub fn generated_rs(out_dir: &Path, name: &str) -> PathBuf {
    out_dir.join(GENERATED_DIR).join(format!("{name}.rs"))
}

/// `$out_dir/kiln/<name>.error`: the error the build script recorded instead.
pub fn generated_error(out_dir: &Path, name: &str) -> PathBuf {
    out_dir.join(GENERATED_DIR).join(format!("{name}.error"))
}

/// `$out_dir/kiln/<name>.build-id`: the id of the build-script run that last wrote or checked
/// `<name>`'s outputs. `include_model!` compares it with [`BUILD_ID_ENV`], so outputs an
/// earlier build left in `OUT_DIR` are refused rather than silently used.
pub fn generated_stamp(out_dir: &Path, name: &str) -> PathBuf {
    out_dir.join(GENERATED_DIR).join(format!("{name}.build-id"))
}

/// The variable the build script sets for the crate's compilation (`cargo:rustc-env`) to the
/// id of its run.
pub const BUILD_ID_ENV: &str = "KILN_BUILD_ID";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> syn::Result<ModelSpec> {
        ModelSpec::parse_tokens(s.parse().unwrap())
    }

    fn err(s: &str) -> String {
        parse(s).unwrap_err().to_string()
    }

    #[test]
    fn full_call() {
        let m = parse(
            r#""models/kws.tflite", target = "ethos-u55-128", name = kws2, delegate = false,
               arena_region = "SRAM", budget = 65_536, sram_budget = 200000,"#,
        )
        .unwrap();
        assert_eq!(m.sram_budget.as_ref().unwrap().value, 200000);
        assert!(m.canonical().contains("sram_budget=Some(200000)"));
        assert_eq!(m.path.value, "models/kws.tflite");
        assert_eq!(m.target.value, "ethos-u55-128");
        assert_eq!(m.module_name(), "kws2");
        assert!(!m.delegate());
        assert_eq!(m.arena_region.unwrap().value, "SRAM");
        assert_eq!(m.budget.unwrap().value, 65536);
    }

    #[test]
    fn defaults() {
        let m = parse(r#""m/kws_dscnn_int8.tflite", target = "host""#).unwrap();
        assert_eq!(m.module_name(), "kws_dscnn_int8");
        assert!(m.delegate());
        assert!(m.name.is_none() && m.budget.is_none() && m.arena_region.is_none());
        assert!(m.canonical().contains("name=kws_dscnn_int8"));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(err("").contains("expected the model path"));
        assert!(err("kws").contains("model path as a string literal"));
        assert!(err(r#""a.onnx""#).contains("missing `target"));
        let e = err(r#""a.onnx", target = "host", size = 3"#);
        assert!(
            e.contains("unknown option `size`") && e.contains("arena_region"),
            "{e}"
        );
        assert!(err(r#""a.onnx", target = host"#).contains("bad value for `target`"));
        assert!(
            err(r#""a.onnx", target = "host", budget = "big""#).contains("bad value for `budget`")
        );
        assert!(err(r#""a.onnx", target = "host", budget = -1"#).contains("bad value for `budget`"));
        assert!(
            err(r#""a.onnx", target = "host", budget = 10u8"#).contains("bad value for `budget`")
        );
        assert!(
            err(r#""a.onnx", target = "host", delegate = 1"#).contains("bad value for `delegate`")
        );
        assert!(err(r#""a.onnx", target = "host", name = "x""#).contains("bad value for `name`"));
        assert!(err(r#""a.onnx", target = "host", target = "host""#).contains("given twice"));
        assert!(err(r#""a.onnx", target "host""#).contains("expected `=` after `target`"));
        assert!(err(r#""", target = "host""#).contains("path is empty"));
    }

    #[test]
    fn module_names() {
        let n = |p: &str| default_module_name(Path::new(p));
        assert_eq!(n("models/mobilenet-v2.onnx"), "mobilenet_v2");
        assert_eq!(n("KWS.tflite"), "kws");
        assert_eq!(n("2conv.tflite"), "_2conv");
        assert_eq!(n("type.onnx"), "type_");
        assert_eq!(n("_.onnx"), "__");
    }

    #[test]
    fn error_file_round_trip() {
        let e = BuildError {
            field: Field::Budget,
            message: "line 1\nline 2".into(),
        };
        assert_eq!(BuildError::from_file(&e.to_file()), e);
        assert_eq!(BuildError::from_file("garbage").field, Field::Call);
    }
}
