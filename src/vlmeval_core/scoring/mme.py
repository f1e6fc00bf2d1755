"""MME: per subtask accuracy plus accuracy+, summed into perception and cognition scores.

Each MME image comes with two questions (one answered Yes, one No). Per
subtask (``category``): ``acc`` is the share of right answers, ``acc+`` the
share of images (``image_path``) whose first two questions are both right
(VLMEvalKit multiplies ``val[0] * val[1]``; an image with one question left,
under ``--limit``, counts by that one, where VLMEvalKit fails); the subtask's
score is ``acc * 100 + acc+ * 100`` (at most 200). The perception score sums
the ten perception subtasks, cognition (VLMEvalKit's ``reasoning``) the
four others, as VLMEvalKit's ``MME_rating`` does; a subtask with no items
(``--limit``) adds nothing (VLMEvalKit fails with a KeyError). Yes/No is read as everywhere
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
from vlmeval_core.scoring.common import accuracy, as_text, one_row_table
from vlmeval_core.scoring.metric import Options, Summary

PAIR = 2
"""acc+ looks at an image's first two questions (VLMEvalKit: ``val[0] * val[1]``)."""
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


def summarise_mme(items: pd.DataFrame, options: Options) -> Summary:
    """MME's subtask, perception and cognition scores; see the module docstring."""
    for column in ("category", "image_path"):
        if column not in items.columns:
            raise UsageError(
                f"MME scoring needs the column {column!r} (acc+ pairs the two questions of "
                "each image); the file has " + ", ".join(map(str, items.columns))
            )
    by_image: dict[str, dict[str, list[bool]]] = {}
    for category, image, correct in zip(
        items["category"], items["image_path"], items["correct"], strict=True
    ):
        images = by_image.setdefault(as_text(category), {})
        images.setdefault(as_text(image), []).append(bool(correct))

    acc = {c: accuracy(v for vs in imgs.values() for v in vs) for c, imgs in by_image.items()}
    acc_plus = {c: accuracy(all(vs[:PAIR]) for vs in imgs.values()) for c, imgs in by_image.items()}
    subtask = {c: acc[c] * 100 + acc_plus[c] * 100 for c in by_image}
    perception = float(sum(subtask.get(c, 0.0) for c in PERCEPTION))
    cognition = float(sum(subtask.get(c, 0.0) for c in COGNITION))

    scores: dict[str, Any] = {
        "overall": perception + cognition,
        "perception": perception,
        "cognition": cognition,
        "accuracy": accuracy(items["correct"]),
        "by_category": subtask,
        "by_category_acc": acc,
        "by_category_acc_plus": acc_plus,
    }
    table = one_row_table({"perception": perception, "reasoning": cognition, **subtask})
    return Summary(scores, table)
