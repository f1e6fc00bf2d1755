"""The judged metrics with a scripted judge: rules first, the judge only where they fail, with
VLMEvalKit's prompts, tries, temperatures, token limits, fallbacks and tables."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from scripted_judge import ScriptedJudge
from vlmeval_core.errors import UsageError
from vlmeval_core.judge import mathvista as judged_mathvista
from vlmeval_core.judge import mcq as judged_mcq
from vlmeval_core.judge import mmvet as judged_mmvet
from vlmeval_core.judge.judged import FAIL_MSG
from vlmeval_core.judge.prompts import mathvista_prompt, mcq_prompt, mmvet_prompt, yorn_prompt
from vlmeval_core.scoring import TABLE, score_dataset
from vlmeval_core.scoring.driver import score_frame

OPTIONS = {"A": "cat", "B": "dog", "C": "bird"}


def _mcq(index: int, prediction: str, answer: str = "A", question: str = "What is it") -> dict:
    return {"index": index, "question": question, **OPTIONS, "answer": answer,
            "prediction": prediction}  # fmt: skip


def test_mcq_asks_only_what_the_rules_cannot_read_and_reads_the_reply_by_the_rules():
    rows = [_mcq(1, "A"), _mcq(2, "It looks like a feline to me"), _mcq(3, "B")]
    feline = mcq_prompt("What is it", OPTIONS, "It looks like a feline to me")
    judge = ScriptedJudge({feline: ["The answer is A."]})

    result = score_dataset("mcq", pd.DataFrame(rows), judge=judge)

    assert [c[0] for c in judge.calls] == [feline]
    assert judge.calls[0][1:] == (0, judged_mcq.MAX_TOKENS, 0)
    assert result.items["parsed"].tolist() == ["A", "A", "B"]
    assert result.items["correct"].tolist() == [True, True, False]
    assert result.scores["judge_fallbacks"] == 0 and result.scores["unparsed"] == 0
    assert result.items["log"].tolist()[1] == "The answer is A."


def test_mcq_tries_three_times_then_draws_a_seeded_letter_and_counts_the_fallback():
    rows = [_mcq(7, "no idea at all"), _mcq(8, "none of them, sorry")]
    judge = ScriptedJudge(default="I cannot say")
    first = score_dataset("mcq", pd.DataFrame(rows), judge=judge)
    again = score_dataset("mcq", pd.DataFrame(rows), judge=ScriptedJudge(default=FAIL_MSG))

    assert [c[3] for c in judge.calls] == [0, 1, 2, 0, 1, 2]
    assert first.scores["judge_fallbacks"] == 2
    assert set(first.items["parsed"]) <= {"A", "B", "C", "Z"}
    assert first.items["parsed"].tolist() == again.items["parsed"].tolist()  # seeded by index
    assert first.items["log"].tolist() == [judged_mcq.RANDOM_LOG] * 2


def test_a_chinese_question_gets_the_chinese_prompt():
    judge = ScriptedJudge(default="B")
    score_dataset("mcq", pd.DataFrame([_mcq(1, "一只狗", "B", "图中是什么")]), judge=judge)
    assert judge.calls[0][0].startswith("你是一个帮助我匹配答案")


def _rotations(question: int, predictions: list[str], answers: list[str]) -> list[dict]:
    return [
        _mcq(question + k * 1_000_000, p, a)
        for k, (p, a) in enumerate(zip(predictions, answers, strict=True))
    ]


def test_circular_judges_only_open_questions_and_stops_at_the_first_row_judged_wrong():
    rows = [
        *_rotations(1, ["A", "B"], ["A", "B"]),  # all read right: a hit, no judge
        *_rotations(2, ["C", "hmm"], ["A", "B"]),  # a row read wrong: a miss, no judge
        *_rotations(3, ["hmm one", "hmm two", "hmm three"], ["A", "B", "C"]),
    ]
    one = mcq_prompt("What is it", OPTIONS, "hmm one")
    two = mcq_prompt("What is it", OPTIONS, "hmm two")
    judge = ScriptedJudge({one: ["A"], two: ["C"]})

    result = score_dataset("mcq", pd.DataFrame(rows), "circular_accuracy", judge=judge)

    assert [c[0] for c in judge.calls] == [one, two]  # "hmm three" is never asked
    assert result.scores["overall"] == pytest.approx(1 / 3)
    assert result.scores["n"] == 3


def test_yes_no_tries_five_temperatures_then_stays_unknown():
    rows = [
        {"index": 1, "question": "Is it red", "answer": "Yes", "prediction": "Yes"},
        {"index": 2, "question": "Is it blue", "answer": "No", "prediction": "hard to say"},
        {"index": 3, "question": "Is it big", "answer": "Yes", "prediction": "maybe"},
    ]
    judge = ScriptedJudge({yorn_prompt("Is it blue", "hard to say"): ["unclear", "No"]})
    result = score_dataset("yorn", pd.DataFrame(rows), judge=judge)

    temperatures = [c[1] for c in judge.calls if c[0] == yorn_prompt("Is it big", "maybe")]
    assert temperatures == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert result.items["parsed"].tolist() == ["Yes", "No", None]
    assert result.scores["judge_fallbacks"] == 1 and result.scores["unparsed"] == 1
    assert result.scores["overall"] == pytest.approx(2 / 3)


def test_an_item_that_failed_is_never_judged():
    row = {**_mcq(1, "whatever"), "error": "image could not be decoded"}
    judge = ScriptedJudge(default="A")
    result = score_dataset("mcq", pd.DataFrame([row]), judge=judge)
    assert judge.calls == [] and result.scores["errors"] == 1
    assert result.items["correct"].tolist() == [False]


def _mathvista(index: int, prediction: str, **row: str) -> dict:
    base = {"index": index, "question": f"Q{index}?", "answer": "3",
            "question_type": "free_form", "answer_type": "integer", "choices": "[]",
            "answer_option": "", "task": "math word problem",
            "skills": "['arithmetic reasoning']", "prediction": prediction}  # fmt: skip
    return {**base, **row}


def test_mathvista_prefetches_then_asks_at_rising_temperatures_and_checks_the_answer():
    rows = [
        _mathvista(1, "3"),  # prefetched
        _mathvista(2, "there are three", task="figure qa"),  # judge says 3
        _mathvista(3, "dunno"),  # every try fails: ''
        _mathvista(
            4,
            "the second one",
            question_type="multi_choice",
            answer_type="text",
            choices="['cat', 'dog']",
            answer_option="B",
            answer="dog",
            skills="['algebraic reasoning', 'arithmetic reasoning']",
        ),
        _mathvista(5, "a list", answer_type="list", answer="[1, 2]"),  # never credited
    ]
    judge = ScriptedJudge(
        {
            mathvista_prompt("Q2?", "there are three"): [FAIL_MSG, "3"],
            mathvista_prompt("Q3?", "dunno"): [FAIL_MSG],
            mathvista_prompt("Q4?", "the second one"): ["B"],
            mathvista_prompt("Q5?", "a list"): ["[1, 2]"],
        }
    )
    result = score_dataset("vqa", pd.DataFrame(rows), "mathvista_accuracy", judge=judge)

    assert {c[2] for c in judge.calls} == {judged_mathvista.MAX_TOKENS}
    assert [c[1] for c in judge.calls if c[0].endswith("dunnoExtracted answer:")] == [
        0.0, 0.5, 1.0, 1.5, 2.0]  # fmt: skip
    assert result.items["correct"].tolist() == [True, True, False, True, False]
    assert result.items["log"].tolist()[:3] == [
        "Prefetch succeed",
        "Try 0: output is there are three, failed to parse.\nSucceed",
        "".join(f"Try {i}: output is dunno, failed to parse.\n" for i in range(5))
        + "All 5 retries failed.\n",
    ]
    assert result.scores["judge_fallbacks"] == 1
    table = result.table.set_index("Task&Skill")
    assert table.index.tolist()[:3] == ["Overall", "arithmetic reasoning", "math word problem"]
    assert table.loc["Overall", "tot"] == 5 and table.loc["Overall", "hit"] == 3
    assert table.loc["Overall", "prefetch_rate"] == pytest.approx(20.0)
    assert result.scores["by_task"]["figure qa"] == 1.0
    assert result.scores["prefetch_rate"] == pytest.approx(0.2)


def test_mmvet_asks_every_item_and_keeps_the_first_score_in_range():
    rows = [
        {"index": 1, "question": "Q1?", "answer": "a<AND>b", "category": "rec,ocr",
         "prediction": "a"},
        {"index": 2, "question": "Q2?", "answer": "x", "category": "ocr", "prediction": "x"},
        {"index": 3, "question": "Q3?", "answer": "y", "category": "math", "prediction": "?"},
    ]  # fmt: skip
    judge = ScriptedJudge(
        {
            mmvet_prompt("Q1?", "a<AND>b", "a"): ["0.5"],
            mmvet_prompt("Q2?", "x", "x"): ["1.5", "one", "1.0"],
            mmvet_prompt("Q3?", "y", "?"): ["x"],
        }
    )
    result = score_dataset("vqa", pd.DataFrame(rows), "mmvet_score", judge=judge)

    assert {c[2] for c in judge.calls} == {judged_mmvet.MAX_TOKENS}
    assert result.items["score"].tolist() == [0.5, 1.0, 0.0]
    assert result.items["log"].tolist()[1] == (
        "Try 0: output is 1.5, invalid score: 1.5.\nTry 1: output is one, failed to parse.\nSucceed"
    )
    assert result.scores["judge_fallbacks"] == 1
    assert result.scores["overall"] == pytest.approx(0.5)
    capability = result.table.set_index("Category")
    # an item whose category is one capability counts twice for it, as in MMVet_acc
    assert capability.loc["ocr", "tot"] == 3
    assert capability.loc["ocr", "acc"] == pytest.approx((0.5 + 1.0 + 1.0) / 3 * 100)
    assert np.isnan(capability.loc["know", "acc"])
    fine = result.more_tables["_score_fine"]
    assert fine["Category"].tolist() == ["rec_ocr", "ocr", "math", "Overall"]


@pytest.mark.parametrize("metric", [m for m in TABLE if m.needs_judge], ids=lambda m: m.name)
def test_a_metric_that_needs_a_judge_refuses_to_score_without_one(metric):
    with pytest.raises(UsageError, match="needs a judge model: give --judge MODEL"):
        score_frame(metric, pd.DataFrame([_mathvista(1, "3")]))


def test_judged_metrics_have_intervals_around_their_figures():
    rng = random.Random(3)
    rows = [_mathvista(i, rng.choice(["3", "4"])) for i in range(60)]
    scores = score_dataset(
        "vqa", pd.DataFrame(rows), "mathvista_accuracy", judge=ScriptedJudge(default="4")
    ).scores
    low, high = scores["overall_ci"]
    assert low <= scores["overall"] <= high and low < high
