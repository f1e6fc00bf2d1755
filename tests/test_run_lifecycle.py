"""A run's lifecycle (vlmeval_core.lifecycle): the lock refuses what is not a lock file, says
what it knows of a holder it takes over from, never trusts a file replaced under it; each
attempt states its versions and image, a resume under other versions is refused; another
node's attempt is running, not unknown, and joining it is no resume.

Real launches of the ``vlmeval`` launcher (which refuse before any work), a real
``LD_PRELOAD`` shim that makes ``flock`` fail as NFS without locks does, real processes for
live and dead holders, and the real claim on real files.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

import fake_nvml
from vlmeval_core import attempts, lifecycle, run_lock
from vlmeval_core.errors import RuntimeFailure, UsageError
from vlmeval_core.identity import run_identity
from vlmeval_launcher.cli import main
from vlmeval_launcher.launch import EvalRequest, resolve_launch

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")

SHIM = r"""
#include <errno.h>
#include <stdlib.h>
int flock(int fd, int operation) {
    (void)fd; (void)operation;
    errno = atoi(getenv("SHIM_FLOCK_ERRNO"));
    return -1;
}
"""


def launch_of(tmp_path: Path, **overrides: object):
    request = dict(
        model="tiny-vlm",
        data=("ShapesMCQ",),
        device="cpu",
        output=str(tmp_path / "out"),
        data_dir=str(tmp_path / "data"),
        run_name="r",
    )
    return resolve_launch(EvalRequest(**{**request, **overrides}))


def claim(launch, node_rank: int = 0, nnodes: int = 1) -> lifecycle.Claim:
    return lifecycle.claim(
        launch.plan,
        run_identity(launch.plan).to_dict(),
        node_rank=node_rank,
        nproc=1,
        nnodes=nnodes,
        restart=False,
    )


def eval_command(tmp_path: Path) -> list[str]:
    return [
        VLMEVAL, "eval", "--device", "cpu", "-m", "tiny-vlm", "-d", "ShapesMCQ",
        "--run-name", "r", "--output", str(tmp_path / "out"),
        "--data-dir", str(tmp_path / "data"),
    ]  # fmt: skip


def launch_env(**extra: str) -> dict[str, str]:
    return fake_nvml.subprocess_env(None, fake=False, HF_HUB_OFFLINE="1", **extra)


# ---- lock files that are no lock files --------------------------------------------------


@pytest.mark.parametrize("kind", ["symlink", "directory"])
def test_a_lock_path_that_is_a_link_or_a_directory_is_refused_before_any_work(tmp_path, kind):
    run_dir = tmp_path / "out" / "tiny-vlm" / "r"
    run_dir.mkdir(parents=True)
    lock = run_dir / ".node-0.lock"
    target = tmp_path / "elsewhere"
    target.write_text("precious\n")
    if kind == "symlink":
        lock.symlink_to(target)
    else:
        lock.mkdir()

    done = subprocess.run(
        eval_command(tmp_path), env=launch_env(), capture_output=True, text=True, timeout=120
    )

    what = "a symbolic link" if kind == "symlink" else "a directory"
    assert (done.returncode, done.stderr) == (
        2,
        f"vlmeval: error: the run lock {lock} is {what}: a run lock must be a regular file "
        "and a link is never followed; remove it and launch again\n",
    )
    assert target.read_text() == "precious\n", "never written through"
    assert sorted(p.name for p in run_dir.iterdir()) == [".node-0.lock"], "no work began"


def test_an_identity_json_that_is_a_symlink_is_refused_not_read_through(tmp_path):
    run_dir = tmp_path / "out" / "tiny-vlm" / "r"
    run_dir.mkdir(parents=True)
    planted = tmp_path / "planted.json"
    launch = launch_of(tmp_path)
    planted.write_text(json.dumps({**run_identity(launch.plan).to_dict(), "seed": 7}))
    (run_dir / "identity.json").symlink_to(planted)
    refusal = f"vlmeval: error: {run_dir / 'identity.json'} is a symbolic link; "

    for dry_run in ((), ("--dry-run",)):
        done = subprocess.run(
            [*eval_command(tmp_path), *dry_run],
            env=launch_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(refusal) and done.stderr.count("\n") == 1, done.stderr
    assert not (run_dir / "plan.json").exists(), "no work began"


@pytest.fixture(scope="module")
def no_flock_shim(tmp_path_factory) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler for the LD_PRELOAD shim")
    build = tmp_path_factory.mktemp("shim")
    (build / "noflock.c").write_text(SHIM)
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-o", build / "noflock.so", build / "noflock.c"],
        check=True,
    )
    return build / "noflock.so"


@pytest.mark.parametrize("code", [errno.ENOLCK, errno.EOPNOTSUPP])
def test_a_volume_without_file_locks_is_one_line_and_exit_3(tmp_path, no_flock_shim, code):
    env = launch_env(LD_PRELOAD=str(no_flock_shim), SHIM_FLOCK_ERRNO=str(code))
    done = subprocess.run(
        eval_command(tmp_path), env=env, capture_output=True, text=True, timeout=120
    )

    lock = tmp_path / "out" / "tiny-vlm" / "r" / ".node-0.lock"
    assert (done.returncode, done.stderr) == (
        3,
        f"vlmeval: error: cannot lock the run: flock on {lock} failed ({os.strerror(code)}): "
        "the output volume has no file locks (an NFS mount with nolock?); mount it with locks "
        "(NFSv4, or NFSv3 with lockd) or put --output on a volume that has them\n",
    )
    assert not (lock.parent / "plan.json").exists(), "no work began"


def test_a_lock_file_replaced_between_open_and_flock_is_not_trusted(tmp_path, monkeypatch):
    """A --restart moved the run aside while this launch had the old lock file open: its flock
    then succeeds on the moved file, while the other launch holds the one at the path."""
    real_flock = run_lock.fcntl.flock
    path = run_lock.lock_path(tmp_path / "run", 0)
    other: list[run_lock.RunLock] = []

    def restart_in_between(fd: int, operation: int) -> None:
        if not other:  # the first flock of this launch: the other launch moves the run first
            os.rename(tmp_path / "run", tmp_path / "run.replaced")
            other.append(run_lock.RunLock(0, path, None))  # (stops the recursion)
            other[0] = run_lock.acquire(tmp_path / "run")
        real_flock(fd, operation)

    monkeypatch.setattr(run_lock.fcntl, "flock", restart_in_between)
    with pytest.raises(UsageError, match=f"is in use by pid {os.getpid()} .*lock {path}"):
        run_lock.acquire(tmp_path / "run")
    monkeypatch.undo()
    assert run_lock.holds(other[0].fd, path), "the one holder is the other launch"
    run_lock.release(other[0].fd)


def test_a_lock_file_replaced_every_time_is_one_line(tmp_path, monkeypatch):
    real_flock = run_lock.fcntl.flock
    path = run_lock.lock_path(tmp_path, 0)

    def replaced(fd: int, operation: int) -> None:
        path.unlink()
        path.touch()
        real_flock(fd, operation)

    monkeypatch.setattr(run_lock.fcntl, "flock", replaced)
    with pytest.raises(RuntimeFailure, match=f"the run lock {path} was replaced 3 times"):
        run_lock.acquire(tmp_path)


# ---- taking over: what is known of the holder ---------------------------------------------


def abandoned_lock(run_dir: Path, pid: int, host: str) -> None:
    path = run_lock.lock_path(run_dir, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = {"host": host, "pid": pid, "started": "2026-12-01T10:00:00+00:00"}
    path.write_text(json.dumps(holder) + "\n")


def test_the_takeover_note_says_what_is_known_of_a_live_a_dead_and_a_remote_holder(tmp_path):
    here = socket.gethostname()
    dead = subprocess.Popen(["true"])
    dead.wait()
    live = subprocess.Popen(["sleep", "60"])
    try:
        notes = {}
        for name, pid, host in (
            ("dead", dead.pid, here),
            ("live", live.pid, here),
            ("remote", 4242, "node-elsewhere"),
        ):
            abandoned_lock(tmp_path / name, pid, host)
            lock = run_lock.acquire(tmp_path / name)
            notes[name] = lock.takeover_note()
            run_lock.release(lock.fd)
    finally:
        live.kill()
        live.wait()

    started = "started 2026-12-01T10:00:00+00:00"
    path = run_lock.lock_path(tmp_path / "dead", 0)
    assert notes["dead"] == (
        f"taking over the run lock {path} from pid {dead.pid} on host {here}, {started}, "
        "which ended without releasing it"
    )
    assert "ended without releasing it" not in notes["live"]
    assert notes["live"].endswith(
        f"{started}, which no longer holds it (pid {live.pid} on this host is another process "
        "now: a reused pid, or the holder ran in another container)"
    )
    assert notes["remote"].endswith(
        f"{started}, which no longer holds it (it ran on another host: it ended without "
        "releasing it, or lost the lock)"
    )


def test_the_launcher_prints_the_true_note_and_ends_its_attempt_when_the_exec_fails(
    tmp_path, monkeypatch
):
    fake_nvml.clean_env(monkeypatch)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    live = subprocess.Popen(["sleep", "60"])
    run_dir = tmp_path / "out" / "tiny-vlm" / "r"
    abandoned_lock(run_dir, live.pid, socket.gethostname())

    def no_exec(file: str, args: list[str]) -> None:
        raise OSError(errno.ENOEXEC, "Exec format error")

    monkeypatch.setattr(os, "execvp", no_exec)
    saved = dict(os.environ)  # the launcher adds the ranks' variables just before the exec
    try:
        result = CliRunner().invoke(main, eval_command(tmp_path)[1:])
    finally:
        os.environ.clear()
        os.environ.update(saved)
        live.kill()
        live.wait()

    notes = [line for line in result.stderr.splitlines() if "taking over" in line]
    assert len(notes) == 1 and "which no longer holds it (pid" in notes[0], result.stderr
    assert result.exit_code == 3
    (attempt,) = attempts.history(run_dir)
    assert (attempt["exit"], attempt["state"]) == (3, "ended"), "the launcher ended it"
    assert (run_dir / ".node-0.lock").read_text() == "", "and released the lock"


# ---- provenance and the resume rule for versions --------------------------------------------


def test_each_start_record_states_the_versions_and_the_image_without_importing_torch(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("VLMEVAL_IMAGE_VERSION", "1.2.3")
    monkeypatch.setenv("VLMEVAL_IMAGE_REVISION", "abc123")
    monkeypatch.setenv("VLMEVAL_IMAGE_BASE", "nvidia/cuda:13.0.2@sha256:" + "1" * 64)
    held = claim(launch_of(tmp_path))
    run_lock.release(held.lock.fd)

    (record,) = (json.loads(line) for line in attempts.attempts_file(held.lock.path.parent, 0)
                 .read_text().splitlines())  # fmt: skip
    assert record["versions"] == {
        "torch": metadata.version("torch"),
        "transformers": metadata.version("transformers"),
        "tokenizers": metadata.version("tokenizers"),
        "cuda": lifecycle.torch_cuda(),
    }
    assert record["image"] == {
        "version": "1.2.3",
        "revision": "abc123",
        "base": "nvidia/cuda:13.0.2@sha256:" + "1" * 64,
    }
    probe = (
        "import json, sys; from vlmeval_core import lifecycle; found = lifecycle.provenance(); "
        "print(json.dumps([found['versions']['cuda'], 'torch' in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    import torch

    assert json.loads(done.stdout) == [torch.version.cuda, False], done.stderr


def rewrite_versions(run_dir: Path, **versions: str) -> None:
    path = attempts.attempts_file(run_dir, 0)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0]["versions"] = {**records[0]["versions"], **versions}
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_a_resume_under_other_versions_of_what_makes_predictions_is_refused(tmp_path):
    launch = launch_of(tmp_path)
    run_lock.release(claim(launch).lock.fd)
    rewrite_versions(launch.plan.run_dir, transformers="5.25.0", cuda="12.8")

    with pytest.raises(UsageError) as refused:
        claim(launch)
    now = metadata.version("transformers")
    assert str(refused.value) == (
        f"run {launch.plan.run_dir} made its predictions with other versions, so they cannot "
        f"be resumed with these: cuda was 12.8, now {lifecycle.torch_cuda()}; transformers "
        f"was 5.25.0, now {now}. Resume it where they are the run's (the image or venv), "
        "give this run another --run-name, or pass --restart to move the old run aside (to "
        "r.replaced-<time>) and start it over"
    )
    dry = CliRunner().invoke(main, ["eval", *eval_command(tmp_path)[2:], "--dry-run"])
    assert dry.exit_code == 2 and "transformers was 5.25.0" in dry.stderr, "so is a dry run"

    restarted = lifecycle.claim(
        launch.plan,
        run_identity(launch.plan).to_dict(),
        node_rank=0,
        nproc=1,
        nnodes=1,
        restart=True,
    )
    run_lock.release(restarted.lock.fd)
    assert restarted.moved_to is not None and not restarted.resuming


def test_the_same_versions_resume_and_a_run_that_recorded_none_resumes(tmp_path):
    launch = launch_of(tmp_path)
    run_lock.release(claim(launch).lock.fd)
    again = claim(launch)
    run_lock.release(again.lock.fd)
    assert again.resuming

    path = attempts.attempts_file(launch.plan.run_dir, 0)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "versions"}) + "\n"
                            for r in records))  # fmt: skip
    run_lock.release(claim(launch).lock.fd)  # older than the rule: resumes


def test_an_endpoint_run_is_not_held_to_the_launchers_versions(tmp_path):
    launch = launch_of(tmp_path, model="other", api_base="http://127.0.0.1:9/v1")
    run_lock.release(claim(launch).lock.fd)
    rewrite_versions(launch.plan.run_dir, transformers="5.25.0")
    run_lock.release(claim(launch).lock.fd)


# ---- two nodes: joining is no resume; another node's attempt is running, not unknown ---------


def test_joining_another_nodes_running_attempt_is_no_resume_and_it_shows_as_running(tmp_path):
    node0 = launch_of(tmp_path, nnodes=2, node_rank=0, rdzv_endpoint="127.0.0.1:29400")
    node1 = launch_of(tmp_path, nnodes=2, node_rank=1, rdzv_endpoint="127.0.0.1:29400")
    first = claim(node0, 0, nnodes=2)
    joining = claim(node1, 1, nnodes=2)
    assert not first.resuming and not joining.resuming, "node 1's first launch resumes nothing"

    run_dir = node0.plan.run_dir
    states = {a["node_rank"]: a["state"] for a in attempts.history(run_dir)}
    assert states == {0: "running", 1: "running"}
    lifecycle.conclude(0, lifecycle.handover(run_dir, joining.attempt, joining.lock))
    listed = {a["node_rank"]: (a["state"], a["exit"]) for a in attempts.history(run_dir)}
    assert listed == {0: ("running", None), 1: ("ended", 0)}

    os.close(first.lock.fd)  # node 0 killed outright: no end record, its holder still named
    assert {a["node_rank"]: a["state"] for a in attempts.history(run_dir)}[0] == "unknown"
    again = claim(node1, 1, nnodes=2)
    run_lock.release(again.lock.fd)
    assert again.resuming, "after those attempts, a launch resumes"
