"""slurm/shardscore.sbatch under a real single-node Slurm cluster (slurmctld + slurmd + munged, Debian's
slurm-wlm 22.05), as a nightly run submits it: `sbatch` of the template as shipped, with JOB and SHARDSCORE
exported. Checks what its header promises: the job's exit code is shardscore's (0, 2 for a bad job), the
progress lines land in shardscore-<jobid>.log, srun starts one MPI rank per task (PMIx), each rank runs
--cpus-per-task threads, and scancel (SIGTERM, as at the time limit) stops the job with no output.

The cluster is this module's own: its daemons run in a network namespace of their own with only a
loopback (nothing outside this machine can reach their ports, which Slurm binds on every address), with
their own munge key, configuration, spool and logs in a temporary folder, and are stopped by pid at the
end. Skipped where Slurm, munge or iproute2 is not installed (scripts/setup.sh installs them) or where this is not
root (slurmd must be) or a network namespace cannot be made.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[2] / "slurm" / "shardscore.sbatch"
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "scontrol", "scancel", "sinfo", "nsenter", "ip")
SBIN = ("/usr/sbin", "/sbin")


def _which(name: str) -> str | None:
    return shutil.which(name) or next((f"{d}/{name}" for d in SBIN if os.access(f"{d}/{name}", os.X_OK)), None)


def _slurm_conf(root: Path, socket: Path) -> str:
    # The settings of shared/ENVIRONMENT.md's verified recipe; KillWait as Slurm's default (30 s): the
    # time the job has between SIGTERM and SIGKILL, which the template's header quotes.
    return f"""ClusterName=shardscore-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={socket}
SlurmctldPort=26817
SlurmdPort=26818
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
SchedulerType=sched/backfill
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc={root}/jobcomp.txt
MailProg=/bin/true
MinJobAge=600
KillWait=30
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _stop(pid: int | None, name: str) -> None:
    """SIGTERM to the daemon by pid, then SIGKILL after 10 s."""
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z"):
                return  # exited; its parent (not us: it daemonised) has not reaped it yet
        except OSError:
            return  # gone
        time.sleep(0.1)
    print(f"[slurm] {name} (pid {pid}) still running 10 s after SIGTERM: SIGKILL")
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _pids_of_cluster(conf: Path) -> list[int]:
    """Processes started with this cluster's SLURM_CONF in their environment: its daemons (which
    inherit it), slurmstepd and job steps."""
    want = f"SLURM_CONF={conf}".encode()
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                if want in (d / "environ").read_bytes().split(b"\0"):
                    found.append(int(d.name))
            except OSError:
                pass
    return found


class Cluster:
    def __init__(self, root: Path, netns: str):
        self.root = root
        self.netns = netns
        self.env = {**os.environ, "SLURM_CONF": str(root / "slurm.conf")}
        for k in [k for k in self.env if k.startswith(("SLURM_", "SBATCH_", "SRUN_")) and k != "SLURM_CONF"]:
            del self.env[k]  # a test run from inside a Slurm job must not hand its own job's settings on

    def cmd(self, *args, cwd=None, timeout=120, check=True) -> subprocess.CompletedProcess:
        """A Slurm command inside the cluster's network namespace."""
        full = ["nsenter", f"--net=/run/netns/{self.netns}", *map(str, args)]
        p = subprocess.run(full, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            pytest.fail(f"{' '.join(full)} -> exit {p.returncode}\n{p.stdout}\n{p.stderr}\n{self.logs()}")
        return p

    def logs(self) -> str:
        out = []
        for name in ("slurmctld.log", "slurmd.log"):
            p = self.root / name
            if p.exists():
                out.append(f"--- {name} (tail)\n" + "\n".join(p.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(out)

    def job_field(self, job_id: str, field: str) -> str:
        text = self.cmd("scontrol", "show", "job", "-o", job_id).stdout
        m = re.search(rf"\b{field}=(\S+)", text)
        assert m, f"no {field} in: {text}"
        return m.group(1)


@pytest.fixture(scope="module")
def slurm():
    missing = [n for n in DAEMONS + CLIENTS if _which(n) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (scripts/setup.sh installs slurm-wlm, munge and iproute2)")
    if os.geteuid() != 0:
        pytest.skip("slurmd must run as root")
    netns = f"shardscore-slurm-{os.getpid()}"
    # munged wants every folder above its socket searchable by all, hence not pytest's tmp_path (0700).
    root = Path(tempfile.mkdtemp(prefix="shardscore-slurm-"))
    made = subprocess.run(["ip", "netns", "add", netns], capture_output=True, text=True)
    if made.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"cannot make a network namespace: {made.stderr.strip()}")
    try:
        # Only a loopback in the namespace. The extra address: Slurm resolves "localhost" with
        # AI_ADDRCONFIG, which finds no IPv4 address while the namespace has only 127.0.0.1.
        for args in (["link", "set", "lo", "up"], ["addr", "add", "10.254.0.1/32", "dev", "lo"]):
            subprocess.run(["ip", "-n", netns, *args], check=True, capture_output=True)
        root.chmod(0o755)
        (root / "munge").mkdir(mode=0o700)
        (root / "socket").mkdir(mode=0o755)
        for d in ("state", "spool", "work"):
            (root / d).mkdir()
        key = root / "munge" / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o600)
        socket = root / "socket" / "munge.socket"
        subprocess.run([_which("munged"), f"--socket={socket}", f"--key-file={key}",
                        f"--pid-file={root}/munge/munged.pid", f"--log-file={root}/munge/munged.log",
                        f"--seed-file={root}/munge/munged.seed"], check=True, capture_output=True, timeout=30)
        (root / "slurm.conf").write_text(_slurm_conf(root, socket))
        cluster = Cluster(root, netns)
        # nsenter, not `ip netns exec`: that one mounts a fresh /sys, where slurmd finds no cgroup file system.
        cluster.cmd(_which("slurmctld"))
        cluster.cmd(_which("slurmd"), "-N", "localhost")
        deadline = time.monotonic() + 60
        state = ""
        while time.monotonic() < deadline:
            state = cluster.cmd("sinfo", "-h", "-o", "%T", check=False).stdout.strip()
            if state == "idle":
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the test cluster's node is not idle after 60 s (state {state!r})\n{cluster.logs()}")
        yield cluster
    finally:
        # By pid: from the pid files, read now (slurmd writes its own only after it has registered
        # with slurmctld), then whatever still runs with this cluster's SLURM_CONF. Each step is
        # tried whatever the one before did.
        steps = [lambda n=name: _stop(_read_pid(root / f"{n}.pid"), n) for name in ("slurmd", "slurmctld")]
        steps.append(lambda: [_stop(pid, f"pid {pid} of the test cluster") for pid in _pids_of_cluster(root / "slurm.conf")])
        steps.append(lambda: _stop(_read_pid(root / "munge" / "munged.pid"), "munged"))
        steps.append(lambda: subprocess.run(["ip", "netns", "del", netns], capture_output=True))
        steps.append(lambda: shutil.rmtree(root, ignore_errors=True))
        for step in steps:
            try:
                step()
            except Exception as e:  # noqa: BLE001  (report it and go on cleaning up)
                print(f"[slurm] cleanup step failed: {e!r}")


def submit(e2e, slurm: Cluster, job: Path, *sbatch_args, wait=True) -> tuple[str, subprocess.CompletedProcess]:
    """sbatch the template as shipped; JOB and SHARDSCORE exported as its header says. (job id, sbatch's result)."""
    args = ["sbatch", "--parsable", f"--export=ALL,JOB={job},SHARDSCORE={e2e.BIN}", *sbatch_args]
    if wait:
        args.append("--wait")
    p = slurm.cmd(*args, TEMPLATE, cwd=slurm.root / "work", timeout=300, check=False)
    job_id = p.stdout.strip().split(";")[0].splitlines()[0] if p.stdout.strip() else ""
    assert job_id.isdigit(), f"sbatch printed no job id (exit {p.returncode}):\n{p.stdout}\n{p.stderr}\n{slurm.logs()}"
    return job_id, p


def job_log(slurm: Cluster, job_id: str) -> str:
    path = slurm.root / "work" / f"shardscore-{job_id}.log"
    assert path.exists(), f"the template's log {path.name} was not written"
    return path.read_text(errors="replace")


@pytest.mark.parametrize("tasks,cpus", [(2, 1), (1, 2)], ids=["2tasks-x-1cpu", "1task-x-2cpus"])
def test_template_scores_the_job(e2e, slurm, tmp_path, seed, tasks, cpus):
    rows = 40_000
    inp = e2e.make_input(tmp_path / "in.h5", rows, chunk_rows=4096, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"shard_rows": 8192, "progress_interval": 0.1})
    job_id, sb = submit(e2e, slurm, job, f"--ntasks-per-node={tasks}", f"--cpus-per-task={cpus}")
    log = job_log(slurm, job_id)
    print(log[-4000:])
    assert sb.returncode == 0, f"sbatch --wait exit {sb.returncode}\n{sb.stderr}\n{log}"
    assert slurm.job_field(job_id, "JobState") == "COMPLETED"
    assert slurm.job_field(job_id, "ExitCode") == "0:0"
    # One rank per task, started by srun, each with the task's CPUs as threads.
    assert f"{tasks} rank(s) x {cpus} thread(s)" in log, log
    assert not [ln for ln in log.splitlines() if ln.startswith(e2e.ERROR_PREFIX) or "warning" in ln], log
    datasets, attrs = e2e.read_output(out)
    e2e.assert_matches_demo_oracle(datasets, e2e.read_input(inp))
    assert int(attrs["num_ranks"]) == tasks
    rep = e2e.read_report(out)
    assert rep["status"] == "passed" and rep["exit_code"] == 0 and rep["ranks"] == tasks, rep


def test_template_exit_code_is_shardscores(e2e, slurm, tmp_path):
    """A bad job: the Slurm job fails with shardscore's exit code 2 and the log names the culprit."""
    missing = tmp_path / "no-such-input.h5"
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", missing, out)
    job_id, sb = submit(e2e, slurm, job)
    log = job_log(slurm, job_id)
    print(log[-4000:])
    assert sb.returncode == 2, f"sbatch --wait exit {sb.returncode}, want shardscore's 2\n{log}"
    assert slurm.job_field(job_id, "JobState") == "FAILED"
    assert slurm.job_field(job_id, "ExitCode") == "2:0"
    errs = [ln for ln in log.splitlines() if ln.startswith(e2e.ERROR_PREFIX)]
    assert len(errs) == 1 and str(missing) in errs[0], f"want one error line naming {missing}:\n{log}"
    assert e2e.listing(out.parent) == []


def test_scancel_stops_the_job_with_no_output(e2e, slurm, tmp_path, seed):
    """scancel sends SIGTERM, then SIGKILL after KillWait, as the time limit does: the job stops at its
    next write round, says so in its log, and leaves nothing in the output folder."""
    rows = 300_000
    inp = e2e.make_input(tmp_path / "in.h5", rows, chunk_rows=10_000, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run={"batch_size": 1, "progress_interval": 0.2})
    job_id, _ = submit(e2e, slurm, job, wait=False)
    log_path = slurm.root / "work" / f"shardscore-{job_id}.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until it is scoring
        if log_path.exists() and " scored " in log_path.read_text(errors="replace"):
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"job {job_id} printed no progress in 120 s (state "
                    f"{slurm.job_field(job_id, 'JobState')})\n{log_path.read_text() if log_path.exists() else ''}")
    t_cancel = time.monotonic()
    slurm.cmd("scancel", job_id)
    while time.monotonic() < t_cancel + 60:
        state = slurm.job_field(job_id, "JobState")
        if state not in ("RUNNING", "COMPLETING", "PENDING"):
            break
        time.sleep(0.2)
    stopped_in = time.monotonic() - t_cancel
    log = log_path.read_text(errors="replace")
    print(log[-4000:])
    assert state == "CANCELLED", f"job state {state} 60 s after scancel"
    # Well inside KillWait (30 s): it stopped on SIGTERM, not on the SIGKILL that follows.
    assert stopped_in < 25, f"the job took {stopped_in:.1f} s to end after scancel"
    errs = [ln for ln in log.splitlines() if ln.startswith(e2e.ERROR_PREFIX)]
    assert errs and all("stopped by SIGTERM" in ln and "nothing written" in ln for ln in errs), log
    assert e2e.listing(out.parent) == [], f"left in the output folder: {e2e.listing(out.parent)}"


def test_time_limit_stops_the_job_with_no_output(e2e, slurm, tmp_path, seed):
    """At its time limit (--time=1) Slurm sends each task SIGTERM, SIGCONT and SIGTERM again within
    milliseconds: the second SIGTERM killed the process at once (its handler reset itself), leaving the
    partial output at its full reserved size and pushing nothing. The job stops at its next write round."""
    # A model slow by its node count (8,000 Sigmoids: some 2 ms a batch of one row, whatever the CPU's
    # speed), so that the rows take minutes: past the one-minute limit.
    import onnx
    from onnx import TensorProto, helper
    n = 8000
    nodes = [helper.make_node("Sigmoid", ["X" if i == 0 else f"v{i - 1}"], [f"v{i}" if i < n - 1 else "Y"]) for i in range(n)]
    graph = helper.make_graph(nodes, "slow", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 30])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 30])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "slow.onnx")
    rows = 200_000
    inp = e2e.make_input(tmp_path / "in.h5", rows, chunk_rows=20_000, seed=seed)
    out = tmp_path / "out" / "scores.h5"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, model_path=tmp_path / "slow.onnx",
                       run={"batch_size": 1, "progress_interval": 1.0})
    job_id, _ = submit(e2e, slurm, job, "--time=1", wait=False)
    deadline = time.monotonic() + 240
    state = ""
    while time.monotonic() < deadline:
        state = slurm.job_field(job_id, "JobState")
        if state not in ("RUNNING", "COMPLETING", "PENDING", "CONFIGURING"):
            break
        time.sleep(1)
    log = job_log(slurm, job_id)
    print(log[-4000:])
    assert state == "TIMEOUT", f"job state {state}, want TIMEOUT\n{log[-3000:]}"
    errs = [ln for ln in log.splitlines() if ln.startswith(e2e.ERROR_PREFIX)]
    assert errs and all("stopped by SIGTERM" in ln and "nothing written" in ln for ln in errs), log[-3000:]
    assert e2e.listing(out.parent) == [], f"left in the output folder: {e2e.listing(out.parent)}"
