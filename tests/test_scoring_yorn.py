"""Yes/No scoring: accuracy, precision / recall / F1 of "Yes", VLMEvalKit's default_rating table."""

from __future__ import annotations

import pandas as pd
import pytest

from vlmeval_core.scoring import score


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "index": [1, 2, 3, 4, 5, 6, 7],
            "prediction": [
                "Yes.",
                "No, there is none.",
                "yes and no",
                "Yes",
                "No",
                "Yesterday",
                "Yes",
            ],
            # written "Yes" / "No": main compares answers as written (see the test below)
            "answer": ["Yes", "No", "Yes", "No", "Yes", "No", "Yes"],
            "category": ["exist", "exist", "exist", "exist", "count", "count", "count"],
            "split": ["a", "a", "a", "b", "b", "b", "b"],
            "error": [None, None, None, None, None, None, "timeout"],
        }
    )


def test_items_read_yes_or_no() -> None:
    items = score("yorn", _frame()).items
    assert items["parsed"].tolist() == ["Yes", "No", None, "Yes", "No", None, None]
    assert items["correct"].tolist() == [True, True, False, False, False, False, False]


def test_scores_are_hand_computed() -> None:
    scores = score("yorn", _frame()).scores
    assert scores["metric"] == "accuracy"
    assert scores["overall"] == pytest.approx(2 / 7)
    assert scores["n"] == 7
    assert scores["unparsed"] == 2  # items 3 and 6; the error item 7 is an error
    assert scores["errors"] == 1
    assert scores["by_category"] == {"count": 0.0, "exist": 0.5}
    assert scores["by_split"] == pytest.approx({"a": 2 / 3, "b": 0.0})
    # truth Yes: 1, 3, 5, 7; predicted Yes: 1, 4 -> tp 1, fp 1, fn 3
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["recall"] == pytest.approx(0.25)
    assert scores["f1"] == pytest.approx(2 * 0.5 * 0.25 / 0.75)


def test_answers_are_compared_as_written_as_vlmevalkit_main_does() -> None:
    # VLMEvalKit e8e78f05, vlmeval/dataset/image_yorn.py: score = (answer == extracted), so
    # an answer written "yes" or "YES" is never matched (v0.3rc1 scoring here capitalised it).
    frame = pd.DataFrame(
        {"index": [1, 2, 3], "prediction": ["Yes", "yes", "Yes"], "answer": ["yes", "YES", "Yes"]}
    )
    assert score("yorn", frame).items["correct"].tolist() == [False, False, True]


def test_precision_recall_f1_are_zero_when_nothing_is_predicted_yes() -> None:
    frame = pd.DataFrame({"index": [1, 2], "prediction": ["No", "No"], "answer": ["Yes", "No"]})
    scores = score("yorn", frame).scores
    assert (scores["precision"], scores["recall"], scores["f1"]) == (0.0, 0.0, 0.0)
    assert scores["overall"] == 0.5


def test_table_is_default_rating_one_row_in_percent() -> None:
    table = score("yorn", _frame()).table
    assert list(table.columns) == ["Overall", "count", "exist"]
    assert table.iloc[0].tolist() == pytest.approx([200 / 7, 0.0, 50.0])


def test_table_adds_l2_categories_after_categories() -> None:
    frame = _frame().assign(**{"l2-category": ["p", "p", "q", "q", "q", "q", "q"]})
    table = score("yorn", frame).table
    assert list(table.columns) == ["Overall", "count", "exist", "p", "q"]
    assert table.iloc[0].tolist() == pytest.approx([200 / 7, 0.0, 50.0, 100.0, 0.0])


def test_empty_frame() -> None:
    result = score("yorn", pd.DataFrame(columns=["index", "prediction", "answer"]))
    assert result.scores["overall"] == 0.0
    assert result.scores["n"] == 0
    assert result.scores["f1"] == 0.0
    assert result.table.to_dict("list") == {"Overall": [0.0]}
