//! `.pte` writer: builds an ExecuTorch program (`schema/program.fbs`, file
//! identifier `ET12`) that upstream ExecuTorch and `kiln_rt::pte` both read.
//!
//! Layout follows upstream's serializer: constants always live in segment 0
//! (`constant_segment.offsets[0]` is the reserved placeholder, each tensor
//! padded to 16 bytes, identical constants stored once); delegate blobs are
//! inline (`backend_delegate_data`, 16-byte aligned) or in their own segment.
//! Whenever there is segment data the file gets the `eh00` extended header at
//! offset 8 and segments start on 128-byte boundaries after the program.
//! Enums and field ids come from [`kiln_rt::pte::schema`], shared with the reader.

use flatbuffers::{FlatBufferBuilder, WIPOffset};
use kiln_rt::ops::OpKind;
use kiln_rt::pte::schema::{
    fields as F, InstrTag, Tag, EXTENDED_HEADER_LENGTH, EXTENDED_HEADER_MAGIC,
};
pub use kiln_rt::pte::{DataLocation, ScalarType};
use std::collections::HashMap;

/// Alignment of each constant tensor in the constant segment.
pub const CONSTANT_ALIGNMENT: usize = 16;
/// Alignment of segments in the file.
pub const SEGMENT_ALIGNMENT: usize = 128;
/// Alignment of inline delegate data.
pub const DELEGATE_ALIGNMENT: usize = 16;
/// Bytes the extended header occupies (32, already a multiple of 16).
const HEADER_BYTES: usize = 32;

/// A mistake in what was given to the builder (the compiler's bug, not the model's).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WriteError {
    /// An index (value, operator, delegate) points past its table.
    #[error("plan '{plan}': {what} {index} out of range ({len} entries)")]
    Index {
        /// Plan name.
        plan: String,
        /// e.g. `value index in KernelCall args`.
        what: &'static str,
        /// The index.
        index: usize,
        /// The table length.
        len: usize,
    },
    /// A tensor's description is inconsistent.
    #[error("plan '{plan}': tensor value {value}: {reason}")]
    Tensor {
        /// Plan name.
        plan: String,
        /// Value index.
        value: usize,
        /// What is wrong.
        reason: String,
    },
    /// The finished file would be malformed (e.g. a size over the format's limits).
    #[error("cannot write .pte: {0}")]
    Format(String),
}

/// Where a tensor's bytes are.
#[derive(Clone, Debug, PartialEq)]
pub enum Storage {
    /// Constant data (little-endian bytes), stored once per distinct content in the constant segment.
    Constant(Vec<u8>),
    /// Planned memory: `offset` bytes into arena `memory_id` (>= 1).
    Planned {
        /// Memory id (index into `non_const_buffer_sizes`).
        memory_id: u32,
        /// Byte offset in that arena.
        offset: u64,
    },
    /// No storage (the runtime supplies a pointer).
    Unplanned,
}

/// A tensor value.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    /// Element type.
    pub scalar_type: ScalarType,
    /// Sizes in logical order.
    pub sizes: Vec<i32>,
    /// Memory order of the dims, outermost first; empty = contiguous (0, 1, ...).
    pub dim_order: Vec<u8>,
    /// Where the bytes are.
    pub storage: Storage,
}

/// A value to add to a plan.
#[derive(Clone, Debug, PartialEq)]
pub enum EValue {
    /// `None`.
    Null,
    /// `int64`.
    Int(i64),
    /// `bool`.
    Bool(bool),
    /// `f64`.
    Double(f64),
    /// A string.
    String(String),
    /// A list of ints; the builder adds one `Int` value per item (upstream's layout).
    IntList(Vec<i64>),
    /// A list of doubles.
    DoubleList(Vec<f64>),
    /// A list of bools.
    BoolList(Vec<bool>),
    /// Value indices of tensors.
    TensorList(Vec<usize>),
    /// Value indices of tensors or `None`.
    OptionalTensorList(Vec<Option<usize>>),
    /// A tensor.
    Tensor(TensorSpec),
}

/// A value as stored: lists already point at item values, constants at their index.
#[derive(Clone, Debug)]
enum Stored {
    Plain(EValue),
    IntList(Vec<usize>),
}

#[derive(Clone, Debug)]
enum Instr {
    Kernel { op: usize, args: Vec<usize> },
    Delegate { delegate: usize, args: Vec<usize> },
}

#[derive(Clone, Debug)]
struct DelegateSpec {
    id: String,
    blob: usize,
    location: DataLocation,
    compile_specs: Vec<(String, Vec<u8>)>,
}

#[derive(Clone, Debug, Default)]
struct PlanData {
    name: String,
    values: Vec<Stored>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    operators: Vec<(String, String)>,
    instructions: Vec<Instr>,
    /// Per instruction, the source-model nodes it implements (written as the chain's
    /// `stacktrace`, one `Frame` per node: debug information the runtimes do not read).
    sources: Vec<Vec<(String, String)>>,
    delegates: Vec<DelegateSpec>,
    non_const_buffer_sizes: Vec<i64>,
}

impl PlanData {
    fn add(&mut self, v: EValue) -> usize {
        let stored = match v {
            EValue::IntList(items) => {
                let idx = items
                    .into_iter()
                    .map(|i| {
                        self.values.push(Stored::Plain(EValue::Int(i)));
                        self.values.len() - 1
                    })
                    .collect();
                Stored::IntList(idx)
            }
            other => Stored::Plain(other),
        };
        self.values.push(stored);
        self.values.len() - 1
    }
}

/// Builds a `.pte` file: one main plan (the method, e.g. `forward`) plus optional metadata plans.
#[derive(Clone, Debug)]
pub struct ProgramBuilder {
    main: PlanData,
    extra: Vec<PlanData>,
    /// Delegate blobs, deduplicated by content, with the location of their first use.
    blobs: Vec<(Vec<u8>, DataLocation)>,
}

impl ProgramBuilder {
    /// A program whose main plan is called `plan_name` (usually `forward`).
    pub fn new(plan_name: &str) -> ProgramBuilder {
        ProgramBuilder {
            main: PlanData {
                name: plan_name.to_string(),
                non_const_buffer_sizes: vec![0],
                ..PlanData::default()
            },
            extra: Vec::new(),
            blobs: Vec::new(),
        }
    }

    /// Adds a value to the main plan; returns its index. `IntList` items become their own `Int` values first.
    pub fn value(&mut self, v: EValue) -> usize {
        self.main.add(v)
    }

    /// Adds a tensor value; returns its index.
    pub fn tensor(&mut self, t: TensorSpec) -> usize {
        self.main.add(EValue::Tensor(t))
    }

    /// Number of values so far.
    pub fn value_count(&self) -> usize {
        self.main.values.len()
    }

    /// The operator `name.overload`, added once; returns its index.
    pub fn operator(&mut self, name: &str, overload: &str) -> usize {
        if let Some(i) = self
            .main
            .operators
            .iter()
            .position(|(n, o)| n == name && o == overload)
        {
            return i;
        }
        self.main
            .operators
            .push((name.to_string(), overload.to_string()));
        self.main.operators.len() - 1
    }

    /// The operator of `kind`, added once; returns its index.
    pub fn op(&mut self, kind: OpKind) -> usize {
        self.operator(kind.name(), kind.overload())
    }

    /// Appends `KernelCall { op_index, args }` (args are value indices).
    pub fn kernel_call(&mut self, op_index: usize, args: &[usize]) {
        self.main.instructions.push(Instr::Kernel {
            op: op_index,
            args: args.to_vec(),
        });
        self.main.sources.push(Vec::new());
    }

    /// Records the source-model nodes the last instruction implements (its `stacktrace`
    /// entry: one `Frame` named after each node; ExecuTorch keeps it as debug information).
    pub fn set_source(&mut self, nodes: &[&str]) {
        let frames: Vec<(&str, &str)> = nodes.iter().map(|&n| (n, "")).collect();
        self.set_source_frames(&frames);
    }

    /// Like [`ProgramBuilder::set_source`] with a `context` per frame (kiln writes
    /// `output <j>` on the node that produces a delegate's output `j`).
    pub fn set_source_frames(&mut self, frames: &[(&str, &str)]) {
        if let Some(s) = self.main.sources.last_mut() {
            *s = frames
                .iter()
                .map(|(n, c)| (n.to_string(), c.to_string()))
                .collect();
        }
    }

    /// Adds a backend delegate; returns its index. Identical blobs are stored once.
    pub fn add_delegate(
        &mut self,
        id: &str,
        blob: Vec<u8>,
        compile_specs: Vec<(String, Vec<u8>)>,
        location: DataLocation,
    ) -> usize {
        let b = match self
            .blobs
            .iter()
            .position(|(d, l)| *d == blob && *l == location)
        {
            Some(i) => i,
            None => {
                self.blobs.push((blob, location));
                self.blobs.len() - 1
            }
        };
        self.main.delegates.push(DelegateSpec {
            id: id.to_string(),
            blob: b,
            location,
            compile_specs,
        });
        self.main.delegates.len() - 1
    }

    /// Appends `DelegateCall { delegate_index, args }` (inputs then outputs, as value indices).
    pub fn delegate_call(&mut self, delegate_index: usize, args: &[usize]) {
        self.main.instructions.push(Instr::Delegate {
            delegate: delegate_index,
            args: args.to_vec(),
        });
        self.main.sources.push(Vec::new());
    }

    /// The plan's input values.
    pub fn set_inputs(&mut self, values: &[usize]) {
        self.main.inputs = values.to_vec();
    }

    /// The plan's output values.
    pub fn set_outputs(&mut self, values: &[usize]) {
        self.main.outputs = values.to_vec();
    }

    /// Bytes per memory id; `sizes[0]` is reserved and written as 0 (pass the arena sizes for ids 1..).
    pub fn set_non_const_buffer_sizes(&mut self, sizes_from_id_1: &[i64]) {
        self.main.non_const_buffer_sizes = std::iter::once(0)
            .chain(sizes_from_id_1.iter().copied())
            .collect();
    }

    /// Adds an instruction-less plan `name` holding `values`, whose outputs are `outputs`
    /// (metadata such as ExecuTorch's `input0_scale` plans of int8-IO programs).
    pub fn extra_plan(&mut self, name: &str, values: Vec<EValue>, outputs: &[usize]) {
        let mut p = PlanData {
            name: name.to_string(),
            non_const_buffer_sizes: vec![0],
            ..PlanData::default()
        };
        // Map caller indices (positions in `values`) to stored indices (IntLists expand).
        let map: Vec<usize> = values.into_iter().map(|v| p.add(v)).collect();
        p.outputs = outputs
            .iter()
            .map(|&o| map.get(o).copied().unwrap_or(usize::MAX))
            .collect();
        self.extra.push(p);
    }

    /// Writes the file.
    pub fn finish(self) -> Result<Vec<u8>, WriteError> {
        for p in std::iter::once(&self.main).chain(&self.extra) {
            validate(p)?;
        }
        // Constant segment: distinct contents, each 16-aligned; offsets[0] is the placeholder.
        let mut constants = Vec::<u8>::new();
        let mut offsets = vec![0u64];
        let mut by_content: HashMap<&[u8], u32> = HashMap::new();
        let mut const_index: Vec<Vec<u32>> = Vec::new(); // per plan, per value (0 = not constant)
        for p in std::iter::once(&self.main).chain(&self.extra) {
            let mut idx = vec![0u32; p.values.len()];
            for (i, v) in p.values.iter().enumerate() {
                if let Stored::Plain(EValue::Tensor(TensorSpec {
                    storage: Storage::Constant(data),
                    ..
                })) = v
                {
                    let k = *by_content.entry(data.as_slice()).or_insert_with(|| {
                        offsets.push(constants.len() as u64);
                        constants.extend_from_slice(data);
                        constants.resize(constants.len().next_multiple_of(CONSTANT_ALIGNMENT), 0);
                        (offsets.len() - 1) as u32
                    });
                    idx[i] = k;
                }
            }
            const_index.push(idx);
        }
        // Segments: 0 = constants, then delegate blobs placed in segments.
        let mut segments: Vec<&[u8]> = vec![&constants];
        let mut blob_ref = Vec::new(); // per blob: index in backend_delegate_data or segments
        let mut inline: Vec<&[u8]> = Vec::new();
        for (data, loc) in &self.blobs {
            match loc {
                DataLocation::Inline => {
                    inline.push(data);
                    blob_ref.push(inline.len() as u32 - 1);
                }
                DataLocation::Segment => {
                    segments.push(data);
                    blob_ref.push(segments.len() as u32 - 1);
                }
            }
        }
        // Segment offsets relative to the segment base, each 128-aligned.
        let mut seg_table = Vec::new();
        let mut end = 0usize;
        for s in &segments {
            let start = if s.is_empty() {
                0
            } else {
                end.next_multiple_of(SEGMENT_ALIGNMENT)
            };
            seg_table.push((start as u64, s.len() as u64));
            if !s.is_empty() {
                end = start + s.len();
            }
        }
        let has_segment_data = end > 0;

        let ctx = Ctx {
            b: &self,
            const_index: &const_index,
            blob_ref: &blob_ref,
            inline: &inline,
            seg_table: &seg_table,
            offsets: &offsets,
        };
        let mut fb = ctx.build(false)?;
        if !ctx.inline_aligned(&fb) {
            fb = ctx.build(true)?;
            if !ctx.inline_aligned(&fb) {
                return Err(WriteError::Format(
                    "could not align inline delegate data to 16 bytes".into(),
                ));
            }
        }
        let (bytes, _) = fb;
        if !has_segment_data {
            return Ok(bytes);
        }
        // Insert the extended header at offset 8 and fix the root offset.
        let program_size = bytes.len() + HEADER_BYTES;
        let base = program_size.next_multiple_of(SEGMENT_ALIGNMENT);
        let mut out = Vec::with_capacity(base + end);
        let root =
            u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) + HEADER_BYTES as u32;
        out.extend_from_slice(&root.to_le_bytes());
        out.extend_from_slice(&bytes[4..8]);
        out.extend_from_slice(&EXTENDED_HEADER_MAGIC);
        out.extend_from_slice(&EXTENDED_HEADER_LENGTH.to_le_bytes());
        out.extend_from_slice(&(program_size as u64).to_le_bytes());
        out.extend_from_slice(&(base as u64).to_le_bytes());
        out.extend_from_slice(&(end as u64).to_le_bytes());
        out.extend_from_slice(&bytes[8..]);
        debug_assert_eq!(out.len(), program_size);
        out.resize(base, 0);
        for (s, (off, _)) in segments.iter().zip(&seg_table) {
            if s.is_empty() {
                continue;
            }
            out.resize(base + *off as usize, 0);
            out.extend_from_slice(s);
        }
        Ok(out)
    }
}

fn validate(p: &PlanData) -> Result<(), WriteError> {
    let n = p.values.len();
    let idx = |what: &'static str, index: usize, len: usize| -> Result<(), WriteError> {
        if index < len {
            Ok(())
        } else {
            Err(WriteError::Index {
                plan: p.name.clone(),
                what,
                index,
                len,
            })
        }
    };
    for (i, v) in p.values.iter().enumerate() {
        let terr = |reason: String| WriteError::Tensor {
            plan: p.name.clone(),
            value: i,
            reason,
        };
        match v {
            Stored::Plain(EValue::Tensor(t)) => {
                let rank = t.sizes.len();
                if rank > kiln_rt::exec::MAX_RANK {
                    return Err(terr(format!(
                        "rank {rank} above {}",
                        kiln_rt::exec::MAX_RANK
                    )));
                }
                if t.sizes.iter().any(|&s| s < 0) {
                    return Err(terr(format!("negative size in {:?}", t.sizes)));
                }
                if !t.dim_order.is_empty() {
                    let mut seen = vec![false; rank];
                    let ok = t.dim_order.len() == rank
                        && t.dim_order.iter().all(|&d| {
                            let fresh = seen.get(d as usize).is_some_and(|s| !s);
                            if fresh {
                                seen[d as usize] = true;
                            }
                            fresh
                        });
                    if !ok {
                        return Err(terr(format!(
                            "dim_order {:?} is not a permutation of 0..{rank}",
                            t.dim_order
                        )));
                    }
                }
                let nbytes = t.sizes.iter().map(|&s| s as usize).product::<usize>()
                    * t.scalar_type.element_size();
                match &t.storage {
                    Storage::Constant(d) if d.len() != nbytes => {
                        return Err(terr(format!(
                            "constant has {} bytes, sizes need {nbytes}",
                            d.len()
                        )))
                    }
                    Storage::Planned { memory_id, offset } => {
                        let id = *memory_id as usize;
                        let size = p.non_const_buffer_sizes.get(id).copied().unwrap_or(-1);
                        if id == 0 || size < 0 || offset + nbytes as u64 > size as u64 {
                            return Err(terr(format!(
                                "planned at memory {memory_id} offset {offset} ({nbytes} bytes) outside non_const_buffer_sizes {:?}",
                                p.non_const_buffer_sizes
                            )));
                        }
                    }
                    _ => {}
                }
            }
            Stored::Plain(EValue::TensorList(items)) => {
                for &t in items {
                    idx("value index in TensorList", t, n)?;
                }
            }
            Stored::Plain(EValue::OptionalTensorList(items)) => {
                for &t in items.iter().flatten() {
                    idx("value index in OptionalTensorList", t, n)?;
                }
            }
            _ => {}
        }
    }
    for ins in &p.instructions {
        match ins {
            Instr::Kernel { op, args } => {
                idx("operator index", *op, p.operators.len())?;
                for &a in args {
                    idx("value index in KernelCall args", a, n)?;
                }
            }
            Instr::Delegate { delegate, args } => {
                idx("delegate index", *delegate, p.delegates.len())?;
                for &a in args {
                    idx("value index in DelegateCall args", a, n)?;
                }
            }
        }
    }
    for &i in &p.inputs {
        idx("input value index", i, n)?;
    }
    for &o in &p.outputs {
        idx("output value index", o, n)?;
    }
    Ok(())
}

/// Everything `finish` computed before serializing.
struct Ctx<'a> {
    b: &'a ProgramBuilder,
    const_index: &'a [Vec<u32>],
    blob_ref: &'a [u32],
    inline: &'a [&'a [u8]],
    seg_table: &'a [(u64, u64)],
    offsets: &'a [u64],
}

type Built = (Vec<u8>, Vec<usize>);

/// The vtable offset of field `f` (what `push_slot` takes).
const fn vo(f: kiln_rt::pte::fb::Field) -> u16 {
    4 + 2 * f.slot
}

impl Ctx<'_> {
    /// True if every inline delegate blob starts on a 16-byte boundary.
    fn inline_aligned(&self, fb: &Built) -> bool {
        fb.1.iter().all(|&p| p % DELEGATE_ALIGNMENT == 0)
    }

    /// Serializes the flatbuffer; returns it and the start of each inline blob's data.
    /// `pad8` pushes 8 filler bytes after the blobs to move them by 8 (see `inline_blob`).
    fn build(&self, pad8: bool) -> Result<Built, WriteError> {
        let mut fbb = FlatBufferBuilder::with_capacity(4096);
        // Inline blobs first: they end up at the end of the buffer, laid out
        // so their data is 16-aligned counting from the end of the buffer.
        let mut blob_offsets = Vec::new();
        let mut blob_from_end = Vec::new();
        for &data in self.inline {
            let used = fbb.unfinished_data().len();
            let pad = (DELEGATE_ALIGNMENT - (used + data.len()) % DELEGATE_ALIGNMENT)
                % DELEGATE_ALIGNMENT;
            for _ in 0..pad {
                fbb.push(0u8);
            }
            let v = fbb.create_vector(data);
            // `v` is the distance from the end to the length prefix; data follows it.
            blob_from_end.push(v.value() as usize - 4);
            let s = fbb.start_table();
            fbb.push_slot_always(vo(F::BackendDelegateInlineData::data), v);
            blob_offsets.push(fbb.end_table(s));
        }
        if pad8 {
            for _ in 0..8 {
                fbb.push(0u8);
            }
        }
        let mut plans = Vec::new();
        for (k, p) in std::iter::once(&self.b.main)
            .chain(&self.b.extra)
            .enumerate()
        {
            plans.push(self.plan(&mut fbb, p, &self.const_index[k])?);
        }
        let plans = fbb.create_vector(&plans);
        let inline = fbb.create_vector(&blob_offsets);
        let segs: Vec<_> = self
            .seg_table
            .iter()
            .map(|&(off, size)| {
                let s = fbb.start_table();
                fbb.push_slot::<u64>(vo(F::DataSegment::offset), off, 0);
                fbb.push_slot::<u64>(vo(F::DataSegment::size), size, 0);
                fbb.end_table(s)
            })
            .collect();
        let segs = fbb.create_vector(&segs);
        let offs = fbb.create_vector(self.offsets);
        let cs = fbb.start_table();
        fbb.push_slot::<u32>(vo(F::SubsegmentOffsets::segment_index), 0, 0);
        fbb.push_slot_always(vo(F::SubsegmentOffsets::offsets), offs);
        let cs = fbb.end_table(cs);
        let root = fbb.start_table();
        fbb.push_slot::<u32>(vo(F::Program::version), 0, 0);
        fbb.push_slot_always(vo(F::Program::execution_plan), plans);
        fbb.push_slot_always(vo(F::Program::backend_delegate_data), inline);
        fbb.push_slot_always(vo(F::Program::segments), segs);
        fbb.push_slot_always(vo(F::Program::constant_segment), cs);
        let root = fbb.end_table(root);
        fbb.finish(root, Some("ET12"));
        let bytes = fbb.finished_data().to_vec();
        let len = bytes.len();
        let positions = blob_from_end.iter().map(|&e| len - e).collect();
        Ok((bytes, positions))
    }

    fn plan<'f>(
        &self,
        fbb: &mut FlatBufferBuilder<'f>,
        p: &PlanData,
        const_index: &[u32],
    ) -> Result<WIPOffset<flatbuffers::TableFinishedWIPOffset>, WriteError> {
        let values: Vec<_> = p
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| self.value(fbb, v, const_index[i]))
            .collect();
        let values = fbb.create_vector(&values);
        let ints = |fbb: &mut FlatBufferBuilder<'f>, v: &[usize]| {
            let v: Vec<i32> = v.iter().map(|&x| x as i32).collect();
            fbb.create_vector(&v)
        };
        let inputs = ints(fbb, &p.inputs);
        let outputs = ints(fbb, &p.outputs);
        let instrs: Vec<_> = p
            .instructions
            .iter()
            .map(|ins| {
                let (tag, args) = match ins {
                    Instr::Kernel { op, args } => {
                        let a = ints(fbb, args);
                        let s = fbb.start_table();
                        fbb.push_slot::<i32>(vo(F::KernelCall::op_index), *op as i32, 0);
                        fbb.push_slot_always(vo(F::KernelCall::args), a);
                        (InstrTag::KernelCall, fbb.end_table(s))
                    }
                    Instr::Delegate { delegate, args } => {
                        let a = ints(fbb, args);
                        let s = fbb.start_table();
                        fbb.push_slot::<i32>(
                            vo(F::DelegateCall::delegate_index),
                            *delegate as i32,
                            0,
                        );
                        fbb.push_slot_always(vo(F::DelegateCall::args), a);
                        (InstrTag::DelegateCall, fbb.end_table(s))
                    }
                };
                let s = fbb.start_table();
                fbb.push_slot_always::<u8>(vo(F::Instruction::instr_args_type), tag.raw());
                fbb.push_slot_always(vo(F::Instruction::instr_args), args);
                fbb.end_table(s)
            })
            .collect();
        let instrs = fbb.create_vector(&instrs);
        // One FrameList per instruction, written only when some instruction has a source.
        let stacktrace = if p.sources.iter().any(|s| !s.is_empty()) {
            let lists: Vec<_> = p
                .sources
                .iter()
                .map(|nodes| {
                    let frames: Vec<_> = nodes
                        .iter()
                        .map(|(n, c)| {
                            let name = fbb.create_string(n);
                            let context = (!c.is_empty()).then(|| fbb.create_string(c));
                            let s = fbb.start_table();
                            fbb.push_slot_always(vo(F::Frame::name), name);
                            if let Some(c) = context {
                                fbb.push_slot_always(vo(F::Frame::context), c);
                            }
                            fbb.end_table(s)
                        })
                        .collect();
                    let items = fbb.create_vector(&frames);
                    let s = fbb.start_table();
                    fbb.push_slot_always(vo(F::FrameList::items), items);
                    fbb.end_table(s)
                })
                .collect();
            Some(fbb.create_vector(&lists))
        } else {
            None
        };
        let empty = fbb.create_vector::<i32>(&[]);
        let chain = fbb.start_table();
        fbb.push_slot_always(vo(F::Chain::inputs), empty);
        fbb.push_slot_always(vo(F::Chain::outputs), empty);
        fbb.push_slot_always(vo(F::Chain::instructions), instrs);
        if let Some(st) = stacktrace {
            fbb.push_slot_always(vo(F::Chain::stacktrace), st);
        }
        let chain = fbb.end_table(chain);
        let chains = fbb.create_vector(&[chain]);
        let ops: Vec<_> = p
            .operators
            .iter()
            .map(|(n, o)| {
                let n = fbb.create_string(n);
                let o = fbb.create_string(o);
                let s = fbb.start_table();
                fbb.push_slot_always(vo(F::Operator::name), n);
                fbb.push_slot_always(vo(F::Operator::overload), o);
                fbb.end_table(s)
            })
            .collect();
        let ops = fbb.create_vector(&ops);
        let delegates: Vec<_> = p
            .delegates
            .iter()
            .map(|d| {
                let id = fbb.create_string(&d.id);
                let r = fbb.start_table();
                fbb.push_slot::<i8>(
                    vo(F::BackendDelegateDataReference::location),
                    d.location.raw(),
                    0,
                );
                fbb.push_slot::<u32>(
                    vo(F::BackendDelegateDataReference::index),
                    self.blob_ref[d.blob],
                    0,
                );
                let r = fbb.end_table(r);
                let specs: Vec<_> = d
                    .compile_specs
                    .iter()
                    .map(|(k, v)| {
                        let k = fbb.create_string(k);
                        let v = fbb.create_vector(v);
                        let s = fbb.start_table();
                        fbb.push_slot_always(vo(F::CompileSpec::key), k);
                        fbb.push_slot_always(vo(F::CompileSpec::value), v);
                        fbb.end_table(s)
                    })
                    .collect();
                let specs = fbb.create_vector(&specs);
                let s = fbb.start_table();
                fbb.push_slot_always(vo(F::BackendDelegate::id), id);
                fbb.push_slot_always(vo(F::BackendDelegate::processed), r);
                fbb.push_slot_always(vo(F::BackendDelegate::compile_specs), specs);
                fbb.end_table(s)
            })
            .collect();
        let delegates = fbb.create_vector(&delegates);
        let sizes = fbb.create_vector(&p.non_const_buffer_sizes);
        let name = fbb.create_string(&p.name);
        let e1 = fbb.create_string("");
        let e2 = fbb.create_string("");
        let meta = fbb.start_table();
        fbb.push_slot_always(vo(F::ContainerMetadata::encoded_inp_str), e1);
        fbb.push_slot_always(vo(F::ContainerMetadata::encoded_out_str), e2);
        let meta = fbb.end_table(meta);
        let s = fbb.start_table();
        fbb.push_slot_always(vo(F::ExecutionPlan::name), name);
        fbb.push_slot_always(vo(F::ExecutionPlan::container_meta_type), meta);
        fbb.push_slot_always(vo(F::ExecutionPlan::values), values);
        fbb.push_slot_always(vo(F::ExecutionPlan::inputs), inputs);
        fbb.push_slot_always(vo(F::ExecutionPlan::outputs), outputs);
        fbb.push_slot_always(vo(F::ExecutionPlan::chains), chains);
        fbb.push_slot_always(vo(F::ExecutionPlan::operators), ops);
        fbb.push_slot_always(vo(F::ExecutionPlan::delegates), delegates);
        fbb.push_slot_always(vo(F::ExecutionPlan::non_const_buffer_sizes), sizes);
        Ok(fbb.end_table(s))
    }

    fn value<'f>(
        &self,
        fbb: &mut FlatBufferBuilder<'f>,
        v: &Stored,
        const_index: u32,
    ) -> WIPOffset<flatbuffers::TableFinishedWIPOffset> {
        let (tag, val) = match v {
            Stored::IntList(items) => {
                let items: Vec<i64> = items.iter().map(|&i| i as i64).collect();
                let items = fbb.create_vector(&items);
                let s = fbb.start_table();
                fbb.push_slot_always(vo(F::IntList::items), items);
                (Tag::IntList, fbb.end_table(s))
            }
            Stored::Plain(e) => match e {
                EValue::Null => {
                    let s = fbb.start_table();
                    (Tag::Null, fbb.end_table(s))
                }
                EValue::Int(i) => {
                    let s = fbb.start_table();
                    fbb.push_slot_always::<i64>(vo(F::Int::int_val), *i);
                    (Tag::Int, fbb.end_table(s))
                }
                EValue::Bool(b) => {
                    let s = fbb.start_table();
                    fbb.push_slot_always::<bool>(vo(F::Bool::bool_val), *b);
                    (Tag::Bool, fbb.end_table(s))
                }
                EValue::Double(d) => {
                    let s = fbb.start_table();
                    fbb.push_slot_always::<f64>(vo(F::Double::double_val), *d);
                    (Tag::Double, fbb.end_table(s))
                }
                EValue::String(st) => {
                    let st = fbb.create_string(st);
                    let s = fbb.start_table();
                    fbb.push_slot_always(vo(F::String::string_val), st);
                    (Tag::String, fbb.end_table(s))
                }
                EValue::IntList(_) => {
                    // Never stored: `PlanData::add` turns every IntList into `Stored::IntList`.
                    let items = fbb.create_vector::<i64>(&[]);
                    let s = fbb.start_table();
                    fbb.push_slot_always(vo(F::IntList::items), items);
                    (Tag::IntList, fbb.end_table(s))
                }
                EValue::DoubleList(items) => {
                    let items = fbb.create_vector(items);
                    let s = fbb.start_table();
                    fbb.push_slot_always(vo(F::DoubleList::items), items);
                    (Tag::DoubleList, fbb.end_table(s))
                }
                EValue::BoolList(items) => {
                    let items = fbb.create_vector(items);
                    let s = fbb.start_table();
                    fbb.push_slot_always(vo(F::BoolList::items), items);
                    (Tag::BoolList, fbb.end_table(s))
                }
                EValue::TensorList(items) => {
                    let items: Vec<i32> = items.iter().map(|&i| i as i32).collect();
                    let items = fbb.create_vector(&items);
                    let s = fbb.start_table();
                    fbb.push_slot_always(vo(F::TensorList::items), items);
                    (Tag::TensorList, fbb.end_table(s))
                }
                EValue::OptionalTensorList(items) => {
                    let items: Vec<i32> =
                        items.iter().map(|i| i.map_or(-1, |i| i as i32)).collect();
                    let items = fbb.create_vector(&items);
                    let s = fbb.start_table();
                    fbb.push_slot_always(vo(F::OptionalTensorList::items), items);
                    (Tag::OptionalTensorList, fbb.end_table(s))
                }
                EValue::Tensor(t) => (Tag::Tensor, self.tensor(fbb, t, const_index)),
            },
        };
        let s = fbb.start_table();
        fbb.push_slot_always::<u8>(vo(F::EValue::val_type), tag.raw());
        fbb.push_slot_always(vo(F::EValue::val), val);
        fbb.end_table(s)
    }

    fn tensor<'f>(
        &self,
        fbb: &mut FlatBufferBuilder<'f>,
        t: &TensorSpec,
        const_index: u32,
    ) -> WIPOffset<flatbuffers::TableFinishedWIPOffset> {
        let sizes = fbb.create_vector(&t.sizes);
        let order: Vec<u8> = if t.dim_order.is_empty() {
            (0..t.sizes.len() as u8).collect()
        } else {
            t.dim_order.clone()
        };
        let order = fbb.create_vector(&order);
        let alloc = match t.storage {
            Storage::Planned { memory_id, offset } => {
                let s = fbb.start_table();
                fbb.push_slot_always::<u32>(vo(F::AllocationDetails::memory_id), memory_id);
                fbb.push_slot_always::<u32>(
                    vo(F::AllocationDetails::memory_offset_low),
                    offset as u32,
                );
                fbb.push_slot_always::<u32>(
                    vo(F::AllocationDetails::memory_offset_high),
                    (offset >> 32) as u32,
                );
                Some(fbb.end_table(s))
            }
            _ => None,
        };
        let s = fbb.start_table();
        fbb.push_slot_always::<i8>(vo(F::Tensor::scalar_type), t.scalar_type.raw());
        fbb.push_slot_always::<i32>(vo(F::Tensor::storage_offset), 0);
        fbb.push_slot_always(vo(F::Tensor::sizes), sizes);
        fbb.push_slot_always(vo(F::Tensor::dim_order), order);
        fbb.push_slot_always::<bool>(vo(F::Tensor::requires_grad), false);
        fbb.push_slot_always::<u32>(vo(F::Tensor::data_buffer_idx), const_index);
        if let Some(a) = alloc {
            fbb.push_slot_always(vo(F::Tensor::allocation_info), a);
        }
        fbb.push_slot_always::<i8>(vo(F::Tensor::shape_dynamism), 0);
        fbb.end_table(s)
    }
}

#[cfg(test)]
mod tests;
