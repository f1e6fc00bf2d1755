"""The transformers backend: each rank's share of a dataset, in batches, out of memory halved.

Item ``p`` (its position in the dataset) belongs to rank ``p % world_size``
(:func:`shard_positions`), so every index is predicted by exactly one rank and
the merge by index gives the same predictions whatever the world size. A rank's
unfinished items go to the model in batches of prompts of similar length
(:func:`by_length`), the next batch prepared in the background; a batch that
runs out of memory is split in halves (:class:`BatchRunner`). Each batch's
answers go to the rank's checkpoint (:mod:`vlmeval_core.checkpoints`) as it
finishes; :class:`Transformers` is this backend's entry of
:data:`vlmeval_core.backends.BACKENDS`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from vlmeval_core.checkpoints import Answer, ShardStats, ShardStore
from vlmeval_core.datasets.tsv import Dataset, ItemImageError
from vlmeval_core.distributed import RankInfo
from vlmeval_core.errors import RuntimeFailure
from vlmeval_core.prompt_families import (
    DEFAULT_FAMILY,
    FAMILIES,
    Message,
    PromptFamily,
    item_messages,
)
from vlmeval_core.shards import positions_of

if TYPE_CHECKING:
    from vlmeval_core.models.hf import Generation
    from vlmeval_core.run_plan import Plan


def shard_positions(n_items: int, info: RankInfo, shard: int = 0, shards: int = 1) -> list[int]:
    """The dataset positions this rank predicts: every ``world_size``-th, from ``rank``, of
    its shard's positions (:func:`vlmeval_core.shards.positions_of`; all without shards)."""
    return list(positions_of(n_items, shard, shards)[info.rank :: info.world_size])


def batches(items: Sequence[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


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
        decoders: Executor | None = None,
    ) -> None:
        self.model = model
        self.decoders = decoders
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
        for position, images in zip(positions, self._decoded(dataset, positions), strict=True):
            if isinstance(images, ItemImageError):
                failed.append((position, str(images)))
                continue
            items.append(item_messages(self.family, dataset, position, images))
            good.append(position)
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

    def _decoded(self, dataset: Dataset, positions: list[int]) -> list[Any]:
        """Each item's images (an ItemImageError for one that cannot be read); a video
        dataset's are decoded by the ``decoders`` pool, a batch at a time, in order."""

        def one(position: int) -> Any:
            try:
                return dataset.images(position, self.image_handling)
            except ItemImageError as exc:
                return exc

        if self.decoders is None or not dataset.video:
            return [one(p) for p in positions]
        return list(self.decoders.map(one, positions))

    def _encode(self, items: list[list[Message]]) -> Any:
        """The model's inputs for ``items``, with the family's processor settings for the
        dataset, if any."""
        return self.model.encode(items, **self.encode_options)

    def run(self, batch: Prepared) -> list[Answer]:
        """The answer to every item of ``batch``."""
        results = [Answer.failed(p, error) for p, error in batch.failed]
        if batch.items:
            results += self._generate(batch.positions, batch.items, batch)
        return results

    def _generate(
        self,
        positions: list[int],
        items: list[list[Message]],
        prepared: Prepared | None = None,
    ) -> list[Answer]:
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
                return [Answer.failed(positions[0], f"out of memory even alone: {out_of_memory}")]
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
        return [
            Answer(p, text, None, tokens, finish)
            for p, text, tokens, finish in zip(
                positions,
                generation.texts,
                generation.tokens,
                generation.finish_reasons,
                strict=True,
            )
        ]

    def _split(self, positions: list[int], items: list[list[Message]]) -> list[Answer]:
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


DECODE_WORKERS = max(1, min(4, len(os.sched_getaffinity(0))))
"""Threads decoding a video dataset's next batch (PyAV and Pillow release the GIL)."""


def run_batches(
    runner: BatchRunner,
    dataset: Dataset,
    chunks: Sequence[list[int]],
    store: ShardStore,
    overlap: bool = True,
) -> None:
    """Answer ``chunks`` in order, appending each to ``store``. With ``overlap`` the next
    batch is decoded and encoded by a background thread while the model generates (one
    batch ahead: memory for two batches at most); without, in line. The seconds the
    model waited for its inputs add up in ``runner.stats.input_wait_s``."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as prefetcher:
        upcoming = None
        if overlap and chunks:
            upcoming = prefetcher.submit(runner.prepare, dataset, chunks[0])
        for number, chunk in enumerate(chunks):
            waited = time.perf_counter()
            prepared = upcoming.result() if upcoming is not None else runner.prepare(dataset, chunk)
            runner.stats.input_wait_s += time.perf_counter() - waited
            if overlap and number + 1 < len(chunks):
                upcoming = prefetcher.submit(runner.prepare, dataset, chunks[number + 1])
            results = runner.run(prepared)
            store.append(sorted(results, key=lambda answer: answer.position))
            runner.stats.errors += sum(1 for answer in results if answer.error)
    runner.stats.input_wait_s = round(runner.stats.input_wait_s, 3)


class Transformers:
    """The in-process backend: one model copy in this rank, answering batches.

    ``load()`` builds the model from ``model`` (a factory, called once); each
    dataset's unfinished items are answered in batches of ``batch_size`` prompts of
    similar length, longest first, each item sent as ``family`` builds it with its
    images handled as ``images`` says (:meth:`Dataset.images`). An item whose image
    cannot be decoded is recorded with an ``error`` and no prediction; the rest of
    its batch goes on.
    """

    def __init__(
        self,
        model: Callable[[], Answerer],
        batch_size: int,
        max_new_tokens: int,
        family: PromptFamily = FAMILIES[DEFAULT_FAMILY],
        images: str = "vlmevalkit",
    ) -> None:
        self._build = model
        self._model: Any = None
        self.batch_size, self.max_new_tokens = batch_size, max_new_tokens
        self.family, self.images = family, images
        self.load_s = 0.0

    @classmethod
    def from_plan(cls, plan: Plan) -> Transformers:
        """The plan's model, loaded in this process on the plan's device."""

        def build() -> Answerer:
            from transformers.utils import logging as hf_logging

            from vlmeval_core.models.hf import VisionLanguageModel

            hf_logging.disable_progress_bar()  # one bar per rank while loading is noise
            return VisionLanguageModel(plan.model, plan.device)

        spec = plan.model
        return cls(
            build, spec.batch_size, spec.max_new_tokens, FAMILIES[spec.prompt_family], spec.images
        )

    @property
    def commit(self) -> str | None:
        return getattr(self._model, "commit", None)

    @property
    def server_models(self) -> Any:
        return None

    def load(self) -> None:
        if self._model is None:
            started = time.perf_counter()
            self._model = self._build()
            self.load_s = round(time.perf_counter() - started, 3)

    def predict(self, dataset: Dataset, positions: list[int], store: ShardStore) -> ShardStats:
        """Answer ``positions`` in batches, appending each batch to ``store`` as it finishes;
        the next batch's images are decoded and encoded by a background thread while the
        model generates."""
        processor = self.family.processor_by_dataset.get(dataset.name)
        with ThreadPoolExecutor(DECODE_WORKERS, thread_name_prefix="decode") as decoders:
            runner = BatchRunner(
                self._model,
                self.max_new_tokens,
                self.batch_size,
                self.family,
                self.images,
                processor,
                decoders,
            )
            chunks = list(batches(by_length(dataset, positions), self.batch_size))
            run_batches(runner, dataset, chunks, store)
        return runner.stats

    def width(self, stats: ShardStats) -> str:
        return f"batch size {stats.batch_size}"
