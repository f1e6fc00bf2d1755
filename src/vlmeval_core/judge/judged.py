"""What a judged reading of a dataset gives the scoring driver, and what a rule asks of a judge.

A metric that can use a judge (``Metric.judged``) reads every item the rules can read first
and asks the judge only for the rest (MMVet: every item). Its result is :class:`Judged`: each
item's reading (what ``Metric.read`` would give), its log line (VLMEvalKit's ``log`` column),
and how many items fell back because no judge answer could be parsed after the retries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

FAIL_MSG = "Failed to obtain answer via API."
"""What VLMEvalKit's judge returns for a request that failed (``FAIL_MSG``), and what
:meth:`Asker.ask` returns then."""

_T = TypeVar("_T")
_R = TypeVar("_R")


class Asker(Protocol):
    """A judge as the rules use it (:class:`vlmeval_core.judge.client.Judge`)."""

    def ask(self, prompt: str, temperature: float, max_tokens: int, attempt: int = 0) -> str:
        """The judge's answer, or ``FAIL_MSG`` when none came."""

    def map(self, rule: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
        """``rule`` over ``items`` (concurrently), results in order."""


@dataclass(frozen=True)
class Judged:
    """Per item: ``parsed`` (None: unread) and ``log``; ``fallbacks``: items whose judge
    answers could not be parsed, given VLMEvalKit's fallback."""

    parsed: list[Any]
    log: list[str]
    fallbacks: int


@dataclass(frozen=True)
class Reading:
    """One item's judged reading: its value, its log line, and whether it is a fallback."""

    value: Any
    log: str
    fallback: bool = False


def gather(readings: list[Reading]) -> Judged:
    """The readings of every item as a :class:`Judged`."""
    return Judged(
        [r.value for r in readings], [r.log for r in readings], sum(r.fallback for r in readings)
    )
