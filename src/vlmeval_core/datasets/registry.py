"""The benchmarks ``--data`` can name, as data: a registry entry is a few declared fields.

A dataset is either a registered name (:data:`DATASETS`) or a path to a local
VLMEvalKit-format TSV, optionally with its kind after a colon
(``my.tsv:vqa``); without one the kind is inferred from the columns when the
file is loaded. Torch-free, so the launcher can check names before starting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vlmeval_core.errors import UsageError
from vlmeval_core.names import find_name, suggest

KINDS = {"mcq": "MCQ", "yorn": "Y/N", "vqa": "VQA"}
"""Internal kind key -> the label VLMEvalKit users know."""


@dataclass(frozen=True)
class DatasetEntry:
    """A registered benchmark. ``source`` says how its TSV comes to the data dir."""

    name: str
    kind: str
    metric: str
    source: str
    description: str = ""


DATASETS: dict[str, DatasetEntry] = {
    e.name: e
    for e in [
        DatasetEntry(
            "ShapesMCQ",
            "mcq",
            "accuracy",
            "synthetic",
            "rendered shapes: colour, shape and count, 4 options",
        ),
        DatasetEntry(
            "ShapesYN",
            "yorn",
            "accuracy",
            "synthetic",
            "rendered shapes: colour, shape and count, yes/no",
        ),
        DatasetEntry(
            "ShapesVQA",
            "vqa",
            "exact_match",
            "synthetic",
            "rendered shapes: colour, shape and count, one word",
        ),
    ]
}


@dataclass(frozen=True)
class DatasetRef:
    """What a plan says about one dataset: a registered ``name``, or a local ``path``.

    ``kind`` is None for a local TSV whose kind is inferred when it is loaded.
    """

    name: str
    path: str | None = None
    kind: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "path": self.path, "kind": self.kind}


def resolve_dataset(spec: str) -> DatasetRef:
    """Resolve a ``--data`` value; an unknown name raises UsageError naming the closest ones."""
    registered = find_name(spec, DATASETS)
    if registered is not None:
        entry = DATASETS[registered]
        return DatasetRef(entry.name, None, entry.kind)
    path_text, kind = spec, None
    head, sep, tail = spec.rpartition(":")
    if sep and tail.lower() in KINDS:
        path_text, kind = head, tail.lower()
    path = Path(path_text).expanduser()
    if path.suffix.lower() == ".tsv":
        if not path.is_file():
            raise UsageError(f"--data {spec!r}: no such TSV file {str(path)!r}")
        return DatasetRef(path.stem, str(path.resolve()), kind)
    raise UsageError(
        f"--data {spec!r} is not a registered dataset or a .tsv file{suggest(spec, DATASETS)}; "
        "`vlmeval list datasets` shows the registered names"
    )
