"""Every launch of a run is an attempt: when, where, how many ranks, with what, how it ended.

The launcher of each node appends a ``start`` record to its node's file,
``<run_dir>/attempts.node-<n>.jsonl`` (one writer per file, the holder of the
node's run lock, so hosts never append to one file over NFS), and the process that
runs the ranks appends the ``end`` record with the exit code when it ends; both are
:mod:`vlmeval_core.lifecycle`'s. A start record also states the versions of what
makes the predictions (torch, transformers, tokenizers, torch's CUDA) and the image
(``versions``, ``image``). An attempt killed outright (SIGKILL, power loss) has no end
record: its exit stays unknown (null), and its wall time is not counted. The manifest
lists them all (:func:`history`), each with its ``state``: ``ended``, ``running`` (no
end record yet, and its node's lock is held by it now: another node still ending when
rank 0 writes the manifest) or ``unknown`` (no end record, no holder: killed outright).
The launcher tells the process that runs the ranks which attempt it runs through
``VLMEVAL_RUN_ATTEMPT`` (JSON: attempts file, attempt id, lock file and descriptor, and
the monotonic clock's reading at the start).

An attempt's ``wall_s`` comes from the monotonic clock of its host (the end record
carries it), so a wall clock that steps back or forward (NTP, a VM resumed) does not
change it; an end record without it (older runs) falls back on ``ended - started``,
unknown (null) where that is negative. A record that is not what this module writes
(not JSON, a field missing or of another type, a time without its timezone) is
skipped with one warning naming the file and line: the manifest of a finished run
never fails over a hand-edited or torn attempts file. Torch-free.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
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
    clock: float = field(default=0.0, compare=False)
    """``time.monotonic()`` at the start, on this host: what ``wall_s`` is measured from."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def elapsed_s(clock: float) -> float:
    """Seconds since the monotonic reading ``clock`` (never negative)."""
    return round(max(0.0, time.monotonic() - clock), 3)


def start(
    run_dir: Path,
    *,
    node_rank: int,
    nproc: int,
    nnodes: int,
    batch_size: int,
    gpus_per_model: int,
    limit: int | None,
    provenance: Mapping[str, Any] | None = None,
    attempt_id: str | None = None,
) -> Attempt:
    """Record the start of an attempt (with ``provenance``: its versions and image) and
    return it; ``attempt_id`` (:func:`new_id`) when the caller needs it before the record."""
    attempt = Attempt(
        id=attempt_id or new_id(),
        node_rank=node_rank,
        host=socket.gethostname(),
        started=now(),
        world_size=nproc * nnodes,
        nproc=nproc,
        nnodes=nnodes,
        batch_size=batch_size,
        gpus_per_model=gpus_per_model,
        limit=limit,
        clock=time.monotonic(),
    )
    record = {k: v for k, v in asdict(attempt).items() if k != "clock"}
    append_jsonl(
        attempts_file(run_dir, node_rank), [{"event": "start", **record, **(provenance or {})}]
    )
    return attempt


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def attempts_file(run_dir: Path, node_rank: int) -> Path:
    return Path(run_dir) / f"attempts.node-{node_rank}.jsonl"


def current_id(environ: Mapping[str, str] | None = None) -> str | None:
    """The id of the attempt this process belongs to (None without a launcher)."""
    raw = (os.environ if environ is None else environ).get(ENV_VARIABLE)
    return json.loads(raw)["id"] if raw else None


def current_wall_s(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds since this process's attempt started, by the monotonic clock (None: unknown)."""
    raw = (os.environ if environ is None else environ).get(ENV_VARIABLE)
    clock = json.loads(raw).get("clock") if raw else None
    return elapsed_s(clock) if isinstance(clock, int | float) else None


def history(
    run_dir: Path, finishing: str | None = None, exit_code: int = 0
) -> list[dict[str, Any]]:
    """Every attempt with ``ended``, ``exit`` and ``wall_s`` (None where unknown) and its
    ``state`` (see the module docstring).

    ``finishing`` is the attempt that is completing the run right now: it ends now,
    with ``exit_code``, its ``wall_s`` the monotonic time since it started
    (:func:`current_wall_s`). Records that do not read as this module's are skipped,
    each with one warning naming its file and line.
    """
    live = running_attempts(run_dir, _held_lock())  # before the records: see running_attempts
    records = list(_valid_records(run_dir))
    starts = sorted((r for r in records if r["event"] == "start"), key=lambda r: r["_started"])
    attempts = {
        r["id"]: {
            **r,
            "ended": None,
            "exit": None,
            "wall_s": None,
            "state": "running" if r["id"] in live else "unknown",
        }
        for r in starts
    }
    for record in records:
        if record["event"] == "end" and record["id"] in attempts:
            attempt = attempts[record["id"]]
            wall = record.get("wall_s")
            if wall is None:  # an older end record: the wall clock's difference, if sane
                wall = _seconds(attempt["_started"], record["_ended"])
            attempt.update(ended=record["ended"], exit=record["exit"], wall_s=wall, state="ended")
    if finishing in attempts:
        attempt, ended = attempts[finishing], now()
        wall = current_wall_s()
        if wall is None:  # a launcher that handed no clock
            wall = _seconds(attempt["_started"], datetime.fromisoformat(ended))
        attempt.update(ended=ended, exit=exit_code, wall_s=wall, state="ended")
    for attempt in attempts.values():
        for key in ("event", "_started", "_line"):
            del attempt[key]
    return list(attempts.values())


def any_earlier(run_dir: Path, node_rank: int) -> bool:
    """Whether the run had an attempt before this launch: one that is not running now on
    another node (the launch that holds node ``node_rank``'s lock calls it, before its
    own start record). Quiet: the manifest warns about the records it skips."""
    live = running_attempts(run_dir, run_lock.lock_path(run_dir, node_rank))
    return any(
        r["event"] == "start" and r["id"] not in live for r in _valid_records(run_dir, warn=False)
    )


def running_attempts(run_dir: Path, held: Path | None) -> set[str]:
    """The attempts whose node's lock is held by them now (:func:`run_lock.running_attempt`),
    but for the lock at ``held``, which this process holds: it must never open that file.

    Read before the records: an attempt appends its end record before it releases its lock,
    so one found running and then without an end record was still running.
    """
    found = set()
    for path in sorted(Path(run_dir).glob(".node-*.lock")):
        if held is not None and path == held:
            continue
        attempt = run_lock.running_attempt(path)
        if attempt is not None:
            found.add(attempt)
    return found


def run_versions(run_dir: Path) -> dict[str, Any] | None:
    """The ``versions`` of the run's first attempt that recorded them (None: none did)."""
    starts = [
        r
        for r in _valid_records(run_dir, warn=False)
        if r["event"] == "start" and isinstance(r.get("versions"), dict)
    ]
    return min(starts, key=lambda r: r["_started"])["versions"] if starts else None


def _held_lock() -> Path | None:
    """The lock file this process holds, as the launcher handed it (None: none)."""
    raw = os.environ.get(ENV_VARIABLE)
    if not raw:
        return None
    handed = json.loads(raw)
    path = Path(handed["lock"])
    return path if run_lock.holds(int(handed["lock_fd"]), path) else None


def total_wall_s(attempts: list[dict[str, Any]]) -> float:
    """Wall time over the attempts of node 0 whose end is known (never negative)."""
    return round(
        sum(
            a["wall_s"]
            for a in attempts
            if a["node_rank"] == 0 and a["wall_s"] is not None and a["wall_s"] >= 0
        ),
        3,
    )


_START_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "node_rank": (int,),
    "host": (str,),
    "started": (str,),
    "world_size": (int,),
    "nproc": (int,),
    "nnodes": (int,),
    "batch_size": (int,),
    "gpus_per_model": (int,),
    "limit": (int, type(None)),
}
_END_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "ended": (str,),
    "exit": (int, type(None)),
}


def _valid_records(run_dir: Path, *, warn: bool = True) -> Iterator[dict[str, Any]]:
    """Each record of the run's attempts files that reads as a start or an end record,
    with its times parsed (``_started``, ``_ended``); the others are warned about
    (unless not ``warn``)."""
    for path in sorted(Path(run_dir).glob("attempts.node-*.jsonl")):
        for line, record in enumerate(read_jsonl(path), start=1):
            problem = _problem(record)
            if problem is not None:
                if not warn:
                    continue
                print(
                    f"vlmeval: warning: {path}: line {line}: {problem}; the record is skipped "
                    "(the manifest lists the attempts of the other records)",
                    file=sys.stderr,
                    flush=True,
                )
                continue
            assert record is not None
            yield {**record, "_line": line}


def _problem(record: dict[str, Any] | None) -> str | None:
    """Why ``record`` is no attempts record (None: it is one); parses its times in place."""
    if record is None:
        return "not a JSON object"
    event = record.get("event")
    fields = {"start": _START_FIELDS, "end": _END_FIELDS}.get(event)  # type: ignore[arg-type]
    if fields is None:
        return f"event {event!r} is neither 'start' nor 'end'"
    for name, types in fields.items():
        value = record.get(name)
        if not isinstance(value, types) or isinstance(value, bool):
            return f"{event} record: {name} {value!r} is not a {' or '.join(_names(types))}"
    stamp = "started" if event == "start" else "ended"
    parsed = _aware_time(record[stamp])
    if parsed is None:
        return f"{event} record: {stamp} {record[stamp]!r} is not an ISO time with a timezone"
    record[f"_{stamp}"] = parsed
    wall = record.get("wall_s")
    if event == "end" and wall is not None:
        if isinstance(wall, bool) or not isinstance(wall, int | float):
            return f"end record: wall_s {wall!r} is not a number"
        if not math.isfinite(wall) or wall < 0:
            return f"end record: wall_s {wall!r} is not a finite number of seconds, 0 or more"
    return None


def _names(types: tuple[type, ...]) -> list[str]:
    return [
        "null" if t is type(None) else {"str": "string", "int": "whole number"}[t.__name__]
        for t in types
    ]


def _aware_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else None


def _seconds(started: datetime, ended: datetime) -> float | None:
    """``ended - started`` by the wall clock; None where the clock stepped back."""
    delta = round((ended - started).total_seconds(), 3)
    return delta if delta >= 0 else None
