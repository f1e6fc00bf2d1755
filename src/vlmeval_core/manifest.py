"""What went into a run, for ``manifest.json``: versions, hardware, identity, data, attempts.

Collected on rank 0 after the datasets are scored. Never holds a token or
secret: only names and versions are read from the environment.
"""

from __future__ import annotations

import dataclasses
import os
import platform
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from vlmeval_core import __version__, attempts
from vlmeval_core.distributed import PROCESS_GROUP_BACKEND
from vlmeval_core.identity import load_identity, run_identity
from vlmeval_core.node import NodeSettings
from vlmeval_core.run_plan import Plan

PACKAGES = (
    "torch",
    "torchvision",
    "transformers",
    "tokenizers",
    "huggingface_hub",
    "safetensors",
    "accelerate",
    "numpy",
    "pandas",
    "pillow",
    "nvidia-ml-py",
    "click",
    "vlmeval-image",
)


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def torch_stack() -> dict[str, Any]:
    """torch, CUDA, cuDNN and NCCL versions, and the GPUs this rank can see."""
    import torch

    info: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["cudnn"] = torch.backends.cudnn.version()
        try:
            info["nccl"] = ".".join(map(str, torch.cuda.nccl.version()))
        except (AttributeError, RuntimeError):
            info["nccl"] = None
    return info


def driver_version() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return None
    return version.decode() if isinstance(version, bytes) else str(version)


def build_manifest(
    plan: Plan,
    node: NodeSettings,
    world_size: int,
    model_commit: str | None,
    datasets: dict[str, dict[str, Any]],
    wall_s: dict[str, float],
    server_models: Any = None,
    datasets_scores: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The manifest of a finished run.

    ``identity`` holds the settings every prediction was made with (fixed by the
    run's first launch); ``model`` this attempt's model record, every field, with the
    commit a hub model resolved to; ``attempts`` every launch with its own ranks, batch size
    and limit, and its exit (null: killed outright, unknown). An endpoint run adds
    ``endpoint``: its base URL (never a key), extra fields, concurrency, timeout and
    the server's ``/models`` answer (``server_models``); a judged run ``judge``: its settings
    (never a key) and its server's ``/models`` answer (from ``datasets_scores``, the scores of
    the datasets it judged). ``wall_s`` is this
    attempt's; ``wall_s.all_attempts`` sums node 0's attempts whose end is known.
    """
    run_dir = plan.run_dir
    history = attempts.history(run_dir, finishing=attempts.current_id())
    return {
        "image": {
            "version": os.environ.get("VLMEVAL_IMAGE_VERSION", __version__),
            "revision": os.environ.get("VLMEVAL_IMAGE_REVISION"),
        },
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "torch": torch_stack(),
        "driver": driver_version(),
        "gpus": [g["name"] for g in node.gpus],
        "identity": load_identity(run_dir) or run_identity(plan).to_dict(),
        "model": {**dataclasses.asdict(plan.model), "resolved_commit": model_commit},
        "endpoint": None
        if plan.endpoint is None
        else {**dataclasses.asdict(plan.endpoint), "models": server_models},
        **judge_record(plan, datasets_scores),
        "datasets": datasets,
        "device": plan.device,
        "world_size": world_size,
        "process_group": PROCESS_GROUP_BACKEND if world_size > 1 else None,
        "attempts": history,
        "wall_s": {**wall_s, "all_attempts": attempts.total_wall_s(history)},
    }


def judge_record(
    plan: Plan, datasets_scores: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, Any]:
    """``{"judge": …}`` for a judged run's manifest: the plan's judge and the ``/models``
    answer of its server as scoring found it; ``{}`` for a run without a judge."""
    if plan.judge is None:
        return {}
    found = [s["judge"] for s in (datasets_scores or {}).values() if "judge" in s]
    models = found[0].get("models") if found else None
    return {"judge": {**dataclasses.asdict(plan.judge), "models": models}}
