"""ShapesVideo end to end through real gloo ranks: 2 ranks at batch 8 answer as 1 rank at
batch 1 in both frame settings, and a rank killed with SIGKILL mid-run resumes, its
frames read back from the frame cache."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import predictions, ranks_argv, run_ranks, worker_env
from vlmeval_core.datasets.registry import resolve_dataset
from vlmeval_core.models.record import ModelSpec
from vlmeval_core.models.registry import TINY_VLM_DIR
from vlmeval_core.run_plan import Plan
from vlmeval_core.video.cache import CACHE_DIR

pytestmark = pytest.mark.slow
SETTINGS = ({"nframe": 8}, {"fps": 1.0})


def video_plan(tmp_path: Path, run_name: str, batch_size: int, **frames: float) -> Plan:
    model = ModelSpec(
        "tiny-vlm", "bundled", str(TINY_VLM_DIR), batch_size=batch_size, max_new_tokens=8
    )
    return Plan(
        model=model,
        datasets=(resolve_dataset("ShapesVideo", **frames),),  # type: ignore[arg-type]
        device="cpu",
        output_dir=str(tmp_path / "out"),
        run_name=run_name,
        limit=48,
    )


@pytest.mark.parametrize("frames", SETTINGS, ids=("8frame", "1fps"))
def test_two_ranks_at_batch_8_answer_as_one_rank_at_batch_1(tmp_path: Path, frames: dict) -> None:
    alone = video_plan(tmp_path, "alone", 1, **frames)
    pair = video_plan(tmp_path, "pair", 8, **frames)
    for plan, nproc in ((alone, 1), (pair, 2)):
        done = run_ranks(plan, nproc)
        assert done.returncode == 0, done.stderr[-3000:]
    expected = [(p["index"], p["prediction"]) for p in predictions(alone, "ShapesVideo")]
    assert len(expected) == 48 and all(
        p["error"] is None for p in predictions(alone, "ShapesVideo")
    )
    assert [(p["index"], p["prediction"]) for p in predictions(pair, "ShapesVideo")] == expected
    images = {p["image_count"] for p in predictions(pair, "ShapesVideo")}
    assert images == ({8} if "nframe" in frames else {4})


def test_a_rank_killed_mid_run_resumes_from_its_checkpoint_and_cached_frames(
    tmp_path: Path,
) -> None:
    plan = video_plan(tmp_path, "killed", 2, nframe=8)
    process = subprocess.Popen(
        ranks_argv(plan.write(), 2),
        env=worker_env(plan),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    dataset_dir = plan.run_dir / "ShapesVideo"
    deadline = time.monotonic() + 180
    while sum(p.read_text().count("\n") for p in dataset_dir.glob(".shards/rank-*.jsonl")) < 6:
        assert process.poll() is None, process.stderr.read()[-3000:]  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    ranks = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True)
    os.kill(int(ranks.stdout.split()[-1]), signal.SIGKILL)
    process.wait(timeout=120)
    assert process.returncode != 0
    cached = set((dataset_dir / CACHE_DIR).glob("*.frames"))
    assert cached, "the frames decoded before the kill are kept"

    again = run_ranks(plan, nproc=2)
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(p["index"] for p in predictions(plan, "ShapesVideo")) == list(range(48))
    assert "resumed" in again.stderr
    assert cached <= set((dataset_dir / CACHE_DIR).glob("*.frames"))
