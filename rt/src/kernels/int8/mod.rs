//! int8 kernels with TFLite (Micro) reference semantics, bit-exact.
