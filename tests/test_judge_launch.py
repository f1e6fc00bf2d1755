"""The judge at launch: its flags in the plan (never its key), the identity with and without
it, the datasets that need one, and a judge that cannot be reached."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from misbehaving_server import MisbehavingServer
from vlmeval_core.identity import run_identity
from vlmeval_core.run_plan import Plan

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")
KEY = "sk-judge-never-in-a-plan-777"


def vlmeval(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VLMEVAL, "eval", "-m", "tiny-vlm", "--device", "cpu", "--run-name", "r",
         "-o", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data"), *args],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "VLMEVAL_JUDGE_KEY": KEY},
    )  # fmt: skip


def plan_of(done: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(done.stdout[: done.stdout.rindex("}") + 1])


def test_a_dry_run_shows_the_judge_in_the_plan_without_its_key(tmp_path):
    done = vlmeval(
        tmp_path, "-d", "ShapesMCQ", "--dry-run", "--judge", "qwen-judge",
        "--judge-base", "http://127.0.0.1:9/v1", "--judge-extra", '{"seed": 0}',
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert plan_of(done)["judge"] == {
        "model": "qwen-judge", "base_url": "http://127.0.0.1:9/v1", "extra": {"seed": 0},
        "concurrency": 4, "timeout_s": 60.0,
    }  # fmt: skip
    assert KEY not in done.stdout + done.stderr


def test_without_a_judge_the_plan_and_identity_are_as_before(tmp_path):
    done = vlmeval(tmp_path, "-d", "ShapesMCQ", "--dry-run")
    plan = plan_of(done)
    assert "judge" not in plan
    identity = run_identity(Plan.from_dict(plan)).to_dict()
    assert "judge" not in identity
    judged = run_identity(
        Plan.from_dict({**plan, "judge": {"model": "j", "base_url": "http://h/v1"}})
    ).to_dict()
    assert judged["judge"] == {"model": "j", "base_url": "http://h/v1", "extra": {}}
    assert {k: v for k, v in judged.items() if k != "judge"} == identity


@pytest.mark.parametrize("dataset", ["MathVista_MINI", "MMVet"])
def test_a_dataset_that_needs_a_judge_stops_at_launch_without_one(tmp_path, dataset):
    done = vlmeval(tmp_path, "-d", f"ShapesMCQ,{dataset}", "--dry-run")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and f"{dataset} can only be scored" in done.stderr
    assert "--judge MODEL" in done.stderr


def test_judge_settings_without_a_judge_are_refused(tmp_path):
    done = vlmeval(tmp_path, "-d", "ShapesMCQ", "--dry-run", "--judge-base", "http://h/v1")
    assert done.returncode == 2 and "--judge-base given without --judge" in done.stderr


def test_a_judge_that_cannot_be_reached_stops_the_launch_with_exit_3(tmp_path):
    with MisbehavingServer() as server:
        base = server.base_url
    done = vlmeval(tmp_path, "-d", "ShapesMCQ", "--judge", "j", "--judge-base", base)
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1 and base in done.stderr
    assert not (tmp_path / "out" / "tiny-vlm" / "r").exists()
