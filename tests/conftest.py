"""Shared helpers: plans for the bundled model and Shapes data, and real torchrun runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import fake_nvml
from vlmeval_core.datasets.registry import DatasetRef, resolve_dataset
from vlmeval_core.models.registry import TINY_VLM_DIR
from vlmeval_core.node import NodeSettings
from vlmeval_core.run_plan import ModelSpec, Plan


def make_plan(
    tmp_path: Path,
    datasets: list[str],
    *,
    model: ModelSpec | None = None,
    run_name: str = "test",
    batch_size: int = 16,
    **fields: Any,
) -> Plan:
    """A plan (CPU unless told) writing under ``tmp_path/out``; its node's data dir is
    ``tmp_path/data`` (:func:`node_of`)."""
    model = model or ModelSpec(
        "tiny-vlm", "bundled", str(TINY_VLM_DIR), batch_size=batch_size, max_new_tokens=8
    )
    refs: tuple[DatasetRef, ...] = tuple(resolve_dataset(d) for d in datasets)
    fields.setdefault("device", "cpu")
    return Plan(
        model=model,
        datasets=refs,
        output_dir=str(tmp_path / "out"),
        run_name=run_name,
        **fields,
    )


def node_of(plan: Plan, gpus: tuple[dict[str, Any], ...] = ()) -> NodeSettings:
    """The node settings of a :func:`make_plan` plan: data beside its output dir, and
    ``gpus`` as the node's GPU list (none: CUDA_VISIBLE_DEVICES decides)."""
    return NodeSettings(str(Path(plan.output_dir).parent / "data"), gpus)  # type: ignore[arg-type]


def worker_env(plan: Plan | None = None, gpus: tuple[dict[str, Any], ...] = ()) -> dict[str, str]:
    """The ranks' environment; with ``plan``, its node's settings (:func:`node_of`)."""
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", DIST_TIMEOUT="300"
    )
    for key in (
        "RANK",
        "WORLD_SIZE",
        "LOCAL_RANK",
        "LOCAL_WORLD_SIZE",
        "MASTER_ADDR",
        "MASTER_PORT",
    ):
        env.pop(key, None)
    if plan is not None:
        env.update(node_of(plan, gpus).to_env())
    return env


def ranks_argv(plan_path: Path, nproc: int) -> list[str]:
    """What ``vlmeval eval`` runs on one node: the supervisor with ``nproc`` gloo ranks."""
    return [
        sys.executable,
        "-m",
        "vlmeval_core.supervisor",
        f"--nproc-per-node={nproc}",
        "-m",
        "vlmeval_core.worker",
        str(plan_path),
    ]


def run_ranks(
    plan: Plan, nproc: int, timeout: float = 600, gpus: tuple[dict[str, Any], ...] = ()
) -> subprocess.CompletedProcess:
    """A one-node run of ``plan``'s ranks, as ``vlmeval eval`` starts them after its checks."""
    return subprocess.run(
        ranks_argv(plan.write(), nproc),
        env=worker_env(plan, gpus),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_worker(
    plan: Plan, timeout: float = 300, gpus: tuple[dict[str, Any], ...] = (), **env: str
) -> subprocess.CompletedProcess:
    """One rank on its own: ``python -m vlmeval_core.worker plan.json``."""
    return subprocess.run(
        [sys.executable, "-m", "vlmeval_core.worker", str(plan.write())],
        env={**worker_env(plan, gpus), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def predictions(plan: Plan, dataset: str) -> list[dict[str, Any]]:
    path = plan.run_dir / dataset / "predictions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def workspace(monkeypatch, tmp_path):
    """A clean environment (no NVML, CUDA or vlmeval variables) in an empty working directory,
    LMUData inside it: what a launcher test runs in. A file may define its own."""
    fake_nvml.clean_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LMUData", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real 64 KiB file system at tmp_path/small, for full-disk faults (needs root)."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture
def plan_factory(tmp_path):
    def factory(datasets: list[str], **kwargs: Any) -> Plan:
        return make_plan(tmp_path, datasets, **kwargs)

    return factory
