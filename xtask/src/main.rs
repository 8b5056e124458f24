//! `cargo xtask`: test, bench, setup.
fn main() {}
