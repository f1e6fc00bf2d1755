"""What a run shows while it works, on stderr: rank 0's progress over the items of all ranks,
the ranks' own lines each on a line of its own, and the width each run used.

On a terminal (a pseudo-terminal here, ``pty``) the progress is tqdm's bar, which ends at
the dataset's count once every rank is done; without one (a pipe, a log file) it is plain
lines, never carriage returns; ``--quiet`` shows none. Real runs of ``vlmeval eval``.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

import fake_nvml
from misbehaving_server import MisbehavingServer
from vlmeval_core import run_datasets
from vlmeval_core.datasets import shapes
from vlmeval_core.distributed import RankInfo

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")


def shapes_run(tmp_path: Path, *extra: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a 2-rank CPU run of tiny-vlm on 40 Shapes items."""
    env = fake_nvml.subprocess_env(None, fake=False, HF_HUB_OFFLINE="1")
    return [
        *(VLMEVAL, "eval", "-m", "tiny-vlm", "-d", "ShapesMCQ", "--limit", "40"),
        *("--nproc", "2", "--device", "cpu", "--output", str(tmp_path / "out")),
        *("--data-dir", str(tmp_path / "data"), "--run-name", "r", *extra),
    ], env


def stderr_on_a_terminal(tmp_path: Path, *extra: str) -> str:
    """The run's stderr as a 100-column pseudo-terminal receives it."""
    argv, env = shapes_run(tmp_path, *extra)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower
    )
    os.close(follower)
    received = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: every writer is gone
            break
        if not chunk:
            break
        received += chunk
    os.close(leader)
    assert process.wait(timeout=600) == 0, received.decode()[-3000:]
    return received.decode()


def stderr_in_a_pipe(tmp_path: Path, *extra: str) -> str:
    argv, env = shapes_run(tmp_path, *extra)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def shown(text: str) -> list[str]:
    """What each terminal line shows: the text after its last carriage return."""
    return [line.rsplit("\r", 1)[-1] for line in text.replace("\r\n", "\n").split("\n")]


@pytest.mark.slow
def test_on_a_terminal_the_bar_ends_at_every_rank_s_items_and_rank_lines_stand_alone(tmp_path):
    lines = shown(stderr_on_a_terminal(tmp_path))

    bars = [line for line in lines if line.startswith("ShapesMCQ: ")]
    assert bars and "100%" in bars[-1] and "40/40" in bars[-1], lines
    for line in lines:
        assert "[rank" not in line or line.startswith("[rank "), line
    assert sum(line.startswith("[rank ") for line in lines) == 4, lines


def test_a_rank_line_reaches_stderr_in_one_write_so_two_ranks_never_splice_lines(monkeypatch):
    writes: list[str] = []

    class Stream:
        def write(self, text: str) -> None:
            writes.append(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr(sys, "stderr", Stream())
    run_datasets.log(RankInfo(rank=1, world_size=2, local_rank=1, local_world_size=2), "done")

    assert writes == ["[rank 1] done\n"]


@pytest.mark.slow
def test_without_a_terminal_progress_is_plain_lines_ending_at_the_dataset_s_count(tmp_path):
    text = stderr_in_a_pipe(tmp_path)

    assert "\r" not in text and "\x1b" not in text, text
    progress = [line for line in text.splitlines() if line.startswith("ShapesMCQ: ")]
    assert progress[0].startswith("ShapesMCQ: 0/40 items (0%)"), progress
    assert progress[-1].startswith("ShapesMCQ: 40/40 items (100%)"), progress


@pytest.mark.slow
def test_quiet_shows_no_progress_on_a_terminal(tmp_path):
    lines = shown(stderr_on_a_terminal(tmp_path, "--quiet"))

    assert not [line for line in lines if line.startswith("ShapesMCQ")], lines
    assert any(line.startswith("[rank 0] ShapesMCQ: accuracy") for line in lines), lines


def test_an_endpoint_run_reports_its_requests_in_flight_not_a_batch_size(tmp_path):
    table = tmp_path / "Shapes.tsv"
    shapes.generate("ShapesMCQ", n=3).to_csv(table, sep="\t", index=False)
    with MisbehavingServer(answer="A") as server:
        done = subprocess.run(
            [
                *(VLMEVAL, "eval", "--api-base", server.base_url, "-m", "fake-vlm"),
                *("-d", f"{table}:mcq", "--output", str(tmp_path / "out")),
                *("--data-dir", str(tmp_path / "data"), "--run-name", "r"),
                *("--api-concurrency", "4"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    assert done.returncode == 0, done.stderr
    (line,) = [x for x in done.stderr.splitlines() if "Shapes: predicted 3" in x]
    assert "up to 4 requests in flight" in line, line
    assert "batch size" not in line, line
