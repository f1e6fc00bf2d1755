"""Which GPUs and drivers a run supports, and the dtype ``auto`` means on each. Torch-free.

The launcher and ``vlmeval doctor`` check these facts from NVML before anything
starts; the ranks pick the dtype and the attention implementation from them.

* Compute capability: torch's cu130 wheels hold kernels for sm_75 (Turing: T4,
  RTX 20xx) to sm_120; an older GPU (V100 is sm_70, P100 sm_60) cannot run them.
* ``--dtype auto`` is bfloat16 from sm_80 (Ampere: A100, A10, RTX 30xx, and
  newer: L4, L40, H100, H200, B200), float16 below (T4, RTX 20xx), where
  bfloat16 has no hardware support. Flash-attention 2 needs sm_80 as well.
* Driver: a CUDA build needs a driver that supports its CUDA major version
  (CUDA 13: driver 580 or newer; CUDA 12: 525 or newer).
"""

from __future__ import annotations

Capability = tuple[int, int]

MIN_CAPABILITY: Capability = (7, 5)
BF16_MIN_CAPABILITY: Capability = (8, 0)
FLASH_ATTENTION_MIN_CAPABILITY: Capability = (8, 0)
# The oldest driver branch that supports each CUDA major version (NVIDIA's release notes).
MIN_DRIVER_FOR_CUDA = {12: "525", 13: "580"}


def auto_dtype(capability: Capability | None) -> str:
    """What ``--dtype auto`` means on a GPU of ``capability`` (None: the CPU)."""
    if capability is None:
        return "float32"
    return "bfloat16" if capability >= BF16_MIN_CAPABILITY else "float16"


def format_capability(capability: Capability) -> str:
    return f"sm_{capability[0]}{capability[1]}"


def capability_problem(
    name: str, capability: Capability, cpu_fix: str = "or --device cpu"
) -> str | None:
    """Why a GPU cannot run this build, or None when it can; ``cpu_fix`` names the CPU way
    out (a flag for eval, a command where the flag is not taken)."""
    if capability >= MIN_CAPABILITY:
        return None
    return (
        f"{name} is {format_capability(capability)} (compute capability "
        f"{capability[0]}.{capability[1]}), older than the {format_capability(MIN_CAPABILITY)} "
        f"this image's torch supports (T4, A100, L4, H100 and newer): use another GPU {cpu_fix}"
    )


def driver_problem(
    driver_cuda: str | None, driver: str | None, torch_cuda: str | None
) -> str | None:
    """Why the driver cannot run torch's CUDA build, or None (also when a version is unknown).

    ``driver_cuda`` is the newest CUDA the driver supports (NVML, ``12.4``);
    ``torch_cuda`` the CUDA torch was built for (``13.0``).
    """
    if not driver_cuda or not torch_cuda:
        return None
    have, need = _major_minor(driver_cuda), _major_minor(torch_cuda)
    if have is None or need is None or have[0] >= need[0]:
        return None
    minimum = MIN_DRIVER_FOR_CUDA.get(need[0])
    wanted = f"driver {minimum} or newer" if minimum else f"a driver for CUDA {need[0]}"
    return (
        f"the NVIDIA driver {driver or '?'} supports CUDA {driver_cuda}, but torch is built for "
        f"CUDA {torch_cuda} and needs {wanted}: upgrade the host's driver, or build the image "
        "for an older CUDA (README: GPU support)"
    )


def _major_minor(version: str) -> Capability | None:
    parts = version.split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return None
