"""Open-ended VQA scoring: the standard VQA answer normalisation, then exact match.

Normalisation (the rules of the official VQA evaluation as VLMEvalKit applies
them in ``vqa_eval.process_answer``): newlines and tabs become spaces and the
ends are trimmed; punctuation is removed or turned into spaces
(:func:`process_punctuation`); then the text is lower-cased, split into words,
the number words zero..ten (and "none") become digits, the articles a / an /
the are dropped, and contractions written without their apostrophe get it back
(:func:`process_digit_article`).

A prediction is correct when its normalised form equals the normalised form of
the answer, or of any of the answers when ``answer`` is a list (a python list
or a JSON / python-literal list in a string). This is plain exact match, not
the 10-annotator "VQA score" (min(1, matches / 3)) that VLMEvalKit's
``ImageVQADataset`` applies to a dataset it has no rule for: that score gives
every item with a single answer 0, so a custom VQA set is knowingly scored
differently here.

The ``table`` follows VLMEvalKit's default ``ImageVQADataset.evaluate``: one
row; with a ``split`` column, one column per split then ``Overall``; without,
``Overall`` then one column per category (sorted). Values are percentages
(0-100), as VLMEvalKit writes them.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import pandas as pd

from vlmeval_core.scoring.common import (
    accuracy,
    as_text,
    group_keys,
    group_scores,
    is_missing,
    one_row_table,
    sorted_groups,
)
from vlmeval_core.scoring.metric import Options, Row, Summary

# Each of these is removed when it appears next to a space anywhere in the text
# (or when the text has a digit-comma-digit, as in "1,000"), else replaced by a
# space. Note that "'", ":" and "." are not in the set; "." has its own rule.
_PUNCTUATION = ';/[]"{}()=+\\_-><@`,?!'
_DIGIT_COMMA_DIGIT = re.compile(r"\d,\d")
# A period with no digit on either side ("end." but not "3.5" or "2."), as on
# VLMEvalKit main (vlmeval/smp/misc.py). Its PyPI build 26.3 has the typo
# (?!<=\d) there, which also removes the period of "2.". VLMEvalKit passes
# re.UNICODE (32) as the count of re.sub, so at most 32 periods are removed.
_LONE_PERIOD = re.compile(r"(?<!\d)\.(?!\d)")
_LONE_PERIOD_LIMIT = int(re.UNICODE)

_NUMBER_WORDS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
_ARTICLES = frozenset({"a", "an", "the"})

# The contracted words the official table restores. Each is looked up under
# every spelling that lacks exactly one of its apostrophes, so "dont" -> "don't"
# and both "couldnt've" and "couldn'tve" -> "couldn't've".
_CONTRACTED = """
ain't aren't can't could've couldn't couldn't've didn't doesn't don't hadn't hadn't've
hasn't haven't he'd he'd've he's how'd how'll how's isn't it'd it'd've it'll ma'am
mightn't mightn't've might've mustn't must've needn't not've o'clock oughtn't 'ow's'at
shan't she'd've should've shouldn't shouldn't've somebody'd've somebody'll somebody's
someone'd someone'd've someone'll someone's something'd something'd've something'll
that's there'd there'd've there're there's they'd they'd've they'll they're they've
'twas wasn't we'd've we've weren't what'll what're what's what've when's where'd where's
where've who'd who'd've who'll who's who've why'll why're why's won't would've wouldn't
wouldn't've y'all y'all'll y'all'd've you'd you'd've you'll you're you've
"""


def _contraction_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for word in _CONTRACTED.split():
        for at in (i for i, ch in enumerate(word) if ch == "'"):
            table[word[:at] + word[at + 1 :]] = word
    # The official table maps this one the other way round; kept for parity.
    # Its capitalised entries ("Im", "Ive", "Id've", ...) can never match a
    # lower-cased word, so they are left out, as are its identity entries.
    table["somebody'd"] = "somebodyd"
    return table


_CONTRACTIONS = _contraction_table()


def process_punctuation(text: str) -> str:
    """Remove or space out punctuation as the VQA evaluation does (case is kept)."""
    glued_number = _DIGIT_COMMA_DIGIT.search(text) is not None
    out = text
    for mark in _PUNCTUATION:
        next_to_space = f"{mark} " in text or f" {mark}" in text
        out = out.replace(mark, "" if (glued_number or next_to_space) else " ")
    return _LONE_PERIOD.sub("", out, count=_LONE_PERIOD_LIMIT)


def process_digit_article(text: str) -> str:
    """Lower-case; number words -> digits; drop articles; restore contractions; single spaces."""
    words = []
    for word in text.lower().split():
        word = _NUMBER_WORDS.get(word, word)
        if word not in _ARTICLES:
            words.append(_CONTRACTIONS.get(word, word))
    return " ".join(words)


def normalize_answer(text: str) -> str:
    """The form VQA answers are compared in: "Two" -> "2", "the circle." -> "circle"."""
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return process_digit_article(process_punctuation(text))


def acceptable_answers(answer: Any) -> list[str]:
    """The answers an item accepts: a list as given, a string holding a list, or the one answer.

    A missing answer accepts nothing.
    """
    if isinstance(answer, list | tuple):
        return [as_text(a) for a in answer if not is_missing(a)]
    if is_missing(answer):
        return []
    text = as_text(answer)
    stripped = text.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        for parse in (json.loads, ast.literal_eval):
            try:
                value = parse(stripped)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            if isinstance(value, list):
                return [as_text(a) for a in value if not is_missing(a)]
    return [text]


def read_normalised(row: Row) -> str | None:
    """The normalised prediction; None when it normalises to nothing."""
    return normalize_answer(as_text(row["prediction"])) or None


def exact_match_credit(row: Row, parsed: Any, options: Options) -> float:
    """1.0 when the normalised prediction equals a normalised acceptable answer."""
    accepted = {normalize_answer(a) for a in acceptable_answers(row["answer"])}
    return float(parsed is not None and parsed in accepted)


def summarise_vqa(items: pd.DataFrame, options: Options) -> Summary:
    """Exact-match accuracy overall and per group, and the ``_acc`` table."""
    return Summary(group_scores(items), vqa_table(items))


def vqa_table(items: pd.DataFrame) -> pd.DataFrame:
    """VLMEvalKit's default VQA ``_acc`` table for scored ``items`` (percentages)."""
    correct = list(items["correct"])
    cells: dict[str, float] = {}
    if "split" in items.columns:
        keys = group_keys(items, "split")
        for split in sorted_groups(keys):
            hits = (c for k, c in zip(keys, correct, strict=True) if k == split)
            cells[split] = accuracy(hits) * 100
        cells["Overall"] = accuracy(correct) * 100
    else:
        cells["Overall"] = accuracy(correct) * 100
        keys = group_keys(items, "category")
        for category in sorted_groups(keys):
            hits = (c for k, c in zip(keys, correct, strict=True) if k == category)
            cells[category] = accuracy(hits) * 100
    return one_row_table(cells)
