"""The report's figures, each one PNG's bytes: matplotlib's object API on the Agg canvas (no
pyplot, no display, no global state).

* :func:`overall_figure`: each dataset's score, one bar per run, as a percentage of
  the most it can be (points metrics, MME and OCRBench, divided by their maximum),
  with its interval as an error bar when the run has one;
* :func:`group_figure`: one dataset's categories (or l2-categories, splits), one bar
  per run, on the metric's own scale;
* :func:`confusion_figure`: an MCQ set's answer letter against the letter read from
  the prediction, unparsed answers and item errors in columns of their own.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vlmeval_core.report_page.inputs import DatasetResult, Interval, RunResult

DPI = 100
UNPARSED = "unparsed"
ERROR = "error"
BAR_SPAN = 0.8
"""The width of one dataset's (or category's) group of bars, of 1."""


def overall_figure(runs: Sequence[RunResult], names: Sequence[str]) -> bytes:
    """The PNG of grouped bars of each dataset in ``names``, one per run that has it."""
    figure = Figure(figsize=(max(4.5, 1.1 * len(names) * max(1, len(runs) / 2) + 1.5), 3.4))
    axes = figure.add_subplot()
    width = BAR_SPAN / len(runs)
    for r, run in enumerate(runs):
        values, intervals = [], []
        for name in names:
            result = run.datasets.get(name)
            overall = result.overall() if result is not None else None
            values.append(np.nan if overall is None else 100 * result.share(overall))
            ci = result.overall_ci() if result is not None else None
            intervals.append(None if ci is None else tuple(100 * result.share(v) for v in ci))
        x = np.arange(len(names)) + (r - (len(runs) - 1) / 2) * width
        bars = axes.bar(x, values, width, label=run.label, **_error_bars(values, intervals))
        axes.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    axes.set_xticks(np.arange(len(names)), names, rotation=20 if len(names) > 4 else 0)
    axes.set_ylim(0, 105)
    axes.set_ylabel("score, % of max")
    axes.set_title("Overall score per dataset" + (" (95% interval)" if _any_ci(runs) else ""))
    _legend(axes, runs)
    return _png(figure)


def group_figure(runs: Sequence[RunResult], name: str, key: str) -> bytes:
    """The PNG of horizontal bars of dataset ``name``'s groups under ``key`` (``by_split``, …)."""
    results = [run.datasets.get(name) for run in runs]
    groups = sorted({g for result in results if result is not None for g in result.groups(key)})
    scale = next(result for result in results if result is not None)
    factor = 1 if scale.out_of is not None else 100
    figure = Figure(figsize=(5.6, 0.9 + 0.28 * len(groups) * max(1, len(runs) * 0.7)))
    axes = figure.add_subplot()
    height = BAR_SPAN / len(runs)
    for r, (run, result) in enumerate(zip(runs, results, strict=True)):
        scores = result.groups(key) if result is not None else {}
        values = [factor * scores[g] if g in scores else np.nan for g in groups]
        intervals: list[Interval | None] = []
        for g in groups:
            ci = result.group_ci(key, g) if result is not None else None
            intervals.append(None if ci is None else (factor * ci[0], factor * ci[1]))
        y = np.arange(len(groups)) + (r - (len(runs) - 1) / 2) * height
        errors = _error_bars(values, intervals)
        if "yerr" in errors:
            errors = {"xerr": errors["yerr"], "ecolor": errors["ecolor"], "capsize": 2}
        axes.barh(y, values, height, label=run.label, **errors)
    axes.set_yticks(np.arange(len(groups)), groups, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("points" if scale.out_of is not None else f"{scale.metric}, %")
    if scale.out_of is None:
        axes.set_xlim(0, 100)
    axes.set_title(f"{name}: {key.removeprefix('by_').replace('_', ' ')}", fontsize=10)
    _legend(axes, runs)
    return _png(figure)


def confusion_figure(result: DatasetResult, title: str) -> bytes:
    """The PNG of the counts of (answer, what was read) over ``result``'s items, each row
    shaded by share."""
    pairs = Counter((str(item.get("answer")), _read_as(item)) for item in result.items)
    rows = sorted({answer for answer, _ in pairs})
    letters = sorted({read for _, read in pairs} - {UNPARSED, ERROR} | set(rows))
    columns = letters + [c for c in (UNPARSED, ERROR) if any(r == c for _, r in pairs)]
    counts = np.array([[pairs[(a, c)] for c in columns] for a in rows], dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure = Figure(figsize=(1.6 + 0.5 * len(columns), 1.3 + 0.45 * len(rows)))
    axes = figure.add_subplot()
    axes.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for (i, j), count in np.ndenumerate(counts):
        if count:
            color = "white" if shares[i, j] > 0.6 else "black"
            axes.text(j, i, f"{count:.0f}", ha="center", va="center", fontsize=8, color=color)
    axes.set_xticks(range(len(columns)), columns, fontsize=8)
    axes.set_yticks(range(len(rows)), rows, fontsize=8)
    axes.set_xlabel("read from the prediction")
    axes.set_ylabel("answer")
    axes.set_title(title, fontsize=9)
    return _png(figure)


def unparsed_share(result: DatasetResult) -> tuple[int, int]:
    """(answers given but not read, items): the share the confusion figure's column shows."""
    return sum(_read_as(item) == UNPARSED for item in result.items), len(result.items)


def _read_as(item: dict) -> str:
    if item.get("error"):
        return ERROR
    parsed = item.get("parsed")
    return UNPARSED if parsed is None else str(parsed)


def _error_bars(values: list[float], intervals: list[Interval | None]) -> dict:
    """``bar``'s yerr (distances below and above each value) where intervals are known."""
    if all(ci is None for ci in intervals):
        return {}
    below = [v - ci[0] if ci is not None else 0 for v, ci in zip(values, intervals, strict=True)]
    above = [ci[1] - v if ci is not None else 0 for v, ci in zip(values, intervals, strict=True)]
    below = [max(b, 0) if b == b else 0 for b in below]  # NaN (a run without the dataset): 0
    above = [max(a, 0) if a == a else 0 for a in above]
    return {"yerr": np.array([below, above]), "ecolor": "black", "capsize": 3}


def _any_ci(runs: Sequence[RunResult]) -> bool:
    return any(d.overall_ci() is not None for run in runs for d in run.datasets.values())


def _legend(axes, runs: Sequence[RunResult]) -> None:
    if len(runs) > 1:
        axes.legend(fontsize=7, loc="lower right")


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=DPI, format="png")
    return buffer.getvalue()
