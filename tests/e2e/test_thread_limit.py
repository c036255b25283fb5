"""A cap on the threads a job may start (ulimit -u, a cgroup's pids.max): the exit code tells the truth.
A job that committed its output exits 0 (it aborted with 134 at run.threads = 1 when oneTBB started a
worker at teardown and pthread_create was refused); a job that could not run exits non-zero and leaves
no output or report.

The cap is RLIMIT_NPROC, which counts every task of the user and which root ignores: the job runs as an
otherwise unused uid (setpriv, needs root), in a folder it may write, under each limit from a few tasks
up to the first one at which it succeeds. OpenMP and OpenBLAS are held to one thread, so that the job's
own threads (MPI's, oneTBB's) decide where that is, except in one scan that leaves the environment as a
user's is. Skipped where the mechanism is missing or the limit is not enforced."""
import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROWS = 20_000
FIRST_LIMIT, LAST_LIMIT = 2, 40
BASE_UID = 47_000      # uids BASE_UID + limit: no task of theirs but the job's counts against the limit
TIMEOUT_S = 120


def _closed_to_others(path: Path, run: bool = False) -> str | None:
    """Why a user neither owner nor in the group (the job's uid) cannot read (run: and execute) `path`: the first
    folder on its way that others may not enter, or the file's own mode; None when they can."""
    for folder in reversed(path.parents):
        mode = folder.stat().st_mode
        if not mode & 0o001:
            return f"others may not enter {folder} (mode {stat.filemode(mode)})"
    mode = path.stat().st_mode
    need = 0o005 if run else 0o004
    if mode & need != need:
        return f"others may not {'read and execute' if run else 'read'} {path} (mode {stat.filemode(mode)})"
    return None


def _as_uid(uid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]


def _uid_busy(uid: int) -> bool:
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.stat(f"/proc/{d}").st_uid == uid:
                    return True
            except FileNotFoundError:
                pass
    return False


@pytest.fixture
def shared_dir(e2e):
    """A folder that an unprivileged uid may read and write (pytest's tmp_path is root's alone)."""
    if os.geteuid() != 0:
        pytest.skip("running the job as another uid under RLIMIT_NPROC needs root (setpriv)")
    for tool in ("setpriv", "prlimit"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} (util-linux) is not installed")
    for path, what, run in ((e2e.BIN, "run the shardscore binary", True), (e2e.DEMO_MODEL, "read the model", False)):
        blocked = _closed_to_others(Path(path), run)
        if blocked:
            pytest.fail(f"the job runs as an unprivileged uid (root is not held to RLIMIT_NPROC), which cannot {what} "
                        f"{path}: {blocked}. Let other users in (chmod o+x on the folders, o+r on the model, o+rx on the binary) "
                        f"or check the repository out where they may; else every limit fails alike and the scan "
                        f"proves nothing")
    p = e2e.run_job(None, ["--version"], prefix=_as_uid(BASE_UID))  # its libraries too (.venv's pyarrow)
    if p.returncode != 0:
        pytest.fail(f"the job runs as an unprivileged uid (root is not held to RLIMIT_NPROC), which cannot start "
                    f"{e2e.BIN} (exit {p.returncode}): {p.stderr.strip()[-1500:]}")
    d = Path(tempfile.mkdtemp(prefix="shardscore-nproc-"))
    d.chmod(0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _run_limited(e2e, job_path, limit: int, caps: bool = True) -> subprocess.CompletedProcess:
    """The job as uid BASE_UID + limit under RLIMIT_NPROC = limit (limit 0: that uid, no limit); caps: with
    OMP_NUM_THREADS and OPENBLAS_NUM_THREADS at 1."""
    uid = BASE_UID + limit
    for _ in range(50):  # a job of this uid from an earlier run may still be ending
        if not _uid_busy(uid):
            break
        time.sleep(0.1)
    d = Path(job_path).parent
    p = e2e.run_job(None, ["run", "--job", job_path], cwd=d, timeout=TIMEOUT_S,
                    prefix=_as_uid(uid) + (["prlimit", f"--nproc={limit}"] if limit else []),
                    env={"TMPDIR": str(d), **({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"} if caps else {})},
                    unset=() if caps else ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"))
    print(f"--- limit {limit or 'none'}: exit {p.returncode}")
    return p


def _job(e2e, d: Path, threads: int, seed: int) -> tuple[Path, Path]:
    e2e.make_input(d / "in.h5", ROWS, chunk_rows=4096, seed=seed)
    out = d / "out" / "scores.h5"
    job = e2e.make_job(d / "job.toml", d / "in.h5", out,
                       run={"threads": threads, "shard_rows": 8192, "batch_size": 1024})
    for p in (d / "in.h5", job):
        p.chmod(0o644)
    out.parent.chmod(0o777)
    return job, out


def _scan(e2e, d: Path, threads: int, seed: int, caps: bool = True) -> list[tuple[int, subprocess.CompletedProcess]]:
    """Runs the job at each limit, from one at which it cannot start to the first at which it succeeds;
    asserts at each: exit 0 with a complete output, or non-zero with nothing in the output folder (never a
    committed output and an abort, nor an exit that reads as Ctrl-C). Returns the failed runs (limit, process)."""
    job, out = _job(e2e, d, threads, seed)
    first = _run_limited(e2e, job, FIRST_LIMIT, caps)
    if first.returncode == 0:
        pytest.skip(f"RLIMIT_NPROC={FIRST_LIMIT} is not enforced here: the job ran anyway")
    failures = []
    for limit in range(FIRST_LIMIT, LAST_LIMIT + 1):
        p = first if limit == FIRST_LIMIT else _run_limited(e2e, job, limit, caps)
        left = e2e.listing(out.parent)
        if p.returncode == 0:
            assert left == sorted([out.name, e2e.report_path(out).name]), left
            datasets, attrs = e2e.read_output(out)
            assert int(attrs["num_rows"]) == ROWS
            e2e.assert_matches_demo_oracle(datasets, e2e.read_input(d / "in.h5"))
            assert e2e.read_report(out)["exit_code"] == 0
            assert "terminate called" not in p.stderr and "pthread_create" not in p.stderr, p.stderr[-3000:]
            break
        assert p.returncode not in (134, -6) and "terminate called" not in p.stderr, (
            f"limit {limit}: the job aborted (exit {p.returncode}):\n{p.stderr[-3000:]}")
        assert left == [], f"limit {limit}: exit {p.returncode} but the output folder holds {left}"
        # OpenBLAS's pthread build raises SIGINT when its pool (started as the library loads) is refused a
        # thread: the job ended as if interrupted (130), or went on and crashed. The binaries run its serial build.
        assert p.returncode not in (130, -2, 139, -11) and "blas_thread_init" not in p.stderr, (
            f"limit {limit}: exit {p.returncode}, as if interrupted or crashed:\n{p.stderr[-3000:]}")
        failures.append((limit, p))
    else:
        free = _run_limited(e2e, job, 0, caps)
        why = (f"it fails without a limit too (exit {free.returncode}): {free.stderr.strip()[-1500:]}"
               if free.returncode else "it succeeds without a limit")
        pytest.fail(f"the job did not succeed under any limit up to {LAST_LIMIT} tasks; {why}")
    return failures


@pytest.fixture(scope="module")
def scan_once():
    """_scan, run once per run.threads in this module: both tests below need the scan at threads = 2 (about 10 s
    of jobs), and the second one takes the first one's result, or what ended it (a failure, a skip) again."""
    done: dict = {}

    def scan(e2e, d: Path, threads: int, seed: int, caps: bool = True):
        if (threads, caps) in done:
            print(f"the scan at run.threads = {threads} already ran in this module: its result is used")
        else:
            try:
                done[threads, caps] = (True, _scan(e2e, d, threads, seed, caps))
            except (Exception, pytest.skip.Exception, pytest.fail.Exception) as e:
                done[threads, caps] = (False, e)
        ok, value = done[threads, caps]
        if not ok:
            raise value
        return value
    return scan


@pytest.mark.parametrize("threads", [1, 2])
def test_exit_code_agrees_with_output_under_a_thread_limit(e2e, shared_dir, scan_once, seed, threads):
    """Whatever the limit, a committed output means exit 0 and a non-zero exit means no output. At
    run.threads = 1 the job needs no oneTBB worker, and asks for none at teardown either."""
    scan_once(e2e, shared_dir, threads, seed)


def test_libraries_refused_a_thread_never_read_as_ctrl_c(e2e, shared_dir, scan_once, seed):
    """With the environment a user has (OpenMP and OpenBLAS free to size their pools), a limit that refuses some
    library its thread fails the job with an exit that says so, never 130 as if someone pressed Ctrl-C (the
    scan asserts it at every limit): OpenBLAS's pthread build raises SIGINT then, from the moment it loads."""
    scan_once(e2e, shared_dir, 1, seed, caps=False)


def test_refused_worker_thread_fails_the_job(e2e, shared_dir, scan_once, seed):
    """At run.threads = 2 on a machine of 2 cores or more, a limit that lets the job start but refuses its
    oneTBB worker is a real failure: exit 1, one error line naming pthread_create, the limit and the key that
    lowers the threads, nothing written. (The job checks that the workers can start before the pipeline:
    with three workers or more, oneTBB starts some from a worker, where a refusal aborts. This machine's
    cores may not allow that many; tests/common/test_process_limits.cpp shows the check against oneTBB itself.)"""
    if (os.cpu_count() or 1) < 2 or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: the job runs one thread and has no worker to be refused")
    failures = scan_once(e2e, shared_dir, 2, seed)
    refused = [(limit, p) for limit, p in failures if "pthread_create" in p.stderr]
    if not refused:
        pytest.skip("no limit refused the worker alone (MPI or another library needed the last task): "
                    f"failed at {[limit for limit, _ in failures]}")
    for limit, p in refused:
        assert p.returncode == 1, f"limit {limit}: exit {p.returncode}"
        e2e.assert_single_error(p, "pthread_create", "oneTBB worker thread", "ulimit -u", "run.threads", strict=False)
