"""The model adapter's GPU choices, exercised on the CPU: dtype per GPU generation,
attention fallbacks (with a fake ``flash_attn`` on sys.path) and a model copy placed
by accelerate's ``device_map`` (``--gpus-per-model 2``)."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch

from vlmeval_core.datasets import shapes
from vlmeval_core.datasets.tsv import load_tsv
from vlmeval_core.models import hf
from vlmeval_core.models.registry import TINY_VLM_DIR
from vlmeval_core.prompt_families import FAMILIES, item_messages
from vlmeval_core.run_plan import ModelSpec

TINY = ModelSpec("tiny-vlm", "bundled", str(TINY_VLM_DIR), max_new_tokens=8)


@pytest.mark.parametrize(
    "capability, expected",
    [
        ((7, 5), torch.float16),  # T4, RTX 20xx: no bf16 in hardware
        ((8, 0), torch.bfloat16),  # A100
        ((8, 6), torch.bfloat16),  # A10, RTX 30xx
        ((9, 0), torch.bfloat16),  # H100, H200
        (None, torch.float32),  # the CPU
    ],
)
def test_auto_dtype_follows_the_gpu_generation(capability, expected):
    assert hf.resolve_dtype("auto", capability) == expected


def test_an_explicit_dtype_is_kept_on_every_generation():
    assert hf.resolve_dtype("float32", (9, 0)) == torch.float32
    assert hf.resolve_dtype("bfloat16", None) == torch.bfloat16


@pytest.fixture
def fake_flash_attn(tmp_path, monkeypatch):
    """Put a ``flash_attn`` package on sys.path; ``body`` is its __init__.py."""

    def install(body: str) -> None:
        package = tmp_path / "flash_attn"
        package.mkdir()
        (package / "__init__.py").write_text(textwrap.dedent(body))
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.delitem(sys.modules, "flash_attn", raising=False)

    return install


def test_flash_attention_is_tried_first_only_where_it_can_run(fake_flash_attn):
    fake_flash_attn('__version__ = "2.8.3"\n')
    assert hf.attention_candidates("cuda", torch.bfloat16, (9, 0))[0] == "flash_attention_2"
    assert hf.attention_candidates("cuda", torch.float16, (8, 0))[0] == "flash_attention_2"
    # A T4 (sm_75) has no flash-attention 2 kernels, fp32 none at all, the CPU none.
    assert hf.attention_candidates("cuda", torch.float16, (7, 5)) == ["sdpa", "eager"]
    assert hf.attention_candidates("cuda", torch.float32, (9, 0)) == ["sdpa", "eager"]
    assert hf.attention_candidates("cpu", torch.bfloat16, None) == ["sdpa", "eager"]


def test_a_broken_flash_attn_build_is_not_a_candidate(fake_flash_attn):
    fake_flash_attn(
        'raise ImportError("flash_attn_2_cuda.cpython-311-x86_64-linux-gnu.so: '
        'undefined symbol: _ZN3c104cuda9SetDeviceEi")\n'
    )
    assert hf.attention_candidates("cuda", torch.bfloat16, (9, 0)) == ["sdpa", "eager"]


def test_flash_attention_that_transformers_cannot_use_falls_back_to_sdpa(fake_flash_attn):
    """An importable flash_attn that transformers refuses (ImportError) is not a load error."""
    from transformers import AutoModelForImageTextToText

    fake_flash_attn('__version__ = "2.8.3"\n')
    model, attention = hf.load_with_attention_fallback(
        AutoModelForImageTextToText,
        TINY,
        ["flash_attention_2", "sdpa", "eager"],
        {"dtype": torch.bfloat16},
    )
    assert attention == "sdpa"
    assert model.config._attn_implementation == "sdpa"


def test_a_model_without_sdpa_falls_back_to_eager(monkeypatch):
    from transformers import AutoModelForImageTextToText, Qwen2VLForConditionalGeneration

    # Fault injection: the architecture declares no sdpa support, as some remote-code models do.
    monkeypatch.setattr(Qwen2VLForConditionalGeneration, "_supports_sdpa", False)
    model, attention = hf.load_with_attention_fallback(
        AutoModelForImageTextToText, TINY, ["sdpa", "eager"], {"dtype": torch.float32}
    )
    assert attention == "eager"
    assert model.config._attn_implementation == "eager"


@pytest.mark.slow
def test_a_model_copy_over_two_gpus_is_placed_by_accelerate(tmp_path, monkeypatch):
    """``--gpus-per-model 2`` loads with ``device_map="auto"``: accelerate plans the placement
    over the rank's GPUs (over the CPU here), and the answers equal the one-device model's."""
    from transformers import modeling_utils

    plans = []
    plan_placement = modeling_utils._get_device_map

    def spy(model, device_map, *args, **kwargs):  # records accelerate's plan, changes nothing
        placement = plan_placement(model, device_map, *args, **kwargs)
        plans.append((device_map, placement))
        return placement

    monkeypatch.setattr(modeling_utils, "_get_device_map", spy)
    dataset = load_tsv(shapes.write_tsv("ShapesVQA", tmp_path), "ShapesVQA")
    items = [dataset_messages(dataset, i) for i in range(8)]
    spanning = hf.VisionLanguageModel(
        ModelSpec("tiny-vlm", "bundled", str(TINY_VLM_DIR), gpus_per_model=2), "cpu"
    )
    assert [requested for requested, _ in plans] == ["auto"]
    assert set(plans[0][1].values()) == {"cpu"}, plans[0][1]
    single = hf.VisionLanguageModel(ModelSpec("tiny-vlm", "bundled", str(TINY_VLM_DIR)), "cpu")
    assert len(plans) == 1, "one device needs no plan"
    assert spanning.generate(items, 8) == single.generate(items, 8)


def dataset_messages(dataset, position):
    """What tiny-vlm (the dataset prompt family) is sent for one item."""
    return item_messages(FAMILIES["dataset"], dataset, position, dataset.images(position))
