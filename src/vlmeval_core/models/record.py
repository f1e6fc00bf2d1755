"""A model record: everything about a model that can change what it answers, as data.

One record serves three uses: a row of the registry (:data:`vlmeval_core.models.registry.MODELS`),
what flags and environment turn it into for a run, and the ``model`` of plan.json
that every rank builds from (and :mod:`vlmeval_core.identity` covers). Torch-free.

- ``backend``: who answers; ``transformers`` loads the weights in each rank, ``api`` is
  an OpenAI-compatible server (the plan's ``endpoint``) that has loaded them.
- ``source``/``path``: where the weights are, ``bundled`` (shipped with vlmeval), ``hub``
  (an ``org/name`` id) or ``local`` (a ``save_pretrained`` directory), and the id or
  directory; a served model (backend ``api``) has none here: ``source`` null, ``path`` the
  model as the server names it.
- ``dtype``, ``revision``, ``trust_remote_code``, ``gpus_per_model``: how it is loaded.
- ``batch_size``, ``max_new_tokens``: how it generates (greedy); at most
  :data:`BATCH_SIZE_LIMIT` and :data:`MAX_NEW_TOKENS_LIMIT`.
- ``processor``: keyword arguments of ``AutoProcessor.from_pretrained``, as VLMEvalKit's
  ``vlmeval/config.py`` gives them (Qwen2-VL's ``min_pixels``/``max_pixels``).
- ``prompt_family``: a name of :data:`vlmeval_core.prompt_families.FAMILIES`.
- ``images``: ``vlmevalkit`` (each image as VLMEvalKit main's ``dump_image`` writes it:
  decoded, RGBA/P/LA made RGB, re-encoded in the format its file name says) or
  ``original`` (the TSV's bytes).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic.dataclasses import dataclass

from vlmeval_core.prompt_families import FAMILIES
from vlmeval_core.schema import STRICT, Dtype, ImageHandling, NonEmpty, Positive

ProcessorValue = bool | int | float | str

BATCH_SIZE_LIMIT = 4096
"""The most items one generate call may take (``--batch-size``)."""

MAX_NEW_TOKENS_LIMIT = 65536
"""The most tokens one answer may generate (``--max-new-tokens``)."""


@dataclass(frozen=True, config=STRICT)
class ModelSpec:
    """Which model answers, loaded and prompted how."""

    name: NonEmpty
    source: Literal["bundled", "hub", "local"] | None
    path: NonEmpty
    revision: str | None = None
    dtype: Dtype = "auto"
    trust_remote_code: bool = False
    batch_size: Annotated[int, Field(ge=1, le=BATCH_SIZE_LIMIT)] = 8
    max_new_tokens: Annotated[int, Field(ge=1, le=MAX_NEW_TOKENS_LIMIT)] = 32
    gpus_per_model: Positive = 1
    backend: Literal["transformers", "api"] = "transformers"
    processor: dict[str, ProcessorValue] = Field(default_factory=dict)
    prompt_family: NonEmpty = "dataset"
    images: ImageHandling = "vlmevalkit"

    @field_validator("prompt_family")
    @classmethod
    def _known_family(cls, value: str) -> str:
        if value not in FAMILIES:
            raise ValueError(f"unknown prompt family {value!r}; known: {', '.join(FAMILIES)}")
        return value
