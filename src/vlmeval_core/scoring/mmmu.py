"""MMMU (dev + validation) as VLMEvalKit scores it without a judge.

VLMEvalKit's ``MMMU_preproc`` turns MMMU's open questions (no option ``A``)
into a two-way choice before matching: option ``A`` becomes the reference
answer and ``B`` the text ``Other Answers``; and an ``answer`` that is not a
single upper-case letter counts as ``A``. Then the option letter is read as
for every multiple-choice benchmark
(:func:`~vlmeval_core.scoring.extract.extract_option`).

The table is VLMEvalKit's ``report_acc`` (one row per split: dev and
validation). MMMU results are quoted on the validation split, so ``overall``
is the accuracy over ``primary_split`` items (over all items when there are
none, e.g. under ``--limit``; ``overall_split`` says which), and
``by_category`` / ``by_l2_category`` (subjects / disciplines) are over the
same items; ``by_split`` has every split.
"""

from __future__ import annotations

import string
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from vlmeval_core.scoring.common import accuracy, as_text, group_accuracy, group_keys
from vlmeval_core.scoring.extract import extract_option
from vlmeval_core.scoring.mcq import mcq_table, options_of
from vlmeval_core.scoring.metric import Options, Row, Summary
from vlmeval_core.scoring.weighted import (
    Hits,
    by_hits,
    correct_values,
    each_item,
    group_rows,
    mean_hits,
)

OPEN_QUESTION_OTHER = "Other Answers"


def mmmu_options_and_answer(row: Row) -> tuple[dict[str, str], str]:
    """The options and answer letter VLMEvalKit scores a row against (see the module docstring)."""
    options = options_of(row)
    answer = as_text(row["answer"])
    if "A" not in options:
        options = {**options, "A": answer, "B": OPEN_QUESTION_OTHER}
        options = dict(sorted(options.items()))
    letter = answer if len(answer) == 1 and answer in string.ascii_uppercase else "A"
    return options, letter


def read_mmmu_option(row: Row) -> str | None:
    """The letter the prediction gives among the row's (re-formulated) options."""
    return extract_option(as_text(row["prediction"]), mmmu_options_and_answer(row)[0])


def mmmu_credit(row: Row, parsed: Any, options: Options) -> float:
    """1.0 when the letter read is the row's answer letter."""
    return float(parsed is not None and parsed == mmmu_options_and_answer(row)[1])


def _primary(items: pd.DataFrame, options: Options) -> np.ndarray:
    """Per item: whether its split is the ``primary_split`` option's."""
    return np.array([s == options["primary_split"] for s in group_keys(items, "split")], bool)


def _scored(items: pd.DataFrame, options: Options) -> np.ndarray:
    """Per item: whether ``overall`` counts it (it is primary, or no item is)."""
    primary = _primary(items, options)
    return primary if primary.any() else np.ones(len(items), dtype=bool)


def summarise_mmmu(items: pd.DataFrame, options: Options) -> Summary:
    """Accuracy on the ``primary_split`` option's split; see the module docstring."""
    scored = items[_scored(items, options)]
    scores: dict[str, Any] = {
        "overall": accuracy(scored["correct"]),
        "overall_split": options["primary_split"] if _primary(items, options).any() else "all",
        "n_overall": len(scored),
        "accuracy_all": accuracy(items["correct"]),
        "by_split": group_accuracy(items, "split"),
        "by_category": group_accuracy(scored, "category"),
    }
    if "l2-category" in items.columns:
        scores["by_l2_category"] = group_accuracy(scored, "l2-category")
    return Summary(scores, mcq_table(items))


def mmmu_hits(items: pd.DataFrame, options: Options) -> Hits:
    """Accuracy over the scored items, overall and per subject and discipline; every split's."""
    hits = mean_hits(items, correct_values(items), _scored(items, options))
    every = np.ones(len(items), dtype=bool)
    return replace(hits, groups={**hits.groups, "by_split": group_rows(items, every, "split")})


MMMU_RESAMPLING = by_hits("item", each_item, mmmu_hits)
"""Items drawn one by one."""
