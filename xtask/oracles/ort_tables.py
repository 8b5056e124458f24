"""Fixture `synth_iii_tables`: a float ONNX model whose activations are table-driven in int8
(Sigmoid, Tanh, LeakyRelu, HardSwish), quantized by ONNX Runtime's `quantize_static` (QDQ,
per-channel int8 weights, int8 activations) with the quantizer's own output parameters, and
ONNX Runtime's outputs on the QDQ model as goldens.

Run by `cargo xtask ort-fixtures` (a venv under target/ with pinned onnx, onnxruntime, numpy).
Writes tests/fixtures/synth_iii_tables/.
"""

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)

OUT = sys.argv[1]
NAME = "synth_iii_tables"
rng = np.random.default_rng(7)


def conv(name, x, cin, cout, k=3):
    w = numpy_helper.from_array(
        (rng.standard_normal((cout, cin, k, k)) * (1.5 / np.sqrt(cin * k * k))).astype(np.float32),
        name + "_w",
    )
    b = numpy_helper.from_array((rng.standard_normal(cout) * 0.2).astype(np.float32), name + "_b")
    node = helper.make_node("Conv", [x, w.name, b.name], [name], pads=[k // 2] * 4, name=name)
    return node, [w, b]


nodes, inits = [], []
for n, i in [conv("conv0", "input", 4, 8)]:
    nodes.append(n)
    inits += i
nodes.append(helper.make_node("Sigmoid", ["conv0"], ["sig"], name="sigmoid"))
n, i = conv("conv1", "sig", 8, 8)
nodes.append(n)
inits += i
nodes.append(helper.make_node("Tanh", ["conv1"], ["tanh"], name="tanh"))
n, i = conv("conv2", "tanh", 8, 8)
nodes.append(n)
inits += i
nodes.append(helper.make_node("LeakyRelu", ["conv2"], ["leaky"], alpha=0.1, name="leaky_relu"))
n, i = conv("conv3", "leaky", 8, 8)
nodes.append(n)
inits += i
nodes.append(helper.make_node("HardSwish", ["conv3"], ["hswish"], name="hard_swish"))
nodes.append(helper.make_node("GlobalAveragePool", ["hswish"], ["gap"], name="gap"))
nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"))
gw = numpy_helper.from_array((rng.standard_normal((8, 5)) * 0.5).astype(np.float32), "fc_w")
gb = numpy_helper.from_array((rng.standard_normal(5) * 0.1).astype(np.float32), "fc_b")
inits += [gw, gb]
nodes.append(helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["output"], name="fc"))

graph = helper.make_graph(
    nodes,
    NAME,
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 12, 12])],
    [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 5])],
    inits,
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.checker.check_model(model)
os.makedirs(OUT, exist_ok=True)
f32_path = os.path.join(OUT, f"{NAME}_f32.onnx")
qdq_path = os.path.join(OUT, f"{NAME}_qdq_int8.onnx")
onnx.save(model, f32_path)

calib = [rng.standard_normal((1, 4, 12, 12)).astype(np.float32) * 1.5 for _ in range(16)]


class Reader(CalibrationDataReader):
    def __init__(self):
        self.it = iter(calib)

    def get_next(self):
        x = next(self.it, None)
        return None if x is None else {"input": x}


quantize_static(
    f32_path,
    qdq_path,
    Reader(),
    quant_format=QuantFormat.QDQ,
    per_channel=True,
    activation_type=QuantType.QInt8,
    weight_type=QuantType.QInt8,
    # 7-bit weights: ONNX Runtime's x86 integer convolution (u8 x s8 pairs summed in int16
    # without VNNI) saturates with full-range weights, so its optimized outputs would depend
    # on the machine; ONNX Runtime's own advice for x86.
    reduce_range=True,
)

inputs = [rng.standard_normal((1, 4, 12, 12)).astype(np.float32) * 1.5 for _ in range(4)]
opt = ort.SessionOptions()
qdq = ort.InferenceSession(qdq_path, opt, providers=["CPUExecutionProvider"])
noopt_opts = ort.SessionOptions()
noopt_opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
noopt = ort.InferenceSession(qdq_path, noopt_opts, providers=["CPUExecutionProvider"])
f32 = ort.InferenceSession(f32_path, noopt_opts, providers=["CPUExecutionProvider"])
for sub in ["onnx_qdq", "onnx_f32"]:
    os.makedirs(os.path.join(OUT, "ref", sub), exist_ok=True)
for k, x in enumerate(inputs):
    for sub in ["onnx_qdq", "onnx_f32"]:
        np.save(os.path.join(OUT, "ref", sub, f"input_{k}.npy"), x)
    np.save(os.path.join(OUT, "ref", "onnx_qdq", f"output_{k}.npy"), qdq.run(None, {"input": x})[0])
    np.save(
        os.path.join(OUT, "ref", "onnx_qdq", f"output_{k}_ort_noopt.npy"),
        noopt.run(None, {"input": x})[0],
    )
    np.save(os.path.join(OUT, "ref", "onnx_f32", f"output_{k}.npy"), f32.run(None, {"input": x})[0])

# The quantizer's output parameters of each table-driven activation (what kiln must accept).
q = onnx.load(qdq_path)
consts = {t.name: numpy_helper.to_array(t) for t in q.graph.initializer}
acts = {}
for node in q.graph.node:
    if node.op_type in ("Sigmoid", "Tanh", "LeakyRelu", "HardSwish"):
        consumer = next(n for n in q.graph.node if node.output[0] in n.input and n.op_type == "QuantizeLinear")
        acts[node.name] = {
            "op": node.op_type,
            "output_scale": float(consts[consumer.input[1]]),
            "output_zero_point": int(consts[consumer.input[2]]),
        }
manifest = {
    "name": NAME,
    "what": "conv, Sigmoid, conv, Tanh, conv, LeakyRelu(0.1), conv, HardSwish, global average pool, Gemm",
    "made_by": "xtask/oracles/ort_tables.py (cargo xtask ort-fixtures)",
    "quantized_by": f"onnxruntime {ort.__version__} quantize_static: QDQ, per-channel int8 weights, "
    "int8 activations, reduce_range (7-bit weights, see the script), MinMax over 16 samples (seed 7)",
    "oracles": {
        "onnx_qdq": "output_k.npy: ONNX Runtime, default optimizations; output_k_ort_noopt.npy: "
        "optimizations disabled (float simulation of the QDQ graph)",
        "onnx_f32": "ONNX Runtime, optimizations disabled",
    },
    "versions": {"onnx": onnx.__version__, "onnxruntime": ort.__version__, "numpy": np.__version__},
    "table_activations": acts,
}
with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=2)
print(json.dumps(acts, indent=2))
