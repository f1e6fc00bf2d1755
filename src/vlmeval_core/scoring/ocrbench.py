"""OCRBench: one point per question whose answer appears in the prediction; 1000 in all.

As VLMEvalKit's OCRBench evaluation counts: a question scores when any of its
answers (``answer``: a list literal, or one answer) is a substring of the
prediction, both lower-cased, trimmed and with newlines made spaces; for
``Handwritten Mathematical Expression Recognition`` every space and newline is
removed instead and case is kept. Points are counted per ``category``; the
six text-recognition categories add up to ``Text Recognition``, and the five
groups to ``Final Score`` (out of 1000 on the full benchmark; ``Final Score
Norm`` is that divided by 10).

The table is VLMEvalKit's ``<model>_OCRBench_score.json`` (a dict, in that
order). ``scores``: ``overall`` = the final score (points), ``by_category``
(points per category, the file's categories), ``groups`` (the five groups),
``final_score_norm``, ``accuracy`` (final score / n).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from vlmeval_core.scoring.common import as_text
from vlmeval_core.scoring.metric import Options, Row, Summary
from vlmeval_core.scoring.vqa import acceptable_answers
from vlmeval_core.scoring.weighted import Figures, Resampling, correct_values, each_item

HME = "Handwritten Mathematical Expression Recognition"
TEXT_RECOGNITION = (
    "Regular Text Recognition",
    "Irregular Text Recognition",
    "Artistic Text Recognition",
    "Handwriting Recognition",
    "Digit String Recognition",
    "Non-Semantic Text Recognition",
)
OTHER_GROUPS = ("Scene Text-centric VQA", "Doc-oriented VQA", "Key Information Extraction", HME)
CATEGORIES = TEXT_RECOGNITION + OTHER_GROUPS


def ocrbench_hit(prediction: str, answers: list[str], category: str) -> bool:
    """Whether any answer is in the prediction, by OCRBench's rule for ``category``."""
    if category == HME:
        pred = prediction.strip().replace("\n", " ").replace(" ", "")
        return any(a.strip().replace("\n", " ").replace(" ", "") in pred for a in answers)
    pred = prediction.lower().strip().replace("\n", " ")
    return any(a.lower().strip().replace("\n", " ") in pred for a in answers)


def read_ocr_text(row: Row) -> str | None:
    """The prediction as written; None when it is blank."""
    text = as_text(row["prediction"])
    return text if text.strip() else None


def ocrbench_credit(row: Row, parsed: Any, options: Options) -> float:
    """1.0 when an answer is in the prediction by :func:`ocrbench_hit`."""
    answers = acceptable_answers(row["answer"])
    return float(ocrbench_hit(as_text(row["prediction"]), answers, as_text(row.get("category"))))


def summarise_ocrbench(items: pd.DataFrame, options: Options) -> Summary:
    """Points per category and group, and VLMEvalKit's ``_score.json``."""
    categories = (
        [as_text(c) for c in items["category"]] if "category" in items else [""] * len(items)
    )
    points = dict.fromkeys(CATEGORIES, 0)
    for category, hit in zip(categories, items["correct"], strict=True):
        points[category] = points.get(category, 0) + int(hit)
    groups = {"Text Recognition": sum(points[c] for c in TEXT_RECOGNITION)}
    groups.update({c: points[c] for c in OTHER_GROUPS})
    final = sum(groups.values())
    table: dict[str, Any] = {**groups, "Final Score": final, "Final Score Norm": final / 10}
    scores: dict[str, Any] = {
        "overall": float(final),
        "final_score_norm": final / 10,
        "accuracy": final / len(items) if len(items) else 0.0,
        "groups": groups,
        "by_category": {c: points[c] for c in sorted(set(categories)) if c},
    }
    return Summary(scores, table)


def ocrbench_figures(items: pd.DataFrame, weights: np.ndarray, options: Options) -> Figures:
    """Points: the final score (the known categories' hits) and each category's."""
    categories = np.array(
        [as_text(c) for c in items["category"]] if "category" in items else [""] * len(items),
        dtype=object,
    )
    hits = correct_values(items)
    known = np.isin(categories, CATEGORIES)
    return {
        "overall": weights[:, known] @ hits[known],
        "by_category": {
            c: weights[:, categories == c] @ hits[categories == c]
            for c in sorted(set(categories))
            if c
        },
    }


OCRBENCH_RESAMPLING = Resampling("item", each_item, ocrbench_figures)
"""Items drawn one by one; the points counted in each resample."""
