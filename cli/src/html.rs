//! `kiln compile --report out.html`: one self-contained page (no scripts, no external files)
//! and its JSON twin (`out.json`): the arena as a picture (each planned tensor a rectangle
//! spanning the instructions it is live for, at its arena offset; the liveness lower bound
//! marked), the flash split, the NPU scratch, and per operator its placement with the reason,
//! MACs and the cycle model's estimate.

use crate::inspect::describe;
use crate::profile::{instruction_macs, instruction_sources};
use kiln_compiler::compile::CompileReport;
use kiln_compiler::run::RunError;
use kiln_compiler::trace::instruction_outputs;
use kiln_rt::ethos_u::blob::VelaBlob;
use kiln_rt::ethos_u::payload::Payload;
use kiln_rt::pte::{Instruction, Program};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The report's data (the JSON twin; the page is rendered from it).
pub fn report_data(pte: &[u8], report: &CompileReport) -> Result<Json, RunError> {
    let d = describe(pte)?;
    let p = &d["plans"][0];
    let program = Program::load(pte)?;
    let plan = program.plan_by_name("forward")?;
    let outputs = instruction_outputs(&program, &plan)?;

    // MACs and NPU cycles per source node.
    let mut macs: BTreeMap<String, u64> = BTreeMap::new();
    let mut cycles: BTreeMap<String, u64> = BTreeMap::new();
    let mut delegates = Vec::new();
    let (mut streams, mut npu_weights, mut scratch_max) = (0usize, 0usize, 0usize);
    for i in 0..plan.instruction_count()? {
        match plan.instruction(i)? {
            Instruction::KernelCall { .. } => {
                let m = instruction_macs(&plan, outputs.get(i).map_or(&[], |o| o), i)?;
                if let Some(node) = instruction_sources(&plan, i)?.into_iter().next() {
                    *macs.entry(node).or_default() += m;
                }
            }
            Instruction::DelegateCall { delegate_index, .. } => {
                let k = usize::try_from(delegate_index).unwrap_or(usize::MAX);
                let dl = &p["delegates"][k];
                let npu = &dl["npu"];
                for op in npu["ops"].as_array().into_iter().flatten() {
                    if let Some(src) = op["source"].as_str() {
                        *macs.entry(src.to_string()).or_default() +=
                            op["macs"].as_u64().unwrap_or(0);
                        *cycles.entry(src.to_string()).or_default() +=
                            op["cycles"].as_u64().unwrap_or(0);
                    }
                }
                let dd = plan.delegate(k)?;
                let blob = program.delegate_data(dd.location, dd.index)?;
                let (mut stream, mut weights, mut scratch) = (0, 0, 0);
                if let Ok(b) = VelaBlob::parse(blob) {
                    weights = b.weight_data.len();
                    scratch = b.scratch_size as usize;
                    stream = Payload::parse(b.cmd_data).map_or(0, |c| c.command_stream.len());
                }
                streams += stream;
                npu_weights += weights;
                scratch_max = scratch_max.max(scratch);
                delegates.push(json!({
                    "instruction": i, "delegate": k, "config": npu["config"], "cycles": npu["cycles"],
                    "scratch_bytes": scratch, "sram_bytes": npu["sram_bytes"],
                    "command_stream_bytes": stream, "weight_bytes": weights,
                    "ops": npu["ops"].as_array().map_or(0, |o| o.len()),
                }));
            }
            _ => {}
        }
    }
    let operators: Vec<Json> = report
        .nodes
        .iter()
        .map(|n| {
            let (place, reason) = match n.placement.split_once(": ") {
                Some((p, r)) => (p.to_string(), r.to_string()),
                None => (n.placement.clone(), String::new()),
            };
            json!({
                "node": n.node, "source_op": n.source_op, "placement": place.to_uppercase(),
                "reason": reason, "kernels": n.kernels,
                "macs": macs.get(&n.node).copied().unwrap_or(0),
                "npu_cycles": cycles.get(&n.node).copied(),
            })
        })
        .collect();
    let metadata = report
        .pte_bytes
        .saturating_sub(report.constant_bytes + streams + npu_weights);
    Ok(json!({
        "model": report.model,
        "format": report.format.to_string(),
        "target": report.target,
        "arena": {
            "bytes": report.arena_bytes,
            "liveness_bound": report.liveness_bound,
            "instructions": p["instructions"].as_array().map_or(0, |a| a.len()),
            "tensors": buffers(&p["memory_plan"]),
        },
        "flash": {
            "pte_bytes": report.pte_bytes,
            "cpu_weights": report.constant_bytes,
            "npu_weights": npu_weights,
            "npu_command_streams": streams,
            "program_metadata": metadata,
            "code": null,
        },
        "npu": {"scratch_bytes": scratch_max, "delegates": delegates},
        "operators": operators,
        "totals": {
            "macs": macs.values().sum::<u64>(),
            "npu_cycles": delegates.iter().filter_map(|d| d["cycles"].as_u64()).sum::<u64>(),
        },
    }))
}

/// The memory plan by buffer: values that are views of one tensor (same bytes, overlapping
/// lifetimes, e.g. an NCHW-sized view of an NHWC tensor) become one entry listing them all.
fn buffers(plan: &Json) -> Json {
    let mut out: Vec<Json> = Vec::new();
    for t in plan.as_array().into_iter().flatten() {
        let key = |x: &Json| {
            (
                x["memory_id"].clone(),
                x["offset"].clone(),
                x["bytes"].clone(),
            )
        };
        let span = |x: &Json| {
            (
                x["first_instruction"].as_u64().unwrap_or(0),
                x["last_instruction"].as_u64().unwrap_or(0),
            )
        };
        let (a, b) = span(t);
        let same = out.iter_mut().find(|o| {
            let (c, d) = span(o);
            key(o) == key(t) && a <= d && c <= b
        });
        match same {
            Some(o) => {
                let (c, d) = span(o);
                o["first_instruction"] = json!(a.min(c));
                o["last_instruction"] = json!(b.max(d));
                if let Some(v) = o["values"].as_array_mut() {
                    v.push(t["value"].clone());
                }
                if t["role"] != "intermediate" {
                    o["role"] = t["role"].clone();
                }
            }
            None => {
                let mut o = t.clone();
                o["values"] = json!([t["value"]]);
                out.push(o);
            }
        }
    }
    Json::Array(out)
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The arena picture: x = instruction index, y = arena offset (0 at the top).
pub fn arena_svg(arena: &Json) -> String {
    let n = arena["instructions"].as_u64().unwrap_or(0).max(1) as f64;
    let bytes = arena["bytes"].as_u64().unwrap_or(0);
    let bound = arena["liveness_bound"].as_u64().unwrap_or(0);
    let top = bytes.max(bound).max(1) as f64;
    let (left, plot_w, plot_h) = (70.0, (n * 36.0).clamp(360.0, 1100.0), 320.0);
    let col = plot_w / n;
    let y = |b: f64| 10.0 + b / top * plot_h;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="arena" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"#,
        w = left + plot_w + 260.0,
        h = plot_h + 50.0
    );
    let _ = write!(
        s,
        r##"<rect x="{left}" y="10" width="{plot_w}" height="{plot_h}" fill="#f7f7f7" stroke="#999"/>"##
    );
    for t in arena["tensors"].as_array().into_iter().flatten() {
        let first = t["first_instruction"].as_u64().unwrap_or(0) as f64;
        let last = t["last_instruction"].as_u64().unwrap_or(0) as f64;
        let off = t["offset"].as_u64().unwrap_or(0) as f64;
        let len = t["bytes"].as_u64().unwrap_or(0) as f64;
        let color = match t["role"].as_str() {
            Some("input") => "#4e79a7",
            Some("output") => "#59a14f",
            _ => "#f28e2b",
        };
        let dims: Vec<String> = t["sizes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| d.to_string())
            .collect();
        let _ = write!(
            s,
            r##"<rect class="tensor" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}" fill-opacity="0.75" stroke="#333" stroke-width="0.5"><title>v{} {} [{}]: {} bytes at offset {}, live {}..{}</title></rect>"##,
            left + first * col + 1.0,
            y(off),
            ((last - first + 1.0) * col - 2.0).max(1.0),
            (y(off + len) - y(off)).max(1.0),
            t["value"],
            esc(t["dtype"].as_str().unwrap_or("?")),
            dims.join(", "),
            len,
            off,
            first,
            last,
        );
        let (w, h) = ((last - first + 1.0) * col, y(off + len) - y(off));
        if w >= 28.0 && h >= 14.0 {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" pointer-events="none">v{}</text>"#,
                left + first * col + w / 2.0,
                y(off) + h / 2.0 + 4.0,
                t["value"]
            );
        }
    }
    // When the plan meets the bound, one label says so (two would print over each other).
    let (arena_label, bound_label) = if bytes == bound {
        ("", "arena = liveness bound")
    } else {
        ("arena", "liveness bound")
    };
    for (b, label, style) in [
        (bytes, arena_label, "stroke=\"#333\""),
        (
            bound,
            bound_label,
            "stroke=\"#d62728\" stroke-dasharray=\"6 3\"",
        ),
    ] {
        if label.is_empty() {
            continue;
        }
        let _ = write!(
            s,
            r#"<line class="{cls}" x1="{left}" x2="{x2}" y1="{yy:.1}" y2="{yy:.1}" {style} stroke-width="1.5"/><text x="{tx}" y="{ty:.1}">{label} {b} B</text>"#,
            cls = if label == "arena" {
                "arena"
            } else {
                "liveness-bound"
            },
            x2 = left + plot_w,
            yy = y(b as f64),
            tx = left + plot_w + 6.0,
            ty = y(b as f64) + 4.0,
        );
    }
    let step = (n / 16.0).ceil().max(1.0) as usize;
    for i in (0..n as usize).step_by(step) {
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{i}</text>"#,
            left + (i as f64 + 0.5) * col,
            plot_h + 24.0
        );
    }
    let _ = write!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">instruction</text><text x="4" y="16">offset 0</text><text x="4" y="{:.1}">{} B</text></svg>"#,
        left + plot_w / 2.0,
        plot_h + 42.0,
        plot_h + 10.0,
        top as u64
    );
    s
}

/// The page.
pub fn render_html(r: &Json) -> String {
    let mut s = String::new();
    let title = format!(
        "kiln report: {} for {}",
        r["model"].as_str().unwrap_or("?"),
        r["target"].as_str().unwrap_or("?")
    );
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}\
         td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}td.n{{text-align:right}}\
         .npu{{color:#1f77b4;font-weight:bold}}.cpu{{color:#8c564b;font-weight:bold}}</style></head><body>\n<h1>{t}</h1>\n",
        t = esc(&title)
    );
    let a = &r["arena"];
    let _ = write!(
        s,
        "<h2>Arena</h2><p>{} bytes planned; the liveness lower bound (the most bytes live at one \
         instruction) is {} bytes. Each rectangle is a tensor: from the first to the last \
         instruction that uses it, at its offset (inputs blue, outputs green).</p>\n{}\n",
        a["bytes"],
        a["liveness_bound"],
        arena_svg(a)
    );
    let f = &r["flash"];
    let _ = writeln!(
        s,
        "<h2>Flash</h2><table><tr><th>part</th><th>bytes</th></tr>\
         <tr><td>CPU weights and constants</td><td class=n>{}</td></tr>\
         <tr><td>NPU weights, scales and tables</td><td class=n>{}</td></tr>\
         <tr><td>NPU command streams</td><td class=n>{}</td></tr>\
         <tr><td>program metadata (plan, tensors, delegate headers)</td><td class=n>{}</td></tr>\
         <tr><th>.pte</th><th class=n>{}</th></tr></table>\
         <p>Kernel code is not included: it depends on the firmware build (only the kernels a \
         model uses are linked).</p>",
        f["cpu_weights"],
        f["npu_weights"],
        f["npu_command_streams"],
        f["program_metadata"],
        f["pte_bytes"]
    );
    let n = &r["npu"];
    let ds = n["delegates"].as_array().cloned().unwrap_or_default();
    if !ds.is_empty() {
        let _ = write!(
            s,
            "<h2>NPU</h2><p>Scratch (the largest delegate's): {} bytes.</p><table><tr><th>delegate</th>\
             <th>config</th><th>NPU operations</th><th>cycles (model)</th><th>scratch</th>\
             <th>command stream</th><th>weights</th></tr>",
            n["scratch_bytes"]
        );
        for d in &ds {
            let _ = write!(
                s,
                "<tr><td>{} (instruction {})</td><td>{}</td><td class=n>{}</td><td class=n>{}</td>\
                 <td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
                d["delegate"],
                d["instruction"],
                esc(d["config"].as_str().unwrap_or("?")),
                d["ops"],
                d["cycles"],
                d["scratch_bytes"],
                d["command_stream_bytes"],
                d["weight_bytes"]
            );
        }
        s.push_str("</table>\n");
    }
    let _ = write!(
        s,
        "<h2>Operators</h2><p>{} MACs in total; {} NPU cycles estimated by the cycle model.</p>\
         <table id=\"operators\"><tr><th>node</th><th>operator</th><th>placement</th><th>reason</th>\
         <th>runs as</th><th>MACs</th><th>NPU cycles</th></tr>",
        r["totals"]["macs"], r["totals"]["npu_cycles"]
    );
    for o in r["operators"].as_array().into_iter().flatten() {
        let place = o["placement"].as_str().unwrap_or("?");
        let kernels: Vec<&str> = o["kernels"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str())
            .collect();
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(o["node"].as_str().unwrap_or("")),
            esc(o["source_op"].as_str().unwrap_or("")),
            place.to_lowercase(),
            esc(place),
            esc(o["reason"].as_str().unwrap_or("")),
            esc(&kernels.join(" + ")),
            o["macs"],
            o["npu_cycles"].as_u64().map_or(String::new(), |c| c.to_string()),
        );
    }
    s.push_str("</table>\n</body></html>\n");
    s
}
