#!/usr/bin/env python3
"""Train the demo MLP on sklearn's breast_cancer data and write data/demo_mlp.onnx + jobs/demo.toml.

Deterministic: same library versions -> same model bytes and same job file.
Run from anywhere: .venv/bin/python data/make_demo_model.py
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from skl2onnx import to_onnx

REPO = Path(__file__).resolve().parent.parent
MODEL_PATH = REPO / "data" / "demo_mlp.onnx"
JOB_PATH = REPO / "jobs" / "demo.toml"
SEED = 0

JOB_TEMPLATE = """\
# written by data/make_demo_model.py; regenerate with: .venv/bin/python data/make_demo_model.py
# Demo job: breast_cancer MLP (30 features -> label, probabilities).
# Input data: .venv/bin/python data/make_input.py --out build/demo/demo_input.h5

[input]
path = "build/demo/demo_input.h5"      # 2-D HDF5 dataset rows x features, any numeric type
# dataset = "/features"   (the default; a key for HDF5 input only, so left unset here: then
#                         --input scores.parquet switches this job to Parquet input as it is)

[model]
path = "data/demo_mlp.onnx"

[output]
path = "build/demo/demo_scores.h5"
# report = "..."      (default: <output path>.report.json)
overwrite = true

[run]
batch_size = 4096
shard_rows = 65536     # rounded to whole HDF5 chunks
threads = 0            # 0 = auto (cores / ranks on the node)
backend = "cpu"
progress_interval = 5.0

[preprocess]
# per feature j, in float32: x = raw; if NaN: x = impute[j]; x = (x - mean[j]) / std[j]; clip
impute = {impute}
mean = {mean}
std = {std}
clip_min = -10.0
clip_max = 10.0

[checks]
max_missing_fraction = 0.05
max_inf_fraction = 0.0
allow_nan_outputs = false
allow_inf_outputs = false
"""


def toml_float_array(values) -> str:
    items = [repr(float(v)) for v in values]
    lines = []
    for i in range(0, len(items), 5):
        lines.append("    " + ", ".join(items[i:i + 5]) + ",")
    return "[\n" + "\n".join(lines) + "\n]"


def preprocess(raw: np.ndarray, impute, mean, std, clip_min=-10.0, clip_max=10.0) -> np.ndarray:
    """The shardscore preprocessing formula, in float32."""
    x = np.asarray(raw).astype(np.float32)
    impute = np.asarray(impute, dtype=np.float32)
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    x = np.where(np.isnan(x), np.broadcast_to(impute, x.shape), x)
    x = (x - mean) / std
    x = np.minimum(np.maximum(x, np.float32(clip_min)), np.float32(clip_max))
    return x.astype(np.float32)


def main() -> None:
    os.environ.setdefault("PYTHONHASHSEED", "0")
    random.seed(SEED)
    np.random.seed(SEED)

    data = load_breast_cancer()
    X_all = data.data.astype(np.float64)
    y_all = data.target.astype(np.int64)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X_all, y_all, test_size=0.25, random_state=SEED, stratify=y_all)

    mean = X_tr.mean(axis=0)
    std = X_tr.std(axis=0, ddof=0)
    impute = mean.copy()

    Xs_tr = preprocess(X_tr, impute, mean, std)
    Xs_te = preprocess(X_te, impute, mean, std)

    model = MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=500, random_state=SEED)
    model.fit(Xs_tr, y_tr)
    acc = float((model.predict(Xs_te) == y_te).mean())

    onx = to_onnx(model, Xs_tr[:1].astype(np.float32), options={"zipmap": False}, target_opset=17)
    in_names = [i.name for i in onx.graph.input]
    out_names = [o.name for o in onx.graph.output]
    assert in_names == ["X"], in_names
    assert out_names == ["label", "probabilities"], out_names
    MODEL_PATH.parent.mkdir(parents=True, exist_ok=True)
    MODEL_PATH.write_bytes(onx.SerializeToString())

    JOB_PATH.parent.mkdir(parents=True, exist_ok=True)
    JOB_PATH.write_text(JOB_TEMPLATE.format(
        impute=toml_float_array(impute),
        mean=toml_float_array(mean),
        std=toml_float_array(std)))

    # Sanity: the exported model agrees with sklearn on the holdout.
    import onnxruntime as ort
    sess = ort.InferenceSession(str(MODEL_PATH), providers=["CPUExecutionProvider"])
    label, proba = sess.run(None, {"X": Xs_te})
    onnx_acc = float((label == y_te).mean())
    max_diff = float(np.abs(proba - model.predict_proba(Xs_te)).max())

    print(f"train rows {len(y_tr)}, holdout rows {len(y_te)}, iterations {model.n_iter_}")
    print(f"holdout accuracy (sklearn): {acc:.4f}")
    print(f"holdout accuracy (onnx):    {onnx_acc:.4f}  max |proba diff| {max_diff:.2e}")
    print(f"wrote {MODEL_PATH.relative_to(REPO)} ({MODEL_PATH.stat().st_size} bytes)")
    print(f"wrote {JOB_PATH.relative_to(REPO)}")


if __name__ == "__main__":
    main()
