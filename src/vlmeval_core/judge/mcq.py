"""Multiple choice with a judge: the rules first, the judge only where they read no letter.

As VLMEvalKit main e8e78f05's ``extract_answer_from_item`` (``utils/multiple_choice.py``): an
item the rules read (:func:`~vlmeval_core.scoring.mcq.read_option`, ``can_infer``) is not
asked; otherwise the matching prompt (:func:`~vlmeval_core.judge.prompts.mcq_prompt`) is
asked up to :data:`TRIES` times at temperature 0 (VLMEvalKit's judge default; ``max_tokens``
the ``OpenAIWrapper`` default, :data:`MAX_TOKENS`), each answer read by the same rule; a
failed request or an answer naming no letter is tried again. After the last try a letter is
drawn from the options and Z (VLMEvalKit's ``rd.choice``; here seeded by the item's index, so
a rerun draws the same one; VLMEvalKit's draw is unseeded), and the item is counted as a
fallback.

Circular MMBench (``mcq_circular_eval``, ``eval_circular_group``): a question whose rows the
rules read all is not judged (a hit if all are right); one with a row read wrong is a miss
without asking; otherwise its unread rows are judged in index order, stopping at the first
row judged wrong (the rows after it are not asked). Only questions whose main row is present
are judged, the ones the circular score counts.
"""

from __future__ import annotations

import random

import pandas as pd

from vlmeval_core.judge.judged import FAIL_MSG, Asker, Judged, Reading, gather
from vlmeval_core.judge.prompts import mcq_prompt
from vlmeval_core.scoring.circular import CIRCULAR_OFFSET
from vlmeval_core.scoring.common import as_text
from vlmeval_core.scoring.extract import NO_ANSWER, extract_option
from vlmeval_core.scoring.mcq import options_of, read_option
from vlmeval_core.scoring.metric import Row

TRIES = 3
MAX_TOKENS = 2048
"""``OpenAIWrapper``'s ``max_tokens`` default, which VLMEvalKit's MCQ and Y/N judges keep."""
RANDOM_LOG = "Failed to predict, thus randomly generate one. "


def judge_option(judge: Asker, row: Row) -> Reading:
    """The letter for one item the rules could not read (see the module docstring)."""
    options = options_of(row)
    prompt = mcq_prompt(as_text(row.get("question")), options, as_text(row["prediction"]))
    for attempt in range(TRIES):
        answer = judge.ask(prompt, 0, MAX_TOKENS, attempt)
        if FAIL_MSG in answer:
            continue
        letter = extract_option(answer, options)
        if letter:
            return Reading(letter, answer)
    pool = [*options, NO_ANSWER] if NO_ANSWER not in options else list(options)
    return Reading(random.Random(as_text(row["index"])).choice(pool), RANDOM_LOG, True)


def judged_options(items: pd.DataFrame, judge: Asker) -> Judged:
    """Every item's letter: the rules', else the judge's (vanilla MCQ)."""
    rows = items.to_dict("records")
    readings = [_by_rules(row) for row in rows]
    todo = [i for i, r in enumerate(readings) if r.value is None]
    for i, reading in zip(
        todo, judge.map(lambda i: judge_option(judge, rows[i]), todo), strict=True
    ):
        readings[i] = reading
    return gather(readings)


def judged_circular(items: pd.DataFrame, judge: Asker) -> Judged:
    """Every row's letter under circular evaluation's judging (see the module docstring)."""
    rows = items.to_dict("records")
    readings = [_by_rules(row) for row in rows]
    groups: dict[int, list[int]] = {}
    for position, row in enumerate(rows):
        groups.setdefault(int(row["index"]) % CIRCULAR_OFFSET, []).append(position)
    mains = {int(row["index"]) for row in rows}
    asked = [
        sorted(members, key=lambda p: int(rows[p]["index"]))
        for question, members in groups.items()
        if question in mains and _needs_judge(rows, readings, members)
    ]

    def judge_group(members: list[int]) -> list[tuple[int, Reading]]:
        judged = []
        for position in members:
            if readings[position].value is not None:
                continue
            reading = judge_option(judge, rows[position])
            judged.append((position, reading))
            if reading.value != as_text(rows[position]["answer"]):
                break
        return judged

    for group in judge.map(judge_group, asked):
        for position, reading in group:
            readings[position] = reading
    return gather(readings)


def _by_rules(row: Row) -> Reading:
    letter = read_option(row)
    return Reading(letter, as_text(row["prediction"]) if letter else "")


def _needs_judge(rows: list[Row], readings: list[Reading], members: list[int]) -> bool:
    """Whether a question needs the judge: some row unread, none read wrong."""
    read = [readings[p].value for p in members]
    wrong = any(
        v is not None and v != as_text(rows[p]["answer"])
        for v, p in zip(read, members, strict=True)
    )
    return not wrong and any(v is None for v in read)
