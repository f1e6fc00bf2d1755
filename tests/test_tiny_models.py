"""The tiny models of tests/tiny_models.py: one per registered architecture, each built in
under a second with its family's special tokens and chat template, loadable by the
Auto classes the adapter uses."""

from __future__ import annotations

import time

import pytest
from transformers import AutoConfig, AutoProcessor

from tiny_models import BUILDERS
from vlmeval_core.models.registry import MODELS

ARCHITECTURES = {
    "Qwen2-VL-2B-Instruct": "qwen2_vl",
    "Qwen2.5-VL-3B-Instruct": "qwen2_5_vl",
    "InternVL3-1B-hf": "internvl",
    "llava-1.5-7b-hf": "llava",
    "llava-onevision-qwen2-0.5b-ov-hf": "llava_onevision",
    "Idefics3-8B-Llama3": "idefics3",
    "SmolVLM-Instruct": "smolvlm",
    "gemma-3-4b-it": "gemma3",
}
"""The transformers model type each registered architecture's twin must have."""

USER_TURN = [
    {
        "role": "user",
        "content": [{"type": "image"}, {"type": "text", "text": "What color is the shape?"}],
    }
]


def test_every_registered_architecture_has_a_builder():
    families = {MODELS[name].prompt_family for name in BUILDERS}
    registered = {m.prompt_family for m in MODELS.values() if m.source == "hub"}
    assert families == registered


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_each_builds_in_under_a_second_and_loads_as_its_architecture(tmp_path, name):
    started = time.perf_counter()
    directory = BUILDERS[name](tmp_path / name)
    assert time.perf_counter() - started < 1.0
    assert AutoConfig.from_pretrained(directory).model_type == ARCHITECTURES[name]
    processor = AutoProcessor.from_pretrained(directory)
    rendered = processor.apply_chat_template(USER_TURN, add_generation_prompt=True)
    assert "What color is the shape?" in rendered
    image_token = processor.tokenizer.convert_tokens_to_ids(processor.image_token)
    assert image_token != processor.tokenizer.unk_token_id
    assert processor.tokenizer.convert_ids_to_tokens(image_token) == processor.image_token
