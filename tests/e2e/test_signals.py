"""SIGTERM mid-run (a Slurm time limit, scancel, mpirun's kill): the job stops at its next write round on
every rank, prints one error line naming the signal and the rows done, exits 143 (128 + SIGTERM) and
leaves nothing in the output folder (it used to die at once, silently, leaving its partial file)."""
import os
import signal
import subprocess
import time

import pytest

ROWS = 300_000   # at batch size 1 the job takes several seconds: long enough to be caught mid-run


@pytest.mark.parametrize("ranks", [None, 2])
def test_sigterm_stops_cleanly(e2e, tmp_path, seed, ranks):
    inp = e2e.make_input(tmp_path / "in" / "features.h5", ROWS, chunk_rows=10_000, seed=seed)
    out_dir = tmp_path / "out"
    out = out_dir / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"batch_size": 1, "progress_interval": 0.2})
    cmd = [str(e2e.BIN), "run", "--job", str(job)]
    if ranks is not None:
        cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), *cmd]
    env = {**os.environ, **e2e.MPI_ENV}
    with subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as p:
        seen = []
        deadline = time.monotonic() + 60
        for line in p.stderr:  # wait for the first progress line: the job is scoring
            seen.append(line)
            if " scored " in line or time.monotonic() > deadline:
                break
        assert any(" scored " in ln for ln in seen), "".join(seen)
        # As Slurm does: the signal to every process of the job (here: its process group).
        os.killpg(p.pid, signal.SIGTERM)
        try:
            out_text, err_rest = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            pytest.fail("the job did not stop within 60 s of SIGTERM")
    proc = subprocess.CompletedProcess(cmd, p.returncode, out_text, "".join(seen) + err_rest)
    print(proc.stderr[-4000:])
    if ranks is None:
        assert proc.returncode == 128 + signal.SIGTERM, f"exit {proc.returncode}, want 143"
    else:
        assert proc.returncode != 0, "mpirun reported success for a stopped job"
    line = e2e.assert_single_error(proc, "stopped by SIGTERM", f"of {ROWS} rows; nothing written", strict=False)
    done = int(line.split(" after ")[1].split(" of ")[0])
    assert 0 <= done < ROWS, line
    assert e2e.listing(out_dir) == [], f"left in the output folder: {e2e.listing(out_dir)}"
