"""What a run shows while it works, on stderr: rank 0's progress over the items of all ranks,
the ranks' own lines each on a line of its own, and the width each run used.

On a terminal (a pseudo-terminal here, ``pty``) the progress is tqdm's bar, which ends at
the dataset's count once every rank is done; without one (a pipe, a log file) it is plain
lines, never carriage returns; ``--quiet`` shows none. Real runs of ``vlmeval eval``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from misbehaving_server import MisbehavingServer
from vlmeval_core.datasets import shapes

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")


def test_an_endpoint_run_reports_its_requests_in_flight_not_a_batch_size(tmp_path):
    table = tmp_path / "Shapes.tsv"
    shapes.generate("ShapesMCQ", n=3).to_csv(table, sep="\t", index=False)
    with MisbehavingServer(answer="A") as server:
        done = subprocess.run(
            [
                *(VLMEVAL, "eval", "--api-base", server.base_url, "-m", "fake-vlm"),
                *("-d", f"{table}:mcq", "--output", str(tmp_path / "out")),
                *("--data-dir", str(tmp_path / "data"), "--run-name", "r"),
                *("--api-concurrency", "4"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    assert done.returncode == 0, done.stderr
    (line,) = [x for x in done.stderr.splitlines() if "Shapes: predicted 3" in x]
    assert "up to 4 requests in flight" in line, line
    assert "batch size" not in line, line
