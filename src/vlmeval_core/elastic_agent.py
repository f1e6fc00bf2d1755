"""torchrun for a multi-node run's ranks, ending with the run's exit code and one line rather
than torchrun's blanket 1 and a page of logs.

``python -m vlmeval_core.elastic_agent ARGS`` is ``torchrun ARGS`` (the same
``torch.distributed.run`` entry point, the same flags, its c10d rendezvous
across hosts). A one-node run does not use it: it runs under the torch-free
:mod:`vlmeval_core.supervisor`, which keeps the same promises. They are:

* how it exits: a rank's own code (2 bad input, 3 runtime failure) when a rank
  fails, and 128 + the signal number (130, 143) when the run is interrupted,
  so ``docker run`` and scripts see what docs/architecture.md promises (exit codes);
* what it prints: one ``vlmeval: error: …`` line, the root cause among the
  ranks' reports (:mod:`vlmeval_core.failure`), instead of every rank's error
  and torch elastic's log lines, and without the C++ warnings of torch's
  TCPStore (about 36 lines of them and their stack frames when the node that hosts
  the c10d store dies): ``TORCH_CPP_LOG_LEVEL=ERROR`` for this process and its
  ranks, unless set; the error's whole chain goes to the run's ``logs/`` (all of
  it comes back with ``VLMEVAL_DEBUG=1``);
* what it prints when the run succeeds: the run's ``summary.md`` and its directory on
  stdout, unless ``VLMEVAL_QUIET=1`` (:mod:`vlmeval_core.run_summary`);
* its pid in ``VLMEVAL_AGENT_PID``: the parent each rank watches, so that no rank
  outlives it (:mod:`vlmeval_core.signals`);
* how fast it is gone: once the ranks have ended it leaves without the
  interpreter's teardown, which takes seconds on a loaded host (docker stop
  allows 10 s in all);
* started by ``vlmeval eval``, it also ends the launch's attempt: it records
  the exit code and releases the run lock (:func:`vlmeval_core.lifecycle.conclude`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from vlmeval_core import failure, lifecycle
from vlmeval_core.run_end import exit_now, print_stopped, rank_failure, run_dir_of
from vlmeval_core.run_summary import print_summary
from vlmeval_core.run_verdict import judge_run
from vlmeval_core.signals import AGENT_PID_VARIABLE

if TYPE_CHECKING:
    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

QUIETED_LOGGERS = ("torch.distributed.elastic", "torch.distributed.run")
"""torch's loggers whose lines repeat, less clearly, what the one line says."""

CPP_LOG_LEVEL = ("TORCH_CPP_LOG_LEVEL", "ERROR")
"""torch's C++ log level, read once as libtorch loads: warnings (a TCPStore that lost its
peer, with its stack frames) repeat what the one line says."""


def rank_failures(failures: Mapping[int, ProcessFailure]) -> list[failure.Failure]:
    """Every failed rank's report (:func:`vlmeval_core.run_end.rank_failure`)."""
    return [
        rank_failure(rank, process.exitcode, process.error_file, float(process.timestamp))
        for rank, process in failures.items()
    ]


class _Quiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(QUIETED_LOGGERS)


def quiet_torch_logs() -> None:
    """Drop torch elastic's log lines from torch's stderr handlers."""
    for name in ("torch", "torch.distributed", ""):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(_Quiet())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ[AGENT_PID_VARIABLE] = str(os.getpid())
    if not failure.debug():
        os.environ.setdefault(*CPP_LOG_LEVEL)  # before torch loads; the ranks inherit it
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun_main

    if not failure.debug():
        quiet_torch_logs()
    try:
        torchrun_main(argv)
    except SignalException as exc:
        return print_stopped(exc.sigval)
    except ChildFailedError as exc:
        cause = failure.root_cause(rank_failures(exc.failures))
        failure.print_line(cause)
        return cause.exit_code
    except Exception as exc:  # torchrun's own failure: rendezvous, temp dir, a bad flag
        run_dir = run_dir_of(argv)
        found = failure.fail(exc, None, run_dir, [str(run_dir)] if run_dir else [])
        failure.print_line(found)
        return found.exit_code
    run_dir = run_dir_of(argv)
    if run_dir is not None:
        print_summary(run_dir)
        if hosts_rank_0(argv):  # another node's copy of summary.json may be an old one
            return judge_run(run_dir)
    return 0


def hosts_rank_0(argv: list[str]) -> bool:
    """Whether torchrun's ``argv`` makes this node the one of rank 0 (``--node-rank 0``)."""
    for flag in ("--node-rank", "--node_rank"):
        if flag in argv[:-1]:
            return argv[argv.index(flag) + 1] == "0"
    return True


if __name__ == "__main__":
    exit_now(lifecycle.conclude(main()))
