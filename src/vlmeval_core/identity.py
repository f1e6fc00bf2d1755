"""A run's identity: everything that can change a prediction, fixed by the run's first launch.

A later launch under the same run name resumes from the checkpoints only when
its identity is the same; otherwise it stops before any work and names each
differing field (:func:`differences`). What cannot change a prediction (ranks,
nodes, batch size, ``--limit``, where the data dir is) is no part of it and may
differ between launches; the attempts record it (:mod:`vlmeval_core.attempts`).

The model's part is derived from the model record (:class:`ModelSpec`): every
field of it is in the identity unless :data:`PREDICTION_NEUTRAL` names it with
its reason, so a field added to the record is covered without more code. The
record's ``path`` is given by what it holds (a hub id at its commit, the
content of a directory, or an endpoint's base URL and extra fields, never a
key) and ``max_new_tokens`` sits under ``generation``. Stored as
``<run_dir>/identity.json``. Torch-free: the launcher computes it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from vlmeval_core.datasets.registry import DATASETS, DatasetRef
from vlmeval_core.files import file_digests, file_md5, open_regular, write_json
from vlmeval_core.run_plan import Plan

IDENTITY_FILE = "identity.json"
FILLED_LATER = frozenset({"model.commit"})
"""Fields a launch may not know (a hub model not in the local cache yet): unknown on either
side is no mismatch, and the first launch that knows one records it."""


PREDICTION_NEUTRAL: Mapping[str, str] = MappingProxyType(
    {
        "batch_size": "items per generate call: greedy answers are taken as the same at any "
        "batch size, as VLMEvalKit takes them (padding may still flip a near tie in half "
        "precision), and out-of-memory halving changes it within one attempt",
        "gpus_per_model": "how one model copy is spread over GPUs, not what it computes",
    }
)
"""The fields of a model record that cannot change a prediction, each with its reason: no
part of the identity, they may differ between launches (the attempts record them)."""

_PLACED_APART = frozenset({"path", "max_new_tokens"})
"""Record fields the identity gives in their own form (see the module docstring)."""


@dataclass(frozen=True)
class GenerationIdentity:
    """How answers are generated (greedy, so no sampling settings)."""

    max_new_tokens: int
    do_sample: bool = False


@dataclass(frozen=True)
class DatasetIdentity:
    """Which items, asked how: kind, prompt style and the file's md5 (None: generated);
    a video dataset's frame setting (``nframe``, ``fps``) and how its frames are fed."""

    kind: str | None
    source: str
    prompt: str | None
    md5: str | None
    video: dict[str, Any] | None = None


@dataclass(frozen=True)
class RunIdentity:
    model: dict[str, Any]
    generation: GenerationIdentity
    datasets: dict[str, DatasetIdentity]
    device: str
    seed: int
    shards: int = 1
    """The run's number of shards: another N would give some items to no shard or two."""
    judge: dict[str, Any] | None = None
    """The judge asked when scoring (model, base URL, extra fields; never a key): another
    judge can change a score, so it is another run."""

    def to_dict(self) -> dict[str, Any]:
        """As identity.json holds it; an unsharded run's has no ``shards``, an unjudged run's
        no ``judge`` (as before them, so that those runs resume)."""
        raw = dataclasses.asdict(self)
        for dataset in raw["datasets"].values():
            if dataset["video"] is None:  # an image dataset's, as before videos
                del dataset["video"]
        if raw["shards"] == 1:
            del raw["shards"]
        if raw["judge"] is None:
            del raw["judge"]
        return raw


def run_identity(plan: Plan) -> RunIdentity:
    """The identity of ``plan``; reads (hashes) the model directory and local TSVs."""
    return RunIdentity(
        model=model_identity(plan),
        generation=GenerationIdentity(max_new_tokens=plan.model.max_new_tokens),
        datasets={ref.name: dataset_identity(ref) for ref in plan.datasets},
        device=plan.device,
        seed=plan.seed,
        shards=plan.shards,
        judge=None if plan.judge is None else plan.judge.asked,
    )


def model_identity(plan: Plan) -> dict[str, Any]:
    """The model record's fields less :data:`PREDICTION_NEUTRAL`, its ``path`` as what it holds."""
    spec = plan.model
    record = dataclasses.asdict(spec)
    fields = {
        k: v for k, v in record.items() if k not in PREDICTION_NEUTRAL and k not in _PLACED_APART
    }
    if plan.endpoint is not None:  # the server's model: its name, where it is, what is asked
        held = {"hub_id": None, "commit": None, "content_sha256": None}
        asked = {"api_base": plan.endpoint.base_url, "api_extra": plan.endpoint.extra}
        # identity.json has said "source": "api" for a served model since before the record's
        # source became null (no weights here); kept, so that those runs resume
        return {**fields, "source": "api", **held, **asked}
    hub = spec.source == "hub"
    held = {
        "hub_id": spec.path if hub else None,
        "commit": cached_commit(spec.path, spec.revision) if hub else None,
        "content_sha256": None if hub else directory_sha256(Path(spec.path)),
    }
    return {**fields, **held, "api_base": None, "api_extra": None}


def dataset_identity(ref: DatasetRef) -> DatasetIdentity:
    entry = DATASETS.get(ref.name) if ref.path is None else None
    if entry is None:
        md5 = file_md5(Path(ref.path or ref.name))
        return DatasetIdentity(ref.kind, "file", None, md5, _video_identity(ref))
    if entry.source == "download":
        from vlmeval_core.datasets.download import source_of

        return DatasetIdentity(entry.kind, "download", entry.prompt_style, source_of(entry).md5)
    return DatasetIdentity(entry.kind, entry.source, entry.prompt_style, None, _video_identity(ref))


def _video_identity(ref: DatasetRef) -> dict[str, Any] | None:
    """A video dataset's frame setting and feed (frames as images); None for images."""
    if not ref.video:
        return None
    return {"nframe": ref.nframe, "fps": ref.fps, "feed": "frames"}


def cached_commit(repo_id: str, revision: str | None) -> str | None:
    """The commit ``revision`` (default main) of a hub model resolves to in the local
    Hugging Face cache; None when it is not cached yet. Never goes to the network."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    return Path(found).parent.name if isinstance(found, str) else None


def directory_sha256(directory: Path) -> str:
    """sha256 over the names and contents of a model directory's files (weights, configs,
    processor, tokenizer, code); hidden entries such as ``.cache`` are left out."""
    digest = hashlib.sha256()
    files = sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    )
    for path in files:
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(bytes.fromhex(file_digests(path, "sha256")[0]))
    return digest.hexdigest()


def load_identity(run_dir: Path) -> dict[str, Any] | None:
    """The identity a run was started with, or None for a new run (or one older than this).
    Read only as a regular file: a link or FIFO there is refused (UnsafeFileError)."""
    try:
        fd = open_regular(run_dir / IDENTITY_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, encoding="utf-8") as handle:
        return json.loads(handle.read())


def write_identity(run_dir: Path, identity: dict[str, Any]) -> Path:
    return write_json(run_dir / IDENTITY_FILE, identity)


def differences(old: Any, new: Any, path: str = "") -> list[str]:
    """``field was X, now Y`` for each field that differs (dotted paths, JSON values)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            line
            for key in sorted(old.keys() | new.keys())
            for line in differences(
                old.get(key, _ABSENT), new.get(key, _ABSENT), f"{path}.{key}" if path else key
            )
        ]
    if old == new or (path in FILLED_LATER and None in (old, new)):
        return []
    return [f"{path} was {_show(old)}, now {_show(new)}"]


def filled_in(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``old`` with the :data:`FILLED_LATER` fields it lacked taken from ``new``."""
    merged = json.loads(json.dumps(old))
    for key in FILLED_LATER:
        head, _, leaf = key.rpartition(".")
        target, source = merged, new
        for part in head.split("."):
            target, source = target.get(part, {}), source.get(part, {})
        if target.get(leaf) is None and source.get(leaf) is not None:
            target[leaf] = source[leaf]
    return merged


_ABSENT = object()


def _show(value: Any) -> str:
    return "(none)" if value is _ABSENT else json.dumps(value, ensure_ascii=False)
