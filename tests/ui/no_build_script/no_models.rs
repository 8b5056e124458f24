// Depending on kiln without calling include_model! needs no build script (and keeps this
// run on `cargo build`, reusing the first run's artifacts).
fn main() {
    assert_eq!(kiln_rt::model::PLAN, "forward");
}
