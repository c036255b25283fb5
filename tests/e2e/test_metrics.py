"""metrics.pushgateway: the run's outcome pushed to a real Prometheus Pushgateway (Debian's
prometheus-pushgateway, started by this module on 127.0.0.1 and stopped by pid). The gateway itself
is the oracle of the format: it refuses a push it cannot parse, and what it then serves on /metrics
is what Prometheus would scrape. Values are checked against the report and the input."""
from __future__ import annotations

import math
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import numpy as np
import pytest

SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<labels>[^}]*)\} (?P<value>\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(exe, log):
    """The gateway on a free loopback port: (process, url); tried again on another port when the
    port was taken between choosing it and the gateway binding it."""
    for _ in range(3):
        port = _free_port()
        with open(log, "w") as f:
            # Loopback only, nothing persisted (Debian's default persistence file would carry groups from
            # one test run into the next).
            p = subprocess.Popen([exe, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="],
                                 stdout=f, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while p.poll() is None and time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url + "/-/ready", timeout=2)
                return p, url
            except OSError:
                time.sleep(0.2)
        p.kill()
        p.wait()
    pytest.fail(f"the pushgateway did not start:\n{log.read_text()}")


class Gateway:
    def __init__(self, url: str):
        self.url = url

    def scrape(self) -> dict[tuple[str, str, str], float]:
        """{(metric, job, instance): value} of every shardscore_* and push_time_seconds sample."""
        text = urllib.request.urlopen(self.url + "/metrics", timeout=10).read().decode()
        out = {}
        for line in text.splitlines():
            m = SAMPLE.match(line)
            if m and (m["name"].startswith("shardscore_") or m["name"] == "push_time_seconds"):
                labels = dict(LABEL.findall(m["labels"]))
                out[(m["name"], labels.get("job"), labels.get("instance"))] = float(m["value"])
        return out

    def group(self, job: str, instance: str) -> dict[str, float]:
        return {name: v for (name, j, i), v in self.scrape().items() if (j, i) == (job, instance)}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    exe = shutil.which("prometheus-pushgateway")
    if exe is None:
        pytest.skip("prometheus-pushgateway is not installed (scripts/setup.sh installs it)")
    p, url = _start(exe, tmp_path_factory.mktemp("pushgateway") / "pushgateway.log")
    try:
        yield Gateway(url)
    finally:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_with_metrics(e2e, tmp_path, gateway, job_path, instance, np_=None, extra=()):
    t0 = time.time()
    p = e2e.run_job(np_, ["run", "--job", job_path, "--set", f'metrics.pushgateway="{gateway.url}"',
                          "--set", f'metrics.instance="{instance}"', *extra], cwd=tmp_path)
    return p, t0, time.time()


def test_a_run_pushes_its_outcome(e2e, tmp_path, gateway, seed):
    """Success at 2 ranks; then a failing run under the same labels keeps the last success's time."""
    rows = 30_000
    inp = e2e.make_input(tmp_path / "in.h5", rows, chunk_rows=2048, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "nightly.toml", inp, out, run={"shard_rows": 8192})
    instance = "nightly run/eu"  # a space and a slash: pushed base64-encoded
    p, t0, t1 = run_with_metrics(e2e, tmp_path, gateway, job, instance, np_=2)
    assert p.returncode == 0, p.stderr
    assert "warning" not in p.stderr, p.stderr
    rep = e2e.read_report(out)
    g = gateway.group("shardscore", instance)
    assert g["shardscore_exit_code"] == 0
    assert g["shardscore_ranks"] == 2 == rep["ranks"]
    assert g["shardscore_input_rows"] == rows == rep["input"]["rows"]
    assert g["shardscore_rows_scored"] == rows == rep["rows_scored"]
    assert g["shardscore_rows_written"] == rows
    assert g["shardscore_shards"] == len(rep["shards"]) == 4
    assert g["shardscore_shards_failed_checks"] == 0
    assert t0 - 1 <= g["shardscore_last_run_timestamp_seconds"] <= t1 + 1
    assert g["shardscore_last_success_timestamp_seconds"] == g["shardscore_last_run_timestamp_seconds"]
    assert 0 < g["shardscore_duration_seconds"] <= t1 - t0
    success_time = g["shardscore_last_success_timestamp_seconds"]

    # The same job with its input gone: exit 2 pushed, nothing known of the input, the success kept.
    missing = tmp_path / "gone.h5"
    p, t0, t1 = run_with_metrics(e2e, tmp_path, gateway, job, instance, np_=2,
                                 extra=("--input", missing, "--set", "output.overwrite=true"))
    assert p.returncode == 2, p.stderr
    e2e.assert_single_error(p, str(missing), strict=False)
    g = gateway.group("shardscore", instance)
    assert g["shardscore_exit_code"] == 2
    assert math.isnan(g["shardscore_input_rows"]) and math.isnan(g["shardscore_shards"])
    assert g["shardscore_rows_scored"] == 0 and g["shardscore_rows_written"] == 0
    assert t0 - 1 <= g["shardscore_last_run_timestamp_seconds"] <= t1 + 1
    assert g["shardscore_last_success_timestamp_seconds"] == success_time


def test_a_job_file_that_fails_to_load_pushes_exit_2(e2e, tmp_path, gateway, seed):
    """A nightly job file with a typo in a key, or a bad --set value, names its gateway: the failure is pushed
    (it pushed nothing, and the gateway kept the last night's exit code 0 for an alert to see)."""
    inp = e2e.make_input(tmp_path / "in.h5", 2000, chunk_rows=1000, seed=seed)
    job = e2e.make_job(tmp_path / "typo.toml", inp, tmp_path / "out" / "scores.h5",
                       metrics={"pushgateway": gateway.url, "job": "loading"})
    p = e2e.run_job(None, ["run", "--job", job], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert gateway.group("loading", "typo")["shardscore_exit_code"] == 0
    text = job.read_text().replace("max_inf_fraction", "max_inf_fracton")
    job.write_text(text)
    p = e2e.run_job(None, ["run", "--job", job], cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    e2e.assert_single_error(p, "max_inf_fracton", strict=False)
    g = gateway.group("loading", "typo")
    assert g["shardscore_exit_code"] == 2 and math.isnan(g["shardscore_input_rows"]), g
    assert "shardscore_last_success_timestamp_seconds" in g, "the last success is kept"
    # The pushgateway and labels given by --set, the error elsewhere in the file: pushed too.
    p = run_with_metrics(e2e, tmp_path, gateway, job, "typo via set")[0]
    assert p.returncode == 2, p.stderr
    assert gateway.group("loading", "typo via set")["shardscore_exit_code"] == 2


def test_a_failed_check_pushes_exit_3(e2e, tmp_path, gateway, seed, rng):
    rows = 12_000
    inp = e2e.make_input(tmp_path / "in.h5", rows, chunk_rows=1000, missing_fraction=0.0, seed=seed)
    with e2e.h5py.File(inp, "r+") as f:
        col = f["/features"][:, 3]
        col[:4000][rng.random(4000) < 0.5] = np.nan  # the first shard only
        f["/features"][:, 3] = col
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"shard_rows": 4000})
    p, _, _ = run_with_metrics(e2e, tmp_path, gateway, job, "quality", extra=("--set", "checks.max_missing_fraction=0.1"))
    assert p.returncode == 3, p.stderr
    rep = e2e.read_report(out)
    g = gateway.group("shardscore", "quality")
    assert g["shardscore_exit_code"] == 3
    assert g["shardscore_shards_failed_checks"] == sum(s["verdict"] == "fail" for s in rep["shards"]) == 1
    assert g["shardscore_rows_written"] == rows
    assert "shardscore_last_success_timestamp_seconds" not in g, "a failed check is not a success"


def test_sigterm_pushes_143_and_the_rows_done(e2e, tmp_path, gateway, seed):
    rows = 300_000
    inp = e2e.make_input(tmp_path / "in.h5", rows, chunk_rows=10_000, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"batch_size": 1, "progress_interval": 0.2},
                       metrics={"pushgateway": gateway.url, "job": "signals"})
    p = e2e.signal_mid_run([e2e.BIN, "run", "--job", job], signal.SIGTERM, cwd=tmp_path)
    assert p.returncode == 143, p.stderr
    line = next(ln for ln in p.stderr.splitlines() if "stopped by SIGTERM" in ln)
    done = int(line.split(" after ")[1].split(" of ")[0])
    g = gateway.group("signals", "job")  # instance: the job file's name
    assert g["shardscore_exit_code"] == 143
    assert g["shardscore_input_rows"] == rows
    assert g["shardscore_rows_scored"] == done and 0 < done < rows
    assert g["shardscore_rows_written"] == 0


def test_sigterm_to_one_rank_pushes_143(e2e, tmp_path, gateway, seed):
    """SIGTERM to rank 1 alone (a node's own kill): every rank stops, and rank 0 pushes 143, where it pushed 1
    (only rank 1 had seen the signal)."""
    rows = 300_000
    inp = e2e.make_input(tmp_path / "in.h5", rows, chunk_rows=10_000, seed=seed)
    job = e2e.make_job(tmp_path / "job.toml", inp, tmp_path / "out" / "scores.h5",
                       run={"batch_size": 1, "progress_interval": 0.2}, metrics={"pushgateway": gateway.url, "job": "one rank"})
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "2", str(e2e.BIN), "run", "--job", str(job)]
    with subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, **e2e.MPI_ENV}, start_new_session=True) as p:
        for line in p.stderr:
            if " scored " in line:
                break
        rank1 = [pid for pid in _children(p.pid) if _env_of(pid).get("OMPI_COMM_WORLD_RANK") == "1"]
        assert len(rank1) == 1, f"rank 1's process not found among {_children(p.pid)}"
        os.kill(rank1[0], signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    assert p.returncode != 0, err
    assert "stopped by SIGTERM" in err, err[-3000:]
    assert gateway.group("one rank", "job")["shardscore_exit_code"] == 143


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _env_of(pid: int) -> dict[str, str]:
    try:
        raw = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
    except OSError:
        return {}
    return dict(kv.decode(errors="replace").split("=", 1) for kv in raw if b"=" in kv)


def test_an_unreachable_gateway_is_a_warning(e2e, tmp_path, seed):
    rows = 5_000
    inp = e2e.make_input(tmp_path / "in.h5", rows, chunk_rows=1000, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out)
    with socket.socket() as held:  # bound, not listening: connections are refused while it is held
        held.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{held.getsockname()[1]}"
        p = e2e.run_job(None, ["run", "--job", job, "--set", f'metrics.pushgateway="{url}"'], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    warnings = [ln for ln in p.stderr.splitlines() if ln.startswith("shardscore: warning:")]
    assert len(warnings) == 1 and url in warnings[0] and "refused" in warnings[0], p.stderr
    assert not e2e.error_lines(p.stderr)
    e2e.assert_matches_demo_oracle(e2e.read_output(out)[0], e2e.read_input(inp))
