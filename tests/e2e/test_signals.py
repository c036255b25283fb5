"""SIGTERM mid-run (a Slurm time limit, scancel, mpirun's kill): the job stops at its next write round on
every rank, prints one error line naming the signal and the rows done, exits 143 (128 + SIGTERM) and
leaves nothing in the output folder (it used to die at once, silently, leaving its partial file)."""
import os
import re
import signal
import socket
import subprocess
import time

import numpy as np
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
    proc = e2e.signal_mid_run(cmd, signal.SIGTERM, cwd=tmp_path)
    if ranks is None:
        assert proc.returncode == 128 + signal.SIGTERM, f"exit {proc.returncode}, want 143"
    else:
        assert proc.returncode != 0, "mpirun reported success for a stopped job"
    line = e2e.assert_single_error(proc, "stopped by SIGTERM", f"of {ROWS} rows; nothing written", strict=False)
    done = int(line.split(" after ")[1].split(" of ")[0])
    assert 0 <= done < ROWS, line
    assert e2e.listing(out_dir) == [], f"left in the output folder: {e2e.listing(out_dir)}"


def test_repeated_sigterm_stops_cleanly(e2e, tmp_path, seed):
    """At a time limit Slurm sends SIGTERM, SIGCONT and SIGTERM again within milliseconds: the second SIGTERM
    killed the process at once (the handler reset itself), leaving the partial output and pushing nothing.
    Repeated SIGTERMs are one request: the job stops at its next write round, exit 143, nothing left. (mpirun
    itself ends its job at once on a second SIGTERM; test_slurm.py has the time limit under srun.)"""
    inp = e2e.make_input(tmp_path / "in" / "features.h5", ROWS, chunk_rows=10_000, seed=seed)
    out_dir = tmp_path / "out"
    job = e2e.make_job(tmp_path / "job.toml", inp, out_dir / "scores.h5", run={"batch_size": 1, "progress_interval": 0.2})
    proc = e2e.signal_mid_run([e2e.BIN, "run", "--job", job], [signal.SIGTERM, signal.SIGCONT, signal.SIGTERM], cwd=tmp_path)
    assert proc.returncode == 128 + signal.SIGTERM, f"exit {proc.returncode}, want 143"
    e2e.assert_single_error(proc, "stopped by SIGTERM", f"of {ROWS} rows; nothing written", strict=False)
    assert e2e.listing(out_dir) == [], f"left in the output folder: {e2e.listing(out_dir)}"


def test_a_stopped_overwrite_leaves_no_earlier_output(e2e, tmp_path, seed):
    """With output.overwrite the earlier run's output and report go when the job starts writing: a run that
    then fails leaves nothing, where it left the earlier output and its report ("status": "passed"), which
    looked like its own."""
    inp = e2e.make_input(tmp_path / "in" / "features.h5", ROWS, chunk_rows=10_000, seed=seed)
    out_dir = tmp_path / "out"
    job = e2e.make_job(tmp_path / "job.toml", inp, out_dir / "scores.h5",
                       run={"batch_size": 1, "progress_interval": 0.2}, output={"overwrite": True})
    p = e2e.run_job(None, ["run", "--job", job, "--batch-size", "65536"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert sorted(e2e.listing(out_dir)) == ["scores.h5", "scores.h5.report.json"]
    proc = e2e.signal_mid_run([e2e.BIN, "run", "--job", job], signal.SIGTERM, cwd=tmp_path)
    assert proc.returncode == 128 + signal.SIGTERM, f"exit {proc.returncode}, want 143"
    assert f"output.overwrite: removed the earlier output '{out_dir / 'scores.h5'}'" in proc.stderr, proc.stderr
    assert e2e.listing(out_dir) == [], f"left in the output folder: {e2e.listing(out_dir)}"


def test_sighup_stops_cleanly(e2e, tmp_path, seed):
    """SIGHUP (the terminal or ssh session that started the job went away) stops the job like SIGTERM: exit 129,
    one error line, nothing left (its default action killed the process and left the partial output)."""
    inp = e2e.make_input(tmp_path / "in" / "features.h5", ROWS, chunk_rows=10_000, seed=seed)
    out_dir = tmp_path / "out"
    job = e2e.make_job(tmp_path / "job.toml", inp, out_dir / "scores.h5", run={"batch_size": 1, "progress_interval": 0.2})
    proc = e2e.signal_mid_run([e2e.BIN, "run", "--job", job], signal.SIGHUP, cwd=tmp_path)
    assert proc.returncode == 128 + signal.SIGHUP, f"exit {proc.returncode}, want 129"
    e2e.assert_single_error(proc, "stopped by SIGHUP", f"of {ROWS} rows; nothing written", strict=False)
    assert e2e.listing(out_dir) == [], f"left in the output folder: {e2e.listing(out_dir)}"


def test_sighup_is_ignored_under_nohup(e2e, tmp_path, seed):
    """Started under nohup (SIGHUP ignored), the job keeps ignoring it and finishes: the handler that stops on
    SIGHUP must not undo what the user asked for."""
    rows = 60_000
    inp = e2e.make_input(tmp_path / "in" / "features.h5", rows, chunk_rows=10_000, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"batch_size": 4, "progress_interval": 0.2})
    proc = e2e.signal_mid_run(["nohup", e2e.BIN, "run", "--job", job], signal.SIGHUP, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    assert e2e.read_report(out)["rows_scored"] == rows


@pytest.mark.parametrize("ranks", [None, 2])
def test_sigusr1_only_warns(e2e, tmp_path, seed, ranks):
    """SIGUSR1 (what Slurm's --signal=USR1@T sends before a time limit) used to kill the ranks outright, leaving
    the partial output: the job now says it goes on, finishes, and writes every row."""
    rows = 60_000
    inp = e2e.make_input(tmp_path / "in" / "features.h5", rows, chunk_rows=10_000, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"batch_size": 4, "progress_interval": 0.2})
    cmd = [str(e2e.BIN), "run", "--job", str(job)]
    if ranks is not None:
        cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), *cmd]
    proc = e2e.signal_mid_run(cmd, signal.SIGUSR1, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    assert "received SIGUSR1" in proc.stderr and "the job goes on" in proc.stderr, proc.stderr[-3000:]
    report = e2e.read_report(out)
    assert report["rows_scored"] == rows and report["exit_code"] == 0, report


def test_a_killed_runs_leftovers_are_named_by_the_next_run(e2e, tmp_path, seed):
    """SIGKILL (Slurm after KillWait, the OOM killer) leaves the hidden partial output: the next run of the
    same output names it with its size in one warning line, and leaves it alone (another run may own it)."""
    inp = e2e.make_input(tmp_path / "in.h5", ROWS, chunk_rows=10_000, seed=seed)
    out_dir = tmp_path / "out"
    out = out_dir / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"batch_size": 1, "progress_interval": 0.2})
    e2e.signal_mid_run([e2e.BIN, "run", "--job", job], signal.SIGKILL, cwd=tmp_path)
    left = e2e.listing(out_dir)
    assert len(left) == 1 and left[0].startswith(".scores.h5.partial-"), left
    # Named for this process by host, pid and a random part: by pid alone, two runs in containers (both pid 1)
    # or on two nodes of one file system wrote into one temporary file, and one exited 0 with the other's rows.
    assert re.fullmatch(rf"\.scores\.h5\.partial-{re.escape(socket.gethostname())}-\d+-[0-9a-f]{{8}}", left[0]), left
    size = (out_dir / left[0]).stat().st_size

    proc = e2e.run_job(None, ["run", "--job", job, "--set", "run.batch_size=4096"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("shardscore: warning:")]
    assert len(warnings) == 1, proc.stderr
    assert str(out_dir / left[0]) in warnings[0] and f"({size / 2**20:.1f} MiB, " in warnings[0], warnings[0]
    assert sorted(e2e.listing(out_dir)) == sorted([left[0], out.name, e2e.report_path(out).name])
    e2e.assert_matches_demo_oracle(e2e.read_output(out)[0], e2e.read_input(inp))


def _handles(pid: int, sig: int) -> bool | None:
    """Whether process `pid` has a handler for `sig` (/proc's SigCgt mask); None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except OSError:
        return None
    return False


def test_sigterm_during_a_dry_run_is_not_ready(e2e, tmp_path, seed):
    """A dry run does not stop at write rounds: a SIGTERM (or Ctrl-C) during it was absorbed by the handler and
    the dry run said the job was ready, exit 0. It now ends with the signal's code and says so."""
    inp = e2e.make_input(tmp_path / "in.h5", 1000, seed=seed)
    job = e2e.make_job(tmp_path / "job.toml", inp, tmp_path / "out" / "scores.h5")
    with subprocess.Popen([str(e2e.BIN), "run", "--job", str(job), "--dry-run"], cwd=tmp_path, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env={**os.environ, **e2e.MPI_ENV}) as p:
        deadline = time.monotonic() + 30
        while (h := _handles(p.pid, signal.SIGTERM)) is False and time.monotonic() < deadline:
            time.sleep(0.0005)  # the handler goes in just before the job's checks, which take far longer
        assert h, "the dry run ended before its SIGTERM handler was seen"
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    assert p.returncode == 128 + signal.SIGTERM, f"exit {p.returncode}\n{err}"
    assert "stopped by SIGTERM during the dry run" in err and "ready to run" not in out, (out, err)


def test_a_closed_log_pipe_does_not_kill_the_job(e2e, tmp_path, seed):
    """The log's pipe closes mid-run (`| head`, a log shipper that died): SIGPIPE killed the job (exit 141, no
    error line, its partial output left). The job now finishes, its log lines lost."""
    rows = 60_000
    inp = e2e.make_input(tmp_path / "in" / "features.h5", rows, chunk_rows=10_000, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"batch_size": 8, "progress_interval": 0.05})
    with subprocess.Popen([str(e2e.BIN), "run", "--job", str(job)], cwd=tmp_path, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env={**os.environ, **e2e.MPI_ENV}) as p:
        p.stderr.readline()
        p.stderr.close()  # the reader goes away; the job's next log line meets a closed pipe
        p.stdout.close()
        rc = p.wait(timeout=120)
    assert rc == 0, f"exit {rc}"
    assert e2e.read_report(out)["rows_scored"] == rows
    e2e.assert_row_index(e2e.read_output(out)[0], rows)


def _read_to_close(leader: int, seen: bytes) -> bytes:
    """What the job writes to its terminal after `seen`, until it closes the terminal's last end."""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the job closed the terminal's last end
            return seen
        if not chunk:
            return seen
        seen += chunk


def _assert_one_error_line_after_live_progress(text: str) -> int:
    """A live progress line was drawn, and the one error line starts a line: where it starts."""
    assert "\r\x1b[K" in text, f"no live progress line on the terminal:\n{text[-2000:]!r}"
    errors = [m.start() for m in re.finditer("shardscore: error:", text)]
    assert len(errors) == 1, repr(text[-2000:])
    assert text[errors[0] - 1] == "\n", f"the error line does not start a line: {text[max(0, errors[0] - 200):]!r}"
    return errors[0]


def test_on_a_terminal_the_error_line_starts_a_line_of_its_own(e2e, tmp_path, seed):
    """On a terminal the progress is one live line, rewritten in place ("\\r" and no newline). A job stopped
    mid-run printed its error line at the end of that progress line ("... ETA 3 sshardscore: error: ..."):
    the error now starts a line of its own."""
    import pty
    inp = e2e.make_input(tmp_path / "in" / "features.h5", ROWS, chunk_rows=10_000, seed=seed)
    job = e2e.make_job(tmp_path / "job.toml", inp, tmp_path / "out" / "scores.h5", run={"batch_size": 1})
    leader, follower = pty.openpty()
    with subprocess.Popen([str(e2e.BIN), "run", "--job", str(job)], cwd=tmp_path, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=follower, env={**os.environ, **e2e.MPI_ENV},
                          start_new_session=True) as p:
        os.close(follower)
        seen = b""
        deadline = time.monotonic() + 60
        while b" scored " not in seen and time.monotonic() < deadline:  # the first live progress line
            seen += os.read(leader, 4096)
        assert b" scored " in seen, seen[-2000:]
        os.killpg(p.pid, signal.SIGTERM)
        seen = _read_to_close(leader, seen)
        rc = p.wait(timeout=60)
    os.close(leader)
    text = seen.decode(errors="replace")
    assert rc == 128 + signal.SIGTERM, f"exit {rc}\n{text[-2000:]}"
    _assert_one_error_line_after_live_progress(text)


def test_on_a_terminal_an_error_from_the_rows_starts_a_line_of_its_own(e2e, tmp_path):
    """As above, for an error the rows raise mid-run (not a signal): a model whose Gather takes its index from a
    feature, out of range from row 240,000 on (a second or more of batches of one row, so that a live line is
    drawn first: it waits 0.25 s). The live progress line is ended before the error line."""
    import pty
    import h5py
    import onnx
    from onnx import TensorProto, helper
    rows, bad_from = 250_000, 240_000
    x = np.zeros((rows, 1), dtype=np.float32)
    x[bad_from:] = 99  # index 99 into a table of 4
    inp = tmp_path / "in.h5"
    with h5py.File(inp, "w") as f:
        f.create_dataset("features", data=x, chunks=(10_000, 1))
    nodes = [helper.make_node("Cast", ["X"], ["I"], to=TensorProto.INT64),
             helper.make_node("Gather", ["T", "I"], ["Y"], axis=0)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 1])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 1])],
                              [helper.make_tensor("T", TensorProto.FLOAT, [4], [0.5, 1.5, 2.5, 3.5])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "gather.onnx")
    (tmp_path / "out").mkdir()
    job = e2e.demo_job(inp, tmp_path / "out" / "scores.h5", model_path=tmp_path / "gather.onnx", run={"batch_size": 1})
    job.pop("preprocess", None)  # the demo's 30-feature preprocessing
    job = e2e.write_job(tmp_path / "job.toml", job)
    leader, follower = pty.openpty()
    with subprocess.Popen([str(e2e.BIN), "run", "--job", str(job)], cwd=tmp_path, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=follower, env={**os.environ, **e2e.MPI_ENV},
                          start_new_session=True) as p:
        os.close(follower)
        seen = _read_to_close(leader, b"")
        rc = p.wait(timeout=120)
    os.close(leader)
    text = seen.decode(errors="replace")
    assert rc == 2, f"exit {rc} (an index out of range is bad input: 2)\n{text[-2000:]}"
    error = _assert_one_error_line_after_live_progress(text)
    assert "99" in text[error:], repr(text[error:])
