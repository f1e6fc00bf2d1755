"""Independent shards of one run: which items shard I of N evaluates, and who merges.

``vlmeval eval --shard I/N`` is a complete job of its own (its own lock and attempts:
shard I takes node slot I, ``.node-I.lock`` and ``attempts.node-I.jsonl``), sharing the
run's directory and identity (which holds N) with the other shards. The item at
position ``p`` of a dataset belongs to shard ``p % N``: a function of the dataset alone,
so what a shard predicts depends neither on the node nor on the order shards run in,
and any shard can be run again alone (it resumes from its checkpoints). Within a shard
its ranks split its items as the ranks of an unsharded run split a dataset.

Each shard writes ``<dataset>/.items.json`` (the dataset's indices by position)
so that ``vlmeval status`` and ``vlmeval merge`` know the items without the TSV. A shard
that finds every item of every dataset predicted merges and scores, under
``<run_dir>/.merge.lock`` (:func:`merge_lock`), so that two shards ending together
write the results one after the other. Standard library only.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from vlmeval_core.errors import UsageError
from vlmeval_core.files import open_regular, write_json

SHARDS_LIMIT = 4096
"""The most shards one run may have."""

ITEMS_FILE = ".items.json"
MERGE_LOCK = ".merge.lock"
_SHARD = re.compile(r"(\d{1,9})/(\d{1,9})")


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` as (I, N), 0 <= I < N <= :data:`SHARDS_LIMIT`; anything else is a UsageError."""
    match = _SHARD.fullmatch(text.strip())
    if match is None:
        raise UsageError(
            f"--shard {text!r} is not I/N: give this job's shard and the number of shards, "
            "e.g. --shard 0/4 (SLURM: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)"
        )
    shard, shards = int(match[1]), int(match[2])
    if not 1 <= shards <= SHARDS_LIMIT:
        raise UsageError(f"--shard {text}: the number of shards must be 1 to {SHARDS_LIMIT}")
    if shard >= shards:
        raise UsageError(
            f"--shard {text}: shards are numbered 0 to {shards - 1} (a SLURM array of "
            f"{shards} tasks: --array=0-{shards - 1})"
        )
    return shard, shards


def shard_of(position: int, shards: int) -> int:
    """The shard of the item at ``position``."""
    return position % shards


def positions_of(n_items: int, shard: int, shards: int) -> range:
    """The positions of shard ``shard`` among ``n_items``."""
    return range(shard, n_items, shards)


def missing_shards(indices: Sequence[int], done: set[int] | dict, shards: int) -> list[int]:
    """The shards that still have an item of ``indices`` (by position) without a prediction."""
    return sorted({shard_of(p, shards) for p, index in enumerate(indices) if index not in done})


def items_path(dataset_dir: Path) -> Path:
    return dataset_dir / ITEMS_FILE


def write_items(dataset_dir: Path, indices: Sequence[int]) -> None:
    """Record the dataset's indices by position (every shard writes the same)."""
    write_json(items_path(dataset_dir), {"indices": [int(i) for i in indices]})


def read_items(dataset_dir: Path) -> list[int] | None:
    """The indices :func:`write_items` recorded; None when no shard started the dataset yet.
    A file that is not such a list is a UsageError naming it."""
    path = items_path(dataset_dir)
    broken = f"{path}: not a list of item indices; delete it and rerun a shard"
    try:
        with os.fdopen(open_regular(path, os.O_RDONLY), encoding="utf-8") as handle:
            raw = json.loads(handle.read())
    except FileNotFoundError:
        return None
    except ValueError:
        raise UsageError(broken) from None
    indices = raw.get("indices") if isinstance(raw, dict) else None
    if not isinstance(indices, list) or not all(type(i) is int for i in indices):
        raise UsageError(broken)
    return indices


@contextmanager
def merge_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``<run_dir>/.merge.lock`` (waiting for another shard's merge to end)."""
    fd = open_regular(Path(run_dir) / MERGE_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
