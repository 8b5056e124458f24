//! Ethos-U NPU model (placeholder until npu-sim lands it).
