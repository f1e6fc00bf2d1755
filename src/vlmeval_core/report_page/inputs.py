"""What a report is drawn from: the result files of a run directory or a score directory.

Read by :mod:`vlmeval_core.results_dir` (whose UsageErrors name the path): per dataset its
scores, its items and, from a run's ``manifest.json``, where its TSV was and its md5 (for
the thumbnails). Intervals (``overall_ci``, ``by_category_ci``, …) and per-item ``prompt``
are read when present.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmeval_core.results_dir import ResultsDir, read_results
from vlmeval_core.scoring import points_out_of

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
    """A run directory or a score directory, labelled ``model / run`` (a score directory by
    its name)."""
    results = read_results(directory)
    datasets = {name: _dataset(results, name) for name in results.datasets}
    return RunResult(results.title or directory.name, directory, datasets)


def _dataset(results: ResultsDir, name: str) -> DatasetResult:
    recorded = results.recorded.get(name) or {}
    path = recorded.get("path")
    return DatasetResult(
        name,
        results.scores(name),
        results.predictions(name),
        recorded.get("kind"),
        Path(path) if path else None,
        recorded.get("md5"),
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _interval(value: Any) -> Interval | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    low, high = (_number(v) for v in value)
    return (low, high) if low is not None and high is not None else None
