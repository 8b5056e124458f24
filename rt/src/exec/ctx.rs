//! What kernels and backends see: [`KernelCtx`] and [`DelegateArgs`].

use super::tensor::{Dims, TensorMut, TensorRef, MAX_RANK};
use super::Env;
use crate::error::RtError;
use crate::ops::OpKind;
use crate::pte::fb::Vector;
use crate::pte::{Delegate, Tag, TensorData, Value};

/// Maximum number of tensors in a `TensorList` argument.
pub const MAX_TENSOR_LIST: usize = 16;

/// Where a tensor's bytes are.
#[derive(Clone, Copy)]
pub(crate) enum Loc<'m> {
    /// In the program (read-only).
    Const(&'m [u8]),
    /// `len` bytes at `start` in the arena.
    Arena { start: usize, len: usize },
}

/// A tensor's metadata and location, checked against the program and the arena.
#[derive(Clone, Copy)]
pub(crate) struct Located<'m> {
    pub(crate) meta: TensorRef<'static>,
    pub(crate) loc: Loc<'m>,
}

impl<'m> Env<'m> {
    /// Value `idx`, decoded.
    pub(crate) fn value(&self, idx: u32) -> Result<Value<'m>, RtError> {
        self.plan.value(idx as usize)
    }

    /// Locates tensor value `idx`: metadata, and where its bytes are.
    pub(crate) fn locate(&self, idx: u32) -> Result<Located<'m>, RtError> {
        let t = match self.value(idx)? {
            Value::Tensor(t) => t,
            v => return Err(wrong(idx, "Tensor", v.tag())),
        };
        let view = |what| RtError::TensorView { value: idx, what };
        if t.sizes.len() > MAX_RANK {
            return Err(view("rank above 8"));
        }
        if t.storage_offset != 0 {
            return Err(view("storage_offset must be 0"));
        }
        let mut sizes = Dims::<usize>::empty();
        for s in t.sizes.iter() {
            let s = usize::try_from(s).map_err(|_| view("negative size"))?;
            sizes.push(s).ok_or(view("rank above 8"))?;
        }
        let dim_order = if t.dim_order.is_empty() {
            // Old files and rank-0 tensors: contiguous.
            let mut d = Dims::<u8>::empty();
            for i in 0..sizes.len() {
                d.push(i as u8).ok_or(view("rank above 8"))?;
            }
            d
        } else {
            if t.dim_order.len() != sizes.len() {
                return Err(view("dim_order length differs from rank"));
            }
            let mut seen = 0u32;
            for &d in t.dim_order {
                if d as usize >= sizes.len() || seen & (1 << d) != 0 {
                    return Err(view("dim_order is not a permutation"));
                }
                seen |= 1 << d;
            }
            Dims::from_slice(t.dim_order).ok_or(view("rank above 8"))?
        };
        let nbytes = t.nbytes()?;
        let loc = match t.data {
            TensorData::Constant(i) => Loc::Const(self.program.constant_data(i, nbytes)?),
            TensorData::Planned { memory_id, offset } => {
                let id = memory_id as usize;
                if id == 0 || id >= self.mem_count {
                    return Err(RtError::InvalidProgram {
                        field: "AllocationDetails.memory_id",
                        what: "no such memory arena in non_const_buffer_sizes",
                        value: memory_id as i64,
                    });
                }
                let end = offset.checked_add(nbytes as u64);
                match end {
                    Some(end) if end <= self.mem_size[id] as u64 => {}
                    _ => return Err(view("planned memory range exceeds its arena")),
                }
                Loc::Arena {
                    start: self.mem_base[id] + offset as usize,
                    len: nbytes,
                }
            }
            TensorData::Unplanned => return Err(view("tensor has no memory (not planned)")),
            TensorData::PlannedWithInit { .. } => {
                return Err(RtError::Unsupported {
                    what: "mutable tensors with an initial value",
                })
            }
        };
        Ok(Located {
            meta: TensorRef {
                value: idx,
                scalar_type: t.scalar_type,
                sizes,
                dim_order,
                data: &[],
            },
            loc,
        })
    }
}

pub(crate) fn wrong(value: u32, expected: &'static str, found: Tag) -> RtError {
    RtError::WrongValueType {
        value,
        expected,
        found: found.raw(),
    }
}

/// The arena plus the program: the common core of [`KernelCtx`] and [`DelegateArgs`].
pub(crate) struct Frame<'m> {
    pub(crate) env: &'m Env<'m>,
    pub(crate) arena: &'m mut [u8],
}

impl<'m> Frame<'m> {
    fn tensor(&self, idx: u32) -> Result<TensorRef<'_>, RtError> {
        let l = self.env.locate(idx)?;
        let data = match l.loc {
            Loc::Const(d) => d,
            // `locate` proved start + len <= arena length at load (arena size is checked).
            Loc::Arena { start, len } => {
                self.arena
                    .get(start..start + len)
                    .ok_or(RtError::TensorView {
                        value: idx,
                        what: "outside the arena",
                    })?
            }
        };
        Ok(TensorRef { data, ..l.meta })
    }

    pub(crate) fn tensor_mut(&mut self, idx: u32) -> Result<TensorMut<'_>, RtError> {
        tensor_mut_in(self.env, self.arena, idx)
    }

    /// Splits the arena into `N` read-only inputs and `M` disjoint outputs.
    fn io<const N: usize, const M: usize>(
        &mut self,
        op: Option<OpKind>,
        inputs: [u32; N],
        outs: [u32; M],
    ) -> Result<([TensorRef<'_>; N], [TensorMut<'_>; M]), RtError> {
        let mut in_loc = [None; N];
        for (slot, &v) in in_loc.iter_mut().zip(inputs.iter()) {
            *slot = Some(self.env.locate(v)?);
        }
        let mut out_loc = [None; M];
        for (slot, &v) in out_loc.iter_mut().zip(outs.iter()) {
            *slot = Some(self.env.locate(v)?);
        }
        self.split(op, &in_loc, &out_loc)
    }

    /// Checks ranges and hands out the views; `in_loc`/`out_loc` entries are all `Some`.
    fn split<const N: usize, const M: usize>(
        &mut self,
        op: Option<OpKind>,
        in_loc: &[Option<Located<'m>>; N],
        out_loc: &[Option<Located<'m>>; M],
    ) -> Result<([TensorRef<'_>; N], [TensorMut<'_>; M]), RtError> {
        let arena_len = self.arena.len();
        let range = |l: &Located<'m>| match l.loc {
            Loc::Arena { start, len } => Some((start, len)),
            Loc::Const(_) => None,
        };
        let overlaps = |a: (usize, usize), b: (usize, usize)| {
            a.1 > 0 && b.1 > 0 && a.0 < b.0 + b.1 && b.0 < a.0 + a.1
        };
        for (j, o) in out_loc.iter().enumerate() {
            let Some(o) = o else { continue };
            let Some(r) = range(o) else {
                return Err(RtError::TensorView {
                    value: o.meta.value,
                    what: "constant tensor cannot be written",
                });
            };
            if r.0 + r.1 > arena_len {
                return Err(RtError::TensorView {
                    value: o.meta.value,
                    what: "outside the arena",
                });
            }
            let alias = |_| match op {
                Some(op) => RtError::OutputAliasesInput {
                    op,
                    value: o.meta.value,
                },
                None => RtError::Backend {
                    what: "delegate output overlaps another argument",
                },
            };
            for i in in_loc.iter().flatten().chain(out_loc[..j].iter().flatten()) {
                if let Some(ri) = range(i) {
                    if overlaps(r, ri) {
                        return Err(alias(()));
                    }
                }
            }
        }
        for i in in_loc.iter().flatten() {
            if let Some(r) = range(i) {
                if r.0 + r.1 > arena_len {
                    return Err(RtError::TensorView {
                        value: i.meta.value,
                        what: "outside the arena",
                    });
                }
            }
        }
        let base = self.arena.as_mut_ptr();
        let mut ins = [TensorRef::EMPTY; N];
        for (dst, l) in ins.iter_mut().zip(in_loc.iter().flatten()) {
            let data: &[u8] = match l.loc {
                Loc::Const(d) => d,
                // SAFETY: start + len <= arena length (checked above); no output range
                // overlaps this one (checked above), and the outputs are the only mutable
                // views handed out, all tied to the `&mut self` borrow of the arena.
                Loc::Arena { start, len } => unsafe {
                    core::slice::from_raw_parts(base.add(start), len)
                },
            };
            *dst = TensorRef { data, ..l.meta };
        }
        let mut outs: [TensorMut<'_>; M] = [(); M].map(|_| TensorMut::empty());
        for (dst, l) in outs.iter_mut().zip(out_loc.iter().flatten()) {
            if let Loc::Arena { start, len } = l.loc {
                // SAFETY: start + len <= arena length (checked above); this range is
                // disjoint from every input range and every other output range (checked
                // above), so this is the only live reference to these bytes for the
                // lifetime of the `&mut self` borrow.
                let data = unsafe { core::slice::from_raw_parts_mut(base.add(start), len) };
                *dst = mut_from(l.meta, data);
            }
        }
        Ok((ins, outs))
    }
}

/// A writable view of tensor value `idx` in `arena` (planned tensors only).
pub(crate) fn tensor_mut_in<'d>(
    env: &Env<'_>,
    arena: &'d mut [u8],
    idx: u32,
) -> Result<TensorMut<'d>, RtError> {
    let l = env.locate(idx)?;
    let Loc::Arena { start, len } = l.loc else {
        return Err(RtError::TensorView {
            value: idx,
            what: "constant tensor cannot be written",
        });
    };
    let data = arena
        .get_mut(start..start + len)
        .ok_or(RtError::TensorView {
            value: idx,
            what: "outside the arena",
        })?;
    Ok(mut_from(l.meta, data))
}

fn mut_from<'d>(meta: TensorRef<'static>, data: &'d mut [u8]) -> TensorMut<'d> {
    TensorMut {
        value: meta.value,
        scalar_type: meta.scalar_type,
        sizes: meta.sizes,
        dim_order: meta.dim_order,
        data,
    }
}

/// An `IntList` argument: its items are indices of `Int` values, resolved on access.
#[derive(Clone, Copy)]
pub struct IntList<'t> {
    env: &'t Env<'t>,
    items: Vector<'t, i64>,
    value: u32,
}

impl<'t> IntList<'t> {
    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Item `k` (the `Int` value its index points to).
    pub fn get(&self, k: usize) -> Result<i64, RtError> {
        let idx = self.items.at(k)?;
        let idx = u32::try_from(idx).map_err(|_| RtError::InvalidProgram {
            field: "IntList.items",
            what: "value index out of range",
            value: idx,
        })?;
        match self.env.value(idx)? {
            Value::Int(i) => Ok(i),
            v => Err(wrong(idx, "Int", v.tag())),
        }
    }

    /// Copies all items into `out`, returning the filled prefix (error if `out` is too short).
    pub fn read_into<'o>(&self, out: &'o mut [i64]) -> Result<&'o [i64], RtError> {
        if self.len() > out.len() {
            return Err(RtError::TooMany {
                what: "IntList items",
                count: self.len() as u32,
                max: out.len() as u32,
            });
        }
        for (k, o) in out.iter_mut().enumerate().take(self.len()) {
            *o = self.get(k)?;
        }
        Ok(&out[..self.len()])
    }

    /// Exactly `N` items (error naming the list otherwise).
    pub fn to_array<const N: usize>(&self) -> Result<[i64; N], RtError> {
        if self.len() != N {
            return Err(RtError::InvalidProgram {
                field: "IntList",
                what: "unexpected list length",
                value: self.len() as i64,
            });
        }
        let mut a = [0i64; N];
        self.read_into(&mut a)?;
        Ok(a)
    }

    /// Exactly `N` non-negative items as `usize`.
    pub fn to_usize_array<const N: usize>(&self) -> Result<[usize; N], RtError> {
        let a = self.to_array::<N>()?;
        let mut u = [0usize; N];
        for (d, s) in u.iter_mut().zip(a) {
            *d = usize::try_from(s).map_err(|_| RtError::InvalidProgram {
                field: "IntList",
                what: "negative item where a size or index is expected",
                value: s,
            })?;
        }
        Ok(u)
    }

    /// EValue index of the list itself.
    pub fn value(&self) -> u32 {
        self.value
    }
}

/// The tensors of a `TensorList` argument (at most [`MAX_TENSOR_LIST`]); dereferences to a slice.
pub struct TensorList<'t> {
    items: [TensorRef<'t>; MAX_TENSOR_LIST],
    len: usize,
}

impl<'t> core::ops::Deref for TensorList<'t> {
    type Target = [TensorRef<'t>];
    fn deref(&self) -> &[TensorRef<'t>] {
        &self.items[..self.len]
    }
}

macro_rules! arg_accessors {
    () => {
        /// Number of arguments.
        pub fn args_len(&self) -> usize {
            self.args.len()
        }

        /// EValue index of argument `i`.
        pub fn arg(&self, i: usize) -> Result<u32, RtError> {
            let v = self.args.get(i).ok_or_else(|| self.arg_err(i))?;
            // Checked at load: every argument is a valid value index.
            u32::try_from(v).map_err(|_| self.arg_err(i))
        }

        /// Argument `i`, decoded (for types without a dedicated accessor).
        pub fn value(&self, i: usize) -> Result<Value<'_>, RtError> {
            self.frame.env.value(self.arg(i)?)
        }

        /// The tag of argument `i`.
        pub fn tag(&self, i: usize) -> Result<Tag, RtError> {
            Ok(self.value(i)?.tag())
        }

        /// An `Int` argument.
        pub fn int(&self, i: usize) -> Result<i64, RtError> {
            let idx = self.arg(i)?;
            match self.frame.env.value(idx)? {
                Value::Int(v) => Ok(v),
                v => Err(wrong(idx, "Int", v.tag())),
            }
        }

        /// A `Double` argument (an `Int` is converted, as PyTorch scalars are).
        pub fn double(&self, i: usize) -> Result<f64, RtError> {
            let idx = self.arg(i)?;
            match self.frame.env.value(idx)? {
                Value::Double(v) => Ok(v),
                Value::Int(v) => Ok(v as f64),
                v => Err(wrong(idx, "Double", v.tag())),
            }
        }

        /// A `Bool` argument.
        pub fn bool(&self, i: usize) -> Result<bool, RtError> {
            let idx = self.arg(i)?;
            match self.frame.env.value(idx)? {
                Value::Bool(v) => Ok(v),
                v => Err(wrong(idx, "Bool", v.tag())),
            }
        }

        /// True if argument `i` is `Null` (an absent optional).
        pub fn is_null(&self, i: usize) -> Result<bool, RtError> {
            Ok(matches!(self.value(i)?, Value::Null))
        }

        /// An optional `Int` (`Null` -> `None`).
        pub fn opt_int(&self, i: usize) -> Result<Option<i64>, RtError> {
            if self.is_null(i)? {
                return Ok(None);
            }
            self.int(i).map(Some)
        }

        /// An optional `Double` or `Int` (`Null` -> `None`).
        pub fn opt_double(&self, i: usize) -> Result<Option<f64>, RtError> {
            if self.is_null(i)? {
                return Ok(None);
            }
            self.double(i).map(Some)
        }

        /// An `IntList` argument.
        pub fn int_list(&self, i: usize) -> Result<IntList<'_>, RtError> {
            let idx = self.arg(i)?;
            match self.frame.env.value(idx)? {
                Value::IntList(items) => Ok(IntList {
                    env: self.frame.env,
                    items,
                    value: idx,
                }),
                v => Err(wrong(idx, "IntList", v.tag())),
            }
        }

        /// A read-only tensor argument.
        pub fn tensor(&self, i: usize) -> Result<TensorRef<'_>, RtError> {
            self.frame.tensor(self.arg(i)?)
        }

        /// A writable tensor argument (planned memory only).
        pub fn tensor_mut(&mut self, i: usize) -> Result<TensorMut<'_>, RtError> {
            let idx = self.arg(i)?;
            self.frame.tensor_mut(idx)
        }

        /// The tensors of a `TensorList` argument, read-only.
        pub fn tensor_list(&self, i: usize) -> Result<TensorList<'_>, RtError> {
            let idx = self.arg(i)?;
            let items = list_items(self.frame.env, idx)?;
            let mut l = TensorList {
                items: [TensorRef::EMPTY; MAX_TENSOR_LIST],
                len: items.len(),
            };
            for (dst, v) in l.items.iter_mut().zip(items.iter()) {
                *dst = self.frame.tensor(list_item(v)?)?;
            }
            Ok(l)
        }
    };
}

fn list_items<'m>(env: &Env<'m>, idx: u32) -> Result<Vector<'m, i32>, RtError> {
    let items = match env.value(idx)? {
        Value::TensorList(items) => items,
        v => return Err(wrong(idx, "TensorList", v.tag())),
    };
    if items.len() > MAX_TENSOR_LIST {
        return Err(RtError::TooMany {
            what: "tensors in a TensorList",
            count: items.len() as u32,
            max: MAX_TENSOR_LIST as u32,
        });
    }
    Ok(items)
}

fn list_item(v: i32) -> Result<u32, RtError> {
    u32::try_from(v).map_err(|_| RtError::InvalidProgram {
        field: "TensorList.items",
        what: "negative value index",
        value: v as i64,
    })
}

/// What a kernel sees: its arguments (EValue indices from the `KernelCall`),
/// typed accessors, and tensor views into constant data and the arena.
///
/// Argument positions follow the operator's layout in [`crate::ops`]
/// (schema arguments in order, then `out`, then the returned value).
/// Every accessor checks the value's type and returns an error naming the
/// value otherwise; nothing panics on a malformed program.
///
/// Reading several inputs while writing an output needs one call to
/// [`KernelCtx::io`] (or [`KernelCtx::io_n`], [`KernelCtx::io_list`]): it
/// returns the views together and fails with
/// [`RtError::OutputAliasesInput`] if the output's bytes overlap an input's.
/// ```
/// use kiln_rt::{exec::KernelCtx, RtError};
/// fn relu(ctx: &mut KernelCtx<'_>) -> Result<(), RtError> {
///     let ([x], mut y) = ctx.io([0], 1)?;           // args: [x, out, out]
///     for (o, i) in y.as_f32_mut()?.iter_mut().zip(x.as_f32()?) { *o = i.max(0.0); }
///     Ok(())
/// }
/// ```
pub struct KernelCtx<'m> {
    pub(crate) frame: Frame<'m>,
    pub(crate) args: Vector<'m, i32>,
    pub(crate) op: OpKind,
}

impl<'m> KernelCtx<'m> {
    arg_accessors!();

    fn arg_err(&self, i: usize) -> RtError {
        RtError::ArgOutOfRange {
            op: self.op,
            arg: i as u32,
            len: self.args.len() as u32,
        }
    }

    /// The operator being run.
    pub fn op(&self) -> OpKind {
        self.op
    }

    /// A kernel error for this operator: `return Err(ctx.fail("weights must be 4-D"))`.
    pub fn fail(&self, what: &'static str) -> RtError {
        RtError::Kernel { op: self.op, what }
    }

    /// True when the tensors at argument positions `a` and `b` occupy exactly the same planned
    /// bytes: an in-place operator (e.g. a fused activation on its own output), which then
    /// reads and writes through one [`KernelCtx::tensor_mut`] view instead of [`KernelCtx::io`].
    pub fn same_memory(&self, a: usize, b: usize) -> Result<bool, RtError> {
        let env = self.frame.env;
        let (la, lb) = (env.locate(self.arg(a)?)?, env.locate(self.arg(b)?)?);
        Ok(matches!(
            (la.loc, lb.loc),
            (Loc::Arena { start: s1, len: n1 }, Loc::Arena { start: s2, len: n2 }) if s1 == s2 && n1 == n2
        ))
    }

    /// Input tensors at argument positions `inputs` and the output at `out`, at once.
    pub fn io<const N: usize>(
        &mut self,
        inputs: [usize; N],
        out: usize,
    ) -> Result<([TensorRef<'_>; N], TensorMut<'_>), RtError> {
        let (i, [o]) = self.io_n(inputs, [out])?;
        Ok((i, o))
    }

    /// `N` inputs and `M` outputs at once (e.g. max_pool2d_with_indices: `[out, indices]`);
    /// outputs must be disjoint from each other and from the inputs.
    pub fn io_n<const N: usize, const M: usize>(
        &mut self,
        inputs: [usize; N],
        outs: [usize; M],
    ) -> Result<([TensorRef<'_>; N], [TensorMut<'_>; M]), RtError> {
        let mut iv = [0u32; N];
        for (d, &a) in iv.iter_mut().zip(inputs.iter()) {
            *d = self.arg(a)?;
        }
        let mut ov = [0u32; M];
        for (d, &a) in ov.iter_mut().zip(outs.iter()) {
            *d = self.arg(a)?;
        }
        self.frame.io(Some(self.op), iv, ov)
    }

    /// The tensors of the `TensorList` at argument `list` and the output at `out`, at once.
    pub fn io_list(
        &mut self,
        list: usize,
        out: usize,
    ) -> Result<(TensorList<'_>, TensorMut<'_>), RtError> {
        let lidx = self.arg(list)?;
        let oidx = self.arg(out)?;
        let env = self.frame.env;
        let items = list_items(env, lidx)?;
        let mut locs: [Option<Located<'m>>; MAX_TENSOR_LIST] = [None; MAX_TENSOR_LIST];
        for (d, v) in locs.iter_mut().zip(items.iter()) {
            *d = Some(env.locate(list_item(v)?)?);
        }
        let o = [Some(env.locate(oidx)?)];
        let (ins, [o]) = self.frame.split(Some(self.op), &locs, &o)?;
        Ok((
            TensorList {
                items: ins,
                len: items.len(),
            },
            o,
        ))
    }
}

/// What a delegate backend sees for one `DelegateCall`: its arguments
/// (for the Arm flow: inputs, then outputs), the delegate's compile specs.
///
/// Backends read inputs with [`DelegateArgs::tensor`], then write outputs
/// with [`DelegateArgs::tensor_mut`] (one at a time), or use
/// [`DelegateArgs::io`] for simultaneous access. Scratch memory belongs to
/// the backend itself (e.g. a `&mut [u8]` it was built with).
pub struct DelegateArgs<'m> {
    pub(crate) frame: Frame<'m>,
    pub(crate) args: Vector<'m, i32>,
    pub(crate) delegate: Delegate<'m>,
    pub(crate) index: u32,
}

impl<'m> DelegateArgs<'m> {
    arg_accessors!();

    fn arg_err(&self, i: usize) -> RtError {
        let _ = i;
        RtError::Backend {
            what: "delegate argument index out of range",
        }
    }

    /// Index of the delegate in the plan.
    pub fn delegate_index(&self) -> u32 {
        self.index
    }

    /// The delegate's compile spec `key`, if present.
    pub fn compile_spec(&self, key: &str) -> Result<Option<&[u8]>, RtError> {
        self.delegate.compile_spec_value(key)
    }

    /// `N` inputs and `M` outputs (argument positions) at once.
    pub fn io<const N: usize, const M: usize>(
        &mut self,
        inputs: [usize; N],
        outs: [usize; M],
    ) -> Result<([TensorRef<'_>; N], [TensorMut<'_>; M]), RtError> {
        let mut iv = [0u32; N];
        for (d, &a) in iv.iter_mut().zip(inputs.iter()) {
            *d = self.arg(a)?;
        }
        let mut ov = [0u32; M];
        for (d, &a) in ov.iter_mut().zip(outs.iter()) {
            *d = self.arg(a)?;
        }
        self.frame.io(None, iv, ov)
    }
}
