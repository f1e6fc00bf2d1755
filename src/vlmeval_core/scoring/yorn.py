"""Yes/No scoring: read Yes or No from each prediction, compare it with the answer.

The reading is :func:`~vlmeval_core.scoring.extract.extract_yes_no` (VLMEvalKit's
``YOrN_Extraction``). ``answer`` is "Yes" or "No" in any case. An item is
correct when the reading equals the answer; an unreadable prediction or an
item with an error is wrong.

Besides accuracy, ``scores`` has ``precision``, ``recall`` and ``f1`` of the
"Yes" class (as VLMEvalKit's POPE rating counts them: an unread prediction is
a "not Yes"; a ratio whose denominator is 0 is 0.0), in [0, 1].

The ``table`` is VLMEvalKit's ``default_rating`` for Y/N datasets: one row,
``Overall`` then one column per ``category`` value then per ``l2-category``
value (each sorted), in percent (0-100) as VLMEvalKit writes it. (VLMEvalKit
names that file ``<model>_<dataset>_score.csv``; the report module writes it
as ``_acc.csv`` like the other kinds.)
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from vlmeval_core.scoring.common import (
    ScoreResult,
    accuracy,
    as_text,
    attach,
    base_scores,
    error_flags,
    group_percentages,
    one_row_table,
    prepare,
)
from vlmeval_core.scoring.extract import extract_yes_no

METRIC = "accuracy"


def normalize_yes_no(answer: Any) -> str:
    """An answer as "Yes" / "No" when it is one of those words in any case; else as text."""
    text = as_text(answer).strip()
    return text.capitalize() if text.lower() in ("yes", "no") else text


def precision_recall_f1(truth: list[bool], predicted: list[bool]) -> tuple[float, float, float]:
    """Precision, recall and F1 of the positive class; 0.0 wherever a denominator is 0."""
    tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t and p)
    fp = sum(1 for t, p in zip(truth, predicted, strict=True) if not t and p)
    fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t and not p)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return float(precision), float(recall), float(f1)


def score_yorn(frame: pd.DataFrame) -> ScoreResult:
    """Score Yes/No predictions; see the module docstring."""
    items = prepare(frame)
    errors = error_flags(items)
    answers = [normalize_yes_no(a) for a in items["answer"]]
    parsed: list[str | None] = []
    correct: list[bool] = []
    for prediction, answer, failed in zip(items["prediction"], answers, errors, strict=True):
        reading = None if failed else extract_yes_no(as_text(prediction))
        parsed.append(reading)
        correct.append(reading is not None and reading == answer)
    items = attach(items, parsed, correct)
    scores = base_scores(items, METRIC, errors)
    precision, recall, f1 = precision_recall_f1(
        [a == "Yes" for a in answers], [p == "Yes" for p in parsed]
    )
    scores.update(precision=precision, recall=recall, f1=f1)
    return ScoreResult(items, scores, yorn_table(items))


def yorn_table(items: pd.DataFrame) -> pd.DataFrame:
    """VLMEvalKit's ``default_rating`` table for scored ``items`` (percentages)."""
    cells = {"Overall": accuracy(items["correct"]) * 100}
    cells.update(group_percentages(items, ("category", "l2-category")))
    return one_row_table(cells)
