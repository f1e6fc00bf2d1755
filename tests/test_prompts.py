"""Prompts are byte-for-byte VLMEvalKit's, so scores compare with published numbers."""

from __future__ import annotations

import math

from vlmeval_core.datasets.prompts import build_prompt
from vlmeval_core.prompt_families import FAMILIES, Benchmark, build_messages


def test_mcq_prompt_with_hint_and_options():
    row = {
        "question": "What is shown?",
        "hint": "Look closely.",
        "A": "a cat",
        "B": "a dog",
        "C": math.nan,
        "answer": "B",
    }
    assert build_prompt("mcq", row) == (
        "Hint: Look closely.\nQuestion: What is shown?\nOptions:\nA. a cat\nB. a dog\n"
        "Please select the correct answer from the options above. \n"
    )


def test_mcq_prompt_without_hint():
    row = {"question": "Q?", "hint": math.nan, "A": "x", "B": "y"}
    assert build_prompt("mcq", row).startswith("Question: Q?\nOptions:\nA. x\nB. y\n")


def test_yes_no_and_vqa_suffixes():
    assert build_prompt("yorn", {"question": "Is it red?"}) == (
        "Is it red? Please answer yes or no."
    )
    assert build_prompt("vqa", {"question": "What colour?"}) == (
        "What colour?\nAnswer the question using a single word or phrase."
    )


def test_images_come_first_in_order():
    benchmark = Benchmark("ShapesVQA", "vqa", "vqa")
    content = build_messages(FAMILIES["dataset"], benchmark, {"question": "Q?"}, ["i1", "i2"])
    assert content == [
        {"type": "image", "value": "i1"},
        {"type": "image", "value": "i2"},
        {"type": "text", "value": "Q?\nAnswer the question using a single word or phrase."},
    ]
