"""A run's lifecycle on one node: claim, attempt start, attempt end, lock release.

* :func:`claim` (the launcher, before any work): take this node's run lock
  (:mod:`vlmeval_core.run_lock`; a second launch is refused at once), move the old
  run aside on ``--restart``, check that a resume is one (:func:`check_resume`: the
  identity, :mod:`vlmeval_core.identity`, and the versions of what makes the
  predictions), write the identity (first launch), ``plan.json`` (a hub model pinned
  to the commit the run started with) and the attempt's start record with its
  provenance (:mod:`vlmeval_core.attempts`), the attempt named in the lock file first.
* :func:`handover`: what the launcher puts in the environment of the process it
  execs (the supervisor, torchrun's wrapper, the endpoint's process), which inherits
  the lock's descriptor.
* :func:`conclude` (that process, as it ends, whatever ends it): the end record
  with the exit code, then the lock's release. The launcher calls it too when the
  exec itself fails.

The resume rule for versions: a run whose model runs in the ranks (backend
``transformers``) resumes only under the torch, transformers, tokenizers and CUDA
(torch's build) versions its first attempt recorded; other versions are refused
(exit 2) naming each, with the ways out (a run that recorded none, older than this
rule, resumes). An endpoint run (``api``) is not held to them: its server makes the
predictions, and the identity holds what reaches it. The image (version, revision,
its base with digest) is recorded, never compared: a rebuild of one lock makes the
same predictions.

Torch-free and pydantic-free at import: the supervisor imports it (identity and the
plan are imported by :func:`claim` and :func:`check_resume` only).
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlmeval_core import attempts, run_lock
from vlmeval_core.errors import UsageError
from vlmeval_core.files import append_jsonl

if TYPE_CHECKING:
    from vlmeval_core.run_plan import Plan

PREDICTION_PACKAGES = ("torch", "transformers", "tokenizers")
"""The packages whose versions make a transformers-backend run's predictions (with CUDA)."""

IMAGE_VARIABLES = {
    "version": "VLMEVAL_IMAGE_VERSION",
    "revision": "VLMEVAL_IMAGE_REVISION",
    "base": "VLMEVAL_IMAGE_BASE",
}
"""What docker/Dockerfile states about the image (unset outside it). An image cannot hold
its own digest (the digest hashes its config); its base's digest is in ``base``."""


@dataclass(frozen=True)
class Claim:
    """A run directory this launch owns until the process it execs ends."""

    lock: run_lock.RunLock
    attempt: attempts.Attempt
    resuming: bool
    """The run had an attempt before this launch (not one of this launch's other nodes)."""
    moved_to: Path | None


def claim(
    plan: Plan,
    identity: dict[str, Any],
    *,
    node_rank: int,
    nproc: int,
    nnodes: int,
    restart: bool,
) -> Claim:
    """Lock, check or move aside, record: see the module docstring."""
    from vlmeval_core.identity import write_identity

    run_dir = plan.run_dir
    lock = run_lock.acquire(run_dir, node_rank)
    try:
        moved_to = None
        if restart and _holds_a_run(run_dir):
            moved_to = _move_aside(run_dir)
            run_lock.release(lock.fd)
            lock = run_lock.acquire(run_dir, node_rank)
        found = provenance()
        known = check_resume(plan, identity, found["versions"])
        write_identity(run_dir, known or identity)
        resuming = attempts.any_earlier(run_dir, node_rank)
        pinned(plan, known or identity).write()
        attempt_id = attempts.new_id()
        run_lock.name_attempt(lock, attempt_id)  # first: a record is never without its holder
        attempt = attempts.start(
            run_dir,
            node_rank=node_rank,
            nproc=nproc,
            nnodes=nnodes,
            batch_size=plan.model.batch_size,
            gpus_per_model=plan.model.gpus_per_model,
            limit=plan.limit,
            provenance=found,
            attempt_id=attempt_id,
        )
    except BaseException:
        run_lock.release(lock.fd)
        raise
    return Claim(lock, attempt, resuming, moved_to)


def check_resume(
    plan: Plan, identity: dict[str, Any], versions: Mapping[str, str | None] | None = None
) -> dict[str, Any] | None:
    """The run's identity, filled in from ``identity`` where it lacked a late field; None for
    a new run. A different identity, or (backend ``transformers``) other ``versions`` than
    the run's (default: this process's), raises UsageError naming each and the ways out."""
    from vlmeval_core.identity import differences, filled_in, load_identity

    run_dir = plan.run_dir
    old = load_identity(run_dir)
    if old is None:
        return None
    found = differences(old, identity)
    if found:
        raise UsageError(
            f"run {run_dir} was started with other settings, so its predictions cannot be "
            f"resumed with these: {'; '.join(found)}. "
            + _ways_out(run_dir, "Rerun with the run's settings")
        )
    recorded = attempts.run_versions(run_dir)
    if recorded is not None and plan.model.backend == "transformers":
        now = provenance()["versions"] if versions is None else versions
        changed = [
            f"{name} was {recorded.get(name)}, now {now.get(name)}"
            for name in sorted(recorded.keys() | now.keys())
            if recorded.get(name) != now.get(name)
        ]
        if changed:
            raise UsageError(
                f"run {run_dir} made its predictions with other versions, so they cannot be "
                f"resumed with these: {'; '.join(changed)}. "
                + _ways_out(run_dir, "Resume it where they are the run's (the image or venv)")
            )
    return filled_in(old, identity)


def pinned(plan: Plan, identity: dict[str, Any]) -> Plan:
    """``plan`` with a hub model's revision set to the run's commit, once the run knows it,
    so a resume loads the weights the run started with even if the branch has moved."""
    commit = identity["model"]["commit"]
    if plan.model.source != "hub" or commit is None or plan.model.revision == commit:
        return plan
    return dataclasses.replace(plan, model=dataclasses.replace(plan.model, revision=commit))


def provenance() -> dict[str, dict[str, str | None]]:
    """What this attempt runs with: the versions of what makes predictions (read without
    importing torch) and the image (None outside it)."""
    versions = {name: _version(name) for name in PREDICTION_PACKAGES}
    versions["cuda"] = torch_cuda()
    image = {key: os.environ.get(variable) for key, variable in IMAGE_VARIABLES.items()}
    return {"versions": versions, "image": image}


def torch_cuda() -> str | None:
    """The CUDA version torch was built for (None: no torch, or a CPU build), read from
    ``torch/version.py`` without importing torch."""
    try:
        source = metadata.distribution("torch").locate_file("torch/version.py")
        tree = ast.parse(Path(str(source)).read_text(encoding="utf-8"))
    except (metadata.PackageNotFoundError, OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "cuda" and node.value is not None:
            value = node.value
            return value.value if isinstance(value, ast.Constant) and value.value else None
    return None


def handover(run_dir: Path, attempt: attempts.Attempt, lock: run_lock.RunLock) -> dict[str, str]:
    """The variable that tells the process the launcher execs which attempt to conclude and
    which lock to release; makes the lock's descriptor survive the exec."""
    os.set_inheritable(lock.fd, True)
    value = {
        "file": str(attempts.attempts_file(run_dir, attempt.node_rank)),
        "id": attempt.id,
        "lock": str(lock.path),
        "lock_fd": lock.fd,
        "clock": attempt.clock,
    }
    return {attempts.ENV_VARIABLE: json.dumps(value)}


def conclude(exit_code: int, environ: Mapping[str, str] | None = None) -> int:
    """End this process's attempt: append the end record with ``exit_code``, release the lock.

    Returns ``exit_code``; does nothing for a process started without a launcher, or one
    that inherited the variable but not the lock.
    """
    env = os.environ if environ is None else environ
    raw = env.get(attempts.ENV_VARIABLE)
    if not raw:
        return exit_code
    handed = json.loads(raw)
    fd = int(handed["lock_fd"])
    if not run_lock.holds(fd, Path(handed["lock"])):
        return exit_code  # a variable inherited from elsewhere: not this process's attempt
    end = {"event": "end", "id": handed["id"], "ended": attempts.now(), "exit": exit_code}
    if isinstance(handed.get("clock"), int | float):
        end["wall_s"] = attempts.elapsed_s(handed["clock"])
    try:
        append_jsonl(handed["file"], [end])
    finally:
        run_lock.release(fd)
    return exit_code


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _ways_out(run_dir: Path, first: str) -> str:
    return (
        f"{first}, give this run another --run-name, or pass "
        f"--restart to move the old run aside (to {run_dir.name}.replaced-<time>) and start "
        "it over"
    )


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
