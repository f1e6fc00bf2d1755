"""The end of a run on the terminal: ``summary.md`` and where the results are, on stdout.

``vlmeval eval`` hands ``VLMEVAL_QUIET`` to the process that supervises the ranks:
``1`` (``--quiet``) keeps stdout empty for scripts, which read ``summary.json``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from vlmeval_core.env_flags import is_set

QUIET_VARIABLE = "VLMEVAL_QUIET"

DATASET_SECTION = "\n## "
"""Where summary.md's overall table ends and the datasets' sections begin."""


def is_quiet(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``VLMEVAL_QUIET`` asks for no summary on stdout."""
    return is_set(QUIET_VARIABLE, environ)


def print_summary(run_dir: Path, environ: Mapping[str, str] | None = None) -> None:
    """Print the overall table of the run's ``summary.md`` (the page up to its datasets'
    sections) and the run's directory, unless quiet or there is none."""
    summary = run_dir / "summary.md"
    if is_quiet(environ) or not summary.is_file():
        return
    overall = summary.read_text(encoding="utf-8").split(DATASET_SECTION, 1)[0]
    sys.stdout.write("\n" + overall.rstrip("\n") + "\n")
    sys.stdout.write(f"\nresults in {run_dir}\n")
    sys.stdout.flush()
