"""torchrun for the ranks, ending with the run's exit code rather than torchrun's blanket 1.

``python -m vlmeval_core.torchrun ARGS`` is ``torchrun ARGS`` (the same
``torch.distributed.run`` entry point, the same flags), except for how it
exits: a rank's own code (2 bad input, 3 runtime failure) when a rank
fails, and 128 + the signal number (130, 143) when the run is interrupted,
so ``docker run`` and scripts see what ARCHITECTURE.md promises.
Started by ``vlmeval eval``, it also ends the launch's attempt: it records
the exit code and releases the run lock (:func:`vlmeval_core.attempts.conclude`).
"""

from __future__ import annotations

import signal
import sys

from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import main as torchrun_main

from vlmeval_core import attempts


def exit_code_of_failure(exitcode: int) -> int:
    """A rank's exit code as a shell reports it: a signal -N becomes 128 + N."""
    if exitcode < 0:
        return 128 + abs(exitcode)
    return exitcode or 1


def main(argv: list[str] | None = None) -> int:
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
        rank, failure = exc.get_first_failure()
        code = exit_code_of_failure(failure.exitcode)
        print(
            f"vlmeval: rank {rank} failed with exit code {code} (its error is above)",
            file=sys.stderr,
        )
        return code
    return 0


if __name__ == "__main__":
    sys.exit(attempts.conclude(main()))
