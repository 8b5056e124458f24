//! The ExecuTorch schema (`schema/program.fbs`, `schema/scalar_type.fbs`):
//! enums with their on-disk numbers, and every field id the reader and the
//! `kiln-compiler` writer use. Defined once, here.
//!
//! Field ids follow declaration order in `program.fbs`; a union takes two ids
//! (`<name>_type`, then the value).

use super::fb::Field;
use crate::error::RtError;

macro_rules! schema_enum {
    ($(#[$doc:meta])* $name:ident : $repr:ty, $what:literal { $($(#[$vdoc:meta])* $v:ident = $n:literal => $s:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr($repr)]
        pub enum $name {
            $($(#[$vdoc])* $v = $n,)*
        }

        impl $name {
            /// Every variant.
            pub const ALL: &'static [$name] = &[$($name::$v,)*];

            /// The variant with on-disk number `n`, or an error naming `field`.
            pub fn from_raw(n: $repr, field: &'static str) -> Result<$name, RtError> {
                match n {
                    $($n => Ok($name::$v),)*
                    _ => Err(RtError::InvalidProgram { field, what: concat!("unknown ", $what), value: n as i64 }),
                }
            }

            /// The on-disk number.
            pub const fn raw(self) -> $repr {
                self as $repr
            }

            /// The schema's name for it, e.g. `FLOAT`.
            pub const fn name(self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

schema_enum! {
    /// Element type of a tensor (c10 `ScalarType` numbering; stored as `byte`).
    ScalarType: i8, "scalar type" {
        /// `uint8`.
        Byte = 0 => "BYTE",
        /// `int8`.
        Char = 1 => "CHAR",
        /// `int16`.
        Short = 2 => "SHORT",
        /// `int32`.
        Int = 3 => "INT",
        /// `int64`.
        Long = 4 => "LONG",
        /// IEEE half.
        Half = 5 => "HALF",
        /// `f32`.
        Float = 6 => "FLOAT",
        /// `f64`.
        Double = 7 => "DOUBLE",
        /// Complex half (2 x f16).
        ComplexHalf = 8 => "COMPLEXHALF",
        /// Complex float (2 x f32).
        ComplexFloat = 9 => "COMPLEXFLOAT",
        /// Complex double (2 x f64).
        ComplexDouble = 10 => "COMPLEXDOUBLE",
        /// `bool` (one byte).
        Bool = 11 => "BOOL",
        /// Quantized int8.
        QInt8 = 12 => "QINT8",
        /// Quantized uint8.
        QUInt8 = 13 => "QUINT8",
        /// Quantized int32.
        QInt32 = 14 => "QINT32",
        /// bfloat16.
        BFloat16 = 15 => "BFLOAT16",
        /// Two 4-bit values per byte.
        QUInt4x2 = 16 => "QUINT4X2",
        /// Four 2-bit values per byte.
        QUInt2x4 = 17 => "QUINT2X4",
        /// Eight 1-bit values per byte.
        Bits1x8 = 18 => "BITS1X8",
        /// Four 2-bit values per byte.
        Bits2x4 = 19 => "BITS2X4",
        /// Two 4-bit values per byte.
        Bits4x2 = 20 => "BITS4X2",
        /// 8 raw bits.
        Bits8 = 21 => "BITS8",
        /// 16 raw bits.
        Bits16 = 22 => "BITS16",
        /// float8 e5m2.
        Float8E5M2 = 23 => "FLOAT8E5M2",
        /// float8 e4m3fn.
        Float8E4M3FN = 24 => "FLOAT8E4M3FN",
        /// float8 e5m2fnuz.
        Float8E5M2FNUZ = 25 => "FLOAT8E5M2FNUZ",
        /// float8 e4m3fnuz.
        Float8E4M3FNUZ = 26 => "FLOAT8E4M3FNUZ",
        /// `uint16`.
        UInt16 = 27 => "UINT16",
        /// `uint32`.
        UInt32 = 28 => "UINT32",
        /// `uint64`.
        UInt64 = 29 => "UINT64",
    }
}

impl ScalarType {
    /// Bytes per element.
    pub const fn element_size(self) -> usize {
        use ScalarType::*;
        match self {
            Byte | Char | Bool | QInt8 | QUInt8 | QUInt4x2 | QUInt2x4 | Bits1x8 | Bits2x4
            | Bits4x2 | Bits8 | Float8E5M2 | Float8E4M3FN | Float8E5M2FNUZ | Float8E4M3FNUZ => 1,
            Short | Half | BFloat16 | Bits16 | UInt16 => 2,
            Int | Float | QInt32 | UInt32 | ComplexHalf => 4,
            Long | Double | UInt64 | ComplexFloat => 8,
            ComplexDouble => 16,
        }
    }
}

schema_enum! {
    /// Type tag of an `EValue` (union `KernelTypes`; 0 = NONE is not a valid value).
    Tag: u8, "EValue type" {
        /// `None`.
        Null = 1 => "Null",
        /// `int64` scalar.
        Int = 2 => "Int",
        /// `bool` scalar.
        Bool = 3 => "Bool",
        /// `f64` scalar.
        Double = 4 => "Double",
        /// A tensor.
        Tensor = 5 => "Tensor",
        /// A string.
        String = 6 => "String",
        /// List of `Int` EValue indices.
        IntList = 7 => "IntList",
        /// List of `f64`.
        DoubleList = 8 => "DoubleList",
        /// List of `bool`.
        BoolList = 9 => "BoolList",
        /// List of `Tensor` EValue indices.
        TensorList = 10 => "TensorList",
        /// List of `Tensor` EValue indices or -1 (None).
        OptionalTensorList = 11 => "OptionalTensorList",
    }
}

schema_enum! {
    /// Type tag of an `Instruction` (union `InstructionArguments`).
    InstrTag: u8, "instruction type" {
        /// Call a kernel.
        KernelCall = 1 => "KernelCall",
        /// Call a delegate backend.
        DelegateCall = 2 => "DelegateCall",
        /// Copy one value into another.
        MoveCall = 3 => "MoveCall",
        /// Conditional jump.
        JumpFalseCall = 4 => "JumpFalseCall",
        /// Free a tensor's memory.
        FreeCall = 5 => "FreeCall",
    }
}

schema_enum! {
    /// Where delegate data is stored (`byte`).
    DataLocation: i8, "data location" {
        /// In `Program.backend_delegate_data`.
        Inline = 0 => "INLINE",
        /// In `Program.segments`.
        Segment = 1 => "SEGMENT",
    }
}

schema_enum! {
    /// How a tensor's shape may change at run time (`byte`).
    ShapeDynamism: i8, "shape dynamism" {
        /// Static shape.
        Static = 0 => "STATIC",
        /// Dynamic with an upper bound (sizes are the bound).
        DynamicBound = 1 => "DYNAMIC_BOUND",
        /// Dynamic without bound.
        DynamicUnbound = 2 => "DYNAMIC_UNBOUND",
    }
}

/// `file_identifier` of `program.fbs`.
pub const FILE_IDENTIFIER: [u8; 4] = *b"ET12";
/// Magic of the extended header, at file offset 8.
pub const EXTENDED_HEADER_MAGIC: [u8; 4] = *b"eh00";
/// File offset of the extended header.
pub const EXTENDED_HEADER_OFFSET: usize = 8;
/// Length the current serializer writes (magic, length, three u64).
pub const EXTENDED_HEADER_LENGTH: u32 = 32;
/// Oldest accepted length (without `segment_data_size`).
pub const EXTENDED_HEADER_MIN_LENGTH: u32 = 24;

/// Field ids of every table, `mod <Table>` per table.
#[allow(missing_docs)]
pub mod fields {
    use super::Field;

    macro_rules! table {
        ($t:ident { $($f:ident = $n:literal),* $(,)? }) => {
            #[allow(non_snake_case, non_upper_case_globals)]
            pub mod $t {
                use super::Field;
                $(pub const $f: Field = Field::new($n, concat!(stringify!($t), ".", stringify!($f)));)*
            }
        };
    }

    table!(Program {
        version = 0,
        execution_plan = 1,
        constant_buffer = 2,
        backend_delegate_data = 3,
        segments = 4,
        constant_segment = 5,
        mutable_data_segments = 6,
        named_data = 7,
    });
    table!(ExecutionPlan {
        name = 0,
        container_meta_type = 1,
        values = 2,
        inputs = 3,
        outputs = 4,
        chains = 5,
        operators = 6,
        delegates = 7,
        non_const_buffer_sizes = 8,
        non_const_buffer_device = 9,
    });
    table!(ContainerMetadata { encoded_inp_str = 0, encoded_out_str = 1 });
    table!(EValue { val_type = 0, val = 1 });
    table!(Tensor {
        scalar_type = 0,
        storage_offset = 1,
        sizes = 2,
        dim_order = 3,
        requires_grad = 4,
        data_buffer_idx = 5,
        allocation_info = 6,
        layout = 7,
        shape_dynamism = 8,
        extra_tensor_info = 9,
    });
    table!(AllocationDetails { memory_id = 0, memory_offset_low = 1, memory_offset_high = 2 });
    table!(ExtraTensorInfo { mutable_data_segments_idx = 0, fully_qualified_name = 1, location = 2 });
    table!(Int { int_val = 0 });
    table!(Bool { bool_val = 0 });
    table!(Double { double_val = 0 });
    table!(String { string_val = 0 });
    table!(IntList { items = 0 });
    table!(DoubleList { items = 0 });
    table!(BoolList { items = 0 });
    table!(TensorList { items = 0 });
    table!(OptionalTensorList { items = 0 });
    table!(Operator { name = 0, overload = 1 });
    table!(KernelCall { op_index = 0, args = 1 });
    table!(DelegateCall { delegate_index = 0, args = 1 });
    table!(MoveCall { move_from = 0, move_to = 1 });
    table!(JumpFalseCall { cond_value_index = 0, destination_instruction = 1 });
    table!(FreeCall { value_index = 0 });
    table!(Instruction { instr_args_type = 0, instr_args = 1 });
    table!(Chain { inputs = 0, outputs = 1, instructions = 2, stacktrace = 3 });
    table!(FrameList { items = 0 });
    table!(Frame { filename = 0, lineno = 1, name = 2, context = 3 });
    table!(BackendDelegateDataReference { location = 0, index = 1 });
    table!(CompileSpec { key = 0, value = 1 });
    table!(BackendDelegate { id = 0, processed = 1, compile_specs = 2 });
    table!(Buffer { storage = 0 });
    table!(BackendDelegateInlineData { data = 0 });
    table!(DataSegment { offset = 0, size = 1 });
    table!(SubsegmentOffsets { segment_index = 0, offsets = 1 });
    table!(NamedData { key = 0, segment_index = 1 });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_numbers_match_upstream() {
        assert_eq!(ScalarType::Float.raw(), 6);
        assert_eq!(ScalarType::Bool.raw(), 11);
        assert_eq!(ScalarType::UInt64.raw(), 29);
        assert_eq!(ScalarType::from_raw(1, "t").unwrap(), ScalarType::Char);
        assert!(ScalarType::from_raw(30, "t").is_err());
        assert!(ScalarType::from_raw(-1, "t").is_err());
        assert_eq!(Tag::OptionalTensorList.raw(), 11);
        assert_eq!(InstrTag::FreeCall.raw(), 5);
        assert_eq!(DataLocation::Segment.raw(), 1);
        assert_eq!(fields::Tensor::allocation_info.slot, 6);
        assert_eq!(
            fields::Tensor::allocation_info.name,
            "Tensor.allocation_info"
        );
        assert_eq!(ScalarType::Long.element_size(), 8);
        for (i, s) in ScalarType::ALL.iter().enumerate() {
            assert_eq!(s.raw() as usize, i, "c10 numbering is dense 0..=29");
        }
    }
}
