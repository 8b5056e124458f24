//! `kiln inspect`: what a `.pte` contains — plans, operators, instructions,
//! tensors, the arena map and sizes — as text or JSON. Reads with the
//! runtime's own reader, so anything it shows is what the device will see.

use kiln_compiler::run::RunError;
use kiln_rt::pte::{Instruction, Plan, Program, TensorData, Value};
use kiln_rt::RtError;
use serde_json::{json, Value as Json};

/// Builds the JSON description of a `.pte` (the text form is rendered from it). The program's
/// memory sizes are checked as `kiln run` checks them ([`kiln_compiler::run::check_memory`]):
/// a file `kiln run` refuses is an error here too, and nothing it declares is allocated
/// unchecked (the NPU summary runs the command stream in scratch of the declared size).
pub fn describe(pte: &[u8]) -> Result<Json, RunError> {
    let program = Program::load(pte)?;
    let memory = kiln_compiler::run::check_memory(&program)?;
    let mut plans = Vec::new();
    for p in 0..program.plan_count()? {
        plans.push(describe_plan(&program, &program.plan(p)?)?);
    }
    let header = program.extended_header().map(|h| {
        json!({
            "program_size": h.program_size,
            "segment_base_offset": h.segment_base_offset,
            "segment_data_size": h.segment_data_size,
        })
    });
    let mut segments = Vec::new();
    for s in 0..program.segment_count()? {
        segments.push(program.segment(s)?.len());
    }
    Ok(json!({
        "file_bytes": pte.len(),
        "host_memory": {
            "arena": memory.arena,
            "scratch": memory.scratch,
            "fast_scratch": memory.fast_scratch,
        },
        "version": program.version()?,
        "extended_header": header,
        "segments": segments,
        "constants": program.constant_count(),
        "constant_segment_bytes": program.constant_segment_size(),
        "plans": plans,
    }))
}

fn value_json(plan: &Plan<'_>, v: &Value<'_>) -> Result<Json, RtError> {
    Ok(match v {
        Value::Null => json!({"kind": "null"}),
        Value::Int(x) => json!({"kind": "int", "value": x}),
        Value::Bool(x) => json!({"kind": "bool", "value": x}),
        Value::Double(x) => json!({"kind": "double", "value": x}),
        Value::String(s) => json!({"kind": "string", "value": s}),
        Value::IntList(items) => {
            let mut vals = Vec::new();
            for i in items.iter() {
                vals.push(match usize::try_from(i).ok().map(|i| plan.value(i)) {
                    Some(Ok(Value::Int(x))) => json!(x),
                    _ => json!(format!("<bad ref {i}>")),
                });
            }
            json!({"kind": "int_list", "value": vals})
        }
        Value::DoubleList(items) => {
            json!({"kind": "double_list", "value": items.iter().collect::<Vec<_>>()})
        }
        Value::BoolList(items) => {
            json!({"kind": "bool_list", "value": items.iter().collect::<Vec<_>>()})
        }
        Value::TensorList(items) => {
            json!({"kind": "tensor_list", "values": items.iter().collect::<Vec<_>>()})
        }
        Value::OptionalTensorList(items) => {
            json!({"kind": "optional_tensor_list", "values": items.iter().collect::<Vec<_>>()})
        }
        Value::Tensor(t) => {
            let storage = match t.data {
                TensorData::Constant(i) => json!({"constant": i}),
                TensorData::Planned { memory_id, offset } => {
                    json!({"memory_id": memory_id, "offset": offset})
                }
                TensorData::Unplanned => json!("unplanned"),
                TensorData::PlannedWithInit { data_buffer_idx } => {
                    json!({"planned_with_init": data_buffer_idx})
                }
            };
            json!({
                "kind": "tensor",
                "dtype": t.scalar_type.name(),
                "sizes": t.sizes.iter().collect::<Vec<_>>(),
                "dim_order": t.dim_order,
                "bytes": t.nbytes()?,
                "storage": storage,
            })
        }
    })
}

/// The tensor values instruction `ins` reads or writes (list arguments by their items).
fn tensor_args(plan: &Plan<'_>, ins: &Instruction<'_>) -> Result<Vec<u32>, RtError> {
    let args: Vec<i32> = match ins {
        Instruction::KernelCall { args, .. } | Instruction::DelegateCall { args, .. } => {
            args.iter().collect()
        }
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for a in args {
        match plan.value(usize::try_from(a).unwrap_or(usize::MAX))? {
            Value::Tensor(_) => out.push(a as u32),
            Value::TensorList(items) => out.extend(items.iter().map(|x| x as u32)),
            Value::OptionalTensorList(items) => {
                out.extend(items.iter().filter(|&x| x >= 0).map(|x| x as u32))
            }
            _ => {}
        }
    }
    Ok(out)
}

fn describe_plan(program: &Program<'_>, plan: &Plan<'_>) -> Result<Json, RtError> {
    let mut values = Vec::new();
    let mut arena = Vec::new();
    for i in 0..plan.value_count()? {
        let v = plan.value(i)?;
        if let Value::Tensor(t) = &v {
            if let TensorData::Planned { memory_id, offset } = t.data {
                arena.push((memory_id, offset, t.nbytes()?, i));
            }
        }
        values.push(value_json(plan, &v)?);
    }
    arena.sort();
    let mut operators = Vec::new();
    for i in 0..plan.operator_count()? {
        let op = plan.operator(i)?;
        operators.push(format!("{}.{}", op.name, op.overload));
    }
    let outputs_of = kiln_compiler::trace::instruction_outputs(program, plan)?;
    let n_instr = plan.instruction_count()?;
    let mut instructions = Vec::new();
    // Lifetimes: the first and last instruction that reads or writes each tensor value.
    let mut live: std::collections::BTreeMap<u32, (usize, usize)> = Default::default();
    for i in 0..n_instr {
        let sources = crate::profile::instruction_sources(plan, i)?;
        let outputs = outputs_of.get(i).cloned().unwrap_or_default();
        let ins = plan.instruction(i)?;
        for v in tensor_args(plan, &ins)? {
            let e = live.entry(v).or_insert((i, i));
            e.0 = e.0.min(i);
            e.1 = e.1.max(i);
        }
        instructions.push(match ins {
            Instruction::KernelCall { op_index, args } => json!({
                "kernel": usize::try_from(op_index).ok().and_then(|k| operators.get(k)).cloned()
                    .unwrap_or_else(|| format!("<bad operator {op_index}>")),
                "args": args.iter().collect::<Vec<_>>(),
                "outputs": outputs,
                "sources": sources,
            }),
            Instruction::DelegateCall {
                delegate_index,
                args,
            } => json!({
                "delegate": delegate_index,
                "args": args.iter().collect::<Vec<_>>(),
                "outputs": outputs,
                "sources": sources,
            }),
            other => json!({"other": format!("{other:?}")}),
        });
    }
    let plan_inputs: Vec<i32> = plan.inputs()?.iter().collect();
    let plan_outputs: Vec<i32> = plan.outputs()?.iter().collect();
    let mut memory_plan = Vec::new();
    for &(memory_id, offset, bytes, v) in &arena {
        let Value::Tensor(t) = plan.value(v)? else {
            continue;
        };
        let v32 = v as u32;
        let is_in = plan_inputs.contains(&(v as i32));
        let is_out = plan_outputs.contains(&(v as i32));
        let (mut first, mut last) = live
            .get(&v32)
            .map_or((None, None), |&(a, b)| (Some(a), Some(b)));
        // Inputs are live from before the first instruction, outputs until after the last.
        if is_in {
            first = Some(0);
        }
        if is_out {
            last = Some(n_instr.saturating_sub(1));
        }
        memory_plan.push(json!({
            "value": v, "memory_id": memory_id, "offset": offset, "bytes": bytes,
            "dtype": t.scalar_type.name(), "sizes": t.sizes.iter().collect::<Vec<_>>(),
            "first_instruction": first, "last_instruction": last,
            "role": if is_in { "input" } else if is_out { "output" } else { "intermediate" },
        }));
    }
    let mut delegates = Vec::new();
    for i in 0..plan.delegate_count()? {
        let d = plan.delegate(i)?;
        let blob = program.delegate_data(d.location, d.index)?;
        let mut specs = serde_json::Map::new();
        for s in 0..d.compile_spec_count() {
            let (k, v) = d.compile_spec(s)?;
            specs.insert(k.to_string(), json!(String::from_utf8_lossy(v)));
        }
        let mut disassembly = String::new();
        if d.id == kiln_rt::ethos_u::BACKEND_ID {
            // Writing to a String cannot fail; malformed blobs are reported inside the listing.
            let _ = kiln_rt::ethos_u::disasm::disassemble(blob, &mut disassembly);
        }
        let npu = if d.id == kiln_rt::ethos_u::BACKEND_ID {
            let fast = d
                .compile_spec_value(kiln_compiler::vela::FAST_SCRATCH_SPEC)?
                .and_then(|v| <[u8; 4]>::try_from(v).ok())
                .map_or(0, |b| u32::from_le_bytes(b) as usize);
            let sources: Vec<String> = d
                .compile_spec_value(kiln_compiler::ethos_u::segment::SOURCES_SPEC)?
                .map(|v| {
                    String::from_utf8_lossy(v)
                        .lines()
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let mut n = npu_summary(blob, fast);
            if let Some(ops) = n["ops"].as_array_mut() {
                for (k, op) in ops.iter_mut().filter(|o| o["kind"] != "dma").enumerate() {
                    op["source"] = sources.get(k).map_or(Json::Null, |s| json!(s));
                }
            }
            n
        } else {
            Json::Null
        };
        delegates.push(json!({
            "npu": npu,
            "disassembly": disassembly,
            "id": d.id,
            "location": format!("{:?}", d.location),
            "index": d.index,
            "bytes": blob.len(),
            "compile_specs": specs,
        }));
    }
    Ok(json!({
        "name": plan.name()?,
        "inputs": plan.inputs()?.iter().collect::<Vec<_>>(),
        "outputs": plan.outputs()?.iter().collect::<Vec<_>>(),
        "non_const_buffer_sizes": plan.non_const_buffer_sizes()?.iter().collect::<Vec<_>>(),
        "operators": operators,
        "instructions": instructions,
        "delegates": delegates,
        "values": values,
        "memory_plan": memory_plan,
        "arena_map": arena.iter().map(|(m, o, n, v)| json!({"memory_id": m, "offset": o, "bytes": n, "value": v})).collect::<Vec<_>>(),
    }))
}

/// The cycle model's view of an Ethos-U delegate: configuration, cycles in total and per
/// operation, SRAM (scratch + fast scratch) and flash (command stream + weights). The stream
/// is executed on kiln's NPU model over zeroed feature maps (the cycles do not depend on the
/// values). `null` fields when the blob cannot be read.
pub fn npu_summary(blob: &[u8], fast_scratch: usize) -> Json {
    use kiln_rt::ethos_u::blob::VelaBlob;
    use kiln_rt::ethos_u::payload::{Payload, Product};
    use kiln_rt::ethos_u::sim::{NpuModel, SimConfig};
    let Ok(b) = VelaBlob::parse(blob) else {
        return json!({"error": "not a vela_bin_stream blob"});
    };
    let Ok(payload) = Payload::parse(b.cmd_data) else {
        return json!({"error": "cmd_data is not a COP1 payload"});
    };
    let Some(cfg) = payload.config else {
        return json!({"error": "payload without optimizer config"});
    };
    let macs = cfg.config.macs_per_cc();
    let (family, sim) = match cfg.config.product() {
        Some(Product::EthosU55) => ("u55", SimConfig::ethos_u55(macs)),
        Some(Product::EthosU65) => ("u65", SimConfig::ethos_u65(macs)),
        _ => ("?", None),
    };
    let config = format!("ethos-{family}-{macs}");
    let sram = b.scratch_size as usize + fast_scratch;
    // `describe` has checked these against the program; a direct caller gets the same limit.
    let limit = kiln_compiler::limits::HOST_MEMORY_LIMIT;
    if b.scratch_size as usize > limit || fast_scratch > limit {
        return json!({"error": format!("scratch of {sram} bytes is over the host limit of {limit} bytes")});
    }
    let flash = payload.command_stream.len() + b.weight_data.len();
    let Some(sim) = sim else {
        return json!({"config": config, "sram_bytes": sram, "flash_bytes": flash, "cycles": null, "ops": []});
    };
    let mut scratch = vec![0u8; (b.scratch_size as usize).max(16)];
    let mut fast = vec![0u8; fast_scratch];
    let mut regions = kiln_rt::ethos_u::sim::shared_sram_regions(b.weight_data, &mut scratch);
    if fast_scratch > 0 {
        regions[2] = kiln_rt::ethos_u::driver::Region::ReadWrite(&mut fast);
    }
    let mut mem = kiln_rt::ethos_u::driver::NpuMemory {
        command_stream: payload.command_stream,
        regions: &mut regions,
    };
    let mut ops = Vec::new();
    let mut model = NpuModel::new(sim);
    let run = model.run_with(payload.command_stream, &mut mem, &mut |r| {
        ops.push(json!({
            "kind": crate::profile::npu_kind_name(r.kind), "offset": r.offset, "cycles": r.cycles,
            "macs": crate::profile::npu_op_macs(r),
        }));
    });
    match run {
        Ok(stats) => json!({
            "config": config, "cycles": stats.cycles, "sram_bytes": sram, "flash_bytes": flash, "ops": ops,
        }),
        Err(e) => json!({
            "config": config, "cycles": null, "sram_bytes": sram, "flash_bytes": flash, "ops": ops,
            "error": e.to_string(),
        }),
    }
}

mod text;
pub use text::render_text;

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_compiler::compile::{compile_file, CompileOptions};
    use kiln_compiler::target::Target;

    /// kiln's U65 programs count their fast scratch (region 2) in the SRAM, as Vela's do; the
    /// U55's have none.
    #[test]
    fn sram_of_a_kiln_delegate_is_scratch_plus_fast_scratch() {
        let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/kws_dscnn/kws_dscnn_int8.tflite");
        for (target, u65) in [("ethos-u65-256", true), ("ethos-u55-128", false)] {
            let opts = CompileOptions::for_target(Target::lookup(target).unwrap());
            let pte = compile_file(&model, &opts).unwrap().pte;
            let program = Program::load(&pte).unwrap();
            let plan = program.plan(0).unwrap();
            let d = plan.delegate(0).unwrap();
            let blob = program.delegate_data(d.location, d.index).unwrap();
            let scratch = kiln_rt::ethos_u::VelaBlob::parse(blob)
                .unwrap()
                .scratch_size as u64;
            let fast = d
                .compile_spec_value(kiln_compiler::vela::FAST_SCRATCH_SPEC)
                .unwrap()
                .map_or(0, |v| u32::from_le_bytes(v.try_into().unwrap()) as u64);
            assert_eq!(fast > 0, u65, "{target}");
            let j = describe(&pte).unwrap();
            let npu = &j["plans"][0]["delegates"][0]["npu"];
            assert_eq!(npu["sram_bytes"].as_u64(), Some(scratch + fast), "{target}");
            assert!(npu["cycles"].as_u64().is_some_and(|c| c > 0), "{npu}");
        }
    }
}
