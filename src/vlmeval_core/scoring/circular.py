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
``n_rows``, ``unparsed`` (rows), ``vanilla_accuracy`` (every row on its own)
and ``by_category`` / ``by_l2_category`` / ``by_split`` over questions.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from vlmeval_core.scoring.common import ScoreResult, accuracy, base_scores, error_flags
from vlmeval_core.scoring.mcq import mcq_table, score_mcq

METRIC = "circular_accuracy"
CIRCULAR_OFFSET = 1_000_000
"""Rotations of question ``i`` have index ``i + k * CIRCULAR_OFFSET``."""


def score_circular(frame: pd.DataFrame) -> ScoreResult:
    """Score an MMBench-style frame by circular evaluation; see the module docstring."""
    rows = score_mcq(frame).items
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

    scores: dict[str, Any] = base_scores(questions, METRIC, error_flags(questions))
    scores.update(
        n_rows=len(rows),
        unparsed=int(sum(1 for p in rows["parsed"] if p is None)),
        errors=int(sum(error_flags(rows))),
        vanilla_accuracy=accuracy(rows["correct"]),
    )
    return ScoreResult(rows, scores, mcq_table(questions))
