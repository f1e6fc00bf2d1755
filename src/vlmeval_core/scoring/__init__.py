"""Scoring: pure functions from a predictions frame to a :class:`ScoreResult`.

``score(kind, frame)`` picks the scorer for a dataset kind of
:data:`vlmeval_core.datasets.registry.KINDS`: ``"mcq"`` (option letter,
accuracy), ``"yorn"`` (Yes/No, accuracy plus precision / recall / F1 of Yes)
or ``"vqa"`` (normalised exact match). The frame has one row per item:
``index``, ``prediction``, ``answer``, options ``A``..``Z`` for MCQ, and
optionally ``category``, ``l2-category``, ``split`` and ``error``.

``scores`` of every kind::

    {"metric": "accuracy" | "exact_match", "overall": float in [0, 1], "n": int,
     "unparsed": int, "errors": int, "by_category": {value: accuracy},
     "by_split": {value: accuracy}}

plus ``"by_l2_category"`` when the frame has that column, and ``"precision"``,
``"recall"``, ``"f1"`` for Y/N. ``by_category`` / ``by_split`` are {} when the
frame lacks that column; in a frame with a ``split`` column, items without a
split count under "none". Only plain python types, so it is JSON as is.
Nothing here reads or writes files; :mod:`vlmeval_core.report` does.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from vlmeval_core.errors import UsageError
from vlmeval_core.scoring.common import ScoreResult
from vlmeval_core.scoring.extract import extract_option, extract_yes_no
from vlmeval_core.scoring.mcq import score_mcq
from vlmeval_core.scoring.vqa import normalize_answer, score_vqa
from vlmeval_core.scoring.yorn import score_yorn

SCORERS: dict[str, Callable[[pd.DataFrame], ScoreResult]] = {
    "mcq": score_mcq,
    "yorn": score_yorn,
    "vqa": score_vqa,
}
"""Dataset kind -> scorer."""

__all__ = [
    "SCORERS",
    "ScoreResult",
    "extract_option",
    "extract_yes_no",
    "normalize_answer",
    "score",
    "score_mcq",
    "score_vqa",
    "score_yorn",
]


def score(kind: str, frame: pd.DataFrame) -> ScoreResult:
    """Score ``frame`` with the scorer of ``kind`` ('mcq', 'yorn' or 'vqa')."""
    scorer = SCORERS.get(kind)
    if scorer is None:
        raise UsageError(f"unknown dataset kind {kind!r}; expected one of {', '.join(SCORERS)}")
    return scorer(frame)
