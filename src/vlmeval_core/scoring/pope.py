"""POPE: accuracy, precision, recall and F1 of "Yes", over all items and per split.

POPE's ``category`` holds its splits (``adversarial``, ``popular``,
``random``), comma-separated when one question belongs to several. As in
VLMEvalKit's ``POPE_rating``, every item counts once per split it names, the
overall figures too. "Yes" (exactly) is the positive class: an unread answer
is a "not Yes"; a ratio with a zero denominator is 0. Splits are sorted
(VLMEvalKit lists them in ``set`` order, which varies from run to run).

The table is VLMEvalKit's ``<model>_POPE_score.csv``: columns ``split``,
``Overall`` (F1), ``acc``, ``precision``, ``recall``, all in percent; the row
``Overall`` then one per split (sorted). ``scores``: ``overall`` = F1 in
[0, 1], ``accuracy``, ``precision``, ``recall``, ``f1``, and ``splits``:
``{split: {accuracy, precision, recall, f1, n}}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from vlmeval_core.scoring.common import accuracy, as_text, is_missing
from vlmeval_core.scoring.metric import Options, Summary
from vlmeval_core.scoring.weighted import Figures, Resampling, each_item, ratio
from vlmeval_core.scoring.yorn import precision_recall_f1


def _figures(rows: list[tuple[bool, bool, bool]]) -> dict[str, Any]:
    truth = [t for t, _, _ in rows]
    said_yes = [p for _, p, _ in rows]
    precision, recall, f1 = precision_recall_f1(truth, said_yes)
    return {
        "accuracy": accuracy(c for _, _, c in rows),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "n": len(rows),
    }


def _split_names(items: pd.DataFrame) -> list[list[str | None]]:
    """Per item: the splits it names ([None] when it names none)."""
    categories = items["category"] if "category" in items.columns else [None] * len(items)
    return [[None] if is_missing(c) else as_text(c).split(",") for c in categories]


def summarise_pope(items: pd.DataFrame, options: Options) -> Summary:
    """POPE's figures over all items and per split; see the module docstring."""
    expanded: list[tuple[str | None, tuple[bool, bool, bool]]] = []
    for names, answer, parsed, correct in zip(
        _split_names(items), items["answer"], items["parsed"], items["correct"], strict=True
    ):
        row = (as_text(answer) == "Yes", parsed == "Yes", bool(correct))
        expanded.extend((name, row) for name in names)

    overall = _figures([row for _, row in expanded])
    splits = {
        name: _figures([row for n, row in expanded if n == name])
        for name in sorted({n for n, _ in expanded if n is not None})
    }
    table = pd.DataFrame(
        {
            "split": ["Overall", *splits],
            "Overall": [f["f1"] * 100 for f in (overall, *splits.values())],
            "acc": [f["accuracy"] * 100 for f in (overall, *splits.values())],
            "precision": [f["precision"] * 100 for f in (overall, *splits.values())],
            "recall": [f["recall"] * 100 for f in (overall, *splits.values())],
        }
    )
    scores: dict[str, Any] = {
        "overall": overall["f1"],
        "accuracy": overall["accuracy"],
        "precision": overall["precision"],
        "recall": overall["recall"],
        "f1": overall["f1"],
        "splits": splits,
    }
    return Summary(scores, table)


def _f1(truth: np.ndarray, said_yes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """F1 of "Yes" per row of ``weights`` (0 wherever a denominator is 0)."""
    tp = weights @ (truth * said_yes)
    precision = ratio(tp, weights @ said_yes, empty=0.0)
    recall = ratio(tp, weights @ truth, empty=0.0)
    return ratio(2 * precision * recall, precision + recall, empty=0.0)


def pope_figures(items: pd.DataFrame, weights: np.ndarray, options: Options) -> Figures:
    """F1 overall (an item counted once per split it names) and per split."""
    names = _split_names(items)
    truth = np.array([as_text(a) == "Yes" for a in items["answer"]], dtype=float)
    said_yes = np.array([p == "Yes" for p in items["parsed"]], dtype=float)
    counted = np.array([len(n) for n in names], dtype=float)
    splits = sorted({n for ns in names for n in ns if n is not None})
    return {
        "overall": _f1(truth, said_yes, weights * counted),
        "splits": {
            split: {"f1": _f1(truth, said_yes, weights * [split in ns for ns in names])}
            for split in splits
        },
    }


POPE_RESAMPLING = Resampling("item", each_item, pope_figures)
"""Items drawn one by one, each with every split it is in."""
