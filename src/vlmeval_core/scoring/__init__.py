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

Registered benchmarks name a metric instead (:data:`METRICS`, looked up by
:func:`score_dataset` with the registry's ``metric_options``): VLMEvalKit's
rule-based scoring of MMBench (circular), MMMU, MME, POPE, HallusionBench,
TextVQA (VQA accuracy), DocVQA / InfoVQA (ANLS), ChartQA (relaxed accuracy)
and OCRBench. Every metric's ``scores`` has ``metric``, ``overall``, ``n``,
``unparsed`` and ``errors``; ``overall`` is in [0, 1] except for the
point-counting metrics of :data:`POINT_METRICS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from vlmeval_core.errors import UsageError
from vlmeval_core.scoring.circular import score_circular
from vlmeval_core.scoring.common import ScoreResult
from vlmeval_core.scoring.extract import extract_option, extract_yes_no
from vlmeval_core.scoring.hallusion import score_hallusion
from vlmeval_core.scoring.mcq import score_mcq
from vlmeval_core.scoring.mme import score_mme
from vlmeval_core.scoring.mmmu import score_mmmu
from vlmeval_core.scoring.ocrbench import score_ocrbench
from vlmeval_core.scoring.pope import score_pope
from vlmeval_core.scoring.vqa import normalize_answer, score_vqa
from vlmeval_core.scoring.vqa_metrics import score_anls, score_relaxed_accuracy, score_vqa_score
from vlmeval_core.scoring.yorn import score_yorn

SCORERS: dict[str, Callable[[pd.DataFrame], ScoreResult]] = {
    "mcq": score_mcq,
    "yorn": score_yorn,
    "vqa": score_vqa,
}
"""Dataset kind -> scorer."""

KIND_METRICS = {"accuracy", "exact_match"}
"""Metric names that mean "the kind's own scorer" (:data:`SCORERS`)."""

METRICS: dict[str, Callable[..., ScoreResult]] = {
    "circular_accuracy": score_circular,
    "mmmu_accuracy": score_mmmu,
    "mme_score": score_mme,
    "pope_f1": score_pope,
    "hallusion_accuracy": score_hallusion,
    "vqa_score": score_vqa_score,
    "anls": score_anls,
    "relaxed_accuracy": score_relaxed_accuracy,
    "ocrbench_score": score_ocrbench,
}
"""Metric name (a registry entry's ``metric``) -> scorer taking the frame and the options."""

POINT_METRICS = {"mme_score": 2800, "ocrbench_score": 1000}
"""Metrics whose ``overall`` counts points (most on the full benchmark), not a share."""

__all__ = [
    "KIND_METRICS",
    "METRICS",
    "POINT_METRICS",
    "SCORERS",
    "ScoreResult",
    "extract_option",
    "extract_yes_no",
    "normalize_answer",
    "score",
    "score_dataset",
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


def score_dataset(
    kind: str,
    frame: pd.DataFrame,
    metric: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> ScoreResult:
    """Score ``frame`` with ``metric`` (a :data:`METRICS` name, with ``options``), or, for
    None / "accuracy" / "exact_match", with the scorer of ``kind``."""
    if metric is None or metric in KIND_METRICS:
        return score(kind, frame)
    scorer = METRICS.get(metric)
    if scorer is None:
        raise UsageError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    return scorer(frame, **dict(options or {}))
