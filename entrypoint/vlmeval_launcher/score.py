"""``vlmeval score``: score predictions made elsewhere, as VLMEvalKit's ``--mode eval`` does.

PREDICTIONS is a VLMEvalKit result file (``<model>_<dataset>.xlsx``, or a
``.tsv`` / ``.csv``, with ``index`` and ``prediction`` columns) or a vlmeval
``predictions.jsonl``. The dataset is resolved and loaded as ``eval`` does, and
evaluated as eval's merge evaluates it (:func:`vlmeval_core.evaluate.evaluate_dataset`:
each item joined to its prediction by index, scored, written) in eval's per-dataset
layout: ``<output>/<dataset>/``, by default beside PREDICTIONS, or PREDICTIONS' own
directory when it is already ``<dataset>/`` (eval's layout), never
``<dataset>/<dataset>/``. A kind the answers do not fit is one warning line. No
torch: this runs on any machine.
"""

from __future__ import annotations

import json
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from vlmeval_core.datasets.cells import read_table
from vlmeval_core.datasets.on_disk import dataset_path, ensure_on_disk
from vlmeval_core.datasets.registry import resolve_dataset
from vlmeval_core.datasets.tsv import KIND_EVIDENCE, Dataset, all_yes_or_no, load_tsv
from vlmeval_core.errors import UsageError
from vlmeval_core.evaluate import evaluate_dataset
from vlmeval_core.judge.needed import require_judge
from vlmeval_core.judge.spec import JudgeSpec

REQUIRED = ("index", "prediction")
TABLE_SUFFIXES = (".xlsx", ".tsv", ".csv")


@dataclass(frozen=True)
class Scored:
    """What ``vlmeval score`` made: the dataset's name, its scores and where they are."""

    dataset: str
    scores: dict[str, Any]
    directory: Path


def read_predictions(path: Path) -> pd.DataFrame:
    """The prediction file as a frame of text cells; a bad file is a UsageError naming it."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise UsageError(f"{path}: no such predictions file")
    if suffix == ".jsonl":
        frame = _read_jsonl(path)
    elif suffix in TABLE_SUFFIXES:
        frame = _read_table(path, suffix)
    else:
        raise UsageError(
            f"{path}: unsupported predictions file; expected a VLMEvalKit result file "
            "(.xlsx, .tsv, .csv) or a vlmeval predictions.jsonl"
        )
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise UsageError(
            f"{path}: missing column(s) {', '.join(missing)}; found "
            f"{', '.join(map(str, frame.columns)) or 'none'} (a result file needs index and "
            "prediction)"
        )
    return frame


def _read_table(path: Path, suffix: str) -> pd.DataFrame:
    try:
        return read_table(path, suffix)  # as VLMEvalKit's evaluate() reads a result file
    except (
        OSError,
        ValueError,
        UnicodeDecodeError,
        zipfile.BadZipFile,
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
    ) as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{path}: not a readable {suffix} file ({detail})") from None


def _read_jsonl(path: Path) -> pd.DataFrame:
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a readable predictions.jsonl ({exc})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: line {number}: not JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise UsageError(f"{path}: line {number}: not a JSON object")
        records.append(record)
    return pd.DataFrame(records)


def load_dataset(
    spec: str, data_dir: Path, work_dir: Path, nframe: int | None = None, fps: float | None = None
) -> Dataset:
    """The dataset ``--data`` names, prepared (downloaded, generated) and loaded as eval does
    (a video TSV's frames as ``nframe``/``fps`` pick them)."""
    ref = resolve_dataset(spec, nframe, fps)
    ensure_on_disk(ref, data_dir, work_dir, seed=0)
    path = dataset_path(ref, data_dir, work_dir, seed=0)
    return load_tsv(path, ref.name, ref.kind, video=ref.video, frames=ref.frames)


def model_name(predictions: Path, dataset: str) -> str:
    """The model the predictions are of: ``<model>`` of ``<model>_<dataset>.<ext>``, or, for a
    ``predictions.jsonl`` in eval's layout (``<model>/<run>/<dataset>/``), that directory."""
    stem = predictions.stem
    if stem.endswith(f"_{dataset}") and len(stem) > len(dataset) + 1:
        return stem[: -len(dataset) - 1]
    parents = predictions.resolve().parents
    if predictions.suffix.lower() == ".jsonl" and len(parents) > 2:
        return parents[2].name
    return stem


def default_output(predictions: Path, dataset: str) -> Path:
    """Where ``<dataset>/`` goes without ``--output``: beside PREDICTIONS, or, when PREDICTIONS
    already lies in a ``<dataset>/`` directory (eval's layout), that directory's parent, so the
    results are PREDICTIONS' own directory."""
    directory = predictions.resolve().parent
    return directory.parent if directory.name == dataset else directory


def answers_mismatch(predictions: Path, frame: pd.DataFrame, dataset: Dataset) -> str | None:
    """The warning line when the ``answer`` column of the predictions file (VLMEvalKit's result
    files and predictions.jsonl carry one) does not fit the kind ``dataset`` is scored as."""
    if "answer" not in frame.columns or dataset.fits != dataset.kind:
        return None  # no answers to judge, or loading the dataset already warned
    yes_no = all_yes_or_no(frame["answer"])
    if yes_no == (dataset.kind == "yorn"):
        return None
    fits = "yorn" if yes_no else "mcq or vqa"
    evidence = KIND_EVIDENCE["yorn"] if yes_no else "not every answer is Yes or No"
    return (
        f"vlmeval: warning: {predictions}: {evidence}, so it fits {fits}, but {dataset.name} "
        f"({dataset.path}) is scored as {dataset.kind}; were these predictions made on "
        "another dataset? (-d names the one they were made on)"
    )


def score_predictions(
    predictions: Path,
    data: str,
    output: Path | None,
    data_dir: Path,
    judge: JudgeSpec | None = None,
) -> Scored:
    """Score ``predictions`` on dataset ``data`` (with ``judge`` where its metric uses one);
    write eval's per-dataset files under ``output`` (default: :func:`default_output`)."""
    require_judge([resolve_dataset(data)], judge)
    frame = read_predictions(predictions)
    if judge is not None:  # a dead judge stops here, before the dataset is loaded
        from vlmeval_core.judge.client import probe

        probe(judge)
    if output is None:
        output = default_output(predictions, resolve_dataset(data).name)
    dataset = load_dataset(data, data_dir, output)
    warning = answers_mismatch(predictions, frame, dataset)
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)
    result = evaluate_dataset(
        dataset, frame, output, model_name(predictions, dataset.name), predictions, judge
    )
    return Scored(dataset.name, result.scores, output / dataset.name)
