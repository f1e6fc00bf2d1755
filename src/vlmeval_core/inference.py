"""Each rank's share of a dataset: deterministic sharding, batching, checkpoints and resume.

Item ``p`` (its position in the dataset) belongs to rank ``p % world_size``,
so every index is predicted by exactly one rank and the merge by index gives
the same predictions whatever the world size. Each rank appends its finished
predictions to ``<dataset dir>/.shards/rank-<r>.jsonl``, fsync'd per batch;
a rerun with the same run name reads every rank file and predicts only what
is missing.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from vlmeval_core import distributed
from vlmeval_core.datasets.tsv import Dataset, ItemImageError
from vlmeval_core.distributed import RankInfo
from vlmeval_core.errors import RuntimeFailure, UsageError
from vlmeval_core.files import append_jsonl, open_regular, read_jsonl
from vlmeval_core.prompt_families import (
    DEFAULT_FAMILY,
    FAMILIES,
    Message,
    PromptFamily,
    item_messages,
)
from vlmeval_core.run_summary import is_quiet
from vlmeval_core.signals import deferred

if TYPE_CHECKING:
    from vlmeval_core.models.hf import Generation

log = logging.getLogger(__name__)

SHARDS_DIR = ".shards"


def shard_positions(n_items: int, info: RankInfo) -> list[int]:
    """The dataset positions this rank predicts: every ``world_size``-th, from ``rank``."""
    return list(range(info.rank, n_items, info.world_size))


def checkpoint_path(dataset_dir: Path, rank: int) -> Path:
    return dataset_dir / SHARDS_DIR / f"rank-{rank}.jsonl"


def read_checkpoints(
    dataset_dir: Path, indices: Iterable[int], *, warn: bool = True
) -> dict[int, dict[str, Any]]:
    """Every finished prediction of the dataset whose ``indices`` are given, from any rank's
    checkpoint, by index.

    A record counts when its ``index`` is an integer of ``indices`` and its
    ``prediction`` a string (its ``error`` null or a string); anything else is
    skipped, with one warning per file when ``warn``. Two records of one index
    with different predictions raise UsageError naming the files and the index.
    """
    wanted = {int(i) for i in indices}
    done: dict[int, dict[str, Any]] = {}
    found_in: dict[int, Path] = {}
    for path in sorted((dataset_dir / SHARDS_DIR).glob("rank-*.jsonl")):
        skipped = 0
        for record in read_jsonl(path):
            if not _is_record_of(record, wanted):
                skipped += 1
                continue
            index = record["index"]
            if index not in done:
                done[index], found_in[index] = record, path
            elif done[index]["prediction"] != record["prediction"]:
                raise UsageError(
                    f"{path}: index {index} has two different predictions "
                    f"({_short(done[index]['prediction'])} in {found_in[index]}, "
                    f"{_short(record['prediction'])} here); delete the wrong line, "
                    "or start over with a new --run-name"
                )
        if skipped and warn:
            log.warning(
                "vlmeval: warning: %s: skipped %d line(s) that are not a prediction of %s "
                "(an integer index of the dataset and a string prediction)",
                path,
                skipped,
                dataset_dir.name,
            )
    return done


def _is_record_of(record: dict[str, Any] | None, indices: set[int]) -> bool:
    return (
        record is not None
        and type(record.get("index")) is int
        and record["index"] in indices
        and isinstance(record.get("prediction"), str)
        and (record.get("error") is None or isinstance(record["error"], str))
    )


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def batches(items: Sequence[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


PLAIN_STEP = 0.1
"""Without a terminal, a progress line each time another tenth of the dataset is done …"""
PLAIN_INTERVAL_S = 30.0
"""… or when this many seconds passed since the last line and something new is done."""


class Progress:
    """Rank 0's view of a dataset's items done by all ranks, read from every rank's checkpoint.

    On a terminal, tqdm's bar, with this process's log records written above it
    (``logging_redirect_tqdm``); without one (a pipe, a log file, ``docker logs``),
    one plain line per :data:`PLAIN_STEP` of the dataset or per :data:`PLAIN_INTERVAL_S`,
    and a last one at :meth:`close`. Shown only where ``enabled`` (rank 0) and not
    quiet (``VLMEVAL_QUIET=1``, ``vlmeval eval --quiet``). Counts distinct indices of
    the dataset, so it ends at the dataset's count once every rank is done.
    """

    def __init__(
        self,
        dataset_dir: Path,
        indices: Sequence[int],
        enabled: bool,
        label: str,
        stream: TextIO | None = None,
    ) -> None:
        self._dir, self._label = dataset_dir, label
        self._wanted = set(indices)
        self._done: set[int] = set()
        self._offsets: dict[Path, int] = {}
        self._stream = sys.stderr if stream is None else stream
        self._enabled = enabled and not is_quiet()
        self._bar: tqdm | None = None
        self._redirect: AbstractContextManager[None] | None = None
        if not self._enabled:
            return
        self._scan()
        if self._stream.isatty():
            self._bar = tqdm(
                total=len(self._wanted),
                initial=len(self._done),
                desc=label,
                unit="item",
                file=self._stream,
                dynamic_ncols=True,
                mininterval=1.0,
            )
            self._redirect = logging_redirect_tqdm()
            self._redirect.__enter__()
        else:
            self._started = time.monotonic()
            self._line(len(self._done))

    def refresh(self) -> None:
        """Read what the ranks appended since the last call and show it."""
        if not self._enabled:
            return
        self._scan()
        if self._bar is not None:
            self._bar.update(len(self._done) - self._bar.n)
        elif self._line_due():
            self._line(len(self._done))

    def close(self) -> None:
        """Show the last count and end the bar on its own line (idempotent)."""
        if not self._enabled:
            return
        self.refresh()
        if self._bar is not None:
            self._bar.close()
            if self._redirect is not None:
                self._redirect.__exit__(None, None, None)
        elif len(self._done) != self._shown:
            self._line(len(self._done))
        self._enabled = False

    def _line_due(self) -> bool:
        new = len(self._done) - self._shown
        step = max(1, math.ceil(PLAIN_STEP * len(self._wanted)))
        return new >= step or (new > 0 and time.monotonic() - self._shown_at >= PLAIN_INTERVAL_S)

    def _line(self, done: int) -> None:
        total = len(self._wanted)
        percent = 100 * done // total if total else 100
        elapsed = time.monotonic() - self._started
        print(
            f"{self._label}: {done}/{total} items ({percent}%), {elapsed:.0f} s",
            file=self._stream,
            flush=True,
        )
        self._shown, self._shown_at = done, time.monotonic()

    def _scan(self) -> None:
        for path in sorted((self._dir / SHARDS_DIR).glob("rank-*.jsonl")):
            offset = self._offsets.get(path, 0)
            with os.fdopen(open_regular(path, os.O_RDONLY), "rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
            whole = chunk.rfind(b"\n") + 1  # a line still being written waits for the next call
            for line in chunk[:whole].splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and _is_record_of(record, self._wanted):
                    self._done.add(record["index"])
            self._offsets[path] = offset + whole


@dataclass
class ShardStats:
    """What one rank did for one dataset."""

    predicted: int = 0
    resumed: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    batch_size: int = 0
    wall_s: float = 0.0


class Answerer(Protocol):
    """The model side of inference: what ``models.hf.VisionLanguageModel`` provides."""

    def encode(self, batch: Sequence[list[Message]], **options: Any) -> Any: ...

    def generate_encoded(self, inputs: Any, max_new_tokens: int) -> Generation: ...


@dataclass
class Prepared:
    """A batch made ready in the background: encoded inputs, and items that already failed."""

    positions: list[int]
    items: list[list[Message]]
    inputs: Any
    failed: list[tuple[int, str]] = field(default_factory=list)

    def take_inputs(self) -> Any:
        """The encoded inputs, handed over once: the batch keeps no reference to them."""
        inputs, self.inputs = self.inputs, None
        return inputs


def estimated_length(dataset: Dataset, position: int) -> int:
    """A cheap guess of a prompt's token count: text, plus pixels / 28² for each image.

    Reads only image headers; good enough to put prompts of similar length together.
    """
    text = len(dataset.prompt(position)) // 4
    return text + sum(w * h // 784 for w, h in dataset.image_sizes(position))


def by_length(dataset: Dataset, positions: Sequence[int]) -> list[int]:
    """Longest prompts first (an out-of-memory batch shows up early), ties in dataset order."""
    return sorted(positions, key=lambda p: (-estimated_length(dataset, p), p))


def _refused(dataset: Dataset, position: int, exc: Exception) -> str:
    detail = (str(exc).strip().splitlines() or [""])[0]
    return (
        f"{dataset.path.name}: index {dataset.frame['index'].iloc[position]}: the model's "
        f"processor refused the item ({type(exc).__name__}: {detail})"
    )


# How CUDA's out-of-memory failures read when they arrive as a plain RuntimeError: a failed
# allocation inside cuBLAS or cuDNN, or "CUDA error: out of memory" from a kernel launch.
_OUT_OF_MEMORY_MESSAGES = (
    "out of memory",
    "CUBLAS_STATUS_ALLOC_FAILED",
    "CUDNN_STATUS_ALLOC_FAILED",
    "CUDNN_STATUS_NOT_ENOUGH_WORKSPACE",
)

_HOST_OUT_OF_MEMORY = "DefaultCPUAllocator: can't allocate memory"
"""How torch's CPU allocator says that the host refused an allocation."""


def is_host_out_of_memory(exc: BaseException) -> bool:
    """An allocation the host's memory refused: torch's CPU allocator, or Python's own."""
    return isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and _HOST_OUT_OF_MEMORY in str(exc)
    )


def is_out_of_memory(exc: BaseException) -> bool:
    """torch's OutOfMemoryError, a RuntimeError that is an allocation failure on the GPU, or
    one the host refused."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError) or is_host_out_of_memory(exc):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(m in text for m in _OUT_OF_MEMORY_MESSAGES)


class BatchRunner:
    """Generates for prepared batches; a batch that runs out of memory is split in halves.

    Halving goes down to a single item. An item that is out of the GPU's memory even
    alone ends the run (RuntimeFailure, exit 3) rather than being scored wrong: the
    fix is a setting (``--max-new-tokens``, ``--gpus-per-model``). An item whose
    allocation the host refuses even alone (a prompt whose attention would take a
    terabyte, say) fails alone, with the allocator's words, and the run goes on:
    on the CPU no setting fixes it, and every rerun would meet it again. Once a split
    was needed, later batches are cut to the largest size that worked.

    A failed attempt's memory is freed before the retry: the retry runs after the
    ``except`` block (so the traceback, and with it the failed ``generate``'s frames,
    KV cache and activations, is gone), and the runner holds the only reference to a
    batch's encoded inputs (:meth:`Prepared.take_inputs`).
    """

    def __init__(
        self,
        model: Answerer | None,
        max_new_tokens: int,
        batch_size: int,
        family: PromptFamily = FAMILIES[DEFAULT_FAMILY],
        images: str = "vlmevalkit",
        processor: Mapping[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.family = family
        self.image_handling = images
        self.encode_options = {"processor": processor} if processor else {}
        self.max_new_tokens = max_new_tokens
        self.limit = batch_size
        self.stats = ShardStats(batch_size=batch_size)

    def prepare(self, dataset: Dataset, positions: list[int]) -> Prepared:
        """Decode and encode a batch; an item that cannot be read fails alone.

        When the processor refuses the batch (an aspect ratio it does not
        take, say), each item is encoded alone to find the ones it refuses;
        those fail and the others are encoded together again.
        """
        good: list[int] = []
        items: list[list[Message]] = []
        failed: list[tuple[int, str]] = []
        for position in positions:
            try:
                images = dataset.images(position, self.image_handling)
                items.append(item_messages(self.family, dataset, position, images))
                good.append(position)
            except ItemImageError as exc:
                failed.append((position, str(exc)))
        if not items:
            return Prepared(good, items, None, failed)
        try:
            return Prepared(good, items, self._encode(items), failed)
        except Exception as exc:
            if is_out_of_memory(exc):
                raise
        accepted = []
        for position, item in zip(good, items, strict=True):
            try:
                self._encode([item])
            except Exception as exc:
                if is_out_of_memory(exc):
                    raise
                failed.append((position, _refused(dataset, position, exc)))
            else:
                accepted.append((position, item))
        good, items = [p for p, _ in accepted], [item for _, item in accepted]
        return Prepared(good, items, self._encode(items) if items else None, failed)

    def _encode(self, items: list[list[Message]]) -> Any:
        """The model's inputs for ``items``, with the family's processor settings for the
        dataset, if any."""
        return self.model.encode(items, **self.encode_options)

    def run(self, batch: Prepared) -> list[tuple[int, str, str | None]]:
        """(position, prediction, error) for every item of ``batch``."""
        results = [(p, "", error) for p, error in batch.failed]
        if batch.items:
            results += self._generate(batch.positions, batch.items, batch)
        return results

    def _generate(
        self,
        positions: list[int],
        items: list[list[Message]],
        prepared: Prepared | None = None,
    ) -> list[tuple[int, str, str | None]]:
        """Answers for ``items``; ``prepared`` hands over inputs encoded ahead of time."""
        if len(items) > self.limit:
            return self._split(positions, items)
        inputs = prepared.take_inputs() if prepared is not None else None
        if inputs is None:
            inputs = self._encode(items)
        generation, out_of_memory, on_host = None, None, False
        try:
            generation = self.model.generate_encoded(inputs, self.max_new_tokens)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            out_of_memory, on_host = _first_line(exc), is_host_out_of_memory(exc)
        del inputs  # with the traceback gone, nothing holds the failed attempt's tensors
        if generation is None:
            _release_cuda_memory()
            if len(items) == 1 and on_host:
                return [(positions[0], "", f"out of memory even alone: {out_of_memory}")]
            if len(items) == 1:
                raise RuntimeFailure(
                    f"out of memory even for a batch of one item ({out_of_memory}); lower "
                    "--max-new-tokens or use --gpus-per-model 2 (finished batches are kept: "
                    "rerun with the same --run-name)"
                )
            self.limit = min(self.limit, len(items) // 2)
            return self._split(positions, items)
        self.stats.prompt_tokens += generation.prompt_tokens
        self.stats.generated_tokens += generation.generated_tokens
        self.stats.batch_size = min(self.stats.batch_size, self.limit)
        return [(p, text, None) for p, text in zip(positions, generation.texts, strict=True)]

    def _split(
        self, positions: list[int], items: list[list[Message]]
    ) -> list[tuple[int, str, str | None]]:
        results = []
        step = max(1, min(self.limit, (len(items) + 1) // 2))
        for start in range(0, len(items), step):
            results += self._generate(positions[start : start + step], items[start : start + step])
        return results


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _release_cuda_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def predict_shard(
    dataset: Dataset,
    dataset_dir: Path,
    positions: Sequence[int],
    info: RankInfo,
    model: Callable[[], Answerer],
    batch_size: int,
    max_new_tokens: int,
    show_progress: bool = True,
    family: PromptFamily = FAMILIES[DEFAULT_FAMILY],
    images: str = "vlmevalkit",
) -> ShardStats:
    """Predict this rank's unfinished ``positions``, checkpointing every batch.

    Batches are formed from prompts of similar length; the next batch's images
    are decoded and encoded by a background thread while the model generates.
    An item whose image cannot be decoded is recorded with an ``error`` and no
    prediction; the rest of its batch goes on. ``model()`` is called, in this
    thread, only when something is left to predict. Each item is sent as ``family``
    builds it, its images handled as ``images`` says (:meth:`Dataset.images`).
    """
    started = time.perf_counter()
    indices = dataset.frame["index"].tolist()
    done = read_checkpoints(dataset_dir, indices, warn=info.is_main)  # one warning per run
    todo = by_length(dataset, [p for p in positions if indices[p] not in done])
    own = checkpoint_path(dataset_dir, info.rank)
    own.parent.mkdir(parents=True, exist_ok=True)
    processor = family.processor_by_dataset.get(dataset.name)
    runner = BatchRunner(
        model() if todo else None, max_new_tokens, batch_size, family, images, processor
    )
    progress = Progress(dataset_dir, indices, show_progress and info.is_main, dataset.name)
    chunks = list(batches(todo, batch_size))
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as prefetcher:
            upcoming = prefetcher.submit(runner.prepare, dataset, chunks[0]) if chunks else None
            for number in range(len(chunks)):
                prepared = upcoming.result()
                if number + 1 < len(chunks):
                    upcoming = prefetcher.submit(runner.prepare, dataset, chunks[number + 1])
                results = runner.run(prepared)
                records = [
                    {"index": indices[p], "prediction": text, "error": error}
                    for p, text, error in sorted(results)
                ]
                with deferred():
                    append_jsonl(own, records)
                runner.stats.errors += sum(1 for _, _, error in results if error)
                progress.refresh()
        if info.world_size > 1:  # rank 0's progress follows the other ranks to the end
            distributed.barrier_while(progress.refresh)
    finally:
        progress.close()
    if info.world_size > 1:  # the other ranks print only once rank 0's bar is closed
        distributed.barrier()
    stats = runner.stats
    stats.predicted, stats.resumed = len(todo), len(positions) - len(todo)
    stats.wall_s = round(time.perf_counter() - started, 3)
    return stats
