"""The image and compose leave nothing behind and need no privilege (issue 12, point 7).

Marker ``container``: run by `make test-container` with a real docker engine and the image
``$IMAGE``; without them these tests fail, they never skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[1]
IMAGE = os.environ.get("IMAGE", "vlmeval:latest")
DOCKER = os.environ.get("DOCKER", "docker")
EVAL = ["eval", "--device", "cpu", "--model", "tiny-vlm", "--data", "ShapesMCQ", "--limit", "40"]
HARDENED = ["--cap-drop", "ALL", "--security-opt", "no-new-privileges:true"]


def docker(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout)


def compose_cli() -> list[str]:
    try:
        import compose
    except ImportError:
        return [DOCKER, "compose"]
    return [str(Path(compose.__file__).parent / "docker-compose")]


def test_the_image_declares_no_volume_so_a_run_without_rm_leaves_none_behind(tmp_path):
    assert json.loads(docker("image", "inspect", IMAGE).stdout)[0]["Config"]["Volumes"] is None
    name = f"vlmeval-novol-{uuid.uuid4().hex[:8]}"
    done = docker("run", "--name", name, IMAGE, "list", "datasets", timeout=120)
    try:
        assert done.returncode == 0, done.stderr
        mounts = json.loads(docker("container", "inspect", name).stdout)[0]["Mounts"]
    finally:
        docker("rm", name, timeout=60)
    assert mounts == []


def test_an_eval_runs_without_capabilities_and_without_new_privileges(tmp_path):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    status = docker(
        "run", "--rm", *HARDENED, IMAGE, "grep", "-E", "^(CapBnd|NoNewPrivs)", "/proc/self/status"
    )
    assert status.returncode == 0, status.stderr
    fields = dict(line.split(":\t") for line in status.stdout.splitlines())
    assert int(fields["CapBnd"], 16) == 0 and fields["NoNewPrivs"] == "1"
    done = docker(
        "run", "--rm", *HARDENED, "--read-only", "--tmpfs", "/tmp:exec,mode=1777",
        "--tmpfs", "/home/vlmeval:mode=1777", "-u", f"{os.getuid()}:{os.getgid()}",
        "-v", f"{outputs}:/outputs", IMAGE, *EVAL, "--nproc", "2", "--run-name", "hardened",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((outputs / "tiny-vlm" / "hardened" / "summary.json").read_text())
    assert summary["datasets"]["ShapesMCQ"]["n"] == 40


def test_compose_up_with_a_missing_image_fails_at_once_without_pulling(tmp_path):
    missing = f"vlmeval:missing-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VLMEVAL_", "COMPOSE_"))}
    env.update(
        IMAGE=missing, OUTPUTS_DIR=str(tmp_path), DATA_DIR=str(tmp_path), HF_CACHE=str(tmp_path)
    )
    project = f"vlmeval-test-{uuid.uuid4().hex[:8]}"
    base = [
        *compose_cli(),
        "-f",
        str(ROOT / "compose.yaml"),
        "--project-directory",
        str(tmp_path),
        "-p",
        project,
    ]
    try:
        up = subprocess.run(
            [*base, "--profile", "cpu", "up", "--abort-on-container-exit"],
            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
        )  # fmt: skip
    finally:
        subprocess.run(
            [*base, "--profile", "cpu", "down"], capture_output=True, env=env, cwd=tmp_path
        )
    output = up.stdout + up.stderr
    assert up.returncode != 0
    assert f"No such image: {missing}" in output, output[-2000:]
    assert "Pulling" not in output and "Building" not in output, output[-2000:]
