"""MathVista's answer extraction: the prediction's own answer when it checks, else the judge's.

As VLMEvalKit main e8e78f05's ``MathVista_auxeval`` (``utils/mathvista.py``): when
``post_check`` of the prediction (prefetch) gives a true value, that value is the reading
and the log ``Prefetch succeed``; otherwise the extraction prompt
(:func:`~vlmeval_core.judge.prompts.mathvista_prompt`) is asked up to :data:`TRIES` times at
temperature ``0.5 * try`` with ``max_tokens`` :data:`MAX_TOKENS` (``MathVista.evaluate``'s
judge), and the first answer that is not a failed request is the reading, whatever it says;
after the last try the reading is ``''`` (a fallback, never credited). The reading is then
checked by :func:`~vlmeval_core.scoring.mathvista.post_check`.
"""

from __future__ import annotations

import pandas as pd

from vlmeval_core.judge.judged import FAIL_MSG, Asker, Judged, Reading, gather
from vlmeval_core.judge.prompts import mathvista_prompt
from vlmeval_core.scoring.common import as_text
from vlmeval_core.scoring.mathvista import PREFETCH_LOG, prefetch_reading
from vlmeval_core.scoring.metric import Row

TRIES = 5
TEMPERATURE_STEP = 0.5
MAX_TOKENS = 128
ALL_FAILED_LOG = "All 5 retries failed.\n"


def judge_answer(judge: Asker, row: Row) -> Reading:
    """One item's extracted answer (see the module docstring)."""
    prediction = as_text(row["prediction"])
    prefetched = prefetch_reading(row)
    if prefetched is not None:
        return Reading(prefetched, PREFETCH_LOG)
    prompt = mathvista_prompt(as_text(row["question"]), prediction)
    log = ""
    for attempt in range(TRIES):
        answer = judge.ask(prompt, TEMPERATURE_STEP * attempt, MAX_TOKENS, attempt)
        if FAIL_MSG not in answer:
            return Reading(answer, log + "Succeed")
        log += f"Try {attempt}: output is {prediction}, failed to parse.\n"
    return Reading("", log + ALL_FAILED_LOG, True)


def judged_answers(items: pd.DataFrame, judge: Asker) -> Judged:
    """Every item's extracted answer."""
    return gather(judge.map(lambda row: judge_answer(judge, row), items.to_dict("records")))
