"""LLaVA-1.5 (``LLaVA``) and LLaVA-OneVision (``LLaVA_OneVision_HF``), vlmeval/vlm/llava/llava.py
at e8e78f05: LLaVA-1.5 has its own prompt for multiple choice only; the OneVision class
for llava-hf checkpoints has none."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vlmeval_core.prompt_families.family import (
    Benchmark,
    Message,
    PromptFamily,
    images_then,
)
from vlmeval_core.prompt_families.internvl import multi_choice_prompt


def build(row: Mapping[str, Any], benchmark: Benchmark, images: list[Any]) -> list[Message] | None:
    if benchmark.type != "MCQ":
        return None
    # LLaVA.build_prompt: hint, question, "\nA. …", then the same instruction as InternVL's.
    return images_then(images, multi_choice_prompt(row))


LLAVA_1_5 = PromptFamily("llava-1.5", "vlmeval/vlm/llava/llava.py LLaVA.build_prompt", build)
LLAVA_ONEVISION = PromptFamily(
    "llava-onevision", "vlmeval/vlm/llava/llava.py LLaVA_OneVision_HF (no custom prompt)"
)
