"""The one reader of a results directory, for ``vlmeval compare`` and ``vlmeval report``.

A results directory is a run directory of ``vlmeval eval`` (``summary.json``, which lists
its datasets in order, ``identity.json``, ``manifest.json``) or a score directory of
``vlmeval score`` (only the ``<dataset>/`` folders); either has ``<dataset>/scores.json``
and ``<dataset>/predictions.jsonl`` per dataset. Anything missing or unreadable is a
one-line UsageError naming the path. Torch-free.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmeval_core.errors import UsageError
from vlmeval_core.identity import IDENTITY_FILE, load_identity
from vlmeval_core.report import MANIFEST_FILE, PREDICTIONS_FILE, SCORES_FILE, SUMMARY_FILE

_MISSING = "missing; the run did not finish writing its results"


@dataclass(frozen=True)
class ResultsDir:
    """A results directory: its datasets' folders in the run's order, its summary and
    identity (None in a score directory) and the manifest's record of each dataset (where
    its TSV was, its md5 and kind; empty without a manifest)."""

    path: Path
    datasets: dict[str, Path]
    summary: dict[str, Any] | None
    identity: dict[str, Any] | None
    recorded: dict[str, dict[str, Any]]

    @property
    def title(self) -> str | None:
        """``model / run`` from summary.json; None without one."""
        if self.summary is None:
            return None
        return f"{self.summary.get('model')} / {self.summary.get('run')}"

    def scores(self, name: str) -> dict[str, Any]:
        return read_json(self.datasets[name] / SCORES_FILE)

    def predictions(self, name: str) -> list[dict[str, Any]]:
        return read_jsonl(self.datasets[name] / PREDICTIONS_FILE)


def read_results(path: Path) -> ResultsDir:
    """The results directory at ``path``: the datasets summary.json lists (each must have its
    scores.json), then any other ``<dataset>/scores.json`` by name."""
    if not path.is_dir():
        raise UsageError(f"{path}: no such directory (a run directory or a vlmeval score output)")
    found = {d.name: d for d in sorted(path.iterdir()) if (d / SCORES_FILE).is_file()}
    summary = read_json(path / SUMMARY_FILE) if (path / SUMMARY_FILE).is_file() else None
    listed = list((summary or {}).get("datasets") or {})
    for name in listed:
        if name not in found:
            raise UsageError(f"{path / name / SCORES_FILE}: {_MISSING}")
    if not found:
        raise UsageError(
            f"{path}: not a run directory or a vlmeval score output "
            f"(no <dataset>/{SCORES_FILE} in it)"
        )
    order = [*listed, *sorted(set(found) - set(listed))]
    manifest = read_json(path / MANIFEST_FILE) if (path / MANIFEST_FILE).is_file() else {}
    try:
        identity = load_identity(path)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path / IDENTITY_FILE}: not readable JSON ({exc})") from None
    return ResultsDir(
        path,
        {name: found[name] for name in order},
        summary,
        identity,
        manifest.get("datasets") or {},
    )


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``."""
    value = _parsed(path, json.loads, "JSON")
    if not isinstance(value, dict):
        raise UsageError(f"{path}: not a JSON object")
    return value


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects in ``path``, one a line (blank lines skipped)."""
    items = _parsed(path, _json_lines, "JSON lines")
    if not all(isinstance(item, dict) for item in items):
        raise UsageError(f"{path}: a line is not a JSON object")
    return items


def _parsed(path: Path, parse: Callable[[str], Any], what: str) -> Any:
    try:
        return parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: {_MISSING}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not readable {what} ({exc})") from None


def _json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
