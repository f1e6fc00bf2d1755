"""GPU discovery for the launcher, through NVML (nvidia-ml-py) and never through torch.

:func:`discover` asks NVML for every device, expands GPUs in MIG mode into
their MIG devices, and keeps the ones a CUDA process here may use. The rule is
"what NVML reports, narrowed by ``CUDA_VISIBLE_DEVICES``", because that is what
CUDA itself sees:

* ``NVIDIA_VISIBLE_DEVICES`` is an instruction to the container runtime, which
  has already carried it out when any process of the container runs: NVML and
  CUDA see only the GPUs it gave the container. CUDA never reads the variable,
  so it is not applied again, whatever its form (``all``, a list of indices or
  UUIDs, ``0:1`` MIG notation, ``void`` under CDI, ``none``,
  ``/var/run/nvidia-container-devices`` for the Kubernetes device plugin's
  volume-mounts mode). On a host shell it has no effect on CUDA either.
* ``CUDA_VISIBLE_DEVICES``, read as CUDA reads it: a comma-separated list of
  indices, ``GPU-`` UUIDs or ``MIG-`` UUIDs (unique prefixes accepted, and the
  older ``MIG-GPU-<uuid>/<gi>/<ci>`` spelling); CUDA stops at the first entry
  it cannot use, so ``-1`` or an empty value means no GPU; a GPU named twice
  counts once. Indices are NVML's, i.e. PCI bus order (``CUDA_DEVICE_ORDER=PCI_BUS_ID``).

The usable set keeps ``CUDA_VISIBLE_DEVICES``' order. A MIG device is listed
under its parent's index with its own ``MIG-`` UUID, which is what a rank puts
in its own ``CUDA_VISIBLE_DEVICES``. Each GPU carries its compute capability;
:meth:`Inventory.require` refuses GPUs older than this build supports and warns
when the driver is older than torch's CUDA needs (:mod:`vlmeval_core.gpu_support`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shlex
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmeval_core.errors import RuntimeFailure, UsageError
from vlmeval_core.gpu_support import Capability, capability_problem, driver_problem

CONTAINER_MARKERS = (Path("/.dockerenv"), Path("/run/.containerenv"))
"""Files docker and podman create in every container they start."""

IMAGE_ENV = "VLMEVAL_IMAGE_VERSION"
"""Set by docker/Dockerfile in the vlmeval image, and nowhere else."""

CPU_FIX = "or run on the CPU: vlmeval eval --device cpu …"
"""The CPU alternative, as a command (``vlmeval gpus`` itself takes no --device)."""


def in_container(markers: Iterable[Path] = CONTAINER_MARKERS) -> bool:
    """Whether this process runs in a docker or podman container (any image)."""
    return any(marker.exists() for marker in markers)


def in_image(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process runs in the vlmeval image, the container whose ``docker run``
    flags the messages may name. Not the container markers: a development machine or CI
    runner may itself be a container (it has /.dockerenv) where vlmeval runs from a venv,
    and there the user starts no container (measured on this project's machines)."""
    return bool((os.environ if environ is None else environ).get(IMAGE_ENV))


def no_gpu_message(container: bool | None = None) -> str:
    """Why there is no GPU and the fix; it names a container only inside the image."""
    if in_image() if container is None else container:
        return (
            "no NVIDIA GPU is visible in this container: start it with --gpus all "
            f"(NVIDIA Container Toolkit), {CPU_FIX}"
        )
    return (
        "no NVIDIA GPU is visible on this host (NVML finds no driver or no device): install "
        f"the NVIDIA driver and check nvidia-smi, {CPU_FIX}"
    )


_MIB = 1024 * 1024
_INDEX = re.compile(r"\d+")
# NVML errors that mean "there is no GPU here", not "the GPU stack is broken".
_ABSENT_ERRORS = ("NVMLError_LibraryNotFound", "NVMLError_DriverNotLoaded")


@dataclass(frozen=True)
class Gpu:
    """One device a rank can be given: a whole GPU or one MIG device of a GPU."""

    index: int
    uuid: str
    name: str
    memory_total_mib: int
    parent_uuid: str | None = None
    mig_path: str | None = None  # "GPU-<uuid>/<gi>/<ci>": the older MIG-GPU-… spelling
    capability: Capability | None = None  # (major, minor) from NVML; None if it cannot say

    @property
    def is_mig(self) -> bool:
        return self.parent_uuid is not None

    def to_dict(self) -> dict[str, Any]:
        """The plan's view of a GPU: index, uuid, name, memory_total_mib."""
        return {
            "index": self.index,
            "uuid": self.uuid,
            "name": self.name,
            "memory_total_mib": self.memory_total_mib,
        }


@dataclass(frozen=True)
class PhysicalGpu:
    """A GPU as NVML lists it; ``migs`` is None unless MIG mode is on."""

    gpu: Gpu
    migs: tuple[Gpu, ...] | None = None

    @property
    def units(self) -> tuple[Gpu, ...]:
        """What CUDA can run on: the GPU itself, or its MIG devices in MIG mode."""
        return self.migs if self.migs is not None else (self.gpu,)


@dataclass(frozen=True)
class Inventory:
    """The result of a discovery: the usable GPUs and what NVML said about the host."""

    gpus: tuple[Gpu, ...]
    physical: tuple[PhysicalGpu, ...] = ()
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    unavailable: str | None = None
    visibility: str = ""

    def require(self, warn: bool = True, cpu_fix: str | None = None) -> tuple[Gpu, ...]:
        """The usable GPUs, or an error saying why there are none (or why they cannot run).

        No GPU is a UsageError (exit 2); a GPU older than this build supports a
        RuntimeFailure (exit 3). With ``warn``, a driver older than torch's CUDA build
        needs gets a ``vlmeval: warning:`` line on stderr (CUDA's forward compatibility
        can still run it on datacenter GPUs; torch then decides). ``cpu_fix`` replaces the
        messages' "--device cpu" where that flag is not taken (:data:`CPU_FIX`).
        """
        if not self.gpus:
            raise UsageError(self.none_usable() if cpu_fix is None else self.none_usable(cpu_fix))
        fix = {} if cpu_fix is None else {"cpu_fix": cpu_fix}
        problems = [
            p
            for g in self.gpus
            if g.capability and (p := capability_problem(g.name, g.capability, **fix))
        ]
        if problems:
            raise RuntimeFailure(problems[0])
        warning = self.driver_warning()
        if warn and warning:
            print(f"vlmeval: warning: {warning}", file=sys.stderr, flush=True)
        return self.gpus

    def driver_warning(self) -> str | None:
        """Why the driver may be too old for torch's CUDA build, or None."""
        return driver_problem(self.cuda_driver_version, self.driver_version, torch_cuda_version())

    @property
    def no_gpu_at_all(self) -> bool:
        """No NVIDIA GPU here (no driver, or none reported); not GPUs that are hidden."""
        return self.unavailable is not None or not self.physical

    def none_usable(self, cpu_fix: str = "or pass --device cpu") -> str:
        """Why no GPU is usable, and the fix (one line); ``cpu_fix`` names the CPU way out
        (a flag for eval, a command for ``vlmeval gpus``)."""
        if self.no_gpu_at_all:
            return no_gpu_message()
        count = len(self.physical)
        if self.visibility:
            return (
                f"{self.visibility} hides all {count} GPU{'s' if count != 1 else ''} NVML "
                f"reports: unset it or name the GPUs to use, {cpu_fix}"
            )
        return (
            f"the {count} GPU{'s' if count != 1 else ''} NVML reports are in MIG mode without "
            "MIG devices: create MIG instances (nvidia-smi mig -cgi … -C) or disable MIG mode, "
            f"{cpu_fix}"
        )


def torch_cuda_version() -> str | None:
    """The CUDA version torch was built for (``13.0``), read from ``torch/version.py``
    without importing torch; None for a CPU build or when torch is missing."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    for directory in spec.submodule_search_locations:
        try:
            text = Path(directory, "version.py").read_text(encoding="utf-8")
        except OSError:
            continue
        match = re.search(r"^cuda(?:: [^=]+)? = '([0-9.]+)'", text, re.M)
        return match[1] if match else None
    return None


def describe_visibility(environ: Mapping[str, str] | None = None) -> str:
    """``CUDA_VISIBLE_DEVICES=0,1`` when it is set: the one variable that narrows the GPUs."""
    env = os.environ if environ is None else environ
    value = env.get("CUDA_VISIBLE_DEVICES")
    return "" if value is None else f"CUDA_VISIBLE_DEVICES={shlex.quote(value)}"


def discover(environ: Mapping[str, str] | None = None) -> Inventory:
    """Ask NVML for the GPUs this process may use.

    A missing NVML library or driver gives an empty inventory with
    ``unavailable`` set; any other NVML failure raises RuntimeFailure (exit 3).
    """
    env = os.environ if environ is None else environ
    visibility = describe_visibility(env)
    try:
        import pynvml
    except ImportError as exc:  # nvidia-ml-py is a dependency; be clear if it went missing
        return Inventory(
            (), unavailable=f"nvidia-ml-py is not installed ({exc})", visibility=visibility
        )
    absent = tuple(getattr(pynvml, name) for name in _ABSENT_ERRORS if hasattr(pynvml, name))
    try:
        pynvml.nvmlInit()
    except absent as exc:
        return Inventory((), unavailable=str(exc) or type(exc).__name__, visibility=visibility)
    except pynvml.NVMLError as exc:
        raise RuntimeFailure(
            f"NVML could not start ({exc}): check the driver with nvidia-smi on the host"
        ) from None
    try:
        physical = tuple(_enumerate(pynvml))
        driver = _optional(pynvml, "nvmlSystemGetDriverVersion")
        cuda = _optional(pynvml, "nvmlSystemGetCudaDriverVersion")
    except pynvml.NVMLError as exc:
        raise RuntimeFailure(
            f"NVML could not list the GPUs ({exc}): check the driver with nvidia-smi on the host"
        ) from None
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()
    return Inventory(
        gpus=select(physical, env),
        physical=physical,
        driver_version=_text(driver) if driver is not None else None,
        cuda_driver_version=format_cuda_version(cuda) if isinstance(cuda, int) else None,
        visibility=visibility,
    )


def select(physical: Iterable[PhysicalGpu], environ: Mapping[str, str]) -> tuple[Gpu, ...]:
    """What CUDA sees: NVML's devices narrowed by CUDA_VISIBLE_DEVICES (whose order is kept)."""
    return tuple(_cuda_chosen(tuple(physical), environ.get("CUDA_VISIBLE_DEVICES")))


def format_cuda_version(value: int) -> str:
    """NVML's CUDA driver version number (12040) as ``12.4``."""
    return f"{value // 1000}.{(value % 1000) // 10}"


def _enumerate(nvml: Any) -> Iterable[PhysicalGpu]:
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        gpu = Gpu(
            index=index,
            uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
            name=_text(nvml.nvmlDeviceGetName(handle)),
            memory_total_mib=int(nvml.nvmlDeviceGetMemoryInfo(handle).total) // _MIB,
            capability=_capability(nvml, handle),
        )
        yield PhysicalGpu(gpu, _mig_devices(nvml, handle, gpu))


def _capability(nvml: Any, handle: Any) -> Capability | None:
    try:
        major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
    except (nvml.NVMLError, AttributeError):
        return None
    return int(major), int(minor)


def _mig_devices(nvml: Any, handle: Any, parent: Gpu) -> tuple[Gpu, ...] | None:
    """The MIG devices of a GPU in MIG mode, or None when MIG is off or unsupported."""
    try:
        current, _pending = nvml.nvmlDeviceGetMigMode(handle)
    except (nvml.NVMLError, AttributeError):
        return None
    if current != getattr(nvml, "NVML_DEVICE_MIG_ENABLE", 1):
        return None
    migs = []
    for slot in range(nvml.nvmlDeviceGetMaxMigDeviceCount(handle)):
        try:
            mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
        except nvml.NVMLError:  # an empty slot (NotFound), or one this container may not see
            continue
        path = None
        try:
            gi = nvml.nvmlDeviceGetGpuInstanceId(mig)
            ci = nvml.nvmlDeviceGetComputeInstanceId(mig)
            path = f"{parent.uuid}/{gi}/{ci}"
        except (nvml.NVMLError, AttributeError):
            pass
        migs.append(
            Gpu(
                index=parent.index,
                uuid=_text(nvml.nvmlDeviceGetUUID(mig)),
                name=_text(nvml.nvmlDeviceGetName(mig)),
                memory_total_mib=int(nvml.nvmlDeviceGetMemoryInfo(mig).total) // _MIB,
                parent_uuid=parent.uuid,
                mig_path=path,
                capability=parent.capability,
            )
        )
    return tuple(migs)


def _cuda_chosen(physical: tuple[PhysicalGpu, ...], value: str | None) -> list[Gpu]:
    if value is None:
        return [unit for p in physical for unit in p.units]
    chosen: list[Gpu] = []
    for raw in value.split(","):
        found = _match_entry(raw.strip(), physical)
        if found is None:
            break  # CUDA ignores everything from the first entry it cannot use
        chosen.extend(g for g in found if g not in chosen)
    return chosen


def _by_index(physical: tuple[PhysicalGpu, ...], index: int) -> tuple[Gpu, ...] | None:
    return physical[index].units if 0 <= index < len(physical) else None


def _match_entry(entry: str, physical: tuple[PhysicalGpu, ...]) -> tuple[Gpu, ...] | None:
    """The devices one visibility entry names, or None when it names none (or several)."""
    if _INDEX.fullmatch(entry):
        return _by_index(physical, int(entry))
    lowered = entry.lower()
    if lowered.startswith("gpu-") and len(lowered) > len("gpu-"):
        hits = [p for p in physical if p.gpu.uuid.lower().startswith(lowered)]
        return hits[0].units if len(hits) == 1 else None
    if lowered.startswith("mig-gpu-") and "/" in lowered:
        target = lowered[len("mig-") :]
        hits = [m for p in physical for m in p.migs or () if (m.mig_path or "").lower() == target]
        return (hits[0],) if len(hits) == 1 else None
    if lowered.startswith("mig-") and len(lowered) > len("mig-"):
        hits = [m for p in physical for m in p.migs or () if m.uuid.lower().startswith(lowered)]
        return (hits[0],) if len(hits) == 1 else None
    return None


def _optional(nvml: Any, function: str) -> Any:
    """Call an NVML query that older drivers may lack; None when it is missing or fails."""
    try:
        return getattr(nvml, function)()
    except (nvml.NVMLError, AttributeError):
        return None


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
