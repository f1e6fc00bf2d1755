"""Confidence intervals: every metric's resampled figures, the draws, and known answers."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import parity_inputs as rows_of
from vlmeval_core.scoring import TABLE, intervals
from vlmeval_core.scoring.driver import score_frame
from vlmeval_core.scoring.metric import Metric
from vlmeval_core.scoring.weighted import Figures

RULE_METRICS = [m for m in TABLE if not m.needs_judge]
"""The metrics scored without a judge; tests/test_judge_metrics.py holds the others to the
same rules with a scripted judge."""


def metric_rows(metric: Metric, rng: random.Random) -> list[dict]:
    """Generated rows for ``metric`` (tests/parity_inputs.py)."""
    by_name = {
        "circular_accuracy": lambda: rows_of.circular_rows(rng, 60),
        "mmmu_accuracy": lambda: rows_of.mmmu_rows(rng, 150),
        "mme_score": lambda: rows_of.mme_rows(rng, 6),
        "pope_f1": lambda: rows_of.pope_rows(rng, 150),
        "hallusion_accuracy": lambda: rows_of.hallusion_rows(rng, 150),
        "vqa_score": lambda: rows_of.vqa_rows(rng, 120, "vqa_score"),
        "anls": lambda: rows_of.vqa_rows(rng, 120, "anls"),
        "relaxed_accuracy": lambda: rows_of.vqa_rows(rng, 120, "relaxed"),
        "ocrbench_score": lambda: _ocrbench_rows(rng, 120),
    }
    if metric.name in by_name:
        return by_name[metric.name]()
    return {
        "mcq": lambda: rows_of.mcq_rows(rng, 150, ("dev", "test")),
        "yorn": lambda: rows_of.yes_no_rows(rng, 150),
        "vqa": lambda: rows_of.vqa_rows(rng, 120, "relaxed"),
    }[metric.kind]()


def _ocrbench_rows(rng: random.Random, n: int) -> list[dict]:
    from vlmeval_core.scoring.ocrbench import CATEGORIES

    return [
        {
            "index": i,
            "question": "What does it say?",
            "answer": rng.choice(("['STOP']", "exit", "['42', 'forty-two']")),
            "prediction": rng.choice(("stop sign", "EXIT", "42", "nothing")),
            "category": rng.choice(CATEGORIES),
        }
        for i in range(n)
    ]


def _point(figures: Figures) -> dict[str, Any]:
    return {k: _point(v) if isinstance(v, dict) else float(v[0]) for k, v in figures.items()}


def _assert_same(point: dict[str, Any], scores: dict[str, Any], where: str) -> None:
    for key, value in point.items():
        assert key in scores, f"{where}: {key} is a figure but not in the scores"
        if isinstance(value, dict):
            _assert_same(value, scores[key], f"{where}.{key}")
        else:
            assert value == pytest.approx(scores[key]), f"{where}.{key}"


@pytest.mark.parametrize("metric", RULE_METRICS, ids=lambda m: f"{m.kind}-{m.name}")
def test_every_metric_s_figures_with_each_unit_drawn_once_are_its_own_scores(metric):
    result = score_frame(metric, pd.DataFrame(metric_rows(metric, random.Random(5))))
    once = np.ones((1, len(result.items)))
    point = _point(metric.resampling.figures(result.items, once, metric.options))

    _assert_same(point, result.scores, metric.name)
    assert set(point) >= {"overall"}


@pytest.mark.parametrize("metric", RULE_METRICS, ids=lambda m: f"{m.kind}-{m.name}")
def test_every_metric_s_scores_have_an_interval_around_each_figure(metric):
    scores = score_frame(metric, pd.DataFrame(metric_rows(metric, random.Random(6)))).scores
    low, high = scores["overall_ci"]

    assert low <= scores["overall"] + 1e-9 and scores["overall"] - 1e-9 <= high
    assert low < high
    assert scores["interval"] == {
        "method": "percentile bootstrap",
        "confidence": 0.95,
        "resamples": intervals.RESAMPLES,
        "seed": intervals.SEED,
        "unit": metric.resampling.unit,
    }
    groups = [k for k in scores if k.endswith("_ci") and k != "overall_ci"]
    for key in groups:
        assert set(scores[key]) == set(scores[key.removesuffix("_ci")]), key


def _accuracy_frame(right: int, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "index": range(n),
            "prediction": ["A"] * right + ["B"] * (n - right),
            "answer": "A",
            "A": "yes",
            "B": "no",
        }
    )


@pytest.mark.parametrize(("right", "n"), [(180, 200), (120, 200), (450, 500)])
def test_an_accuracy_s_interval_is_near_the_wilson_interval(right, n):
    scores = score_frame(TABLE[0], _accuracy_frame(right, n)).scores
    wilson = stats.binomtest(right, n).proportion_ci(0.95, method="wilson")

    assert scores["overall_ci"] == pytest.approx([wilson.low, wilson.high], abs=0.012)


def test_an_accuracy_s_interval_agrees_with_scipy_s_percentile_bootstrap():
    frame = _accuracy_frame(130, 200)
    scores = score_frame(TABLE[0], frame).scores
    values = np.array([1.0] * 130 + [0.0] * 70)
    scipy_ci = stats.bootstrap(
        (values,), np.mean, n_resamples=20_000, method="percentile", random_state=1
    ).confidence_interval

    assert scores["overall_ci"] == pytest.approx([scipy_ci.low, scipy_ci.high], abs=0.01)


def test_the_items_of_a_unit_are_drawn_together_and_each_stratum_keeps_its_size():
    units = ["q1", "q1", "q2", "q3", "q3", "q3", "q4"]
    strata = ["a", "a", "a", "b", "b", "b", "b"]
    weights = intervals.unit_weights(units, strata, 500, np.random.default_rng(0))

    assert weights.shape == (500, 7)
    assert (weights[:, 0] == weights[:, 1]).all() and (weights[:, 3] == weights[:, 5]).all()
    # a: units q1, q2 (2 draws); b: q3, q4 (2 draws); a unit's count is on each of its items
    assert (weights[:, 0] + weights[:, 2] == 2).all()
    assert (weights[:, 3] + weights[:, 6] == 2).all()


def test_mmbench_questions_are_resampled_whole_so_the_interval_counts_questions_not_rows():
    rows = rows_of.circular_rows(random.Random(3), 80)
    circular = next(m for m in TABLE if m.name == "circular_accuracy")
    scores = score_frame(circular, pd.DataFrame(rows)).scores
    questions = scores["n"]
    right = round(scores["overall"] * questions)
    wilson = stats.binomtest(right, questions).proportion_ci(0.95, method="wilson")

    assert scores["interval"]["unit"] == "question (all its rotations)"
    assert scores["n_rows"] > questions
    assert scores["overall_ci"] == pytest.approx([wilson.low, wilson.high], abs=0.03)


def test_points_metrics_get_intervals_in_points():
    mme = next(m for m in TABLE if m.name == "mme_score")
    scores = score_frame(mme, pd.DataFrame(rows_of.mme_rows(random.Random(2), 8))).scores
    low, high = scores["overall_ci"]

    assert 100 < low < scores["overall"] < high <= 2800
    assert all(0 <= lo <= hi <= 200 for lo, hi in scores["by_category_ci"].values())


def test_intervals_are_the_same_every_time_and_memory_is_bounded_by_blocks(monkeypatch):
    frame = _accuracy_frame(70, 100)
    first = score_frame(TABLE[0], frame).scores["overall_ci"]
    assert score_frame(TABLE[0], frame).scores["overall_ci"] == first

    shapes = []

    def recording(items, weights, options):
        shapes.append(weights.shape)
        return TABLE[0].resampling.figures(items, weights, options)

    monkeypatch.setattr(intervals, "BLOCK_CELLS", 100 * 64)
    recorded = replace(TABLE[0], resampling=replace(TABLE[0].resampling, figures=recording))
    resampled = intervals.resampled_figures(recorded, score_frame(TABLE[0], frame).items, {})

    assert len(resampled["overall"]) == intervals.RESAMPLES
    assert max(rows for rows, _ in shapes) == 64


def test_no_items_no_interval():
    scores = score_frame(TABLE[0], _accuracy_frame(0, 0)).scores

    assert "overall_ci" not in scores and "interval" not in scores


def test_a_paired_difference_of_a_run_with_itself_is_zero_with_p_one_in_every_figure():
    frame = _accuracy_frame(60, 100).assign(category=["a", "b", "c", "d"] * 25)
    items = score_frame(TABLE[0], frame).items

    paired = intervals.paired_difference(TABLE[0], items, items, {})

    assert [f.path for f in paired] == [("overall",), *(("by_category", c) for c in "abcd")]
    assert all(f.difference == 0 and f.ci == [0.0, 0.0] and f.p_value == 1.0 for f in paired)


def test_a_paired_difference_resamples_the_same_items_in_both_runs():
    better = score_frame(TABLE[0], _accuracy_frame(80, 100)).items
    worse = score_frame(TABLE[0], _accuracy_frame(60, 100)).items  # wrong on 20 more items

    overall = intervals.paired_difference(TABLE[0], better, worse, {})[0]
    unpaired_width = 2 * 1.96 * np.sqrt(0.8 * 0.2 / 100 + 0.6 * 0.4 / 100)

    assert overall.path == ("overall",) and overall.difference == pytest.approx(0.2)
    low, high = overall.ci
    assert 0 < low < 0.2 < high and high - low < unpaired_width
    assert overall.p_value < 0.01
