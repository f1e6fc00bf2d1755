"""A stand-in for nvidia-ml-py's ``pynvml`` module: the hardware boundary, and the only fake.

It has the names the launcher calls, with pynvml's signatures and error
classes, and answers from a JSON description of the GPUs in the environment
variable ``FAKE_NVML_CONFIG`` (read on every call, so a test can change it):

    {"gpus": [{"uuid": "GPU-…", "name": "…", "memory_total_mib": 81559, "capability": [9, 0],
               "mig": null | [{"uuid": "MIG-…", "name": "…", "memory_total_mib": 9856,
                               "gi": 7, "ci": 0}, …]}, …],
     "driver": "580.95.05", "cuda": 13000, "init_error": null | "Unknown" | …}

Without the variable it behaves like a machine without a driver:
``nvmlInit`` raises ``NVMLError_LibraryNotFound``. Put this directory first on
PYTHONPATH for a subprocess, or place the module in ``sys.modules["pynvml"]``.
"""

from __future__ import annotations

import json
import os
from typing import Any, NamedTuple

CONFIG_VARIABLE = "FAKE_NVML_CONFIG"
NVML_DEVICE_MIG_DISABLE = 0
NVML_DEVICE_MIG_ENABLE = 1
_MIB = 1024 * 1024
_MAX_MIG_DEVICES = 7

calls: dict[str, int] = {"init": 0, "shutdown": 0}


class NVMLError(Exception):
    """Base of the NVML errors, as in pynvml."""

    message = "Unknown Error"

    def __str__(self) -> str:
        return self.message


class NVMLError_LibraryNotFound(NVMLError):
    message = "NVML Shared Library Not Found"


class NVMLError_DriverNotLoaded(NVMLError):
    message = "Driver Not Loaded"


class NVMLError_NotSupported(NVMLError):
    message = "Not Supported"


class NVMLError_NotFound(NVMLError):
    message = "Not Found"


class NVMLError_InvalidArgument(NVMLError):
    message = "Invalid Argument"


class NVMLError_Uninitialized(NVMLError):
    message = "Uninitialized"


class NVMLError_Unknown(NVMLError):
    message = "Unknown Error"


class NVMLError_LibRmVersionMismatch(NVMLError):
    message = "RM has detected an NVML/RM version mismatch."


class _Handle(NamedTuple):
    gpu: int
    mig: int | None = None


class _Memory(NamedTuple):
    total: int
    free: int
    used: int


_initialised = False


def _config() -> dict[str, Any] | None:
    raw = os.environ.get(CONFIG_VARIABLE)
    return None if raw is None else json.loads(raw)


def _gpus() -> list[dict[str, Any]]:
    if not _initialised:
        raise NVMLError_Uninitialized()
    config = _config() or {}
    return list(config.get("gpus", []))


def _record(handle: _Handle) -> dict[str, Any]:
    gpus = _gpus()
    if not isinstance(handle, _Handle) or not 0 <= handle.gpu < len(gpus):
        raise NVMLError_InvalidArgument()
    record = gpus[handle.gpu]
    if handle.mig is None:
        return record
    return record["mig"][handle.mig]


def nvmlInit() -> None:
    global _initialised
    config = _config()
    if config is None:
        raise NVMLError_LibraryNotFound()
    error = config.get("init_error")
    if error:
        raise globals()[f"NVMLError_{error}"]()
    calls["init"] += 1
    _initialised = True


def nvmlShutdown() -> None:
    global _initialised
    if not _initialised:
        raise NVMLError_Uninitialized()
    calls["shutdown"] += 1
    _initialised = False


def nvmlSystemGetDriverVersion() -> str:
    _gpus()
    return str((_config() or {}).get("driver", "580.95.05"))


def nvmlSystemGetCudaDriverVersion() -> int:
    _gpus()
    return int((_config() or {}).get("cuda", 13000))


def nvmlDeviceGetCount() -> int:
    return len(_gpus())


def nvmlDeviceGetHandleByIndex(index: int) -> _Handle:
    if not 0 <= index < len(_gpus()):
        raise NVMLError_InvalidArgument()
    return _Handle(index)


def nvmlDeviceGetUUID(handle: _Handle) -> str:
    return _record(handle)["uuid"]


def nvmlDeviceGetName(handle: _Handle) -> str:
    return _record(handle)["name"]


def nvmlDeviceGetMemoryInfo(handle: _Handle, version: int | None = None) -> _Memory:
    total = int(_record(handle)["memory_total_mib"]) * _MIB
    return _Memory(total=total, free=total, used=0)


def nvmlDeviceGetCudaComputeCapability(handle: _Handle) -> tuple[int, int]:
    gpu = _record(_Handle(handle.gpu))  # a MIG device has its parent's capability
    major, minor = gpu.get("capability", [9, 0])
    return int(major), int(minor)


def nvmlDeviceGetMigMode(device: _Handle) -> list[int]:
    record = _record(device)
    if device.mig is not None or "mig" not in record:
        raise NVMLError_NotSupported()
    mode = NVML_DEVICE_MIG_DISABLE if record["mig"] is None else NVML_DEVICE_MIG_ENABLE
    return [mode, mode]


def nvmlDeviceGetMaxMigDeviceCount(device: _Handle) -> int:
    record = _record(device)
    return _MAX_MIG_DEVICES if record.get("mig") is not None else 0


def nvmlDeviceGetMigDeviceHandleByIndex(device: _Handle, index: int) -> _Handle:
    migs = _record(device).get("mig")
    if migs is None:
        raise NVMLError_InvalidArgument()
    if not 0 <= index < len(migs) or migs[index] is None:
        raise NVMLError_NotFound()
    return _Handle(device.gpu, index)


def nvmlDeviceGetGpuInstanceId(device: _Handle) -> int:
    if device.mig is None:
        raise NVMLError_InvalidArgument()
    return int(_record(device)["gi"])


def nvmlDeviceGetComputeInstanceId(device: _Handle) -> int:
    if device.mig is None:
        raise NVMLError_InvalidArgument()
    return int(_record(device)["ci"])
