"""Every launch of a run is an attempt: when, where, how many ranks, and how it ended.

The launcher of each node appends a ``start`` record to its node's file,
``<run_dir>/attempts.node-<n>.jsonl`` (one writer per file, the holder of the
node's run lock, so hosts never append to one file over NFS), before it execs
the ranks' supervisor (:mod:`vlmeval_core.supervisor`, or torchrun's wrapper
:mod:`vlmeval_core.elastic_agent`), which appends the ``end`` record with the exit code when
it ends (:func:`conclude`, which also releases the run lock). An attempt killed
outright (SIGKILL, power loss) has no end record: its exit stays unknown (null),
and its wall time is not counted. The manifest lists them all (:func:`history`).
The launcher tells the supervisor which attempt it runs through ``VLMEVAL_RUN_ATTEMPT``
(JSON: attempts file, attempt id, lock file and descriptor). Torch-free.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vlmeval_core import run_lock
from vlmeval_core.files import append_jsonl, read_jsonl

ENV_VARIABLE = "VLMEVAL_RUN_ATTEMPT"


@dataclass(frozen=True)
class Attempt:
    """One launch on one node, with the settings that may differ between launches."""

    id: str
    node_rank: int
    host: str
    started: str
    world_size: int
    nproc: int
    nnodes: int
    batch_size: int
    gpus_per_model: int
    limit: int | None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def start(
    run_dir: Path,
    *,
    node_rank: int,
    nproc: int,
    nnodes: int,
    batch_size: int,
    gpus_per_model: int,
    limit: int | None,
) -> Attempt:
    """Record the start of an attempt and return it."""
    attempt = Attempt(
        id=uuid.uuid4().hex[:12],
        node_rank=node_rank,
        host=socket.gethostname(),
        started=now(),
        world_size=nproc * nnodes,
        nproc=nproc,
        nnodes=nnodes,
        batch_size=batch_size,
        gpus_per_model=gpus_per_model,
        limit=limit,
    )
    append_jsonl(attempts_file(run_dir, node_rank), [{"event": "start", **asdict(attempt)}])
    return attempt


def attempts_file(run_dir: Path, node_rank: int) -> Path:
    return Path(run_dir) / f"attempts.node-{node_rank}.jsonl"


def handover(run_dir: Path, attempt: Attempt, lock: run_lock.RunLock) -> dict[str, str]:
    """The variable that tells the ranks' supervisor which attempt to conclude, which lock to
    release; makes the lock's descriptor survive the exec."""
    os.set_inheritable(lock.fd, True)
    file = attempts_file(run_dir, attempt.node_rank)
    value = {"file": str(file), "id": attempt.id, "lock": str(lock.path), "lock_fd": lock.fd}
    return {ENV_VARIABLE: json.dumps(value)}


def conclude(exit_code: int, environ: Mapping[str, str] | None = None) -> int:
    """The ranks' supervisor ends its attempt: record the exit code, release the lock.

    Returns ``exit_code``; does nothing when it was started without a launcher.
    """
    env = os.environ if environ is None else environ
    raw = env.get(ENV_VARIABLE)
    if not raw:
        return exit_code
    handed = json.loads(raw)
    fd = int(handed["lock_fd"])
    if not run_lock.holds(fd, Path(handed["lock"])):
        return exit_code  # a variable inherited from elsewhere: not this process's attempt
    try:
        append_jsonl(
            handed["file"],
            [{"event": "end", "id": handed["id"], "ended": now(), "exit": exit_code}],
        )
    finally:
        run_lock.release(fd)
    return exit_code


def current_id(environ: Mapping[str, str] | None = None) -> str | None:
    """The id of the attempt this process belongs to (None without a launcher)."""
    raw = (os.environ if environ is None else environ).get(ENV_VARIABLE)
    return json.loads(raw)["id"] if raw else None


def history(run_dir: Path, finishing: str | None = None) -> list[dict[str, Any]]:
    """Every attempt with ``ended``, ``exit`` and ``wall_s`` (None where unknown).

    ``finishing`` is the attempt that is completing the run right now: it ends now,
    with exit 0.
    """
    records = [r for p in sorted(run_dir.glob("attempts.node-*.jsonl")) for r in read_jsonl(p)]
    starts = sorted((r for r in records if r.get("event") == "start"), key=lambda r: r["started"])
    attempts = {r["id"]: {**r, "ended": None, "exit": None} for r in starts}
    for record in records:
        if record.get("event") == "end" and record.get("id") in attempts:
            attempts[record["id"]].update(ended=record["ended"], exit=record["exit"])
    if finishing in attempts:
        attempts[finishing].update(ended=now(), exit=0)
    for attempt in attempts.values():
        del attempt["event"]
        attempt["wall_s"] = _seconds(attempt["started"], attempt["ended"])
    return list(attempts.values())


def total_wall_s(attempts: list[dict[str, Any]]) -> float:
    """Wall time over the attempts of node 0 whose end is known."""
    return round(
        sum(a["wall_s"] for a in attempts if a["node_rank"] == 0 and a["wall_s"] is not None), 3
    )


def _seconds(started: str, ended: str | None) -> float | None:
    if ended is None:
        return None
    delta = datetime.fromisoformat(ended) - datetime.fromisoformat(started)
    return round(delta.total_seconds(), 3)
