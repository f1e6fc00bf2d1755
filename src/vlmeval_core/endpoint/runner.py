"""Every unfinished item of a dataset through the endpoint, ``concurrency`` requests at a time.

The same checkpoint as a rank's (:func:`vlmeval_core.inference.checkpoint_path`,
records of index, prediction, error), appended and fsync'd as each request
completes, so a ``kill -9`` loses only the requests in flight; a rerun reads it
back (:func:`vlmeval_core.inference.read_checkpoints`) and sends only the rest.
The requests run on the client's event loop; this thread keeps a window of
``concurrency`` of them in flight (never more items held than that, whatever the
dataset's size) and writes each answer. The progress bar is the ranks' (items/s and ETA).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path

from vlmeval_core.datasets.tsv import Dataset, ItemImageError
from vlmeval_core.distributed import RankInfo
from vlmeval_core.endpoint.client import EndpointClient, ItemFailed
from vlmeval_core.files import append_jsonl
from vlmeval_core.inference import Progress, ShardStats, checkpoint_path, read_checkpoints
from vlmeval_core.prompt_families import DEFAULT_FAMILY, FAMILIES, PromptFamily, item_messages
from vlmeval_core.signals import deferred


async def answer_item(
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
        return await client.answer_async(
            lambda: item_messages(family, dataset, position, dataset.images(position, images)),
            family.system_prompt,
            max_new_tokens,
        ), None
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
    or UsageError of any request (the server gone, a model it does not serve) ends
    the run; the requests in flight are cancelled, and what was checkpointed stays.
    """
    started = time.perf_counter()
    indices = dataset.frame["index"].tolist()
    done = read_checkpoints(dataset_dir, indices, warn=info.is_main)
    todo = [p for p in positions if indices[p] not in done]
    own = checkpoint_path(dataset_dir, info.rank)
    own.parent.mkdir(parents=True, exist_ok=True)
    stats = ShardStats(batch_size=concurrency)
    progress = Progress(dataset_dir, indices, show_progress and info.is_main, dataset.name)
    in_flight: dict[Future[tuple[str, str | None]], int] = {}
    try:
        if todo:
            answering = client()
            waiting = iter(todo)

            def fill() -> None:
                for position in itertools.islice(waiting, concurrency - len(in_flight)):
                    item = answer_item(answering, dataset, position, max_new_tokens, family, images)
                    in_flight[answering.submit(item)] = position

            fill()
            while in_flight:
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    index = indices[in_flight.pop(future)]
                    text, error = future.result()
                    with deferred():
                        append_jsonl(own, [{"index": index, "prediction": text, "error": error}])
                    stats.errors += error is not None
                    progress.refresh()
                fill()
    finally:
        for future in in_flight:
            future.cancel()
        progress.close()
    stats.predicted, stats.resumed = len(todo), len(positions) - len(todo)
    stats.wall_s = round(time.perf_counter() - started, 3)
    return stats
