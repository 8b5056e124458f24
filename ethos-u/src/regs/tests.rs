use super::*;

/// Every parameter value that decodes encodes back to its defined bits: decode and encode
/// are one definition of each field's position.
#[test]
fn parameter_fields_round_trip() {
    for p in 0..=u16::MAX {
        if let Ok(f) = IfmPrecision::decode(p) {
            assert_eq!(f.encode(), p & 0xC3CD, "IFM_PRECISION {p:#x}");
        }
        if let Ok(f) = OfmPrecision::decode(p) {
            assert_eq!(f.encode(), p & 0xC1C7, "OFM_PRECISION {p:#x}");
        }
        assert_eq!(
            KernelStride::decode(p).encode(),
            p & 0x027F,
            "KERNEL_STRIDE {p:#x}"
        );
        if let Ok(f) = Activation::decode(p) {
            assert_eq!(f.encode(), p & 0x701F, "ACTIVATION {p:#x}");
        }
        if let Ok(f) = DmaRegion::decode(p) {
            assert_eq!(f.encode(), p & 0x07FF, "DMA_REGION {p:#x}");
        }
        assert_eq!(
            Ifm2Broadcast::decode(p).encode(),
            p & 0x00C7,
            "IFM2_BROADCAST {p:#x}"
        );
    }
    let k = KernelStride::new([3, 2], [2, 1], WeightOrder::PartKernelFirst);
    assert_eq!(
        (k.stride_y(), k.stride_x(), k.dilation_y(), k.dilation_x()),
        (3, 2, 2, 1)
    );
}

#[test]
fn opcodes_round_trip_and_names() {
    for op in Cmd0Op::ALL {
        assert_eq!(Cmd0Op::from_code(op.code()), Some(*op));
    }
    for op in Cmd1Op::ALL {
        assert_eq!(Cmd1Op::from_code(op.code()), Some(*op));
    }
    assert_eq!(Cmd0Op::ALL.len(), 60);
    assert_eq!(Cmd1Op::ALL.len(), 37);
    assert_eq!(Cmd0Op::SET_IFM_REGION.name(), "NPU_SET_IFM_REGION");
    assert_eq!(Cmd0Op::OP_STOP.code(), 0);
    assert_eq!(Cmd1Op::SET_OPB_SCALE.code(), 0x26);
    assert_eq!(Opcode::Cmd1(Cmd1Op::SET_DMA0_SRC).code_word(), 0x4030);
    assert_eq!(Cmd0Op::from_code(0x004), None);
    assert_eq!(offset::basep(7), Some(0xB8));
    assert_eq!(offset::basep(8), None);
}

#[test]
fn id_and_config_fields() {
    // kws u55-128 COP1 header: CONFIG 0x00001807, ID 0x10066001.
    let c = ConfigReg(0x0000_1807);
    assert_eq!(c.macs_per_cc(), 128);
    assert_eq!(c.shram_size_kib(), 24);
    assert_eq!(c.product(), Some(Product::EthosU55));
    assert_eq!(ConfigReg::new(Product::EthosU55, 7, 24), c);
    let id = IdReg(0x1006_6001);
    assert_eq!(id.arch_major_rev(), 1);
    assert_eq!(id.arch_minor_rev(), 0);
    assert_eq!(id.arch_patch_rev(), 6);
    assert_eq!(id.product_major(), 6);
    assert_eq!(id.version_status(), 1);
    assert_eq!(IdReg::from_arch(1, 0, 6).0, 0x1006_0000);
}

#[test]
fn precision_fields() {
    // 0x41: signed, 8-bit, NHCWB16 (kws conv0 OFM).
    let p = OfmPrecision::decode(0x41).unwrap();
    assert!(p.signed());
    assert_eq!(p.precision, ActivationPrecision::B8);
    assert_eq!(p.format, ActivationFormat::Nhcwb16);
    assert_eq!(p.scale_mode, OfmScaleMode::PerChannel);
    assert_eq!(p.round_mode, RoundMode::Dbl);
    // Global scale (bit 8), natural rounding, 32-bit OFM.
    let p = OfmPrecision::decode(0x8000 | 0x100 | (2 << 1) | 1).unwrap();
    assert_eq!(p.scale_mode, OfmScaleMode::Global);
    assert_eq!(p.round_mode, RoundMode::Natural);
    assert_eq!(p.precision, ActivationPrecision::B32);
    assert_eq!(
        OfmPrecision::decode(0xC000),
        Err(BadField {
            field: "round_mode",
            value: 3
        })
    );
    let i = IfmPrecision::decode(0x0001 | (1 << 2)).unwrap();
    assert_eq!(i.precision, ActivationPrecision::B16);
    assert_eq!(i.scale_mode, IfmScaleMode::OpaOpb16);
}

#[test]
fn kernel_activation_dma_broadcast_fields() {
    let k = KernelStride::decode(0x0007);
    assert_eq!((k.stride_x(), k.stride_y()), (2, 2));
    assert_eq!(k.weight_order, WeightOrder::PartKernelFirst);
    let k = KernelStride::decode((1 << 6) | (1 << 9) | (1 << 3));
    assert_eq!((k.stride_x(), k.stride_y()), (3, 3));
    assert_eq!(k.dilation_x(), 2);
    assert_eq!(k.dilation_y(), 1);
    let a = Activation::decode(0x3010).unwrap();
    assert_eq!(a.function, ActivationFunction::Table0);
    assert_eq!(a.function.table_slot(), Some(0));
    assert_eq!(a.clip_range, ClipRange::ForceInt8);
    assert!(Activation::decode(0x0001).is_err());
    let d = DmaRegion::decode(0x0103).unwrap();
    assert_eq!(d.region, 3);
    assert_eq!(d.mode, DmaRegionMode::Internal);
    assert_eq!(d.stride_mode, DmaStrideMode::D1);
    let b = Ifm2Broadcast::decode(0x0004);
    assert!(b.broadcast_c && !b.broadcast_h && !b.broadcast_constant);
    let b = Ifm2Broadcast::decode(0x00C0);
    assert!(b.broadcast_constant);
    assert_eq!(b.operand_order, OperandOrder::OrderA);
}
