"""The batched fast path: same predictions as one item at a time, length-sorted batches,
and out-of-memory batches split in halves; an item that fails alone ends the run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vlmeval_core.backends import predict_missing
from vlmeval_core.checkpoints import read_checkpoints
from vlmeval_core.datasets import shapes
from vlmeval_core.datasets.tsv import load_tsv
from vlmeval_core.distributed import RankInfo
from vlmeval_core.errors import RuntimeFailure
from vlmeval_core.inference import Transformers, by_length, estimated_length
from vlmeval_core.models.hf import VisionLanguageModel
from vlmeval_core.models.registry import TINY_VLM_DIR
from vlmeval_core.run_plan import ModelSpec

ONE_RANK = RankInfo(0, 1, 0, 1)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_vlm():
    return VisionLanguageModel(ModelSpec("tiny-vlm", "bundled", str(TINY_VLM_DIR)), "cpu")


@pytest.fixture(scope="module")
def mcq(tmp_path_factory):
    directory = tmp_path_factory.mktemp("data")
    return load_tsv(shapes.write_tsv("ShapesMCQ", directory), "ShapesMCQ")


class GpuMemoryLimit:
    """The hardware boundary: a device that runs out of memory above ``max_batch`` items."""

    def __init__(self, model: VisionLanguageModel, max_batch: int) -> None:
        self.model, self.max_batch, self.batch_sizes = model, max_batch, []

    def encode(self, batch):
        return self.model.encode(batch)

    def generate_encoded(self, inputs, max_new_tokens):
        size = inputs["input_ids"].shape[0]
        self.batch_sizes.append(size)
        if size > self.max_batch:
            raise torch.OutOfMemoryError(f"CUDA out of memory (a batch of {size})")
        return self.model.generate_encoded(inputs, max_new_tokens)


def run(dataset, directory: Path, model, batch_size: int, positions=None):
    positions = list(range(len(dataset))) if positions is None else positions
    backend = Transformers(lambda: model, batch_size, 8)
    stats = predict_missing(backend, dataset, directory, positions, ONE_RANK)
    return stats, {
        i: r["prediction"] for i, r in read_checkpoints(directory, dataset.frame["index"]).items()
    }


def test_batched_predictions_equal_one_item_at_a_time(tmp_path, tiny_vlm, mcq):
    _, alone = run(mcq, tmp_path / "b1", tiny_vlm, batch_size=1)
    stats, batched = run(mcq, tmp_path / "b32", tiny_vlm, batch_size=32)
    assert len(alone) == len(mcq) == 240
    assert batched == alone
    assert stats.predicted == 240 and stats.batch_size == 32
    assert stats.generated_tokens >= 240 and stats.prompt_tokens > 240 * 20


def test_out_of_memory_batches_are_halved_and_the_working_size_is_kept(tmp_path, tiny_vlm, mcq):
    limited = GpuMemoryLimit(tiny_vlm, max_batch=5)
    positions = list(range(48))
    stats, predictions = run(mcq, tmp_path / "oom", limited, batch_size=16, positions=positions)
    _, reference = run(mcq, tmp_path / "ref", tiny_vlm, batch_size=16, positions=positions)
    assert predictions == reference
    assert stats.batch_size == 4  # 16 failed, 8 failed, 4 worked
    assert limited.batch_sizes[:4] == [16, 8, 4, 4]
    assert max(limited.batch_sizes[4:]) == 4, "later batches are cut before they fail"
    assert stats.errors == 0


def test_an_item_that_fails_alone_ends_the_run(tmp_path, tiny_vlm, mcq):
    limited = GpuMemoryLimit(tiny_vlm, max_batch=0)
    with pytest.raises(RuntimeFailure, match="out of memory even for a batch of one item"):
        run(mcq, tmp_path / "none", limited, batch_size=4, positions=[0, 1, 2])
    assert read_checkpoints(tmp_path / "none", mcq.frame["index"]) == {}


def test_batches_hold_prompts_of_similar_length(tmp_path):
    frame = shapes.generate("ShapesVQA", n=6)
    frame.loc[[1, 4], "question"] = "What color is the shape? " + "Look very closely. " * 20
    path = tmp_path / "Mixed.tsv"
    frame.to_csv(path, sep="\t", index=False)
    dataset = load_tsv(path)
    order = by_length(dataset, range(6))
    assert order[:2] == [1, 4]
    lengths = [estimated_length(dataset, p) for p in order]
    assert lengths == sorted(lengths, reverse=True)
