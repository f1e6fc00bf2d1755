"""Multiple-choice scoring: read the option letter from each prediction, compare it with the answer.

The letter is read by :func:`~vlmeval_core.scoring.extract.extract_option`
from the item's options (columns ``A``..``Z`` that are set and not blank).
An item is correct when that letter equals ``answer`` exactly as the file
writes it (VLMEvalKit compares ``opt == GT``: an answer "b" or " B" is never
matched); an unreadable prediction or an item with an error is wrong. This is
VLMEvalKit's ``mcq_vanilla_eval`` with ``exact_matching``.

The ``table`` is VLMEvalKit's ``report_acc`` (``_acc.csv``): one row per
split (``"none"`` without a ``split`` column), columns ``split``, ``Overall``,
then one per ``l2-category`` value and one per ``category`` value (each
sorted; MMBench's long ability names shortened as VLMEvalKit does). Values
are accuracies in [0, 1]; a cell with no items is NaN.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

import pandas as pd

from vlmeval_core.scoring.common import (
    NO_SPLIT,
    accuracy,
    as_text,
    group_keys,
    group_scores,
    is_missing,
    mean_or_nan,
    sorted_groups,
)
from vlmeval_core.scoring.extract import extract_option
from vlmeval_core.scoring.metric import Options, Row, Summary

MMB_ABBREVIATIONS = {
    "coarse_perception": "CP",
    "finegrained_perception (instance-level)": "FP-S",
    "finegrained_perception (cross-instance)": "FP-C",
    "logic_reasoning": "LR",
    "relation_reasoning": "RR",
    "attribute_reasoning": "AR",
}
"""Column names VLMEvalKit's ``report_acc`` gives MMBench's abilities."""


def options_of(row: Mapping[str, Any]) -> dict[str, str]:
    """An item's options: ``{letter: text}`` for each set column A..Z (``build_choices``)."""
    options = {}
    for letter in string.ascii_uppercase:
        if letter in row and not is_missing(row[letter]):
            options[letter] = as_text(row[letter])
    return options


def read_option(row: Row) -> str | None:
    """The option letter the row's prediction gives (:func:`extract_option`)."""
    return extract_option(as_text(row["prediction"]), options_of(row))


def letter_credit(row: Row, parsed: Any, options: Options) -> float:
    """1.0 when the letter read equals the row's ``answer`` as it is written, else 0.0."""
    return float(parsed is not None and parsed == as_text(row["answer"]))


def summarise_mcq(items: pd.DataFrame, options: Options) -> Summary:
    """Accuracy overall and per group, and VLMEvalKit's ``report_acc`` table."""
    return Summary(group_scores(items), mcq_table(items))


def mcq_table(items: pd.DataFrame) -> pd.DataFrame:
    """VLMEvalKit's ``report_acc`` table for scored ``items``; see the module docstring."""
    correct = list(items["correct"])
    split_keys = group_keys(items, "split")
    splits = sorted_groups(split_keys) or [NO_SPLIT]
    columns: dict[str, list[Any]] = {
        "split": splits,
        "Overall": [
            accuracy(c for s, c in zip(split_keys, correct, strict=True) if s == split)
            for split in splits
        ],
    }
    for group in ("l2-category", "category"):
        if group not in items.columns:
            continue
        keys = group_keys(items, group)
        for value in sorted_groups(keys):
            columns[MMB_ABBREVIATIONS.get(value, value)] = [
                mean_or_nan(
                    c
                    for k, s, c in zip(keys, split_keys, correct, strict=True)
                    if k == value and s == split
                )
                for split in splits
            ]
    return pd.DataFrame(columns)
