"""95% confidence intervals of a dataset's scores: a percentile bootstrap over its units.

Each resample draws as many units as the dataset has, with replacement (a
unit is what its metric's :class:`~vlmeval_core.scoring.weighted.Resampling`
keeps together: an item, an MMBench question with its rotations, an MME image
with its two questions, a HallusionBench figure set), and scores them with
the metric's own figures. The interval of a figure is the 2.5th and 97.5th
percentile of its values over :data:`RESAMPLES` resamples; a group that a
resample leaves empty is left out of that group's percentiles. The draws are
seeded (:data:`SEED`), so a dataset scored twice gets the same intervals.

Why by hand: ``scipy.stats.bootstrap`` resamples observations along one axis
for one statistic; here clusters are drawn (within strata for MME) and one
draw gives every figure of a metric at once. The draws are numpy's
multinomial and the intervals numpy's percentiles; tests/test_intervals.py
compares an item mean with ``scipy.stats.bootstrap`` and the Wilson interval.

The resamples are drawn in blocks of at most :data:`BLOCK_CELLS` weights, so
memory stays bounded whatever the dataset's size.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from vlmeval_core.scoring.metric import Metric
from vlmeval_core.scoring.weighted import Figures

RESAMPLES = 1000
"""Bootstrap resamples per dataset."""

CONFIDENCE = 0.95
SEED = 0
"""The seed of the draws: intervals are a function of the items alone."""

BLOCK_CELLS = 4_000_000
"""Most item weights held at once (resamples x items): 32 MB of float64."""

CI_SUFFIX = "_ci"
"""``scores[key + CI_SUFFIX]`` is the interval of ``scores[key]`` (``overall_ci``, ...)."""


def unit_weights(
    units: Sequence[Hashable],
    strata: Sequence[Hashable] | None,
    resamples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``(resamples, items)`` weights: how often each item's unit is drawn in each resample.

    Units are drawn as many times as there are units (of their stratum, with ``strata``),
    with replacement; every item of a unit gets the unit's count.
    """
    unit_keys, unit_of_item = np.unique(_codes(units), return_inverse=True)
    if strata is None:
        stratum_of_unit = np.zeros(len(unit_keys), dtype=int)
    else:
        stratum_of_item = _codes(strata)
        stratum_of_unit = np.zeros(len(unit_keys), dtype=int)
        stratum_of_unit[unit_of_item] = stratum_of_item
    counts = np.zeros((resamples, len(unit_keys)))
    for stratum in np.unique(stratum_of_unit):
        members = np.flatnonzero(stratum_of_unit == stratum)
        draws = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), resamples)
        counts[:, members] = draws
    return counts[:, unit_of_item]


def _codes(keys: Sequence[Hashable]) -> np.ndarray:
    """Each key as a small integer (keys may be tuples, which numpy cannot sort)."""
    code: dict[Hashable, int] = {}
    return np.array([code.setdefault(k, len(code)) for k in keys], dtype=int)


def resampled_figures(
    metric: Metric,
    items: pd.DataFrame,
    options: Mapping[str, Any],
    resamples: int = RESAMPLES,
    seed: int = SEED,
    paired: pd.DataFrame | None = None,
) -> Figures:
    """The metric's figures in each of ``resamples`` seeded resamples of ``items``.

    With ``paired`` (the same items, in the same order, scored in another run), each
    figure is ``items``' minus ``paired``'s under the same draws: a paired bootstrap.
    """
    plan = metric.resampling
    units = plan.units(items)
    strata = plan.strata(items) if plan.strata else None
    rng = np.random.default_rng(seed)
    block = max(1, BLOCK_CELLS // max(1, len(items)))
    parts = []
    for start in range(0, resamples, block):
        weights = unit_weights(units, strata, min(block, resamples - start), rng)
        figures = plan.figures(items, weights, options)
        if paired is not None:
            figures = _difference(figures, plan.figures(paired, weights, options))
        parts.append(figures)
    return _concatenate(parts)


def _difference(first: Figures, second: Figures) -> Figures:
    """``first - second`` figure by figure (the figures both have)."""
    return {
        key: _difference(value, second[key]) if isinstance(value, dict) else value - second[key]
        for key, value in first.items()
        if key in second
    }


def _concatenate(parts: list[Figures]) -> Figures:
    first = parts[0]
    return {
        key: _concatenate([p[key] for p in parts])
        if isinstance(value, dict)
        else np.concatenate([p[key] for p in parts])
        for key, value in first.items()
    }


def percentile_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> list[float] | None:
    """The central ``confidence`` interval of ``values`` (NaNs left out); None when all are NaN."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return [float(low), float(high)]


def _intervals(figures: Figures) -> dict[str, Any]:
    return {
        key: _intervals(value) if isinstance(value, dict) else percentile_interval(value)
        for key, value in figures.items()
    }


def score_intervals(
    metric: Metric, items: pd.DataFrame, options: Mapping[str, Any]
) -> dict[str, Any]:
    """What scores.json gets: ``<figure>_ci`` for ``overall`` and each group table the
    metric reports, in the scale of the figure, and ``interval`` (how they were made)."""
    if not len(items):
        return {}
    intervals = _intervals(resampled_figures(metric, items, options))
    described = {
        "method": "percentile bootstrap",
        "confidence": CONFIDENCE,
        "resamples": RESAMPLES,
        "seed": SEED,
        "unit": metric.resampling.unit,
    }
    return {
        **{key + CI_SUFFIX: value for key, value in intervals.items()},
        "interval": described,
    }


@dataclass(frozen=True)
class PairedFigure:
    """One figure of two runs on the same items: its ``path`` in the figures (``("overall",)``,
    ``("by_category", "CP")``), the first run's value minus the second's, the 95%
    paired-bootstrap interval of that difference and its two-sided bootstrap p-value of "no
    difference" (twice the smaller share of resampled differences on either side of 0, at
    most 1); None where a run has no value (a group a run's items leave empty)."""

    path: tuple[str, ...]
    difference: float | None
    ci: list[float] | None
    p_value: float | None


PAIRED_METHOD = "paired percentile bootstrap"


def paired_difference(
    metric: Metric, items: pd.DataFrame, other: pd.DataFrame, options: Mapping[str, Any]
) -> list[PairedFigure]:
    """Every figure (``overall``, then each group's) of ``items`` minus that of ``other`` (the
    same items, in the same order, scored in another run), under :data:`RESAMPLES` paired
    draws (:func:`resampled_figures` with ``paired``)."""
    once = np.ones((1, len(items)))
    figures = metric.resampling.figures
    point = _difference(figures(items, once, options), figures(other, once, options))
    resampled = resampled_figures(metric, items, options, paired=other)
    paired = []
    for path, value in _leaves(point):
        draws = _at(resampled, path)
        finite = bool(np.isfinite(value[0]))
        p_value = 2 * min(np.mean(draws <= 0), np.mean(draws >= 0))
        paired.append(
            PairedFigure(
                path,
                float(value[0]) if finite else None,
                percentile_interval(draws) if finite else None,
                float(min(1.0, p_value)) if finite else None,
            )
        )
    return paired


def _leaves(figures: Figures, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Each figure's path and values, in the figures' order."""
    return [
        leaf
        for key, value in figures.items()
        for leaf in (
            _leaves(value, (*path, key)) if isinstance(value, dict) else [((*path, key), value)]
        )
    ]


def _at(figures: Figures, path: tuple[str, ...]) -> np.ndarray:
    node: Any = figures
    for key in path:
        node = node[key]
    return node
