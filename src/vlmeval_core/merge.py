"""Predictions to results: every rank's (and every shard's) checkpoints of a dataset joined,
scored and written, and the run's summary once every dataset is.

Rank 0 of a run merges each dataset when its items are all predicted
(:func:`merge_and_score`); a shard (``--shard I/N``) whose items are done merges what
the other shards finished too, and the shard that finds every item of every dataset
predicted writes the summary (:func:`merge_ready`). ``vlmeval merge RUN_DIR`` does the
same by hand. Torch-free: the launcher runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from vlmeval_core.checkpoints import SHARDS_DIR, read_checkpoints
from vlmeval_core.datasets.on_disk import dataset_path, ensure_on_disk
from vlmeval_core.datasets.tsv import Dataset, load_tsv
from vlmeval_core.errors import RuntimeFailure, UsageError
from vlmeval_core.run_plan import Plan, load_run_plan
from vlmeval_core.shards import merge_lock, missing_shards


def open_dataset(plan: Plan, data_dir: str | Path, index: int, warn: bool) -> Dataset:
    """Dataset ``index`` of the plan, from its TSV on disk (prepared already), cut to
    ``--limit``."""
    ref = plan.datasets[index]
    path = dataset_path(ref, Path(data_dir), plan.run_dir, plan.seed)
    dataset = load_tsv(path, ref.name, ref.kind, warn=warn, video=ref.video, frames=ref.frames)
    if ref.video:
        from vlmeval_core.video.cache import CACHE_DIR, FrameCache  # PyAV: only for videos

        dataset.frame_cache = FrameCache(plan.run_dir / ref.name / CACHE_DIR)
    if plan.limit is not None:
        dataset.frame = dataset.frame.iloc[: plan.limit].reset_index(drop=True)
    return dataset


def unpredicted_shards(plan: Plan, dataset: Dataset) -> list[int]:
    """The shards with an item of ``dataset`` still unpredicted (none: it can be scored)."""
    indices = dataset.frame["index"].tolist()
    done = read_checkpoints(plan.run_dir / dataset.name, indices, warn=False)
    return missing_shards(indices, done, plan.shards)


def merge_and_score(plan: Plan, dataset: Dataset, dataset_dir: Path) -> dict[str, Any]:
    """Every checkpoint's predictions of ``dataset`` (in ``dataset_dir``) evaluated; the
    scores. An item without a prediction is a RuntimeFailure: a rerun resumes and predicts it.
    """
    from vlmeval_core.evaluate import CARRIED, evaluate_dataset

    indices = dataset.frame["index"].tolist()
    done = read_checkpoints(dataset_dir, indices, warn=False)  # warned at start
    missing = [i for i in indices if i not in done]
    if missing:
        raise RuntimeFailure(
            f"{dataset.name}: {len(missing)} item(s) have no prediction after "
            f"every rank finished (first index {missing[0]}); rerun to resume"
        )
    predictions = pd.DataFrame(
        {
            "index": indices,
            "prediction": [done[i].get("prediction", "") for i in indices],
            **{column: [done[i].get(column) for i in indices] for column in CARRIED},
        }
    )
    origin = dataset_dir / SHARDS_DIR
    return evaluate_dataset(
        dataset, predictions, plan.run_dir, plan.model.name, origin, plan.judge
    ).scores


def merge_ready(
    plan: Plan, data_dir: str | Path, scores: dict[str, dict[str, Any]]
) -> dict[str, list[int]]:
    """Merge and score each dataset not in ``scores`` whose items are all predicted, adding
    its scores; the datasets still waiting, with the shards they wait for."""
    waiting: dict[str, list[int]] = {}
    for index, ref in enumerate(plan.datasets):
        if ref.name in scores:
            continue
        dataset = open_dataset(plan, data_dir, index, warn=False)
        shards = unpredicted_shards(plan, dataset)
        if shards:
            waiting[ref.name] = shards
        else:
            scores[ref.name] = merge_and_score(plan, dataset, plan.run_dir / ref.name)
    return waiting


def merge_run(run_dir: Path, data_dir: str | Path) -> dict[str, dict[str, Any]]:
    """``vlmeval merge``: score every dataset of the run at ``run_dir`` and write its summary,
    once every shard is done (else a UsageError naming the shards each dataset waits for).
    The datasets are prepared in ``data_dir`` where missing, as ``vlmeval eval`` does."""
    from vlmeval_core.report import write_summary
    from vlmeval_core.suites import write_leaderboard

    plan = load_run_plan(run_dir)
    for ref in plan.datasets:
        ensure_on_disk(ref, Path(data_dir), plan.run_dir, plan.seed)
    scores: dict[str, dict[str, Any]] = {}
    with merge_lock(plan.run_dir):
        waiting = merge_ready(plan, data_dir, scores)
        if waiting:
            raise UsageError(
                f"{run_dir}: not every shard is done: {waiting_text(waiting, plan.shards)}; "
                "run those (vlmeval eval ... --shard I/N with the run's flags; vlmeval status "
                "shows each) and merge again"
            )
        write_summary(plan.run_dir, plan.model.name, plan.run_name, scores)
        if plan.suite is not None:
            write_leaderboard(plan.run_dir, plan.suite, scores)
    return scores


def waiting_text(waiting: Mapping[str, list[int]], shards: int) -> str:
    """``ShapesMCQ waits for shards 1, 3 (of 4)``, for each dataset, joined."""
    return "; ".join(
        f"{name} waits for shard{'s' if len(found) > 1 else ''} "
        f"{', '.join(map(str, found))} (of {shards})"
        for name, found in waiting.items()
    )
