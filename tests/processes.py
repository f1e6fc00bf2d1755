"""What the process tests look at in /proc: whether a pid is alive, its children, and how long
until a set of pids is gone."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def alive(pid: int) -> bool:
    """Running or sleeping: not gone and not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    """The pids whose parent is ``pid``."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def seconds_until_gone(pids: list[int], limit: float) -> float:
    """How long until none of ``pids`` is alive. After ``limit`` seconds, those still alive
    are killed (a failing test leaves nothing behind) and the test fails naming them."""
    started = time.monotonic()
    while any(alive(p) for p in pids):
        waited = time.monotonic() - started
        if waited > limit:
            left = [p for p in pids if alive(p)]
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"ranks {left} alive {waited:.1f} s after their supervisor ended")
        time.sleep(0.02)
    return time.monotonic() - started
