//! Reads the real ExecuTorch files and compares with their decodings
//! (`/work/shared/research/executorch/*.dump.txt`, written by ExecuTorch's own deserializer).

use super::*;
use std::vec::Vec;

/// A fixture copied to a 16-byte aligned position (a `.pte` must be loaded aligned).
pub(crate) struct Aligned {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    pub(crate) fn new(bytes: &[u8]) -> Aligned {
        let mut buf = std::vec![0u8; bytes.len() + 16];
        let start = buf.as_ptr().align_offset(16);
        buf[start..start + bytes.len()].copy_from_slice(bytes);
        Aligned {
            buf,
            start,
            len: bytes.len(),
        }
    }
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

pub(crate) fn fixture(name: &str) -> Aligned {
    let path = std::format!(
        "{}/../tests/fixtures/executorch/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Aligned::new(&bytes)
}

pub(crate) const FILES: [&str; 4] = [
    "conv_pool_fc_portable.pte",
    "conv_pool_fc_u55_128.pte",
    "conv_pool_fc_u55_128_seg.pte",
    "conv_pool_fc_u55_128_int8io.pte",
];

fn sizes(t: &Tensor<'_>) -> Vec<i32> {
    t.sizes.iter().collect()
}

#[test]
fn portable_matches_executorch_dump() {
    let f = fixture("conv_pool_fc_portable.pte");
    let p = Program::load(f.bytes()).unwrap();
    let h = p.extended_header().unwrap();
    assert_eq!(
        (
            h.length,
            h.program_size,
            h.segment_base_offset,
            h.segment_data_size
        ),
        (32, 3184, 3200, 20840)
    );
    assert_eq!(p.version().unwrap(), 0);
    assert_eq!(p.segment_count().unwrap(), 1);
    assert_eq!(p.segment(0).unwrap().len(), 20840);
    assert_eq!(p.constant_count(), 5);
    assert_eq!(p.constant_segment_size(), 20840);
    assert_eq!(p.constant_offset(3).unwrap(), 320);
    assert_eq!(p.constant_offset(4).unwrap(), 20800);
    assert_eq!(p.constant_data(4, 40).unwrap().len(), 40);
    assert!(p.constant_data(4, 41).is_err());
    assert!(p.constant_data(0, 0).is_err());
    assert_eq!(p.plan_count().unwrap(), 1);
    let plan = p.plan_by_name("forward").unwrap();
    assert!(matches!(
        p.plan_by_name("backward"),
        Err(crate::RtError::PlanNotFound { .. })
    ));
    assert_eq!(plan.inputs().unwrap().iter().collect::<Vec<_>>(), [4]);
    assert_eq!(plan.outputs().unwrap().iter().collect::<Vec<_>>(), [42]);
    assert_eq!(
        plan.non_const_buffer_sizes()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        [0, 22576]
    );
    assert_eq!(plan.value_count().unwrap(), 45);
    let ops: Vec<_> = (0..plan.operator_count().unwrap())
        .map(|i| {
            let o = plan.operator(i).unwrap();
            std::format!("{}.{}", o.name, o.overload)
        })
        .collect();
    assert_eq!(
        ops,
        [
            "aten::convolution.out",
            "aten::relu.out",
            "aten::max_pool2d_with_indices.out",
            "aten::permute_copy.out",
            "aten::addmm.out"
        ]
    );
    // v0 Tensor FLOAT [8,1,3,3] dbi=1
    let Value::Tensor(t) = plan.value(0).unwrap() else {
        panic!("v0 is a tensor")
    };
    assert_eq!(t.scalar_type, ScalarType::Float);
    assert_eq!(sizes(&t), [8, 1, 3, 3]);
    assert_eq!(t.dim_order, [0, 1, 2, 3]);
    assert_eq!(t.data, TensorData::Constant(1));
    assert_eq!(t.nbytes().unwrap(), 288);
    // v21 planned at 20480, v22 LONG at 8192
    let Value::Tensor(t) = plan.value(22).unwrap() else {
        panic!("v22 is a tensor")
    };
    assert_eq!(t.scalar_type, ScalarType::Long);
    assert_eq!(
        t.data,
        TensorData::Planned {
            memory_id: 1,
            offset: 8192
        }
    );
    assert!(matches!(plan.value(6).unwrap(), Value::Int(1)));
    assert!(matches!(plan.value(15).unwrap(), Value::Bool(false)));
    let Value::IntList(l) = plan.value(8).unwrap() else {
        panic!("v8 is an IntList")
    };
    assert_eq!(l.iter().collect::<Vec<_>>(), [6, 7]);
    let Value::TensorList(l) = plan.value(36).unwrap() else {
        panic!("v36 is a TensorList")
    };
    assert_eq!(l.iter().collect::<Vec<_>>(), [21, 22]);
    assert!(plan.value(45).is_err());
    assert_eq!(plan.instruction_count().unwrap(), 5);
    let Instruction::KernelCall { op_index, args } = plan.instruction(2).unwrap() else {
        panic!("kernel call")
    };
    assert_eq!(op_index, 2);
    assert_eq!(
        args.iter().collect::<Vec<_>>(),
        [20, 25, 28, 31, 34, 35, 21, 22, 36]
    );
    assert_eq!(plan.delegate_count().unwrap(), 0);
}

#[test]
fn u55_inline_and_segment_delegates() {
    let blob = std::fs::read(std::format!(
        "{}/../tests/fixtures/executorch/conv_pool_fc_u55_128.vela.bin",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    for (name, loc, idx) in [
        ("conv_pool_fc_u55_128.pte", DataLocation::Inline, 0),
        ("conv_pool_fc_u55_128_seg.pte", DataLocation::Segment, 1),
    ] {
        let f = fixture(name);
        let p = Program::load(f.bytes()).unwrap();
        let plan = p.plan_by_name("forward").unwrap();
        assert_eq!(plan.instruction_count().unwrap(), 3, "{name}");
        assert_eq!(plan.delegate_count().unwrap(), 1);
        let d = plan.delegate(0).unwrap();
        assert_eq!((d.id, d.location, d.index), ("EthosUBackend", loc, idx));
        assert_eq!(d.compile_spec_count(), 6);
        assert_eq!(
            d.compile_spec_value("target").unwrap(),
            Some(&b"ethos-u55-128"[..])
        );
        let data = p.delegate_data(d.location, d.index).unwrap();
        assert_eq!(data, &blob[..], "{name}: delegate blob");
        assert_eq!(data.as_ptr().align_offset(16), 0, "{name}: blob 16-aligned");
        let Instruction::DelegateCall {
            delegate_index,
            args,
        } = plan.instruction(1).unwrap()
        else {
            panic!("{name}: instruction 1 is a DelegateCall")
        };
        assert_eq!(delegate_index, 0);
        assert_eq!(args.len(), 2);
        assert_eq!(
            plan.non_const_buffer_sizes()
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            [0, 1280]
        );
        let ops: Vec<_> = (0..plan.operator_count().unwrap())
            .map(|i| plan.operator(i).unwrap().name)
            .collect();
        assert_eq!(
            ops,
            [
                "quantized_decomposed::quantize_per_tensor",
                "quantized_decomposed::dequantize_per_tensor"
            ]
        );
    }
    let f = fixture("conv_pool_fc_u55_128.pte");
    assert!(Program::load(f.bytes())
        .unwrap()
        .extended_header()
        .is_none());
    let f = fixture("conv_pool_fc_u55_128_seg.pte");
    let h = Program::load(f.bytes()).unwrap().extended_header().unwrap();
    assert_eq!((h.program_size, h.segment_base_offset), (2280, 2304));
}

#[test]
fn int8io_extra_plans() {
    let f = fixture("conv_pool_fc_u55_128_int8io.pte");
    let p = Program::load(f.bytes()).unwrap();
    assert_eq!(p.plan_count().unwrap(), 11);
    let fwd = p.plan_by_name("forward").unwrap();
    assert_eq!(fwd.operator_count().unwrap(), 0);
    assert_eq!(fwd.instruction_count().unwrap(), 1);
    assert_eq!(
        fwd.non_const_buffer_sizes()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        [0, 272]
    );
    let Value::Tensor(t) = fwd.value(1).unwrap() else {
        panic!("v1 is a tensor")
    };
    assert_eq!(
        (t.scalar_type, sizes(&t)),
        (ScalarType::Char, std::vec![1, 10])
    );
    assert_eq!(
        t.data,
        TensorData::Planned {
            memory_id: 1,
            offset: 256
        }
    );
    let s = p.plan_by_name("input0_scale").unwrap();
    assert_eq!(s.instruction_count().unwrap(), 0);
    assert!(matches!(s.value(0).unwrap(), Value::Double(d) if d == 0.027262339368462563));
    let zp = p.plan_by_name("output0_zp").unwrap();
    assert!(matches!(
        zp.value(zp.outputs().unwrap().at(0).unwrap() as usize)
            .unwrap(),
        Value::Int(23)
    ));
}

#[test]
fn rejects_foreign_and_broken_headers() {
    let f = fixture("conv_pool_fc_portable.pte");
    let mut b = f.bytes().to_vec();
    b[4..8].copy_from_slice(b"TFL3");
    assert!(matches!(
        Program::load(&b),
        Err(crate::RtError::BadFileIdentifier { .. })
    ));
    let mut b = f.bytes().to_vec();
    b[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes()); // program_size past the end
    assert!(matches!(
        Program::load(&b),
        Err(crate::RtError::BadExtendedHeader { .. })
    ));
    let mut b = f.bytes().to_vec();
    b.truncate(b.len() - 1); // last constant now outside the file
    assert!(Program::load(&b).is_err());
    assert!(Program::load(&[]).is_err());
}
