#![cfg(test)]
//! The weight encoder's streams run on the NPU model (convolutions checked against a direct
//! computation).

mod npu {
    use crate::ethos_u::driver::NpuMemory;
    use crate::ethos_u::regs::{Cmd0Op as C0, Cmd1Op as C1};
    use crate::ethos_u::sim::{shared_sram_regions, NpuModel, SimConfig};
    use kiln_ethos_u::weights::*;
    use std::vec;
    use std::vec::Vec;

    /// A command stream under construction.
    #[derive(Default)]
    struct S(Vec<u32>);

    impl S {
        fn c0(&mut self, op: C0, p: i32) -> &mut S {
            self.0
                .push(u32::from(op.code()) | ((p as u32 & 0xFFFF) << 16));
            self
        }
        fn c1(&mut self, op: C1, v: u32) -> &mut S {
            self.0.push(u32::from(op.code()) | 0x4000);
            self.0.push(v);
            self
        }
        fn bytes(&self) -> Vec<u8> {
            self.0.iter().flat_map(|w| w.to_le_bytes()).collect()
        }
    }

    /// One convolution on the model.
    struct Conv {
        macs: u32,
        u65: bool,
        layout: WeightLayout,
        /// IFM height and width (OFM is the same: stride 1, "same" padding).
        hw: u32,
        /// IFM channels (= OFM channels for depthwise).
        ifm_c: u32,
    }

    /// IFM element (y, x, c): small values so that results are exact in int16.
    fn ifm_at(y: u32, x: u32, c: u32) -> i64 {
        i64::from((y * 7 + x * 3 + c * 5) % 7) - 3
    }

    fn weight_at(o: u32, y: u32, x: u32, i: u32) -> i16 {
        let h = (o.wrapping_mul(2_654_435_761) ^ (y * 977 + x * 131 + i * 17)).wrapping_mul(40_503);
        match h % 7 {
            0 => 0,
            1 => 255,
            2 => -255,
            _ => ((h >> 8) % 511) as i16 - 255,
        }
    }

    fn bias_at(o: u32) -> i64 {
        i64::from(o) * 1000 - 17_000
    }

    fn run(c: &Conv) {
        let l = c.layout;
        let (h, w) = (c.hw, c.hw);
        let od = l.ofm_depth;
        let (dy, dx) = (l.dilation[0], l.dilation[1]);
        let (ph, pw) = ((l.kernel_h - 1) * dy / 2, (l.kernel_w - 1) * dx / 2);
        let weights = encode_weights(&l, weight_at).unwrap();
        let chans: Vec<(i64, u32, u8)> = (0..od).map(|o| (bias_at(o), 1 << 30, 31)).collect();
        let records = scale_records(&chans).unwrap();
        let mut ro = weights.clone();
        let scale_base = ro.len() as u32;
        ro.extend(&records);
        // Scratch: IFM int8 at 0, OFM int16 after it.
        let ifm_len = h * w * c.ifm_c;
        let ofm_base = ifm_len.next_multiple_of(16);
        let mut scratch = vec![0u8; (ofm_base + h * w * od * 2) as usize];
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c.ifm_c {
                    scratch[((y * w + x) * c.ifm_c + ch) as usize] = ifm_at(y, x, ch) as i8 as u8;
                }
            }
        }
        let mut s = S::default();
        let stride_bits =
            i32::from(l.part_kernel) << 2 | i32::from(dx == 2) << 3 | i32::from(dy == 2) << 4;
        s.c0(C0::SET_IFM_REGION, 1)
            .c1(C1::SET_IFM_BASE0, 0)
            .c0(C0::SET_IFM_HEIGHT0_M1, h as i32 - 1)
            .c0(C0::SET_IFM_HEIGHT1_M1, h as i32 - 1)
            .c0(C0::SET_IFM_WIDTH0_M1, w as i32 - 1)
            .c0(C0::SET_IFM_DEPTH_M1, c.ifm_c as i32 - 1)
            .c1(C1::SET_IFM_STRIDE_C, 1)
            .c1(C1::SET_IFM_STRIDE_X, c.ifm_c)
            .c1(C1::SET_IFM_STRIDE_Y, w * c.ifm_c)
            .c0(C0::SET_IFM_PRECISION, 1)
            .c0(C0::SET_IFM_ZERO_POINT, 0)
            .c0(C0::SET_OFM_REGION, 1)
            .c1(C1::SET_OFM_BASE0, ofm_base)
            .c0(C0::SET_OFM_HEIGHT_M1, h as i32 - 1)
            .c0(C0::SET_OFM_WIDTH_M1, w as i32 - 1)
            .c0(C0::SET_OFM_DEPTH_M1, od as i32 - 1)
            .c0(C0::SET_OFM_HEIGHT0_M1, h as i32 - 1)
            .c0(C0::SET_OFM_HEIGHT1_M1, h as i32 - 1)
            .c0(C0::SET_OFM_WIDTH0_M1, w as i32 - 1)
            .c1(C1::SET_OFM_STRIDE_C, 2)
            .c1(C1::SET_OFM_STRIDE_X, 2 * od)
            .c1(C1::SET_OFM_STRIDE_Y, 2 * w * od)
            // Signed 16-bit, per-channel scale, double rounding.
            .c0(C0::SET_OFM_PRECISION, 0b11)
            .c0(C0::SET_OFM_ZERO_POINT, 0)
            .c0(C0::SET_ACTIVATION, 0)
            .c0(C0::SET_ACTIVATION_MIN, -32768)
            .c0(C0::SET_ACTIVATION_MAX, 32767)
            .c0(C0::SET_KERNEL_HEIGHT_M1, ((l.kernel_h - 1) * dy) as i32)
            .c0(C0::SET_KERNEL_WIDTH_M1, ((l.kernel_w - 1) * dx) as i32)
            .c0(C0::SET_KERNEL_STRIDE, stride_bits)
            .c0(C0::SET_IFM_PAD_TOP, ph as i32)
            .c0(C0::SET_IFM_PAD_LEFT, pw as i32)
            .c0(C0::SET_IFM_PAD_BOTTOM, ph as i32)
            .c0(C0::SET_IFM_PAD_RIGHT, pw as i32)
            .c0(C0::SET_OFM_BLK_DEPTH_M1, l.ofm_block_depth as i32 - 1)
            .c0(C0::SET_WEIGHT_REGION, 0)
            .c1(C1::SET_WEIGHT_BASE, 0)
            .c1(C1::SET_WEIGHT_LENGTH, weights.len() as u32)
            .c0(C0::SET_SCALE_REGION, 0)
            .c1(C1::SET_SCALE_BASE, scale_base)
            .c1(C1::SET_SCALE_LENGTH, records.len() as u32)
            .c0(
                if l.depthwise {
                    C0::OP_DEPTHWISE
                } else {
                    C0::OP_CONV
                },
                0,
            )
            .c0(C0::OP_STOP, 0xFFFF);
        let stream = s.bytes();
        let config = if c.u65 {
            SimConfig::ethos_u65(c.macs)
        } else {
            SimConfig::ethos_u55(c.macs)
        }
        .unwrap();
        let mut model = NpuModel::new(config);
        assert_eq!(
            model.config().ofm_ublock_depth(),
            l.ofm_ublock_depth,
            "test layout must match the configuration"
        );
        {
            let mut regions = shared_sram_regions(&ro, &mut scratch);
            let mut mem = NpuMemory {
                command_stream: &stream,
                regions: &mut regions,
            };
            model.run(&stream, &mut mem).unwrap();
        }
        // Reference: bias + sum of products, x0.5 rounded half up
        // (multiplier 2^30, shift 31), saturated to int16.
        let mut checked = 0;
        for oy in 0..h {
            for ox in 0..w {
                for o in 0..od {
                    let mut acc = bias_at(o);
                    for ky in 0..l.kernel_h {
                        for kx in 0..l.kernel_w {
                            let y = (oy + ky * dy) as i64 - ph as i64;
                            let x = (ox + kx * dx) as i64 - pw as i64;
                            if y < 0 || x < 0 || y >= h as i64 || x >= w as i64 {
                                continue;
                            }
                            let (y, x) = (y as u32, x as u32);
                            if l.depthwise {
                                acc += ifm_at(y, x, o) * i64::from(weight_at(o, ky, kx, 0));
                            } else {
                                for i in 0..l.ifm_depth {
                                    acc += ifm_at(y, x, i) * i64::from(weight_at(o, ky, kx, i));
                                }
                            }
                        }
                    }
                    let want = (acc + 1).div_euclid(2).clamp(-32768, 32767);
                    let a = (ofm_base + ((oy * w + ox) * od + o) * 2) as usize;
                    let got = i64::from(i16::from_le_bytes([scratch[a], scratch[a + 1]]));
                    assert_eq!(got, want, "{:?} at ({oy}, {ox}, {o})", l);
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, h * w * od);
    }

    fn conv_layout(o: u32, k: u32, i: u32, blk: u32, ublock: u32) -> WeightLayout {
        WeightLayout {
            ofm_depth: o,
            kernel_h: k,
            kernel_w: k,
            ifm_depth: i,
            depthwise: false,
            part_kernel: false,
            ofm_block_depth: blk,
            ifm_bits: 8,
            ofm_ublock_depth: ublock,
            ifm_ublock_depth: 8,
            dilation: [1, 1],
        }
    }

    #[test]
    fn npu_model_runs_encoded_conv_3x3_20_to_37() {
        run(&Conv {
            macs: 128,
            u65: false,
            layout: conv_layout(37, 3, 20, 16, 8),
            hw: 5,
            ifm_c: 20,
        });
    }

    #[test]
    fn npu_model_runs_encoded_part_kernel_dilated_on_u55_32() {
        let mut l = conv_layout(13, 3, 11, 8, 4);
        l.part_kernel = true;
        l.dilation = [2, 2];
        run(&Conv {
            macs: 32,
            u65: false,
            layout: l,
            hw: 6,
            ifm_c: 11,
        });
    }

    #[test]
    fn npu_model_runs_encoded_decomposed_9x9_and_depthwise() {
        run(&Conv {
            macs: 256,
            u65: true,
            layout: conv_layout(9, 9, 5, 32, 8),
            hw: 9,
            ifm_c: 5,
        });
        let mut l = conv_layout(37, 3, 1, 32, 8);
        l.depthwise = true;
        run(&Conv {
            macs: 256,
            u65: false,
            layout: l,
            hw: 4,
            ifm_c: 37,
        });
    }
}
