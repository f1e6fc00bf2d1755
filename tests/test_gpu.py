"""On a real CUDA GPU: the bundled model in bf16 through one real torchrun rank with NCCL.

Selected by ``make test-gpu`` (``-m gpu``); without a GPU these fail, they never skip.
"""

from __future__ import annotations

import json

import pytest

from conftest import make_plan, run_torchrun

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def cuda_gpu():
    import torch

    assert torch.cuda.is_available(), "no CUDA GPU is visible: make test-gpu needs one"


def test_tiny_vlm_scores_on_the_gpu_in_bf16(tmp_path):
    plan = make_plan(tmp_path, ["ShapesMCQ", "ShapesYN", "ShapesVQA"], batch_size=64, device="cuda")
    done = run_torchrun(plan, nproc=1)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((plan.run_dir / "summary.json").read_text())
    for name, entry in summary["datasets"].items():
        assert entry["n"] == 240
        assert entry["overall"] >= 0.85, (name, entry)
    manifest = json.loads((plan.run_dir / "manifest.json").read_text())
    assert manifest["torch"]["cuda_available"] is True
    assert manifest["torch"]["nccl"]
    assert manifest["driver"]


def test_the_gpu_predictions_match_a_one_item_batch(tmp_path):
    from vlmeval_core.datasets import shapes
    from vlmeval_core.datasets.tsv import load_tsv
    from vlmeval_core.models.hf import VisionLanguageModel
    from vlmeval_core.models.registry import TINY_VLM_DIR
    from vlmeval_core.plan import ModelSpec

    dataset = load_tsv(shapes.write_tsv("ShapesVQA", tmp_path), "ShapesVQA")
    model = VisionLanguageModel(
        ModelSpec("tiny-vlm", "bundled", str(TINY_VLM_DIR), dtype="float32"), "cuda"
    )
    items = [(dataset.images(i), dataset.prompt(i)) for i in range(32)]
    batched = model.generate(items, 8)
    single = [model.generate([item], 8)[0] for item in items]
    assert batched == single
