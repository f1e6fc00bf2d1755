"""Yes/No scoring: read Yes or No from each prediction, compare it with the answer.

The reading is :func:`~vlmeval_core.scoring.extract.extract_yes_no` (VLMEvalKit's
``YOrN_Extraction``). An item is correct when the reading equals ``answer``
exactly as the file writes it, as VLMEvalKit compares them (``answer ==
extracted``: an answer "yes" or "YES" is never matched); an unreadable
prediction or an item with an error is wrong.

Besides accuracy, ``scores`` has ``precision``, ``recall`` and ``f1`` of the
"Yes" class (as VLMEvalKit's POPE rating counts them: an unread prediction is
a "not Yes"; a ratio whose denominator is 0 is 0.0), in [0, 1].

The ``table`` is VLMEvalKit's ``default_rating`` for Y/N datasets: one row,
``Overall`` then one column per ``category`` value then per ``l2-category``
value (each sorted), in percent (0-100), written as VLMEvalKit names it:
``<model>_<dataset>_score.csv``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from vlmeval_core.scoring.common import (
    accuracy,
    as_text,
    group_percentages,
    group_scores,
    one_row_table,
)
from vlmeval_core.scoring.extract import extract_yes_no
from vlmeval_core.scoring.metric import Options, Row, Summary


def read_yes_no(row: Row) -> str | None:
    """Yes, No, or None from the row's prediction (:func:`extract_yes_no`)."""
    return extract_yes_no(as_text(row["prediction"]))


def yes_no_credit(row: Row, parsed: Any, options: Options) -> float:
    """1.0 when the reading equals the row's ``answer`` exactly as written ("Yes" / "No")."""
    return float(parsed is not None and parsed == as_text(row["answer"]))


def says_yes(values: Any) -> list[bool]:
    """Per value: whether it is exactly "Yes" (VLMEvalKit's positive class)."""
    return [as_text(v) == "Yes" for v in values]


def precision_recall_f1(truth: list[bool], predicted: list[bool]) -> tuple[float, float, float]:
    """Precision, recall and F1 of the positive class; 0.0 wherever a denominator is 0."""
    tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t and p)
    fp = sum(1 for t, p in zip(truth, predicted, strict=True) if not t and p)
    fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t and not p)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return float(precision), float(recall), float(f1)


def summarise_yorn(items: pd.DataFrame, options: Options) -> Summary:
    """Accuracy, precision / recall / F1 of "Yes", and ``default_rating``'s table."""
    truth, said_yes = says_yes(items["answer"]), says_yes(items["parsed"])
    precision, recall, f1 = precision_recall_f1(truth, said_yes)
    scores = {**group_scores(items), "precision": precision, "recall": recall, "f1": f1}
    return Summary(scores, yorn_table(items))


def yorn_table(items: pd.DataFrame) -> pd.DataFrame:
    """VLMEvalKit's ``default_rating`` table for scored ``items`` (percentages)."""
    cells = {"Overall": accuracy(items["correct"]) * 100}
    cells.update(group_percentages(items, ("category", "l2-category")))
    return one_row_table(cells)
