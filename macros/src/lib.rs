//! kiln's `include_model!` proc macro (stub, being written).
