"""VQA: the standard answer normalisation, exact-match scoring and VLMEvalKit's VQA table."""

from __future__ import annotations

import pandas as pd
import pytest

from vlmeval_core.scoring import normalize_answer, score
from vlmeval_core.scoring.vqa import acceptable_answers, process_punctuation


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("Two", "2"),
        ("the circle.", "circle"),
        ("A Dog!", "dog"),
        ("an apple", "apple"),
        ("Ten apples", "10 apples"),
        ("none", "0"),
        ("  The\tred\nsquare  ", "red square"),
        ("dont", "don't"),
        ("isnt", "isn't"),
        ("couldnt've", "couldn't've"),
        ("1,000", "1000"),  # digit-comma-digit: commas are removed, not spaced
        ("3.5", "3.5"),  # a period between digits stays
        ("red/blue", "red blue"),  # punctuation not next to a space becomes a space
        ("yes, it is", "yes it is"),  # punctuation next to a space is removed
        ("eleven", "eleven"),  # only zero..ten are number words
        ("", ""),
    ],
)
def test_normalize_answer(raw: str, normalised: str) -> None:
    assert normalize_answer(raw) == normalised


def test_normalised_forms_compare_equal() -> None:
    assert normalize_answer("Two") == normalize_answer("2")
    assert normalize_answer("the circle.") == normalize_answer("circle")


def test_process_punctuation_keeps_case_and_apostrophes() -> None:
    # "(" has a space before it: removed; ")" has none: becomes a space
    assert process_punctuation("It's (red)") == "It's red "


@pytest.mark.parametrize(
    ("answer", "accepted"),
    [
        ("red", ["red"]),
        ('["red", "crimson"]', ["red", "crimson"]),
        ("['red', 'crimson']", ["red", "crimson"]),
        (["red", "crimson"], ["red", "crimson"]),
        ("[not a list", ["[not a list"]),
        (3, ["3"]),
        (None, []),
    ],
)
def test_acceptable_answers(answer: object, accepted: list[str]) -> None:
    assert acceptable_answers(answer) == accepted


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "index": [1, 2, 3, 4, 5, 6, 7],
            "prediction": ["Two", "the circle.", "Red", "blue", "", "three", "It's a dog"],
            "answer": [
                "2",
                "circle",
                '["red", "crimson"]',
                ["green", "teal"],
                "square",
                "3",
                "dog",
            ],
            "category": ["count", "shape", "color", "color", "shape", "count", "animal"],
            "error": [None, None, None, None, None, "decode failed", None],
        }
    )


def test_scores_are_hand_computed() -> None:
    result = score("vqa", _frame())
    assert result.items["parsed"].tolist() == ["2", "circle", "red", "blue", None, None, "it's dog"]
    assert result.items["correct"].tolist() == [True, True, True, False, False, False, False]
    scores = result.scores
    assert scores["metric"] == "exact_match"
    assert scores["overall"] == pytest.approx(3 / 7)
    assert scores["n"] == 7
    assert scores["unparsed"] == 1  # the empty prediction; the error item is an error
    assert scores["errors"] == 1
    assert scores["by_category"] == {"animal": 0.0, "color": 0.5, "count": 0.5, "shape": 0.5}
    assert scores["by_split"] == {}  # no split column


def test_table_without_split_is_overall_then_categories_in_percent() -> None:
    table = score("vqa", _frame()).table
    assert list(table.columns) == ["Overall", "animal", "color", "count", "shape"]
    assert table.iloc[0].tolist() == pytest.approx([300 / 7, 0.0, 50.0, 50.0, 50.0])


def test_table_with_split_is_splits_then_overall() -> None:
    frame = _frame().assign(split=["val", "val", "val", "test", "test", "test", "test"])
    table = score("vqa", frame).table
    assert list(table.columns) == ["test", "val", "Overall"]
    assert table.iloc[0].tolist() == pytest.approx([0.0, 100.0, 300 / 7])


def test_empty_frame() -> None:
    result = score("vqa", pd.DataFrame(columns=["index", "prediction", "answer"]))
    assert (result.scores["n"], result.scores["overall"]) == (0, 0.0)
    assert result.table.to_dict("list") == {"Overall": [0.0]}
