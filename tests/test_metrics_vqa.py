"""TextVQA, DocVQA / InfoVQA, ChartQA and OCRBench scored as VLMEvalKit scores them, by hand.

Each test scores a small TSV in the benchmark's layout through the worker's merge step
and reads scores.json and the file VLMEvalKit writes (``_acc.csv``; OCRBench's
``_score.json``).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from catalog_fixtures import chartqa, docvqa, ocrbench, score_through_worker, textvqa
from vlmeval_core.report import result_stem
from vlmeval_core.scoring.vqa_metrics import (
    anls_distance,
    anls_score,
    levenshtein,
    relaxed_match,
    vqa_score,
)


def acc_csv(out, name: str) -> pd.DataFrame:
    return pd.read_csv(out / f"{result_stem('tiny-vlm', name)}_acc.csv")


def test_textvqa_vqa_accuracy_over_ten_human_answers(tmp_path):
    # 0: ten "red", "Red." normalises to "red": each answer has 9 others equal -> 1.0
    # 1: 2x "green", 8x "dark green", "green": for a "green" answer 1 other equal -> 1/3,
    #    for a "dark green" one 2 others -> 2/3; mean (2/3 + 16/3) / 10 = 0.6
    # 2: "two"/"2" normalise to "2", "a pair" to "pair"; "three" -> "3" matches none -> 0
    predictions = {0: "Red.", 1: "green", 2: "three"}
    scores, out = score_through_worker(tmp_path, "TextVQA_VAL", textvqa(), predictions)
    assert scores["metric"] == "vqa_score"
    assert scores["overall"] == pytest.approx(1.6 / 3)
    assert scores["n"] == 3 and scores["unparsed"] == 0
    table = acc_csv(out, "TextVQA_VAL")
    assert list(table.columns) == ["Overall"]
    assert table.iloc[0].tolist() == pytest.approx([160 / 3])
    records = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["score"] for r in records] == pytest.approx([1.0, 0.6, 0.0])
    assert [r["correct"] for r in records] == [True, False, False]


def test_vqa_score_by_hand():
    assert vqa_score("2", ["two"] * 3 + ["three"] * 7) == pytest.approx(
        (3 * (2 / 3) + 7 * 1.0) / 10
    )
    assert vqa_score("red", ["red"]) == 0.0  # one answer: no *other* answer agrees


@pytest.mark.parametrize("name", ["DocVQA_VAL", "InfoVQA_VAL"])
def test_docvqa_and_infovqa_anls_with_threshold(tmp_path, name):
    # 0: "annual report" vs "Annual Report": distance 0 -> 1
    # 1: "May 1, 202" vs "May 1, 2020": one deletion over 11 characters -> 1 - 1/11
    # 2: "Bob" vs "J. Smith": 8 edits over 8 characters -> 0, below the 0.5 threshold
    predictions = {0: "annual report", 1: "May 1, 202", 2: "Bob"}
    scores, out = score_through_worker(tmp_path, name, docvqa(name), predictions)
    assert scores["metric"] == "anls"
    assert scores["overall"] == pytest.approx((1 + 10 / 11 + 0) / 3)
    assert acc_csv(out, name).iloc[0].tolist() == pytest.approx([(1 + 10 / 11) / 3 * 100])


def test_anls_by_hand():
    assert levenshtein("kitten", "sitting") == 3
    assert anls_distance("J. Smith", "Smith") == 3 / 8
    assert anls_score("Smith", ["J. Smith"], 0.5) == 0.625
    assert anls_score("Smit", ["J. Smith"], 0.5) == 0.5  # 1 - 4/8: at the threshold, kept
    assert anls_score("Jo", ["J. Smith"], 0.5) == 0.0  # 1 - 7/8: below it
    # lengths are the texts as given (VLMEvalKit): padding lowers the distance, not the edits
    assert anls_distance("  ab", "ab") == 0.0


def test_chartqa_relaxed_accuracy(tmp_path):
    # 0: 95.2 vs 100: off by 4.8% of the answer -> right (VLMEvalKit main divides by the
    #    answer; v0.3rc1 divided by the prediction, 5.04% -> wrong)
    # 1: 27% vs 25%: 0.27 vs 0.25, off by 8% -> wrong
    # 2: "red" vs "Red": no numbers, equal ignoring case -> right
    # 3: "0.0" vs "0": the answer is 0, so exact text only -> wrong
    predictions = {0: "95.2", 1: "27%", 2: "red", 3: "0.0"}
    scores, out = score_through_worker(tmp_path, "ChartQA_TEST", chartqa(), predictions)
    assert scores["metric"] == "relaxed_accuracy"
    assert scores["overall"] == 0.5
    assert acc_csv(out, "ChartQA_TEST").iloc[0].tolist() == [50.0]


@pytest.mark.parametrize(
    ("answer", "prediction", "right"),
    [
        ("100", "105", True),
        ("100", "105.1", False),
        ("25%", "0.26", True),
        ("12", " 12 ", True),
        ("Yes", "yes", True),
        ("0", "0", True),
        ("1,000", "1000", False),  # "1,000" is no number: text must match
    ],
)
def test_relaxed_match(answer, prediction, right):
    assert relaxed_match(answer, prediction.strip(), 0.05) is right


def test_ocrbench_counts_points_per_category_into_the_final_score(tmp_path):
    # 0 "stop" in "the sign says stop." -> 1 (Regular Text Recognition)
    # 1 neither "exit 3" nor "exit three" in "exit" -> 0 (Scene Text-centric VQA)
    # 2 formula: spaces removed, "x^2+1" in "x^2+1" -> 1 (Handwritten Mathematical ...)
    # 3 "12.50" not in "total: 12.5" -> 0 (Key Information Extraction)
    predictions = {0: "The sign says STOP.", 1: "EXIT", 2: "x ^ 2+1", 3: "Total: 12.5"}
    scores, out = score_through_worker(tmp_path, "OCRBench", ocrbench(), predictions)
    assert scores["metric"] == "ocrbench_score"
    assert scores["overall"] == 2.0 and scores["final_score_norm"] == 0.2
    assert scores["by_category"] == {
        "Handwritten Mathematical Expression Recognition": 1,
        "Key Information Extraction": 0,
        "Regular Text Recognition": 1,
        "Scene Text-centric VQA": 0,
    }
    table = json.loads((out / f"{result_stem('tiny-vlm', 'OCRBench')}_score.json").read_text())
    assert table == {
        "Text Recognition": 1,
        "Scene Text-centric VQA": 0,
        "Doc-oriented VQA": 0,
        "Key Information Extraction": 0,
        "Handwritten Mathematical Expression Recognition": 1,
        "Final Score": 2,
        "Final Score Norm": 0.2,
    }
    assert list(table)[-2:] == ["Final Score", "Final Score Norm"]  # VLMEvalKit's order
