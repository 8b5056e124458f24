//! `include_model!`: embeds a model compiled by kiln's build script.
//!
//! Use it through the runtime crate, which re-exports it (`kiln::include_model!`, with
//! `kiln = { package = "kiln-rt", .. }` in Cargo.toml): the re-export passes the runtime's
//! path in, so the generated code names it however the user's crate calls it.
//!
//! This crate is thin: `kiln_build::compile_models()` in `build.rs` finds the calls,
//! compiles the models and writes `$OUT_DIR/kiln/<name>.rs` (the module body) or
//! `$OUT_DIR/kiln/<name>.error`. The macro parses its arguments with the same parser
//! (`kiln-model-syntax`), then either includes the generated file into `pub mod <name>` or
//! turns the recorded error into a `compile_error!` pointing at the argument it is about.

use kiln_model_syntax::{
    generated_error, generated_rs, generated_stamp, BuildError, ModelSpec, BUILD_ID_ENV,
};
use proc_macro2::{Delimiter, Ident, Span, TokenStream, TokenTree};
use quote::quote;
use std::path::PathBuf;

const SETUP: &str = "add `kiln-build` to [build-dependencies] and a build.rs with \
`fn main() { kiln_build::compile_models(); }`";

/// `include_model!("models/kws.tflite", target = "cortex-m55", name = kws, delegate = false,
/// arena_region = "DTCM", budget = 65536)`: see the `kiln-rt` documentation.
#[proc_macro]
pub fn include_model(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    expand(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let mut tokens = input.into_iter();
    // The kiln-rt wrapper passes `[$crate]` first.
    let krate = match tokens.next() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket => g.stream(),
        _ => {
            return Err(syn::Error::new(
                Span::call_site(),
                "include_model!: call it through the runtime crate (`kiln::include_model!`), not kiln_macros directly",
            ))
        }
    };
    let spec = ModelSpec::parse_tokens(tokens.collect())?;
    let name = spec.module_name();
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return Err(syn::Error::new(
            spec.path.span,
            format!("include_model!: this crate has no build script, so model `{name}` was never compiled: {SETUP}"),
        ));
    };
    // Only what the build script wrote or checked in this build counts: its run id, handed to
    // this compilation by `cargo:rustc-env`, must be the one stamped next to the outputs.
    // Otherwise the files are left over from an earlier build (the build script no longer
    // calls kiln_build::compile_models(), or no longer sees this call) and may be stale.
    let rs = generated_rs(&out_dir, &name);
    let error = generated_error(&out_dir, &name);
    if rs.is_file() || error.is_file() {
        let stamp = std::fs::read_to_string(generated_stamp(&out_dir, &name)).ok();
        let this_build = std::env::var(BUILD_ID_ENV).ok();
        if this_build.is_none() || stamp != this_build {
            let why = if this_build.is_none() {
                format!("the build script did not run kiln_build::compile_models() in this build: {SETUP}")
            } else {
                "the build script did not see this call in this build (it reads include_model! \
                 calls in src/ and examples/; a call inside another macro's input, or behind a \
                 #[cfg] it found false, is not compiled)"
                    .to_string()
            };
            return Err(syn::Error::new(
                spec.path.span,
                format!(
                    "include_model!: the outputs for model `{name}` in OUT_DIR are left over from \
                     an earlier build and may be stale: {why}"
                ),
            ));
        }
    }
    if let Ok(text) = std::fs::read_to_string(&error) {
        let e = BuildError::from_file(&text);
        return Err(syn::Error::new(
            spec.span_of(e.field),
            format!("include_model!: {}", e.message),
        ));
    }
    if !rs.is_file() {
        return Err(syn::Error::new(
            spec.path.span,
            format!(
                "include_model!: the build script did not generate model `{name}` ({}): {SETUP} \
                 (it reads include_model! calls in src/ and examples/; a call inside another macro's input is not seen)",
                rs.display()
            ),
        ));
    }
    let rs = rs.to_str().ok_or_else(|| {
        syn::Error::new(
            spec.path.span,
            format!(
                "include_model!: OUT_DIR is not valid UTF-8: {}",
                out_dir.display()
            ),
        )
    })?;
    let ident = Ident::new(&name, Span::call_site());
    let doc = format!(
        "Model `{}` compiled by kiln for target `{}`.",
        spec.path.value, spec.target.value
    );
    Ok(quote! {
        #[doc = #doc]
        pub mod #ident {
            #![allow(dead_code, clippy::all)]
            use #krate as __kiln;
            include!(#rs);
        }
    })
}
