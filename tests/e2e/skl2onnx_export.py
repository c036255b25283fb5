"""skl2onnx.to_onnx as the e2e tests call it (test_sklearn_models.py, test_ops_vs_onnxruntime.py's tree cases)."""
from __future__ import annotations

import warnings

import numpy as np


def skl2onnx_export(model, x: np.ndarray, options: dict | None = None):
    """skl2onnx.to_onnx at opsets 17 / ai.onnx.ml 3, zipmap off for a classifier (labels and a probability matrix,
    no ZipMap); `options` instead when given. skl2onnx 1.17 hands onnx.helper lists of bools for the tree ops'
    nodes_missing_value_tracks_true (bools, with numpy ints for HistGradientBoosting), which newer protobuf refuses;
    they are passed on as ints here."""
    import skl2onnx
    import skl2onnx.common._container as container
    make_node = container.make_node

    def ints_not_bools(*args, **kw):
        kw = {k: [int(e) for e in v] if isinstance(v, list) and any(isinstance(e, (bool, np.bool_)) for e in v)
              else v for k, v in kw.items()}
        return make_node(*args, **kw)

    if options is None:
        options = {"zipmap": False} if hasattr(model, "predict_proba") else None
    container.make_node = ints_not_bools
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return skl2onnx.to_onnx(model, x[:1], options=options, target_opset={"": 17, "ai.onnx.ml": 3})
    finally:
        container.make_node = make_node
