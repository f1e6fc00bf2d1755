"""What columns a VLMEvalKit TSV must have: checked by the ranks on the whole table
(:func:`vlmeval_core.datasets.tsv.load_tsv`) and by the launcher on a local TSV's header
row before it claims a run. Without pandas, so the launcher reads one line only."""

from __future__ import annotations

import csv
from pathlib import Path

from vlmeval_core.datasets.registry import DATASETS
from vlmeval_core.errors import UsageError

REQUIRED = ("index", "question", "answer")
"""The columns every dataset TSV has."""
HEADER_BYTES_LIMIT = 1 << 20
"""How much of a TSV's first line the launcher reads for its header."""


def check_columns(
    path: Path, columns: list[str], name: str | None = None, *, video: bool = False
) -> None:
    """Refuse a table whose ``columns`` lack what every TSV needs (a video TSV: ``video``,
    the name of each item's mp4), or what the registered ``name``'s metric reads: a
    UsageError naming the file, the columns and those found."""
    found = ", ".join(map(str, columns)) or "none"
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise UsageError(f"{path}: missing required column(s) {', '.join(missing)}; found {found}")
    if video and "video" not in columns:
        raise UsageError(f"{path}: missing column 'video' (each item's <video>.mp4); found {found}")
    if not video and "image" not in columns and "image_path" not in columns:
        raise UsageError(f"{path}: missing column 'image' (base64) or 'image_path'")
    entry = DATASETS.get(name) if name is not None else None
    needed = [c for c in (entry.columns if entry is not None else ()) if c not in columns]
    if needed:
        raise UsageError(
            f"{path}: {name} is scored with column(s) {', '.join(needed)}, which the file "
            f"lacks; found {found}"
        )


def check_header(path: Path, name: str | None = None, *, video: bool = False) -> None:
    """What the launcher checks of a local TSV before it claims a run: the header row alone
    (the rows are the ranks' to read), refused as :func:`load_tsv` would refuse it."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as table:
            header = table.readline(HEADER_BYTES_LIMIT)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a readable TSV ({exc})") from None
    columns = next(csv.reader([header.rstrip("\r\n")], delimiter="\t"), [])
    check_columns(path, columns, name, video=video)
