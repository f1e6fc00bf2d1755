"""Model names a user may type, resolved to where the weights come from.

A name is one of: a friendly name from :data:`MODELS` (``Qwen2-VL-2B-Instruct``),
the bundled ``tiny-vlm``, a raw Hugging Face hub id (``org/name``), or a local
directory holding a ``save_pretrained`` model. Torch-free: the launcher uses it
to refuse a typo before anything heavy starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vlmeval_core.errors import UsageError
from vlmeval_core.names import find_name, suggest

TINY_VLM_DIR = Path(__file__).resolve().parent.parent / "assets" / "tiny-vlm"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its hub id and the generation defaults that suit it."""

    name: str
    hub_id: str
    batch_size: int = 8
    max_new_tokens: int = 32
    trust_remote_code: bool = False


MODELS: dict[str, ModelEntry] = {
    e.name: e
    for e in [
        ModelEntry("Qwen2-VL-2B-Instruct", "Qwen/Qwen2-VL-2B-Instruct", batch_size=16),
        ModelEntry("Qwen2-VL-7B-Instruct", "Qwen/Qwen2-VL-7B-Instruct"),
        ModelEntry("Qwen2.5-VL-3B-Instruct", "Qwen/Qwen2.5-VL-3B-Instruct", batch_size=16),
        ModelEntry("Qwen2.5-VL-7B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct"),
        ModelEntry("SmolVLM-Instruct", "HuggingFaceTB/SmolVLM-Instruct", batch_size=16),
        ModelEntry("Idefics3-8B-Llama3", "HuggingFaceM4/Idefics3-8B-Llama3", batch_size=4),
        ModelEntry("llava-1.5-7b-hf", "llava-hf/llava-1.5-7b-hf"),
        ModelEntry("llava-onevision-qwen2-0.5b-ov-hf", "llava-hf/llava-onevision-qwen2-0.5b-ov-hf"),
        ModelEntry("gemma-3-4b-it", "google/gemma-3-4b-it"),
        ModelEntry("InternVL3-1B-hf", "OpenGVLab/InternVL3-1B-hf", batch_size=16),
        ModelEntry("tiny-vlm", str(TINY_VLM_DIR), batch_size=32, max_new_tokens=8),
    ]
}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model name points: ``source`` is ``bundled``, ``hub`` or ``local``."""

    name: str
    source: str
    path: str
    batch_size: int
    max_new_tokens: int
    trust_remote_code: bool


def resolve_model(name: str) -> ResolvedModel:
    """Resolve what the user typed; an unknown name raises UsageError with the closest names."""
    entry = find_name(name, MODELS) or next(
        (k for k, e in MODELS.items() if e.hub_id.lower() == name.lower()), None
    )
    if entry is not None:
        e = MODELS[entry]
        source = "bundled" if e.name == "tiny-vlm" else "hub"
        return ResolvedModel(
            e.name, source, e.hub_id, e.batch_size, e.max_new_tokens, e.trust_remote_code
        )
    local = Path(name).expanduser()
    if local.is_dir():
        return ResolvedModel(local.resolve().name, "local", str(local.resolve()), 8, 32, False)
    if HUB_ID.match(name) and not name.startswith((".", "/")):
        return ResolvedModel(name, "hub", name, 8, 32, False)
    raise UsageError(
        f"--model {name!r} is not a registered model, a hub id (org/name) or a local directory"
        f"{suggest(name, MODELS)}; `vlmeval list models` shows the registered names"
    )
