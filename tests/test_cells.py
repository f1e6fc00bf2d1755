"""Cells read as VLMEvalKit's ``load`` reads them (pandas' defaults): the reader, the prompts
and the scores it gives. VLMEvalKit's own code on the same files: tests/test_parity_na_cells.py."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from vlmeval_core.datasets.cells import NA_TEXTS, read_back, read_table
from vlmeval_core.datasets.tsv import load_tsv
from vlmeval_core.errors import UsageError
from vlmeval_core.scoring import score_dataset
from vlmeval_launcher.score import read_predictions

HEADER = "index\tquestion\tA\tB\tC\tD\thint\tanswer\timage\n"


def missing(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def write(path: Path, *lines: str, header: str = HEADER) -> Path:
    path.write_text(header + "".join(f"{line}\n" for line in lines))
    return path


def test_pandas_na_texts_are_the_set():
    assert {"", "None", "N/A", "NA", "nan", "NULL", "#N/A", "null", "n/a", "<NA>"} <= NA_TEXTS
    assert "none" not in NA_TEXTS and "No" not in NA_TEXTS


@pytest.mark.parametrize("text", ["None", "N/A", "NA", "nan", "NULL", "#N/A", ""])
def test_an_na_text_cell_is_missing_but_index_and_image_keep_their_text(tmp_path, text):
    path = write(tmp_path / "t.tsv", f"1\tq\t{text}\tb\t3\t7\t{text}\t{text}\t{text or 'NA'}")
    row = read_table(path, ".tsv").iloc[0]
    assert missing(row["A"]) and missing(row["hint"]) and missing(row["answer"])
    assert row["index"] == "1" and row["image"] == (text or "NA")


def test_a_column_of_numbers_reads_as_pandas_types_it(tmp_path):
    path = write(tmp_path / "t.tsv", "1\tq\ta\tb\t3\t03\th\tA\tx", "2\tq\ta\tb\tN/A\t4\th\tA\tx")
    frame = read_table(path, ".tsv")
    three, gone = frame["C"]
    assert three == "3.0" and missing(gone)  # floats beside a NaN
    assert list(frame["D"]) == ["3", "4"]  # int64
    assert list(frame["index"]) == ["1", "2"]


def test_xlsx_and_csv_read_the_same_way(tmp_path):
    frame = pd.DataFrame({"index": ["1", "2"], "prediction": ["None", "3"], "answer": ["x", "NA"]})
    frame.to_excel(tmp_path / "p.xlsx", index=False)
    frame.to_csv(tmp_path / "p.csv", index=False)
    for path, suffix in ((tmp_path / "p.xlsx", ".xlsx"), (tmp_path / "p.csv", ".csv")):
        read = read_table(path, suffix)
        assert missing(read["prediction"][0]) and read["prediction"][1] == "3.0", suffix
        assert read["answer"][0] == "x" and missing(read["answer"][1]), suffix


def test_vlmeval_score_reads_an_na_text_prediction_as_missing(tmp_path):
    (tmp_path / "p.csv").write_text("index,prediction\n1,N/A\n2,B\n")
    predictions = read_predictions(tmp_path / "p.csv")
    assert missing(predictions["prediction"][0]) and predictions["prediction"][1] == "B"


def test_read_back_is_read_excel_of_the_texts():
    assert read_back(["3", "N/A", "x"]) == ["3", read_back(["N/A"])[0], "x"]
    two, gone = read_back(["2", ""])
    assert two == "2.0" and missing(gone)  # a column of numbers with a NaN: floats
    assert read_back(["2", "3"]) == ["2", "3"]
    assert len(read_back(["", None, "a"])) == 3


def test_prompts_leave_out_na_text_options_and_hints_and_say_nan_for_the_question(tmp_path):
    path = write(
        tmp_path / "t.tsv",
        "1\tWhat?\tNone\tcat\t3\t1\tnan\tB\tx" + "x" * 70,
        "2\tN/A\tdog\tN/A\t\t2\tLook\tA\tx" + "x" * 70,
    )
    data = load_tsv(path, kind="mcq")
    assert data.prompt(0) == (
        "Question: What?\nOptions:\nB. cat\nC. 3.0\nD. 1\n"
        "Please select the correct answer from the options above. \n"
    )
    assert data.prompt(1) == (
        "Hint: Look\nQuestion: nan\nOptions:\nA. dog\nD. 2\n"
        "Please select the correct answer from the options above. \n"
    )


def test_an_empty_question_is_still_refused(tmp_path):
    path = write(tmp_path / "t.tsv", "1\t\ta\tb\tc\td\th\tA\tx" + "x" * 70)
    with pytest.raises(UsageError, match="empty question"):
        load_tsv(path, kind="mcq")


def test_scores_read_na_text_predictions_and_answers_as_nan_and_keep_the_texts():
    frame = pd.DataFrame(
        {
            "index": [1, 2, 3, 4],
            "prediction": ["N/A", "None", "cat", ""],
            "answer": ["None", "cat", "cat", "NA"],
        }
    )
    result = score_dataset("vqa", frame, "exact_match")
    # VLMEvalKit: str(NaN) == "nan" on both sides of items 1 and 4
    assert list(result.items["correct"]) == [True, False, True, True]
    assert list(result.items["prediction"]) == ["N/A", "None", "cat", ""]
    assert list(result.items["answer"]) == ["None", "cat", "cat", "NA"]
