"""Prompt families: what each model family's VLMEvalKit class sends for a dataset row.

VLMEvalKit asks the model class first (``use_custom_prompt(dataset)``, then
``build_prompt(line, dataset)``) and falls back to the dataset's own prompt
where the class declines. A family here is that rule as data plus at most a
small function: one module per family, each declaring one
:class:`~vlmeval_core.prompt_families.family.PromptFamily`, listed in
:data:`FAMILIES`. A message is VLMEvalKit's: a list of
``{"type": "image" | "text", "value": …}``. Adding a family adds a module and
a line here; dataset code is not touched. Torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from vlmeval_core.prompt_families import dataset, gemma3, idefics3, internvl, llava, qwen2_vl
from vlmeval_core.prompt_families.family import Benchmark, Message, PromptFamily, conversation

FAMILIES: dict[str, PromptFamily] = {
    f.name: f
    for f in (
        dataset.FAMILY,
        qwen2_vl.QWEN2_VL,
        qwen2_vl.QWEN2_5_VL,
        internvl.FAMILY,
        llava.LLAVA_1_5,
        llava.LLAVA_ONEVISION,
        idefics3.IDEFICS3,
        idefics3.SMOLVLM,
        gemma3.FAMILY,
    )
}
DEFAULT_FAMILY = dataset.FAMILY.name

if TYPE_CHECKING:
    from vlmeval_core.datasets.tsv import Dataset


def build_messages(
    family: PromptFamily, benchmark: Benchmark, row: dict[str, Any], images: Sequence[Any]
) -> list[Message]:
    """What ``family`` sends for ``row``: its own prompt, or the dataset's where it declines.

    ``images`` are the row's images in order (decoded images for a model, or text
    saying where each comes from); they become the messages' image values.
    """
    built = family.build(row, benchmark, list(images)) if family.build else None
    return built if built is not None else dataset.dataset_messages(benchmark, row, list(images))


def benchmark_of(data: Dataset) -> Benchmark:
    """What a family may know about a loaded dataset."""
    return Benchmark(data.name, data.kind, data.prompt_style or data.kind)


def item_messages(
    family: PromptFamily, data: Dataset, position: int, images: Sequence[Any]
) -> list[Message]:
    """What ``family`` sends the model for the item at ``position`` of ``data``, with
    ``images``: its prompt (:func:`build_messages`) as the family arranges it."""
    benchmark = benchmark_of(data)
    messages = build_messages(family, benchmark, data.row(position), images)
    return family.arrange(messages, benchmark) if family.arrange else messages


def shown_messages(
    family: PromptFamily, data: Dataset, position: int, handling: str
) -> list[Message]:
    """What ``vlmeval prompts`` shows for the item at ``position``: ``family``'s messages with
    each image as where it comes from (:meth:`Dataset.image_origins` under ``handling``), the
    family's system prompt first; ItemImageError when an image cannot be found."""
    messages = item_messages(family, data, position, data.image_origins(position, handling))
    if family.system_prompt is not None:
        messages = [{"type": "system", "value": family.system_prompt}, *messages]
    return messages


def prompt_text(messages: Sequence[Message]) -> str:
    """Messages as ``vlmeval prompts`` prints them, one part a line: a text part as it is,
    any other as ``[type: value]`` (``[image: where]``, ``[system: …]``)."""
    return "\n".join(
        part["value"] if part["type"] == "text" else f"[{part['type']}: {part['value']}]"
        for part in messages
    )


__all__ = ["DEFAULT_FAMILY", "FAMILIES", "Benchmark", "Message", "PromptFamily", "build_messages",
           "conversation", "item_messages", "prompt_text", "shown_messages"]  # fmt: skip
