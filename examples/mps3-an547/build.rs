//! Compiles every `include_model!` of the crate (kiln-build) and hands cortex-m-rt its memory.x.

use std::path::PathBuf;

fn main() {
    // Errors in a model surface as compile errors at the macro call.
    kiln_build::compile_models();
    // cortex-m-rt's link.x includes memory.x from the linker search path.
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("run by cargo"));
    std::fs::copy("memory.x", out.join("memory.x")).expect("memory.x next to Cargo.toml");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
}
