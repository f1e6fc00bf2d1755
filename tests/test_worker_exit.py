"""A rank leaves without the interpreter's teardown (about a second with torch loaded, several
on a loaded host), its output flushed and its exit code kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_worker_exits_without_the_interpreters_teardown(tmp_path):
    marker = tmp_path / "teardown-ran"
    site = tmp_path / "site"
    site.mkdir()
    # An exit handler, as torch and others register: it runs only if the teardown does.
    (site / "sitecustomize.py").write_text(
        f"import atexit, pathlib\natexit.register(pathlib.Path({str(marker)!r}).touch)\n"
    )
    path = os.pathsep.join([str(site), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "vlmeval_core.worker"],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "usage: python -m vlmeval_core.worker PLAN.json" in done.stderr  # flushed
    assert not marker.exists()
