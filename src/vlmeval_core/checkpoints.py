"""The checkpoint store: each rank's finished predictions of a dataset, read back on resume.

Each rank appends its finished items to ``<dataset dir>/.shards/rank-<r>.jsonl`` (a
shard's ranks to ``shard-<I>.rank-<r>.jsonl``: :func:`checkpoint_path`), one record
``{"index", "prediction", "error"}`` and the :data:`ITEM_FIELDS` per item, fsync'd per
append and never cut by a stop signal (:class:`ShardStore`); a torn last line is cut
off before the next append (:func:`vlmeval_core.files.append_jsonl`). A rerun with the
same run name reads every rank's file (:func:`read_checkpoints`) and predicts only what
is missing, whatever the number of ranks; a record written before the
:data:`ITEM_FIELDS` existed counts, with them null in the results. :class:`Progress` is
rank 0's view of every rank's file while they work; :class:`ShardStats` what one rank
did. Both backends (:data:`vlmeval_core.backends.BACKENDS`) write through it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from vlmeval_core.errors import UsageError
from vlmeval_core.files import append_jsonl, open_regular, read_jsonl
from vlmeval_core.run_summary import is_quiet
from vlmeval_core.signals import deferred

log = logging.getLogger(__name__)

SHARDS_DIR = ".shards"


@dataclass(frozen=True)
class ItemFacts:
    """What a record holds beside its prediction and error, each null where unknown (a
    record written before they existed, a server that does not say)."""

    prompt: str | None = None
    """The text sent after the prompt family, as ``vlmeval prompts`` prints it."""
    image_count: int | None = None
    """The number of images sent."""
    generated_tokens: int | None = None
    """New tokens generated, without the prompt (a server's ``usage.completion_tokens``)."""
    finish_reason: str | None = None
    """How generation ended: one of :data:`FINISH_REASONS`."""


ITEM_FIELDS = tuple(field.name for field in fields(ItemFacts))
"""The names of :class:`ItemFacts`, as the checkpoints, predictions.jsonl and the xlsx have them."""

FINISH_REASONS = ("eos", "length", "error")
"""How an item's generation ended: its end token (a server's ``stop``), ``max_new_tokens``
reached (``length``), or the item failed."""


@dataclass(frozen=True)
class Answer:
    """One finished item, as a backend hands it to :meth:`ShardStore.append`."""

    position: int
    prediction: str
    error: str | None
    generated_tokens: int | None
    finish_reason: str | None

    @classmethod
    def failed(cls, position: int, error: str) -> Answer:
        """An item that failed before an answer: no prediction, finish reason ``error``."""
        return cls(position, "", error, None, "error")


CHECKPOINT_GLOB = "*rank-*.jsonl"
"""Every checkpoint file of a dataset: ``rank-<r>.jsonl``, or a shard's ``shard-<I>.rank-<r>``."""


def checkpoint_path(dataset_dir: Path, rank: int, shard: int | None = None) -> Path:
    """Rank ``rank``'s checkpoint of the dataset whose result directory is ``dataset_dir``
    (of shard ``shard`` of a sharded run, whose ranks number from 0 in each shard)."""
    name = f"rank-{rank}.jsonl" if shard is None else f"shard-{shard}.rank-{rank}.jsonl"
    return dataset_dir / SHARDS_DIR / name


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
    for path in sorted((dataset_dir / SHARDS_DIR).glob(CHECKPOINT_GLOB)):
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
        for path in sorted((self._dir / SHARDS_DIR).glob(CHECKPOINT_GLOB)):
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
    input_wait_s: float = 0.0
    """Seconds the model waited for a batch's inputs (decoded, encoded) to be ready."""


PromptOf = Callable[[int], tuple[str | None, int | None]]
"""The prompt text and image count of the item at a position (None where not known)."""


class ShardStore:
    """One rank's checkpoint of one dataset: its finished items appended to :attr:`path`,
    each append shown in :attr:`progress`.

    ``indices`` are the dataset's, by position: a backend appends by position;
    ``prompt_of`` gives each record its ``prompt`` and ``image_count``; ``shard``: the
    shard of a sharded run the rank belongs to (:func:`checkpoint_path`).
    """

    def __init__(
        self,
        dataset_dir: Path,
        indices: Sequence[int],
        rank: int,
        progress: Progress,
        prompt_of: PromptOf,
        shard: int | None = None,
    ) -> None:
        self.indices = indices
        self.path = checkpoint_path(dataset_dir, rank, shard)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.progress = progress
        self.prompt_of = prompt_of

    def append(self, answers: Iterable[Answer]) -> None:
        """Append finished items, fsync'd; a stop signal waits until the lines are whole."""
        records = [self._record(answer) for answer in answers]
        with deferred():
            append_jsonl(self.path, records)
        self.progress.refresh()

    def _record(self, answer: Answer) -> dict[str, Any]:
        prompt, image_count = self.prompt_of(answer.position)
        facts = ItemFacts(prompt, image_count, answer.generated_tokens, answer.finish_reason)
        return {
            "index": self.indices[answer.position],
            "prediction": answer.prediction,
            "error": answer.error,
            **asdict(facts),
        }
