"""On a real CUDA GPU (``make gpu-check``'s families step): each architecture of
benchmarks/configs/ at its real size (Qwen2-VL-2B, Qwen2.5-VL-3B, SmolVLM, InternVL3-1B,
Gemma 3 4B), random weights, made and run on cuda in its record's dtype (``auto``: bf16
from sm_80) with the adapter's attention choice (flash-attention 2 where installed,
else sdpa), with its record's prompt family and processor settings: a few ShapesVQA
items at batch 4. Each one's peak GPU memory and items/s go to
``$VLMEVAL_GPU_FAMILIES_OUT/families-gpu.{json,md}`` (the test's directory if unset).

Fails without a GPU, never skips. Imports stay inside the tests, so the module collects
on a bare python3 (tests/test_gpu_check.py).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.gpu

CONFIGS = Path(__file__).resolve().parent.parent / "benchmarks" / "configs"
NAMES = sorted(
    spec["registered"]
    for spec in (json.loads(p.read_text()) for p in CONFIGS.glob("*.json"))
    if "registered" in spec
)
ITEMS, BATCH, NEW_TOKENS = 8, 4, 8


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """Name -> its measurements, written out when the module ends."""
    results: dict[str, dict] = {}
    yield results
    out = Path(os.environ.get("VLMEVAL_GPU_FAMILIES_OUT") or tmp_path_factory.mktemp("out"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "families-gpu.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = [
        "## Every architecture at real size (random weights)",
        "",
        f"{ITEMS} ShapesVQA items at batch {BATCH}, {NEW_TOKENS} new tokens at most, "
        "after a warm-up batch.",
        "",
        "| model | parameters | dtype | attention | items/s | peak GPU memory (GiB) |",
        "|---|---:|---|---|---:|---:|",
    ]
    lines += [
        f"| {name} | {r['parameters'] / 1e9:.2f}B | {r['dtype']} | {r['attention']} "
        f"| {r['items_per_s']:.2f} | {r['peak_gib']:.1f} |"
        for name, r in sorted(results.items())
    ]
    (out / "families-gpu.md").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("name", NAMES)
def test_each_architecture_at_real_size_answers_on_cuda(tmp_path, measured, name):
    import dataclasses

    import torch

    from tiny_models import build_real_size
    from vlmeval_core.datasets import shapes
    from vlmeval_core.datasets.tsv import load_tsv
    from vlmeval_core.models.hf import VisionLanguageModel, cuda_capability, resolve_dtype
    from vlmeval_core.models.registry import MODELS
    from vlmeval_core.prompt_families import FAMILIES, item_messages

    assert torch.cuda.is_available(), "no CUDA GPU is visible: make test-gpu needs one"
    record = MODELS[name]
    dtype = resolve_dtype(record.dtype, cuda_capability())
    directory = build_real_size(name, tmp_path / "model", "cuda", dtype)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    local = dataclasses.replace(record, source="local", path=str(directory))
    model = VisionLanguageModel(local, "cuda")
    dataset = load_tsv(shapes.write_tsv("ShapesVQA", tmp_path), "ShapesVQA")
    family = FAMILIES[local.prompt_family]
    items = [item_messages(family, dataset, i, dataset.images(i, local.images))
             for i in range(ITEMS)]  # fmt: skip
    model.generate(items[:BATCH], NEW_TOKENS)
    torch.cuda.synchronize()
    started = time.perf_counter()
    answers = [a for i in range(0, ITEMS, BATCH) for a in model.generate(items[i : i + BATCH],
                                                                         NEW_TOKENS)]  # fmt: skip
    torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    measured[name] = {
        "parameters": sum(p.numel() for p in model.model.parameters()),
        "dtype": str(model.dtype).removeprefix("torch."),
        "attention": model.attention,
        "items_per_s": ITEMS / seconds,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
        "device": torch.cuda.get_device_name(0),
    }
    assert len(answers) == ITEMS
    assert model.model.device.type == "cuda"
