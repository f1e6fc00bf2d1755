"""One line per failure: how a rank reports its failure, and which report the run shows.

A failing rank turns its exception into one line (:func:`describe`), appends the
traceback to ``<run>/logs/rank-<r>.log``, and writes a report into the error
file its supervisor gave it (``TORCHELASTIC_ERROR_FILE``, in torch's own format
plus a ``vlmeval`` entry; :mod:`vlmeval_core.supervisor` on one node, torchrun
under :mod:`vlmeval_core.elastic_agent` on several). Under either the rank
prints nothing: its supervisor reads every rank's report and prints the one line of the rank that
failed first on its own account (:func:`root_cause`). A rank that only lost its
peers (an error out of ``torch.distributed`` after another rank died) reports
the cause ``peer``, which is shown only when no rank has a report of its own.
``VLMEVAL_DEBUG=1`` also prints the tracebacks on the terminal.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from vlmeval_core.errors import RuntimeFailure, VlmevalError
from vlmeval_core.oserror import explain
from vlmeval_core.signals import AGENT_PID_VARIABLE

ERROR_FILE_VARIABLE = "TORCHELASTIC_ERROR_FILE"
DEBUG_VARIABLE = "VLMEVAL_DEBUG"

OWN, PEER = "own", "peer"


@dataclass(frozen=True)
class Failure:
    """What one rank reports: the line (without ``vlmeval: error:``), its exit code, and
    whether the rank failed on its own account (``own``) or because a peer was lost."""

    message: str
    exit_code: int
    rank: int
    cause: str
    time: float


def debug() -> bool:
    """True when VLMEVAL_DEBUG asks for tracebacks on the terminal."""
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def wrapped() -> bool:
    """True when the rank runs under a supervisor of ours (one node's, or torchrun's wrapper),
    which prints the line."""
    return bool(os.environ.get(AGENT_PID_VARIABLE))


def describe(
    exc: BaseException,
    rank: int | None,
    volumes: Iterable[str | os.PathLike[str]] = (),
    log: Path | None = None,
    agent: str = "torchrun",
) -> Failure:
    """The one line for ``exc``, raised in ``rank`` (None: in ``agent``, the process that
    supervises the ranks); an unexpected error's line points at its traceback in ``log``."""
    who = agent if rank is None else f"rank {rank}"
    rank = -1 if rank is None else rank
    if isinstance(exc, OSError) and (known := explain(exc, list(volumes))) is not None:
        exc = known
    if isinstance(exc, VlmevalError):
        return Failure(" ".join(str(exc).split()), exc.exit_code, rank, OWN, time.time())
    if type(exc).__name__ == "OutOfMemoryError":
        message = (
            f"{who}: out of memory ({_first_line(exc)}); lower --batch-size "
            "or use --gpus-per-model 2"
        )
        return Failure(message, RuntimeFailure.exit_code, rank, OWN, time.time())
    cause = PEER if _raised_in_torch_distributed(exc) else OWN
    message = f"{who}: {type(exc).__name__}: {_first_line(exc)}"
    if cause == PEER:
        message += " (lost contact with another rank; that rank's error is the cause)"
    elif log is not None:
        message += f" (traceback in {log})"
    return Failure(message, RuntimeFailure.exit_code, rank, cause, time.time())


def write_log(run_dir: Path | None, name: str, text: str) -> Path | None:
    """Append ``text`` to ``<run_dir>/logs/<name>.log``; None where that cannot be done."""
    if run_dir is None:
        return None
    path = Path(run_dir) / "logs" / f"{name}.log"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"--- {stamp} pid {os.getpid()}\n{text}")
    except OSError:
        return None
    return path


def report(failure: Failure, traceback_text: str) -> None:
    """Write ``failure`` to this rank's torchrun error file, when torchrun gave it one.

    torch's part (``message``) lets torchrun's own tools read it; the ``vlmeval`` part
    is what :func:`read_report` reads back.
    """
    path = os.environ.get(ERROR_FILE_VARIABLE)
    if not path:
        return
    data = {
        "message": {
            "message": failure.message,
            "extraInfo": {"py_callstack": traceback_text, "timestamp": str(int(failure.time))},
        },
        "vlmeval": asdict(failure),
    }
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(data), encoding="utf-8")
    except OSError:
        pass


def read_report(path: str | os.PathLike[str]) -> Failure | None:
    """The :class:`Failure` a rank wrote to ``path``, or None (no file, not ours)."""
    try:
        entry = json.loads(Path(path).read_text(encoding="utf-8"))["vlmeval"]
        return Failure(**entry)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def root_cause(failures: Iterable[Failure]) -> Failure:
    """The report to show: the earliest of its own account, else the earliest at all."""
    return min(failures, key=lambda f: (f.cause != OWN, f.time))


def fail(
    exc: BaseException,
    rank: int | None,
    run_dir: Path | None,
    volumes: Iterable[str] = (),
    agent: str = "torchrun",
) -> Failure:
    """Record ``exc`` as the failure of ``rank`` (None: of ``agent``, the process that
    supervises the ranks): the traceback to its log in ``<run_dir>/logs/`` (and to the
    terminal with VLMEVAL_DEBUG=1), the report to its error file. Returns the failure;
    printing its line is the caller's."""
    text = traceback.format_exc()
    log = write_log(run_dir, agent if rank is None else f"rank-{rank}", text)
    found = describe(exc, rank, volumes, log, agent)
    report(found, text)
    if debug():
        print(text, end="", file=sys.stderr, flush=True)
    return found


def print_line(found: Failure) -> None:
    """The one terminal line of a failure."""
    print(f"vlmeval: error: {found.message}", file=sys.stderr, flush=True)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _raised_in_torch_distributed(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and f"torch{os.sep}distributed{os.sep}" in frames[-1].filename
