"""MathVista (MathVista_MINI): an item's extracted answer checked, and the table by task and skill.

As VLMEvalKit main e8e78f05's ``utils/mathvista.py``. ``post_check``
(:func:`post_check`): a ``multi_choice`` item reads a letter from the response among its
``choices`` (the rule of :func:`~vlmeval_core.scoring.extract.extract_option`, ``can_infer``)
and compares it with ``answer_option``; an ``integer`` (``float``) item compares ``int()``
(``float()``) of the response with that of ``answer``; any other answer type compares
``str(None)`` with the answer, as VLMEvalKit does, so a free-text or list answer is never
credited. The reading of each item is the judge's extracted answer, or the prediction's own
when the prefetch succeeds (:mod:`vlmeval_core.judge.mathvista`).

The table is ``MathVista_acc``: a row for ``Overall`` then each skill and task in the order
they are first met (``Task&Skill``, ``tot``, ``prefetch``, ``hit``, ``prefetch_rate``,
``acc``, the last two in percent). ``scores``: ``overall`` (the share of hits), the groups of
:func:`~vlmeval_core.scoring.common.group_scores`, ``by_task``, ``by_skill`` and
``prefetch_rate`` (shares).
"""

from __future__ import annotations

import ast
from typing import Any

import pandas as pd

from vlmeval_core.scoring.common import accuracy, as_text, group_scores
from vlmeval_core.scoring.extract import extract_option
from vlmeval_core.scoring.metric import Options, Row, Summary

PREFETCH_LOG = "Prefetch succeed"
"""The log of an item whose prediction needed no judge (VLMEvalKit's words)."""


def choices_of(row: Row) -> dict[str, str]:
    """``{letter: choice}`` of a multi-choice item's ``choices`` (a Python list literal)."""
    listed = ast.literal_eval(as_text(row["choices"]))
    return {chr(65 + i): str(choice) for i, choice in enumerate(listed)}


def post_check(row: Row, response: Any, prefetch: bool) -> Any:
    """VLMEvalKit's ``post_check`` of ``response``: with ``prefetch``, the value read when it
    is the answer (a multi-choice item: the letter read, or False), else False; without,
    whether it is the answer."""
    answer: Any = row["answer"]
    value: Any = None
    try:
        if as_text(row["question_type"]) == "multi_choice":
            answer = as_text(row["answer_option"])
            value = extract_option(as_text(response), choices_of(row)) or False
            if prefetch:
                return value
        elif as_text(row["answer_type"]) == "integer":
            value, answer = int(response), int(answer)
        elif as_text(row["answer_type"]) == "float":
            value, answer = float(response), float(answer)
        else:
            value, answer = str(value), str(answer)
    except ValueError:
        pass
    if value == answer:
        return value if prefetch else True
    return False


def prefetch_reading(row: Row) -> Any:
    """The prediction's own answer when :func:`post_check` (prefetch) gives a true value, else
    None: what the rules read before any judge is asked."""
    return post_check(row, as_text(row["prediction"]), prefetch=True) or None


def mathvista_credit(row: Row, parsed: Any, options: Options) -> float:
    """1.0 when the extracted answer passes :func:`post_check`."""
    return float(parsed is not None and post_check(row, parsed, prefetch=False) is True)


def skills_of(row: Row) -> list[str]:
    """The item's ``skills`` (a Python list literal; a bare name is one skill)."""
    raw = as_text(row["skills"])
    try:
        listed = ast.literal_eval(raw)
    except (SyntaxError, ValueError):
        return [raw]
    return [str(s) for s in listed] if isinstance(listed, list | tuple) else [raw]


def summarise_mathvista(items: pd.DataFrame, options: Options) -> Summary:
    """``MathVista_acc``'s table and the scores; see the module docstring."""
    tot: dict[str, int] = {"Overall": 0}
    fetched: dict[str, int] = {}
    hit: dict[str, int] = {}
    tasks: dict[str, list[bool]] = {}
    skills: dict[str, list[bool]] = {}
    for row in items.to_dict("records"):
        task, own = as_text(row["task"]), skills_of(row)
        keys = ["Overall", *own, task]
        for key in keys:
            tot[key] = tot.get(key, 0) + 1
            fetched[key] = fetched.get(key, 0) + (row.get("log") == PREFETCH_LOG)
            hit[key] = hit.get(key, 0) + bool(row["correct"])
        tasks.setdefault(task, []).append(bool(row["correct"]))
        for skill in own:
            skills.setdefault(skill, []).append(bool(row["correct"]))
    table = pd.DataFrame(
        {
            "Task&Skill": list(tot),
            "tot": list(tot.values()),
            "prefetch": [fetched.get(k, 0) for k in tot],
            "hit": [hit.get(k, 0) for k in tot],
            "prefetch_rate": [fetched.get(k, 0) / n * 100 if n else 0.0 for k, n in tot.items()],
            "acc": [hit.get(k, 0) / n * 100 if n else 0.0 for k, n in tot.items()],
        }
    )
    scores = {
        **group_scores(items),
        "by_task": {k: accuracy(v) for k, v in sorted(tasks.items())},
        "by_skill": {k: accuracy(v) for k, v in sorted(skills.items())},
        "prefetch_rate": fetched.get("Overall", 0) / tot["Overall"] if tot["Overall"] else 0.0,
    }
    return Summary(scores, table)
