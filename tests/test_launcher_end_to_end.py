"""End to end: `vlmeval eval` really execs the ranks' supervisor, two gloo ranks evaluate,
results appear.

The console script runs as a user would run it; nothing is faked (the CPU run
never asks NVML). The launcher's own process becomes the supervisor (one node;
torchrun on several), so a SIGTERM (docker stop) goes straight to it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fake_nvml

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")


@pytest.mark.slow
def test_two_cpu_ranks_evaluate_tiny_vlm_on_shapes(tmp_path):
    output = tmp_path / "outputs"
    env = fake_nvml.subprocess_env(
        None, fake=False, LMUData=str(tmp_path / "data"), HF_HUB_OFFLINE="1"
    )
    done = subprocess.run(
        [
            VLMEVAL,
            "eval",
            "--device",
            "cpu",
            "--nproc",
            "2",
            "--model",
            "tiny-vlm",
            "--data",
            "ShapesMCQ",
            "--limit",
            "40",
            "--output",
            str(output),
            "--run-name",
            "e2e",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr[-6000:]}"

    run_dir = output / "tiny-vlm" / "e2e"
    assert (run_dir / "plan.json").is_file()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["model"] == "tiny-vlm" and summary["run"] == "e2e"
    shapes = summary["datasets"]["ShapesMCQ"]
    assert shapes["n"] == 40
    assert isinstance(shapes["overall"], int | float) and 0 <= shapes["overall"] <= 100
    scores = json.loads((run_dir / "ShapesMCQ" / "scores.json").read_text())
    assert scores["n"] == 40
    predictions = (run_dir / "ShapesMCQ" / "predictions.jsonl").read_text().splitlines()
    assert len(predictions) == 40
    assert len({json.loads(line)["index"] for line in predictions}) == 40, "one line per item"


@pytest.mark.slow
def test_the_launcher_process_becomes_the_supervisor_so_sigterm_reaches_it(tmp_path):
    env = fake_nvml.subprocess_env(
        None, fake=False, LMUData=str(tmp_path / "data"), HF_HUB_OFFLINE="1"
    )
    process = subprocess.Popen(
        [
            VLMEVAL,
            "eval",
            "--device",
            "cpu",
            "--nproc",
            "2",
            "-m",
            "tiny-vlm",
            "-d",
            "ShapesYN",
            "--output",
            str(tmp_path / "outputs"),
            "--run-name",
            "stop",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    shards = tmp_path / "outputs" / "tiny-vlm" / "stop" / "ShapesYN" / ".shards"
    deadline = time.monotonic() + 120
    seen = ""
    while time.monotonic() < deadline and process.poll() is None:
        seen = cmdline.read_bytes().replace(b"\0", b" ").decode()
        if any(p.stat().st_size for p in shards.glob("rank-*.jsonl")):
            break  # the ranks are predicting
        time.sleep(0.05)
    try:
        assert "vlmeval_core.supervisor" in seen and "vlmeval_core.worker" in seen, seen
        process.send_signal(signal.SIGTERM)  # what docker stop sends to the container's process
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 143, process.stderr.read()[-3000:]
    assert "rerun with the same --run-name to resume" in process.stderr.read()


@pytest.mark.slow
def test_a_rank_that_finds_a_broken_tsv_ends_the_run_with_exit_2_and_one_line(tmp_path):
    broken = tmp_path / "Broken.tsv"
    broken.write_text("index\tquestion\n1\tWhat?\n")
    env = fake_nvml.subprocess_env(None, fake=False, LMUData=str(tmp_path / "data"))
    done = subprocess.run(
        [
            VLMEVAL,
            "eval",
            "--device",
            "cpu",
            "--nproc",
            "2",
            "-m",
            "tiny-vlm",
            "-d",
            str(broken),
            "--output",
            str(tmp_path / "outputs"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"vlmeval: error: {broken}: missing required column(s) answer" in done.stderr


@pytest.mark.parametrize(
    ("header", "refusal"),
    [
        ("index\tquestion\tA\tB\timage", "missing required column(s) answer; found index"),
        ("index\tquestion\tanswer", "missing column 'image' (base64) or 'image_path'"),
        ('\ufeffindex\t"question"\tanswer', "missing column 'image'"),  # BOM, quoted name
    ],
)
def test_a_local_tsv_missing_a_column_is_refused_at_launch_before_any_directory(
    tmp_path, header, refusal
):
    table = tmp_path / "Bad.tsv"
    table.write_text(f"{header}\n0\tq?\tx\ty\tz\n", encoding="utf-8")
    env = fake_nvml.subprocess_env(None, fake=False, HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [
            *(VLMEVAL, "eval", "--device", "cpu", "-m", "tiny-vlm", "-d", f"{table}:mcq"),
            *("--output", str(tmp_path / "outputs"), "--data-dir", str(tmp_path / "data")),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"vlmeval: error: {table}: {refusal}"), line
    assert not (tmp_path / "outputs").exists()
