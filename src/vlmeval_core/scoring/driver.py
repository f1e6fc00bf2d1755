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
    metric: Metric, frame: pd.DataFrame, options: Mapping[str, Any] | None = None
) -> ScoreResult:
    """Score a predictions frame with ``metric``.

    Each item is read and credited by the metric's item rule; an item whose
    ``error`` is set is unread and gets no credit. ``options`` override the
    metric's defaults; an option the metric does not know is a UsageError.
    ``scores`` has the 95% interval of each figure
    (:func:`~vlmeval_core.scoring.intervals.score_intervals`).
    """
    unknown = sorted(set(options or {}) - set(metric.options))
    if unknown:
        raise UsageError(
            f"metric {metric.name!r} takes no option(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(metric.options) or 'none'}"
        )
    settings = {**metric.options, **(options or {})}
    items = items_by_index(frame)
    errors = error_flags(items)
    parsed: list[Any] = []
    credits: list[float] = []
    for row, failed in zip(items.to_dict("records"), errors, strict=True):
        reading = None if failed else metric.read(row)
        parsed.append(reading)
        credits.append(0.0 if failed else float(metric.credit(row, reading, settings)))
    items = attach(items, parsed, [c >= FULL_CREDIT for c in credits])
    if metric.partial_credit:
        items["score"] = credits
    summary = metric.summarise(items, settings)
    items = items if summary.items is None else summary.items
    scores: dict[str, Any] = {
        "metric": metric.name,
        "reference": metric.reference,
        "n": len(items),
        "unparsed": int(sum(p is None and not e for p, e in zip(parsed, errors, strict=True))),
        "errors": int(sum(errors)),
        **summary.scores,
        **score_intervals(metric, items, settings),
    }
    return ScoreResult(items, scores, summary.table, metric.suffix)
