"""``vlmeval eval --api-base`` run as a user runs it (the console script, a fresh process),
for the tests that point it at a local server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")


def endpoint_eval(
    tmp_path: Path, base_url: str, *args: str, data: str = "ShapesMCQ", **env: str
) -> subprocess.CompletedProcess[str]:
    """Evaluate model ``fake-vlm`` served at ``base_url`` on ``data``: run ``r`` under
    ``tmp_path/out``, its data dir ``tmp_path/data``, offline for the hub."""
    return subprocess.run(
        [
            *(VLMEVAL, "eval", "--api-base", base_url, "-m", "fake-vlm", "-d", data),
            *("--output", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data")),
            *("--run-name", "r", *args),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
    )
