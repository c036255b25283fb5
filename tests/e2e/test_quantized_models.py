"""QDQ-quantized models (what onnxruntime.quantization.quantize_static writes by default) scored end to end at 2 ranks
vs ONNX Runtime.

Each test builds a small float model with onnx.helper (a Gemm MLP, a Conv net; seeded random weights, nothing
committed), quantizes it with quantize_static in QDQ format over a calibration reader of random rows (per-tensor, and
per-channel weights), runs the real binary under `mpirun -np 2` on an HDF5 input and compares every output with ONNX
Runtime run with graph optimizations DISABLED (ORT_DISABLE_ALL): that runs the QuantizeLinear / DequantizeLinear
pairs as float ops, exactly what shardscore does, rather than fusing them into integer kernels (QLinearConv,
MatMulInteger), whose results differ from the QDQ float graph by design.

Tolerance: the float ops between the Q/DQ pairs (Gemm, Conv) sum in another order than ONNX Runtime's MLAS, so an
activation within a rounding error of a quantization tie may round to the neighbouring level, which moves an output
by about one activation quantization step. So 99% of the elements must agree to 1e-5 and every one within 2 steps
(the largest activation scale). On the CPU today every element agrees exactly, at several seeds. In the per-channel
case the test also shows that this tolerance tells per-axis scales apart: ONNX Runtime's output for the same model
with each per-axis scale collapsed to its first value must fall outside it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

NP = 2
ROWS, CHUNK_ROWS, BATCH, SHARD_ROWS = 1000, 100, 64, 250


def mlp(rng, features: int) -> "onnx.ModelProto":
    """X [N, features] -> Gemm(16) -> Relu -> Gemm(8) -> Relu -> Gemm(3) -> Softmax."""
    nodes, inits, prev, width = [], [], "X", features
    for k, out in enumerate((16, 8, 3)):
        inits += [numpy_helper.from_array((rng.standard_normal((width, out)) / np.sqrt(width)).astype(np.float32), f"W{k}"),
                  numpy_helper.from_array((0.1 * rng.standard_normal(out)).astype(np.float32), f"B{k}")]
        nodes.append(helper.make_node("Gemm", [prev, f"W{k}", f"B{k}"], [f"g{k}"]))
        prev = f"g{k}"
        if out != 3:
            nodes.append(helper.make_node("Relu", [prev], [f"r{k}"]))
            prev, width = f"r{k}", out
    nodes.append(helper.make_node("Softmax", [prev], ["probabilities"], axis=1))
    return model_of(nodes, inits, features, 3)


def convnet(rng, features: int) -> "onnx.ModelProto":
    """X [N, 36] -> Reshape [N, 1, 6, 6] -> Conv(4, 3x3, pad 1) -> Relu -> Conv(6, 3x3, stride 2) -> Relu
    -> Flatten -> Gemm(5)."""
    inits = [numpy_helper.from_array(np.array([-1, 1, 6, 6], np.int64), "shape"),
             numpy_helper.from_array((rng.standard_normal((4, 1, 3, 3)) / 3).astype(np.float32), "C0"),
             numpy_helper.from_array((0.1 * rng.standard_normal(4)).astype(np.float32), "D0"),
             numpy_helper.from_array((rng.standard_normal((6, 4, 3, 3)) / 6).astype(np.float32), "C1"),
             numpy_helper.from_array((0.1 * rng.standard_normal(6)).astype(np.float32), "D1"),
             numpy_helper.from_array((rng.standard_normal((24, 5)) / 5).astype(np.float32), "W"),
             numpy_helper.from_array((0.1 * rng.standard_normal(5)).astype(np.float32), "B")]
    nodes = [helper.make_node("Reshape", ["X", "shape"], ["img"]),
             helper.make_node("Conv", ["img", "C0", "D0"], ["c0"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c0"], ["r0"]),
             helper.make_node("Conv", ["r0", "C1", "D1"], ["c1"], strides=[2, 2]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Flatten", ["r1"], ["f"]),
             helper.make_node("Gemm", ["f", "W", "B"], ["scores"])]
    assert features == 36
    return model_of(nodes, inits, features, 5, output="scores")


def model_of(nodes, inits, features, outputs, output="probabilities"):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", features])],
                          [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", outputs])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def quantize(tmp_path: Path, model, x: np.ndarray, per_channel: bool):
    """quantize_static in QDQ format (its default), calibrated on the first 200 rows."""
    import onnx
    # Imported, not skipped where missing: scripts/requirements.txt installs it (with ml_dtypes, which
    # it needs), and a silent skip would hide every check below.
    import onnxruntime.quantization as q

    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self.rows = iter(x[i:i + 20] for i in range(0, 200, 20))

        def get_next(self):
            b = next(self.rows, None)
            return None if b is None else {"X": b}

    src, dst = tmp_path / "float.onnx", tmp_path / "qdq.onnx"
    src.write_bytes(model.SerializeToString())
    q.quantize_static(str(src), str(dst), Reader(), quant_format=q.QuantFormat.QDQ, per_channel=per_channel)
    return onnx.load(str(dst))


def ort_outputs(qmodel, x: np.ndarray) -> np.ndarray:
    """The oracle: ONNX Runtime on the QDQ graph with graph optimizations off (Q/DQ as float ops, unfused)."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(qmodel.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"X": x})[0].astype(np.float64)


def activation_step(qmodel) -> float:
    """The largest quantization step of an activation: the scale of a DequantizeLinear fed by a QuantizeLinear."""
    inits = {t.name: numpy_helper.to_array(t) for t in qmodel.graph.initializer}
    quantized = {n.output[0] for n in qmodel.graph.node if n.op_type == "QuantizeLinear"}
    return max(float(np.max(inits[n.input[1]])) for n in qmodel.graph.node
               if n.op_type == "DequantizeLinear" and n.input[0] in quantized)


def per_axis_scales(qmodel) -> list[str]:
    """The initializers that are a DequantizeLinear's per-axis scale (1-D, more than one value)."""
    inits = {t.name: t for t in qmodel.graph.initializer}
    return [n.input[1] for n in qmodel.graph.node if n.op_type == "DequantizeLinear" and n.input[1] in inits
            and len(inits[n.input[1]].dims) == 1 and inits[n.input[1]].dims[0] > 1]


def per_axis_collapsed(qmodel, names):
    """qmodel with each of these per-axis scales replaced by its first value in every channel: what a scorer that
    dropped the per-axis index would compute."""
    out = type(qmodel)()
    out.CopyFrom(qmodel)
    for t in out.graph.initializer:
        if t.name in names:
            a = numpy_helper.to_array(t)
            t.CopyFrom(numpy_helper.from_array(np.full_like(a, a[0]), t.name))
    return out


def disagreement(got, want, step) -> str | None:
    """Why got is not want within the tolerance (see the module docstring), or None."""
    err = np.abs(got - want)
    exact = err <= 1e-5 * np.maximum(1.0, np.abs(want))
    if exact.mean() < 0.99:
        return f"only {exact.mean():.3%} of the elements agree to 1e-5"
    if err.max() > 2 * step:
        return f"worst {err.max():.3g} beyond 2 quantization steps ({step:.3g})"
    return None


# net: (float model builder, features, output name, ops the QDQ model must hold)
NETS = {"mlp": (mlp, 10, "probabilities", {"Gemm": 3}),
        "convnet": (convnet, 36, "scores", {"Conv": 2, "Gemm": 1})}


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("net", list(NETS))
def test_qdq_model_matches_onnxruntime(e2e, tmp_path, seed, net, per_channel):
    build, features, output, ops = NETS[net]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((ROWS, features)).astype(np.float32)
    q = quantize(tmp_path, build(rng, features), x, per_channel)
    kinds = [n.op_type for n in q.graph.node]
    assert kinds.count("QuantizeLinear") >= 3 and "DequantizeLinear" in kinds, kinds
    for op, n in ops.items():
        assert kinds.count(op) == n, f"{op}: {kinds.count(op)} nodes, want {n}: {kinds}"
    step = activation_step(q)
    want = ort_outputs(q, x)

    per_axis = per_axis_scales(q)
    if per_channel:
        weights = {n.input[1] for n in q.graph.node if n.op_type in ("Gemm", "Conv")}  # their weights' DQ outputs
        # Every weight is dequantized per output channel, and the comparison below tells that from one scale for
        # all channels: ONNX Runtime's own output for the model with each per-axis scale collapsed is out of
        # tolerance, so a scorer that dropped the per-axis index fails this test.
        dq_of = {n.output[0]: n.input[1] for n in q.graph.node if n.op_type == "DequantizeLinear"}
        assert all(dq_of.get(w) in per_axis for w in weights), f"weights {sorted(weights)}, per-axis scales {per_axis}"
        assert disagreement(ort_outputs(per_axis_collapsed(q, per_axis), x), want, step), (
            "ONNX Runtime's output with the per-axis scales collapsed passes the comparison: it cannot tell them apart")
    else:
        assert per_axis == [], f"per-tensor quantization wrote per-axis scales {per_axis}"

    datasets = e2e.score_rows(tmp_path, q, x, NP, BATCH, SHARD_ROWS, CHUNK_ROWS)
    got = datasets[output]
    assert got.dtype == np.float32 and got.shape == want.shape, (got.dtype, got.shape, want.shape)
    why = disagreement(got.astype(np.float64), want, step)
    assert why is None, f"{output} vs ONNX Runtime: {why}"
