"""VLMEvalKit's own scoring code, run in the parity venv (``make test-parity`` builds it).

:func:`reference` sends a task of ``tests/parity/reference_vlmevalkit.py`` to
that venv's Python and returns its answer. The venv holds PyPI's
``nvidia-vlmeval`` (:data:`REFERENCE_VERSION`, a build older than VLMEvalKit main
e8e78f05); where main changed a rule after that build, the parity tests leave
those inputs to ``tests/test_scoring_main_rules.py``, which pins main's rules.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "parity" / "reference_vlmevalkit.py"
PARITY_PYTHON = Path(os.environ.get("VLMEVAL_PARITY_PYTHON", ROOT / ".parity-venv/bin/python"))
REFERENCE_VERSION = "26.3"


def reference(task: str, payload: Any) -> Any:
    """VLMEvalKit's answer to ``task`` for ``payload``; fails when the parity venv is missing."""
    if not PARITY_PYTHON.is_file():
        pytest.fail(f"no parity venv at {PARITY_PYTHON}: run `make test-parity`, which builds it")
    done = subprocess.run(
        [str(PARITY_PYTHON), str(SCRIPT)],
        input=json.dumps({"task": task, "payload": payload}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)
