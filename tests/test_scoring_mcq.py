"""Multiple-choice scoring: hand-computed scores and VLMEvalKit's report_acc table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from vlmeval_core.scoring import score


def _frame() -> pd.DataFrame:
    # rows deliberately out of index order; item 6 has only three options
    return pd.DataFrame(
        {
            "index": [4, 1, 2, 3, 5, 6],
            "prediction": ["It is a dog.", "B", "The answer is (C).", "I think B or C", "A", "d"],
            "answer": ["A", "B", "C", "B", "A", "D"],
            "A": ["a cat"] * 6,
            "B": ["a dog"] * 6,
            "C": ["a bird"] * 6,
            "D": ["a fish"] * 5 + [np.nan],
            "category": ["color", "color", "shape", "shape", "count", "count"],
            "split": ["test", "dev", "dev", "dev", "test", "test"],
            "error": [None, None, None, None, "CUDA out of memory", np.nan],
        }
    )


def test_items_get_parsed_and_correct_sorted_by_index() -> None:
    items = score("mcq", _frame()).items
    assert list(items["index"]) == [1, 2, 3, 4, 5, 6]
    # 1 "B" -> B; 2 "(C)" -> C; 3 two letters, no option text -> None;
    # 4 option text "a dog" -> B; 5 error -> None; 6 "d" is not a letter, no text -> None
    assert list(items["parsed"]) == ["B", "C", None, "B", None, None]
    assert list(items["correct"]) == [True, True, False, False, False, False]
    assert items["correct"].dtype == bool
    assert items["parsed"].dtype == object


def test_scores_are_hand_computed() -> None:
    scores = score("mcq", _frame()).scores
    assert scores["metric"] == "accuracy"
    assert scores["overall"] == pytest.approx(2 / 6)
    assert scores["n"] == 6
    assert scores["unparsed"] == 2
    assert scores["errors"] == 1
    assert scores["by_category"] == {"color": 0.5, "count": 0.0, "shape": 0.5}
    assert scores["by_split"] == pytest.approx({"dev": 2 / 3, "test": 0.0})
    assert "by_l2_category" not in scores


def test_an_error_item_counts_as_wrong_even_with_a_right_prediction() -> None:
    frame = pd.DataFrame(
        {"index": [1], "prediction": ["A"], "answer": ["A"], "A": ["x"], "B": ["y"]}
    )
    assert score("mcq", frame).scores["overall"] == 1.0
    failed = frame.assign(error=["timeout"])
    result = score("mcq", failed)
    assert result.scores["overall"] == 0.0
    assert (result.scores["unparsed"], result.scores["errors"]) == (0, 1)
    assert result.items["parsed"].tolist() == [None]
    # a blank error is no error
    assert score("mcq", frame.assign(error=[""])).scores["overall"] == 1.0


def test_table_is_report_acc_one_row_per_split() -> None:
    table = score("mcq", _frame()).table
    assert list(table.columns) == ["split", "Overall", "color", "count", "shape"]
    assert list(table["split"]) == ["dev", "test"]
    assert table["Overall"].tolist() == pytest.approx([2 / 3, 0.0])
    assert table["color"].tolist() == [1.0, 0.0]
    assert table["shape"].tolist()[0] == 0.5
    assert math.isnan(table["shape"].tolist()[1])  # no shape item in test
    assert math.isnan(table["count"].tolist()[0])  # no count item in dev
    assert table["count"].tolist()[1] == 0.0


def test_table_without_split_has_one_none_row_and_l2_columns_first() -> None:
    frame = pd.DataFrame(
        {
            "index": [1, 2, 3],
            "prediction": ["A", "B", "A"],
            "answer": ["A", "A", "A"],
            "A": ["x"] * 3,
            "B": ["y"] * 3,
            "category": ["coarse_perception", "logic_reasoning", "logic_reasoning"],
            "l2-category": ["Perception", "Reasoning", "Reasoning"],
        }
    )
    result = score("mcq", frame)
    # VLMEvalKit: l2-category columns, then category columns; MMBench names shortened
    assert list(result.table.columns) == ["split", "Overall", "Perception", "Reasoning", "CP", "LR"]
    assert result.table.iloc[0].tolist() == ["none", pytest.approx(2 / 3), 1.0, 0.5, 1.0, 0.5]
    assert result.scores["by_split"] == {}  # no split column (the table still says "none")
    assert result.scores["by_l2_category"] == {"Perception": 1.0, "Reasoning": 0.5}


def test_answer_letter_is_compared_as_written_as_vlmevalkit_main_does() -> None:
    # VLMEvalKit e8e78f05, multiple_choice.py eval_vanilla: hit = (opt == GT), the answer
    # as the file writes it; v0.3rc1 scoring here trimmed and upper-cased it.
    frame = pd.DataFrame(
        {
            "index": [1, 2],
            "prediction": ["(b)  B", "B"],
            "answer": [" b ", "B"],
            "A": ["x"] * 2,
            "B": ["y"] * 2,
        }
    )
    assert score("mcq", frame).items["correct"].tolist() == [False, True]


def test_numeric_option_texts_match_as_written() -> None:
    # a TSV column with a missing cell reads as floats: 3 must still read as "3"
    frame = pd.DataFrame(
        {
            "index": [1, 2],
            # short answers: VLMEvalKit main (e8e78f05, can_infer_text) tries no option text
            # for an answer longer than twice the options' texts ("There are 3 of them")
            "prediction": ["3.", "4"],
            "answer": ["B", "A"],
            "A": [2.0, 4.0],
            "B": [3.0, np.nan],
        }
    )
    assert score("mcq", frame).items["parsed"].tolist() == ["B", "A"]


def test_empty_frame_scores_zero_without_dividing() -> None:
    frame = pd.DataFrame(columns=["index", "prediction", "answer", "A", "B"])
    result = score("mcq", frame)
    assert result.scores["n"] == 0
    assert result.scores["overall"] == 0.0
    assert result.scores["unparsed"] == 0
    assert result.table.to_dict("list") == {"split": ["none"], "Overall": [0.0]}


def test_missing_required_column_is_named() -> None:
    with pytest.raises(ValueError, match="prediction"):
        score("mcq", pd.DataFrame({"index": [1], "answer": ["A"]}))
