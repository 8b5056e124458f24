//! f32 kernels.
