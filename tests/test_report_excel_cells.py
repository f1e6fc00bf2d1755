"""A prediction longer than an Excel cell holds (32,767 characters) is cut to that length in
the xlsx, so Excel opens the file (it refuses a longer cell as unreadable content), while
predictions.jsonl keeps the whole answer.

The cut is the report's own: openpyxl 3.1 also cuts a string it is given, but an openpyxl
that did not (an older or a later one) would write the long cell as it is, so the test
runs once with openpyxl's cut and once with it taken away.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell, IllegalCharacterError

from vlmeval_core.report import result_stem, write_dataset_results
from vlmeval_core.scoring import score

EXCEL_CELL_CHARACTERS = 32767
LONG = "The answer is B. " + "and then some more words " * 2000  # 50,017 characters


def check_string_without_the_cut(cell: Cell, value: object) -> str | None:
    """openpyxl's Cell.check_string, less its ``value[:32767]``."""
    if value is None:
        return None
    value = str(value)
    if ILLEGAL_CHARACTERS_RE.search(value):
        raise IllegalCharacterError(f"{value} cannot be used in worksheets.")
    return value


@pytest.fixture(params=["openpyxl cuts too", "openpyxl does not cut"])
def openpyxl_as_it_may_be(request, monkeypatch):
    if request.param == "openpyxl does not cut":
        monkeypatch.setattr(Cell, "check_string", check_string_without_the_cut)


def test_a_prediction_longer_than_an_excel_cell_is_cut_to_32767_characters_in_the_xlsx(
    tmp_path, openpyxl_as_it_may_be
):
    assert len(LONG) > EXCEL_CELL_CHARACTERS
    frame = pd.DataFrame(
        {
            "index": [0, 1],
            "question": ["What colour?", "What shape?"],
            "A": ["red", "circle"],
            "B": ["blue", "square"],
            "answer": ["B", "A"],
            "prediction": [LONG, "A"],
        }
    )
    write_dataset_results(tmp_path, "m", "Long", score("mcq", frame))
    xlsx = tmp_path / "Long" / f"{result_stem('m', 'Long')}.xlsx"

    page = load_workbook(xlsx).active
    header = [cell.value for cell in page[1]]
    long_cell = page.cell(row=2, column=header.index("prediction") + 1).value
    assert long_cell == LONG[:EXCEL_CELL_CHARACTERS], "the first 32,767 characters"
    longest = max(len(str(c.value)) for row in page.iter_rows() for c in row if c.value)
    assert longest == EXCEL_CELL_CHARACTERS, "no cell of the sheet is longer"
    read = pd.read_excel(xlsx)
    assert read["prediction"].tolist() == [LONG[:EXCEL_CELL_CHARACTERS], "A"]

    records = [json.loads(line) for line in (tmp_path / "Long/predictions.jsonl").open()]
    assert records[0]["prediction"] == LONG, "predictions.jsonl keeps the whole answer"
    assert records[0]["parsed"] == "B" and records[0]["correct"]
