//! The Ethos-U weight codec: compressed weight streams (MLW) and the bias/scale records.

pub mod decode;
#[cfg(feature = "alloc")]
pub mod encode;
#[cfg(test)]
mod oracle;

pub use decode::{MlwDecoder, MlwError, Slot, WeightOrder};
#[cfg(feature = "alloc")]
pub use encode::*;
