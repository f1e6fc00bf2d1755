"""Each rank's share of a dataset: deterministic sharding, batching, checkpoints and resume.

Item ``p`` (its position in the dataset) belongs to rank ``p % world_size``,
so every index is predicted by exactly one rank and the merge by index gives
the same predictions whatever the world size. Each rank appends its finished
predictions to ``<dataset dir>/.shards/rank-<r>.jsonl``, fsync'd per batch;
a rerun with the same run name reads every rank file and predicts only what
is missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vlmeval_core.datasets.tsv import Dataset, ItemImageError
from vlmeval_core.distributed import RankInfo
from vlmeval_core.files import append_jsonl, read_jsonl
from vlmeval_core.signals import deferred

SHARDS_DIR = ".shards"

Generate = Callable[[Sequence[tuple[list[Any], str]]], list[str]]
"""Answers a batch of (images, prompt) with one string per item."""


def shard_positions(n_items: int, info: RankInfo) -> list[int]:
    """The dataset positions this rank predicts: every ``world_size``-th, from ``rank``."""
    return list(range(info.rank, n_items, info.world_size))


def checkpoint_path(dataset_dir: Path, rank: int) -> Path:
    return dataset_dir / SHARDS_DIR / f"rank-{rank}.jsonl"


def read_checkpoints(dataset_dir: Path) -> dict[int, dict[str, Any]]:
    """Every finished prediction in any rank's checkpoint, by index (first record wins)."""
    done: dict[int, dict[str, Any]] = {}
    for path in sorted((dataset_dir / SHARDS_DIR).glob("rank-*.jsonl")):
        for record in read_jsonl(path):
            index = record.get("index")
            if isinstance(index, int) and index not in done:
                done[index] = record
    return done


def batches(items: Sequence[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class Progress:
    """Rank 0's bar over items done by all ranks, read from every rank's checkpoint file."""

    def __init__(
        self, dataset_dir: Path, total: int, already: int, enabled: bool, label: str
    ) -> None:
        self._dir = dataset_dir
        self._offsets: dict[Path, int] = {}
        self._bar = tqdm(
            total=total,
            initial=already,
            desc=label,
            unit="item",
            disable=not enabled,
            dynamic_ncols=True,
            mininterval=1.0,
        )
        self._enabled = enabled
        if enabled:
            self._count_new()  # skip what was there before this run started

    def refresh(self) -> None:
        if self._enabled:
            self._bar.update(self._count_new())

    def close(self) -> None:
        self._bar.close()

    def _count_new(self) -> int:
        new = 0
        for path in (self._dir / SHARDS_DIR).glob("rank-*.jsonl"):
            offset = self._offsets.get(path, 0)
            with open(path, "rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
            new += chunk.count(b"\n")
            self._offsets[path] = offset + len(chunk)
        return new


def predict_shard(
    dataset: Dataset,
    dataset_dir: Path,
    positions: Sequence[int],
    info: RankInfo,
    generate: Generate,
    batch_size: int,
) -> dict[str, float]:
    """Predict this rank's unfinished ``positions``, checkpointing every batch.

    An item whose image cannot be decoded is recorded with an ``error`` and no
    prediction; the rest of its batch goes on. Returns counts and timings.
    """
    done = read_checkpoints(dataset_dir)
    indices = dataset.frame["index"].tolist()
    todo = [p for p in positions if indices[p] not in done]
    own = checkpoint_path(dataset_dir, info.rank)
    own.parent.mkdir(parents=True, exist_ok=True)
    total = len(indices) if info.world_size > 1 else len(positions)
    already = sum(1 for p in range(len(indices)) if indices[p] in done)
    progress = Progress(dataset_dir, total, min(already, total), info.is_main, dataset.name)
    started = time.perf_counter()
    try:
        for chunk in batches(todo, batch_size):
            records, ready = [], []
            for position in chunk:
                try:
                    ready.append((position, (dataset.images(position), dataset.prompt(position))))
                except ItemImageError as exc:
                    records.append(
                        {"index": indices[position], "prediction": "", "error": str(exc)}
                    )
            if ready:
                answers = generate([item for _, item in ready])
                records += [
                    {"index": indices[p], "prediction": a, "error": None}
                    for (p, _), a in zip(ready, answers, strict=True)
                ]
            with deferred():
                append_jsonl(own, sorted(records, key=lambda r: r["index"]))
            progress.refresh()
    finally:
        progress.close()
    return {
        "predicted": len(todo),
        "resumed": len(positions) - len(todo),
        "wall_s": round(time.perf_counter() - started, 3),
    }
