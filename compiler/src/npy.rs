//! NumPy `.npy` reading and writing.
//!
//! Supports format versions 1.0, 2.0 and 3.0, C order, little-endian
//! `bool`, `int8`, `uint8`, `int16`, `int32`, `int64`, `float32` and
//! `float64` arrays. The header is a Python dict literal; it is parsed by a
//! small, depth-limited parser here (never evaluated) so hostile files give a
//! typed [`NpyError`], never a panic. [`NpyArray::to_bytes`] writes exactly
//! what `numpy.save` writes for the same array (header padding included), so
//! files round-trip byte for byte.

use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The six bytes every `.npy` file starts with.
const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// numpy aligns the start of the data to this many bytes.
const ARRAY_ALIGN: usize = 64;
/// numpy leaves room in the header for the first axis to grow to this many digits.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// Nesting limit of the header parser: a valid header nests two levels deep.
const MAX_DEPTH: usize = 8;

/// Element type of an array, as spelled by numpy's `descr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NpyDType {
    /// `|b1`, one byte, 0 or 1.
    Bool,
    /// `|i1`.
    I8,
    /// `|u1`.
    U8,
    /// `<i2`.
    I16,
    /// `<i4`.
    I32,
    /// `<i8`.
    I64,
    /// `<f4`.
    F32,
    /// `<f8`.
    F64,
}

impl NpyDType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            NpyDType::Bool | NpyDType::I8 | NpyDType::U8 => 1,
            NpyDType::I16 => 2,
            NpyDType::I32 | NpyDType::F32 => 4,
            NpyDType::I64 | NpyDType::F64 => 8,
        }
    }

    /// The `descr` string numpy writes for this type.
    pub fn descr(self) -> &'static str {
        match self {
            NpyDType::Bool => "|b1",
            NpyDType::I8 => "|i1",
            NpyDType::U8 => "|u1",
            NpyDType::I16 => "<i2",
            NpyDType::I32 => "<i4",
            NpyDType::I64 => "<i8",
            NpyDType::F32 => "<f4",
            NpyDType::F64 => "<f8",
        }
    }

    /// numpy's name of the type (`"int8"`, `"float32"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            NpyDType::Bool => "bool",
            NpyDType::I8 => "int8",
            NpyDType::U8 => "uint8",
            NpyDType::I16 => "int16",
            NpyDType::I32 => "int32",
            NpyDType::I64 => "int64",
            NpyDType::F32 => "float32",
            NpyDType::F64 => "float64",
        }
    }

    /// Interprets a `descr` string: `Ok(None)` for a type kiln does not
    /// support, `Err(())` for a big-endian multi-byte type.
    fn from_descr(descr: &str) -> Result<Option<Self>, ()> {
        let bytes = descr.as_bytes();
        let (order, code) = match bytes.first() {
            Some(b'<' | b'>' | b'|' | b'=') => (bytes[0], &descr[1..]),
            _ => (b'|', descr),
        };
        let dtype = match code {
            "b1" | "?" => NpyDType::Bool,
            "i1" | "b" => NpyDType::I8,
            "u1" | "B" => NpyDType::U8,
            "i2" => NpyDType::I16,
            "i4" => NpyDType::I32,
            "i8" => NpyDType::I64,
            "f4" => NpyDType::F32,
            "f8" => NpyDType::F64,
            _ => return Ok(None),
        };
        // Byte order is meaningless for one-byte types; for the others only
        // little endian is accepted ('=' is "native", which numpy never
        // writes to a file, and kiln's hosts and targets are little endian).
        match (order, dtype.size()) {
            (_, 1) | (b'<' | b'=', _) => Ok(Some(dtype)),
            (b'>', _) => Err(()),
            // '|' ("not applicable") on a multi-byte type is not a valid descr.
            _ => Ok(None),
        }
    }
}

impl fmt::Display for NpyDType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that can be wrong with a `.npy` file or an array conversion.
#[derive(Debug, Error)]
pub enum NpyError {
    /// The file could not be read or written.
    #[error("{path}: cannot access .npy file: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is larger than [`crate::limits::MAX_FILE_BYTES`] (or never ends).
    #[error(transparent)]
    Read(#[from] crate::limits::ReadError),
    /// The file does not start with `\x93NUMPY`.
    #[error("{path}: not a .npy file: bad magic (expected \\x93NUMPY)")]
    BadMagic {
        /// The file.
        path: PathBuf,
    },
    /// The file ends before the header does.
    #[error("{path}: truncated .npy file: {what} needs {needed} bytes, file has {actual}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Which part is cut off.
        what: &'static str,
        /// Bytes needed up to the end of that part.
        needed: usize,
        /// Bytes in the file.
        actual: usize,
    },
    /// A format version other than 1.0, 2.0, 3.0.
    #[error("{path}: unsupported .npy format version {major}.{minor} (supported: 1.0, 2.0, 3.0)")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Major version byte.
        major: u8,
        /// Minor version byte.
        minor: u8,
    },
    /// The header dict could not be parsed or lacks a key.
    #[error("{path}: bad .npy header: {reason}")]
    Header {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The array is stored in Fortran (column-major) order.
    #[error("{path}: .npy array is in Fortran order (fortran_order: True); save it C-contiguous")]
    FortranOrder {
        /// The file.
        path: PathBuf,
    },
    /// A multi-byte type stored big endian.
    #[error("{path}: .npy dtype '{descr}' is big endian; only little endian is supported")]
    BigEndian {
        /// The file.
        path: PathBuf,
        /// The header's `descr`.
        descr: String,
    },
    /// A dtype kiln does not read.
    #[error(
        "{path}: unsupported .npy dtype '{descr}' (supported: |b1 |i1 |u1 <i2 <i4 <i8 <f4 <f8)"
    )]
    UnsupportedDType {
        /// The file.
        path: PathBuf,
        /// The header's `descr` (or a description of a structured dtype).
        descr: String,
    },
    /// The number of data bytes does not match shape and dtype.
    #[error(
        "{path}: .npy data is {actual} bytes, but shape {shape:?} of {dtype} needs {expected}"
    )]
    DataLength {
        /// The file.
        path: PathBuf,
        /// Shape from the header.
        shape: Vec<usize>,
        /// Element type.
        dtype: NpyDType,
        /// Bytes the shape needs.
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// An in-memory array was asked for the wrong element type.
    #[error("array is {found}, not {expected}")]
    DTypeMismatch {
        /// The type asked for.
        expected: NpyDType,
        /// The array's type.
        found: NpyDType,
    },
    /// An in-memory array was built from a value count that does not fit its shape.
    #[error("shape {shape:?} has {expected} elements, but {actual} values were given")]
    ShapeMismatch {
        /// The shape asked for.
        shape: Vec<usize>,
        /// Elements the shape holds (saturating at `usize::MAX`).
        expected: usize,
        /// Values given.
        actual: usize,
    },
}

/// A Rust type that is the element type of some [`NpyDType`].
pub trait NpyElement: Copy {
    /// The matching dtype.
    const DTYPE: NpyDType;
    /// Reads one element from exactly `DTYPE.size()` little-endian bytes.
    fn from_le(bytes: &[u8]) -> Self;
    /// Appends the element's little-endian bytes.
    fn put_le(self, out: &mut Vec<u8>);
}

macro_rules! numeric_element {
    ($t:ty, $d:expr) => {
        impl NpyElement for $t {
            const DTYPE: NpyDType = $d;
            fn from_le(bytes: &[u8]) -> Self {
                let mut b = [0u8; std::mem::size_of::<$t>()];
                b.copy_from_slice(bytes);
                <$t>::from_le_bytes(b)
            }
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}
numeric_element!(i8, NpyDType::I8);
numeric_element!(u8, NpyDType::U8);
numeric_element!(i16, NpyDType::I16);
numeric_element!(i32, NpyDType::I32);
numeric_element!(i64, NpyDType::I64);
numeric_element!(f32, NpyDType::F32);
numeric_element!(f64, NpyDType::F64);

impl NpyElement for bool {
    const DTYPE: NpyDType = NpyDType::Bool;
    fn from_le(bytes: &[u8]) -> Self {
        // numpy treats any non-zero byte as True when viewing memory as bool.
        bytes.iter().any(|&b| b != 0)
    }
    fn put_le(self, out: &mut Vec<u8>) {
        out.push(u8::from(self));
    }
}

/// A C-ordered, little-endian n-dimensional array as stored in a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Element type.
    pub dtype: NpyDType,
    /// Dimensions, outermost first; empty for a scalar.
    pub shape: Vec<usize>,
    /// Raw little-endian element bytes, `num_elements() * dtype.size()` long.
    pub data: Vec<u8>,
}

impl NpyArray {
    /// Builds an array from typed values; errors if `values` does not fill `shape`.
    pub fn from_slice<T: NpyElement>(shape: &[usize], values: &[T]) -> Result<Self, NpyError> {
        let expected = checked_product(shape);
        if expected != Some(values.len()) {
            return Err(NpyError::ShapeMismatch {
                shape: shape.to_vec(),
                expected: expected.unwrap_or(usize::MAX),
                actual: values.len(),
            });
        }
        let mut data = Vec::with_capacity(values.len() * T::DTYPE.size());
        for &v in values {
            v.put_le(&mut data);
        }
        Ok(NpyArray {
            dtype: T::DTYPE,
            shape: shape.to_vec(),
            data,
        })
    }

    /// Number of elements (product of the shape; 1 for a scalar).
    pub fn num_elements(&self) -> usize {
        // `data` holds exactly this many elements for arrays built by this
        // module; fall back to the data length for hand-built inconsistent ones.
        checked_product(&self.shape).unwrap_or(self.data.len() / self.dtype.size())
    }

    /// The elements as `T`; errors if the array's dtype is not `T`'s.
    pub fn to_vec<T: NpyElement>(&self) -> Result<Vec<T>, NpyError> {
        if self.dtype != T::DTYPE {
            return Err(NpyError::DTypeMismatch {
                expected: T::DTYPE,
                found: self.dtype,
            });
        }
        Ok(self
            .data
            .chunks_exact(T::DTYPE.size())
            .map(T::from_le)
            .collect())
    }

    /// The elements of a `bool` array.
    pub fn to_bool(&self) -> Result<Vec<bool>, NpyError> {
        self.to_vec()
    }
    /// The elements of an `int8` array.
    pub fn to_i8(&self) -> Result<Vec<i8>, NpyError> {
        self.to_vec()
    }
    /// The elements of a `uint8` array.
    pub fn to_u8(&self) -> Result<Vec<u8>, NpyError> {
        self.to_vec()
    }
    /// The elements of an `int16` array.
    pub fn to_i16(&self) -> Result<Vec<i16>, NpyError> {
        self.to_vec()
    }
    /// The elements of an `int32` array.
    pub fn to_i32(&self) -> Result<Vec<i32>, NpyError> {
        self.to_vec()
    }
    /// The elements of an `int64` array.
    pub fn to_i64(&self) -> Result<Vec<i64>, NpyError> {
        self.to_vec()
    }
    /// The elements of a `float32` array.
    pub fn to_f32(&self) -> Result<Vec<f32>, NpyError> {
        self.to_vec()
    }
    /// The elements of a `float64` array.
    pub fn to_f64(&self) -> Result<Vec<f64>, NpyError> {
        self.to_vec()
    }

    /// Reads and parses a `.npy` file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, NpyError> {
        let path = path.as_ref();
        let bytes = crate::limits::read_file(path).map_err(|e| match e {
            crate::limits::ReadError::Io { path, source } => NpyError::Io { path, source },
            too_large => NpyError::Read(too_large),
        })?;
        Self::parse(path, &bytes)
    }

    /// Parses the bytes of a `.npy` file; `path` only names the file in errors.
    pub fn parse(path: impl AsRef<Path>, bytes: &[u8]) -> Result<Self, NpyError> {
        let path = path.as_ref();
        let p = || path.to_path_buf();
        let truncated = |what, needed| NpyError::Truncated {
            path: p(),
            what,
            needed,
            actual: bytes.len(),
        };

        // Magic first: a short file of the wrong kind is "bad magic", not "truncated".
        let magic_len = bytes.len().min(MAGIC.len());
        if bytes[..magic_len] != MAGIC[..magic_len] {
            return Err(NpyError::BadMagic { path: p() });
        }
        let (major, minor) = match bytes.get(6..8) {
            Some(&[major, minor]) => (major, minor),
            _ => return Err(truncated("the magic and version", 8)),
        };
        let (len_size, utf8) = match (major, minor) {
            (1, 0) => (2, false),
            (2, 0) => (4, false),
            (3, 0) => (4, true),
            _ => {
                return Err(NpyError::UnsupportedVersion {
                    path: p(),
                    major,
                    minor,
                })
            }
        };
        let header_start = 8 + len_size;
        let len_bytes = bytes
            .get(8..header_start)
            .ok_or_else(|| truncated("the header length", header_start))?;
        let header_len = len_bytes
            .iter()
            .rev()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let data_start = header_start
            .checked_add(header_len)
            .ok_or_else(|| truncated("the header", usize::MAX))?;
        let header_bytes = bytes
            .get(header_start..data_start)
            .ok_or_else(|| truncated("the header", data_start))?;

        let header: String = if utf8 {
            std::str::from_utf8(header_bytes)
                .map_err(|e| NpyError::Header {
                    path: p(),
                    reason: format!("version 3.0 header is not UTF-8: {e}"),
                })?
                .to_owned()
        } else {
            // Versions 1.0 and 2.0 are latin-1: every byte is one char.
            header_bytes.iter().map(|&b| char::from(b)).collect()
        };
        let fields =
            parse_header(&header).map_err(|reason| NpyError::Header { path: p(), reason })?;

        if fields.fortran_order {
            return Err(NpyError::FortranOrder { path: p() });
        }
        let dtype = match fields.descr {
            Descr::Simple(d) => match NpyDType::from_descr(&d) {
                Ok(Some(dtype)) => dtype,
                Ok(None) => {
                    return Err(NpyError::UnsupportedDType {
                        path: p(),
                        descr: d,
                    })
                }
                Err(()) => {
                    return Err(NpyError::BigEndian {
                        path: p(),
                        descr: d,
                    })
                }
            },
            Descr::Structured(n) => {
                return Err(NpyError::UnsupportedDType {
                    path: p(),
                    descr: format!("structured dtype with {n} fields"),
                })
            }
        };

        let data = &bytes[data_start..];
        let expected = checked_product(&fields.shape).and_then(|n| n.checked_mul(dtype.size()));
        if expected != Some(data.len()) {
            return Err(NpyError::DataLength {
                path: p(),
                shape: fields.shape,
                dtype,
                expected: expected.unwrap_or(usize::MAX),
                actual: data.len(),
            });
        }
        Ok(NpyArray {
            dtype,
            shape: fields.shape,
            data: data.to_vec(),
        })
    }

    /// Serializes the array exactly as `numpy.save` would.
    pub fn to_bytes(&self) -> Vec<u8> {
        let shape = match self.shape.as_slice() {
            [] => "()".to_owned(),
            [n] => format!("({n},)"),
            dims => {
                let inner: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
                format!("({})", inner.join(", "))
            }
        };
        let mut header = format!(
            "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
            self.dtype.descr()
        );
        // numpy leaves spare room so the first axis can grow in place.
        if let Some(first) = self.shape.first() {
            let digits = first.to_string().len();
            header.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
        }
        // Like numpy: pad with 1..=64 spaces (a full 64 when already aligned).
        let hlen = header.len() + 1; // + the final '\n'
        let padlen =
            |len_size: usize| ARRAY_ALIGN - (MAGIC.len() + 2 + len_size + hlen) % ARRAY_ALIGN;
        // Version 1.0 unless the header length overflows its u16 field; the
        // header is ASCII, so 3.0 (UTF-8) is never needed.
        let (version, len_size) = if hlen + padlen(2) <= usize::from(u16::MAX) {
            (1u8, 2usize)
        } else {
            (2u8, 4usize)
        };
        let padlen = padlen(len_size);
        let total_header = hlen + padlen;
        let mut out =
            Vec::with_capacity(MAGIC.len() + 2 + len_size + total_header + self.data.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[version, 0]);
        let len_le = (total_header as u64).to_le_bytes();
        out.extend_from_slice(&len_le[..len_size]);
        out.extend_from_slice(header.as_bytes());
        out.resize(out.len() + padlen, b' ');
        out.push(b'\n');
        out.extend_from_slice(&self.data);
        out
    }

    /// Writes the array to a `.npy` file.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), NpyError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_bytes()).map_err(|source| NpyError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Product of the dimensions, `None` on overflow.
fn checked_product(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// The `descr` value of a header.
enum Descr {
    /// A type string such as `'<f4'`.
    Simple(String),
    /// A list of fields: a structured dtype with this many fields.
    Structured(usize),
}

/// The three keys of a `.npy` header.
struct HeaderFields {
    descr: Descr,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// A Python literal as it may appear in a header.
#[derive(Debug)]
enum PyVal {
    Str(String),
    Int(u128),
    Bool(bool),
    None,
    Tuple(Vec<PyVal>),
    List(Vec<PyVal>),
    Dict(Vec<(PyVal, PyVal)>),
}

impl PyVal {
    fn kind(&self) -> &'static str {
        match self {
            PyVal::Str(_) => "a string",
            PyVal::Int(_) => "an integer",
            PyVal::Bool(_) => "a bool",
            PyVal::None => "None",
            PyVal::Tuple(_) => "a tuple",
            PyVal::List(_) => "a list",
            PyVal::Dict(_) => "a dict",
        }
    }
}

/// Parses the header dict and checks it has exactly the three keys numpy writes.
fn parse_header(text: &str) -> Result<HeaderFields, String> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        pos: 0,
    };
    let value = parser.value(0)?;
    parser.skip_ws();
    if parser.pos != parser.chars.len() {
        return Err(format!(
            "unexpected text after the dict at character {}",
            parser.pos
        ));
    }
    let PyVal::Dict(entries) = value else {
        return Err(format!("header is {}, not a dict", value.kind()));
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (key, val) in entries {
        let PyVal::Str(key) = key else {
            return Err(format!("header key is {}, not a string", key.kind()));
        };
        let slot_taken = match key.as_str() {
            "descr" => descr.replace(val).is_some(),
            "fortran_order" => fortran.replace(val).is_some(),
            "shape" => shape.replace(val).is_some(),
            other => return Err(format!("unexpected key '{other}'")),
        };
        if slot_taken {
            return Err(format!("key '{key}' appears twice"));
        }
    }
    let descr = match descr.ok_or("missing key 'descr'")? {
        PyVal::Str(s) => Descr::Simple(s),
        PyVal::List(fields) => Descr::Structured(fields.len()),
        other => return Err(format!("'descr' is {}, not a string", other.kind())),
    };
    let fortran_order = match fortran.ok_or("missing key 'fortran_order'")? {
        PyVal::Bool(b) => b,
        other => {
            return Err(format!(
                "'fortran_order' is {}, not True/False",
                other.kind()
            ))
        }
    };
    let shape = match shape.ok_or("missing key 'shape'")? {
        PyVal::Tuple(dims) => dims
            .into_iter()
            .enumerate()
            .map(|(i, d)| match d {
                PyVal::Int(n) => usize::try_from(n)
                    .map_err(|_| format!("'shape' dimension {i} ({n}) is too large")),
                other => Err(format!(
                    "'shape' dimension {i} is {}, not an integer",
                    other.kind()
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => return Err(format!("'shape' is {}, not a tuple", other.kind())),
    };
    Ok(HeaderFields {
        descr,
        fortran_order,
        shape,
    })
}

/// Recursive-descent parser for the subset of Python literals numpy writes.
struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        self.skip_ws();
        match self.peek() {
            Some(found) if found == c => {
                self.pos += 1;
                Ok(())
            }
            Some(found) => Err(format!(
                "expected '{c}' at character {}, found '{found}'",
                self.pos
            )),
            None => Err(format!(
                "expected '{c}' at character {}, found the end of the header",
                self.pos
            )),
        }
    }

    fn value(&mut self, depth: usize) -> Result<PyVal, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        self.skip_ws();
        match self.peek() {
            None => Err("unexpected end of the header".to_owned()),
            Some(q @ ('\'' | '"')) => self.string(q).map(PyVal::Str),
            Some('{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                self.items('}', depth, |p, depth| {
                    let key = p.value(depth + 1)?;
                    p.expect(':')?;
                    let val = p.value(depth + 1)?;
                    entries.push((key, val));
                    Ok(())
                })?;
                Ok(PyVal::Dict(entries))
            }
            Some(open @ ('(' | '[')) => {
                self.pos += 1;
                let close = if open == '(' { ')' } else { ']' };
                let mut items = Vec::new();
                let commas = self.items(close, depth, |p, depth| {
                    items.push(p.value(depth + 1)?);
                    Ok(())
                })?;
                // `(x)` is a parenthesised value, not a tuple; numpy writes `(x,)`.
                if open == '(' && items.len() == 1 && commas == 0 {
                    return Ok(items.pop().expect("one item was just counted"));
                }
                Ok(if open == '(' {
                    PyVal::Tuple(items)
                } else {
                    PyVal::List(items)
                })
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.pos;
                let mut n: u128 = 0;
                while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
                    n = n
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(u128::from(d)))
                        .ok_or_else(|| format!("integer at character {start} is too large"))?;
                    self.pos += 1;
                }
                // Python 2 long suffix, written by very old numpy versions.
                if matches!(self.peek(), Some('L' | 'l')) {
                    self.pos += 1;
                }
                Ok(PyVal::Int(n))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                match word.as_str() {
                    "True" => Ok(PyVal::Bool(true)),
                    "False" => Ok(PyVal::Bool(false)),
                    "None" => Ok(PyVal::None),
                    _ => Err(format!("unexpected name '{word}' at character {start}")),
                }
            }
            Some(c) => Err(format!("unexpected '{c}' at character {}", self.pos)),
        }
    }

    /// Parses comma-separated items up to `close` (trailing comma allowed);
    /// returns the number of commas seen.
    fn items(
        &mut self,
        close: char,
        depth: usize,
        mut item: impl FnMut(&mut Self, usize) -> Result<(), String>,
    ) -> Result<usize, String> {
        let mut commas = 0;
        loop {
            self.skip_ws();
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok(commas);
            }
            item(self, depth)?;
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.pos += 1;
                    commas += 1;
                }
                Some(c) if c == close => {}
                Some(c) => {
                    return Err(format!(
                        "expected ',' or '{close}' at character {}, found '{c}'",
                        self.pos
                    ))
                }
                None => return Err(format!("missing '{close}' before the end of the header")),
            }
        }
    }

    fn string(&mut self, quote: char) -> Result<String, String> {
        let start = self.pos;
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return Err(format!("string at character {start} is not closed")),
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(s);
                }
                Some('\\') => {
                    // Only the escapes a dtype string could need.
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ ('\\' | '\'' | '"')) => s.push(c),
                        _ => {
                            return Err(format!(
                                "unsupported escape in string at character {start}"
                            ))
                        }
                    }
                    self.pos += 1;
                }
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `np.save` of `np.array([True, False])` (numpy 2.4.6).
    const NUMPY_BOOL: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }                                                            \n\x01\x00";
    /// `np.save` of `np.array(3.5, dtype='<f4')` (a scalar).
    const NUMPY_SCALAR: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (), }                                                              \n\x00\x00`@";

    /// A header in numpy's layout with the given dict text, version 1.0.
    fn v1(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        out.extend_from_slice(dict.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn err(bytes: &[u8]) -> NpyError {
        NpyArray::parse("t.npy", bytes).expect_err("parse must fail")
    }

    #[test]
    fn numpy_bytes_parse_and_round_trip() {
        let a = NpyArray::parse("b.npy", NUMPY_BOOL).unwrap();
        assert_eq!(a.dtype, NpyDType::Bool);
        assert_eq!(a.shape, vec![2]);
        assert_eq!(a.to_bool().unwrap(), vec![true, false]);
        assert_eq!(a.to_bytes(), NUMPY_BOOL);

        let s = NpyArray::parse("s.npy", NUMPY_SCALAR).unwrap();
        assert_eq!(s.shape, Vec::<usize>::new());
        assert_eq!(s.num_elements(), 1);
        assert_eq!(s.to_f32().unwrap(), vec![3.5]);
        assert_eq!(s.to_bytes(), NUMPY_SCALAR);
    }

    #[test]
    fn typed_round_trips() {
        fn check<T: NpyElement + PartialEq + fmt::Debug>(shape: &[usize], v: &[T]) {
            let a = NpyArray::from_slice(shape, v).unwrap();
            let bytes = a.to_bytes();
            assert_eq!(
                (bytes.len() - v.len() * T::DTYPE.size()) % ARRAY_ALIGN,
                0,
                "data is 64-aligned"
            );
            let b = NpyArray::parse("r.npy", &bytes).unwrap();
            assert_eq!(b, a);
            assert_eq!(b.to_vec::<T>().unwrap(), v);
        }
        check::<i8>(&[2, 2], &[-128, -1, 0, 127]);
        check::<u8>(&[3], &[0, 1, 255]);
        check::<i16>(&[1, 2], &[-32768, 32767]);
        check::<i32>(&[2], &[i32::MIN, 7]);
        check::<i64>(&[1, 1, 2], &[i64::MIN, i64::MAX]);
        check::<f32>(&[1, 3], &[-0.5, 1e-8, f32::INFINITY]);
        check::<f64>(&[], &[2.25]);
        check::<bool>(&[0, 5], &[]);
    }

    #[test]
    fn int16_little_endian_layout() {
        let a = NpyArray::from_slice(&[2], &[0x0102i16, -2]).unwrap();
        assert_eq!(a.data, vec![0x02, 0x01, 0xfe, 0xff]);
    }

    #[test]
    fn wrong_typed_getter_is_an_error() {
        let a = NpyArray::from_slice(&[1], &[1i8]).unwrap();
        let e = a.to_f32().unwrap_err();
        assert!(matches!(
            e,
            NpyError::DTypeMismatch {
                expected: NpyDType::F32,
                found: NpyDType::I8
            }
        ));
        assert_eq!(e.to_string(), "array is int8, not float32");
    }

    #[test]
    fn from_slice_checks_count() {
        let e = NpyArray::from_slice(&[2, 3], &[1.0f32; 5]).unwrap_err();
        assert!(matches!(
            e,
            NpyError::ShapeMismatch {
                expected: 6,
                actual: 5,
                ..
            }
        ));
    }

    #[test]
    fn empty_and_short_files() {
        assert!(matches!(
            err(b""),
            NpyError::Truncated {
                needed: 8,
                actual: 0,
                ..
            }
        ));
        assert!(matches!(err(b"\x93NUM"), NpyError::Truncated { .. }));
        assert!(matches!(
            err(b"\x93NUMPY\x01\x00\x76"),
            NpyError::Truncated { needed: 10, .. }
        ));
        // Header says 118 bytes, only a few present.
        assert!(matches!(
            err(b"\x93NUMPY\x01\x00\x76\x00{'de"),
            NpyError::Truncated { needed: 128, .. }
        ));
        // Every prefix of a valid file fails cleanly.
        for n in 0..NUMPY_BOOL.len() {
            assert!(
                NpyArray::parse("p.npy", &NUMPY_BOOL[..n]).is_err(),
                "prefix {n}"
            );
        }
    }

    #[test]
    fn garbage_is_bad_magic() {
        let e = err(b"PK\x03\x04 this is a zip");
        assert!(matches!(e, NpyError::BadMagic { .. }));
        assert_eq!(
            e.to_string(),
            "t.npy: not a .npy file: bad magic (expected \\x93NUMPY)"
        );
        assert!(matches!(err(b"x"), NpyError::BadMagic { .. }));
    }

    #[test]
    fn versions() {
        let mut b = NUMPY_BOOL.to_vec();
        b[6] = 4;
        assert!(matches!(
            err(&b),
            NpyError::UnsupportedVersion {
                major: 4,
                minor: 0,
                ..
            }
        ));
        b[6] = 1;
        b[7] = 1;
        assert!(matches!(
            err(&b),
            NpyError::UnsupportedVersion {
                major: 1,
                minor: 1,
                ..
            }
        ));

        // Versions 2.0 and 3.0: a u32 header length.
        let dict = "{'descr': '<i2', 'fortran_order': False, 'shape': (1,), }\n";
        for major in [2u8, 3] {
            let mut f = MAGIC.to_vec();
            f.extend_from_slice(&[major, 0]);
            f.extend_from_slice(&(dict.len() as u32).to_le_bytes());
            f.extend_from_slice(dict.as_bytes());
            f.extend_from_slice(&[0xff, 0x7f]);
            assert_eq!(
                NpyArray::parse("v.npy", &f).unwrap().to_i16().unwrap(),
                vec![0x7fff]
            );
        }
    }

    #[test]
    fn version3_requires_utf8_and_latin1_is_accepted() {
        // A latin-1 byte inside a string of a v1 header is fine (it is just an unknown dtype here).
        let e = err(&v1(
            "{'descr': '\u{e9}', 'fortran_order': False, 'shape': (), }",
            b"",
        ));
        assert!(matches!(e, NpyError::UnsupportedDType { .. }), "{e}");
        let mut f = MAGIC.to_vec();
        f.extend_from_slice(&[3, 0, 2, 0, 0, 0, b'{', 0xff]);
        assert!(matches!(err(&f), NpyError::Header { .. }));
    }

    #[test]
    fn fortran_order_is_rejected() {
        let e = err(&v1(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }",
            &[0; 4],
        ));
        assert!(matches!(e, NpyError::FortranOrder { .. }));
        assert!(e.to_string().starts_with("t.npy: "));
    }

    #[test]
    fn big_endian_and_unsupported_dtypes() {
        let e = err(&v1(
            "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }",
            &[0; 4],
        ));
        assert!(matches!(e, NpyError::BigEndian { ref descr, .. } if descr == ">f4"));
        // Byte order does not matter for one-byte types.
        let a = NpyArray::parse(
            "t",
            &v1(
                "{'descr': '>i1', 'fortran_order': False, 'shape': (1,), }",
                &[0xff],
            ),
        )
        .unwrap();
        assert_eq!(a.to_i8().unwrap(), vec![-1]);
        for d in ["<c8", "<U3", "|S4", "<f2", "|i4", "<M8[ns]"] {
            let e = err(&v1(
                &format!("{{'descr': '{d}', 'fortran_order': False, 'shape': (1,), }}"),
                &[0; 8],
            ));
            assert!(matches!(e, NpyError::UnsupportedDType { .. }), "{d}: {e}");
        }
        let e = err(&v1(
            "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }",
            &[0; 4],
        ));
        assert!(matches!(e, NpyError::UnsupportedDType { .. }), "{e}");
    }

    #[test]
    fn data_length_mismatch() {
        let e = err(&v1(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            &[0; 23],
        ));
        assert!(matches!(
            e,
            NpyError::DataLength {
                expected: 24,
                actual: 23,
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "t.npy: .npy data is 23 bytes, but shape [2, 3] of float32 needs 24"
        );
        let e = err(&v1(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            &[0; 25],
        ));
        assert!(matches!(
            e,
            NpyError::DataLength {
                expected: 24,
                actual: 25,
                ..
            }
        ));
        // A shape whose byte count overflows usize.
        let e = err(&v1(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
            &[],
        ));
        assert!(matches!(e, NpyError::DataLength { .. }), "{e}");
    }

    #[test]
    fn header_syntax() {
        // Key order, quotes, whitespace, no trailing comma, Python 2 longs all accepted.
        let a = NpyArray::parse(
            "t",
            &v1(
                "{ \"shape\" : (2L,1) ,'fortran_order':False,'descr':'<i4'}\n",
                &[1, 0, 0, 0, 2, 0, 0, 0],
            ),
        )
        .unwrap();
        assert_eq!(
            (a.shape.clone(), a.to_i32().unwrap()),
            (vec![2, 1], vec![1, 2])
        );
        // `(3)` is the integer 3, not a tuple.
        let bad = [
            "{'descr': '<i4', 'fortran_order': False, 'shape': (3), }",
            "{'descr': '<i4', 'fortran_order': False}",
            "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
            "{'descr': '<i4', 'descr': '<i4', 'fortran_order': False, 'shape': (1,)}",
            "{'descr': '<i4', 'fortran_order': 0, 'shape': (1,)}",
            "{'descr': '<i4', 'fortran_order': False, 'shape': [1]}",
            "{'descr': '<i4', 'fortran_order': False, 'shape': (-1,)}",
            "{'descr': '<i4', 'fortran_order': False, 'shape': (1,)} x",
            "{'descr': '<i4', 'fortran_order': False, 'shape': (1,)",
            "{'descr': '<i4 , 'fortran_order': False, 'shape': (1,)}",
            "{'descr': '<i4', 'fortran_order': Fals, 'shape': (1,)}",
            "{'descr': '<i4', 'fortran_order': False, 'shape': (99999999999999999999999999999999999999999,)}",
            "['descr']",
            "{1: 2}",
            "",
        ];
        for h in bad {
            let e = err(&v1(h, &[0; 12]));
            assert!(matches!(e, NpyError::Header { .. }), "{h:?}: {e}");
        }
        // Deep nesting is refused, not a stack overflow.
        let deep = format!(
            "{{'descr': {}, 'fortran_order': False, 'shape': (1,)}}",
            "[".repeat(10_000)
        );
        assert!(matches!(err(&v1(&deep, &[0; 4])), NpyError::Header { .. }));
    }

    #[test]
    fn large_header_uses_version_2() {
        // 25 000 dimensions of 1 push the header past the u16 length field.
        let shape = vec![1usize; 25_000];
        let a = NpyArray::from_slice(&shape, &[5u8]).unwrap();
        let bytes = a.to_bytes();
        assert_eq!(&bytes[6..8], &[2, 0]);
        assert_eq!(NpyArray::parse("big", &bytes).unwrap(), a);
    }

    #[test]
    fn write_and_read_file() {
        let dir = std::env::temp_dir().join(format!("kiln-npy-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.npy");
        let a = NpyArray::from_slice(&[2], &[1.5f32, -2.0]).unwrap();
        a.write(&path).unwrap();
        assert_eq!(NpyArray::read(&path).unwrap(), a);
        let e = NpyArray::read(dir.join("missing.npy")).unwrap_err();
        assert!(matches!(e, NpyError::Io { .. }));
        assert!(e.to_string().contains("missing.npy"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
