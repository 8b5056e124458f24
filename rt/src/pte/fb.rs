//! A small, schema-agnostic, zero-copy and **checked** FlatBuffers reader.
//!
//! Nothing here allocates, and nothing panics on input data: every offset,
//! length, vtable size and alignment is checked before it is used, and every
//! problem is an [`RtError::Flatbuffer`] naming the schema field that was being
//! read (an [`FbError`] says what was wrong).
//!
//! # How to read a schema with it
//!
//! Describe each field once as a [`Field`]: its *field id* (the 0-based index of
//! the field in its `table { ... }` declaration, which is its vtable slot) and a
//! name for error messages. A **union field takes two ids**: `<name>_type` (a
//! `u8` tag) at `id` and the value (a table offset) at `id + 1`; ids after a
//! union shift by one accordingly.
//!
//! ```
//! use kiln_rt::pte::fb::{Buffer, Field};
//! # fn f(bytes: &[u8]) -> Result<(), kiln_rt::RtError> {
//! const MODEL_VERSION: Field = Field::new(0, "Model.version");
//! const MODEL_NAME: Field = Field::new(1, "Model.name");
//! let buf = Buffer::new(bytes)?;
//! let root = buf.root("Model")?;
//! let version = root.get_u32(MODEL_VERSION, 0)?;     // default when absent
//! let name: Option<&str> = root.get_str(MODEL_NAME)?; // None when absent
//! # let _ = (version, name); Ok(()) }
//! ```
//!
//! Alignment is checked relative to the start of the buffer (the flatbuffer's
//! own alignment rules: scalars naturally aligned, offsets 4-aligned, vectors
//! of 8-byte scalars 8-aligned); values are decoded little-endian from bytes,
//! so the buffer itself may sit at any address.

use crate::error::RtError;
use core::marker::PhantomData;

/// What is wrong with a flatbuffer (the field is named by [`RtError::Flatbuffer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FbError {
    /// An offset, length or element lies (partly) outside the buffer or its table.
    OutOfBounds,
    /// A value is not aligned to its size (relative to the buffer start).
    Misaligned,
    /// A vtable has an impossible size, or a field offset inside the table header.
    BadVtable,
    /// A string is not valid UTF-8.
    NotUtf8,
    /// A string lacks its terminating NUL byte.
    NoNulTerminator,
    /// A field the schema (or the reader) requires is absent.
    Missing,
    /// A union carries a type tag but no value.
    UnionWithoutValue,
    /// A union or enum tag the reader does not know (the value is the tag).
    UnknownTag(u8),
    /// A vector index past its end (the values are index and length).
    IndexOutOfRange(u32, u32),
}

impl core::fmt::Display for FbError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FbError::OutOfBounds => f.write_str("offset or length out of bounds"),
            FbError::Misaligned => f.write_str("misaligned value"),
            FbError::BadVtable => f.write_str("malformed vtable"),
            FbError::NotUtf8 => f.write_str("string is not UTF-8"),
            FbError::NoNulTerminator => f.write_str("string is not NUL-terminated"),
            FbError::Missing => f.write_str("required field is missing"),
            FbError::UnionWithoutValue => f.write_str("union has a type but no value"),
            FbError::UnknownTag(t) => write!(f, "unknown tag {t}"),
            FbError::IndexOutOfRange(i, n) => write!(f, "index {i} out of range (length {n})"),
        }
    }
}

/// A schema field: its field id (vtable slot) and a name for errors, e.g. `"Tensor.sizes"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// 0-based field id in declaration order (unions count twice: type, then value).
    pub slot: u16,
    /// `Table.field`, used in error messages.
    pub name: &'static str,
}

impl Field {
    /// Describes field `slot` of a table.
    pub const fn new(slot: u16, name: &'static str) -> Field {
        Field { slot, name }
    }

    /// The value half of a union whose type tag is this field (`slot + 1`).
    pub const fn union_value(self) -> Field {
        Field {
            slot: self.slot + 1,
            name: self.name,
        }
    }
}

/// Builds the error for `what` at field `field`.
pub const fn err(what: FbError, field: &'static str) -> RtError {
    RtError::Flatbuffer { what, field }
}

/// Turns an absent optional value into a [`FbError::Missing`] error naming the field.
pub fn required<T>(v: Option<T>, field: Field) -> Result<T, RtError> {
    v.ok_or(err(FbError::Missing, field.name))
}

/// A fixed-size little-endian scalar that can live in a table or a vector.
pub trait Scalar: Copy + 'static {
    /// Size in bytes (also its alignment).
    const SIZE: usize;
    /// Decodes from exactly `SIZE` little-endian bytes (callers guarantee the length).
    fn from_le(b: &[u8]) -> Self;
}

macro_rules! scalar {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            const SIZE: usize = core::mem::size_of::<$t>();
            fn from_le(b: &[u8]) -> Self {
                let mut a = [0u8; core::mem::size_of::<$t>()];
                a.copy_from_slice(&b[..Self::SIZE]);
                <$t>::from_le_bytes(a)
            }
        }
    )*};
}
scalar!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64);

impl Scalar for bool {
    const SIZE: usize = 1;
    fn from_le(b: &[u8]) -> Self {
        // FlatBuffers writes 0/1; any non-zero byte reads as true, like the official readers.
        b[0] != 0
    }
}

/// True if `pos` is a multiple of the power of two `align` (0 and 1 mean unaligned).
fn aligned(pos: usize, align: usize) -> bool {
    align <= 1 || pos & (align - 1) == 0
}

/// Reads a checked, aligned scalar at absolute position `pos`.
fn read<T: Scalar>(buf: &[u8], pos: usize, field: &'static str) -> Result<T, RtError> {
    if !aligned(pos, T::SIZE) {
        return Err(err(FbError::Misaligned, field));
    }
    let end = pos
        .checked_add(T::SIZE)
        .ok_or(err(FbError::OutOfBounds, field))?;
    let b = buf.get(pos..end).ok_or(err(FbError::OutOfBounds, field))?;
    Ok(T::from_le(b))
}

/// Follows the `uoffset` stored at `pos` (target = pos + offset).
fn deref(buf: &[u8], pos: usize, field: &'static str) -> Result<usize, RtError> {
    let off = read::<u32>(buf, pos, field)? as usize;
    let target = pos
        .checked_add(off)
        .ok_or(err(FbError::OutOfBounds, field))?;
    if target >= buf.len() {
        return Err(err(FbError::OutOfBounds, field));
    }
    Ok(target)
}

/// Checks a vector header at `pos` and returns (first element position, length).
fn vector_at(
    buf: &[u8],
    pos: usize,
    elem_size: usize,
    elem_align: usize,
    field: &'static str,
) -> Result<(usize, usize), RtError> {
    let len = read::<u32>(buf, pos, field)? as usize;
    let start = pos + 4; // `read` proved pos + 4 <= buf.len()
    if !aligned(start, elem_align) {
        return Err(err(FbError::Misaligned, field));
    }
    let bytes = len
        .checked_mul(elem_size)
        .ok_or(err(FbError::OutOfBounds, field))?;
    let end = start
        .checked_add(bytes)
        .ok_or(err(FbError::OutOfBounds, field))?;
    if end > buf.len() {
        return Err(err(FbError::OutOfBounds, field));
    }
    Ok((start, len))
}

/// Checks a string at `pos` (length, bytes, NUL) and returns it.
fn str_at<'a>(buf: &'a [u8], pos: usize, field: &'static str) -> Result<&'a str, RtError> {
    let (start, len) = vector_at(buf, pos, 1, 1, field)?;
    let end = start + len; // checked by vector_at
    if buf.get(end) != Some(&0) {
        return Err(err(FbError::NoNulTerminator, field));
    }
    core::str::from_utf8(&buf[start..end]).map_err(|_| err(FbError::NotUtf8, field))
}

/// A whole flatbuffer: the bytes every offset is relative to.
#[derive(Clone, Copy, Debug)]
pub struct Buffer<'a> {
    data: &'a [u8],
}

impl<'a> Buffer<'a> {
    /// Wraps `data` (at least the 4-byte root offset must be present).
    pub fn new(data: &'a [u8]) -> Result<Buffer<'a>, RtError> {
        if data.len() < 4 {
            return Err(err(FbError::OutOfBounds, "root offset"));
        }
        Ok(Buffer { data })
    }

    /// The underlying bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.data
    }

    /// The 4-byte file identifier at bytes 4..8 (None if the buffer is shorter).
    /// Schemas without `file_identifier` have arbitrary bytes here.
    pub fn file_identifier(&self) -> Option<&'a [u8; 4]> {
        self.data.get(4..8).and_then(|s| s.try_into().ok())
    }

    /// The root table (`name` is the root type, for errors).
    pub fn root(&self, name: &'static str) -> Result<Table<'a>, RtError> {
        let pos = deref(self.data, 0, name)?;
        Table::at(self.data, pos, name)
    }
}

/// A table: a position in the buffer with a validated vtable.
#[derive(Clone, Copy, Debug)]
pub struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vt: usize,
    vt_size: usize,
}

impl<'a> Table<'a> {
    /// Validates the table starting at absolute position `pos` (`field` names it in errors).
    pub fn at(buf: &'a [u8], pos: usize, field: &'static str) -> Result<Table<'a>, RtError> {
        let soff = read::<i32>(buf, pos, field)? as i64;
        let vt = pos as i64 - soff;
        if vt < 0 || vt as u64 > buf.len() as u64 {
            return Err(err(FbError::OutOfBounds, field));
        }
        let vt = vt as usize;
        let vt_size = read::<u16>(buf, vt, field)? as usize;
        let table_size = read::<u16>(buf, vt + 2, field)? as usize;
        if vt_size < 4 || !aligned(vt_size, 2) || table_size < 4 {
            return Err(err(FbError::BadVtable, field));
        }
        let fits =
            |start: usize, n: usize| matches!(start.checked_add(n), Some(e) if e <= buf.len());
        if !fits(vt, vt_size) || !fits(pos, table_size) {
            return Err(err(FbError::OutOfBounds, field));
        }
        Ok(Table {
            buf,
            pos,
            vt,
            vt_size,
        })
    }

    /// Absolute position of the table in the buffer.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The whole buffer this table lives in.
    pub fn buffer(&self) -> &'a [u8] {
        self.buf
    }

    /// Absolute position of field `f` if present, after checking that `size`
    /// bytes fit inside the table and are `align`-aligned.
    fn field_pos(&self, f: Field, size: usize, align: usize) -> Result<Option<usize>, RtError> {
        let entry = 4 + 2 * f.slot as usize;
        if entry + 2 > self.vt_size {
            return Ok(None); // vtable shorter than this field: field is absent (newer schema)
        }
        // vt + vt_size <= len was checked in `at`.
        let voff = u16::from_le_bytes([self.buf[self.vt + entry], self.buf[self.vt + entry + 1]]);
        let voff = voff as usize;
        if voff == 0 {
            return Ok(None);
        }
        if voff < 4 {
            return Err(err(FbError::BadVtable, f.name));
        }
        // Like the official verifier, bound the field by the buffer, not by the
        // vtable's table size: real writers (ExecuTorch's) store a table size
        // that excludes a trailing 8-byte field.
        let p = self.pos + voff; // pos < len and voff < 2^16: no overflow
        if p + size > self.buf.len() {
            return Err(err(FbError::OutOfBounds, f.name));
        }
        if !aligned(p, align) {
            return Err(err(FbError::Misaligned, f.name));
        }
        Ok(Some(p))
    }

    /// True if the field is present in the vtable.
    pub fn has(&self, f: Field) -> Result<bool, RtError> {
        Ok(self.field_pos(f, 0, 1)?.is_some())
    }

    /// Reads a scalar field of any [`Scalar`] type, or `default` if absent.
    pub fn get<T: Scalar>(&self, f: Field, default: T) -> Result<T, RtError> {
        match self.field_pos(f, T::SIZE, T::SIZE)? {
            None => Ok(default),
            Some(p) => read::<T>(self.buf, p, f.name),
        }
    }

    /// `u8` field (also `ubyte` enums and union type tags).
    pub fn get_u8(&self, f: Field, default: u8) -> Result<u8, RtError> {
        self.get(f, default)
    }
    /// `i8` field (also `byte` enums).
    pub fn get_i8(&self, f: Field, default: i8) -> Result<i8, RtError> {
        self.get(f, default)
    }
    /// `u16` field.
    pub fn get_u16(&self, f: Field, default: u16) -> Result<u16, RtError> {
        self.get(f, default)
    }
    /// `i16` field.
    pub fn get_i16(&self, f: Field, default: i16) -> Result<i16, RtError> {
        self.get(f, default)
    }
    /// `u32` field.
    pub fn get_u32(&self, f: Field, default: u32) -> Result<u32, RtError> {
        self.get(f, default)
    }
    /// `i32` field.
    pub fn get_i32(&self, f: Field, default: i32) -> Result<i32, RtError> {
        self.get(f, default)
    }
    /// `u64` field.
    pub fn get_u64(&self, f: Field, default: u64) -> Result<u64, RtError> {
        self.get(f, default)
    }
    /// `i64` field.
    pub fn get_i64(&self, f: Field, default: i64) -> Result<i64, RtError> {
        self.get(f, default)
    }
    /// `f32` field.
    pub fn get_f32(&self, f: Field, default: f32) -> Result<f32, RtError> {
        self.get(f, default)
    }
    /// `f64` field.
    pub fn get_f64(&self, f: Field, default: f64) -> Result<f64, RtError> {
        self.get(f, default)
    }
    /// `bool` field.
    pub fn get_bool(&self, f: Field, default: bool) -> Result<bool, RtError> {
        self.get(f, default)
    }

    /// Position of the object an offset field points to, if present.
    fn target(&self, f: Field) -> Result<Option<usize>, RtError> {
        match self.field_pos(f, 4, 4)? {
            None => Ok(None),
            Some(p) => deref(self.buf, p, f.name).map(Some),
        }
    }

    /// A sub-table field.
    pub fn get_table(&self, f: Field) -> Result<Option<Table<'a>>, RtError> {
        match self.target(f)? {
            None => Ok(None),
            Some(t) => Table::at(self.buf, t, f.name).map(Some),
        }
    }

    /// A string field (checked UTF-8 and NUL terminator).
    pub fn get_str(&self, f: Field) -> Result<Option<&'a str>, RtError> {
        match self.target(f)? {
            None => Ok(None),
            Some(t) => str_at(self.buf, t, f.name).map(Some),
        }
    }

    /// A `[ubyte]`/`[byte]` field as raw bytes.
    pub fn get_bytes(&self, f: Field) -> Result<Option<&'a [u8]>, RtError> {
        match self.target(f)? {
            None => Ok(None),
            Some(t) => {
                let (start, len) = vector_at(self.buf, t, 1, 1, f.name)?;
                Ok(Some(&self.buf[start..start + len]))
            }
        }
    }

    /// A vector of scalars (`[int]`, `[long]`, `[bool]`, ...).
    pub fn get_vector<T: Scalar>(&self, f: Field) -> Result<Option<Vector<'a, T>>, RtError> {
        match self.target(f)? {
            None => Ok(None),
            Some(t) => {
                let (start, len) = vector_at(self.buf, t, T::SIZE, T::SIZE, f.name)?;
                Ok(Some(Vector {
                    data: &self.buf[start..start + len * T::SIZE],
                    field: f.name,
                    _t: PhantomData,
                }))
            }
        }
    }

    /// A vector of tables (`[SomeTable]`).
    pub fn get_tables(&self, f: Field) -> Result<Option<Tables<'a>>, RtError> {
        self.offsets(f).map(|o| {
            o.map(|(start, len)| Tables {
                buf: self.buf,
                start,
                len,
                field: f.name,
            })
        })
    }

    /// A vector of strings (`[string]`).
    pub fn get_strs(&self, f: Field) -> Result<Option<Strs<'a>>, RtError> {
        self.offsets(f).map(|o| {
            o.map(|(start, len)| Strs {
                buf: self.buf,
                start,
                len,
                field: f.name,
            })
        })
    }

    fn offsets(&self, f: Field) -> Result<Option<(usize, u32)>, RtError> {
        match self.target(f)? {
            None => Ok(None),
            Some(t) => {
                let (start, len) = vector_at(self.buf, t, 4, 4, f.name)?;
                // len * 4 fits in the buffer, so it fits in u32 for any buffer < 16 GiB;
                // saturate rather than truncate on hypothetical larger ones.
                Ok(Some((start, u32::try_from(len).unwrap_or(u32::MAX))))
            }
        }
    }

    /// An inline struct field of `size` bytes (structs are stored in the table).
    pub fn get_struct(
        &self,
        f: Field,
        size: usize,
        align: usize,
    ) -> Result<Option<&'a [u8]>, RtError> {
        match self.field_pos(f, size, align)? {
            None => Ok(None),
            Some(p) => Ok(Some(&self.buf[p..p + size])), // field_pos checked p + size <= len
        }
    }

    /// A vector of structs of `size` bytes each, aligned to `align`.
    pub fn get_structs(
        &self,
        f: Field,
        size: usize,
        align: usize,
    ) -> Result<Option<Structs<'a>>, RtError> {
        match self.target(f)? {
            None => Ok(None),
            Some(t) => {
                if size == 0 {
                    return Err(err(FbError::BadVtable, f.name));
                }
                let (start, len) = vector_at(self.buf, t, size, align, f.name)?;
                Ok(Some(Structs {
                    data: &self.buf[start..start + len * size],
                    size,
                }))
            }
        }
    }

    /// A union: `type_field` is the `_type` tag (the value is at `type_field.slot + 1`).
    /// Returns `None` for tag 0 (`NONE`) and `(tag, table)` otherwise.
    pub fn get_union(&self, type_field: Field) -> Result<Option<(u8, Table<'a>)>, RtError> {
        let tag = self.get_u8(type_field, 0)?;
        if tag == 0 {
            return Ok(None);
        }
        match self.get_table(type_field.union_value())? {
            None => Err(err(FbError::UnionWithoutValue, type_field.name)),
            Some(t) => Ok(Some((tag, t))),
        }
    }
}

/// A checked vector of little-endian scalars, read in place.
#[derive(Clone, Copy, Debug)]
pub struct Vector<'a, T: Scalar> {
    data: &'a [u8],
    field: &'static str,
    _t: PhantomData<T>,
}

impl<'a, T: Scalar> Vector<'a, T> {
    /// An empty vector (for absent optional vector fields).
    pub const fn empty(field: &'static str) -> Vector<'a, T> {
        Vector {
            data: &[],
            field,
            _t: PhantomData,
        }
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / T::SIZE
    }
    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// Element `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<T> {
        let s = i.checked_mul(T::SIZE)?;
        self.data.get(s..s.checked_add(T::SIZE)?).map(T::from_le)
    }
    /// Element `i`, or an [`FbError::IndexOutOfRange`] error naming the field.
    pub fn at(&self, i: usize) -> Result<T, RtError> {
        self.get(i).ok_or(err(
            FbError::IndexOutOfRange(sat_u32(i), sat_u32(self.len())),
            self.field,
        ))
    }
    /// The raw little-endian element bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.data
    }
    /// All elements in order.
    pub fn iter(&self) -> impl Iterator<Item = T> + 'a {
        self.data.chunks_exact(T::SIZE).map(T::from_le)
    }
}

fn sat_u32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// A vector of tables; each element is validated when accessed.
#[derive(Clone, Copy, Debug)]
pub struct Tables<'a> {
    buf: &'a [u8],
    start: usize,
    len: u32,
    field: &'static str,
}

impl<'a> Tables<'a> {
    /// Number of tables.
    pub fn len(&self) -> usize {
        self.len as usize
    }
    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Table `i` (index and table are checked).
    pub fn get(&self, i: usize) -> Result<Table<'a>, RtError> {
        if i >= self.len as usize {
            return Err(err(
                FbError::IndexOutOfRange(sat_u32(i), self.len),
                self.field,
            ));
        }
        let t = deref(self.buf, self.start + 4 * i, self.field)?;
        Table::at(self.buf, t, self.field)
    }
    /// All tables in order.
    pub fn iter(&self) -> impl Iterator<Item = Result<Table<'a>, RtError>> + 'a {
        let s = *self;
        (0..s.len()).map(move |i| s.get(i))
    }
}

/// A vector of strings; each element is validated when accessed.
#[derive(Clone, Copy, Debug)]
pub struct Strs<'a> {
    buf: &'a [u8],
    start: usize,
    len: u32,
    field: &'static str,
}

impl<'a> Strs<'a> {
    /// Number of strings.
    pub fn len(&self) -> usize {
        self.len as usize
    }
    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// String `i` (index and string are checked).
    pub fn get(&self, i: usize) -> Result<&'a str, RtError> {
        if i >= self.len as usize {
            return Err(err(
                FbError::IndexOutOfRange(sat_u32(i), self.len),
                self.field,
            ));
        }
        let t = deref(self.buf, self.start + 4 * i, self.field)?;
        str_at(self.buf, t, self.field)
    }
}

/// A vector of fixed-size structs, as raw bytes per element.
#[derive(Clone, Copy, Debug)]
pub struct Structs<'a> {
    data: &'a [u8],
    size: usize,
}

impl<'a> Structs<'a> {
    /// Number of structs.
    pub fn len(&self) -> usize {
        self.data.len() / self.size
    }
    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// The bytes of struct `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        let s = i.checked_mul(self.size)?;
        self.data.get(s..s.checked_add(self.size)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-assembled buffer:
    /// root -> table T { a: u32 = 7 (slot 0), s: string "hi" (slot 1), v: [i64] = [-1, 5] (slot 2),
    ///                   slot 3 absent, u: union tag 2 -> table T2 { x: i16 = -3 } (slots 4, 5) }
    fn sample() -> [u8; 96] {
        let mut b = [0u8; 96];
        let w32 =
            |b: &mut [u8; 96], p: usize, v: u32| b[p..p + 4].copy_from_slice(&v.to_le_bytes());
        let w16 =
            |b: &mut [u8; 96], p: usize, v: u16| b[p..p + 2].copy_from_slice(&v.to_le_bytes());
        w32(&mut b, 0, 24); // root offset -> table at 24
        b[4..8].copy_from_slice(b"TEST");
        // vtable at 8: 16 bytes (6 slots), table size 24
        w16(&mut b, 8, 16);
        w16(&mut b, 10, 24);
        w16(&mut b, 12, 4); // slot0 a at +4
        w16(&mut b, 14, 8); // slot1 s at +8
        w16(&mut b, 16, 12); // slot2 v at +12
        w16(&mut b, 18, 0); // slot3 absent
        w16(&mut b, 20, 20); // slot4 union type at +20 (u8)
        w16(&mut b, 22, 16); // slot5 union value at +16
                             // table at 24..48: soffset = 24 - 8
        w32(&mut b, 24, 16);
        w32(&mut b, 28, 7); // a
        w32(&mut b, 32, 48 - 32); // s -> string at 48
        w32(&mut b, 36, 60 - 36); // v -> vector at 60 (elements at 64, 8-aligned)
        w32(&mut b, 40, 88 - 40); // union value -> table at 88
        b[44] = 2; // union tag
                   // string at 48: len 2, "hi\0"
        w32(&mut b, 48, 2);
        b[52..55].copy_from_slice(b"hi\0");
        // vector at 60: [-1, 5]
        w32(&mut b, 60, 2);
        b[64..72].copy_from_slice(&(-1i64).to_le_bytes());
        b[72..80].copy_from_slice(&5i64.to_le_bytes());
        // T2 vtable at 80: 6 bytes (1 slot), table size 8, x at +4
        w16(&mut b, 80, 6);
        w16(&mut b, 82, 8);
        w16(&mut b, 84, 4);
        // T2 table at 88..96: soffset = 88 - 80
        w32(&mut b, 88, 8);
        b[92..94].copy_from_slice(&(-3i16).to_le_bytes());
        b
    }

    const A: Field = Field::new(0, "T.a");
    const S: Field = Field::new(1, "T.s");
    const V: Field = Field::new(2, "T.v");
    const ABSENT: Field = Field::new(3, "T.absent");
    const U: Field = Field::new(4, "T.u");
    const FAR: Field = Field::new(40, "T.far");
    const X: Field = Field::new(0, "T2.x");

    #[test]
    fn reads_hand_assembled_buffer() {
        let b = sample();
        let buf = Buffer::new(&b).unwrap();
        assert_eq!(buf.file_identifier(), Some(b"TEST"));
        let t = buf.root("T").unwrap();
        assert_eq!(t.get_u32(A, 0).unwrap(), 7);
        assert_eq!(t.get_str(S).unwrap(), Some("hi"));
        let v = t.get_vector::<i64>(V).unwrap().unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v.get(0), Some(-1));
        assert_eq!(v.at(1).unwrap(), 5);
        assert_eq!(v.at(2), Err(err(FbError::IndexOutOfRange(2, 2), "T.v")));
        assert_eq!(t.get_u32(ABSENT, 99).unwrap(), 99);
        assert!(t.get_table(ABSENT).unwrap().is_none());
        assert_eq!(t.get_u8(FAR, 3).unwrap(), 3);
        assert!(!t.has(FAR).unwrap());
        let (tag, u) = t.get_union(U).unwrap().unwrap();
        assert_eq!(tag, 2);
        assert_eq!(u.get_i16(X, 0).unwrap(), -3);
        assert_eq!(
            required(t.get_str(ABSENT).unwrap(), ABSENT),
            Err(err(FbError::Missing, "T.absent"))
        );
    }

    #[test]
    fn detects_corruption() {
        // string without NUL
        let mut b = sample();
        b[54] = b'!';
        let t = Buffer::new(&b).unwrap().root("T").unwrap();
        assert_eq!(t.get_str(S), Err(err(FbError::NoNulTerminator, "T.s")));
        // string not utf-8
        let mut b = sample();
        b[52] = 0xff;
        let t = Buffer::new(&b).unwrap().root("T").unwrap();
        assert_eq!(t.get_str(S), Err(err(FbError::NotUtf8, "T.s")));
        // vector length too long
        let mut b = sample();
        b[60] = 200;
        let t = Buffer::new(&b).unwrap().root("T").unwrap();
        assert_eq!(
            t.get_vector::<i64>(V).unwrap_err(),
            err(FbError::OutOfBounds, "T.v")
        );
        // i64 vector misaligned: point v at 56 (elements at 60)
        let mut b = sample();
        b[36..40].copy_from_slice(&(56u32 - 36).to_le_bytes());
        let t = Buffer::new(&b).unwrap().root("T").unwrap();
        assert_eq!(
            t.get_vector::<i64>(V).unwrap_err(),
            err(FbError::Misaligned, "T.v")
        );
        // field offset beyond the buffer
        let mut b = sample();
        b[12] = 0;
        b[13] = 1;
        let t = Buffer::new(&b).unwrap().root("T").unwrap();
        assert_eq!(t.get_u32(A, 0), Err(err(FbError::OutOfBounds, "T.a")));
        // field offset inside the soffset
        let mut b = sample();
        b[12] = 2;
        let t = Buffer::new(&b).unwrap().root("T").unwrap();
        assert_eq!(t.get_u32(A, 0), Err(err(FbError::BadVtable, "T.a")));
        // misaligned u32 field
        let mut b = sample();
        b[12] = 5;
        let t = Buffer::new(&b).unwrap().root("T").unwrap();
        assert_eq!(t.get_u32(A, 0), Err(err(FbError::Misaligned, "T.a")));
        // vtable pointing before the buffer
        let mut b = sample();
        b[24..28].copy_from_slice(&1000i32.to_le_bytes());
        assert_eq!(
            Buffer::new(&b).unwrap().root("T").unwrap_err(),
            err(FbError::OutOfBounds, "T")
        );
        // vtable size too small
        let mut b = sample();
        b[8] = 2;
        assert_eq!(
            Buffer::new(&b).unwrap().root("T").unwrap_err(),
            err(FbError::BadVtable, "T")
        );
        // root offset out of bounds
        let mut b = sample();
        b[0] = 96;
        assert_eq!(
            Buffer::new(&b).unwrap().root("T").unwrap_err(),
            err(FbError::OutOfBounds, "T")
        );
        // union tag without value
        let mut b = sample();
        b[22] = 0;
        let t = Buffer::new(&b).unwrap().root("T").unwrap();
        assert_eq!(
            t.get_union(U).unwrap_err(),
            err(FbError::UnionWithoutValue, "T.u")
        );
        // too short
        assert!(Buffer::new(&[0u8; 3]).is_err());
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let b = sample();
        for n in 0..b.len() {
            let r = Buffer::new(&b[..n]).and_then(|buf| {
                let t = buf.root("T")?;
                t.get_u32(A, 0)?;
                t.get_str(S)?;
                t.get_vector::<i64>(V)?;
                t.get_union(U)?;
                Ok(())
            });
            // The last bytes read are T2.x at 92..94.
            if n < 94 {
                assert!(r.is_err(), "truncation to {n} bytes was accepted");
            }
        }
    }
}
