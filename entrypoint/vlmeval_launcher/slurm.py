"""``vlmeval slurm``: the sbatch script of a run, printed so that the user sees what is submitted.

Two forms: a job array of ``--shards N`` tasks, task I running ``vlmeval eval --shard I/N``
on one node; or one job of ``--nodes N`` nodes, one torchrun rendezvous at the job's first
host (``--nnodes``, ``--node-rank`` from ``SLURM_NODEID``, ``--rdzv-endpoint``). A script
is a header written here (its ``#SBATCH`` lines, then the run's settings as shell
variables) and one body, ``slurm_job.sh``, the same in every script. The files in
``deploy/slurm/`` are such scripts, each written by the command its third line names
(``tests/test_slurm_recipe.py`` holds them to it). Torch-free.
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from vlmeval_core.errors import UsageError
from vlmeval_launcher.eval_flags import eval_flags, flag

Runtime = Literal["pyxis", "apptainer", "venv"]

SCRIPT_SETTINGS = ("shard", "nnodes", "node_rank", "rdzv_endpoint", "output", "data_dir")
"""The eval flags the script sets itself: the shard or node, and the volumes where it runs."""
WRITTEN_BY = "# written by: "
"""The start of a script's third line; the rest is the command that wrote it."""
REFUSED = ("restart", "dry_run")
"""Eval flags a shared, submitted run cannot take (--restart would move the shards' dir)."""


@dataclass(frozen=True)
class SlurmRequest:
    """The flags of ``vlmeval slurm`` that are not ``vlmeval eval``'s (also VLMEVAL_<FLAG>)."""

    shards: int | None = flag(
        None, metavar="N", help="A job array of N tasks, task I evaluating --shard I/N."
    )
    nodes: int | None = flag(
        None, metavar="N", help="Instead: one job of N nodes, one torchrun rendezvous (srun)."
    )
    runtime: Runtime = flag(
        "pyxis",
        help="How the nodes run vlmeval: the image through pyxis/enroot or apptainer, or a "
        "venv every node mounts. VLMEVAL_RUNTIME at submit time overrides it.",
    )
    image: str | None = flag(
        None,
        metavar="IMAGE",
        help="The image: for pyxis an enroot URI (registry#vlmeval:0.1.0) or .sqsh file, for "
        "apptainer a .sif file or docker://….",
    )
    venv: str | None = flag(
        None, metavar="DIR", help="The venv for --runtime venv.", default_text="this vlmeval's"
    )
    gpus_per_node: int = flag(8, help="GPUs each node gets (--gpus-per-node); 0 asks for none.")
    cpus_per_task: int | None = flag(None, help="CPU cores of each task.", default_text="SLURM's")
    time: str | None = flag(
        None,
        metavar="D-HH:MM:SS",
        help="Time limit of each task.",
        default_text="the partition's",
    )
    partition: str | None = flag(None, metavar="NAME", help="SLURM partition.")
    account: str | None = flag(None, metavar="NAME", help="SLURM account.")
    term_seconds: int = flag(
        300,
        metavar="SECONDS",
        help="SIGTERM this long before the time limit (--signal): what finished is kept.",
    )
    rdzv_port: int = flag(29500, help="With --nodes: the rendezvous port on the first node.")


def run_flag_args(given: dict[str, Any]) -> list[str]:
    """The ``vlmeval eval`` arguments that say ``given`` (field -> value), in the flags' order."""
    args: list[str] = []
    for field, spec in eval_flags().items():
        if field not in given:
            continue
        value = given[field]
        if spec.is_switch:
            args += [spec.long] if value else []
        elif spec.negatable:
            args.append(spec.long if value else f"--no-{spec.long[2:]}")
        else:
            for one in value if spec.multiple else (value,):
                args += [spec.long, str(one)]
    return args


def slurm_flag_args(request: SlurmRequest) -> list[str]:
    """The ``vlmeval slurm`` arguments of ``request``'s fields that differ from their defaults."""
    args: list[str] = []
    for field, spec in eval_flags(SlurmRequest).items():
        value = getattr(request, field)
        if value != spec.default:
            args += [spec.long, str(value)]
    return args


def check(request: SlurmRequest) -> None:
    """UsageError for a request that names no form, both, or no image to run."""
    if (request.shards is None) == (request.nodes is None):
        raise UsageError(
            "vlmeval slurm needs one of --shards N (a job array, one shard per task) and "
            "--nodes N (one job of N nodes)"
        )
    if request.shards is not None and request.shards < 1:
        raise UsageError(f"--shards {request.shards}: give 1 or more")
    if request.nodes is not None and request.nodes < 2:
        raise UsageError(f"--nodes {request.nodes}: give 2 or more (one node: --shards 1)")
    if request.runtime != "venv" and not request.image:
        raise UsageError(f"--runtime {request.runtime} needs --image (the vlmeval image)")
    for name, value in (
        ("--gpus-per-node", request.gpus_per_node),
        ("--term-seconds", request.term_seconds),
    ):
        if value < 0:
            raise UsageError(f"{name} {value}: give 0 or more")


def render(
    request: SlurmRequest, run_args: list[str], output: Path, data_dir: Path, venv: Path
) -> str:
    """The whole sbatch script: header, settings, then ``slurm_job.sh``.

    ``run_args``: the ``vlmeval eval`` flags of the run (:func:`run_flag_args`), its
    ``--run-name`` among them; ``output``, ``data_dir``: absolute paths on the nodes;
    ``venv``: the venv of ``--runtime venv`` when the request names none.
    """
    check(request)
    if request.runtime == "venv" and not request.venv:
        request = dataclasses.replace(request, venv=str(venv))
    run_name = run_args[run_args.index("--run-name") + 1]
    command = [
        "vlmeval",
        "slurm",
        *slurm_flag_args(request),
        "--output",
        str(output),
        "--data-dir",
        str(data_dir),
        *run_args,
    ]
    if request.shards is not None:
        form = f"a job array of {request.shards} tasks, one shard of the run each"
        placement = [f"--array=0-{request.shards - 1}", "--nodes=1", "--ntasks=1"]
        log = "%x-%A_%a.out"
    else:
        form = f"one job of {request.nodes} nodes, one torchrun rendezvous"
        placement = [f"--nodes={request.nodes}", "--ntasks-per-node=1"]
        log = "%x-%j.out"
    directives = [f"--job-name=vlmeval-{run_name}", *placement]
    if request.gpus_per_node:
        directives.append(f"--gpus-per-node={request.gpus_per_node}")
    optional = {
        "cpus-per-task": request.cpus_per_task,
        "time": request.time,
        "partition": request.partition,
        "account": request.account,
    }
    directives += [f"--{name}={value}" for name, value in optional.items() if value is not None]
    directives += [
        f"--signal=TERM@{request.term_seconds}",
        "--requeue",
        "--open-mode=append",
        f"--output={log}",
    ]
    settings = {
        "runtime": request.runtime,
        "image": request.image or "",
        "venv": request.venv or "",
        "output": str(output),
        "data_dir": str(data_dir),
        "shards": str(request.shards or 0),
        "rdzv_port": str(request.rdzv_port),
    }
    lines = [
        "#!/bin/bash",
        f"# vlmeval on SLURM: {form}. Submit it as it is: sbatch THIS_FILE",
        f"{WRITTEN_BY}{shlex.join(command)}",
        *(f"#SBATCH {d}" for d in directives),
        "",
        *(f"{name}={shlex.quote(value)}" for name, value in settings.items()),
        f"run_flags=({shlex.join(run_args)})",
        "",
        resources.files("vlmeval_launcher").joinpath("slurm_job.sh").read_text(encoding="utf-8"),
    ]
    return "\n".join(lines)
