"""The run report (JSON), quality checks (exit 3) and output provenance attributes."""
import datetime
import os
import re
import socket
import subprocess
import tomllib

import numpy as np
import pytest

TOP_KEYS = {"shardscore_version", "shardscore_commit", "status", "exit_code", "working_directory", "ranks", "backend", "placement", "model", "input", "output",
            "rows_read", "rows_scored", "seconds", "rows_per_second", "scoring_seconds", "io", "shards", "failures"}
SHARD_KEYS = {"id", "rank", "row_begin", "row_end", "rows_read", "rows_scored", "seconds", "verdict",
              "features", "outputs", "checks"}
FEATURE_KEYS = {"index", "nan", "inf", "missing_fraction"}
OUTPUT_KEYS = {"name", "nan", "inf", "min", "max", "mean", "std"}
CHECK_KEYS = {"check", "target", "value", "threshold", "passed"}
FAILURE_KEYS = {"shard", "check", "target", "value", "threshold"}
CHECK_NAMES = {"max_missing_fraction", "max_inf_fraction", "allow_nan_outputs", "allow_inf_outputs"}


def _has_keys(obj, keys, what):
    assert isinstance(obj, dict), f"{what} is {type(obj).__name__}, want object"
    missing = keys - set(obj)
    assert not missing, f"{what} lacks {sorted(missing)} (has {sorted(obj)})"


def check_report_schema(rep, *, rows, features, np_, out, inp, model_sha, cwd):
    _has_keys(rep, TOP_KEYS, "report")
    # The recorded paths are as given; a relative one is relative to rank 0's working directory.
    assert os.path.realpath(rep["working_directory"]) == os.path.realpath(cwd)
    assert re.fullmatch(r"\d+\.\d+\.\d+", rep["shardscore_version"])
    assert rep["ranks"] == np_
    assert rep["backend"] == "cpu"
    # Every rank ran on this machine, on its CPU.
    assert rep["placement"] == [{"rank": r, "host": socket.gethostname(), "device": "cpu"} for r in range(np_)]
    _has_keys(rep["model"], {"path", "sha256"}, "report.model")
    assert rep["model"]["sha256"] == model_sha
    _has_keys(rep["input"], {"path", "dataset", "rows", "features", "dtype"}, "report.input")
    assert rep["input"]["path"] == str(inp)
    assert rep["input"]["dataset"] == "/features"
    assert rep["input"]["rows"] == rows and rep["input"]["features"] == features
    assert isinstance(rep["input"]["dtype"], str) and rep["input"]["dtype"]
    _has_keys(rep["output"], {"path", "datasets"}, "report.output")
    assert rep["output"]["path"] == str(out)
    names = set(rep["output"]["datasets"])
    assert {"label", "probabilities"} <= names <= {"label", "probabilities", "row_index"}, names
    assert rep["rows_read"] == rows and rep["rows_scored"] == rows
    assert rep["seconds"] > 0 and rep["rows_per_second"] > 0
    assert 0 < rep["scoring_seconds"] < rep["seconds"]
    assert rep["io"] == {"collective_writes": True} or rep["io"].get("collective_writes") is True
    assert isinstance(rep["shards"], list) and rep["shards"]
    assert isinstance(rep["failures"], list)
    for s in rep["shards"]:
        _has_keys(s, SHARD_KEYS, f"shard {s.get('id')}")
        assert 0 <= s["rank"] < np_
        assert s["verdict"] in ("pass", "fail")
        assert s["rows_read"] == s["rows_scored"] == s["row_end"] - s["row_begin"] > 0
        assert len(s["features"]) == features
        assert [f["index"] for f in s["features"]] == list(range(features))
        for f in s["features"]:
            _has_keys(f, FEATURE_KEYS, f"shard {s['id']} feature")
        assert {o["name"] for o in s["outputs"]} == {"label", "probabilities"}
        for o in s["outputs"]:
            _has_keys(o, OUTPUT_KEYS, f"shard {s['id']} output")
        for c in s["checks"]:
            _has_keys(c, CHECK_KEYS, f"shard {s['id']} check")
            assert c["check"] in CHECK_NAMES, c
        assert (s["verdict"] == "pass") == all(c["passed"] for c in s["checks"])
    for f in rep["failures"]:
        _has_keys(f, FAILURE_KEYS, "failure")
        assert f["check"] in CHECK_NAMES


def check_shard_cover(rep, rows, chunk_rows=None):
    shards = sorted(rep["shards"], key=lambda s: s["row_begin"])
    assert len({s["id"] for s in shards}) == len(shards), "duplicate shard ids"
    pos = 0
    for s in shards:
        assert s["row_begin"] == pos, f"shard {s['id']} starts at {s['row_begin']}, want {pos} (gap/overlap)"
        assert s["row_end"] > s["row_begin"]
        if chunk_rows:
            assert s["row_begin"] % chunk_rows == 0, f"shard {s['id']} not aligned to {chunk_rows}-row chunks"
        pos = s["row_end"]
    assert pos == rows, f"shards end at {pos}, want {rows}"
    return shards


def check_progress_and_summary_rates(p, rows: int, rep: dict):
    """A Slurm log showed two rates for one run: the last progress line's rows/s was taken from the progress
    object's creation to after the output was closed, the summary's over the scoring pipeline alone (and the
    whole job's). The last progress line states the scoring span and rate, the summary's "scoring" part the same
    numbers, both as the report's scoring_seconds gives them, and the summary labels the whole job's."""
    progress = [ln for ln in p.stderr.splitlines() if " scored " in ln]
    assert progress, p.stderr
    last = re.search(r"\] scored (\d+) / (\d+) rows \(100\.0%\): scoring (\d+\.\d) s, (\d+) rows/s$", progress[-1])
    assert last, progress[-1]
    assert int(last[1]) == int(last[2]) == rows, progress[-1]
    summary = re.search(r"\(job (\d+\.\d) s, (\d+) rows/s; scoring (\d+\.\d) s, (\d+) rows/s\)", p.stdout)
    assert summary, p.stdout
    assert (last[3], last[4]) == (summary[3], summary[4]), f"{progress[-1]}\n{p.stdout}"
    assert int(last[4]) == pytest.approx(rows / rep["scoring_seconds"], abs=1), (progress[-1], rep["scoring_seconds"])
    assert int(summary[2]) == pytest.approx(rep["rows_per_second"], abs=1), (p.stdout, rep["rows_per_second"])


def test_report_and_provenance(e2e, tmp_path, seed, rng):
    np_, rows, chunk = 3, 12_345, 1000
    inp = e2e.make_input(tmp_path / "in.h5", rows, chunk_rows=chunk, missing_fraction=0.004, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"shard_rows": 4500, "batch_size": 777})
    p = e2e.run_job(np_, ["run", "--job", job], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip(), "no summary on stdout"

    model_sha = e2e.sha256_file(e2e.DEMO_MODEL)
    rep = e2e.read_report(out)
    check_progress_and_summary_rates(p, rows, rep)
    check_report_schema(rep, rows=rows, features=30, np_=np_, out=out, inp=inp, model_sha=model_sha, cwd=tmp_path)
    assert rep["status"] == "passed" and rep["exit_code"] == 0 and rep["failures"] == []
    shards = check_shard_cover(rep, rows, chunk_rows=chunk)
    assert len(shards) >= 3

    raw = e2e.read_input(inp)
    datasets, attrs = e2e.read_output(out)
    for s in shards:
        b, e = s["row_begin"], s["row_end"]
        assert s["verdict"] == "pass"
        assert {c["check"] for c in s["checks"]} >= {"max_missing_fraction", "allow_nan_outputs"}
        nan = np.isnan(raw[b:e]).sum(axis=0)
        inf = np.isinf(raw[b:e]).sum(axis=0)
        for f in s["features"]:
            j = f["index"]
            assert f["nan"] == nan[j], f"shard {s['id']} feature {j}: nan {f['nan']}, numpy {nan[j]}"
            assert f["inf"] == inf[j]
            assert f["missing_fraction"] == pytest.approx(nan[j] / (e - b), rel=1e-9, abs=1e-12)
        for o in s["outputs"]:
            vals = datasets[o["name"]][b:e].astype(np.float64).ravel()
            assert o["nan"] == 0 and o["inf"] == 0
            assert o["min"] == pytest.approx(vals.min(), rel=1e-6, abs=1e-9), (s["id"], o)
            assert o["max"] == pytest.approx(vals.max(), rel=1e-6, abs=1e-9), (s["id"], o)
            assert o["mean"] == pytest.approx(vals.mean(), rel=1e-4, abs=1e-6), (s["id"], o)
            assert o["std"] == pytest.approx(vals.std(), rel=1e-3, abs=1e-6), (s["id"], o)
    assert sum(s["rows_scored"] for s in shards) == rows

    # Provenance attributes on the output file.
    for key in ("model_sha256", "job_toml", "shardscore_version", "num_ranks", "backend", "created_utc",
                "working_directory"):
        assert key in attrs, f"output attribute {key} missing (have {sorted(attrs)})"
    assert attrs["model_sha256"] == model_sha
    assert attrs["working_directory"] == rep["working_directory"]
    assert attrs["quality_status"] == "passed"
    assert attrs["model_external_data_sha256"] == "" and rep["model"]["external_data"] == []  # weights inside
    assert isinstance(attrs["num_ranks"], (int, np.integer)), type(attrs["num_ranks"])
    assert int(attrs["num_ranks"]) == np_
    assert attrs["backend"] == "cpu"
    assert attrs["shardscore_version"] == rep["shardscore_version"]
    v = e2e.run_job(None, ["--version"])
    assert attrs["shardscore_commit"] == rep["shardscore_commit"]
    assert v.stdout.splitlines()[0] == f"shardscore {attrs['shardscore_version']} (commit {attrs['shardscore_commit']})"
    created = datetime.datetime.fromisoformat(attrs["created_utc"])
    if created.tzinfo is None:
        created = created.replace(tzinfo=datetime.timezone.utc)
    age = datetime.datetime.now(datetime.timezone.utc) - created
    assert datetime.timedelta(seconds=-5) < age < datetime.timedelta(minutes=10), attrs["created_utc"]
    recorded = tomllib.loads(attrs["job_toml"])
    assert recorded["input"]["path"] == str(inp)
    assert recorded["run"]["shard_rows"] == 4500 and recorded["run"]["batch_size"] == 777
    assert set(recorded) <= {"input", "model", "output", "run", "preprocess", "checks"}


def test_provenance_longer_than_an_hdf5_object_header(e2e, tmp_path, seed):
    """A job file of more than 64 KiB (a large vocabulary, a long list) is recorded whole in job_toml. It
    failed with exit 1 after every row was scored: a fixed-length string attribute must fit in the file's
    object header."""
    inp = e2e.make_input(tmp_path / "in.h5", 900, chunk_rows=300, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    long_name = "node-" + "x" * 70_000
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"shard_rows": 300}, metrics={"instance": long_name})
    p = e2e.run_job(2, ["run", "--job", job], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    _, attrs = e2e.read_output(out)
    assert len(attrs["job_toml"]) > 70_000 and long_name in attrs["job_toml"]
    assert attrs["input_path"] == str(inp)


def test_working_directory_is_rank_0s_when_ranks_start_in_other_folders(e2e, tmp_path, seed):
    """Ranks started in other working folders (mpirun --wdir per program; on a cluster, automounted homes under
    other names): the output's working_directory, which a relative path in the job is relative to, is rank 0's, as
    the report's is. Each rank's own went into the collective attribute write, and the file kept rank 1's."""
    here, there = e2e.rank_folders(tmp_path)
    inp = e2e.make_input(tmp_path / "in.h5", 900, chunk_rows=300, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"shard_rows": 300})
    p = e2e.run_job(2, ["run", "--job", job], wdirs=[here, there])
    assert p.returncode == 0, p.stderr
    _, attrs = e2e.read_output(out)
    assert attrs["working_directory"] == e2e.read_report(out)["working_directory"] == str(here)


def test_external_data_is_hashed_with_the_model(e2e, tmp_path, seed):
    """Weights beside the model (torch's dynamo exporter writes them so): the output and the report record each
    external data file's SHA-256 next to the model file's, and `sha256sum -c` in the model's folder accepts them."""
    import onnx
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    model = model_dir / "demo.onnx"
    m = onnx.load(str(e2e.DEMO_MODEL))
    for t in m.graph.initializer:  # into raw_data, which is what onnx moves out
        t.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(t), t.name))
    onnx.save_model(m, str(model), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="demo.onnx.data", size_threshold=0)
    data = model_dir / "demo.onnx.data"
    assert data.stat().st_size > 10_000 and model.stat().st_size < 10_000, "the weights did not move out"
    rows = 3_000
    inp = e2e.make_input(tmp_path / "in.h5", rows, chunk_rows=500, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    out.parent.mkdir()
    job = e2e.make_job(tmp_path / "job.toml", inp, out, model_path=model, run={"shard_rows": 1000})
    p = e2e.run_job(2, ["run", "--job", job], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    datasets, attrs = e2e.read_output(out)
    e2e.assert_matches_demo_oracle(datasets, e2e.read_input(inp))
    assert attrs["model_sha256"] == e2e.sha256_file(model)
    assert attrs["model_external_data_sha256"] == f"{e2e.sha256_file(data)}  demo.onnx.data\n"
    rep = e2e.read_report(out)
    assert rep["model"]["sha256"] == e2e.sha256_file(model)
    assert rep["model"]["external_data"] == [{"file": "demo.onnx.data", "sha256": e2e.sha256_file(data)}]
    check = subprocess.run(["sha256sum", "-c", "-"], input=attrs["model_external_data_sha256"], text=True,
                           capture_output=True, cwd=model_dir)
    assert check.returncode == 0 and "demo.onnx.data: OK" in check.stdout, check.stdout + check.stderr
    # A changed weight file changes the recorded hash: the provenance covers the weights.
    with open(data, "r+b") as f:
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 1]))
    out2 = tmp_path / "out" / "scores2.h5"
    job2 = e2e.make_job(tmp_path / "job2.toml", inp, out2, model_path=model, run={"shard_rows": 1000})
    p = e2e.run_job(1, ["run", "--job", job2], cwd=tmp_path)
    assert p.returncode in (0, 3), p.stderr
    _, attrs2 = e2e.read_output(out2)
    assert attrs2["model_sha256"] == attrs["model_sha256"]
    assert attrs2["model_external_data_sha256"] != attrs["model_external_data_sha256"]


def test_quality_check_fails_with_exit_3(e2e, tmp_path, seed, rng):
    np_, rows, chunk = 2, 15_000, 1000
    inp = e2e.make_input(tmp_path / "in.h5", rows, chunk_rows=chunk, missing_fraction=0.0, seed=seed)
    with e2e.h5py.File(inp, "r+") as f:
        col = f["/features"][:, 3]
        col[rng.random(rows) < 0.3] = np.nan
        f["/features"][:, 3] = col
    raw = e2e.read_input(inp)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"shard_rows": 5000})
    p = e2e.run_job(np_, ["run", "--job", job, "--set", "checks.max_missing_fraction=0.1"], cwd=tmp_path)
    assert p.returncode == 3, f"exit {p.returncode}, want 3\n{p.stderr}"

    # The output is still written, complete and correct.
    datasets, attrs = e2e.read_output(out)
    e2e.assert_row_index(datasets, rows)
    e2e.assert_matches_demo_oracle(datasets, raw)

    rep = e2e.read_report(out)
    check_report_schema(rep, rows=rows, features=30, np_=np_, out=out, inp=inp,
                        model_sha=e2e.sha256_file(e2e.DEMO_MODEL), cwd=tmp_path)
    assert rep["status"] == "checks_failed" and rep["exit_code"] == 3
    # The output says so itself, for whoever reads it without the report.
    failed = sum(s["verdict"] == "fail" for s in rep["shards"])
    assert attrs["quality_status"] == f"checks_failed ({failed} of {len(rep['shards'])} shards; the report names them)"
    shards = check_shard_cover(rep, rows, chunk_rows=chunk)
    assert rep["failures"], "no failures listed"
    by_shard = {f["shard"]: f for f in rep["failures"]}
    assert len(by_shard) == len(rep["failures"]), f"more than one failure per shard: {rep['failures']}"
    assert set(by_shard) == {s["id"] for s in shards}, "every shard has ~30% NaN in feature 3 and must fail"
    for s in shards:
        f = by_shard[s["id"]]
        frac = np.isnan(raw[s["row_begin"]:s["row_end"], 3]).mean()
        assert f["check"] == "max_missing_fraction"
        assert f["target"] == "feature 3", f
        assert f["value"] == pytest.approx(frac, rel=1e-9) and 0.25 < f["value"] < 0.35
        assert f["threshold"] == pytest.approx(0.1)
        assert s["verdict"] == "fail"
        failed = [c for c in s["checks"] if not c["passed"]]
        assert [(c["check"], c["target"]) for c in failed] == [("max_missing_fraction", "feature 3")], failed


@pytest.mark.parametrize("np_", [1, 2])
def test_quiet_run_that_fails_its_checks_says_so_once(e2e, tmp_path, seed, np_):
    """--quiet keeps the errors: exit 3 comes with one error line that names the failed shards' count and the
    report (it printed nothing, and a nightly log showed no trace of the failed checks)."""
    rows = 2000
    inp = e2e.make_input(tmp_path / "in.h5", rows, chunk_rows=500, missing_fraction=0.0, seed=seed)
    with e2e.h5py.File(inp, "r+") as f:
        f["/features"][0:10, 3] = np.nan  # the first shard's 10 of 1000 rows: 1% missing
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"shard_rows": 1000})
    p = e2e.run_job(np_, ["run", "--job", job, "--quiet", "--set", "checks.max_missing_fraction=0.005"], cwd=tmp_path)
    assert p.returncode == 3, f"exit {p.returncode}, want 3\n{p.stderr}"
    assert p.stdout == "", p.stdout
    e2e.assert_single_error(p, "quality checks failed on 1 of 2 shards", "exit 3", str(e2e.report_path(out)))
    assert e2e.read_report(out)["status"] == "checks_failed"


def test_inf_check_names_only_the_bad_shard(e2e, tmp_path, seed, rng):
    np_, rows, chunk = 2, 15_000, 1000
    inp = e2e.make_input(tmp_path / "in.h5", rows, chunk_rows=chunk, missing_fraction=0.001, seed=seed)
    bad_rows = np.sort(rng.choice(np.arange(5_000, 10_000), size=4, replace=False))
    with e2e.h5py.File(inp, "r+") as f:
        for r, v in zip(bad_rows, (np.inf, -np.inf, np.inf, np.inf)):
            f["/features"][r, 7] = v
    raw = e2e.read_input(inp)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"shard_rows": 5000})   # max_inf_fraction = 0.0
    p = e2e.run_job(np_, ["run", "--job", job], cwd=tmp_path)
    assert p.returncode == 3, f"exit {p.returncode}, want 3\n{p.stderr}"
    datasets, _ = e2e.read_output(out)
    e2e.assert_row_index(datasets, rows)
    e2e.assert_matches_demo_oracle(datasets, raw)   # +-Inf is clipped to +-10 after standardization

    rep = e2e.read_report(out)
    assert rep["status"] == "checks_failed" and rep["exit_code"] == 3
    shards = check_shard_cover(rep, rows, chunk_rows=chunk)
    bad = [s for s in shards if s["row_begin"] <= bad_rows[0] < s["row_end"]]
    assert len(bad) == 1 and bad[0]["row_begin"] <= bad_rows[-1] < bad[0]["row_end"]
    bad = bad[0]
    n = bad["row_end"] - bad["row_begin"]
    assert len(rep["failures"]) == 1, rep["failures"]
    f = rep["failures"][0]
    assert (f["shard"], f["check"], f["target"]) == (bad["id"], "max_inf_fraction", "feature 7"), f
    assert f["value"] == pytest.approx(4 / n) and f["threshold"] == 0.0
    assert bad["features"][7]["inf"] == 4
    for s in shards:
        assert s["verdict"] == ("fail" if s is bad else "pass")


@pytest.mark.parametrize("allow", [False, True])
def test_nan_outputs_check(e2e, tmp_path, seed, allow):
    """No preprocess.impute: NaN inputs reach the model and give NaN probabilities."""
    np_, rows = 2, 6_000
    inp = e2e.make_input(tmp_path / "in.h5", rows, chunk_rows=500, missing_fraction=0.002, seed=seed)
    raw = e2e.read_input(inp)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.demo_job(inp, out, run={"shard_rows": 2000}, checks={"allow_nan_outputs": allow})
    del job["preprocess"]["impute"]
    job_path = e2e.write_job(tmp_path / "job.toml", job)
    out.parent.mkdir()
    p = e2e.run_job(np_, ["run", "--job", job_path], cwd=tmp_path)
    assert p.returncode == (0 if allow else 3), f"exit {p.returncode}\n{p.stderr}"

    datasets, _ = e2e.read_output(out)
    e2e.assert_row_index(datasets, rows)
    expected = e2e.oracle(raw, job)
    proba = datasets["probabilities"]
    nan_rows = np.isnan(raw).any(axis=1)
    assert nan_rows.sum() > 10
    assert np.array_equal(np.isnan(proba), np.isnan(expected["probabilities"])), (
        "NaN pattern of /probabilities differs from ONNX Runtime: NaN inputs left by a job without "
        "preprocess.impute must reach the outputs as NaN (ORT's Relu propagates NaN)")
    assert np.isnan(proba[nan_rows]).all() and not np.isnan(proba[~nan_rows]).any()
    e2e.assert_close(proba[~nan_rows], expected["probabilities"][~nan_rows], "probabilities", abs_=2.5e-7)
    assert np.array_equal(datasets["label"][~nan_rows], expected["label"][~nan_rows])

    rep = e2e.read_report(out)
    shards = check_shard_cover(rep, rows, chunk_rows=500)
    for s in shards:
        o = {o["name"]: o for o in s["outputs"]}
        assert o["probabilities"]["nan"] == np.isnan(proba[s["row_begin"]:s["row_end"]]).sum(), o
    if allow:
        assert rep["status"] == "passed" and rep["failures"] == []
    else:
        assert rep["status"] == "checks_failed"
        failing = {(f["shard"], f["check"], f["target"]) for f in rep["failures"]}
        want = {(s["id"], "allow_nan_outputs", "probabilities") for s in shards
                if np.isnan(proba[s["row_begin"]:s["row_end"]]).any()}
        assert failing == want, rep["failures"]


def _matmul_model(path, features=4, outputs=3):
    from onnx import TensorProto, helper, numpy_helper
    import onnx
    w = (10.0 + np.arange(features * outputs, dtype=np.float32).reshape(features, outputs) / 10)
    b = np.arange(outputs, dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features_in", "W"], ["mm"], name="mm"),
         helper.make_node("Add", ["mm", "B"], ["score"], name="add")],
        "matmul_graph",
        [helper.make_tensor_value_info("features_in", TensorProto.FLOAT, ["N", features])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", outputs])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return path


def test_nan_and_inf_outputs_of_another_model(e2e, tmp_path, seed, rng):
    """A 4-feature MatMul+Add model, no preprocessing: a NaN input row gives NaN scores, a 1e38 input
    overflows to Inf; each check fails in its own shard. Outputs are named after the model's."""
    np_, rows, chunk = 3, 9_000, 1000
    inp = e2e.make_input(tmp_path / "in.h5", rows, dtype="float32", chunk_rows=chunk, features=4,
                         missing_fraction=0.0, seed=seed)
    nan_row = int(rng.integers(0, 3000))
    inf_row = int(rng.integers(6000, 9000))
    with e2e.h5py.File(inp, "r+") as f:
        f["/features"][nan_row, 2] = np.nan
        f["/features"][inf_row, 0] = np.float32(1e38)
    raw = e2e.read_input(inp)
    model = _matmul_model(tmp_path / "mm.onnx")
    out = tmp_path / "out" / "scores.h5"
    job = e2e.demo_job(inp, out, model, run={"shard_rows": 3000},
                       checks={"max_missing_fraction": 1.0, "max_inf_fraction": 0.0,
                               "allow_nan_outputs": False, "allow_inf_outputs": False})
    del job["preprocess"]
    out.parent.mkdir()
    p = e2e.run_job(np_, ["run", "--job", e2e.write_job(tmp_path / "job.toml", job)], cwd=tmp_path)
    assert p.returncode == 3, f"exit {p.returncode}, want 3\n{p.stderr}"

    datasets, attrs = e2e.read_output(out)
    assert set(datasets) == {"score", "row_index"}
    e2e.assert_row_index(datasets, rows)
    score = datasets["score"]
    assert score.dtype == np.float32 and score.shape == (rows, 3)
    expected = e2e.oracle(raw, job, model_path=model)["score"]
    assert np.isnan(score[nan_row]).all() and np.isinf(score[inf_row]).all()
    assert np.array_equal(np.isnan(score), np.isnan(expected))
    assert np.array_equal(np.isposinf(score), np.isposinf(expected))
    finite = np.isfinite(expected)
    e2e.assert_close(score[finite], expected[finite], "score", rel=1e-5, abs_=1e-5)
    assert attrs["model_sha256"] == e2e.sha256_file(model)

    rep = e2e.read_report(out)
    assert rep["status"] == "checks_failed" and rep["output"]["datasets"] in (["score"], ["score", "row_index"])
    shards = check_shard_cover(rep, rows, chunk_rows=chunk)
    shard_of = {r: next(s["id"] for s in shards if s["row_begin"] <= r < s["row_end"]) for r in (nan_row, inf_row)}
    failing = {(f["shard"], f["check"], f["target"]) for f in rep["failures"]}
    assert failing == {(shard_of[nan_row], "allow_nan_outputs", "score"),
                       (shard_of[inf_row], "allow_inf_outputs", "score")}, rep["failures"]
    for s in shards:
        o = {o["name"]: o for o in s["outputs"]}["score"]
        assert o["nan"] == (3 if s["id"] == shard_of[nan_row] else 0), o
        assert o["inf"] == (3 if s["id"] == shard_of[inf_row] else 0), o
        assert s["features"][2]["nan"] == (1 if s["id"] == shard_of[nan_row] else 0)
