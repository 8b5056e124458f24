//! Lowering rules for f32 nodes: ExecuTorch portable `aten::*.out` operators.
