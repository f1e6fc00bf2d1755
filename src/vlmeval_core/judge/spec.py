"""The judge's settings as the plan holds them (``--judge``, ``--judge-base`` …), and its key.

``--judge exact_matching`` (the default) means no judge: the rules alone, as VLMEvalKit's
``exact_matching``. Any other name is a model served at ``--judge-base`` (an
OpenAI-compatible ``…/v1``: vLLM, SGLang, LMDeploy, ``transformers serve``, a hosted API;
OpenAI's by default, VLMEvalKit's default too). The key is read from the environment by the
process that asks the judge (:data:`KEY_VARIABLES`), never held here, so it never reaches
the plan, the identity, the manifest or the cache. Torch-free and light.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field
from pydantic.dataclasses import dataclass

from vlmeval_core.endpoint import options as endpoint_options
from vlmeval_core.errors import UsageError
from vlmeval_core.schema import STRICT, NonEmpty

EXACT_MATCHING = "exact_matching"
"""The judge name that means no judge (VLMEvalKit's name for the rules alone)."""

DEFAULT_BASE = "https://api.openai.com/v1"
"""Where ``--judge`` is asked without ``--judge-base``: OpenAI's API, as VLMEvalKit's
``OPENAI_API_BASE`` default (``api/gpt.py``)."""

KEY_VARIABLES = ("VLMEVAL_JUDGE_KEY", "OPENAI_API_KEY")
"""Where the judge's key is read from, first found wins."""

CONCURRENCY_DEFAULT = 4
"""Judge requests in flight: VLMEvalKit's ``--judge-api-nproc`` default (``nproc=4``)."""

TIMEOUT_DEFAULT_S = 60.0
"""Deadline of one judge request: VLMEvalKit's ``OpenAIWrapper`` ``timeout=60``."""


@dataclass(frozen=True, config=STRICT)
class JudgeSpec:
    """A judge model and where it is served; ``extra``: fields added to every request."""

    model: NonEmpty
    base_url: NonEmpty
    extra: dict[str, Any] = Field(default_factory=dict)
    concurrency: Annotated[int, Field(ge=1, le=endpoint_options.CONCURRENCY_LIMIT)] = (
        CONCURRENCY_DEFAULT
    )
    timeout_s: Annotated[float, Field(gt=0, le=endpoint_options.TIMEOUT_LIMIT_S)] = (
        TIMEOUT_DEFAULT_S
    )

    @property
    def asked(self) -> dict[str, Any]:
        """What can change a judge's answer: its model, server and extra fields (the run's
        identity and the cache key hold these)."""
        return {"model": self.model, "base_url": self.base_url, "extra": self.extra}


def judge_spec(
    model: str | None,
    base: str | None,
    extra: str | None,
    concurrency: int = CONCURRENCY_DEFAULT,
    timeout_s: float = TIMEOUT_DEFAULT_S,
) -> JudgeSpec | None:
    """The judge the flags name, checked; None for ``exact_matching`` (or no ``--judge``).

    ``--judge-base`` / ``--judge-extra`` without a judge is a UsageError, as are a base
    URL or extra fields the endpoint would refuse (:mod:`vlmeval_core.endpoint.options`).
    """
    if model is None or model.strip() in ("", EXACT_MATCHING):
        given = [f for f, v in (("--judge-base", base), ("--judge-extra", extra)) if v]
        if given:
            raise UsageError(
                f"{' and '.join(given)} given without --judge: name the judge model, e.g. "
                "--judge gpt-4o-mini"
            )
        return None
    if not 1 <= concurrency <= endpoint_options.CONCURRENCY_LIMIT:
        raise UsageError(
            f"--judge-concurrency is {concurrency}: it must be 1 to "
            f"{endpoint_options.CONCURRENCY_LIMIT}"
        )
    if not 0 < timeout_s <= endpoint_options.TIMEOUT_LIMIT_S:
        raise UsageError(
            f"--judge-timeout is {timeout_s}: it must be a positive number of seconds, at "
            f"most {endpoint_options.TIMEOUT_LIMIT_S:g}"
        )
    return JudgeSpec(
        model=model.strip(),
        base_url=endpoint_options.base_url(base or DEFAULT_BASE, flag="--judge-base"),
        extra=endpoint_options.extra_fields(extra, flag="--judge-extra"),
        concurrency=concurrency,
        timeout_s=float(timeout_s),
    )


def judge_key(environ: Mapping[str, str] | None = None) -> str | None:
    """The judge's key from the environment, or None (a local server needs none)."""
    env = os.environ if environ is None else environ
    return next((env[name] for name in KEY_VARIABLES if env.get(name)), None)


def judge_name(judge: JudgeSpec | None) -> str:
    """The name result files carry: the judge model, or ``exact_matching``."""
    return EXACT_MATCHING if judge is None else judge.model
