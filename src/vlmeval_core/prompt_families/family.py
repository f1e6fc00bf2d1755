"""What a prompt family is, and the facts about a row that every family reads."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vlmeval_core.datasets.prompts import present as _holds_value
from vlmeval_core.datasets.registry import KINDS

Message = dict[str, Any]
"""VLMEvalKit's message part: ``{"type": "image" | "text", "value": …}``."""


@dataclass(frozen=True)
class Benchmark:
    """What a family may ask about the dataset: VLMEvalKit's name for it and its type.

    ``style`` is the dataset prompt style (:mod:`vlmeval_core.datasets.prompts`).
    """

    name: str
    kind: str
    style: str

    @property
    def type(self) -> str:
        """VLMEvalKit's ``DATASET_TYPE``: MCQ, Y/N or VQA."""
        return KINDS[self.kind]


Builder = Callable[[Mapping[str, Any], Benchmark, list[Any]], list[Message] | None]
"""``(row, benchmark, images) -> messages``, or None where VLMEvalKit's class declines
(``use_custom_prompt`` is False) and the dataset's prompt is used."""

Settings = Mapping[str, Any]
"""Processor settings, as VLMEvalKit gives them (a record's, a dataset's)."""

Arranger = Callable[[list[Message], Benchmark], list[Message]]
"""``(messages, benchmark) -> messages``: what the class's ``generate_inner`` makes of the
prompt's messages before its model sees them (InternVL's ``reorganize_prompt``)."""


@dataclass(frozen=True)
class PromptFamily:
    """A model family's prompts: its ``build`` (None: always the dataset's prompt), its
    ``arrange`` of the messages on their way to the model (None: as built, for this
    family's prompts and the dataset's alike), the system prompt its VLMEvalKit class
    puts before every conversation (None: none), processor settings its class changes
    for one dataset (dataset name -> settings over the model record's), and how the
    installed transformers takes such settings (``as_processor_kwargs``: None, as given).
    ``reference`` names the VLMEvalKit code (main, e8e78f05) it follows."""

    name: str
    reference: str
    build: Builder | None = None
    arrange: Arranger | None = None
    system_prompt: str | None = None
    processor_by_dataset: Mapping[str, Settings] = field(default_factory=dict)
    as_processor_kwargs: Callable[[Settings], dict[str, Any]] | None = None

    def processor_kwargs(self, settings: Settings) -> dict[str, Any]:
        """``settings`` as ``from_pretrained`` and a processor call take them."""
        return self.as_processor_kwargs(settings) if self.as_processor_kwargs else dict(settings)


def present(row: Mapping[str, Any], key: str) -> bool:
    """VLMEvalKit's ``key in line and not pd.isna(line[key])``."""
    return _holds_value(row.get(key))


def hint(row: Mapping[str, Any]) -> Any:
    return row["hint"] if present(row, "hint") else None


def cn_string(text: str) -> bool:
    """VLMEvalKit's ``cn_string``: the text holds a CJK unified ideograph."""
    return re.search("[\u4e00-\u9fff]", text) is not None


def images_then(images: list[Any], text: str) -> list[Message]:
    return [{"type": "image", "value": i} for i in images] + [{"type": "text", "value": text}]


def conversation(messages: Sequence[Message], system_prompt: str | None) -> list[dict[str, Any]]:
    """VLMEvalKit's messages (``{"type", "value"}``, images as PIL images) as the one user
    turn of a chat template, in their order, after the family's system prompt if any."""
    content = [
        {"type": "image", "image": m["value"]}
        if m["type"] == "image"
        else {"type": "text", "text": m["value"]}
        for m in messages
    ]
    turns: list[dict[str, Any]] = []
    if system_prompt is not None:
        turns.append({"role": "system", "content": [{"type": "text", "text": system_prompt}]})
    return [*turns, {"role": "user", "content": content}]
