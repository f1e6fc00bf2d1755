"""MME: per subtask accuracy plus accuracy+, summed into perception and cognition scores.

Each MME image comes with two questions (one answered Yes, one No). Per
subtask (``category``): ``acc`` is the share of right answers, ``acc+`` the
share of images (``image_path``) whose questions are all right; the subtask's
score is ``acc * 100 + acc+ * 100`` (at most 200). The perception score sums
the ten perception subtasks, cognition (VLMEvalKit's ``reasoning``) the
four others, as VLMEvalKit's ``MME_rating`` does; a subtask with no items
(``--limit``) adds nothing. Yes/No is read as everywhere
(:func:`~vlmeval_core.scoring.extract.extract_yes_no`).

The table is VLMEvalKit's ``<model>_MME_score.csv``: one row, ``perception``,
``reasoning``, then each subtask in the order it first appears. ``scores``:
``overall`` = perception + cognition (points, at most 2800), ``perception``,
``cognition``, ``by_category`` (subtask scores), ``by_category_acc`` and
``by_category_acc_plus`` (each in [0, 1]), ``accuracy`` (all questions).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from vlmeval_core.errors import UsageError
from vlmeval_core.scoring.common import ScoreResult, accuracy, as_text, one_row_table
from vlmeval_core.scoring.yorn import score_yorn

METRIC = "mme_score"
PERCEPTION = (
    "OCR",
    "artwork",
    "celebrity",
    "color",
    "count",
    "existence",
    "landmark",
    "position",
    "posters",
    "scene",
)
COGNITION = (
    "code_reasoning",
    "commonsense_reasoning",
    "numerical_calculation",
    "text_translation",
)


def score_mme(frame: pd.DataFrame) -> ScoreResult:
    """Score MME predictions; see the module docstring."""
    for column in ("category", "image_path"):
        if column not in frame.columns:
            raise UsageError(
                f"MME scoring needs the column {column!r} (acc+ pairs the two questions of "
                "each image); the file has " + ", ".join(map(str, frame.columns))
            )
    result = score_yorn(frame)
    items = result.items
    by_image: dict[str, dict[str, list[bool]]] = {}
    for category, image, correct in zip(
        items["category"], items["image_path"], items["correct"], strict=True
    ):
        images = by_image.setdefault(as_text(category), {})
        images.setdefault(as_text(image), []).append(bool(correct))

    acc = {c: accuracy(v for vs in imgs.values() for v in vs) for c, imgs in by_image.items()}
    acc_plus = {c: accuracy(all(vs) for vs in imgs.values()) for c, imgs in by_image.items()}
    subtask = {c: acc[c] * 100 + acc_plus[c] * 100 for c in by_image}
    perception = float(sum(subtask.get(c, 0.0) for c in PERCEPTION))
    cognition = float(sum(subtask.get(c, 0.0) for c in COGNITION))

    scores: dict[str, Any] = {
        "metric": METRIC,
        "overall": perception + cognition,
        "n": result.scores["n"],
        "unparsed": result.scores["unparsed"],
        "errors": result.scores["errors"],
        "perception": perception,
        "cognition": cognition,
        "accuracy": result.scores["overall"],
        "by_category": subtask,
        "by_category_acc": acc,
        "by_category_acc_plus": acc_plus,
    }
    table = one_row_table({"perception": perception, "reasoning": cognition, **subtask})
    return ScoreResult(items, scores, table, table_suffix="_score")
