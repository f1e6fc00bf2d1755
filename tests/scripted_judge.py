"""A judge that answers from a script, in process: what the rules ask of one (``Asker``).

``replies[prompt]`` is the list of answers to that prompt, one per try (the last repeats);
a prompt not in the script gets ``default``. Every call is recorded as ``(prompt,
temperature, max_tokens, attempt)``. Shared by the judge's unit and parity tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


class ScriptedJudge:
    def __init__(self, replies: dict[str, list[str]] | None = None, default: str = "") -> None:
        self.replies = replies or {}
        self.default = default
        self.calls: list[tuple[str, float, int, int]] = []

    def ask(self, prompt: str, temperature: float, max_tokens: int, attempt: int = 0) -> str:
        self.calls.append((prompt, temperature, max_tokens, attempt))
        script = self.replies.get(prompt)
        if not script:
            return self.default
        return script[min(attempt, len(script) - 1)]

    def map(self, rule: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        return [rule(item) for item in items]
