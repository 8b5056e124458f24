//! Tensor views handed to kernels and backends: metadata inline (no
//! allocation), data borrowed from the program (constants) or the arena.

use crate::error::RtError;
use crate::pte::ScalarType;
use core::ops::Deref;

#[cfg(target_endian = "big")]
compile_error!("kiln-rt views tensor bytes in place and requires a little-endian target");

/// Maximum tensor rank kiln-rt supports.
pub const MAX_RANK: usize = 8;

/// Up to [`MAX_RANK`] values stored inline; dereferences to a slice.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Dims<T: Copy + Default> {
    len: u8,
    v: [T; MAX_RANK],
}

impl<T: Copy + Default> Dims<T> {
    /// No dimensions (a scalar tensor).
    pub fn empty() -> Dims<T> {
        Dims {
            len: 0,
            v: [T::default(); MAX_RANK],
        }
    }

    /// Copies `s`; `None` if it has more than [`MAX_RANK`] entries.
    pub fn from_slice(s: &[T]) -> Option<Dims<T>> {
        if s.len() > MAX_RANK {
            return None;
        }
        let mut d = Dims::empty();
        d.v[..s.len()].copy_from_slice(s);
        d.len = s.len() as u8;
        Some(d)
    }

    /// Appends one entry; `None` if full.
    pub fn push(&mut self, x: T) -> Option<()> {
        let slot = self.v.get_mut(self.len as usize)?;
        *slot = x;
        self.len += 1;
        Some(())
    }
}

impl<T: Copy + Default> Deref for Dims<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.v[..self.len as usize]
    }
}

impl<T: Copy + Default + core::fmt::Debug> core::fmt::Debug for Dims<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Plain element types a tensor's bytes can be viewed as.
///
/// Sealed: only the primitive numeric types, for which every bit pattern is valid.
pub trait Element: Copy + sealed::Sealed {
    /// The scalar types whose storage is this element type.
    const TYPES: &'static [ScalarType];
    /// Error text when a tensor's dtype is not one of `TYPES`.
    const DTYPE_ERROR: &'static str;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! element {
    ($t:ty, $name:literal, [$($st:ident),*]) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const TYPES: &'static [ScalarType] = &[$(ScalarType::$st),*];
            const DTYPE_ERROR: &'static str = $name;
        }
    };
}
element!(i8, "dtype is not CHAR/QINT8 (i8)", [Char, QInt8]);
element!(
    u8,
    "dtype is not BYTE/QUINT8/BOOL (u8)",
    [Byte, QUInt8, Bool]
);
element!(i16, "dtype is not SHORT (i16)", [Short]);
element!(u16, "dtype is not UINT16 (u16)", [UInt16]);
element!(i32, "dtype is not INT/QINT32 (i32)", [Int, QInt32]);
element!(u32, "dtype is not UINT32 (u32)", [UInt32]);
element!(i64, "dtype is not LONG (i64)", [Long]);
element!(u64, "dtype is not UINT64 (u64)", [UInt64]);
element!(f32, "dtype is not FLOAT (f32)", [Float]);
element!(f64, "dtype is not DOUBLE (f64)", [Double]);

/// Views bytes as `[T]` if the address is aligned for `T` and the length a multiple of its size.
fn cast<T: Element>(b: &[u8]) -> Option<&[T]> {
    let size = core::mem::size_of::<T>();
    if b.as_ptr().align_offset(core::mem::align_of::<T>()) != 0
        || b.len().checked_rem(size) != Some(0)
    {
        return None;
    }
    // SAFETY: the pointer is aligned for T and valid for b.len() bytes = len/size
    // elements; T is a primitive number (sealed `Element`), so every bit pattern
    // is a valid T; the borrow of `b` bounds the lifetime.
    Some(unsafe { core::slice::from_raw_parts(b.as_ptr() as *const T, b.len() / size) })
}

/// Mutable version of [`cast`].
fn cast_mut<T: Element>(b: &mut [u8]) -> Option<&mut [T]> {
    let size = core::mem::size_of::<T>();
    if b.as_ptr().align_offset(core::mem::align_of::<T>()) != 0
        || b.len().checked_rem(size) != Some(0)
    {
        return None;
    }
    // SAFETY: as in `cast`; additionally the exclusive borrow of `b` makes the
    // returned slice the only access path to these bytes, and any T written is
    // a valid byte pattern.
    Some(unsafe { core::slice::from_raw_parts_mut(b.as_mut_ptr() as *mut T, b.len() / size) })
}

/// Metadata shared by [`TensorRef`] and [`TensorMut`].
macro_rules! tensor_meta_methods {
    () => {
        /// Number of dimensions.
        pub fn rank(&self) -> usize {
            self.sizes.len()
        }

        /// Number of elements.
        pub fn numel(&self) -> usize {
            // Checked at load: the product fits and matches the data length.
            self.sizes.iter().product()
        }

        /// Size of logical dimension `k` (negative `k` counts from the end, like PyTorch).
        pub fn dim(&self, k: isize) -> Result<usize, RtError> {
            let r = self.sizes.len() as isize;
            let i = if k < 0 { k + r } else { k };
            if i < 0 || i >= r {
                return Err(RtError::TensorView {
                    value: self.value,
                    what: "dimension index out of range",
                });
            }
            Ok(self.sizes[i as usize])
        }

        /// Element strides per logical dimension, from `sizes` and `dim_order`.
        pub fn strides(&self) -> Dims<usize> {
            let mut st = Dims {
                len: self.sizes.len() as u8,
                v: [0usize; MAX_RANK],
            };
            let mut running = 1usize;
            // dim_order lists dims outermost first: walk it from the innermost.
            for &d in self.dim_order.iter().rev() {
                let d = d as usize;
                if let (Some(s), Some(&n)) = (st.v.get_mut(d), self.sizes.get(d)) {
                    *s = running;
                    running *= n;
                }
            }
            st
        }

        /// True if memory order equals logical order (`dim_order` = 0, 1, 2, ...).
        pub fn is_contiguous(&self) -> bool {
            self.dim_order
                .iter()
                .enumerate()
                .all(|(i, &d)| d as usize == i)
        }

        /// True if the memory layout is channels-last (`dim_order` = [0, 2, 3, 1]).
        pub fn is_channels_last(&self) -> bool {
            *self.dim_order == [0, 2, 3, 1]
        }

        fn view_err(&self, what: &'static str) -> RtError {
            RtError::TensorView {
                value: self.value,
                what,
            }
        }

        /// The data as `[T]`: the dtype must match `T` (e.g. FLOAT for f32) and the data be aligned.
        pub fn as_slice<T: Element>(&self) -> Result<&[T], RtError> {
            if !T::TYPES.contains(&self.scalar_type) {
                return Err(self.view_err(T::DTYPE_ERROR));
            }
            cast::<T>(&self.data).ok_or(self.view_err("data is not aligned for its element type"))
        }

        /// `CHAR`/`QINT8` data.
        pub fn as_i8(&self) -> Result<&[i8], RtError> {
            self.as_slice()
        }
        /// `BYTE`/`QUINT8`/`BOOL` data.
        pub fn as_u8(&self) -> Result<&[u8], RtError> {
            self.as_slice()
        }
        /// `SHORT` data.
        pub fn as_i16(&self) -> Result<&[i16], RtError> {
            self.as_slice()
        }
        /// `INT`/`QINT32` data.
        pub fn as_i32(&self) -> Result<&[i32], RtError> {
            self.as_slice()
        }
        /// `LONG` data.
        pub fn as_i64(&self) -> Result<&[i64], RtError> {
            self.as_slice()
        }
        /// `FLOAT` data.
        pub fn as_f32(&self) -> Result<&[f32], RtError> {
            self.as_slice()
        }
        /// `DOUBLE` data.
        pub fn as_f64(&self) -> Result<&[f64], RtError> {
            self.as_slice()
        }
    };
}

/// A read-only tensor: constant data in the `.pte` or planned memory.
#[derive(Clone, Copy, Debug)]
pub struct TensorRef<'t> {
    /// EValue index in the plan (for errors).
    pub value: u32,
    /// Element type.
    pub scalar_type: ScalarType,
    /// Sizes in logical order (e.g. NCHW for aten operators).
    pub sizes: Dims<usize>,
    /// Memory order of the logical dims, outermost first (identity if contiguous).
    pub dim_order: Dims<u8>,
    /// Exactly `numel * element_size` bytes.
    pub data: &'t [u8],
}

impl<'t> TensorRef<'t> {
    tensor_meta_methods!();

    /// Like [`TensorRef::as_slice`] but keeps the data's lifetime `'t`.
    pub fn into_slice<T: Element>(self) -> Result<&'t [T], RtError> {
        if !T::TYPES.contains(&self.scalar_type) {
            return Err(self.view_err(T::DTYPE_ERROR));
        }
        cast::<T>(self.data).ok_or(self.view_err("data is not aligned for its element type"))
    }

    /// An empty placeholder (rank 0, no data), used to fill fixed arrays.
    pub const EMPTY: TensorRef<'static> = TensorRef {
        value: u32::MAX,
        scalar_type: ScalarType::Byte,
        sizes: Dims {
            len: 0,
            v: [0; MAX_RANK],
        },
        dim_order: Dims {
            len: 0,
            v: [0; MAX_RANK],
        },
        data: &[],
    };
}

/// A writable tensor (always planned memory).
#[derive(Debug)]
pub struct TensorMut<'t> {
    /// EValue index in the plan (for errors).
    pub value: u32,
    /// Element type.
    pub scalar_type: ScalarType,
    /// Sizes in logical order.
    pub sizes: Dims<usize>,
    /// Memory order of the logical dims, outermost first.
    pub dim_order: Dims<u8>,
    /// Exactly `numel * element_size` bytes.
    pub data: &'t mut [u8],
}

impl<'t> TensorMut<'t> {
    tensor_meta_methods!();

    /// An empty placeholder (rank 0, no data), used to fill fixed arrays.
    pub fn empty() -> TensorMut<'t> {
        TensorMut {
            value: u32::MAX,
            scalar_type: ScalarType::Byte,
            sizes: Dims::empty(),
            dim_order: Dims::empty(),
            data: &mut [],
        }
    }

    /// A read-only view.
    pub fn as_ref(&self) -> TensorRef<'_> {
        TensorRef {
            value: self.value,
            scalar_type: self.scalar_type,
            sizes: self.sizes,
            dim_order: self.dim_order,
            data: self.data,
        }
    }

    /// The data as `&mut [T]` (dtype and alignment checked).
    pub fn as_mut_slice<T: Element>(&mut self) -> Result<&mut [T], RtError> {
        if !T::TYPES.contains(&self.scalar_type) {
            return Err(self.view_err(T::DTYPE_ERROR));
        }
        let v = self.value;
        cast_mut::<T>(self.data).ok_or(RtError::TensorView {
            value: v,
            what: "data is not aligned for its element type",
        })
    }

    /// The data as `&mut [T]` for the tensor's whole lifetime (dtype and alignment checked).
    pub fn into_mut_slice<T: Element>(self) -> Result<&'t mut [T], RtError> {
        if !T::TYPES.contains(&self.scalar_type) {
            return Err(self.view_err(T::DTYPE_ERROR));
        }
        let v = self.value;
        cast_mut::<T>(self.data).ok_or(RtError::TensorView {
            value: v,
            what: "data is not aligned for its element type",
        })
    }

    /// `CHAR`/`QINT8` data.
    pub fn as_i8_mut(&mut self) -> Result<&mut [i8], RtError> {
        self.as_mut_slice()
    }
    /// `BYTE`/`QUINT8`/`BOOL` data.
    pub fn as_u8_mut(&mut self) -> Result<&mut [u8], RtError> {
        self.as_mut_slice()
    }
    /// `SHORT` data.
    pub fn as_i16_mut(&mut self) -> Result<&mut [i16], RtError> {
        self.as_mut_slice()
    }
    /// `INT`/`QINT32` data.
    pub fn as_i32_mut(&mut self) -> Result<&mut [i32], RtError> {
        self.as_mut_slice()
    }
    /// `LONG` data.
    pub fn as_i64_mut(&mut self) -> Result<&mut [i64], RtError> {
        self.as_mut_slice()
    }
    /// `FLOAT` data.
    pub fn as_f32_mut(&mut self) -> Result<&mut [f32], RtError> {
        self.as_mut_slice()
    }
    /// `DOUBLE` data.
    pub fn as_f64_mut(&mut self) -> Result<&mut [f64], RtError> {
        self.as_mut_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t<'a>(sizes: &[usize], order: &[u8], data: &'a [u8]) -> TensorRef<'a> {
        TensorRef {
            value: 0,
            scalar_type: ScalarType::Float,
            sizes: Dims::from_slice(sizes).unwrap(),
            dim_order: Dims::from_slice(order).unwrap(),
            data,
        }
    }

    #[test]
    fn strides_follow_dim_order() {
        // NCHW [1, 3, 4, 5] contiguous: strides 60, 20, 5, 1.
        assert_eq!(
            *t(&[1, 3, 4, 5], &[0, 1, 2, 3], &[]).strides(),
            [60, 20, 5, 1]
        );
        // Same logical sizes stored channels-last (NHWC memory): C innermost.
        let cl = t(&[1, 3, 4, 5], &[0, 2, 3, 1], &[]);
        assert_eq!(*cl.strides(), [60, 1, 15, 3]);
        assert!(cl.is_channels_last() && !cl.is_contiguous());
        // The upstream schema example: sizes (3, 5, 2), dim_order (2, 0, 1).
        assert_eq!(*t(&[3, 5, 2], &[2, 0, 1], &[]).strides(), [5, 1, 15]);
        assert_eq!(t(&[3, 5, 2], &[0, 1, 2], &[]).dim(-1).unwrap(), 2);
        assert!(t(&[3], &[0], &[]).dim(1).is_err());
        assert_eq!(t(&[3, 5, 2], &[0, 1, 2], &[]).numel(), 30);
    }

    #[test]
    fn typed_views_check_dtype_and_alignment() {
        #[repr(align(8))]
        struct A([u8; 12]);
        let a = A([0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 0, 0]);
        let x = t(&[2], &[0], &a.0[..8]);
        assert_eq!(x.as_f32().unwrap(), [1.0, 2.0]);
        assert!(
            matches!(x.as_i32(), Err(RtError::TensorView { what, .. }) if what.contains("INT"))
        );
        let y = t(&[2], &[0], &a.0[1..9]);
        assert!(y.as_f32().is_err(), "misaligned");
        let mut buf = A([0; 12]);
        let mut m = TensorMut {
            value: 1,
            scalar_type: ScalarType::Int,
            sizes: Dims::from_slice(&[3]).unwrap(),
            dim_order: Dims::from_slice(&[0]).unwrap(),
            data: &mut buf.0,
        };
        m.as_i32_mut().unwrap()[2] = -2;
        assert_eq!(m.as_ref().as_i32().unwrap(), [0, 0, -2]);
        assert!(m.as_f32_mut().is_err());
        assert!(Dims::<u8>::from_slice(&[0; 9]).is_none());
    }
}
