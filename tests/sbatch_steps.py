"""Run an sbatch script of ``vlmeval slurm`` outside SLURM: its srun and scontrol only record.

What the script would start, as argv lists, for the tests of the recipe's logic
(tests/test_slurm_recipe.py, tests/test_k8s_manifest.py); the real cluster is
tests/test_slurm_cluster.py's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

RECORDER = """#!{python}
import json, os, sys
with open(os.environ["STEPS_FILE"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
if os.path.basename(sys.argv[0]) == "scontrol":
    print("node-a\\nnode-b")
"""


def sbatch_steps(
    script: Path, tmp_path: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """Run ``script`` with ``env`` (SLURM_* as a task would have them); its srun steps."""
    shims = tmp_path / "shims"
    shims.mkdir(exist_ok=True)
    for name in ("srun", "scontrol"):
        shim = shims / name
        shim.write_text(RECORDER.format(python=sys.executable))
        shim.chmod(0o755)
    steps_file = tmp_path / "steps.jsonl"
    steps_file.unlink(missing_ok=True)
    done = subprocess.run(
        ["bash", str(script)],
        env={
            "PATH": f"{shims}:{os.environ['PATH']}",
            "HOME": str(tmp_path / "home"),
            "STEPS_FILE": str(steps_file),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = steps_file.read_text().splitlines() if steps_file.exists() else []
    return done, [json.loads(line) for line in lines]
