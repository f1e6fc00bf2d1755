"""``vlmeval status RUN_DIR``: what a run's shards have done, read from the volume alone.

Per shard and dataset: items done (a prediction or an item error recorded), remaining,
failed (done with an error), and the shard's attempts (how many, and how the last one
stands: ended with its exit code, running, or unknown: killed outright). It reads
plan.json, each dataset's ``.items.json`` (:mod:`vlmeval_core.shards`), the checkpoints
and the attempts files: it takes no lock, starts nothing and needs no cluster or TSV.
An unsharded run is shard 0 of 1 (its node 0). Torch-free.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vlmeval_core import attempts
from vlmeval_core.checkpoints import read_checkpoints
from vlmeval_core.run_plan import load_run_plan
from vlmeval_core.shards import read_items, shard_of


@dataclass(frozen=True)
class ShardProgress:
    """One shard's state on one dataset (``items`` None: no shard has started it)."""

    shard: int
    dataset: str
    items: int | None
    done: int
    failed: int
    attempts: int
    last_attempt: str

    @property
    def remaining(self) -> int | None:
        return None if self.items is None else self.items - self.done

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "remaining": self.remaining}


def run_status(run_dir: Path) -> list[ShardProgress]:
    """Every shard's progress on every dataset of the run at ``run_dir``, shard by shard."""
    plan = load_run_plan(run_dir)
    history = attempts.history(run_dir)
    rows = []
    for shard in range(plan.shards):
        own = [a for a in history if a["node_rank"] == shard]
        last = _attempt_text(own[-1]) if own else "none"
        for ref in plan.datasets:
            indices = read_items(run_dir / ref.name)
            if indices is None:
                rows.append(ShardProgress(shard, ref.name, None, 0, 0, len(own), last))
                continue
            mine = [i for p, i in enumerate(indices) if shard_of(p, plan.shards) == shard]
            done = read_checkpoints(run_dir / ref.name, mine, warn=False)
            failed = sum(1 for record in done.values() if record.get("error"))
            found = ShardProgress(shard, ref.name, len(mine), len(done), failed, len(own), last)
            rows.append(found)
    return rows


def _attempt_text(attempt: dict[str, Any]) -> str:
    if attempt["state"] == "ended":
        return f"ended, exit {attempt['exit']}"
    return str(attempt["state"])
