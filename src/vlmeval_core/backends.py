"""Who answers: the backends by the name ``plan.model.backend`` gives, and how each is asked.

:data:`BACKENDS` maps a name to the class that answers, as ``"module:Class"``
imported on use (as lm-evaluation-harness's model registry does), so that the
launcher and an api run never import torch. Each class has the :class:`Backend`
methods; :func:`predict_missing` is what every dataset goes through, whatever
answers: the checkpoints read (resume), the model loaded only when something is
left, the progress shown, and this rank's stats. A new backend (a video decoder,
an in-process vLLM) is one module and one entry here.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vlmeval_core import distributed
from vlmeval_core.checkpoints import Progress, ShardStats, ShardStore, read_checkpoints
from vlmeval_core.datasets.tsv import ItemImageError
from vlmeval_core.distributed import RankInfo
from vlmeval_core.prompt_families import PromptFamily, prompt_text, shown_messages
from vlmeval_core.shards import positions_of

if TYPE_CHECKING:
    from vlmeval_core.datasets.tsv import Dataset
    from vlmeval_core.run_plan import Plan

BACKENDS: dict[str, str] = {
    "transformers": "vlmeval_core.inference:Transformers",
    "api": "vlmeval_core.endpoint.runner:Endpoint",
}
"""Each backend's class, by the name a model record's ``backend`` gives."""


class Backend(Protocol):
    """What a run asks of its backend: built once per run, asked once per dataset."""

    load_s: float
    """Seconds spent loading the model (0 where nothing is loaded here)."""
    family: PromptFamily
    """The prompt family each item is sent as."""
    images: str
    """How each item's images are handled (:meth:`Dataset.images`)."""

    @classmethod
    def from_plan(cls, plan: Plan) -> Backend:
        """The backend a plan asks for; loads nothing yet."""
        ...

    @property
    def commit(self) -> str | None:
        """The hub commit the loaded weights came from (None: not a hub model, or not loaded)."""
        ...

    @property
    def server_models(self) -> Any:
        """A server's ``/models`` answer (None: no server, not asked, or none given)."""
        ...

    def load(self) -> None:
        """Load the model (or reach the server) once, when a dataset first has work."""
        ...

    def predict(self, dataset: Dataset, positions: list[int], store: ShardStore) -> ShardStats:
        """Answer the items at ``positions`` (none finished yet), appending each answer to
        ``store``; the stats' ``errors``, tokens and ``batch_size`` filled in."""
        ...

    def width(self, stats: ShardStats) -> str:
        """How many items it answered at once, for the rank's line after a dataset."""
        ...


def backend_class(name: str) -> type[Backend]:
    """The class of backend ``name`` (a key of :data:`BACKENDS`), imported now."""
    module, _, attribute = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def load_backend(plan: Plan) -> Backend:
    """The backend ``plan.model.backend`` names, built from the plan."""
    return backend_class(plan.model.backend).from_plan(plan)


def predict_missing(
    backend: Backend,
    dataset: Dataset,
    dataset_dir: Path,
    positions: Sequence[int],
    info: RankInfo,
    show_progress: bool = True,
    *,
    shard: int = 0,
    shards: int = 1,
) -> ShardStats:
    """Predict this rank's unfinished ``positions`` of ``dataset`` through ``backend``.

    Reads every rank's checkpoint (a resume predicts only what is missing), loads the
    model only when something is left, shows rank 0's progress over all ranks (and
    follows the other ranks to the end), records each item's prompt (:func:`shown_prompt`),
    and returns what this rank did. ``shard`` of ``shards``: the share of the dataset this
    launch predicts (``--shard``), which the progress counts and the checkpoint names.
    """
    started = time.perf_counter()
    indices = dataset.frame["index"].tolist()
    done = read_checkpoints(dataset_dir, indices, warn=info.is_main)  # one warning per run
    todo = [p for p in positions if indices[p] not in done]
    if todo:
        backend.load()
    mine = [indices[p] for p in positions_of(len(indices), shard, shards)]  # the shard's items
    progress = Progress(dataset_dir, mine, show_progress and info.is_main, dataset.name)
    try:
        store = ShardStore(
            dataset_dir,
            indices,
            info.rank,
            progress,
            lambda position: shown_prompt(backend.family, dataset, position, backend.images),
            shard if shards > 1 else None,
        )
        stats = backend.predict(dataset, todo, store)
        if info.world_size > 1:  # rank 0's progress follows the other ranks to the end
            distributed.barrier_while(progress.refresh)
    finally:
        progress.close()
    if info.world_size > 1:  # the other ranks print only once rank 0's bar is closed
        distributed.barrier()
    stats.predicted, stats.resumed = len(todo), len(positions) - len(todo)
    stats.wall_s = round(time.perf_counter() - started, 3)
    return stats


def shown_prompt(
    family: PromptFamily, dataset: Dataset, position: int, images: str
) -> tuple[str | None, int | None]:
    """The item's prompt as ``vlmeval prompts`` prints it, and how many images it sends;
    (None, None) when its images cannot be found."""
    try:
        messages = shown_messages(family, dataset, position, images)
    except ItemImageError:
        return None, None
    return prompt_text(messages), sum(part["type"] == "image" for part in messages)
