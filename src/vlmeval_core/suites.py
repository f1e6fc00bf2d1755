"""Suites: a named set of benchmarks run as one (``--suite``), and the average they make.

``openvlm`` is the OpenVLM leaderboard's ``DEFAULT_BENCH`` (the leaderboard space's
``meta_data.py``: MMBench_V11, MMStar, MMMU_VAL, MathVista, OCRBench, AI2D, HallusionBench,
MMVet), each mapped to the VLMEvalKit dataset it is scored on and the figure it takes, on a
0-100 scale (:data:`SUITES`); its average is the mean of the eight. The rule, part by part,
with what it rests on, is in the README ("The OpenVLM suite"); the space's own files could not
be read here, so the parts marked there as unverified are this project's reading of
VLMEvalKit's and the leaderboard's published descriptions.

MMBench_V11 is scored on MMBench v1.1 TEST, whose answers are not public (MMBench's server
grades it): the suite runs the public DEV split in its place, reports it beside the average,
and the average names that part as not computed (``missing``), giving the mean of the others
as ``partial_average``. Written as ``<run>/leaderboard.json`` once every dataset is scored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmeval_core.files import write_json
from vlmeval_core.judge.spec import JudgeSpec

LEADERBOARD_FILE = "leaderboard.json"


@dataclass(frozen=True)
class SuitePart:
    """One leaderboard column: the dataset run for it, the figure of its scores.json taken
    (times ``scale`` for 0-100), and whether that dataset is the one the column is scored on
    (``public``: its answers are published) or a stand-in reported beside the average."""

    column: str
    dataset: str
    figure: str
    scale: float
    public: bool = True
    note: str = ""


SUITES: Mapping[str, tuple[SuitePart, ...]] = {
    "openvlm": (
        SuitePart(
            "MMBench_V11",
            "MMBench_DEV_EN_V11",
            "overall",
            100,
            public=False,
            note="scored on MMBench_TEST_EN_V11 / MMBench_TEST_CN_V11, whose answers are not "
            "public; MMBench_DEV_EN_V11 is run as a stand-in, outside the average",
        ),
        SuitePart("MMStar", "MMStar", "overall", 100),
        SuitePart("MMMU_VAL", "MMMU_DEV_VAL", "overall", 100, note="the validation split"),
        SuitePart("MathVista", "MathVista_MINI", "overall", 100, note="testmini"),
        SuitePart("OCRBench", "OCRBench", "overall", 0.1, note="the final score (of 1000) / 10"),
        SuitePart("AI2D", "AI2D_TEST", "overall", 100),
        SuitePart(
            "HallusionBench", "HallusionBench", "overall", 100, note="mean of aAcc, fAcc, qAcc"
        ),
        SuitePart("MMVet", "MMVet", "overall", 100, note="the judge's mean score"),
    )
}
"""Each suite's parts, in the leaderboard's column order."""


def suite_text(name: str, judge: JudgeSpec | None) -> str:
    """The suite's columns, the dataset each is scored on, and the judge, in one line."""
    parts = [
        f"{p.column} <- {p.dataset}" + ("" if p.public else " (stand-in, outside the average)")
        for p in SUITES[name]
    ]
    asked = "none" if judge is None else f"{judge.model} at {judge.base_url}"
    return f"suite {name}: {'; '.join(parts)}; judge: {asked}"


def suite_datasets(name: str) -> list[str]:
    """The datasets suite ``name`` runs, in order."""
    return [part.dataset for part in SUITES[name]]


def leaderboard(name: str, scores: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Suite ``name``'s columns from each dataset's scores, and their average (None unless
    every column is computed: ``missing`` names those that are not)."""
    columns: dict[str, Any] = {}
    stand_ins: dict[str, Any] = {}
    missing: list[str] = []
    for part in SUITES[name]:
        value = scores.get(part.dataset, {}).get(part.figure)
        shown = None if value is None else float(value) * part.scale
        entry = {"dataset": part.dataset, "score": shown, "note": part.note}
        if part.public and shown is not None:
            columns[part.column] = entry
        else:
            missing.append(part.column)
            if not part.public:
                stand_ins[part.column] = entry
    computed = [c["score"] for c in columns.values()]
    return {
        "suite": name,
        "columns": columns,
        "stand_ins": stand_ins,
        "missing": missing,
        "average": None if missing else sum(computed) / len(computed),
        "partial_average": sum(computed) / len(computed) if computed else None,
        "partial_of": len(computed),
    }


def write_leaderboard(
    run_dir: Path, name: str, scores: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Write ``<run_dir>/leaderboard.json``; its content."""
    board = leaderboard(name, scores)
    write_json(run_dir / LEADERBOARD_FILE, board)
    return board


def leaderboard_line(board: Mapping[str, Any]) -> str:
    """The average in one line, saying which columns it could not compute."""
    if board["average"] is not None:
        return f"{board['suite']} average {board['average']:.2f} over all its columns"
    partial = board["partial_average"]
    shown = "none" if partial is None else f"{partial:.2f}"
    return (
        f"{board['suite']} average not computed: {', '.join(board['missing'])} missing; "
        f"mean of the other {board['partial_of']}: {shown}"
    )
