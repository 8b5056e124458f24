//! Strided views: logical sizes, element strides and a base offset.

use super::KernelError;

/// Highest tensor rank the kernels handle (broadcasting, permute, reductions).
pub const MAX_RANK: usize = 6;

/// How a tensor's logical elements sit in its buffer: `offset + sum(i[d] * strides[d])`.
///
/// Built only through checked constructors, so [`Layout::span`] never overflows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    rank: usize,
    sizes: [usize; MAX_RANK],
    strides: [usize; MAX_RANK],
    offset: usize,
    numel: usize,
    span: usize,
}

impl Layout {
    /// A view with explicit strides (0 allowed, for broadcasting) and base offset.
    pub fn strided(sizes: &[usize], strides: &[usize], offset: usize) -> Result<Self, KernelError> {
        let rank = sizes.len();
        if rank > MAX_RANK {
            return Err(KernelError::Rank {
                what: "tensor",
                expected: MAX_RANK,
                got: rank,
            });
        }
        if strides.len() != rank {
            return Err(KernelError::Shape {
                what: "strides and sizes differ in length",
            });
        }
        let mut l = Layout {
            rank,
            sizes: [1; MAX_RANK],
            strides: [0; MAX_RANK],
            offset,
            numel: 1,
            span: 0,
        };
        l.sizes[..rank].copy_from_slice(sizes);
        l.strides[..rank].copy_from_slice(strides);
        let mut numel = 1usize;
        let mut last = offset;
        for d in 0..rank {
            numel = numel.checked_mul(sizes[d]).ok_or(KernelError::Overflow)?;
            if sizes[d] > 0 {
                let reach = (sizes[d] - 1)
                    .checked_mul(strides[d])
                    .ok_or(KernelError::Overflow)?;
                last = last.checked_add(reach).ok_or(KernelError::Overflow)?;
            }
        }
        l.numel = numel;
        l.span = if numel == 0 {
            0
        } else {
            last.checked_add(1).ok_or(KernelError::Overflow)?
        };
        Ok(l)
    }

    /// Row-major contiguous view of `sizes`.
    pub fn contiguous(sizes: &[usize]) -> Result<Self, KernelError> {
        if sizes.len() > MAX_RANK {
            return Err(Self::too_big(sizes.len()));
        }
        Self::with_dim_order(sizes, &[0, 1, 2, 3, 4, 5][..sizes.len()])
    }

    fn too_big(rank: usize) -> KernelError {
        KernelError::Rank {
            what: "tensor",
            expected: MAX_RANK,
            got: rank,
        }
    }

    /// Dense view whose memory order is `dim_order` (outermost first), as ExecuTorch stores it:
    /// `[0, 1, 2, 3]` is contiguous, `[0, 2, 3, 1]` is channels-last.
    pub fn with_dim_order(sizes: &[usize], dim_order: &[u8]) -> Result<Self, KernelError> {
        let rank = sizes.len();
        if rank > MAX_RANK {
            return Err(Self::too_big(rank));
        }
        if dim_order.len() != rank {
            return Err(KernelError::Shape {
                what: "dim_order and sizes differ in length",
            });
        }
        let mut seen = [false; MAX_RANK];
        let mut strides = [0usize; MAX_RANK];
        let mut stride = 1usize;
        for &d in dim_order.iter().rev() {
            let d = d as usize;
            if d >= rank || seen[d] {
                return Err(KernelError::Param {
                    what: "dim_order is not a permutation",
                });
            }
            seen[d] = true;
            strides[d] = stride;
            stride = stride.checked_mul(sizes[d]).ok_or(KernelError::Overflow)?;
        }
        Self::strided(sizes, &strides[..rank], 0)
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.rank
    }
    /// Logical sizes.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes[..self.rank]
    }
    /// Element strides per logical dim.
    pub fn strides(&self) -> &[usize] {
        &self.strides[..self.rank]
    }
    /// Size of dim `d` (1 past the rank, so callers can treat missing dims as broadcast).
    pub fn size(&self, d: usize) -> usize {
        self.sizes.get(d).copied().unwrap_or(1)
    }
    /// Stride of dim `d` (0 past the rank).
    pub fn stride(&self, d: usize) -> usize {
        self.strides.get(d).copied().unwrap_or(0)
    }
    /// Element offset of logical index 0.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Number of logical elements.
    pub fn numel(&self) -> usize {
        self.numel
    }
    /// Elements a buffer needs to hold this view (0 when empty).
    pub fn span(&self) -> usize {
        self.span
    }
    /// True when logical row-major order is memory order from `offset`, without gaps.
    pub fn is_contiguous(&self) -> bool {
        let mut expect = 1usize;
        for d in (0..self.rank).rev() {
            if self.sizes[d] != 1 && self.strides[d] != expect {
                return false;
            }
            expect = expect.saturating_mul(self.sizes[d]);
        }
        true
    }

    /// The view with its dims reordered: new dim `i` is old dim `perm[i]`.
    pub fn permuted(&self, perm: &[usize]) -> Result<Self, KernelError> {
        if perm.len() != self.rank {
            return Err(KernelError::Shape {
                what: "permutation length != rank",
            });
        }
        let mut seen = [false; MAX_RANK];
        let mut sizes = [0usize; MAX_RANK];
        let mut strides = [0usize; MAX_RANK];
        for (i, &p) in perm.iter().enumerate() {
            if p >= self.rank || seen[p] {
                return Err(KernelError::Param {
                    what: "dims is not a permutation",
                });
            }
            seen[p] = true;
            sizes[i] = self.sizes[p];
            strides[i] = self.strides[p];
        }
        Self::strided(&sizes[..self.rank], &strides[..self.rank], self.offset)
    }

    /// The sub-view `start..start + len` along dim `d`.
    pub fn narrowed(&self, d: usize, start: usize, len: usize) -> Result<Self, KernelError> {
        let inside =
            d < self.rank && matches!(start.checked_add(len), Some(e) if e <= self.sizes[d]);
        if !inside {
            return Err(KernelError::Param {
                what: "slice outside the tensor",
            });
        }
        let mut sizes = self.sizes;
        sizes[d] = len;
        let offset = self
            .offset
            .checked_add(
                start
                    .checked_mul(self.strides[d])
                    .ok_or(KernelError::Overflow)?,
            )
            .ok_or(KernelError::Overflow)?;
        Self::strided(&sizes[..self.rank], self.strides(), offset)
    }

    /// This view seen with `rank` dims, right-aligned, size 1 / stride 0 in front (NumPy broadcasting),
    /// then expanded to `target` sizes: dims of size 1 get stride 0.
    pub fn broadcast_to(&self, target: &[usize]) -> Result<Self, KernelError> {
        let rank = target.len();
        if self.rank > rank {
            return Err(KernelError::Shape {
                what: "operand has more dims than the output",
            });
        }
        let lead = rank - self.rank;
        let mut strides = [0usize; MAX_RANK];
        for d in 0..self.rank {
            let (s, t) = (self.sizes[d], target[lead + d]);
            strides[lead + d] = if s == t {
                self.strides[d]
            } else if s == 1 {
                0
            } else {
                return Err(KernelError::Shape {
                    what: "operand is not broadcastable to the output",
                });
            };
        }
        Self::strided(target, &strides[..rank], self.offset)
    }

    /// Element offsets in logical row-major order.
    pub fn offsets(&self) -> Offsets {
        Offsets {
            layout: *self,
            index: [0; MAX_RANK],
            cur: self.offset,
            left: self.numel,
        }
    }
}

/// Iterator over a [`Layout`]'s element offsets in logical order.
#[derive(Clone, Debug)]
pub struct Offsets {
    layout: Layout,
    index: [usize; MAX_RANK],
    cur: usize,
    left: usize,
}

impl Iterator for Offsets {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let out = self.cur;
        // Odometer step; offsets stay within span, which was checked not to overflow.
        for d in (0..self.layout.rank).rev() {
            self.index[d] += 1;
            // Wrapping: one step past the end may exceed the span; it is undone below.
            self.cur = self.cur.wrapping_add(self.layout.strides[d]);
            if self.index[d] < self.layout.sizes[d] {
                break;
            }
            self.cur = self
                .cur
                .wrapping_sub(self.layout.strides[d].wrapping_mul(self.layout.sizes[d]));
            self.index[d] = 0;
        }
        Some(out)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Offsets {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn dim_order_gives_channels_last_strides() {
        let l = Layout::with_dim_order(&[2, 3, 4, 5], &[0, 2, 3, 1]).unwrap();
        assert_eq!(l.strides(), &[60, 1, 15, 3]);
        assert_eq!(l.span(), 120);
        assert!(!l.is_contiguous());
        let c = Layout::contiguous(&[2, 3, 4, 5]).unwrap();
        assert_eq!(c.strides(), &[60, 20, 5, 1]);
        assert!(c.is_contiguous());
        assert!(Layout::with_dim_order(&[2, 3], &[0, 0]).is_err());
        assert!(Layout::contiguous(&[1; 7]).is_err());
    }

    #[test]
    fn offsets_walk_logical_order() {
        let l = Layout::with_dim_order(&[2, 3], &[1, 0]).unwrap();
        let v: Vec<usize> = l.offsets().collect();
        assert_eq!(v, [0, 2, 4, 1, 3, 5]);
        let p = Layout::contiguous(&[2, 3])
            .unwrap()
            .permuted(&[1, 0])
            .unwrap();
        assert_eq!(p.offsets().collect::<Vec<_>>(), [0, 3, 1, 4, 2, 5]);
        let n = Layout::contiguous(&[4, 3])
            .unwrap()
            .narrowed(0, 1, 2)
            .unwrap();
        assert_eq!(n.offsets().collect::<Vec<_>>(), [3, 4, 5, 6, 7, 8]);
        assert_eq!(n.span(), 9);
        let empty = Layout::contiguous(&[3, 0]).unwrap();
        assert_eq!(empty.offsets().count(), 0);
        assert_eq!(empty.span(), 0);
        let scalar = Layout::contiguous(&[]).unwrap();
        assert_eq!(scalar.offsets().collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn broadcast_sets_zero_strides() {
        let b = Layout::contiguous(&[3, 1])
            .unwrap()
            .broadcast_to(&[2, 3, 4])
            .unwrap();
        assert_eq!(b.strides(), &[0, 1, 0]);
        assert!(Layout::contiguous(&[3])
            .unwrap()
            .broadcast_to(&[2, 4])
            .is_err());
    }

    #[test]
    fn overflowing_sizes_are_errors() {
        assert_eq!(
            Layout::contiguous(&[usize::MAX, 2]),
            Err(KernelError::Overflow)
        );
    }
}
