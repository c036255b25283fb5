"""ONNX Runtime as the oracle of quantize_dynamic's models (test_ops_vs_onnxruntime.py, test_fixtures.py).

Two things keep plain ONNX Runtime from being one:
- shardscore scores such a model one row at a time (DynamicQuantizeLinear's scale follows the whole tensor, so a
  row's result would depend on its batch; Engine::rows_alone): the oracle runs ONNX Runtime on each row alone too.
- ONNX Runtime's MatMulInteger of a uint8 A by an int8 B adds pairs of products in int16 with saturation on CPUs
  without VNNI (its MLAS kernels use vpmaddubsw there): on this project's AMD EPYC (AVX2) a product of 255s by -128s
  comes out at -32768 per pair. The oracle's copy of the model computes each MatMulInteger as the spec defines it,
  in float64 through ONNX Runtime's own ops: Cast to double, less the zero points, MatMul (exact: the sums stay far
  below 2^53), Cast to int32.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper


def exact_matmul_integer(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` whose MatMulInteger nodes (default domain) are float64 ops computing the same values."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    nodes = []
    for k, n in enumerate(m.graph.node):
        if n.domain not in ("", "ai.onnx") or n.op_type != "MatMulInteger":
            nodes.append(n)
            continue
        p = f"_exact_mmi{k}_"
        operands = []
        for j in (0, 1):
            x = n.input[j]
            zp = n.input[j + 2] if len(n.input) > j + 2 else ""
            # A zero point per row of A ([M]) would need a column here; ONNX Runtime and quantize_dynamic give
            # A a scalar one, which is all this rewrite takes (B's [N] broadcasts as the spec reads it).
            if zp and j == 0:
                shape = next((list(i.dims) for i in m.graph.initializer if i.name == zp), [])
                assert int(np.prod(shape)) == 1, f"exact_matmul_integer: a_zero_point {zp} of shape {shape}"
            nodes.append(helper.make_node("Cast", [x], [p + f"d{j}"], to=TensorProto.DOUBLE))
            if zp:
                nodes.append(helper.make_node("Cast", [zp], [p + f"z{j}"], to=TensorProto.DOUBLE))
                nodes.append(helper.make_node("Sub", [p + f"d{j}", p + f"z{j}"], [p + f"o{j}"]))
                operands.append(p + f"o{j}")
            else:
                operands.append(p + f"d{j}")
        nodes.append(helper.make_node("MatMul", operands, [p + "y"]))
        nodes.append(helper.make_node("Cast", [p + "y"], [n.output[0]], to=TensorProto.INT32))
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    return m


def run_rows(sess, feeds: dict, rows: int) -> dict:
    """{output name: array}: `sess` run on each row of `feeds` alone, the outputs joined in row order."""
    per_row = [sess.run(None, {k: v[r:r + 1] for k, v in feeds.items()}) for r in range(rows)]
    return {o.name: np.concatenate([row[i] for row in per_row]) for i, o in enumerate(sess.get_outputs())}
