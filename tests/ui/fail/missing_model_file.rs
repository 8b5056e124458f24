kiln_rt::include_model!("ui/models/does_not_exist.tflite", target = "cortex-m55");

fn main() {}
