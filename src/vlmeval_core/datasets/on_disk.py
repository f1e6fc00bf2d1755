"""Put a plan's dataset on disk as a TSV and say where: rank 0 calls it, the others wait.

A registered synthetic dataset is generated into the data dir (or, when that
is read-only, into the run dir), unless the file there already has the md5 of the
generated set (ShapesVideo: its videos too, :mod:`vlmeval_core.datasets.shapes_video`); a
registered download is fetched into the
data dir and checked (:mod:`vlmeval_core.datasets.download`); a local TSV is
used where it lies.
"""

from __future__ import annotations

import os
from pathlib import Path

from vlmeval_core.datasets import download, shapes, shapes_video
from vlmeval_core.datasets.registry import DATASETS, DatasetRef
from vlmeval_core.errors import UsageError
from vlmeval_core.files import file_md5, remove_leftover_temps, write_atomic


def synthetic_dir(data_dir: Path, run_dir: Path) -> Path:
    """Where generated datasets go: the data dir when it is writable, else the run dir."""
    if data_dir.is_dir() and os.access(data_dir, os.W_OK):
        return data_dir
    if not data_dir.exists() and os.access(data_dir.parent, os.W_OK):
        return data_dir
    return run_dir / "data"


def dataset_path(ref: DatasetRef, data_dir: Path, run_dir: Path, seed: int) -> Path:
    """The TSV file of ``ref``; the same answer on every rank, without writing anything."""
    if ref.path is not None:
        return Path(ref.path)
    entry = DATASETS.get(ref.name)
    if entry is None:
        raise UsageError(
            f"dataset {ref.name!r} is not registered; "
            "`vlmeval list datasets` shows the registered names"
        )
    if entry.source == "download":
        return download.local_path(entry, data_dir)
    return synthetic_dir(data_dir, run_dir) / shapes.tsv_name(entry.name, seed)


def ensure_on_disk(ref: DatasetRef, data_dir: Path, run_dir: Path, seed: int) -> Path:
    """Make sure the TSV of ``ref`` exists and is current; return its path.

    Temp files that interrupted writes of a registered TSV left beside it are removed first.
    """
    path = dataset_path(ref, data_dir, run_dir, seed)
    if ref.path is not None:
        if not path.is_file():
            raise UsageError(f"{path}: dataset file not found")
        return path
    remove_leftover_temps(path.parent, prefix=f".{path.name}.", recursive=False)
    entry = DATASETS[ref.name]
    if entry.source == "download":
        return download.ensure_dataset(entry, data_dir).path
    if entry.video:
        return shapes_video.ensure(path.parent, seed)
    expected = shapes.GENERATED_MD5.get(ref.name) if seed == 0 else None
    if expected is not None and path.is_file() and file_md5(path) == expected:
        return path  # current: checked by md5, not generated again
    fresh = shapes.tsv_text(ref.name, seed)
    if not path.is_file() or path.read_text(encoding="utf-8") != fresh:
        write_atomic(path, fresh)
    return path
