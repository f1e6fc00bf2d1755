"""The metric table: one entry per metric, one driver, the options each metric takes."""

from __future__ import annotations

import pandas as pd
import pytest

from vlmeval_core.datasets.registry import DATASETS, KINDS
from vlmeval_core.errors import UsageError
from vlmeval_core.scoring import KIND_DEFAULTS, TABLE, metric_for, points_out_of, score_dataset


def test_each_kind_and_name_is_one_entry_and_every_registered_metric_is_there():
    keys = [(m.kind, m.name) for m in TABLE]
    assert len(keys) == len(set(keys))
    assert set(KIND_DEFAULTS) == set(KINDS)
    used = {(e.kind, e.metric) for e in DATASETS.values()}
    assert used <= set(keys)
    assert {m.suffix for m in TABLE} == {"_acc", "_score"}
    assert all(m.reference for m in TABLE)


def test_points_and_shares():
    assert (points_out_of("mme_score"), points_out_of("ocrbench_score")) == (2800, 1000)
    assert points_out_of("accuracy") is None and points_out_of("anls") is None


def test_a_metric_of_another_kind_or_an_unknown_one_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown metric 'anls' for a mcq dataset"):
        metric_for("mcq", "anls")
    with pytest.raises(UsageError, match="unknown dataset kind 'essay'"):
        metric_for("essay")


def test_options_override_the_defaults_and_unknown_ones_are_refused():
    frame = pd.DataFrame({"index": [1], "prediction": ["J Smit"], "answer": ["J. Smith"]})
    # distance 2/8: credit 0.75, kept at threshold 0.5, dropped at 0.8
    assert score_dataset("vqa", frame, "anls").scores["overall"] == pytest.approx(0.75)
    assert score_dataset("vqa", frame, "anls", {"threshold": 0.8}).scores["overall"] == 0.0
    with pytest.raises(UsageError, match="metric 'anls' takes no option\\(s\\) tolerance"):
        score_dataset("vqa", frame, "anls", {"tolerance": 0.1})


def test_every_metric_scores_an_item_with_an_error_as_an_error_and_wrong():
    row = {"index": 1, "prediction": "Yes", "answer": "Yes", "A": "Yes", "B": "No",
           "category": "OCR", "image_path": "1.png", "source_index": "VD_a_0_0_0_0",
           "error": "image could not be decoded"}  # fmt: skip
    for metric in (m for m in TABLE if not m.needs_judge):  # judged: tests/test_judge_metrics.py
        frame = pd.DataFrame([row]).assign(answer="A" if metric.kind == "mcq" else "Yes")
        result = score_dataset(metric.kind, frame, metric.name)
        assert result.items["correct"].tolist() == [False], metric.name
        assert (result.scores["unparsed"], result.scores["errors"]) == (0, 1), metric.name
        assert result.scores["reference"] == metric.reference
