"""Bad inputs: exit 2, one error line naming the culprit, nothing written to the output folder."""
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from onnx import TensorProto, helper, numpy_helper

ROWS = 5_000


def _good_input(e2e, tmp_path, seed, **kw):
    return e2e.make_input(tmp_path / "in" / "features.h5", ROWS, chunk_rows=1000, seed=seed, **kw)


def _unsupported_op_model(path, rng):
    """MatMul, then Hardmax (an op this build lacks): valid ONNX that ONNX Runtime runs."""
    w = rng.standard_normal((30, 2)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["X", "W"], ["logits"]),
             helper.make_node("Hardmax", ["logits"], ["probabilities"], name="my_hardmax_node", axis=-1)]
    graph = helper.make_graph(
        nodes, "hardmax_graph",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 30])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        initializer=[numpy_helper.from_array(w, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return path


def case_missing_input(e2e, tmp_path, seed, rng):
    missing = tmp_path / "in" / "does_not_exist.h5"
    return {"input": missing}, [], [str(missing)], []


def case_wrong_dataset(e2e, tmp_path, seed, rng):
    return {"input": _good_input(e2e, tmp_path, seed)}, ["--set", "input.dataset=/nope"], ["/nope"], []


def case_feature_count(e2e, tmp_path, seed, rng):
    inp = e2e.make_input(tmp_path / "in" / "twelve.h5", ROWS, chunk_rows=1000, features=12, seed=seed)
    return {"input": inp}, [], [], [r"\b12\b", r"\b30\b"]


def case_corrupt_hdf5_header(e2e, tmp_path, seed, rng):
    inp = _good_input(e2e, tmp_path, seed)
    with open(inp, "r+b") as f:
        f.write(rng.integers(0, 256, 512, dtype=np.uint8).tobytes())
    return {"input": inp}, [], [str(inp)], []


def case_truncated_hdf5(e2e, tmp_path, seed, rng):
    inp = _good_input(e2e, tmp_path, seed)
    os.truncate(inp, inp.stat().st_size // 2)
    return {"input": inp}, [], [str(inp)], []


def case_truncated_onnx(e2e, tmp_path, seed, rng):
    model = tmp_path / "model" / "truncated.onnx"
    model.parent.mkdir()
    data = e2e.DEMO_MODEL.read_bytes()
    model.write_bytes(data[: len(data) // 2])
    return {"input": _good_input(e2e, tmp_path, seed), "model": model}, [], [str(model)], []


def case_garbage_onnx(e2e, tmp_path, seed, rng):
    model = tmp_path / "model" / "garbage.onnx"
    model.parent.mkdir()
    model.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return {"input": _good_input(e2e, tmp_path, seed), "model": model}, [], [str(model)], []


def case_unsupported_op(e2e, tmp_path, seed, rng):
    model = tmp_path / "model" / "hardmax.onnx"
    model.parent.mkdir()
    _unsupported_op_model(model, rng)
    # The model is valid: ONNX Runtime runs it.
    x = rng.standard_normal((4, 30)).astype(np.float32)
    assert e2e.ort_session(model).run(None, {"X": x})[0].shape == (4, 2)
    return {"input": _good_input(e2e, tmp_path, seed), "model": model}, [], ["Hardmax", "my_hardmax_node"], []


def case_unknown_key_set(e2e, tmp_path, seed, rng):
    return {"input": _good_input(e2e, tmp_path, seed)}, ["--set", "run.bogus_key=1"], ["run.bogus_key"], []


def case_unknown_key_file(e2e, tmp_path, seed, rng):
    return {"input": _good_input(e2e, tmp_path, seed), "job_extra": {"input": {"bogus_field": 1}}}, [], \
        ["input.bogus_field"], []


def case_missing_model(e2e, tmp_path, seed, rng):
    model = tmp_path / "model" / "nowhere.onnx"
    return {"input": _good_input(e2e, tmp_path, seed), "model": model}, [], [str(model)], []


def case_missing_job_file(e2e, tmp_path, seed, rng):
    job = tmp_path / "no_such_job.toml"
    return {"input": _good_input(e2e, tmp_path, seed), "job_path": job}, [], [str(job)], []


def case_bad_toml(e2e, tmp_path, seed, rng):
    job = tmp_path / "broken.toml"
    job.write_text('[input]\npath = "unterminated\n')
    return {"input": _good_input(e2e, tmp_path, seed), "job_path": job}, [], [str(job)], []


def case_wrong_value_type(e2e, tmp_path, seed, rng):
    return {"input": _good_input(e2e, tmp_path, seed)}, ["--set", "run.batch_size=many"], ["run.batch_size"], []


def case_wrong_array_length(e2e, tmp_path, seed, rng):
    mean = e2e.load_demo_job()["preprocess"]["mean"][:29]
    return {"input": _good_input(e2e, tmp_path, seed), "job_extra": {"preprocess": {"mean": mean}}}, [], \
        ["preprocess.mean"], [r"\b29\b", r"\b30\b"]


def case_per_feature_values_for_rows_of_2_dims(e2e, tmp_path, seed, rng):
    # Rows [5, 6] have no features: the job's 30 per-feature means were refused as "the input has 1 features".
    inp = tmp_path / "in" / "seq.h5"
    inp.parent.mkdir()
    with e2e.h5py.File(inp, "w") as f:
        f.create_dataset("features", data=rng.standard_normal((200, 5, 6)).astype(np.float32))
    axes = numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "axes")
    graph = helper.make_graph([helper.make_node("ReduceSum", ["X", "axes"], ["y"], keepdims=0)], "sum",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 5, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])], initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    (tmp_path / "model").mkdir()
    onnx.save(model, tmp_path / "model" / "sum.onnx")
    return {"input": inp, "model": tmp_path / "model" / "sum.onnx"}, [], ["'/features'", "[5, 6]", "one value"], []


def case_open_for_writing(e2e, tmp_path, seed, rng):
    # A SWMR writer that died before closing its file leaves it marked open for writing; serial HDF5 refuses
    # it, over MPI-IO it was read without a word.
    inp = tmp_path / "in" / "swmr.h5"
    inp.parent.mkdir()
    writer = ("import h5py, numpy as np, os, sys\n"
              "f = h5py.File(sys.argv[1], 'w', libver='latest')\n"
              "d = f.create_dataset('features', data=np.ones((100, 30)), maxshape=(None, 30), chunks=(10, 30))\n"
              "f.swmr_mode = True\n"
              "d.flush()\n"
              "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", writer, str(inp)], check=True)
    return {"input": inp}, [], [str(inp), "marked open for writing", "h5clear -s"], []


def case_dataset_not_2d(e2e, tmp_path, seed, rng):
    inp = tmp_path / "in" / "one_d.h5"
    inp.parent.mkdir()
    with e2e.h5py.File(inp, "w") as f:
        f.create_dataset("/features", data=rng.standard_normal(3000))
    return {"input": inp}, [], ["/features"], []


def case_dataset_not_numeric(e2e, tmp_path, seed, rng):
    inp = tmp_path / "in" / "strings.h5"
    inp.parent.mkdir()
    with e2e.h5py.File(inp, "w") as f:
        f.create_dataset("/features", data=np.full((100, 30), b"abc", dtype="S3"))
    return {"input": inp}, [], ["/features"], []


def case_unknown_output(e2e, tmp_path, seed, rng):
    # The message names the wrong output and lists the model's own.
    return {"input": _good_input(e2e, tmp_path, seed)}, ["--set", 'output.outputs=["probabilities", "scores"]'], \
        ["'scores'", "label, probabilities"], []


def case_output_twice(e2e, tmp_path, seed, rng):
    return {"input": _good_input(e2e, tmp_path, seed), "job_extra": {"output": {"outputs": ["label", "label"]}}}, [], \
        ["output.outputs", "'label'"], []


def case_report_folder_missing(e2e, tmp_path, seed, rng):
    # Found before any row is scored, not when the report is written at the end.
    missing = tmp_path / "no_such_folder"
    return {"input": _good_input(e2e, tmp_path, seed)}, ["--set", f'output.report="{missing / "r.json"}"'], \
        [str(missing), "output.report"], []


def case_filter_not_in_this_hdf5(e2e, tmp_path, seed, rng):
    # h5py's own LZF filter: HDF5 opened the file, and the first read failed naming the plugin folder.
    inp = tmp_path / "in" / "lzf.h5"
    inp.parent.mkdir()
    with e2e.h5py.File(inp, "w") as f:
        f.create_dataset("/features", data=rng.standard_normal((1000, 30)), chunks=(100, 30), compression="lzf")
    return {"input": inp}, [], ["/features", "filter 32000", "lzf"], []


def case_virtual_dataset(e2e, tmp_path, seed, rng):
    # Parallel HDF5 cannot read a VDS; the first read failed.
    inp = tmp_path / "in" / "vds.h5"
    inp.parent.mkdir()
    layout = e2e.h5py.VirtualLayout(shape=(1000, 30), dtype="f8")
    for k in range(2):
        part = tmp_path / "in" / f"part{k}.h5"
        with e2e.h5py.File(part, "w") as f:
            f.create_dataset("x", data=rng.standard_normal((500, 30)))
        layout[k * 500:(k + 1) * 500] = e2e.h5py.VirtualSource(str(part), "x", shape=(500, 30))
    with e2e.h5py.File(inp, "w") as f:
        f.create_virtual_dataset("/features", layout)
    return {"input": inp}, [], ["/features", "virtual dataset"], []


def case_symbolic_dim_differs(e2e, tmp_path, seed, rng):
    # ids and mask both [N, "S"] (BERT's), fed 24 and 16 tokens: the model failed inside, in a broadcast
    # that named neither dataset. (Not refused by itself: some converters name every unknown dimension
    # alike, and ONNX Runtime runs such models; test_shared_dim_name_with_other_sizes_still_runs.)
    graph = helper.make_graph(
        [helper.make_node("Mul", ["ids", "mask"], ["m"]), helper.make_node("Cast", ["m"], ["y"], to=TensorProto.FLOAT)],
        "two_inputs", [helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", "S"]),
                       helper.make_tensor_value_info("mask", TensorProto.INT64, ["N", "S"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "S"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    (tmp_path / "model").mkdir()
    onnx.save(model, tmp_path / "model" / "two.onnx")
    inp = tmp_path / "in" / "tokens.h5"
    inp.parent.mkdir()
    with e2e.h5py.File(inp, "w") as f:
        f.create_dataset("ids", data=rng.integers(0, 100, size=(300, 24)))
        f.create_dataset("mask", data=np.ones((300, 16), dtype=np.int64))
    extra = {"input": {"dataset": None, "datasets": {"ids": "/ids", "mask": "/mask"}}}
    return {"input": inp, "model": tmp_path / "model" / "two.onnx", "job_extra": extra}, [], \
        ["'/ids'", "'/mask'", "'S'", "24", "16", "cannot be broadcast"], []


def test_shared_dim_name_with_other_sizes_still_runs(e2e, tmp_path, rng):
    """Inputs that name a dimension alike but are fed other sizes there, in a model that runs on them (as
    converters that name every unknown dimension "unk" make them): scored as ONNX Runtime scores them."""
    ints = [helper.make_tensor_value_info(n, TensorProto.INT64, ["N", "unk"]) for n in ("a", "b")]
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["a", "axes"], ["sa"]), helper.make_node("ReduceSum", ["b", "axes"], ["sb"]),
         helper.make_node("Add", ["sa", "sb"], ["s"]), helper.make_node("Cast", ["s"], ["y"], to=TensorProto.FLOAT)],
        "sums", ints, [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])], initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, tmp_path / "sums.onnx")
    a, b = rng.integers(-50, 50, size=(700, 5)), rng.integers(-50, 50, size=(700, 3))
    with e2e.h5py.File(tmp_path / "in.h5", "w") as f:
        f.create_dataset("a", data=a)
        f.create_dataset("b", data=b)
    out = tmp_path / "out" / "sums.h5"
    job = e2e.demo_job(tmp_path / "in.h5", out, tmp_path / "sums.onnx")
    job["input"] = {"path": str(tmp_path / "in.h5"), "datasets": {"a": "/a", "b": "/b"}}
    job["preprocess"] = {}
    out.parent.mkdir()
    p = e2e.run_job(2, ["run", "--job", e2e.write_job(tmp_path / "job.toml", job)], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    want = e2e.ort_session(tmp_path / "sums.onnx").run(None, {"a": a, "b": b})[0]
    np.testing.assert_array_equal(e2e.read_output(out)[0]["y"], want)


def _matmul_model(path, rng, output, width):
    # X [N, 30] times a [30, width] weight, output named `output` (ONNX Runtime runs each of these).
    w = rng.standard_normal((30, width)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], [output])], "outputs_graph",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 30])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", width])],
        initializer=[numpy_helper.from_array(w, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(exist_ok=True)
    onnx.save(model, path)
    return path


def case_output_named_row_index(e2e, tmp_path, seed, rng):
    # Found before any row is scored (it failed when the output was created, after the dry run said yes).
    model = _matmul_model(tmp_path / "model" / "m.onnx", rng, "row_index", 2)
    return {"input": _good_input(e2e, tmp_path, seed), "model": model}, [], ["'row_index'", "row index"], []


def case_output_name_with_slash(e2e, tmp_path, seed, rng):
    model = _matmul_model(tmp_path / "model" / "m.onnx", rng, "head/probs", 2)
    return {"input": _good_input(e2e, tmp_path, seed), "model": model}, [], ["'head/probs'", "HDF5"], []


def case_output_without_values(e2e, tmp_path, seed, rng):
    # Rows of shape [0] failed in HDF5's internals ('addr overflow') with exit 1.
    model = _matmul_model(tmp_path / "model" / "m.onnx", rng, "empty", 0)
    return {"input": _good_input(e2e, tmp_path, seed), "model": model}, [], ["'empty'", "[0]"], []


CASES = {
    "missing_input": (case_missing_input, 3),
    "wrong_dataset": (case_wrong_dataset, 2),
    "feature_count": (case_feature_count, 2),
    "corrupt_hdf5_header": (case_corrupt_hdf5_header, 2),
    "truncated_hdf5": (case_truncated_hdf5, 2),
    "truncated_onnx": (case_truncated_onnx, 2),
    "garbage_onnx": (case_garbage_onnx, 2),
    "unsupported_op": (case_unsupported_op, 3),
    "unknown_key_set": (case_unknown_key_set, 3),
    "unknown_key_file": (case_unknown_key_file, 2),
    "missing_model": (case_missing_model, 2),
    "missing_job_file": (case_missing_job_file, 2),
    "bad_toml": (case_bad_toml, 2),
    "wrong_value_type": (case_wrong_value_type, 2),
    "wrong_array_length": (case_wrong_array_length, 3),
    "dataset_not_2d": (case_dataset_not_2d, 2),
    "open_for_writing": (case_open_for_writing, 2),
    "per_feature_values_for_rows_of_2_dims": (case_per_feature_values_for_rows_of_2_dims, 2),
    "dataset_not_numeric": (case_dataset_not_numeric, 2),
    "unknown_output": (case_unknown_output, 3),
    "output_twice": (case_output_twice, 1),
    "report_folder_missing": (case_report_folder_missing, 2),
    "output_named_row_index": (case_output_named_row_index, 2),
    "output_name_with_slash": (case_output_name_with_slash, 1),
    "output_without_values": (case_output_without_values, 2),
    "filter_not_in_this_hdf5": (case_filter_not_in_this_hdf5, 2),
    "virtual_dataset": (case_virtual_dataset, 2),
    "symbolic_dim_differs": (case_symbolic_dim_differs, 2),
}


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2(e2e, tmp_path, seed, rng, case, dry_run):
    """Each case fails the same way as a run and as a dry run (--dry-run: checked, nothing scored)."""
    build, np_ = CASES[case]
    spec, extra_args, needles, patterns = build(e2e, tmp_path, seed, rng)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "scores.h5"
    job = e2e.demo_job(spec["input"], out, spec.get("model", e2e.DEMO_MODEL))
    for section, updates in spec.get("job_extra", {}).items():
        job[section].update(updates)
        job[section] = {k: v for k, v in job[section].items() if v is not None}  # None: the key left out
    job_path = spec.get("job_path") or e2e.write_job(tmp_path / "job.toml", job)

    p = e2e.run_job(np_, ["run", "--job", job_path, *extra_args, *(["--dry-run"] if dry_run else [])], cwd=tmp_path)
    assert p.returncode == 2, f"exit {p.returncode}, want 2\n{p.stderr}"
    line = e2e.assert_single_error(p, *needles)
    if patterns:  # numbers: ignore digits that are part of the test's own paths
        stripped = line.replace(str(tmp_path), "<tmp>")
        for pat in patterns:
            assert re.search(pat, stripped), f"error line does not match {pat!r}: {line!r}"
    assert not out.exists(), "output file written despite the error"
    assert e2e.listing(out_dir) == [], f"files left in the output folder: {e2e.listing(out_dir)}"


@pytest.mark.parametrize("np_", [None, 2])
def test_dry_run_checks_and_writes_nothing(e2e, tmp_path, seed, np_):
    """A good job: exit 0, the plan printed, and the earlier output (overwrite = true) and report untouched."""
    rows = 23_000
    inp = e2e.make_input(tmp_path / "in.h5", rows, chunk_rows=1000, seed=seed)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "scores.h5"
    out.write_bytes(b"earlier output")
    e2e.report_path(out).write_text("{}")
    before = {n: e2e.sha256_file(out_dir / n) for n in e2e.listing(out_dir)}
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"shard_rows": 5000}, output={"overwrite": True})
    p = e2e.run_job(np_, ["run", "--job", job, "--dry-run"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert not e2e.error_lines(p.stderr)
    ranks = np_ or 1
    assert f"dry run: the job is ready to run: {rows} rows in 5 shards on {ranks} rank(s) -> {out}" in p.stdout, p.stdout
    assert f"{ranks} rank(s) x " in p.stderr and "5 shards of 5000 rows" in p.stderr, p.stderr
    assert {n: e2e.sha256_file(out_dir / n) for n in e2e.listing(out_dir)} == before


def test_existing_output_without_overwrite(e2e, tmp_path, seed):
    inp = _good_input(e2e, tmp_path, seed)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "scores.h5"
    payload = os.urandom(1000)
    out.write_bytes(payload)
    mtime = out.stat().st_mtime_ns
    job = e2e.make_job(tmp_path / "job.toml", inp, out)
    p = e2e.run_job(2, ["run", "--job", job, "--set", "output.overwrite=false"], cwd=tmp_path)
    assert p.returncode == 2, f"exit {p.returncode}, want 2\n{p.stderr}"
    e2e.assert_single_error(p, str(out))
    assert out.read_bytes() == payload and out.stat().st_mtime_ns == mtime, "existing output was modified"
    assert e2e.listing(out_dir) == [out.name], f"output folder now holds {e2e.listing(out_dir)}"


@pytest.mark.parametrize("target", ["output", "input", "model"])
def test_report_never_replaces_the_jobs_own_files(e2e, tmp_path, seed, target):
    """output.report naming the output, the input or the model: refused before scoring (it used to be moved
    over them at the end: the input file became the JSON report), every file as it was."""
    inp = _good_input(e2e, tmp_path, seed)
    model = tmp_path / "model.onnx"
    model.write_bytes(e2e.DEMO_MODEL.read_bytes())
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "scores.h5"
    if target == "output":
        out.write_bytes(b"an earlier output")  # overwrite = true: the output may be replaced, by an output
    report = {"output": out, "input": inp, "model": model}[target]
    before = {p: e2e.sha256_file(p) for p in (inp, model, *([out] if out.exists() else []))}
    job = e2e.make_job(tmp_path / "job.toml", inp, out, model)
    p = e2e.run_job(2, ["run", "--job", job, "--set", f'output.report="{report}"'], cwd=tmp_path)
    assert p.returncode == 2, f"exit {p.returncode}, want 2\n{p.stderr}"
    e2e.assert_single_error(p, str(report), f"would overwrite the {target}")
    assert {p: e2e.sha256_file(p) for p in before} == before, "a file of the job was modified"


@pytest.mark.parametrize("args, message", [
    (["-o", "in.h5/x.h5"], "output folder 'in.h5' is a file, not a folder"),
    (["-o", "in.h5/sub/x.h5"], "output folder 'in.h5/sub' does not exist: 'in.h5' is a file, not a folder"),
    (["--set", "output.report=in.h5/r.json"], "report folder 'in.h5' (output.report) is a file, not a folder"),
    (["-o", "fifo/x.h5"], "output folder 'fifo' is a device, FIFO or socket, not a folder"),
    (["-o", "loop/sub/x.h5"],
     "output folder 'loop/sub' cannot be reached: Too many levels of symbolic links")])
def test_an_output_folder_that_is_a_file_is_called_so(e2e, tmp_path, seed, args, message):
    """A folder named by a path through a regular file was said not to exist; so were a FIFO and a folder
    whose path stat refuses for another reason than absence (a symbolic link loop here; EACCES, which root
    does not meet, takes the same branch)."""
    e2e.make_input(tmp_path / "in.h5", ROWS, chunk_rows=1000, seed=seed)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "loop").symlink_to("loop")
    job = e2e.make_job(tmp_path / "job.toml", "in.h5", tmp_path / "out" / "scores.h5")
    p = e2e.run_job(None, ["run", "--job", job, *args], cwd=tmp_path)
    assert p.returncode == 2, f"exit {p.returncode}, want 2\n{p.stderr}"
    e2e.assert_single_error(p, message)
    assert e2e.listing(tmp_path / "out") == []


def _rows_model(kind: str) -> onnx.ModelProto:
    """x [N, 2] -> y: a model whose output's rows are not the input's rows one by one."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])
    if kind == "minus_column_sum":      # y = x - sum over the rows
        nodes = [helper.make_node("ReduceSum", ["x"], ["s"], axes=[0], keepdims=1), helper.make_node("Sub", ["x", "s"], ["y"])]
        y = ["N", 2]
    elif kind == "softmax_over_rows":   # opset 11: one softmax over the whole [N, 2] (axis 0 flattens it)
        nodes = [helper.make_node("Softmax", ["x"], ["y"], axis=0)]
        y = ["N", 2]
    else:                               # "rows_in_dimension_1": y = x transposed, [2, N]
        nodes = [helper.make_node("Transpose", ["x"], ["y"], perm=[1, 0])]
        y = [2, "N"]
    g = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, y)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("kind, needles", [
    ("minus_column_sum", ["model output 'y' mixes rows: row 0's value changes from 0 to -1 when row 2 of its batch changes"]),
    ("softmax_over_rows", ["model output 'y' mixes rows: row 0's value changes from 0.166667 to 0.105971"]),
    ("rows_in_dimension_1", ["model output 'y' has shape [2, 3] for 3 rows and [2, 2] for 2",
                             "one entry per input row"])])
@pytest.mark.parametrize("np_", [1, 2])
def test_a_model_whose_rows_interact_is_refused_before_scoring(e2e, tmp_path, rng, kind, needles, np_):
    """Scored batch by batch, a model whose outputs mix rows (a reduction or softmax across the batch axis) gave
    values that followed run.batch_size and the rank count, exit 0; one whose rows sit in dimension 1 passed the
    2-row trial (dimension 0 was 2 by chance) and failed mid-run with exit 1. The trial now runs 3 rows too, the
    last of ones: exit 2 before scoring, naming the output, nothing written; `inspect` says the same."""
    model = tmp_path / "m.onnx"
    onnx.save(_rows_model(kind), model)
    inp = tmp_path / "in.h5"
    with e2e.h5py.File(inp, "w") as f:
        f.create_dataset("/X", data=rng.standard_normal((1000, 2)).astype(np.float32), chunks=(100, 2))
    out = tmp_path / "out" / "scores.h5"
    out.parent.mkdir()
    job = e2e.write_job(tmp_path / "job.toml", {"input": {"path": str(inp), "dataset": "/X"}, "model": {"path": str(model)},
                                               "output": {"path": str(out)}, "run": {"batch_size": 100}})
    p = e2e.run_job(np_, ["run", "--job", job], cwd=tmp_path)
    assert p.returncode == 2, f"exit {p.returncode}, want 2\n{p.stderr}"
    e2e.assert_single_error(p, *needles)
    assert e2e.listing(out.parent) == []
    p = e2e.run_job(None, ["inspect", model])
    assert p.returncode == 2 and all(n in p.stdout for n in needles), p.stdout + p.stderr


def _refused_model(kind: str) -> onnx.ModelProto:
    """x [N, 2] float32 -> y through ops this build refuses, as exporters write them."""
    inits = [numpy_helper.from_array(np.ones((2, 2), np.float32), "W"), numpy_helper.from_array(np.ones((2, 2), np.uint8), "Wq")]
    opsets = [helper.make_opsetid("", 17)]
    if kind == "opset_22":        # MatMul, unchanged since 13, and Relu, in a model exported for a newer ONNX
        nodes = [helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Relu", ["m"], ["y"])]
        opsets = [helper.make_opsetid("", 22)]
    elif kind == "opset_22_and_an_op_it_lacks":  # Hardmax is in no opset of this build: it is named first
        nodes = [helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Hardmax", ["m"], ["y"])]
        opsets = [helper.make_opsetid("", 22)]
    elif kind == "zipmap":        # skl2onnx's default classifier export
        nodes = [helper.make_node("ZipMap", ["x"], ["y"], domain="ai.onnx.ml", classlabels_int64s=[0, 1])]
        opsets.append(helper.make_opsetid("ai.onnx.ml", 1))
    else:                         # "qoperator": quantize_static's QOperator format (QLinearMatMul between Q and DQ)
        inits += [numpy_helper.from_array(np.float32(0.1), "s"), numpy_helper.from_array(np.uint8(128), "z")]
        nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
                 helper.make_node("QLinearMatMul", ["q", "s", "z", "Wq", "s", "z", "s", "z"], ["i"]),
                 helper.make_node("DequantizeLinear", ["i", "s", "z"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    m = helper.make_model(g, opset_imports=opsets)
    m.ir_version = 8
    return m


@pytest.mark.parametrize("kind, needles", [
    ("opset_22", ["uses unsupported op 'MatMul' (node 'MatMul_0', domain 'ai.onnx', opset 22); the model imports opset "
                  "22 of domain 'ai.onnx', and this build runs ops up to opset 21 (MatMul at opsets 1-21): export it at "
                  "opset 21 or below"]),
    ("opset_22_and_an_op_it_lacks", ["uses unsupported op 'Hardmax' (node 'Hardmax_1', domain 'ai.onnx', opset 22); this "
                                     "build runs: ", "; besides, the model imports opset 22 of domain 'ai.onnx', and "
                                     "this build runs ops up to opset 21: export it at opset 21 or below"]),
    ("zipmap", ["uses unsupported op 'ZipMap'", "options={'zipmap': False}"]),
    ("qoperator", ["uses unsupported op 'QLinearMatMul'", "QOperator format", "this build runs QDQ models",
                   "quantize_dynamic's (DynamicQuantizeLinear, MatMulInteger, ConvInteger)"])])
def test_an_unsupported_op_says_what_to_do_instead(e2e, tmp_path, kind, needles):
    """What users meet first (helper-63's probe) said only that the op is unsupported, with ~115 op names: a model
    exported at a newer opset (named MatMul, which has not changed since opset 13), skl2onnx's default ZipMap, a
    model in quantize_static's QOperator format. Each now says why and what to export instead; an op this
    build has at no opset is named before the opset, which a new export would not mend alone."""
    model = tmp_path / "m.onnx"
    onnx.save(_refused_model(kind), model)
    inp = tmp_path / "in.h5"
    with e2e.h5py.File(inp, "w") as f:
        f.create_dataset("/X", data=np.zeros((10, 2), np.float32))
    job = e2e.write_job(tmp_path / "job.toml", {"input": {"path": str(inp), "dataset": "/X"}, "model": {"path": str(model)},
                                               "output": {"path": str(tmp_path / "out.h5")}})
    p = e2e.run_job(None, ["run", "--job", job], cwd=tmp_path)
    assert p.returncode == 2, f"exit {p.returncode}, want 2\n{p.stderr}"
    e2e.assert_single_error(p, *needles)
    if kind.startswith("opset_22"):
        assert "it lacks" not in p.stderr, p.stderr  # nothing else the model lacks (not Relu or MatMul at opset 22)


@pytest.mark.parametrize("case", ["one_dimension", "channels_last"])
def test_rows_of_another_shape_are_named_with_the_fix(e2e, tmp_path, rng, case):
    """A dataset whose rows the model cannot take was named by the whole dataset's shape ('gives the model rows of
    shape [3001]'). It now gives one row's shape beside the model's, with the fix where it is a common one: a 1-D
    dataset for a model of [N, 1] rows, and channels-last images, which preprocess.layout = "nhwc" then scores.
    Its output is declared without a shape, as skl2onnx writes some: ONNX Runtime runs such models, and Debian's
    ONNX checker, which demanded the field, no longer refuses them ('Field shape of type is required')."""
    inp = tmp_path / "in.h5"
    if case == "one_dimension":
        x, rows = rng.standard_normal(300).astype(np.float32), [1]
        nodes = [helper.make_node("Identity", ["x"], ["y"])]
        needles = ["gives the model rows of shape [] (a dataset of one dimension: one value a row) but the model expects "
                   "rows of shape [1]", "x.reshape(-1, 1)"]
    else:
        x, rows = rng.integers(0, 256, (300, 8, 8, 3), dtype=np.uint8), [3, -1, -1]
        nodes = [helper.make_node("GlobalAveragePool", ["x"], ["p"]), helper.make_node("Flatten", ["p"], ["y"])]
        needles = ["gives the model rows of shape [8, 8, 3] but the model expects rows of shape [3, ?, ?] (its input is [?, 3, ?, ?])",
                   "preprocess.layout = \"nhwc\""]
    dims = ["N"] + [d if d > 0 else f"d{i}" for i, d in enumerate(rows)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, tmp_path / "m.onnx")
    with e2e.h5py.File(inp, "w") as f:
        f.create_dataset("/X", data=x)
    out = tmp_path / "out" / "scores.h5"
    out.parent.mkdir()
    job = {"input": {"path": str(inp), "dataset": "/X"}, "model": {"path": str(tmp_path / "m.onnx")},
           "output": {"path": str(out)}}
    p = e2e.run_job(2, ["run", "--job", e2e.write_job(tmp_path / "job.toml", job)], cwd=tmp_path)
    assert p.returncode == 2, f"exit {p.returncode}, want 2\n{p.stderr}"
    line = e2e.assert_single_error(p, *needles)
    assert "[300" not in line, line  # not the dataset's row count
    if case == "channels_last":
        job["preprocess"] = {"layout": "nhwc"}
        p = e2e.run_job(2, ["run", "--job", e2e.write_job(tmp_path / "job.toml", job)], cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        got = e2e.read_output(out)[0]["y"]
        np.testing.assert_allclose(got, x.astype(np.float64).mean(axis=(1, 2)), rtol=1e-5)
        p = e2e.run_job(None, ["inspect", tmp_path / "m.onnx"])
        assert p.returncode == 0 and "  y  float32 (shape not given)" in p.stdout, p.stdout + p.stderr


@pytest.mark.parametrize("case", ["job_is_a_folder", "model_is_a_folder", "inspect_a_folder", "null_dataspace"])
def test_a_folder_or_an_empty_dataspace_is_called_so(e2e, tmp_path, seed, case):
    """A job file that is a folder read as an empty job ('input.path is required'), a model that is a folder as
    'not a valid ONNX model (protobuf parse failed)', and a dataset of a null dataspace (h5py.Empty) as 'a
    scalar': each is now named as what it is (helper-64)."""
    inp = _good_input(e2e, tmp_path, seed)
    (tmp_path / "folder").mkdir()
    job = e2e.make_job(tmp_path / "job.toml", inp, tmp_path / "out" / "scores.h5")
    args, code, needle = {
        "job_is_a_folder": (["run", "--job", tmp_path / "folder"], 2, f"job file '{tmp_path / 'folder'}' is a folder, not a TOML file"),
        "model_is_a_folder": (["run", "--job", job, "-m", tmp_path / "folder"], 2,
                              f"model file '{tmp_path / 'folder'}' is a folder, not an ONNX model"),
        "inspect_a_folder": (["inspect", tmp_path / "folder"], 2, f"model file '{tmp_path / 'folder'}' is a folder, not an ONNX model"),
        "null_dataspace": (["run", "--job", job, "--set", "input.dataset=/empty"], 2, "dataset '/empty' in '" + str(inp) +
                           "' is empty (a null dataspace); shardscore reads datasets whose first dimension is rows"),
    }[case]
    if case == "null_dataspace":
        with e2e.h5py.File(inp, "a") as f:
            f.create_dataset("/empty", data=e2e.h5py.Empty("f4"))
    p = e2e.run_job(2 if case != "inspect_a_folder" else None, args, cwd=tmp_path)
    assert p.returncode == code, f"exit {p.returncode}, want {code}\n{p.stderr}"
    e2e.assert_single_error(p, needle)


@pytest.mark.parametrize("length, what", [(240, "output"), (246, "report")])
def test_a_name_too_long_with_its_temporary_name_is_refused_first(e2e, tmp_path, seed, length, what):
    """A legal output name that the temporary name (.<name>.partial-<host>-<pid>) takes past the folder's 255
    bytes failed after the start with 'File name too long' (exit 1); a report name (output + .report.json, then
    .tmp-<host>-<pid>) likewise. Now exit 2 before anything is read, naming the name and how much to cut."""
    inp = _good_input(e2e, tmp_path, seed)
    out = tmp_path / "out" / ("s" * (length - 3) + ".h5")
    sections = {} if what == "output" else {"output": {"report": str(tmp_path / "out" / ("r" * length))}}
    if what == "report":
        out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, **sections)
    p = e2e.run_job(2, ["run", "--job", job], cwd=tmp_path)
    assert p.returncode == 2, f"exit {p.returncode}, want 2\n{p.stderr}"
    e2e.assert_single_error(p, f"({what}) is {length} bytes, and with the temporary name", "passes the folder's limit of 255")
    assert e2e.listing(tmp_path / "out") == []


def test_ranks_that_would_score_on_different_backends_fail_the_job(e2e, tmp_path, seed):
    """run.backend = auto on a rank that sees a GPU and one that sees none: the job fails at start (exit 2) naming
    the rank, its node, both backends and why the CPU was chosen, instead of mixing GPU and CPU bits in one output.
    Needs a CUDA build and a visible GPU; rank 1 is hidden from it (CUDA_VISIBLE_DEVICES empty)."""
    cuda = _cuda_version_line(e2e)
    if e2e.BACKEND or not cuda or "0 device(s) visible" in cuda:
        pytest.skip(f"needs a CUDA build and a visible GPU ({cuda or 'no cuda line'})")
    inp = _good_input(e2e, tmp_path, seed)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out)
    p = e2e.run_job(2, ["run", "--job", job, "--backend", "auto"], cwd=tmp_path, rank_prefix=["env", "CUDA_VISIBLE_DEVICES="],
                    prefixed_rank=1)
    assert p.returncode == 2, f"exit {p.returncode}, want 2\n{p.stderr}"
    e2e.assert_single_error(p, "rank 1 on ", "it scores on the cpu backend (backend auto: ", "where rank 0 scores on the "
                            "cuda backend", "set cpu or cuda (--backend) for every rank")
    assert e2e.listing(out.parent) == []


def test_an_output_folder_the_user_cannot_write_is_named(e2e, tmp_path, seed):
    """An output folder the job may not write was found only when the temporary output was made, and a report
    folder that defaults to it was named instead ('report folder ... (output.report) is not writable', a key the
    user never set). Run as an unprivileged uid (root writes anywhere) in a folder of root's, mode 0755."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("running the job as another uid needs root and setpriv (util-linux)")
    if not os.stat(e2e.BIN).st_mode & 0o001:
        pytest.skip(f"others may not run {e2e.BIN}")
    as_user = ["setpriv", "--reuid=47100", "--regid=47100", "--clear-groups"]
    started = e2e.run_job(None, ["--version"], prefix=as_user)  # the binary and its libraries, as that uid
    if started.returncode != 0:
        pytest.skip(f"the unprivileged uid cannot start {e2e.BIN} here: {started.stderr.strip()[-500:]}")
    d = Path(tempfile.mkdtemp(prefix="shardscore-rofolder-"))
    try:
        d.chmod(0o755)
        inp = e2e.make_input(d / "in.h5", 500, seed=seed)
        model = d / "model.onnx"
        model.write_bytes(e2e.DEMO_MODEL.read_bytes())
        job = e2e.make_job(d / "job.toml", inp, d / "out" / "scores.h5", model)
        for f in (inp, model, job):
            f.chmod(0o644)
        (d / "out").chmod(0o755)
        p = e2e.run_job(None, ["run", "--job", job], cwd=d, prefix=as_user)
        assert p.returncode == 2, f"exit {p.returncode}, want 2\n{p.stderr}"
        e2e.assert_single_error(p, f"output folder '{d / 'out'}' is not writable: Permission denied")
        assert e2e.listing(d / "out") == []
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("value", ["avx3", "AVX-2"])
def test_an_unknown_cpu_isa_cap_is_refused(e2e, tmp_path, seed, value):
    """SHARDSCORE_CPU_ISA with a typo left the cap off without a word, where the nodes that were to agree bit for
    bit then did not. Upper case is taken (AVX2 caps as avx2)."""
    inp = _good_input(e2e, tmp_path, seed)
    job = e2e.make_job(tmp_path / "job.toml", inp, tmp_path / "out" / "scores.h5")
    p = e2e.run_job(2, ["run", "--job", job], cwd=tmp_path, env={"SHARDSCORE_CPU_ISA": value})
    assert p.returncode == 2, f"exit {p.returncode}, want 2\n{p.stderr}"
    e2e.assert_single_error(p, f"SHARDSCORE_CPU_ISA is '{value}', not one of avx512, avx2, baseline")
    assert e2e.listing(tmp_path / "out") == []
    p = e2e.run_job(None, ["run", "--job", job], cwd=tmp_path, env={"SHARDSCORE_CPU_ISA": "AVX2"})
    assert p.returncode == 0, p.stderr


def test_a_precision_the_cpu_backend_does_not_take_is_said(e2e, tmp_path, seed):
    """--precision fp16 on the CPU backend was ignored without a word (the output records fp32, rightly)."""
    inp = _good_input(e2e, tmp_path, seed)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out)
    p = e2e.run_job(2, ["run", "--job", job, "--backend", "cpu", "--precision", "fp16"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("note: run.precision = fp16 applies on the CUDA backend only") == 1, p.stderr
    assert e2e.read_output(out)[1]["precision"] == "fp32"


@pytest.mark.parametrize("case", ["output_is_input", "output_is_model", "output_folder_holds_input", "output_is_job",
                                  "report_is_job"])
def test_output_never_replaces_the_input_or_model(e2e, tmp_path, seed, case):
    """With output.overwrite = true, an output path naming the input, the model or the job file, or a finished
    Parquet output folder holding the input, is refused before scoring (the model used to be replaced by the
    output, and the folder would have been removed whole with the input in it); a report naming the job file too
    (the job file became an HDF5 file, and the next night's run failed)."""
    model = tmp_path / "model.onnx"
    model.write_bytes(e2e.DEMO_MODEL.read_bytes())
    if case == "output_folder_holds_input":
        folder = tmp_path / "earlier.parquet"
        folder.mkdir()
        (folder / "_SUCCESS").write_bytes(b"")
        inp = e2e.make_input(folder / "features.h5", ROWS, chunk_rows=1000, seed=seed)
        out, what = folder, "holds the input"
    else:
        inp = _good_input(e2e, tmp_path, seed)
        out, what = {"output_is_input": (inp, "the input"), "output_is_model": (model, "the model"),
                     "output_is_job": (tmp_path / "job.toml", "is or holds the job file"),
                     "report_is_job": (tmp_path / "out" / "scores.h5", "would overwrite the job file")}[case]
    report = tmp_path / ("job.toml" if case == "report_is_job" else "r.json")
    job = e2e.make_job(tmp_path / "job.toml", inp, out, model, output={"report": str(report)})
    before = {p: e2e.sha256_file(p) for p in (inp, model, job)}
    p = e2e.run_job(2, ["run", "--job", job], cwd=tmp_path)
    assert p.returncode == 2, f"exit {p.returncode}, want 2\n{p.stderr}"
    e2e.assert_single_error(p, str(report if case == "report_is_job" else out), what)
    assert {p: e2e.sha256_file(p) for p in before} == before, "the input, the model or the job file was modified"
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("target", ["output", "report"])
def test_overwrite_never_replaces_a_fifo_or_device(e2e, tmp_path, seed, target):
    """output.overwrite replaced whatever was at the path: a report pointed at /dev/full (as root) replaced the
    system's device with a JSON file. Only files (and a Parquet output's folder) are replaced."""
    inp = e2e.make_input(tmp_path / "in.h5", 500, seed=seed)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    fifo = out_dir / "node"
    os.mkfifo(fifo)
    out = fifo if target == "output" else out_dir / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, output={"overwrite": True, **({"report": str(fifo)} if target == "report" else {})})
    p = e2e.run_job(None, ["run", "--job", job], cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    e2e.assert_single_error(p, f"{target} '{fifo}' is a device, FIFO or socket")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and e2e.listing(out_dir) == ["node"], e2e.listing(out_dir)


def test_a_file_size_limit_fails_the_job_cleanly(e2e, tmp_path, seed):
    """ulimit -f below the output's size: SIGXFSZ killed the job (exit 153, no error line, its partial output
    left). The write now fails (EFBIG): one error line, exit 1, nothing left."""
    inp = e2e.make_input(tmp_path / "in.h5", 200_000, chunk_rows=20_000, seed=seed)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    job = e2e.make_job(tmp_path / "job.toml", inp, out_dir / "scores.h5")
    # 4 MiB: above what MPI's start-up writes, below the output's 6.4 MB.
    cmd = f"ulimit -f 4096; exec {shlex.quote(str(e2e.BIN))} run --job {shlex.quote(str(job))}"
    p = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env={**os.environ, **e2e.MPI_ENV})
    assert p.returncode == 1, f"exit {p.returncode}\n{p.stderr[-3000:]}"
    e2e.assert_single_error(p, strict=False)
    assert e2e.listing(out_dir) == [], f"left in the output folder: {e2e.listing(out_dir)}"


def test_existing_report_without_overwrite(e2e, tmp_path, seed):
    inp = _good_input(e2e, tmp_path, seed)
    out = tmp_path / "out" / "scores.h5"
    out.parent.mkdir()
    report = e2e.report_path(out)
    report.write_text("an earlier run's report")
    job = e2e.make_job(tmp_path / "job.toml", inp, out)
    p = e2e.run_job(1, ["run", "--job", job, "--set", "output.overwrite=false"], cwd=tmp_path)
    assert p.returncode == 2, f"exit {p.returncode}, want 2\n{p.stderr}"
    e2e.assert_single_error(p, str(report), "output.overwrite")
    assert report.read_text() == "an earlier run's report"
    assert e2e.listing(out.parent) == [report.name]


def test_overwrite_replaces_existing_output(e2e, tmp_path, seed):
    inp = _good_input(e2e, tmp_path, seed)
    out = tmp_path / "out" / "scores.h5"
    out.parent.mkdir()
    out.write_bytes(b"stale, not HDF5")
    report = tmp_path / "reports" / "custom.json"
    report.parent.mkdir()
    job = e2e.make_job(tmp_path / "job.toml", inp, out)   # demo job: overwrite = true
    p = e2e.run_job(2, ["run", "--job", job, "--set", f'output.report="{report}"'], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    datasets, _ = e2e.read_output(out)
    e2e.assert_row_index(datasets, ROWS)
    assert e2e.listing(out.parent) == [out.name], "report must go to output.report only"
    assert e2e.json.loads(report.read_text())["rows_scored"] == ROWS


def test_corrupt_chunk_mid_run_leaves_nothing(e2e, tmp_path, seed, rng):
    """Metadata intact, one gzip chunk in the middle corrupt: the run fails part-way through; no output,
    no report, no temporary file is left behind."""
    rows, chunk = 12_000, 1000
    src = e2e.make_input(tmp_path / "plain.h5", rows, chunk_rows=chunk, seed=seed)
    inp = tmp_path / "in" / "gzip.h5"
    inp.parent.mkdir()
    with e2e.h5py.File(src, "r") as f, e2e.h5py.File(inp, "w") as g:
        g.create_dataset("/features", data=f["/features"][...], chunks=(chunk, 30), compression="gzip")
    bad_chunk = int(rng.integers(6, 11))
    with e2e.h5py.File(inp, "r") as g:
        info = g["/features"].id.get_chunk_info(bad_chunk)
    assert info.chunk_offset == (bad_chunk * chunk, 0)
    with open(inp, "r+b") as f:
        f.seek(info.byte_offset)
        f.write(rng.integers(0, 256, info.size, dtype=np.uint8).tobytes())
    out_dir = tmp_path / "out"
    out = out_dir / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"shard_rows": 2000, "batch_size": 1000})
    p = e2e.run_job(2, ["run", "--job", job], cwd=tmp_path)
    assert p.returncode in (1, 2), f"exit {p.returncode}, want 2 (bad input) or 1\n{p.stderr}"
    e2e.assert_single_error(p, str(inp))
    assert e2e.listing(out_dir) == [], f"files left in the output folder: {e2e.listing(out_dir)}"


def _rank_1_failed_every_rank(e2e, p, *needles, empty=()):
    """Exit 2 and one error naming rank 1, its host and every needle; nothing in the `empty` folders."""
    assert p.returncode == 2, f"exit {p.returncode}\n{p.stderr}"
    line = e2e.assert_single_error(p, *needles, strict=False)
    assert f"shardscore: error: rank 1 on {socket.gethostname()}: " in line, line
    for d in empty:
        assert e2e.listing(d) == [], (d, e2e.listing(d))


def test_model_missing_on_one_node_names_that_rank_and_host(e2e, tmp_path, seed):
    """A model that only some ranks can open (as on a node-local disk; here a relative model path and each rank
    its own working folder, mpirun's MPMD form): exit 2, one error naming the rank that could not and its host,
    nothing written. A failure that every rank has names no rank (the --backend cuda test below)."""
    here, there = e2e.rank_folders(tmp_path)
    shutil.copy(e2e.DEMO_MODEL, here / "model.onnx")
    inp = tmp_path / "in.h5"
    e2e.make_input(str(inp), rows=500, seed=seed)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    job = e2e.make_job(tmp_path / "job.toml", inp, out_dir / "scores.h5", model_path="model.onnx")
    p = e2e.run_job(2, ["run", "--job", job], wdirs=[here, there], timeout=120)
    _rank_1_failed_every_rank(e2e, p, "model.onnx", empty=(out_dir,))


def test_job_file_missing_on_one_node_fails_every_rank(e2e, tmp_path, seed):
    """A job file that only rank 0 can read (a relative path, or a file written to the first node's own /tmp by the
    batch script): rank 1 returned at once and rank 0 waited for it in the job's first collective until the time
    limit, saying nothing. Now: exit 2, one error naming rank 1, its host and the file, nothing written."""
    here, there = e2e.rank_folders(tmp_path)
    inp = e2e.make_input(tmp_path / "in.h5", rows=500, seed=seed)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    e2e.make_job(here / "job.toml", inp, out_dir / "scores.h5")
    p = e2e.run_job(2, ["run", "--job", "job.toml"], wdirs=[here, there], timeout=60)
    _rank_1_failed_every_rank(e2e, p, "job.toml", empty=(out_dir,))


@pytest.mark.parametrize("output", ["scores.h5", "scores.parquet"])
def test_output_folder_on_one_node_only_fails_every_rank(e2e, tmp_path, seed, output):
    """An output folder that is each node's own (a relative path here; /tmp or local scratch on a cluster): rank 1
    could not open the file that rank 0 created, and an HDF5 output hung in the collective create; a Parquet one
    failed on a part file with only 'No such file or directory'. Now: exit 2, one error naming rank 1, its host
    and a file system that every rank shares, and nothing left in either folder."""
    if output.endswith(".parquet") and not e2e.has_parquet():
        pytest.skip("this build has no Parquet support")
    here, there = e2e.rank_folders(tmp_path)
    for d in (here, there):
        (d / "out").mkdir()
    inp = e2e.make_input(tmp_path / "in.h5", rows=5_000, chunk_rows=1000, seed=seed)
    job = e2e.make_job(tmp_path / "job.toml", inp, f"out/{output}", run={"shard_rows": 2000, "batch_size": 500})
    p = e2e.run_job(2, ["run", "--job", job], wdirs=[here, there], timeout=60)
    _rank_1_failed_every_rank(e2e, p, "every rank shares", str(there / "out"), empty=(here / "out", there / "out"))


def test_parquet_input_folder_missing_on_one_node_fails_every_rank(e2e, tmp_path, seed):
    """A Parquet input folder named without a suffix, missing from one node's disk: that rank took the input for
    HDF5 (no folder there), made other collective calls than the others, and hung after the error. Now rank 0
    decides the format for all: exit 2, one error naming rank 1, its host and the folder."""
    if not e2e.has_parquet():
        pytest.skip("this build has no Parquet support")
    import pyarrow as pa
    import pyarrow.parquet as pq
    here, there = e2e.rank_folders(tmp_path)
    x = e2e.read_input(e2e.make_input(tmp_path / "in.h5", rows=500, seed=seed))
    (here / "features").mkdir()
    pq.write_table(pa.table({f"f{j:02d}": x[:, j] for j in range(x.shape[1])}), here / "features" / "part-0.parquet")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    job = e2e.demo_job("features", out_dir / "scores.h5")
    job["input"].pop("dataset", None)
    job_path = e2e.write_job(tmp_path / "job.toml", job)
    p = e2e.run_job(2, ["run", "--job", job_path], wdirs=[here, there], timeout=60)
    _rank_1_failed_every_rank(e2e, p, "features", empty=(out_dir,))


def test_one_rank_short_of_file_descriptors_fails_the_job_on_every_rank(e2e, tmp_path, seed):
    """Rank 0 alone under a lower open file limit (prlimit --nofile, mpirun's MPMD form; rank 1 keeps the usual
    one), from a limit at which it cannot start to the first at which the job succeeds. Open MPI does not agree on
    a failed collective file open: rank 0 failed inside MPI_File_open (its shared file pointer's file) while rank 1
    waited there, and the job hung (here at 19 open files, opening the input, and at 21, creating the output). Now
    every run ends: exit 0 with the whole output, or non-zero with nothing left; the job's own errors name the
    errno (a model file that could not be opened said only 'cannot be read'); where rank 0 is short of descriptors
    for a collective open, one error names rank 0 and its host, MPI-IO and ulimit -n."""
    if shutil.which("prlimit") is None:
        pytest.skip("prlimit (util-linux) is not installed")
    inp = e2e.make_input(tmp_path / "in.h5", 20_000, chunk_rows=4096, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"shard_rows": 8192, "batch_size": 2048})
    _, failures = e2e.raise_limit_until_success(
        range(8, 65), lambda limit: e2e.run_job(2, ["run", "--job", job], cwd=tmp_path, timeout=60,
                                                rank_prefix=["prlimit", f"--nofile={limit}"]),
        out.parent, errno_text="Too many open files")
    assert e2e.listing(out.parent) == [out.name, e2e.report_path(out).name]
    datasets, attrs = e2e.read_output(out)
    assert int(attrs["num_rows"]) == 20_000
    e2e.assert_matches_demo_oracle(datasets, e2e.read_input(inp))
    short = [(limit, p) for limit, p in failures if "file descriptors it needs are free" in p.stderr]
    assert short, "no limit left rank 0 short of descriptors for a collective open: the check was not reached"
    for limit, p in short:
        assert p.returncode == 1, (limit, p.returncode)
        e2e.assert_single_error(p, f"rank 0 on {socket.gethostname()}: ", "over MPI-IO", "ulimit -n", strict=False)


@pytest.fixture
def fault_lib(e2e) -> str:
    """tests/e2e/hdf5_fault.cpp, built (target shardscore_hdf5_fault), for LD_PRELOAD into one rank."""
    lib = os.environ.get("SHARDSCORE_TEST_HDF5_FAULT_LIB", str(e2e.BIN.parent / "tests" / "libshardscore_hdf5_fault.so"))
    if not os.path.isfile(lib):
        pytest.skip(f"the fault library {lib} is not built (target shardscore_hdf5_fault)")
    return lib


# The HDF5 calls a job makes that tests/e2e/hdf5_fault.cpp can make fail, each on rank 0 alone: property lists,
# the reader's and writer's dataspaces and selections, the output's datasets and attributes (changes to the
# file's metadata), and the collective transfers (H5Dwrite fails after taking its part, as a transfer that failed
# on one rank does).
HDF5_FAULT_CALLS = ["H5Pcreate", "H5Dget_space", "H5Screate_simple", "H5Sselect_hyperslab", "H5Dcreate2", "H5Acreate2",
                    "H5Awrite", "H5Dwrite"]


@pytest.mark.parametrize("rank", [0, 1])
@pytest.mark.parametrize("call", HDF5_FAULT_CALLS)
def test_one_rank_failing_an_hdf5_call_fails_the_job_on_every_rank(e2e, tmp_path, seed, call, rank, fault_lib):
    """Each call of `call` that rank `rank` makes, in turn, fails on that rank alone (hdf5_fault.cpp, preloaded into
    it only, in mpirun's MPMD form): an allocation failure inside HDF5, or a transfer failing under one rank's part
    of the file. Every run must end within 60 s, non-zero, with nothing at the output and the injected failure in
    the job's error. Before, a writer's selection that failed on one rank left the others waiting in the round's
    H5Dwrite, and a dataset or attribute that one rank failed to make left the ranks' metadata differing, so the
    collective close never ended: the job hung. Every error names the failing rank and its host. Rank 0 (which
    removes the temporary output and prints the error) takes every call; rank 1, whose failure rank 0 must learn
    and report, its first, middle and last."""
    inp = e2e.make_input(tmp_path / "in.h5", 2_000, chunk_rows=500, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"shard_rows": 1000, "batch_size": 1000})
    count_file = tmp_path / "calls"

    def run(nth):
        return e2e.run_job(2, ["run", "--job", job], cwd=tmp_path, timeout=60, prefixed_rank=rank,
                           rank_prefix=["env", f"LD_PRELOAD={fault_lib}", f"SHARDSCORE_TEST_HDF5_FAULT={call}:{nth}",
                                        f"SHARDSCORE_TEST_HDF5_FAULT_COUNT={count_file}"])

    counted = run(0)
    assert counted.returncode == 0, counted.stderr[-3000:]
    datasets, _ = e2e.read_output(out)
    e2e.assert_matches_demo_oracle(datasets, e2e.read_input(inp))
    calls = int(count_file.read_text())
    assert calls >= 1, f"rank {rank} made no {call} call: the test would test nothing"
    out.unlink()
    e2e.report_path(out).unlink()
    for nth in range(1, calls + 1) if rank == 0 else sorted({1, (calls + 1) // 2, calls}):
        p = run(nth)
        assert p.returncode in (1, 2), f"call {nth} of {calls}: exit {p.returncode}\n{p.stderr[-3000:]}"
        assert e2e.listing(out.parent) == [], f"call {nth} of {calls}: left {e2e.listing(out.parent)}"
        e2e.assert_single_error(p, f"rank {rank} on {socket.gethostname()}: ",
                                f"fault injected by the test (call {nth} of {call})", strict=False)


@pytest.mark.parametrize("where", ["reading", "scoring", "op"])
def test_a_batch_refused_its_memory_names_the_rows_and_what_to_lower(e2e, tmp_path, seed, where, fault_lib):
    """A batch whose buffer the allocator refuses on rank 0 (hdf5_fault.cpp refuses every block of one size, as a
    node out of memory does): the rows read (float64), the float32 tensor the model is fed, or the output of the
    model's first layer (64 wide), inside an op. The first two: exit 1, nothing at the output, one error naming
    rank 0, the rows and run.batch_size (it read "reading a batch: std::bad_alloc"). Inside an op the engine
    splits the batch and retries (the halves' blocks are of another size), and the job succeeds, saying so."""
    inp = e2e.make_input(tmp_path / "in.h5", 2_000, chunk_rows=500, seed=seed)
    x = e2e.read_input(inp)
    assert x.dtype == np.float64 and x.shape[1] == 30, "the refused sizes below are those of this input's batch"
    refused = {"reading": 1000 * 30 * 8, "scoring": 1000 * 30 * 4, "op": 1000 * 64 * 4}[where]
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"shard_rows": 1000, "batch_size": 1000})
    p = e2e.run_job(2, ["run", "--job", job], cwd=tmp_path, timeout=60,
                    rank_prefix=["env", f"LD_PRELOAD={fault_lib}", f"SHARDSCORE_TEST_ALLOC_FAULT_BYTES={refused}"])
    if where == "op":
        assert p.returncode == 0, p.stderr[-3000:]
        assert "engine: a batch of 1000 rows ran out of memory" in p.stderr and "retrying as 500 + 500 rows" in p.stderr, \
            p.stderr[-3000:]
        e2e.assert_matches_demo_oracle(e2e.read_output(out)[0], x)
        return
    assert p.returncode == 1, f"exit {p.returncode}, want 1\n{p.stderr[-3000:]}"
    assert e2e.listing(out.parent) == [], f"left {e2e.listing(out.parent)}"
    e2e.assert_single_error(p, f"rank 0 on {socket.gethostname()}", f"{where} rows [0, 1000): out of host memory; "
                            "lower run.batch_size (--set run.batch_size=N)", strict=False)


@pytest.mark.parametrize("differs", ["input_rows", "input_type", "model", "job_file", "dataset_missing", "file_missing",
                                     "file_corrupt", "hdf5_chunks", "parquet_row_groups"])
def test_ranks_that_see_another_job_fail_together_naming_what_differs(e2e, tmp_path, seed, differs):
    """Ranks that read different files under one name (a stale node-local copy of the input or the model, here
    each rank its own working folder in mpirun's MPMD form) or were started with different job files: exit 2,
    one error naming rank 1, its host and what it sees otherwise, nothing written. Rows of two sizes hung (the
    ranks planned different rounds of collective writes); two models' scores were mixed in one output. A file or
    dataset missing on one node hung in the collective open (the others waited in it)."""
    a, b = tmp_path / "node_a", tmp_path / "node_b"
    for node, rows, dtype, model in ((a, 500, "float64", e2e.DEMO_MODEL),
                                     (b, 600 if differs == "input_rows" else 500,
                                      "float32" if differs == "input_type" else "float64",
                                      e2e.REPO / "tests" / "fixtures" / "logreg.onnx" if differs == "model" else e2e.DEMO_MODEL)):
        node.mkdir()
        if node == b and differs == "file_missing":
            pass
        elif node == b and differs == "dataset_missing":
            e2e.make_input(str(node / "in.h5"), rows=rows, dtype=dtype, seed=seed, dataset="/other")
        elif differs == "hdf5_chunks":  # the same rows, chunked otherwise: shards of other rows (rows lost, repeated)
            e2e.make_input(str(node / "in.h5"), rows=rows, dtype=dtype, seed=seed, chunk_rows=50 if node == b else 100)
        elif differs == "parquet_row_groups":  # the same rows in other row groups (another export or a compaction)
            e2e.make_input(str(tmp_path / "rows.h5"), rows=rows, seed=seed)
            x = e2e.read_input(tmp_path / "rows.h5")
            table = pa.table({f"f{j}": x[:, j] for j in range(x.shape[1])})
            (node / "in.h5").mkdir()  # a folder: read as Parquet
            pq.write_table(table.slice(0, 200), node / "in.h5" / "part-0.parquet", row_group_size=100)
            pq.write_table(table.slice(200), node / "in.h5" / "part-1.parquet", row_group_size=70 if node == b else 150)
        else:
            e2e.make_input(str(node / "in.h5"), rows=rows, dtype=dtype, seed=seed)
        if node == b and differs == "file_corrupt":  # garbage after an intact superblock, which only rank 0 reads
            data = (node / "in.h5").read_bytes()
            (node / "in.h5").write_bytes(data[:96] + b"\xff" * (len(data) - 96))
        shutil.copy(model, node / "model.onnx")
    out_dir = tmp_path / "out"

    def job_file(path, **sections):
        job = e2e.demo_job("in.h5", out_dir / "scores.h5", "model.onnx", **sections)
        if differs == "parquet_row_groups":
            job["input"].pop("dataset", None)  # a key for HDF5 input, which Parquet input refuses
        out_dir.mkdir(exist_ok=True)
        return e2e.write_job(path, job)
    jobs = [job_file(tmp_path / "job.toml")]
    jobs.append(job_file(tmp_path / "job_b.toml", run={"shard_rows": 100}) if differs == "job_file" else jobs[0])
    progs = [[str(e2e.BIN), "run", "--job", str(j)] + (["--backend", e2e.BACKEND] if e2e.BACKEND else []) for j in jobs]
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "1", "--wdir", str(a), *progs[0],
           ":", "-np", "1", "--wdir", str(b), *progs[1]]
    p = subprocess.run(cmd, env={**os.environ, **e2e.MPI_ENV}, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, f"exit {p.returncode}\n{p.stderr}"
    what = {"input_rows": "another input 'X' than rank 0: '/features: 600 rows of float64 [30]' where rank 0 has "
                          "'/features: 500 rows of float64 [30]'",
            "input_type": "another input 'X' than rank 0: '/features: 500 rows of float32 [30]'",
            "model": "another model (SHA-256", "job_file": "another job file (with its overrides) than rank 0: line",
            "dataset_missing": "has no dataset '/features'", "file_missing": "input file 'in.h5' does not exist",
            "file_corrupt": "input file 'in.h5' cannot be read where dataset '/features' should be (corrupt",
            "hdf5_chunks": "another layout of the input's rows (what the shards follow) than rank 0: 'chunks of 50 rows' "
                           "where rank 0 has 'chunks of 100 rows'",
            "parquet_row_groups": "another layout of the input's rows (what the shards follow) than rank 0: line 2 "
                                  "'part-1.parquet: row groups of 70 70 70 70 20 rows' where rank 0 has "
                                  "'part-1.parquet: row groups of 150 150 rows'"}[differs]
    line = e2e.assert_single_error(p, what)
    if differs.startswith("file_") or differs == "dataset_missing":  # found at the collective open, which every rank leaves together
        assert f"shardscore: error: rank 1 on {socket.gethostname()}: " in line, line
    else:
        assert f"the ranks do not see the same job: rank 1 on {socket.gethostname()} has " in line, line
    assert e2e.listing(out_dir) == [], e2e.listing(out_dir)


def _cuda_version_line(e2e) -> str:
    v = subprocess.run([str(e2e.BIN), "--version"], capture_output=True, text=True).stdout
    return next((ln for ln in v.splitlines() if ln.startswith("cuda:")), "")


def test_backend_cuda_without_a_gpu_fails_loudly_and_auto_falls_back(e2e, tmp_path, seed, rng):
    """--backend cuda where no GPU is visible: one error line naming the cause, exit 1, nothing written, at
    2 ranks; --backend auto scores on the CPU and says so in the report."""
    cuda = _cuda_version_line(e2e)
    if e2e.BACKEND or "0 device(s) visible" not in cuda:
        pytest.skip(f"not a CUDA build without a visible GPU ({cuda or 'no cuda line'}), or the suite runs on one "
                    "backend: nothing to fall back from")
    inp = tmp_path / "in.h5"
    e2e.make_input(str(inp), rows=500, seed=seed)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out)
    p = e2e.run_job(2, ["run", "--job", job, "--backend", "cuda"], cwd=tmp_path)
    assert p.returncode == 1, f"exit {p.returncode}, want 1\n{p.stderr}"
    # Every rank failed alike (one machine): the error is the cause alone, not one rank's node.
    line = e2e.assert_single_error(p, "CUDA")
    assert " on " + socket.gethostname() + ":" not in line, line
    assert e2e.listing(out_dir) == [], f"files left in the output folder: {e2e.listing(out_dir)}"

    p = e2e.run_job(2, ["run", "--job", job, "--backend", "auto"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert e2e.read_report(out)["backend"] == "cpu"
    # And why, which someone who expected a GPU needs (the log said only "backend cpu").
    # Once, by rank 0 (every rank said it), and not under --quiet.
    assert len(re.findall(r"backend auto: no CUDA device is visible \(.+\); using the CPU backend", p.stderr)) == 1, p.stderr
    p = e2e.run_job(2, ["run", "--job", job, "--backend", "auto", "--quiet"], cwd=tmp_path)
    assert p.returncode == 0 and "backend auto" not in p.stderr, p.stderr
