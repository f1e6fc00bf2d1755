"""What every scorer shares: the result type, missing-value rules and per-group accuracy.

The scorers are pure functions of a predictions frame (one row per item:
``index``, ``prediction``, ``answer``, optional ``category`` / ``l2-category``
/ ``split`` / ``error``). This module holds the rules they agree on:

* a missing value is None, NaN or pandas' NA; as text it is ``""``;
* an item whose ``error`` is set (a non-empty string) is wrong, and counted under
  ``errors``, never under ``unparsed`` (answers that were given but not readable);
* the accuracy of no items is 0.0 (never a division by zero);
* category and split values become strings in ``scores`` (JSON object keys),
  items without a category are left out of ``by_category``, items without a
  split are counted under ``"none"`` (VLMEvalKit's name for "no split").
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

NO_SPLIT = "none"
"""The split name of items without one (VLMEvalKit's ``report_acc`` uses it too)."""

REQUIRED_COLUMNS = ("index", "prediction", "answer")


@dataclass
class ScoreResult:
    """A scored dataset.

    ``items``: the input rows sorted by ``index``, plus ``parsed`` (what was read
    from the prediction, None when nothing could be) and ``correct`` (bool;
    metrics with partial credit add a float ``score`` per item and count an
    item as correct at full credit). ``scores``: JSON-safe summary (metric,
    overall, n, unparsed, errors, and what the metric adds). ``table``: what
    VLMEvalKit writes for this benchmark, as ``<model>_<dataset><table_suffix>``
    (the metric's ``suffix``: ``_acc`` or ``_score``) with ``.csv`` for a frame
    and ``.json`` for a dict (OCRBench's ``_score.json``); ``more_tables``: further ``.csv``
    tables by suffix (MMVet's ``_score_fine``).
    """

    items: pd.DataFrame
    scores: dict[str, Any]
    table: pd.DataFrame | dict[str, Any]
    table_suffix: str
    more_tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def is_missing(value: Any) -> bool:
    """True for None, NaN and pandas' missing markers; False for any container."""
    if value is None:
        return True
    if isinstance(value, list | tuple | dict | set | np.ndarray):
        return False
    if isinstance(value, float):
        return math.isnan(value)
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def as_text(value: Any) -> str:
    """A cell as text: missing -> ``""``; an integral float (3.0 from a TSV) -> ``"3"``."""
    if is_missing(value):
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def has_error(value: Any) -> bool:
    """Whether an ``error`` cell marks its item as failed (set and not blank)."""
    return as_text(value).strip() != ""


def items_by_index(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` sorted by ``index`` (stable), checked for the columns a scorer needs."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"predictions frame lacks column(s) {missing}; it has {list(frame.columns)}"
        )
    items = frame.copy()
    if len(items):
        items = items.sort_values("index", kind="mergesort")
    return items.reset_index(drop=True)


def error_flags(items: pd.DataFrame) -> list[bool]:
    """Per item: whether its ``error`` is set (all False without an ``error`` column)."""
    if "error" not in items.columns:
        return [False] * len(items)
    return [has_error(v) for v in items["error"]]


def attach(items: pd.DataFrame, parsed: list[Any], correct: list[bool]) -> pd.DataFrame:
    """Add ``parsed`` (object dtype, None kept as None) and ``correct`` (bool) to ``items``."""
    items = items.copy()
    items["parsed"] = pd.Series(parsed, index=items.index, dtype=object)
    items["correct"] = pd.Series(correct, index=items.index, dtype=bool)
    return items


def accuracy(correct: Iterable[bool]) -> float:
    """Share of True values as a python float; 0.0 when there are none."""
    values = [bool(c) for c in correct]
    return float(sum(values) / len(values)) if values else 0.0


def mean_or_nan(correct: Iterable[bool]) -> float:
    """Share of True values, NaN when there are none (a table cell with no items)."""
    values = [bool(c) for c in correct]
    return float(sum(values) / len(values)) if values else float("nan")


def group_keys(items: pd.DataFrame, column: str) -> list[str | None]:
    """Per item: its ``column`` value as text; None where missing.

    For ``split`` a missing value is :data:`NO_SPLIT`, as is every item of a
    frame without a ``split`` column.
    """
    if column not in items.columns:
        return [NO_SPLIT if column == "split" else None] * len(items)
    keys: list[str | None] = []
    for value in items[column]:
        if is_missing(value) or as_text(value) == "":
            keys.append(NO_SPLIT if column == "split" else None)
        else:
            keys.append(as_text(value))
    return keys


def sorted_groups(keys: Iterable[str | None]) -> list[str]:
    """The distinct non-missing keys, sorted."""
    return sorted({k for k in keys if k is not None})


def group_accuracy(items: pd.DataFrame, column: str) -> dict[str, float]:
    """``{value: accuracy}`` over the items of each ``column`` value; {} without the column."""
    if column not in items.columns:
        return {}
    keys = group_keys(items, column)
    correct = list(items["correct"])
    return {
        g: accuracy(c for k, c in zip(keys, correct, strict=True) if k == g)
        for g in sorted_groups(keys)
    }


def group_scores(items: pd.DataFrame) -> dict[str, Any]:
    """``overall`` accuracy and accuracy by category, split (and l2-category when present)."""
    scores: dict[str, Any] = {
        "overall": accuracy(items["correct"]),
        "by_category": group_accuracy(items, "category"),
        "by_split": group_accuracy(items, "split"),
    }
    if "l2-category" in items.columns:
        scores["by_l2_category"] = group_accuracy(items, "l2-category")
    return scores


def one_row_table(cells: dict[str, float]) -> pd.DataFrame:
    """A one-row frame with a column per key (VLMEvalKit's ``d2df``)."""
    return pd.DataFrame({name: [value] for name, value in cells.items()})


def group_percentages(items: pd.DataFrame, columns: Iterable[str]) -> dict[str, float]:
    """Accuracy x 100 per value of each of ``columns`` in turn, values sorted.

    Used by the one-row Y/N table; a later group of the same name
    replaces an earlier one, as in VLMEvalKit's dict-built tables.
    """
    cells: dict[str, float] = {}
    for column in columns:
        for group, acc in group_accuracy(items, column).items():
            cells[group] = acc * 100
    return cells
