"""End-to-end tests of the shardscore binary: helpers and fixtures.

Binary: $SHARDSCORE_BIN, default <repo>/build/shardscore (the suite is skipped when it is missing).
Backend: $SHARDSCORE_E2E_BACKEND (cpu, cuda) is added to every `run` as --backend; tools/gpu_check.sh
sets it to cuda on a GPU machine.
Seeds: fresh per session; set SHARDSCORE_E2E_SEED=<n> to repeat a run (each test prints its seed).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import time
import tomllib
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "data"))
from make_input import make_input  # noqa: E402,F401  (data/make_input.py, used by the tests)

BIN = Path(os.environ.get("SHARDSCORE_BIN", str(REPO / "build" / "shardscore"))).resolve()
BACKEND = os.environ.get("SHARDSCORE_E2E_BACKEND", "")
DEMO_MODEL = REPO / "data" / "demo_mlp.onnx"
DEMO_JOB = REPO / "jobs" / "demo.toml"
TIMEOUT_S = 300
MPI_ENV = {"OMPI_MCA_btl_vader_single_copy_mechanism": "none"}
# For run_job's jobs, which nobody signals: at a rank's non-zero exit, Open MPI 4.1's mpirun sends the ranks it
# has not yet reaped SIGCONT, sleeps odls_base_sigkill_timeout seconds (default 1), sends SIGTERM, sleeps again,
# then SIGKILL: 2 s idle per failing job, two thirds of test_errors.py's time. A job's agreed failure ends every
# rank after MPI_Finalize, a fence that each rank reaches after its cleanup, so no rank is still at work by then;
# at 0, one that were (an MPI_Abort, a crash) would be killed at once rather than a second later. Runs that signal
# mpirun keep the default: on SIGTERM it ends the job the same way, and the ranks' clean stop needs the grace.
NO_KILL_GRACE = {"OMPI_MCA_odls_base_sigkill_timeout": "0"}
ERROR_PREFIX = "shardscore: error:"
DEMO_OUTPUTS = ("label", "probabilities")

_env_seed = os.environ.get("SHARDSCORE_E2E_SEED")
BASE_SEED = int(_env_seed) if _env_seed else random.SystemRandom().randrange(2**31)


# ---- collection ---------------------------------------------------------------------------------

def _binary_ok() -> bool:
    return BIN.is_file() and os.access(BIN, os.X_OK)


def pytest_report_header(config):
    return [f"shardscore e2e: binary {BIN} ({'found' if _binary_ok() else 'MISSING'}), "
            f"SHARDSCORE_E2E_SEED={BASE_SEED}"]


def pytest_collection_modifyitems(config, items):
    if _binary_ok():
        return
    skip = pytest.mark.skip(
        reason=f"shardscore binary not found at {BIN}: build it (cmake --build build) or set SHARDSCORE_BIN")
    here = Path(__file__).resolve().parent
    for item in items:
        if here == Path(item.path).resolve().parent or here in Path(item.path).resolve().parents:
            item.add_marker(skip)


# ---- seeds --------------------------------------------------------------------------------------

def _derive_seed(label: str) -> int:
    return (BASE_SEED + zlib.crc32(label.encode())) % 2**31


@pytest.fixture
def seed(request) -> int:
    s = _derive_seed(request.node.nodeid)
    print(f"[seed] {request.node.nodeid}: seed {s} (SHARDSCORE_E2E_SEED={BASE_SEED})")
    return s


@pytest.fixture
def rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---- running the binary -------------------------------------------------------------------------

def run_job(np_: int | None, args, *, cwd=None, timeout: float = TIMEOUT_S, env=None, unset=(),
            mpirun_args=(), prefix=(), rank_prefix=(), prefixed_rank: int = 0, wdirs=()) -> subprocess.CompletedProcess:
    """Run `shardscore <args>` under `mpirun [mpirun_args] -np np_`, or directly (MPI singleton) when np_ is None.
    prefix: a command the binary runs under (e.g. prlimit --nofile=16), on each rank after mpirun's own arguments,
    so mpirun itself is left out of it; rank_prefix: one that rank `prefixed_rank` alone runs under, before prefix; wdirs: each
    rank's own working folder (np_ of them; relative paths then name other files on each rank, as a node's own disk
    does). Both use mpirun's MPMD form (np_ >= 2). env: variables added to the environment (every rank's: mpirun's
    -x would reach only the first of the MPMD programs); unset: variables taken out of it. A run past `timeout` s
    fails the test."""
    cmd = [*map(str, prefix), str(BIN), *map(str, args)]
    if BACKEND and list(map(str, args))[:1] == ["run"]:
        cmd += ["--backend", BACKEND]
    assert rank_prefix or prefixed_rank == 0, "prefixed_rank without a rank_prefix"
    if rank_prefix or wdirs:
        assert np_ is not None and np_ >= 2 and len(wdirs) in (0, np_), "the MPMD form needs mpirun, 2 ranks or more, a folder each"
        assert 0 <= prefixed_rank < np_
        pr = prefixed_rank
        groups = ([(r, 1) for r in range(np_)] if wdirs else  # (first rank, ranks)
                  [(f, n) for f, n in ((0, pr), (pr, 1), (pr + 1, np_ - pr - 1)) if n > 0])
        apps = [["-np", str(n), *(["--wdir", str(wdirs[r])] if wdirs else []), *(map(str, rank_prefix) if r == pr else []), *cmd]
                for r, n in groups]
        cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", *mpirun_args, *apps[0]]
        for app in apps[1:]:
            cmd += [":", *app]
    elif np_ is not None:
        cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", *mpirun_args, "-np", str(np_), *cmd]
    full_env = {**os.environ, **MPI_ENV, **NO_KILL_GRACE, **(env or {})}
    for name in unset:
        full_env.pop(name, None)
    t0 = time.monotonic()
    with subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, encoding="utf-8", errors="replace", start_new_session=True) as p:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            print(f"$ {shlex.join(cmd)}\n--- stdout\n{out[-4000:]}\n--- stderr\n{err[-4000:]}")
            pytest.fail(f"timed out after {timeout} s: {shlex.join(cmd)}")
    dt = time.monotonic() - t0
    print(f"$ {shlex.join(cmd)}\n-> exit {p.returncode} in {dt:.1f} s\n"
          f"--- stdout\n{out[-4000:]}--- stderr\n{err[-4000:]}---")
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def raise_limit_until_success(limits, run, out_folder, errno_text=None):
    """Runs the job under each limit in turn (run(limit) -> CompletedProcess), from one at which it cannot start to
    the first at which it succeeds, and returns (that run, [(limit, run) of each failure]). A failed run must leave
    nothing in `out_folder`, and each error line of the job's own (not MPI's start-up ones) must name `errno_text`
    when given. Fails the test when no limit lets the job succeed."""
    failures = []
    for limit in limits:
        p = run(limit)
        left = listing(out_folder)
        print(f"--- limit {limit}: exit {p.returncode}, left {left}")
        if p.returncode == 0:
            return p, failures
        assert left == [], f"limit {limit}: exit {p.returncode} but the output folder holds {left}:\n{p.stderr[-3000:]}"
        for line in error_lines(p.stderr) if errno_text else ():
            assert errno_text in line, f"limit {limit}: {line}"
        failures.append((limit, p))
    pytest.fail(f"the job did not succeed under any limit up to {limits[-1]}")


def rank_folders(tmp_path, ranks: int = 2) -> list[Path]:
    """A working folder for each rank (run_job's wdirs), as if each ran on a node of its own: a relative path
    names another file on each."""
    folders = [Path(tmp_path) / f"node_{r}" for r in range(ranks)]
    for f in folders:
        f.mkdir()
    return folders


@functools.cache
def has_parquet() -> bool:
    """Whether this build reads and writes Parquet (its --version lists it)."""
    return "parquet" in run_job(None, ["--version"]).stdout


def signal_mid_run(cmd, sig, *, cwd, timeout: float = 60) -> subprocess.CompletedProcess:
    """Start `cmd` (a job that prints progress lines) in a process group of its own, wait for its first
    progress line (it is then scoring), send `sig` (or each of a list of signals, back to back) to the whole
    group, as Slurm does (20 ms apart), and wait for the end. Fails the test when no progress line comes or the job does
    not end within `timeout` s of the signal."""
    cmd = [str(c) for c in cmd]
    with subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **MPI_ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, errors="replace", start_new_session=True) as p:
        seen = []
        for line in p.stderr:  # ends early at the first progress line, or at the end of the job
            seen.append(line)
            if " scored " in line:
                break
        if not any(" scored " in ln for ln in seen):
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            pytest.fail(f"no progress line from {shlex.join(cmd)}:\n{''.join(seen)[-4000:]}")
        for k, s in enumerate(sig if isinstance(sig, (list, tuple)) else [sig]):
            if k:
                time.sleep(0.02)  # delivered one by one (a signal still pending would merge with the next)
            os.killpg(p.pid, s)
        try:
            out, rest = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            pytest.fail(f"the job did not end within {timeout} s of signal {sig}")
    proc = subprocess.CompletedProcess(cmd, p.returncode, out, "".join(seen) + rest)
    print(f"$ {shlex.join(cmd)}\n-> signal {sig}, exit {p.returncode}\n--- stderr\n{proc.stderr[-4000:]}---")
    return proc


# ---- job files ----------------------------------------------------------------------------------

def load_demo_job() -> dict:
    with open(DEMO_JOB, "rb") as f:
        return tomllib.load(f)


def _toml_value(v) -> str:
    if isinstance(v, dict):  # an inline table, e.g. input.datasets
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, (str, Path)):
        return json.dumps(str(v))
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML for {type(v)}")


def dump_toml(job: dict) -> str:
    parts = []
    for section, table in job.items():
        parts.append(f"[{section}]")
        parts.extend(f"{key} = {_toml_value(val)}" for key, val in table.items())
        parts.append("")
    return "\n".join(parts)


def write_job(path: Path, job: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_toml(job))
    return path


def demo_job(input_path, output_path, model_path=DEMO_MODEL, **sections) -> dict:
    """jobs/demo.toml with absolute paths; sections={'run': {'shard_rows': 5000}, ...} update it."""
    job = load_demo_job()
    job["input"]["path"] = str(input_path)
    job["model"]["path"] = str(model_path)
    job["output"]["path"] = str(output_path)
    for section, updates in sections.items():
        job.setdefault(section, {}).update(updates)
    return job


def make_job(job_path, input_path, output_path, model_path=DEMO_MODEL, **sections) -> Path:
    """Write the demo job with these paths (and section updates, e.g. run={...}) to job_path.
    Creates the output's folder (shardscore requires it to exist)."""
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    return write_job(job_path, demo_job(input_path, output_path, model_path, **sections))


# ---- input data ---------------------------------------------------------------------------------

def read_input(path, dataset="/features") -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f[dataset][...]


# ---- outputs ------------------------------------------------------------------------------------

def _attr_value(v):
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.shape in ((), (1,)):
        return _attr_value(v.reshape(-1)[0])
    return v


def read_output(path) -> tuple[dict, dict]:
    """(datasets {name: array}, root attributes {name: value}) of an output file."""
    with h5py.File(path, "r") as f:
        datasets = {name: f[name][...] for name in f.keys() if isinstance(f[name], h5py.Dataset)}
        attrs = {k: _attr_value(v) for k, v in f.attrs.items()}
    return datasets, attrs


def report_path(output_path) -> Path:
    return Path(str(output_path) + ".report.json")


def read_report(output_path) -> dict:
    return json.loads(report_path(output_path).read_text())


def sha256_file(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def listing(folder) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir())


# ---- the oracle: numpy preprocessing + ONNX Runtime ---------------------------------------------

def preprocess(raw: np.ndarray, pp: dict) -> np.ndarray:
    """shardscore's preprocessing, in float32: impute NaN, (x - mean) / std, clip."""
    x = np.asarray(raw).astype(np.float32)
    if "impute" in pp:
        imp = np.broadcast_to(np.asarray(pp["impute"], dtype=np.float32), x.shape)
        x = np.where(np.isnan(x), imp, x)
    if "mean" in pp:
        x = x - np.asarray(pp["mean"], dtype=np.float32)
    if "std" in pp:
        x = x / np.asarray(pp["std"], dtype=np.float32)
    if "clip_min" in pp:
        x = np.maximum(x, np.float32(pp["clip_min"]))
    if "clip_max" in pp:
        x = np.minimum(x, np.float32(pp["clip_max"]))
    return x.astype(np.float32)


_sessions: dict = {}


def ort_session(model_path=DEMO_MODEL):
    import onnxruntime as ort
    key = str(model_path)
    if key not in _sessions:
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        _sessions[key] = ort.InferenceSession(key, so, providers=["CPUExecutionProvider"])
    return _sessions[key]


def oracle(raw: np.ndarray, job: dict | None = None, model_path=DEMO_MODEL) -> dict:
    """Expected outputs {name: array} for raw input rows under job['preprocess'] (default: demo job)."""
    job = job if job is not None else load_demo_job()
    x = preprocess(raw, job.get("preprocess", {}))
    sess = ort_session(model_path)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: x})))


def assert_close(actual: np.ndarray, expected: np.ndarray, name: str, rel=1e-5, abs_=1e-7):
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != expected {expected.shape}"
    a = actual.astype(np.float64)
    b = expected.astype(np.float64)
    bad = ~(np.abs(a - b) <= rel * np.abs(b) + abs_)
    if bad.any():
        idx = np.argwhere(bad)[:5]
        detail = ", ".join(f"{tuple(i)}: {a[tuple(i)]!r} vs {b[tuple(i)]!r}" for i in idx)
        pytest.fail(f"{name}: {int(bad.sum())} of {a.size} values differ beyond {rel}*|b|+{abs_}: {detail}")


def assert_matches_demo_oracle(datasets: dict, raw: np.ndarray, job: dict | None = None, both_labels=True, rel=1e-5):
    """Demo-model outputs vs ONNX Runtime: probabilities to `rel` relative (1e-5), labels exact where ONNX
    Runtime's probability is not within `rel` of 0.5."""
    expected = oracle(raw, job)
    rows = raw.shape[0]
    for name in DEMO_OUTPUTS:
        assert name in datasets, f"output dataset /{name} missing (have {sorted(datasets)})"
    label, proba = datasets["label"], datasets["probabilities"]
    assert proba.dtype == np.float32, f"/probabilities dtype {proba.dtype}, want float32"
    assert label.dtype == np.int64, f"/label dtype {label.dtype}, want int64"
    assert proba.shape == (rows, 2), f"/probabilities shape {proba.shape}, want {(rows, 2)}"
    assert label.shape == (rows,), f"/label shape {label.shape}, want {(rows,)}"
    assert np.isfinite(proba).all(), "NaN/Inf in /probabilities"
    assert np.any(proba != 0), "/probabilities is all zeros"
    # Absolute slack of 2 ulp at 1.0: class 0 is 1 - p, so a 1-ulp difference in p near 1 (a sigmoid
    # rounded differently from ONNX Runtime's) shows as ~1.2e-7 absolute in 1 - p.
    assert_close(proba, expected["probabilities"], "probabilities", rel=rel, abs_=2.5e-7)
    # A label may legitimately flip only where ORT's own probability sits within tolerance of 0.5.
    ambiguous = np.abs(expected["probabilities"][:, 1].astype(np.float64) - 0.5) <= rel
    assert ambiguous.sum() <= max(2, rows // 1000), f"{int(ambiguous.sum())} rows with p ~ 0.5: check the data"
    diff = (label != expected["label"]) & ~ambiguous
    assert not diff.any(), (f"/label differs from ONNX Runtime in {int(diff.sum())} rows, "
                            f"first {np.flatnonzero(diff)[:10].tolist()}")
    if both_labels:
        assert len(np.unique(label)) == 2, f"degenerate labels {np.unique(label)}: test data too easy?"


def assert_row_index(datasets: dict, rows: int):
    assert "row_index" in datasets, f"/row_index missing (have {sorted(datasets)})"
    ri = datasets["row_index"]
    assert ri.dtype == np.int64, f"/row_index dtype {ri.dtype}, want int64"
    assert np.array_equal(ri, np.arange(rows, dtype=np.int64)), "/row_index != 0..rows-1"


# ---- errors -------------------------------------------------------------------------------------

# mpirun's own notices when ranks exit non-zero (not shardscore's to avoid); MPI_ABORT's is not here.
_MPIRUN_BLOCK = re.compile(r"^-{20,}\n(.*?)^-{20,}\n?", re.M | re.S)
_MPIRUN_NOTICES = ("Primary job  terminated normally", "Primary job terminated normally",
                   "mpirun detected that one or more processes exited with non-zero status")


# shardscore's own progress lines ("[shardscore 12:34:56] ...") may precede an error raised mid-run.
_LOG_LINE = re.compile(r"^\[shardscore [0-9:]+\] ")


def strip_mpirun_notices(stderr: str) -> str:
    return _MPIRUN_BLOCK.sub(lambda m: "" if any(n in m.group(1) for n in _MPIRUN_NOTICES) else m.group(0),
                             stderr)


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ERROR_PREFIX in ln]


def assert_single_error(proc: subprocess.CompletedProcess, *needles: str, patterns=(), strict=True) -> str:
    """Exactly one `shardscore: error: ...` line on stderr naming every needle; strict: nothing else but
    mpirun's own notice."""
    errs = error_lines(proc.stderr)
    assert len(errs) == 1, f"want exactly one '{ERROR_PREFIX}' line on stderr, got {len(errs)}:\n{proc.stderr}"
    line = errs[0]
    assert line.startswith(ERROR_PREFIX + " "), f"error line does not start with '{ERROR_PREFIX} ': {line!r}"
    for needle in needles:
        assert str(needle) in line, f"error line does not name {needle!r}: {line!r}"
    for pat in patterns:
        assert re.search(pat, line), f"error line does not match {pat!r}: {line!r}"
    if not strict:
        return line
    rest = strip_mpirun_notices(proc.stderr)
    other = [ln for ln in rest.splitlines() if ln.strip() and ln != line and not _LOG_LINE.match(ln)]
    assert not other, "stderr has more than the one error line:\n" + "\n".join(other[:40])
    return line


def score_rows(tmp_path, onnx_model, x, ranks: int, batch: int, shard_rows: int, chunk_rows: int,
               outputs: list | None = None) -> dict:
    """Scores the rows x (one 2-D HDF5 dataset, /X) with onnx_model through the whole job at `ranks` ranks, writing
    `outputs` (default all); asserts that it succeeded without an error line and covered every row; returns the
    output datasets by name. For tests that then compare them with an oracle of their own."""
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    model_path = tmp_path / "model.onnx"
    model_path.write_bytes(onnx_model.SerializeToString())
    inp, out = tmp_path / "in.h5", tmp_path / "out" / "scores.h5"
    with h5py.File(inp, "w") as f:
        f.create_dataset("/X", data=x, chunks=(chunk_rows, x.shape[1]))
    out.parent.mkdir(parents=True, exist_ok=True)
    job = {"input": {"path": str(inp), "dataset": "/X"}, "model": {"path": str(model_path)},
           "output": {"path": str(out), "overwrite": True},
           "run": {"batch_size": batch, "shard_rows": shard_rows}, "checks": {"max_missing_fraction": 1.0}}
    if outputs:
        job["output"]["outputs"] = outputs
    p = run_job(ranks, ["run", "--job", write_job(tmp_path / "job.toml", job)], cwd=tmp_path)
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stderr[-3000:]}"
    assert not error_lines(p.stderr), p.stderr
    datasets, attrs = read_output(out)
    assert int(attrs["num_ranks"]) == ranks and int(attrs["num_rows"]) == x.shape[0]
    return datasets


# ---- the helpers as one fixture (tests use e2e.<helper>, no conftest imports) -------------------

@pytest.fixture(scope="session")
def e2e():
    return sys.modules[__name__]
