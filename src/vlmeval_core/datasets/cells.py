"""Cells as VLMEvalKit reads them: pandas' default reading, each value then as the text ``str()``
gives it.

VLMEvalKit main (e8e78f05, ``vlmeval/smp/file.py`` ``load``) reads a benchmark TSV, a result
xlsx and a CSV with pandas' defaults. A cell that is exactly one of :data:`NA_TEXTS` ("",
"None", "N/A", "NA", "nan", "NULL", "#N/A", ...) is NaN: an option or a hint with that text is
left out of the prompt and the choices (``pd.isna``), an answer or a prediction with it is the
text "nan" where ``evaluate()`` writes ``str(x)``. A column whose every value is a number holds
numbers: "03" is 3, and "3" is 3.0 in a column with a NaN, so ``str()`` and the prompt's
f-strings give "3.0". :func:`read_table` reads a file that way and keeps each value as that text.

Two columns are read as their text, only an empty cell missing: ``index`` (an identifier the
loader checks and names in its errors) and ``image`` (base64, or another row's index).

VLMEvalKit's ``evaluate()`` reads the predictions back from the xlsx its inference wrote, so a
model's "N/A" is "nan" there too; :func:`as_evaluate_reads` gives a frame to score that way.
Hand-written because pandas has no public name for its NA texts (``read_csv``'s documented
default, ``pandas._libs.parsers.STR_NA_VALUES``) nor a reader that keeps the text it converts.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pandas._libs.parsers import STR_NA_VALUES
from pandas.io.parsers import TextParser

NA_TEXTS: frozenset[str] = frozenset(STR_NA_VALUES)
"""The texts pandas reads as NaN by default (``read_csv`` and ``read_excel``)."""
TEXT_COLUMNS = ("index", "image")
"""The columns read as their text, whatever it is (only an empty cell is missing)."""
SEPARATORS = {".tsv": "\t", ".csv": ","}


def read_table(
    path: Path, suffix: str, text_columns: Collection[str] = TEXT_COLUMNS
) -> pd.DataFrame:
    """The ``.tsv``, ``.csv`` or ``.xlsx`` at ``path`` as VLMEvalKit's ``load`` reads it, each
    value as its ``str()`` and each NaN kept (``text_columns``: read as text; see the module).

    pandas' own errors pass through (the callers name the file)."""
    if suffix == ".xlsx":
        header = pd.read_excel(path, engine="openpyxl", nrows=0).columns
    else:
        header = pd.read_csv(path, sep=SEPARATORS[suffix], nrows=0).columns
    kept = [c for c in header if c in text_columns]
    reading: dict[str, Any] = {
        "keep_default_na": False,
        "na_values": {c: [""] if c in kept else sorted(NA_TEXTS) for c in header},
        "dtype": dict.fromkeys(kept, str),
    }
    if suffix == ".xlsx":
        frame = pd.read_excel(path, engine="openpyxl", **reading)
    else:
        frame = pd.read_csv(path, sep=SEPARATORS[suffix], **reading)
    for column in frame.columns:
        if column not in kept:
            frame[column] = as_text(frame[column])
    return frame


def as_text(values: pd.Series) -> pd.Series:
    """Each value as ``str()`` gives it (3.0 -> "3.0"), NaN kept: a column of text."""
    return values.map(lambda v: v if pd.isna(v) else str(v)).astype("str")


def read_back(values: Sequence[Any]) -> list[Any]:
    """A column of text as ``pd.read_excel`` reads it from the xlsx VLMEvalKit's inference
    writes (``dump``): NA texts NaN, a column of numbers numbers, each value then its ``str()``."""
    rows = [["value"], *([v] for v in values)]
    column = TextParser(rows, header=0, skip_blank_lines=False).read()["value"]  # as read_excel
    return as_text(column).tolist()


def as_evaluate_reads(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``prediction`` and ``answer`` as VLMEvalKit's ``evaluate()`` reads them
    from its result xlsx and ``str()``s them: a missing or NA-text one is "nan"."""
    read = frame.copy()
    for column in ("prediction", "answer"):
        if column in read.columns:
            read[column] = [str(v) for v in read_back(list(frame[column]))]
    return read
