"""Metric parity: our per-item outcomes and result tables against VLMEvalKit's own evaluation
code, on synthetic rows of every kind of registered benchmark.

Reference: PyPI ``nvidia-vlmeval`` 26.3 run in the parity venv:
``vlmeval/dataset/utils/multiple_choice.py`` (``mcq_vanilla_eval``, ``mcq_circular_eval``,
``MMMU_preproc``, ``report_acc``) with ``exact_matching``, ``vlmeval/dataset/utils/yorn.py``
(``YOrN_Extraction``, ``default_rating``, ``MME_rating``, ``POPE_rating``,
``Hallusion_rating``) and ``vlmeval/dataset/utils/vqa_eval.py`` (``process_line``,
``hit_calculate``). Predictions avoid the rules VLMEvalKit main e8e78f05 changed after 26.3
(pinned in test_scoring_main_rules.py). VLMEvalKit lists splits and categories in ``set``
order, which varies between runs; rows are compared by name.
"""

from __future__ import annotations

import math
import random

import pandas as pd
import pytest

import parity_inputs as gen
from vlmeval_core.scoring import score_dataset
from vlmevalkit_reference import reference

pytestmark = pytest.mark.parity


def close(a, b) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def rows_by_name(table: dict | pd.DataFrame) -> dict:
    """A table (ours: a frame; theirs: columns and rows) as {first cell: {column: value}}."""
    if isinstance(table, pd.DataFrame):
        table = {"columns": list(table.columns), "rows": table.values.tolist()}
    columns = table["columns"]
    return {row[0]: dict(zip(columns[1:], row[1:], strict=True)) for row in table["rows"]}


def assert_same_table(ours: pd.DataFrame, theirs: dict, keyed: bool) -> None:
    if keyed:  # one row per split / group: compare by the first cell
        ours_rows, their_rows = rows_by_name(ours), rows_by_name(theirs)
        assert ours_rows.keys() == their_rows.keys()
        for name, cells in their_rows.items():
            assert list(ours_rows[name]) == list(cells), name
            for column, value in cells.items():
                assert close(ours_rows[name][column], value), (name, column)
    else:  # one row: same columns in the same order, same values
        assert list(ours.columns) == theirs["columns"]
        for column, value in zip(theirs["columns"], theirs["rows"][0], strict=True):
            assert close(ours[column].iloc[0], value), column


def ours(kind: str, rows: list[dict], metric: str | None):
    return score_dataset(kind, pd.DataFrame(rows), metric)


@pytest.mark.parametrize(
    ("dataset", "metric", "make"),
    [
        ("MMStar", "accuracy", lambda rng: gen.mcq_rows(rng, 400)),
        ("ScienceQA_VAL", "accuracy", lambda rng: gen.mcq_rows(rng, 300, ("val", "test"))),
        ("MMMU_DEV_VAL", "mmmu_accuracy", lambda rng: gen.mmmu_rows(rng, 300)),
        ("MMBench_DEV_EN", "circular_accuracy", lambda rng: gen.circular_rows(rng, 150)),
    ],
)
def test_multiple_choice_hits_and_report_acc(dataset, metric, make):
    rows = make(random.Random(dataset))
    result = ours("mcq", rows, metric)
    theirs = reference("mcq", {"dataset": dataset, "rows": rows, "circular": "MMBench" in dataset})
    items = result.items.set_index("index")
    hit_column = "circular_hit" if metric == "circular_accuracy" else "correct"
    our_hits = {str(i): int(items.loc[int(i), hit_column]) for i in theirs["hits"]}
    assert our_hits == theirs["hits"]
    assert 0 < sum(our_hits.values()) < len(our_hits)  # some right, some wrong
    assert_same_table(result.table, theirs["table"], keyed=True)


@pytest.mark.parametrize(
    ("dataset", "metric", "make", "keyed"),
    [
        ("ShapesYN", "accuracy", lambda rng: gen.yes_no_rows(rng, 400), False),
        ("MME", "mme_score", lambda rng: gen.mme_rows(rng, 6), False),
        ("POPE", "pope_f1", lambda rng: gen.pope_rows(rng, 400), True),
        ("HallusionBench", "hallusion_accuracy", lambda rng: gen.hallusion_rows(rng, 400), True),
    ],
)
def test_yes_no_readings_scores_and_ratings(dataset, metric, make, keyed):
    rows = make(random.Random(dataset))
    frame = pd.DataFrame(rows)
    if dataset == "HallusionBench":  # our loader keeps the text index as source_index
        frame = frame.rename(columns={"index": "source_index"}).assign(index=range(len(rows)))
    result = score_dataset("yorn", frame, metric)
    theirs = reference("yorn", {"dataset": dataset, "rows": rows})
    items = result.items  # sorted by index: the generated order
    assert [p or "Unknown" for p in items["parsed"]] == theirs["extracted"]
    assert items["correct"].tolist() == theirs["score"]
    assert_same_table(result.table, theirs["table"], keyed)


@pytest.mark.parametrize(
    ("dataset", "metric", "method"),
    [
        ("TextVQA_VAL", "vqa_score", "vqa_score"),
        ("DocVQA_VAL", "anls", "anls"),
        ("InfoVQA_VAL", "anls", "anls"),
        ("ChartQA_TEST", "relaxed_accuracy", "relaxed"),
    ],
)
def test_open_answer_credit_per_item(dataset, metric, method):
    rows = gen.vqa_rows(random.Random(dataset), 400, method)
    result = ours("vqa", rows, metric)
    theirs = reference("vqa", {"dataset": dataset, "rows": rows})["hits"]
    credit = result.items["score"].tolist()
    differ = [(r, c, t) for r, c, t in zip(rows, credit, theirs, strict=True) if not close(c, t)]
    assert differ == [], differ[:3]
    assert 0 < sum(theirs) < len(theirs)
    assert close(result.table["Overall"].iloc[0], sum(theirs) / len(theirs) * 100)
