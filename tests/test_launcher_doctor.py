"""`vlmeval doctor`: a line per check, and exit 3 only when a run would fail.

Runs in-process with the fake NVML; torch, transformers, torchrun and the
directories are the real ones of this environment.
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

import fake_nvml
from vlmeval_launcher.cli import main

pytestmark = pytest.mark.slow  # imports torch
LINE = re.compile(r"(ok|warn|fail) +(\S+(?: \S+)?) +\S.*")


@pytest.fixture(autouse=True)
def workspace(monkeypatch, tmp_path):
    fake_nvml.clean_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LMUData", str(tmp_path / "data"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return tmp_path


def doctor(*args: str) -> tuple[int, dict[str, str], str]:
    result = CliRunner().invoke(main, ["doctor", *args])
    *lines, summary = result.stdout.splitlines()
    statuses = {}
    for line in lines:
        match = LINE.fullmatch(line)
        assert match, f"not a check line: {line!r}"
        statuses[match[2]] = match[1]
    return result.exit_code, statuses, summary


def test_every_check_has_a_line_and_no_gpu_is_only_a_warning(monkeypatch):
    fake_nvml.install(monkeypatch, None)
    code, statuses, summary = doctor()
    for name in (
        "vlmeval",
        "nvml",
        "torch",
        "transformers",
        "torchrun",
        "output",
        "data",
        "hf cache",
        "hf offline",
    ):
        assert name in statuses, statuses
    assert statuses["nvml"] == "warn"
    assert statuses["output"] == statuses["data"] == statuses["torch"] == "ok"
    assert any(name in statuses for name in ("nccl", "distributed"))
    failed = [name for name, status in statuses.items() if status == "fail"]
    assert code == (3 if failed else 0)
    assert summary.startswith(f"{len(failed)} failure")


def test_a_broken_output_dir_or_a_required_gpu_fails(monkeypatch, workspace):
    fake_nvml.install(monkeypatch, None)
    (workspace / "file").write_text("x")
    code, statuses, _ = doctor("--output", "file", "--device", "cuda")
    assert code == 3
    assert statuses["output"] == statuses["nvml"] == "fail"


def test_gpus_that_torch_cannot_use_fail(monkeypatch):
    import torch

    fake_nvml.install(monkeypatch, fake_nvml.gpus(2))
    code, statuses, _ = doctor()
    assert statuses["driver"] == statuses["gpus"] == statuses["gpu 0"] == "ok"
    if torch.cuda.is_available():  # a real GPU machine: torch sees its GPUs
        assert statuses["torch"] == "ok"
    else:  # the fake GPUs are not there for CUDA: the mismatch is caught
        assert (statuses["torch"], code) == ("fail", 3)


def test_offline_mode_is_reported(monkeypatch):
    fake_nvml.install(monkeypatch, None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = CliRunner().invoke(main, ["doctor"])
    assert re.search(r"^ok +hf offline +on \(HF_HUB_OFFLINE\)", result.stdout, re.M)
