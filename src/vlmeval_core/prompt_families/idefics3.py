"""Idefics3 (``IDEFICS2``, vlmeval/vlm/idefics.py) and SmolVLM (``SmolVLM``,
vlmeval/vlm/smolvlm.py) at e8e78f05: neither class has ``use_custom_prompt``, so the
message is the dataset's prompt. (Both then rewrite that message into their own raw
prompt string inside ``generate_inner``; that rewriting is not reproduced here: the
processor's chat template formats the message instead.)"""

from __future__ import annotations

from vlmeval_core.prompt_families.family import PromptFamily

IDEFICS3 = PromptFamily("idefics3", "vlmeval/vlm/idefics.py IDEFICS2 (no custom prompt)")
SMOLVLM = PromptFamily("smolvlm", "vlmeval/vlm/smolvlm.py SmolVLM (no custom prompt)")
