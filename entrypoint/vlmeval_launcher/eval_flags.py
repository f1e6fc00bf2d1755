"""The flags of ``vlmeval eval``, each declared once: the fields of :class:`EvalRequest`.

A field is a flag: its name (``gpus_per_model`` is ``--gpus-per-model`` and
``VLMEVAL_GPUS_PER_MODEL``), its type (the annotation: a ``Literal`` gives the
choices, ``bool`` a switch, ``bool | None`` a ``--x/--no-x`` pair, ``tuple`` a
repeatable flag), its default (the field's; none: required) and its help,
short name and metavar (:func:`flag`). ``vlmeval eval``'s click options are
generated from these fields (:func:`vlmeval_launcher.cli.request_options`), the
commands that share a flag (``--data-dir``, ``--output``, ``--device`` …) take
it from here too, and a request built in code gets the same defaults as one
from the command line. The README's flag table is held to these fields by
``tests/test_eval_flags.py``. The same design as ``HfArgumentParser`` or
clap's derive: the typed record is the declaration, the parser is derived.

Light on purpose: ``vlmeval --help`` imports it, so no click, pydantic or torch.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

from vlmeval_core.choices import DEFAULT_SEED, Dtype, ImageHandling
from vlmeval_core.endpoint import options as endpoint_options
from vlmeval_core.judge import spec as judge_options

Device = Literal["auto", "cuda", "cpu"]
Suite = Literal["openvlm"]
"""The suites of :data:`vlmeval_core.suites.SUITES` (tests/test_suites.py holds them equal)."""
DEVICE_CHOICES: tuple[str, ...] = get_args(Device)
ENV_PREFIX = "VLMEVAL_"


@dataclass(frozen=True)
class Flag:
    """How one field of :class:`EvalRequest` reads on the command line."""

    help: str
    short: str | None = None
    """A one-letter alias, e.g. ``-m``."""
    metavar: str | None = None
    default_text: str | None = None
    """What a ``None`` default means, shown in the help as ``[default: …]``."""
    also_env: tuple[str, ...] = ()
    """Variables read after ``VLMEVAL_<FLAG>`` (``LMUData``, VLMEvalKit's name)."""
    volume: bool = False
    """A directory the command writes to: named when its disk is full."""


def flag(default: Any = dataclasses.MISSING, **spec: Any) -> Any:
    """A field of :class:`EvalRequest`: its default (none: required) and its :class:`Flag`."""
    return dataclasses.field(default=default, metadata={"flag": Flag(**spec)})


REGISTRY_ENTRY = "the model's registry entry"


@dataclass(frozen=True)
class EvalRequest:
    """The flags of ``vlmeval eval`` as typed (None: not given, use what ``default_text`` says).

    The order of the fields is the order of ``vlmeval eval --help``.
    """

    model: str = flag(
        short="-m",
        metavar="NAME",
        help="Registered name, hub id (org/name) or local directory (`vlmeval list models`).",
    )
    data: tuple[str, ...] | None = flag(
        None,
        short="-d",
        metavar="NAMES",
        help="Dataset names or .tsv paths; repeat -d or separate with commas or spaces.",
        default_text="--suite's, else required",
    )
    suite: Suite | None = flag(
        None,
        help="Run a suite's datasets instead of -d and write its average: openvlm, the OpenVLM "
        "leaderboard's eight (needs --judge for MathVista and MMVet).",
    )
    nproc: int | None = flag(
        None,
        help="Ranks (model copies) per node.",
        default_text="GPUs // --gpus-per-model; 1 on CPU",
    )
    gpus_per_model: int | None = flag(
        None, help="GPUs each model copy spans.", default_text=REGISTRY_ENTRY
    )
    device: Device = flag(
        "auto",
        help="auto: cuda when a GPU is visible; on a host without one, the CPU for a small "
        "local model (tiny-vlm), else an error. cpu runs with gloo.",
    )
    batch_size: int | None = flag(
        None, help="Items per generate call.", default_text=REGISTRY_ENTRY
    )
    max_new_tokens: int | None = flag(
        None, help="Tokens generated per answer.", default_text=REGISTRY_ENTRY
    )
    dtype: Dtype | None = flag(
        None,
        help="Weights' dtype; auto: bfloat16 on GPUs from sm_80, float16 below, float32 on the "
        "CPU.",
        default_text=REGISTRY_ENTRY,
    )
    revision: str | None = flag(
        None, metavar="REV", help="Hub revision (branch, tag or commit) of the model."
    )
    output: str = flag(
        "./outputs", short="-o", metavar="DIR", volume=True, help="Root of the results volume."
    )
    data_dir: str = flag(
        "~/LMUData",
        metavar="DIR",
        also_env=("LMUData",),
        volume=True,
        help="Where dataset TSVs are kept (also $LMUData).",
    )
    run_name: str | None = flag(
        None,
        metavar="NAME",
        help="Run directory name and resume key.",
        default_text="UTC time, e.g. 20261123-073600",
    )
    limit: int | None = flag(
        None, metavar="N", help="Evaluate only the first N items of each dataset."
    )
    seed: int = flag(DEFAULT_SEED, help="Random seed of every rank.")
    trust_remote_code: bool | None = flag(
        None,
        help="Run the model repository's own code.",
        default_text="off, unless the registry says so",
    )
    images: ImageHandling | None = flag(
        None,
        help="vlmevalkit: each image as VLMEvalKit main's dump_image saves it (re-encoded as "
        "its file name says); original: the TSV's bytes.",
        default_text=REGISTRY_ENTRY,
    )
    prompt_family: str | None = flag(
        None,
        metavar="FAMILY",
        help="Whose prompts to send (`vlmeval list models`).",
        default_text=REGISTRY_ENTRY,
    )
    nframe: int | None = flag(
        None,
        metavar="N",
        help="Video datasets: send N frames spread over each video (VLMEvalKit's nframe).",
        default_text="the dataset's setting",
    )
    fps: float | None = flag(
        None,
        metavar="F",
        help="Video datasets: send F frames a second of each video (VLMEvalKit's fps); "
        "not with --nframe.",
        default_text="the dataset's setting",
    )
    nnodes: int = flag(1, help="Hosts taking part.")
    node_rank: int | None = flag(None, help="This host's rank, 0 to nnodes-1.")
    rdzv_endpoint: str | None = flag(
        None,
        metavar="HOST:PORT",
        help="Rendezvous address for multi-node runs, the same on every node.",
    )
    shard: str | None = flag(
        None,
        metavar="I/N",
        help="Evaluate only shard I of N (0 <= I < N), with every GPU here, as a job of its "
        "own; all shards share --run-name, and the last to finish scores the run.",
    )
    max_restarts: int = flag(
        0, help="Times every rank of this node is started again after a failure."
    )
    restart: bool = flag(
        False,
        help="Start the run over: move its directory aside (never deleted) to "
        "<run-name>.replaced-<time>.",
    )
    api_base: str | None = flag(
        None,
        metavar="URL",
        help="Evaluate the model -m served at this OpenAI-compatible base URL (…/v1) instead "
        "of loading it; one process, no GPU. Key: OPENAI_API_KEY or VLMEVAL_API_KEY.",
    )
    api_extra: str | None = flag(
        None, metavar="JSON", help="Fields added to every request, e.g. '{\"top_k\": 1}'."
    )
    api_concurrency: int = flag(
        endpoint_options.CONCURRENCY_DEFAULT,
        help=f"Requests in flight with --api-base (at most {endpoint_options.CONCURRENCY_LIMIT}).",
    )
    api_timeout: float = flag(
        endpoint_options.TIMEOUT_DEFAULT_S,
        metavar="SECONDS",
        help="Deadline of one whole request with --api-base (connect, send, answer), after "
        "which it is retried.",
    )
    api_max_response_bytes: int = flag(
        endpoint_options.MAX_RESPONSE_BYTES_DEFAULT,
        metavar="BYTES",
        help="Size of one answer's body at most with --api-base; a larger one fails its item.",
    )
    judge: str = flag(
        judge_options.EXACT_MATCHING,
        metavar="MODEL",
        help="Judge model asked where the rules read no answer (MCQ, Y/N) and to score "
        "MathVista and MMVet, as VLMEvalKit does; exact_matching: the rules alone. Key: "
        "VLMEVAL_JUDGE_KEY or OPENAI_API_KEY.",
    )
    judge_base: str | None = flag(
        None,
        metavar="URL",
        help="OpenAI-compatible base URL (…/v1) serving --judge.",
        default_text=judge_options.DEFAULT_BASE,
    )
    judge_extra: str | None = flag(
        None,
        metavar="JSON",
        help="Fields added to every judge request, e.g. '{\"seed\": 0}'.",
    )
    judge_concurrency: int = flag(
        judge_options.CONCURRENCY_DEFAULT,
        help=f"Judge requests in flight (at most {endpoint_options.CONCURRENCY_LIMIT}).",
    )
    judge_timeout: float = flag(
        judge_options.TIMEOUT_DEFAULT_S,
        metavar="SECONDS",
        help="Deadline of one whole judge request, after which it is retried.",
    )
    quiet: bool = flag(
        False,
        short="-q",
        help="Print no progress and no summary table at the end (scripts read summary.json).",
    )
    report: bool = flag(
        False,
        help="At the end, also write an HTML report with figures (vlmeval report) to "
        "<run>/report/report.html.",
    )
    allow_failed_items: bool = flag(
        False,
        help="Exit 0 even when every item of a dataset failed (otherwise 3) or every answer "
        "is unparsed (otherwise 2); the results are written either way.",
    )
    dry_run: bool = flag(
        False,
        help="Print the plan, the command that starts the ranks and this node's settings; "
        "write no plan, start nothing.",
    )


@dataclass(frozen=True)
class FlagSpec:
    """One field of :class:`EvalRequest` as a command-line flag: what a parser needs."""

    field: str
    flag: Flag
    kind: type
    """The type of one value: str, int, float or bool."""
    default: Any
    required: bool
    choices: tuple[str, ...] | None
    multiple: bool
    """Repeatable (``-d A -d B``); the value is a tuple."""
    negatable: bool
    """A ``bool | None``: ``--x/--no-x``, None when neither is given."""

    @property
    def long(self) -> str:
        return "--" + self.field.replace("_", "-")

    @property
    def envvars(self) -> tuple[str, ...]:
        return (ENV_PREFIX + self.field.upper(), *self.flag.also_env)

    @property
    def is_switch(self) -> bool:
        """A bare ``--x`` that sets True (default False)."""
        return self.kind is bool and not self.negatable


@cache
def eval_flags(request: type = EvalRequest) -> dict[str, FlagSpec]:
    """Every flag of ``vlmeval eval`` by field name, in :class:`EvalRequest`'s order.

    ``request``: another dataclass of :func:`flag` fields (a test's variant).
    """
    hints = typing.get_type_hints(request)
    specs = {}
    for field in dataclasses.fields(request):
        hint, optional = _without_none(hints[field.name])
        multiple = get_origin(hint) is tuple
        if multiple:
            hint = get_args(hint)[0]
        choices = get_args(hint) if get_origin(hint) is Literal else None
        kind = str if choices else hint
        if kind not in (str, int, float, bool):
            raise TypeError(f"{request.__name__}.{field.name}: no flag for type {hint!r}")
        required = field.default is dataclasses.MISSING
        specs[field.name] = FlagSpec(
            field=field.name,
            flag=field.metadata["flag"],
            kind=kind,
            default=None if required else field.default,
            required=required,
            choices=choices,
            multiple=multiple,
            negatable=kind is bool and optional,
        )
    return specs


def default_of(field: str) -> Any:
    """The declared default of ``field`` (None for a required one)."""
    return eval_flags()[field].default


def _without_none(hint: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); ``X`` -> (X, False)."""
    if get_origin(hint) in (Union, types.UnionType):
        rest = [a for a in get_args(hint) if a is not type(None)]
        if len(rest) == 1:
            return rest[0], len(rest) < len(get_args(hint))
    return hint, False
