"""HallusionBench: question accuracy (aAcc), figure accuracy (fAcc), question-pair accuracy (qAcc).

HallusionBench's index reads ``<category>_<subcategory>_<visual input>_<set>_<figure>_<question>``
(parts 3, 4 and 5 after splitting on ``_`` are the set, figure and question
ids; the loader keeps it as ``source_index``). As in VLMEvalKit's
``Hallusion_rating``: ``aAcc`` is the share of right answers; ``fAcc`` the
share of figures (``l2-category``, set, figure) whose questions are all
right; ``qAcc`` the share of questions (``l2-category``, set, question) right
on every figure they are asked about.

The table is VLMEvalKit's ``<model>_HallusionBench_score.csv``: columns
``split``, ``aAcc``, ``fAcc``, ``qAcc`` in percent; the row ``Overall``, then
one per ``category`` and one per ``l2-category`` (each sorted; VLMEvalKit
lists them in ``set`` order, which varies from run to run). ``scores``:
``aAcc``, ``fAcc``, ``qAcc`` in [0, 1] and ``overall``, their mean (the
figure leaderboards quote for HallusionBench), plus ``by_category`` and
``by_l2_category`` (``{name: {aAcc, fAcc, qAcc}}``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from vlmeval_core.errors import UsageError
from vlmeval_core.scoring.common import accuracy, as_text, group_keys, sorted_groups
from vlmeval_core.scoring.metric import Options, Summary
from vlmeval_core.scoring.weighted import (
    Figures,
    Resampling,
    all_of_each,
    first_of_each,
    weighted_mean,
)


def _ids(items: pd.DataFrame) -> list[list[str]]:
    column = "source_index" if "source_index" in items.columns else "index"
    ids = []
    for value in items[column]:
        parts = as_text(value).split("_")
        if len(parts) < 6:
            raise UsageError(
                f"HallusionBench index {as_text(value)!r} does not read "
                "<category>_<subcategory>_<visual input>_<set>_<figure>_<question>"
            )
        ids.append(parts)
    return ids


def _rates(rows: Sequence[tuple[str, list[str], bool]]) -> dict[str, float]:
    figures: dict[tuple[str, str, str], list[bool]] = {}
    questions: dict[tuple[str, str, str], list[bool]] = {}
    for l2, parts, correct in rows:
        figures.setdefault((l2, parts[3], parts[4]), []).append(correct)
        questions.setdefault((l2, parts[3], parts[5]), []).append(correct)
    return {
        "aAcc": accuracy(c for _, _, c in rows),
        "fAcc": accuracy(all(v) for v in figures.values()),
        "qAcc": accuracy(all(v) for v in questions.values()),
    }


def _l2(items: pd.DataFrame) -> list[str]:
    return (
        [as_text(v) for v in items["l2-category"]] if "l2-category" in items else [""] * len(items)
    )


def summarise_hallusion(items: pd.DataFrame, options: Options) -> Summary:
    """aAcc, fAcc, qAcc overall and per group; see the module docstring."""
    rows = list(zip(_l2(items), _ids(items), (bool(c) for c in items["correct"]), strict=True))

    overall = _rates(rows)
    by_group: dict[str, dict[str, dict[str, float]]] = {}
    names, values = ["Overall"], [overall]
    for column in ("category", "l2-category"):
        if column not in items.columns:
            continue
        keys = group_keys(items, column)
        rates = {
            g: _rates([r for k, r in zip(keys, rows, strict=True) if k == g])
            for g in sorted_groups(keys)
        }
        by_group["by_" + column.replace("-", "_")] = rates
        names += list(rates)
        values += list(rates.values())
    table = pd.DataFrame(
        {
            "split": names,
            **{m: [v[m] * 100 for v in values] for m in ("aAcc", "fAcc", "qAcc")},
        }
    )
    scores: dict[str, Any] = {
        "overall": (overall["aAcc"] + overall["fAcc"] + overall["qAcc"]) / 3,
        **overall,
        **by_group,
    }
    return Summary(scores, table)


def _set_of(items: pd.DataFrame) -> list[Hashable]:
    return [(l2, parts[3]) for l2, parts in zip(_l2(items), _ids(items), strict=True)]


def _weighted_rates(
    figures: list[Hashable], questions: list[Hashable], correct: np.ndarray, weights: np.ndarray
) -> dict[str, np.ndarray]:
    rates = {"aAcc": weighted_mean(correct, weights, empty=0.0)}
    for name, keys in (("fAcc", figures), ("qAcc", questions)):
        heads = first_of_each(keys)
        rates[name] = weighted_mean(all_of_each(keys, correct)[heads], weights[:, heads], 0.0)
    return rates


def hallusion_figures(items: pd.DataFrame, weights: np.ndarray, options: Options) -> Figures:
    """aAcc, fAcc, qAcc and their mean, overall and per category and l2-category."""
    l2, ids = _l2(items), _ids(items)
    figures_of = [(a, p[3], p[4]) for a, p in zip(l2, ids, strict=True)]
    questions_of = [(a, p[3], p[5]) for a, p in zip(l2, ids, strict=True)]
    correct = items["correct"].to_numpy(dtype=bool).astype(float)

    def rates(rows: np.ndarray) -> dict[str, np.ndarray]:
        return _weighted_rates(
            [k for k, r in zip(figures_of, rows, strict=True) if r],
            [k for k, r in zip(questions_of, rows, strict=True) if r],
            correct[rows],
            weights[:, rows],
        )

    overall = rates(np.ones(len(items), dtype=bool))
    result: Figures = {"overall": (overall["aAcc"] + overall["fAcc"] + overall["qAcc"]) / 3}
    for column in ("category", "l2-category"):
        if column in items.columns:
            keys = np.array(group_keys(items, column), dtype=object)
            result["by_" + column.replace("-", "_")] = {
                g: rates(keys == g) for g in sorted_groups(keys)
            }
    return result


HALLUSION_RESAMPLING = Resampling(
    "figure set (its figures and questions)", _set_of, hallusion_figures
)
"""A set is drawn whole: its figures and questions, which fAcc and qAcc group, stay together."""
