"""The api backend: every unfinished item of a dataset through the endpoint, ``concurrency``
requests at a time.

The same checkpoint store as a rank's (:mod:`vlmeval_core.checkpoints`): each
answer is appended and fsync'd as its request completes, so a ``kill -9`` loses
only the requests in flight; a rerun reads it back and sends only the rest.
The requests run on the client's event loop; this thread keeps a window of
``concurrency`` of them in flight (never more items held than that, whatever the
dataset's size) and writes each answer. The progress bar is the ranks' (items/s and ETA).
:class:`Endpoint` is this backend's entry of :data:`vlmeval_core.backends.BACKENDS`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import TYPE_CHECKING, Any

from vlmeval_core.checkpoints import Answer, ShardStats, ShardStore
from vlmeval_core.datasets.tsv import Dataset, ItemImageError
from vlmeval_core.endpoint.client import EndpointClient, ItemFailed
from vlmeval_core.prompt_families import DEFAULT_FAMILY, FAMILIES, PromptFamily, item_messages

if TYPE_CHECKING:
    from vlmeval_core.run_plan import Plan


async def answer_item(
    client: EndpointClient,
    dataset: Dataset,
    position: int,
    max_new_tokens: int,
    family: PromptFamily,
    images: str,
) -> Answer:
    """The answer to one item, sent as ``family`` builds it with its images handled as
    ``images`` says; an unreadable image or a refused request fails the item."""
    try:
        completion = await client.answer_async(
            lambda: item_messages(family, dataset, position, dataset.images(position, images)),
            family.system_prompt,
            max_new_tokens,
        )
    except ItemImageError as exc:
        return Answer.failed(position, str(exc))
    except ItemFailed as exc:
        index = dataset.frame["index"].iloc[position]
        return Answer.failed(position, f"{dataset.path.name}: index {index}: {exc}")
    return Answer(
        position, completion.text, None, completion.completion_tokens, completion.finish_reason
    )


class Endpoint:
    """The api backend: a server answers, ``concurrency`` requests in flight.

    ``load()`` builds the client from ``client`` (a factory, called once: it asks the
    server's ``/models``, which proves it reachable or stops the run). Each item is
    sent as the in-process backend sends it (:func:`answer_item`). A RuntimeFailure
    or UsageError of any request (the server gone, a model it does not serve) ends
    the run; the requests in flight are cancelled, and what was checkpointed stays.
    """

    load_s = 0.0  # nothing is loaded here

    def __init__(
        self,
        client: Callable[[], EndpointClient],
        concurrency: int,
        max_new_tokens: int,
        family: PromptFamily = FAMILIES[DEFAULT_FAMILY],
        images: str = "vlmevalkit",
    ) -> None:
        self._build = client
        self._client: EndpointClient | None = None
        self.concurrency, self.max_new_tokens = concurrency, max_new_tokens
        self.family, self.images = family, images

    @classmethod
    def from_plan(cls, plan: Plan) -> Endpoint:
        """The plan's server (its ``endpoint``), asked for the model it serves as ``model.path``."""
        endpoint, spec = plan.endpoint, plan.model
        assert endpoint is not None  # the plan's schema: an api model has its endpoint
        return cls(
            lambda: EndpointClient(endpoint, spec.path),
            endpoint.concurrency,
            spec.max_new_tokens,
            FAMILIES[spec.prompt_family],
            spec.images,
        )

    @property
    def commit(self) -> str | None:
        return None

    @property
    def server_models(self) -> Any:
        return getattr(self._client, "server_models", None)

    def load(self) -> None:
        if self._client is None:
            self._client = self._build()

    def predict(self, dataset: Dataset, positions: list[int], store: ShardStore) -> ShardStats:
        """Answer ``positions``, appending each answer to ``store`` as it arrives."""
        stats = ShardStats(batch_size=self.concurrency)
        in_flight: set[Future[Answer]] = set()
        waiting = iter(positions)

        def fill() -> None:
            for position in itertools.islice(waiting, self.concurrency - len(in_flight)):
                item = answer_item(
                    self._client, dataset, position, self.max_new_tokens, self.family, self.images
                )
                in_flight.add(self._client.submit(item))

        try:
            fill()
            while in_flight:
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    in_flight.remove(future)
                    answer = future.result()
                    store.append([answer])
                    stats.errors += answer.error is not None
                fill()
        finally:
            for future in in_flight:
                future.cancel()
        return stats

    def width(self, stats: ShardStats) -> str:
        return f"up to {self.concurrency} requests in flight"
