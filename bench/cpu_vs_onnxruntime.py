#!/usr/bin/env python3
"""shardscore's CPU backend against ONNX Runtime's CPU execution provider, measured in the same run.

    .venv-export/bin/python bench/cpu_vs_onnxruntime.py            # export (once), measure, write the table

Models (random weights, exported by this script into bench/out/, reused on later runs unless --reexport):
  resnet50   ResNet-50 (Bottleneck [3, 4, 6, 3], torchvision layout, written here), 224x224, opset 17,
             dynamic batch; BatchNorm running statistics calibrated on one random batch so activations keep
             a sane scale, exported the default way (eval: the exporter folds BN into Conv)
  bert-base  transformers BertModel(BertConfig()) = BERT-base (12 layers, hidden 768, 12 heads, vocab 30522),
             random init, eager attention, sequence 128, inputs input_ids / attention_mask / token_type_ids,
             outputs last_hidden_state and pooler_output, dynamic batch, opset 17
  mlp        Linear+ReLU MLP 256-1024-512-256-10 (921,866 parameters), input [N, 256], opset 17
  lstm       an LSTM sequence classifier as torch exports batch_first=True: input [N, 50, 32] transposed to time-major,
             LSTM hidden 128, last state, Gemm to 10 classes; opset 14 (written with onnx.helper, no torch needed)
  gru        the same classifier with a GRU (hidden 128, linear_before_reset 1 as torch exports nn.GRU); opset 14
             (onnx.helper, no torch needed)
  deconv     a U-Net decoder stage: input [N, 64, 32, 32], ConvTranspose 64->32 kernel 2 stride 2, Conv 3x3 32->32
             pad 1, Relu; opset 13 (onnx.helper, no torch needed)
  bert-dq    BERT-base (12 layers, hidden 768, 12 heads, FFN 3072, vocab 30522, sequence 128) written in plain ONNX ops
             (MatMul, Add, LayerNormalization, Softmax, Erf GELU; onnx.helper, random weights, std 0.02), then through
             onnxruntime.quantization.quantize_dynamic (int8 weights): DynamicQuantizeLinear + MatMulInteger. shardscore
             scores it a row at a time (the scale follows the whole tensor); ONNX Runtime runs the whole batch
  mlp-dq     the mlp's shape (256-1024-512-256-10, MatMul + Add + Relu; onnx.helper, random weights) through
             quantize_dynamic; a row at a time in shardscore too: tabular rows are where that costs most
  bert-float, mlp-float
             the float32 models bert-dq and mlp-dq are quantized from (the same files), measured as they are: the
             float32 BERT-base and MLP on a machine without torch (onnx.helper, no torch needed)
  bert-ortopt BERT-base (12 layers, hidden 768, 12 heads, FFN 3072, vocab 30522, sequence 128) in the form
             onnxruntime.transformers.optimizer gives it: com.microsoft EmbedLayerNormalization (mask_index from the
             int32 mask), Attention with packed QKV weights and mask_filter_value -3.4e38, SkipLayerNormalization,
             BiasGelu; pooler Gemm + Tanh to pooler_output [N, 768]; random weights (std 0.02); opset 17 (onnx.helper,
             no torch needed). ONNX Runtime runs its own fused kernels for these ops; shardscore expands them at load.

For every model and thread count T (default 1 and 2), each side runs in its own process:
  shardscore    build/bench/engine_bench: T batches of B run at once, one per oneTBB thread, each batch
                single-threaded (shardscore's execution model); items/s = T*B / wall time of a repeat
  ONNX Runtime  `python bench/cpu_vs_onnxruntime.py _ort ...` (this script): an InferenceSession with
                intra_op_num_threads=T, inter_op_num_threads=1, ORT_ENABLE_ALL; one run() on a batch of T*B
                per repeat; items/s = T*B / wall time of the run() call
Each side runs --rounds processes (default 2) per configuration, alternating shardscore / ORT so that load from
other programs drifting during the run hits both alike; the repeats of all rounds are pooled.
Same items per repeat, same warmup and repeat counts, the same random-input recipe (float: standard normal;
*input_ids*: uniform in [0, 1000); *mask*: ones; *token_type*: zeros), median over the pooled repeats.
Correctness: one batch of B from engine_bench (--dump) is run through ORT on the very same inputs; the table
reports max|shardscore - ORT| / max|ORT| over every output. For the *-dq models ORT runs each row alone with its
MatMulInteger in float64 (tests/e2e/ort_integer.py: ORT's own saturates on CPUs without VNNI), as shardscore scores them.

Writes bench/out/cpu_vs_onnxruntime.md (the table with the machine, versions, date and command) and
bench/out/cpu_vs_onnxruntime.json (every measurement), and prints the table.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SEED = 20240917

# name -> (file, default batch, sequence length or None, description for the table)
MODELS = {
    "resnet50": ("resnet50.onnx", 8, None, "ResNet-50, 3x224x224"),
    "bert-base": ("bert_base.onnx", 8, 128, "BERT-base, sequence 128"),
    "mlp": ("mlp_1m.onnx", 4096, None, "MLP 256-1024-512-256-10 (0.92 M params)"),
    "lstm": ("lstm_classifier.onnx", 256, None, "LSTM hidden 128, 50 steps x 32 features"),
    "gru": ("gru_classifier.onnx", 256, None, "GRU hidden 128, 50 steps x 32 features"),
    "deconv": ("unet_decoder.onnx", 16, None, "ConvTranspose 64->32 k2 s2 + Conv 3x3, 32x32 -> 64x64"),
    "bert-ortopt": ("bert_base_ortopt.onnx", 8, 128, "BERT-base as ORT's transformer optimizer writes it, sequence 128"),
    "bert-dq": ("bert_base_dq.onnx", 8, 128, "BERT-base through quantize_dynamic (int8 weights), sequence 128"),
    "mlp-dq": ("mlp_1m_dq.onnx", 4096, None, "MLP 256-1024-512-256-10 through quantize_dynamic (int8 weights)"),
    "bert-float": ("bert_base_float.onnx", 8, 128, "BERT-base in plain ONNX ops (bert-dq before quantization), sequence 128"),
    "mlp-float": ("mlp_1m_float.onnx", 4096, None, "MLP 256-1024-512-256-10 (mlp-dq before quantization)"),
}
# Models written here with onnx.helper (random weights, seeded): no torch needed for them.
HELPER_MODELS = ("lstm", "gru", "deconv", "bert-ortopt", "bert-dq", "mlp-dq", "bert-float", "mlp-float")
# (warmup, repeats). At least 2 warmups: shardscore's CPU backend runs the first batch of a new input shape
# unplanned and records the second one's allocations; from the third on it runs in a planned arena.
DEFAULT_RUNS = {"resnet50": (2, 5), "bert-base": (2, 5), "mlp": (3, 15), "lstm": (2, 5), "gru": (2, 5), "deconv": (2, 5),
                "bert-ortopt": (2, 5), "bert-dq": (2, 5), "mlp-dq": (2, 5),
                "bert-float": (2, 5), "mlp-float": (3, 15)}


# ---- random inputs: the recipe engine_bench uses -------------------------------------------------------------

def random_feeds(inputs, batch: int, seq: int | None, rng: np.random.Generator) -> dict:
    """inputs: [(name, numpy dtype, shape with None/str for symbolic dims)]."""
    feeds = {}
    for name, dtype, shape in inputs:
        dims = []
        for i, d in enumerate(shape):
            if isinstance(d, int) and d >= 0:
                dims.append(d)
            elif i == 0:
                dims.append(batch)
            else:
                if seq is None:
                    raise ValueError(f"input {name} has a symbolic dimension {i}: the model needs a sequence length")
                dims.append(seq)
        low = name.lower()
        if np.dtype(dtype).kind == "f":
            feeds[name] = rng.standard_normal(dims).astype(dtype)
        elif "input_ids" in low:
            feeds[name] = rng.integers(0, 1000, size=dims).astype(dtype)
        elif "mask" in low:
            feeds[name] = np.ones(dims, dtype=dtype)
        else:  # token_type_ids and any other integer input
            feeds[name] = np.zeros(dims, dtype=dtype)
    return feeds


_ORT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
              "tensor(int32)": np.int32}


def ort_session(model: Path, threads: int):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])


# ---- subcommands run in their own processes -----------------------------------------------------------------

def cmd_ort(args) -> None:
    """Time ONNX Runtime: one run() on a batch of threads*batch per repeat; one JSON line on stdout."""
    sess = ort_session(Path(args.model), args.threads)
    inputs = [(i.name, _ORT_TYPES[i.type], i.shape) for i in sess.get_inputs()]
    items = args.threads * args.batch
    feeds = random_feeds(inputs, items, args.seq, np.random.default_rng(args.seed))
    for _ in range(args.warmup):
        sess.run(None, feeds)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({"model": args.model, "batch": args.batch, "threads": args.threads, "items_per_repeat": items,
                      "median_s": med, "min_s": min(times), "max_s": max(times), "items_per_s": items / med,
                      "items_per_s_best": items / min(times), "times_s": times}))


def cmd_check(args) -> None:
    """Run ORT on the inputs engine_bench dumped; print max|shardscore - ORT| / max|ORT| per output as JSON."""
    d = Path(args.dump)
    meta = json.loads((d / "meta.json").read_text())

    def load(e):
        return np.fromfile(d / e["file"], dtype=np.dtype(e["dtype"])).reshape(e["shape"])

    feeds = {e["name"]: load(e) for e in meta["inputs"]}
    import onnx
    model = onnx.load(args.model)
    if any(n.op_type == "DynamicQuantizeLinear" for n in model.graph.node):
        import onnxruntime as ort
        sys.path.insert(0, str(ROOT / "tests" / "e2e"))
        from ort_integer import exact_matmul_integer, run_rows
        sess = ort.InferenceSession(exact_matmul_integer(model).SerializeToString(), providers=["CPUExecutionProvider"])
        ref = run_rows(sess, feeds, len(next(iter(feeds.values()))))
    else:
        sess = ort_session(Path(args.model), 1)
        names = [o.name for o in sess.get_outputs()]
        ref = dict(zip(names, sess.run(None, feeds)))
    result = {}
    for e in meta["outputs"]:
        got, want = load(e).astype(np.float64), ref[e["name"]].astype(np.float64)
        if got.shape != want.shape:
            result[e["name"]] = {"error": f"shape {list(got.shape)} vs ORT {list(want.shape)}"}
            continue
        scale = float(np.abs(want).max()) or 1.0
        result[e["name"]] = {"max_abs": float(np.abs(got - want).max()), "max_ref": scale,
                             "rel": float(np.abs(got - want).max()) / scale,
                             "finite": bool(np.isfinite(got).all())}
    print(json.dumps(result))


# ---- export ------------------------------------------------------------------------------------------------

def write_helper_model(name: str) -> None:
    """The models of HELPER_MODELS, written with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    r = np.random.default_rng(SEED)

    def t(n, a):
        return numpy_helper.from_array(np.asarray(a, np.float32), n)
    if name in ("lstm", "gru"):
        steps, feat, hid, classes = 50, 32, 128, 10
        g = 4 if name == "lstm" else 3
        rnn = (helper.make_node("LSTM", ["xt", "W", "R", "B"], ["", "yh"], hidden_size=hid) if name == "lstm" else
               helper.make_node("GRU", ["xt", "W", "R", "B"], ["", "yh"], hidden_size=hid, linear_before_reset=1))
        nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]), rnn,
                 helper.make_node("Squeeze", ["yh", "ax0"], ["h"]),
                 helper.make_node("Gemm", ["h", "G", "gb"], ["logits"], transB=1)]
        inits = [t("W", r.standard_normal([1, g * hid, feat]) * 0.1), t("R", r.standard_normal([1, g * hid, hid]) * 0.1),
                 t("B", r.standard_normal([1, 2 * g * hid]) * 0.1), numpy_helper.from_array(np.array([0], np.int64), "ax0"),
                 t("G", r.standard_normal([classes, hid]) * 0.1), t("gb", r.standard_normal([classes]))]
        ins = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", steps, feat])]
        outs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])]
        opset = 14
    elif name == "bert-ortopt":
        vocab, seq, hid, heads, ffn, layers = 30522, MODELS[name][2], 768, 12, 3072, 12

        def w(n, shape, std=0.02):
            return t(n, r.standard_normal(shape, dtype=np.float32) * std)

        def ms(op, ins, outs, **attrs):
            return helper.make_node(op, ins, outs, domain="com.microsoft", **attrs)
        nodes = [helper.make_node("Cast", [v], [v + "_int32"], to=TensorProto.INT32)
                 for v in ("input_ids", "token_type_ids", "attention_mask")]
        nodes.append(ms("EmbedLayerNormalization", ["input_ids_int32", "token_type_ids_int32", "word", "pos", "seg",
                                                    "emb_g", "emb_b", "attention_mask_int32"], ["h0", "mask_index"],
                        epsilon=1e-12))
        inits = [w("word", [vocab, hid]), w("pos", [512, hid]), w("seg", [2, hid]), t("emb_g", np.ones(hid)),
                 t("emb_b", np.zeros(hid))]
        for i in range(layers):
            h, p = f"h{i}", f"l{i}_"
            nodes += [ms("Attention", [h, p + "qkv", p + "qkv_b", "mask_index"], [p + "ctx"], num_heads=heads,
                         mask_filter_value=float(np.finfo(np.float32).min)),
                      helper.make_node("MatMul", [p + "ctx", p + "wo"], [p + "ao"]),
                      ms("SkipLayerNormalization", [p + "ao", h, p + "g1", p + "b1", p + "wo_b"], [p + "n1"], epsilon=1e-12),
                      helper.make_node("MatMul", [p + "n1", p + "w1"], [p + "f1"]),
                      ms("BiasGelu", [p + "f1", p + "w1_b"], [p + "f1g"]),
                      helper.make_node("MatMul", [p + "f1g", p + "w2"], [p + "f2"]),
                      ms("SkipLayerNormalization", [p + "f2", p + "n1", p + "g2", p + "b2", p + "w2_b"], [f"h{i + 1}"],
                         epsilon=1e-12)]
            inits += [w(p + "qkv", [hid, 3 * hid]), w(p + "qkv_b", [3 * hid]), w(p + "wo", [hid, hid]), w(p + "wo_b", [hid]),
                      t(p + "g1", np.ones(hid)), t(p + "b1", np.zeros(hid)), w(p + "w1", [hid, ffn]), w(p + "w1_b", [ffn]),
                      w(p + "w2", [ffn, hid]), w(p + "w2_b", [hid]), t(p + "g2", np.ones(hid)), t(p + "b2", np.zeros(hid))]
        nodes += [helper.make_node("Gather", [f"h{layers}", "first"], ["cls"], axis=1),
                  helper.make_node("Gemm", ["cls", "pool_w", "pool_b"], ["pooled"], transB=1),
                  helper.make_node("Tanh", ["pooled"], ["pooler_output"])]
        inits += [numpy_helper.from_array(np.array(0, np.int64), "first"), w("pool_w", [hid, hid]), w("pool_b", [hid])]
        ins = [helper.make_tensor_value_info(v, TensorProto.INT64, ["N", seq])
               for v in ("input_ids", "attention_mask", "token_type_ids")]
        outs = [helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT, ["N", hid])]
        graph = helper.make_graph(nodes, name, ins, outs, inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
                                  ir_version=8)
        onnx.save(model, str(OUT / MODELS[name][0]))
        print(f"wrote {OUT / MODELS[name][0]} (onnx.helper)", flush=True)
        return
    elif name in ("bert-dq", "bert-float"):
        vocab, seq, hid, heads, ffn, layers = 30522, MODELS[name][2], 768, 12, 3072, 12
        hd = hid // heads

        def w(n, shape, std=0.02):
            return t(n, r.standard_normal(shape, dtype=np.float32) * std)

        def mk(op, ins, outs, **attrs):
            return helper.make_node(op, ins, outs, **attrs)

        def i64(n, v):
            return numpy_helper.from_array(np.asarray(v, np.int64), n)
        nodes = [mk("Gather", ["word", "input_ids"], ["we"]), mk("Gather", ["seg", "token_type_ids"], ["se"]),
                 mk("Add", ["we", "se"], ["e0"]), mk("Add", ["e0", "pos"], ["e1"]),
                 mk("LayerNormalization", ["e1", "emb_g", "emb_b"], ["h0"], axis=-1, epsilon=1e-12),
                 # the additive mask [N, 1, 1, S]: (1 - mask) * -10000, as BERT builds it
                 mk("Cast", ["attention_mask"], ["mf"], to=TensorProto.FLOAT), mk("Sub", ["one", "mf"], ["mi"]),
                 mk("Mul", ["mi", "neg"], ["madd"]), mk("Unsqueeze", ["madd", "ax12"], ["mask4"])]
        inits = [w("word", [vocab, hid]), w("seg", [2, hid]), w("pos", [seq, hid]), t("emb_g", np.ones(hid)),
                 t("emb_b", np.zeros(hid)), t("one", 1.0), t("neg", -10000.0), i64("ax12", [1, 2]),
                 i64("heads_shape", [0, 0, heads, hd]), i64("merge_shape", [0, 0, hid]), t("scale", np.sqrt(hd)),
                 t("half", 0.5), t("sqrt2", np.sqrt(2.0)), i64("first", 0)]
        for i in range(layers):
            h, p = f"h{i}", f"l{i}_"
            for q in ("q", "k", "v"):
                nodes += [mk("MatMul", [h, p + "w" + q], [p + q + "m"]), mk("Add", [p + q + "m", p + "b" + q], [p + q + "a"]),
                          mk("Reshape", [p + q + "a", "heads_shape"], [p + q + "r"]),
                          mk("Transpose", [p + q + "r"], [p + q + "t"], perm=[0, 2, 3, 1] if q == "k" else [0, 2, 1, 3])]
                inits += [w(p + "w" + q, [hid, hid]), w(p + "b" + q, [hid])]
            nodes += [mk("MatMul", [p + "qt", p + "kt"], [p + "s"]), mk("Div", [p + "s", "scale"], [p + "sd"]),
                      mk("Add", [p + "sd", "mask4"], [p + "sm"]), mk("Softmax", [p + "sm"], [p + "pr"], axis=-1),
                      mk("MatMul", [p + "pr", p + "vt"], [p + "c"]), mk("Transpose", [p + "c"], [p + "ct"], perm=[0, 2, 1, 3]),
                      mk("Reshape", [p + "ct", "merge_shape"], [p + "cm"]),
                      mk("MatMul", [p + "cm", p + "wo"], [p + "om"]), mk("Add", [p + "om", p + "bo"], [p + "oa"]),
                      mk("Add", [p + "oa", h], [p + "r1"]),
                      mk("LayerNormalization", [p + "r1", p + "g1", p + "n1b"], [p + "n1"], axis=-1, epsilon=1e-12),
                      mk("MatMul", [p + "n1", p + "w1"], [p + "f1m"]), mk("Add", [p + "f1m", p + "b1"], [p + "f1"]),
                      # GELU, erf form: 0.5 x (1 + erf(x / sqrt 2))
                      mk("Div", [p + "f1", "sqrt2"], [p + "gd"]), mk("Erf", [p + "gd"], [p + "ge"]),
                      mk("Add", [p + "ge", "one"], [p + "g1p"]), mk("Mul", [p + "f1", p + "g1p"], [p + "gm"]),
                      mk("Mul", [p + "gm", "half"], [p + "f1g"]),
                      mk("MatMul", [p + "f1g", p + "w2"], [p + "f2m"]), mk("Add", [p + "f2m", p + "b2"], [p + "f2"]),
                      mk("Add", [p + "f2", p + "n1"], [p + "r2"]),
                      mk("LayerNormalization", [p + "r2", p + "g2", p + "n2b"], [f"h{i + 1}"], axis=-1, epsilon=1e-12)]
            inits += [w(p + "wo", [hid, hid]), w(p + "bo", [hid]), t(p + "g1", np.ones(hid)), t(p + "n1b", np.zeros(hid)),
                      w(p + "w1", [hid, ffn]), w(p + "b1", [ffn]), w(p + "w2", [ffn, hid]), w(p + "b2", [hid]),
                      t(p + "g2", np.ones(hid)), t(p + "n2b", np.zeros(hid))]
        nodes += [mk("Gather", [f"h{layers}", "first"], ["cls"], axis=1),
                  mk("MatMul", ["cls", "pool_w"], ["pm"]), mk("Add", ["pm", "pool_b"], ["pa"]),
                  mk("Tanh", ["pa"], ["pooler_output"])]
        inits += [w("pool_w", [hid, hid]), w("pool_b", [hid])]
        ins = [helper.make_tensor_value_info(v, TensorProto.INT64, ["N", seq])
               for v in ("input_ids", "attention_mask", "token_type_ids")]
        outs = [helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT, ["N", hid])]
        opset = 17
    elif name in ("mlp-dq", "mlp-float"):
        dims = [256, 1024, 512, 256, 10]
        nodes, inits, prev = [], [], "X"
        for k in range(4):
            nodes += [helper.make_node("MatMul", [prev, f"W{k}"], [f"m{k}"]),
                      helper.make_node("Add", [f"m{k}", f"B{k}"], [f"a{k}" if k < 3 else "Y"])]
            inits += [t(f"W{k}", r.standard_normal([dims[k], dims[k + 1]]) / np.sqrt(dims[k])),
                      t(f"B{k}", r.standard_normal([dims[k + 1]]) * 0.1)]
            if k < 3:
                nodes.append(helper.make_node("Relu", [f"a{k}"], [f"r{k}"]))
                prev = f"r{k}"
        ins = [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 256])]
        outs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 10])]
        opset = 17
    else:  # deconv
        cin, cout, hw = 64, 32, 32
        nodes = [helper.make_node("ConvTranspose", ["x", "Wt", "bt"], ["u"], strides=[2, 2]),
                 helper.make_node("Conv", ["u", "Wc", "bc"], ["c"], pads=[1, 1, 1, 1]),
                 helper.make_node("Relu", ["c"], ["y"])]
        inits = [t("Wt", r.standard_normal([cin, cout, 2, 2]) * 0.1), t("bt", r.standard_normal([cout]) * 0.1),
                 t("Wc", r.standard_normal([cout, cout, 3, 3]) * 0.1), t("bc", r.standard_normal([cout]) * 0.1)]
        ins = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", cin, hw, hw])]
        outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", cout, 2 * hw, 2 * hw])]
        opset = 13
    graph = helper.make_graph(nodes, name, ins, outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    onnx.checker.check_model(model)
    if name.endswith("-dq"):
        from onnxruntime.quantization import QuantType, quantize_dynamic
        float_path = OUT / MODELS[name][0].replace("_dq.onnx", "_float.onnx")
        onnx.save(model, str(float_path))
        quantize_dynamic(str(float_path), str(OUT / MODELS[name][0]), weight_type=QuantType.QInt8)
        print(f"wrote {OUT / MODELS[name][0]} (onnx.helper, then quantize_dynamic)", flush=True)
        return
    onnx.save(model, str(OUT / MODELS[name][0]))
    print(f"wrote {OUT / MODELS[name][0]} (onnx.helper)", flush=True)


def export_models(names, reexport: bool) -> None:
    todo = [n for n in names if reexport or not (OUT / MODELS[n][0]).exists()]
    OUT.mkdir(parents=True, exist_ok=True)
    for n in [n for n in todo if n in HELPER_MODELS]:
        write_helper_model(n)
    todo = [n for n in todo if n not in HELPER_MODELS]
    if not todo:
        return
    import torch
    from torch import nn
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    OUT.mkdir(parents=True, exist_ok=True)

    def export(model, args, path, input_names, output_names, axes):
        import warnings
        import inspect
        kw = dict(input_names=input_names, output_names=output_names, dynamic_axes=axes, opset_version=17,
                  do_constant_folding=True)
        # The TorchScript exporter (dynamo=False): the graph these benchmarks were written for. PyTorch 2.9 made
        # the dynamo exporter the default; it is the fallback where the TorchScript one is gone or fails.
        has_dynamo = "dynamo" in inspect.signature(torch.onnx.export).parameters
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(model, args, str(path), **kw, **({"dynamo": False} if has_dynamo else {}))
                how = "TorchScript exporter"
            except Exception as e:  # noqa: BLE001
                if not has_dynamo:
                    raise
                print(f"the TorchScript exporter failed ({type(e).__name__}: {str(e)[:200]}); trying dynamo=True",
                      flush=True)
                torch.onnx.export(model, args, str(path), **kw, dynamo=True)
                how = "dynamo exporter"
        print(f"exported {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.1f} MB, {how}, "
              f"torch {torch.__version__})", flush=True)

    if "resnet50" in todo:
        class Bottleneck(nn.Module):  # torchvision.models.resnet.Bottleneck (stride on the 3x3, "v1.5")
            expansion = 4

            def __init__(self, cin, width, stride=1, downsample=None):
                super().__init__()
                cout = width * self.expansion
                self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(width)
                self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
                self.bn2 = nn.BatchNorm2d(width)
                self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
                self.bn3 = nn.BatchNorm2d(cout)
                self.relu = nn.ReLU(inplace=True)
                self.downsample = downsample

            def forward(self, x):
                idt = x if self.downsample is None else self.downsample(x)
                out = self.relu(self.bn1(self.conv1(x)))
                out = self.relu(self.bn2(self.conv2(out)))
                return self.relu(self.bn3(self.conv3(out)) + idt)

        class ResNet50(nn.Module):
            def __init__(self, layers=(3, 4, 6, 3), num_classes=1000):
                super().__init__()
                self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
                self.bn1 = nn.BatchNorm2d(64)
                self.relu = nn.ReLU(inplace=True)
                self.maxpool = nn.MaxPool2d(3, 2, 1)
                stages, cin = [], 64
                for i, (width, n) in enumerate(zip((64, 128, 256, 512), layers)):
                    stride = 1 if i == 0 else 2
                    down = nn.Sequential(nn.Conv2d(cin, width * 4, 1, stride, bias=False), nn.BatchNorm2d(width * 4))
                    blocks = [Bottleneck(cin, width, stride, down)]
                    cin = width * 4
                    blocks += [Bottleneck(cin, width) for _ in range(n - 1)]
                    stages.append(nn.Sequential(*blocks))
                self.layer1, self.layer2, self.layer3, self.layer4 = stages
                self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
                self.fc = nn.Linear(2048, num_classes)
                for m in self.modules():  # torchvision's init
                    if isinstance(m, nn.Conv2d):
                        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

            def forward(self, x):
                x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
                x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
                return self.fc(torch.flatten(self.avgpool(x), 1))

        torch.manual_seed(SEED)
        m = ResNet50()
        gen = torch.Generator().manual_seed(SEED + 1)
        for mod in m.modules():  # running stats from one random batch, random affine: BN far from the identity
            if isinstance(mod, nn.BatchNorm2d):
                mod.momentum = None
        m.train()
        with torch.no_grad():
            m(torch.randn(8, 3, 224, 224, generator=gen))
            for mod in m.modules():
                if isinstance(mod, nn.BatchNorm2d):
                    mod.weight.copy_(1.0 + 0.1 * torch.randn(mod.num_features, generator=gen))
                    mod.bias.copy_(0.1 * torch.randn(mod.num_features, generator=gen))
        m.eval()
        x = torch.randn(2, 3, 224, 224, generator=gen)
        export(m, (x,), OUT / MODELS["resnet50"][0], ["images"], ["logits"],
               {"images": {0: "N"}, "logits": {0: "N"}})

    if "bert-base" in todo:
        from transformers import BertConfig, BertModel
        torch.manual_seed(SEED + 2)
        config = BertConfig(attn_implementation="eager")  # defaults = BERT-base
        bert = BertModel(config).eval()

        class Wrapper(nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask, token_type_ids):
                out = self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                             return_dict=False)
                return out[0], out[1]

        seq = MODELS["bert-base"][2]
        ids = torch.randint(0, 1000, (2, seq))
        names = ["input_ids", "attention_mask", "token_type_ids"]
        export(Wrapper(bert).eval(), (ids, torch.ones_like(ids), torch.zeros_like(ids)), OUT / MODELS["bert-base"][0],
               names, ["last_hidden_state", "pooler_output"],
               {n: {0: "N"} for n in names + ["last_hidden_state", "pooler_output"]})

    if "mlp" in todo:
        torch.manual_seed(SEED + 3)
        sizes = [256, 1024, 512, 256, 10]
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        mlp = nn.Sequential(*layers).eval()
        assert sum(p.numel() for p in mlp.parameters()) == 921866
        export(mlp, (torch.randn(2, 256),), OUT / MODELS["mlp"][0], ["X"], ["Y"], {"X": {0: "N"}, "Y": {0: "N"}})


# ---- the comparison ------------------------------------------------------------------------------------------

def run_json(cmd: list[str], timeout: float) -> dict:
    """Runs cmd in its own process; its last stdout line is JSON. Failures become {"error": ...}."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in p.stdout.splitlines() if ln.strip().startswith("{")]
    if lines:
        try:
            res = json.loads(lines[-1])
            if p.returncode != 0 and "error" not in res:
                res["error"] = f"exit {p.returncode}: {p.stderr.strip()[-300:]}"
            return res
        except json.JSONDecodeError:
            pass
    return {"error": f"exit {p.returncode}: {(p.stderr or p.stdout).strip()[-300:]}"}


def pool(runs: list[dict], items: int) -> dict:
    """The repeats of every round together: median, min, max; the first error if any round failed."""
    for r in runs:
        if "error" in r:
            return r
    times = [t for r in runs for t in r["times_s"]]
    med = statistics.median(times)
    return {"items_per_repeat": items, "repeats": len(times), "median_s": med, "min_s": min(times),
            "max_s": max(times), "items_per_s": items / med, "items_per_s_best": items / min(times),
            "times_s": times, "rounds": runs}


def shardscore_error(msg: str) -> str:
    m = re.search(r"unsupported op '([^']+)'", msg) or re.search(r"cannot run node '[^']*' \(([^)]+)\)", msg)
    return f"not supported: {m.group(1)}" if m else f"failed: {msg[:120]}"


def machine() -> dict:
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""
    lscpu = sh("lscpu")
    field = lambda k: next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith(k + ":")), "?")
    mem = sh("free -g | awk '/^Mem:/{print $2}'")
    core = "?"
    try:  # the kernels OpenBLAS picked for this CPU (DYNAMIC_ARCH builds)
        import ctypes
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        core = lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        pass
    return {
        "cpu": field("Model name"), "sockets": field("Socket(s)"), "cores_per_socket": field("Core(s) per socket"),
        "threads_per_core": field("Thread(s) per core"), "hypervisor": field("Hypervisor vendor"),
        "nproc": sh("nproc"), "memory_gib": mem, "kernel": platform.release(),
        "openblas": (sh("dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null") or "?") + f", {core} kernels",
        "onednn": sh("dpkg-query -W -f='${Version}' libdnnl2 2>/dev/null") or "?",
        "compiler": sh("g++ --version | head -1"),
        "build_type": sh(f"grep -E '^CMAKE_BUILD_TYPE' {ROOT}/build/CMakeCache.txt | cut -d= -f2") or "?",
        "git": sh(f"git -C {ROOT} describe --always --dirty") or "?",
    }


def versions() -> dict:
    import onnx
    import onnxruntime
    v = {"onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__, "numpy": np.__version__,
         "python": platform.python_version()}
    try:
        import torch
        import transformers
        v["torch"] = torch.__version__
        v["transformers"] = transformers.__version__
    except ImportError:
        pass
    return v


def fmt_num(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def fmt_rate(r: dict) -> str:
    if "error" in r:
        return r["error"]
    n = r["items_per_repeat"]
    return f"{fmt_num(r['items_per_s'])} ({fmt_num(n / r['max_s'])}–{fmt_num(n / r['min_s'])})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--batch", action="append", default=[], metavar="MODEL=B",
                    help="batch size per model, e.g. --batch resnet50=4 (defaults: resnet50 8, bert-base 8, mlp 4096, "
                         "lstm 256, gru 256, deconv 16, bert-ortopt 8, bert-dq 8, mlp-dq 4096, bert-float 8, mlp-float 4096)")
    ap.add_argument("--warmup", type=int, help="warmup repeats (default: 2, mlp 3)")
    ap.add_argument("--repeats", type=int, help="measured repeats (default: 5, mlp 15)")
    ap.add_argument("--rounds", type=int, default=2,
                    help="processes per side and configuration, alternating shardscore / ORT; repeats are pooled")
    ap.add_argument("--engine-bench", default=str(ROOT / "build" / "bench" / "engine_bench"))
    ap.add_argument("--reexport", action="store_true", help="export the models again even if bench/out has them")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per measuring process")
    sub = ap.add_subparsers(dest="cmd")
    for name in ("_ort", "_check"):  # internal: the ONNX Runtime side, in its own process
        p = sub.add_parser(name)
        p.add_argument("--model", required=True)
        p.add_argument("--batch", type=int, default=1)
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--warmup", type=int, default=1)
        p.add_argument("--repeats", type=int, default=5)
        p.add_argument("--seq", type=int)
        p.add_argument("--seed", type=int, default=SEED)
        p.add_argument("--dump")
    args = ap.parse_args()
    if args.cmd == "_ort":
        return cmd_ort(args)
    if args.cmd == "_check":
        return cmd_check(args)

    py = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else sys.executable
    command = " ".join(shlex.quote(a) for a in [py, os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
    batches = {n: MODELS[n][1] for n in MODELS}
    for b in args.batch:
        k, _, v = b.partition("=")
        if k not in MODELS or not v.isdigit():
            ap.error(f"--batch wants MODEL=B with MODEL one of {list(MODELS)}, got {b!r}")
        batches[k] = int(v)
    eb = Path(args.engine_bench)
    if not eb.exists():
        sys.exit(f"{eb} not found: build it with `make -C build -j1 engine_bench`")

    started = datetime.datetime.now().astimezone()
    load_before = os.getloadavg()
    m = machine()  # before the run: the git state the binary was (presumably) built from
    m["engine_bench_built"] = datetime.datetime.fromtimestamp(eb.stat().st_mtime).astimezone().strftime(
        "%Y-%m-%d %H:%M %Z")
    export_models(args.models, args.reexport)

    rows = []
    for name in args.models:
        file, _, seq, desc = MODELS[name]
        model = OUT / file
        batch = batches[name]
        warmup = args.warmup if args.warmup is not None else DEFAULT_RUNS[name][0]
        repeats = args.repeats if args.repeats is not None else DEFAULT_RUNS[name][1]
        seq_args = ["--seq", str(seq)] if seq else []

        # correctness: one batch through both, same inputs
        dump = OUT / f"check_{name}"
        chk = run_json([str(eb), "--model", str(model), "--batch", str(batch), "--threads", "1", "--warmup", "0",
                        "--repeats", "1", "--json", "--dump", str(dump)] + seq_args, args.timeout)
        if "error" in chk:
            err_text = shardscore_error(chk["error"])
            check = None
        else:
            err_text = None
            check = run_json([sys.executable, __file__, "_check", "--model", str(model), "--dump", str(dump)],
                             args.timeout)
        if check is None:
            check_text = "—"
        elif "error" in check:
            check_text = "check failed: " + check["error"][:80]
        else:
            bad = [k for k, v in check.items() if "error" in v or not v["finite"]]
            rel = max(v["rel"] for v in check.values() if "rel" in v) if len(bad) < len(check) else float("nan")
            check_text = f"{rel:.1e}" + (f" (bad: {', '.join(bad)})" if bad else "")
        print(f"{name}: shardscore vs ORT on one batch of {batch}: max|diff|/max|ORT| = {check_text} {check or ''}",
              flush=True)

        for t in args.threads:
            common = ["--batch", str(batch), "--threads", str(t), "--warmup", str(warmup), "--repeats", str(repeats)]
            ss_runs, ort_runs = [], []
            for _ in range(args.rounds):  # alternate the two processes, so drifting load hits both alike
                if err_text:
                    ss_runs.append({"error": err_text})
                else:
                    r = run_json([str(eb), "--model", str(model), "--json"] + common + seq_args, args.timeout)
                    if "error" in r and not r["error"].startswith(("not supported", "failed")):
                        r["error"] = shardscore_error(r["error"])
                    ss_runs.append(r)
                r = run_json([sys.executable, __file__, "_ort", "--model", str(model)] + common + seq_args, args.timeout)
                if "error" in r:
                    r["error"] = "failed: " + r["error"][:120]
                ort_runs.append(r)
            ss, ort = pool(ss_runs, t * batch), pool(ort_runs, t * batch)
            ratio = ss["items_per_s"] / ort["items_per_s"] if "error" not in ss and "error" not in ort else None
            row = {"model": name, "description": desc, "batch": batch, "threads": t, "items_per_repeat": t * batch,
                   "warmup": warmup, "repeats": repeats, "rounds": args.rounds, "loadavg_1min": os.getloadavg()[0],
                   "shardscore": ss, "onnxruntime": ort, "ratio": ratio, "check": check_text}
            rows.append(row)
            print(f"  T={t}: shardscore {fmt_rate(ss)} items/s, ORT {fmt_rate(ort)} items/s, "
                  f"ratio {ratio:.2f}" if ratio is not None else
                  f"  T={t}: shardscore {fmt_rate(ss)}, ORT {fmt_rate(ort)}", flush=True)

    finished = datetime.datetime.now().astimezone()
    v = versions()
    lines = [
        "| model | batch B | threads T | items / repeat | shardscore items/s | ONNX Runtime items/s | ratio | "
        "max rel. diff vs ORT |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "—"
        lines.append(f"| {r['description']} | {r['batch']} | {r['threads']} | {r['items_per_repeat']} | "
                     f"{fmt_rate(r['shardscore'])} | {fmt_rate(r['onnxruntime'])} | {ratio} | {r['check']} |")
    notes = [
        "",
        "items/s: median over the repeats (in brackets: slowest–fastest repeat); ratio = shardscore / ONNX Runtime "
        f"(≥ 1 meets the bar). Each side ran in {args.rounds} process(es) per row, alternating shardscore / ORT, "
        "each with its own warmup; the repeats of all of them are pooled. Warmup / repeats per process: " +
        ", ".join(sorted({f"{r['model']} {r['warmup']} / {r['repeats']}" for r in rows})) + ".",
        "",
        f"- machine: {m['cpu']}, {m['sockets']} socket(s) x {m['cores_per_socket']} core(s) x "
        f"{m['threads_per_core']} thread(s), nproc {m['nproc']}, {m['memory_gib']} GiB, "
        f"hypervisor {m['hypervisor']}, Linux {m['kernel']}",
        f"- load average before / after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f} (1-minute)",
        f"- shardscore {m['git']} (engine_bench built {m['engine_bench_built']}; {m['build_type']}, {m['compiler']}, "
        f"oneDNN {m['onednn']}, OpenBLAS {m['openblas']})",
        "- " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- date: {started:%Y-%m-%d %H:%M %Z} (took {(finished - started).total_seconds():.0f} s)",
        f"- command: `{command}`",
    ]
    table = "\n".join(lines + notes) + "\n"
    print()
    print(table)
    (OUT / "cpu_vs_onnxruntime.md").write_text(table)
    (OUT / "cpu_vs_onnxruntime.json").write_text(json.dumps(
        {"machine": m, "versions": v, "date": started.isoformat(), "command": command, "rows": rows}, indent=1) + "\n")
    print(f"wrote {(OUT / 'cpu_vs_onnxruntime.md').relative_to(ROOT)} and cpu_vs_onnxruntime.json")


if __name__ == "__main__":
    main()
