"""The command that runs this node's ranks for a validated launch; then this process becomes it.

The launcher ``os.execvp``s the command rather than running it as a child, so a
``docker stop`` (SIGTERM to PID 1's child under tini) reaches it, it passes the
signal on to the ranks, and the run lock's descriptor goes with it. Which command:

* one node: ``python -m vlmeval_core.supervisor``, which starts the ``--nproc``
  ranks itself without importing torch (the ranks meet through a file store in
  its private temporary directory: no port, no network, no host name);
* several nodes: torchrun and its c10d rendezvous at ``--rdzv-endpoint``, as
  ``python -m vlmeval_core.elastic_agent`` (torchrun's own entry point and flags);
* an endpoint run (``--api-base``): ``python -m vlmeval_core.endpoint``, one
  process, no ranks.

Each exits with the failing rank's code (2, 3) or 130/143 on an interrupt
instead of a blanket 1, with one error line.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from collections.abc import Mapping
from typing import NoReturn

from vlmeval_core.distributed import dist_timeout
from vlmeval_core.errors import RuntimeFailure
from vlmeval_launcher.launch import Launch

WORKER_MODULE = "vlmeval_core.worker"
ENDPOINT_MODULE = "vlmeval_core.endpoint"
"""An endpoint run's one process (``--api-base``): no torchrun, no ranks, no GPU."""
SUPERVISOR_MODULE = "vlmeval_core.supervisor"
"""What starts a one-node run's ranks, without torch."""
TORCHRUN_MODULE = "vlmeval_core.elastic_agent"
"""torchrun, for the ranks of a run on several nodes."""

LOOPBACK_INTERFACE = "lo"
"""Where a one-node run's gloo ranks connect: never the host name's address, which a
container started with ``--network none`` does not have."""


def require_torch() -> None:
    """The ranks run torch: refuse (exit 3) when this interpreter has none.

    Checked without importing torch, so the launcher stays fast.
    """
    if importlib.util.find_spec("torch") is None:
        raise RuntimeFailure(
            f"torch is not installed for {sys.executable}, so the ranks cannot run; "
            "install it into this environment (make install)"
        )


def find_torchrun() -> list[str]:
    """The command that runs torchrun (several nodes): this interpreter with torch's
    ``torch.distributed.run``, wrapped."""
    require_torch()
    return [sys.executable, "-m", TORCHRUN_MODULE]


def build_argv(launch: Launch) -> list[str]:
    """The exact argv that starts the ranks of ``launch``: the supervisor on one node,
    torchrun on several (for an endpoint run, the one process that sends the requests)."""
    if launch.plan.model.backend == "api":
        return [sys.executable, "-m", ENDPOINT_MODULE, str(launch.plan_path)]
    if launch.nnodes == 1:
        require_torch()
        argv = [sys.executable, "-m", SUPERVISOR_MODULE, "--nproc-per-node", str(launch.nproc)]
    else:
        argv = [*find_torchrun(), "--nproc-per-node", str(launch.nproc)]
        argv += [
            "--nnodes",
            str(launch.nnodes),
            "--node-rank",
            str(launch.node_rank),
            "--rdzv-backend",
            "c10d",
            "--rdzv-endpoint",
            str(launch.rdzv_endpoint),
            "--rdzv-id",
            launch.plan.run_name,
        ]
    argv += ["--max-restarts", str(launch.max_restarts)]
    argv += ["-m", WORKER_MODULE, str(launch.plan_path)]
    return argv


def launch_environment(launch: Launch, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variables to add for the ranks; anything the user already set is left alone.

    * ``OMP_NUM_THREADS``: the CPUs this process may use, shared by the ranks of
      this node (torchrun would otherwise set 1 and warn).
    * ``CUDA_DEVICE_ORDER=PCI_BUS_ID``: CUDA numbers GPUs as NVML does, so an
      index means the same GPU to the launcher and to the ranks.
    * ``GLOO_SOCKET_IFNAME=lo`` on one node: gloo's ranks connect over the loopback
      interface instead of the host name's address (none without a network).
    """
    env = os.environ if environ is None else environ
    added: dict[str, str] = {}
    if not env.get("OMP_NUM_THREADS"):
        added["OMP_NUM_THREADS"] = str(max(1, usable_cpus() // max(1, launch.nproc)))
    if not env.get("CUDA_DEVICE_ORDER"):
        added["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    if launch.nnodes == 1 and not env.get("GLOO_SOCKET_IFNAME"):
        added["GLOO_SOCKET_IFNAME"] = LOOPBACK_INTERFACE
    return added


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. docker --cpuset-cpus)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """What the ranks and their supervisor need from this host, checked before they start.

    * ``DIST_TIMEOUT`` is a positive number of seconds (else exit 2);
    * a writable temporary directory: the supervisor (or torchrun) keeps the ranks'
      reports and their file store there, and a read-only root filesystem has none
      unless a tmpfs is mounted (else exit 3).
    """
    dist_timeout(os.environ if environ is None else environ)
    try:
        with tempfile.TemporaryDirectory(prefix="vlmeval-check-"):
            pass
    except OSError as exc:
        raise RuntimeFailure(
            f"no writable temporary directory ({exc}): the ranks' supervisor needs one; on a "
            "read-only root filesystem add a tmpfs "
            "(docker run --read-only --tmpfs /tmp, as compose.yaml does) or set TMPDIR "
            "to a writable directory"
        ) from None


def exec_ranks(argv: list[str], added_env: Mapping[str, str]) -> NoReturn:
    """Replace this process with ``argv`` (:func:`build_argv`); only returns by raising
    RuntimeFailure. The caller has run :func:`check_environment` before claiming the run."""
    os.environ.update(added_env)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        raise RuntimeFailure(f"could not start {argv[0]} ({exc.strerror or exc})") from None
