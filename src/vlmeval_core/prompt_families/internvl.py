"""InternVL: ``InternVLChat.build_prompt`` (vlmeval/vlm/internvl/internvl_chat.py, e8e78f05)
with ``build_multi_choice_prompt`` (utils.py); no MPO or CoT prompt (``USE_COT`` unset).
The prompt has the text first, then the images; ``generate_v2`` then reorganises it
(``reorganize_prompt``, utils.py) so that its model sees the images first."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from vlmeval_core.datasets.prompts import options_of
from vlmeval_core.prompt_families.family import (
    Benchmark,
    Message,
    PromptFamily,
    cn_string,
    hint,
)

DECLINED = ("MMDU", "MME-RealWorld", "MME-RealWorld-CN", "WeMath_COT", "MMAlignBench",
            "ChartQAPro", "ChartMuseum", "MMSIVideo_U50", "MMSIVideo_SC")  # fmt: skip
SHORT = " Answer the question using a single word or phrase."
VQA_SHORT = "\nAnswer the question using a single word or phrase."
VQA_DETAIL = ("LLaVABench", "WildVision")
VQA_BARE = ("MathVista", "MathVision", "VCR", "MTVQA", "MMVet", "MMDU", "CRPE", "MIA-Bench",
            "MM-Math", "DynaMath", "QSpatial", "WeMath", "LogicVista", "MM-IFEval",
            "ChartMimic", "MMReason")  # fmt: skip


def _any_in(names: Iterable[str], dataset: str) -> bool:
    """VLMEvalKit's ``listinstr``: a substring test."""
    return any(n in dataset for n in names)


def multi_choice_prompt(row: Mapping[str, Any]) -> str:
    question = str(row["question"])
    if hint(row) is not None:
        question = f"{hint(row)}\n{question}"
    found = options_of(row)
    for key, item in found.items():
        question += f"\n{key}. {item}"
    if found:
        return question + (
            "\n请直接回答选项字母。"
            if cn_string(question)
            else "\nAnswer with the option's letter from the given choices directly."
        )
    if cn_string(question):
        return question + "\n请直接回答问题。"
    return question + "\nAnswer the question directly."


def _text(row: Mapping[str, Any], benchmark: Benchmark) -> str:
    name, question = benchmark.name, str(row["question"])
    if benchmark.type == "Y/N":
        if _any_in(["MME"], name):
            return question + SHORT
        if _any_in(["HallusionBench", "AMBER"], name):
            return question + " Please answer yes or no." + SHORT
        return question
    if benchmark.type == "MCQ":
        return multi_choice_prompt(row)
    if _any_in(VQA_DETAIL, name):
        return question + "\nAnswer this question in detail."
    if _any_in(["MathVerse"], name):
        return question.replace("please directly answer the question and", "please")
    if _any_in(VQA_BARE, name):
        return question
    return question + VQA_SHORT


def build(row: Mapping[str, Any], benchmark: Benchmark, images: list[Any]) -> list[Message] | None:
    name = benchmark.name
    if (
        name == "SSI_Bench"
        or _any_in(DECLINED, name)
        or (benchmark.type == "MCQ" and "LEGO" in name)
    ):
        return None
    return [{"type": "text", "value": _text(row, benchmark)}] + [
        {"type": "image", "value": i} for i in images
    ]


def _numbered(images: list[Message]) -> list[Message]:
    """``Image-k: <image>\n`` for each image: the -hf chat template writes an image part as
    ``<IMG_CONTEXT>\n``, as InternVLChat's ``chat`` expands ``<image>``."""
    parts: list[Message] = []
    for number, image in enumerate(images, 1):
        parts += [{"type": "text", "value": f"Image-{number}: "}, image]
    return parts


def reorganize(messages: list[Message], benchmark: Benchmark) -> list[Message]:
    """``reorganize_prompt(message, image_num, dataset)``: one image as ``<image>\n`` and the
    texts joined by newlines; several as ``Image-k: <image>`` lines, then the texts joined
    with each image's ``<Image-k>`` mark where it stood (the marks, all adjacent, dropped);
    MUIRBench's ``<image>`` marks numbered instead."""
    images = [m for m in messages if m["type"] == "image"]
    texts = [m["value"] for m in messages if m["type"] == "text"]
    if _any_in(["MUIRBench"], benchmark.name):
        prompt = "\n".join(texts).replace(" ".join(["<image>"] * len(images)), "")
        for number in range(1, len(images) + 1):
            prompt = prompt.replace("<image>", f"<Image-{number}>", 1)
        return [*_numbered(images), {"type": "text", "value": prompt}]
    if len(images) == 1:
        return [images[0], {"type": "text", "value": "\n".join(texts)}]
    marks, number = [], 0
    for message in messages:
        if message["type"] == "image":
            number += 1
        marks.append(message["value"] if message["type"] == "text" else f"<Image-{number}>")
    adjacent = "".join(f"<Image-{k}>" for k in range(1, len(images) + 1))
    return [*_numbered(images), {"type": "text", "value": "".join(marks).replace(adjacent, "")}]


FAMILY = PromptFamily(
    "internvl", "vlmeval/vlm/internvl/internvl_chat.py InternVLChat", build, reorganize
)
