"""Results on the output volume: per-dataset files, the run summary and the manifest.

Layout (README.md, "Results"; docs/architecture.md, "Files a run writes")::

    <run_dir>/summary.json  summary.md  manifest.json
    <run_dir>/<dataset>/predictions.jsonl      one line per item, sorted by index, with its
                                               prompt and how generation ended (ITEM_FIELDS)
    <run_dir>/<dataset>/scores.json            ScoreResult.scores
    <run_dir>/<dataset>/<stem>.xlsx            the item table (VLMEvalKit's prediction file,
                                               its ``index`` the TSV's own)
    <run_dir>/<dataset>/<stem>_acc.csv         ScoreResult.table (or _score.csv / _score.json)

The table file takes VLMEvalKit's name for the benchmark, the suffix of its
metric's entry (:data:`vlmeval_core.scoring.metrics.TABLE`):
``<stem><ScoreResult.table_suffix>`` with ``.csv`` for a frame, ``.json`` for a
dict (``_score.csv`` for every Y/N set, MME, POPE and HallusionBench included,
``_score.json`` for OCRBench, ``_acc.csv`` for MCQ and VQA).

``<stem>`` is VLMEvalKit's ``<model>_<dataset>``, with each name made
file-safe by :func:`vlmeval_core.run_plan.slug` (the rule that names the model's
directory): a hub id ``org/name`` becomes ``org__name``, any other run of
characters outside ``A-Za-z0-9._-`` becomes ``_``. So
``Qwen/Qwen2-VL-2B-Instruct`` on ``MMStar`` gives
``Qwen__Qwen2-VL-2B-Instruct_MMStar.xlsx``.

Every file is written whole (temp file, fsync, rename) through
:mod:`vlmeval_core.files`: a reader, or a crash, never leaves half a file, and
a write that fails keeps the previous file. The manifest never holds a secret:
see :func:`write_manifest`.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from vlmeval_core.checkpoints import ITEM_FIELDS
from vlmeval_core.files import write_atomic, write_atomic_with, write_json
from vlmeval_core.run_plan import slug
from vlmeval_core.scoring.common import ScoreResult, as_text, is_missing
from vlmeval_core.summary_page import summary_markdown

log = logging.getLogger(__name__)

SCORES_FILE = "scores.json"
PREDICTIONS_FILE = "predictions.jsonl"
SUMMARY_FILE = "summary.json"
MANIFEST_FILE = "manifest.json"

ITEM_GROUP_COLUMNS = ("category", "l2-category", "split")
"""Columns copied into predictions.jsonl when the dataset has them."""

ITEM_EXTRA_COLUMNS = ("source_index", "image_path", "score", "circular_hit")
"""Also copied when present: a text index (HallusionBench), the image an MME question is about
(its resampling unit), partial credit, circular outcome."""

SCORED_COLUMNS = ("prediction", "parsed", "correct", "error")
COUNT_FIELDS = ("image_count", "generated_tokens")
"""The :data:`ITEM_FIELDS` that are counts: whole numbers in both files, whatever pandas made
of them (a float beside a null, the text of a read xlsx)."""
DROPPED_COLUMNS = ("image",)
"""Dataset columns that never reach scoring or a result file: base64 images (VLMEvalKit's
prediction file drops them too). :mod:`vlmeval_core.evaluate` joins the items without them."""

EXCEL_CELL_LIMIT = 32767
XLSX_MAX_ROWS = 1_048_576
"""Rows of one xlsx worksheet, the header included: a larger dataset gets no xlsx."""
try:  # the characters openpyxl refuses in a cell (control characters)
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE as _EXCEL_ILLEGAL
except ImportError:  # pragma: no cover - openpyxl moved it
    _EXCEL_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


# --------------------------------------------------------------------------- per dataset


def result_stem(model_name: str, dataset_name: str) -> str:
    """``<model>_<dataset>``, each part file-safe (see the module docstring)."""
    return f"{slug(model_name)}_{slug(dataset_name)}"


def write_dataset_results(
    run_dir: Path,
    model_name: str,
    dataset_name: str,
    result: ScoreResult,
    judge: str | None = None,
) -> None:
    """Write predictions.jsonl, the xlsx, the score table and scores.json of one dataset.

    A ``judge`` that was asked names the xlsx and the tables too:
    ``<model>_<dataset>_<judge>.xlsx`` and ``…_<judge><suffix>.csv``, so results of
    different judges (and of the rules alone) never overwrite one another.
    scores.json is written last, so its presence means the other three are the
    same scoring's.
    """
    out = Path(run_dir) / dataset_name
    stem = result_stem(model_name, dataset_name) + (f"_{slug(judge)}" if judge else "")
    items = result.items
    if len(items):
        items = items.sort_values("index", kind="mergesort")
    items = _with_item_facts(items.reset_index(drop=True))

    lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in _records(items))
    write_atomic(out / PREDICTIONS_FILE, lines)

    xlsx = out / f"{stem}.xlsx"
    if len(items) < XLSX_MAX_ROWS:
        sheet = _item_sheet(items)
        write_atomic_with(xlsx, lambda handle: _write_xlsx(handle, sheet), binary=True)
    else:
        xlsx.unlink(missing_ok=True)  # an older, smaller run's table would disagree
        log.warning(
            "vlmeval: note: %s: %d items do not fit in one xlsx sheet (%d rows with the "
            "header), so %s is not written; predictions.jsonl holds every item",
            dataset_name,
            len(items),
            XLSX_MAX_ROWS,
            xlsx.name,
        )
    table = result.table
    if isinstance(table, pd.DataFrame):
        write_atomic_with(
            out / f"{stem}{result.table_suffix}.csv",
            lambda handle: table.to_csv(handle, index=False, quoting=csv.QUOTE_ALL),
        )
    else:
        write_json(out / f"{stem}{result.table_suffix}.json", _plain(table))
    for suffix, more in result.more_tables.items():
        write_atomic_with(
            out / f"{stem}{suffix}.csv",
            lambda handle, more=more: more.to_csv(handle, index=False, quoting=csv.QUOTE_ALL),
        )
    write_json(out / SCORES_FILE, _plain(result.scores))


def _with_item_facts(items: pd.DataFrame) -> pd.DataFrame:
    """``items`` with every :data:`ITEM_FIELDS` column (null where the predictions had none),
    the counts whole numbers."""
    facts = {}
    for field in ITEM_FIELDS:
        values = items[field] if field in items.columns else [None] * len(items)
        clean = _count if field in COUNT_FIELDS else _text_or_none
        facts[field] = pd.Series([clean(v) for v in values], index=items.index, dtype=object)
    return items.assign(**facts)


def _count(value: Any) -> int | None:
    """A whole number of a cell (``3``, ``3.0``, ``"3"``); None for anything else."""
    text = as_text(value).strip()
    return int(text) if text.isdigit() else None


def _text_or_none(value: Any) -> str | None:
    return None if is_missing(value) else as_text(value)


def _records(items: pd.DataFrame) -> list[dict[str, Any]]:
    groups = [c for c in (*ITEM_GROUP_COLUMNS, *ITEM_EXTRA_COLUMNS) if c in items.columns]
    has_error = "error" in items.columns
    records = []
    for row in items.to_dict("records"):
        error = as_text(row["error"]) if has_error else ""
        record = {
            "index": _plain(row["index"]),
            "prediction": as_text(row["prediction"]),
            "answer": _plain(row["answer"]),
            "parsed": _plain(row["parsed"]),
            "correct": bool(row["correct"]),
            "error": error if error.strip() else None,
            **{field: row[field] for field in ITEM_FIELDS},
        }
        for column in groups:
            record[column] = _plain(row[column])
        records.append(record)
    return records


def _item_sheet(items: pd.DataFrame) -> pd.DataFrame:
    """Dataset columns (no images), then prediction, parsed, correct (and error), then the
    :data:`ITEM_FIELDS`.

    ``index`` is the file's own, as VLMEvalKit writes it: a text index
    (HallusionBench, kept as ``source_index`` while ``index`` numbers the rows
    for checkpoints) goes back to ``index``, which VLMEvalKit's rating splits.
    """
    if "source_index" in items.columns:
        items = items.assign(index=items["source_index"]).drop(columns=["source_index"])
    back = [c for c in SCORED_COLUMNS if c in items.columns] + list(ITEM_FIELDS)
    front = [c for c in items.columns if c not in back and c not in DROPPED_COLUMNS]
    sheet = items[front + back].copy()
    for column in sheet.columns:
        if sheet[column].dtype == bool:
            continue
        sheet[column] = pd.Series(
            [_excel_cell(v) for v in sheet[column]], index=sheet.index, dtype=object
        )
    return sheet


def _write_xlsx(handle: IO[bytes], sheet: pd.DataFrame) -> None:
    """``sheet`` as the one worksheet of an xlsx; every string is a text cell, never a formula.

    openpyxl would turn a string that starts with ``=`` into a live formula
    (``=HYPERLINK(…)``, ``=cmd|…``); typed as text, it shows and reads back
    (``pandas.read_excel``) as the very string.

    The workbook is built in memory and written to ``handle`` in one piece: openpyxl
    leaves its ZipFile open when a write to the file fails (a full disk), and that
    ZipFile, when collected, fails again with a stray "Exception ignored" traceback.
    """
    book = Workbook(write_only=True)
    page = book.create_sheet("Sheet1")
    for row in itertools.chain([sheet.columns], sheet.itertuples(index=False, name=None)):
        page.append([_text_cell(page, v) if isinstance(v, str) else v for v in row])
    built = io.BytesIO()
    book.save(built)
    handle.write(built.getbuffer())


def _text_cell(page: Any, text: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(page, value=text)
    cell.data_type = "s"
    return cell


def _excel_cell(value: Any) -> Any:
    """A value openpyxl accepts: no control characters, at most Excel's cell length."""
    if is_missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, list | tuple | dict):
        value = json.dumps(_plain(value), ensure_ascii=False)
    if isinstance(value, str):
        return _EXCEL_ILLEGAL.sub("", value)[:EXCEL_CELL_LIMIT]
    return value


def _plain(value: Any) -> Any:
    """``value`` as plain JSON types: numpy scalars unwrapped, NaN -> None, containers walked."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray):
        return [_plain(v) for v in value]
    if is_missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


# --------------------------------------------------------------------------- run summary


SUMMARY_KEYS = ("metric", "overall", "overall_ci", "n", "unparsed", "errors")
"""What summary.json holds per dataset: ``overall_ci`` is the 95% interval of ``overall``;
``unparsed`` counts answers given but not readable, ``errors`` items that failed before an
answer (an unreadable image); no item is in both."""


def write_summary(
    run_dir: Path, model_name: str, run_name: str, scores_by_dataset: dict[str, dict]
) -> None:
    """Write summary.json (per dataset :data:`SUMMARY_KEYS`) and summary.md
    (:func:`vlmeval_core.summary_page.summary_markdown`: the overall table, then each
    dataset's group tables)."""
    datasets = {
        name: {key: _plain(scores.get(key)) for key in SUMMARY_KEYS}
        for name, scores in scores_by_dataset.items()
    }
    summary = {"model": model_name, "run": run_name, "datasets": datasets}
    write_json(Path(run_dir) / SUMMARY_FILE, summary)
    page = summary_markdown(summary, _plain(scores_by_dataset))
    write_atomic(Path(run_dir) / "summary.md", page)


# --------------------------------------------------------------------------- manifest

_SECRET_WORD_ENDINGS = (
    "token",
    "key",
    "secret",
    "secrets",
    "password",
    "passwd",
    "passphrase",
    "credential",
    "credentials",
)
_SECRET_WORDS = frozenset({"authorization"})  # not "pwd": $PWD is the working directory
_MIN_EMBEDDED_SECRET = 8


def looks_secret(name: str) -> bool:
    """Whether a key or variable name looks like it holds a secret.

    The name is cut into words (at ``_``, ``-``, ``.``, spaces and camelCase
    humps); a word ending in token, key, secret, password, passwd, passphrase
    or credential(s), or equal to authorization, makes it secret. So
    ``HF_TOKEN``, ``OPENAI_API_KEY``, ``apiKey``, ``hftoken``, ``db-password``
    are secret; ``max_new_tokens`` and ``tokenizer`` are not.
    """
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    words = [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]
    return any(w.endswith(_SECRET_WORD_ENDINGS) or w in _SECRET_WORDS for w in words)


def secret_env_values(environ: Mapping[str, str] | None = None) -> set[str]:
    """The non-empty values of the environment variables whose names look secret."""
    env = os.environ if environ is None else environ
    return {value for name, value in env.items() if value and looks_secret(name)}


def scrub_secrets(obj: Any, secrets: set[str] | None = None) -> Any:
    """``obj`` as plain JSON types without secrets.

    Dropped: every mapping entry whose key :func:`looks_secret`, and every
    string (mapping value or list element) that equals a value of ``secrets``
    (default: :func:`secret_env_values`) or contains one of 8 characters or
    more. Other objects are turned into strings first, so they are checked too.
    """
    secrets = secret_env_values() if secrets is None else secrets
    cleaned = _scrub(obj, secrets)
    return None if cleaned is _DROP else cleaned


_DROP = object()


def _scrub(value: Any, secrets: set[str]) -> Any:
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if looks_secret(str(key)):
                log.warning("manifest: left out %r (its name looks like a secret)", str(key))
                continue
            cleaned = _scrub(item, secrets)
            if cleaned is not _DROP:
                out[str(key)] = cleaned
        return out
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        kept = (_scrub(v, secrets) for v in value)
        return [v for v in kept if v is not _DROP]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, int | float):
        return value if math.isfinite(value) else None
    text = value if isinstance(value, str) else str(value)
    for secret in secrets:
        if text == secret or (len(secret) >= _MIN_EMBEDDED_SECRET and secret in text):
            log.warning("manifest: left out a value that holds a secret's value")
            return _DROP
    return text


def write_manifest(run_dir: Path, manifest: dict) -> None:
    """Write manifest.json, without secret-named keys or secret values (:func:`scrub_secrets`)."""
    write_json(Path(run_dir) / MANIFEST_FILE, scrub_secrets(manifest))
