"""Out-of-memory recovery frees the failed attempt's memory before it retries.

The model here is a stub at the hardware boundary: a "GPU" of ``capacity`` units
whose live allocations are tracked with weak references, so anything the runner
(or a traceback it keeps) still holds after a failure counts against the retry.
Like transformers' ``BatchFeature.to``, moving inputs to the device works in place.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import pytest
import torch

from vlmeval_core.backends import predict_missing
from vlmeval_core.checkpoints import read_checkpoints
from vlmeval_core.datasets import shapes
from vlmeval_core.datasets.tsv import load_tsv
from vlmeval_core.distributed import RankInfo
from vlmeval_core.errors import RuntimeFailure
from vlmeval_core.inference import Transformers
from vlmeval_core.models.hf import Generation

ONE_RANK = RankInfo(0, 1, 0, 1)


class Block:
    """One unit of device memory; alive as long as something refers to it."""


class Device:
    """A GPU with ``capacity`` units: an allocation beyond it raises ``error``."""

    def __init__(self, capacity: int, error: type[Exception], message: str) -> None:
        self.capacity, self.error, self.message = capacity, error, message
        self.live: weakref.WeakSet[Block] = weakref.WeakSet()
        self.peak = 0

    def allocate(self, units: int) -> list[Block]:
        if len(self.live) + units > self.capacity:
            raise self.error(f"{self.message} (tried {units}, {len(self.live)} in use)")
        blocks = [Block() for _ in range(units)]
        self.live.update(blocks)
        self.peak = max(self.peak, len(self.live))
        return blocks


class Encoded(dict):
    """Encoded prompts; ``to`` moves them onto the device in place, as BatchFeature does."""

    def to(self, device: Device) -> Encoded:
        self["on_device"] = device.allocate(len(self["prompts"]))
        return self


class StubModel:
    """Each item takes one unit for its inputs and one for its activations and KV cache."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.batch_sizes: list[int] = []

    def encode(self, batch):
        return Encoded(prompts=[prompt for _, prompt in batch])

    def generate_encoded(self, inputs: Encoded, max_new_tokens: int) -> Generation:
        size = len(inputs["prompts"])
        self.batch_sizes.append(size)
        inputs = inputs.to(self.device)
        activations = self.device.allocate(size)  # noqa: F841 - held by this frame, as in generate
        texts = [f"answer {len(prompt)}" for prompt in inputs["prompts"]]
        return Generation(
            texts, prompt_tokens=size, tokens=[1] * size, finish_reasons=["eos"] * size
        )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    directory = tmp_path_factory.mktemp("data")
    return load_tsv(shapes.write_tsv("ShapesVQA", directory), "ShapesVQA")


def predict(dataset, directory: Path, model, batch_size: int, n: int):
    backend = Transformers(lambda: model, batch_size, 8)
    stats = predict_missing(backend, dataset, directory, list(range(n)), ONE_RANK, False)
    return stats, read_checkpoints(directory, dataset.frame["index"])


def test_a_batch_twice_too_large_is_answered_in_halves(tmp_path, dataset):
    device = Device(8, torch.OutOfMemoryError, "CUDA out of memory")
    model = StubModel(device)
    stats, records = predict(dataset, tmp_path, model, batch_size=8, n=8)
    assert sorted(records) == list(range(8))
    assert all(r["error"] is None and r["prediction"] for r in records.values())
    assert model.batch_sizes == [8, 4, 4]
    assert stats.batch_size == 4 and stats.errors == 0
    assert len(device.live) == 0, "nothing of any attempt is still held after the run"


@pytest.mark.parametrize(
    "message",
    [
        "CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported",
        "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
        "cuDNN error: CUDNN_STATUS_ALLOC_FAILED",
    ],
)
def test_out_of_memory_as_a_plain_runtime_error_is_split_too(tmp_path, dataset, message):
    model = StubModel(Device(8, RuntimeError, message))
    stats, records = predict(dataset, tmp_path, model, batch_size=8, n=8)
    assert sorted(records) == list(range(8))
    assert stats.errors == 0 and model.batch_sizes == [8, 4, 4]


def test_other_runtime_errors_are_not_taken_for_out_of_memory():
    from vlmeval_core.inference import is_out_of_memory

    assert not is_out_of_memory(RuntimeError("CUDA error: device-side assert triggered"))
    assert not is_out_of_memory(ValueError("out of memory"))
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))


def test_an_item_out_of_memory_alone_ends_the_run_with_exit_3(tmp_path, dataset):
    model = StubModel(Device(1, torch.OutOfMemoryError, "CUDA out of memory"))
    with pytest.raises(RuntimeFailure, match=r"^out of memory even for a batch of one item") as c:
        predict(dataset, tmp_path, model, batch_size=4, n=4)
    assert c.value.exit_code == 3
    assert model.batch_sizes == [4, 2, 1]
    assert read_checkpoints(tmp_path, dataset.frame["index"]) == {}, (
        "no item is recorded as answered (or as wrong)"
    )


class HostModel:
    """A model on the CPU whose attention for a "huge" prompt asks the host for 8 TiB: the
    real allocation, refused by torch's CPU allocator."""

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    def encode(self, batch):
        return Encoded(prompts=[prompt for _, prompt in batch])

    def generate_encoded(self, inputs: Encoded, max_new_tokens: int) -> Generation:
        prompts = inputs["prompts"]
        self.batch_sizes.append(len(prompts))
        if any("huge" in str(p) for p in prompts):
            torch.empty(2**43, dtype=torch.uint8)
        texts = [f"answer {len(p)}" for p in prompts]
        n = len(prompts)
        return Generation(texts, prompt_tokens=n, tokens=[1] * n, finish_reasons=["eos"] * n)


def test_an_item_the_host_cannot_hold_even_alone_fails_alone_and_the_run_goes_on(tmp_path, dataset):
    """Before, a host allocation failure was not taken for out of memory: the whole batch was
    lost, and every rerun failed the same way."""
    from vlmeval_core.inference import is_out_of_memory

    huge = dataset.frame.copy()
    huge.loc[1, "question"] = "huge " + huge.loc[1, "question"]
    model = HostModel()
    frame, dataset.frame = dataset.frame, huge
    try:
        stats, records = predict(dataset, tmp_path, model, batch_size=4, n=4)
    finally:
        dataset.frame = frame
    assert sorted(records) == [0, 1, 2, 3]
    error = records[1]["error"]
    assert error.startswith("out of memory even alone:") and "can't allocate memory" in error
    assert all(records[i]["error"] is None and records[i]["prediction"] for i in (0, 2, 3))
    assert stats.errors == 1 and model.batch_sizes == [4, 2, 1, 1, 1, 1]
    assert is_out_of_memory(MemoryError())
