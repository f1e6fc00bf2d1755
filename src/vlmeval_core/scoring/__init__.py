"""Scoring: pure functions from a predictions frame to a :class:`ScoreResult`.

Rule-based scoring as VLMEvalKit main at commit e8e78f05 does it
(:data:`REFERENCE_COMMIT`), without a judge model. Every metric is one entry of
:data:`~vlmeval_core.scoring.metrics.TABLE` (its item rule, its summary and
table, its result-file suffix and scale), and one driver
(:func:`~vlmeval_core.scoring.driver.score_frame`) runs them.

The frame has one row per item: ``index``, ``prediction``, ``answer``, options
``A``..``Z`` for MCQ, and optionally ``category``, ``l2-category``, ``split``
and ``error``. ``scores`` of every metric has ``metric``, ``reference`` (the
VLMEvalKit code it follows), ``overall``, ``n``, ``unparsed`` and ``errors``;
``overall`` is a share in [0, 1] except for metrics that count points
(:func:`~vlmeval_core.scoring.metrics.points_out_of`). The kinds' defaults
add ``by_category``, ``by_split`` (and ``by_l2_category``), Y/N also
``precision``, ``recall`` and ``f1`` of "Yes". Only plain python types, so it
is JSON as is. Nothing here reads or writes files;
:mod:`vlmeval_core.report` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from vlmeval_core.datasets.cells import as_evaluate_reads
from vlmeval_core.scoring.common import ScoreResult
from vlmeval_core.scoring.driver import score_frame
from vlmeval_core.scoring.extract import extract_option, extract_yes_no
from vlmeval_core.scoring.metric import REFERENCE_COMMIT, Metric
from vlmeval_core.scoring.metrics import KIND_DEFAULTS, TABLE, metric_for, points_out_of
from vlmeval_core.scoring.vqa import normalize_answer

__all__ = [
    "KIND_DEFAULTS",
    "REFERENCE_COMMIT",
    "TABLE",
    "Metric",
    "ScoreResult",
    "extract_option",
    "extract_yes_no",
    "metric_for",
    "normalize_answer",
    "points_out_of",
    "score",
    "score_dataset",
]


def score(kind: str, frame: pd.DataFrame) -> ScoreResult:
    """Score ``frame`` with the default metric of ``kind`` ('mcq', 'yorn' or 'vqa')."""
    return score_frame(metric_for(kind), frame)


def score_dataset(
    kind: str,
    frame: pd.DataFrame,
    metric: str | None = None,
    options: Mapping[str, Any] | None = None,
    judge: Any = None,
) -> ScoreResult:
    """Score a dataset's items with the metric ``metric`` of ``kind`` (its default when None),
    their predictions and answers as VLMEvalKit's ``evaluate()`` reads them from its result file
    (:func:`~vlmeval_core.datasets.cells.as_evaluate_reads`: an "N/A" prediction is "nan"),
    with ``judge`` where the metric uses one (:func:`score_frame`).
    The result's items keep the predictions and answers as given."""
    result = score_frame(metric_for(kind, metric), as_evaluate_reads(frame), options, judge)
    given = frame.set_index("index")
    for column in ("prediction", "answer"):
        if column in given.columns:
            result.items[column] = result.items["index"].map(given[column])
    return result
