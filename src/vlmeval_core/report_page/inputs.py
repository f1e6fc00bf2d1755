"""What a report is drawn from: the result files of a run directory or a score directory.

A run directory (``vlmeval eval``'s ``<output>/<model>/<run-name>/``) has
``summary.json``, which lists its datasets in order, and per dataset
``<dataset>/scores.json`` and ``predictions.jsonl``; its ``manifest.json`` says where
each dataset's TSV was and its md5 (for the thumbnails). A score directory
(``vlmeval score``'s ``<output>/``) has only the ``<dataset>/`` folders. Intervals
(``overall_ci``, ``by_category_ci``, …) and per-item ``prompt`` are read when present;
anything else that is missing or unreadable is a UsageError naming the path.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmeval_core.errors import UsageError
from vlmeval_core.scoring import points_out_of

SUMMARY = "summary.json"
MANIFEST = "manifest.json"
SCORES = "scores.json"
PREDICTIONS = "predictions.jsonl"

GROUPINGS = {"by_category": "category", "by_l2_category": "l2-category", "by_split": "split"}
"""Each per-group score of scores.json, with the predictions.jsonl field naming an item's group."""
CI_SUFFIX = "_ci"
"""``overall_ci``, ``by_category_ci``, …: the interval beside a score, when the run has one."""

Interval = tuple[float, float]


@dataclass(frozen=True)
class DatasetResult:
    """One dataset of one run: its scores, its items and where its TSV was."""

    name: str
    scores: dict[str, Any]
    items: list[dict[str, Any]]
    kind: str | None
    """mcq, yorn, vqa as the manifest says; None in a score directory."""
    data_path: Path | None
    md5: str | None

    @property
    def metric(self) -> str:
        return str(self.scores.get("metric"))

    @property
    def out_of(self) -> int | None:
        """The most points when the metric counts points (MME, OCRBench), else None (a share)."""
        return points_out_of(self.metric)

    def share(self, value: float) -> float:
        """A score (or an interval end) as a share of the most it can be."""
        return value / self.out_of if self.out_of is not None else value

    def overall(self) -> float | None:
        return _number(self.scores.get("overall"))

    def overall_ci(self) -> Interval | None:
        return _interval(self.scores.get("overall" + CI_SUFFIX))

    def groups(self, key: str) -> dict[str, float]:
        """The scores of grouping ``key`` (``by_category``, …) that are numbers."""
        values = self.scores.get(key) or {}
        return {str(k): v for k, v in values.items() if _number(v) is not None}

    def group_ci(self, key: str, group: str) -> Interval | None:
        return _interval((self.scores.get(key + CI_SUFFIX) or {}).get(group))

    def is_mcq(self) -> bool:
        """A multiple-choice set: so the manifest says, or (without one) every answer is a
        single capital letter."""
        if self.kind is not None:
            return self.kind == "mcq"
        answers = [str(item.get("answer") or "") for item in self.items]
        return bool(answers) and all(len(a) == 1 and "A" <= a <= "Z" for a in answers)


@dataclass(frozen=True)
class RunResult:
    """One run (or score directory) as the report shows it."""

    label: str
    directory: Path
    datasets: dict[str, DatasetResult]


def read_runs(directories: list[Path]) -> list[RunResult]:
    """Each directory read; labels made unique (the directory's path where two agree)."""
    runs = [read_run(d) for d in directories]
    labels = [r.label for r in runs]
    return [
        RunResult(str(r.directory), r.directory, r.datasets) if labels.count(r.label) > 1 else r
        for r in runs
    ]


def read_run(directory: Path) -> RunResult:
    """A run directory (with summary.json) or a score directory (``<dataset>/scores.json``)."""
    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory; give a run directory of vlmeval eval")
    summary_path = directory / SUMMARY
    if summary_path.is_file():
        summary = _json(summary_path)
        names = list(summary.get("datasets") or {})
        label = f"{summary.get('model')} / {summary.get('run')}"
        manifest_path = directory / MANIFEST
        data = _json(manifest_path).get("datasets", {}) if manifest_path.is_file() else {}
    else:
        names = sorted(p.parent.name for p in directory.glob(f"*/{SCORES}"))
        label, data = directory.name, {}
        if not names:
            raise UsageError(
                f"{directory}: not a run directory (no {SUMMARY}) nor a score directory "
                f"(no <dataset>/{SCORES})"
            )
    if not names:
        raise UsageError(f"{summary_path}: the run has no datasets")
    datasets = {name: _dataset(directory / name, data.get(name) or {}) for name in names}
    return RunResult(label, directory, datasets)


def _dataset(folder: Path, recorded: dict[str, Any]) -> DatasetResult:
    scores = _json(folder / SCORES)
    path = recorded.get("path")
    return DatasetResult(
        folder.name,
        scores,
        _jsonl(folder / PREDICTIONS),
        recorded.get("kind"),
        Path(path) if path else None,
        recorded.get("md5"),
    )


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: missing; the run did not finish writing its results") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(value, dict):
        raise UsageError(f"{path}: not a JSON object")
    return value


def _jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        items = [json.loads(line) for line in lines if line.strip()]
    except FileNotFoundError:
        raise UsageError(f"{path}: missing; the run did not finish writing its results") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not readable JSON lines ({exc})") from None
    if not all(isinstance(item, dict) for item in items):
        raise UsageError(f"{path}: a line is not a JSON object")
    return items


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _interval(value: Any) -> Interval | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    low, high = (_number(v) for v in value)
    return (low, high) if low is not None and high is not None else None
