"""Recurrent models (LSTM, GRU) scored end to end from HDF5 sequences, at 1 and 3 ranks, against ONNX Runtime.

The models are written here the way torch.onnx exports `batch_first=True` layers: the batch-major input [rows, T, F]
transposed to the time-major layout the ONNX ops take, the op, and the outputs transposed (or squeezed) back, so
that every output has one row per input row. Two models: an LSTM sequence classifier (last hidden state, Gemm,
Softmax) and a bidirectional GRU tagger (per-step outputs, linear_before_reset as torch writes it). Checks: every
row within 1e-5 of ONNX Runtime (1e-4 on CUDA), and the outputs bit-identical at 1 and 3 ranks (the CPU backend
computes each row alone).
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

ON_CUDA = os.environ.get("SHARDSCORE_E2E_BACKEND") == "cuda"
REL = 1e-4 if ON_CUDA else 1e-5
ROWS, T, F = 523, 12, 5


def _t(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def lstm_classifier(r: np.random.Generator, hid=16, classes=3) -> onnx.ModelProto:
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
             helper.make_node("LSTM", ["xt", "W", "R", "B"], ["", "yh"], hidden_size=hid),
             helper.make_node("Squeeze", ["yh", "ax0"], ["h"]),
             helper.make_node("Gemm", ["h", "G", "gb"], ["logits"], transB=1),
             helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)]
    inits = [_t("W", (r.standard_normal([1, 4 * hid, F]) * 0.3).astype(np.float32)),
             _t("R", (r.standard_normal([1, 4 * hid, hid]) * 0.3).astype(np.float32)),
             _t("B", (r.standard_normal([1, 8 * hid]) * 0.1).astype(np.float32)),
             _t("ax0", np.array([0], np.int64)),
             _t("G", r.standard_normal([classes, hid]).astype(np.float32)),
             _t("gb", r.standard_normal([classes]).astype(np.float32))]
    graph = helper.make_graph(nodes, "lstm_classifier", [helper.make_tensor_value_info("x", TP.FLOAT, ["N", T, F])],
                              [helper.make_tensor_value_info("probabilities", TP.FLOAT, ["N", classes])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], ir_version=8)


def gru_tagger(r: np.random.Generator, hid=8) -> onnx.ModelProto:
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
             helper.make_node("GRU", ["xt", "W", "R", "B"], ["y"], hidden_size=hid, direction="bidirectional",
                              linear_before_reset=1),
             helper.make_node("Transpose", ["y"], ["states"], perm=[2, 0, 1, 3])]
    inits = [_t("W", (r.standard_normal([2, 3 * hid, F]) * 0.3).astype(np.float32)),
             _t("R", (r.standard_normal([2, 3 * hid, hid]) * 0.3).astype(np.float32)),
             _t("B", (r.standard_normal([2, 6 * hid]) * 0.1).astype(np.float32))]
    graph = helper.make_graph(nodes, "gru_tagger", [helper.make_tensor_value_info("x", TP.FLOAT, ["N", T, F])],
                              [helper.make_tensor_value_info("states", TP.FLOAT, ["N", T, 2, hid])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], ir_version=8)


@pytest.mark.parametrize("make_model", [lstm_classifier, gru_tagger], ids=["lstm_classifier", "gru_tagger"])
def test_recurrent_model_matches_onnxruntime_at_1_and_3_ranks(e2e, tmp_path, rng, make_model):
    model = make_model(rng)
    model_path = tmp_path / "model.onnx"
    onnx.save(model, model_path)
    x = rng.standard_normal([ROWS, T, F]).astype(np.float32)
    inp = tmp_path / "in.h5"
    with h5py.File(inp, "w") as f:
        f.create_dataset("sequences", data=x, chunks=(50, T, F))
    import onnxruntime as ort
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"x": x})))
    got_by_ranks = {}
    for ranks in (1, 3):
        out = tmp_path / f"out{ranks}" / "scores.h5"
        out.parent.mkdir()
        job = e2e.write_job(tmp_path / f"job{ranks}.toml", {
            "input": {"path": str(inp), "dataset": "/sequences"},
            "model": {"path": str(model_path)},
            "output": {"path": str(out)},
            "run": {"batch_size": 64, "shard_rows": 100},
        })
        p = e2e.run_job(ranks, ["run", "--job", job], cwd=tmp_path)
        assert p.returncode == 0, p.stderr[-3000:]
        assert not e2e.error_lines(p.stderr), p.stderr
        datasets, attrs = e2e.read_output(out)
        assert int(attrs["num_rows"]) == ROWS
        e2e.assert_row_index(datasets, ROWS)
        for name, exp in want.items():
            a = datasets[name].astype(np.float64).reshape(ROWS, -1)
            b = exp.astype(np.float64).reshape(ROWS, -1)
            assert datasets[name].shape == exp.shape, (name, datasets[name].shape, exp.shape)
            err = np.abs(a - b).max(axis=1)
            bound = REL * np.maximum(1.0, np.abs(b).max(axis=1))
            bad = np.flatnonzero(~(err <= bound))
            assert bad.size == 0, f"/{name} at {ranks} rank(s): {bad.size} rows beyond {REL}, first {bad[:5].tolist()}"
        got_by_ranks[ranks] = datasets
    if not ON_CUDA:
        for name in want:
            assert np.array_equal(got_by_ranks[1][name], got_by_ranks[3][name]), f"/{name} differs between 1 and 3 ranks"


@pytest.mark.parametrize("form", ["y", "y_h", "batch_first_then_reduce_over_rows"])
def test_time_major_input_is_refused_naming_the_recurrent_op(e2e, tmp_path, rng, form):
    """An LSTM reading the model's input directly in layout 0 takes the job's rows as time steps: the trial before
    scoring refuses the model (its per-step output mixes rows; its last state has the batch, not the rows, in
    dimension 0) and names the op and the batch_first export (exit 2). A batch-first export whose later ReduceMean
    folds the rows is refused without that hint: its LSTM is not the culprit."""
    hid = 4
    w = [_t("W", (rng.standard_normal([1, 4 * hid, F]) * 0.3).astype(np.float32)),
         _t("R", (rng.standard_normal([1, 4 * hid, hid]) * 0.3).astype(np.float32))]
    if form == "batch_first_then_reduce_over_rows":
        nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
                 helper.make_node("LSTM", ["xt", "W", "R"], ["", "yh"], hidden_size=hid),
                 helper.make_node("Squeeze", ["yh", "ax0"], ["h"]),
                 helper.make_node("ReduceMean", ["h"], ["y"], axes=[0], keepdims=1)]
        x_shape, y_shape = ["N", T, F], [1, hid]
        w.append(_t("ax0", np.array([0], np.int64)))
    else:
        nodes = [helper.make_node("LSTM", ["x", "W", "R"], ["y"] if form == "y" else ["", "y"], hidden_size=hid)]
        x_shape, y_shape = ["T", 2, F], (["T", 1, 2, hid] if form == "y" else [1, 2, hid])
    graph = helper.make_graph(nodes, "time_major", [helper.make_tensor_value_info("x", TP.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TP.FLOAT, y_shape)], w)
    model_path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), model_path)
    p = e2e.run_job(None, ["inspect", model_path], cwd=tmp_path)
    text = p.stdout + p.stderr
    assert p.returncode == 2, text
    want = {"y": "mixes rows", "y_h": "has shape [1, 2, 4] for 2 rows",
            "batch_first_then_reduce_over_rows": "has shape [1, 4] for 2 rows"}[form]
    assert want in text, text
    hint = "reads dimension 0 of the model's input as time (layout 0)"
    if form == "batch_first_then_reduce_over_rows":
        assert hint not in text, text
    else:
        assert f"node 'LSTM_0' (LSTM) {hint}" in text, text
