"""The judge: one model asked through the endpoint client, its answers cached.

:class:`Judge` sends each prompt as one text-only user turn through
:class:`~vlmeval_core.endpoint.client.EndpointClient` (its deadline, retries with backoff,
``Retry-After``, and its stop on 401/403/404 and on a server that cannot be reached, exit 3
naming the URL), with VLMEvalKit's request fields (``temperature``, ``top_p=1.0``,
``max_tokens``; ``api/gpt.py``) and ``--judge-extra``. :meth:`Judge.ask` is VLMEvalKit's
``generate``: the answer's text, or :data:`FAIL_MSG` when the request failed (an answer
without text, a 4xx, a fault retried in vain), which each rule handles as VLMEvalKit does.
Built once per dataset; :meth:`Judge.map` runs a rule over items ``--judge-concurrency`` at a
time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from vlmeval_core.endpoint.client import EndpointClient, ItemFailed, RetryPolicy
from vlmeval_core.errors import RuntimeFailure, UsageError
from vlmeval_core.judge.cache import JudgeCache, cache_key
from vlmeval_core.judge.judged import FAIL_MSG
from vlmeval_core.judge.spec import JudgeSpec, judge_key
from vlmeval_core.run_plan import EndpointSpec

_T = TypeVar("_T")
_R = TypeVar("_R")


PROBE_POLICY = RetryPolicy(attempts=2)
"""The launch's check of the judge: two tries, so a dead judge stops a run within seconds."""


def unreachable(spec: JudgeSpec, failure: RuntimeFailure) -> RuntimeFailure:
    """The one line (exit 3) for a judge server that cannot be reached, naming its URL."""
    detail = str(failure).split(": ", 1)[-1].split("; check", 1)[0]
    return RuntimeFailure(
        f"the judge server at {spec.base_url} cannot be reached ({detail}): check --judge-base "
        "and that it is up; predictions and judge answers so far are kept, rerun to resume"
    )


_JUDGE_FLAGS = {
    "VLMEVAL_API_KEY": "VLMEVAL_JUDGE_KEY",
    "--api-base": "--judge-base",
    "check --model": "check --judge",
}
"""The endpoint client's fixes in the judge's words (its flags and key variable)."""


def refusal(refused: UsageError) -> UsageError:
    """The endpoint client's stop on an answer every request would get (a refused key, a
    model not served), naming the judge's flags (exit 2)."""
    text = str(refused)
    for theirs, ours in _JUDGE_FLAGS.items():
        text = text.replace(theirs, ours)
    return UsageError(f"the judge: {text}")


def connect(spec: JudgeSpec, policy: RetryPolicy | None = None) -> EndpointClient:
    """A client of the judge's server; it asks ``/models`` first (:func:`unreachable` when
    the server cannot be reached). The key is ``judge_key()``'s, never the model's."""
    endpoint = EndpointSpec(
        base_url=spec.base_url,
        extra=spec.extra,
        concurrency=spec.concurrency,
        timeout_s=spec.timeout_s,
    )
    try:
        return EndpointClient(endpoint, spec.model, policy, key=judge_key() or "")
    except RuntimeFailure as failure:
        raise unreachable(spec, failure) from None


def probe(spec: JudgeSpec) -> None:
    """Stop the launch (exit 3, one line naming the URL) when the judge cannot be reached."""
    connect(spec, PROBE_POLICY).close()


class Judge:
    """Asks ``spec``'s model, answers kept in ``cache``; ``requests`` counts those sent."""

    def __init__(
        self, spec: JudgeSpec, cache: JudgeCache, policy: RetryPolicy | None = None
    ) -> None:
        self.spec = spec
        self.cache = cache
        self.client = connect(spec, policy)
        self.server_models = self.client.server_models
        self.requests = 0
        self.failed_requests = 0

    def ask(self, prompt: str, temperature: float, max_tokens: int, attempt: int = 0) -> str:
        """The judge's answer to ``prompt`` (from the cache when it was asked before), or
        :data:`FAIL_MSG`. ``attempt``: which of a rule's tries this is, part of the cache key
        only, so a retry at the same temperature is asked anew as VLMEvalKit asks it."""
        fields: dict[str, Any] = {
            "temperature": temperature,
            "top_p": 1.0,
            "max_tokens": max_tokens,
        }
        asked = {**fields, **self.spec.extra, "attempt": attempt}
        key = cache_key(self.spec.model, self.spec.base_url, asked, prompt)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        self.requests += 1
        try:
            text = self.client.submit(self.client.text_async(prompt, **fields)).result().text
        except ItemFailed:
            text = ""
        except RuntimeFailure as failure:
            raise unreachable(self.spec, failure) from None
        except UsageError as refused:  # 401/403/404: every request would get it
            raise refusal(refused) from None
        if not text:
            self.failed_requests += 1
            return FAIL_MSG
        self.cache.put(key, self.spec.model, text)
        return text

    def map(self, rule: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
        """``rule`` over ``items``, ``concurrency`` at a time, results in order."""
        with ThreadPoolExecutor(self.spec.concurrency, thread_name_prefix="judge") as pool:
            return list(pool.map(rule, items))

    def close(self) -> None:
        self.client.close()
