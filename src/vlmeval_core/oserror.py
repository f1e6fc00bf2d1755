"""The one line for a file-system failure: disk full, permission denied, read-only.

Shared by the launcher and the ranks (no torch here). An ``OSError`` from
``write()`` or ``fsync()`` carries no file name, so a full disk is named by the
volume that has no room left among the run's directories.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from vlmeval_core.errors import RuntimeFailure

FULL_BELOW_BYTES = 1 << 20
"""A volume with less free space than this is taken to be the full one."""


def explain(exc: OSError, volumes: Sequence[str | os.PathLike[str]] = ()) -> RuntimeFailure | None:
    """A :class:`RuntimeFailure` (exit 3) naming the path and the fix, or None if not ours.

    ``volumes`` are the directories the run writes to (run dir, data dir), used to
    find the full one when the error names no file.
    """
    path = exc.filename
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = path or _full_volume(volumes) or (volumes[0] if volumes else "the output volume")
        return RuntimeFailure(
            f"no space left on device writing {where}: free space on that volume or "
            "point --output (or --data-dir) at a larger one; rerun with the same "
            "--run-name to resume"
        )
    if exc.errno in (errno.EACCES, errno.EPERM) and path:
        denied = _nearest_existing(Path(path))  # the directory, for a file it could not make
        return RuntimeFailure(
            f"permission denied: {denied}{_owner(denied)}: make it writable for uid "
            f"{os.getuid()} (e.g. sudo chown -R {os.getuid()}:{os.getgid()} on it) or "
            "choose another --output or --run-name"
        )
    if exc.errno == errno.EROFS:
        return RuntimeFailure(
            f"read-only file system: {path or (volumes[0] if volumes else '?')}: mount a "
            "writable volume there (docker run -v …, or --tmpfs for a scratch directory)"
        )
    return None


def _full_volume(volumes: Sequence[str | os.PathLike[str]]) -> str | None:
    for volume in volumes:
        existing = _nearest_existing(Path(volume))
        try:
            if shutil.disk_usage(existing).free < FULL_BELOW_BYTES:
                return str(volume)
        except OSError:
            continue
    return None


def _owner(path: Path) -> str:
    """`` (owned by uid U)``, when known."""
    try:
        return f" (owned by uid {path.stat().st_uid})"
    except OSError:
        return ""


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
