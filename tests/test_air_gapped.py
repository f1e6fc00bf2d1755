"""Air-gapped runs (issue 9, point 11): no network, and a host name nothing resolves.

That is what ``docker run --network none`` gives a container. Here the host gets it
from a private network namespace (only loopback) and UTS namespace (an unresolvable
host name), as root; before the fix the c10d rendezvous waited forever on the name.
The container tests run the same in the image.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fake_nvml

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")
NOWHERE = "vlmeval-airgapped-nowhere"


@pytest.mark.slow
@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"), reason="network namespaces need root"
)
@pytest.mark.parametrize("nproc", [1, 2])
def test_a_cpu_run_completes_without_network_and_without_a_resolvable_host_name(tmp_path, nproc):
    argv = [
        VLMEVAL, "eval", "--device", "cpu", "--nproc", str(nproc), "-m", "tiny-vlm",
        "-d", "ShapesMCQ", "--limit", "8", "--output", str(tmp_path / "out"),
        "--run-name", "airgapped",
    ]  # fmt: skip
    script = f"ip link set lo up && hostname {NOWHERE} && exec {' '.join(argv)}"
    env = fake_nvml.subprocess_env(
        None, fake=False, LMUData=str(tmp_path / "data"), HF_HUB_OFFLINE="1"
    )
    done = subprocess.run(
        ["unshare", "--net", "--uts", "sh", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "tiny-vlm" / "airgapped" / "summary.json").read_text())
    assert summary["datasets"]["ShapesMCQ"]["n"] == 8
