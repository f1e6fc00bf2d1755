"""Claim a run directory before any work: its lock, its identity, its plan, its attempt.

:func:`claim_run` takes this node's run lock (a second launch is refused at
once), compares the run's identity with this launch's (a mismatch stops with
exit 2 and every differing field, unless ``--restart`` moves the old run
aside), then writes the identity (first launch), ``plan.json`` (a hub model
pinned to the commit the run started with) and the attempt's start record.
The lock stays held: its descriptor goes on to the ranks' supervisor through the exec.
Torch-free.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vlmeval_core import attempts, run_lock
from vlmeval_core.errors import UsageError
from vlmeval_core.identity import differences, filled_in, load_identity, write_identity
from vlmeval_core.run_plan import Plan
from vlmeval_launcher.launch import Launch


@dataclass(frozen=True)
class Claim:
    """A run directory this launch owns until the ranks' supervisor ends."""

    lock: run_lock.RunLock
    attempt: attempts.Attempt
    resuming: bool
    moved_to: Path | None


def check_identity(run_dir: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    """The run's identity, filled in from ``identity`` where it lacked a late field; None for
    a new run. A difference raises UsageError naming each field and the two ways out."""
    old = load_identity(run_dir)
    if old is None:
        return None
    found = differences(old, identity)
    if found:
        raise UsageError(
            f"run {run_dir} was started with other settings, so its predictions cannot be "
            f"resumed with these: {'; '.join(found)}. Rerun with the run's settings, give "
            f"this run another --run-name, or pass --restart to move the old run aside "
            f"(to {run_dir.name}.replaced-<time>) and start it over"
        )
    return filled_in(old, identity)


def claim_run(launch: Launch, identity: dict[str, Any], *, restart: bool) -> Claim:
    """Lock, check or move aside, record: see the module docstring."""
    plan = launch.plan
    run_dir = plan.run_dir
    lock = run_lock.acquire(run_dir, launch.node_rank)
    try:
        moved_to = None
        if restart and _holds_a_run(run_dir):
            moved_to = _move_aside(run_dir)
            run_lock.release(lock.fd)
            lock = run_lock.acquire(run_dir, launch.node_rank)
        known = check_identity(run_dir, identity)
        write_identity(run_dir, known or identity)
        resuming = known is not None or (run_dir / "plan.json").exists()
        pinned(plan, known or identity).write()
        attempt = attempts.start(
            run_dir,
            node_rank=launch.node_rank,
            nproc=launch.nproc,
            nnodes=launch.nnodes,
            batch_size=plan.model.batch_size,
            gpus_per_model=plan.model.gpus_per_model,
            limit=plan.limit,
        )
    except BaseException:
        run_lock.release(lock.fd)
        raise
    return Claim(lock, attempt, resuming, moved_to)


def pinned(plan: Plan, identity: dict[str, Any]) -> Plan:
    """``plan`` with a hub model's revision set to the run's commit, once the run knows it,
    so a resume loads the weights the run started with even if the branch has moved."""
    commit = identity["model"]["commit"]
    if plan.model.source != "hub" or commit is None or plan.model.revision == commit:
        return plan
    return dataclasses.replace(plan, model=dataclasses.replace(plan.model, revision=commit))


def _holds_a_run(run_dir: Path) -> bool:
    return any(not p.name.endswith(".lock") for p in run_dir.iterdir())


def _move_aside(run_dir: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    aside = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}")
    try:
        os.rename(run_dir, aside)
    except OSError as exc:
        raise UsageError(
            f"--restart: cannot move {run_dir} aside to {aside} ({exc.strerror or exc}); "
            "move it yourself or use another --run-name"
        ) from None
    return aside
