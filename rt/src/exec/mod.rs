//! The executor: loads a program's method and runs its instructions in a caller-provided arena.
