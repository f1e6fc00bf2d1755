"""Qwen2-VL and Qwen2.5-VL: ``Qwen2VLPromptMixin`` (vlmeval/vlm/qwen2_vl/prompt.py, e8e78f05).

Qwen2.5-VL's entries in vlmeval/config.py pass ``use_custom_prompt=False``, so
it always takes the dataset's prompt. Both use ``Qwen2VLChat``, whose
``_prepare_content`` (model.py) gives OCRBench images ``min_pixels=10*10*28*28``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vlmeval_core.datasets.prompts import options_of
from vlmeval_core.prompt_families.family import (
    Benchmark,
    Message,
    PromptFamily,
    Settings,
    cn_string,
    hint,
    images_then,
)

MMMU = frozenset({"MMMU_DEV_VAL", "MMMU_TEST"})
YORN_SETS = frozenset({"HallusionBench", "POPE"})  # MME keeps its own prompt
VQA_EXCLUDED = frozenset({"MMVet", "ChartQAPro", "ChartQAPro_CoT", "ChartQAPro_PoT", "ChartMuseum"})
MCQ_EN = "Please select the correct answer from the options above."
MCQ_CN = "请直接回答选项字母。"
YORN_SUFFIX = " Please answer yes or no."
VQA_SUFFIX = "\nPlease try to answer the question with short words or phrases if possible."


def _mcq_text(row: Mapping[str, Any], *, mmmu: bool) -> str:
    prompt = ""
    if hint(row) is not None:
        prompt += f"Hint: {hint(row)}\n"
    prompt += f"Question: {row['question']}\n"
    found = options_of(row)
    if found:
        prompt += "Options:\n" + "".join(f"{k}. {v}\n" for k, v in found.items())
        if mmmu:
            prompt += "Please select the correct answer from the options above. \n"
        else:
            prompt += MCQ_CN if cn_string(prompt) else MCQ_EN
    return prompt.rstrip()


def build(row: Mapping[str, Any], benchmark: Benchmark, images: list[Any]) -> list[Message] | None:
    name, kind = benchmark.name, benchmark.type
    if name in MMMU:  # every image first, no <image k> interleaving
        return images_then(images, _mcq_text(row, mmmu=True))
    if kind == "MCQ" and "LEGO" not in name:
        return images_then(images, _mcq_text(row, mmmu=False))
    if kind == "Y/N" and name in YORN_SETS:
        return images_then(images, str(row["question"]) + YORN_SUFFIX)
    if kind == "VQA" and name not in VQA_EXCLUDED:
        return images_then(images, str(row["question"]) + VQA_SUFFIX)
    return None


PROCESSOR_BY_DATASET = {"OCRBench": {"min_pixels": 10 * 10 * 28 * 28}}
PIXEL_EDGES = {"min_pixels": "shortest_edge", "max_pixels": "longest_edge"}


def pixels_as_size(settings: Settings) -> dict[str, Any]:
    """VLMEvalKit's ``min_pixels``/``max_pixels`` as the image processor's ``size``
    (``shortest_edge``/``longest_edge``, in pixels): what transformers takes at load and
    at call; the pixel keys it deprecates (at call, and at load they become call
    defaults)."""
    kwargs = {k: v for k, v in settings.items() if k not in PIXEL_EDGES}
    size = {edge: settings[key] for key, edge in PIXEL_EDGES.items() if key in settings}
    return {**kwargs, "size": size} if size else kwargs


QWEN2_VL = PromptFamily(
    "qwen2-vl",
    "vlmeval/vlm/qwen2_vl/prompt.py Qwen2VLPromptMixin",
    build,
    processor_by_dataset=PROCESSOR_BY_DATASET,
    as_processor_kwargs=pixels_as_size,
)
QWEN2_5_VL = PromptFamily(
    "qwen2.5-vl",
    "vlmeval/config.py Qwen2.5-VL-*: Qwen2VLChat(use_custom_prompt=False)",
    processor_by_dataset=PROCESSOR_BY_DATASET,
    as_processor_kwargs=pixels_as_size,
)
