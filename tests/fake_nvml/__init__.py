"""Test helpers that swap the fake ``pynvml`` (this directory's pynvml.py) in for the real one.

In-process: :func:`install` puts a fresh copy of the fake into
``sys.modules["pynvml"]`` (through pytest's monkeypatch) and describes the
GPUs in ``FAKE_NVML_CONFIG``. For a subprocess: :func:`subprocess_env` puts
this directory first on PYTHONPATH, so ``import pynvml`` finds the fake.
Nothing but NVML is replaced; :func:`clean_env` drops the variables a
developer's shell or the image may carry (VLMEVAL_*, LMUData, *_VISIBLE_DEVICES).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

DIR = Path(__file__).resolve().parent
CONFIG_VARIABLE = "FAKE_NVML_CONFIG"
H100 = ("NVIDIA H100 80GB HBM3", 81559, (9, 0))
A100 = ("NVIDIA A100-SXM4-40GB", 40960, (8, 0))
T4 = ("Tesla T4", 15360, (7, 5))
V100 = ("Tesla V100-SXM2-32GB", 32768, (7, 0))
DRIVER = {"driver": "580.95.05", "cuda": 13000}  # the CUDA 13 driver the image needs
_LEAKY = (
    "LMUData",
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "CUDA_DEVICE_ORDER",
)


def gpu_uuid(i: int) -> str:
    return f"GPU-{i:08x}-1111-2222-3333-{i:012x}"


def mig_uuid(i: int, slot: int) -> str:
    return f"MIG-{i:04x}{slot:04x}-aaaa-bbbb-cccc-{i * 16 + slot:012x}"


def gpus(count: int, model: tuple[str, int, tuple[int, int]] = H100) -> list[dict[str, Any]]:
    """``count`` whole GPUs of one model."""
    return [
        {
            "uuid": gpu_uuid(i),
            "name": model[0],
            "memory_total_mib": model[1],
            "capability": list(model[2]),
        }
        for i in range(count)
    ]


def mig_gpu(i: int, slices: int, *, mib: int = 9856) -> dict[str, Any]:
    """An A100 in MIG mode with ``slices`` 1g.10gb devices (GPU instance 7+slot, CI 0)."""
    return {
        "uuid": gpu_uuid(i),
        "name": A100[0],
        "memory_total_mib": A100[1],
        "capability": list(A100[2]),
        "mig": [
            {
                "uuid": mig_uuid(i, s),
                "name": f"{A100[0]} MIG 1g.10gb",
                "memory_total_mib": mib,
                "gi": 7 + s,
                "ci": 0,
            }
            for s in range(slices)
        ],
    }


def config(devices: list[dict[str, Any]] | None, **extra: Any) -> str | None:
    """The FAKE_NVML_CONFIG value; None means "no NVML library"."""
    if devices is None:
        return None
    return json.dumps({"gpus": devices, **DRIVER, **extra})


def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("VLMEVAL_") or name in _LEAKY or name == CONFIG_VARIABLE:
            monkeypatch.delenv(name, raising=False)


def load() -> ModuleType:
    """A fresh copy of the fake module, imported under the name ``pynvml``."""
    spec = importlib.util.spec_from_file_location("pynvml", DIR / "pynvml.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def install(
    monkeypatch: pytest.MonkeyPatch, devices: list[dict[str, Any]] | None, **extra: Any
) -> ModuleType:
    """Swap the fake in for this test and describe ``devices`` (None: no NVML library)."""
    module = load()
    monkeypatch.setitem(sys.modules, "pynvml", module)
    value = config(devices, **extra)
    if value is None:
        monkeypatch.delenv(CONFIG_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(CONFIG_VARIABLE, value)
    return module


def subprocess_env(
    devices: list[dict[str, Any]] | None, *, fake: bool = True, **overrides: str
) -> dict[str, str]:
    """An environment for a subprocess; with ``fake`` its ``import pynvml`` finds the fake."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("VLMEVAL_") or k in _LEAKY or k == CONFIG_VARIABLE)
    }
    if fake:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(DIR), env.get("PYTHONPATH")]))
    value = config(devices)
    if value is not None:
        env[CONFIG_VARIABLE] = value
    env.update(overrides)
    return env
