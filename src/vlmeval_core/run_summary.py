"""The end of a run on the terminal: ``summary.md`` and where the results are, on stdout.

``vlmeval eval`` hands ``VLMEVAL_QUIET`` to the process that supervises the ranks:
``1`` (``--quiet``) keeps stdout empty for scripts, which read ``summary.json``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

QUIET_VARIABLE = "VLMEVAL_QUIET"
_TRUE = frozenset({"1", "true", "yes", "on"})


def is_quiet(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``VLMEVAL_QUIET`` asks for no summary on stdout."""
    env = os.environ if environ is None else environ
    return env.get(QUIET_VARIABLE, "").strip().lower() in _TRUE


def print_summary(run_dir: Path, environ: Mapping[str, str] | None = None) -> None:
    """Print the run's ``summary.md`` and its directory, unless quiet or there is none."""
    summary = run_dir / "summary.md"
    if is_quiet(environ) or not summary.is_file():
        return
    sys.stdout.write("\n" + summary.read_text(encoding="utf-8"))
    sys.stdout.write(f"\nresults in {run_dir}\n")
    sys.stdout.flush()
