"""Every unfinished item of a dataset through the endpoint, ``concurrency`` requests at a time.

The same checkpoint as a rank's (:func:`vlmeval_core.inference.checkpoint_path`,
records of index, prediction, error), appended and fsync'd as each request
completes, so a ``kill -9`` loses only the requests in flight; a rerun reads it
back (:func:`vlmeval_core.inference.read_checkpoints`) and sends only the rest.
The progress bar is the ranks' (items/s and ETA).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from vlmeval_core.datasets.tsv import Dataset, ItemImageError
from vlmeval_core.distributed import RankInfo
from vlmeval_core.endpoint.client import EndpointClient, ItemFailed
from vlmeval_core.files import append_jsonl
from vlmeval_core.inference import Progress, ShardStats, checkpoint_path, read_checkpoints
from vlmeval_core.prompt_families import DEFAULT_FAMILY, FAMILIES, PromptFamily, item_messages
from vlmeval_core.signals import deferred


def answer_item(
    client: EndpointClient,
    dataset: Dataset,
    position: int,
    max_new_tokens: int,
    family: PromptFamily,
    images: str,
) -> tuple[str, str | None]:
    """(prediction, error) of one item, sent as ``family`` builds it with its images handled
    as ``images`` says; an unreadable image or a refused request fails the item."""
    try:
        messages = item_messages(family, dataset, position, dataset.images(position, images))
        return client.answer(messages, family.system_prompt, max_new_tokens), None
    except ItemImageError as exc:
        return "", str(exc)
    except ItemFailed as exc:
        index = dataset.frame["index"].iloc[position]
        return "", f"{dataset.path.name}: index {index}: {exc}"


def predict_endpoint(
    dataset: Dataset,
    dataset_dir: Path,
    positions: Sequence[int],
    info: RankInfo,
    client: Callable[[], EndpointClient],
    concurrency: int,
    max_new_tokens: int,
    show_progress: bool = True,
    *,
    family: PromptFamily = FAMILIES[DEFAULT_FAMILY],
    images: str = "vlmevalkit",
) -> ShardStats:
    """Predict the unfinished ``positions``, checkpointing each item as its answer arrives.

    Each item is sent as the in-process backend sends it (:func:`answer_item`).

    ``client()`` is called only when something is left to predict. A RuntimeFailure
    of any request (the server gone) ends the run; the requests still queued are
    dropped, and what was checkpointed stays.
    """
    started = time.perf_counter()
    indices = dataset.frame["index"].tolist()
    done = read_checkpoints(dataset_dir, indices, warn=info.is_main)
    todo = [p for p in positions if indices[p] not in done]
    own = checkpoint_path(dataset_dir, info.rank)
    own.parent.mkdir(parents=True, exist_ok=True)
    stats = ShardStats(batch_size=concurrency)
    progress = Progress(
        dataset_dir,
        len(indices),
        sum(1 for i in indices if i in done),
        show_progress and info.is_main,
        dataset.name,
    )
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="request")
    try:
        if todo:
            answering = client()
            pending = {
                pool.submit(answer_item, answering, dataset, p, max_new_tokens, family, images): p
                for p in todo
            }
            for future in as_completed(pending):
                text, error = future.result()
                with deferred():
                    append_jsonl(
                        own,
                        [{"index": indices[pending[future]], "prediction": text, "error": error}],
                    )
                stats.errors += error is not None
                progress.refresh()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        progress.close()
    stats.predicted, stats.resumed = len(todo), len(positions) - len(todo)
    stats.wall_s = round(time.perf_counter() - started, 3)
    return stats
