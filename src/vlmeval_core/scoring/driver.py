"""The one scoring loop: every metric's items are read, credited and summarised here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from vlmeval_core.errors import UsageError
from vlmeval_core.scoring.common import ScoreResult, attach, error_flags, items_by_index
from vlmeval_core.scoring.intervals import score_intervals
from vlmeval_core.scoring.metric import Metric

FULL_CREDIT = 1.0 - 1e-9
"""An item with at least this credit is ``correct``."""


def score_frame(
    metric: Metric,
    frame: pd.DataFrame,
    options: Mapping[str, Any] | None = None,
    judge: Any = None,
) -> ScoreResult:
    """Score a predictions frame with ``metric``.

    Each item is read and credited by the metric's item rule; an item whose
    ``error`` is set is unread and gets no credit. ``options`` override the
    metric's defaults; an option the metric does not know is a UsageError.
    With a ``judge`` (:class:`~vlmeval_core.judge.judged.Asker`), a metric that can use
    one reads the answered items through it (``Metric.judged``); its items get VLMEvalKit's
    ``log`` and ``scores`` ``judge_fallbacks``. A metric that needs a judge and has none is
    a UsageError. ``scores`` has the 95% interval of each figure
    (:func:`~vlmeval_core.scoring.intervals.score_intervals`).
    """
    unknown = sorted(set(options or {}) - set(metric.options))
    if unknown:
        raise UsageError(
            f"metric {metric.name!r} takes no option(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(metric.options) or 'none'}"
        )
    if metric.needs_judge and judge is None:
        raise UsageError(
            f"metric {metric.name!r} needs a judge model: give --judge MODEL (VLMEvalKit "
            "scores it only with one)"
        )
    settings = {**metric.options, **(options or {})}
    items = items_by_index(frame)
    errors = error_flags(items)
    judged = None
    if judge is not None and metric.judged is not None:
        judged = metric.judged(items[[not e for e in errors]], judge)
        readings = iter(judged.parsed)
        read = [None if failed else next(readings) for failed in errors]
    else:
        read = [None if failed else metric.read(row) for row, failed in _rows(items, errors)]
    credits = [
        0.0 if failed else float(metric.credit(row, reading, settings))
        for (row, failed), reading in zip(_rows(items, errors), read, strict=True)
    ]
    items = attach(items, read, [c >= FULL_CREDIT for c in credits])
    if judged is not None:
        logs = iter(judged.log)
        items["log"] = ["" if failed else next(logs) for failed in errors]
    if metric.partial_credit:
        items["score"] = credits
    summary = metric.summarise(items, settings)
    items = items if summary.items is None else summary.items
    scores: dict[str, Any] = {
        "metric": metric.name,
        "reference": metric.reference,
        "n": len(items),
        "unparsed": int(sum(p is None and not e for p, e in zip(read, errors, strict=True))),
        "errors": int(sum(errors)),
        **({} if judged is None else {"judge_fallbacks": judged.fallbacks}),
        **summary.scores,
        **score_intervals(metric, items, settings),
    }
    return ScoreResult(items, scores, summary.table, metric.suffix, dict(summary.more_tables))


def _rows(items: pd.DataFrame, errors: list[bool]) -> Any:
    return zip(items.to_dict("records"), errors, strict=True)
