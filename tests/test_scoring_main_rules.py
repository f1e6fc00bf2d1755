"""VLMEvalKit main's scoring rules that changed after its PyPI build 26.3, pinned here.

The parity suite runs VLMEvalKit's own code, but only PyPI's ``nvidia-vlmeval`` 26.3
can be installed in CI (GitHub cannot be reached, and no VLMEvalKit code is
committed here), so each rule main changed since is stated with the commit and file
it comes from. Commit: open-compass/VLMEvalKit e8e78f05 (2026-08-18).
"""

from __future__ import annotations

import pandas as pd
import pytest

from vlmeval_core.scoring import (
    REFERENCE_COMMIT,
    extract_option,
    metric_for,
    score,
    score_dataset,
    score_frame,
)
from vlmeval_core.scoring.vqa import normalize_answer

OPTIONS = {"A": "a cat", "B": "a dog", "C": "a red bird", "D": "two fish"}


def test_the_commit_the_rules_come_from():
    assert REFERENCE_COMMIT == "e8e78f05"


# vlmeval/utils/matching_util.py, can_infer_option: a lone letter token counts only when
# `splits.index(ch) > len(splits) - 5`, i.e. among the last four tokens.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("B is what I would choose", None),  # B is the 1st of 6 tokens: too early
        ("I would choose B", "B"),
        ("so I pick B here right now", "B"),  # 4th of 7: the last four
        ("so I pick B here right now, ok", None),  # 4th of 8: not
        ("B", "B"),
    ],
)
def test_a_lone_letter_counts_only_among_the_last_four_tokens(text, expected):
    assert extract_option(text, OPTIONS) == expected


# Same file, _VERBOSE_ANSWER_RE = r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**", tried
# when the letter rule gives nothing; its letter must be one of the item's options.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The correct answer is **C**. B and D are wrong because ...", "C"),
        ("the answer is d", "D"),
        ("Answer is\nA", "A"),
        ("The answer is E", None),  # E is no option of the item
        ("The answer is a cat, I think, more or less", "A"),  # no word boundary in the rule
    ],
)
def test_answer_is_x_is_read_when_the_letter_rule_finds_nothing(text, expected):
    assert extract_option(text, OPTIONS) == expected


# Same file, can_infer_text: `if len(answer) > 2 * sum(len(str(v)) for v in choices.values())`
# the option texts are not tried.
def test_option_texts_are_not_tried_for_an_answer_longer_than_twice_the_options():
    options = {"A": "cat", "B": "dog"}  # 6 characters: answers up to 12 are tried
    assert extract_option("it is a dog", options) == "B"  # 11 characters
    assert extract_option("it is a dog!!", options) is None  # 13 characters


# vlmeval/smp/misc.py, process_punctuation: periodStrip = r'(?<!\d)\.(?!\d)'. PyPI's 26.3
# has the typo r'(?!<=\d)(\.)(?!\d)', which also drops the period of "2.".
def test_a_period_after_a_digit_is_kept_in_vqa_answers():
    assert normalize_answer("2.") == "2."
    assert normalize_answer("end.") == "end"
    assert normalize_answer("3.5") == "3.5"
    frame = pd.DataFrame(
        {"index": [1, 2], "prediction": ["2.", "2"], "answer": [str(["2"] * 10)] * 2}
    )
    # the rule on these texts; VLMEvalKit's result file would hold them as the numbers 2.0 and
    # 2.0 (a column of numbers, tests/test_parity_na_cells.py), so score_dataset is not used
    credit = score_frame(metric_for("vqa", "vqa_score"), frame).items["score"].tolist()
    assert credit == [0.0, 1.0]


# vlmeval/dataset/image_yorn.py, evaluate: every Y/N dataset's table goes to
# get_intermediate_file_path(eval_file, '_score', 'csv'), default_rating's included.
def test_a_custom_yes_no_table_is_the_score_file():
    frame = pd.DataFrame({"index": [1], "prediction": ["Yes"], "answer": ["Yes"]})
    assert score("yorn", frame).table_suffix == "_score"
    assert score("mcq", frame.assign(A="x", B="y", answer="A")).table_suffix == "_acc"


# vlmeval/dataset/image_vqa.py, OCRBench.evaluate: the _score.json holds plain numbers per group,
# 'Final Score' and 'Final Score Norm' (26.3 wrote {'sum': …, 'count': …} per entry instead).
def test_ocrbench_score_json_holds_plain_points_per_group():
    frame = pd.DataFrame(
        {
            "index": [1, 2, 3],
            "prediction": ["It says HELLO", "x^2 + 1", "nothing"],
            "answer": ["['hello']", "['x^2+1']", "['stop']"],
            "category": [
                "Regular Text Recognition",
                "Handwritten Mathematical Expression Recognition",
                "Doc-oriented VQA",
            ],
        }
    )
    result = score_dataset("vqa", frame, "ocrbench_score")
    assert result.table_suffix == "_score"
    assert result.table == {
        "Text Recognition": 1,
        "Scene Text-centric VQA": 0,
        "Doc-oriented VQA": 0,
        "Key Information Extraction": 0,
        "Handwritten Mathematical Expression Recognition": 1,
        "Final Score": 2,
        "Final Score Norm": 0.2,
    }
