"""Prompt families (issue 10, point 2): for each registered benchmark, the messages each
family's VLMEvalKit class builds (main e8e78f05: ``use_custom_prompt``/``build_prompt``),
and the dataset's prompt exactly where the class declines. Each expectation cites its
file in VLMEvalKit; ``make test-parity`` also runs the Qwen2-VL mixin itself."""

from __future__ import annotations

import pytest

from vlmeval_core.datasets.registry import DATASETS
from vlmeval_core.prompt_families import FAMILIES, Benchmark, build_messages

IMG = ["img-1"]
MCQ_ROW = {"question": "What is it?", "hint": "Look.", "A": "cat", "B": "dog", "answer": "A"}
CN_ROW = {"question": "这是什么？", "A": "猫", "B": "狗", "answer": "A"}
Q = {"question": "Is there a cat?"}
REGISTERED = [n for n, e in DATASETS.items() if e.source == "download"]


def bench(name: str) -> Benchmark:
    entry = DATASETS[name]
    return Benchmark(name, entry.kind, entry.prompt_style)


def text_of(family: str, name: str, row: dict, images: list | None = None) -> str:
    messages = build_messages(FAMILIES[family], bench(name), row, images or IMG)
    return "".join(m["value"] for m in messages if m["type"] == "text")


def test_twenty_two_registered_benchmarks():
    assert len(REGISTERED) == 22


# ---------------------------------------------- Qwen2-VL: vlmeval/vlm/qwen2_vl/prompt.py
def test_qwen2_vl_multiple_choice_ends_at_the_instruction_without_trailing_space():
    for name in REGISTERED:
        if DATASETS[name].kind == "mcq" and name != "MMMU_DEV_VAL":
            assert text_of("qwen2-vl", name, MCQ_ROW) == (
                "Hint: Look.\nQuestion: What is it?\nOptions:\nA. cat\nB. dog\n"
                "Please select the correct answer from the options above."
            )
    assert text_of("qwen2-vl", "MMBench_DEV_CN", CN_ROW).endswith("B. 狗\n请直接回答选项字母。")


def test_qwen2_vl_yes_no_and_open_answers():
    for name in ("POPE", "HallusionBench"):
        assert text_of("qwen2-vl", name, Q) == "Is there a cat? Please answer yes or no."
    assert text_of("qwen2-vl", "MME", Q) == "Is there a cat?"  # MME keeps the dataset's prompt
    for name in ("TextVQA_VAL", "DocVQA_VAL", "InfoVQA_VAL", "ChartQA_TEST", "OCRBench"):
        assert text_of("qwen2-vl", name, Q) == (
            "Is there a cat?\nPlease try to answer the question with short words or phrases "
            "if possible."
        )


def test_qwen2_vl_keeps_every_mmmu_image_first():
    row = {"question": "Compare <image 1> and <image 2>", "A": "x", "B": "y"}
    messages = build_messages(FAMILIES["qwen2-vl"], bench("MMMU_DEV_VAL"), row, ["i1", "i2"])
    assert [m["type"] for m in messages] == ["image", "image", "text"]
    assert messages[-1]["value"] == (
        "Question: Compare <image 1> and <image 2>\nOptions:\nA. x\nB. y\n"
        "Please select the correct answer from the options above."
    )
    # the dataset prompt (and Qwen2.5-VL, use_custom_prompt=False) interleaves them
    dataset = build_messages(FAMILIES["qwen2.5-vl"], bench("MMMU_DEV_VAL"), row, ["i1", "i2"])
    assert [m["type"] for m in dataset] == ["text", "image", "text", "image", "text"]


def test_qwen2_5_vl_takes_the_dataset_prompt_everywhere():
    for name in REGISTERED:
        for row in (MCQ_ROW, Q):
            if DATASETS[name].kind == "mcq" or "A" not in row:
                assert text_of("qwen2.5-vl", name, row) == text_of("dataset", name, row)


# ------------------------------------ InternVL: vlmeval/vlm/internvl/internvl_chat.py, utils.py
def test_internvl_puts_its_text_first_and_its_own_instructions():
    messages = build_messages(FAMILIES["internvl"], bench("MMStar"), MCQ_ROW, IMG)
    assert messages == [
        {
            "type": "text",
            "value": "Look.\nWhat is it?\nA. cat\nB. dog\n"
            "Answer with the option's letter from the given choices directly.",
        },
        {"type": "image", "value": "img-1"},
    ]
    assert text_of("internvl", "MMBench_DEV_CN", CN_ROW).endswith("\n请直接回答选项字母。")
    short = " Answer the question using a single word or phrase."
    assert text_of("internvl", "MME", Q) == "Is there a cat?" + short
    assert text_of("internvl", "HallusionBench", Q) == (
        "Is there a cat? Please answer yes or no." + short
    )
    assert text_of("internvl", "POPE", Q) == "Is there a cat?"
    for name in ("TextVQA_VAL", "DocVQA_VAL", "InfoVQA_VAL", "ChartQA_TEST", "OCRBench"):
        assert text_of("internvl", name, Q) == "Is there a cat?\n" + short.strip()


# ------------------------------------------------------ LLaVA: vlmeval/vlm/llava/llava.py
def test_llava_1_5_has_its_own_multiple_choice_prompt_only():
    assert text_of("llava-1.5", "AI2D_TEST", MCQ_ROW) == (
        "Look.\nWhat is it?\nA. cat\nB. dog\n"
        "Answer with the option's letter from the given choices directly."
    )
    for name in ("MME", "POPE", "TextVQA_VAL", "OCRBench"):
        assert text_of("llava-1.5", name, Q) == text_of("dataset", name, Q)


@pytest.mark.parametrize("family", ["llava-onevision", "idefics3", "smolvlm", "gemma3"])
def test_families_whose_class_declines_send_the_dataset_prompt(family):
    for name in REGISTERED:
        row = MCQ_ROW if DATASETS[name].kind == "mcq" else Q
        images = ["i1", "i2"]
        assert build_messages(FAMILIES[family], bench(name), row, images) == build_messages(
            FAMILIES["dataset"], bench(name), row, images
        )


def test_gemma3_adds_vlmevalkits_system_prompt():
    """vlmeval/vlm/gemma.py Gemma3: system_prompt 'You are a helpful assistant. '."""
    assert FAMILIES["gemma3"].system_prompt == "You are a helpful assistant. "
    assert all(f.system_prompt is None for n, f in FAMILIES.items() if n != "gemma3")


# ---------------------------------------------------------------- the dataset's own prompt
def test_the_dataset_family_keeps_the_prompts_tiny_vlm_was_trained_with():
    shapes = Benchmark("ShapesMCQ", "mcq", "mcq")
    messages = build_messages(FAMILIES["dataset"], shapes, {"question": "Q?", "A": "a"}, IMG)
    assert messages == [
        {"type": "image", "value": "img-1"},
        {
            "type": "text",
            "value": "Question: Q?\nOptions:\nA. a\n"
            "Please select the correct answer from the options above. \n",
        },
    ]
    yorn = Benchmark("ShapesYN", "yorn", "yorn")
    assert build_messages(FAMILIES["dataset"], yorn, Q, IMG)[-1]["value"] == (
        "Is there a cat? Please answer yes or no."
    )


def test_a_placeholder_outside_mmmu_is_plain_text():
    row = {"question": "<image 1> plain"}
    messages = build_messages(FAMILIES["dataset"], bench("TextVQA_VAL"), row, ["i1"])
    assert [m["type"] for m in messages] == ["image", "text"]


def test_a_hint_cell_that_holds_only_spaces_is_still_a_hint():
    """VLMEvalKit's ImageMCQDataset.build_prompt tests only ``pd.isna(line['hint'])``."""
    row = {"question": "Q?", "hint": " ", "A": "x", "B": "y"}
    assert text_of("dataset", "MMStar", row).startswith("Hint:  \nQuestion: Q?\n")
    assert text_of("qwen2-vl", "MMStar", row).startswith("Hint:  \nQuestion: Q?\n")


def test_internvl_leaves_mmmu_placeholders_in_its_text_before_the_images():
    row = {"question": "Compare <image 1> and <image 2>", "A": "x", "B": "y"}
    messages = build_messages(FAMILIES["internvl"], bench("MMMU_DEV_VAL"), row, ["i1", "i2"])
    assert [m["type"] for m in messages] == ["text", "image", "image"]
    assert messages[0]["value"].startswith("Compare <image 1> and <image 2>\nA. x\nB. y\n")


def test_every_family_reads_the_same_options_as_the_dataset_prompt():
    """One reading of the option columns (datasets/prompts.py ``options_of``): set cells in
    letter order, a number as its text, an empty (NaN) cell and a missing column left out."""
    row = {"question": "How many?", "A": 3, "B": float("nan"), "C": 4.5, "E": "five"}
    shown = "A. 3\nC. 4.5\nE. five\n"
    assert shown in text_of("dataset", "MMStar", row)
    assert shown in text_of("qwen2-vl", "MMStar", row)
    assert "\nA. 3\nC. 4.5\nE. five\n" in text_of("internvl", "MMStar", row)


def test_a_benchmarks_type_is_the_kind_label_the_registry_shows():
    from vlmeval_core.datasets.registry import KINDS

    assert {kind: Benchmark("X", kind, kind).type for kind in KINDS} == {
        "mcq": "MCQ",
        "yorn": "Y/N",
        "vqa": "VQA",
    }


# ------------------- InternVL: generate_v2's reorganize_prompt (vlmeval/vlm/internvl/utils.py)
def as_vlmevalkit_prompt(messages: list[dict]) -> str:
    """The messages as InternVLChat's prompt string: an image part is ``<image>\\n``, as the
    -hf chat template writes it (``<IMG_CONTEXT>\\n``)."""
    return "".join("<image>\n" if m["type"] == "image" else m["value"] for m in messages)


def reorganized(name: str, messages: list[dict]) -> list[dict]:
    family = FAMILIES["internvl"]
    assert family.arrange is not None
    return family.arrange(messages, Benchmark(name, "mcq", "mcq"))


def test_internvl_shows_its_model_one_image_first_and_the_texts_joined_by_newlines():
    messages = [
        {"type": "text", "value": "What is it?"},
        {"type": "image", "value": "i1"},
        {"type": "text", "value": "Answer directly."},
    ]
    arranged = reorganized("MMStar", messages)
    assert arranged[0] == {"type": "image", "value": "i1"}
    assert as_vlmevalkit_prompt(arranged) == "<image>\nWhat is it?\nAnswer directly."


def test_internvl_numbers_several_images_first_and_drops_their_adjacent_marks():
    row = {"question": "Compare <image 1> and <image 2>", "A": "x", "B": "y"}
    built = build_messages(FAMILIES["internvl"], bench("MMMU_DEV_VAL"), row, ["i1", "i2"])
    arranged = reorganized("MMMU_DEV_VAL", built)
    assert [m["value"] for m in arranged if m["type"] == "image"] == ["i1", "i2"]
    assert as_vlmevalkit_prompt(arranged) == (
        "Image-1: <image>\nImage-2: <image>\n" + built[0]["value"]
    )
    interleaved = [
        {"type": "text", "value": "First "},
        {"type": "image", "value": "i1"},
        {"type": "text", "value": " then "},
        {"type": "image", "value": "i2"},
    ]
    assert as_vlmevalkit_prompt(reorganized("MMStar", interleaved)) == (
        "Image-1: <image>\nImage-2: <image>\nFirst <Image-1> then <Image-2>"
    )


def test_internvl_numbers_muirbench_image_marks():
    messages = [
        {"type": "text", "value": "<image> <image> Which differs, <image> or <image>?"},
        {"type": "image", "value": "i1"},
        {"type": "image", "value": "i2"},
    ]
    assert as_vlmevalkit_prompt(reorganized("MUIRBench", messages)) == (
        "Image-1: <image>\nImage-2: <image>\n Which differs, <Image-1> or <Image-2>?"
    )
