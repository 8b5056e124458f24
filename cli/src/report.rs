//! Compile reports as JSON.

use kiln_compiler::compile::CompileReport;

/// A compile report as JSON (`kiln compile --json`).
pub fn report_json(r: &CompileReport) -> serde_json::Value {
    serde_json::json!({
        "model": r.model,
        "format": r.format.to_string(),
        "target": r.target,
        "nodes": r.nodes.iter().map(|n| serde_json::json!({
            "node": n.node, "source_op": n.source_op, "kernels": n.kernels, "placement": n.placement,
        })).collect::<Vec<_>>(),
        "f32_fallbacks": r.f32_fallbacks,
        "notes": r.notes,
        "arena_bytes": r.arena_bytes,
        "liveness_bound": r.liveness_bound,
        "constant_bytes": r.constant_bytes,
        "pte_bytes": r.pte_bytes,
        "transposes": {"after_import": r.transposes.0, "after_passes": r.transposes.1},
    })
}
