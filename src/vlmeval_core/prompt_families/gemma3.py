"""Gemma 3: ``Gemma3`` (vlmeval/vlm/gemma.py, e8e78f05) has no custom prompt; it puts the
system prompt ``'You are a helpful assistant. '`` before every conversation."""

from __future__ import annotations

from vlmeval_core.prompt_families.family import PromptFamily

FAMILY = PromptFamily(
    "gemma3",
    "vlmeval/vlm/gemma.py Gemma3.message2pipeline",
    system_prompt="You are a helpful assistant. ",
)
