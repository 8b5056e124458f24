//! `kiln inspect` in words: what runs where (operators with their source-model nodes, output
//! shapes and types), the memory plan with lifetimes, and each delegate's NPU operations with
//! cycles. Rendered from the JSON description, so both forms always say the same.

use serde_json::Value as Json;
use std::fmt::Write;

/// `[1, 4, 16, 16]` from a JSON array of numbers.
fn dims(v: &Json) -> String {
    let d: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| x.to_string())
        .collect();
    format!("[{}]", d.join(", "))
}

fn plural(n: u64, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// `v7 CHAR [1, 4, 16, 16]` for tensor value `v` of plan `p`.
fn tensor(p: &Json, v: &Json) -> String {
    let Some(i) = v.as_u64() else {
        return "?".into();
    };
    let t = &p["values"][i as usize];
    if t["kind"] == "tensor" {
        format!(
            "v{i} {} {}",
            t["dtype"].as_str().unwrap_or("?"),
            dims(&t["sizes"])
        )
    } else {
        format!("v{i} ({})", t["kind"].as_str().unwrap_or("?"))
    }
}

/// A list of source nodes, shortened for a table cell.
fn sources(list: &Json) -> String {
    let names: Vec<&str> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str())
        .collect();
    match names.len() {
        0 => "-".into(),
        1 => names[0].to_string(),
        n if n <= 3 => names.join(", "),
        n => format!("{}, ... ({n} nodes)", names[..2].join(", ")),
    }
}

/// Renders the description as text for people.
pub fn render_text(d: &Json) -> String {
    let mut s = String::new();
    let segs = d["segments"].as_array().cloned().unwrap_or_default();
    let seg_bytes: u64 = segs.iter().filter_map(|x| x.as_u64()).sum();
    let _ = writeln!(
        s,
        "file: {} bytes; {} of {seg_bytes} bytes; {} in {} bytes",
        d["file_bytes"],
        plural(segs.len() as u64, "data segment"),
        plural(d["constants"].as_u64().unwrap_or(0), "constant tensor"),
        d["constant_segment_bytes"]
    );
    for p in d["plans"].as_array().into_iter().flatten() {
        render_plan(&mut s, p);
    }
    s
}

fn render_plan(s: &mut String, p: &Json) {
    let _ = writeln!(s, "\nplan '{}'", p["name"].as_str().unwrap_or("?"));
    for (what, key) in [("inputs", "inputs"), ("outputs", "outputs")] {
        let list: Vec<String> = p[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| tensor(p, v))
            .collect();
        let _ = writeln!(
            s,
            "  {what:<8} {}",
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        );
    }
    let sizes: Vec<u64> = p["non_const_buffer_sizes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_u64())
        .collect();
    let arena: u64 = sizes.iter().skip(1).sum();
    let _ = writeln!(
        s,
        "  arena    {arena} bytes ({})",
        plural(sizes.len().saturating_sub(1) as u64, "memory id")
    );
    let instrs = p["instructions"].as_array().cloned().unwrap_or_default();
    if !instrs.is_empty() {
        let _ = writeln!(s, "\n  instructions:");
        let _ = writeln!(
            s,
            "    {:>3}  {:<48} {:<5} {:<28} source node",
            "#", "operator", "where", "output"
        );
    }
    for (i, ins) in instrs.iter().enumerate() {
        let (op, place) = if let Some(k) = ins["kernel"].as_str() {
            (k.to_string(), "CPU")
        } else if let Some(di) = ins["delegate"].as_u64() {
            let dl = &p["delegates"][di as usize];
            let npu = dl["npu"].is_object();
            (
                format!("{} delegate {di}", dl["id"].as_str().unwrap_or("?")),
                if npu { "NPU" } else { "?" },
            )
        } else {
            (ins["other"].as_str().unwrap_or("?").to_string(), "-")
        };
        let outs: Vec<String> = ins["outputs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| tensor(p, v))
            .collect();
        let _ = writeln!(
            s,
            "    {i:>3}  {op:<48} {place:<5} {:<28} {}",
            outs.join(", "),
            sources(&ins["sources"])
        );
    }
    render_memory(s, p, instrs.len());
    for (k, dlg) in p["delegates"].as_array().into_iter().flatten().enumerate() {
        render_delegate(s, k, dlg);
    }
}

fn render_memory(s: &mut String, p: &Json, n_instr: usize) {
    let mut plan = p["memory_plan"].as_array().cloned().unwrap_or_default();
    plan.sort_by_key(|t| {
        (
            t["memory_id"].as_u64(),
            t["offset"].as_u64(),
            t["first_instruction"].as_u64(),
        )
    });
    if plan.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n  arena map (memory plan; live = first..last instruction using the tensor):"
    );
    let _ = writeln!(
        s,
        "    {:>3} {:>8} {:>8}  {:<10} tensor",
        "id", "offset", "bytes", "live"
    );
    for t in &plan {
        let at = |k: &str| t[k].as_u64().map_or("-".to_string(), |x| x.to_string());
        let live = match t["role"].as_str() {
            Some("input") => format!("in..{}", at("last_instruction")),
            Some("output") => format!("{}..out", at("first_instruction")),
            _ => format!("{}..{}", at("first_instruction"), at("last_instruction")),
        };
        let role = match t["role"].as_str() {
            Some("intermediate") | None => String::new(),
            Some(r) => format!(" ({r})"),
        };
        let _ = writeln!(
            s,
            "    {:>3} {:>8} {:>8}  {live:<10} v{} {} {}{role}",
            t["memory_id"].to_string(),
            t["offset"].to_string(),
            t["bytes"].to_string(),
            t["value"],
            t["dtype"].as_str().unwrap_or("?"),
            dims(&t["sizes"]),
        );
    }
    let _ = n_instr;
}

fn render_delegate(s: &mut String, k: usize, dlg: &Json) {
    let loc = match dlg["location"].as_str() {
        Some("Inline") => "inline",
        Some("Segment") => "in a data segment",
        _ => "?",
    };
    let _ = writeln!(
        s,
        "\n  delegate {k}: {}, {} bytes ({loc}, #{})",
        dlg["id"].as_str().unwrap_or("?"),
        dlg["bytes"],
        dlg["index"]
    );
    let npu = &dlg["npu"];
    if npu.is_object() {
        if let Some(e) = npu["error"].as_str() {
            let _ = writeln!(s, "    NPU model: {e}");
        }
        let cycles = npu["cycles"]
            .as_u64()
            .map_or("unknown".to_string(), |c| c.to_string());
        let _ = writeln!(
            s,
            "    {}: {cycles} cycles (cycle model), SRAM {} bytes, flash {} bytes",
            npu["config"].as_str().unwrap_or("?"),
            npu["sram_bytes"],
            npu["flash_bytes"]
        );
        let _ = writeln!(
            s,
            "    {:>4}  {:<36} {:>10}  source node",
            "op", "kind", "cycles"
        );
        for (k, op) in npu["ops"].as_array().into_iter().flatten().enumerate() {
            let _ = writeln!(
                s,
                "    {k:>4}  {:<36} {:>10}  {}",
                op["kind"].as_str().unwrap_or("?"),
                op["cycles"].to_string(),
                op["source"].as_str().unwrap_or("-")
            );
        }
    }
    if let Some(d) = dlg["disassembly"].as_str().filter(|d| !d.is_empty()) {
        let _ = writeln!(s, "    command stream:");
        for line in d.lines() {
            let _ = writeln!(s, "      {line}");
        }
    }
}
