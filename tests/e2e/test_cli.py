"""CLI basics: --help, --version, and a plain singleton run (no mpirun)."""
import re


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
    assert re.fullmatch(r"shardscore \d+\.\d+\.\d+", first), f"--version printed {p.stdout!r}"
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
