//! Lowering: IR nodes to `.pte` operators and their arguments.
