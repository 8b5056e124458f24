//! Ethos-U command stream decoding (placeholder until npu-sim lands it).
