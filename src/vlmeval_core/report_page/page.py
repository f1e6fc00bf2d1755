"""The report page: figures drawn, thumbnails made, the jinja2 template filled, all written.

``write_report`` writes ``report.html`` (self-contained: its figures and
thumbnails are data URIs, a Content-Security-Policy allows nothing else, so it
opens offline and runs no script) and each figure's PNG beside it. Everything
taken from the results (predictions, prompts, answers, names) is escaped by the
template's autoescape. Sections: the overall table and bars; per dataset its
category bars and, for MCQ, the confusion between answer letters with the share of
unparsed answers; the worst categories; a sample of wrong answers.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from vlmeval_core.files import write_atomic
from vlmeval_core.report_page import figures
from vlmeval_core.report_page.inputs import GROUPINGS, DatasetResult, RunResult, read_runs
from vlmeval_core.report_page.thumbnails import Thumbnails
from vlmeval_core.run_plan import slug
from vlmeval_core.summary_page import interval_text, score_text

REPORT_DIR = "report"
"""Where the report goes in the (first) run directory by default."""
PAGE = "report.html"
TEMPLATE = "report.html.j2"
WRONG_PER_DATASET = 6
"""Wrong answers shown per run and dataset, drawn with SAMPLE_SEED."""
SAMPLE_SEED = 0
WORST_CATEGORIES = 10
"""Rows of the worst-categories table per run."""


@dataclass(frozen=True)
class Drawn:
    """One figure: its PNG's file name (beside the page), its caption and its bytes."""

    file: str
    caption: str
    png: bytes

    @property
    def uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class DatasetSection:
    """What the page shows of one dataset."""

    name: str
    groups: list[Drawn] = field(default_factory=list)
    confusions: list[tuple[Drawn, str]] = field(default_factory=list)
    """Each MCQ run's confusion figure and its unparsed share in words."""


def write_report(directories: Sequence[Path], out_dir: Path | None = None) -> Path:
    """The report of the runs in ``directories`` into ``out_dir`` (default: the first
    run's ``report/``); the page's path."""
    runs = read_runs(list(directories))
    out_dir = out_dir if out_dir is not None else Path(directories[0]) / REPORT_DIR
    names = list(dict.fromkeys(name for run in runs for name in run.datasets))
    taken: set[str] = set()

    def drawn(stem: str, caption: str, png: bytes) -> Drawn:
        file = f"{stem}.png"
        number = 2
        while file in taken:
            file, number = f"{stem}-{number}.png", number + 1
        taken.add(file)
        return Drawn(file, caption, png)

    overall = drawn("overall", "Overall score per dataset", figures.overall_figure(runs, names))
    sections = []
    for name in names:
        section = DatasetSection(name)
        for key, label in GROUPINGS.items():
            if any(name in run.datasets and run.datasets[name].groups(key) for run in runs):
                png = figures.group_figure(runs, name, key)
                section.groups.append(drawn(f"{slug(name)}-{label}", f"{name} by {label}", png))
        for run in runs:
            result = run.datasets.get(name)
            if result is None or not result.is_mcq():
                continue
            title = f"{name}: answer vs. read" + (f" ({run.label})" if len(runs) > 1 else "")
            png = figures.confusion_figure(result, title)
            unparsed, n = figures.unparsed_share(result)
            share = f"{run.label}: {unparsed} of {n} answers unparsed ({_percent(unparsed, n)})"
            section.confusions.append((drawn(f"{slug(name)}-confusion", title, png), share))
        sections.append(section)
    context = {
        "runs": runs,
        "overall_rows": [_overall_row(runs, name) for name in names],
        "overall": overall,
        "sections": sections,
        "worst": [(run, _worst(run)) for run in runs],
        "wrong": [(run, _wrong_sample(run)) for run in runs],
        "wrong_per_dataset": WRONG_PER_DATASET,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    every = [overall, *(d for s in sections for d in (*s.groups, *(c for c, _ in s.confusions)))]
    for figure in every:
        write_atomic(out_dir / figure.file, figure.png)
    return write_atomic(out_dir / PAGE, render(context))


def render(context: dict[str, Any]) -> str:
    """The page, from the package's template, every value autoescaped."""
    environment = Environment(
        loader=PackageLoader("vlmeval_core", "assets"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template(TEMPLATE).render(context)


def _overall_row(runs: Sequence[RunResult], name: str) -> dict[str, Any]:
    cells = []
    for run in runs:
        result = run.datasets.get(name)
        if result is None:
            cells.append(None)
            continue
        scores = result.scores
        ci = result.overall_ci()
        cells.append(
            {
                "score": score_text(result.metric, result.overall()),
                "ci": interval_text(result.metric, ci) if ci is not None else "",
                "n": scores.get("n"),
                "unparsed": scores.get("unparsed"),
                "errors": scores.get("errors"),
                "metric": result.metric,
            }
        )
    return {"name": name, "cells": cells}


def _worst(run: RunResult) -> list[dict[str, Any]]:
    """The lowest group scores of the run's share metrics (points have no common scale)."""
    rows = []
    for result in run.datasets.values():
        if result.out_of is not None:
            continue
        for key, field_name in GROUPINGS.items():
            for group, score in result.groups(key).items():
                members = [i for i in result.items if str(i.get(field_name)) == group]
                ci = result.group_ci(key, group)
                rows.append(
                    {
                        "dataset": result.name,
                        "grouping": field_name,
                        "group": group,
                        "value": score,
                        "score": score_text(result.metric, score),
                        "ci": interval_text(result.metric, ci) if ci is not None else "",
                        "n": len(members),
                        "wrong": sum(i.get("correct") is False for i in members),
                    }
                )
    return sorted(rows, key=lambda row: row["value"])[:WORST_CATEGORIES]


def _wrong_sample(run: RunResult) -> list[dict[str, Any]]:
    """Up to WRONG_PER_DATASET wrong answers per dataset, drawn with a fixed seed, in file order."""
    rows = []
    for result in run.datasets.values():
        wrong = [item for item in result.items if item.get("correct") is False]
        count = min(WRONG_PER_DATASET, len(wrong))
        picked = random.Random(SAMPLE_SEED).sample(range(len(wrong)), count)
        thumbnails = _thumbnails(result)
        for item in (wrong[p] for p in sorted(picked)):
            index = item.get("index")
            thumbnail = thumbnails.of(int(index)) if isinstance(index, int) else None
            group = next((item[f] for f in GROUPINGS.values() if item.get(f) is not None), None)
            rows.append(
                {
                    "dataset": result.name,
                    "index": index,
                    "group": group,
                    "thumbnail": thumbnail,
                    "prompt": item.get("prompt"),
                    "prediction": item.get("prediction"),
                    "parsed": item.get("parsed"),
                    "answer": item.get("answer"),
                    "error": item.get("error"),
                }
            )
    return rows


def _thumbnails(result: DatasetResult) -> Thumbnails:
    return Thumbnails(result.name, result.data_path, result.md5, result.kind)


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"
