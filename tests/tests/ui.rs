//! `include_model!` as a user meets it, compiled by trybuild: pass cases (run, outputs
//! checked against the fixtures' goldens) and compile-fail cases with checked `.stderr`.
//!
//! trybuild builds every case as a bin of one generated crate, which has no build script.
//! So this test does what a `build.rs` with `kiln_build::compile_models()` does — the
//! same `Builder`, over `ui/pass` and `ui/fail` — and hands its output folder to the
//! compiler as `OUT_DIR`, the variable cargo sets for crates with a build script. The
//! `no_build_script` case then runs without `OUT_DIR`. Model paths in the cases are relative
//! to this crate (`tests/`), as they would be to a firmware crate's Cargo.toml.
//! `TRYBUILD=overwrite cargo test -p kiln-tests --test ui` regenerates the `.stderr` files.

use kiln_build::Builder;
use std::path::PathBuf;

#[test]
fn ui() {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kiln-ui-out");
    let report = Builder::new(manifest, out.clone())
        .sources(vec!["ui/pass".into(), "ui/fail".into()])
        .run();
    // Sanity of the build step itself: every model that should build did, the others recorded errors.
    let built: Vec<&str> = report
        .models
        .iter()
        .filter(|m| m.result.is_ok())
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(
        built,
        [
            "keyword_spotter",
            "kws_dscnn_int8",
            "kws_u65",
            "synth_i_conv_pool_fc_f32",
            "synth_ii_residual_qdq_int8"
        ],
        "{report:#?}"
    );
    // ethos-u55-128 models compile for the NPU: no "CPU only" warnings any more.
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    // Outputs an earlier build left for a call this build's scan does not see
    // (ui/fail/stale_output.rs), stamped with that build's id.
    let kiln_dir = out.join(kiln_model_syntax::GENERATED_DIR);
    std::fs::copy(
        kiln_model_syntax::generated_rs(&out, "kws_dscnn_int8"),
        kiln_model_syntax::generated_rs(&out, "stale"),
    )
    .unwrap();
    std::fs::write(kiln_dir.join("stale.build-id"), "an-earlier-build").unwrap();
    for hidden in ["stale", "behind_feature"] {
        assert!(
            !report.models.iter().any(|m| m.name == hidden),
            "the scan must not compile `{hidden}`: {report:#?}"
        );
    }

    // Single-threaded from here: this is the only test in this binary. The build id is what
    // `compile_models()` hands the crate's compilation with `cargo:rustc-env`.
    std::env::set_var("OUT_DIR", &out);
    std::env::set_var(kiln_model_syntax::BUILD_ID_ENV, &report.build_id);
    {
        let t = trybuild::TestCases::new();
        t.pass("ui/pass/*.rs");
        t.compile_fail("ui/fail/*.rs");
    } // trybuild runs the cases when `t` is dropped
    std::env::remove_var("OUT_DIR");
    std::env::remove_var(kiln_model_syntax::BUILD_ID_ENV);
    let t = trybuild::TestCases::new();
    t.pass("ui/no_build_script/no_models.rs");
    t.compile_fail("ui/no_build_script/no_build_script.rs");
}
