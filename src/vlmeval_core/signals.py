"""Prompt, clean exits on SIGTERM (``docker stop``) and SIGINT (Ctrl-C).

The handler raises :class:`Interrupted` at once, except while a checkpoint
line is being written: then the stop waits until the write is whole and
fsync'd, so nothing finished is lost and no line is torn by our own exit.
Exit codes follow the shell: 143 for SIGTERM, 130 for SIGINT.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Interrupted(BaseException):
    """A stop signal arrived; what is checkpointed is kept and a rerun resumes."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.exit_code = 128 + signum


_state = {"writing": False, "pending": None}


def _handle(signum: int, _frame: FrameType | None) -> None:
    if _state["writing"]:
        _state["pending"] = signum
        return
    raise Interrupted(signum)


def install() -> None:
    """Route SIGTERM and SIGINT to :class:`Interrupted`."""
    signal.signal(signal.SIGTERM, _handle)
    signal.signal(signal.SIGINT, _handle)


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
            raise Interrupted(pending)
