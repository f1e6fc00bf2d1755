"""Build the torchrun command line for a validated launch, then replace this process with it.

The launcher ``os.execvp``s torchrun rather than running it as a child, so a
``docker stop`` (SIGTERM to PID 1's child under tini) reaches torchrun, which
forwards it to the ranks. One node uses ``--standalone`` (a local rendezvous on
a free port); several use the c10d rendezvous at ``--rdzv-endpoint``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

from vlmeval_core.errors import RuntimeFailure
from vlmeval_launcher.plan import Launch

WORKER_MODULE = "vlmeval_core.worker"


def find_torchrun() -> str:
    """torchrun beside this interpreter (the venv's bin) first, else the first on PATH."""
    beside = Path(sys.executable).parent / "torchrun"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("torchrun")
    if found is None:
        raise RuntimeFailure(
            f"torchrun is not installed: neither {beside} nor a torchrun on PATH; "
            "install torch into this environment (make install)"
        )
    return found


def build_argv(launch: Launch, torchrun: str) -> list[str]:
    """The exact torchrun argv that starts the ranks of ``launch``."""
    argv = [torchrun, "--nproc-per-node", str(launch.nproc)]
    if launch.nnodes == 1:
        argv.append("--standalone")
    else:
        argv += [
            "--nnodes", str(launch.nnodes),
            "--node-rank", str(launch.node_rank),
            "--rdzv-backend", "c10d",
            "--rdzv-endpoint", str(launch.rdzv_endpoint),
            "--rdzv-id", launch.plan.run_name,
        ]  # fmt: skip
    argv += ["--max-restarts", str(launch.max_restarts)]
    argv += ["-m", WORKER_MODULE, str(launch.plan_path)]
    return argv


def launch_environment(launch: Launch, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variables to add for the ranks; anything the user already set is left alone.

    * ``OMP_NUM_THREADS``: the CPUs this process may use, shared by the ranks of
      this node (torchrun otherwise sets 1 and warns).
    * ``CUDA_DEVICE_ORDER=PCI_BUS_ID``: CUDA numbers GPUs as NVML does, so an
      index means the same GPU to the launcher and to the ranks.
    """
    env = os.environ if environ is None else environ
    added: dict[str, str] = {}
    if not env.get("OMP_NUM_THREADS"):
        added["OMP_NUM_THREADS"] = str(max(1, usable_cpus() // max(1, launch.nproc)))
    if not env.get("CUDA_DEVICE_ORDER"):
        added["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    return added


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. docker --cpuset-cpus)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def exec_torchrun(argv: list[str], added_env: Mapping[str, str]) -> NoReturn:
    """Replace this process with torchrun; only returns by raising RuntimeFailure."""
    os.environ.update(added_env)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        raise RuntimeFailure(f"could not start {argv[0]} ({exc.strerror or exc})") from None
