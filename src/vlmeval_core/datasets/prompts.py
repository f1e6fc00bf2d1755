"""Prompts built the way VLMEvalKit builds them, so scores compare with published numbers.

MCQ: ``Hint: …\\nQuestion: …\\nOptions:\\nA. …\\n…Please select the correct answer
from the options above. \\n``; Y/N: the question plus `` Please answer yes or no.``;
VQA: the question plus ``\\nAnswer the question using a single word or phrase.``.
Images go before the text in the chat message, in order.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

import pandas as pd

OPTION_LETTERS = tuple(string.ascii_uppercase)
MCQ_INSTRUCTION = "Please select the correct answer from the options above. \n"
YORN_SUFFIX = " Please answer yes or no."
VQA_SUFFIX = "\nAnswer the question using a single word or phrase."


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and pd.isna(value))


def options_of(row: Mapping[str, Any]) -> dict[str, str]:
    """The option columns A…Z of a row that hold a value, in letter order."""
    return {k: str(row[k]) for k in OPTION_LETTERS if k in row and _present(row[k])}


def build_prompt(kind: str, row: Mapping[str, Any]) -> str:
    """The text part of the prompt for one row of a dataset of ``kind``."""
    question = str(row["question"])
    if kind == "mcq":
        prompt = ""
        if _present(row.get("hint")) and str(row["hint"]).strip():
            prompt += f"Hint: {row['hint']}\n"
        prompt += f"Question: {question}\n"
        options = options_of(row)
        if options:
            prompt += "Options:\n" + "".join(f"{k}. {v}\n" for k, v in options.items())
            prompt += MCQ_INSTRUCTION
        return prompt
    if kind == "yorn":
        return question + YORN_SUFFIX
    if kind == "vqa":
        return question + VQA_SUFFIX
    raise ValueError(f"unknown dataset kind {kind!r}")


def chat_message(images: list[Any], text: str) -> list[dict[str, Any]]:
    """One user turn for a processor's chat template: every image first, then the text."""
    content: list[dict[str, Any]] = [{"type": "image", "image": image} for image in images]
    content.append({"type": "text", "text": text})
    return [{"role": "user", "content": content}]
