use super::super::decode::MlwDecoder;
use super::*;
use std::eprintln;
use std::vec::Vec;

/// xorshift64*: deterministic, no dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in lo..=hi.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.next() as usize % xs.len()]
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn decode_all(b: &[u8]) -> Vec<i16> {
    let mut d = MlwDecoder::new();
    let mut v = Vec::new();
    while let Some(w) = d.next_weight(b).unwrap() {
        v.push(w);
    }
    v
}

/// Decodes `stream` the way the NPU model's `conv` does (one decoder
/// carried across OFM blocks, positions from `walk_block`) and checks
/// every weight against `w` and every padding position against 0; then
/// that the stream holds nothing more.
fn check_stream(l: &WeightLayout, stream: &[u8], w: &dyn Fn(u32, u32, u32, u32) -> i16) {
    assert_eq!(stream.len() % 16, 0, "{l:?}");
    let order = l.order().unwrap();
    let mut dec = MlwDecoder::new();
    let mut bz = 0;
    let mut n = 0usize;
    while bz < l.ofm_depth {
        order
            .walk_block::<()>(bz, |slot| {
                let got = dec.expect_weight(stream).unwrap();
                let want = slot.map_or(0, |(o, y, x, i)| w(o, y, x, i));
                assert_eq!(got, want, "{l:?} position {n} slot {slot:?}");
                n += 1;
                Ok(())
            })
            .unwrap();
        bz += l.ofm_block_depth;
    }
    assert_eq!(dec.next_weight(stream).unwrap(), None, "{l:?}");
}

fn layout(o: u32, kh: u32, kw: u32, i: u32, blk: u32) -> WeightLayout {
    WeightLayout {
        ofm_depth: o,
        kernel_h: kh,
        kernel_w: kw,
        ifm_depth: i,
        depthwise: false,
        part_kernel: false,
        ofm_block_depth: blk,
        ifm_bits: 8,
        ofm_ublock_depth: 8,
        ifm_ublock_depth: 8,
        dilation: [1, 1],
    }
}

/// A weight distribution for the random tests: a hash of the position
/// mapped through one of several shapes.
fn weight_fn(kind: u32, seed: u64) -> impl Fn(u32, u32, u32, u32) -> i16 {
    move |o, y, x, i| {
        let mut h = Rng(seed
            ^ (u64::from(o) << 48 | u64::from(y) << 32 | u64::from(x) << 16 | u64::from(i))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            | 1);
        h.next();
        let r = h.next();
        match kind {
            // Uniform over the whole range.
            0 => (r % 511) as i16 - 255,
            // Bell-shaped, like trained weights.
            1 => {
                ((r & 0xFF) as i16 + ((r >> 8) & 0xFF) as i16 + ((r >> 16) & 0xFF) as i16 - 382) / 6
            }
            // Sparse: mostly zeros.
            2 => {
                if r % 5 == 0 {
                    ((r >> 8) % 61) as i16 - 30
                } else {
                    0
                }
            }
            // Few distinct values (palette-friendly).
            3 => [-100, -7, 0, 3, 3, 3, 42, 127][(r % 8) as usize],
            // All zero.
            4 => 0,
            // Extremes.
            5 => [-255, 255, 0][(r % 3) as usize],
            // One nonzero constant.
            6 => -77,
            // Small values.
            _ => (r % 5) as i16 - 2,
        }
    }
}

#[test]
fn round_trips_random_layouts() {
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    for case in 0..400 {
        let depthwise = rng.next() % 4 == 0;
        let big_kernel = rng.next() % 6 == 0;
        let kmax = if big_kernel { 11 } else { 7 };
        let kmin = if big_kernel { 8 } else { 1 };
        let mut l = layout(
            rng.range(1, 70) as u32,
            rng.range(kmin, kmax) as u32,
            rng.range(1, kmax) as u32,
            if depthwise {
                1
            } else {
                rng.range(1, 70) as u32
            },
            rng.pick(&[8, 16, 32, 64, 1, 3, 128]),
        );
        l.depthwise = depthwise;
        l.part_kernel = !depthwise && rng.next() % 2 == 0;
        l.ofm_ublock_depth = rng.pick(&[4, 8]);
        l.ifm_bits = if rng.next() % 6 == 0 { 16 } else { 8 };
        if rng.next() % 4 == 0 {
            l.dilation = [rng.range(1, 2) as u32, rng.range(1, 2) as u32];
        }
        // Keep the debug-build test quick.
        while l.ofm_depth * l.kernel_h * l.kernel_w * l.ifm_depth > 40_000 {
            l.ifm_depth = (l.ifm_depth / 2).max(1);
            l.ofm_depth = (l.ofm_depth * 3 / 4).max(1);
        }
        let kind = (case % 8) as u32;
        let w = weight_fn(kind, rng.next());
        let stream = encode_weights(&l, &w).unwrap();
        check_stream(&l, &stream, &w);
    }
}

#[test]
fn round_trips_edge_cases() {
    // One weight, all-zero, all-extreme, one value, long zero runs.
    let cases: &[(WeightLayout, u32)] = &[
        (layout(1, 1, 1, 1, 8), 0),
        (layout(1, 1, 1, 1, 8), 4),
        (layout(1, 1, 1, 1, 8), 6),
        (layout(70, 7, 7, 3, 64), 4),
        (layout(37, 3, 3, 20, 16), 5),
        (layout(64, 1, 1, 64, 32), 6),
        (layout(9, 9, 9, 9, 8), 2),
    ];
    for &(l, kind) in cases {
        let w = weight_fn(kind, 7);
        let stream = encode_weights(&l, &w).unwrap();
        check_stream(&l, &stream, &w);
    }
    // A stream long enough to need several slices in every mode.
    for kind in [0, 1, 2, 4, 5] {
        let l = layout(64, 8, 8, 32, 64);
        let w = weight_fn(kind, 99);
        let stream = encode_weights(&l, &w).unwrap();
        check_stream(&l, &stream, &w);
    }
    // A sequence that switches character half way (the slicer must cut).
    let mut v: Vec<i16> = (0..5000).map(|k| ((k * 37) % 511 - 255) as i16).collect();
    v.extend((0..5000).map(|k| (k % 3) as i16 - 1));
    v.resize(v.len() + 40_000, 0);
    v.extend((0..40_000).map(|k| (k % 2) as i16));
    let b = encode_values(&v).unwrap();
    assert_eq!(decode_all(&b), v);
    assert_eq!(encode_values(&[]).unwrap().len(), 16);
    assert_eq!(decode_all(&encode_values(&[]).unwrap()), Vec::<i16>::new());
}

/// Every symbolisation (zero runs or not, every palette size) with
/// every weight configuration and zero-run divisor, in single slices and
/// in random multi-slice plans: the bitstream writer must be right
/// whatever the search picks.
#[test]
fn every_configuration_round_trips() {
    let mut rng = Rng(0xFEED_F00D);
    for kind in 0..9 {
        let w = weight_fn(kind, 3);
        let len = 1 + rng.range(0, 900) as u32;
        let values: Vec<i16> = (0..len).map(|k| w(k, k % 3, 0, k % 7)).collect();
        for sym in candidates(&values, usize::MAX) {
            let nz = if sym.runs.is_some() { Z_DIVS } else { 1 };
            let n = sym.idx.len();
            let codes = |c: WCfg, a: usize, b: usize| {
                sym.idx[a..b]
                    .iter()
                    .all(|&v| c.bits(u32::from(v), sym.raw_bits).is_some())
            };
            for &c in &W_CFGS {
                if !codes(c, 0, n) {
                    continue;
                }
                for zdiv in 0..nz {
                    let plan = [Slice {
                        start: 0,
                        end: n,
                        w: c,
                        zdiv,
                    }];
                    let mut b = Bits::default();
                    write_section(&mut b, &sym, &plan);
                    b.put(3, 7);
                    assert_eq!(decode_all(&b.into_bytes()), values, "{kind} {c:?} {zdiv}");
                }
            }
            for _ in 0..5 {
                let mut plan = Vec::new();
                let mut a = 0;
                while a < n {
                    let b = (a + 1 + rng.range(0, 60) as usize).min(n);
                    let ok: Vec<WCfg> =
                        W_CFGS.iter().copied().filter(|&c| codes(c, a, b)).collect();
                    plan.push(Slice {
                        start: a,
                        end: b,
                        w: rng.pick(&ok),
                        zdiv: rng.range(0, i64::from(nz) - 1) as u32,
                    });
                    a = b;
                }
                let mut b = Bits::default();
                write_section(&mut b, &sym, &plan);
                b.put(3, 7);
                assert_eq!(decode_all(&b.into_bytes()), values, "{kind} {plan:?}");
            }
        }
    }
}

#[test]
fn long_sections_split_into_legal_slices() {
    // 100k weights of one kind: one configuration, cut at the SLICELEN limit.
    let values: Vec<i16> = (0..100_000).map(|k| (k % 5) as i16 - 2).collect();
    let syms = candidates(&values, 1);
    let plan = plan_slices(&syms[0]);
    assert!(plan.len() >= 3, "{plan:?}");
    assert_eq!(plan.last().map(|s| s.end), Some(syms[0].idx.len()));
    assert!(plan
        .iter()
        .all(|s| s.end - s.start <= MAX_SLICE && s.end > s.start));
    assert_eq!(decode_all(&encode_values(&values).unwrap()), values);
    // Dense then sparse: zero runs win and several slices are used.
    let mut v: Vec<i16> = (0..3000).map(|k| ((k * 37) % 511 - 255) as i16).collect();
    v.extend((0..30_000).map(|k| if k % 50 == 0 { 3 } else { 0 }));
    let syms = candidates(&v, 1);
    assert!(syms[0].runs.is_some());
    assert!(plan_slices(&syms[0]).len() >= 2);
    assert_eq!(decode_all(&encode_values(&v).unwrap()), v);
}

#[test]
fn decodes_arm_oracle_sequences() {
    for (values, hex) in super::super::oracle::VECTORS {
        let ours = encode_values(values).unwrap();
        assert_eq!(decode_all(&ours), *values);
        // Arm's stream for the same values decodes identically, and ours is
        // no larger.
        let arm = unhex(hex);
        assert_eq!(decode_all(&arm), *values);
        eprintln!(
            "oracle seq {}: ours {} arm {}",
            values.len(),
            ours.len(),
            arm.len()
        );
        assert!(ours.len() <= arm.len(), "{} > {}", ours.len(), arm.len());
    }
}

#[test]
fn matches_arm_reorder_cases() {
    for case in super::super::oracle::REORDER {
        let o = case.order;
        let l = WeightLayout {
            ofm_depth: o.ofm_depth,
            kernel_h: o.kernel_height,
            kernel_w: o.kernel_width,
            ifm_depth: o.ifm_depth,
            depthwise: o.depthwise,
            part_kernel: o.part_kernel,
            ofm_block_depth: o.ofm_block_depth,
            ifm_bits: o.ifm_bits,
            ofm_ublock_depth: o.ofm_ublock_depth,
            ifm_ublock_depth: o.ifm_ublock_depth,
            dilation: [8 / o.decomp_h, 8 / o.decomp_w],
        };
        assert_eq!(l.order().unwrap(), o, "{}", case.name);
        let ours = encode_weights(&l, case.value).unwrap();
        let arm = unhex(case.hex);
        // Same value sequence as Arm's reorder + encode.
        assert_eq!(decode_all(&ours), decode_all(&arm), "{}", case.name);
        check_stream(&l, &ours, &case.value);
        eprintln!(
            "reorder {}: ours {} arm {}",
            case.name,
            ours.len(),
            arm.len()
        );
        assert!(
            ours.len() <= arm.len(),
            "{}: {} > {}",
            case.name,
            ours.len(),
            arm.len()
        );
    }
}

#[test]
fn compression_of_random_and_bell_shaped_weights() {
    // 64 x 3x3 x 64: no padding positions, so the stream is all weights.
    let l = layout(64, 3, 3, 64, 16);
    let raw = 64 * 9 * 64;
    let uniform = encode_weights(&l, weight_fn(8, 5)).unwrap();
    let mut rng = Rng(42);
    let table: Vec<i16> = (0..raw).map(|_| rng.range(-128, 127) as i16).collect();
    let at = |o: u32, y: u32, x: u32, i: u32| ((o * 9 + y * 3 + x) * 64 + i) as usize;
    let int8 = encode_weights(&l, |o, y, x, i| table[at(o, y, x, i)]).unwrap();
    let bell = encode_weights(&l, weight_fn(1, 5)).unwrap();
    // Uniform int8 has 256 equally likely values, 257 sign-magnitude codes:
    // nothing beats the 9-bit uncompressed mode by much.
    assert!(int8.len() <= raw * 9 / 8 + 16, "{}", int8.len());
    // Bell-shaped (std ~ 12) and 5-valued weights compress well.
    assert!(bell.len() < raw * 7 / 8, "{}", bell.len());
    assert!(uniform.len() < raw * 3 / 8, "{}", uniform.len());
    eprintln!(
        "raw {raw}: uniform int8 {} bell {} five-valued {}",
        int8.len(),
        bell.len(),
        uniform.len()
    );
}

#[test]
fn scale_records_layout_and_ranges() {
    let r = scale_records(&[(-5, 1 << 30, 31), ((1 << 39) - 1, u32::MAX, 63)]).unwrap();
    assert_eq!(r.len(), 20);
    assert_eq!(&r[..5], &[0xFB, 0xFF, 0xFF, 0xFF, 0xFF]);
    assert_eq!(&r[5..9], &(1u32 << 30).to_le_bytes());
    assert_eq!(r[9], 31);
    assert_eq!(&r[10..15], &[0xFF, 0xFF, 0xFF, 0xFF, 0x7F]);
    assert_eq!(r[19], 63);
    assert_eq!(
        scale_records(&[(0, 1, 0), (1 << 39, 1, 0)]),
        Err(WeightError::Bias {
            channel: 1,
            bias: 1 << 39
        })
    );
    assert!(scale_records(&[(-(1 << 39), 1, 0)]).is_ok());
    assert!(scale_records(&[(-(1 << 39) - 1, 1, 0)]).is_err());
    assert_eq!(
        scale_records(&[(0, 1, 64)]),
        Err(WeightError::Shift {
            channel: 0,
            shift: 64
        })
    );
}

#[test]
fn rejects_bad_layouts_and_weights() {
    let good = layout(8, 3, 3, 8, 8);
    let bad = [
        WeightLayout {
            ofm_depth: 0,
            ..good
        },
        WeightLayout {
            ofm_block_depth: 129,
            ..good
        },
        WeightLayout {
            dilation: [3, 1],
            ..good
        },
        WeightLayout {
            depthwise: true,
            ..good
        },
        WeightLayout {
            ifm_bits: 32,
            ..good
        },
    ];
    for l in bad {
        let e = encode_weights(&l, |_, _, _, _| 1).unwrap_err();
        assert!(matches!(e, WeightError::Layout { .. }), "{e}");
    }
    let e = encode_weights(&good, |o, _, _, _| if o == 5 { 256 } else { 0 }).unwrap_err();
    assert!(
        matches!(
            e,
            WeightError::Weight {
                at: Some((5, 0, 0, 0)),
                value: 256,
                ..
            }
        ),
        "{e}"
    );
    assert!(encode_values(&[0, -256]).is_err());
}
