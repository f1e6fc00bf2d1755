"""What a metric is: how an item's answer is read and scored, and how the table is formed.

A :class:`Metric` is one entry of the table in :mod:`vlmeval_core.scoring.metrics`;
:func:`vlmeval_core.scoring.driver.score_frame` runs any of them. Adding a
metric means writing its item rule (``read``, ``credit``) and its summary, and
one entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from vlmeval_core.scoring.weighted import PER_ITEM, Resampling

REFERENCE_COMMIT = "e8e78f05"
"""The VLMEvalKit main commit (2026-08-18) whose rule-based scoring this package follows."""

Row = Mapping[str, Any]
Options = Mapping[str, Any]


@dataclass(frozen=True)
class Summary:
    """What a metric's summary makes of the scored items.

    ``scores``: ``overall`` and the figures the metric adds (the driver adds
    ``metric``, ``n``, ``unparsed``, ``errors``, ``reference``). ``table``:
    VLMEvalKit's result table (a frame -> ``.csv``, a dict -> ``.json``).
    ``items``: the items with columns the summary adds, when it adds any. ``more_tables``:
    VLMEvalKit's further tables by suffix (MMVet's ``_score_fine``).
    """

    scores: dict[str, Any]
    table: pd.DataFrame | dict[str, Any]
    items: pd.DataFrame | None = None
    more_tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)


@dataclass(frozen=True)
class Metric:
    """One metric: item rule, summary, result file and scale.

    ``read(row)`` is what the prediction gives (an option letter, Yes/No, a
    normalised text; None when nothing can be read). ``credit(row, parsed,
    options)`` is the item's score in [0, 1]. ``summarise(items, options)``
    forms ``scores`` and the table from the items with ``parsed``,
    ``correct`` (full credit) and, for ``partial_credit`` metrics, ``score``.
    ``suffix``: VLMEvalKit's result file, ``<model>_<dataset><suffix>``.
    ``out_of``: None when ``overall`` is a share in [0, 1], else the points
    of the full benchmark (``overall`` counts points). ``reference``: the
    VLMEvalKit code it follows, or what it follows instead. ``kind_default``:
    the metric of a dataset of ``kind`` that names none. ``options``: the
    defaults of the options ``credit`` and ``summarise`` read. ``resampling``:
    what a bootstrap resample draws and how it is scored (the confidence intervals).
    ``judged(items, judge)``: every item's reading with a judge (the rules first, the judge
    for the rest; :mod:`vlmeval_core.judge`), None when the metric uses none;
    ``needs_judge``: it cannot be scored without one (MathVista, MMVet).
    """

    name: str
    kind: str
    read: Callable[[Row], Any]
    credit: Callable[[Row, Any, Options], float]
    summarise: Callable[[pd.DataFrame, Options], Summary]
    suffix: Literal["_acc", "_score"]
    reference: str
    out_of: int | None = None
    partial_credit: bool = False
    kind_default: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    resampling: Resampling = PER_ITEM
    judged: Callable[[pd.DataFrame, Any], Any] | None = None
    needs_judge: bool = False
