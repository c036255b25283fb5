"""CLI basics: --help, --version, and a plain singleton run (no mpirun)."""
import collections
import os
import re
import subprocess

import numpy as np
import pytest


def test_help(e2e):
    p = e2e.run_job(None, ["--help"])
    assert p.returncode == 0, p.stderr
    assert not e2e.error_lines(p.stderr)
    text = p.stdout
    for word in ("run", "--job", "--set"):
        assert word in text, f"--help does not mention {word!r}:\n{text}"


def test_version(e2e):
    p = e2e.run_job(None, ["--version"])
    assert p.returncode == 0, p.stderr
    first, *details = p.stdout.splitlines()
    m = re.fullmatch(r"shardscore \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}(?:-modified)?|unknown)\)", first)
    assert m, f"--version printed {p.stdout!r}"
    # The commit the build's sources were at (the version number stays the same between commits).
    head = subprocess.run(["git", "-C", str(e2e.REPO), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0 and e2e.BIN.resolve().is_relative_to(e2e.REPO.resolve()):
        assert m[1].split("-")[0] == head.stdout.strip(), (first, head.stdout)
    # Then what the build has: the CPU backend always, and whether CUDA was built.
    assert any(line.startswith("backends: cpu") for line in details), p.stdout
    assert any(line.startswith("cuda: ") for line in details), p.stdout


def test_no_arguments_is_usage_error(e2e):
    p = e2e.run_job(None, [])
    assert p.returncode == 2, f"exit {p.returncode}, want 2 (bad usage)"
    e2e.assert_single_error(p, strict=False)


def test_unknown_option_is_usage_error(e2e, tmp_path):
    job = e2e.make_job(tmp_path / "job.toml", tmp_path / "in.h5", tmp_path / "out.h5")
    p = e2e.run_job(None, ["run", "--job", job, "--no-such-flag"], cwd=tmp_path)
    assert p.returncode == 2, f"exit {p.returncode}, want 2 (bad usage)"
    e2e.assert_single_error(p, "--no-such-flag")
    assert e2e.listing(tmp_path) == ["job.toml"]


@pytest.mark.parametrize("words, needles", [
    (["dry-run"], ["'dry-run'", "did you mean --dry-run?"]),
    (["--set", "run.batch_size=5", "run.bogus=1"], ["'run.bogus=1'", "give --set again for each"]),
    (["-o", "out/x.h5", "out/y.h5"], ["'out/y.h5'", "each option takes one value"])])
def test_a_word_that_is_not_an_option_or_its_value_is_a_usage_error(e2e, tmp_path, seed, words, needles):
    """Boost kept such words aside and the run went on without them: a mistyped --dry-run scored and wrote for
    real (exit 0), a second value of --set or -o was dropped."""
    inp = e2e.make_input(tmp_path / "in.h5", 200, chunk_rows=100, seed=seed)
    job = e2e.make_job(tmp_path / "job.toml", inp, tmp_path / "out" / "scores.h5")
    p = e2e.run_job(None, ["run", "--job", job, *words], cwd=tmp_path)
    assert p.returncode == 2, f"exit {p.returncode}, want 2 (bad usage)\n{p.stderr}"
    e2e.assert_single_error(p, "unexpected word", *needles)
    assert e2e.listing(tmp_path / "out") == []


@pytest.mark.parametrize("words, needle", [(["{model}", "other.onnx"], "unexpected word 'other.onnx'"),
                                           (["--bogus"], "unknown option '--bogus'"),
                                           (["-x", "{model}"], "unknown option '-x'")])
def test_inspect_names_a_word_it_does_not_take(e2e, words, needle):
    """An option was taken as the model's path ("'--bogus' does not exist"), and with two words the second one was
    named even when the first was the option."""
    p = e2e.run_job(None, ["inspect", *(w.format(model=e2e.DEMO_MODEL) for w in words)])
    assert p.returncode == 2, p.stdout + p.stderr
    e2e.assert_single_error(p, needle, "takes one MODEL.onnx")


@pytest.mark.parametrize("args", [["--batch-size", "6", "--set", "run.batch_size=5"],
                                  ["--set", "input.path=other.h5", "--input", "in.h5"]])
def test_a_key_given_by_a_short_option_and_by_set_is_a_usage_error(e2e, tmp_path, args):
    """--set used to win whatever the order; which one the user meant cannot be told."""
    p = subprocess.run([str(e2e.BIN), "run", "--job", "job.toml", *args], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 2, p.stderr
    e2e.assert_single_error(p, "is given twice, by a short option", "give it once")


def test_the_log_states_the_shard_plan_not_the_setting(e2e, tmp_path, seed):
    """10,000 rows under the default run.shard_rows (65536) were logged as '1 shards of 65536 rows'."""
    inp = e2e.make_input(tmp_path / "in.h5", 10_000, chunk_rows=1000, seed=seed)
    job = e2e.make_job(tmp_path / "job.toml", inp, tmp_path / "out" / "scores.h5")
    p = e2e.run_job(None, ["run", "--job", job, "--dry-run"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert re.search(r"1 rank\(s\) x \d+ thread\(s\); 1 shard of 10000 rows; batch 4096 rows$", p.stderr, re.M), p.stderr
    assert "ready to run: 10000 rows in 1 shard on 1 rank(s)" in p.stdout, p.stdout
    p = e2e.run_job(None, ["run", "--job", job, "--dry-run", "--set", "run.shard_rows=3000"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "; 4 shards of 3000 rows (the last of 1000); batch" in p.stderr, p.stderr


def test_singleton_without_mpirun(e2e, tmp_path, seed):
    """Run the binary directly (MPI singleton): scores, 1 rank, matches ONNX Runtime."""
    inp = e2e.make_input(tmp_path / "in.h5", 5_000, chunk_rows=1024, missing_fraction=0.002, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"shard_rows": 2048})
    p = e2e.run_job(None, ["run", "--job", job], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    datasets, attrs = e2e.read_output(out)
    e2e.assert_row_index(datasets, 5_000)
    e2e.assert_matches_demo_oracle(datasets, e2e.read_input(inp))
    assert int(attrs["num_ranks"]) == 1
    rep = e2e.read_report(out)
    assert rep["ranks"] == 1 and rep["status"] == "passed" and rep["exit_code"] == 0


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 or len(os.sched_getaffinity(0)) != os.cpu_count(),
                    reason="needs 2 cores or more, all of them usable (not restricted by a cpuset or taskset)")
def test_launcher_binding_that_limits_threads_is_named(e2e, tmp_path, seed):
    """mpirun binds a lone rank to one core by default: the job then runs one thread, and says why and how to get
    more; started unbound it runs one thread per core, and says nothing about binding."""
    inp = e2e.make_input(tmp_path / "in.h5", 2_000, chunk_rows=512, seed=seed)
    cores = min(len(os.sched_getaffinity(0)), os.cpu_count())
    for bind, threads in (("core", 1), ("none", cores)):
        out = tmp_path / f"out_{bind}.h5"
        job = e2e.make_job(tmp_path / f"job_{bind}.toml", inp, out)
        p = e2e.run_job(1, ["run", "--job", job], cwd=tmp_path, mpirun_args=("--bind-to", bind))
        assert p.returncode == 0, p.stderr
        assert e2e.read_report(out)["threads_per_rank"] == threads
        notes = [ln for ln in p.stderr.splitlines() if "CPU affinity" in ln]
        if bind == "core":
            assert len(notes) == 1, p.stderr
            assert f"may run on 1 of the node's {os.cpu_count()} cores" in notes[0], notes[0]
            assert "runs 1 thread(s)" in notes[0] and "mpirun --bind-to none" in notes[0], notes[0]
        else:
            assert notes == [], p.stderr


@pytest.mark.skipif(len(os.sched_getaffinity(0)) != os.cpu_count(),
                    reason="needs every core usable (not restricted by a cpuset or taskset)")
def test_more_threads_than_cores_is_capped_and_said(e2e, tmp_path, seed):
    inp = e2e.make_input(tmp_path / "in.h5", 2_000, chunk_rows=512, seed=seed)
    out = tmp_path / "out.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"threads": 500})
    p = e2e.run_job(None, ["run", "--job", job], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    cores = os.cpu_count()
    assert e2e.read_report(out)["threads_per_rank"] == cores
    notes = [ln for ln in p.stderr.splitlines() if "run.threads = 500" in ln]
    assert len(notes) == 1, p.stderr
    assert f"({cores} cores / 1 rank(s) on it), so it runs {cores} thread(s)" in notes[0], notes[0]


def test_inspect_demo_model(e2e):
    p = e2e.run_job(None, ["inspect", e2e.DEMO_MODEL])
    assert p.returncode == 0, p.stderr
    out = p.stdout
    # Interface, opsets, op counts and parameters: the counts as ONNX itself reads the model, the parameters as the
    # model is made (data/make_demo_model.py).
    import onnx
    m = onnx.load(str(e2e.DEMO_MODEL))
    assert re.search(r"^\s+X\s+float32 \[\?, 30\]$", out, re.M), out
    assert re.search(r"^\s+probabilities\s+float32 \[\?, 2\]$", out, re.M), out
    # MLPClassifier(hidden_layer_sizes=(64, 32)) on 30 features, two classes (one output unit): weights and biases;
    # then skl2onnx's constants: 'unity' (a scalar), 'classes' (2), 'shape_tensor' (1).
    params = (30 * 64 + 64) + (64 * 32 + 32) + (32 * 1 + 1) + (1 + 2 + 1)
    assert f"parameters: {params} " in out, out
    assert f"nodes:      {len(m.graph.node)}" in out, out
    ops = collections.Counter(n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}:{n.op_type}"
                              for n in m.graph.node)
    listed = {k: int(v) for k, v in re.findall(r"^  (\S+) (\d+)$", out.split("nodes:", 1)[1], re.M)}
    assert listed == dict(ops), f"op counts {listed}, ONNX reads {dict(ops)}:\n{out}"
    assert listed["MatMul"] == 3 and listed["ai.onnx.ml:ArrayFeatureExtractor"] == 1, out  # three layers, one lookup
    assert "this build can run every op of this model, and ran it on two rows of zeros" in out


def _ml_model(nodes, inputs, outputs, inits=()):
    import onnx
    from onnx import helper
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def _ml_case(kind):
    """(a model of one ai.onnx.ml op, its parameter count by construction): the numbers in the op's int and float
    arrays, written out below (scalars and strings are not parameters), plus the Constant's tensor and the
    initializer where the model has them."""
    from onnx import TensorProto, helper, numpy_helper
    x3 = [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3])]
    label_scores = [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
                    helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 2])]
    ml = dict(domain="ai.onnx.ml")
    if kind == "trees":  # one tree: a split on feature 1 and two leaves
        node = helper.make_node(
            "TreeEnsembleClassifier", ["X"], ["label", "scores"], **ml,
            nodes_treeids=[0, 0, 0], nodes_nodeids=[0, 1, 2], nodes_featureids=[1, 0, 0], nodes_values=[0.5, 0, 0],
            nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"], nodes_truenodeids=[1, 0, 0], nodes_falsenodeids=[2, 0, 0],
            class_treeids=[0, 0], class_nodeids=[1, 2], class_ids=[0, 0], class_weights=[-1.0, 1.0],
            classlabels_int64s=[0, 1], post_transform="NONE")
        return _ml_model([node], x3, label_scores), 6 * 3 + 4 * 2 + 2  # 6 node arrays, 4 leaf arrays, the labels
    if kind == "svm":  # linear kernel, one support vector a class
        node = helper.make_node(
            "SVMClassifier", ["X"], ["label", "scores"], **ml, kernel_type="LINEAR", kernel_params=[0.1, 0.0, 3.0],
            vectors_per_class=[1, 1], support_vectors=[1.0, 0.0, 0.5, -1.0, 0.5, 0.0], coefficients=[1.0, -1.0],
            rho=[0.2], classlabels_ints=[0, 1])
        # kernel_params, vectors_per_class, support_vectors, coefficients, rho, the labels
        return _ml_model([node], x3, label_scores), 3 + 2 + 6 + 2 + 1 + 2
    if kind == "linear":  # behind a Constant of 3 and an initializer of 3
        nodes = [helper.make_node("Constant", [], ["shift"],
                                  value=numpy_helper.from_array(np.array([1, 2, 3], np.float32))),
                 helper.make_node("Add", ["X", "shift"], ["xs"]),
                 helper.make_node("Mul", ["xs", "scale"], ["xm"]),
                 helper.make_node("LinearClassifier", ["xm"], ["label", "scores"], **ml,
                                  coefficients=[0.1, 0.2, 0.3, -0.1, -0.2, -0.3], intercepts=[0.0, 0.5],
                                  classlabels_ints=[0, 1])]
        scale = numpy_helper.from_array(np.array([2.0, 0.5, 1.0], np.float32), "scale")
        # the Constant, the initializer, coefficients, intercepts, the labels
        return _ml_model(nodes, x3, label_scores, [scale]), 3 + 3 + 6 + 2 + 2
    assert kind == "encoder"  # four categories; zeros is a scalar
    node = helper.make_node("OneHotEncoder", ["X"], ["Y"], **ml, cats_int64s=[1, 2, 3, 4], zeros=1)
    return _ml_model([node], [helper.make_tensor_value_info("X", TensorProto.INT64, ["N", 1])],
                     [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 1, 4])]), 4


@pytest.mark.parametrize("kind", ["trees", "svm", "linear", "encoder"])
def test_inspect_counts_the_parameters_ai_onnx_ml_ops_keep_in_attributes(e2e, tmp_path, kind):
    """ai.onnx.ml ops keep their parameters in attributes, not initializers: inspect counted only their float
    arrays, so a tree ensemble's node tables (nodes_featureids, nodes_truenodeids, class_ids ...: ints) were left
    out. Counted now: the numbers in the ai.onnx.ml nodes' array attributes, with the initializers and Constant
    tensors. Each model here is built by hand, so its count is known by construction (the trees' float arrays
    alone are 5 of its 28)."""
    import onnx
    model, expected = _ml_case(kind)
    path = tmp_path / f"{kind}.onnx"
    onnx.save(model, path)
    p = e2e.run_job(None, ["inspect", path])
    assert p.returncode == 0, p.stdout + p.stderr  # a model this build runs: inspect ran it on two rows
    assert re.search(rf"^parameters: {expected} \(", p.stdout, re.M), f"expected {expected}:\n{p.stdout}{p.stderr}"
    assert "ai.onnx.ml attribute arrays" in p.stdout, p.stdout


def test_inspect_runs_the_model_on_two_rows_as_a_job_would(e2e, tmp_path):
    """Every op is there but one refuses its attributes (a classifier with string labels): inspect said it could
    run the model (exit 0) where a job fails when it probes the model. A model whose rows' shape only the data
    decides is not tried, and says so."""
    from onnx import TensorProto, helper
    import onnx
    node = helper.make_node("LinearClassifier", ["X"], ["label", "scores"], domain="ai.onnx.ml",
                            coefficients=[0.1, 0.2, 0.3, -0.1, -0.2, -0.3], intercepts=[0.0, 0.0],
                            classlabels_strings=["no", "yes"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("label", TensorProto.STRING, ["N"]),
                               helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 1)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "strings.onnx")
    p = e2e.run_job(None, ["inspect", tmp_path / "strings.onnx"])
    assert p.returncode == 2, p.stdout + p.stderr
    assert "cannot run it on two rows of zeros" in p.stdout and "'label'" in p.stdout and "element type STRING" in p.stdout, \
        p.stdout
    assert re.search(r"^\s+label\s+string \[N\]$", p.stdout, re.M), p.stdout  # it said 'undefined'
    p = e2e.run_job(None, ["inspect", e2e.REPO / "tests" / "fixtures" / "bert_tiny_dynseq.onnx"])
    assert p.returncode == 0 and "not tried on rows: input 'input_ids'" in p.stdout, p.stdout


def test_inspect_names_the_types_it_has_no_tensors_for(e2e, tmp_path):
    """Inputs and outputs of a type without a DType of shardscore's were listed as 'undefined': each is named as
    ONNX names it (element types in lower case; other types as ONNX writes them, without dimensions)."""
    from onnx import TensorProto, helper
    import onnx
    types = {"S": TensorProto.STRING, "C": TensorProto.COMPLEX64, "D": TensorProto.COMPLEX128, "F8": 17, "U4": 21}
    names = {"S": "string", "C": "complex64", "D": "complex128", "F8": "float8e4m3fn", "U4": "uint4"}
    inputs = [helper.make_tensor_value_info(n, t, ["N", 2]) for n, t in types.items()]
    inputs.append(helper.make_tensor_sequence_value_info("Q", TensorProto.FLOAT, None))
    outputs = [helper.make_tensor_value_info(n + "_out", t, ["N", 2]) for n, t in types.items()]
    outputs.append(helper.make_tensor_sequence_value_info("Q_out", TensorProto.FLOAT, None))
    nodes = [helper.make_node("Identity", [v.name], [v.name + "_out"]) for v in inputs]
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs), opset_imports=[helper.make_opsetid("", 21)])
    onnx.save(model, tmp_path / "types.onnx")
    p = e2e.run_job(None, ["inspect", tmp_path / "types.onnx"])
    assert p.returncode == 2, p.stdout + p.stderr  # listed, then refused: the engine has no such tensors
    assert "undefined" not in p.stdout, p.stdout
    for n, name in names.items():
        for v in (n, n + "_out"):
            assert re.search(rf"^\s+{v}\s+{name} \[N, 2\]$", p.stdout, re.M), p.stdout
    for v in ("Q", "Q_out"):
        assert re.search(rf"^\s+{v}\s+seq\(tensor\(float\)\)$", p.stdout, re.M), p.stdout


def test_inspect_lists_what_this_build_cannot_run(e2e, tmp_path):
    from onnx import TensorProto, helper
    import onnx
    nodes = [helper.make_node("Hardmax", ["X"], ["Y"], name="e1"), helper.make_node("Hardmax", ["Y"], ["Z"], name="e2")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("Z", TensorProto.FLOAT, ["N", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "hardmax.onnx"
    onnx.save(model, path)
    p = e2e.run_job(None, ["inspect", path])
    assert p.returncode == 2, "a model this build cannot run is exit 2"
    assert re.search(r"^\s+X\s+float32 \[N, 3\]$", p.stdout, re.M), p.stdout
    assert "Hardmax (ai.onnx, opset 17): 2 node(s)" in p.stdout, p.stdout
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"\x00\xff" * 100)
    p = e2e.run_job(None, ["inspect", bad])
    assert p.returncode == 2
    e2e.assert_single_error(p)
    assert "garbage.onnx" in p.stderr
