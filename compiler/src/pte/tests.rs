//! Writer -> `kiln_rt::pte` reader round trips, and a written program executed by `kiln_rt::exec`.

use super::*;
use kiln_rt::exec::{Backend, DelegateArgs, KernelCtx, KernelEntry, Method};
use kiln_rt::pte::{Instruction, Program, TensorData, Value};
use kiln_rt::RtError;

/// A copy of `bytes` at a 16-byte aligned address (as a `.pte` is placed in flash).
struct Aligned {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    fn new(bytes: &[u8]) -> Aligned {
        let mut buf = vec![0u8; bytes.len() + 16];
        let start = buf.as_ptr().align_offset(16);
        buf[start..start + bytes.len()].copy_from_slice(bytes);
        Aligned {
            buf,
            start,
            len: bytes.len(),
        }
    }
    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn planned(st: ScalarType, sizes: &[i32], offset: u64) -> TensorSpec {
    TensorSpec {
        scalar_type: st,
        sizes: sizes.to_vec(),
        dim_order: vec![],
        storage: Storage::Planned {
            memory_id: 1,
            offset,
        },
    }
}

fn constant(sizes: &[i32], v: &[f32]) -> TensorSpec {
    TensorSpec {
        scalar_type: ScalarType::Float,
        sizes: sizes.to_vec(),
        dim_order: vec![],
        storage: Storage::Constant(f32_bytes(v)),
    }
}

#[test]
fn every_construct_round_trips() {
    let mut b = ProgramBuilder::new("forward");
    b.set_non_const_buffer_sizes(&[64]);
    let v_null = b.value(EValue::Null);
    let v_int = b.value(EValue::Int(-7));
    let v_bool = b.value(EValue::Bool(true));
    let v_dbl = b.value(EValue::Double(0.25));
    let v_str = b.value(EValue::String("hello".into()));
    let v_il = b.value(EValue::IntList(vec![3, -1]));
    let v_dl = b.value(EValue::DoubleList(vec![1.5, -2.0]));
    let v_bl = b.value(EValue::BoolList(vec![true, false]));
    let c1 = b.tensor(constant(&[2], &[1.0, 2.0]));
    let c2 = b.tensor(constant(&[2], &[1.0, 2.0])); // same bytes: stored once
    let c3 = b.tensor(constant(&[1], &[5.0]));
    let p = b.tensor(TensorSpec {
        dim_order: vec![0, 2, 3, 1],
        ..planned(ScalarType::Char, &[1, 2, 2, 2], 16)
    });
    let u = b.tensor(TensorSpec {
        storage: Storage::Unplanned,
        ..planned(ScalarType::Long, &[3], 0)
    });
    let v_tl = b.value(EValue::TensorList(vec![c1, p]));
    let v_otl = b.value(EValue::OptionalTensorList(vec![Some(c3), None]));
    let op_a = b.op(OpKind::AtenAdd);
    let op_b = b.operator("custom::thing", "out");
    assert_eq!(b.op(OpKind::AtenAdd), op_a, "operators are deduplicated");
    b.kernel_call(op_b, &[c1, v_il, p, p]);
    let d_inline = b.add_delegate(
        "EthosUBackend",
        vec![7u8; 40],
        vec![("target".into(), b"ethos-u55-128".to_vec())],
        DataLocation::Inline,
    );
    let d_seg = b.add_delegate(
        "EthosUBackend",
        vec![9u8; 300],
        vec![],
        DataLocation::Segment,
    );
    b.delegate_call(d_inline, &[p, p]);
    b.delegate_call(d_seg, &[p, p]);
    b.set_inputs(&[p]);
    b.set_outputs(&[p, c3]);
    b.extra_plan("input0_scale", vec![EValue::Double(0.5)], &[0]);
    b.extra_plan("input0_shape", vec![EValue::IntList(vec![1, 16])], &[0]);
    let file = Aligned::new(&b.finish().unwrap());

    let prog = Program::load(file.bytes()).unwrap();
    let h = prog
        .extended_header()
        .expect("segment data -> extended header");
    assert_eq!(h.segment_base_offset % 128, 0);
    assert_eq!(
        h.segment_base_offset + h.segment_data_size,
        file.bytes().len() as u64
    );
    assert_eq!(prog.plan_count().unwrap(), 3);
    // Constant segment: placeholder + 2 distinct constants, 16-aligned.
    assert_eq!(prog.constant_count(), 3);
    assert_eq!(prog.constant_offset(1).unwrap(), 0);
    assert_eq!(prog.constant_offset(2).unwrap(), 16);
    assert_eq!(prog.constant_data(2, 4).unwrap(), 5.0f32.to_le_bytes());
    let plan = prog.plan_by_name("forward").unwrap();
    assert!(matches!(plan.value(v_null).unwrap(), Value::Null));
    assert!(matches!(plan.value(v_int).unwrap(), Value::Int(-7)));
    assert!(matches!(plan.value(v_bool).unwrap(), Value::Bool(true)));
    assert!(matches!(plan.value(v_dbl).unwrap(), Value::Double(d) if d == 0.25));
    assert!(matches!(plan.value(v_str).unwrap(), Value::String("hello")));
    let Value::IntList(items) = plan.value(v_il).unwrap() else {
        panic!("IntList")
    };
    let items: Vec<i64> = items.iter().collect();
    assert_eq!(items.len(), 2);
    let vals: Vec<i64> = items
        .iter()
        .map(|&i| match plan.value(i as usize).unwrap() {
            Value::Int(x) => x,
            v => panic!("item {i} is {:?}", v.tag()),
        })
        .collect();
    assert_eq!(vals, [3, -1], "IntList items are Int values");
    let Value::DoubleList(d) = plan.value(v_dl).unwrap() else {
        panic!("DoubleList")
    };
    assert_eq!(d.iter().collect::<Vec<_>>(), [1.5, -2.0]);
    let Value::BoolList(bl) = plan.value(v_bl).unwrap() else {
        panic!("BoolList")
    };
    assert_eq!(bl.iter().collect::<Vec<_>>(), [true, false]);
    for (v, k) in [(c1, 1), (c2, 1), (c3, 2)] {
        let Value::Tensor(t) = plan.value(v).unwrap() else {
            panic!("tensor")
        };
        assert_eq!(t.data, TensorData::Constant(k));
        assert_eq!(t.dim_order, [0u8]);
    }
    let Value::Tensor(t) = plan.value(p).unwrap() else {
        panic!("tensor")
    };
    assert_eq!(
        t.data,
        TensorData::Planned {
            memory_id: 1,
            offset: 16
        }
    );
    assert_eq!(t.dim_order, [0, 2, 3, 1]);
    assert_eq!(t.scalar_type, ScalarType::Char);
    assert_eq!(t.sizes.iter().collect::<Vec<_>>(), [1, 2, 2, 2]);
    let Value::Tensor(t) = plan.value(u).unwrap() else {
        panic!("tensor")
    };
    assert_eq!(
        (t.data, t.scalar_type),
        (TensorData::Unplanned, ScalarType::Long)
    );
    let Value::TensorList(tl) = plan.value(v_tl).unwrap() else {
        panic!("TensorList")
    };
    assert_eq!(tl.iter().collect::<Vec<_>>(), [c1 as i32, p as i32]);
    let Value::OptionalTensorList(tl) = plan.value(v_otl).unwrap() else {
        panic!("OptionalTensorList")
    };
    assert_eq!(tl.iter().collect::<Vec<_>>(), [c3 as i32, -1]);
    assert_eq!(plan.operator_count().unwrap(), 2);
    assert_eq!(plan.operator(op_b).unwrap().name, "custom::thing");
    assert_eq!(plan.operator(op_a).unwrap().overload, "out");
    assert_eq!(plan.instruction_count().unwrap(), 3);
    let Instruction::KernelCall { op_index, args } = plan.instruction(0).unwrap() else {
        panic!("kernel call")
    };
    assert_eq!(op_index as usize, op_b);
    assert_eq!(
        args.iter().collect::<Vec<_>>(),
        [c1 as i32, v_il as i32, p as i32, p as i32]
    );
    let Instruction::DelegateCall { delegate_index, .. } = plan.instruction(2).unwrap() else {
        panic!("delegate")
    };
    assert_eq!(delegate_index as usize, d_seg);
    let d = plan.delegate(d_inline).unwrap();
    assert_eq!((d.id, d.location), ("EthosUBackend", DataLocation::Inline));
    assert_eq!(
        d.compile_spec_value("target").unwrap(),
        Some(&b"ethos-u55-128"[..])
    );
    let blob = prog.delegate_data(d.location, d.index).unwrap();
    assert_eq!(blob, [7u8; 40]);
    assert_eq!(
        blob.as_ptr().align_offset(16),
        0,
        "inline delegate data is 16-aligned"
    );
    let d = plan.delegate(d_seg).unwrap();
    assert_eq!(d.location, DataLocation::Segment);
    let blob = prog.delegate_data(d.location, d.index).unwrap();
    assert_eq!(blob, [9u8; 300]);
    let at = blob.as_ptr() as usize - file.bytes().as_ptr() as usize;
    assert_eq!(at % 128, 0, "segments are 128-aligned in the file");
    assert_eq!(
        plan.inputs().unwrap().iter().collect::<Vec<_>>(),
        [p as i32]
    );
    assert_eq!(
        plan.outputs().unwrap().iter().collect::<Vec<_>>(),
        [p as i32, c3 as i32]
    );
    assert_eq!(
        plan.non_const_buffer_sizes()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        [0, 64]
    );
    let s = prog.plan_by_name("input0_scale").unwrap();
    assert_eq!(s.instruction_count().unwrap(), 0);
    assert!(
        matches!(s.value(s.outputs().unwrap().at(0).unwrap() as usize).unwrap(), Value::Double(x) if x == 0.5)
    );
    let s = prog.plan_by_name("input0_shape").unwrap();
    let out = s.outputs().unwrap().at(0).unwrap() as usize;
    assert!(
        matches!(s.value(out).unwrap(), Value::IntList(_)),
        "output maps to the list, not its items"
    );
}

#[test]
fn inline_blobs_stay_aligned_whatever_comes_before() {
    // Vary blob sizes and counts so the builder's alignment fix-up is exercised both ways.
    for n in 0..40usize {
        let mut b = ProgramBuilder::new("forward");
        for k in 0..1 + n % 3 {
            b.add_delegate(
                &"x".repeat(n),
                vec![k as u8 + 1; n * 3 + k],
                vec![],
                DataLocation::Inline,
            );
        }
        let v = b.value(EValue::String("y".repeat(n)));
        b.set_outputs(&[v]);
        let bytes = b.finish().unwrap();
        let file = Aligned::new(&bytes);
        let prog = Program::load(file.bytes()).unwrap();
        assert!(
            prog.extended_header().is_none(),
            "no segment data -> no header (as upstream)"
        );
        assert_eq!(
            prog.segment_count().unwrap(),
            1,
            "empty constant segment is still listed"
        );
        let plan = prog.plan(0).unwrap();
        for i in 0..plan.delegate_count().unwrap() {
            let d = plan.delegate(i).unwrap();
            let blob = prog.delegate_data(d.location, d.index).unwrap();
            assert_eq!(blob.len(), n * 3 + i);
            assert_eq!(blob.as_ptr().align_offset(16), 0, "n={n} blob {i}");
        }
    }
}

fn add_kernel(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
    // [a, b, alpha, out, out]
    let alpha = ctx.double(2)? as f32;
    let ([a, b], mut y) = ctx.io([0, 1], 3)?;
    let (a, b) = (a.as_f32()?, b.as_f32()?);
    for (i, o) in y.as_f32_mut()?.iter_mut().enumerate() {
        *o = a[i] + alpha * b[i];
    }
    Ok(())
}

#[test]
fn written_program_executes() {
    let mut b = ProgramBuilder::new("forward");
    b.set_non_const_buffer_sizes(&[32]);
    let x = b.tensor(planned(ScalarType::Float, &[1, 3], 0));
    let w = b.tensor(constant(&[1, 3], &[10.0, 20.0, 30.0]));
    let alpha = b.value(EValue::Int(2));
    let y = b.tensor(planned(ScalarType::Float, &[1, 3], 16));
    let op = b.op(OpKind::AtenAdd);
    b.kernel_call(op, &[x, w, alpha, y, y]);
    b.set_inputs(&[x]);
    b.set_outputs(&[y]);
    let file = Aligned::new(&b.finish().unwrap());
    let prog = Program::load(file.bytes()).unwrap();
    let mut arena = Aligned::new(&[0u8; 32]);
    let table = [KernelEntry {
        op: OpKind::AtenAdd,
        run: add_kernel,
    }];
    let mut m = Method::load(&prog, "forward", &table, arena.bytes_mut()).unwrap();
    m.set_input_as::<f32>(0, &[1.0, 2.0, 3.0]).unwrap();
    m.execute().unwrap();
    assert_eq!(m.output_as::<f32>(0).unwrap(), [21.0, 42.0, 63.0]);
}

struct Negate;
impl Backend for Negate {
    fn id(&self) -> &str {
        "TestBackend"
    }
    fn execute(&mut self, blob: &[u8], args: &mut DelegateArgs<'_>) -> Result<(), RtError> {
        assert_eq!(blob, b"blob");
        let ([x], [mut y]) = args.io([0], [1])?;
        for (o, i) in y.as_i8_mut()?.iter_mut().zip(x.as_i8()?) {
            *o = i.wrapping_neg();
        }
        Ok(())
    }
}

#[test]
fn written_delegate_program_executes() {
    for loc in [DataLocation::Inline, DataLocation::Segment] {
        let mut b = ProgramBuilder::new("forward");
        b.set_non_const_buffer_sizes(&[32]);
        let x = b.tensor(planned(ScalarType::Char, &[4], 0));
        let y = b.tensor(planned(ScalarType::Char, &[4], 16));
        let d = b.add_delegate("TestBackend", b"blob".to_vec(), vec![], loc);
        b.delegate_call(d, &[x, y]);
        b.set_inputs(&[x]);
        b.set_outputs(&[y]);
        let file = Aligned::new(&b.finish().unwrap());
        let prog = Program::load(file.bytes()).unwrap();
        let mut arena = Aligned::new(&[0u8; 32]);
        let mut m = Method::load(&prog, "forward", &[], arena.bytes_mut()).unwrap();
        m.set_input(0, &[1, 2, 0x80, 4]).unwrap();
        m.execute_with(&mut [&mut Negate]).unwrap();
        assert_eq!(
            m.output_as::<i8>(0).unwrap(),
            [-1, -2, i8::MIN, -4],
            "{loc:?}"
        );
    }
}

#[test]
fn builder_mistakes_are_errors() {
    let mut b = ProgramBuilder::new("forward");
    let op = b.op(OpKind::AtenRelu);
    b.kernel_call(op, &[5]);
    assert_eq!(
        b.finish().unwrap_err(),
        WriteError::Index {
            plan: "forward".into(),
            what: "value index in KernelCall args",
            index: 5,
            len: 0
        }
    );
    let mut b = ProgramBuilder::new("forward");
    b.tensor(constant(&[3], &[1.0]));
    assert!(matches!(
        b.finish(),
        Err(WriteError::Tensor { value: 0, .. })
    ));
    let mut b = ProgramBuilder::new("forward");
    b.set_non_const_buffer_sizes(&[8]);
    b.tensor(planned(ScalarType::Float, &[3], 0));
    let e = b.finish().unwrap_err();
    assert!(
        e.to_string().contains("outside non_const_buffer_sizes"),
        "{e}"
    );
    let mut b = ProgramBuilder::new("forward");
    b.tensor(TensorSpec {
        dim_order: vec![0, 0],
        storage: Storage::Unplanned,
        ..planned(ScalarType::Float, &[1, 2], 0)
    });
    assert!(b
        .finish()
        .unwrap_err()
        .to_string()
        .contains("not a permutation"));
}
