"""Turn the flags of ``vlmeval eval`` into a validated run plan, before anything starts.

:func:`resolve_launch` checks the flags, names, GPU counts, multi-node settings
and directories, and fails on the first problem with a UsageError of one line
that names the numbers and the fix (exit 2). What it returns, a
:class:`Launch`, holds the :class:`vlmeval_core.run_plan.Plan` the ranks read and
this node's own settings (data dir, GPUs: :class:`vlmeval_core.node.NodeSettings`,
never written to the shared plan) and the few settings that start the ranks.
Torch-free.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vlmeval_core.datasets.columns import check_header
from vlmeval_core.datasets.registry import DatasetRef, check_frames, resolve_dataset
from vlmeval_core.endpoint import options
from vlmeval_core.errors import RuntimeFailure, UsageError
from vlmeval_core.judge.spec import JudgeSpec, judge_spec
from vlmeval_core.models.record import BATCH_SIZE_LIMIT, MAX_NEW_TOKENS_LIMIT
from vlmeval_core.models.registry import registered, resolve_model
from vlmeval_core.node import NodeSettings
from vlmeval_core.prompt_families import FAMILIES
from vlmeval_core.run_names import check_dataset_names, check_run_name
from vlmeval_core.run_plan import DTYPES, EndpointSpec, ModelSpec, Plan, slug
from vlmeval_core.shards import parse_shard
from vlmeval_launcher import auto_device
from vlmeval_launcher import gpus as gpu_discovery
from vlmeval_launcher.eval_flags import DEVICE_CHOICES, EvalRequest, default_of

_ENDPOINT = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9._-]*):(?P<port>\d{1,5})")
_FIX_OUTPUT = (
    "mount a writable volume there (docker run -v $PWD/outputs:/outputs) or run as the "
    "directory's owner (docker run -u $(id -u):$(id -g))"
)


@dataclass(frozen=True)
class Launch:
    """A validated run: the plan every rank reads, this node's own settings, and how
    the ranks are started."""

    plan: Plan
    node: NodeSettings
    nproc: int
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str | None = None
    max_restarts: int = 0

    @property
    def plan_path(self) -> Path:
        return self.plan.run_dir / "plan.json"

    def write_plan(self) -> Path:
        """Write ``<run_dir>/plan.json`` whole and return its path."""
        return self.plan.write()


def default_run_name(now: datetime | None = None) -> str:
    """The default resume key: the UTC time, e.g. ``20261123-073600``."""
    return (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")


def split_data(values: Iterable[str]) -> list[str]:
    """``-d A -d "B,C" -d "D E"`` (or VLMEVAL_DATA="A B,C") -> [A, B, C, D, E]."""
    return [token for value in values for token in re.split(r"[,\s]+", value) if token]


def resolve_launch(
    request: EvalRequest,
    discover: Callable[[], gpu_discovery.Inventory] = gpu_discovery.discover,
) -> Launch:
    """Validate ``request`` and build its plan; the first problem raises UsageError
    (RuntimeFailure for a directory the run may not write to or read).

    Creates the output directory (the volume's root) to prove it writable, also
    for ``--dry-run``; the run directory and plan.json are left to the caller.
    """
    _check_numbers(request)
    if request.api_base is not None:
        _check_endpoint_flags(request)
    nnodes, node_rank, endpoint = _check_nodes(request)
    shard, shards = _check_shard(request)
    run_name = request.run_name if request.run_name is not None else default_run_name()
    check_run_name(run_name)
    if request.dtype is not None and request.dtype not in DTYPES:
        raise UsageError(f"--dtype {request.dtype!r}: choose one of {', '.join(DTYPES)}")
    judge = requested_judge(request)

    if request.api_base is not None:
        return _endpoint_launch(request, run_name, shard, shards, judge)
    resolved = apply_flags(resolve_model(request.model), request)
    datasets = _resolve_datasets(request, resolved.name)
    _require_judge(datasets, judge)

    device, gpus, nproc = _place(request, discover, resolved)

    output_dir = absolute_path(request.output)
    data_dir = absolute_path(request.data_dir)
    check_output_dir(output_dir)
    check_data_dir(data_dir)

    plan = Plan(
        model=resolved,
        datasets=datasets,
        device=device,
        output_dir=str(output_dir),
        run_name=run_name,
        limit=request.limit,
        seed=request.seed,
        shards=shards,
        judge=judge,
        suite=request.suite,
    )
    # The ranks validate what they read with this schema; a launcher plan must pass it too.
    Plan.from_dict(plan.to_dict(), origin="launcher plan")
    node = NodeSettings(str(data_dir), tuple(g.to_dict() for g in gpus), shard)
    # a shard takes the node slot of its number: its own lock and attempts
    slot = shard if shards > 1 else node_rank
    return Launch(plan, node, nproc, nnodes, slot, endpoint, request.max_restarts)


def _check_shard(request: EvalRequest) -> tuple[int, int]:
    """``--shard I/N`` as (I, N), (0, 1) without it; a shard is one node's job of its own
    with a name all shards share."""
    if request.shard is None:
        return 0, 1
    shard, shards = parse_shard(request.shard)
    if request.nnodes != 1:
        raise UsageError(
            f"--shard {request.shard} is a job of one node: leave --nnodes out (each shard "
            "uses every GPU of its node; more shards spread a run over more nodes)"
        )
    if request.run_name is None:
        raise UsageError(
            f"--shard {request.shard} needs --run-name NAME, the same for every shard, so "
            "that all of them write to one run"
        )
    if request.restart:
        raise UsageError(
            f"--restart moves the run directory aside, and the {shards} shards share it: "
            "give the run a new --run-name instead"
        )
    return shard, shards


_NOT_FOR_ENDPOINTS = {
    field: default_of(field)
    for field in ("nproc", "gpus_per_model", "dtype", "revision", "trust_remote_code", "nnodes")
}
"""Flags about loading a model here, with their defaults: an endpoint run takes none of them."""


def _check_endpoint_flags(request: EvalRequest) -> None:
    """With ``--api-base``: no flag about loading a model here, sane request settings."""
    for field, default in _NOT_FOR_ENDPOINTS.items():
        if getattr(request, field) != default:
            flag = "--" + field.replace("_", "-")
            raise UsageError(
                f"{flag} is for models loaded here, not for --api-base (the server loads "
                f"the model and decides how): leave {flag} out"
            )
    options.check_bounds(
        request.api_concurrency, request.api_timeout, request.api_max_response_bytes
    )


def requested_data(request: EvalRequest) -> tuple[str, ...]:
    """The datasets ``-d`` names, or ``--suite``'s; both at once is a UsageError."""
    if request.suite is None:
        return request.data or ()
    if request.data:
        raise UsageError(f"--suite {request.suite} runs its own datasets: leave out -d")
    from vlmeval_core.suites import suite_datasets

    return tuple(suite_datasets(request.suite))


def requested_judge(request: EvalRequest) -> JudgeSpec | None:
    """The judge ``--judge`` and its flags name, checked (None: the rules alone)."""
    return judge_spec(
        request.judge,
        request.judge_base,
        request.judge_extra,
        request.judge_concurrency,
        request.judge_timeout,
    )


def _require_judge(datasets: tuple[DatasetRef, ...], judge: JudgeSpec | None) -> None:
    from vlmeval_core.judge.needed import require_judge  # the metrics: pandas, not for fetch

    require_judge(datasets, judge)


def _endpoint_launch(
    request: EvalRequest, run_name: str, shard: int, shards: int, judge: JudgeSpec | None
) -> Launch:
    """One process, no GPU: the server at ``--api-base`` answers for model ``-m``."""
    endpoint = EndpointSpec(
        base_url=options.base_url(request.api_base or ""),
        extra=options.extra_fields(request.api_extra),
        concurrency=request.api_concurrency,
        timeout_s=float(request.api_timeout),
        max_response_bytes=request.api_max_response_bytes,
    )
    datasets = _resolve_datasets(request, request.model)
    _require_judge(datasets, judge)
    output_dir = absolute_path(request.output)
    data_dir = absolute_path(request.data_dir)
    check_output_dir(output_dir)
    check_data_dir(data_dir)
    # A registered model served elsewhere keeps its prompt family, images and answer length;
    # how it is loaded (weights, processor, dtype) is the server's business.
    record = registered(request.model) or ModelSpec(request.model, None, request.model)
    served = dataclasses.replace(
        record, name=request.model, source=None, path=request.model, backend="api",
        revision=None, processor={}, batch_size=1,
    )  # fmt: skip
    model = apply_flags(served, request)
    plan = Plan(
        model=model,
        datasets=datasets,
        device="cpu",
        output_dir=str(output_dir),
        run_name=run_name,
        limit=request.limit,
        seed=request.seed,
        endpoint=endpoint,
        shards=shards,
        judge=judge,
        suite=request.suite,
    )
    Plan.from_dict(plan.to_dict(), origin="launcher plan")
    return Launch(plan, NodeSettings(str(data_dir), (), shard), nproc=1, node_rank=shard)


_REQUEST_FIELDS = frozenset(field.name for field in dataclasses.fields(EvalRequest))


def apply_flags(record: ModelSpec, request: EvalRequest) -> ModelSpec:
    """The registry's ``record`` with what the flags (or their variables) set on top: each
    flag named like a field of the record, where given (not None)."""
    check_prompt_family(request.prompt_family)
    given = {
        field.name: getattr(request, field.name)
        for field in dataclasses.fields(record)
        if field.name in _REQUEST_FIELDS and getattr(request, field.name) is not None
    }
    return dataclasses.replace(record, **given)


def check_prompt_family(name: str | None) -> None:
    """``--prompt-family`` must name a family of :data:`FAMILIES` (None: not given)."""
    if name is not None and name not in FAMILIES:
        raise UsageError(f"--prompt-family {name!r}: choose one of {', '.join(FAMILIES)}")


def _check_numbers(request: EvalRequest) -> None:
    at_least_one = [
        ("--nproc", request.nproc, "model copies (ranks) on this node"),
        ("--gpus-per-model", request.gpus_per_model, "GPUs each model copy spans"),
        ("--batch-size", request.batch_size, "items per generate call"),
        ("--max-new-tokens", request.max_new_tokens, "tokens generated per answer"),
        ("--limit", request.limit, "items per dataset; leave it out to evaluate them all"),
        ("--nnodes", request.nnodes, "hosts taking part"),
    ]
    for flag, value, meaning in at_least_one:
        if value is not None and value < 1:
            raise UsageError(f"{flag} is {value}: it must be 1 or more ({meaning})")
    at_most = [
        ("--batch-size", request.batch_size, BATCH_SIZE_LIMIT, "items per generate call"),
        ("--max-new-tokens", request.max_new_tokens, MAX_NEW_TOKENS_LIMIT, "tokens per answer"),
    ]
    for flag, value, limit, meaning in at_most:
        if value is not None and value > limit:
            raise UsageError(f"{flag} is {value}: it must be at most {limit:,} ({meaning})")
    if request.max_restarts < 0:
        raise UsageError(
            f"--max-restarts is {request.max_restarts}: it must be 0 or more "
            "(times the ranks are started again after a failure)"
        )


def _check_nodes(request: EvalRequest) -> tuple[int, int, str | None]:
    nnodes, node_rank, endpoint = request.nnodes, request.node_rank, request.rdzv_endpoint
    if nnodes == 1:
        if node_rank is not None:
            raise UsageError(
                f"--node-rank {node_rank} is for multi-node runs: add --nnodes N (N >= 2) "
                "on every node, or leave --node-rank out"
            )
        if endpoint is not None:
            raise UsageError(
                f"--rdzv-endpoint {endpoint} is for multi-node runs: add --nnodes N (N >= 2) "
                "on every node, or leave --rdzv-endpoint out"
            )
        return 1, 0, None
    if endpoint is None:
        raise UsageError(
            f"--nnodes {nnodes} needs --rdzv-endpoint host:port, the same on every node "
            "(a reachable address of one node, e.g. node0:29400)"
        )
    match = _ENDPOINT.fullmatch(endpoint)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise UsageError(
            f"--rdzv-endpoint {endpoint!r} is not host:port with a port from 1 to 65535 "
            "(e.g. node0:29400 or [fd00::1]:29400)"
        )
    if node_rank is None:
        raise UsageError(
            f"--nnodes {nnodes} needs --node-rank, 0 to {nnodes - 1}, different on every node"
        )
    if not 0 <= node_rank < nnodes:
        raise UsageError(
            f"--node-rank {node_rank} is out of range for --nnodes {nnodes}: "
            f"use 0 to {nnodes - 1}, different on every node"
        )
    if request.restart:
        raise UsageError(
            f"--restart moves the run directory aside, and the {nnodes} nodes share it: "
            "give the run a new --run-name instead"
        )
    if request.run_name is None:
        raise UsageError(
            f"--nnodes {nnodes} needs --run-name, the same on every node: the default "
            "(the start time) differs between nodes, and all ranks must share one run directory"
        )
    return nnodes, node_rank, endpoint


def _resolve_datasets(request: EvalRequest, model_name: str) -> tuple[DatasetRef, ...]:
    specs = split_data(requested_data(request))
    if not specs:
        raise UsageError("--data names no dataset: pass one or more, e.g. -d ShapesMCQ -d ShapesYN")
    refs: dict[str, DatasetRef] = {}
    for spec in specs:
        ref = resolve_dataset(spec, request.nframe, request.fps)
        previous = refs.get(ref.name)
        if previous is not None and previous != ref:
            raise UsageError(
                f"--data {spec!r} and another --data value both name a dataset {ref.name!r}: "
                "rename one TSV file, results are stored by dataset name"
            )
        refs[ref.name] = ref  # the same dataset named twice is evaluated once
    check_dataset_names(refs, slug(model_name))
    check_frames(tuple(refs.values()), request.nframe, request.fps)
    for ref in refs.values():
        if ref.path is not None:  # before the run is claimed: no directory for a run never run
            check_header(Path(ref.path), ref.name, video=ref.video)
    return tuple(refs.values())


def _place(
    request: EvalRequest, discover: Callable[[], gpu_discovery.Inventory], model: ModelSpec
) -> tuple[str, tuple[gpu_discovery.Gpu, ...], int]:
    """Pick the device, the GPUs and the number of ranks per node."""
    if request.device not in DEVICE_CHOICES:
        raise UsageError(f"--device {request.device!r}: choose one of {', '.join(DEVICE_CHOICES)}")
    if request.device == "cpu":
        return "cpu", (), _cpu_ranks(request)

    inventory = discover()
    if request.device == "auto" and inventory.no_gpu_at_all:
        if not auto_device.runs_on_cpu_by_default(model):
            raise UsageError(f"{inventory.none_usable()}; {auto_device.refusal_advice(model)}")
        nproc = _cpu_ranks(request)
        print(f"vlmeval: note: {auto_device.fallback_note(model)}", file=sys.stderr, flush=True)
        return "cpu", (), nproc
    gpus = inventory.require()
    per_model = model.gpus_per_model
    if per_model > 1 and any(g.is_mig for g in gpus):
        raise UsageError(
            f"--gpus-per-model {per_model} cannot span MIG devices (a CUDA process uses one MIG "
            "device): use --gpus-per-model 1, or whole GPUs"
        )
    visible = len(gpus)
    nproc = request.nproc if request.nproc is not None else visible // per_model
    needed = max(nproc, 1) * per_model
    if needed > visible:
        raise UsageError(_shortage_message(request.nproc, per_model, visible, inventory.visibility))
    return "cuda", gpus, nproc


def _cpu_ranks(request: EvalRequest) -> int:
    """The ranks of a CPU run: ``--nproc`` (1 by default), at most one per usable core.

    More ranks than cores only share the cores (each rank loads its own model copy, and
    torch's threads fight over them): refused with exit 2, before any work. A dry run only
    warns, since the command it prints may be meant for a larger machine.
    """
    from vlmeval_launcher.exec_ranks import usable_cpus  # exec_ranks imports this module

    nproc = request.nproc or 1
    cores = usable_cpus()
    if nproc <= cores:
        return nproc
    message = (
        f"--nproc {nproc} asks for {nproc} CPU ranks, but this machine lets vlmeval use "
        f"{cores} CPU core{'s' if cores != 1 else ''} (os.sched_getaffinity): use --nproc "
        f"{cores} or fewer"
    )
    if not request.dry_run:
        raise UsageError(message)
    print(f"vlmeval: warning: {message}; a run here would stop", file=sys.stderr, flush=True)
    return nproc


def _shortage_message(nproc: int | None, per_model: int, visible: int, visibility: str) -> str:
    are = f"{visible} {'is' if visible == 1 else 'are'} visible"
    where = f" ({visibility})" if visibility else ""
    lower = []
    if nproc is None:
        asked = f"--gpus-per-model {per_model} needs {per_model} GPUs"
        lower.append(f"--gpus-per-model to {visible}")
    else:
        asked = f"--nproc {nproc} × --gpus-per-model {per_model} needs {nproc * per_model} GPUs"
        if visible >= per_model:
            lower.append(f"--nproc to {visible // per_model}")
        if visible >= nproc and per_model > 1:
            lower.append(f"--gpus-per-model to {visible // nproc}")
    fix = f"lower {' or '.join(lower)}, or make" if lower else "make"
    return (
        f"{asked} but {are}{where}: {fix} more GPUs visible "
        "(docker run --gpus all, CUDA_VISIBLE_DEVICES)"
    )


def absolute_path(path: str) -> Path:
    """``path`` with ~ expanded, made absolute against the working directory (links kept)."""
    return Path(os.path.abspath(Path(path).expanduser()))


def check_output_dir(path: Path, *, create: bool = True) -> None:
    """The output directory must be a writable directory: create it and write a probe file.

    With ``create=False`` nothing is created: an existing directory gets the probe,
    a missing one needs a writable nearest existing parent. A file in its place is a
    UsageError (exit 2); a directory the run may not write to is the environment's
    failure, a RuntimeFailure (exit 3).
    """
    if path.exists() and not path.is_dir():
        raise UsageError(f"--output {path} is a file, not a directory: point --output elsewhere")
    if not path.exists() and not create:
        parent = _nearest_existing(path)
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise RuntimeFailure(
                f"--output {path} cannot be created: {parent} is not writable; {_FIX_OUTPUT}"
            )
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".vlmeval-write-probe-{os.getpid()}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RuntimeFailure(f"--output {path} is not writable ({reason}); {_FIX_OUTPUT}") from None


def check_data_dir(path: Path) -> None:
    """An existing data directory must be readable; a missing one must be creatable later.

    The worker's rank 0 creates a missing data directory and fills it, so here it
    is enough that its nearest existing parent is writable. An existing one may
    be a read-only mount of prepared TSVs. A file in its place is a UsageError (exit 2);
    a directory that cannot be read or created, a RuntimeFailure (exit 3).
    """
    if path.exists():
        if not path.is_dir():
            raise UsageError(
                f"--data-dir {path} is a file, not a directory: point --data-dir (or LMUData) "
                "at the directory that holds the dataset TSVs"
            )
        if not os.access(path, os.R_OK | os.X_OK):
            raise RuntimeFailure(
                f"--data-dir {path} is not readable by uid {os.getuid()}: make it readable "
                "(chmod, or docker run -u with the owner's uid), or mount another directory"
            )
        return
    parent = _nearest_existing(path)
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise RuntimeFailure(
            f"--data-dir {path} does not exist and cannot be created ({parent} is not writable): "
            "create it, or point --data-dir (or LMUData) at a writable directory"
        )


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or "/")
