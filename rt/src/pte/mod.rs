//! Zero-copy reader of the ExecuTorch program format (`.pte`).

pub mod fb;
