"""A real SLURM (Debian's slurm-wlm and munge) on localhost runs the project's sbatch recipe.

The fixture starts munged, slurmctld and slurmd in the foreground from a temporary directory
(its own munge key and socket, a generated slurm.conf, free ports) and stops them afterwards,
whatever happened; see ../shared/ENVIRONMENT.md's settings. The recipe (``vlmeval slurm
--runtime venv``, this venv) is submitted as a 2-task array with tiny-vlm on ShapesMCQ: the
merged scores equal one unsharded run's, and a task cancelled with scancel, then submitted
again alone, completes the run. Skipped where slurm is not installed
(``apt-get install -y slurm-wlm munge``; .ci/run does it).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

VLMEVAL = str(Path(sys.prefix) / "bin" / "vlmeval")
RUN_FLAGS = [
    "-m",
    "tiny-vlm",
    "-d",
    "ShapesMCQ",
    "--device",
    "cpu",
    "--nproc",
    "1",
    "--limit",
    "30",
]
COMMANDS = ("munged", "slurmctld", "sinfo", "slurmd", "sbatch", "squeue", "scancel", "scontrol")


def unavailable() -> str | None:
    """Why no cluster can start here, or None."""
    missing = [c for c in COMMANDS if shutil.which(c) is None]
    if missing:
        return f"slurm is not installed ({', '.join(missing)}): apt-get install -y slurm-wlm munge"
    if os.geteuid() != 0:
        return "the one-node cluster runs its daemons as root (SlurmUser=root): run as root"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, ready, timeout: float, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = ready()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class Cluster:
    root: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def submit(self, script: Path, *options: str) -> str:
        return self.run("sbatch", "--parsable", *options, str(script)).stdout.strip()

    def tasks(self, job: str) -> dict[str, dict[str, str]]:
        """Each array task of ``job`` (by task id): its scontrol fields (JobState, ExitCode)."""
        lines = self.run("scontrol", "show", "job", "-o", job).stdout.splitlines()
        fields = [dict(f.split("=", 1) for f in line.split() if "=" in f) for line in lines]
        return {f["ArrayTaskId"]: f for f in fields}

    def queue(self, *job: str) -> str:
        """squeue's lines for ``job`` (none: every job)."""
        jobs = ["-j", *job] if job else []
        return self.run("squeue", "-h", *jobs, check=False).stdout.strip()

    def wait_done(self, job: str, timeout: float = 180) -> dict[str, dict[str, str]]:
        wait_for(f"job {job} to leave the queue", lambda: not self.queue(job), timeout)
        return self.tasks(job)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()}" for p in sorted(self.root.glob("*.out")))


def start(root: Path, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (root / "log" / f"{name}.stdout").open("wb")
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    # munged wants every directory above its socket searchable by all: not pytest's tmp_path.
    root = Path(tempfile.mkdtemp(prefix="vlmeval-slurm-"))
    root.chmod(0o755)
    for sub in ("key", "run", "state", "spool", "log"):
        (root / sub).mkdir()
    (root / "key").chmod(0o700)
    key = root / "key" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    sock = root / "run" / "munge.sock"
    host = socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=vlmevaltest",
                f"SlurmctldHost={host}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={sock}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_CPU",
                "MpiDefault=none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "ReturnToService=2",
                "KillWait=5",
                "MinJobAge=600",
                f"SlurmctldPort={free_port()}",
                f"SlurmdPort={free_port()}",
                f"StateSaveLocation={root / 'state'}",
                f"SlurmdSpoolDir={root / 'spool'}",
                f"SlurmctldPidFile={root / 'run' / 'slurmctld.pid'}",
                f"SlurmdPidFile={root / 'run' / 'slurmd.pid'}",
                f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
                f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
                f"NodeName={host} CPUs={os.cpu_count()} State=UNKNOWN",
                f"PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VLMEVAL_", "SLURM_", "CUDA_", "NVIDIA_"))
    }
    env.update(SLURM_CONF=str(conf), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    daemons: list[subprocess.Popen[bytes]] = []
    cluster = Cluster(root, env)
    try:
        daemons.append(
            start(
                root,
                "munged",
                [
                    "munged",
                    "-F",
                    f"--socket={sock}",
                    f"--key-file={key}",
                    f"--pid-file={root / 'run' / 'munged.pid'}",
                    f"--log-file={root / 'log' / 'munged.log'}",
                    f"--seed-file={root / 'key' / 'munged.seed'}",
                ],
                env,
            )
        )
        wait_for("munged's socket", sock.exists, 20)
        daemons.append(start(root, "slurmctld", ["slurmctld", "-D"], env))
        daemons.append(start(root, "slurmd", ["slurmd", "-D"], env))
        wait_for(
            "the node to be idle",
            lambda: "idle" in cluster.run("sinfo", "-h", "-o", "%T", check=False).stdout,
            60,
        )
        yield cluster
    finally:
        try:
            jobs = cluster.run("squeue", "-h", "-o", "%A", check=False).stdout.split()
            if daemons[1:] and jobs:
                cluster.run("scancel", *set(jobs), check=False)
                wait_for("the jobs to end", lambda: not cluster.queue(), 60)
        finally:
            for daemon in reversed(daemons):
                daemon.terminate()
                try:
                    daemon.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait()
            shutil.rmtree(root, ignore_errors=True)


def write_recipe(cluster: Cluster, run_name: str) -> Path:
    """The project's sbatch script of a 2-shard run, as vlmeval slurm prints it (venv mode)."""
    done = cluster.run(
        VLMEVAL, "slurm", "--shards", "2", "--runtime", "venv", "--gpus-per-node", "0",
        "--output", str(cluster.root / "outputs"), "--data-dir", str(cluster.root / "data"),
        *RUN_FLAGS, "--run-name", run_name,
    )  # fmt: skip
    script = cluster.root / f"{run_name}.sbatch"
    script.write_text(done.stdout)
    return script


def scores(cluster: Cluster, run_name: str) -> dict:
    run = cluster.root / "outputs" / "tiny-vlm" / run_name
    return json.loads((run / "ShapesMCQ" / "scores.json").read_text())


def predictions(cluster: Cluster, run_name: str) -> dict[str, str]:
    path = cluster.root / "outputs" / "tiny-vlm" / run_name / "ShapesMCQ" / "predictions.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {str(row["index"]): row["prediction"] for row in rows}


@pytest.fixture(scope="module")
def single(cluster: Cluster) -> str:
    """One unsharded run outside SLURM, the reference (it also generates ShapesMCQ)."""
    cluster.run(
        VLMEVAL, "eval", *RUN_FLAGS, "--output", str(cluster.root / "outputs"),
        "--data-dir", str(cluster.root / "data"), "--run-name", "single",
    )  # fmt: skip
    return "single"


def test_a_two_task_array_scores_as_one_run(cluster, single):
    job = cluster.submit(write_recipe(cluster, "array"))
    tasks = cluster.wait_done(job)
    states = {task: (f["JobState"], f["ExitCode"]) for task, f in tasks.items()}
    assert states == {"0": ("COMPLETED", "0:0"), "1": ("COMPLETED", "0:0")}, cluster.logs()
    assert predictions(cluster, "array") == predictions(cluster, single)
    assert len(predictions(cluster, single)) == 30
    assert scores(cluster, "array") == scores(cluster, single)


def test_a_cancelled_task_submitted_again_completes_the_run(cluster, single):
    script = write_recipe(cluster, "cancelled")
    job = cluster.submit(script)
    wait_for(
        "task 1 to run", lambda: cluster.tasks(job).get("1", {}).get("JobState") == "RUNNING", 60
    )
    cluster.run("scancel", f"{job}_1")
    tasks = cluster.wait_done(job)
    assert tasks["1"]["JobState"] == "CANCELLED", cluster.logs()
    assert tasks["0"]["JobState"] == "COMPLETED", cluster.logs()
    run = cluster.root / "outputs" / "tiny-vlm" / "cancelled"
    merge = cluster.run(VLMEVAL, "merge", str(run), check=False)
    assert merge.returncode == 2 and "shard 1" in merge.stderr, merge.stderr
    # The same script, task 1 alone: the shard count is the script's, not this array's 1.
    again = cluster.submit(script, "--array=1")
    tasks = cluster.wait_done(again)
    assert (tasks["1"]["JobState"], tasks["1"]["ExitCode"]) == ("COMPLETED", "0:0"), cluster.logs()
    assert scores(cluster, "cancelled") == scores(cluster, single)
