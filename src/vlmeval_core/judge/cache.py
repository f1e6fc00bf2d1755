"""The judge's answers, kept in the run directory as each arrives: a rerun asks only the rest.

``<dataset>/judge-cache.jsonl``: one fsync'd JSON line per answer (``files.append_jsonl``,
as the checkpoints; a torn last line from a ``kill -9`` is cut off before the next append),
``{"key", "judge", "answer"}``. The key is the sha256 of the judge model, its base URL and
every request field (extra fields, temperature, ``max_tokens`` …) with the exact prompt, so
answers of different judges, servers or settings never stand in for one another, even in
one file. Only answers are kept: a failed request is asked again next time. No key or
header is ever written.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vlmeval_core.files import append_jsonl, read_jsonl

CACHE_FILE = "judge-cache.jsonl"


def cache_key(model: str, base_url: str, fields: Mapping[str, Any], prompt: str) -> str:
    """The sha256 of what was asked: model, server, request fields and prompt."""
    asked = json.dumps([model, base_url, dict(fields), prompt], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(asked.encode("utf-8")).hexdigest()


class JudgeCache:
    """The answers under ``path``, read once; :meth:`put` appends (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._answers: dict[str, str] = {}
        for record in read_jsonl(path):
            if (
                record
                and isinstance(record.get("key"), str)
                and isinstance(record.get("answer"), str)
            ):
                self._answers[record["key"]] = record["answer"]

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: str) -> str | None:
        return self._answers.get(key)

    def put(self, key: str, judge: str, answer: str) -> None:
        """Keep ``answer`` to ``key``, on disk before this returns."""
        with self._lock:
            append_jsonl(self.path, [{"key": key, "judge": judge, "answer": answer}])
            self._answers[key] = answer
