"""Prompts built the way VLMEvalKit builds them, so scores compare with published numbers.

A prompt style names how a row becomes text (:data:`STYLES`):

* ``mcq``: ``Hint: …\\nQuestion: …\\nOptions:\\nA. …\\n…Please select the correct
  answer from the options above. \\n`` (VLMEvalKit's ``ImageMCQDataset``);
* ``mmmu``: the same text, with the images placed where the text says
  ``<image k>`` (VLMEvalKit's ``MMMUDataset.split_MMMU``);
* ``yorn``: the question plus `` Please answer yes or no.`` (the Shapes and
  local Y/N files);
* ``question``: the question alone (VLMEvalKit's ``ImageBaseDataset``, which
  MME, POPE, HallusionBench and OCRBench use: their questions carry their own
  instructions);
* ``vqa``: the question plus ``\\nAnswer the question using a single word or
  phrase.`` (VLMEvalKit's ``ImageVQADataset``).

A dataset's kind is its style unless the registry names another. A model
family may send its own prompt instead (:mod:`vlmeval_core.prompt_families`).
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from typing import Any

OPTION_LETTERS = tuple(string.ascii_uppercase)
MCQ_INSTRUCTION = "Please select the correct answer from the options above. \n"
YORN_SUFFIX = " Please answer yes or no."
VQA_SUFFIX = "\nAnswer the question using a single word or phrase."
STYLES = ("mcq", "mmmu", "yorn", "question", "vqa")
_PLACEHOLDER = re.compile(r"<image (\d)>")


def present(value: Any) -> bool:
    """A cell that holds a value: not None and not NaN (pandas' empty cell; no pandas import,
    so the launcher's light commands stay light)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def options_of(row: Mapping[str, Any]) -> dict[str, str]:
    """The option columns A…Z of a row that hold a value, in letter order."""
    return {k: str(row[k]) for k in OPTION_LETTERS if k in row and present(row[k])}


def build_prompt(kind: str, row: Mapping[str, Any]) -> str:
    """The text part of the prompt for one row, in prompt style ``kind`` (see :data:`STYLES`)."""
    question = str(row["question"])
    if kind == "mmmu":
        return build_prompt("mcq", row)
    if kind == "question":
        return question
    if kind == "mcq":
        prompt = ""
        if present(row.get("hint")):
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
    raise ValueError(f"unknown prompt style {kind!r}; expected one of {', '.join(STYLES)}")


def interleave(images: list[Any], text: str) -> list[dict[str, Any]]:
    """VLMEvalKit's ``MMMUDataset.split_MMMU`` as messages (``{"type", "value"}``).

    The text is cut at each ``<image k>`` (k a single digit, as VLMEvalKit
    reads it) and image k goes there; images no placeholder names are left out,
    one named twice comes twice. Text with no placeholder keeps every image first.
    """
    pieces = _PLACEHOLDER.split(text)
    if len(pieces) == 1:
        return [{"type": "image", "value": i} for i in images] + [{"type": "text", "value": text}]
    content: list[dict[str, Any]] = [{"type": "text", "value": pieces[0]}]
    for number, after in zip(pieces[1::2], pieces[2::2], strict=True):
        position = int(number) - 1
        if 0 <= position < len(images):
            content.append({"type": "image", "value": images[position]})
            content.append({"type": "text", "value": after})
        else:  # no such image: the placeholder stays text
            content[-1]["value"] += f"<image {number}>{after}"
    return content
