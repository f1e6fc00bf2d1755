"""The registered models, as a table of records, and what a ``--model`` value resolves to.

A name is one of: a registered name from :data:`MODELS` (``Qwen2-VL-2B-Instruct``,
the bundled ``tiny-vlm``), or its hub id, a raw Hugging Face hub id (``org/name``),
or a local directory holding a ``save_pretrained`` model. Each registered record
takes VLMEvalKit's settings for that model (``vlmeval/config.py`` at e8e78f05:
processor settings, the class whose prompts its family follows). Torch-free: the
launcher uses it to refuse a typo before anything heavy starts.
"""

from __future__ import annotations

import re
from pathlib import Path

from vlmeval_core.errors import UsageError
from vlmeval_core.models.record import ModelSpec
from vlmeval_core.names import find_name, suggest

TINY_VLM_DIR = Path(__file__).resolve().parent.parent / "assets" / "tiny-vlm"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

QWEN2_VL_PIXELS = {"min_pixels": 1280 * 28 * 28, "max_pixels": 16384 * 28 * 28}
"""vlmeval/config.py: every Qwen2-VL and Qwen2.5-VL Instruct entry."""


def _hub(name: str, hub_id: str, family: str, **settings: object) -> ModelSpec:
    return ModelSpec(name, "hub", hub_id, prompt_family=family, **settings)  # type: ignore[arg-type]


MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in [
        _hub(
            "Qwen2-VL-2B-Instruct",
            "Qwen/Qwen2-VL-2B-Instruct",
            "qwen2-vl",
            batch_size=16,
            processor=QWEN2_VL_PIXELS,
        ),
        _hub(
            "Qwen2-VL-7B-Instruct",
            "Qwen/Qwen2-VL-7B-Instruct",
            "qwen2-vl",
            processor=QWEN2_VL_PIXELS,
        ),
        _hub(
            "Qwen2.5-VL-3B-Instruct",
            "Qwen/Qwen2.5-VL-3B-Instruct",
            "qwen2.5-vl",
            batch_size=16,
            processor=QWEN2_VL_PIXELS,
        ),
        _hub(
            "Qwen2.5-VL-7B-Instruct",
            "Qwen/Qwen2.5-VL-7B-Instruct",
            "qwen2.5-vl",
            processor=QWEN2_VL_PIXELS,
        ),
        # dtype: what VLMEvalKit's class loads the weights in (vlmeval/vlm/*.py at e8e78f05);
        # Qwen2-VL's torch_dtype='auto' is the checkpoint's, bfloat16, as our auto on sm_80+.
        _hub(
            "SmolVLM-Instruct",
            "HuggingFaceTB/SmolVLM-Instruct",
            "smolvlm",
            batch_size=16,
            dtype="float32",  # smolvlm.py SmolVLM
        ),
        _hub(
            "Idefics3-8B-Llama3",
            "HuggingFaceM4/Idefics3-8B-Llama3",
            "idefics3",
            batch_size=4,
            dtype="bfloat16",  # idefics.py IDEFICS2
        ),
        # llava/llava.py LLaVA: llava's load_pretrained_model, float16
        _hub("llava-1.5-7b-hf", "llava-hf/llava-1.5-7b-hf", "llava-1.5", dtype="float16"),
        _hub(
            "llava-onevision-qwen2-0.5b-ov-hf",
            "llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
            "llava-onevision",
            dtype="float16",  # llava/llava.py LLaVA_OneVision_HF
        ),
        # gemma.py Gemma3 at e8e78f05 (PyPI's 26.3 passed no torch_dtype)
        _hub("gemma-3-4b-it", "google/gemma-3-4b-it", "gemma3", dtype="bfloat16"),
        _hub(
            "InternVL3-1B-hf",
            "OpenGVLab/InternVL3-1B-hf",
            "internvl",
            batch_size=16,
            dtype="bfloat16",  # internvl/internvl_chat.py InternVLChat
        ),
        # Trained by scripts/train_tiny_vlm.py on the dataset prompts: it keeps them.
        ModelSpec("tiny-vlm", "bundled", str(TINY_VLM_DIR), batch_size=32, max_new_tokens=8),
    ]
}


def registered(name: str) -> ModelSpec | None:
    """The registry's record named ``name`` or holding hub id ``name`` (any case), or None."""
    key = find_name(name, MODELS) or next(
        (k for k, m in MODELS.items() if m.path.lower() == name.lower()), None
    )
    return MODELS[key] if key is not None else None


def resolve_model(name: str) -> ModelSpec:
    """The record of what the user typed: a registered one (by name or hub id), or a plain
    record for another hub id or local directory. An unknown name raises UsageError
    with the closest names."""
    record = registered(name)
    if record is not None:
        return record
    local = Path(name).expanduser()
    if local.is_dir():
        return ModelSpec(local.resolve().name, "local", str(local.resolve()))
    if HUB_ID.match(name) and not name.startswith((".", "/")):
        return ModelSpec(name, "hub", name)
    raise UsageError(
        f"--model {name!r} is not a registered model, a hub id (org/name) or a local directory"
        f"{suggest(name, MODELS)}; `vlmeval list models` shows the registered names"
    )
