"""``vlmeval doctor``: check what a run needs, one line per check (ok / warn / fail).

A ``fail`` is something a run cannot do without (exit 3); a ``warn`` limits
what can run (no GPU: CPU runs only) or may bite later (a read-only cache).
This is the one command that imports torch, and only inside :func:`run_checks`.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from vlmeval_core.env_flags import is_set
from vlmeval_core.errors import VlmevalError
from vlmeval_core.gpu_support import auto_dtype, capability_problem, format_capability
from vlmeval_core.models.registry import TINY_VLM_DIR
from vlmeval_launcher import __version__
from vlmeval_launcher import gpus as gpu_discovery
from vlmeval_launcher.exec_ranks import find_torchrun
from vlmeval_launcher.launch import check_data_dir, check_output_dir

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class Check:
    """The outcome of one check: status, a short name, and what was found or what to do."""

    status: str
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<5} {self.name:<13} {self.detail}"


def run_checks(
    output: Path,
    data_dir: Path,
    device: str = "auto",
    environ: Mapping[str, str] | None = None,
    discover: Callable[[], gpu_discovery.Inventory] = gpu_discovery.discover,
) -> list[Check]:
    """Run every check; ``device`` cuda turns a missing GPU from a warn into a fail."""
    env = os.environ if environ is None else environ
    checks = [
        Check(OK, "vlmeval", f"{__version__} on Python {platform.python_version()}"),
        Check(OK, "user", f"uid {os.getuid()}, gid {os.getgid()}"),
    ]
    gpu_count = _nvml_checks(checks, device, discover)
    _torch_checks(checks, gpu_count)
    checks.append(_module_check("transformers"))
    checks.append(_worker_check())
    checks.append(_torchrun_check())
    checks.append(_output_check(output, env))
    checks.append(_dir_check("data", lambda: check_data_dir(data_dir), data_dir))
    checks.append(_cache_check(env))
    checks.append(_offline_check(env))
    if (TINY_VLM_DIR / "config.json").is_file():
        checks.append(Check(OK, "tiny-vlm", f"bundled at {TINY_VLM_DIR}"))
    else:
        checks.append(Check(WARN, "tiny-vlm", f"the bundled model is missing from {TINY_VLM_DIR}"))
    return checks


def _nvml_checks(
    checks: list[Check], device: str, discover: Callable[[], gpu_discovery.Inventory]
) -> int:
    """Driver, CUDA and GPU lines; returns how many usable GPUs there are."""
    try:
        inventory = discover()
    except VlmevalError as exc:
        checks.append(Check(FAIL, "nvml", str(exc)))
        return 0
    if inventory.unavailable is not None or not inventory.physical:
        reason = inventory.unavailable or "NVML reports no GPU"
        status = FAIL if device == "cuda" else WARN
        checks.append(Check(status, "nvml", f"{reason}: {gpu_discovery.no_gpu_message()}"))
        return 0
    driver_warning = inventory.driver_warning()
    checks.append(
        Check(WARN, "driver", driver_warning)
        if driver_warning
        else Check(
            OK,
            "driver",
            f"NVIDIA {inventory.driver_version or '?'}, supports CUDA "
            f"{inventory.cuda_driver_version or '?'}",
        )
    )
    if not inventory.gpus:
        try:
            inventory.require(warn=False)
        except VlmevalError as exc:
            checks.append(Check(FAIL if device == "cuda" else WARN, "gpus", str(exc)))
        return 0
    where = f" ({inventory.visibility})" if inventory.visibility else ""
    checks.append(Check(OK, "gpus", f"{len(inventory.gpus)} usable{where}"))
    for gpu in inventory.gpus:
        checks.append(_gpu_check(gpu))
    return len(inventory.gpus)


def _gpu_check(gpu: gpu_discovery.Gpu) -> Check:
    """A GPU's line: name, memory, compute capability and what ``--dtype auto`` means on it."""
    name = f"gpu {gpu.index}"
    if gpu.capability is None:
        return Check(OK, name, f"{gpu.name}, {gpu.memory_total_mib} MiB, {gpu.uuid}")
    problem = capability_problem(gpu.name, gpu.capability)
    if problem:
        return Check(FAIL, name, problem)
    return Check(
        OK,
        name,
        f"{gpu.name}, {gpu.memory_total_mib} MiB, {format_capability(gpu.capability)} "
        f"(--dtype auto: {auto_dtype(gpu.capability)}), {gpu.uuid}",
    )


def _torch_checks(checks: list[Check], gpu_count: int) -> None:
    try:
        import torch
        import torch.distributed as dist
    except Exception as exc:
        checks.append(Check(FAIL, "torch", f"cannot be imported ({exc}): reinstall the image"))
        return
    built = torch.version.cuda
    detail = (
        f"{torch.__version__}, built for CUDA {built}"
        if built
        else f"{torch.__version__}, CPU only"
    )
    if gpu_count == 0:
        checks.append(Check(OK, "torch", detail))
    elif not built:
        checks.append(Check(FAIL, "torch", f"{detail}, but {gpu_count} GPU(s) are visible"))
    elif not torch.cuda.is_available():
        checks.append(
            Check(
                FAIL,
                "torch",
                f"{detail}, cannot use the visible GPUs: the driver may be "
                "too old for this CUDA; compare with the driver line",
            )
        )
    else:
        checks.append(Check(OK, "torch", f"{detail}, sees {torch.cuda.device_count()} GPU(s)"))

    if not dist.is_available():
        checks.append(Check(FAIL, "distributed", "torch.distributed is not built in"))
        return
    if not dist.is_gloo_available():
        checks.append(Check(FAIL, "distributed", "gloo is missing: several ranks cannot meet"))
    else:
        checks.append(Check(OK, "distributed", "gloo, for the ranks' barriers (no NCCL needed)"))


def _module_check(name: str) -> Check:
    try:
        module = __import__(name)
    except Exception as exc:
        return Check(FAIL, name, f"cannot be imported ({exc}): reinstall the image")
    return Check(OK, name, str(getattr(module, "__version__", "?")))


def _worker_check() -> Check:
    try:
        found = importlib.util.find_spec("vlmeval_core.worker") is not None
    except ImportError:
        found = False
    if found:
        return Check(OK, "worker", "vlmeval_core.worker is installed")
    return Check(FAIL, "worker", "vlmeval_core.worker is missing: the ranks have nothing to run")


def _torchrun_check() -> Check:
    try:
        return Check(OK, "torchrun", " ".join(find_torchrun()))
    except VlmevalError as exc:
        return Check(FAIL, "torchrun", str(exc))


def _dir_check(name: str, check: Callable[[], None], path: Path) -> Check:
    try:
        check()
    except VlmevalError as exc:
        return Check(FAIL, name, str(exc))
    state = "writable" if name == "output" else "readable"
    return Check(OK, name, f"{path} ({state if path.exists() else 'can be created'})")


MOUNTINFO = Path("/proc/self/mountinfo")


def _output_check(output: Path, env: Mapping[str, str], mountinfo: Path = MOUNTINFO) -> Check:
    """The output line; in the image, a warning when no volume is mounted there (the
    results would stay in the container's own layer, and go with it)."""
    check = _dir_check("output", lambda: check_output_dir(output, create=False), output)
    if check.status != OK or not gpu_discovery.in_image(env) or is_mounted(output, mountinfo):
        return check
    return Check(
        WARN,
        "output",
        f"{output} is no mounted volume: the results stay in this container and are lost "
        f"with it (docker run --rm); mount a host directory there: -v $PWD/outputs:{output}",
    )


def is_mounted(path: Path, mountinfo: Path = MOUNTINFO) -> bool:
    """Whether ``path`` lies on a mount other than the root file system: the longest mount
    point of ``mountinfo`` that holds it, or, where that cannot be read, a device number
    that differs from the root's."""
    resolved = os.path.realpath(path)
    try:
        lines = mountinfo.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    points = []
    for line in lines:
        fields = line.split(" ")
        if len(fields) > 4:
            points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4]))
    if points:
        holder = max(
            (p for p in points if p == "/" or resolved == p or resolved.startswith(p + "/")),
            key=len,
            default="/",
        )
        return holder != "/"
    existing = Path(resolved)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        return existing.stat().st_dev != Path("/").stat().st_dev
    except OSError:
        return True  # cannot tell: no warning


def _cache_check(env: Mapping[str, str]) -> Check:
    cache = Path(
        env.get("HF_HOME")
        or os.path.join(env.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface")
    )
    try:
        check_output_dir(cache, create=False)
    except VlmevalError:
        return Check(
            WARN,
            "hf cache",
            f"{cache} is not writable: downloads will fail; mount a writable "
            "volume at HF_HOME (-v $HOME/.cache/huggingface:/cache/huggingface)",
        )
    return Check(OK, "hf cache", f"{cache} ({'writable' if cache.exists() else 'can be created'})")


def _offline_check(env: Mapping[str, str]) -> Check:
    offline = [v for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if is_set(v, env)]
    if offline:
        return Check(OK, "hf offline", f"on ({', '.join(offline)}): models must already be cached")
    token = "a token is set" if env.get("HF_TOKEN") else "no token (gated models need HF_TOKEN)"
    return Check(OK, "hf offline", f"off: models download from the hub; {token}")


def exit_code(checks: list[Check]) -> int:
    """3 when any check failed, else 0."""
    return 3 if any(c.status == FAIL for c in checks) else 0
