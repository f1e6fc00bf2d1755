"""A metric's figures under resampling: what each bootstrap resample of a dataset scores.

A :class:`Resampling` says what is drawn together (``units``: an item, an
MMBench question with its rotations, an MME image with its two questions, a
HallusionBench figure set) and how the metric's figures follow from the items
when each item counts ``w`` times (``figures``). ``figures`` takes the
weights of many resamples at once, a ``(resamples, items)`` array, and gives
per figure one value per resample: ``overall`` and the groups the metric's
``scores`` report (``by_category``, ``by_split``, ...), under the same keys.
With every weight 1 the figures are the metric's own scores;
tests/test_intervals.py holds every metric of the table to that.

A metric whose every figure is a share of 0/1 outcomes (accuracy, circular
accuracy, MMMU's) states them as :class:`Hits` instead (:func:`by_hits` makes
its figures), so that two runs can be compared item by item (McNemar's test,
:mod:`vlmeval_core.compare`).

The functions here are the building blocks the metrics' ``figures`` share.
Nothing here draws a resample: :mod:`vlmeval_core.scoring.intervals` does.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import pandas as pd

from vlmeval_core.scoring.common import group_keys, sorted_groups

Figures = dict[str, Union[np.ndarray, "Figures"]]
"""Figure name -> one value per resample, or a nested table of them (a group's figures)."""

GROUP_FIGURES = (
    ("by_category", "category"),
    ("by_l2_category", "l2-category"),
    ("by_split", "split"),
)
"""The group tables of :func:`~vlmeval_core.scoring.common.group_scores`: key and column."""


@dataclass(frozen=True)
class Resampling:
    """How a metric is resampled: ``unit`` names what is drawn (in words, for scores.json),
    ``units(items)`` gives each item the key of its unit, and ``figures(items, weights,
    options)`` the figures of each row of ``weights`` (see the module docstring). Units of
    one ``strata(items)`` key are drawn among themselves, so each stratum keeps its size."""

    unit: str
    units: Callable[[pd.DataFrame], Sequence[Hashable]]
    figures: Callable[[pd.DataFrame, np.ndarray, Mapping[str, Any]], Figures]
    strata: Callable[[pd.DataFrame], Sequence[Hashable]] | None = None
    hits: Callable[[pd.DataFrame, Mapping[str, Any]], Hits] | None = None
    """For a metric whose every figure is a share of 0/1 outcomes: those outcomes and the rows
    of each figure (McNemar's test between two runs reads them); None for any other metric."""


@dataclass(frozen=True)
class Hits:
    """Outcomes and the rows each figure is their mean over: ``values`` (one per row; 0/1 in
    a metric's ``hits``), ``overall`` (a boolean row mask) and ``groups`` (``{table: {group:
    mask}}``, under the keys of the metric's figures)."""

    values: np.ndarray
    overall: np.ndarray
    groups: dict[str, dict[str, np.ndarray]]


def by_hits(
    unit: str,
    units: Callable[[pd.DataFrame], Sequence[Hashable]],
    hits: Callable[[pd.DataFrame, Mapping[str, Any]], Hits],
) -> Resampling:
    """The resampling of a metric of shares of hits: its figures are :func:`hit_figures`."""
    return Resampling(
        unit,
        units,
        lambda items, weights, options: hit_figures(hits(items, options), weights),
        hits=hits,
    )


def hit_figures(hits: Hits, weights: np.ndarray) -> Figures:
    """Each figure the share of hits over its rows under each row of ``weights`` (``overall``
    0 for no rows, a group NaN in a resample that leaves it empty)."""
    figures: Figures = {
        "overall": weighted_mean(hits.values[hits.overall], weights[:, hits.overall], empty=0.0)
    }
    for key, groups in hits.groups.items():
        figures[key] = {
            group: weighted_mean(hits.values[rows], weights[:, rows])
            for group, rows in groups.items()
        }
    return figures


def group_rows(items: pd.DataFrame, selected: np.ndarray, column: str) -> dict[str, np.ndarray]:
    """Per value of ``column`` among the ``selected`` rows (sorted): the mask of its selected
    rows; {} when the column is absent."""
    if column not in items.columns:
        return {}
    keys = np.array(group_keys(items, column), dtype=object)
    return {group: selected & (keys == group) for group in sorted_groups(keys[selected])}


def mean_hits(items: pd.DataFrame, values: np.ndarray, selected: np.ndarray) -> Hits:
    """Hits whose figures are ``overall`` and the group tables of
    :func:`~vlmeval_core.scoring.common.group_scores`, over the ``selected`` rows."""
    groups = {
        key: group_rows(items, selected, column)
        for key, column in GROUP_FIGURES
        if column in items.columns
    }
    return Hits(values, selected, groups)


def ratio(numerator: np.ndarray, denominator: np.ndarray, empty: float = np.nan) -> np.ndarray:
    """``numerator / denominator`` per resample; ``empty`` where the denominator is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), empty
        )


def weighted_mean(values: np.ndarray, weights: np.ndarray, empty: float = np.nan) -> np.ndarray:
    """The mean of ``values`` (one per item) under each row of ``weights``."""
    return ratio(weights @ values, weights.sum(axis=1), empty)


def mean_figures(items: pd.DataFrame, values: np.ndarray, weights: np.ndarray) -> Figures:
    """``overall`` (0 for no items) and the group tables of
    :func:`~vlmeval_core.scoring.common.group_scores`, all means of ``values``."""
    return hit_figures(mean_hits(items, values, np.ones(len(items), dtype=bool)), weights)


def correct_values(items: pd.DataFrame) -> np.ndarray:
    """Per item: 1.0 when it is ``correct``, else 0.0."""
    return items["correct"].to_numpy(dtype=bool).astype(float)


def each_item(items: pd.DataFrame) -> list[Hashable]:
    """Every item is its own unit."""
    return list(range(len(items)))


def accuracy_hits(items: pd.DataFrame, options: Mapping[str, Any]) -> Hits:
    """Every item's ``correct``: accuracy overall and per group (``group_scores``)."""
    return mean_hits(items, correct_values(items), np.ones(len(items), dtype=bool))


def credit_figures(items: pd.DataFrame, weights: np.ndarray, options: Mapping[str, Any]) -> Figures:
    """Mean partial credit (``score``) overall and per category and split."""
    figures = mean_figures(items, items["score"].to_numpy(dtype=float), weights)
    figures.pop("by_l2_category", None)  # the partial-credit summary reports none
    return figures


PER_ITEM = by_hits("item", each_item, accuracy_hits)
"""Items drawn one by one; accuracy overall and per group."""

PER_ITEM_CREDIT = Resampling("item", each_item, credit_figures)
"""Items drawn one by one; mean partial credit overall and per group."""


def first_of_each(keys: Sequence[Hashable]) -> np.ndarray:
    """Per item: whether it is the first of its key (so a group is counted once)."""
    seen: set[Hashable] = set()
    first = np.zeros(len(keys), dtype=bool)
    for position, key in enumerate(keys):
        if key not in seen:
            seen.add(key)
            first[position] = True
    return first


def all_of_each(keys: Sequence[Hashable], values: Sequence[bool]) -> np.ndarray:
    """Per item: whether every item of its key has a true value."""
    hit: dict[Hashable, bool] = {}
    for key, value in zip(keys, values, strict=True):
        hit[key] = hit.get(key, True) and bool(value)
    return np.array([hit[key] for key in keys], dtype=float)
