#!/usr/bin/env python3
"""ONNX Runtime's MatMulInteger of uint8 A by int8 B against the exact sums, on this CPU.

    .venv/bin/python bench/ort_matmulinteger_saturation.py

One node, A [4, 64] of values in [200, 255], B [64, 3] in [-128, -101]: every pair of products ONNX Runtime's MLAS
adds in int16 (vpmaddubsw, on CPUs without VNNI) passes -32768. Prints ONNX Runtime's first row, the exact int64 sums
and ONNX's reference evaluator's, and whether ONNX Runtime saturated. docs/benchmarks.md quotes it; the tests' oracle
avoids it (tests/e2e/ort_integer.py).
"""
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

rng = np.random.default_rng(0)
a = rng.integers(200, 256, (4, 64)).astype(np.uint8)
b = rng.integers(-128, -100, (64, 3)).astype(np.int8)
graph = helper.make_graph([helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "g",
                          [helper.make_tensor_value_info("a", TensorProto.UINT8, [4, 64])],
                          [helper.make_tensor_value_info("y", TensorProto.INT32, None)], [numpy_helper.from_array(b, "b")])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
model.ir_version = 8
got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"a": a})[0]
exact = a.astype(np.int64) @ b.astype(np.int64)
ref = ReferenceEvaluator(model).run(None, {"a": a})[0]
print(f"onnxruntime {ort.__version__}: {got[0].tolist()}")
print(f"exact (int64): {exact[0].tolist()}")
print(f"onnx reference: {ref[0].tolist()}")
print("ONNX Runtime saturated" if not np.array_equal(got, exact) else "ONNX Runtime gave the exact sums")
