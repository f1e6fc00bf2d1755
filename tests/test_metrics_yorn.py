"""MME, POPE and HallusionBench scored as VLMEvalKit scores them, checked against hand sums.

Each test scores a small TSV in the benchmark's layout through the worker's merge step
and reads scores.json and VLMEvalKit's ``<model>_<dataset>_score.csv``.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from catalog_fixtures import hallusion, mme, pope, score_through_worker
from vlmeval_core.errors import UsageError
from vlmeval_core.report import result_stem
from vlmeval_core.scoring import score_dataset
from vlmeval_core.summary_page import summary_markdown


def score_csv(out, name: str) -> pd.DataFrame:
    return pd.read_csv(out / f"{result_stem('tiny-vlm', name)}_score.csv")


def test_mme_acc_and_acc_plus_per_subtask_summed_into_perception_and_cognition(tmp_path):
    # color/1.png: Yes, No both right; color/2.png: Yes right, "Yes" for No wrong
    #   color: acc 3/4 = 75, acc+ 1/2 = 50 -> 125
    # code_reasoning/1.png: "No" for Yes wrong, No right: acc 50, acc+ 0 -> 50
    predictions = {0: "Yes", 1: "No.", 2: "yes, it is", 3: "Yes", 4: "No", 5: "no"}
    scores, out = score_through_worker(tmp_path, "MME", mme(), predictions)
    assert scores["metric"] == "mme_score"
    assert scores["perception"] == 125.0 and scores["cognition"] == 50.0
    assert scores["overall"] == 175.0
    assert scores["by_category"] == {"color": 125.0, "code_reasoning": 50.0}
    assert scores["by_category_acc"] == {"color": 0.75, "code_reasoning": 0.5}
    assert scores["by_category_acc_plus"] == {"color": 0.5, "code_reasoning": 0.0}
    assert scores["accuracy"] == pytest.approx(4 / 6) and scores["n"] == 6
    table = score_csv(out, "MME")
    assert list(table.columns) == ["perception", "reasoning", "color", "code_reasoning"]
    assert table.iloc[0].tolist() == [125.0, 50.0, 125.0, 50.0]
    summary = {k: scores[k] for k in ("metric", "overall", "overall_ci", "n", "unparsed")}
    page = summary_markdown({"model": "m", "run": "r", "datasets": {"MME": summary}}, {})
    low, high = scores["overall_ci"]
    assert f"| MME | mme_score | 175.0 / 2800 | {low:.1f}–{high:.1f} | 6 | 0 |" in page


def test_mme_needs_image_path_to_pair_questions(tmp_path):
    frame = mme().drop(columns=["image_path"])
    with pytest.raises(UsageError, match=r"MME\.tsv: .*column\(s\) image_path"):
        score_through_worker(tmp_path, "MME", frame, dict.fromkeys(range(6), "Yes"))
    with pytest.raises(UsageError, match="'image_path'"):
        score_dataset("yorn", frame.assign(prediction="Yes"), "mme_score")


def test_pope_precision_recall_f1_per_split_and_overall(tmp_path):
    # 0 Yes (random,popular) said Yes; 1 No (random) said Yes; 2 No (adversarial) said No;
    # 3 Yes (adversarial) unreadable. Row 0 counts in both of its splits, overall too:
    #   overall rows: 0,0,1,2,3 -> TP 2, FP 1, FN 1: P = R = F1 = 2/3; acc 3/5
    #   random: rows 0,1 -> TP 1, FP 1: P 1/2, R 1, F1 2/3; acc 1/2
    #   popular: row 0 -> 1, 1, 1; acc 1
    #   adversarial: rows 2,3 -> TP 0, FN 1: 0, 0, 0; acc 1/2
    predictions = {0: "Yes, there is.", 1: "Yes", 2: "No", 3: "I am not sure"}
    scores, out = score_through_worker(tmp_path, "POPE", pope(), predictions)
    assert scores["metric"] == "pope_f1"
    assert scores["overall"] == pytest.approx(2 / 3) == scores["f1"]
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["accuracy"] == pytest.approx(3 / 5)
    assert scores["n"] == 4 and scores["unparsed"] == 1
    assert scores["splits"]["random"] == pytest.approx(
        {"accuracy": 0.5, "precision": 0.5, "recall": 1.0, "f1": 2 / 3, "n": 2}
    )
    assert scores["splits"]["popular"] == {
        "accuracy": 1.0,
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "n": 1,
    }
    assert scores["splits"]["adversarial"] == {
        "accuracy": 0.5,
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "n": 2,
    }
    table = score_csv(out, "POPE")
    assert list(table.columns) == ["split", "Overall", "acc", "precision", "recall"]
    assert table["split"].tolist() == ["Overall", "adversarial", "popular", "random"]
    assert table["Overall"].tolist() == pytest.approx([200 / 3, 0.0, 100.0, 200 / 3])
    assert table["acc"].tolist() == pytest.approx([60.0, 50.0, 100.0, 50.0])
    assert table["precision"].tolist() == pytest.approx([200 / 3, 0.0, 100.0, 50.0])
    assert table["recall"].tolist() == pytest.approx([200 / 3, 0.0, 100.0, 100.0])


def test_hallusionbench_question_figure_and_pair_accuracy(tmp_path):
    # a VD_chart_1_0_0_0 Yes: right   (set 0, figure 0, question 0)
    # b VD_chart_1_0_1_0 No:  wrong   (set 0, figure 1, question 0)
    # c VD_chart_1_0_0_1 No:  right   (set 0, figure 0, question 1)
    # d VS_table_0_3_0_0 Yes: right   (set 3, figure 0, question 0)
    # aAcc 3/4; figures (chart,0,0)={a,c} ok, (chart,0,1)={b} no, (table,3,0)={d} ok -> 2/3;
    # questions (chart,0,0)={a,b} no, (chart,0,1)={c} ok, (table,3,0)={d} ok -> 2/3
    predictions = {
        "VD_chart_1_0_0_0": "Yes",
        "VD_chart_1_0_1_0": "Yes, it is red.",
        "VD_chart_1_0_0_1": "No",
        "VS_table_0_3_0_0": "yes",
    }
    scores, out = score_through_worker(tmp_path, "HallusionBench", hallusion(), predictions)
    assert scores["metric"] == "hallusion_accuracy"
    assert scores["aAcc"] == 0.75
    assert scores["fAcc"] == pytest.approx(2 / 3) and scores["qAcc"] == pytest.approx(2 / 3)
    assert scores["overall"] == pytest.approx((0.75 + 2 / 3 + 2 / 3) / 3)
    assert scores["by_category"]["VD"] == pytest.approx({"aAcc": 2 / 3, "fAcc": 0.5, "qAcc": 0.5})
    assert scores["by_category"]["VS"] == {"aAcc": 1.0, "fAcc": 1.0, "qAcc": 1.0}
    assert scores["by_l2_category"]["chart"] == scores["by_category"]["VD"]
    table = score_csv(out, "HallusionBench")
    assert list(table.columns) == ["split", "aAcc", "fAcc", "qAcc"]
    assert table["split"].tolist() == ["Overall", "VD", "VS", "chart", "table"]
    assert table.iloc[0].tolist()[1:] == pytest.approx([75.0, 200 / 3, 200 / 3])
    assert table.iloc[1].tolist()[1:] == pytest.approx([200 / 3, 50.0, 50.0])
    lines = (out / "predictions.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["source_index"] for r in records] == list(hallusion()["index"])
    assert [r["index"] for r in records] == [0, 1, 2, 3]


def test_hallusionbench_index_must_name_set_figure_and_question(tmp_path):
    frame = hallusion()
    frame.loc[0, "index"] = "VD_chart_0"
    frame.loc[2, "image"] = frame.loc[1, "image"]
    with pytest.raises(UsageError, match="'VD_chart_0' does not read"):
        score_through_worker(
            tmp_path, "HallusionBench", frame, dict.fromkeys(frame["index"], "Yes")
        )
