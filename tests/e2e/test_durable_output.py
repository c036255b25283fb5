"""A finished output reaches the disk before its final name appears (common/durable.h): a node that
crashes (power loss, kernel panic) just after the rename must not leave a complete-looking output or
report whose blocks never left the page cache. Watched with strace: each file is fsync'ed before it
is renamed into place, and its folder after."""
import re
import shutil
import subprocess

import pytest

TRACE = re.compile(r'^\d+\s+(?P<call>fsync|fdatasync|rename|renameat|renameat2)\((?P<args>.*)\)\s+= 0')
FD_PATH = re.compile(r"^\d+<(?P<path>[^>]*)>")
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def traced_run(e2e, tmp_path, job) -> list[tuple[str, tuple[str, ...]]]:
    """Runs the job (one process) under strace; its successful fsync/rename calls in order, as
    ("fsync", (path,)) and ("rename", (from, to))."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (scripts/setup.sh installs it)")
    trace = tmp_path / "strace.txt"
    cmd = [strace, "-f", "-y", "-qq", "-e", "signal=none", "-s", "4096",
           "-e", "trace=fsync,fdatasync,rename,renameat,renameat2", "-o", str(trace),
           str(e2e.BIN), "run", "--job", str(job)]
    if e2e.BACKEND:
        cmd += ["--backend", e2e.BACKEND]
    p = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=e2e.TIMEOUT_S)
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stderr[-4000:]}"
    calls = []
    for line in trace.read_text().splitlines():
        m = TRACE.match(line)
        if not m:
            continue
        if m["call"] in ("fsync", "fdatasync"):
            calls.append(("fsync", (FD_PATH.match(m["args"])["path"],)))
        else:
            calls.append(("rename", tuple(QUOTED.findall(m["args"]))))
    print("\n".join(f"{c} {a}" for c, a in calls))
    return calls


def assert_flushed_then_moved(calls, final: str) -> None:
    """Some file was fsync'ed, then renamed to `final`, then `final`'s folder was fsync'ed."""
    final = str(final)
    moves = [i for i, (c, a) in enumerate(calls) if c == "rename" and a[-1] == final]
    assert moves, f"no rename to {final}"
    i = moves[-1]
    source = calls[i][1][0]
    assert ("fsync", (source,)) in calls[:i], f"{source} was renamed to {final} without an fsync before"
    folder = final.rsplit("/", 1)[0]
    assert ("fsync", (folder,)) in calls[i + 1:], f"the folder {folder} was not synced after the rename to {final}"


def test_hdf5_output_and_report_are_flushed_before_their_rename(e2e, tmp_path, seed):
    inp = e2e.make_input(tmp_path / "in.h5", 20_000, chunk_rows=4096, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out)
    calls = traced_run(e2e, tmp_path, job)
    assert_flushed_then_moved(calls, out)
    assert_flushed_then_moved(calls, e2e.report_path(out))
    e2e.assert_matches_demo_oracle(e2e.read_output(out)[0], e2e.read_input(inp))


def test_parquet_parts_manifest_and_folder_are_flushed(e2e, tmp_path, seed):
    inp = e2e.make_input(tmp_path / "in.h5", 20_000, chunk_rows=4096, seed=seed)
    out = tmp_path / "out" / "scores.parquet"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"shard_rows": 8192})
    calls = traced_run(e2e, tmp_path, job)
    # The parts and the manifest were synced, and moved, inside the temporary folder; the folder was
    # synced after its last entry (_SUCCESS) and before it moved to its final name.
    temp_folder = next(a[0] for c, a in calls if c == "rename" and a[-1] == str(out))
    parts = sorted(a[-1].rsplit("/", 1)[1] for c, a in calls if c == "rename" and a[-1].endswith(".parquet")
                   and a[-1].startswith(temp_folder + "/"))
    assert parts == [n for n in e2e.listing(out) if n.endswith(".parquet")] and len(parts) == 3, (parts, e2e.listing(out))
    for name in [*parts, "_manifest.json"]:
        assert_flushed_then_moved(calls, f"{temp_folder}/{name}")
    i_move = next(i for i, (c, a) in enumerate(calls) if c == "rename" and a[-1] == str(out))
    assert ("fsync", (temp_folder,)) in calls[:i_move], "the output folder was not synced before its move"
    assert_flushed_then_moved(calls, out)
    assert_flushed_then_moved(calls, e2e.report_path(out))


@pytest.mark.parametrize("appears", ["output", "report"])
@pytest.mark.parametrize("out_name", ["scores.h5", "scores.parquet"])
def test_an_output_that_appears_during_the_run_is_kept(e2e, tmp_path, seed, out_name, appears):
    """Without output.overwrite, an output or report that another job writes while this one runs (two nightly jobs
    given the same output path) is left as it is: this job exits 2 naming it, and leaves neither output nor report
    nor a temporary file. Both jobs exited 0 and the later one's output silently replaced the earlier one's; and
    where only the report had appeared, the job exited 2 but left its whole output in place (a Parquet folder
    with _SUCCESS) beside the other job's report, and its report's temporary file."""
    import os
    import signal
    # Long enough that the other job's file appears while this one scores (a progress line comes within 0.2 s),
    # short enough for slow machines: 300,000 rows took 106 s under strace on an AVX2-only EPYC, past the timeout.
    rows = 100_000
    inp = e2e.make_input(tmp_path / "in" / "features.h5", rows, chunk_rows=10_000, seed=seed)
    out = tmp_path / "out" / out_name
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"batch_size": 2, "progress_interval": 0.2},
                       output={"overwrite": False})
    cmd = [str(e2e.BIN), "run", "--job", str(job)]
    trace = tmp_path / "strace.txt"
    if appears == "report" and shutil.which("strace"):  # the removal of this job's output, and the folder's sync
        cmd = [shutil.which("strace"), "-f", "--seccomp-bpf", "-y", "-qq", "-e", "signal=none", "-s", "4096",
               "-e", "trace=fsync,unlink,unlinkat,rmdir", "-o", str(trace), *cmd]
    with subprocess.Popen(cmd, cwd=tmp_path, env={**os.environ, **e2e.MPI_ENV},
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True) as p:
        seen = []
        for line in p.stderr:  # scoring: the output check at start has passed
            seen.append(line)
            if " scored " in line:
                break
        assert any(" scored " in ln for ln in seen), "".join(seen)
        if appears == "report":
            e2e.report_path(out).write_text("another job's report")
        elif out_name.endswith(".parquet"):
            out.mkdir()
            (out / "theirs.txt").write_text("another job's output")
        else:
            out.write_text("another job's output")
        try:
            _, rest = p.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            raise
    proc = subprocess.CompletedProcess(p.args, p.returncode, "", "".join(seen) + rest)
    assert proc.returncode == 2, proc.stderr[-3000:]
    if appears == "report":
        report = e2e.report_path(out)
        e2e.assert_single_error(proc, f"report '{report}' appeared while this job ran",
                                "this job's output is removed again", strict=False)
        assert report.read_text() == "another job's report"
        assert sorted(x.name for x in out.parent.iterdir()) == [report.name], list(out.parent.iterdir())
        if not trace.exists():  # said, not passed over: the sync below is what this case adds
            pytest.skip("strace is not installed (scripts/setup.sh installs it): the folder's sync after the "
                        "output's removal is not checked")
        # Removed, then its folder synced: a crash after the error does not bring it back.
        calls = [ln for ln in trace.read_text().splitlines() if re.search(r"\)\s+= 0$", ln)]
        removed = [i for i, ln in enumerate(calls) if re.search(r"\b(unlink|unlinkat|rmdir)\(", ln)
                   and str(out) in QUOTED.findall(ln) + [f"{d}/{n}" for d, n in re.findall(r'<([^>]*)>, "([^"]*)"', ln)]]
        assert removed, "\n".join(calls)
        assert any(re.search(r"\bfsync\(\d+<" + re.escape(str(out.parent)) + r">\)", ln) for ln in calls[removed[-1]:]), \
            f"the folder {out.parent} was not synced after the output's removal\n" + "\n".join(calls[removed[-1]:])
        return
    e2e.assert_single_error(proc, f"output '{out}' appeared while this job ran", "set output.overwrite = true", strict=False)
    kept = out / "theirs.txt" if out_name.endswith(".parquet") else out
    assert kept.read_text() == "another job's output"
    assert sorted(x.name for x in out.parent.iterdir()) == [out_name], list(out.parent.iterdir())
