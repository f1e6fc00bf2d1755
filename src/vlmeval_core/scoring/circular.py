"""MMBench's circular evaluation: a question counts only if every rotation of it is answered right.

MMBench files hold each question several times with its options rotated: the
rows whose ``index % 1_000_000`` agree are one question, and the row whose
index equals that remainder is its main row. As in VLMEvalKit's
``mcq_circular_eval`` with ``exact_matching`` (no judge), a question is a hit
when the option letter read from every one of its rows (the same rule as
:func:`~vlmeval_core.scoring.extract.extract_option`) equals that row's answer;
an unreadable or wrong row makes it a miss. Rows whose main row is not in the
frame are left out (VLMEvalKit keeps only groups with a main row).

The table is VLMEvalKit's ``report_acc`` over the main rows with their group's
hit: one row per split, ``Overall``, then the ``l2-category`` and
``category`` columns (MMBench's abilities shortened: CP, FP-S, ...).
``scores`` has ``overall`` (the circular accuracy), ``n`` (questions),
``n_rows``, ``unparsed`` and ``errors`` (rows), ``vanilla_accuracy`` (every row on its own)
and ``by_category`` / ``by_l2_category`` / ``by_split`` over questions.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd

from vlmeval_core.scoring.common import accuracy, group_scores
from vlmeval_core.scoring.mcq import mcq_table
from vlmeval_core.scoring.metric import Options, Summary
from vlmeval_core.scoring.weighted import Hits, by_hits, mean_hits

CIRCULAR_OFFSET = 1_000_000
"""Rotations of question ``i`` have index ``i + k * CIRCULAR_OFFSET``."""


def summarise_circular(rows: pd.DataFrame, options: Options) -> Summary:
    """Group the scored rows into questions; see the module docstring."""
    indices = [int(i) for i in rows["index"]]
    groups = [i % CIRCULAR_OFFSET for i in indices]
    mains = {i for i, g in zip(indices, groups, strict=True) if i == g}
    hit: dict[int, bool] = dict.fromkeys(mains, True)
    for group, correct in zip(groups, rows["correct"], strict=True):
        if group in hit and not correct:
            hit[group] = False
    rows = rows.assign(
        circular_group=groups,
        circular_hit=pd.Series([hit.get(g) for g in groups], index=rows.index, dtype=object),
    )
    questions = rows[[i in mains for i in indices]].copy()
    questions["correct"] = [hit[int(i)] for i in questions["index"]]

    scores: dict[str, Any] = {
        **group_scores(questions),
        "n": len(questions),
        "n_rows": len(rows),
        "vanilla_accuracy": accuracy(rows["correct"]),
    }
    return Summary(scores, mcq_table(questions), rows)


def _question_of(rows: pd.DataFrame) -> list[Hashable]:
    return [int(i) % CIRCULAR_OFFSET for i in rows["index"]]


def circular_hits(rows: pd.DataFrame, options: Options) -> Hits:
    """Circular accuracy overall and per group: the hits of the questions (their main rows)."""
    main = np.array([int(i) == g for i, g in zip(rows["index"], _question_of(rows), strict=True)])
    hits = np.array([bool(h) for h in rows["circular_hit"]], dtype=float)
    return mean_hits(rows, hits, main)


CIRCULAR_RESAMPLING = by_hits("question (all its rotations)", _question_of, circular_hits)
"""A question is drawn with every rotation of it."""
