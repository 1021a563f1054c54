"""A real Slurm: a one-node cluster (munged, slurmctld and slurmd on this machine, 2 CPUs) started for the test, and
``launch/slurm/hpo_sweep.sbatch`` submitted to it with ``sbatch`` on a tiny sweep. The job is cancelled with
``scancel`` mid-sweep and submitted again, which resumes the sweep; the finished sweep's leaderboard and
``best/`` are read back.

Debian's packages (slurmctld, slurmd, slurm-client, munge) are installed when they are missing and this
runs as root with apt-get; otherwise the test skips with the reason. Every daemon is a process of this test,
stopped by its process id.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hpo.search.results.records import collect_trials

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "launch" / "slurm" / "hpo_sweep.sbatch"
PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
DAEMONS = {"slurmctld": "/usr/sbin/slurmctld", "slurmd": "/usr/sbin/slurmd", "munged": "/usr/sbin/munged"}
SWEEP = ["model=tiny_bert", "data.num_train=96", "data.num_eval=32", "trainer.max_seq_length=32", "trainer.epochs=2",
         "sweep.num_trials=1", "logger=none", "resources.reuse_workers=true", "searcher=random", "scheduler=fifo"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _install() -> str | None:
    """Install the Slurm and munge packages when missing; the reason when that cannot be done."""
    if all(Path(p).exists() for p in DAEMONS.values()) and shutil.which("sbatch"):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "Slurm is not installed and installing it needs root and apt-get (apt-get install slurmctld slurmd slurm-client munge)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for attempt in (["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES], ["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]):
        done = subprocess.run(attempt, capture_output=True, text=True, env=env, timeout=600)
        if done.returncode == 0 and attempt[1] == "install":
            return None
    return f"apt-get could not install {' '.join(PACKAGES)}: {done.stderr.strip()[-300:]}"


@dataclass
class Slurm:
    conf: Path
    env: dict[str, str]
    folder: Path

    def run(self, *args: str) -> str:
        done = subprocess.run(list(args), capture_output=True, text=True, env=self.env, timeout=120)
        assert done.returncode == 0, f"{args}: {done.stderr}"
        return done.stdout

    def wait_until(self, ready, what: str, timeout: float = 300) -> None:
        """Poll a real condition (a file, the queue) with a deadline; the daemons' logs on failure."""
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                logs = "".join(f"\n--- {p.name}\n{p.read_text()[-2000:]}" for p in self.folder.glob("*.log"))
                raise AssertionError(f"timed out waiting for {what}{logs}")
            time.sleep(0.5)

    def in_queue(self, job: str) -> bool:
        return bool(self.run("squeue", "-h", "-j", job).strip())


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slurm]:
    reason = _install()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("slurm")
    host = socket.gethostname()
    key, socket_path = folder / "munge.key", folder / "munge.socket"
    subprocess.run(["/usr/sbin/mungekey", "--create", "--keyfile", str(key)], check=True, capture_output=True)
    os.chmod(key, 0o600)
    conf = folder / "slurm.conf"
    conf.write_text(f"""ClusterName=hpo-test
SlurmctldHost={host}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={socket_path}
SlurmUser=root
SlurmdUser=root
StateSaveLocation={folder / 'state'}
SlurmdSpoolDir={folder / 'spool'}
SlurmctldPidFile={folder / 'slurmctld.pid'}
SlurmdPidFile={folder / 'slurmd.pid'}
SlurmctldLogFile={folder / 'slurmctld.log'}
SlurmdLogFile={folder / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName={host} CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
    for sub in ("state", "spool"):
        (folder / sub).mkdir()
    env = {**os.environ, "SLURM_CONF": str(conf), "WANDB_MODE": "offline"}
    daemons = [
        subprocess.Popen([DAEMONS["munged"], "--foreground", "--force", f"--key-file={key}", f"--socket={socket_path}",
                          f"--pid-file={folder / 'munged.pid'}", f"--log-file={folder / 'munged.log'}",
                          f"--seed-file={folder / 'munged.seed'}"], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    slurm = Slurm(conf, env, folder)
    try:
        slurm.wait_until(socket_path.exists, "munged's socket", timeout=30)
        for name in ("slurmctld", "slurmd"):
            daemons.append(subprocess.Popen([DAEMONS[name], "-D", "-f", str(conf)], env=env, start_new_session=True,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        slurm.wait_until(lambda: "idle" in slurm.run("sinfo", "-h", "-o", "%t"), "the node to be idle", timeout=60)
        yield slurm
    finally:
        subprocess.run(["scancel", "--full", "--user=root"], env=env, capture_output=True)
        for daemon in reversed(daemons):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait()


def test_a_cancelled_job_resumes_when_submitted_again_and_the_sweep_finishes(slurm: Slurm, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    env = {**slurm.env, "SWEEP": "demo", "OUTPUT_DIR": str(out), "RAY_PORT": str(_free_port())}

    def submit(*extra: str) -> str:
        done = subprocess.run(["sbatch", "--parsable", "--nodes=1", "--cpus-per-task=2", f"--chdir={ROOT}",
                               f"--output={tmp_path}/job-%j.log", *extra, str(SCRIPT), *SWEEP],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().split(";")[0]

    first = submit()
    reported = lambda: any(p.stat().st_size for p in out.glob("trials/trial_*/result.json"))  # noqa: E731
    slurm.wait_until(reported, f"job {first} to report a trial's first evaluation")
    slurm.run("scancel", first)
    slurm.wait_until(lambda: not slurm.in_queue(first), f"job {first} to leave the queue")
    before = {r.trial_id for r in collect_trials(out, "eval/accuracy", "max")}
    assert before and not (out / "best").exists()  # stopped partway

    second = submit("--wait")  # sbatch --wait returns when the job ends
    log = (tmp_path / f"job-{second}.log").read_text()
    assert "resuming it" in log, log[-3000:]
    records = collect_trials(out, "eval/accuracy", "max")
    assert len(records) == 1 and before == {r.trial_id for r in records}  # the same trial, continued
    assert all(r.status == "finished" for r in records), [(r.trial_id, r.status, r.error) for r in records]
    for record in records:  # every evaluation once: the resumed trials went on from their checkpoints
        epochs = [json.loads(line)["epoch"] for line in (record.path / "result.json").read_text().splitlines()]
        assert epochs == [1.0, 2.0], (record.trial_id, epochs)
    assert (out / "leaderboard.csv").is_file() and (out / "best" / "model" / "model.safetensors").is_file()
