"""How the process that runs a node's ranks ends: the exit code, the one line, the summary.

Shared by the one-node supervisor (:mod:`vlmeval_core.supervisor`), the
multi-node torchrun wrapper (:mod:`vlmeval_core.elastic_agent`), an endpoint
run's one process (:mod:`vlmeval_core.endpoint`) and each rank (``exit_now``).
Torch-free.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

from vlmeval_core import failure


def exit_code_of_failure(exitcode: int) -> int:
    """A rank's exit code as a shell reports it: a signal -N becomes 128 + N."""
    if exitcode < 0:
        return 128 + abs(exitcode)
    return exitcode or 1


def rank_failure(
    rank: int, exitcode: int, error_file: str | os.PathLike[str], timestamp: float
) -> failure.Failure:
    """The report of a rank that ended with ``exitcode``: the one it wrote to ``error_file``,
    or, when it left none (killed by a signal, crashed outside Python), one made from its
    exit code. A rank stopped by SIGTERM or SIGINT was most likely stopped by its
    supervisor after another rank failed: its cause is ``peer``."""
    found = failure.read_report(error_file)
    if found is not None:
        return found
    code = exit_code_of_failure(exitcode)
    stopped = code in (128 + signal.SIGTERM, 128 + signal.SIGINT)
    return failure.Failure(
        f"rank {rank} ended with exit code {code}{_signal_note(exitcode)} without a "
        "report; finished items are checkpointed; rerun with the same --run-name to resume",
        code,
        rank,
        failure.PEER if stopped else failure.OWN,
        float(timestamp),
    )


def _signal_note(exitcode: int) -> str:
    if exitcode >= 0:
        return ""
    name = signal.Signals(-exitcode).name
    return (
        f" ({name}: out of memory, or killed from outside?)" if name == "SIGKILL" else f" ({name})"
    )


def print_stopped(signum: int) -> int:
    """Say that a stop signal ended the run; its exit code, 128 + the signal number."""
    print(
        f"vlmeval: stopped by {signal.Signals(signum).name}: finished items are "
        "checkpointed; rerun with the same --run-name to resume",
        file=sys.stderr,
        flush=True,
    )
    return 128 + int(signum)


def run_dir_of(argv: list[str]) -> Path | None:
    """The run directory: the plan's, the last argument of the worker command."""
    return Path(argv[-1]).parent if argv and argv[-1].endswith(".json") else None


def exit_now(code: int) -> None:
    """End the process with ``code``, its logs and output flushed, skipping the
    interpreter's teardown: docker stop allows 10 s in all, and with torch and
    transformers loaded a rank's teardown (its garbage collection) takes about a second,
    several on a loaded host, after everything is written."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
