"""score(kind, frame): dispatch, the ScoreResult contract shared by every kind."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vlmeval_core.datasets.registry import KINDS
from vlmeval_core.errors import UsageError
from vlmeval_core.scoring import KIND_DEFAULTS, ScoreResult, score


def _frames() -> dict[str, pd.DataFrame]:
    common = {
        "index": np.array([2, 1, 3], dtype=np.int64),
        "category": ["x", "y", np.nan],
        "l2-category": ["p", "p", "q"],
        "split": ["dev", "dev", np.nan],
    }
    return {
        "mcq": pd.DataFrame(
            {
                **common,
                "prediction": ["A", "B", ""],
                "answer": ["A", "A", "B"],
                "A": ["u"] * 3,
                "B": ["v"] * 3,
            }
        ),
        "yorn": pd.DataFrame({**common, "prediction": ["Yes", "no", "?"], "answer": ["Yes"] * 3}),
        "vqa": pd.DataFrame({**common, "prediction": ["a cat", "dog", ""], "answer": ["cat"] * 3}),
    }


def test_there_is_a_default_metric_for_every_dataset_kind() -> None:
    assert set(KIND_DEFAULTS) == set(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_score_result_contract(kind: str) -> None:
    frame = _frames()[kind]
    before = frame.copy()
    result = score(kind, frame)
    assert isinstance(result, ScoreResult)
    pd.testing.assert_frame_equal(frame, before)  # the input is not changed

    items = result.items
    assert list(items["index"]) == [1, 2, 3]
    assert {"parsed", "correct"} <= set(items.columns)
    assert items["correct"].dtype == bool

    scores = result.scores
    # plain JSON: no numpy types, no NaN
    text = json.dumps(scores, allow_nan=False)
    assert json.loads(text) == scores
    assert type(scores["overall"]) is float and 0.0 <= scores["overall"] <= 1.0
    assert type(scores["n"]) is int and scores["n"] == 3
    assert type(scores["unparsed"]) is int
    assert scores["metric"] == ("exact_match" if kind == "vqa" else "accuracy")
    # a missing category is left out; a missing split counts as "none"
    assert set(scores["by_category"]) == {"x", "y"}
    assert set(scores["by_split"]) == {"dev", "none"}
    assert set(scores["by_l2_category"]) == {"p", "q"}
    assert all(type(v) is float for v in scores["by_category"].values())
    if kind == "yorn":
        assert all(type(scores[k]) is float for k in ("precision", "recall", "f1"))
    assert isinstance(result.table, pd.DataFrame) and len(result.table) >= 1


def test_hand_computed_overall_per_kind() -> None:
    frames = _frames()
    assert score("mcq", frames["mcq"]).scores["overall"] == pytest.approx(1 / 3)
    assert score("yorn", frames["yorn"]).scores["overall"] == pytest.approx(1 / 3)
    assert score("vqa", frames["vqa"]).scores["overall"] == pytest.approx(1 / 3)


def test_unknown_kind_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown dataset kind 'essay'"):
        score("essay", _frames()["vqa"])
