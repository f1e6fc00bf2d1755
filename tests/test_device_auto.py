"""`--device auto` without a usable GPU: a small local model (tiny-vlm) runs on the CPU with a
note; a hub model (Qwen2-VL-7B-Instruct) stops with exit 2 instead of running for hours on the
CPU. The no-GPU message names a container only inside one.

The console script runs as a user would run it, without NVML's library (no GPU, as on a
laptop or a container started without --gpus).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import fake_nvml
from tiny_models import build_llava
from vlmeval_launcher.gpus import in_container, no_gpu_message

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")


def vlmeval(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = fake_nvml.subprocess_env(None, fake=False, HF_HUB_OFFLINE="1")
    return subprocess.run(
        [VLMEVAL, "eval", *args, "--output", str(tmp_path / "out"),
         "--data-dir", str(tmp_path / "data"), "--run-name", "r"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.slow
def test_auto_runs_tiny_vlm_on_the_cpu_with_a_note(tmp_path):
    done = vlmeval(tmp_path, "-m", "tiny-vlm", "-d", "ShapesMCQ", "--limit", "4", "--quiet")

    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        "vlmeval: note: no GPU here, so --device auto runs tiny-vlm (a small model) "
        "on the CPU" in done.stderr.splitlines()
    )
    plan = (tmp_path / "out" / "tiny-vlm" / "r" / "plan.json").read_text()
    assert '"device": "cpu"' in plan


def test_auto_refuses_a_hub_model_without_a_gpu(tmp_path):
    done = vlmeval(tmp_path, "-m", "Qwen2-VL-7B-Instruct", "-d", "ShapesMCQ")

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"vlmeval: error: {no_gpu_message()}; --device auto runs only small local models such "
        "as tiny-vlm on the CPU; pass --device cpu to run Qwen2-VL-7B-Instruct there anyway (slow)"
    ]
    assert not (tmp_path / "out" / "Qwen2-VL-7B-Instruct").exists()


def test_auto_takes_a_small_local_model_directory_to_the_cpu(tmp_path):
    model = build_llava(tmp_path / "tiny-llava")
    done = vlmeval(tmp_path, "-m", str(model), "-d", "ShapesMCQ", "--dry-run")

    assert done.returncode == 0, done.stderr
    assert '"device": "cpu"' in done.stdout
    assert "runs tiny-llava (a small model) on the CPU" in done.stderr


def test_the_no_gpu_message_names_a_container_only_inside_one(tmp_path):
    outside = no_gpu_message(container=False)
    inside = no_gpu_message(container=True)
    assert "container" not in outside and "--device cpu" in outside and "nvidia-smi" in outside
    assert "in this container" in inside and "--gpus all" in inside
    marker = tmp_path / ".dockerenv"
    assert not in_container([marker])
    marker.touch()
    assert in_container([marker])
