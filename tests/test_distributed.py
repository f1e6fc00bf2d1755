"""Rank identity, GPU slices and world_size_unset, the guard around model construction."""

from __future__ import annotations

import os

import pytest

from vlmeval_core.distributed import gpu_slice, rank_info, usable_gpu_ids, world_size_unset
from vlmeval_core.errors import UsageError


def test_a_plain_process_is_rank_0_of_1():
    info = rank_info({})
    assert (info.rank, info.world_size, info.local_rank, info.local_world_size) == (0, 1, 0, 1)


def test_torchrun_variables_are_read():
    info = rank_info({"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4"})
    assert (info.rank, info.world_size, info.local_rank, info.local_world_size) == (5, 8, 1, 4)


def test_each_local_rank_gets_consecutive_gpus():
    usable = ["GPU-a", "GPU-b", "GPU-c", "GPU-d"]
    assert gpu_slice(0, 2, usable) == ["GPU-a", "GPU-b"]
    assert gpu_slice(1, 2, usable) == ["GPU-c", "GPU-d"]
    with pytest.raises(UsageError, match="only 4 are usable"):
        gpu_slice(2, 2, usable)


def test_the_launcher_inventory_wins_over_the_environment():
    plan_gpus = [{"index": 3, "uuid": "GPU-x"}, {"index": 5, "uuid": "GPU-y"}]
    assert usable_gpu_ids(plan_gpus, {"CUDA_VISIBLE_DEVICES": "0"}) == ["GPU-x", "GPU-y"]
    assert usable_gpu_ids([], {"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]


def test_world_size_is_hidden_while_building_and_restored(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    with world_size_unset():
        assert "WORLD_SIZE" not in os.environ
    assert os.environ["WORLD_SIZE"] == "4"


def test_world_size_is_restored_when_the_constructor_raises(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    with pytest.raises(MemoryError), world_size_unset():
        assert "WORLD_SIZE" not in os.environ
        raise MemoryError("constructor failed")
    assert os.environ["WORLD_SIZE"] == "4"


def test_world_size_stays_absent_when_it_was_absent(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with world_size_unset():
        pass
    assert "WORLD_SIZE" not in os.environ
