"""No orphans: however the launcher ends, no rank outlives it for long (issue 9, point 5).

`vlmeval eval` runs for real with two gloo ranks; the launcher (which has become
torchrun) is killed with real signals while the ranks predict. SIGKILL gives
torchrun no chance to stop its ranks: they must notice on their own (parent-death
signal, watchdog) within 5 s. After SIGTERM (docker stop) every rank is gone within
3 s, also with two CPU-bound processes running beside it, well inside docker's 10 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import fake_nvml
from processes import alive, children, seconds_until_gone

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")


def start_eval(tmp_path: Path, run_name: str) -> subprocess.Popen:
    env = fake_nvml.subprocess_env(
        None, fake=False, LMUData=str(tmp_path / "data"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1"
    )
    return subprocess.Popen(
        [
            VLMEVAL, "eval", "--device", "cpu", "--nproc", "2", "-m", "tiny-vlm",
            "-d", "ShapesYN", "--batch-size", "4", "--output", str(tmp_path / "outputs"),
            "--run-name", run_name,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def ranks_predicting(process: subprocess.Popen, shards: Path) -> list[int]:
    """Wait until both ranks have checkpointed a batch; their pids."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()[-3000:]
        written = [p for p in shards.glob("rank-*.jsonl") if p.stat().st_size]
        if len(written) == 2:
            ranks = children(process.pid)
            assert len(ranks) == 2, ranks
            return ranks
        time.sleep(0.05)
    raise AssertionError("the ranks did not start predicting within 180 s")


@contextmanager
def cpu_hogs(count: int) -> Iterator[None]:
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@contextmanager
def reaped(process: subprocess.Popen, pids: list[int]) -> Iterator[None]:
    try:
        yield
    finally:
        for pid in pids:  # only if the test failed: leave no rank behind
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.mark.slow
def test_sigkill_of_the_launcher_ends_every_rank_within_5_s(tmp_path):
    process = start_eval(tmp_path, "kill9")
    shards = tmp_path / "outputs" / "tiny-vlm" / "kill9" / "ShapesYN" / ".shards"
    ranks = ranks_predicting(process, shards)
    with reaped(process, ranks):
        process.send_signal(signal.SIGKILL)
        process.wait()
        seconds_until_gone(ranks, limit=5)


@pytest.mark.slow
def test_sigterm_ends_every_rank_within_3_s_beside_two_cpu_bound_processes(tmp_path):
    with cpu_hogs(2):
        process = start_eval(tmp_path, "term")
        shards = tmp_path / "outputs" / "tiny-vlm" / "term" / "ShapesYN" / ".shards"
        ranks = ranks_predicting(process, shards)
        with reaped(process, ranks):
            process.send_signal(signal.SIGTERM)  # what docker stop sends
            seconds_until_gone([process.pid, *ranks], limit=3)
            assert process.wait(timeout=5) == 143
    assert "vlmeval: stopped by SIGTERM" in process.stderr.read()
