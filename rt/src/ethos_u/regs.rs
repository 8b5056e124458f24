//! Ethos-U register map (placeholder until npu-sim lands it).
