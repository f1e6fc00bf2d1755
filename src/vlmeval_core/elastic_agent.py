"""torchrun for a multi-node run's ranks, ending with the run's exit code and one line rather than torchrun's
blanket 1 and a page of logs.

``python -m vlmeval_core.elastic_agent ARGS`` is ``torchrun ARGS`` (the same
``torch.distributed.run`` entry point, the same flags), except for:

* how it exits: a rank's own code (2 bad input, 3 runtime failure) when a rank
  fails, and 128 + the signal number (130, 143) when the run is interrupted,
  so ``docker run`` and scripts see what docs/architecture.md promises (exit codes);
* what it prints: one ``vlmeval: error: …`` line, the root cause among the
  ranks' reports (:mod:`vlmeval_core.failure`), instead of every rank's error
  and torch elastic's log lines (those come back with ``VLMEVAL_DEBUG=1``);
* what it prints when the run succeeds: the run's ``summary.md`` and its directory on
  stdout, unless ``VLMEVAL_QUIET=1`` (:mod:`vlmeval_core.run_summary`);
* its pid in ``VLMEVAL_AGENT_PID``: the parent each rank watches, so that no rank
  outlives it (:mod:`vlmeval_core.signals`);
* how fast it is gone: once the ranks have ended it leaves without the
  interpreter's teardown, which takes seconds on a loaded host (docker stop
  allows 10 s in all);
* started by ``vlmeval eval``, it also ends the launch's attempt: it records
  the exit code and releases the run lock (:func:`vlmeval_core.attempts.conclude`).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from vlmeval_core import attempts, failure
from vlmeval_core.run_summary import print_summary
from vlmeval_core.signals import AGENT_PID_VARIABLE

if TYPE_CHECKING:
    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

QUIETED_LOGGERS = ("torch.distributed.elastic", "torch.distributed.run")
"""torch's loggers whose lines repeat, less clearly, what the one line says."""


def exit_code_of_failure(exitcode: int) -> int:
    """A rank's exit code as a shell reports it: a signal -N becomes 128 + N."""
    if exitcode < 0:
        return 128 + abs(exitcode)
    return exitcode or 1


def rank_failures(failures: Mapping[int, ProcessFailure]) -> list[failure.Failure]:
    """Every failed rank's report; a rank that left none (killed by a signal, crashed
    outside Python) gets one made from its exit code. A rank stopped by SIGTERM or
    SIGINT was most likely stopped by torchrun after another rank failed."""
    reports = []
    for rank, process in failures.items():
        found = failure.read_report(process.error_file)
        if found is None:
            code = exit_code_of_failure(process.exitcode)
            stopped = code in (128 + signal.SIGTERM, 128 + signal.SIGINT)
            found = failure.Failure(
                f"rank {rank} ended with exit code {code}{_signal_note(process.exitcode)} "
                "without a report; finished items are checkpointed; rerun with the same "
                "--run-name to resume",
                code,
                rank,
                failure.PEER if stopped else failure.OWN,
                float(process.timestamp),
            )
        reports.append(found)
    return reports


def _signal_note(exitcode: int) -> str:
    if exitcode >= 0:
        return ""
    name = signal.Signals(-exitcode).name
    return (
        f" ({name}: out of memory, or killed from outside?)" if name == "SIGKILL" else f" ({name})"
    )


class _Quiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(QUIETED_LOGGERS)


def quiet_torch_logs() -> None:
    """Drop torch elastic's log lines from torch's stderr handlers."""
    for name in ("torch", "torch.distributed", ""):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(_Quiet())


def _run_dir(argv: list[str]) -> Path | None:
    """The run directory: the plan's, the last argument of the worker command."""
    return Path(argv[-1]).parent if argv and argv[-1].endswith(".json") else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ[AGENT_PID_VARIABLE] = str(os.getpid())
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun_main

    if not failure.debug():
        quiet_torch_logs()
    try:
        torchrun_main(argv)
    except SignalException as exc:
        print(
            f"vlmeval: stopped by {signal.Signals(exc.sigval).name}: finished items are "
            "checkpointed; rerun with the same --run-name to resume",
            file=sys.stderr,
        )
        return 128 + int(exc.sigval)
    except ChildFailedError as exc:
        cause = failure.root_cause(rank_failures(exc.failures))
        failure.print_line(cause)
        return cause.exit_code
    except Exception as exc:  # torchrun's own failure: rendezvous, temp dir, a bad flag
        run_dir = _run_dir(argv)
        found = failure.fail(exc, None, run_dir, [str(run_dir)] if run_dir else [])
        failure.print_line(found)
        return found.exit_code
    run_dir = _run_dir(argv)
    if run_dir is not None:
        print_summary(run_dir)
    return 0


def exit_now(code: int) -> None:
    """End the process with ``code``, skipping the interpreter's teardown."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(attempts.conclude(main()))
