"""Single ONNX ops: shardscore's engine against ONNX Runtime, op by op, attribute by attribute.

What it checks: every standard-domain op in the engine's op table (src/engine/op_registry.cpp, kOps;
plus com.microsoft Gelu and the ai.onnx.ml ops) is run on one small model per case through
<build>/bench/engine_bench --dump (the engine the way a job runs it: graph passes included, so a
Gemm with constant weights runs as FusedGemm, a 16-channel Conv on oneDNN, constants folded at load),
and ONNX Runtime runs the same model on exactly the dumped inputs. Outputs must agree: shapes and
dtypes exactly, integers and bools exactly, float32 within max|ours - ort| / max(1, max|ort|) <= 1e-5
(1e-4 on CUDA, and looser only where a case says why), NaN where ONNX Runtime has NaN.

The cases are generated from a fixed seed (SEED below, so that test ids and xfail marks are stable):
random shapes and attributes per op, chosen to hit the places where the ONNX spec is easy to misread:
attribute defaults, negative axes, broadcasting, pads / auto_pad / ceil_mode / count_include_pad /
dilations / group, Resize's coordinate and nearest modes, Slice with negative steps and out-of-range
starts / ends, the forms of Split / Squeeze / Unsqueeze / Reduce* / Softmax / Clip / Pad before and
after the opsets that changed them, Gemm's transA / transB / alpha / beta, Gather / GatherND negative
indices and batch_dims, ArgMax keepdims / select_last_index, Cast types, and so on.

Why ONNX Runtime is the oracle: it is the reference implementation exporters and users test their
models against (what "the model's output" means in practice), its CPU kernels follow the spec's
reference semantics op by op, and the e2e suite already uses it as the oracle for whole models. Where
ONNX Runtime (the version pinned in scripts/requirements.txt) itself departs from the spec (SAME padding
without the dilation, integer Pow through double, the mask of inference Dropout before opset 12, ...) the case says why in `why` and takes the spec's
answer instead: the ONNX reference implementation (onnx.reference), the spec's formula in numpy, or ORT's
output cut to the spec's shape. Where the spec leaves a result undefined (ReduceMean of nothing, NaN in
MaxPool) no case asserts one.

A case the engine refuses on purpose (a clear Unimplemented / InvalidArgument for an attribute or form
it does not support) is asserted as such: exit 2 and an error naming the op, never skipped. A case
where the engine disagrees with the spec is marked xfail(strict=True) with the spec line it breaks, so
that this file passes today and flags the fix when it lands.

Backends: `cpu` always; `cuda` (--backend cuda) skips with the reason when this build has no CUDA or
no GPU is visible (`shardscore --version` says so). SHARDSCORE_E2E_BACKEND=cuda (tools/gpu_check.sh's
ops-vs-ort step) runs the cuda cases only; SHARDSCORE_ENGINE_BENCH names engine_bench where it is not
beside SHARDSCORE_BIN in bench/.

Speed: engine_bench costs ~0.1 s a start, so the cases that can share a model (same opset and batch, ONNX
Runtime as the oracle, nothing expected to fail) run as one model of independent subgraphs, names prefixed per
case; a shared run that fails in any way falls back to its cases one by one, so each verdict is its own case's.

Run alone: `python tests/e2e/test_ops_vs_onnxruntime.py [substring] [-v] [--single]` prints the verdicts that
differ from the expectation (all with -v; --single runs every case in a model of its own).
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper
from ort_integer import exact_matmul_integer, run_rows
from skl2onnx_export import skl2onnx_export

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("SHARDSCORE_BIN", str(REPO / "build" / "shardscore"))).resolve()
# The GPU bundle (tools/gpu_check.sh) puts engine_bench elsewhere and names it.
BENCH = Path(os.environ.get("SHARDSCORE_ENGINE_BENCH", str(BIN.parent / "bench" / "engine_bench"))).resolve()
# SHARDSCORE_E2E_BACKEND (cpu or cuda; tools/gpu_check.sh sets it) keeps that backend's cases only.
BACKENDS = (os.environ["SHARDSCORE_E2E_BACKEND"],) if os.environ.get("SHARDSCORE_E2E_BACKEND") else ("cpu", "cuda")
SEED = 20240611
TIMEOUT_S = 60
I64_MAX = np.iinfo(np.int64).max
I64_MIN = np.iinfo(np.int64).min

FLOAT, DOUBLE, F16 = TP.FLOAT, TP.DOUBLE, TP.FLOAT16
I8, U8, I16, I32, I64, BOOL = TP.INT8, TP.UINT8, TP.INT16, TP.INT32, TP.INT64, TP.BOOL


# ---- cases ----------------------------------------------------------------------------------------

@dataclass
class Case:
    id: str
    opset: int
    nodes: list
    inputs: list                 # [(name, elem_type, shape)], shape[0] is the batch (declared symbolic unless fixed0)
    inits: list = field(default_factory=list)
    outputs: tuple = ("y",)
    refuse: str | None = None    # expected: exit 2 and this text (besides the op type) in the error
    xfail: str | None = None     # a known shardscore bug (the spec line it breaks)
    tol: float = 1e-5
    fixed0: bool = False         # declare the first dimension fixed rather than symbolic
    extra_opsets: dict = field(default_factory=dict)
    op: str = ""
    # Where ONNX Runtime departs from the spec: "reference" (onnx.reference.ReferenceEvaluator, the
    # spec's own Python implementation) or a function feeds -> {output: array}; `why` says why.
    oracle: object = "ort"
    why: str = ""

    @property
    def batch(self) -> int:
        return int(self.inputs[0][2][0]) if self.inputs else 1


CASES: list[Case] = []


def N(op, ins, outs=("y",), **attrs):
    return helper.make_node(op, list(ins), list(outs), **attrs)


def T(name, arr, dtype=None):
    arr = np.asarray(arr, dtype=dtype) if dtype is not None else np.asarray(arr)
    return numpy_helper.from_array(arr, name)


def fmt(v) -> str:
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ",".join(fmt(x) for x in v) + "]"
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (int, np.integer)):
        v = int(v)
        return "MAX" if v == I64_MAX else "MIN" if v == I64_MIN else str(v)
    return str(v)


def shp(s) -> str:
    return "x".join(str(int(d)) for d in s) if len(s) else "scalar"


def add(op, opset, nodes, inputs, tag="", **kw):
    cid = f"{op}-v{opset}" + (f"-{tag}" if tag else "")
    base, k = cid, 2
    while any(c.id == cid for c in CASES):
        cid, k = f"{base}#{k}", k + 1
    CASES.append(Case(cid, opset, nodes, inputs, op=op, **kw))


def one(op, opset, x_shape, attrs=None, inits=(), extra_ins=(), tag=None, x_type=FLOAT, x_name="x", **kw):
    """A one-node case: input 0 is graph input x, then `extra_ins` (initializer names, '' for absent)."""
    attrs = {k: v for k, v in (attrs or {}).items() if v is not None}
    tag = tag if tag is not None else ",".join([f"x={shp(x_shape)}"] + [f"{k}={fmt(v)}" for k, v in attrs.items()])
    add(op, opset, [N(op, [x_name, *extra_ins], kw.pop("outs", ("y",)), **attrs)],
        [(x_name, x_type, list(x_shape))], tag=tag, inits=list(inits), **kw)


def rng_for(name: str) -> np.random.Generator:
    return np.random.default_rng(SEED + zlib.crc32(name.encode()))


def rshape(r, rank, lo=1, hi=5):
    return [int(v) for v in r.integers(lo, hi + 1, size=rank)]


# -- element-wise binary ops --

def gen_binary():
    for op in ("Add", "Sub", "Mul", "Div"):
        r = rng_for(op)
        for opset in (7, 13, 14):
            x = rshape(r, int(r.integers(2, 5)), 2, 4)
            # the other operand: same shape, a suffix, ones sprinkled in, a scalar, a higher rank
            suffix = x[int(r.integers(1, len(x))):]
            ones = [d if r.random() < 0.5 else 1 for d in x]
            higher = [3] + [1] * len(x)
            variants = {7: [suffix], 13: [ones, []], 14: [higher]}[opset]
            for s in variants:
                b = r.standard_normal(s).astype(np.float32)
                if op == "Div":
                    b = np.where(np.abs(b) < 0.1, 0.5, b).astype(np.float32)
                one(op, opset, x, inits=[T("b", b)], extra_ins=["b"], tag=f"x={shp(x)},b={shp(s)}")
        # b as the first operand (output larger than x), and both graph inputs
        add(op, 13, [N(op, ["b", "x"])], [("x", FLOAT, [2, 3, 1])], tag="b_first,x=2x3x1,b=4x1x1x5",
            inits=[T("b", (r.standard_normal([4, 1, 1, 5]) + 3).astype(np.float32))])
        add(op, 14, [N(op, ["x", "x2"])], [("x", FLOAT, [3, 4, 1]), ("x2", FLOAT, [3, 1, 5])], tag="two_inputs_broadcast")
        # integers: input_ids are uniform in [0, 1000)
        for it in (I64, I32):
            if op == "Div":
                b = np.array([3, -7, 1, -1, 250], dtype=np.int64 if it == I64 else np.int32)
            else:
                b = r.integers(-1000, 1000, size=[5]).astype(np.int64 if it == I64 else np.int32)
            add(op, 14, [N(op, ["input_ids", "b"])], [("input_ids", it, [3, 5])], tag=f"{'int64' if it == I64 else 'int32'}",
                inits=[T("b", b)])
        if op == "Div":  # truncation toward zero for negative integer quotients (C and ORT)
            add(op, 14, [N("Sub", ["input_ids", "c500"], ["t"]), N("Div", ["t", "b"])], [("input_ids", I64, [4, 6])],
                tag="int64_negative_dividend",
                inits=[T("c500", np.int64(500)), T("b", np.array([7, -7, 3, -3, 1000, -1], np.int64))])


# -- unary ops --

def gen_unary():
    r = rng_for("unary")
    for op, opsets in (("Relu", (6, 13, 14)), ("Sigmoid", (6, 13)), ("Tanh", (6, 13)), ("Neg", (6, 13)),
                       ("Sqrt", (6, 13)), ("Erf", (9, 13))):
        for opset in opsets:
            one(op, opset, rshape(r, int(r.integers(1, 5)), 1, 5))
        # a wide range of values: x * 30
        add(op, opsets[-1], [N("Mul", ["x", "k"], ["t"]), N(op, ["t"])], [("x", FLOAT, [4, 64])],
            tag="x=4x64,times30", inits=[T("k", np.float32(30))])
    for it, name in ((I64, "int64"), (I32, "int32")):
        one("Neg", 13, [3, 4], x_type=it, x_name="input_ids", tag=name)
    one("Relu", 14, [3, 4], x_type=I32, x_name="input_ids", tag="int32",
        refuse="not supported")
    for opset in (6, 16):
        one("LeakyRelu", opset, [3, 7])
        one("LeakyRelu", opset, [2, 3, 4], {"alpha": float(np.float32(r.uniform(0, 1)))})
    # DepthToSpace (DCR, CRD) and SpaceToDepth: blocks of channels moved to space and back
    for opset, attrs in ((1, {"blocksize": 2}), (13, {"blocksize": 3, "mode": "DCR"}), (13, {"blocksize": 2, "mode": "CRD"})):
        one("DepthToSpace", opset, [2, 18 if attrs["blocksize"] == 3 else 8, 3, 5], attrs)
    for opset, b in ((1, 2), (13, 3)):
        one("SpaceToDepth", opset, [2, 3, 6, 12], {"blocksize": b})
    # PRelu: a slope per channel (torch's nn.PReLU(C)), one slope, a slope of X's shape; float64 from opset 9
    for opset in (7, 9, 16):
        one("PRelu", opset, [2, 3, 4, 4], inits=[T("s", r.uniform(-1, 1, [3, 1, 1]).astype(np.float32))], extra_ins=["s"],
            tag="slope=3x1x1")
    one("PRelu", 16, [5, 8], inits=[T("s", np.array([0.25], np.float32))], extra_ins=["s"], tag="slope=1")
    one("PRelu", 16, [5, 8], inits=[T("s", r.uniform(-1, 1, [5, 8]).astype(np.float32))], extra_ins=["s"], tag="slope=x")
    one("PRelu", 16, [4, 6], inits=[T("s", r.uniform(-1, 1, [6]))], extra_ins=["s"], x_type=DOUBLE, tag="float64")
    add("PRelu", 16, [N("Cast", ["x"], ["h"], to=F16), N("PRelu", ["h", "s"], ["p"]), N("Cast", ["p"], ["y"], to=FLOAT)],
        [("x", FLOAT, [4, 6])], inits=[T("s", r.uniform(-1, 1, [6]).astype(np.float16))], tol=HALF_TOL, tag="float16")
    one("PRelu", 16, [3], inits=[T("s", r.uniform(-1, 1, [2, 3]).astype(np.float32))], extra_ins=["s"],
        tag="slope_beyond_x_refused", refuse="does not broadcast to X's shape")
    for opset in (6,):
        one("HardSigmoid", opset, [3, 7])
        one("HardSigmoid", opset, [3, 7], {"alpha": 0.5, "beta": 0.25})
        add("HardSigmoid", 7, [N("Mul", ["x", "k"], ["t"]), N("HardSigmoid", ["t"], alpha=0.3, beta=0.6)],
            [("x", FLOAT, [4, 32])], tag="x*4,alpha=0.3,beta=0.6", inits=[T("k", np.float32(4))])
    for opset in (14,):
        add("HardSwish", opset, [N("Mul", ["x", "k"], ["t"]), N("HardSwish", ["t"])], [("x", FLOAT, [4, 32])],
            tag="x*4", inits=[T("k", np.float32(4))])
        one("HardSwish", opset, [2, 3, 5])
    for approx in (None, "none", "tanh"):
        one("Gelu", 20, [3, 4, 5], {"approximate": approx})
    one("Gelu", 20, [3, 4], {"approximate": "erf"}, refuse="approximate")
    add("Gelu", 17, [N("Gelu", ["x"], domain="com.microsoft")], [("x", FLOAT, [3, 4, 5])], tag="com.microsoft",
        extra_opsets={"com.microsoft": 1})
    # IsNaN: NaN from Sqrt of negatives
    for opset in (9, 13):
        add("IsNaN", opset, [N("Sqrt", ["x"], ["t"]), N("IsNaN", ["t"])], [("x", FLOAT, [3, 5])], tag="sqrt_of_x")
    # Not / And / Or / Xor on bools made from x: trunc(x) == 0 for |x| < 1. (Not Cast(Cast(x, int64), bool):
    # ONNX Runtime folds that pair into one Cast to bool, even with every optimization off,
    # microsoft/onnxruntime#11994 / #13418.)
    def boolify(src, dst):
        return [N("Cast", [src], [dst + "_i"], to=I64), N("Equal", [dst + "_i", "zero"], [dst])]
    zero = [T("zero", np.int64(0))]
    add("Not", 11, boolify("x", "b") + [N("Not", ["b"])], [("x", FLOAT, [4, 6])], tag="x=4x6", inits=zero)
    for op in ("And", "Or", "Xor"):
        for opset in (11,):
            add(op, opset, boolify("x", "a") + [N("Mul", ["x", "k"], ["x3"])] + boolify("x3", "b") + [N(op, ["a", "b"])],
                [("x", FLOAT, [4, 6])], tag="same_shape", inits=[T("k", np.float32(1.7))] + zero)
            add(op, opset, boolify("x", "a") + [N(op, ["a", "c"])], [("x", FLOAT, [2, 3, 4])], tag="broadcast_init_3x1",
                inits=[T("c", np.array([[True], [False], [True]]))] + zero)
        add(op, 7, [N(op, ["x", "x"])], [("x", FLOAT, [2, 3])], tag="float_refused", refuse="bool")


# -- Softmax --

def gen_softmax():
    r = rng_for("Softmax")
    for opset in (1, 11, 13):
        for _ in range(2):
            rank = int(r.integers(2, 5))
            x = rshape(r, rank, 2, 5)
            axis = int(r.integers(-rank, rank)) if r.random() < 0.8 else None
            one("Softmax", opset, x, {"axis": axis})
    one("Softmax", 11, [2, 3, 4])  # default axis 1, flattening [3, 4]
    one("Softmax", 13, [2, 3, 4])  # default axis -1
    one("Softmax", 13, [2, 3, 4], {"axis": 0})
    add("Softmax", 13, [N("Mul", ["x", "k"], ["t"]), N("Softmax", ["t"], axis=1)], [("x", FLOAT, [2, 40, 3])],
        tag="x*50,axis=1,inner=3", inits=[T("k", np.float32(50))])


# -- Gemm, MatMul --

def gen_gemm():
    r = rng_for("Gemm")
    combos = [(0, 0), (0, 1), (1, 0), (1, 1)]
    for opset in (9, 13):
        for ta, tb in combos:
            m, k, n = (int(v) for v in r.integers(2, 7, size=3))
            a_shape = [k, m] if ta else [m, k]
            b_shape = [n, k] if tb else [k, n]
            alpha = float(np.float32(r.uniform(-2, 2))) if r.random() < 0.5 else None
            beta = float(np.float32(r.uniform(-2, 2))) if r.random() < 0.5 else None
            c_shape = [[n], [1, n], [m, 1], [m, n], [], [1]][int(r.integers(0, 6))]
            use_c = opset < 11 or r.random() < 0.8
            inits = [T("B", r.standard_normal(b_shape).astype(np.float32))]
            ins = ["B"]
            if use_c:
                inits.append(T("C", r.standard_normal(c_shape).astype(np.float32)))
                ins.append("C")
            one("Gemm", opset, a_shape, {"transA": ta or None, "transB": tb or None, "alpha": alpha, "beta": beta},
                inits=inits, extra_ins=ins,
                tag=f"A={shp(a_shape)},B={shp(b_shape)},C={shp(c_shape) if use_c else 'none'},transA={ta},transB={tb},"
                    f"alpha={fmt(alpha)},beta={fmt(beta)}")
    # B a graph input too (no FusedGemm: the plain Gemm kernel)
    for ta, tb in combos:
        add("Gemm", 13, [N("Gemm", ["a", "b", "C"], transA=ta, transB=tb, alpha=0.5, beta=2.0)],
            [("a", FLOAT, [4, 4]), ("b", FLOAT, [4, 4])], tag=f"B_input,transA={ta},transB={tb},alpha=0.5,beta=2",
            inits=[T("C", r.standard_normal([4]).astype(np.float32))])
    one("Gemm", 13, [3, 5], {"beta": 0.0}, inits=[T("B", r.standard_normal([5, 2]).astype(np.float32)),
                                                  T("C", np.full([3, 2], np.inf, np.float32))],
        extra_ins=["B", "C"], tag="beta=0,C=inf")
    # fused activation after Gemm
    for act in ("Relu", "Sigmoid", "Tanh"):
        add("Gemm", 13, [N("Gemm", ["x", "B", "C"], ["g"], transB=1), N(act, ["g"], ["y"])], [("x", FLOAT, [5, 6])],
            tag=f"then_{act}", inits=[T("B", r.standard_normal([4, 6]).astype(np.float32)),
                                      T("C", r.standard_normal([4]).astype(np.float32))])


def gen_matmul():
    r = rng_for("MatMul")
    shapes = [([3, 4], [4, 5]), ([4], [4, 3]), ([3, 4], [4]), ([2, 3, 4], [4, 5]), ([2, 3, 4], [2, 4, 5]),
              ([2, 1, 3, 4], [5, 4, 2]), ([6], [2, 6, 3]), ([2, 3, 4], [1, 4, 2]), ([3, 1, 2, 4], [2, 4, 3]),
              ([5, 3], [3, 1])]
    for i, (a, b) in enumerate(shapes):
        opset = (1, 9, 13)[i % 3]
        one("MatMul", opset, a, inits=[T("B", r.standard_normal(b).astype(np.float32))], extra_ins=["B"],
            tag=f"A={shp(a)},B={shp(b)}")
    add("MatMul", 13, [N("MatMul", ["a", "b"])], [("a", FLOAT, [2, 3, 4]), ("b", FLOAT, [2, 4, 3])],
        tag="both_inputs_batched")
    # MatMul + Add (fused into FusedGemm when B is a 2-D constant and the bias a row)
    for a, bias in (([4, 6], [3]), ([2, 4, 6], [1, 3]), ([6], [3]), ([4, 6], [4, 3]), ([4, 6], [1])):
        add("MatMul", 13, [N("MatMul", ["x", "W"], ["t"]), N("Add", ["t", "bias"])], [("x", FLOAT, a)],
            tag=f"then_Add,A={shp(a)},bias={shp(bias)}",
            inits=[T("W", r.standard_normal([6, 3]).astype(np.float32)),
                   T("bias", r.standard_normal(bias).astype(np.float32))])
    add("MatMul", 13, [N("MatMul", ["x", "W"], ["t"]), N("Add", ["bias", "t"])], [("x", FLOAT, [6])],
        tag="then_Add,A=6,bias=1x3_first",
        inits=[T("W", r.standard_normal([6, 3]).astype(np.float32)), T("bias", r.standard_normal([1, 3]).astype(np.float32))])


# -- shape-only ops --

def gen_flatten_reshape_identity():
    r = rng_for("Flatten")
    for opset in (1, 9, 11, 13):
        for _ in range(1):
            rank = int(r.integers(1, 5))
            x = rshape(r, rank, 1, 4)
            lo = -rank if opset >= 11 else 0
            axis = int(r.integers(lo, rank + 1)) if r.random() < 0.8 else None
            one("Flatten", opset, x, {"axis": axis})
    one("Flatten", 13, [2, 3, 4], {"axis": 3})
    one("Flatten", 13, [2, 3, 4], {"axis": 0})
    one("Flatten", 13, [2, 3, 4], {"axis": -3})
    for opset, x, s, allow in ((5, [2, 3, 4], [0, -1], None), (13, [2, 3, 4], [-1], None), (13, [2, 3, 4], [4, 0, 2], None),
                               (14, [2, 3, 4], [2, 0, -1, 1], 0), (14, [2, 3, 4], [2, 12], 1),
                               (14, [2, 0, 4], [0, 4, 5], 1), (14, [2, 6], [3, -1, 2], None), (21, [2, 3, 4], [24], None),
                               (13, [2, 3, 4], [2, 0, 0, 1], None), (14, [2, 3, 4], [0, 12], 1)):
        one("Reshape", opset, x, {"allowzero": allow}, inits=[T("s", np.array(s, np.int64))], extra_ins=["s"],
            tag=f"x={shp(x)},shape={fmt(s)},allowzero={fmt(allow)}",
            refuse="cannot reshape" if (s, allow) == ([0, 12], 1) else None)
    for opset in (1, 13, 14, 16, 21):
        one("Identity", opset, rshape(r, 3, 1, 4))
    one("Identity", 14, [3, 4], x_type=I64, x_name="input_ids", tag="int64")


def gen_constant():
    r = rng_for("Constant")
    v = r.standard_normal([3, 4]).astype(np.float32)
    forms = [(9, {"value": T("v", v)}, "value_tensor"), (13, {"value_float": 0.25}, "value_float"),
             (13, {"value_floats": [1.5, -2.0, 3.0, 0.5]}, "value_floats"),
             (13, {"value_int": 7}, "value_int"), (13, {"value_ints": [1, -2, 3, 4]}, "value_ints")]
    for opset, attrs, tag in forms:
        if "value_int" in tag:
            add("Constant", opset, [N("Constant", [], ["c"], **attrs), N("Add", ["input_ids", "c"])],
                [("input_ids", I64, [3, 4])], tag=tag)
        else:
            add("Constant", opset, [N("Constant", [], ["c"], **attrs), N("Add", ["x", "c"])],
                [("x", FLOAT, [3, 4])], tag=tag)
    add("Constant", 13, [N("Constant", [], ["c"], value=T("v", v)), N("Identity", ["x"], ["y"])],
        [("x", FLOAT, [3, 4])], outputs=("y", "c"), tag="as_graph_output")


def gen_cast():
    # from float32 x * 3.7 (N(0,1) scaled: in range of every signed target; unsigned ones get Relu(x) * 50)
    add("Cast", 6, [N("Cast", ["x"], to=I32)], [("x", FLOAT, [3, 5])], tag="float_to_int32")
    for opset, to in ((9, I64), (13, I8), (13, I16), (13, DOUBLE), (13, BOOL), (13, F16), (19, FLOAT),
                      (21, I64)):
        add("Cast", opset, [N("Mul", ["x", "k"], ["t"]), N("Cast", ["t"], to=to)], [("x", FLOAT, [4, 8])],
            tag=f"float_to_{TP.DataType.Name(to).lower()}", inits=[T("k", np.float32(3.7))])
    for to in (U8, TP.UINT16, TP.UINT32, TP.UINT64):
        add("Cast", 13, [N("Relu", ["x"], ["p"]), N("Mul", ["p", "k"], ["t"]), N("Cast", ["t"], to=to)],
            [("x", FLOAT, [4, 8])], tag=f"relu_float_to_{TP.DataType.Name(to).lower()}", inits=[T("k", np.float32(50))])
    for to in (FLOAT, I32, BOOL, F16, DOUBLE, I8, U8):
        add("Cast", 13, [N("Cast", ["input_ids"], to=to)], [("input_ids", I64, [3, 6])],
            tag=f"int64_to_{TP.DataType.Name(to).lower()}")
    add("Cast", 13, [N("Cast", ["input_ids"], to=I64)], [("input_ids", I32, [3, 6])], tag="int32_to_int64")
    # round trips through float16 / bfloat16 / double
    for mid in (F16, TP.BFLOAT16, DOUBLE):
        add("Cast", 13, [N("Cast", ["x"], ["h"], to=mid), N("Cast", ["h"], to=FLOAT)], [("x", FLOAT, [3, 7])],
            tag=f"float_{TP.DataType.Name(mid).lower()}_float")
    add("Cast", 13, [N("Cast", ["x"], to=TP.STRING)], [("x", FLOAT, [2, 3])], tag="to_string", refuse="element type STRING")


def gen_concat():
    r = rng_for("Concat")
    for opset in (4, 11, 13):
        for _ in range(2):
            rank = int(r.integers(1, 5))
            x = rshape(r, rank, 1, 4)
            lo = -rank if opset >= 11 else 0
            axis = int(r.integers(lo, rank))
            others = []
            for j in range(int(r.integers(1, 3))):
                s = list(x)
                s[axis] = int(r.integers(0 if j else 1, 4))
                others.append(s)
            inits = [T(f"c{j}", r.standard_normal(s).astype(np.float32)) for j, s in enumerate(others)]
            names = [f"c{j}" for j in range(len(others))]
            order = ["x", *names] if r.random() < 0.5 else [names[0], "x", *names[1:]]
            add("Concat", opset, [N("Concat", order, axis=axis)], [("x", FLOAT, x)], inits=inits,
                tag=f"x={shp(x)},others={'+'.join(shp(s) for s in others)},axis={axis},order={'x_first' if order[0] == 'x' else 'x_second'}")
    add("Concat", 13, [N("Concat", ["input_ids", "c"], axis=-1)], [("input_ids", I64, [2, 3])],
        inits=[T("c", np.array([[1], [2]], np.int64))], tag="int64,axis=-1")


def gen_argmax():
    r = rng_for("ArgMax")
    for opset in (1, 11, 12, 13):
        for _ in range(2):
            rank = int(r.integers(1, 5))
            x = rshape(r, rank, 1, 5)
            lo = -rank if opset >= 11 else 0
            attrs = {"axis": int(r.integers(lo, rank)) if r.random() < 0.8 else None,
                     "keepdims": int(r.integers(0, 2)) if r.random() < 0.7 else None}
            if opset >= 12:
                attrs["select_last_index"] = int(r.integers(0, 2))
            one("ArgMax", opset, x, attrs)
    # ties: trunc(x) as an integer has many equal values
    for last in (0, 1):
        add("ArgMax", 12, [N("Cast", ["x"], ["t"], to=I32), N("ArgMax", ["t"], axis=1, keepdims=0, select_last_index=last)],
            [("x", FLOAT, [4, 9])], tag=f"int32_ties,axis=1,keepdims=0,select_last_index={last}")
        add("ArgMax", 13, [N("Cast", ["x"], ["t"], to=I64), N("ArgMax", ["t"], axis=0, select_last_index=last)],
            [("x", FLOAT, [5, 4])], tag=f"int64_ties,axis=0,select_last_index={last}")
        add("ArgMax", 13, [N("Cast", ["x"], ["t"], to=I32), N("ArgMax", ["t"], axis=-1, select_last_index=last)],
            [("x", FLOAT, [3, 2, 7])], tag=f"int32_ties,axis=-1,select_last_index={last}")


# -- Conv, pools, BatchNormalization --

def gen_conv():
    r = rng_for("Conv")
    specs = [
        dict(c=3, m=4, k=(3, 3)),
        dict(c=2, m=3, k=(2, 3), strides=[2, 1], pads=[1, 0, 0, 2]),
        dict(c=4, m=4, k=(3, 3), group=2, dilations=[2, 1], pads=[2, 1, 2, 1]),
        dict(c=4, m=4, k=(3, 3), group=4, strides=[2, 2], pads=[1, 1, 1, 1]),  # depthwise
        dict(c=3, m=6, k=(3, 3), group=3, pads=[0, 1, 2, 0]),                   # depthwise multiplier 2
        dict(c=4, m=4, k=(3, 2), group=4, strides=[1, 3], dilations=[1, 2], pads=[0, 2, 1, 1]),
        dict(c=3, m=5, k=(3, 3), auto_pad="SAME_UPPER", strides=[2, 2]),
        dict(c=3, m=5, k=(2, 2), auto_pad="SAME_LOWER", strides=[2, 1]),
        dict(c=3, m=5, k=(4, 4), auto_pad="SAME_LOWER", strides=[1, 1]),
        dict(c=4, m=4, k=(3, 3), auto_pad="SAME_UPPER", group=4, strides=[2, 2]),
        dict(c=3, m=5, k=(3, 3), auto_pad="VALID", strides=[2, 2]),
        dict(c=2, m=3, k=(1, 1), strides=[2, 2]),
        dict(c=2, m=3, k=(1, 1), bias=False, kernel_shape=True),
        dict(c=3, m=16, k=(3, 3), pads=[1, 1, 1, 1]),                          # oneDNN, NCHW stem
        dict(c=16, m=16, k=(3, 3), pads=[1, 1, 1, 1]),                         # oneDNN blocked (Winograd)
        dict(c=16, m=32, k=(3, 3), strides=[2, 2], pads=[0, 1, 1, 0], dilations=[1, 2]),
        dict(c=16, m=16, k=(1, 1), auto_pad="SAME_UPPER", strides=[2, 2]),
        dict(c=3, m=16, k=(5, 5), auto_pad="SAME_LOWER", strides=[2, 2]),
        dict(c=5, m=16, k=(3, 3), pads=[1, 1, 1, 1]),                          # not oneDNN (5 channels)
    ]
    for i, s in enumerate(specs):
        n_img = int(r.integers(1, 3))
        hw = [int(v) for v in r.integers(5, 9, size=2)]
        x = [n_img, s["c"], *hw]
        g = s.get("group", 1)
        w = (r.standard_normal([s["m"], s["c"] // g, *s["k"]]) * 0.5).astype(np.float32)
        inits = [T("W", w)]
        ins = ["W"]
        if s.get("bias", True):
            inits.append(T("B", r.standard_normal([s["m"]]).astype(np.float32)))
            ins.append("B")
        attrs = {"strides": s.get("strides"), "pads": s.get("pads"), "dilations": s.get("dilations"),
                 "group": s.get("group"), "auto_pad": s.get("auto_pad"),
                 "kernel_shape": list(s["k"]) if s.get("kernel_shape") else None}
        opset = (1, 11)[i % 2]
        one("Conv", opset, x, attrs, inits=inits, extra_ins=ins,
            tag=f"x={shp(x)},W={shp(w.shape)}," + ",".join(f"{k}={fmt(v)}" for k, v in attrs.items() if v is not None))
    # Conv + Relu / + residual (FusedConv), Conv + BatchNormalization (folded), Conv -> MaxPool (blocked pool)
    w = (r.standard_normal([16, 3, 3, 3]) * 0.5).astype(np.float32)
    b = r.standard_normal([16]).astype(np.float32)
    add("Conv", 11, [N("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]), N("Relu", ["c"])], [("x", FLOAT, [2, 3, 6, 6])],
        tag="then_Relu,m=16", inits=[T("W", w), T("B", b)])
    add("Conv", 11, [N("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]), N("Add", ["c", "x"], ["s"]), N("Relu", ["s"])],
        [("x", FLOAT, [2, 3, 6, 6])], tag="then_Add_x_Relu,m=3",
        inits=[T("W", (r.standard_normal([3, 3, 3, 3]) * 0.5).astype(np.float32)), T("B", b[:3])])
    bn = [T("s", r.uniform(0.5, 2, 16).astype(np.float32)), T("bb", r.standard_normal(16).astype(np.float32)),
          T("mu", r.standard_normal(16).astype(np.float32)), T("var", r.uniform(0.1, 3, 16).astype(np.float32))]
    add("Conv", 11, [N("Conv", ["x", "W", "B"], ["c"], strides=[2, 2]),
                     N("BatchNormalization", ["c", "s", "bb", "mu", "var"], epsilon=1e-3)],
        [("x", FLOAT, [2, 3, 7, 7])], tag="then_BatchNormalization,m=16", inits=[T("W", w), T("B", b), *bn])
    add("Conv", 12, [N("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]),
                     N("MaxPool", ["c"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])],
        [("x", FLOAT, [2, 3, 9, 9])], tag="then_MaxPool3x3s2p1,m=16", inits=[T("W", w), T("B", b)])
    add("Conv", 12, [N("Conv", ["x", "W", "B"], ["c"]),
                     N("MaxPool", ["c"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)],
        [("x", FLOAT, [1, 3, 8, 8])], tag="then_MaxPool2x2s2_ceil,m=16", inits=[T("W", w), T("B", b)])
    # 1-D convolutions (X [N, C, L]: audio, text, temporal nets), run as 2-D ones on [N, C, 1, L] (a graph pass);
    # their own generator, so that the 2-D cases above keep their ids.
    r = rng_for("Conv1d")
    specs = [
        dict(c=3, m=4, k=3),
        dict(c=2, m=3, k=3, strides=[2], pads=[1, 2]),
        dict(c=4, m=6, k=3, group=2, dilations=[2], pads=[2, 1]),
        dict(c=4, m=4, k=5, group=4, strides=[2], pads=[2, 2]),                # depthwise
        dict(c=3, m=6, k=3, group=3, dilations=[3], pads=[0, 3]),              # depthwise multiplier 2
        dict(c=3, m=5, k=4, auto_pad="SAME_UPPER", strides=[2]),
        dict(c=3, m=5, k=4, auto_pad="SAME_LOWER", strides=[3]),
        dict(c=3, m=5, k=2, auto_pad="SAME_LOWER"),
        dict(c=4, m=4, k=3, auto_pad="SAME_UPPER", group=4, strides=[2]),
        dict(c=3, m=5, k=3, auto_pad="VALID", strides=[2]),
        dict(c=2, m=3, k=1, bias=False, kernel_shape=True),
        dict(c=2, m=3, k=3, strides=[2], dilations=[2], kernel_shape=True),
        dict(c=1, m=16, k=10, strides=[5]),                                    # a raw-audio stem (wav2vec2's first layer)
        dict(c=16, m=16, k=3, pads=[1, 1]),                                    # oneDNN blocked
        dict(c=16, m=32, k=3, strides=[2], dilations=[2], pads=[0, 1]),
        dict(c=16, m=16, k=4, auto_pad="SAME_LOWER", strides=[2]),
    ]
    for i, s in enumerate(specs):
        x = [int(r.integers(1, 3)), s["c"], int(r.integers(10, 17))]
        g = s.get("group", 1)
        w = (r.standard_normal([s["m"], s["c"] // g, s["k"]]) * 0.5).astype(np.float32)
        inits, ins = [T("W", w)], ["W"]
        if s.get("bias", True):
            inits.append(T("B", r.standard_normal([s["m"]]).astype(np.float32)))
            ins.append("B")
        attrs = {"strides": s.get("strides"), "pads": s.get("pads"), "dilations": s.get("dilations"),
                 "group": s.get("group"), "auto_pad": s.get("auto_pad"),
                 "kernel_shape": [s["k"]] if s.get("kernel_shape") else None}
        one("Conv", (1, 11)[i % 2], x, attrs, inits=inits, extra_ins=ins,
            tag=f"1d,x={shp(x)},W={shp(w.shape)}," + ",".join(f"{k}={fmt(v)}" for k, v in attrs.items() if v is not None))
    # Conv1d -> BatchNorm1d -> ReLU -> MaxPool1d (one FusedConv on oneDNN, then a blocked pool); a residual block
    # (Conv1d -> BatchNorm1d -> ReLU -> Conv1d -> + x -> ReLU) ending in AvgPool1d.
    w1 = (r.standard_normal([16, 16, 3]) * 0.3).astype(np.float32)
    w2 = (r.standard_normal([16, 16, 3]) * 0.3).astype(np.float32)
    bn1 = [T("s", r.uniform(0.5, 2, 16).astype(np.float32)), T("bb", r.standard_normal(16).astype(np.float32)),
           T("mu", r.standard_normal(16).astype(np.float32)), T("var", r.uniform(0.1, 3, 16).astype(np.float32))]
    add("Conv", 11, [N("Conv", ["x", "W"], ["c"], pads=[1, 1]), N("BatchNormalization", ["c", "s", "bb", "mu", "var"], ["n"]),
                     N("Relu", ["n"], ["r"]), N("MaxPool", ["r"], kernel_shape=[3], strides=[2], pads=[1, 1])],
        [("x", FLOAT, [2, 16, 15])], tag="1d,then_BatchNormalization_Relu_MaxPool,m=16", inits=[T("W", w1), *bn1])
    add("Conv", 11, [N("Conv", ["x", "W", "B"], ["c"], pads=[2, 2], dilations=[2]),
                     N("BatchNormalization", ["c", "s", "bb", "mu", "var"], ["n"]), N("Relu", ["n"], ["r"]),
                     N("Conv", ["r", "W2"], ["c2"], pads=[1, 1]), N("Add", ["c2", "x"], ["a"]), N("Relu", ["a"], ["r2"]),
                     N("AveragePool", ["r2"], kernel_shape=[2], strides=[2], ceil_mode=1)],
        [("x", FLOAT, [2, 16, 13])], tag="1d,residual_block_then_AveragePool_ceil,m=16",
        inits=[T("W", w1), T("B", r.standard_normal(16).astype(np.float32)), *bn1, T("W2", w2)])
    # 3-D convolutions: refused (1-D and 2-D spatial only)
    one("Conv", 11, [1, 2, 4, 4, 4], inits=[T("W", r.standard_normal([3, 2, 2, 2, 2]).astype(np.float32))],
        extra_ins=["W"], tag="conv3d_refused", refuse="1-D and 2-D spatial")


def pool_out(n, k, s, pb, pe, d):
    """Spec output size with ceil_mode: ceil((n + pb + pe - d*(k-1) - 1) / s + 1), less a window starting in the
    right padding."""
    out = -(-(n + pb + pe - d * (k - 1) - 1) // s) + 1
    if (out - 1) * s >= n + pb:
        out -= 1
    return out


def spec_pool(op, kernel_shape, strides=None, dilations=None, pads=None, auto_pad="NOTSET", ceil_mode=0,
              count_include_pad=0, **_):
    """MaxPool / AveragePool of input 'x' (any number of spatial axes) by the spec's text, in float64: an oracle
    where ORT departs from it."""
    nd = len(kernel_shape)
    strides, dilations, pads = strides or [1] * nd, dilations or [1] * nd, pads or [0] * (2 * nd)

    def run(feeds):
        x = feeds["x"].astype(np.float64)
        sizes = x.shape[2:]
        out, pb, pe = [], [], []
        for a, size in enumerate(sizes):
            k, s, d = kernel_shape[a], strides[a], dilations[a]
            dk = d * (k - 1) + 1
            if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
                o = -(-size // s)
                total = max(0, (o - 1) * s + dk - size)
                b = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
                out.append(o), pb.append(b), pe.append(total - b)
            elif auto_pad == "VALID":
                out.append(-(-(size - dk + 1) // s)), pb.append(0), pe.append(0)
            else:
                o = (pool_out(size, k, s, pads[a], pads[a + nd], d) if ceil_mode
                     else (size + pads[a] + pads[a + nd] - dk) // s + 1)
                out.append(o), pb.append(pads[a]), pe.append(pads[a + nd])
        y = np.zeros([*x.shape[:2], *out])
        for o in itertools.product(*(range(v) for v in out)):
            taps, inside_pad = [], 0
            for j in itertools.product(*(range(v) for v in kernel_shape)):
                at = [o[a] * strides[a] - pb[a] + j[a] * dilations[a] for a in range(nd)]
                if all(-pb[a] <= at[a] < sizes[a] + pe[a] for a in range(nd)):
                    inside_pad += 1
                if all(0 <= at[a] < sizes[a] for a in range(nd)):
                    taps.append(x[(slice(None), slice(None), *at)])
            t = np.stack(taps)
            y[(slice(None), slice(None), *o)] = (t.max(0) if op == "MaxPool"
                                                 else t.sum(0) / (inside_pad if count_include_pad else len(taps)))
        return {"y": y.astype(np.float32)}
    run.__name__ = f"spec_pool({op})"
    return run


def gen_pool():
    r = rng_for("Pool")
    r1 = rng_for("Pool1d")  # the 1-D cases' own generator, so that the 2-D cases keep their ids
    for op in ("MaxPool", "AveragePool"):
        specs = [dict(k=[2, 2]), dict(k=[3, 3], strides=[2, 2]), dict(k=[3, 2], strides=[2, 1], pads=[1, 0, 1, 1]),
                 dict(k=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
                 dict(k=[2, 2], strides=[2, 2], ceil_mode=1), dict(k=[3, 3], strides=[2, 2], ceil_mode=1, pads=[1, 1, 1, 1]),
                 dict(k=[3, 3], strides=[3, 3], ceil_mode=1, pads=[0, 0, 2, 2]),
                 dict(k=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"), dict(k=[2, 3], strides=[2, 2], auto_pad="SAME_LOWER"),
                 dict(k=[4, 4], strides=[1, 1], auto_pad="SAME_UPPER"), dict(k=[3, 3], strides=[2, 2], auto_pad="VALID"),
                 dict(k=[2, 2], dilations=[2, 2]), dict(k=[3, 2], dilations=[1, 2], strides=[2, 1], pads=[1, 1, 0, 1]),
                 dict(k=[2, 2], dilations=[2, 1], strides=[2, 2], ceil_mode=1)]
        # 1-D (X [N, C, L]), run as 2-D on [N, C, 1, L] by a graph pass.
        specs_1d = [dict(k=[2]), dict(k=[3], strides=[2]), dict(k=[3], strides=[2], pads=[1, 0]),
                    dict(k=[3], strides=[2], pads=[1, 1]), dict(k=[5], strides=[1], pads=[2, 2]),
                    dict(k=[2], strides=[2], ceil_mode=1), dict(k=[3], strides=[2], ceil_mode=1, pads=[1, 1]),
                    dict(k=[3], strides=[3], ceil_mode=1, pads=[0, 2]),
                    dict(k=[3], strides=[2], auto_pad="SAME_UPPER"), dict(k=[2], strides=[2], auto_pad="SAME_LOWER"),
                    dict(k=[4], strides=[1], auto_pad="SAME_UPPER"), dict(k=[4], strides=[3], auto_pad="SAME_LOWER"),
                    dict(k=[3], strides=[2], auto_pad="VALID"),
                    dict(k=[2], dilations=[2]), dict(k=[3], dilations=[2], strides=[2], pads=[1, 1]),
                    dict(k=[2], dilations=[3], strides=[2], ceil_mode=1)]
        for i, s in [*enumerate(specs), *enumerate(specs_1d)]:
            nd = len(s["k"])
            if nd == 2:
                x = [int(r.integers(1, 3)), int(r.integers(1, 4)), int(r.integers(5, 10)), int(r.integers(5, 10))]
            else:
                x = [int(r1.integers(1, 3)), int(r1.integers(1, 5)), int(r1.integers(6, 16))]
            attrs = {"kernel_shape": s["k"], "strides": s.get("strides"), "pads": s.get("pads"),
                     "auto_pad": s.get("auto_pad"), "ceil_mode": s.get("ceil_mode"), "dilations": s.get("dilations")}
            if s.get("ceil_mode") and s.get("pads") in ([0, 0, 2, 2], [0, 2]):
                x[2:] = [6, 8][:nd]  # the last ceil window would start in the right padding (on both axes):
                # the spec drops it ('Sliding windows that would start in the right padded region are ignored')
            tag = None if nd == 2 else "1d," + ",".join([f"x={shp(x)}"] + [f"{k}={fmt(v)}" for k, v in attrs.items() if v is not None])
            if op == "MaxPool":
                opset = 12 if ("dilations" in s or "ceil_mode" in s) else (8, 12)[i % 2]
                if i % 3 == 0 and opset >= 8:
                    attrs["storage_order"] = 0
                one(op, opset, x, attrs, tag=tag)
            else:
                opset = 19 if "dilations" in s else (11 if "ceil_mode" in s else (7, 11)[i % 2])
                pads_given = "pads" in s or "auto_pad" in s or "ceil_mode" in s
                attrs["count_include_pad"] = i % 2 if pads_given else None
                if tag is not None and attrs["count_include_pad"] is not None:
                    tag += f",count_include_pad={attrs['count_include_pad']}"
                one(op, opset, x, attrs, tag=tag)
        one(op, 12, [1, 2, 4, 4, 4], {"kernel_shape": [2, 2, 2]}, tag="3d_refused", refuse="1-D and 2-D spatial")
    one("MaxPool", 12, [1, 2, 6, 6], {"kernel_shape": [2, 2]}, outs=("y", "idx"), outputs=("y", "idx"),
        tag="indices_output_refused", refuse="Indices")
    one("MaxPool", 12, [1, 2, 6], {"kernel_shape": [2]}, outs=("y", "idx"), outputs=("y", "idx"),
        tag="1d,indices_output_refused", refuse="Indices")
    for x in ([2, 3, 5], [2, 3, 4, 5], [1, 2, 3, 2, 4]):
        one("GlobalAveragePool", 1, x)
        one("GlobalMaxPool", 1, x)


def gen_batchnorm():
    r = rng_for("BatchNormalization")
    for opset, x in ((9, [2, 3, 4, 5]), (14, [3, 4]), (15, [2, 5, 6]), (15, [2, 3, 2, 2, 3])):
        c = x[1]
        inits = [T("s", r.uniform(0.5, 2, c).astype(np.float32)), T("b", r.standard_normal(c).astype(np.float32)),
                 T("m", r.standard_normal(c).astype(np.float32)), T("v", r.uniform(0.1, 3, c).astype(np.float32))]
        eps = float(np.float32(r.uniform(1e-5, 1e-1))) if r.random() < 0.5 else None
        one("BatchNormalization", opset, x, {"epsilon": eps}, inits=inits, extra_ins=["s", "b", "m", "v"])
    c = 3
    inits = [T("s", np.ones(c, np.float32)), T("b", np.zeros(c, np.float32)), T("m", np.zeros(c, np.float32)),
             T("v", np.ones(c, np.float32))]
    one("BatchNormalization", 15, [4, 3, 2], {"training_mode": 1}, inits=inits, extra_ins=["s", "b", "m", "v"],
        outs=("y", "rm", "rv"), outputs=("y", "rm", "rv"), refuse="training_mode")


# -- Pad, Resize, Clip --

def gen_pad():
    r = rng_for("Pad")
    x = [2, 3, 4]
    # opset 2: pads / value attributes
    one("Pad", 2, x, {"pads": [0, 1, 2, 1, 0, 1]})
    one("Pad", 2, x, {"pads": [1, 0, 1, 0, 2, 0], "value": 1.5})
    one("Pad", 2, x, {"pads": [0, 2, 1, 0, 1, 3], "mode": "reflect"})
    one("Pad", 2, x, {"pads": [1, 2, 3, 0, 2, 4], "mode": "edge"})
    for opset in (11, 13, 18, 19, 21):
        for mode in (None, "constant", "reflect", "edge") + (("wrap",) if opset >= 19 else ()):
            rank = int(r.integers(1, 5))
            x = rshape(r, rank, 2, 5)
            if mode == "reflect":
                pads = [int(r.integers(0, d)) for d in x] + [int(r.integers(0, d)) for d in x]
            elif mode in ("edge", "wrap"):
                pads = [int(r.integers(0, 2 * d + 1)) for d in x] + [int(r.integers(0, 2 * d + 1)) for d in x]
            else:  # negative pads crop
                pads = [int(r.integers(-d + 1, 4)) for d in x] + [int(r.integers(-1, 4)) for d in x]
            inits = [T("pads", np.array(pads, np.int64))]
            ins = ["pads"]
            cv = None
            if mode in (None, "constant") and r.random() < 0.7:
                cv = float(np.float32(r.standard_normal()))
                inits.append(T("cv", np.float32(cv)))
                ins.append("cv")
            one("Pad", opset, x, {"mode": mode}, inits=inits, extra_ins=ins,
                tag=f"x={shp(x)},mode={mode},pads={fmt(pads)},cv={fmt(cv)}")
    # opset 18 axes (negative, a subset), constant_value omitted with axes given
    for opset, mode, axes, pads in ((18, "constant", [-1], [2, 1]), (18, "edge", [0, 2], [1, 0, 2, 3]),
                                    (18, "reflect", [2, -3], [1, 1, 0, 2]), (19, "wrap", [1], [5, 2])):
        ins = ["pads", "", "axes"] if mode != "constant" else ["pads", "cv", "axes"]
        one("Pad", opset, [3, 3, 4], {"mode": mode}, inits=[T("pads", np.array(pads, np.int64)), T("cv", np.float32(2.5)),
                                                            T("axes", np.array(axes, np.int64))], extra_ins=ins,
            tag=f"x=3x3x4,mode={mode},axes={fmt(axes)},pads={fmt(pads)}")
    one("Pad", 13, [3, 4], inits=[T("pads", np.array([1, 2, 0, 1], np.int64)), T("cv", np.int64(5))],
        extra_ins=["pads", "cv"], x_type=I64, x_name="input_ids", tag="int64,constant_value=5")
    one("Pad", 13, [3, 4], {"mode": "reflect"}, inits=[T("pads", np.array([0, 4, 0, 0], np.int64))], extra_ins=["pads"],
        tag="reflect_pad_as_long_as_axis_refused", refuse="reflect")


# TF_NN_NOTE: tf_half_pixel_for_nn maps output i to (i + 0.5) / scale, so on an axis of scale 1 with nearest_mode
# ceil or round_prefer_ceil the literal formula reads input i + 1 (shardscore does), while ONNX Runtime leaves an
# axis of scale 1 alone (as TensorFlow, which resizes only H and W). The spec does not say which; the generator keeps
# N = C = 1 there, and the report lists it.
def gen_resize():
    r = rng_for("Resize")
    coords = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"]
    nearest = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]
    for opset in (11, 13, 18, 19):
        for mode in ("nearest", "linear"):
            for _ in range(3):
                x = [int(r.integers(1, 3)), int(r.integers(1, 3)), int(r.integers(2, 6)), int(r.integers(2, 6))]
                coord = str(r.choice(coords + (["tf_half_pixel_for_nn"] if opset == 11 and mode == "nearest" else [])))
                nm = str(r.choice(nearest)) if mode == "nearest" else None
                if coord == "tf_half_pixel_for_nn" and nm in ("ceil", "round_prefer_ceil"):
                    x[0] = x[1] = 1  # see TF_NN_NOTE
                attrs = {"mode": mode if (mode != "nearest" or r.random() < 0.5) else None,
                         "coordinate_transformation_mode": coord, "nearest_mode": nm}
                use_sizes = r.random() < 0.4
                if use_sizes:
                    sizes = [x[0], x[1]] + [int(r.integers(1, 10)) for _ in range(2)]
                    if mode == "nearest" and r.random() < 0.5:
                        sizes[1] = int(r.integers(1, 5))
                    inits = [T("roi", np.zeros([0], np.float32)), T("scales", np.zeros([0], np.float32)),
                             T("sizes", np.array(sizes, np.int64))]
                    ins = ["roi", "scales", "sizes"] if opset == 11 else ["", "", "sizes"]
                    what = f"sizes={fmt(sizes)}"
                else:
                    sc = [1.0, 1.0] + [float(np.float32(r.choice([0.5, 0.6, 0.75, 1.5, 2.0, 2.5, 3.0, 1.3]))) for _ in range(2)]
                    if mode == "nearest" and r.random() < 0.5:
                        sc[1] = 2.0
                    inits = [T("roi", np.zeros([0], np.float32)), T("scales", np.array(sc, np.float32))]
                    ins = ["roi", "scales"] if opset < 13 or r.random() < 0.5 else ["", "scales"]
                    what = f"scales={fmt(sc)}"
                one("Resize", opset, x, attrs, inits=inits, extra_ins=ins,
                    tag=f"x={shp(x)},{what}," + ",".join(f"{k}={v}" for k, v in attrs.items() if v is not None))
    # nearest over a 3-D tensor, every axis; a downscale whose size is a float rounding away
    one("Resize", 13, [2, 3, 5], {"mode": "nearest"}, inits=[T("scales", np.array([1.0, 2.0, 0.6], np.float32))],
        extra_ins=["", "scales"], tag="x=2x3x5,scales=[1,2,0.6],nearest")
    one("Resize", 13, [1, 1, 10, 10], {"mode": "nearest"}, inits=[T("scales", np.array([1, 1, 0.7, 0.3], np.float32))],
        extra_ins=["", "scales"], tag="x=1x1x10x10,scales=[1,1,0.7,0.3]")  # 10 * 0.7f: 7 rows, the float32 product
    one("Resize", 13, [1, 1, 4, 4], {"mode": "cubic"}, inits=[T("scales", np.array([1, 1, 2, 2], np.float32))],
        extra_ins=["", "scales"], tag="cubic_refused", refuse="cubic")
    one("Resize", 18, [1, 1, 4, 4], {"mode": "linear", "antialias": 1},
        inits=[T("scales", np.array([1, 1, 0.5, 0.5], np.float32))], extra_ins=["", "scales"], tag="antialias_refused",
        refuse="antialias")
    one("Resize", 13, [1, 1, 4, 4], {"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize"},
        inits=[T("roi", np.array([0, 0, 0, 0, 1, 1, 1, 1], np.float32)), T("scales", np.array([1, 1, 2, 2], np.float32))],
        extra_ins=["roi", "scales"], tag="tf_crop_and_resize_refused", refuse="tf_crop_and_resize")


def gen_clip():
    one("Clip", 6, [3, 5])
    one("Clip", 6, [3, 5], {"min": -0.5})
    one("Clip", 6, [3, 5], {"max": 0.25})
    one("Clip", 6, [3, 5], {"min": -0.3, "max": 0.7})
    for opset in (11, 13):
        for lo, hi in ((-0.5, 0.5), (None, 0.2), (-0.1, None), (None, None), (0.6, -0.6)):
            inits, ins = [], []
            if lo is not None:
                inits.append(T("lo", np.float32(lo)))
            if hi is not None:
                inits.append(T("hi", np.float32(hi)))
            ins = (["lo" if lo is not None else ""] + (["hi"] if hi is not None else [])) if (lo, hi) != (None, None) else []
            one("Clip", opset, [2, 3, 4], inits=inits, extra_ins=ins, tag=f"min={fmt(lo)},max={fmt(hi)}")
    for it, dt in ((I64, np.int64), (I32, np.int32)):
        one("Clip", 13, [3, 5], inits=[T("lo", dt(100)), T("hi", dt(600))], extra_ins=["lo", "hi"], x_type=it,
            x_name="input_ids", tag=f"{np.dtype(dt).name},min=100,max=600")


# -- math / logic --

def gen_pow():
    r = rng_for("Pow")
    for opset in (7, 12, 13, 15):
        x = rshape(r, 2, 2, 5)
        one("Pow", opset, x, inits=[T("e", r.uniform(-2, 3, x[1:]).astype(np.float32))], extra_ins=["e"],
            tag=f"x={shp(x)},float_exponent_row", tol=1e-5)
    for e, dt in ((2, np.float32), (3, np.int64), (-2, np.int32), (0.5, np.float32), (0, np.int64)):
        one("Pow", 13, [3, 6], inits=[T("e", dt(e))], extra_ins=["e"], tag=f"exponent={e}:{np.dtype(dt).name}")
    one("Pow", 15, [2, 5], inits=[T("e", np.array([0, 1, 2, 3, -1], np.int64))], extra_ins=["e"],
        tag="int64_exponent_vector")
    add("Pow", 13, [N("Pow", ["input_ids", "e"])], [("input_ids", I64, [3, 4])], tag="int64^int64",
        inits=[T("e", np.array([0, 1, 2, 3], np.int64))])
    add("Pow", 13, [N("Pow", ["input_ids", "e"])], [("input_ids", I64, [3, 2])], tag="int64^6_large",
        inits=[T("e", np.array([6, 5], np.int64))], oracle="reference",
        why="ONNX Runtime computes integer Pow through double: 999^6 > 2^53 comes out rounded "
            "(185217368568765632 for 625^6 = 185217368568765625); the exact power is the spec's")
    add("Pow", 13, [N("Pow", ["input_ids", "e"])], [("input_ids", I32, [3, 3])], tag="int32^int32",
        inits=[T("e", np.array([0, 2, 3], np.int32))])
    add("Pow", 13, [N("Pow", ["b", "x"])], [("x", FLOAT, [3, 4])], tag="scalar_base_2^x",
        inits=[T("b", np.float32(2.0))])
    add("Pow", 13, [N("Pow", ["input_ids", "e"])], [("input_ids", I64, [2, 2])], tag="int_base_float_exponent_refused",
        inits=[T("e", np.float32(0.5))], refuse="integer base")


def gen_equal_minmax_where():
    r = rng_for("Equal")
    for opset in (7, 11, 13):
        add("Equal", opset, [N("Equal", ["input_ids", "c"])], [("input_ids", I64, [4, 6])],
            tag="int64_vs_row", inits=[T("c", np.array([0, 500, 10, 999, 3, 7], np.int64))])
    add("Equal", 11, [N("Cast", ["x"], ["t"], to=I32), N("Equal", ["t", "c"])], [("x", FLOAT, [3, 1, 5])],
        tag="int32_broadcast_up", inits=[T("c", np.array([[0], [1], [-1]], np.int32))])
    add("Equal", 11, [N("Cast", ["x"], ["i"], to=I64), N("Equal", ["i", "zero"], ["b"]), N("Equal", ["b", "c"])],
        [("x", FLOAT, [3, 4])], tag="bool", inits=[T("c", np.array([True, False, True, False])), T("zero", np.int64(0))])
    add("Equal", 11, [N("Equal", ["x", "x"])], [("x", FLOAT, [2, 5])], tag="float_self")
    add("Equal", 11, [N("Equal", ["x", "c"])], [("x", FLOAT, [2, 5])], tag="float_vs_const",
        inits=[T("c", np.float32(0.0))])
    for op in ("Max", "Min"):
        rr = rng_for(op)
        for opset in (8, 12, 13):
            one(op, opset, [3, 4], tag="single_input")
            x = rshape(rr, 3, 2, 4)
            s1 = [d if rr.random() < 0.5 else 1 for d in x]
            one(op, opset, x, inits=[T("a", rr.standard_normal(s1).astype(np.float32))], extra_ins=["a"],
                tag=f"x={shp(x)},a={shp(s1)}")
            s2, s3 = [2, 1, 1, x[-1]], [x[-2], 1]
            add(op, opset, [N(op, ["a", "x", "b"])], [("x", FLOAT, x)], tag=f"three,a={shp(s2)},x={shp(x)},b={shp(s3)}",
                inits=[T("a", rr.standard_normal(s2).astype(np.float32)), T("b", rr.standard_normal(s3).astype(np.float32))])
        add(op, 13, [N(op, ["input_ids", "c"])], [("input_ids", I64, [3, 4])], tag="int64",
            inits=[T("c", np.array([100, 500, 900, 0], np.int64))])
        add(op, 13, [N(op, ["input_ids", "c"])], [("input_ids", I32, [3, 4])], tag="int32",
            inits=[T("c", np.array([100, 500, 900, 0], np.int32))])
    r = rng_for("Where")
    for opset in (9, 16):
        x = [3, 4]
        add("Where", opset, [N("Where", ["c", "x", "y0"])], [("x", FLOAT, x)], tag="cond_row,y_scalar",
            inits=[T("c", r.random([4]) < 0.5), T("y0", np.float32(-7.0))])
        add("Where", opset, [N("Where", ["c", "y0", "x"])], [("x", FLOAT, [2, 1, 4])], tag="cond_3x1_broadcast_up",
            inits=[T("c", r.random([3, 1]) < 0.5), T("y0", r.standard_normal([1, 3, 1]).astype(np.float32))])
        add("Where", opset, [N("Where", ["c", "input_ids", "k"])], [("input_ids", I64, [2, 3])], tag="int64",
            inits=[T("c", np.array([[True, False, True], [False, False, True]])), T("k", np.int64(-5))])


# -- Gather, GatherND --

def gen_gather():
    r = rng_for("Gather")
    for opset in (1, 11, 13):
        for _ in range(3):
            rank = int(r.integers(1, 4))
            x = rshape(r, rank, 2, 5)
            lo = -rank if opset >= 11 else 0
            axis = int(r.integers(lo, rank))
            d = x[axis]
            ishape = [[], [3], [2, 2]][int(r.integers(0, 3))]
            ilo = -d if opset >= 11 else 0
            idx = r.integers(ilo, d, size=ishape)
            it = np.int64 if r.random() < 0.7 else np.int32
            one("Gather", opset, x, {"axis": axis}, inits=[T("i", np.asarray(idx, it))], extra_ins=["i"],
                tag=f"x={shp(x)},axis={axis},indices={fmt(np.asarray(idx).tolist())}:{np.dtype(it).name}")
    one("Gather", 13, [3, 4], {"axis": 1}, inits=[T("i", np.array([4], np.int64))], extra_ins=["i"],
        tag="index_out_of_range_refused", refuse="out of range")
    add("Gather", 13, [N("Gather", ["E", "input_ids"])], [("input_ids", I64, [2, 5])], tag="embedding_lookup",
        inits=[T("E", r.standard_normal([1000, 3]).astype(np.float32))])

    r = rng_for("GatherND")
    cases = [
        (11, [3, 4], None, [[1, 2], [-1, 0], [2, -4]]),
        (11, [3, 4, 2], None, [[1], [-3]]),
        (12, [2, 3, 4], 1, [[1], [-1]]),
        (12, [2, 3, 4], 1, [[[0, 1], [2, -1]], [[-3, 0], [1, 3]]]),
        (13, [2, 3, 4], 2, [[[1], [3], [-4]], [[0], [2], [-1]]]),
        (13, [2, 3], 0, [[[0, 0]], [[1, -1]]]),
        (13, [2, 2, 3], 1, [[[1, 2]], [[0, -3]]]),
    ]
    for opset, x, bd, idx in cases:
        one("GatherND", opset, x, {"batch_dims": bd}, inits=[T("i", np.array(idx, np.int64))], extra_ins=["i"],
            tag=f"x={shp(x)},batch_dims={fmt(bd)},indices={shp(np.array(idx).shape)}")


# -- Transpose, Expand, Slice, Squeeze, Unsqueeze, Shape, ConstantOfShape, Range, Split --

def gen_layout():
    r = rng_for("Transpose")
    for opset in (1, 13, 21):
        for _ in range(2):
            rank = int(r.integers(1, 6))
            x = rshape(r, rank, 1, 4)
            perm = [int(v) for v in r.permutation(rank)] if r.random() < 0.75 else None
            one("Transpose", opset, x, {"perm": perm})
    one("Transpose", 13, [2, 17, 33], {"perm": [0, 2, 1]})  # the tiled path
    one("Transpose", 13, [3, 18, 5, 20], {"perm": [0, 3, 2, 1]})
    one("Transpose", 13, [2, 3], {"perm": [0, 0]}, tag="bad_perm_refused", refuse="perm")

    r = rng_for("Expand")
    for opset, x, s in ((8, [3, 1], [3, 4]), (8, [2, 1, 4], [3, 1, 1, 1]), (13, [3, 1], [2, 1, 6]),
                        (13, [2, 3], [1]), (13, [2, 1, 3], [1, 1]), (13, [1, 4], [1, 5, 1, 1]), (13, [2, 3], [2, 1, 3])):
        one("Expand", opset, x, inits=[T("s", np.array(s, np.int64))], extra_ins=["s"], tag=f"x={shp(x)},shape={fmt(s)}")

    r = rng_for("Slice")
    fixed = [  # (x, starts, ends, axes, steps)
        ([5, 6], [1], [4], None, None),
        ([5, 6], [-1], [-4], [1], [-1]),
        ([5, 6], [4, I64_MAX], [0, -I64_MAX], [0, 1], [-2, -1]),
        ([5, 6], [-100], [100], [-1], [2]),
        ([5, 6], [I64_MAX], [I64_MIN], [0], [-1]),
        ([5, 6], [10], [-10], [1], [-3]),
        ([5, 6], [3], [3], [0], None),
        ([5, 6], [4], [1], [0], [1]),
        ([4, 5, 6], [0, 1], [-1, I64_MAX], [2, 0], [1, 2]),
        ([4, 5, 6], [-2], [-1], [-2], [-1]),
        ([4, 5, 6], [5], [-7], [-1], [-7]),
        ([4, 5, 6], [1, 0], [I64_MAX, 4], [-3, 1], [7, -2]),
        ([4, 5], [2], [I64_MIN], [1], [-1]),
        ([4, 5], [-1], [-6], [1], [-1]),
        ([4, 5], [-6], [2], [1], [-1]),
    ]
    for i, (x, st, en, ax, sp) in enumerate(fixed):
        opset = (10, 11, 13)[i % 3]
        inits = [T("st", np.array(st, np.int64)), T("en", np.array(en, np.int64))]
        ins = ["st", "en"]
        if ax is not None:
            inits.append(T("ax", np.array(ax, np.int64)))
            ins.append("ax")
        if sp is not None:
            if ax is None:
                ins.append("")
            inits.append(T("sp", np.array(sp, np.int64)))
            ins.append("sp")
        one("Slice", opset, x, inits=inits, extra_ins=ins,
            tag=f"x={shp(x)},starts={fmt(st)},ends={fmt(en)},axes={fmt(ax)},steps={fmt(sp)}")
    for _ in range(6):
        rank = int(r.integers(1, 4))
        x = rshape(r, rank, 2, 6)
        k = int(r.integers(1, rank + 1))
        axes = [int(a) for a in r.permutation(rank)[:k]]
        axes = [a - rank if r.random() < 0.5 else a for a in axes]
        st = [int(r.integers(-x[a] - 2, x[a] + 2)) for a in axes]
        en = [int(r.integers(-x[a] - 2, x[a] + 2)) for a in axes]
        sp = [int(r.choice([-3, -2, -1, 1, 2, 3])) for _ in axes]
        dt = np.int64 if r.random() < 0.7 else np.int32
        one("Slice", 13, x, inits=[T("st", np.array(st, dt)), T("en", np.array(en, dt)), T("ax", np.array(axes, dt)),
                                   T("sp", np.array(sp, dt))], extra_ins=["st", "en", "ax", "sp"],
            tag=f"x={shp(x)},starts={fmt(st)},ends={fmt(en)},axes={fmt(axes)},steps={fmt(sp)}:{np.dtype(dt).name}")

    # Squeeze / Unsqueeze
    for opset, x, axes in ((1, [1, 3, 1, 2], [0, 2]), (1, [2, 1, 3, 1], None), (11, [2, 1, 3, 1], [-1, 1]),
                           (11, [1, 1, 1], [-3]), (13, [2, 1, 3, 1], [-1]), (13, [1, 2, 1], None), (13, [1, 4, 1, 1], [3, 0, -2]),
                           (21, [3, 1, 2], [1]), (13, [1, 3, 1], [])):
        if opset < 13:
            one("Squeeze", opset, x, {"axes": axes}, tag=f"x={shp(x)},axes_attr={fmt(axes)}")
        else:
            inits = [T("a", np.array(axes, np.int64))] if axes is not None else []
            one("Squeeze", opset, x, inits=inits, extra_ins=["a"] if axes is not None else [],
                tag=f"x={shp(x)},axes_input={fmt(axes)}")
    one("Squeeze", 13, [2, 3], inits=[T("a", np.array([1], np.int64))], extra_ins=["a"], tag="not_one_refused",
        refuse="squeeze")
    for opset, x, axes in ((1, [3, 4], [0]), (1, [3, 4], [2, 0]), (11, [3, 4], [-1]), (11, [3, 4], [-1, -4]),
                           (13, [3, 4], [1]), (13, [3, 4], [3, 0, -3]), (13, [2], [-1, 1]), (21, [2, 3], [0, -1])):
        if opset < 13:
            one("Unsqueeze", opset, x, {"axes": axes}, tag=f"x={shp(x)},axes_attr={fmt(axes)}")
        else:
            one("Unsqueeze", opset, x, inits=[T("a", np.array(axes, np.int64))], extra_ins=["a"],
                tag=f"x={shp(x)},axes_input={fmt(axes)}")

    # Shape
    for opset, attrs in ((1, {}), (13, {}), (15, {"start": 1}), (15, {"end": -1}), (15, {"start": -2, "end": 10}),
                         (15, {"start": -10, "end": 2}), (15, {"start": 3, "end": 1}), (19, {"start": 2})):
        one("Shape", opset, [2, 3, 4, 5], attrs)
    # ConstantOfShape (folded at load: the CPU op runs on the constants)
    for tag, val in (("default", None), ("float", T("v", np.array([1.25], np.float32))),
                     ("int64", T("v", np.array([-3], np.int64))), ("int32", T("v", np.array([9], np.int32))),
                     ("bool", T("v", np.array([True])))):
        attrs = {"value": val} if val is not None else {}
        for opset, s in ((9, [2, 3]), (20, [3, 0, 2])):
            add("ConstantOfShape", opset, [N("ConstantOfShape", ["s"], ["y"], **attrs), N("Identity", ["x"], ["z"])],
                [("x", FLOAT, [2, 2])], tag=f"{tag},shape={fmt(s)}", inits=[T("s", np.array(s, np.int64))],
                outputs=("y", "z"))
    add("ConstantOfShape", 9, [N("Shape", ["x"], ["s"]), N("ConstantOfShape", ["s"], ["y"], value=T("v", np.array([4.0], np.float32)))],
        [("x", FLOAT, [3, 2])], tag="shape_of_x")
    # Range (constants fold at load; the last case takes limit from x)
    for tag, start, limit, delta, dt in (("int64", 2, 17, 3, np.int64), ("int64_neg", 10, -4, -3, np.int64),
                                         ("int64_empty", 5, 5, 1, np.int64), ("int32", -3, 8, 2, np.int32),
                                         ("int32_wrongsign", 0, 10, -1, np.int32), ("float", 0.5, 3.2, 0.3, np.float32),
                                         ("float_neg", 1.0, -2.0, -0.25, np.float32),
                                         ("float_long", 0.1, 200.0, 0.7, np.float32),
                                         ("double", -1.5, 2.0, 0.5, np.float64), ("int16", 1, 9, 2, np.int16)):
        add("Range", 11, [N("Range", ["s", "l", "d"], ["y"]), N("Identity", ["x"], ["z"])], [("x", FLOAT, [2, 2])],
            tag=tag, inits=[T("s", dt(start)), T("l", dt(limit)), T("d", dt(delta))], outputs=("y", "z"))
    add("Range", 11, [N("Relu", ["x"], ["p"]), N("Mul", ["p", "k"], ["q"]), N("Reshape", ["q", "e"], ["lim"]),
                      N("Range", ["s", "lim", "d"])], [("x", FLOAT, [1])], tag="float_limit_from_input",
        inits=[T("k", np.float32(20)), T("e", np.zeros([0], np.int64)), T("s", np.float32(0.25)),
               T("d", np.float32(0.5))])

    # Split
    r = rng_for("Split")
    for opset, x, axis, split, nout in ((2, [6, 4], None, None, 2), (2, [4, 6], 1, [1, 2, 3], 3), (11, [4, 6], -1, [4, 2], 2),
                                        (11, [3, 6], -1, None, 3), (13, [4, 6], 1, [0, 6], 2), (13, [4, 6], -2, [1, 3], 2),
                                        (13, [2, 6, 2], 1, None, 2), (18, [2, 7], 1, None, 3), (18, [2, 8], -1, None, 3),
                                        (18, [5, 3], 0, None, 5), (18, [2, 6], 1, [2, 4], 2)):
        outs = [f"y{i}" for i in range(nout)]
        attrs = {"axis": axis}
        inits, ins = [], []
        if split is not None and opset < 13:
            attrs["split"] = split
        elif split is not None:
            inits, ins = [T("sp", np.array(split, np.int64))], ["sp"]
        elif opset >= 18:
            attrs["num_outputs"] = nout
        one("Split", opset, x, attrs, inits=inits, extra_ins=ins, outs=outs, outputs=tuple(outs),
            tag=f"x={shp(x)},axis={fmt(axis)},split={fmt(split)},outputs={nout}")
    one("Split", 13, [3, 7], {"axis": 1}, outs=["y0", "y1"], outputs=("y0", "y1"), tag="uneven_no_split_refused",
        refuse="equal")


# -- reductions, LayerNormalization --

def gen_reduce():
    for op in ("ReduceMean", "ReduceSum", "ReduceMax"):
        r = rng_for(op)
        input_from = 13 if op == "ReduceSum" else 18
        for opset in (1, 11, 13, 18, 20):
            for _ in range(3):
                rank = int(r.integers(1, 5))
                x = rshape(r, rank, 1, 5)
                lo = -rank if opset >= 11 else 0
                k = int(r.integers(0, rank + 1))
                axes = [int(a) for a in r.choice(np.arange(lo, rank), size=min(k, rank), replace=False)]
                axes = [a for i, a in enumerate(axes) if (a % rank) not in [b % rank for b in axes[:i]]]
                kd = int(r.integers(0, 2)) if r.random() < 0.7 else None
                attrs = {"keepdims": kd}
                if opset >= input_from:
                    noop = int(r.integers(0, 2)) if not axes and r.random() < 0.7 else None
                    attrs["noop_with_empty_axes"] = noop
                    inits = [T("ax", np.array(axes, np.int64))] if axes or r.random() < 0.5 else []
                    one(op, opset, x, attrs, inits=inits, extra_ins=["ax"] if inits else [],
                        tag=f"x={shp(x)},axes_input={fmt(axes) if inits else 'absent'},keepdims={fmt(kd)},noop={fmt(noop)}")
                else:
                    one(op, opset, x, {"axes": axes or None, **attrs},
                        tag=f"x={shp(x)},axes_attr={fmt(axes) if axes else 'absent'},keepdims={fmt(kd)}")
        if op != "ReduceMean":
            it_opset = 13 if op == "ReduceSum" else 18
            one(op, it_opset, [3, 4], {"keepdims": 0}, inits=[T("ax", np.array([-1], np.int64))], extra_ins=["ax"],
                x_type=I64, x_name="input_ids", tag="int64,axes=[-1],keepdims=0")
            one(op, it_opset, [3, 4], inits=[T("ax", np.array([0], np.int64))], extra_ins=["ax"],
                x_type=I32, x_name="input_ids", tag="int32,axes=[0]")
        one(op, input_from, [2, 3, 4], {"noop_with_empty_axes": 1}, inits=[T("ax", np.zeros([0], np.int64))],
            extra_ins=["ax"], tag="empty_axes_input,noop=1")
        one(op, input_from, [2, 3, 4], {"keepdims": 0}, inits=[T("ax", np.zeros([0], np.int64))],
            extra_ins=["ax"], tag="empty_axes_input,noop=0,keepdims=0")


def gen_layernorm():
    r = rng_for("LayerNormalization")
    for x, axis, sshape, bshape, eps in (([2, 3, 8], None, [8], [8], None), ([2, 3, 8], -1, [8], None, 1e-3),
                                         ([2, 3, 4], 1, [3, 4], [3, 4], None), ([2, 3, 4], -2, [1, 4], [3, 1], 0.1),
                                         ([3, 5], 0, [3, 5], [5], None), ([2, 2, 3, 4], 2, [3, 4], [4], 1e-2),
                                         ([4, 6], -1, [1], [6], None)):
        inits = [T("s", r.standard_normal(sshape).astype(np.float32))]
        ins = ["s"]
        if bshape is not None:
            inits.append(T("b", r.standard_normal(bshape).astype(np.float32)))
            ins.append("b")
        one("LayerNormalization", 17, x, {"axis": axis, "epsilon": eps}, inits=inits, extra_ins=ins,
            tag=f"x={shp(x)},axis={fmt(axis)},scale={shp(sshape)},bias={shp(bshape) if bshape else 'none'},eps={fmt(eps)}")
    one("LayerNormalization", 17, [2, 3, 4], {"axis": 1}, inits=[T("s", np.ones([3, 4], np.float32))], extra_ins=["s"],
        outs=("y", "mean", "inv"), outputs=("y", "mean", "inv"), tag="x=2x3x4,axis=1,mean_and_invstddev_outputs")
    one("LayerNormalization", 17, [2, 8], {"stash_type": 0}, inits=[T("s", np.ones([8], np.float32))], extra_ins=["s"],
        tag="stash_type=0_refused", refuse="stash_type")


# -- ai.onnx.ml --

def gen_ml():
    r = rng_for("ml")
    ml = {"ai.onnx.ml": 3}
    for post in ("NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"):
        coef = r.standard_normal(3 * 4).astype(np.float32).tolist()
        add("LinearClassifier", 13, [N("LinearClassifier", ["x"], ["label", "scores"], domain="ai.onnx.ml", coefficients=coef,
                                       intercepts=r.standard_normal(3).astype(np.float32).tolist(),
                                       classlabels_ints=[5, 6, 7], post_transform=post)],
            [("x", FLOAT, [5, 4])], tag=f"3_classes,post={post}", outputs=("label", "scores"), extra_opsets=ml)
    add("LinearClassifier", 13, [N("LinearClassifier", ["x"], ["label", "scores"], domain="ai.onnx.ml",
                                   coefficients=r.standard_normal(4).astype(np.float32).tolist(), intercepts=[0.3],
                                   classlabels_ints=[0, 1], post_transform="LOGISTIC")],
        [("x", FLOAT, [5, 4])], tag="binary,post=LOGISTIC", outputs=("label", "scores"), extra_opsets=ml)
    add("LinearClassifier", 13, [N("LinearClassifier", ["x"], ["label", "scores"], domain="ai.onnx.ml",
                                   coefficients=r.standard_normal(4).astype(np.float32).tolist(), intercepts=[-0.2],
                                   classlabels_ints=[3, 9])],
        [("x", FLOAT, [5, 4])], tag="binary,post=NONE", outputs=("label", "scores"), extra_opsets=ml, oracle="reference",
        why="one coefficient row, two labels, post NONE: ONNX Runtime writes [1 - s, s], the ONNX reference (and "
            "shardscore) [-s, s] (as all three write [1 - sigmoid(s), sigmoid(s)] for LOGISTIC); the ai.onnx.ml spec "
            "does not describe the two-column expansion")
    add("LinearRegressor", 13, [N("LinearRegressor", ["x"], ["y"], domain="ai.onnx.ml",
                                  coefficients=r.standard_normal(8).astype(np.float32).tolist(), intercepts=[0.5, -1.0],
                                  targets=2)], [("x", FLOAT, [5, 4])], tag="2_targets", extra_opsets=ml)
    add("Scaler", 13, [N("Scaler", ["x"], ["y"], domain="ai.onnx.ml", offset=[0.5, -1, 2], scale=[2, 0.5, -1])],
        [("x", FLOAT, [4, 3])], tag="per_feature", extra_opsets=ml)
    add("Scaler", 13, [N("Scaler", ["x"], ["y"], domain="ai.onnx.ml", offset=[0.5], scale=[3.0])],
        [("x", FLOAT, [4, 3])], tag="one_value", extra_opsets=ml)
    for norm in ("MAX", "L1", "L2"):
        add("Normalizer", 13, [N("Normalizer", ["x"], ["y"], domain="ai.onnx.ml", norm=norm)],
            [("x", FLOAT, [6, 4])], tag=f"norm={norm}", extra_opsets=ml)
    # all-negative rows: MAX divides by the largest value (ONNX Runtime), not the largest magnitude
    add("Normalizer", 13, [N("Abs", ["x"], ["a"]), N("Neg", ["a"], ["n"]),
                           N("Normalizer", ["n"], ["y"], domain="ai.onnx.ml", norm="MAX")],
        [("x", FLOAT, [6, 4])], tag="negative_rows,norm=MAX", extra_opsets=ml)
    for et, name in ((DOUBLE, "double"), (I64, "int64"), (I32, "int32")):
        add("Normalizer", 13, [N("Normalizer", ["x"], ["y"], domain="ai.onnx.ml", norm="L2")],
            [("x", et, [5, 3])], tag=f"x={name},norm=L2", extra_opsets=ml)
    add("ArrayFeatureExtractor", 13, [N("ArrayFeatureExtractor", ["x", "i"], ["y"], domain="ai.onnx.ml")],
        [("x", FLOAT, [4, 5])], tag="x=4x5,indices=[3,0,3]", inits=[T("i", np.array([3, 0, 3], np.int64))], extra_opsets=ml)
    # Imputer: NaN holes made in the graph (x > 0.6 becomes NaN), per feature and one value; zeros (the default
    # replaced value) from Relu; int64 zeros.
    holes = [N("Greater", ["x", "c"], ["m"]), N("Where", ["m", "nan", "x"], ["t"])]
    hole_inits = [T("c", np.float32(0.6)), T("nan", np.float32(np.nan))]
    for tag, vals in (("nan_per_feature", [1.5, -2.0, 3.25, 0.0]), ("nan_one_value", [9.0])):
        add("Imputer", 13, holes + [N("Imputer", ["t"], ["y"], domain="ai.onnx.ml", imputed_value_floats=vals,
                                      replaced_value_float=float("nan"))],
            [("x", FLOAT, [6, 4])], tag=tag, inits=hole_inits, extra_opsets=ml)
    add("Imputer", 13, [N("Relu", ["x"], ["t"]), N("Imputer", ["t"], ["y"], domain="ai.onnx.ml", imputed_value_floats=[7.0, 8.0, 9.0])],
        [("x", FLOAT, [5, 3])], tag="zeros,default_replaced_value", extra_opsets=ml)
    add("Imputer", 13, [N("Mul", ["x", "k"], ["s"]), N("Relu", ["s"], ["r"]), N("Cast", ["r"], ["i"], to=I64),
                        N("Imputer", ["i"], ["y"], domain="ai.onnx.ml", imputed_value_int64s=[-1, -2, -3], replaced_value_int64=0)],
        [("x", FLOAT, [5, 3])], tag="int64", inits=[T("k", np.float32(3))], extra_opsets=ml)
    # (float64 and int32 X: op tests only; ONNX Runtime has no kernel for them, nor for Binarizer's.)
    # LabelEncoder: x * 2 rounded gives small integers; keys as floats (OrdinalEncoder's form) and as int64.
    rnd = [N("Mul", ["x", "k"], ["s"]), N("Round", ["s"], ["r"])]
    add("LabelEncoder", 13, rnd + [N("LabelEncoder", ["r"], ["y"], domain="ai.onnx.ml", keys_floats=[-1.0, 0.0, 1.0, 2.0],
                                     values_int64s=[5, 6, 7, 8])],
        [("x", FLOAT, [6, 3])], tag="float_keys,int64_values", inits=[T("k", np.float32(2))], extra_opsets=ml)
    add("LabelEncoder", 13, rnd + [N("Cast", ["r"], ["i"], to=I64),
                                   N("LabelEncoder", ["i"], ["y"], domain="ai.onnx.ml", keys_int64s=[1, -1, 0],
                                     values_floats=[0.5, -1.5, 2.25], default_float=9.0)],
        [("x", FLOAT, [6, 3])], tag="int64_keys,float_values,default", inits=[T("k", np.float32(2))], extra_opsets=ml)
    # OneHotEncoder: x * 2 holds values from about -4 to 4; floats are truncated toward zero, values outside
    # the categories give zeros.
    add("OneHotEncoder", 13, [N("Mul", ["x", "k"], ["s"]), N("OneHotEncoder", ["s"], ["y"], domain="ai.onnx.ml",
                                                         cats_int64s=[-2, -1, 0, 1, 2, 5])],
        [("x", FLOAT, [6, 3])], tag="float,truncated", inits=[T("k", np.float32(2))], extra_opsets=ml)
    add("OneHotEncoder", 13, [N("Mul", ["x", "k"], ["s"]), N("Cast", ["s"], ["i"], to=I64),
                              N("OneHotEncoder", ["i"], ["y"], domain="ai.onnx.ml", cats_int64s=[3, 0, -2, 1])],
        [("x", FLOAT, [5, 2])], tag="int64,unsorted_cats", inits=[T("k", np.float32(2))], extra_opsets=ml)
    add("Binarizer", 13, [N("Binarizer", ["x"], ["y"], domain="ai.onnx.ml", threshold=0.3)],
        [("x", FLOAT, [6, 4])], tag="threshold=0.3", extra_opsets=ml)
    add("Binarizer", 13, [N("Binarizer", ["x"], ["y"], domain="ai.onnx.ml")], [("x", FLOAT, [6, 4])], tag="default_threshold",
        extra_opsets=ml)


# -- ai.onnx.ml tree ensembles --



def tree_attrs(trees, prefix):
    """Attributes of hand-built trees: {tree id: [(node id, mode, feature, value, true id, false id, missing,
    [(target, weight), ...]), ...]} (the lists in the order given)."""
    a = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_modes", "nodes_featureids", "nodes_values",
                         "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
                         f"{prefix}_treeids", f"{prefix}_nodeids", f"{prefix}_ids", f"{prefix}_weights")}
    for t, nodes in trees.items():
        for nid, mode, feat, val, yes, no, miss, votes in nodes:
            for k, v in zip(("nodes_treeids", "nodes_nodeids", "nodes_modes", "nodes_featureids", "nodes_values",
                             "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true"),
                            (t, nid, mode, feat, val, yes, no, miss)):
                a[k].append(v)
            for target, w in votes:
                a[f"{prefix}_treeids"].append(t), a[f"{prefix}_nodeids"].append(nid)
                a[f"{prefix}_ids"].append(target), a[f"{prefix}_weights"].append(w)
    return a


def random_trees(r, n_trees, depth, features, targets, positive=False, modes=("BRANCH_LEQ",)):
    trees = {}
    for t in range(n_trees):
        branches = 2 ** depth - 1
        nodes = []
        for nid in range(2 * branches + 1):
            if nid < branches:
                nodes.append((nid, str(r.choice(modes)), int(r.integers(features)), float(r.standard_normal()),
                              2 * nid + 1, 2 * nid + 2, int(r.integers(2)), []))
            else:
                votes = [(c, float(r.uniform(0, 0.5) if positive else r.standard_normal()))
                         for c in range(targets) if r.random() < 0.8]
                nodes.append((nid, "LEAF", 0, 0.0, 0, 0, 0, votes))
        trees[t] = nodes
    return trees


def logistic_of_probabilities(case_none: "Case"):
    """The oracle of a binary one-column tree classifier with weights >= 0 and LOGISTIC: ONNX Runtime runs the
    same trees with post NONE ([1 - s, s]), and s goes through LOGISTIC as the ONNX reference applies it; the
    label is the larger score's (s > 0)."""
    def oracle(feeds):
        import onnxruntime as ort
        sess = ort.InferenceSession(build_model(case_none).SerializeToString(), _ort_options(),
                                    providers=["CPUExecutionProvider"])
        _, scores = sess.run(None, feeds)
        s = scores[:, 1].astype(np.float32)
        z = np.stack([1 / (1 + np.exp(s)), 1 / (1 + np.exp(-s))], axis=1).astype(np.float32)
        return {"label": np.where(s > 0, 1, 0).astype(np.int64), "scores": z}
    return oracle


def gen_trees():
    r = rng_for("trees")
    ml = {"ai.onnx.ml": 3}
    modes = ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ")
    # Hand-built: every mode, NaN (Sqrt of the negative half of x) with and without missing_value_tracks_true.
    for agg in ("SUM", "AVERAGE", "MIN", "MAX"):
        a = tree_attrs(random_trees(r, 4, 3, 4, 2, modes=modes), "target")
        add("TreeEnsembleRegressor", 13, [N("Sqrt", ["x"], ["s"]),
                                          N("TreeEnsembleRegressor", ["s"], ["y"], domain="ai.onnx.ml", n_targets=2,
                                            aggregate_function=agg, base_values=[0.5, -0.25], **a)],
            [("x", FLOAT, [16, 4])], tag=f"modes,nan,aggregate={agg}", extra_opsets=ml)
    for post in ("LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"):
        a = tree_attrs(random_trees(r, 3, 2, 4, 3, positive=True), "target")
        add("TreeEnsembleRegressor", 13, [N("TreeEnsembleRegressor", ["x"], ["y"], domain="ai.onnx.ml", n_targets=3,
                                            aggregate_function="AVERAGE", post_transform=post, **a)],
            [("x", FLOAT, [16, 4])], tag=f"3_targets,post={post}", extra_opsets=ml)
    a = tree_attrs(random_trees(r, 3, 2, 4, 1), "target")
    add("TreeEnsembleRegressor", 13, [N("TreeEnsembleRegressor", ["x"], ["y"], domain="ai.onnx.ml", n_targets=1, **a)],
        [("x", DOUBLE, [16, 4])], tag="x=double", extra_opsets=ml)
    for post in ("NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"):
        a = tree_attrs(random_trees(r, 4, 3, 5, 4, modes=modes), "class")
        add("TreeEnsembleClassifier", 13, [N("Sqrt", ["x"], ["s"]),
                                           N("TreeEnsembleClassifier", ["s"], ["label", "scores"], domain="ai.onnx.ml",
                                             classlabels_int64s=[3, 1, 4, 9], base_values=[0.1, 0.2, -0.1, 0.0],
                                             post_transform=post, **a)],
            [("x", FLOAT, [16, 5])], tag=f"4_classes,modes,nan,post={post}", outputs=("label", "scores"),
            extra_opsets=ml)
    for positive in (True, False):
        for post in ("NONE", "LOGISTIC"):
            a = tree_attrs(random_trees(r, 3, 2, 4, 1, positive=positive), "class")
            if not positive:
                a["class_weights"][0] = -abs(a["class_weights"][0]) - 0.01
            base = {} if positive else {"base_values": [0.2]}
            add("TreeEnsembleClassifier", 13, [N("TreeEnsembleClassifier", ["x"], ["label", "scores"],
                                                 domain="ai.onnx.ml", classlabels_int64s=[0, 1], post_transform=post,
                                                 **base, **a)],
                [("x", FLOAT, [16, 4])], tag=f"binary_one_column,{'probabilities' if positive else 'margins'},"
                f"post={post}", outputs=("label", "scores"), extra_opsets=ml,
                **(dict(oracle=logistic_of_probabilities(Case(
                    "none", 13, [N("TreeEnsembleClassifier", ["x"], ["label", "scores"], domain="ai.onnx.ml",
                                   classlabels_int64s=[0, 1], **a)], [("x", FLOAT, [16, 4])], op="TreeEnsembleClassifier",
                    outputs=("label", "scores"), extra_opsets=ml)),
                        why="weights >= 0 with LOGISTIC: ONNX Runtime 1.32 writes [logistic(-s), logistic(s)] as the "
                            "ONNX reference (in onnx 1.18) and shardscore do, but labels by s > 0.5 (s taken for a "
                            "probability; 1.19 also skipped LOGISTIC); the reference and shardscore label by the larger "
                            "score, s > 0: the oracle is ONNX Runtime's s (post NONE) put through LOGISTIC")
                   if positive and post == "LOGISTIC" else {}))
    # One target: a leaf's value is its first weight, and a leaf without one counts its nodes_values entry, as
    # ONNX Runtime reads them (skl2onnx's decision_leaf output repeats each leaf's id once per class); every
    # aggregate, since MIN and MAX take in the leaves without weights.
    for agg in ("SUM", "AVERAGE", "MIN", "MAX"):
        trees = random_trees(r, 3, 2, 4, 1)
        for nodes in trees.values():
            for i, (nid, mode, feat, val, yes, no, miss, votes) in enumerate(nodes):
                if mode == "LEAF":
                    nodes[i] = (nid, mode, feat, float(r.standard_normal()), yes, no, miss,
                                [(0, float(r.standard_normal())) for _ in range(int(r.integers(3)))])
        a = tree_attrs(trees, "target")
        add("TreeEnsembleRegressor", 13, [N("TreeEnsembleRegressor", ["x"], ["y"], domain="ai.onnx.ml", n_targets=1,
                                            aggregate_function=agg, **a)],
            [("x", FLOAT, [16, 4])], tag=f"1_target,leaves_with_0_1_2_weights,aggregate={agg}", extra_opsets=ml)
    # Refused: two classes with weights on both; string labels asked for.
    a = tree_attrs(random_trees(r, 2, 2, 4, 2, positive=True), "class")
    add("TreeEnsembleClassifier", 13, [N("TreeEnsembleClassifier", ["x"], ["label", "scores"], domain="ai.onnx.ml",
                                         classlabels_int64s=[0, 1], **a)],
        [("x", FLOAT, [8, 4])], tag="binary_two_columns", outputs=("label", "scores"), extra_opsets=ml,
        refuse="two classes with weights on both")

    # scikit-learn models exported by skl2onnx here (nothing committed).
    try:
        import sklearn  # noqa: F401
        import skl2onnx  # noqa: F401
    except ImportError:
        return
    from sklearn import ensemble, tree
    x = r.standard_normal((400, 5)).astype(np.float32)
    target = x[:, 0] + 0.5 * x[:, 1] * x[:, 2] - 0.3 * x[:, 3] ** 2
    y2 = (target > np.median(target)).astype(np.int64)
    y3 = np.digitize(target, np.quantile(target, [1 / 3, 2 / 3]))
    models = [
        ("DecisionTreeRegressor", tree.DecisionTreeRegressor(max_depth=5), target),
        ("RandomForestRegressor", ensemble.RandomForestRegressor(n_estimators=8, max_depth=4, random_state=0), target),
        ("GradientBoostingRegressor", ensemble.GradientBoostingRegressor(n_estimators=10, max_depth=3), target),
        ("HistGradientBoostingRegressor", ensemble.HistGradientBoostingRegressor(max_iter=10), target),
    ]
    for k, y in ((2, y2), (3, y3)):
        models += [
            (f"DecisionTreeClassifier-{k}", tree.DecisionTreeClassifier(max_depth=5), y),
            (f"RandomForestClassifier-{k}", ensemble.RandomForestClassifier(n_estimators=8, max_depth=4,
                                                                             random_state=0), y),
            (f"GradientBoostingClassifier-{k}", ensemble.GradientBoostingClassifier(n_estimators=10, max_depth=3), y),
            (f"HistGradientBoostingClassifier-{k}", ensemble.HistGradientBoostingClassifier(max_iter=10), y),
        ]
    # decision_leaf: each row's leaf id in every tree, a one-target TreeEnsembleRegressor per tree that lists the
    # leaf's id once per class.
    models.append(("RandomForestClassifier-3-decision_leaf",
                   ensemble.RandomForestClassifier(n_estimators=3, max_depth=4, random_state=0), y3))
    for name, model, y in models:
        model.fit(x, y)
        onx = skl2onnx_export(model, x, {"zipmap": False, "decision_leaf": True} if name.endswith("decision_leaf") else None)
        g = onx.graph
        inp = g.input[0].name
        nodes = []
        for nd in g.node:
            nd2 = onnx.NodeProto()
            nd2.CopyFrom(nd)
            nd2.input[:] = ["x" if i == inp else i for i in nd.input]
            nodes.append(nd2)
        op = next(nd.op_type for nd in g.node if nd.op_type.startswith("TreeEnsemble"))
        add(op, 17, nodes, [("x", FLOAT, [32, 5])], tag=f"sklearn_{name}", inits=list(g.initializer),
            outputs=tuple(o.name for o in g.output), extra_opsets=ml)


# -- edges: empty tensors, NaN, refusals of forms outside the supported opsets --

def gen_edges():
    r = rng_for("edges")
    # K = 0 products: an empty sum is 0 (Gemm: beta * C)
    add("MatMul", 13, [N("MatMul", ["x", "B"])], [("x", FLOAT, [3, 0])], tag="K=0", inits=[T("B", np.zeros([0, 4], np.float32))])
    add("MatMul", 13, [N("MatMul", ["x", "B"])], [("x", FLOAT, [2, 3, 0])], tag="K=0,batched_B",
        inits=[T("B", np.zeros([2, 0, 4], np.float32))], oracle="reference",
        why="ONNX Runtime 1.19 gave NaN in this batched K = 0 product once in a full run of this file (an output "
            "left unwritten; alone it gives zeros): the spec's empty sum is 0, not ORT's memory")
    add("Gemm", 13, [N("Gemm", ["x", "B", "C"], beta=0.5)], [("x", FLOAT, [3, 0])], tag="K=0,beta=0.5",
        inits=[T("B", np.zeros([0, 4], np.float32)), T("C", r.standard_normal([4]).astype(np.float32))])
    add("Gemm", 13, [N("Gemm", ["a", "b"])], [("a", FLOAT, [3, 0]), ("b", FLOAT, [3, 0])], tag="K=0,B_input_transB=0",
        refuse="do not multiply")
    # reductions and other ops over empty axes
    # (ReduceMean over an empty set is left out: 'Reduction over an empty set of values yields undefined'.)
    for op in ("ReduceSum", "ReduceMax"):
        one(op, 13 if op == "ReduceSum" else 18, [2, 0, 3], {"keepdims": 0}, inits=[T("ax", np.array([1], np.int64))],
            extra_ins=["ax"], tag="x=2x0x3,axes=[1],keepdims=0")
    one("Softmax", 13, [2, 0, 3], {"axis": 1}, tag="x=2x0x3,axis=1")
    one("Softmax", 13, [2, 3, 0], tag="x=2x3x0")
    one("Gather", 13, [3, 4], {"axis": 1}, inits=[T("i", np.zeros([0], np.int64))], extra_ins=["i"], tag="empty_indices")
    one("Gather", 13, [3, 0], {"axis": 0}, inits=[T("i", np.array([2, -1], np.int64))], extra_ins=["i"], tag="x=3x0,axis=0")
    one("Concat", 13, [2, 0], {"axis": 1}, inits=[T("c", r.standard_normal([2, 3]).astype(np.float32))], extra_ins=["c"],
        tag="empty_first")
    one("Transpose", 13, [2, 0, 3], {"perm": [2, 0, 1]}, tag="x=2x0x3")
    one("LayerNormalization", 17, [2, 3, 1], inits=[T("s", np.ones([1], np.float32))], extra_ins=["s"], tag="inner=1")
    add("ConstantOfShape", 9, [N("ConstantOfShape", ["s"], ["y"], value=T("v", np.array([3.5], np.float32))),
                               N("Identity", ["x"], ["z"])], [("x", FLOAT, [2, 2])], tag="scalar_output",
        inits=[T("s", np.zeros([0], np.int64))], outputs=("y", "z"))
    one("Resize", 13, [2, 3, 5], {"mode": "linear"}, inits=[T("scales", np.array([1.0, 2.0, 0.6], np.float32))],
        extra_ins=["", "scales"], tag="x=2x3x5,linear,scales=[1,2,0.6]")
    one("Resize", 13, [3, 5], {"mode": "linear", "coordinate_transformation_mode": "align_corners"},
        inits=[T("sizes", np.array([7, 2], np.int64))], extra_ins=["", "", "sizes"], tag="x=3x5,linear,sizes=[7,2],align_corners")
    one("Resize", 13, [4, 6], {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
        inits=[T("sizes", np.array([4, 1], np.int64))], extra_ins=["", "", "sizes"], tag="x=4x6,sizes=[4,1],asymmetric,floor")
    one("Resize", 18, [1, 1, 4, 4], {"mode": "nearest", "axes": [2, 3]},
        inits=[T("scales", np.array([2, 2], np.float32))], extra_ins=["", "scales"], tag="axes_attribute_refused", refuse="axes")
    one("Resize", 19, [1, 1, 4, 4], {"mode": "linear", "coordinate_transformation_mode": "half_pixel_symmetric"},
        inits=[T("scales", np.array([1, 1, 2, 2], np.float32))], extra_ins=["", "scales"],
        tag="half_pixel_symmetric_refused", refuse="half_pixel_symmetric")
    one("Resize", 10, [1, 1, 4, 4], {"mode": "nearest"}, inits=[T("scales", np.array([1, 1, 2, 2], np.float32))],
        extra_ins=["scales"], tag="opset10")  # refused until Resize 10 ran as upsample_plan
    one("Resize", 10, [1, 1, 4, 6], {"mode": "nearest"}, inits=[T("scales", np.array([1, 1, 0.6, 2], np.float32))],
        extra_ins=["scales"], tag="opset10_shrink_and_grow_refused", refuse="shrinks one axis and grows another")
    one("Slice", 9, [4, 5], {"starts": [1], "ends": [3], "axes": [1]}, tag="attribute_form_refused", refuse="opsets 10-21")
    # NaN through ops that pick or compare: NaN from Sqrt of the negative half of x
    for op, extra, attrs in (("Relu", [], {}), ("LeakyRelu", [], {}), ("PRelu", ["c"], {}), ("Clip", ["lo", "hi"], {}),
                             ("Max", ["c"], {}),
                             ("Min", ["c"], {}), ("ArgMax", [], {"axis": 1}),
                             ("Softmax", [], {"axis": 1}), ("HardSigmoid", [], {}), ("Sigmoid", [], {}), ("Tanh", [], {}),
                             ("Equal", ["s"], {}), ("IsNaN", [], {})):
        inits = [T("lo", np.float32(0.2)), T("hi", np.float32(0.9)), T("c", np.float32(0.5)), T("s", np.float32(np.nan))]
        inits = [t for t in inits if t.name in extra]
        opset = 13
        add(op, opset, [N("Sqrt", ["x"], ["t"]), N(op, ["t", *extra], **attrs)], [("x", FLOAT, [3, 6])], tag="nan_inputs",
            inits=inits)
    # ReduceMax with NaN: the spec says nothing; shardscore propagates NaN as numpy (and the ONNX reference) do,
    # ONNX Runtime skips it. MaxPool with NaN is left out: ORT keeps or drops it by position, the reference drops it.
    add("ReduceMax", 13, [N("Sqrt", ["x"], ["t"]), N("ReduceMax", ["t"], axes=[1])], [("x", FLOAT, [3, 6])],
        tag="nan_inputs", oracle="reference", why="NaN in ReduceMax: the spec is silent; numpy / the ONNX reference "
                                                  "propagate it (as shardscore), ONNX Runtime skips it")
    # masked softmax rows: some -inf, one row all -inf (NaN in both)
    mask = np.zeros([3, 5], np.float32)
    mask[0, 1:3] = -np.inf
    mask[2, :] = -np.inf
    add("Softmax", 13, [N("Add", ["x", "m"], ["t"]), N("Softmax", ["t"])], [("x", FLOAT, [2, 3, 5])], tag="masked_-inf",
        inits=[T("m", mask)])
    add("Cast", 13, [N("Sqrt", ["x"], ["t"]), N("Cast", ["t"], to=BOOL)], [("x", FLOAT, [3, 6])], tag="nan_to_bool")
    add("Slice", 13, [N("Slice", ["x", "st", "en", "", "sp"])], [("x", FLOAT, [5, 6])], tag="steps_without_axes",
        inits=[T("st", np.array([4, 0], np.int64)), T("en", np.array([-I64_MAX, 6], np.int64)),
               T("sp", np.array([-2, 4], np.int64))])
    one("Concat", 13, [3, 4], {"axis": -2}, tag="single_input")
    one("Conv", 11, [1, 2, 5, 5], inits=[T("W", r.standard_normal([3, 2, 3, 3]).astype(np.float32))], extra_ins=["W", ""],
        tag="bias_named_empty")
    one("Gemm", 13, [3, 4], {"transB": 1}, inits=[T("B", r.standard_normal([2, 4]).astype(np.float32))], extra_ins=["B", ""],
        tag="C_named_empty")
    one("Clip", 13, [3, 4], extra_ins=["", ""], tag="min_max_named_empty")
    one("LayerNormalization", 17, [3, 4], inits=[T("s", r.standard_normal([4]).astype(np.float32))], extra_ins=["s", ""],
        tag="bias_named_empty")
    one("Resize", 11, [1, 1, 3, 4], {"mode": "linear", "coordinate_transformation_mode": "tf_half_pixel_for_nn"},
        inits=[T("roi", np.zeros([0], np.float32)), T("sc", np.array([1, 1, 2, 1.5], np.float32))], extra_ins=["roi", "sc"],
        tag="linear,tf_half_pixel_for_nn")
    add("Where", 16, [N("Cast", ["x"], ["i"], to=I64), N("Equal", ["i", "zero"], ["b"]), N("Where", ["c", "b", "d"])],
        [("x", FLOAT, [3, 4])], tag="bool_values", oracle="reference", why="ONNX Runtime has no bool Where kernel",
        inits=[T("zero", np.int64(0)), T("c", np.array([True, False, True, False])), T("d", np.array([[True], [False], [True]]))])
    add("ReduceMax", 20, [N("Cast", ["x"], ["i"], to=I64), N("Equal", ["i", "zero"], ["b"]), N("ReduceMax", ["b", "ax"])],
        [("x", FLOAT, [3, 4])], tag="bool,axes=[1]", inits=[T("zero", np.int64(0)), T("ax", np.array([1], np.int64))])
    add("MatMul", 13, [N("MatMul", ["W", "x"])], [("x", FLOAT, [2, 4, 5])], tag="A=3x4_constant,B=2x4x5_input",
        inits=[T("W", r.standard_normal([3, 4]).astype(np.float32))])
    # an exported dynamic reshape: Reshape(x, Concat(Shape(x)[0], [-1]))
    add("Reshape", 13, [N("Shape", ["x"], ["s"]), N("Gather", ["s", "zero"], ["n"], axis=0), N("Unsqueeze", ["n", "ax0"], ["n1"]),
                        N("Concat", ["n1", "m1"], ["shape"], axis=0), N("Reshape", ["x", "shape"])],
        [("x", FLOAT, [3, 2, 4])], tag="dynamic_shape_chain",
        inits=[T("zero", np.int64(0)), T("ax0", np.array([0], np.int64)), T("m1", np.array([-1], np.int64))])
    # constants folded at load must not disturb the constants they read (c1 is read again after the fold)
    c1 = r.standard_normal([4]).astype(np.float32)
    add("Add", 13, [N("Add", ["c1", "c2"], ["t"]), N("Add", ["x", "t"], ["u"]), N("Mul", ["u", "c1"])],
        [("x", FLOAT, [3, 4])], tag="constant_folding_keeps_operands",
        inits=[T("c1", c1), T("c2", r.standard_normal([4]).astype(np.float32))])
    # a value and a reshaped view of it, each read after the other dies
    add("Add", 13, [N("Reshape", ["x", "s"], ["r"]), N("Add", ["r", "k"], ["a"]), N("Mul", ["x", "k2"], ["m"]),
                    N("Reshape", ["m", "s"], ["m2"]), N("Sub", ["a", "m2"])], [("x", FLOAT, [3, 4])], tag="views_not_overwritten",
        inits=[T("s", np.array([12], np.int64)), T("k", np.float32(1.5)), T("k2", np.float32(-2.0))])
    # the graph passes' fusions, each against the plain ops in ONNX Runtime
    add("LayerNormalization", 17, [N("Add", ["x", "b"], ["t"]), N("LayerNormalization", ["t", "s", "bb"], axis=-1)],
        [("x", FLOAT, [2, 3, 8])], tag="after_Add_broadcast_row",
        inits=[T("b", r.standard_normal([8]).astype(np.float32)), T("s", r.standard_normal([8]).astype(np.float32)),
               T("bb", r.standard_normal([8]).astype(np.float32))])
    add("LayerNormalization", 17, [N("Add", ["c", "x"], ["t"]), N("LayerNormalization", ["t", "s"], axis=1)],
        [("x", FLOAT, [2, 3, 4])], tag="after_Add_broadcast_up,axis=1",
        inits=[T("c", r.standard_normal([5, 1, 1, 4]).astype(np.float32)),
               T("s", r.standard_normal([2, 3, 4]).astype(np.float32))])
    w16 = (r.standard_normal([16, 16, 3, 3]) * 0.2).astype(np.float32)
    add("Conv", 11, [N("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]), N("Add", ["c", "x"], ["s"]), N("Relu", ["s"])],
        [("x", FLOAT, [2, 16, 5, 5])], tag="then_Add_x_Relu,m=16_blocked",
        inits=[T("W", w16), T("B", r.standard_normal([16]).astype(np.float32))])
    add("Conv", 13, [N("ReduceMean", ["x"], ["m"], axes=[2, 3]), N("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
                     N("Add", ["m", "c"], ["s"]), N("Relu", ["s"])],
        [("x", FLOAT, [2, 16, 5, 5])], tag="then_Add_broadcast_residual_Relu,m=16_blocked", inits=[T("W", w16)])
    add("Conv", 13, [N("Conv", ["x", "W"], ["c"], group=4, strides=[2, 2]),
                     N("BatchNormalization", ["c", "s", "bb", "mu", "var"])], [("x", FLOAT, [2, 4, 7, 7])],
        tag="grouped_no_bias_then_BatchNormalization",
        inits=[T("W", r.standard_normal([8, 1, 3, 3]).astype(np.float32)), T("s", r.uniform(0.5, 2, 8).astype(np.float32)),
               T("bb", r.standard_normal(8).astype(np.float32)), T("mu", r.standard_normal(8).astype(np.float32)),
               T("var", r.uniform(0.1, 3, 8).astype(np.float32))])
    add("Conv", 12, [N("Conv", ["x", "W"], ["c"]), N("MaxPool", ["c"], kernel_shape=[3, 3], dilations=[2, 1],
                                                     pads=[2, 1, 1, 0], strides=[2, 2])],
        [("x", FLOAT, [1, 16, 9, 8])], tag="then_MaxPool_dilated_padded,m=16_blocked", inits=[T("W", w16)])
    # auto_pad SAME with dilations: the spec pads (out - 1) * stride + (kernel - 1) * dilation + 1 - in in total for
    # out = ceil(in / stride); ONNX Runtime leaves the dilation out of the padding (one output row short) and
    # the ONNX reference computes other values, so the oracle is the spec's formula in numpy (spec_pool).
    for op in ("MaxPool", "AveragePool"):
        for ap, x in (("SAME_UPPER", [1, 2, 7, 6]), ("SAME_LOWER", [2, 1, 8, 5])):
            attrs = dict(kernel_shape=[3, 3], dilations=[2, 1], auto_pad=ap, strides=[2, 2])
            if op == "AveragePool":
                attrs["count_include_pad"] = int(ap == "SAME_LOWER")
            one(op, 19, x, attrs, oracle=spec_pool(op, **attrs),
                why="auto_pad SAME with dilations: ONNX Runtime computes SAME padding without the dilation")
    add("MatMul", 13, [N("MatMul", ["x", "W"], ["t"]), N("Add", ["t", "bias"], ["u"]), N("Relu", ["u"])],
        [("x", FLOAT, [2, 3, 6])], tag="then_Add_Relu,A=2x3x6",
        inits=[T("W", r.standard_normal([6, 5]).astype(np.float32)), T("bias", r.standard_normal([5]).astype(np.float32))])
    sq = [T("sqrt2", np.float32(1.41421354)), T("one", np.float32(1.0)), T("half", np.float32(0.5)),
          T("isq", np.float32(0.707106769))]
    add("Gelu", 13, [N("Div", ["x", "sqrt2"], ["a"]), N("Erf", ["a"], ["e"]), N("Add", ["e", "one"], ["p"]),
                     N("Mul", ["x", "p"], ["q"]), N("Mul", ["q", "half"])], [("x", FLOAT, [3, 40])],
        tag="exported_chain_(x*(1+erf))*0.5", inits=sq)
    add("Gelu", 13, [N("Mul", ["x", "isq"], ["a"]), N("Erf", ["a"], ["e"]), N("Add", ["one", "e"], ["p"]),
                     N("Mul", ["x", "half"], ["h"]), N("Mul", ["h", "p"])], [("x", FLOAT, [3, 40])],
        tag="exported_chain_(x*0.5)*(1+erf)", inits=sq)
    add("Gelu", 13, [N("Div", ["x", "sqrt2"], ["a"]), N("Erf", ["a"], ["e"]), N("Add", ["e", "one"], ["p"]),
                     N("Mul", ["x", "p"], ["q"]), N("Mul", ["q", "one"])], [("x", FLOAT, [3, 40])],
        tag="near_miss_chain_times_1", inits=sq)



# -- float16: x cast to float16, the op, its float16 output (float32 out of the engine, by design) --

HALF_TOL = 2e-3  # float16 keeps 11 bits: one rounding is <= 4.9e-4 relative; ORT may round intermediates too


def gen_half():
    r = rng_for("half")
    h = [N("Cast", ["x"], ["h"], to=F16)]
    def c16(name, arr):
        return T(name, np.asarray(arr, np.float16))
    for op, extra, attrs, inits in (
            ("Add", ["b"], {}, [c16("b", r.standard_normal([5]))]),
            ("Mul", ["b"], {}, [c16("b", r.standard_normal([3, 1]))]),
            ("Div", ["b"], {}, [c16("b", r.uniform(0.5, 2, [5]))]),
            ("Relu", [], {}, []), ("Sigmoid", [], {}, []), ("Tanh", [], {}, []), ("Erf", [], {}, []),
            ("Softmax", [], {"axis": -1}, []), ("Softmax", [], {"axis": 0}, []),
            ("Clip", ["lo", "hi"], {}, [c16("lo", -0.5), c16("hi", 0.75)]),
            ("Where", [], {}, []),
            ("MatMul", ["w"], {}, [c16("w", r.standard_normal([5, 4]))]),
            ("Gemm", ["w", "c"], {"transB": 1, "alpha": 0.5}, [c16("w", r.standard_normal([4, 5])), c16("c", r.standard_normal([4]))]),
            ("ReduceSum", ["ax"], {"keepdims": 0}, [T("ax", np.array([1], np.int64))]),
            ("ReduceMean", [], {"axes": [0]}, []),
            ("Pow", ["e"], {}, [c16("e", 2.0)]),
            ("Transpose", [], {"perm": [1, 0]}, []),
            ("Gather", ["i"], {"axis": 1}, [T("i", np.array([4, -1, 0], np.int64))]),
            ("Concat", ["b2"], {"axis": 0}, [c16("b2", r.standard_normal([2, 5]))]),
            ("Slice", ["st", "en", "ax", "sp"], {}, [T("st", np.array([-1], np.int64)), T("en", np.array([-6], np.int64)),
                                                     T("ax", np.array([1], np.int64)), T("sp", np.array([-2], np.int64))]),
            ("Pad", ["p", "cv"], {}, [T("p", np.array([1, 0, 0, 2], np.int64)), c16("cv", 0.3)]),
            ("Cast", [], {"to": I32}, []), ("Cast", [], {"to": BOOL}, []), ("Cast", [], {"to": DOUBLE}, []),
            ("LeakyRelu", [], {"alpha": 0.3}, []), ("Sqrt", [], {}, []), ("Neg", [], {}, []),
            ("Max", ["b"], {}, [c16("b", r.standard_normal([5]))]), ("ArgMax", [], {"axis": 1}, []),
            ("Expand", ["sh"], {}, [T("sh", np.array([2, 3, 5], np.int64))]),
            ("Resize", ["", "sc"], {"mode": "linear"}, [T("sc", np.array([2.0, 1.5], np.float32))]),
            ("Resize", ["", "sc"], {"mode": "nearest"}, [T("sc", np.array([2.0, 1.5], np.float32))])):
        opset = 13
        nodes = list(h)
        ins = ["h", *extra]
        if op == "Where":
            inits = [T("cond", np.array([True, False, False, True, True])), c16("o", -1.5)]
            ins = ["cond", "h", "o"]
        nodes.append(N(op, ins, ["y"], **attrs))
        add(op, opset, nodes, [("x", FLOAT, [3, 5])], tag="float16," + ",".join(f"{k}={fmt(v)}" for k, v in attrs.items()),
            inits=inits, tol=HALF_TOL)
    for axis, outs in ((-1, ("y", "mean", "inv")), (1, ("y",))):
        add("LayerNormalization", 17, h + [N("LayerNormalization", ["h", "s", "b"], list(outs), axis=axis)],
            [("x", FLOAT, [2, 3, 8])], tag=f"float16,axis={axis},outputs={len(outs)}", tol=HALF_TOL, outputs=outs,
            inits=[c16("s", r.standard_normal([8] if axis == -1 else [3, 8])),
                   c16("b", r.standard_normal([8] if axis == -1 else [3, 8]))])
    add("Conv", 11, h + [N("Conv", ["h", "w"])], [("x", FLOAT, [1, 3, 5, 5])], tag="float16,3x3", tol=HALF_TOL,
        inits=[c16("w", r.standard_normal([4, 3, 3, 3]) * 0.3)])
    add("Conv", 11, h + [N("Conv", ["h", "w", "b"], pads=[1, 1, 1, 1])], [("x", FLOAT, [1, 16, 5, 5])],
        tag="float16,m=16", tol=HALF_TOL, inits=[c16("w", r.standard_normal([16, 16, 3, 3]) * 0.1), c16("b", r.standard_normal(16))])
    add("BatchNormalization", 15, h + [N("BatchNormalization", ["h", "s", "b", "m", "v"])], [("x", FLOAT, [2, 3, 4])],
        tag="float16", tol=HALF_TOL, inits=[c16("s", r.uniform(0.5, 2, 3)), c16("b", r.standard_normal(3)),
                                            c16("m", r.standard_normal(3)), c16("v", r.uniform(0.5, 2, 3))])
    for op in ("MaxPool", "AveragePool", "GlobalAveragePool"):
        attrs = {} if op.startswith("Global") else {"kernel_shape": [2, 2], "strides": [2, 2]}
        add(op, 13, h + [N(op, ["h"], **attrs)], [("x", FLOAT, [1, 2, 5, 4])], tag="float16", tol=HALF_TOL)
    # 1-D: the float16 W [M, C, K] becomes [M, C, 1, K] at load, as stored
    add("Conv", 11, h + [N("Conv", ["h", "w"], pads=[1, 1], strides=[2])], [("x", FLOAT, [1, 3, 9])], tag="float16,1d,k3",
        tol=HALF_TOL, inits=[c16("w", r.standard_normal([4, 3, 3]) * 0.3)])
    add("MaxPool", 13, h + [N("MaxPool", ["h"], kernel_shape=[3], strides=[2])], [("x", FLOAT, [1, 2, 7])],
        tag="float16,1d", tol=HALF_TOL)


# -- ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum, ReduceLogSumExp, ArgMin, LogSoftmax
# (appended after the generators above, so that their case ids stay as they were) --

REDUCE_MORE = ("ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp")


def gen_reduce_more():
    for op in REDUCE_MORE:
        r = rng_for(op)
        # ReduceLogSum of x * x: a sum that is not negative (log of a negative sum is NaN on both sides;
        # opset 1 has no Mul that ONNX Runtime runs, so there it is x, NaN where the sum is negative).
        for opset in (1, 11, 13, 18) + ((20,) if op == "ReduceMin" else ()):
            pre = [N("Mul", ["x", "x"], ["t"])] if op == "ReduceLogSum" and opset >= 7 else []
            src = "t" if pre else "x"
            for _ in range(2):
                rank = int(r.integers(1, 5))
                x = rshape(r, rank, 1, 5)
                lo = -rank if opset >= 11 else 0
                k = int(r.integers(0, rank + 1))
                axes = [int(a) for a in r.choice(np.arange(lo, rank), size=min(k, rank), replace=False)]
                axes = [a for i, a in enumerate(axes) if (a % rank) not in [b % rank for b in axes[:i]]]
                kd = int(r.integers(0, 2)) if r.random() < 0.7 else None
                attrs = {"keepdims": kd}
                if opset >= 18:
                    inits = [T("ax", np.array(axes, np.int64))] if axes or r.random() < 0.5 else []
                    attrs = {k2: v for k2, v in attrs.items() if v is not None}
                    add(op, opset, pre + [N(op, [src, *(["ax"] if inits else [])], **attrs)], [("x", FLOAT, x)],
                        tag=f"x={shp(x)},axes_input={fmt(axes) if inits else 'absent'},keepdims={fmt(kd)}", inits=inits)
                else:
                    attrs = {k2: v for k2, v in {"axes": axes or None, **attrs}.items() if v is not None}
                    add(op, opset, pre + [N(op, [src], **attrs)], [("x", FLOAT, x)],
                        tag=f"x={shp(x)},axes_attr={fmt(axes) if axes else 'absent'},keepdims={fmt(kd)}")
        # The spec: "the output tensor would be equivalent to input tensor", as ONNX Runtime 1.19 and the
        # ONNX reference from 1.18 have it (1.16's gives shape [1, 1, 1]; ONNX Runtime 1.2x and 1.32 apply the
        # op's element-wise part: |x|, x^2, log x): the input itself is the oracle.
        add(op, 18, pre + [N(op, [src, "ax"], noop_with_empty_axes=1)], [("x", FLOAT, [2, 3, 4])],
            tag="empty_axes_input,noop=1", inits=[T("ax", np.zeros([0], np.int64))],
            oracle=(lambda feeds: {"y": feeds["x"] * feeds["x"]}) if pre else (lambda feeds: {"y": feeds["x"]}),
            why="noop_with_empty_axes=1 without axes: the output is the input (the spec's text); ONNX Runtime "
                "from 1.2x applies the element-wise part, onnx 1.16's reference gives shape [1, 1, 1]")
        add(op, 18, pre + [N(op, [src, "ax"], keepdims=0)], [("x", FLOAT, [2, 3, 4])],
            tag="empty_axes_input,noop=0,keepdims=0", inits=[T("ax", np.zeros([0], np.int64))])
        # A row long enough for the CUDA backend's block-per-row kernel.
        add(op, 18, pre + [N(op, [src, "ax"], keepdims=0)], [("x", FLOAT, [2, 1500])], tag="x=2x1500,axes=[-1]",
            inits=[T("ax", np.array([-1], np.int64))])
        if op in ("ReduceMin", "ReduceProd", "ReduceL1", "ReduceSumSquare"):
            one(op, 18, [3, 4], {"keepdims": 0}, inits=[T("ax", np.array([-1], np.int64))], extra_ins=["ax"],
                x_type=I64, x_name="input_ids", tag="int64,axes=[-1],keepdims=0")
            one(op, 18, [3, 4], inits=[T("ax", np.array([0], np.int64))], extra_ins=["ax"],
                x_type=I32, x_name="input_ids", tag="int32,axes=[0]")
        if op in ("ReduceL2", "ReduceLogSum", "ReduceLogSumExp"):
            one(op, 18, [3, 4], inits=[T("ax", np.array([1], np.int64))], extra_ins=["ax"],
                x_type=I64, x_name="input_ids", tag="int64_refused", refuse="not supported")  # float types only
    # LogSumExp without overflow: x * 1000.
    add("ReduceLogSumExp", 18, [N("Mul", ["x", "k"], ["t"]), N("ReduceLogSumExp", ["t", "ax"])],
        [("x", FLOAT, [3, 7])], tag="x*1000,axes=[1]", inits=[T("k", np.float32(1000)), T("ax", np.array([1], np.int64))])
    # float16 through Cast, as gen_half.
    for op in REDUCE_MORE:
        pre = [N("Cast", ["x"], ["h"], to=F16)] + ([N("Mul", ["h", "h"], ["t"])] if op == "ReduceLogSum" else [])
        add(op, 18, pre + [N(op, ["t" if op == "ReduceLogSum" else "h", "ax"], keepdims=0)], [("x", FLOAT, [3, 5])],
            tag="float16,axes=[1]", inits=[T("ax", np.array([1], np.int64))], tol=HALF_TOL)


def gen_argmin():
    r = rng_for("ArgMin")
    for opset in (1, 11, 12, 13):
        for _ in range(2):
            rank = int(r.integers(1, 5))
            x = rshape(r, rank, 1, 5)
            lo = -rank if opset >= 11 else 0
            attrs = {"axis": int(r.integers(lo, rank)) if r.random() < 0.8 else None,
                     "keepdims": int(r.integers(0, 2)) if r.random() < 0.7 else None}
            if opset >= 12:
                attrs["select_last_index"] = int(r.integers(0, 2))
            one("ArgMin", opset, x, attrs)
    for last in (0, 1):
        add("ArgMin", 12, [N("Cast", ["x"], ["t"], to=I32), N("ArgMin", ["t"], axis=1, keepdims=0, select_last_index=last)],
            [("x", FLOAT, [4, 9])], tag=f"int32_ties,axis=1,keepdims=0,select_last_index={last}")
        add("ArgMin", 13, [N("Cast", ["x"], ["t"], to=I32), N("ArgMin", ["t"], axis=-1, select_last_index=last)],
            [("x", FLOAT, [3, 2, 7])], tag=f"int32_ties,axis=-1,select_last_index={last}")
    add("ArgMin", 13, [N("Cast", ["x"], ["h"], to=F16), N("ArgMin", ["h"], axis=1)], [("x", FLOAT, [3, 5])],
        tag="float16,axis=1")


def gen_log_softmax():
    r = rng_for("LogSoftmax")
    for opset in (1, 11, 13):
        for _ in range(2):
            rank = int(r.integers(2, 5))
            x = rshape(r, rank, 2, 5)
            axis = int(r.integers(-rank, rank)) if r.random() < 0.8 else None
            one("LogSoftmax", opset, x, {"axis": axis})
    one("LogSoftmax", 11, [2, 3, 4])  # default axis 1, flattening [3, 4]
    one("LogSoftmax", 13, [2, 3, 4])  # default axis -1
    one("LogSoftmax", 13, [2, 3, 4], {"axis": 0})
    one("LogSoftmax", 13, [2, 1500])  # a block per row on CUDA
    add("LogSoftmax", 13, [N("Mul", ["x", "k"], ["t"]), N("LogSoftmax", ["t"], axis=1)], [("x", FLOAT, [2, 40, 3])],
        tag="x*500,axis=1,inner=3", inits=[T("k", np.float32(500))])
    add("LogSoftmax", 13, [N("Mul", ["x", "k"], ["t"]), N("LogSoftmax", ["t"])], [("x", FLOAT, [2, 40])],
        tag="x*500,axis=-1", inits=[T("k", np.float32(500))])
    add("LogSoftmax", 13, [N("Cast", ["x"], ["h"], to=F16), N("LogSoftmax", ["h"])], [("x", FLOAT, [3, 5])],
        tag="float16,axis=-1", tol=HALF_TOL)


# -- math ops: Exp ... Selu, Abs / Sign, comparisons, Mod, Sum / Mean, Dropout (appended: earlier ids stay) --

# Edge values, fed to an op as rows Concat-ed under the random x (so that they run on the backend, not folded).
MATH_EDGES = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 1e-3, -1e-3, 30, -30, 100,
                       -100, 3.75], np.float32)


def with_edges(op, opset, attrs=None, tag="edges", x_type=FLOAT, **kw):
    """op(Concat(x, edges) along axis 0), x [3, len(edges)], computed in x_type (a Cast first when not float)."""
    cast = [] if x_type == FLOAT else [N("Cast", ["t0"], ["t"], to=x_type)]
    src = "t0" if x_type == FLOAT else "t"
    add(op, opset, [N("Concat", ["x", "e"], ["t0"], axis=0)] + cast + [N(op, [src], **(attrs or {}))],
        [("x", FLOAT, [3, len(MATH_EDGES)])], tag=tag, inits=[T("e", MATH_EDGES.reshape(1, -1))], **kw)


# ONNX Runtime has no float64 kernel for these: the spec's reference (onnx.reference) is the oracle there.
NO_ORT_FLOAT64 = ("Softplus", "Softsign", "Elu", "Selu")


def all_pairs(op, **attrs):
    """op(a, b) for every pair of edge values (and the random rows): Concat(x, e) [N+1, 1, E] against e^T [E, 1]."""
    return [N("Concat", ["x", "e"], ["t"], axis=0), N("Unsqueeze", ["t", "ax"], ["t3"]), N("Transpose", ["e"], ["et"]),
            N(op, ["t3", "et"], **attrs)]


def dropout_opset7_oracle(feeds):
    # Dropout-7's mask has X's type; nothing is dropped in inference, so it is all ones (ONNX Runtime gives
    # zeros, and onnx.reference a bool mask: neither is the spec's T).
    x = feeds["x"]
    return {"y": x, "mask": np.ones_like(x)}


def gen_math():
    r = rng_for("math")
    for op, opsets, attr_sets in (
            ("Exp", (6, 13), [{}]), ("Log", (6, 13), [{}]), ("Abs", (6, 13), [{}]), ("Reciprocal", (6, 13), [{}]),
            ("Floor", (6, 13), [{}]), ("Ceil", (6, 13), [{}]), ("Round", (11,), [{}]), ("Sin", (7,), [{}]),
            ("Cos", (7,), [{}]), ("Sign", (9, 13), [{}]), ("Softplus", (1, 13), [{}]), ("Softsign", (1, 13), [{}]),
            ("Elu", (6,), [{}, {"alpha": 0.3}]), ("Selu", (6,), [{}, {"alpha": 2.0, "gamma": 0.5}])):
        for opset in opsets:
            for attrs in attr_sets:
                one(op, opset, rshape(r, int(r.integers(1, 5)), 1, 5), attrs)
        attrs = attr_sets[-1]
        with_edges(op, 13, attrs)
        with_edges(op, 13, attrs, tag="edges,float64", x_type=DOUBLE,
                   **(dict(oracle="reference", why=f"ONNX Runtime has no float64 {op} kernel")
                      if op in NO_ORT_FLOAT64 else {}))
        with_edges(op, 13, attrs, tag="edges,float16", x_type=F16, tol=HALF_TOL,
                   **(dict(oracle="reference", why="ONNX Runtime's float16 Sign gives 0 for NaN (its float32 and "
                                                   "float64 Sign keep NaN, as the spec's reference does)")
                      if op == "Sign" else {}))
        # a wide range of values: x * 30 (Log and friends of negatives: NaN)
        add(op, 13, [N("Mul", ["x", "k"], ["t"]), N(op, ["t"], **attrs)], [("x", FLOAT, [4, 64])], tag="x=4x64,times30",
            inits=[T("k", np.float32(30))])
    # Mish (opset 18): x * tanh(softplus(x)), with the edges and a wide range
    one("Mish", 18, [3, 7])
    with_edges("Mish", 18)
    add("Mish", 18, [N("Mul", ["x", "k"], ["t"]), N("Mish", ["t"])], [("x", FLOAT, [4, 64])], tag="x=4x64,times30",
        inits=[T("k", np.float32(30))])
    # Round: halves to even, including large ones
    add("Round", 11, [N("Add", ["x", "h"], ["t"]), N("Floor", ["t"], ["f"]), N("Add", ["f", "h"], ["g"]),
                      N("Round", ["g"])], [("x", FLOAT, [4, 16])], tag="halves", inits=[T("h", np.float32(0.5))])
    # Abs / Sign of integers: input_ids - 500 has both signs
    for op in ("Abs", "Sign"):
        for it, name in ((I64, "int64"), (I32, "int32")):
            c = np.array(500, np.int64 if it == I64 else np.int32)
            add(op, 13, [N("Sub", ["input_ids", "c"], ["t"]), N(op, ["t"])], [("input_ids", it, [3, 6])], tag=name,
                inits=[T("c", c)])
    # comparisons
    for op, opsets in (("Less", (7, 9, 13)), ("Greater", (7, 9, 13)), ("LessOrEqual", (12, 16)),
                       ("GreaterOrEqual", (12, 16))):
        rr = rng_for(op)
        for opset in opsets:
            x = rshape(rr, 3, 2, 4)
            s1 = [d if rr.random() < 0.5 else 1 for d in x]
            a = np.round(rr.standard_normal(s1)).astype(np.float32)
            if opset >= 11:  # Round(x) against integers: ties
                add(op, opset, [N("Round", ["x"], ["t"]), N(op, ["t", "a"])], [("x", FLOAT, x)],
                    tag=f"x={shp(x)},a={shp(s1)},ties", inits=[T("a", a)])
            else:
                one(op, opset, x, inits=[T("a", a)], extra_ins=["a"], tag=f"x={shp(x)},a={shp(s1)}")
        last = opsets[-1]
        add(op, last, [N(op, ["a", "x"])], [("x", FLOAT, [2, 1, 4])], tag="a_first_broadcast_up",
            inits=[T("a", rr.standard_normal([3, 1]).astype(np.float32))])
        add(op, last, [N("Concat", ["x", "e"], ["t"], axis=0), N(op, ["t", "e"])],
            [("x", FLOAT, [3, len(MATH_EDGES)])], tag="edges", inits=[T("e", MATH_EDGES.reshape(1, -1))])
        add(op, last, all_pairs(op), [("x", FLOAT, [3, len(MATH_EDGES)])], tag="edges_all_pairs",
            inits=[T("e", MATH_EDGES.reshape(1, -1)), T("ax", np.array([1], np.int64))])
        if last >= 9:
            add(op, last, [N(op, ["input_ids", "c"])], [("input_ids", I64, [4, 6])], tag="int64_vs_row",
                inits=[T("c", np.array([0, 500, 10, 999, 3, 7], np.int64))])
            add(op, last, [N("Cast", ["x"], ["t"], to=I32), N(op, ["t", "c"])], [("x", FLOAT, [3, 1, 5])],
                tag="int32_broadcast_up", inits=[T("c", np.array([[0], [1], [-1]], np.int32))])
        for dt, name in ((DOUBLE, "float64"), (F16, "float16")):
            add(op, last, [N("Cast", ["x"], ["t"], to=dt), N("Cast", ["c"], ["ct"], to=dt), N(op, ["t", "ct"])],
                [("x", FLOAT, [3, 4])], tag=name, inits=[T("c", rr.standard_normal([4]).astype(np.float32))])
    # Dropout (inference): Y = X, the mask all ones
    for opset in (7, 10, 12, 13):
        attrs = {"ratio": 0.3} if opset < 12 else {}
        one("Dropout", opset, [3, 4], attrs)
        one("Dropout", opset, [2, 3, 4], attrs, outs=("y", "mask"), outputs=("y", "mask"), tag="with_mask",
            **(dict(oracle="reference" if opset >= 10 else dropout_opset7_oracle,
                    why="the mask of inference Dropout before opset 12: ONNX Runtime fills it with zeros (opset "
                        "7, float) or false (opset 10); the spec's reference, and ORT itself from opset 12, give ones: "
                        "nothing is dropped") if opset < 12 else {}))
    for opset in (12, 13):
        one("Dropout", opset, [3, 4], extra_ins=["r", "tm"], inits=[T("r", np.float32(0.5)), T("tm", np.array(False))],
            tag="training_mode=false,mask", outs=("y", "mask"), outputs=("y", "mask"))
        one("Dropout", opset, [3, 4], extra_ins=["r", "tm"], inits=[T("r", np.float32(0.0)), T("tm", np.array(True))],
            tag="training_mode=true,ratio=0", outs=("y", "mask"), outputs=("y", "mask"))
        one("Dropout", opset, [3, 4], extra_ins=["r", "tm"], inits=[T("r", np.float32(0.25)), T("tm", np.array(True))],
            tag="training_mode=true,ratio=0.25", refuse="training_mode")
        one("Dropout", opset, [3, 4], extra_ins=["", "tm"], inits=[T("tm", np.array(True))],
            tag="training_mode=true,default_ratio", refuse="training_mode")
    add("Dropout", 13, [N("Cast", ["x"], ["h"], to=F16), N("Dropout", ["h"], ["y", "mask"])], [("x", FLOAT, [3, 5])],
        tag="float16,mask", outputs=("y", "mask"))
    # Sum / Mean
    for op in ("Sum", "Mean"):
        rr = rng_for(op)
        for opset in (6, 8, 13):
            one(op, opset, [3, 4], tag="single_input")
            one(op, opset, [3, 4], inits=[T("a", rr.standard_normal([3, 4]).astype(np.float32))], extra_ins=["a"],
                tag="same_shape")
            if opset >= 8:
                x = rshape(rr, 3, 2, 4)
                s2, s3 = [2, 1, 1, x[-1]], [x[-2], 1]
                add(op, opset, [N(op, ["a", "x", "b"])], [("x", FLOAT, x)],
                    tag=f"three,a={shp(s2)},x={shp(x)},b={shp(s3)}",
                    inits=[T("a", rr.standard_normal(s2).astype(np.float32)),
                           T("b", rr.standard_normal(s3).astype(np.float32))])
        add(op, 13, [N("Concat", ["x", "e"], ["t"], axis=0), N(op, ["t", "e", "t"])], [("x", FLOAT, [3, len(MATH_EDGES)])],
            tag="edges", inits=[T("e", MATH_EDGES.reshape(1, -1))])
        for dt, name, tol in ((DOUBLE, "float64", 1e-5), (F16, "float16", HALF_TOL)):
            no_ort = op == "Mean" and dt == DOUBLE
            add(op, 13, [N("Cast", ["x"], ["t"], to=dt), N("Cast", ["c"], ["ct"], to=dt), N(op, ["t", "ct", "t"])],
                [("x", FLOAT, [3, 4])], tag=name, tol=tol, inits=[T("c", rr.standard_normal([4]).astype(np.float32))],
                **(dict(oracle="reference", why="ONNX Runtime has no float64 Mean kernel") if no_ort else {}))
    # Mod
    r = rng_for("Mod")
    for opset in (10, 13):
        for fmod in (0, 1):
            for it, name in ((I64, "int64"), (I32, "int32")):
                npt = np.int64 if it == I64 else np.int32
                add("Mod", opset, [N("Sub", ["input_ids", "c"], ["t"]), N("Mod", ["t", "d"], fmod=fmod)],
                    [("input_ids", it, [4, 6])], tag=f"{name},fmod={fmod}",
                    inits=[T("c", np.array(500, npt)), T("d", np.array([7, -7, 3, -3, 1000, -1], npt))])
        one("Mod", opset, [3, 4], {"fmod": 1}, inits=[T("d", r.uniform(0.5, 2, [4]).astype(np.float32) *
                                                          np.array([1, -1, 1, -1], np.float32))], extra_ins=["d"],
            tag="float,fmod=1")
    add("Mod", 13, all_pairs("Mod", fmod=1), [("x", FLOAT, [3, len(MATH_EDGES)])], tag="float_edges_all_pairs,fmod=1",
        inits=[T("e", MATH_EDGES.reshape(1, -1)), T("ax", np.array([1], np.int64))])
    for dt, name, tol in ((DOUBLE, "float64", 1e-5), (F16, "float16", HALF_TOL)):
        add("Mod", 13, [N("Mul", ["x", "k"], ["x3"]), N("Cast", ["x3"], ["t"], to=dt), N("Cast", ["c"], ["ct"], to=dt),
                        N("Mod", ["t", "ct"], fmod=1)],
            [("x", FLOAT, [3, 4])], tag=f"{name},fmod=1", tol=tol,
            inits=[T("k", np.float32(5)), T("c", r.uniform(0.5, 2, [4]).astype(np.float32))])
    one("Mod", 13, [3, 4], inits=[T("d", np.float32(1.5))], extra_ins=["d"], tag="float,fmod=0_refused", refuse="fmod=0")


for _gen in (gen_binary, gen_unary, gen_softmax, gen_gemm, gen_matmul, gen_flatten_reshape_identity, gen_constant,
             gen_cast, gen_concat, gen_argmax, gen_conv, gen_pool, gen_batchnorm, gen_pad, gen_resize, gen_clip, gen_pow,
             gen_equal_minmax_where, gen_gather, gen_layout, gen_reduce, gen_layernorm, gen_ml, gen_edges, gen_half,
             gen_math):
    _gen()

# -- Tile, Trilu, CumSum, GatherElements, ScatterND (appended, as above) --

def gen_tile():
    r = rng_for("Tile")
    for opset in (6, 13):
        for _ in range(3):
            rank = int(r.integers(1, 5))
            x = rshape(r, rank, 1, 4)
            reps = [int(v) for v in r.integers(0 if r.random() < 0.2 else 1, 4, size=rank)]
            one("Tile", opset, x, inits=[T("rep", np.array(reps, np.int64))], extra_ins=["rep"],
                tag=f"x={shp(x)},repeats={fmt(reps)}")
    add("Tile", 13, [N("Cast", ["x"], ["t"], to=I64), N("Tile", ["t", "rep"])], [("x", FLOAT, [2, 3])],
        tag="int64,repeats=[2,2]", inits=[T("rep", np.array([2, 2], np.int64))])
    add("Tile", 13, [N("Cast", ["x"], ["h"], to=F16), N("Tile", ["h", "rep"])], [("x", FLOAT, [2, 3])],
        tag="float16,repeats=[1,3]", inits=[T("rep", np.array([1, 3], np.int64))])
    one("Tile", 13, [2, 3], inits=[T("rep", np.array([2], np.int64))], extra_ins=["rep"], tag="repeats_too_short_refused",
        refuse="repeats")


def gen_trilu():
    r = rng_for("Trilu")
    for _ in range(6):
        rank = int(r.integers(2, 5))
        x = rshape(r, rank, 1, 6)
        upper = int(r.integers(0, 2)) if r.random() < 0.7 else None
        k = int(r.integers(-4, 5)) if r.random() < 0.8 else None
        inits = [T("k", np.array(k, np.int64))] if k is not None else []
        one("Trilu", 14, x, {"upper": upper}, inits=inits, extra_ins=["k"] if inits else [],
            tag=f"x={shp(x)},upper={fmt(upper)},k={fmt(k)}")
    for k in (-100, 100):
        one("Trilu", 14, [3, 4], {"upper": 0}, inits=[T("k", np.array(k, np.int64))], extra_ins=["k"], tag=f"lower,k={k}")
    add("Trilu", 14, [N("Cast", ["x"], ["t"], to=I64), N("Trilu", ["t"], upper=0)], [("x", FLOAT, [2, 4, 4])],
        tag="int64,lower")


def gen_cumsum():
    r = rng_for("CumSum")
    for opset in (11, 14):
        for _ in range(4):
            rank = int(r.integers(1, 4))
            x = rshape(r, rank, 1, 5)
            axis = int(r.integers(-rank, rank))
            it = np.int64 if r.random() < 0.6 else np.int32
            attrs = {"exclusive": int(r.integers(0, 2)) if r.random() < 0.7 else None,
                     "reverse": int(r.integers(0, 2)) if r.random() < 0.7 else None}
            one("CumSum", opset, x, attrs, inits=[T("ax", np.array(axis, it))], extra_ins=["ax"],
                tag=f"x={shp(x)},axis={axis}:{np.dtype(it).name}," + ",".join(f"{k}={fmt(v)}" for k, v in attrs.items()))
    for cast in (I32, I64):
        add("CumSum", 14, [N("Cast", ["x"], ["t"], to=cast), N("CumSum", ["t", "ax"], exclusive=1, reverse=1)],
            [("x", FLOAT, [3, 6])], tag=f"{'int32' if cast == I32 else 'int64'},exclusive,reverse",
            inits=[T("ax", np.array(1, np.int64))])
    one("CumSum", 14, [2, 2000], inits=[T("ax", np.array(-1, np.int64))], extra_ins=["ax"], tag="x=2x2000,axis=-1")
    add("CumSum", 14, [N("Cast", ["x"], ["h"], to=F16), N("CumSum", ["h", "ax"])], [("x", FLOAT, [3, 5])],
        tag="float16,axis=1", inits=[T("ax", np.array(1, np.int64))], tol=HALF_TOL)


def gen_gather_elements():
    r = rng_for("GatherElements")
    for opset in (11, 13):
        for _ in range(4):
            rank = int(r.integers(1, 4))
            x = rshape(r, rank, 1, 5)
            axis = int(r.integers(-rank, rank))
            a = axis % rank
            ishape = [int(r.integers(1, d + 1)) if k != a else int(r.integers(1, 6)) for k, d in enumerate(x)]
            idx = r.integers(-x[a], x[a], size=ishape)
            it = np.int64 if r.random() < 0.7 else np.int32
            one("GatherElements", opset, x, {"axis": axis}, inits=[T("i", np.asarray(idx, it))], extra_ins=["i"],
                tag=f"x={shp(x)},axis={axis},indices={shp(ishape)}:{np.dtype(it).name}")
    one("GatherElements", 13, [3, 4], {"axis": 1}, inits=[T("i", np.array([[0, 4]] * 3, np.int64))], extra_ins=["i"],
        tag="index_out_of_range_refused", refuse="out of range")
    add("GatherElements", 13, [N("Cast", ["x"], ["h"], to=F16), N("GatherElements", ["h", "i"], axis=0)],
        [("x", FLOAT, [3, 4])], tag="float16,axis=0", inits=[T("i", np.array([[2, -1, 0, 1]], np.int64))])


def gen_scatter_nd():
    r = rng_for("ScatterND")
    for opset, xs, ind, red in (
            (11, [4, 3], [[1], [-1]], None),
            (11, [4, 3, 2], [[0, 2], [3, -3], [1, 1]], None),
            (13, [5, 4], [[0, 0], [4, 3], [-2, 1], [2, -4]], None),
            (13, [3, 2, 4], [[[1, 1, 3]], [[0, 0, 0]]], None),
            (16, [4, 3], [[1], [3], [1]], "add"),
            (16, [4, 3], [[0], [0], [2]], "mul"),
            (18, [4, 3], [[2], [1], [2]], "max"),
            (18, [4, 3], [[3], [-1], [0]], "min"),
            (18, [4, 3], [[0], [2]], "none")):
        ind = np.array(ind, np.int64)
        m = ind.shape[-1]
        ushape = list(ind.shape[:-1]) + xs[m:]
        upd = r.standard_normal(ushape).astype(np.float32)
        one("ScatterND", opset, xs, {"reduction": red}, inits=[T("i", ind), T("u", upd)], extra_ins=["i", "u"],
            tag=f"x={shp(xs)},indices={shp(ind.shape)},reduction={fmt(red)}")
    add("ScatterND", 16, [N("Cast", ["x"], ["t"], to=I64), N("ScatterND", ["t", "i", "u"], reduction="add")],
        [("x", FLOAT, [3, 4])], tag="int64,add", inits=[T("i", np.array([[1], [1]], np.int64)),
                                                         T("u", np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.int64))])
    add("ScatterND", 16, [N("Cast", ["x"], ["h"], to=F16), N("ScatterND", ["h", "i", "u"])],
        [("x", FLOAT, [3, 4])], tag="float16,none", tol=HALF_TOL,
        inits=[T("i", np.array([[2, 1], [0, 3]], np.int64)), T("u", np.array([0.5, -1.25], np.float16))])
    one("ScatterND", 13, [4, 3], inits=[T("i", np.array([[4]], np.int64)), T("u", np.ones([1, 3], np.float32))],
        extra_ins=["i", "u"], tag="index_out_of_range_refused", refuse="out of range")


def gen_instance_norm():
    r = rng_for("InstanceNormalization")
    for opset, x, eps in ((6, [2, 3, 5], None), (17, [2, 4, 3, 5], 1e-3), (21, [1, 3, 2, 3, 4], None),
                          (17, [3, 2, 1, 1], None), (17, [2, 16, 64], 1e-5)):
        c = x[1]
        inits = [T("s", r.uniform(0.5, 2, c).astype(np.float32)), T("b", r.standard_normal(c).astype(np.float32))]
        one("InstanceNormalization", opset, x, {"epsilon": eps}, inits=inits, extra_ins=["s", "b"])
    # A large common offset (x + 1000, std about 1): statistics that lose the variance in float32 fail here.
    # ONNX Runtime is off by 2e-5 relative on it (its float32 statistics): the oracle is the spec in
    # float64 on the float32 sum.
    s_off, b_off = r.uniform(0.5, 2, 3).astype(np.float32), r.standard_normal(3).astype(np.float32)

    def offset_oracle(feeds, s_off=s_off, b_off=b_off):
        t = (feeds["x"] + np.float32(1000)).astype(np.float64)
        mean = t.mean(axis=(2, 3), keepdims=True)
        var = ((t - mean) ** 2).mean(axis=(2, 3), keepdims=True)
        y = (t - mean) / np.sqrt(var + np.float64(np.float32(1e-5)))
        return {"y": (y * s_off.astype(np.float64)[:, None, None] + b_off.astype(np.float64)[:, None, None]).astype(np.float32)}
    add("InstanceNormalization", 17, [N("Add", ["x", "k"], ["t"]), N("InstanceNormalization", ["t", "s", "b"])],
        [("x", FLOAT, [2, 3, 8, 8])], tag="x=2x3x8x8,offset_1000", oracle=offset_oracle,
        why="ONNX Runtime's float32 statistics are off by 2e-5 relative at a common offset of 1000",
        inits=[T("k", np.float32(1000)), T("s", s_off), T("b", b_off)])
    add("InstanceNormalization", 17, [N("Cast", ["x"], ["h"], to=F16), N("InstanceNormalization", ["h", "s", "b"])],
        [("x", FLOAT, [2, 3, 4, 5])], tag="float16", tol=HALF_TOL,
        inits=[T("s", r.uniform(0.5, 2, 3).astype(np.float16)), T("b", r.standard_normal(3).astype(np.float16))])
    add("InstanceNormalization", 17, [N("Cast", ["x"], ["d"], to=DOUBLE), N("InstanceNormalization", ["d", "s", "b"])],
        [("x", FLOAT, [2, 3, 7])], tag="float64", oracle="reference",
        why="ONNX Runtime has no float64 InstanceNormalization kernel (NOT_IMPLEMENTED); the spec allows it",
        inits=[T("s", r.uniform(0.5, 2, 3).astype(np.float64)), T("b", r.standard_normal(3).astype(np.float64))])
    one("InstanceNormalization", 17, [4, 3], inits=[T("s", np.ones(3, np.float32)), T("b", np.zeros(3, np.float32))],
        extra_ins=["s", "b"], tag="x=4x3_refused", refuse="at least 3 dimensions")


def lrn_oracle(size, alpha=1e-4, beta=0.75, bias=1.0, pre=lambda x: x):
    """The spec's LRN in float64 on pre(x) (the graph's ops before LRN), rounded to their type: channels
    max(0, c - floor((size - 1) / 2)) .. min(C - 1, c + ceil((size - 1) / 2)). ONNX's reference (1.16) is
    no oracle here: its loop runs over the batch, not the channels."""
    down, up = (size - 1) // 2, size // 2

    def oracle(feeds):
        x = pre(feeds["x"])
        t = x.astype(np.float64)
        sq = np.zeros_like(t)
        for c in range(t.shape[1]):
            sq[:, c] = (t[:, max(0, c - down):min(t.shape[1], c + up + 1)] ** 2).sum(axis=1)
        a, b, k = (float(np.float32(v)) for v in (alpha, beta, bias))
        return {"y": (t / (k + a / size * sq) ** b).astype(x.dtype)}
    return oracle


def gen_lrn():
    # AlexNet's and GoogLeNet's size 5 with the defaults; size 1; a window wider than C; other alpha,
    # beta and bias; opset 1.
    for opset, x, attrs in ((13, [2, 7, 3, 4], {"size": 5}), (1, [2, 3, 4, 4], {"size": 1, "alpha": 0.5}),
                            (13, [1, 4, 3, 3], {"size": 7, "alpha": 0.2, "beta": 1.5, "bias": 2.0})):
        one("LRN", opset, x, attrs)
    # Even sizes (one channel more above c than below it), which ONNX Runtime refuses: the spec in float64.
    for x, attrs in (([1, 6, 5, 5], {"size": 4, "alpha": 0.3, "beta": 1.5, "bias": 2.0}), ([2, 8, 3, 3], {"size": 2, "beta": 0.5})):
        one("LRN", 13, x, attrs, oracle=lrn_oracle(**attrs), why="ONNX Runtime refuses an even size (size % 2 == 1)")
    add("LRN", 13, [N("Mul", ["x", "k"], ["t"]), N("LRN", ["t"], size=3)], [("x", FLOAT, [2, 5, 4, 4])],
        tag="large_activations", inits=[T("k", np.float32(40))])
    add("LRN", 13, [N("Cast", ["x"], ["h"], to=F16), N("LRN", ["h"], size=5, alpha=0.01)], [("x", FLOAT, [2, 6, 3, 3])],
        tag="float16", tol=HALF_TOL)
    add("LRN", 13, [N("Cast", ["x"], ["d"], to=DOUBLE), N("LRN", ["d"], size=3, alpha=0.5)], [("x", FLOAT, [2, 5, 3, 3])],
        tag="float64", oracle=lrn_oracle(3, alpha=0.5, pre=lambda x: x.astype(np.float64)),
        why="ONNX Runtime has no float64 LRN kernel, and ONNX's reference sums the wrong axis")


# -- QuantizeLinear / DequantizeLinear (QDQ) --

def gen_quant():
    Q, DQ = "QuantizeLinear", "DequantizeLinear"
    k = T("k", np.float32(60))  # spreads x over the 8-bit range and past it (saturation)
    # Per-tensor, every opset, uint8 and int8 zero points; no zero point (uint8).
    for opset in (10, 13, 19, 21):
        for zt, z in ((np.uint8, 128), (np.int8, -3)):
            add(Q, opset, [N("Mul", ["x", "k"], ["t"]), N(Q, ["t", "s", "z"])], [("x", FLOAT, [4, 6])],
                tag=f"per_tensor,{np.dtype(zt).name}", inits=[k, T("s", np.float32(0.37)), T("z", z, zt)])
        add(Q, opset, [N("Mul", ["x", "k"], ["t"]), N(Q, ["t", "s"])], [("x", FLOAT, [4, 6])], tag="no_zero_point",
            inits=[k, T("s", np.float32(0.21))])
        # Exact ties: t = (floor(60 x) + 1/2) / 2, quantized with scale 1/2, is an odd number of halves.
        add(Q, opset, [N("Mul", ["x", "k"], ["a"]), N("Floor", ["a"], ["b"]), N("Add", ["b", "h"], ["c"]),
                       N("Mul", ["c", "h"], ["t"]), N(Q, ["t", "h", "z"])], [("x", FLOAT, [4, 8])],
            tag="ties_to_even", inits=[k, T("h", np.float32(0.5)), T("z", np.int8(0))])
        # Dequantize of the quantized values (a QDQ pair), and of an int32 x (a bias) with no zero point.
        add(DQ, opset, [N("Mul", ["x", "k"], ["t"]), N(Q, ["t", "s", "z"], ["q"]), N(DQ, ["q", "s2", "z"])],
            [("x", FLOAT, [4, 6])], tag="qdq_pair,uint8", inits=[k, T("s", np.float32(0.37)), T("s2", np.float32(0.011)),
                                                                  T("z", np.uint8(100))])
        add(DQ, opset, [N("Mul", ["x", "k2"], ["t"]), N("Cast", ["t"], ["q"], to=I32), N(DQ, ["q", "s"])],
            [("x", FLOAT, [4, 6])], tag="int32_no_zero_point", inits=[T("k2", np.float32(1e5)), T("s", np.float32(0.0007))])
    # Per-axis (opset 13 on): axis 1 (default), -1, 0.
    r = rng_for("quant")
    for opset in (13, 19, 21):
        for axis, dim in ((None, 3), (-1, 5), (0, 2)):
            sc = (r.uniform(0.05, 0.6, dim)).astype(np.float32)
            zp = r.integers(-20, 20, dim).astype(np.int8)
            attrs = {} if axis is None else {"axis": axis}
            add(Q, opset, [N("Mul", ["x", "k"], ["t"]), N(Q, ["t", "s", "z"], **attrs)], [("x", FLOAT, [2, 3, 4, 5])],
                tag=f"per_axis,axis={fmt(axis)}", inits=[k, T("s", sc), T("z", zp)], fixed0=True)
            add(DQ, opset, [N("Mul", ["x", "k"], ["t"]), N(Q, ["t", "s", "z"], ["q"], **attrs), N(DQ, ["q", "s", "z"], **attrs)],
                [("x", FLOAT, [2, 3, 4, 5])], tag=f"per_axis,axis={fmt(axis)}", inits=[k, T("s", sc), T("z", zp)], fixed0=True)
    # int16 / uint16 (opset 21).
    for zt, z in ((np.int16, -300), (np.uint16, 30000)):
        add(Q, 21, [N("Mul", ["x", "k"], ["t"]), N(Q, ["t", "s", "z"], ["q"]), N(DQ, ["q", "s", "z"], ["y"])],
            [("x", FLOAT, [4, 6])], tag=f"qdq_pair,{np.dtype(zt).name}", inits=[k, T("s", np.float32(0.003)), T("z", z, zt)])
    # float16 scale (opset 19): DequantizeLinear's y is float16, the float32 product rounded once.
    add(DQ, 19, [N("Mul", ["x", "k"], ["t"]), N(Q, ["t", "s", "z"], ["q"]), N(DQ, ["q", "s16", "z"], ["y"])],
        [("x", FLOAT, [4, 6])], tag="float16_scale", inits=[k, T("s", np.float32(0.37)), T("s16", np.float16(0.37)),
                                                          T("z", np.int8(3))], tol=HALF_TOL)
    # float16 x and scale (opset 19): the division in float32 (both widen exactly), rounded half to even (ONNX
    # Runtime 1.19 truncated toward zero; ONNX's reference divides in float16, rounding the quotient twice).
    add(Q, 19, [N("Mul", ["x", "k"], ["t"]), N("Cast", ["t"], ["h"], to=F16), N(Q, ["h", "s", "z"], ["q"]),
                N(DQ, ["q", "s", "z"], ["y"])], [("x", FLOAT, [4, 6])], tag="float16",
        inits=[k, T("s", np.float16(0.37)), T("z", np.int8(3))], tol=HALF_TOL)
    # int32 x (ONNX's T1 since opset 10) with a float32 scale, the types opsets 10 and 13 give (19 and 21 type
    # y_scale as x: int32, refused below). x = trunc(1000 x) spans past the 8-bit range; scale 2 makes odd x ties.
    ort_int32 = dict(oracle="reference", why="ONNX Runtime has no int32 QuantizeLinear kernel (NOT_IMPLEMENTED)")
    for opset in (10, 13):
        for zt, z, sc in ((np.int8, 3, 7.0), (np.uint8, 128, 2.0)):
            add(Q, opset, [N("Mul", ["x", "k3"], ["t"]), N("Cast", ["t"], ["i"], to=I32), N(Q, ["i", "s", "z"])],
                [("x", FLOAT, [4, 6])], tag=f"int32_x,{np.dtype(zt).name}",
                inits=[T("k3", np.float32(1000)), T("s", np.float32(sc)), T("z", z, zt)], **ort_int32)
        add(Q, opset, [N("Mul", ["x", "k3"], ["t"]), N("Cast", ["t"], ["i"], to=I32), N(Q, ["i", "s"])],
            [("x", FLOAT, [4, 6])], tag="int32_x,no_zero_point",
            inits=[T("k3", np.float32(1000)), T("s", np.float32(3.0))], **ort_int32)
    add(Q, 19, [N("Cast", ["x"], ["i"], to=I32), N(Q, ["i", "s", "z"])], [("x", FLOAT, [2, 3])],
        tag="int32_scale_refused", inits=[T("s", np.int32(2)), T("z", np.int8(0))], refuse="y_scale of type int32")
    # int16 / uint16 before opset 21: refused, naming the opset (ONNX adds them at 21).
    for opset in (13, 19):
        for zt in (np.int16, np.uint16):
            add(Q, opset, [N(Q, ["x", "s", "z"])], [("x", FLOAT, [2, 3])], tag=f"{np.dtype(zt).name}_refused",
                inits=[T("s", np.float32(0.1)), T("z", 0, zt)], refuse="needs opset 21")
            add(DQ, opset, [N("Cast", ["x"], ["q"], to=I16 if zt is np.int16 else TP.UINT16), N(DQ, ["q", "s"])],
                [("x", FLOAT, [2, 3])], tag=f"{np.dtype(zt).name}_refused", inits=[T("s", np.float32(0.1))],
                refuse="needs opset 21")
    # Refused by name: float8 output (output_dtype FLOAT8E4M3FN).
    add(Q, 21, [N(Q, ["x", "s"], output_dtype=17)], [("x", FLOAT, [2, 3])], tag="float8_refused",
        inits=[T("s", np.float32(0.1))], refuse="FLOAT8E4M3FN")
    # A float8 zero point (opset 19's way to ask for float8): the initializer is refused at load, by name.
    add(Q, 19, [N(Q, ["x", "s", "z"])], [("x", FLOAT, [2, 3])], tag="float8_zero_point_refused",
        inits=[T("s", np.float32(0.1)), helper.make_tensor("z", TP.FLOAT8E4M3FN, [], [0.0])], refuse="FLOAT8E4M3FN")


gen_quant()

# -- quantize_dynamic's ops: DynamicQuantizeLinear, MatMulInteger, ConvInteger --

def gen_dynamic_quant():
    """As onnxruntime.quantization.quantize_dynamic writes them: x -> DynamicQuantizeLinear -> MatMulInteger /
    ConvInteger with int8 (or uint8) weights -> Cast -> Mul by the product of the scales. The engine runs such a
    model a row at a time (the scale follows the whole tensor), so the oracle is ONNX Runtime on each row alone, its
    MatMulInteger in float64 (ort_integer.py: ONNX Runtime's own saturates on CPUs without VNNI). Rows get different
    ranges (x times exp(8 * the row's mean)), so a whole-batch scale would differ."""
    DQL, MMI, CI = "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"
    r = rng_for("dynamic_quant")
    rows = dict(oracle="ort_rows", why="the engine scores each row alone (the scale follows the whole tensor); ONNX "
                "Runtime's uint8 x int8 MatMulInteger saturates without VNNI, so the oracle's runs in float64")
    eight = T("eight", np.float32(8))

    def spread(rank):  # x -> xs = x * exp(8 * mean of the row)
        return [N("ReduceMean", ["x"], ["m"], axes=list(range(1, rank)), keepdims=1), N("Mul", ["m", "eight"], ["m8"]),
                N("Exp", ["m8"], ["e"]), N("Mul", ["x", "e"], ["xs"])]

    def dq_matmul(k, n, wt, per_col=False, relu=False, tag=""):
        w = (r.integers(-128, 128, (k, n)) if wt == np.int8 else r.integers(0, 256, (k, n))).astype(wt)
        wz = (r.integers(-20, 20, n if per_col else ()) if wt == np.int8 else r.integers(100, 156, n if per_col else ())).astype(wt)
        ws = np.float32(0.013)
        pre = spread(2) + ([N("Relu", ["xs"], ["xr"])] if relu else [])
        src = "xr" if relu else "xs"
        add(MMI, 11, pre + [N(DQL, [src], ["q", "qs", "qz"]), N(MMI, ["q", "W", "qz", "Wz"], ["i"]),
                            N("Cast", ["i"], ["f"], to=FLOAT), N("Mul", ["qs", "Ws"], ["s"]), N("Mul", ["f", "s"], ["y"])],
            [("x", FLOAT, [5, k])], tag=tag, inits=[eight, T("W", w), T("Wz", wz), T("Ws", ws)],
            extra_opsets={}, **rows)

    dq_matmul(8, 6, np.int8, tag="int8_weights")
    dq_matmul(8, 6, np.uint8, tag="uint8_weights")
    dq_matmul(12, 4, np.int8, relu=True, tag="int8_weights,relu_input(zero_point_0)")
    dq_matmul(8, 5, np.uint8, per_col=True, tag="uint8_weights,per_column_zero_point")
    # The quantized y, scale and zero point themselves, at batch 1 (one row: the whole-tensor scale is the row's).
    add(DQL, 11, [N("Mul", ["x", "k"], ["t"]), N(DQL, ["t"], ["y", "s", "z"])], [("x", FLOAT, [1, 40])],
        tag="y_scale_zero_point,batch_1", inits=[T("k", np.float32(4.0))], outputs=("y", "s", "z"), fixed0=True)
    add(DQL, 11, [N("Abs", ["x"], ["t"]), N(DQL, ["t"], ["y", "s", "z"])], [("x", FLOAT, [1, 16])],
        tag="all_positive,batch_1", outputs=("y", "s", "z"), fixed0=True)
    # 3-D activations [N, S, K] x [K, N'] (BERT's), per-row scales.
    w = r.integers(-128, 128, (6, 5)).astype(np.int8)
    add(MMI, 11, spread(3) + [N(DQL, ["xs"], ["q", "qs", "qz"]),
                  N(MMI, ["q", "W", "qz"], ["i"]), N("Cast", ["i"], ["y"], to=FLOAT)],
        [("x", FLOAT, [3, 4, 6])], tag="3d_activations",
        inits=[eight, T("W", w)], **rows)
    # ConvInteger: int8 weights, pads and strides; uint8 weights with a zero point, group 2, dilation.
    for tag, wt, attrs, cin, cout in (("int8_weights,pads,strides", np.int8, dict(pads=[1, 1, 1, 1], strides=[2, 1]), 2, 3),
                                      ("uint8_weights,group_2,dilations", np.uint8, dict(group=2, dilations=[2, 1]), 4, 4)):
        wshape = (cout, cin // attrs.get("group", 1), 3, 2)
        w = (r.integers(-128, 128, wshape) if wt == np.int8 else r.integers(0, 256, wshape)).astype(wt)
        wz = np.int8(-7) if wt == np.int8 else np.uint8(131)
        add(CI, 11, spread(4) + [N(DQL, ["xs"], ["q", "qs", "qz"]),
                     N(CI, ["q", "W", "qz", "Wz"], ["i"], **attrs), N("Cast", ["i"], ["f"], to=FLOAT),
                     N("Mul", ["qs", "Ws"], ["s"]), N("Mul", ["f", "s"], ["y"])],
            [("x", FLOAT, [3, cin, 6, 5])], tag=tag,
            inits=[eight, T("W", w), T("Wz", wz),
                   T("Ws", np.float32(0.02))], **rows)
    # MatMulInteger alone on integer inputs made in the graph (uint8 from a clipped x), with products near 255 * -128:
    # ONNX Runtime's own kernel saturates here on CPUs without VNNI; the oracle's float64 one does not. (A per-row
    # zero point is the engine's only: ONNX Runtime refuses it, so a scalar one here.)
    add(MMI, 11, [N("Mul", ["x", "k"], ["a"]), N("Clip", ["a", "lo", "hi"], ["b"]), N("Cast", ["b"], ["q"], to=U8),
                  N(MMI, ["q", "W", "z"], ["y"])], [("x", FLOAT, [4, 9])], tag="uint8_from_cast,extremes",
        oracle="ort_rows", why=rows["why"],
        inits=[T("k", np.float32(90)), T("lo", np.float32(0)), T("hi", np.float32(255)),
               T("W", r.integers(-128, -100, (9, 3)).astype(np.int8)), T("z", np.uint8(0))])
    # Refused by name: float16 x (ONNX types DynamicQuantizeLinear's x float32 only; the model is invalid, so ONNX
    # Runtime refuses it too), a per-row zero point of a 3-D A.
    add(MMI, 10, [N("Cast", ["x"], ["q"], to=U8), N(MMI, ["q", "W", "z"], ["y"])], [("x", FLOAT, [2, 3, 4])],
        tag="3d_per_row_zero_point_refused", inits=[T("W", np.ones((4, 2), np.int8)), T("z", np.zeros(3, np.uint8))],
        refuse="a_zero_point [3] is not supported")


gen_dynamic_quant()

# -- ai.onnx.ml support vector machines --

def svm_tables(r, classes, per_class, features, proba):
    """Random SVMClassifier tables in libsvm's layout: support vectors grouped by class, (classes - 1) x V
    dual coefficients, one rho per pair, and Platt's A < 0 / B per pair when `proba`."""
    v = sum(per_class)
    t = dict(vectors_per_class=list(per_class), classlabels_ints=list(range(10, 10 + classes)),
             support_vectors=r.standard_normal(v * features).astype(np.float32).tolist(),
             coefficients=r.uniform(-1.5, 1.5, (classes - 1) * v).astype(np.float32).tolist(),
             rho=r.uniform(-0.5, 0.5, classes * (classes - 1) // 2).astype(np.float32).tolist())
    if proba:
        pairs = classes * (classes - 1) // 2
        t["prob_a"] = r.uniform(-3, -0.5, pairs).astype(np.float32).tolist()
        t["prob_b"] = r.uniform(-0.3, 0.3, pairs).astype(np.float32).tolist()
    return t


def gen_svm():
    r = rng_for("svm")
    ml = {"ai.onnx.ml": 3}
    kernels = {"LINEAR": [0.0, 0.0, 0.0], "POLY": [0.3, 0.5, 3.0], "RBF": [0.25, 0.0, 0.0], "SIGMOID": [0.2, -0.1, 0.0]}
    f = 4
    for kernel, params in kernels.items():
        add("SVMRegressor", 13, [N("SVMRegressor", ["x"], ["y"], domain="ai.onnx.ml", kernel_type=kernel,
                                   kernel_params=params, n_supports=5,
                                   support_vectors=r.standard_normal(5 * f).astype(np.float32).tolist(),
                                   coefficients=r.uniform(-1, 1, 5).astype(np.float32).tolist(), rho=[0.3])],
            [("x", FLOAT, [7, f])], tag=f"kernel={kernel}", extra_opsets=ml)
    # ONNX Runtime requires kernel_params even here (shardscore defaults them to 0, 0, 0).
    add("SVMRegressor", 13, [N("SVMRegressor", ["x"], ["y"], domain="ai.onnx.ml", n_supports=0, kernel_type="RBF",
                               kernel_params=[0.5, 0.0, 0.0], coefficients=r.standard_normal(f).astype(np.float32).tolist(), rho=[-0.4])],
        [("x", FLOAT, [6, f])], tag="linear_form", extra_opsets=ml)
    add("SVMRegressor", 13, [N("SVMRegressor", ["x"], ["y"], domain="ai.onnx.ml", kernel_type="RBF", kernel_params=[0.5, 0, 0],
                               n_supports=6, one_class=1, support_vectors=r.standard_normal(6 * f).astype(np.float32).tolist(),
                               coefficients=r.uniform(0, 1, 6).astype(np.float32).tolist(), rho=[-0.6])],
        [("x", FLOAT, [9, f])], tag="one_class", extra_opsets=ml)
    add("SVMRegressor", 13, [N("SVMRegressor", ["x"], ["y"], domain="ai.onnx.ml", n_supports=0, post_transform="LOGISTIC",
                               coefficients=[1.0] * f, rho=[0.0])],
        [("x", FLOAT, [2, f])], tag="post=LOGISTIC_refused", extra_opsets=ml, refuse="post_transform 'LOGISTIC'")

    def clf(tag, t, kernel="RBF", params=(0.3, 0.2, 2.0), post="NONE", x_type=FLOAT, rows=8, **kw):
        add("SVMClassifier", 13, [N("SVMClassifier", ["x"], ["label", "scores"], domain="ai.onnx.ml", kernel_type=kernel,
                                    kernel_params=list(params), post_transform=post, **t)],
            [("x", x_type, [rows, f])], tag=tag, outputs=("label", "scores"), extra_opsets=ml, **kw)

    for kernel in kernels:
        clf(f"3_classes,kernel={kernel}", svm_tables(r, 3, [2, 3, 2], f, False), kernel=kernel, params=kernels[kernel])
    clf("3_classes,proba", svm_tables(r, 3, [3, 2, 4], f, True), rows=12)
    clf("4_classes,proba,POLY", svm_tables(r, 4, [2, 2, 3, 2], f, True), kernel="POLY", params=kernels["POLY"], rows=12)
    clf("2_classes", svm_tables(r, 2, [3, 4], f, False), rows=10)
    clf("2_classes,proba", svm_tables(r, 2, [3, 4], f, True), rows=10)
    for post in ("LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"):
        clf(f"3_classes,post={post}", svm_tables(r, 3, [2, 2, 2], f, False), post=post)
    # Two classes without probabilities: post_transform over [-d, d], as ONNX's reference writes it and ONNX
    # Runtime does for LOGISTIC.
    for post in ("LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"):
        clf(f"2_classes,post={post}", svm_tables(r, 2, [2, 3], f, False), post=post,
            **(dict(oracle="reference", why="ONNX Runtime writes [1 - d, d] with no transform for SOFTMAX and "
                                            "SOFTMAX_ZERO (as it did for LOGISTIC before 1.2x)") if post != "LOGISTIC" else {}))
    clf("3_classes,proba,post=SOFTMAX", svm_tables(r, 3, [2, 2, 2], f, True), post="SOFTMAX")
    clf("3_classes,x=double", svm_tables(r, 3, [2, 1, 2], f, False), x_type=DOUBLE)
    # The linear form (no support vectors): coefficients [classes, features], rho[0] for all.
    clf("linear_form,3_classes", dict(classlabels_ints=[1, 2, 3], coefficients=r.standard_normal(3 * f).astype(np.float32).tolist(),
                                      rho=[0.1]))
    clf("linear_form,2_classes_mixed", dict(classlabels_ints=[0, 1], coefficients=r.standard_normal(2 * f).astype(np.float32).tolist(),
                                            rho=[0.2]))
    clf("linear_form,2_classes_positive", dict(classlabels_ints=[0, 1], coefficients=r.uniform(0, 0.3, 2 * f).astype(np.float32).tolist(),
                                               rho=[0.1]))
    t = svm_tables(r, 3, [1, 1, 1], f, False)
    t["classlabels_strings"] = ["a", "b", "c"]
    del t["classlabels_ints"]
    add("SVMClassifier", 13, [N("SVMClassifier", ["x"], ["label", "scores"], domain="ai.onnx.ml", kernel_type="RBF", **t)],
        [("x", FLOAT, [3, f])], tag="string_labels_refused", outputs=("label", "scores"), extra_opsets=ml,
        refuse="string class labels")
    clf("post=PROBIT_refused", svm_tables(r, 3, [1, 1, 1], f, False), post="PROBIT", refuse="post_transform 'PROBIT'")


for _gen in (gen_reduce_more, gen_argmin, gen_log_softmax):
    _gen()
for _gen in (gen_tile, gen_trilu, gen_cumsum, gen_gather_elements, gen_scatter_nd, gen_trees):
    _gen()
gen_instance_norm()
gen_lrn()
gen_svm()


# -- ConvTranspose (appended, as above) --

def gen_conv_transpose():
    r = rng_for("ConvTranspose")
    specs = [
        dict(c=3, m=4, k=(3, 3)),
        dict(c=3, m=4, k=(3, 3), strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]),  # U-Net decoder
        dict(c=4, m=2, k=(2, 2), strides=[2, 2]),                                            # no overlap
        dict(c=4, m=6, k=(3, 2), group=2, strides=[1, 3], dilations=[2, 1], pads=[0, 1, 2, 0]),
        dict(c=4, m=4, k=(3, 3), group=4, strides=[2, 2]),                                   # depthwise
        dict(c=2, m=3, k=(3, 3), strides=[3, 2], output_shape=[10, 8]),
        dict(c=2, m=3, k=(3, 3), strides=[3, 2], output_shape=[8, 6]),
        dict(c=2, m=3, k=(3, 3), strides=[3, 2], output_shape=[10, 8], output_padding=[1, 1]),
        dict(c=2, m=3, k=(3, 3), strides=[3, 2], output_shape=[11, 6]),
        dict(c=2, m=3, k=(3, 3), auto_pad="SAME_UPPER", strides=[2, 2]),
        dict(c=2, m=3, k=(4, 3), auto_pad="SAME_LOWER", strides=[2, 3]),
        dict(c=2, m=3, k=(3, 3), auto_pad="VALID", strides=[2, 2], bias=False),
        dict(c=3, m=2, k=(2, 2), bias=False, kernel_shape=True),
    ]
    for i, s in enumerate(specs):
        n_img = int(r.integers(1, 3))
        hw = [3, 3] if "output_shape" in s else [int(v) for v in r.integers(3, 6, size=2)]
        x = [n_img, s["c"], *hw]
        g = s.get("group", 1)
        w = (r.standard_normal([s["c"], s["m"] // g, *s["k"]]) * 0.5).astype(np.float32)
        inits, ins = [T("W", w)], ["W"]
        if s.get("bias", True):
            inits.append(T("B", r.standard_normal([s["m"]]).astype(np.float32)))
            ins.append("B")
        attrs = {k: s.get(k) for k in ("strides", "pads", "dilations", "group", "auto_pad", "output_padding", "output_shape")}
        attrs["kernel_shape"] = list(s["k"]) if s.get("kernel_shape") else None
        one("ConvTranspose", (1, 11)[i % 2], x, attrs, inits=inits, extra_ins=ins,
            tag=f"x={shp(x)},W={shp(w.shape)}," + ",".join(f"{k}={fmt(v)}" for k, v in attrs.items() if v is not None))
    # 1-D (ConvTranspose1d: audio decoders, vocoders), as 2-D on [N, C, 1, L]
    for i, s in enumerate([dict(c=3, m=4, k=4, strides=[2], pads=[1, 1]),
                           dict(c=4, m=4, k=3, group=2, strides=[3], output_padding=[1], dilations=[2]),
                           dict(c=2, m=3, k=3, strides=[2], output_shape=[11])]):
        x = [2, s["c"], 5]
        w = (r.standard_normal([s["c"], s["m"] // s.get("group", 1), s["k"]]) * 0.5).astype(np.float32)
        attrs = {k: s.get(k) for k in ("strides", "pads", "dilations", "group", "output_padding", "output_shape")}
        one("ConvTranspose", 11, x, attrs, inits=[T("W", w), T("B", r.standard_normal([s["m"]]).astype(np.float32))],
            extra_ins=["W", "B"], tag=f"1d,x={shp(x)},W={shp(w.shape)}," + ",".join(f"{k}={fmt(v)}" for k, v in attrs.items() if v is not None))
    # A decoder stage: ConvTranspose -> Relu -> Conv (U-Net's up path), and float16 through Cast
    add("ConvTranspose", 11, [N("ConvTranspose", ["x", "W", "B"], ["u"], strides=[2, 2]), N("Relu", ["u"], ["r"]),
                              N("Conv", ["r", "W2"], pads=[1, 1, 1, 1])],
        [("x", FLOAT, [2, 8, 4, 4])], tag="then_Relu_Conv",
        inits=[T("W", (r.standard_normal([8, 16, 2, 2]) * 0.3).astype(np.float32)),
               T("B", r.standard_normal([16]).astype(np.float32)),
               T("W2", (r.standard_normal([4, 16, 3, 3]) * 0.2).astype(np.float32))])
    add("ConvTranspose", 11, [N("Cast", ["x"], ["h"], to=F16), N("ConvTranspose", ["h", "w", "b"], strides=[2, 2])],
        [("x", FLOAT, [1, 8, 3, 3])], tag="float16", tol=HALF_TOL,
        inits=[T("w", np.asarray(r.standard_normal([8, 3, 3, 3]) * 0.3, np.float16)),
               T("b", np.asarray(r.standard_normal(3), np.float16))])
    # Refused: output before the first input's reach (ONNX Runtime and the spec differ), output_shape with pads, 3-D
    w = (r.standard_normal([2, 3, 3, 3]) * 0.5).astype(np.float32)
    one("ConvTranspose", 11, [1, 2, 3, 3], {"output_shape": [9, 5]}, inits=[T("W", w)], extra_ins=["W"],
        tag="output_shape_too_large_refused", refuse="or more past the last value")
    one("ConvTranspose", 11, [1, 2, 3, 3], {"auto_pad": "SAME_UPPER", "strides": [4, 4]}, inits=[T("W", w)], extra_ins=["W"],
        tag="same_beyond_full_size_refused", refuse="ONNX Runtime and the ONNX spec disagree")
    one("ConvTranspose", 11, [1, 2, 3, 3], {"output_padding": [2, 2], "strides": [2, 2]}, inits=[T("W", w)], extra_ins=["W"],
        tag="output_padding_not_below_stride_refused", refuse="must be at least 0 and less than the stride (2)")
    one("ConvTranspose", 11, [1, 2, 3, 3], {"output_padding": [1, 0], "dilations": [2, 2]}, inits=[T("W", w)], extra_ins=["W"],
        tag="output_padding_not_below_stride_1_dilation_2_refused", refuse="less than the stride (1)")
    one("ConvTranspose", 11, [1, 2, 3, 3], {"output_shape": [6, 6], "pads": [1, 1, 1, 1]}, inits=[T("W", w)],
        extra_ins=["W"], tag="output_shape_and_pads_refused", refuse="together with pads")
    one("ConvTranspose", 11, [1, 2, 3, 3, 3], inits=[T("W", r.standard_normal([2, 3, 2, 2, 2]).astype(np.float32))],
        extra_ins=["W"], tag="3d_refused", refuse="1-D and 2-D spatial")


gen_conv_transpose()


# -- RNN, GRU, LSTM (appended, as above) --

def gen_recurrent():
    r = rng_for("recurrent")
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}

    def weights(op, dirs, n_in, hid, b=True, p=False):
        g = gates[op]
        inits = [T("W", (r.standard_normal([dirs, g * hid, n_in]) * 0.4).astype(np.float32)),
                 T("R", (r.standard_normal([dirs, g * hid, hid]) * 0.4).astype(np.float32))]
        if b:
            inits.append(T("B", (r.standard_normal([dirs, 2 * g * hid]) * 0.3).astype(np.float32)))
        if p:
            inits.append(T("P", (r.standard_normal([dirs, 3 * hid]) * 0.3).astype(np.float32)))
        return inits

    def case(op, opset, x_shape, hid, attrs, outs=("y", "yh"), b=True, seq_lens=None, init_h=False, init_c=False,
             p=False, tag="", **kw):
        layout = attrs.get("layout", 0)
        dirs = 2 if attrs.get("direction") == "bidirectional" else 1
        batch = x_shape[0] if layout else x_shape[1]
        inits = weights(op, dirs, x_shape[2], hid, b, p)
        names = ["x", "W", "R", "B" if b else ""]
        if seq_lens is not None:
            inits.append(T("sl", np.array(seq_lens, np.int32)))
        names.append("sl" if seq_lens is not None else "")
        state = [batch, dirs, hid] if layout else [dirs, batch, hid]
        if init_h:
            inits.append(T("h0", r.standard_normal(state).astype(np.float32)))
        names.append("h0" if init_h else "")
        if op == "LSTM":
            if init_c:
                inits.append(T("c0", (r.standard_normal(state) * kw.pop("c0_scale", 1)).astype(np.float32)))
            names.append("c0" if init_c else "")
            names.append("P" if p else "")
        while names and names[-1] == "":
            names.pop()
        outs = list(outs)
        node_outs = [o if o in outs else "" for o in (("y", "yh", "yc") if op == "LSTM" else ("y", "yh"))]
        while node_outs and node_outs[-1] == "":
            node_outs.pop()
        if layout == 1 and "refuse" not in kw:
            # ONNX Runtime 1.32 refuses layout 1 ("Batchwise recurrent operations ... are not supported"):
            # the oracle is ONNX Runtime on the same op in layout 0, inputs and outputs transposed.
            attrs0 = {k: v for k, v in attrs.items() if k != "layout"}
            inits0 = [T(i.name, np.transpose(numpy_helper.to_array(i), (1, 0, 2))) if i.name in ("h0", "c0") else i
                      for i in inits]
            twin = Case("layout0", opset, [N(op, names, node_outs, hidden_size=hid, **attrs0)],
                        [("x", FLOAT, [x_shape[1], x_shape[0], x_shape[2]])], inits=inits0, outputs=tuple(outs), op=op)

            def oracle(feeds, twin=twin, outs=tuple(outs)):
                import onnxruntime as ort
                sess = ort.InferenceSession(build_model(twin).SerializeToString(), _ort_options(),
                                            providers=["CPUExecutionProvider"])
                got = dict(zip([o.name for o in sess.get_outputs()],
                               sess.run(None, {"x": np.ascontiguousarray(np.transpose(feeds["x"], (1, 0, 2)))})))
                return {o: np.transpose(got[o], (2, 0, 1, 3) if o == "y" else (1, 0, 2)) for o in outs}
            kw.update(oracle=oracle, why="ONNX Runtime runs layout 0 only: its output for the transposed input, "
                                         "transposed back")
        add(op, opset, [N(op, names, node_outs, hidden_size=hid, **attrs)], [("x", FLOAT, list(x_shape))],
            tag=tag or ",".join([f"x={shp(x_shape)},hidden={hid}"] + [f"{k}={fmt(v)}" for k, v in attrs.items()] +
                                (["seq_lens"] if seq_lens is not None else []) + (["h0"] if init_h else []) +
                                (["c0"] if init_c else []) + (["P"] if p else []) + ["outs=" + "+".join(outs)]),
            inits=inits, outputs=tuple(outs), fixed0=seq_lens is not None or kw.pop("fixed0", False), **kw)

    # layout 1 (opset 14; X [batch, seq, input]): the batch is dimension 0, as a job's rows are
    for op in ("LSTM", "GRU", "RNN"):
        outs = ("y", "yh", "yc") if op == "LSTM" else ("y", "yh")
        case(op, 14, [3, 5, 4], 6, {"layout": 1}, outs=outs)
        case(op, 14, [2, 4, 3], 5, {"layout": 1, "direction": "bidirectional"}, outs=outs, init_h=True, init_c=op == "LSTM")
        case(op, 14, [2, 6, 3], 4, {"layout": 1, "direction": "reverse"}, outs=("yh",), b=False)
        case(op, 14, [3, 5, 2], 4, {"layout": 1, "direction": "bidirectional"}, outs=outs, seq_lens=[5, 2, 3])
    # layout 0 (X [seq, batch, input]), opset 7
    case("LSTM", 7, [4, 3, 5], 3, {}, outs=("y", "yh", "yc"), fixed0=True)
    case("GRU", 7, [4, 3, 5], 3, {"direction": "bidirectional"}, fixed0=True, init_h=True)
    case("RNN", 7, [4, 3, 5], 3, {}, fixed0=True)
    # LSTM peepholes, clip, input_forget; GRU linear_before_reset (as torch exports it); RNN Relu
    case("LSTM", 14, [2, 5, 3], 4, {"layout": 1}, outs=("y", "yh", "yc"), p=True, init_c=True)
    case("LSTM", 14, [2, 5, 3], 4, {"layout": 1, "clip": 0.3}, outs=("y", "yh", "yc"), init_h=True, init_c=True,
         c0_scale=3)  # |C| beyond the clip: clip bounds the gates, not C before h
    case("LSTM", 14, [2, 5, 3], 4, {"layout": 1, "input_forget": 1}, outs=("y", "yc"))
    case("GRU", 14, [2, 5, 3], 4, {"layout": 1, "linear_before_reset": 1, "direction": "bidirectional"}, init_h=True)
    case("GRU", 14, [2, 5, 3], 4, {"layout": 1, "clip": 0.5, "linear_before_reset": 1}, seq_lens=[4, 0])
    case("RNN", 14, [2, 5, 3], 4, {"layout": 1, "activations": ["Relu"]})
    case("LSTM", 14, [2, 4, 3], 4, {"layout": 1, "activations": ["Sigmoid", "Relu", "Tanh"]})
    case("LSTM", 14, [3, 4, 3], 4, {"layout": 1}, outs=("yh",), seq_lens=[4, 0, 1], init_h=True, init_c=True)
    # torch's export of batch_first=True: layout 0 between Transposes; a classifier head on the last state, and
    # the per-step outputs of a bidirectional GRU (rows independent end to end)
    hid = 6
    add("LSTM", 14, [N("Transpose", ["x"], ["xt"], perm=[1, 0, 2]), N("LSTM", ["xt", "W", "R", "B"], ["", "yh"], hidden_size=hid),
                     N("Squeeze", ["yh", "ax0"], ["s"]), N("Gemm", ["s", "G"], ["y"], transB=1)],
        [("x", FLOAT, [3, 7, 4])], tag="torch_batch_first_then_Gemm", inits=weights("LSTM", 1, 4, hid) + [
            T("G", r.standard_normal([2, hid]).astype(np.float32)), T("ax0", np.array([0], np.int64))])
    add("GRU", 14, [N("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
                    N("GRU", ["xt", "W", "R", "B"], ["yt"], hidden_size=4, direction="bidirectional", linear_before_reset=1),
                    N("Transpose", ["yt"], ["y"], perm=[2, 0, 1, 3])],
        [("x", FLOAT, [3, 5, 2])], tag="torch_batch_first_bidirectional", inits=weights("GRU", 2, 2, 4))
    add("GRU", 14, [N("Cast", ["x"], ["h"], to=F16), N("Transpose", ["h"], ["ht"], perm=[1, 0, 2]),
                    N("GRU", ["ht", "W", "R", "B"], ["", "y"], hidden_size=4, linear_before_reset=1)],
        [("x", FLOAT, [2, 5, 3])], tag="float16", tol=HALF_TOL,
        inits=[T(i.name, numpy_helper.to_array(i).astype(np.float16)) for i in weights("GRU", 1, 3, 4)])
    # Refused: activations with parameters, activation_alpha
    case("LSTM", 14, [2, 4, 3], 4, {"layout": 1, "activations": ["HardSigmoid", "Tanh", "Tanh"]}, outs=("y",),
         tag="HardSigmoid_refused", refuse="activation 'HardSigmoid' is not supported")
    case("RNN", 14, [2, 4, 3], 4, {"layout": 1, "activations": ["Tanh"], "activation_alpha": [0.5]}, outs=("y",),
         tag="activation_alpha_refused", refuse="activation_alpha / activation_beta are not supported")


gen_recurrent()


# -- TopK (appended, as above) --

def gen_topk():
    r = rng_for("TopK")
    for opset, shape, axis, k, largest in ((11, [3, 9], -1, 4, 1), (11, [3, 9], 1, 9, 0), (11, [2, 5, 4], 1, 2, 1),
                                           (11, [2, 5, 4], -1, 3, 0), (11, [4, 6], 1, 0, 1), (10, [3, 7], 1, 3, None),
                                           (1, [3, 7], -1, 2, None)):
        attrs = {"axis": axis, **({"largest": largest} if largest is not None else {})}
        tag = f"x={shp(shape)},axis={axis},k={k}" + (f",largest={largest}" if largest is not None else "")
        if opset < 10:
            add("TopK", opset, [N("TopK", ["x"], ["v", "i"], k=k, **attrs)], [("x", FLOAT, shape)], tag=tag,
                outputs=("v", "i"))
        else:
            add("TopK", opset, [N("TopK", ["x", "k"], ["v", "i"], **attrs)], [("x", FLOAT, shape)], tag=tag,
                inits=[T("k", np.array([k], np.int64))], outputs=("v", "i"))
    # ties and NaN (rows of repeated values, NaN in some), int64 and int32 through Cast
    add("TopK", 11, [N("Round", ["x"], ["q"]), N("Div", ["q", "z"], ["n"]), N("TopK", ["n", "k"], ["v", "i"])],
        [("x", FLOAT, [4, 10])], tag="ties_and_nan(0/0)", inits=[T("k", np.array([6], np.int64)),
                                                                 T("z", np.array([1, 1, 0, 1, 1, 1, 1, 0, 1, 1], np.float32))],
        outputs=("v", "i"))
    for to in (I64, I32):
        add("TopK", 11, [N("Mul", ["x", "ten"], ["m"]), N("Cast", ["m"], ["c"], to=to), N("TopK", ["c", "k"], ["v", "i"], largest=0)],
            [("x", FLOAT, [3, 8])], tag=f"{'int64' if to == I64 else 'int32'},smallest",
            inits=[T("k", np.array([5], np.int64)), T("ten", np.float32(3))], outputs=("v", "i"))
    # sorted = 0: any order is the spec's; shardscore gives the sorted one, so the oracle is ORT with sorted = 1
    twin = Case("sorted1", 11, [N("TopK", ["x", "k"], ["v", "i"], sorted=1)], [("x", FLOAT, [3, 9])],
                inits=[T("k", np.array([4], np.int64))], outputs=("v", "i"), op="TopK")

    def sorted_oracle(feeds, twin=twin):
        import onnxruntime as ort
        sess = ort.InferenceSession(build_model(twin).SerializeToString(), _ort_options(), providers=["CPUExecutionProvider"])
        return dict(zip(["v", "i"], sess.run(None, feeds)))
    add("TopK", 11, [N("TopK", ["x", "k"], ["v", "i"], sorted=0)], [("x", FLOAT, [3, 9])], tag="sorted=0",
        inits=[T("k", np.array([4], np.int64))], outputs=("v", "i"), oracle=sorted_oracle,
        why="sorted=0 leaves the order open: shardscore sorts, so ONNX Runtime's sorted output is the oracle")
    # the top 5 of a classifier's logits, as torch.topk exports it
    add("TopK", 11, [N("Gemm", ["x", "w"], ["logits"], transB=1), N("TopK", ["logits", "k"], ["v", "i"])],
        [("x", FLOAT, [6, 8])], tag="top5_of_Gemm", inits=[T("w", r.standard_normal([20, 8]).astype(np.float32)),
                                                             T("k", np.array([5], np.int64))], outputs=("v", "i"))
    add("TopK", 11, [N("Cast", ["x"], ["h"], to=F16), N("TopK", ["h", "k"], ["v", "i"], axis=1)], [("x", FLOAT, [3, 40])],
        tag="float16", inits=[T("k", np.array([7], np.int64))], outputs=("v", "i"), tol=HALF_TOL)
    one("TopK", 11, [2, 5], inits=[T("k", np.array([7], np.int64))], extra_ins=["k"], outs=("v", "i"), outputs=("v", "i"),
        tag="k_beyond_axis_refused", refuse="K = 7 is outside [0, 5]")


gen_topk()


# -- trigonometric and hyperbolic functions, Celu, ThresholdedRelu, Shrink, IsInf (appended, as above) --

def gen_more_unary():
    r = rng_for("more_unary")
    for op, opset, lo, hi in (("Tan", 7, -1.5, 1.5), ("Asin", 7, -1, 1), ("Acos", 7, -1, 1), ("Atan", 7, -30, 30),
                              ("Sinh", 9, -6, 6), ("Cosh", 9, -6, 6), ("Asinh", 9, -40, 40), ("Acosh", 9, 1, 40),
                              ("Atanh", 9, -0.99, 0.99)):
        add(op, opset, [N("Mul", ["x", "s"], ["m"]), N("Add", ["m", "o"], ["a"]), N(op, ["a"])], [("x", FLOAT, [3, 7])],
            tag=f"range=[{lo},{hi}]", inits=[T("s", np.float32((hi - lo) / 6)), T("o", np.float32((hi + lo) / 2))])
    for attrs in ({}, {"alpha": 0.3}, {"alpha": 2.5}):
        one("Celu", 12, [3, 8], attrs)
    for attrs in ({}, {"alpha": -0.5}, {"alpha": 0.25}):
        one("ThresholdedRelu", 10, [3, 8], attrs)
    for attrs in ({}, {"lambd": 1.0}, {"lambd": 0.25, "bias": 0.5}, {"bias": -1.5}):
        one("Shrink", 9, [3, 8], attrs)
    # edges: NaN and infinities through each (x / z with zeros in z), IsInf's detect flags
    for op, opset in (("Tan", 7), ("Atan", 7), ("Sinh", 9), ("Asinh", 9), ("Celu", 12), ("ThresholdedRelu", 10),
                      ("Shrink", 9)):
        add(op, opset, [N("Div", ["x", "z"], ["d"]), N(op, ["d"])], [("x", FLOAT, [2, 6])], tag="nan_and_inf",
            inits=[T("z", np.array([1, 0, 1, 0, 1, 0], np.float32))])
    for neg, pos in ((1, 1), (0, 1), (1, 0)):
        add("IsInf", 10, [N("Div", ["x", "z"], ["d"]), N("IsInf", ["d"], detect_negative=neg, detect_positive=pos)],
            [("x", FLOAT, [3, 6])], tag=f"detect_negative={neg},detect_positive={pos}",
            inits=[T("z", np.array([1, 0, 1, 0, 1, 0], np.float32))])
    one("Shrink", 9, [2, 3], tag="int32_refused", x_type=I32, refuse="element type int32 is not supported")
    # LpNormalization: each axis, p 1 and 2, a row of zeros (0 out, as ONNX Runtime has it), an embedding model's
    # last step (Gemm, then L2 along the features)
    for axis, p in ((-1, 2), (-1, 1), (1, 2), (1, 1), (2, 2)):
        one("LpNormalization", 1, [2, 5, 4], {"axis": axis, "p": p})
    add("LpNormalization", 13, [N("Mul", ["x", "mask"], ["m"]), N("LpNormalization", ["m"], axis=-1)], [("x", FLOAT, [3, 6])],
        tag="zero_rows", inits=[T("mask", np.array([[1], [0], [1]], np.float32))], fixed0=True)
    add("LpNormalization", 13, [N("Cast", ["x"], ["h"], to=F16), N("LpNormalization", ["h"], axis=-1, p=1)],
        [("x", FLOAT, [3, 9])], tag="float16,p=1", tol=HALF_TOL)
    add("LpNormalization", 13, [N("Gemm", ["x", "w"], ["e"], transB=1), N("LpNormalization", ["e"], axis=1)],
        [("x", FLOAT, [4, 8])], tag="embedding_l2", inits=[T("w", r.standard_normal([16, 8]).astype(np.float32))])


gen_more_unary()


# -- Einsum (appended, as above) --

def gen_einsum():
    r = rng_for("Einsum")
    for eq, shapes in (("bij,bjk->bik", [[2, 3, 4], [2, 4, 5]]), ("bhid,bhjd->bhij", [[2, 2, 3, 4], [2, 2, 5, 4]]),
                       ("bhij,bhjd->bhid", [[2, 2, 3, 5], [2, 2, 5, 4]]), ("bij->bji", [[2, 3, 4]]),
                       ("bii->bi", [[2, 4, 4]]), ("bij->b", [[2, 3, 4]]), ("bij,jk", [[2, 3, 4], [4, 5]]),
                       ("b...j,jk->b...k", [[2, 3, 2, 4], [4, 5]]), ("...ij,...jk->...ik", [[2, 3, 4], [1, 4, 5]]),
                       ("bi,bj->bij", [[2, 3], [2, 4]]), ("bij,jk,bkl->bil", [[2, 3, 4], [4, 2], [2, 2, 3]]),
                       ("bi,bi->b", [[3, 5], [3, 5]]), ("bIj,jK->bIK", [[2, 3, 4], [4, 2]])):
        names = [f"x{k}" for k in range(len(shapes))]
        inits = [T(n, r.standard_normal(sh).astype(np.float32)) for n, sh in zip(names[1:], shapes[1:])]
        add("Einsum", 12, [N("Einsum", names, equation=eq)], [("x0", FLOAT, shapes[0])], tag=eq.replace(",", ";"),
            inits=inits)
    add("Einsum", 12, [N("Cast", ["x"], ["c"], to=I64), N("Einsum", ["c", "w"], equation="bij,jk->bik")],
        [("x", FLOAT, [2, 3, 4])], tag="int64", inits=[T("w", r.integers(-5, 5, [4, 3]).astype(np.int64))])
    add("Einsum", 12, [N("Cast", ["x"], ["h"], to=F16), N("Einsum", ["h", "w"], equation="bij,jk->bik")],
        [("x", FLOAT, [2, 3, 4])], tag="float16", tol=HALF_TOL, inits=[T("w", np.asarray(r.standard_normal([4, 3]), np.float16))])
    one("Einsum", 12, [2, 3], {"equation": "ij,jk->ik"}, inits=[T("w", np.ones([2, 2], np.float32))], extra_ins=["w"],
        tag="size_mismatch_refused", refuse="label 'j' has sizes 3 and 2")


gen_einsum()


# -- ScatterElements / Scatter, OneHot, EyeLike, Size (appended, as above) --

def gen_scatter_elements():
    r = rng_for("ScatterElements")
    for opset, xs, ishape, axis, red in ((11, [4, 3], [2, 3], 0, None), (11, [4, 5, 2], [4, 3, 2], 1, None),
                                         (13, [3, 4], [3, 2], -1, None), (16, [4, 3], [4, 3], 0, "add"),
                                         (16, [4, 3], [3, 3], 0, "mul"), (18, [4, 3], [4, 2], 0, "max"),
                                         (18, [4, 3], [4, 3], 1, "min"), (18, [5, 2], [5, 2], 0, "none")):
        a = axis % len(xs)
        idx = r.integers(-xs[a], xs[a], size=ishape)  # duplicates among them
        it = np.int64 if r.random() < 0.7 else np.int32
        upd = r.standard_normal(ishape).astype(np.float32)
        if red in (None, "none"):  # distinct targets per lane (ONNX leaves duplicates undefined without a reduction)
            idx = np.empty(ishape, np.int64)
            for lane in np.ndindex(*[d for k, d in enumerate(ishape) if k != a]):
                at = list(lane)
                at.insert(a, slice(None))
                idx[tuple(at)] = r.permutation(xs[a])[:ishape[a]]
            idx = np.where(r.random(ishape) < 0.3, idx - xs[a], idx)  # some negative
        one("ScatterElements", opset, xs, {"axis": axis, "reduction": red},
            inits=[T("i", np.asarray(idx, it)), T("u", upd)], extra_ins=["i", "u"],
            tag=f"x={shp(xs)},indices={shp(ishape)}:{np.dtype(it).name},axis={axis},reduction={fmt(red)}")
    one("Scatter", 10, [3, 4], {"axis": 1}, inits=[T("i", np.array([[3, 0], [1, 2], [0, 3]], np.int64)),
                                                   T("u", r.standard_normal([3, 2]).astype(np.float32))],
        extra_ins=["i", "u"], tag="old_name,axis=1")
    add("ScatterElements", 16, [N("Cast", ["x"], ["t"], to=I64), N("ScatterElements", ["t", "i", "u"], reduction="add")],
        [("x", FLOAT, [3, 4])], tag="int64,add", inits=[T("i", np.array([[1, 0, 2, 2], [1, 1, 0, 0]], np.int64)),
                                                         T("u", np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.int64))])
    add("ScatterElements", 13, [N("Cast", ["x"], ["h"], to=F16), N("ScatterElements", ["h", "i", "u"], axis=1)],
        [("x", FLOAT, [3, 4])], tag="float16,none", tol=HALF_TOL,
        inits=[T("i", np.array([[2], [0], [3]], np.int64)), T("u", np.array([[0.5], [-1.25], [3]], np.float16))])
    one("ScatterElements", 13, [4, 3], inits=[T("i", np.array([[4, 0, 0]], np.int64)), T("u", np.ones([1, 3], np.float32))],
        extra_ins=["i", "u"], tag="index_out_of_range_refused", refuse="out of range")
    # indices longer than data along the axis (a bincount), and NaN updates into max / min: ONNX
    # Runtime takes the update unless the data element compares past it
    one("ScatterElements", 16, [3, 3], {"axis": 1, "reduction": "add"},
        inits=[T("i", np.array([[0, 0, 1, 2, 2, 2]] * 3, np.int64)), T("u", np.ones([3, 6], np.float32))],
        extra_ins=["i", "u"], tag="indices_longer_than_data_on_axis,add")
    for red in ("max", "min"):
        one("ScatterElements", 18, [3, 4], {"axis": 0, "reduction": red},
            inits=[T("i", np.array([[0, 1, 2, 0], [0, 1, 2, 0]], np.int64)),
                   T("u", np.array([[np.nan, 1, np.nan, -5], [2, np.nan, 7, np.nan]], np.float32))],
            extra_ins=["i", "u"], tag=f"nan_updates,reduction={red}")
        one("ScatterND", 18, [3, 4], {"reduction": red},
            inits=[T("i", np.array([[0], [2], [0]], np.int64)),
                   T("u", np.array([[np.nan, 1, np.nan, -5], [2, np.nan, 7, np.nan], [0.5, 0.5, 0.5, 0.5]], np.float32))],
            extra_ins=["i", "u"], tag=f"nan_updates,reduction={red}")


def gen_one_hot():
    # Indices from the data: x * 3 cast to int64 (truncated), so negative and out-of-range ones occur.
    for opset, axis, depth in ((9, None, 5), (11, 0, 4), (11, 1, 6), (11, -2, 3), (11, -1, 7)):
        add("OneHot", opset, [N("Mul", ["x", "three"], ["m"]), N("Cast", ["m"], ["i"], to=I64),
                              N("OneHot", ["i", "depth", "values"], **({} if axis is None else {"axis": axis}))],
            [("x", FLOAT, [3, 4])], tag=f"x=[3,4],int64_indices,depth={depth},axis={fmt(axis)}",
            inits=[T("three", np.float32(3)), T("depth", np.array(depth, np.int64)), T("values", np.array([-0.5, 2], np.float32))])
    # float indices, depth and values (truncated toward zero), as ONNX Runtime registers them
    add("OneHot", 11, [N("Mul", ["x", "three"], ["m"]), N("OneHot", ["m", "depth", "values"])],
        [("x", FLOAT, [2, 5])], tag="float_indices_depth_values",
        inits=[T("three", np.float32(3)), T("depth", np.array([4.0], np.float32)), T("values", np.array([0, 1], np.float32))])
    add("OneHot", 11, [N("Mul", ["x", "three"], ["m"]), N("OneHot", ["m", "depth", "values"])],
        [("x", FLOAT, [2, 5])], tag="float_indices,int64_values", outputs=("y",),
        inits=[T("three", np.float32(3)), T("depth", np.array(3, np.int64)), T("values", np.array([7, -9], np.int64))])
    add("OneHot", 11, [N("Cast", ["x"], ["i"], to=I64), N("OneHot", ["i", "depth", "values"])],
        [("x", FLOAT, [2, 3])], tag="depth_0_refused", refuse="must be at least 1",
        inits=[T("depth", np.array(0, np.int64)), T("values", np.array([0, 1], np.float32))])


def gen_eye_like_size():
    for k, dtype in ((0, None), (1, None), (-2, None), (5, None), (1, I64), (0, TP.DOUBLE)):
        one("EyeLike", 9, [3, 4], {"k": k, "dtype": dtype}, fixed0=True)
    add("Size", 13, [N("Size", ["x"])], [("x", FLOAT, [3, 4, 2])], tag="x=[3,4,2]")
    add("Size", 1, [N("Size", ["x"])], [("x", FLOAT, [5])], tag="x=[5]")


def gen_group_norm():
    r = rng_for("GroupNormalization")
    for opset, x, groups, eps in ((18, [2, 6, 4, 5], 3, None), (18, [3, 8, 7], 2, 1e-3), (21, [2, 6, 4, 5], 3, None),
                                  (21, [2, 8, 3, 3], 8, 1e-2), (21, [2, 4, 3, 2], 1, None), (21, [3, 6], 2, None)):
        k = x[1] if opset >= 21 else groups
        one("GroupNormalization", opset, x, {"num_groups": groups, "epsilon": eps},
            inits=[T("s", r.standard_normal(k).astype(np.float32)), T("b", r.standard_normal(k).astype(np.float32))],
            extra_ins=["s", "b"])
    add("GroupNormalization", 21, [N("Cast", ["x"], ["h"], to=F16), N("GroupNormalization", ["h", "s", "b"], ["g"], num_groups=2),
                                   N("Cast", ["g"], ["y"], to=FLOAT)],
        [("x", FLOAT, [2, 4, 3])], tag="float16", tol=HALF_TOL,
        inits=[T("s", r.standard_normal(4).astype(np.float16)), T("b", r.standard_normal(4).astype(np.float16))])
    one("GroupNormalization", 21, [2, 6, 3], {"num_groups": 4}, inits=[T("s", np.ones(6, np.float32)), T("b", np.zeros(6, np.float32))],
        extra_ins=["s", "b"], tag="groups_not_dividing_refused", refuse="must be positive and divide the 6 channels")


def gen_upsample():
    # Upsample (7: scales attribute; 9: input) and Resize at opset 10, nearest and linear, growing and shrinking
    for opset, scales, mode in ((9, [1, 1, 2, 2], "nearest"), (9, [1, 1, 1.5, 2.5], "nearest"), (9, [1, 1, 2, 3], "linear"),
                                (9, [1, 1, 1.7, 1.3], "linear")):
        one("Upsample", opset, [2, 3, 4, 5], {"mode": mode}, inits=[T("s", np.array(scales, np.float32))], extra_ins=["s"],
            tag=f"x=[2,3,4,5],scales={fmt(scales)},mode={mode}", fixed0=True)
    one("Upsample", 7, [2, 3, 4, 5], {"mode": "nearest", "scales": [1.0, 1.0, 2.0, 3.0]}, fixed0=True)
    for scales, mode in (([1, 1, 2, 2], "nearest"), ([1, 1, 0.6, 0.7], "nearest"), ([1, 1, 0.5, 0.5], "linear"),
                         ([1, 1, 1.5, 2.5], "linear")):
        one("Resize", 10, [2, 3, 4, 6], {"mode": mode}, inits=[T("s", np.array(scales, np.float32))], extra_ins=["s"],
            tag=f"x=[2,3,4,6],scales={fmt(scales)},mode={mode}", fixed0=True)
    one("Upsample", 9, [2, 3, 4, 5], inits=[T("s", np.array([1, 1, 0.5, 2], np.float32))], extra_ins=["s"],
        tag="scale_below_1_refused", refuse="scales must be >= 1", fixed0=True)
    # output sizes from the float32 product, as ONNX Runtime's kernels take them (3 * 5/3, 10 * 0.7)
    one("Upsample", 9, [1, 1, 3, 3], inits=[T("s", np.array([1, 1, 5 / 3, 5 / 3], np.float32))], extra_ins=["s"],
        tag="scales_5_3", fixed0=True)
    one("Resize", 10, [1, 1, 10, 10], {"mode": "linear"}, inits=[T("s", np.array([1, 1, 0.7, 0.7], np.float32))],
        extra_ins=["s"], tag="linear,scales_0.7", fixed0=True)
    one("Resize", 13, [1, 1, 10, 10], {"mode": "nearest"}, inits=[T("s", np.array([1, 1, 0.7, 2.3], np.float32))],
        extra_ins=["", "s"], tag="scales_0.7_2.3", fixed0=True)


def gen_contrib():
    # ONNX Runtime's com.microsoft ops from its transformer optimizer, expanded at load (src/engine/contrib_ops.h).
    # Integer ids and masks are made in the graph from float inputs, so that they vary (engine_bench feeds masks of
    # ones): ids = Cast(|x| * 3), masks = Cast(x > threshold), lengths = their row sums.
    ms = {"com.microsoft": 1}
    r = rng_for("contrib")
    f32 = lambda shape, scale=1.0: (r.normal(size=shape) * scale).astype(np.float32)

    def M(op, ins, outs=("y",), **attrs):
        return helper.make_node(op, list(ins), list(outs), domain="com.microsoft", **attrs)

    def to_int32(src, out, threshold=None):  # ids (threshold None) or a 0/1 mask from a float input
        if threshold is None:
            return [N("Abs", [src], [out + "_a"]), N("Mul", [out + "_a", "three"], [out + "_f"]),
                    N("Cast", [out + "_f"], [out], to=I32)]
        return [N("Greater", [src, threshold], [out + "_b"]), N("Cast", [out + "_b"], [out], to=I32)]

    three = T("three", np.float32(3))
    add("BiasGelu", 17, [M("BiasGelu", ["x", "b"])], [("x", FLOAT, [3, 4, 8])], inits=[T("b", f32([8]))],
        tag="com.microsoft", extra_opsets=ms)
    add("FastGelu", 17, [M("FastGelu", ["x", "b"])], [("x", FLOAT, [3, 4, 8])], inits=[T("b", f32([8]))],
        tag="com.microsoft,bias", extra_opsets=ms)
    add("FastGelu", 17, [M("FastGelu", ["x"])], [("x", FLOAT, [3, 5])], tag="com.microsoft", extra_opsets=ms)
    add("QuickGelu", 17, [M("QuickGelu", ["x"])], [("x", FLOAT, [3, 4, 8])], tag="com.microsoft", extra_opsets=ms)
    add("QuickGelu", 17, [M("QuickGelu", ["x"], alpha=0.5)], [("x", FLOAT, [3, 5])], tag="com.microsoft,alpha", extra_opsets=ms)
    add("QuickGelu", 17, [N("Cast", ["x"], ["h"], to=F16), M("QuickGelu", ["h"], ["q"]), N("Cast", ["q"], ["y"], to=FLOAT)],
        [("x", FLOAT, [3, 5])], tag="com.microsoft,float16", extra_opsets=ms, tol=1e-2)

    # SkipLayerNormalization: with beta and bias and the sum output; bare; a [S, H] skip broadcast over the batch
    gamma, beta, bias = T("g", f32([8]) + 1), T("beta", f32([8])), T("bias", f32([8]))
    add("SkipLayerNormalization", 17, [M("SkipLayerNormalization", ["x", "skip", "g", "beta", "bias"], ["y", "", "", "s"])],
        [("x", FLOAT, [3, 4, 8]), ("skip", FLOAT, [3, 4, 8])], inits=[gamma, beta, bias], outputs=("y", "s"),
        tag="com.microsoft,beta,bias,sum", extra_opsets=ms)
    add("SkipLayerNormalization", 17, [M("SkipLayerNormalization", ["x", "skip", "g"], epsilon=1e-3)],
        [("x", FLOAT, [2, 3, 8]), ("skip", FLOAT, [2, 3, 8])], inits=[gamma], tag="com.microsoft,gamma_only", extra_opsets=ms)
    add("SkipLayerNormalization", 17, [M("SkipLayerNormalization", ["x", "skip2", "g", "beta"])],
        [("x", FLOAT, [3, 4, 8])], inits=[gamma, beta, T("skip2", f32([4, 8]))], tag="com.microsoft,skip_SxH",
        extra_opsets=ms)
    add("SkipLayerNormalization", 17, [M("SkipLayerNormalization", ["x", "skip", "g"], ["y", "mean"]), N("Identity", ["mean"], ["m"])],
        [("x", FLOAT, [2, 3, 8]), ("skip", FLOAT, [2, 3, 8])], inits=[gamma], outputs=("y", "m"),
        tag="com.microsoft,mean_output_refused", extra_opsets=ms, refuse="mean / inv_std_var")

    # EmbedLayerNormalization: every input and output; no segment and no mask (mask_index zeros); given position ids
    S, H = 6, 8
    emb = [T("we", f32([64, H])), T("pe", f32([10, H])), T("se", f32([2, H])), gamma, beta]
    ids = to_int32("x", "ids")
    seg = to_int32("x", "seg", "half")
    mask = to_int32("x", "mask", "cut")
    consts = [three, T("half", np.float32(0.5)), T("cut", np.float32(-0.7))]
    add("EmbedLayerNormalization", 17,
        ids + seg + mask + [M("EmbedLayerNormalization", ["ids", "seg", "we", "pe", "se", "g", "beta", "mask"],
                              ["y", "mi", "sum"], epsilon=1e-5)],
        [("x", FLOAT, [4, S])], inits=emb + consts, outputs=("y", "mi", "sum"), tag="com.microsoft,all", extra_opsets=ms)
    add("EmbedLayerNormalization", 17,
        ids + [M("EmbedLayerNormalization", ["ids", "", "we", "pe", "", "g", "beta"], ["y", "mi"])],
        [("x", FLOAT, [3, S])], inits=emb + consts, outputs=("y", "mi"), tag="com.microsoft,no_segment_no_mask",
        extra_opsets=ms)
    add("EmbedLayerNormalization", 17,
        ids + seg + [M("EmbedLayerNormalization", ["ids", "seg", "we", "pe", "se", "g", "beta", "", "pos"], ["y", "mi"])],
        [("x", FLOAT, [3, S])], inits=emb + consts + [T("pos", np.array([[5, 3, 1, 0, 2, 9]], np.int32))], outputs=("y", "mi"),
        tag="com.microsoft,position_ids", extra_opsets=ms)

    # a negative id fails the batch, as ONNX Runtime refuses it (Gather would take it from the end)
    add("EmbedLayerNormalization", 17,
        [N("Mul", ["x", "three"], ["xf"]), N("Cast", ["xf"], ["ids"], to=I32),
         M("EmbedLayerNormalization", ["ids", "", "we", "pe", "", "g", "beta"], ["y", "mi"])],
        [("x", FLOAT, [3, S])], inits=emb + consts, outputs=("y", "mi"), tag="com.microsoft,negative_ids_refused",
        extra_opsets=ms, refuse="input_ids_must_not_be_negative")

    # Attention: input x [B, S, 6], W [6, 3 * 8] (2 heads), masks made from a float input m
    B, S, Hin = 3, 5, 6
    W, Wb = T("W", f32([Hin, 24], 0.5)), T("Wb", f32([24], 0.5))
    lowest = float(np.finfo(np.float32).min)
    keep0 = T("keep0", np.array([True] + [False] * (S - 1)))  # key 0 always kept: no row fully masked at -10000
    raw2 = [N("Greater", ["m", "cut"], ["mb"]), N("Or", ["mb", "keep0"], ["mk"]), N("Cast", ["mk"], ["mask"], to=I32)]
    lengths = raw2 + [N("ReduceSum", ["mask", "axis1"], ["lens"], keepdims=0)]
    raw2_any = [N("Greater", ["m", "cut"], ["mb"]), N("Cast", ["mb"], ["mask"], to=I32)]  # rows may be fully masked
    lengths_any = raw2_any + [N("ReduceSum", ["mask", "axis1"], ["lens"], keepdims=0)]
    aconsts = [W, Wb, keep0, T("cut", np.float32(-0.3)), T("axis1", np.array([1], np.int64))]
    xm = [("x", FLOAT, [B, S, Hin]), ("m", FLOAT, [B, S])]
    add("Attention", 17, [M("Attention", ["x", "W", "Wb"], num_heads=2)], [("x", FLOAT, [B, S, Hin])], inits=[W, Wb],
        tag="com.microsoft,no_mask", extra_opsets=ms)
    add("Attention", 17, lengths + [M("Attention", ["x", "W", "Wb", "lens"], num_heads=2)], xm, inits=aconsts,
        tag="com.microsoft,lengths", extra_opsets=ms)
    add("Attention", 17, lengths_any + [M("Attention", ["x", "W", "Wb", "lens"], num_heads=2, mask_filter_value=lowest)],
        xm, inits=aconsts, tag="com.microsoft,lengths,lowest_filter", extra_opsets=ms)
    add("Attention", 17, raw2 + [M("Attention", ["x", "W", "Wb", "mask"], num_heads=4)], xm, inits=aconsts,
        tag="com.microsoft,raw_2d,4_heads", extra_opsets=ms)
    add("Attention", 17, [N("Greater", ["m3", "cut"], ["mb"]), N("Or", ["mb", "keep0"], ["mk"]),
                          N("Cast", ["mk"], ["mask"], to=I32), M("Attention", ["x", "W", "Wb", "mask"], num_heads=2)],
        [("x", FLOAT, [B, S, Hin]), ("m3", FLOAT, [B, S, S])], inits=aconsts, tag="com.microsoft,raw_3d", extra_opsets=ms)
    add("Attention", 17, [M("Attention", ["x", "W", "Wb"], num_heads=2, unidirectional=1)], [("x", FLOAT, [B, S, Hin])],
        inits=[W, Wb], tag="com.microsoft,unidirectional", extra_opsets=ms)
    add("Attention", 17, lengths_any + [M("Attention", ["x", "W", "Wb", "lens"], num_heads=2, unidirectional=1,
                                          mask_filter_value=lowest)],
        xm, inits=aconsts, tag="com.microsoft,unidirectional,lengths,lowest_filter", extra_opsets=ms)
    # Q and K of 8, V of 12, an explicit scale, no bias; an attention bias
    add("Attention", 17, [M("Attention", ["x", "W2"], num_heads=2, qkv_hidden_sizes=[8, 8, 12], scale=0.3)],
        [("x", FLOAT, [B, S, Hin])], inits=[T("W2", f32([Hin, 28], 0.5))], tag="com.microsoft,qkv_sizes,scale,no_bias",
        extra_opsets=ms)
    add("Attention", 17, raw2 + [M("Attention", ["x", "W", "Wb", "mask", "", "ab"], num_heads=2)], xm,
        inits=aconsts + [T("ab", f32([1, 2, S, S]))], tag="com.microsoft,attention_bias", extra_opsets=ms)
    # causal keys take float32's lowest whatever the filter (a small filter, a large scale show it)
    add("Attention", 17, [M("Attention", ["x", "W", "Wb"], num_heads=2, unidirectional=1, scale=3.0, mask_filter_value=-1.0)],
        [("x", FLOAT, [B, S, Hin])], inits=[W, Wb], tag="com.microsoft,unidirectional,small_filter,scale_3",
        extra_opsets=ms)
    add("Attention", 17, raw2 + [M("Attention", ["x", "W", "Wb", "mask"], num_heads=2, unidirectional=1, mask_filter_value=-1.0)],
        xm, inits=aconsts, tag="com.microsoft,unidirectional,raw_2d,small_filter", extra_opsets=ms)
    # [B, 1]: ONNX Runtime's dummy mask, every key kept even where it holds 0
    add("Attention", 17, [N("Greater", ["m1", "high"], ["mb"]), N("Cast", ["mb"], ["mask"], to=I32),
                          M("Attention", ["x", "W", "Wb", "mask"], num_heads=2, mask_filter_value=lowest)],
        [("x", FLOAT, [B, S, Hin]), ("m1", FLOAT, [B, 1])], inits=aconsts + [T("high", np.float32(0.8))],
        tag="com.microsoft,raw_2d_dummy_Bx1",
        extra_opsets=ms)
    # [2B]: the ends (lengths), then the starts (trunc(3 |s|); a start at or past its end masks the row)
    add("Attention", 17, lengths_any + [N("Abs", ["s"], ["sa"]), N("Mul", ["sa", "three"], ["s3"]),
                                        N("Cast", ["s3"], ["starts"], to=I32), N("Concat", ["lens", "starts"], ["ends_starts"], axis=0),
                                        M("Attention", ["x", "W", "Wb", "ends_starts"], num_heads=2, mask_filter_value=lowest)],
        xm + [("s", FLOAT, [B])], inits=aconsts + [three], tag="com.microsoft,ends_and_starts_2B", extra_opsets=ms)
    # [3B]: neither form; the batch fails in the node named for the check
    add("Attention", 17, lengths + [N("Concat", ["lens", "lens", "lens"], ["lens3"], axis=0),
                                    M("Attention", ["x", "W", "Wb", "lens3"], num_heads=2)],
        xm, inits=aconsts, tag="com.microsoft,mask_index_3B_refused", extra_opsets=ms,
        refuse="mask_index_must_be_[batch]_or_[2*batch]")
    # float16 with the optimizer's -3.4e38: ONNX Runtime keeps the mask in float32, a fully masked row is uniform
    W16, Wb16 = T("W16", f32([Hin, 24], 0.5), np.float16), T("Wb16", f32([24], 0.5), np.float16)
    sparse = [N("Greater", ["m", "high"], ["mb"]), N("Cast", ["mb"], ["mask"], to=I32),  # most rows fully masked
              N("ReduceSum", ["mask", "axis1"], ["lens"], keepdims=0)]
    add("Attention", 17, sparse + [N("Cast", ["x"], ["xh"], to=F16),
                                        M("Attention", ["xh", "W16", "Wb16", "lens"], ["yh"], num_heads=2, mask_filter_value=lowest),
                                        N("Cast", ["yh"], ["y"], to=FLOAT)],
        xm, inits=aconsts + [W16, Wb16, T("high", np.float32(1.5))], tag="com.microsoft,float16,lengths,lowest_filter",
        extra_opsets=ms, tol=1e-2)
    # refused: past state, rotary embedding, a 4-D mask
    add("Attention", 17, [M("Attention", ["x", "W", "Wb", "", "past"], ["y", "present"], num_heads=2)],
        [("x", FLOAT, [B, S, Hin])], inits=[W, Wb, T("past", f32([2, B, 2, 1, 4]))], tag="com.microsoft,past_refused",
        extra_opsets=ms, fixed0=True, refuse="past / present")
    add("Attention", 17, [M("Attention", ["x", "W", "Wb"], num_heads=2, do_rotary=1)], [("x", FLOAT, [B, S, Hin])],
        inits=[W, Wb], tag="com.microsoft,rotary_refused", extra_opsets=ms, refuse="do_rotary")
    add("Attention", 17, [N("Greater", ["m4", "cut"], ["mb"]), N("Cast", ["mb"], ["mask"], to=I32),
                          M("Attention", ["x", "W", "Wb", "mask"], num_heads=2)],
        [("x", FLOAT, [B, S, Hin]), ("m4", FLOAT, [B, 1, S, S])], inits=aconsts, tag="com.microsoft,mask_4d_refused",
        extra_opsets=ms, refuse="4-D mask_index")


gen_scatter_elements()
gen_one_hot()
gen_upsample()
gen_eye_like_size()
gen_group_norm()
gen_contrib()

# Known shardscore bugs (case id -> the spec line it breaks). Each is xfail(strict=True): the test
# starts passing (and so fails as XPASS) when the bug is fixed; then drop its entry. None today (fixed:
# a 1-D MatMul operand fused with its Add into FusedGemm, float16 LayerNormalization's Mean / InvStdDev).
XFAIL: dict[str, str] = {}
assert set(XFAIL) <= {c.id for c in CASES}, set(XFAIL) - {c.id for c in CASES}
for _c in CASES:
    if _c.id in XFAIL:
        _c.xfail = XFAIL[_c.id]


# ---- running a case -------------------------------------------------------------------------------

NP_OF = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "int8": np.int8, "int16": np.int16,
         "int32": np.int32, "int64": np.int64, "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32,
         "uint64": np.uint64, "bool": np.bool_}


def build_model(case: Case) -> onnx.ModelProto:
    ins = []
    for name, et, s in case.inputs:
        dims = list(s)
        if dims and not case.fixed0:
            dims[0] = "N"
        ins.append(helper.make_tensor_value_info(name, et, dims))
    opsets = [helper.make_opsetid("", case.opset)] + [helper.make_opsetid(d, v) for d, v in case.extra_opsets.items()]
    graph = helper.make_graph(case.nodes, "g", ins, [], initializer=case.inits)
    model = helper.make_model(graph, opset_imports=opsets, producer_name="test_ops_vs_onnxruntime")
    model.ir_version = 8
    # Output types and ranks from shape inference; dimensions left symbolic (ONNX Runtime gives the values).
    inferred = {}
    try:
        m2 = onnx.shape_inference.infer_shapes(model)
        for vi in list(m2.graph.value_info) + list(m2.graph.output):
            inferred[vi.name] = vi.type.tensor_type
    except Exception:  # noqa: BLE001 (inference is only a convenience here)
        pass
    for k, name in enumerate(case.outputs):
        tt = inferred.get(name)
        if tt is not None and tt.elem_type and tt.HasField("shape"):
            et, rank = tt.elem_type, len(tt.shape.dim)
        else:  # ask ONNX Runtime on zeros (ranks are static for every op here)
            try:
                et, rank = _ort_rank(model, name)
            except Exception:  # noqa: BLE001
                if case.refuse is None:
                    raise
                et, rank = case.inputs[0][1], len(case.inputs[0][2])  # a model ORT rejects too: any declaration
        model.graph.output.append(helper.make_tensor_value_info(name, et, [f"o{k}_{d}" for d in range(rank)]))
    return model


def _ort_rank(model, name):
    import onnxruntime as ort
    m = onnx.ModelProto()
    m.CopyFrom(model)
    m.graph.output.append(onnx.ValueInfoProto(name=name))
    sess = ort.InferenceSession(m.SerializeToString(), _ort_options(), providers=["CPUExecutionProvider"])
    feeds = {}
    for i in sess.get_inputs():
        dt = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
              "tensor(int32)": np.int32}[i.type]
        feeds[i.name] = np.zeros([d if isinstance(d, int) else 1 for d in i.shape], dt)
    out = sess.run([name], feeds)[0]
    return onnx.helper.np_dtype_to_tensor_dtype(out.dtype), out.ndim


def _ort_options():
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    return so


@dataclass
class Outcome:
    verdict: str          # "match", "mismatch", "refused", "crash", "ort_error"
    detail: str
    rc: int | None = None


def _read(folder: Path, entry: dict) -> np.ndarray:
    if entry["dtype"] == "bfloat16":
        raw = np.fromfile(folder / entry["file"], np.uint16).astype(np.uint32) << 16
        return raw.view(np.float32).reshape(entry["shape"])
    return np.fromfile(folder / entry["file"], NP_OF[entry["dtype"]]).reshape(entry["shape"])


def compare(name: str, ours: np.ndarray, ref: np.ndarray, tol: float) -> str | None:
    if ours.shape != ref.shape:
        return f"{name}: shape {list(ours.shape)}, ORT {list(ref.shape)}"
    if ref.dtype.kind == "f" or ours.dtype.kind == "f":
        # A float16 graph output comes out of the engine as float32 by design (pass_float32_boundary): the
        # values must still be the float16 ones exactly.
        if ours.dtype != ref.dtype and not (ours.dtype == np.float32 and ref.dtype == np.float16):
            return f"{name}: dtype {ours.dtype}, ORT {ref.dtype}"
        a, b = ours.astype(np.float64), ref.astype(np.float64)
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        if (nan_a != nan_b).any():
            i = tuple(np.argwhere(nan_a != nan_b)[0])
            return f"{name}: NaN differs at {i}: ours {a[i]!r}, ORT {b[i]!r}"
        a, b = np.where(nan_a, 0, a), np.where(nan_b, 0, b)
        inf = np.isinf(a) | np.isinf(b)
        if (a[inf] != b[inf]).any():
            i = tuple(np.argwhere(inf & (a != b))[0])
            return f"{name}: inf differs at {i}: ours {a[i]!r}, ORT {b[i]!r}"
        a, b = np.where(inf, 0, a), np.where(inf, 0, b)
        if a.size == 0:
            return None
        err = np.abs(a - b).max() / max(1.0, np.abs(b).max())
        if err > tol:
            i = tuple(np.unravel_index(np.argmax(np.abs(a - b)), a.shape))
            return f"{name}: relative error {err:.3g} > {tol:g}; worst at {i}: ours {a[i]!r}, ORT {b[i]!r}"
        return None
    if ours.dtype != ref.dtype:
        return f"{name}: dtype {ours.dtype}, ORT {ref.dtype}"
    if not np.array_equal(ours, ref):
        bad = np.argwhere(ours != ref)
        i = tuple(bad[0])
        return f"{name}: {len(bad)} of {ref.size} values differ; first at {i}: ours {ours[i]!r}, ORT {ref[i]!r}"
    return None


def run_engine(model: onnx.ModelProto, batch: int, backend: str, workdir: Path):
    """(Outcome of a failed run, None) or (None, (meta, dump folder))."""
    workdir.mkdir(parents=True, exist_ok=True)
    mpath = workdir / "model.onnx"
    onnx.save(model, str(mpath))
    dump = workdir / "dump"
    cmd = [str(BENCH), "--model", str(mpath), "--batch", str(batch), "--threads", "1", "--warmup", "0",
           "--repeats", "1", "--dump", str(dump), "--json"]
    if backend != "cpu":
        cmd += ["--backend", backend]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return Outcome("crash", f"engine_bench hung (> {TIMEOUT_S} s): {' '.join(cmd)}"), None
    if p.returncode != 0:
        err = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.stdout.strip()
        verdict = "refused" if p.returncode == 2 else "crash"
        return Outcome(verdict, f"exit {p.returncode}: {err}", p.returncode), None
    return None, (json.loads((dump / "meta.json").read_text()), dump)


def run_oracle(case: Case, model: onnx.ModelProto, feeds: dict) -> dict:
    import onnxruntime as ort
    if case.oracle == "ort":
        sess = ort.InferenceSession(model.SerializeToString(), _ort_options(), providers=["CPUExecutionProvider"])
        return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    if case.oracle == "ort_rows":  # quantize_dynamic's ops, as ort_integer.py says
        sess = ort.InferenceSession(exact_matmul_integer(model).SerializeToString(), _ort_options(),
                                    providers=["CPUExecutionProvider"])
        return run_rows(sess, feeds, case.batch)
    if case.oracle == "reference":
        from onnx.reference import ReferenceEvaluator
        return dict(zip([o.name for o in model.graph.output], ReferenceEvaluator(model).run(None, feeds)))
    return case.oracle(feeds)


def judge(case: Case, backend: str, ours: dict, ref: dict, rename=lambda n: n) -> Outcome:
    """ours: {output name: (dtype name, array)} from the engine; ref: the oracle's {name: array}."""
    tol = case.tol if backend == "cpu" else max(case.tol, 1e-4)
    problems = []
    for name in case.outputs:
        key = rename(name)
        if key not in ours or key not in ref:
            problems.append(f"{name}: missing from {'ours' if key not in ours else 'the oracle'}")
            continue
        r = np.asarray(ref[key])
        dtype, a = ours[key]
        if dtype == "bfloat16":  # ORT gives bfloat16 as its own type; compare the widened values
            r = r.astype(np.float32)
        msg = compare(name, a, r, tol)
        if msg:
            problems.append(msg)
    return Outcome("mismatch" if problems else "match", "; ".join(problems))


def run_case(case: Case, backend: str, workdir: Path) -> Outcome:
    try:
        model = build_model(case)
    except Exception as e:  # noqa: BLE001
        return Outcome("ort_error", f"cannot build the model: {str(e).splitlines()[0][:300]}")
    failed, got = run_engine(model, case.batch, backend, workdir)
    if failed:
        return failed
    meta, dump = got
    feeds = {e["name"]: _read(dump, e) for e in meta["inputs"]}
    try:
        ref = run_oracle(case, model, feeds)
    except Exception as e:  # noqa: BLE001
        return Outcome("ort_error", f"the oracle ({case.oracle}) fails on the model: {str(e).splitlines()[0][:300]}")
    ours_names = [e["name"] for e in meta["outputs"]]
    if ours_names != list(case.outputs):
        return Outcome("mismatch", f"outputs {ours_names}, expected {list(case.outputs)}")
    return judge(case, backend, {e["name"]: (e["dtype"], _read(dump, e)) for e in meta["outputs"]}, ref)


# -- groups: engine_bench costs ~0.1 s a start (most of the module's time), so cases that can share a model
# (same opset and batch, ONNX Runtime as the oracle, no expected failure) run as one model of independent
# subgraphs, each case's names prefixed. A group whose run fails in any way falls back to its cases one by one,
# so every verdict is still a single case's own.

GROUP_MAX = 16


def groupable(case: Case) -> bool:
    return case.refuse is None and case.xfail is None and case.oracle == "ort"


def _groups() -> dict:
    by_key: dict = {}
    for c in CASES:
        if groupable(c):
            by_key.setdefault((c.opset, c.batch, tuple(sorted(c.extra_opsets.items()))), []).append(c)
    out = {}
    for key, cs in by_key.items():
        for k in range(0, len(cs), GROUP_MAX):
            gid = f"{key[0]}-{key[1]}-{len(out)}"
            for c in cs[k:k + GROUP_MAX]:
                out[c.id] = gid
    return out


GROUP_OF = _groups()


def _prefix(model: onnx.ModelProto, pre: str) -> onnx.GraphProto:
    g = onnx.GraphProto()
    g.CopyFrom(model.graph)
    ren = lambda n: pre + n if n else n  # noqa: E731
    for n in g.node:
        n.name = ""
        n.input[:] = [ren(i) for i in n.input]
        n.output[:] = [ren(o) for o in n.output]
    for coll in (g.input, g.output, g.initializer):
        for v in coll:
            v.name = ren(v.name)
    del g.value_info[:]
    return g


def merged_model(cases: list) -> onnx.ModelProto:
    graphs = [_prefix(build_model(c), f"k{k}_") for k, c in enumerate(cases)]
    merged = helper.make_graph([n for g in graphs for n in g.node], "merged", [i for g in graphs for i in g.input],
                               [o for g in graphs for o in g.output], initializer=[t for g in graphs for t in g.initializer])
    c0 = cases[0]
    opsets = [helper.make_opsetid("", c0.opset)] + [helper.make_opsetid(d, v) for d, v in c0.extra_opsets.items()]
    model = helper.make_model(merged, opset_imports=opsets, producer_name="test_ops_vs_onnxruntime")
    model.ir_version = 8
    return model


_group_cache: dict = {}


def run_group(gid: str, backend: str) -> dict:
    """{case id: Outcome} for every case of group gid."""
    cases = [c for c in CASES if GROUP_OF.get(c.id) == gid]
    work = Path(tempfile.mkdtemp(prefix=f"ops_vs_ort_{gid}_"))
    try:
        try:
            model = merged_model(cases)
            failed, got = run_engine(model, cases[0].batch, backend, work / "merged")
            if failed is None:
                meta, dump = got
                feeds = {e["name"]: _read(dump, e) for e in meta["inputs"]}
                ref = run_oracle(cases[0], model, feeds)
                ours = {e["name"]: (e["dtype"], _read(dump, e)) for e in meta["outputs"]}
                return {c.id: judge(c, backend, ours, ref, rename=lambda n, k=k: f"k{k}_{n}") for k, c in enumerate(cases)}
        except Exception:  # noqa: BLE001 (any trouble: one by one, where it shows for the case it belongs to)
            pass
        return {c.id: run_case(c, backend, work / str(k)) for k, c in enumerate(cases)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def outcome(case: Case, backend: str, workdir: Path) -> Outcome:
    gid = GROUP_OF.get(case.id)
    if gid is None:
        return run_case(case, backend, workdir)
    if (gid, backend) not in _group_cache:
        _group_cache[(gid, backend)] = run_group(gid, backend)
    return _group_cache[(gid, backend)][case.id]


# ---- pytest -----------------------------------------------------------------------------------------

def _cuda_skip_reason() -> str | None:
    try:
        v = subprocess.run([str(BIN), "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run {BIN} --version: {e}"
    line = next((ln for ln in v.splitlines() if ln.startswith("cuda:")), "")
    if not line:
        return "this build has no CUDA backend (no 'cuda:' line in shardscore --version)"
    if "0 device(s) visible" in line:
        return f"no CUDA device is visible ({line.strip()})"
    return None


_cuda_reason_cache: list = []


def cuda_skip_reason() -> str | None:
    if not _cuda_reason_cache:
        _cuda_reason_cache.append(_cuda_skip_reason())
    return _cuda_reason_cache[0]


def _params():
    out = []
    for c in CASES:
        for backend in BACKENDS:
            # The known bugs live in code both backends share (graph passes, plans): xfail on each.
            marks = [pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else []
            out.append(pytest.param(c, backend, id=f"{backend}-{c.id}", marks=marks))
    return out


@pytest.fixture(scope="module")
def bench():
    if not (BENCH.is_file() and os.access(BENCH, os.X_OK)):
        pytest.skip(f"engine_bench not found at {BENCH} (next to SHARDSCORE_BIN={BIN}): build target engine_bench")
    pytest.importorskip("onnxruntime")
    return BENCH


@pytest.mark.parametrize("case,backend", _params())
def test_op_matches_onnxruntime(bench, case: Case, backend: str, tmp_path):
    if backend == "cuda" and (why := cuda_skip_reason()):
        pytest.skip(why)
    out = outcome(case, backend, tmp_path)
    print(f"{backend} {case.id}: {out.verdict}: {out.detail}")
    if case.refuse is not None:
        assert out.verdict == "refused", (f"expected a refusal (exit 2) naming {case.op!r} and {case.refuse!r}; got "
                                          f"{out.verdict}: {out.detail}")
        assert case.op in out.detail and case.refuse in out.detail, \
            f"the refusal does not name {case.op!r} and {case.refuse!r}: {out.detail}"
        return
    assert out.verdict == "match", f"{out.verdict}: {out.detail}"


if __name__ == "__main__":
    import time
    want = next((a for a in sys.argv[1:] if not a.startswith("-")), "")
    tmp = Path(tempfile.mkdtemp(prefix="ops_vs_ort_"))
    t0 = time.monotonic()
    counts: dict = {}
    for i, c in enumerate(CASES):
        if want not in c.id:
            continue
        o = outcome(c, "cpu", tmp / str(i)) if "--single" not in sys.argv else run_case(c, "cpu", tmp / str(i))
        expected = "refused" if c.refuse else "match"
        flag = "" if o.verdict == expected else "  <<<<<"
        counts[o.verdict] = counts.get(o.verdict, 0) + 1
        if flag or "-v" in sys.argv:
            print(f"{c.id}: {o.verdict}: {o.detail}{flag}")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"{sum(counts.values())} cases in {time.monotonic() - t0:.1f} s: {counts}")
