"""A file system too small for the output or the report: exit 1, one error line naming the place and
its free space, no crash or hang at any rank count, and nothing left that looks like an output.

The small file systems are tmpfs mounts made by each test and unmounted by it (root with the right to
mount, as in CI; skipped elsewhere)."""
import subprocess
import time

import pytest

ROWS = 60_000          # HDF5 output: 60,000 x (8 + 8 + 8) bytes = 1.4 MB; Parquet ~0.5 MB (random floats)
SMALL_KIB = 128
TIMEOUT_S = 120        # a hang fails the test rather than the suite's 300 s


@pytest.fixture
def small_fs(tmp_path):
    mounted = []

    def mount(name, size_kib):
        d = tmp_path / name
        d.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(d)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here (needs root with CAP_SYS_ADMIN): {r.stderr.strip()}")
        mounted.append(d)
        return d

    yield mount
    for d in mounted:
        if subprocess.run(["umount", str(d)], capture_output=True).returncode != 0:
            # A job killed at its timeout may still hold files there for a moment.
            time.sleep(1)
            subprocess.run(["umount", "--lazy", str(d)], check=True)


def _input(e2e, tmp_path, seed):
    return e2e.make_input(tmp_path / "in" / "features.h5", ROWS, chunk_rows=5000, seed=seed)


def _assert_failed_cleanly(e2e, p, *needles, strict=True):
    assert p.returncode == 1, f"exit {p.returncode}, want 1\n{p.stderr}"
    for crash in ("Segmentation fault", "signal", "Aborted"):
        assert crash not in p.stderr, f"the job crashed on its way out:\n{p.stderr}"
    return e2e.assert_single_error(p, *needles, strict=strict)


@pytest.mark.parametrize("ranks", [1, 3])
@pytest.mark.parametrize("fmt", ["h5", "parquet"])
def test_output_larger_than_its_file_system(e2e, tmp_path, seed, small_fs, fmt, ranks):
    """HDF5: the reservation at creation refuses it before any row is scored (at 3 ranks Open MPI's
    collective writes would report success over the holes); Parquet: the part file that hits the full
    disk fails the run. Either way the small file system is left empty."""
    fs = small_fs("small", SMALL_KIB)
    out = fs / f"scores.{fmt}"
    job = e2e.make_job(tmp_path / "job.toml", _input(e2e, tmp_path, seed), out,
                       run={"shard_rows": 10_000, "batch_size": 5000})
    p = e2e.run_job(ranks, ["run", "--job", job], cwd=tmp_path, timeout=TIMEOUT_S)
    if fmt == "h5":
        line = _assert_failed_cleanly(e2e, p, "cannot reserve", f"free on the file system of '{fs}'")
        assert "scored" not in p.stderr, "the job scored rows before finding the output could not fit"
    else:
        line = _assert_failed_cleanly(e2e, p, str(fs), "No space left on device")
    assert e2e.listing(fs) == [], f"left on the full file system: {e2e.listing(fs)} ({line})"


@pytest.mark.parametrize("ranks", [1, 2])
def test_hdf5_write_failure_without_reservation(e2e, tmp_path, seed, small_fs, ranks):
    """SHARDSCORE_OUTPUT_RESERVE=0: the collective write that hits the full disk fails the job on every
    rank together (it hung at 2 ranks when the rank whose write failed left the round early, while the
    others went on to the next dataset's collective write), with the free space named and nothing left.
    (At 3 ranks Open MPI 4.1's OMPIO reports success over the holes: the reason for the reservation.)"""
    fs = small_fs("small", SMALL_KIB)
    out = fs / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", _input(e2e, tmp_path, seed), out,
                       run={"shard_rows": 10_000, "batch_size": 5000})
    p = e2e.run_job(ranks, ["run", "--job", job], cwd=tmp_path, timeout=TIMEOUT_S,
                    env={"SHARDSCORE_OUTPUT_RESERVE": "0"})
    # Open MPI's own "error in writev: No space left on device" lines may come first.
    _assert_failed_cleanly(e2e, p, "failed", f"free on the file system of '{fs}'", strict=False)
    assert e2e.listing(fs) == [], f"left on the full file system: {e2e.listing(fs)}"


@pytest.mark.parametrize("fmt", ["h5", "parquet"])
def test_report_that_cannot_be_written_leaves_no_output(e2e, tmp_path, seed, small_fs, fmt):
    """The report is written before the output moves into place: a report on a full file system fails the
    run with no output at its path (it used to be moved there first, looking complete)."""
    fs = small_fs("reports", 64)
    with open(fs / "filler", "wb") as f:
        try:
            f.write(b"\0" * (128 << 10))
        except OSError:
            pass
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / f"scores.{fmt}"
    report = fs / "report.json"
    job = e2e.make_job(tmp_path / "job.toml", _input(e2e, tmp_path, seed), out)
    p = e2e.run_job(2, ["run", "--job", job, "--set", f'output.report="{report}"'], cwd=tmp_path,
                    timeout=TIMEOUT_S)
    _assert_failed_cleanly(e2e, p, str(report), "No space left on device")
    assert e2e.listing(out_dir) == [], f"output left although the run failed: {e2e.listing(out_dir)}"
    assert e2e.listing(fs) == ["filler"], f"report files left: {e2e.listing(fs)}"
