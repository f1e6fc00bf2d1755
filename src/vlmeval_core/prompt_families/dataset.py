"""The dataset's own prompt (VLMEvalKit's dataset ``build_prompt``), used where a family
declines; the whole family of models trained on it, such as the bundled tiny-vlm."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vlmeval_core.datasets.prompts import build_prompt, interleave
from vlmeval_core.prompt_families.family import Benchmark, Message, PromptFamily, images_then


def dataset_messages(
    benchmark: Benchmark, row: Mapping[str, Any], images: list[Any]
) -> list[Message]:
    """Every image, then the text; MMMU's images go where its text says ``<image k>``."""
    text = build_prompt(benchmark.style, row)
    if benchmark.style == "mmmu":
        return interleave(images, text)
    return images_then(images, text)


FAMILY = PromptFamily(
    "dataset",
    "vlmeval/dataset/image_base.py ImageBaseDataset.build_prompt and its subclasses",
)
