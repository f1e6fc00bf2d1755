"""What a run name and a dataset name may be, checked in one place before any work.

Both become directory names, and a dataset's name is also part of its result files'
names (``<model>_<dataset>_acc.csv``, with a temp file ``.<file>.XXXXXXXX.tmp`` beside
each while it is written). So a name is a plain file name (:data:`SAFE_NAME_PATTERN`,
matched whole: a trailing newline is no match), short enough that every file made
from it stays within a file system's 255-byte limit, and no dataset is named like a
file of the run directory itself (:data:`RUN_DIR_ENTRIES`). Torch-free.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from vlmeval_core.errors import UsageError

SAFE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
"""A plain file name: letters, digits, '.', '_' and '-', not starting with '.', '_', '-'."""

FILE_NAME_BYTES = 255
"""The longest file name ext4, xfs, btrfs, tmpfs and NFS take."""

RUN_NAME_BYTES = 128
"""The longest run name: its directory may become ``<run>.replaced-<time>`` (--restart)."""

RESULT_FILE_ROOM = 48
"""Bytes a dataset's result file adds around ``<model>_<dataset>``: the longest suffix
(``_score.csv``, ``_acc.csv``, ``.xlsx``, a judge's name later) and the temp file's
``.`` + ``.XXXXXXXX.tmp``."""

RUN_DIR_ENTRIES = frozenset(
    {"plan.json", "identity.json", "manifest.json", "summary.json", "summary.md", "logs"}
)
"""What a run directory holds besides its datasets' directories (and its dot files and
``attempts.node-<n>.jsonl``): no dataset may be named so."""


def check_run_name(name: str) -> None:
    """UsageError naming ``--run-name`` and the rule it breaks."""
    if not re.fullmatch(SAFE_NAME_PATTERN, name):
        raise UsageError(
            f"--run-name {name!r} must start with a letter or digit and hold only letters, "
            "digits, '.', '_' or '-' (it names the run directory)"
        )
    if len(name.encode()) > RUN_NAME_BYTES:
        raise UsageError(
            f"--run-name is {len(name.encode())} bytes long: at most {RUN_NAME_BYTES} "
            "(it names the run directory); give a shorter one"
        )


def check_dataset_names(names: Iterable[str], model_slug: str) -> None:
    """UsageError naming the first dataset whose name cannot name its files in a run of
    the model whose directory name is ``model_slug``."""
    for name in names:
        if not re.fullmatch(SAFE_NAME_PATTERN, name):
            raise UsageError(
                f"--data: dataset name {name!r} must start with a letter or digit and hold "
                "only letters, digits, '.', '_' or '-': rename its TSV file"
            )
        if name.lower() in RUN_DIR_ENTRIES or name.lower().startswith("attempts.node-"):
            raise UsageError(
                f"--data: a dataset named {name!r} would clash with the run directory's own "
                f"{name}: rename its TSV file"
            )
        longest = len(f"{model_slug}_{name}".encode()) + RESULT_FILE_ROOM
        if longest > FILE_NAME_BYTES:
            room = FILE_NAME_BYTES - RESULT_FILE_ROOM - len(model_slug.encode()) - 1
            raise UsageError(
                f"--data: dataset name {name[:40]!r}… is {len(name.encode())} bytes long: with "
                f"the model's {model_slug!r} its result files would pass the {FILE_NAME_BYTES}-"
                f"byte limit of a file name; rename its TSV file to at most {room} bytes"
            )
