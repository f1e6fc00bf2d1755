"""``vlmeval compare``: runs set side by side, dataset by dataset, on the items they share.

A run is a run directory of ``vlmeval eval`` or an output directory of ``vlmeval score``:
``<dataset>/scores.json`` and ``<dataset>/predictions.jsonl`` per dataset (a run
directory also ``identity.json`` and ``summary.json``), read by
:mod:`vlmeval_core.results_dir`. The first run is the baseline;
each other run is compared with it, per dataset both have:

* each run's figures (``overall``, then each group's) as its scores.json reports them,
  with their intervals;
* the difference, run minus baseline, over the items both runs have (paired by
  ``index``, HallusionBench's by ``source_index``; the others are counted, not used),
  with its 95% paired-bootstrap interval
  (:func:`~vlmeval_core.scoring.intervals.paired_difference`);
* a p-value of "no difference": McNemar's exact test where the metric's figures are
  shares of 0/1 outcomes (the metric's ``Hits``: accuracy, circular accuracy over
  questions, MMMU over its scored split), else the paired bootstrap's.

Where the runs' identities disagree on a shared dataset's data (md5, kind, prompt
style, source), a warning names the dataset, the field and both values; a run
without ``identity.json`` (a score directory) gets a warning that this could not be
checked. :func:`compare_runs` gives the comparison as a JSON document,
:func:`compare_markdown` the page ``vlmeval compare`` prints. Torch-free.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from vlmeval_core.datasets.registry import DATASETS
from vlmeval_core.errors import UsageError
from vlmeval_core.report import PREDICTIONS_FILE, SCORES_FILE
from vlmeval_core.results_dir import ResultsDir, read_results
from vlmeval_core.scoring import TABLE, points_out_of
from vlmeval_core.scoring.common import as_text
from vlmeval_core.scoring.intervals import (
    CI_SUFFIX,
    CONFIDENCE,
    PAIRED_METHOD,
    RESAMPLES,
    paired_difference,
)
from vlmeval_core.scoring.metric import Metric
from vlmeval_core.scoring.weighted import GROUP_FIGURES, Hits

MCNEMAR = "McNemar exact"
BOOTSTRAP = "paired bootstrap"
PAIR_KEYS = ("source_index", "index")
"""An item's key across runs: the first of these both runs' items have."""


@dataclass(frozen=True)
class RunResults:
    """One run to compare: its label and its results directory."""

    label: str
    results: ResultsDir


def compare_runs(paths: Sequence[Path]) -> dict[str, Any]:
    """The comparison of each run in ``paths`` with the first, as a JSON document."""
    if len(paths) < 2:
        raise UsageError("compare needs at least two runs (the first is the baseline)")
    runs = [RunResults(_label(i), read_results(Path(p))) for i, p in enumerate(paths)]
    baseline, others = runs[0], runs[1:]
    warnings: list[str] = []
    comparisons = []
    for run in others:
        shared = [name for name in baseline.results.datasets if name in run.results.datasets]
        if not shared:
            raise UsageError(
                f"{run.results.path} has no dataset in common with the baseline "
                f"{baseline.results.path}"
            )
        warnings += identity_warnings(baseline, run, shared)
        for name in shared:
            compared = compare_dataset(name, baseline, run)
            if isinstance(compared, str):
                warnings.append(compared)
            else:
                comparisons.append(compared)
    every = list(dict.fromkeys(name for run in runs for name in run.results.datasets))
    return {
        "baseline": baseline.label,
        "runs": [
            {
                "label": run.label,
                "path": str(run.results.path),
                "run": run.results.title,
                "identity": run.results.identity is not None,
            }
            for run in runs
        ],
        "warnings": warnings,
        "not_in_every_run": {
            name: [run.label for run in runs if name in run.results.datasets]
            for name in every
            if not all(name in run.results.datasets for run in runs)
        },
        "interval": {"method": PAIRED_METHOD, "confidence": CONFIDENCE, "resamples": RESAMPLES},
        "comparisons": comparisons,
    }


def identity_warnings(baseline: RunResults, run: RunResults, shared: Sequence[str]) -> list[str]:
    """One line per data field of a shared dataset on which the two identities disagree, or
    one line saying a run has no identity to check."""
    missing = [r for r in (baseline, run) if r.results.identity is None]
    if missing:
        return [
            f"{r.label} ({r.results.path}) has no identity.json (a score directory): whether its "
            f"datasets are the same data as {(run if r is baseline else baseline).label}'s "
            "could not be checked"
            for r in missing
        ]
    lines = []
    for name in shared:
        ours = (baseline.results.identity or {}).get("datasets", {}).get(name) or {}
        theirs = (run.results.identity or {}).get("datasets", {}).get(name) or {}
        for field in sorted(ours.keys() | theirs.keys()):
            if ours.get(field) != theirs.get(field):
                lines.append(
                    f"{name}: the runs' {field} differs: {baseline.label} "
                    f"{_shown(ours.get(field))}, {run.label} {_shown(theirs.get(field))}"
                )
    return lines


def compare_dataset(name: str, baseline: RunResults, run: RunResults) -> dict[str, Any] | str:
    """``run`` against ``baseline`` on dataset ``name``; a warning line when they cannot be
    compared (different metrics)."""
    scores = [r.results.scores(name) for r in (baseline, run)]
    metric_name = scores[0].get("metric")
    if scores[1].get("metric") != metric_name:
        return (
            f"{name}: not compared: {baseline.label} is scored by {metric_name}, "
            f"{run.label} by {scores[1].get('metric')}"
        )
    metric = _metric_named(str(metric_name), baseline.results.datasets[name] / SCORES_FILE)
    items, other, counts = paired_items(_items(baseline.results, name), _items(run.results, name))
    options = {**metric.options, **_registered_options(name)}
    try:
        differences = paired_difference(metric, other, items, options)
        hits = _hits_pair(metric, items, other, options)
    except KeyError as exc:
        lacking = [
            str(r.results.datasets[name] / PREDICTIONS_FILE)
            for r, frame in ((baseline, items), (run, other))
            if exc.args[0] not in frame.columns
        ]
        raise UsageError(
            f"{' and '.join(lacking) or name}: no {exc.args[0]!r} field, which {metric.name} "
            "needs to resample its items (results of an older vlmeval)"
        ) from None
    figures = []
    for paired in differences:
        row: dict[str, Any] = {
            "figure": list(paired.path),
            "baseline": _reported(scores[0], paired.path),
            "run": _reported(scores[1], paired.path),
            "difference": paired.difference,
            "ci": paired.ci,
            "p_value": paired.p_value,
            "test": BOOTSTRAP,
        }
        exact = mcnemar(*hits, paired.path) if hits is not None else None
        if exact is not None:
            row["p_value"], row["discordant"] = exact
            row["test"] = MCNEMAR
        figures.append(row)
    return {
        "dataset": name,
        "metric": metric.name,
        "points": points_out_of(metric.name),
        "baseline": baseline.label,
        "run": run.label,
        "items": counts,
        "figures": figures,
    }


def paired_items(
    baseline: pd.DataFrame, run: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """The items both runs have, in the baseline's order (each run's own rows), and the counts
    ``paired``, ``only_baseline``, ``only_run``."""
    key = next(k for k in PAIR_KEYS if k in baseline and k in run)
    ours = _occurrences(baseline[key])
    theirs = {k: position for position, k in enumerate(_occurrences(run[key]))}
    shared = [position for position, k in enumerate(ours) if k in theirs]
    counterparts = [theirs[ours[position]] for position in shared]
    counts = {
        "paired": len(shared),
        "only_baseline": len(ours) - len(shared),
        "only_run": len(theirs) - len(shared),
    }
    return (
        baseline.iloc[shared].reset_index(drop=True),
        run.iloc[counterparts].reset_index(drop=True),
        counts,
    )


def _occurrences(keys: pd.Series) -> list[tuple[str, int]]:
    """Each key as text with its occurrence so far, so that a repeated key pairs in order."""
    seen: dict[str, int] = {}
    counted = []
    for key in map(as_text, keys):
        counted.append((key, seen.get(key, 0)))
        seen[key] = seen.get(key, 0) + 1
    return counted


def mcnemar(baseline: Hits, run: Hits, path: Sequence[str]) -> tuple[float, dict[str, int]] | None:
    """McNemar's exact test on figure ``path``'s rows (those both runs count): the two-sided
    binomial p-value of b right in the baseline only against c right in the run only, with
    n = b + c and p = 1/2 (1 when b + c = 0), and b and c; None for a figure not in both."""
    ours, theirs = _rows(baseline, path), _rows(run, path)
    if ours is None or theirs is None:
        return None
    rows = ours & theirs
    right, right_too = baseline.values[rows] > 0, run.values[rows] > 0
    b, c = int(np.sum(right & ~right_too)), int(np.sum(~right & right_too))
    p_value = binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
    return float(p_value), {"baseline_only": b, "run_only": c}


def compare_markdown(document: Mapping[str, Any]) -> str:
    """The page ``vlmeval compare`` prints: the runs, the warnings, then per dataset and run a
    table of figure | baseline | run | difference | 95% CI | p | test."""
    base = document["baseline"]
    lines = [
        "# vlmeval compare",
        "",
        f"Each run is compared with the baseline, {base}: the difference is the run's score "
        f"minus {base}'s over the items both have, with its 95% paired-bootstrap interval "
        f"({document['interval']['resamples']} resamples) and a p-value of no difference "
        f"(the test column says which test).",
        "",
        "| run | directory | model / run |",
        "|---|---|---|",
    ]
    for run in document["runs"]:
        label = run["label"] + (" (baseline)" if run["label"] == base else "")
        lines.append(f"| {label} | {_md(run['path'])} | {_md(run['run'] or '—')} |")
    if document["warnings"]:
        lines += ["", *(f"- warning: {_md(w)}" for w in document["warnings"])]
    if document["not_in_every_run"]:
        lines += [""] + [
            f"- {_md(name)}: only in {', '.join(labels)}"
            for name, labels in document["not_in_every_run"].items()
        ]
    for compared in document["comparisons"]:
        lines += ["", *_comparison_lines(compared, document["interval"]["resamples"])]
    return "\n".join(lines) + "\n"


def _comparison_lines(compared: Mapping[str, Any], resamples: int) -> list[str]:
    base, run, points = compared["baseline"], compared["run"], compared["points"]
    counts = compared["items"]
    left_out = ""
    if counts["only_baseline"] or counts["only_run"]:
        left_out = (
            f"; left out: {counts['only_baseline']} only in {base}, "
            f"{counts['only_run']} only in {run}"
        )
    lines = [
        f"## {_md(compared['dataset'])}: {run} against {base} ({compared['metric']})",
        "",
        f"{counts['paired']} items in both{left_out}.",
        "",
        f"| figure | {base} | {run} | {run} − {base} | 95% CI | p | test |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in compared["figures"]:
        cells = [
            _figure_name(row["figure"]),
            _score_cell(row["baseline"], points),
            _score_cell(row["run"], points),
            _value(row["difference"], points, signed=True),
            _interval(row["ci"], points),
            _p_text(row, resamples),
            row["test"],
        ]
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    return lines


def _p_text(row: Mapping[str, Any], resamples: int) -> str:
    """The p-value; a bootstrap's 0 as the least it can tell apart from 0 (``< 0.002``)."""
    p_value = row["p_value"]
    if p_value is None:
        return "—"
    if p_value == 0 and row["test"] == BOOTSTRAP:
        return f"< {2 / resamples:.2g}"
    return f"{p_value:.3g}"


def _hits_pair(
    metric: Metric, items: pd.DataFrame, other: pd.DataFrame, options: Mapping[str, Any]
) -> tuple[Hits, Hits] | None:
    hits = metric.resampling.hits
    return None if hits is None else (hits(items, options), hits(other, options))


def _rows(hits: Hits, path: Sequence[str]) -> np.ndarray | None:
    if tuple(path) == ("overall",):
        return hits.overall
    return hits.groups.get(path[0], {}).get(path[1]) if len(path) == 2 else None


def _metric_named(name: str, where: Path) -> Metric:
    """The metric called ``name``: names are unique within a kind, and the one name two kinds
    share (accuracy, of mcq and yorn) is resampled alike, so the first entry serves."""
    for metric in TABLE:
        if metric.name == name:
            return metric
    raise UsageError(f"{where}: unknown metric {name!r}")


def _registered_options(name: str) -> Mapping[str, Any]:
    """The metric options a registered benchmark states (what its runs were scored with)."""
    entry = DATASETS.get(name)
    return entry.metric_options if entry is not None else {}


def _reported(scores: Mapping[str, Any], path: Sequence[str]) -> dict[str, Any]:
    """A run's figure at ``path`` and its interval, as its scores.json has them (None: none)."""
    return {
        "score": _at(scores, path),
        "ci": _at(scores, [path[0] + CI_SUFFIX, *path[1:]]),
    }


def _at(tree: Any, path: Sequence[str]) -> Any:
    for key in path:
        tree = tree.get(key) if isinstance(tree, Mapping) else None
    return tree


def _items(results: ResultsDir, name: str) -> pd.DataFrame:
    items = pd.DataFrame.from_records(results.predictions(name))
    if "index" not in items.columns:
        raise UsageError(f"{results.datasets[name] / PREDICTIONS_FILE}: no item has an index")
    return items


def _label(position: int) -> str:
    """A, B, ..., Z, then R27, R28, ..."""
    return string.ascii_uppercase[position] if position < 26 else f"R{position + 1}"


def _figure_name(path: Sequence[str]) -> str:
    """``overall``, ``category: CP``, ``split: random · f1``."""
    if len(path) == 1:
        return path[0]
    return f"{dict(GROUP_FIGURES).get(path[0], path[0])}: {' · '.join(path[1:])}"


def _value(value: Any, points: int | None, signed: bool = False) -> str:
    """Points as points, shares as percentages (a difference of shares in points, ``pp``)."""
    if not isinstance(value, int | float):
        return "—"
    sign = "+" if signed else ""
    if points is not None:
        return f"{value:{sign}.1f}"
    return f"{value * 100:{sign}.1f}" + (" pp" if signed else "%")


def _interval(ci: Any, points: int | None) -> str:
    if not (isinstance(ci, list) and len(ci) == 2):
        return "—"
    return f"{_value(ci[0], points, signed=True)} to {_value(ci[1], points, signed=True)}"


def _score_cell(reported: Mapping[str, Any], points: int | None) -> str:
    score = _value(reported["score"], points)
    ci = reported["ci"]
    if not (isinstance(ci, list) and len(ci) == 2):
        return score
    return f"{score} ({_value(ci[0], points)}–{_value(ci[1], points)})"


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _md(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
