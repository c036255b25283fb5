"""Scoring correctness: the demo model vs ONNX Runtime, determinism across ranks/batch sizes, input types."""
import shutil
import tomllib

import numpy as np
import pytest


def test_demo_model_matches_onnxruntime(e2e, tmp_path, seed):
    """jobs/demo.toml copied as is, paths and batch size from the command line, -np 2."""
    rows = 20_000
    inp = e2e.make_input(tmp_path / "in" / "features.h5", rows, chunk_rows=2048, missing_fraction=0.01, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    out.parent.mkdir()
    job = tmp_path / "demo.toml"
    shutil.copyfile(e2e.DEMO_JOB, job)
    p = e2e.run_job(2, ["run", "--job", job, "--input", inp, "--output", out, "--model", e2e.DEMO_MODEL,
                        "--batch-size", 1500, "--set", "run.shard_rows=4096",
                        "--set", 'input.dataset="/features"', "--set", "run.backend=cpu"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert not e2e.error_lines(p.stderr)
    assert p.stdout.strip(), "no summary on stdout"
    assert sorted(e2e.listing(out.parent)) == sorted([out.name, e2e.report_path(out).name])

    raw = e2e.read_input(inp)
    assert np.isnan(raw).any()
    datasets, attrs = e2e.read_output(out)
    e2e.assert_row_index(datasets, rows)
    e2e.assert_matches_demo_oracle(datasets, raw)
    assert set(datasets) == {"label", "probabilities", "row_index"}
    # The job as run: overrides from the command line are in the recorded job.
    recorded = tomllib.loads(attrs["job_toml"])
    assert recorded["input"]["path"] == str(inp)
    assert recorded["output"]["path"] == str(out)
    assert recorded["model"]["path"] == str(e2e.DEMO_MODEL)
    assert recorded["run"]["batch_size"] == 1500
    assert recorded["run"]["shard_rows"] == 4096
    assert recorded["preprocess"]["mean"] == pytest.approx(e2e.load_demo_job()["preprocess"]["mean"])


def test_identical_across_ranks_and_batch_sizes(e2e, tmp_path, seed):
    """Byte-identical outputs for 1, 2, 3 ranks, batch sizes 1000 / 4096 and 1-2 threads (chunks do not divide
    rows)."""
    rows = 23_457
    inp = e2e.make_input(tmp_path / "in.h5", rows, chunk_rows=1000, missing_fraction=0.003, seed=seed)
    runs = [(1, 4096, 1), (2, 4096, 0), (3, 4096, 0), (2, 1000, 0), (3, 1000, 1), (1, 1000, 2)]
    results = {}
    for n, bs, threads in runs:
        out = tmp_path / f"out_np{n}_bs{bs}_t{threads}.h5"
        job = e2e.make_job(tmp_path / f"job_np{n}_bs{bs}_t{threads}.toml", inp, out,
                           run={"batch_size": bs, "shard_rows": 5000, "threads": threads})
        p = e2e.run_job(n, ["run", "--job", job], cwd=tmp_path)
        assert p.returncode == 0, f"-np {n} batch {bs}: exit {p.returncode}\n{p.stderr}"
        datasets, attrs = e2e.read_output(out)
        assert int(attrs["num_ranks"]) == n
        results[(n, bs, threads)] = datasets

    ref_key = runs[0]
    ref = results[ref_key]
    e2e.assert_row_index(ref, rows)
    e2e.assert_matches_demo_oracle(ref, e2e.read_input(inp))
    for key, datasets in results.items():
        assert sorted(datasets) == sorted(ref), f"{key}: datasets {sorted(datasets)} vs {sorted(ref)}"
        for name, arr in datasets.items():
            assert arr.dtype == ref[name].dtype and arr.shape == ref[name].shape, f"{key} /{name}"
            if arr.tobytes() != ref[name].tobytes():
                ndiff = int(np.sum(arr != ref[name]))
                pytest.fail(f"/{name} at (np, batch, threads)={key} differs from {ref_key} in {ndiff} values")


@pytest.mark.parametrize("dtype,chunk_rows,rows,np_", [
    ("int32", 1000, 8_000, 2),
    ("float32", 0, 6_000, 2),     # contiguous dataset
    ("uint8", 700, 5_000, 3),
    ("int16", 1000, 3_000, 2),
    ("int64", 0, 3_000, 1),
    ("float16", 700, 4_000, 2),   # converted to float32 by HDF5 as it reads (it was refused)
])
def test_input_types(e2e, tmp_path, seed, dtype, chunk_rows, rows, np_):
    inp = e2e.make_input(tmp_path / "in.h5", rows, dtype=dtype, chunk_rows=chunk_rows,
                         missing_fraction=0.002, seed=seed)
    with e2e.h5py.File(inp, "r") as f:
        assert f["/features"].dtype == np.dtype(dtype)
        assert (f["/features"].chunks is None) == (chunk_rows == 0)
    out = tmp_path / "out.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"shard_rows": 2500, "batch_size": 999})
    p = e2e.run_job(np_, ["run", "--job", job], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    datasets, attrs = e2e.read_output(out)
    e2e.assert_row_index(datasets, rows)
    e2e.assert_matches_demo_oracle(datasets, e2e.read_input(inp))
    rep = e2e.read_report(out)
    assert rep["input"]["rows"] == rows and rep["input"]["features"] == 30
    # Ranks left without a shard are said (the plan line only counted them).
    idle = np_ - len(rep["shards"])
    assert (f"note: {idle} of {np_} ranks have no shard" in p.stderr) == (idle > 0), p.stderr
    # The type as stored (float16 was reported as float32, the type HDF5 converts it to).
    assert rep["input"]["dtype"] == dtype and rep["input"]["datasets"][0]["dtype"] == dtype
    assert f"X <- /features ({dtype} [30]" in p.stderr


def _variant(name, demo_pp, rng):
    if name == "scalars":
        return {"impute": 0.5, "mean": 50.0, "std": 200.0, "clip_min": -1.5, "clip_max": 1.5}
    if name == "per_feature_clip":
        lo = -rng.uniform(0.2, 2.0, 30)
        hi = rng.uniform(0.2, 2.0, 30)
        return {**demo_pp, "clip_min": lo.tolist(), "clip_max": hi.tolist()}
    if name == "no_mean_no_clip":
        return {"impute": demo_pp["impute"], "std": demo_pp["std"]}
    if name == "mean_only_scalar_impute":
        return {"impute": -1.0, "mean": demo_pp["mean"]}
    raise ValueError(name)


@pytest.mark.parametrize("variant", ["scalars", "per_feature_clip", "no_mean_no_clip", "mean_only_scalar_impute"])
def test_preprocess_variants(e2e, tmp_path, seed, rng, variant):
    """impute/mean/std/clip as scalars or arrays, each optional: same formula as the numpy oracle."""
    rows = 4_000
    inp = e2e.make_input(tmp_path / "in.h5", rows, chunk_rows=512, missing_fraction=0.01, seed=seed)
    out = tmp_path / "out.h5"
    job = e2e.demo_job(inp, out)
    job["preprocess"] = _variant(variant, job["preprocess"], rng)
    job["checks"]["max_missing_fraction"] = 1.0
    job_path = e2e.write_job(tmp_path / "job.toml", job)
    p = e2e.run_job(2, ["run", "--job", job_path], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    datasets, _ = e2e.read_output(out)
    e2e.assert_row_index(datasets, rows)
    # Without std the features stay at their stored scale (|x| up to ~650, ~100 times the demo job's):
    # the logits' median size is ~560, and a float32 sum of such terms is ~1e-4 off in the logit, on
    # either side. At SHARDSCORE_E2E_SEED=1733140573 one row's probability 0.5934 (float64 evaluation of
    # the same model) was 2.5e-5 (ONNX Runtime) and 3.5e-5 (shardscore) off, relative: 1.4e-5 apart.
    rel = 2e-4 if "std" not in job["preprocess"] else 1e-5
    e2e.assert_matches_demo_oracle(datasets, e2e.read_input(inp), job, both_labels=False, rel=rel)


def test_tiny_input_more_ranks_than_shards(e2e, tmp_path, seed):
    """7 rows in 2-row chunks and shards, batch size 1, 3 ranks (one rank gets the short last shard)."""
    rows = 7
    inp = e2e.make_input(tmp_path / "in.h5", rows, chunk_rows=2, missing_fraction=0.02, seed=seed)
    out = tmp_path / "out.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"shard_rows": 2, "batch_size": 1},
                       checks={"max_missing_fraction": 1.0})
    p = e2e.run_job(3, ["run", "--job", job], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    datasets, _ = e2e.read_output(out)
    e2e.assert_row_index(datasets, rows)
    e2e.assert_matches_demo_oracle(datasets, e2e.read_input(inp), both_labels=False)
    rep = e2e.read_report(out)
    assert [(s["row_begin"], s["row_end"]) for s in sorted(rep["shards"], key=lambda s: s["row_begin"])] == \
        [(0, 2), (2, 4), (4, 6), (6, 7)]


@pytest.mark.parametrize("np_", [1, 2])
@pytest.mark.parametrize("out_name", ["scores.h5", "scores.parquet"])
def test_empty_input_gives_an_empty_output(e2e, tmp_path, np_, out_name):
    """0 rows: exit 0 with one warning, every output dataset with 0 rows in its shape, a report of 0 rows in 0 shards (the
    output's space reservation has nothing to reserve for empty datasets). A Parquet output holds one file of no
    rows with the columns and their types (it held none, and a reader saw no columns)."""
    inp = tmp_path / "in.h5"
    with e2e.h5py.File(inp, "w") as f:
        f.create_dataset("/features", shape=(0, 30), maxshape=(None, 30), chunks=(16, 30), dtype="f8")
    out = tmp_path / "out" / out_name
    out.parent.mkdir()
    job = e2e.make_job(tmp_path / "job.toml", inp, out)
    p = e2e.run_job(np_, ["run", "--job", job, "--quiet"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    # Said once, even under --quiet (an input left empty upstream is rarely meant), and the ranks without a
    # shard are not told to spread rows there are none of.
    assert p.stderr.count("shardscore: warning: input '") == 1 and "has no rows" in p.stderr, p.stderr
    assert "have no shard" not in p.stderr, p.stderr
    if out_name.endswith(".parquet"):
        pq = pytest.importorskip("pyarrow.parquet")
        table = pq.read_table(out)
        assert table.num_rows == 0
        assert [(f.name, str(f.type)) for f in table.schema] == [
            ("row_index", "int64"), ("label", "int64"), ("probabilities", "fixed_size_list<element: float>[2]")], table.schema
    else:
        datasets, _ = e2e.read_output(out)
        assert {k: v.shape for k, v in datasets.items()} == {"label": (0,), "probabilities": (0, 2), "row_index": (0,)}
    rep = e2e.read_report(out)
    assert (rep["rows_scored"], rep["shards"]) == (0, [])


def test_ranks_without_a_shard_are_said(e2e, tmp_path, seed):
    """Three ranks and one shard: the two idle ranks are said, with what would spread the rows (they did
    nothing without a word)."""
    inp = e2e.make_input(tmp_path / "in.h5", 1000, chunk_rows=100, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out)
    p = e2e.run_job(3, ["run", "--job", job], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert len(e2e.read_report(out)["shards"]) == 1
    assert "note: 2 of 3 ranks have no shard" in p.stderr and "run.shard_rows" in p.stderr, p.stderr


@pytest.mark.parametrize("fixed", [1, 4])
def test_a_model_with_a_fixed_batch_dimension_scores(e2e, tmp_path, seed, rng, fixed):
    """torch.onnx.export without dynamic_axes fixes the batch dimension (at 1 row): the job probed such a
    model on 2 rows and refused it ("expects shape [1, 30], got [2, 30]"), even at --batch-size 1, while
    `inspect` said it ran. The job now runs each batch `fixed` rows at a time (the last run filled up with
    rows of zeros whose outputs are dropped), says so once, and matches ONNX Runtime row by row."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rows = 1003  # not a multiple of the batch (100) nor of `fixed`
    inp = e2e.make_input(tmp_path / "in" / "features.h5", rows, chunk_rows=256, missing_fraction=0.0, seed=seed)
    x = e2e.read_input(inp).astype(np.float32)
    # Weights scaled to the features (some in the thousands) and a bias that centres them: Y spreads over (-1, 1),
    # so a row out of place or a padded row kept shows (unscaled, Tanh saturated nearly every value to +-1).
    mean, std = x.astype(np.float64).mean(axis=0), x.astype(np.float64).std(axis=0) + 1e-12
    w = (rng.standard_normal((30, 3)) / (std[:, None] * np.sqrt(30))).astype(np.float32)
    b = (-(mean @ w.astype(np.float64))).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["P"]), helper.make_node("Add", ["P", "B"], ["H"]),
         helper.make_node("Tanh", ["H"], ["Y"])], "fixed_batch",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [fixed, 30])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [fixed, 3])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model_path = tmp_path / "fixed.onnx"
    onnx.save(model, model_path)

    p = e2e.run_job(None, ["inspect", model_path])
    assert p.returncode == 0 and "ran it on two rows of zeros" in p.stdout, p.stdout + p.stderr

    out = tmp_path / "out" / "scores.h5"
    job = e2e.demo_job(inp, out, model_path, run={"batch_size": 100, "shard_rows": 256})
    job.pop("preprocess", None)
    out.parent.mkdir()
    p = e2e.run_job(2, ["run", "--job", e2e.write_job(tmp_path / "job.toml", job)], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stderr.count(f"the model takes exactly {fixed} row(s) a run") == 1, p.stderr
    datasets, _ = e2e.read_output(out)
    e2e.assert_row_index(datasets, rows)
    padded = np.zeros(((rows + fixed - 1) // fixed * fixed, 30), np.float32)
    padded[:rows] = x
    sess = e2e.ort_session(model_path)
    want = np.concatenate([sess.run(None, {"X": padded[i:i + fixed]})[0] for i in range(0, len(padded), fixed)])[:rows]
    assert datasets["Y"].shape == (rows, 3)
    assert (np.abs(want) < 0.9).mean() > 0.5, "Y saturated: the test could not see a row out of place"
    # A float32 sum of 30 products keeps about 4 float32 epsilons of its sum of magnitudes, whose order (the
    # BLAS's) need not be ONNX Runtime's; Tanh moves no value more than its argument moved.
    magnitude = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)) + np.abs(b.astype(np.float64))
    bound = 1e-5 + 4 * np.finfo(np.float32).eps * magnitude
    err = np.abs(datasets["Y"].astype(np.float64) - want)
    assert (err <= bound).all(), f"{int((err > bound).sum())} values beyond the bound, worst {float(err.max()):.3g}"
