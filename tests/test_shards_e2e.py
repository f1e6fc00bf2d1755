"""`vlmeval eval --shard I/N` end to end: real launches of the bundled tiny-vlm on the Shapes sets.

Shards give the predictions and scores of one run, whatever their number and order; a
shard killed with -9 reruns alone; the last shard merges, `vlmeval merge` names what is
missing, `vlmeval status` reads the volume; a second launch of one shard, another seed
and another shard count are refused with one line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fake_nvml

pytestmark = pytest.mark.slow

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")
DATA = "ShapesMCQ,ShapesYN,ShapesVQA"
LIMIT = "18"


def run_env() -> dict[str, str]:
    return fake_nvml.subprocess_env(None, fake=False, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")


def vlmeval(tmp_path: Path, *args: str, **popen: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [VLMEVAL, *args], env=run_env(), capture_output=True, text=True, timeout=600, **popen
    )


def start_shard(tmp_path: Path, run: str, spec: str) -> subprocess.Popen:
    """Shard ``spec`` of ``run`` in the background, one item per batch (so it takes a while),
    in a session of its own (so the whole job can be killed)."""
    return subprocess.Popen(
        [VLMEVAL, *eval_args(tmp_path, run, "--shard", spec, "--batch-size", "1")],
        env=run_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def eval_args(tmp_path: Path, run: str, *extra: str) -> list[str]:
    return [
        "eval", "-m", "tiny-vlm", "-d", DATA, "--device", "cpu", "--limit", LIMIT,
        "--output", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data"),
        "--run-name", run, "--quiet", *extra,
    ]  # fmt: skip


def shard(tmp_path: Path, run: str, i: int, n: int, *extra: str) -> subprocess.CompletedProcess:
    done = vlmeval(tmp_path, *eval_args(tmp_path, run, "--shard", f"{i}/{n}", *extra))
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def results(tmp_path: Path, run: str) -> dict[str, tuple[list[dict], dict]]:
    """Per dataset: predictions.jsonl's records and scores.json."""
    run_dir = tmp_path / "out" / "tiny-vlm" / run
    found = {}
    for name in DATA.split(","):
        lines = (run_dir / name / "predictions.jsonl").read_text().splitlines()
        scores = json.loads((run_dir / name / "scores.json").read_text())
        found[name] = ([json.loads(line) for line in lines], scores)
    return found


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> tuple[Path, dict]:
    """One unsharded run: what every sharding must reproduce."""
    tmp_path = tmp_path_factory.mktemp("single")
    done = vlmeval(tmp_path, *eval_args(tmp_path, "one"))
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp_path, results(tmp_path, "one")


@pytest.mark.parametrize("n", [1, 2, 3])
def test_n_shards_give_the_predictions_and_scores_of_one_run(tmp_path, single, n):
    for i in range(n):
        shard(tmp_path, f"s{n}", i, n)

    assert results(tmp_path, f"s{n}") == single[1]
    summary = json.loads((tmp_path / "out" / "tiny-vlm" / f"s{n}" / "summary.json").read_text())
    assert list(summary["datasets"]) == DATA.split(",")


def test_shards_in_reverse_order_and_the_last_one_merges(tmp_path, single):
    run_dir = tmp_path / "out" / "tiny-vlm" / "rev"
    later = shard(tmp_path, "rev", 1, 2)

    assert "shard 1/2 done" in later.stderr and "waits for shard 0 (of 2)" in later.stderr
    assert not (run_dir / "summary.json").exists()
    assert not (run_dir / "ShapesMCQ" / "scores.json").exists()
    shard(tmp_path, "rev", 0, 2)
    assert results(tmp_path, "rev") == single[1]


def test_merge_by_hand_names_the_missing_shard_then_scores(tmp_path, single):
    run_dir = tmp_path / "out" / "tiny-vlm" / "hand"
    shard(tmp_path, "hand", 0, 2)

    early = vlmeval(tmp_path, "merge", str(run_dir), "--data-dir", str(tmp_path / "data"))
    assert early.returncode == 2
    assert early.stderr.strip().splitlines() == [
        f"vlmeval: error: {run_dir}: not every shard is done: ShapesMCQ waits for shard 1 "
        "(of 2); ShapesYN waits for shard 1 (of 2); ShapesVQA waits for shard 1 (of 2); run "
        "those (vlmeval eval ... --shard I/N with the run's flags; vlmeval status shows each) "
        "and merge again"
    ]
    status = json.loads(vlmeval(tmp_path, "status", str(run_dir), "--json").stdout)
    by_shard = {(row["shard"], row["dataset"]): row for row in status}
    assert by_shard[0, "ShapesMCQ"] | {"last_attempt": None} == {
        "shard": 0, "dataset": "ShapesMCQ", "items": 9, "done": 9, "remaining": 0,
        "failed": 0, "attempts": 1, "last_attempt": None,
    }  # fmt: skip
    assert by_shard[1, "ShapesMCQ"]["done"] == 0 and by_shard[1, "ShapesMCQ"]["remaining"] == 9
    assert by_shard[1, "ShapesMCQ"]["attempts"] == 0

    # shard 1's items predicted without its merge (as if its job died while merging)
    shard(tmp_path, "hand", 1, 2)
    (run_dir / "summary.json").unlink()
    merged = vlmeval(tmp_path, "merge", str(run_dir), "--data-dir", str(tmp_path / "data"))
    assert merged.returncode == 0, merged.stderr
    assert "| ShapesMCQ | accuracy |" in merged.stdout
    assert results(tmp_path, "hand") == single[1]


def test_a_shard_killed_with_minus_9_reruns_alone(tmp_path, single):
    run_dir = tmp_path / "out" / "tiny-vlm" / "kill"
    shard(tmp_path, "kill", 0, 2)
    process = start_shard(tmp_path, "kill", "1/2")
    checkpoint = run_dir / "ShapesMCQ" / ".shards" / "shard-1.rank-0.jsonl"
    deadline = time.monotonic() + 120
    while not (checkpoint.exists() and checkpoint.read_text().count("\n") >= 2):
        assert time.monotonic() < deadline and process.poll() is None, "shard 1 never started"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the whole job, as a lost node
    process.wait(timeout=60)
    assert not (run_dir / "summary.json").exists()

    again = shard(tmp_path, "kill", 1, 2)
    assert "resuming shard 1/2" in again.stderr
    assert results(tmp_path, "kill") == single[1]


def test_a_second_launch_of_a_running_shard_is_refused(tmp_path):
    first = start_shard(tmp_path, "twice", "0/2")
    lock = tmp_path / "out" / "tiny-vlm" / "twice" / ".node-0.lock"
    deadline = time.monotonic() + 60
    while not lock.exists():
        assert time.monotonic() < deadline and first.poll() is None, "shard 0 never claimed"
        time.sleep(0.05)
    try:
        second = vlmeval(tmp_path, *eval_args(tmp_path, "twice", "--shard", "0/2"))
        other = vlmeval(tmp_path, *eval_args(tmp_path, "twice", "--shard", "1/2", "--dry-run"))
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=120)
    assert second.returncode == 2
    assert "is in use by" in second.stderr, second.stderr
    assert len(second.stderr.strip().splitlines()) == 1, second.stderr
    assert other.returncode == 0, other.stderr  # another shard of the run is not held back


@pytest.mark.parametrize(
    ("extra", "named"),
    [(("--shard", "1/3"), "shards was 2, now 3"), (("--shard", "1/2", "--seed", "7"), "seed")],
)
def test_a_shard_with_another_identity_or_shard_count_is_refused(tmp_path, extra, named):
    shard(tmp_path, "bound", 0, 2)

    refused = vlmeval(tmp_path, *eval_args(tmp_path, "bound", *extra))

    assert refused.returncode == 2
    line = refused.stderr.strip()
    assert len(line.splitlines()) == 1 and named in line, line
    run_dir = tmp_path / "out" / "tiny-vlm" / "bound"
    assert not (run_dir / "ShapesMCQ" / ".shards" / "shard-1.rank-0.jsonl").exists()
