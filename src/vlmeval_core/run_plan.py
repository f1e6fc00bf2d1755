"""The run plan: written by the launcher as ``<run_dir>/plan.json``, read by every rank.

The plan holds what every node of a run shares; what differs between nodes
(data dir, GPU inventory) travels separately, see :mod:`vlmeval_core.node`.
Its schema is the pydantic dataclasses below: every field typed and strict (a
bool is a JSON bool, a number a JSON number), unknown fields refused. The same
schema checks the launcher's plan and a hand-written one, so a rank can trust
what it reads. Torch-free. Version 1::

    {"schema": 1,
     "model": {"name", "source": "bundled|hub|local|null", "path", "revision", "dtype",
               "trust_remote_code", "batch_size", "max_new_tokens", "gpus_per_model",
               "backend": "transformers|api", "processor", "prompt_family", "images"},
     "datasets": [{"name", "path", "kind"}],
     "device": "cuda|cpu", "output_dir", "run_name", "limit", "seed",
     "endpoint": null | {"base_url", "extra", "concurrency", "timeout_s", "max_response_bytes"},
     "judge": null | {"model", "base_url", "extra", "concurrency", "timeout_s"},
     "suite": null | "openvlm"}

``model.backend`` picks who answers (:data:`vlmeval_core.backends.BACKENDS`), and nothing
else does; ``endpoint`` holds only the api backend's settings, given exactly when the backend
is ``"api"``, when ``model.source`` is null (no weights here). Such a run names the model as
the server knows it in ``model.name`` and ``model.path``; the API key is never part of the plan.
``judge`` is the judge model of ``--judge`` (:mod:`vlmeval_core.judge.spec`; null: the rules
alone), asked when the datasets are scored; its key is never part of the plan either.

``model`` is a model record (:mod:`vlmeval_core.models.record`): the registry's,
with the flags applied. ``output_dir`` is the volume's root; results go to :attr:`Plan.run_dir`,
``<output_dir>/<model slug>/<run_name>``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from vlmeval_core.choices import DEFAULT_SEED
from vlmeval_core.datasets.registry import DatasetRef
from vlmeval_core.endpoint import options as endpoint_options
from vlmeval_core.errors import UsageError
from vlmeval_core.files import write_json
from vlmeval_core.judge.spec import JudgeSpec
from vlmeval_core.models.record import ModelSpec
from vlmeval_core.run_names import SAFE_NAME_PATTERN
from vlmeval_core.schema import DTYPES, STRICT, NonEmpty, Positive
from vlmeval_core.shards import SHARDS_LIMIT

__all__ = ["DTYPES", "ModelSpec", "Plan", "load_plan", "slug"]
SCHEMA_VERSION = 1
SafeName = Annotated[str, Field(pattern=SAFE_NAME_PATTERN)]


def slug(name: str) -> str:
    """A directory name for a model: hub ids ``org/name`` become ``org__name``, and a local
    path loses its leading dots (``./my-vlm`` is ``my-vlm``, never the hidden ``.__my-vlm``)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("/", "__"))
    return cleaned.lstrip("._-").strip("_") or "model"


@dataclass(frozen=True, config=STRICT)
class EndpointSpec:
    """An OpenAI-compatible server that answers instead of a loaded model (``--api-base``)."""

    base_url: NonEmpty
    extra: dict[str, Any] = Field(default_factory=dict)
    concurrency: Annotated[int, Field(ge=1, le=endpoint_options.CONCURRENCY_LIMIT)] = (
        endpoint_options.CONCURRENCY_DEFAULT
    )
    timeout_s: Annotated[float, Field(gt=0, le=endpoint_options.TIMEOUT_LIMIT_S)] = (
        endpoint_options.TIMEOUT_DEFAULT_S
    )
    max_response_bytes: Annotated[
        int, Field(ge=1, le=endpoint_options.MAX_RESPONSE_BYTES_LIMIT)
    ] = endpoint_options.MAX_RESPONSE_BYTES_DEFAULT


@dataclass(frozen=True, config=STRICT)
class Plan:
    """Everything every rank of every node needs to know, and nothing node-specific."""

    model: ModelSpec
    datasets: Annotated[tuple[DatasetRef, ...], Field(min_length=1)]
    device: Literal["cuda", "cpu"]
    output_dir: NonEmpty
    run_name: SafeName
    limit: Positive | None = None
    seed: int = DEFAULT_SEED
    endpoint: EndpointSpec | None = None
    shards: Annotated[int, Field(ge=1, le=SHARDS_LIMIT)] = 1
    """Independent jobs the run is split into (``--shard I/N``; :mod:`vlmeval_core.shards`)."""
    judge: JudgeSpec | None = None
    """The judge model asked where the rules cannot read an answer (``--judge``)."""
    suite: NonEmpty | None = None
    """The suite the datasets are (``--suite``): its average is written at the end."""
    schema: Literal[1] = SCHEMA_VERSION

    def __post_init__(self) -> None:
        names = [d.name for d in self.datasets]
        if len(set(names)) != len(names):
            raise ValueError(f"dataset names repeat: {names}")
        served = self.model.backend == "api"
        if served != (self.endpoint is not None):
            raise ValueError('the endpoint settings are given exactly when model.backend is "api"')
        if served != (self.model.source is None):
            raise ValueError(
                "model.source says where the weights are (bundled, hub, local) for a model "
                'loaded here, and is null for a served one (model.backend "api")'
            )

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / slug(self.model.name) / self.run_name

    def to_dict(self) -> dict[str, Any]:
        """plan.json's content; a run without a judge or suite has no ``judge`` or ``suite``."""
        raw = dataclasses.asdict(self)
        raw["datasets"] = [ref.to_dict() for ref in self.datasets]  # an image one: 3 fields
        for optional in ("judge", "suite"):  # absent when unset, as before them
            if raw[optional] is None:
                del raw[optional]
        return {"schema": raw.pop("schema"), **raw}

    def write(self) -> Path:
        """Write ``plan.json`` whole into the run directory and return its path."""
        return write_json(self.run_dir / "plan.json", self.to_dict())

    @classmethod
    def from_dict(cls, raw: Any, origin: str = "plan") -> Plan:
        """Build and validate a plan; a bad field raises UsageError naming it."""
        with schema_errors(origin):
            return _ADAPTER.validate_json(json.dumps(raw))


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: plan file not found") from None
    except OSError as exc:
        raise UsageError(f"{path}: plan file cannot be read ({exc.strerror or exc})") from None
    try:
        json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a readable JSON plan ({exc})") from None
    with schema_errors(str(path)):
        return _ADAPTER.validate_json(text)


def load_run_plan(run_dir: Path) -> Plan:
    """The plan of the run directory ``run_dir``; a directory without one, or whose plan puts
    the run elsewhere (a moved directory), is a UsageError."""
    if not (run_dir / "plan.json").is_file():
        raise UsageError(
            f"{run_dir}: not a run directory (no plan.json); give <output>/<model>/<run-name>"
        )
    plan = load_plan(run_dir / "plan.json")
    if plan.run_dir.resolve() != run_dir.resolve():
        raise UsageError(
            f"{run_dir}/plan.json puts the run at {plan.run_dir}: use the run there (its "
            "checkpoints and results are found by that path)"
        )
    return plan


@contextmanager
def schema_errors(origin: str) -> Iterator[None]:
    """Turn a pydantic ValidationError into one UsageError line naming each bad field."""
    try:
        yield
    except ValidationError as exc:
        raise UsageError(f"{origin}: {describe(exc)}") from None


def describe(exc: ValidationError) -> str:
    """``field.path: what is wrong (got value)``, for each distinct problem."""
    seen: list[str] = []
    for error in exc.errors():
        where = _location(error["loc"])
        if error["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
            text = f"{where}: unknown field"
        else:
            got = error.get("input")
            shown = "" if isinstance(got, dict | list) else f" (got {json.dumps(got)})"
            message = error["msg"].removeprefix("Value error, ")
            text = f"{where}: {message}{shown}" if where else message
        if text not in seen and not _follows_from(error, seen):
            seen.append(text)
    return "; ".join(seen)


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _follows_from(error: Any, seen: list[str]) -> bool:
    """pydantic also reports a list as too short once its only bad item is dropped."""
    return error["type"] == "too_short" and any(s.startswith(_location(error["loc"])) for s in seen)


_ADAPTER = TypeAdapter(Plan)
