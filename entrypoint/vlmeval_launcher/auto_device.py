"""What ``--device auto`` does on a host without a GPU: the CPU for a small local model only.

A host without a GPU runs the bundled tiny-vlm (or any local model directory with under
:data:`CPU_WEIGHTS_LIMIT` bytes of weights) on the CPU, with a note. Any other model (a hub
id, a registered 2B/7B model, a large local directory) stops with the no-GPU error instead
of running for hours on the CPU; ``--device cpu`` still runs it there on purpose. GPUs that
exist but are hidden (``CUDA_VISIBLE_DEVICES``, MIG without devices) are an error whatever
the model, naming what hides them. Torch-free.
"""

from __future__ import annotations

from pathlib import Path

from vlmeval_core.models.record import ModelSpec

CPU_WEIGHTS_LIMIT = 1 << 30
"""1 GiB of weight files (about 250M fp32 parameters): minutes, not hours, on a CPU."""
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def weights_size(directory: Path) -> int:
    """Bytes of weight files under a model directory."""
    weights = (p for p in directory.rglob("*") if p.suffix in WEIGHT_SUFFIXES)
    return sum(p.stat().st_size for p in weights if p.is_file())


def runs_on_cpu_by_default(model: ModelSpec) -> bool:
    """Whether ``--device auto`` may fall back to the CPU for ``model`` when no GPU is usable."""
    if model.source == "bundled":
        return True
    if model.source == "local":
        return weights_size(Path(model.path)) < CPU_WEIGHTS_LIMIT
    return False  # a hub model: its size is unknown before it is downloaded


def fallback_note(model: ModelSpec) -> str:
    return f"no GPU here, so --device auto runs {model.name} (a small model) on the CPU"


def refusal_advice(model: ModelSpec) -> str:
    """What the no-GPU error adds under ``--device auto`` for a model too large for the CPU."""
    return (
        f"--device auto runs only small local models such as tiny-vlm on the CPU; "
        f"pass --device cpu to run {model.name} there anyway (slow)"
    )
