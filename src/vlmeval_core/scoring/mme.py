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

from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd

from vlmeval_core.errors import UsageError
from vlmeval_core.scoring.common import accuracy, as_text, one_row_table
from vlmeval_core.scoring.metric import Options, Summary
from vlmeval_core.scoring.weighted import Figures, Resampling, first_of_each, weighted_mean

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


def _check_columns(items: pd.DataFrame) -> None:
    for column in ("category", "image_path"):
        if column not in items.columns:
            raise UsageError(
                f"MME scoring needs the column {column!r} (acc+ pairs the two questions of "
                "each image); the file has " + ", ".join(map(str, items.columns))
            )


def summarise_mme(items: pd.DataFrame, options: Options) -> Summary:
    """MME's subtask, perception and cognition scores; see the module docstring."""
    _check_columns(items)
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


def _image_of(items: pd.DataFrame) -> list[Hashable]:
    _check_columns(items)
    return [
        (as_text(c), as_text(i))
        for c, i in zip(items["category"], items["image_path"], strict=True)
    ]


def _category_of(items: pd.DataFrame) -> list[Hashable]:
    return [as_text(c) for c in items["category"]]


def mme_figures(items: pd.DataFrame, weights: np.ndarray, options: Options) -> Figures:
    """The subtask scores (acc + acc+, in points) and their sum over the known subtasks."""
    images = _image_of(items)
    categories = np.array(_category_of(items), dtype=object)
    correct = items["correct"].to_numpy(dtype=bool)
    pair_hit: dict[Hashable, list[bool]] = {}
    for image, hit in zip(images, correct, strict=True):
        pair_hit.setdefault(image, []).append(bool(hit))
    first = first_of_each(images)
    both = np.array([all(pair_hit[image][:PAIR]) for image in images], dtype=float)
    subtask: dict[str, np.ndarray] = {}
    for category in dict.fromkeys(categories):
        rows = categories == category
        acc = weighted_mean(correct[rows].astype(float), weights[:, rows], empty=0.0)
        heads = rows & first
        acc_plus = weighted_mean(both[heads], weights[:, heads], empty=0.0)
        subtask[category] = acc * 100 + acc_plus * 100
    known = [subtask[c] for c in (*PERCEPTION, *COGNITION) if c in subtask]
    overall = np.sum(known, axis=0) if known else np.zeros(len(weights))
    return {"overall": overall, "by_category": subtask}


MME_RESAMPLING = Resampling("image (its two questions)", _image_of, mme_figures, _category_of)
"""An image is drawn with its questions, among the images of its subtask (which keeps its size)."""
