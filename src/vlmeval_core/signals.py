"""Prompt exits on SIGTERM (``docker stop``) and SIGINT (Ctrl-C), and no orphans.

A stop signal ends the rank at once, with the shell's code (143 for SIGTERM,
130 for SIGINT), except while a checkpoint line is being written: then the
stop waits until the write is whole and fsync'd, so nothing finished is lost
and no line is torn by our own exit. Every finished batch is already on disk,
so the rank leaves without unwinding or the interpreter's teardown (joining a
decoding thread, tearing down gloo), which can take seconds on a loaded host.

Python runs a handler only between bytecodes of the main thread, so a rank
blocked in C++ (a gloo barrier waiting for a dead peer, a TCPStore retry) would
never see it. A watchdog thread therefore hears every stop signal through
:func:`signal.set_wakeup_fd` and ends the process :data:`GRACE_S` seconds
later if the handler could not (never in the middle of a checkpoint write).
The same thread watches the parent, the ranks' supervisor: when it is gone (killed with
SIGKILL, say) the rank stops as if it had received SIGTERM. Linux also sends
the rank SIGTERM at once when the parent dies (``PR_SET_PDEATHSIG``); the
watchdog's polling covers the rest.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn

GRACE_S = 0.5
"""Seconds the main thread's handler has to act on a stop signal before the watchdog does."""

PARENT_POLL_S = 0.5
"""How often the watchdog checks that the parent (the supervisor) is still there."""

AGENT_PID_VARIABLE = "VLMEVAL_AGENT_PID"
"""Set by ``vlmeval_core.supervisor`` (and ``elastic_agent``) to its pid: the parent no rank
may outlive."""

_PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


_state = {"writing": False, "pending": None}


def stop(signum: int) -> NoReturn:
    """End the rank for a stop signal: say so (unless its supervisor will) and exit."""
    if not os.environ.get(AGENT_PID_VARIABLE):
        sys.stderr.write(
            f"[rank {os.environ.get('RANK', '0')}] stopped by {signal.Signals(signum).name}: "
            "finished items are checkpointed; rerun with the same --run-name to resume\n"
        )
        from vlmeval_core import lifecycle

        # A process that holds the run lock (an endpoint run) ends its attempt; should that
        # fail, its end stays unknown and the kernel drops the lock all the same.
        with contextlib.suppress(OSError):
            lifecycle.conclude(128 + signum)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(128 + signum)


def _handle(signum: int, _frame: FrameType | None) -> None:
    if _state["writing"]:
        _state["pending"] = signum
        return
    stop(signum)


def install() -> None:
    """Route SIGTERM and SIGINT to :func:`stop`, and start the watchdog.

    Call from the main thread, once, before any long-running work.
    """
    for signum in STOP_SIGNALS:
        signal.signal(signum, _handle)
    parent = _expected_parent()
    _die_with_parent()
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    threading.Thread(
        target=_watch, args=(read_end, parent), name="vlmeval-stop-watchdog", daemon=True
    ).start()
    if os.getppid() != parent:  # the parent died before PR_SET_PDEATHSIG was in place
        os.kill(os.getpid(), signal.SIGTERM)


def _expected_parent() -> int:
    """The pid of the supervisor: the one it announced, else whoever started us."""
    announced = os.environ.get(AGENT_PID_VARIABLE, "")
    return int(announced) if announced.isdigit() else os.getppid()


def _die_with_parent() -> None:
    """Ask Linux for SIGTERM when the parent exits (a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # the watchdog's polling still notices


def _watch(read_end: int, parent: int) -> None:
    """Turn a stop signal or the parent's death into an exit within :data:`GRACE_S`."""
    while True:
        ready, _, _ = select.select([read_end], [], [], PARENT_POLL_S)
        if ready:
            signums = [s for s in os.read(read_end, 64) if s in STOP_SIGNALS]
            if signums:
                _exit_after_grace(signums[0])
        elif os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)  # handled like a docker stop


def _exit_after_grace(signum: int) -> None:
    """Give the handler :data:`GRACE_S` to stop the rank; then stop it from here."""
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline or _state["writing"]:
        time.sleep(0.05)
    stop(signum)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a stop signal until the enclosed write has finished."""
    _state["writing"] = True
    try:
        yield
    finally:
        _state["writing"] = False
        pending, _state["pending"] = _state["pending"], None
        if pending is not None:
            stop(pending)
