"""Yes/No with a judge: the rules first, the judge only for answers they read as neither.

As VLMEvalKit main e8e78f05's ``ImageYORNDataset.evaluate`` and ``YOrN_auxeval``
(``utils/yorn.py``): items ``YOrN_Extraction`` reads
(:func:`~vlmeval_core.scoring.yorn.read_yes_no`) are not asked; the rest get the matching
prompt (:func:`~vlmeval_core.judge.prompts.yorn_prompt`) up to :data:`TRIES` times at
temperature ``0.5 * try``, each answer read by the same rule; after the last, the item stays
"Unknown" (unread, counted as a fallback). VLMEvalKit asks the judge only when
``OPENAI_API_KEY`` is set and falls back to the rules with a warning otherwise; here the judge
named is asked, keyed or not (a local server needs no key).
"""

from __future__ import annotations

import pandas as pd

from vlmeval_core.judge.judged import Asker, Judged, Reading, gather
from vlmeval_core.judge.mcq import MAX_TOKENS
from vlmeval_core.judge.prompts import yorn_prompt
from vlmeval_core.scoring.common import as_text
from vlmeval_core.scoring.extract import extract_yes_no
from vlmeval_core.scoring.metric import Row
from vlmeval_core.scoring.yorn import read_yes_no

TRIES = 5
TEMPERATURE_STEP = 0.5
UNKNOWN_LOG = "Unknown"


def judge_yes_no(judge: Asker, row: Row) -> Reading:
    """Yes or No for one item the rules could not read, or an unread fallback."""
    prompt = yorn_prompt(as_text(row.get("question")), as_text(row["prediction"]))
    for attempt in range(TRIES):
        answer = judge.ask(prompt, TEMPERATURE_STEP * attempt, MAX_TOKENS, attempt)
        reading = extract_yes_no(answer)
        if reading is not None:
            return Reading(reading, answer)
    return Reading(None, UNKNOWN_LOG, True)


def judged_yes_no(items: pd.DataFrame, judge: Asker) -> Judged:
    """Every item's Yes/No: the rules', else the judge's."""
    rows = items.to_dict("records")
    readings = [Reading(read_yes_no(row), as_text(row["prediction"])) for row in rows]
    todo = [i for i, r in enumerate(readings) if r.value is None]
    for i, reading in zip(
        todo, judge.map(lambda i: judge_yes_no(judge, rows[i]), todo), strict=True
    ):
        readings[i] = reading
    return gather(readings)
