"""summary.md: the run's overall table, then each dataset's group tables, as a person reads them.

The page opens with one row per dataset (metric, score, its 95% interval, items,
unparsed answers, item errors); that part, up to the first
:data:`~vlmeval_core.run_summary.DATASET_SECTION`, is what a run prints on stdout.
Each dataset then has a section: its unparsed answers and item errors, counted
apart, and the tables its scores hold (``by_split``, ``by_l2_category``,
``by_category``; POPE's ``splits``), each figure with its interval when
scores.json has one. A group whose figures are several (HallusionBench's aAcc,
fAcc, qAcc; POPE's accuracy, precision, recall, F1) gets a column per figure.
Scores are percentages, or points for the metrics that count points (MME,
OCRBench).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vlmeval_core.run_summary import DATASET_SECTION
from vlmeval_core.scoring import points_out_of
from vlmeval_core.scoring.intervals import CI_SUFFIX

GROUP_TABLES = (
    ("by_split", "split"),
    ("by_l2_category", "l2-category"),
    ("by_category", "category"),
    ("splits", "split"),
)
"""The group tables of scores.json shown per dataset, in this order, with their heading."""

COUNT_FIGURES = frozenset({"n"})
"""Figures of a group that count items rather than score them."""


def score_text(metric: Any, overall: Any) -> str:
    """An overall score as people read it: ``95.4%``, or ``1520.5 / 2800`` for a metric that
    counts points (MME, OCRBench); ``—`` for none. ``summary.md`` and ``vlmeval score``
    both show it so."""
    if not isinstance(overall, int | float):
        return "—"
    if (out_of := points_out_of(str(metric))) is not None:
        return f"{overall:.1f} / {out_of}"
    return f"{overall * 100:.1f}%"


def interval_text(metric: Any, interval: Any) -> str:
    """A 95% interval in the score's scale: ``92.1–97.5%``, ``1480.2–1560.1``; ``—`` for none."""
    if not (isinstance(interval, list | tuple) and len(interval) == 2):
        return "—"
    low, high = interval
    if not all(isinstance(v, int | float) for v in interval):
        return "—"
    if points_out_of(str(metric)) is not None:
        return f"{low:.1f}–{high:.1f}"
    return f"{low * 100:.1f}–{high * 100:.1f}%"


def _value_text(metric: Any, value: Any) -> str:
    """A group's figure: points as points, shares in [0, 1] as percentages."""
    if not isinstance(value, int | float):
        return "—"
    if points_out_of(str(metric)) is not None:
        return f"{value:.1f}"
    return f"{value * 100:.1f}%"


def summary_markdown(summary: Mapping[str, Any], scores_by_dataset: Mapping[str, Any]) -> str:
    """The page: the overall table, then a section per dataset (see the module docstring)."""
    lines = overall_lines(summary)
    for name, scores in scores_by_dataset.items():
        lines += ["", *dataset_section(name, scores)]
    return "\n".join(lines) + "\n"


def overall_lines(summary: Mapping[str, Any]) -> list[str]:
    """A heading, then dataset | metric | score | 95% CI | n | unparsed | errors."""
    lines = [
        f"# {_md(summary['model'])} — {_md(summary['run'])}",
        "",
        "| dataset | metric | score | 95% CI | n | unparsed | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in summary["datasets"].items():
        metric = row.get("metric")
        cells = [
            name,
            metric,
            score_text(metric, row.get("overall")),
            interval_text(metric, row.get("overall" + CI_SUFFIX)),
            *(row.get(k) for k in ("n", "unparsed", "errors")),
        ]
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    return lines


def dataset_section(name: str, scores: Mapping[str, Any]) -> list[str]:
    """A dataset's heading, its unparsed answers and item errors, and its group tables."""
    metric = scores.get("metric")
    n = scores.get("n")
    lines = [
        DATASET_SECTION.lstrip("\n") + _md(name),
        "",
        f"{score_text(metric, scores.get('overall'))} "
        f"(95% CI {interval_text(metric, scores.get('overall' + CI_SUFFIX))}), "
        f"{_md(metric)}, {_md(n)} items.",
        f"- unparsed answers (given, not readable): {_md(scores.get('unparsed'))}",
        f"- item errors (no answer; predictions.jsonl says why): {_md(scores.get('errors'))}",
    ]
    judge = scores.get("judge")
    if isinstance(judge, Mapping):
        lines.append(
            f"- judge {_md(judge.get('model'))}: {_md(judge.get('requests'))} requests this "
            f"time; answers it never gave in a readable form, given VLMEvalKit's fallback: "
            f"{_md(scores.get('judge_fallbacks'))}"
        )
    for key, heading in GROUP_TABLES:
        groups = scores.get(key)
        if isinstance(groups, Mapping) and groups:
            lines += ["", *group_table(metric, heading, groups, scores.get(key + CI_SUFFIX))]
    return lines


def group_table(metric: Any, heading: str, groups: Mapping[str, Any], intervals: Any) -> list[str]:
    """One row per group: its score and interval, or a column pair per figure."""
    intervals = intervals if isinstance(intervals, Mapping) else {}
    first = next(iter(groups.values()))
    if not isinstance(first, Mapping):
        rows = [
            [group, _value_text(metric, value), _share_interval(metric, intervals.get(group))]
            for group, value in groups.items()
        ]
        return _table([heading, "score", "95% CI"], rows)
    figures = [f for f, v in first.items() if isinstance(v, int | float)]
    header = [heading]
    for figure in figures:
        header += [figure] if figure in COUNT_FIGURES else [figure, "95% CI"]
    rows = []
    for group, values in groups.items():
        ranges = intervals.get(group) if isinstance(intervals.get(group), Mapping) else {}
        row = [group]
        for figure in figures:
            value = values.get(figure) if isinstance(values, Mapping) else None
            if figure in COUNT_FIGURES:
                row.append(value)
                continue
            row += [_value_text(metric, value), _share_interval(metric, ranges.get(figure))]
        rows.append(row)
    return _table(header, rows)


def _share_interval(metric: Any, interval: Any) -> str:
    return interval_text(metric, interval) if interval is not None else "—"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    align = ["---"] + ["---:"] * (len(header) - 1)
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(align) + "|",
        *("| " + " | ".join(_md(c) for c in row) + " |" for row in rows),
    ]


def _md(value: Any) -> str:
    """A table cell: '—' for nothing; pipes escaped and newlines flattened."""
    if value is None:
        return "—"
    return str(value).replace("|", "\\|").replace("\n", " ")
