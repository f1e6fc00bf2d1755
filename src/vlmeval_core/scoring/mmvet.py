"""MMVet: each item's judge score in [0, 1], and the tables by capability and combination.

As VLMEvalKit main e8e78f05's ``MMVet_acc`` (``utils/mmvet.py``): an item's ``category`` is
its capabilities joined by commas (``rec,ocr``). The ``_score.csv`` table has a row per
capability (``rec``, ``ocr``, ``know``, ``gen``, ``spat``, ``math``; an item counts for each
whose name is in its category text) and ``Overall``; ``_score_fine.csv`` a row per
combination (commas as ``_``) in the order first met, then ``Overall``; columns
``Category``, ``tot``, ``acc`` (the mean score times 100; NaN for a capability with no item,
where VLMEvalKit divides by zero). ``scores``: ``overall`` (the mean score), ``by_category``
(per combination, as the category column has it), ``by_split`` and ``by_capability``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from vlmeval_core.scoring.common import as_text
from vlmeval_core.scoring.metric import Options, Row, Summary
from vlmeval_core.scoring.vqa_metrics import summarise_scores

CAPABILITIES = ("rec", "ocr", "know", "gen", "spat", "math")
FINE_SUFFIX = "_score_fine"


def no_rule(row: Row) -> None:
    """MMVet has no rule to read an answer by: every item is the judge's to score."""
    return None


def mmvet_credit(row: Row, parsed: Any, options: Options) -> float:
    """The judge's score of the item (0.0 when it has none)."""
    return 0.0 if parsed is None else float(parsed)


def _rows(names: list[str], totals: dict[str, int], sums: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Category": names,
            "tot": [totals.get(n, 0) for n in names],
            "acc": [sums[n] / totals[n] * 100 if totals.get(n) else float("nan") for n in names],
        }
    )


def summarise_mmvet(items: pd.DataFrame, options: Options) -> Summary:
    """``MMVet_acc``'s two tables and the scores; see the module docstring."""
    totals: dict[str, int] = {}
    sums: dict[str, float] = {}
    combinations: list[str] = []
    for category, score in zip(items["category"], items["score"], strict=True):
        text, grade = as_text(category), float(score)
        combination = text.replace(",", "_")
        if combination not in combinations:
            combinations.append(combination)
        keys = [c for c in CAPABILITIES if c in text]
        for key in [*keys, "Overall", combination]:
            totals[key] = totals.get(key, 0) + 1
            sums[key] = sums.get(key, 0.0) + grade
    by_capability = _rows([*CAPABILITIES, "Overall"], totals, sums)
    fine = _rows([*combinations, "Overall"], totals, sums)
    scores = {
        **summarise_scores(items, options).scores,
        "by_capability": {c: sums[c] / totals[c] for c in CAPABILITIES if totals.get(c)},
    }
    return Summary(scores, by_capability, more_tables={FINE_SUFFIX: fine})
