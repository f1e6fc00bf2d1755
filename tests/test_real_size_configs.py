"""The real-size configs of make gpu-check's families step (benchmarks/configs/, reconstructed
from each model's published dimensions): on the meta device, each architecture at those
dimensions has its published parameter count, within 1%."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForImageTextToText

from tiny_models import BUILDERS, REAL_SIZE, real_size_config

CHECKED = ["Qwen2-VL-2B-Instruct", "Qwen2.5-VL-3B-Instruct", "SmolVLM-Instruct",
           "InternVL3-1B-hf", "gemma-3-4b-it"]  # fmt: skip


def test_the_gpu_check_covers_the_issue_s_five_models():
    assert sorted(REAL_SIZE) == sorted(CHECKED)


@pytest.mark.parametrize("name", CHECKED)
def test_each_real_size_config_has_its_published_parameter_count(tmp_path, name):
    spec = json.loads(REAL_SIZE[name].read_text())
    assert spec["registered"] == name
    config = real_size_config(name, BUILDERS[name](tmp_path / "tiny"))
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    parameters = sum(p.numel() for p in model.parameters())
    assert parameters == pytest.approx(spec["published_parameters"], rel=0.01)
