//! The NPU model against the hardware's oracle: Vela-compiled command streams
//! of the int8 fixture models (tests/fixtures/vela/<config>/) run on the
//! model and must reproduce TFLite Micro's outputs (`ref/tflm_int8`) bit for
//! bit, for every golden input.

use kiln_compiler::import::tflite::read_vela_custom_ops;
use kiln_compiler::npy::NpyArray;
use kiln_rt::ethos_u::payload::Payload;
use kiln_rt::ethos_u::sim::{NpuModel, OpReport, SimConfig};
use kiln_rt::ethos_u::{NpuMemory, Region};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Outcome of one model on one configuration.
struct Run {
    mismatches: Vec<String>,
    cycles: u64,
    ops: u32,
}

fn run_model(config: &str, sim: SimConfig, model: &str) -> Run {
    let path = fixtures()
        .join("vela")
        .join(config)
        .join(format!("{model}_int8_vela.tflite"));
    let bytes = std::fs::read(&path).unwrap();
    let m = read_vela_custom_ops(&path, &bytes).unwrap();
    assert_eq!(
        m.cpu_ops().count(),
        0,
        "{model}: CPU operators around the NPU"
    );
    let op = m.npu_ops().next().unwrap().clone();
    let payload = Payload::parse(m.bytes(op.command_stream)).unwrap();
    let read_only = m.bytes(op.read_only).to_vec();
    let (ifm, ofm) = (op.ifms[0], op.ofms[0]);
    let offset = |t: usize| m.offline_offsets.get(t).copied().flatten().unwrap() as usize;
    let (in_at, out_at) = (offset(ifm), offset(ofm));
    let out_len = m.size(ofm);
    let mut npu = NpuModel::new(sim);
    let mut run = Run {
        mismatches: Vec::new(),
        cycles: 0,
        ops: 0,
    };
    let dir = fixtures().join(model).join("ref").join("tflm_int8");
    for i in 0..4 {
        let input = NpyArray::read(dir.join(format!("input_{i}.npy")))
            .unwrap()
            .to_i8()
            .unwrap();
        let want = NpyArray::read(dir.join(format!("output_{i}.npy")))
            .unwrap()
            .to_i8()
            .unwrap();
        let mut scratch = vec![0u8; m.size(op.scratch)];
        let mut fast = vec![0u8; m.size(op.scratch_fast)];
        scratch[in_at..in_at + input.len()]
            .copy_from_slice(&input.iter().map(|&v| v as u8).collect::<Vec<_>>());
        let mut regions: [Region<'_>; 8] = Default::default();
        regions[0] = Region::ReadOnly(&read_only);
        regions[1] = Region::ReadWrite(&mut scratch);
        regions[2] = if op.scratch_fast == op.scratch {
            Region::Alias(1)
        } else {
            Region::ReadWrite(&mut fast)
        };
        let mut mem = NpuMemory {
            command_stream: payload.command_stream,
            regions: &mut regions,
        };
        let mut per_op: Vec<OpReport> = Vec::new();
        let stats = npu
            .run_with(payload.command_stream, &mut mem, &mut |r| per_op.push(*r))
            .unwrap_or_else(|e| panic!("{config} {model} input {i}: {e}"));
        assert!(stats.stopped);
        run.cycles = stats.cycles;
        run.ops = stats.ops;
        let got: Vec<i8> = scratch[out_at..out_at + out_len]
            .iter()
            .map(|&b| b as i8)
            .collect();
        if got != want {
            let diff = got.iter().zip(&want).filter(|(a, b)| a != b).count();
            let maxd = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (*a as i32 - *b as i32).abs())
                .max()
                .unwrap_or(0);
            run.mismatches.push(format!(
                "{config} {model} input {i}: {diff}/{} differ (max |diff| {maxd})\n got  {:?}\n want {:?}",
                want.len(),
                &got[..got.len().min(16)],
                &want[..want.len().min(16)]
            ));
        }
    }
    run
}

/// Vela's own estimate for the model (`inference_time` x `core_clock` in its summary CSV).
fn vela_cycles(config: &str, model: &str) -> Option<u64> {
    let csv = std::fs::read_to_string(
        fixtures()
            .join("vela")
            .join(config)
            .join(format!("{model}_int8_vela_summary.csv")),
    )
    .ok()?;
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next()?.split(',').collect();
    let row: Vec<&str> = lines.next()?.split(',').collect();
    let get = |name: &str| -> Option<f64> {
        let i = head.iter().position(|h| *h == name)?;
        row.get(i)?.parse().ok()
    };
    Some((get("inference_time")? * get("core_clock")?).round() as u64)
}

const MODELS: [&str; 4] = [
    "kws_dscnn",
    "ic_resnet8",
    "vww_mobilenetv1_025",
    "ad_fc_autoencoder",
];

/// Every int8 fixture model compiled for `config` is bit-exact on the model.
fn check_config(config: &str, sim: SimConfig) {
    let mut failures = Vec::new();
    for model in MODELS {
        let t = std::time::Instant::now();
        let r = run_model(config, sim, model);
        println!(
            "{config} {model}: {} NPU ops, model {} cycles, Vela estimate {:?} cycles, host {:.1} ms/inference",
            r.ops,
            r.cycles,
            vela_cycles(config, model),
            t.elapsed().as_secs_f64() * 1000.0 / 4.0
        );
        failures.extend(r.mismatches);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn vela_ethos_u55_64_bit_exact() {
    check_config("ethos-u55-64", SimConfig::ethos_u55(64).unwrap());
}

#[test]
fn vela_ethos_u55_128_bit_exact() {
    check_config("ethos-u55-128", SimConfig::ethos_u55(128).unwrap());
}

#[test]
fn vela_ethos_u55_256_bit_exact() {
    check_config("ethos-u55-256", SimConfig::ethos_u55(256).unwrap());
}

#[test]
fn vela_ethos_u65_256_bit_exact() {
    check_config("ethos-u65-256", SimConfig::ethos_u65(256).unwrap());
}

/// Thousands of seeded single-word mutations of the kws command stream: every
/// run ends (a result or an error), never a panic or an access outside the
/// regions (the regions are plain slices: an out-of-bounds access would panic).
#[test]
fn mutated_command_streams_end_in_results_or_errors() {
    let path = fixtures().join("vela/ethos-u55-128/kws_dscnn_int8_vela.tflite");
    let bytes = std::fs::read(&path).unwrap();
    let m = read_vela_custom_ops(&path, &bytes).unwrap();
    let op = m.npu_ops().next().unwrap().clone();
    let payload = Payload::parse(m.bytes(op.command_stream)).unwrap();
    let read_only = m.bytes(op.read_only).to_vec();
    let stream = payload.command_stream.to_vec();
    // A small work budget keeps every run short; mutations that need more stop with WorkLimit.
    let sim = SimConfig {
        max_work: 100_000,
        ..SimConfig::ethos_u55(128).unwrap()
    };
    let mut npu = NpuModel::new(sim);
    let mut seed = 0x9E37_79B9u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let (mut ok, mut err) = (0, 0);
    for _ in 0..1000 {
        let mut s = stream.clone();
        let words = s.len() / 4;
        // Mutate one or two words: random bits, or a random byte.
        for _ in 0..1 + next() % 2 {
            let w = (next() as usize % words) * 4;
            match next() % 3 {
                0 => s[w + (next() % 4) as usize] = next() as u8,
                1 => s[w + 2 + (next() % 2) as usize] ^= 1 << (next() % 8),
                _ => s[w..w + 4].copy_from_slice(&next().to_le_bytes()),
            }
        }
        // Sometimes also truncate.
        if next() % 8 == 0 {
            s.truncate(next() as usize % s.len());
        }
        let mut scratch = vec![0u8; m.size(op.scratch)];
        let mut regions: [Region<'_>; 8] = Default::default();
        regions[0] = Region::ReadOnly(&read_only);
        regions[1] = Region::ReadWrite(&mut scratch);
        regions[2] = Region::Alias(1);
        let mut mem = NpuMemory {
            command_stream: &s,
            regions: &mut regions,
        };
        match npu.run(&s, &mut mem) {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                err += 1
            }
        }
    }
    println!("mutations: {ok} ran to the end, {err} stopped with an error");
    assert!(err > 0);
}
