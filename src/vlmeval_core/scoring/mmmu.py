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
from typing import Any

import pandas as pd

from vlmeval_core.scoring.common import (
    ScoreResult,
    accuracy,
    as_text,
    attach,
    error_flags,
    group_accuracy,
    group_keys,
    prepare,
)
from vlmeval_core.scoring.extract import extract_option
from vlmeval_core.scoring.mcq import mcq_table, options_of

METRIC = "mmmu_accuracy"
OPEN_QUESTION_OTHER = "Other Answers"


def mmmu_options_and_answer(row: dict[str, Any]) -> tuple[dict[str, str], str]:
    """The options and answer letter VLMEvalKit scores a row against (see the module docstring)."""
    options = options_of(row)
    answer = as_text(row["answer"])
    if "A" not in options:
        options = {**options, "A": answer, "B": OPEN_QUESTION_OTHER}
        options = dict(sorted(options.items()))
    letter = answer if len(answer) == 1 and answer in string.ascii_uppercase else "A"
    return options, letter


def score_mmmu(frame: pd.DataFrame, primary_split: str = "validation") -> ScoreResult:
    """Score MMMU predictions; see the module docstring."""
    items = prepare(frame)
    errors = error_flags(items)
    parsed: list[str | None] = []
    correct: list[bool] = []
    for row, failed in zip(items.to_dict("records"), errors, strict=True):
        options, letter = mmmu_options_and_answer(row)
        reading = None if failed else extract_option(as_text(row["prediction"]), options)
        parsed.append(reading)
        correct.append(reading is not None and reading == letter)
    items = attach(items, parsed, correct)

    splits = group_keys(items, "split")
    primary = items[[s == primary_split for s in splits]]
    scored = primary if len(primary) else items
    scores: dict[str, Any] = {
        "metric": METRIC,
        "overall": accuracy(scored["correct"]),
        "overall_split": primary_split if len(primary) else "all",
        "n": len(items),
        "n_overall": len(scored),
        "unparsed": int(sum(1 for p in items["parsed"] if p is None)),
        "errors": int(sum(errors)),
        "accuracy_all": accuracy(items["correct"]),
        "by_split": group_accuracy(items, "split"),
        "by_category": group_accuracy(scored, "category"),
    }
    if "l2-category" in items.columns:
        scores["by_l2_category"] = group_accuracy(scored, "l2-category")
    return ScoreResult(items, scores, mcq_table(items))
