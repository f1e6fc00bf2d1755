"""The run plan: written once by the launcher as ``<run_dir>/plan.json``, read by every rank.

The same code validates the launcher's plan and a hand-written one, so a rank
can trust what it reads. Torch-free. Schema (version 1)::

    {"schema": 1,
     "model": {"name", "source": "bundled|hub|local", "path", "revision", "dtype",
               "trust_remote_code", "batch_size", "max_new_tokens", "gpus_per_model"},
     "datasets": [{"name", "path", "kind"}],
     "device": "cuda|cpu", "output_dir", "data_dir", "run_name",
     "limit", "seed", "gpus": [{"index", "uuid", "name", "memory_total_mib"}]}

``output_dir`` is the volume's root; results go to :attr:`Plan.run_dir`,
``<output_dir>/<model slug>/<run_name>``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vlmeval_core.datasets.registry import KINDS, DatasetRef
from vlmeval_core.errors import UsageError
from vlmeval_core.files import write_json

SCHEMA_VERSION = 1
DTYPES = ("auto", "bfloat16", "float16", "float32")
DEVICES = ("cuda", "cpu")
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def slug(name: str) -> str:
    """A directory name for a model: hub ids ``org/name`` become ``org__name``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("/", "__")).strip("_") or "model"


@dataclass(frozen=True)
class ModelSpec:
    """Which model to build and how to generate with it."""

    name: str
    source: str
    path: str
    revision: str | None = None
    dtype: str = "auto"
    trust_remote_code: bool = False
    batch_size: int = 8
    max_new_tokens: int = 32
    gpus_per_model: int = 1


@dataclass(frozen=True)
class Plan:
    """Everything a rank needs to know; nothing it has to discover again."""

    model: ModelSpec
    datasets: tuple[DatasetRef, ...]
    device: str
    output_dir: str
    data_dir: str
    run_name: str
    limit: int | None = None
    seed: int = 0
    gpus: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    schema: int = SCHEMA_VERSION

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / slug(self.model.name) / self.run_name

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "model": asdict(self.model),
            "datasets": [d.to_dict() for d in self.datasets],
            "device": self.device,
            "output_dir": self.output_dir,
            "data_dir": self.data_dir,
            "run_name": self.run_name,
            "limit": self.limit,
            "seed": self.seed,
            "gpus": [dict(g) for g in self.gpus],
        }

    def write(self) -> Path:
        """Write ``plan.json`` whole into the run directory and return its path."""
        return write_json(self.run_dir / "plan.json", self.to_dict())

    @classmethod
    def from_dict(cls, raw: Any, origin: str = "plan") -> Plan:
        """Build and validate a plan; a bad field raises UsageError naming it."""
        return _validate(raw, origin)


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: plan file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a readable JSON plan ({exc})") from None
    return Plan.from_dict(raw, str(path))


def _validate(raw: Any, origin: str) -> Plan:
    def fail(what: str) -> UsageError:
        return UsageError(f"{origin}: {what}")

    if not isinstance(raw, dict):
        raise fail("a plan is a JSON object")
    if raw.get("schema") != SCHEMA_VERSION:
        raise fail(f"schema is {raw.get('schema')!r}; this evaluator reads schema {SCHEMA_VERSION}")
    for key in ("model", "datasets", "device", "output_dir", "data_dir", "run_name"):
        if key not in raw:
            raise fail(f"missing field {key!r}")

    model_raw = raw["model"]
    if not isinstance(model_raw, dict):
        raise fail("'model' must be an object")
    known = set(ModelSpec.__dataclass_fields__)
    unknown = set(model_raw) - known
    if unknown:
        raise fail(f"unknown model field(s) {sorted(unknown)}")
    try:
        model = ModelSpec(**model_raw)
    except TypeError as exc:
        raise fail(f"model: {exc}") from None
    if model.source not in ("bundled", "hub", "local"):
        raise fail(f"model.source is {model.source!r}; expected bundled, hub or local")
    if not isinstance(model.path, str) or not model.path:
        raise fail("model.path must be a non-empty string")
    if model.dtype not in DTYPES:
        raise fail(f"model.dtype is {model.dtype!r}; expected one of {', '.join(DTYPES)}")
    for name in ("batch_size", "max_new_tokens", "gpus_per_model"):
        value = getattr(model, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise fail(f"model.{name} is {value!r}; it must be a whole number >= 1")

    datasets_raw = raw["datasets"]
    if not isinstance(datasets_raw, list) or not datasets_raw:
        raise fail("'datasets' must be a non-empty list")
    datasets = []
    for i, d in enumerate(datasets_raw):
        if not isinstance(d, dict) or not isinstance(d.get("name"), str):
            raise fail(f"datasets[{i}] must be an object with a 'name'")
        kind = d.get("kind")
        if kind is not None and kind not in KINDS:
            raise fail(f"datasets[{i}].kind is {kind!r}; expected one of {', '.join(KINDS)}")
        if not SAFE_NAME.match(d["name"]):
            raise fail(f"datasets[{i}].name {d['name']!r} must be a plain file name")
        datasets.append(DatasetRef(d["name"], d.get("path"), kind))
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise fail(f"dataset names repeat: {names}")

    if raw["device"] not in DEVICES:
        raise fail(f"device is {raw['device']!r}; expected cuda or cpu")
    if not isinstance(raw["run_name"], str) or not SAFE_NAME.match(raw["run_name"]):
        raise fail(f"run_name {raw['run_name']!r} must be letters, digits, '.', '_' or '-'")
    limit = raw.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise fail(f"limit is {limit!r}; it must be a whole number >= 1 or null")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise fail(f"seed is {seed!r}; it must be a whole number")
    gpus = raw.get("gpus", [])
    if not isinstance(gpus, list):
        raise fail("'gpus' must be a list")
    return Plan(
        model=model,
        datasets=tuple(datasets),
        device=raw["device"],
        output_dir=str(raw["output_dir"]),
        data_dir=str(raw["data_dir"]),
        run_name=raw["run_name"],
        limit=limit,
        seed=seed,
        gpus=tuple(gpus),
    )
