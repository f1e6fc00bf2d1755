"""On a real CUDA GPU: the launcher with real NVML, ranks on the GPU meeting over gloo, a
real out-of-memory, a model placed by accelerate, and the bundled model through
the one-node supervisor.

Selected by ``make test-gpu`` or ``make gpu-check`` (``-m gpu``, this file only); without a
GPU these fail, they never skip. The module imports only what conftest needs, so it
collects on a bare python3 with torch, transformers, nvidia-ml-py, click and pytest plus
the wheels of ``make gpu-wheels``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import make_plan, run_ranks, worker_env
from vlmeval_core.models.registry import TINY_VLM_DIR
from vlmeval_core.prompt_families import FAMILIES, item_messages
from vlmeval_core.run_plan import ModelSpec

pytestmark = pytest.mark.gpu
LAUNCHER = [sys.executable, "-c", "from vlmeval_launcher.cli import main; main()"]
MiB = 1 << 20


@pytest.fixture(autouse=True)
def cuda_gpu():
    import torch

    assert torch.cuda.is_available(), "no CUDA GPU is visible: make test-gpu needs one"


def launcher(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*LAUNCHER, *args], env=worker_env(), capture_output=True, text=True, timeout=timeout
    )


def the_gpus() -> list[dict]:
    done = launcher("gpus", "--json", timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_launcher_lists_what_cuda_sees_through_real_nvml(tmp_path):
    import torch

    found = the_gpus()
    assert len(found) == torch.cuda.device_count() >= 1
    cuda_uuids = {  # CUDA's UUIDs, with or without NVML's "GPU-" prefix
        str(torch.cuda.get_device_properties(i).uuid).removeprefix("GPU-")
        for i in range(len(found))
    }
    assert {gpu["uuid"].removeprefix("GPU-") for gpu in found} == cuda_uuids
    assert all(gpu["memory_total_mib"] > 1024 for gpu in found)
    doctor = launcher(
        "doctor", "--device", "cuda", "--output", str(tmp_path), "--data-dir", str(tmp_path)
    )
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr


def test_tiny_vlm_scores_on_the_gpu_in_auto_dtype(tmp_path):
    plan = make_plan(tmp_path, ["ShapesMCQ", "ShapesYN", "ShapesVQA"], batch_size=64, device="cuda")
    done = run_ranks(plan, nproc=1)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((plan.run_dir / "summary.json").read_text())
    for name, entry in summary["datasets"].items():
        assert entry["n"] == 240
        assert entry["overall"] >= 0.85, (name, entry)
    manifest = json.loads((plan.run_dir / "manifest.json").read_text())
    assert manifest["torch"]["cuda_available"] is True
    assert manifest["driver"]


def test_two_ranks_on_one_gpu_meet_over_gloo(tmp_path):
    """Two ranks on one physical GPU (as MIG slices are): NCCL would refuse, gloo does not."""
    gpu = the_gpus()[0]
    plan = make_plan(tmp_path, ["ShapesVQA"], limit=32, device="cuda")
    done = run_ranks(plan, nproc=2, gpus=(gpu, gpu))
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((plan.run_dir / "manifest.json").read_text())
    assert (manifest["world_size"], manifest["process_group"]) == (2, "gloo")


def test_eval_on_cuda_end_to_end_through_the_launcher(tmp_path):
    done = launcher(
        "eval",
        "--device",
        "cuda",
        "-m",
        "tiny-vlm",
        "-d",
        "ShapesMCQ",
        "--limit",
        "64",
        "--output",
        str(tmp_path / "out"),
        "--data-dir",
        str(tmp_path / "data"),
        "--run-name",
        "gpu",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "out" / "tiny-vlm" / "gpu"
    plan = json.loads((run_dir / "plan.json").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert plan["device"] == "cuda" and manifest["gpus"] == [the_gpus()[0]["name"]]
    assert json.loads((run_dir / "summary.json").read_text())["datasets"]["ShapesMCQ"]["n"] == 64


@pytest.fixture
def tiny_vlm_on_cuda():
    from vlmeval_core.models.hf import VisionLanguageModel

    return VisionLanguageModel(ModelSpec("tiny-vlm", "bundled", str(TINY_VLM_DIR)), "cuda")


@pytest.fixture
def shapes_vqa(tmp_path):
    from vlmeval_core.datasets import shapes
    from vlmeval_core.datasets.tsv import load_tsv

    return load_tsv(shapes.write_tsv("ShapesVQA", tmp_path), "ShapesVQA")


class Hungry:
    """tiny-vlm that also holds ``unit`` bytes of real GPU memory per item while it generates."""

    def __init__(self, model, unit: int) -> None:
        self.model, self.unit, self.batch_sizes = model, unit, []

    def encode(self, batch):
        return self.model.encode(batch)

    def generate_encoded(self, inputs, max_new_tokens):
        import torch

        size = inputs["input_ids"].shape[0]
        self.batch_sizes.append(size)
        held = torch.empty(size * self.unit, dtype=torch.uint8, device="cuda")  # noqa: F841
        return self.model.generate_encoded(inputs, max_new_tokens)


def test_a_real_out_of_memory_is_split_and_frees_its_memory(tmp_path, tiny_vlm_on_cuda, shapes_vqa):
    import torch

    from vlmeval_core.backends import predict_missing
    from vlmeval_core.checkpoints import read_checkpoints
    from vlmeval_core.distributed import RankInfo
    from vlmeval_core.errors import RuntimeFailure
    from vlmeval_core.inference import Transformers

    def predict(model, directory, batch_size, n):
        predict_missing(
            Transformers(lambda: model, batch_size, 8), shapes_vqa, directory, list(range(n)),
            RankInfo(0, 1, 0, 1), False,
        )  # fmt: skip
        done = read_checkpoints(directory, shapes_vqa.frame["index"])
        return {i: r["prediction"] for i, r in done.items()}

    reference = predict(tiny_vlm_on_cuda, tmp_path / "reference", 4, 16)
    unit = 256 * MiB
    hungry = Hungry(tiny_vlm_on_cuda, unit)
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    baseline = torch.cuda.memory_allocated()
    total = torch.cuda.get_device_properties(0).total_memory
    try:  # room for 4 items' units (and tiny-vlm's few MiB), not for 8
        torch.cuda.set_per_process_memory_fraction(
            (torch.cuda.memory_reserved() + 5 * unit) / total
        )
        answers = predict(hungry, tmp_path / "split", 8, 16)
        assert hungry.batch_sizes == [8, 4, 4, 4, 4]
        assert answers == reference
        assert torch.cuda.memory_allocated() == baseline
        # Not even one item fits: the run ends (exit 3), and the memory is free again.
        torch.cuda.empty_cache()
        hungry.unit = 8 * unit
        with pytest.raises(RuntimeFailure, match="out of memory even for a batch of one item"):
            predict(hungry, tmp_path / "alone", 2, 2)
        assert torch.cuda.memory_allocated() == baseline
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)


def test_gpus_per_model_places_the_copy_with_accelerate(shapes_vqa, tiny_vlm_on_cuda):
    """``--gpus-per-model 2`` loads with device_map="auto"; on one GPU it all lands there."""
    from vlmeval_core.models.hf import VisionLanguageModel

    spanning = VisionLanguageModel(
        ModelSpec("tiny-vlm", "bundled", str(TINY_VLM_DIR), gpus_per_model=2), "cuda"
    )
    assert {p.device.type for p in spanning.model.parameters()} == {"cuda"}
    items = [dataset_messages(shapes_vqa, i) for i in range(16)]
    assert spanning.generate(items, 8) == tiny_vlm_on_cuda.generate(items, 8)


def test_the_gpu_predictions_match_a_one_item_batch(shapes_vqa):
    from vlmeval_core.models.hf import VisionLanguageModel

    model = VisionLanguageModel(
        ModelSpec("tiny-vlm", "bundled", str(TINY_VLM_DIR), dtype="float32"), "cuda"
    )
    items = [dataset_messages(shapes_vqa, i) for i in range(32)]
    batched = model.generate(items, 8)
    single = [model.generate([item], 8)[0] for item in items]
    assert batched == single


def dataset_messages(dataset, position):
    """What tiny-vlm (the dataset prompt family) is sent for one item."""
    return item_messages(FAMILIES["dataset"], dataset, position, dataset.images(position))
