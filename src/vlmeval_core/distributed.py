"""Rank identity, each rank's GPU slice, the process group, and ``world_size_unset``.

The process that starts the ranks sets RANK, WORLD_SIZE, LOCAL_RANK and
LOCAL_WORLD_SIZE: :mod:`vlmeval_core.supervisor` on one node, torchrun on
several. Without them (a plain ``python -m vlmeval_core.worker plan.json``) this
is rank 0 of 1, and so is a one-rank run: no process group is made.

Where the ranks meet: on one node, a file store (``VLMEVAL_STORE_FILE``, a
fresh file in the supervisor's private temporary directory), so no port is
picked, reserved or raced for and no network is needed; gloo's own connections
then bind port 0 of the loopback interface (``GLOO_SOCKET_IFNAME=lo``). On
several nodes, torchrun's c10d rendezvous (``env://``: MASTER_ADDR, MASTER_PORT).

Every rank holds a whole model copy (data parallelism), so a model is only ever
built inside :func:`world_size_unset`.

The process group only carries barriers, so it is gloo on GPUs too: no NCCL
communicator, watchdog, shared memory or device binding, and several ranks may
share one physical GPU (MIG slices), which NCCL refuses.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from vlmeval_core.errors import RuntimeFailure, UsageError

DEFAULT_TIMEOUT_S = 3600
PROCESS_GROUP_BACKEND = "gloo"
STORE_FILE_VARIABLE = "VLMEVAL_STORE_FILE"
"""Set by :mod:`vlmeval_core.supervisor` when there are ranks to meet: their file store."""


@dataclass(frozen=True)
class RankInfo:
    """Where this process stands among the ranks of the run."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def rank_info(env: dict[str, str] | None = None) -> RankInfo:
    """Read the variables the supervisor (or torchrun) sets, defaulting to a single rank."""
    env = os.environ if env is None else env
    values = {}
    for key, default in (
        ("RANK", 0),
        ("WORLD_SIZE", 1),
        ("LOCAL_RANK", 0),
        ("LOCAL_WORLD_SIZE", 1),
    ):
        raw = env.get(key, str(default))
        try:
            values[key] = int(raw)
        except ValueError:
            raise UsageError(f"{key}={raw!r} is not a whole number") from None
    return RankInfo(
        values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"], values["LOCAL_WORLD_SIZE"]
    )


def gpu_slice(local_rank: int, gpus_per_model: int, usable: Sequence[str]) -> list[str]:
    """The ``gpus_per_model`` consecutive usable GPUs of ``local_rank`` (ids or UUIDs)."""
    start = local_rank * gpus_per_model
    chosen = list(usable[start : start + gpus_per_model])
    if len(chosen) < gpus_per_model:
        raise UsageError(
            f"local rank {local_rank} needs GPUs {start}..{start + gpus_per_model - 1} "
            f"but only {len(usable)} are usable: lower --nproc or --gpus-per-model"
        )
    return chosen


def usable_gpu_ids(
    plan_gpus: Sequence[dict[str, Any]], env: dict[str, str] | None = None
) -> list[str]:
    """The launcher's usable GPUs (UUIDs) if it listed them, else CUDA_VISIBLE_DEVICES' entries."""
    env = os.environ if env is None else env
    uuids = [str(g["uuid"]) for g in plan_gpus if g.get("uuid")]
    if uuids:
        return uuids
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [v.strip() for v in visible.split(",") if v.strip() and v.strip() != "-1"]
    return [str(g["index"]) for g in plan_gpus]


def claim_gpus(info: RankInfo, gpus_per_model: int, plan_gpus: Sequence[dict[str, Any]]) -> str:
    """Point CUDA_VISIBLE_DEVICES at this rank's slice and check that CUDA sees all of it.

    ``plan_gpus`` is this node's GPU list (its launcher's NVML inventory, from
    :class:`vlmeval_core.node.NodeSettings`). Call before CUDA initialises. A slice
    CUDA cannot see (the settings came from another host, a GPU went away, a driver
    too old for torch's CUDA) stops the rank with RuntimeFailure (exit 3).
    """
    import torch

    usable = usable_gpu_ids(plan_gpus)
    if not usable:
        usable = [str(i) for i in range(torch.cuda.device_count())]
    chosen = gpu_slice(info.local_rank, gpus_per_model, usable)
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(chosen)
    seen = torch.cuda.device_count()
    if seen < len(chosen):  # more: CUDA was initialised before (no GPU list)
        raise RuntimeFailure(
            f"rank {info.rank}: CUDA on this host sees {seen} of the {len(chosen)} GPU(s) the "
            f"node settings give local rank {info.local_rank} ({', '.join(chosen)}): check "
            "this host with `vlmeval doctor` (a driver too old for torch's CUDA hides every "
            "GPU), and start its ranks from its own `vlmeval eval` (each node's launcher "
            "lists its own GPUs)"
        )
    return ",".join(chosen)


def dist_timeout(env: Mapping[str, str] | None = None) -> timedelta:
    """How long a rank waits for the others: DIST_TIMEOUT seconds (default 3600).

    Anything but a positive, finite number of seconds (``inf``, ``-1``, ``abc``) is a
    usage error that names the variable and the fix.
    """
    env = os.environ if env is None else env
    raw = env.get("DIST_TIMEOUT", "").strip() or str(DEFAULT_TIMEOUT_S)
    try:
        seconds = float(raw)
        if math.isfinite(seconds) and seconds > 0:
            return timedelta(seconds=seconds)
    except (ValueError, OverflowError):
        pass
    raise UsageError(
        f"DIST_TIMEOUT={raw!r} is not a positive number of seconds; "
        f"set it to e.g. {DEFAULT_TIMEOUT_S} (one hour) or unset it"
    )


def init_process_group(info: RankInfo) -> None:
    """Join the ranks over gloo (on GPUs too: only barriers use it), timeout DIST_TIMEOUT s:
    through the supervisor's file store when it gave one, else torchrun's ``env://``."""
    if info.world_size == 1:
        return
    import torch.distributed as dist

    timeout = dist_timeout()
    store_file = os.environ.get(STORE_FILE_VARIABLE)
    try:
        if store_file:
            store = dist.FileStore(store_file, info.world_size)
            store.set_timeout(timeout)
            dist.init_process_group(
                backend=PROCESS_GROUP_BACKEND,
                store=store,
                rank=info.rank,
                world_size=info.world_size,
                timeout=timeout,
            )
        else:
            dist.init_process_group(backend=PROCESS_GROUP_BACKEND, timeout=timeout)
    except Exception as exc:
        raise RuntimeFailure(
            f"rank {info.rank}: cannot join the {PROCESS_GROUP_BACKEND} process group: {exc}"
        ) from exc


def barrier() -> None:
    """Wait for every rank; a no-op for a single rank."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def barrier_while(tick: Callable[[], None], interval_s: float = 0.25) -> None:
    """Wait for every rank, calling ``tick`` every ``interval_s`` meanwhile (rank 0 shows
    the other ranks' progress); a no-op for a single rank."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    work = dist.barrier(async_op=True)
    while not work.is_completed():
        tick()
        time.sleep(interval_s)
    work.wait()


def destroy_process_group() -> None:
    """Leave the process group cleanly."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def world_size_unset() -> Iterator[None]:
    """Hide WORLD_SIZE while a model is built, and put it back afterwards, also on error.

    transformers >= 4.50 switch to tensor parallelism when they see WORLD_SIZE,
    but here each rank holds a whole copy of the model.
    """
    saved = os.environ.pop("WORLD_SIZE", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["WORLD_SIZE"] = saved
