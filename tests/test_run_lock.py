"""One owner: a run is locked from launch to exit, a second launch is refused at once,
and the lock of a launcher killed outright is taken over with a notice.

Real launches of ``vlmeval eval`` (the launcher execs torchrun, which keeps the
lock's descriptor), a real SIGKILL, and the manifest's honest account of the
attempts afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fake_nvml
from vlmeval_core import run_lock
from vlmeval_core.errors import UsageError

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")


def command(tmp_path: Path, *args: str) -> list[str]:
    return [
        VLMEVAL,
        "eval",
        "--device",
        "cpu",
        "-m",
        "tiny-vlm",
        "-d",
        "ShapesMCQ",
        "--run-name",
        "r",
        "--output",
        str(tmp_path / "out"),
        *args,
    ]


def env(tmp_path: Path) -> dict[str, str]:
    return fake_nvml.subprocess_env(
        None, fake=False, LMUData=str(tmp_path / "data"), HF_HUB_OFFLINE="1"
    )


def test_a_held_lock_is_refused_and_a_released_one_leaves_no_holder(tmp_path):
    held = run_lock.acquire(tmp_path / "run")
    assert held.abandoned_by is None
    with pytest.raises(UsageError) as caught:
        run_lock.acquire(tmp_path / "run")
    assert f"is in use by pid {os.getpid()} on host {socket.gethostname()}, started " in str(
        caught.value
    )
    other_node = run_lock.acquire(tmp_path / "run", node_rank=1)  # nodes share the run
    run_lock.release(other_node.fd)
    run_lock.release(held.fd)
    again = run_lock.acquire(tmp_path / "run")
    assert again.abandoned_by is None, "a clean release is no abandoned lock"
    run_lock.release(again.fd)


@pytest.mark.slow
def test_a_second_launch_is_refused_and_a_killed_holder_is_taken_over(tmp_path):
    run_dir = tmp_path / "out" / "tiny-vlm" / "r"
    lock = run_dir / ".node-0.lock"
    first = subprocess.Popen(
        command(tmp_path, "--batch-size", "2"),
        env=env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        shards = run_dir / "ShapesMCQ" / ".shards"
        while not any(p.stat().st_size for p in shards.glob("rank-*.jsonl")):
            assert first.poll() is None and time.monotonic() < deadline, "the first run ended"
            time.sleep(0.1)
        holder = json.loads(lock.read_text())

        second = subprocess.run(
            command(tmp_path), env=env(tmp_path), capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 2, second.stderr[-3000:]
        assert second.stderr == (
            f"vlmeval: error: run {run_dir} is in use by pid {first.pid} on host "
            f"{socket.gethostname()}, started {holder['started']} (lock {lock}): wait for that "
            "run to end, or give this one another --run-name\n"
        )
        assert holder["pid"] == first.pid, "the launcher's pid: torchrun replaced it"
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the launcher (now torchrun) and its ranks
        first.wait()

    third = subprocess.run(
        command(tmp_path, "--limit", "8"),
        env=env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert third.returncode == 0, third.stderr[-3000:]
    assert (
        f"vlmeval: note: taking over the run lock {lock} from pid {first.pid} on host "
        f"{socket.gethostname()}, started {holder['started']}, which ended without releasing it"
    ) in third.stderr
    assert lock.read_text() == "", "a clean end releases the lock and forgets its holder"

    attempts = json.loads((run_dir / "manifest.json").read_text())["attempts"]
    assert [(a["limit"], a["exit"]) for a in attempts] == [(None, None), (8, 0)]
    killed, finished = attempts
    assert killed["ended"] is None and killed["wall_s"] is None, "killed outright: unknown"
    assert finished["wall_s"] > 0


def test_torchrun_concludes_only_the_attempt_whose_lock_it_holds(tmp_path):
    from vlmeval_core import attempts, lifecycle

    run_dir = tmp_path / "run"
    lock = run_lock.acquire(run_dir)
    attempt = attempts.start(
        run_dir, node_rank=0, nproc=2, nnodes=1, batch_size=4, gpus_per_model=1, limit=None
    )
    handed = lifecycle.handover(run_dir, attempt, lock)
    stranger = {
        attempts.ENV_VARIABLE: handed[attempts.ENV_VARIABLE].replace('"lock_fd": ', '"lock_fd": 1')
    }
    assert lifecycle.conclude(3, stranger) == 3
    assert attempts.history(run_dir)[0]["exit"] is None, "a stray variable ends nothing"
    assert lifecycle.conclude(143, handed) == 143
    (ended,) = attempts.history(run_dir)
    assert (ended["exit"], ended["world_size"]) == (143, 2) and ended["wall_s"] >= 0
    again = run_lock.acquire(run_dir)
    assert again.abandoned_by is None, "released cleanly"
    run_lock.release(again.fd)
