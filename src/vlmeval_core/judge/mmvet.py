"""MMVet's grading: the judge scores every answer against the ground truth, in [0, 1].

As VLMEvalKit main e8e78f05's ``MMVet_auxeval`` (``utils/mmvet.py``): the few-shot prompt
(:func:`~vlmeval_core.judge.prompts.mmvet_prompt`) is asked up to :data:`TRIES` times at
temperature ``0.5 * try`` with ``max_tokens`` :data:`MAX_TOKENS` (``MMVet.evaluate``'s
judge); the first answer Python's ``float()`` reads as a number in [0, 1] is the score
(``float()`` also reads ``nan``, which VLMEvalKit keeps too); after the last try the score is
0.0, a fallback. There is no rule: every item is asked.
"""

from __future__ import annotations

import pandas as pd

from vlmeval_core.judge.judged import Asker, Judged, Reading, gather
from vlmeval_core.judge.prompts import mmvet_prompt
from vlmeval_core.scoring.common import as_text
from vlmeval_core.scoring.metric import Row

TRIES = 5
TEMPERATURE_STEP = 0.5
MAX_TOKENS = 3
ALL_FAILED_LOG = "All 5 retries failed.\n"


def as_score(answer: str) -> float | None:
    """``float(answer)``, or None when Python cannot read it (VLMEvalKit's ``float_cvt``)."""
    try:
        return float(answer)
    except ValueError:
        return None


def judge_score(judge: Asker, row: Row) -> Reading:
    """One item's score (see the module docstring)."""
    prompt = mmvet_prompt(
        as_text(row["question"]), as_text(row["answer"]), as_text(row["prediction"])
    )
    log = ""
    for attempt in range(TRIES):
        answer = judge.ask(prompt, TEMPERATURE_STEP * attempt, MAX_TOKENS, attempt)
        score = as_score(answer)
        if score is None:
            log += f"Try {attempt}: output is {answer}, failed to parse.\n"
        elif score < 0 or score > 1:
            log += f"Try {attempt}: output is {answer}, invalid score: {score}.\n"
        else:
            return Reading(score, log + "Succeed")
    return Reading(0.0, log + ALL_FAILED_LOG, True)


def judged_scores(items: pd.DataFrame, judge: Asker) -> Judged:
    """Every item's score."""
    return gather(judge.map(lambda row: judge_score(judge, row), items.to_dict("records")))
