//! The `.pte` container and its tables, read in place.

use super::fb::{self, Buffer, FbError, Field, Table, Tables, Vector};
use super::schema::fields as F;
use super::schema::*;
use crate::error::{Name, RtError};

/// The optional `eh00` header at file offset 8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtendedHeader {
    /// Header length as stored (24 or 32).
    pub length: u32,
    /// Bytes of flatbuffer data (including the padded header) at the start of the file.
    pub program_size: u64,
    /// File offset of the first segment (0 = no segments).
    pub segment_base_offset: u64,
    /// Bytes of segment data (0 = unknown or absent).
    pub segment_data_size: u64,
}

impl ExtendedHeader {
    /// Parses the header if the magic is present; `Ok(None)` if it is not.
    pub fn parse(file: &[u8]) -> Result<Option<ExtendedHeader>, RtError> {
        let at = EXTENDED_HEADER_OFFSET;
        match file.get(at..at + 4) {
            Some(m) if m == EXTENDED_HEADER_MAGIC => {}
            _ => return Ok(None),
        }
        let bad = |what| RtError::BadExtendedHeader { what };
        let u32_at = |p: usize| {
            file.get(p..p + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let u64_at = |p: usize| {
            file.get(p..p + 8).map(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                u64::from_le_bytes(a)
            })
        };
        let length = u32_at(at + 4).ok_or(bad("truncated"))?;
        if length < EXTENDED_HEADER_MIN_LENGTH {
            return Err(bad("length below 24"));
        }
        if file.len() < at + length as usize {
            return Err(bad("truncated"));
        }
        let program_size = u64_at(at + 8).ok_or(bad("truncated"))?;
        let segment_base_offset = u64_at(at + 16).ok_or(bad("truncated"))?;
        let segment_data_size = if length >= EXTENDED_HEADER_LENGTH {
            u64_at(at + 24).ok_or(bad("truncated"))?
        } else {
            0
        };
        let len = file.len() as u64;
        if program_size > len || program_size < (at as u64 + length as u64) {
            return Err(bad("program_size outside the file"));
        }
        if segment_base_offset != 0 && segment_base_offset < program_size {
            return Err(bad("segment_base_offset inside the program data"));
        }
        if segment_base_offset > len {
            return Err(bad("segment_base_offset past the end of the file"));
        }
        if segment_data_size > len - segment_base_offset {
            return Err(bad("segment data past the end of the file"));
        }
        Ok(Some(ExtendedHeader {
            length,
            program_size,
            segment_base_offset,
            segment_data_size,
        }))
    }
}

/// An ExecuTorch program, read in place from the bytes of a `.pte` file.
///
/// `load` checks the container (identifier, extended header, segments,
/// constant segment); plans, values and instructions are checked when read
/// (and all of a plan's by [`crate::exec::Method::load`]).
#[derive(Clone, Copy, Debug)]
pub struct Program<'a> {
    file: &'a [u8],
    root: Table<'a>,
    header: Option<ExtendedHeader>,
    /// Constant segment bytes (empty if none) and the offsets of constant tensors in it.
    constants: &'a [u8],
    constant_offsets: Vector<'a, u64>,
}

impl<'a> Program<'a> {
    /// Reads and checks the container of a `.pte` file.
    pub fn load(file: &'a [u8]) -> Result<Program<'a>, RtError> {
        let mut found = [0u8; 4];
        if let Some(id) = file.get(4..8) {
            found.copy_from_slice(id);
        }
        if found != FILE_IDENTIFIER {
            return Err(RtError::BadFileIdentifier {
                expected: FILE_IDENTIFIER,
                found,
            });
        }
        let header = ExtendedHeader::parse(file)?;
        // Flatbuffer offsets may only reach the program data, not the segments.
        // (program_size <= file.len() was checked by `parse`.)
        let fb_bytes = match header {
            Some(h) => &file[..h.program_size as usize],
            None => file,
        };
        let root = Buffer::new(fb_bytes)?.root("Program")?;
        let mut p = Program {
            file,
            root,
            header,
            constants: &[],
            constant_offsets: Vector::empty(F::SubsegmentOffsets::offsets.name),
        };
        // Check every segment lies in the file.
        for i in 0..p.segment_count()? {
            p.segment(i)?;
        }
        if let Some(cb) = root.get_tables(F::Program::constant_buffer)? {
            // Files with a non-empty deprecated inline constant_buffer predate 2024-09.
            if !cb.is_empty() {
                return Err(RtError::Unsupported {
                    what: "deprecated Program.constant_buffer (inline constants); re-export with ExecuTorch >= 0.4",
                });
            }
        }
        if let Some(m) = root.get_tables(F::Program::mutable_data_segments)? {
            if !m.is_empty() {
                return Err(RtError::Unsupported {
                    what: "Program.mutable_data_segments (tensors with initial state)",
                });
            }
        }
        if let Some(cs) = root.get_table(F::Program::constant_segment)? {
            let idx = cs.get_u32(F::SubsegmentOffsets::segment_index, 0)?;
            let offsets = cs
                .get_vector::<u64>(F::SubsegmentOffsets::offsets)?
                .unwrap_or(Vector::empty(F::SubsegmentOffsets::offsets.name));
            // A program without constants may have no segments at all.
            if !offsets.is_empty() && (offsets.len() > 1 || p.segment_count()? > 0) {
                p.constants = p.segment(idx as usize)?;
            }
            for (k, off) in offsets.iter().enumerate() {
                if off > p.constants.len() as u64 {
                    return Err(RtError::DataOutOfBounds {
                        what: "constant tensor",
                        index: k as u32,
                    });
                }
            }
            p.constant_offsets = offsets;
        }
        Ok(p)
    }

    /// The whole file.
    pub fn file(&self) -> &'a [u8] {
        self.file
    }

    /// The root `Program` table (for fields this reader does not wrap).
    pub fn root(&self) -> Table<'a> {
        self.root
    }

    /// The extended header, if the file has one.
    pub fn extended_header(&self) -> Option<ExtendedHeader> {
        self.header
    }

    /// `Program.version`.
    pub fn version(&self) -> Result<u32, RtError> {
        self.root.get_u32(F::Program::version, 0)
    }

    fn plans(&self) -> Result<Tables<'a>, RtError> {
        fb::required(
            self.root.get_tables(F::Program::execution_plan)?,
            F::Program::execution_plan,
        )
    }

    /// Number of execution plans (methods).
    pub fn plan_count(&self) -> Result<usize, RtError> {
        Ok(self.plans()?.len())
    }

    /// Execution plan `i`.
    pub fn plan(&self, i: usize) -> Result<Plan<'a>, RtError> {
        Ok(Plan {
            t: self.plans()?.get(i)?,
        })
    }

    /// The execution plan named `name` (e.g. `forward`).
    pub fn plan_by_name(&self, name: &str) -> Result<Plan<'a>, RtError> {
        for t in self.plans()?.iter() {
            let plan = Plan { t: t? };
            if plan.name()? == name {
                return Ok(plan);
            }
        }
        Err(RtError::PlanNotFound {
            name: Name::new(name),
        })
    }

    fn segments(&self) -> Result<Option<Tables<'a>>, RtError> {
        self.root.get_tables(F::Program::segments)
    }

    /// Number of data segments.
    pub fn segment_count(&self) -> Result<usize, RtError> {
        Ok(self.segments()?.map_or(0, |s| s.len()))
    }

    /// The bytes of segment `i`, checked to lie in the file.
    pub fn segment(&self, i: usize) -> Result<&'a [u8], RtError> {
        let segs = fb::required(self.segments()?, F::Program::segments)?;
        let s = segs.get(i)?;
        let offset = s.get_u64(F::DataSegment::offset, 0)?;
        let size = s.get_u64(F::DataSegment::size, 0)?;
        if size == 0 {
            return Ok(&[]);
        }
        let oob = RtError::DataOutOfBounds {
            what: "segment",
            index: i as u32,
        };
        let base = match self.header {
            Some(h) if h.segment_base_offset != 0 => h.segment_base_offset,
            _ => return Err(oob), // segment data without an extended header has no location
        };
        let start = base.checked_add(offset).ok_or(oob)?;
        let end = start.checked_add(size).ok_or(oob)?;
        if end > self.file.len() as u64 {
            return Err(oob);
        }
        Ok(&self.file[start as usize..end as usize])
    }

    /// Number of entries of `constant_segment.offsets` (entry 0 is the reserved placeholder).
    pub fn constant_count(&self) -> usize {
        self.constant_offsets.len()
    }

    /// Size of the constant segment in bytes.
    pub fn constant_segment_size(&self) -> usize {
        self.constants.len()
    }

    /// Offset of constant `index` in the constant segment.
    pub fn constant_offset(&self, index: u32) -> Result<u64, RtError> {
        self.constant_offsets
            .get(index as usize)
            .ok_or(RtError::InvalidProgram {
                field: F::Tensor::data_buffer_idx.name,
                what: "constant index past constant_segment.offsets",
                value: index as i64,
            })
    }

    /// The `nbytes` bytes of constant tensor `index` (`Tensor.data_buffer_idx`).
    pub fn constant_data(&self, index: u32, nbytes: usize) -> Result<&'a [u8], RtError> {
        if index == 0 {
            return Err(RtError::InvalidProgram {
                field: F::Tensor::data_buffer_idx.name,
                what: "constant index 0 is reserved",
                value: 0,
            });
        }
        let off = self.constant_offset(index)? as usize; // <= constants.len(), checked in load
        let end = off.checked_add(nbytes);
        match end {
            Some(end) if end <= self.constants.len() => Ok(&self.constants[off..end]),
            _ => Err(RtError::DataOutOfBounds {
                what: "constant tensor",
                index,
            }),
        }
    }

    /// Number of inline delegate blobs (`Program.backend_delegate_data`).
    pub fn inline_delegate_count(&self) -> Result<usize, RtError> {
        Ok(self
            .root
            .get_tables(F::Program::backend_delegate_data)?
            .map_or(0, |t| t.len()))
    }

    /// Resolves a delegate's processed data (inline blob or segment).
    pub fn delegate_data(&self, location: DataLocation, index: u32) -> Result<&'a [u8], RtError> {
        match location {
            DataLocation::Inline => {
                let f = F::Program::backend_delegate_data;
                let t = fb::required(self.root.get_tables(f)?, f)?.get(index as usize)?;
                Ok(t.get_bytes(F::BackendDelegateInlineData::data)?
                    .unwrap_or(&[]))
            }
            DataLocation::Segment => self.segment(index as usize),
        }
    }
}

/// One execution plan (a method such as `forward`).
#[derive(Clone, Copy, Debug)]
pub struct Plan<'a> {
    t: Table<'a>,
}

/// Reads an optional `[int]` field as a possibly empty vector.
fn ints<'a>(t: &Table<'a>, f: Field) -> Result<Vector<'a, i32>, RtError> {
    Ok(t.get_vector::<i32>(f)?.unwrap_or(Vector::empty(f.name)))
}

impl<'a> Plan<'a> {
    /// The underlying `ExecutionPlan` table.
    pub fn table(&self) -> Table<'a> {
        self.t
    }

    /// `ExecutionPlan.name`.
    pub fn name(&self) -> Result<&'a str, RtError> {
        Ok(self.t.get_str(F::ExecutionPlan::name)?.unwrap_or(""))
    }

    fn values(&self) -> Result<Option<Tables<'a>>, RtError> {
        self.t.get_tables(F::ExecutionPlan::values)
    }

    /// Number of values (EValues).
    pub fn value_count(&self) -> Result<usize, RtError> {
        Ok(self.values()?.map_or(0, |v| v.len()))
    }

    /// Value `i`, decoded.
    pub fn value(&self, i: usize) -> Result<Value<'a>, RtError> {
        let f = F::ExecutionPlan::values;
        let t = fb::required(self.values()?, f)?.get(i)?;
        Value::decode(&t)
    }

    /// `ExecutionPlan.inputs` (value indices).
    pub fn inputs(&self) -> Result<Vector<'a, i32>, RtError> {
        ints(&self.t, F::ExecutionPlan::inputs)
    }

    /// `ExecutionPlan.outputs` (value indices).
    pub fn outputs(&self) -> Result<Vector<'a, i32>, RtError> {
        ints(&self.t, F::ExecutionPlan::outputs)
    }

    /// `ExecutionPlan.non_const_buffer_sizes` (entry 0 is reserved; entry `i` = size of memory id `i`).
    pub fn non_const_buffer_sizes(&self) -> Result<Vector<'a, i64>, RtError> {
        let f = F::ExecutionPlan::non_const_buffer_sizes;
        Ok(self
            .t
            .get_vector::<i64>(f)?
            .unwrap_or(Vector::empty(f.name)))
    }

    fn operators(&self) -> Result<Option<Tables<'a>>, RtError> {
        self.t.get_tables(F::ExecutionPlan::operators)
    }

    /// Number of operators.
    pub fn operator_count(&self) -> Result<usize, RtError> {
        Ok(self.operators()?.map_or(0, |v| v.len()))
    }

    /// Operator `i`.
    pub fn operator(&self, i: usize) -> Result<Operator<'a>, RtError> {
        let f = F::ExecutionPlan::operators;
        let t = fb::required(self.operators()?, f)?.get(i)?;
        Ok(Operator {
            name: fb::required(t.get_str(F::Operator::name)?, F::Operator::name)?,
            overload: t.get_str(F::Operator::overload)?.unwrap_or(""),
        })
    }

    fn delegates(&self) -> Result<Option<Tables<'a>>, RtError> {
        self.t.get_tables(F::ExecutionPlan::delegates)
    }

    /// Number of delegates.
    pub fn delegate_count(&self) -> Result<usize, RtError> {
        Ok(self.delegates()?.map_or(0, |v| v.len()))
    }

    /// Delegate `i`.
    pub fn delegate(&self, i: usize) -> Result<Delegate<'a>, RtError> {
        let f = F::ExecutionPlan::delegates;
        let t = fb::required(self.delegates()?, f)?.get(i)?;
        let id = fb::required(t.get_str(F::BackendDelegate::id)?, F::BackendDelegate::id)?;
        let r = fb::required(
            t.get_table(F::BackendDelegate::processed)?,
            F::BackendDelegate::processed,
        )?;
        let location = DataLocation::from_raw(
            r.get_i8(F::BackendDelegateDataReference::location, 0)?,
            F::BackendDelegateDataReference::location.name,
        )?;
        let index = r.get_u32(F::BackendDelegateDataReference::index, 0)?;
        Ok(Delegate {
            id,
            location,
            index,
            compile_specs: t.get_tables(F::BackendDelegate::compile_specs)?,
        })
    }

    fn chain(&self) -> Result<Option<Table<'a>>, RtError> {
        match self.t.get_tables(F::ExecutionPlan::chains)? {
            None => Ok(None),
            Some(c) if c.is_empty() => Ok(None),
            Some(c) if c.len() > 1 => Err(RtError::Unsupported {
                what: "execution plans with more than one chain",
            }),
            Some(c) => c.get(0).map(Some),
        }
    }

    fn instructions(&self) -> Result<Option<Tables<'a>>, RtError> {
        match self.chain()? {
            None => Ok(None),
            Some(c) => c.get_tables(F::Chain::instructions),
        }
    }

    /// Number of instructions in chain 0 (0 for plans without chains).
    pub fn instruction_count(&self) -> Result<usize, RtError> {
        Ok(self.instructions()?.map_or(0, |v| v.len()))
    }

    /// Instruction `i` of chain 0.
    pub fn instruction(&self, i: usize) -> Result<Instruction<'a>, RtError> {
        let f = F::Chain::instructions;
        let t = fb::required(self.instructions()?, f)?.get(i)?;
        Instruction::decode(&t)
    }

    /// The source frames of instruction `i` of chain 0 (the chain's optional `stacktrace`:
    /// kiln names the source-model nodes an instruction implements there). Empty when the
    /// program records none for it.
    pub fn instruction_sources(&self, i: usize) -> Result<Sources<'a>, RtError> {
        let Some(lists) = self
            .chain()?
            .map(|c| c.get_tables(F::Chain::stacktrace))
            .transpose()?
            .flatten()
        else {
            return Ok(Sources { frames: None });
        };
        if i >= lists.len() {
            return Ok(Sources { frames: None });
        }
        Ok(Sources {
            frames: lists.get(i)?.get_tables(F::FrameList::items)?,
        })
    }
}

/// The frames (`stacktrace` entry) of one instruction: see [`Plan::instruction_sources`].
#[derive(Clone, Copy, Debug)]
pub struct Sources<'a> {
    frames: Option<Tables<'a>>,
}

impl<'a> Sources<'a> {
    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.map_or(0, |f| f.len())
    }
    /// True when the instruction has no recorded source.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The name of frame `k` (a source-model node for kiln's programs; "" when unnamed).
    pub fn name(&self, k: usize) -> Result<&'a str, RtError> {
        match self.frames {
            None => Ok(""),
            Some(f) => Ok(f.get(k)?.get_str(F::Frame::name)?.unwrap_or("")),
        }
    }
    /// The context of frame `k` ("" when absent; kiln writes `output <j>` on the node that
    /// produces a delegate's output `j`).
    pub fn context(&self, k: usize) -> Result<&'a str, RtError> {
        match self.frames {
            None => Ok(""),
            Some(f) => Ok(f.get(k)?.get_str(F::Frame::context)?.unwrap_or("")),
        }
    }
}

/// An operator as the program names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operator<'a> {
    /// Qualified name, e.g. `aten::convolution`.
    pub name: &'a str,
    /// Overload, e.g. `out`.
    pub overload: &'a str,
}

/// A backend delegate: which backend, and where its processed blob is.
#[derive(Clone, Copy, Debug)]
pub struct Delegate<'a> {
    /// Backend id, e.g. `EthosUBackend`.
    pub id: &'a str,
    /// Where the processed blob is.
    pub location: DataLocation,
    /// Index in `backend_delegate_data` (inline) or `segments`.
    pub index: u32,
    compile_specs: Option<Tables<'a>>,
}

impl<'a> Delegate<'a> {
    /// Number of compile specs.
    pub fn compile_spec_count(&self) -> usize {
        self.compile_specs.map_or(0, |c| c.len())
    }

    /// Compile spec `i` as (key, value bytes).
    pub fn compile_spec(&self, i: usize) -> Result<(&'a str, &'a [u8]), RtError> {
        let f = F::BackendDelegate::compile_specs;
        let t = fb::required(self.compile_specs, f)?.get(i)?;
        Ok((
            t.get_str(F::CompileSpec::key)?.unwrap_or(""),
            t.get_bytes(F::CompileSpec::value)?.unwrap_or(&[]),
        ))
    }

    /// The value of the compile spec with key `key`, if any.
    pub fn compile_spec_value(&self, key: &str) -> Result<Option<&'a [u8]>, RtError> {
        for i in 0..self.compile_spec_count() {
            let (k, v) = self.compile_spec(i)?;
            if k == key {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }
}

/// One instruction of chain 0.
#[derive(Clone, Copy, Debug)]
pub enum Instruction<'a> {
    /// Call operator `op_index` with value indices `args`.
    KernelCall {
        /// Index in the plan's operators.
        op_index: i32,
        /// Value indices.
        args: Vector<'a, i32>,
    },
    /// Call delegate `delegate_index` with value indices `args` (inputs, then outputs).
    DelegateCall {
        /// Index in the plan's delegates.
        delegate_index: i32,
        /// Value indices.
        args: Vector<'a, i32>,
    },
    /// Copy value `from` into value `to`.
    MoveCall {
        /// Source value.
        from: i32,
        /// Destination value.
        to: i32,
    },
    /// Jump to `destination` if value `cond` is false.
    JumpFalseCall {
        /// Bool value index.
        cond: i32,
        /// Instruction index.
        destination: i32,
    },
    /// Free tensor value `value`.
    FreeCall {
        /// Value index.
        value: i32,
    },
}

impl<'a> Instruction<'a> {
    fn decode(t: &Table<'a>) -> Result<Instruction<'a>, RtError> {
        let f = F::Instruction::instr_args_type;
        let (tag, a) = fb::required(t.get_union(f)?, f)?;
        Ok(match InstrTag::from_raw(tag, f.name)? {
            InstrTag::KernelCall => Instruction::KernelCall {
                op_index: a.get_i32(F::KernelCall::op_index, 0)?,
                args: ints(&a, F::KernelCall::args)?,
            },
            InstrTag::DelegateCall => Instruction::DelegateCall {
                delegate_index: a.get_i32(F::DelegateCall::delegate_index, 0)?,
                args: ints(&a, F::DelegateCall::args)?,
            },
            InstrTag::MoveCall => Instruction::MoveCall {
                from: a.get_i32(F::MoveCall::move_from, 0)?,
                to: a.get_i32(F::MoveCall::move_to, 0)?,
            },
            InstrTag::JumpFalseCall => Instruction::JumpFalseCall {
                cond: a.get_i32(F::JumpFalseCall::cond_value_index, 0)?,
                destination: a.get_i32(F::JumpFalseCall::destination_instruction, 0)?,
            },
            InstrTag::FreeCall => Instruction::FreeCall {
                value: a.get_i32(F::FreeCall::value_index, 0)?,
            },
        })
    }

    /// The instruction's tag.
    pub fn tag(&self) -> InstrTag {
        match self {
            Instruction::KernelCall { .. } => InstrTag::KernelCall,
            Instruction::DelegateCall { .. } => InstrTag::DelegateCall,
            Instruction::MoveCall { .. } => InstrTag::MoveCall,
            Instruction::JumpFalseCall { .. } => InstrTag::JumpFalseCall,
            Instruction::FreeCall { .. } => InstrTag::FreeCall,
        }
    }
}

/// A decoded EValue.
#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    /// `None`.
    Null,
    /// `int64`.
    Int(i64),
    /// `bool`.
    Bool(bool),
    /// `f64`.
    Double(f64),
    /// A tensor.
    Tensor(Tensor<'a>),
    /// A string.
    String(&'a str),
    /// Value indices of `Int` values (not the ints themselves).
    IntList(Vector<'a, i64>),
    /// Doubles.
    DoubleList(Vector<'a, f64>),
    /// Bools.
    BoolList(Vector<'a, bool>),
    /// Value indices of `Tensor` values.
    TensorList(Vector<'a, i32>),
    /// Value indices of `Tensor` values, -1 = None.
    OptionalTensorList(Vector<'a, i32>),
}

impl<'a> Value<'a> {
    fn decode(t: &Table<'a>) -> Result<Value<'a>, RtError> {
        let f = F::EValue::val_type;
        let Some((tag, v)) = t.get_union(f)? else {
            return Err(fb::err(FbError::Missing, f.name));
        };
        Ok(match Tag::from_raw(tag, f.name)? {
            Tag::Null => Value::Null,
            Tag::Int => Value::Int(v.get_i64(F::Int::int_val, 0)?),
            Tag::Bool => Value::Bool(v.get_bool(F::Bool::bool_val, false)?),
            Tag::Double => Value::Double(v.get_f64(F::Double::double_val, 0.0)?),
            Tag::Tensor => Value::Tensor(Tensor::decode(&v)?),
            Tag::String => Value::String(v.get_str(F::String::string_val)?.unwrap_or("")),
            Tag::IntList => Value::IntList(vec_or_empty(&v, F::IntList::items)?),
            Tag::DoubleList => Value::DoubleList(vec_or_empty(&v, F::DoubleList::items)?),
            Tag::BoolList => Value::BoolList(vec_or_empty(&v, F::BoolList::items)?),
            Tag::TensorList => Value::TensorList(vec_or_empty(&v, F::TensorList::items)?),
            Tag::OptionalTensorList => {
                Value::OptionalTensorList(vec_or_empty(&v, F::OptionalTensorList::items)?)
            }
        })
    }

    /// The value's tag.
    pub fn tag(&self) -> Tag {
        match self {
            Value::Null => Tag::Null,
            Value::Int(_) => Tag::Int,
            Value::Bool(_) => Tag::Bool,
            Value::Double(_) => Tag::Double,
            Value::Tensor(_) => Tag::Tensor,
            Value::String(_) => Tag::String,
            Value::IntList(_) => Tag::IntList,
            Value::DoubleList(_) => Tag::DoubleList,
            Value::BoolList(_) => Tag::BoolList,
            Value::TensorList(_) => Tag::TensorList,
            Value::OptionalTensorList(_) => Tag::OptionalTensorList,
        }
    }
}

fn vec_or_empty<'a, T: fb::Scalar>(t: &Table<'a>, f: Field) -> Result<Vector<'a, T>, RtError> {
    Ok(t.get_vector::<T>(f)?.unwrap_or(Vector::empty(f.name)))
}

/// Where a tensor's data lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorData {
    /// Constant tensor `data_buffer_idx` (>= 1) in the constant segment.
    Constant(u32),
    /// Planned memory: `offset` bytes into memory `memory_id`.
    Planned {
        /// Memory arena id (>= 1).
        memory_id: u32,
        /// Byte offset in that arena.
        offset: u64,
    },
    /// No storage: the pointer is supplied at run time (kiln-rt requires planned inputs).
    Unplanned,
    /// Planned and with an initial value in `mutable_data_segments` (not supported by kiln-rt).
    PlannedWithInit {
        /// Index in `mutable_data_segments` offsets.
        data_buffer_idx: u32,
    },
}

/// A Tensor EValue, as stored.
#[derive(Clone, Copy, Debug)]
pub struct Tensor<'a> {
    /// Element type.
    pub scalar_type: ScalarType,
    /// `Tensor.storage_offset` (must be 0).
    pub storage_offset: i32,
    /// Sizes in logical (e.g. NCHW) order.
    pub sizes: Vector<'a, i32>,
    /// Memory order of the dimensions, outermost first (empty for rank-0 tensors or old files).
    pub dim_order: &'a [u8],
    /// Where the data is.
    pub data: TensorData,
    /// Shape dynamism.
    pub shape_dynamism: ShapeDynamism,
}

impl<'a> Tensor<'a> {
    fn decode(t: &Table<'a>) -> Result<Tensor<'a>, RtError> {
        let st = F::Tensor::scalar_type;
        let scalar_type = ScalarType::from_raw(t.get_i8(st, 0)?, st.name)?;
        let dbi = t.get_u32(F::Tensor::data_buffer_idx, 0)?;
        let alloc = t.get_table(F::Tensor::allocation_info)?;
        let data = match (dbi, alloc) {
            (0, None) => TensorData::Unplanned,
            (i, None) => TensorData::Constant(i),
            (0, Some(a)) => TensorData::Planned {
                memory_id: a.get_u32(F::AllocationDetails::memory_id, 0)?,
                offset: (a.get_u32(F::AllocationDetails::memory_offset_high, 0)? as u64) << 32
                    | a.get_u32(F::AllocationDetails::memory_offset_low, 0)? as u64,
            },
            (i, Some(_)) => TensorData::PlannedWithInit { data_buffer_idx: i },
        };
        let sd = F::Tensor::shape_dynamism;
        Ok(Tensor {
            scalar_type,
            storage_offset: t.get_i32(F::Tensor::storage_offset, 0)?,
            sizes: vec_or_empty(t, F::Tensor::sizes)?,
            dim_order: t.get_bytes(F::Tensor::dim_order)?.unwrap_or(&[]),
            data,
            shape_dynamism: ShapeDynamism::from_raw(t.get_i8(sd, 0)?, sd.name)?,
        })
    }

    /// Number of elements (checked: sizes must be non-negative and the product must fit).
    pub fn numel(&self) -> Result<usize, RtError> {
        let mut n: usize = 1;
        for s in self.sizes.iter() {
            let s = usize::try_from(s).map_err(|_| RtError::InvalidProgram {
                field: F::Tensor::sizes.name,
                what: "negative size",
                value: s as i64,
            })?;
            n = n.checked_mul(s).ok_or(RtError::InvalidProgram {
                field: F::Tensor::sizes.name,
                what: "element count overflows",
                value: s as i64,
            })?;
        }
        Ok(n)
    }

    /// Size of the data in bytes.
    pub fn nbytes(&self) -> Result<usize, RtError> {
        self.numel()?
            .checked_mul(self.scalar_type.element_size())
            .ok_or(RtError::InvalidProgram {
                field: F::Tensor::sizes.name,
                what: "byte size overflows",
                value: -1,
            })
    }
}
