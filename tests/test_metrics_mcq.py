"""Multiple-choice benchmarks scored as VLMEvalKit scores them without a judge, by hand.

Each test writes a small TSV in the benchmark's layout, puts predictions in a rank
checkpoint and scores it through the worker's merge step, then checks scores.json and
VLMEvalKit's ``<model>_<dataset>_acc.csv`` against numbers worked out in the comments.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from catalog_fixtures import GREEN, mmbench, mmmu, plain_mcq, scienceqa, score_through_worker
from vlmeval_core.datasets.prompts import interleave
from vlmeval_core.datasets.tsv import load_tsv
from vlmeval_core.prompt_families import FAMILIES, item_messages
from vlmeval_core.report import result_stem


def acc_csv(out, name: str) -> pd.DataFrame:
    return pd.read_csv(out / f"{result_stem('tiny-vlm', name)}_acc.csv")


@pytest.mark.parametrize(
    "name", ["MMBench_DEV_EN", "MMBench_DEV_CN", "MMBench_DEV_EN_V11", "MMBench_DEV_CN_V11"]
)
def test_mmbench_counts_a_question_only_if_every_rotation_is_right(tmp_path, name):
    # q0 (index 0, rotation 1000000): A then D, both right -> hit
    # q1 (index 1, rotation 1000001): A right, then B where D is right -> miss
    predictions = {0: "A", 1_000_000: "D. red", 1: "(A) square", 1_000_001: "The answer is B"}
    scores, out = score_through_worker(tmp_path, name, mmbench(name), predictions)
    assert scores["metric"] == "circular_accuracy"
    assert scores["overall"] == 0.5  # 1 of 2 questions
    assert scores["n"] == 2 and scores["n_rows"] == 4
    assert scores["vanilla_accuracy"] == 0.75  # 3 of 4 rows on their own
    assert scores["unparsed"] == 0
    assert scores["by_category"] == {"attribute_recognition": 1.0, "object_localization": 0.0}
    assert scores["by_l2_category"] == {
        "coarse_perception": 0.0,
        "finegrained_perception (instance-level)": 1.0,
    }
    table = acc_csv(out, name)
    # report_acc: split, Overall, the l2-categories (abbreviated, sorted), the categories
    assert list(table.columns) == [
        "split",
        "Overall",
        "CP",
        "FP-S",
        "attribute_recognition",
        "object_localization",
    ]
    assert table.iloc[0].tolist() == ["dev", 0.5, 0.0, 1.0, 1.0, 0.0]


def test_mmbench_an_unreadable_rotation_fails_its_question(tmp_path):
    predictions = {0: "A", 1_000_000: "I cannot tell", 1: "A", 1_000_001: "D"}
    scores, _ = score_through_worker(tmp_path, "MMBench_DEV_EN", mmbench(), predictions)
    assert scores["overall"] == 0.5 and scores["unparsed"] == 1


def test_mmbench_rotations_without_their_main_row_are_left_out(tmp_path):
    frame = mmbench()
    frame = frame[frame["index"] != 1].copy()  # q1's main row is not there (e.g. cut off)
    frame.loc[frame["index"] == 1_000_001, "image"] = GREEN
    predictions = {0: "A", 1_000_000: "D", 1_000_001: "D"}
    scores, _ = score_through_worker(tmp_path, "MMBench_DEV_EN", frame, predictions)
    assert scores["n"] == 1 and scores["overall"] == 1.0 and scores["n_rows"] == 3


@pytest.mark.parametrize("name", ["MMStar", "SEEDBench_IMG", "AI2D_TEST", "RealWorldQA", "A-OKVQA"])
def test_vanilla_multiple_choice_accuracy_overall_and_per_category(tmp_path, name):
    # 0 "A" right; 1 "green" is option B's text, right; 2 "(C) blue" right;
    # 3 "no" is option B's text where A is right -> 3 of 4
    predictions = {0: "A", 1: "green", 2: "(C) blue", 3: "no"}
    scores, out = score_through_worker(tmp_path, name, plain_mcq(name), predictions)
    assert scores["metric"] == "accuracy"
    assert scores["overall"] == 0.75 and scores["n"] == 4 and scores["unparsed"] == 0
    table = acc_csv(out, name)
    if name == "MMStar":
        assert scores["by_category"] == {
            "coarse perception": 1.0,
            "fine-grained": 1.0,
            "logic": 0.0,
        }
        assert list(table.columns) == [
            "split",
            "Overall",
            "attribute",
            "image style",
            "reasoning",
            "coarse perception",
            "fine-grained",
            "logic",
        ]
        assert table.iloc[0].tolist() == ["none", 0.75, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0]
    else:
        assert list(table.columns)[:2] == ["split", "Overall"]
        assert table.iloc[0]["Overall"] == 0.75


@pytest.mark.parametrize("name", ["ScienceQA_VAL", "ScienceQA_TEST"])
def test_scienceqa_leaves_out_rows_without_an_image(tmp_path, name):
    # index 12 has no image: VLMEvalKit drops it. 10 right, 11 wrong (B for C), 13 right.
    predictions = {10: "A", 11: "B", 12: "B", 13: "A. square"}
    scores, out = score_through_worker(tmp_path, name, scienceqa(name), predictions)
    assert scores["n"] == 3
    assert scores["overall"] == pytest.approx(2 / 3)
    assert scores["by_category"] == {"colors": 0.5, "shapes": 1.0}
    assert acc_csv(out, name).iloc[0].tolist() == ["none", pytest.approx(2 / 3), 0.5, 1.0]


def test_mmmu_scores_the_validation_split_per_subject(tmp_path):
    # 1 (dev) right; 2 (validation) right; 3 (validation, open, answer "4"): VLMEvalKit
    # makes it A="4" / B="Other Answers" with answer A, and "4" reads as A -> right;
    # 4 (validation) "A" where C is right -> wrong. Validation: 2 of 3.
    predictions = {1: "A", 2: "B", 3: "4", 4: "A"}
    scores, out = score_through_worker(tmp_path, "MMMU_DEV_VAL", mmmu(), predictions)
    assert scores["metric"] == "mmmu_accuracy"
    assert scores["overall"] == pytest.approx(2 / 3) and scores["overall_split"] == "validation"
    assert scores["n"] == 4 and scores["n_overall"] == 3
    assert scores["by_split"] == pytest.approx({"dev": 1.0, "validation": 2 / 3})
    assert scores["by_category"] == {"Art": 1.0, "Math": 0.5}  # validation items only
    assert scores["accuracy_all"] == 0.75
    table = acc_csv(out, "MMMU_DEV_VAL")
    assert list(table.columns) == ["split", "Overall", "Art", "Math"]
    assert table["split"].tolist() == ["dev", "validation"]
    assert table["Overall"].tolist() == pytest.approx([1.0, 2 / 3])
    assert table["Art"].tolist() == [1.0, 1.0]
    assert math.isnan(table["Math"][0]) and table["Math"][1] == 0.5


def test_mmmu_without_validation_items_falls_back_to_all(tmp_path):
    frame = mmmu().iloc[:1]
    scores, _ = score_through_worker(tmp_path, "MMMU_DEV_VAL", frame, {1: "A"})
    assert scores["overall"] == 1.0 and scores["overall_split"] == "all"


def test_mmmu_prompts_put_each_image_where_the_text_names_it(tmp_path):
    path = tmp_path / "MMMU_DEV_VAL.tsv"
    mmmu().to_csv(path, sep="\t", index=False)
    dataset = load_tsv(path, "MMMU_DEV_VAL", "mcq")
    text = dataset.prompt(1)
    assert text == (
        "Question: Compare <image 1> and <image 2>: which is green?\nOptions:\n"
        "A. the first\nB. the second\nPlease select the correct answer from the options above. \n"
    )
    images = dataset.images(1)  # a Python list literal of two base64 images
    assert [im.getpixel((0, 0)) for im in images] == [(200, 40, 40), (40, 170, 60)]
    content = item_messages(FAMILIES["dataset"], dataset, 1, images)
    assert [c["type"] for c in content] == ["text", "image", "text", "image", "text"]
    assert content[0]["value"] == "Question: Compare "
    assert content[1]["value"] is images[0] and content[3]["value"] is images[1]
    assert content[2]["value"] == " and "
    assert content[4]["value"].startswith(": which is green?\nOptions:")
    # an open question has no options and its one image follows "<image 1>"
    open_q = item_messages(FAMILIES["dataset"], dataset, 2, dataset.images(2))
    assert open_q[0]["value"] == "Question: How many sides has the shape in "
    assert open_q[1]["type"] == "image" and open_q[2]["value"] == "?\n"


def test_interleaving_leaves_other_prompts_alone():
    unnamed = interleave(["a", "b"], "no placeholder")
    assert [c["type"] for c in unnamed] == ["image", "image", "text"]
    missing = interleave(["a"], "x <image 1> y <image 3> z")
    assert [c["value"] for c in missing] == ["x ", "a", " y <image 3> z"]
