"""Whether a finished run's results are worth its exit 0: an exit status a script can trust.

Rank 0 writes every result file first; then the process that ends the run (the
supervisor, the torchrun agent on the node of rank 0, the endpoint's process) reads
``summary.json`` and judges each dataset by what its items gave:

* exit 3 when no item of a dataset was read and some failed (an error on every
  item, or errors and unparsed answers only): the environment or the inputs failed;
* exit 2 when every answer of a dataset is unparsed and none failed: the model does
  not answer in the form its kind reads (a wrong ``:kind`` or prompt family);
* exit 0 otherwise, or always with ``--allow-failed-items``
  (``VLMEVAL_ALLOW_FAILED_ITEMS=1``, which ``vlmeval eval`` hands on).

One line says why, naming the first such dataset. Torch-free.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmeval_core.env_flags import is_set
from vlmeval_core.errors import RuntimeFailure, UsageError

ALLOW_FAILED_ITEMS_VARIABLE = "VLMEVAL_ALLOW_FAILED_ITEMS"
ALLOW_FLAG = "--allow-failed-items"


@dataclass(frozen=True)
class Verdict:
    """A run that wrote its results but should not exit 0: the code and the one line."""

    exit_code: int
    message: str


def judge(datasets: Mapping[str, Mapping[str, Any]]) -> Verdict | None:
    """The verdict on a run's per-dataset counts (``n``, ``unparsed``, ``errors``), or None
    when every dataset had at least one answer read."""
    failed: list[str] = []
    unread: list[str] = []
    for name, row in datasets.items():
        n, unparsed, errors = (_count(row.get(key)) for key in ("n", "unparsed", "errors"))
        if n == 0 or unparsed + errors < n:
            continue
        if errors:
            failed.append(f"{name}: {errors} of its {n} items failed and no answer was read")
        else:
            unread.append(f"{name}: none of its {n} answers could be read (all unparsed)")
    if not failed and not unread:
        return None
    code = RuntimeFailure.exit_code if failed else UsageError.exit_code
    first, *others = failed or unread
    more = f" (and {len(others)} other dataset(s) so)" if others else ""
    why = (
        "see the error column of its predictions"
        if failed
        else "is its kind or the model's prompt family wrong?"
    )
    return Verdict(
        code,
        f"{first}{more}; {why}; the results are written, and {ALLOW_FLAG} exits 0 all the same",
    )


def judge_run(run_dir: Path, environ: Mapping[str, str] | None = None) -> int:
    """The run's exit code from its ``summary.json``, saying why on stderr when it is not 0.
    No summary (a run that wrote none) is no verdict."""
    if is_set(ALLOW_FAILED_ITEMS_VARIABLE, environ):
        return 0
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        datasets = summary["datasets"]
    except (OSError, ValueError, KeyError, TypeError):
        return 0
    verdict = judge(datasets) if isinstance(datasets, dict) else None
    if verdict is None:
        return 0
    print(f"vlmeval: error: {verdict.message}", file=sys.stderr, flush=True)
    return verdict.exit_code


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
