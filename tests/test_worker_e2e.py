"""The evaluator end to end: real gloo ranks under the one-node supervisor (and two nodes
under real torchrun) with the bundled tiny-vlm.

These runs prove that images, prompts, chat template, generation, sharding,
checkpoints, merging and scoring really flow: tiny-vlm only scores well when
every step is right.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import predictions, ranks_argv, run_ranks, worker_env

pytestmark = pytest.mark.slow

SHAPES = ["ShapesMCQ", "ShapesYN", "ShapesVQA"]


def test_two_ranks_score_the_shapes_benchmark_and_write_the_results_layout(plan_factory):
    plan = plan_factory(SHAPES)
    done = run_ranks(plan, nproc=2)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = plan.run_dir
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["model"] == "tiny-vlm" and summary["run"] == "test"
    for name in SHAPES:
        entry = summary["datasets"][name]
        assert entry["n"] == 240
        assert entry["overall"] >= 0.9, (name, entry)
        for file in (
            "predictions.jsonl",
            "scores.json",
            f"tiny-vlm_{name}.xlsx",
            f"tiny-vlm_{name}{'_score' if name == 'ShapesYN' else '_acc'}.csv",
        ):
            assert (run_dir / name / file).is_file(), file
        assert sorted(p["index"] for p in predictions(plan, name)) == list(range(240))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["world_size"] == 2
    assert manifest["datasets"]["ShapesMCQ"]["md5"]
    assert manifest["torch"]["torch"]
    page = (run_dir / "summary.md").read_text()
    assert [line for line in page.splitlines() if line.startswith("## ")] == [
        "## ShapesMCQ",
        "## ShapesYN",
        "## ShapesVQA",
    ]
    assert (run_dir / "plan.json").is_file()


def test_predictions_do_not_depend_on_the_world_size(tmp_path, plan_factory):
    one = plan_factory(["ShapesVQA"], run_name="one", limit=60)
    two = plan_factory(["ShapesVQA"], run_name="two", limit=60)
    three = plan_factory(["ShapesVQA"], run_name="three", limit=60)
    for plan, nproc in ((one, 1), (two, 2), (three, 3)):
        done = run_ranks(plan, nproc)
        assert done.returncode == 0, done.stderr[-3000:]
    reference = [(p["index"], p["prediction"]) for p in predictions(one, "ShapesVQA")]
    assert len(reference) == 60
    assert [(p["index"], p["prediction"]) for p in predictions(two, "ShapesVQA")] == reference
    assert [(p["index"], p["prediction"]) for p in predictions(three, "ShapesVQA")] == reference


def _start_and_wait_for_checkpoints(plan, nproc, min_lines):
    """Start a real one-node run (the supervisor and its ranks); return it once a checkpoint
    holds ``min_lines`` items."""
    process = subprocess.Popen(
        ranks_argv(plan.write(), nproc),
        env=worker_env(plan),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    shards = plan.run_dir / plan.datasets[0].name / ".shards"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        lines = sum(p.read_text().count("\n") for p in shards.glob("rank-*.jsonl"))
        if lines >= min_lines:
            return process
        if process.poll() is not None:
            raise AssertionError(process.stderr.read()[-3000:])
        time.sleep(0.05)
    process.kill()
    raise AssertionError("no checkpoint appeared")


def _rank_pids(supervisor_pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(supervisor_pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_a_rank_killed_mid_run_is_resumed_with_one_prediction_per_index(plan_factory):
    plan = plan_factory(["ShapesYN"], limit=120, batch_size=4)
    process = _start_and_wait_for_checkpoints(plan, nproc=2, min_lines=8)
    ranks = _rank_pids(process.pid)
    assert len(ranks) == 2
    os.kill(ranks[1], signal.SIGKILL)
    process.wait(timeout=120)
    assert process.returncode != 0
    assert not (plan.run_dir / "summary.json").exists()
    shards = plan.run_dir / "ShapesYN" / ".shards"
    before = sum(p.read_text().count("\n") for p in shards.glob("rank-*.jsonl"))
    assert 0 < before < 120

    again = run_ranks(plan, nproc=2)
    assert again.returncode == 0, again.stderr[-3000:]
    indices = [p["index"] for p in predictions(plan, "ShapesYN")]
    assert sorted(indices) == list(range(120))
    checkpointed = [
        json.loads(line)["index"]
        for p in shards.glob("rank-*.jsonl")
        for line in p.read_text().splitlines()
        if line.endswith("}")
    ]
    assert sorted(set(checkpointed)) == list(range(120))
    assert "resumed" in again.stderr


def test_sigterm_stops_promptly_keeps_what_finished_and_a_rerun_resumes(plan_factory):
    plan = plan_factory(["ShapesMCQ"], limit=200, batch_size=4)
    process = _start_and_wait_for_checkpoints(plan, nproc=2, min_lines=8)
    sent = time.monotonic()
    os.killpg(process.pid, signal.SIGTERM)  # what docker stop does to the container's processes
    process.wait(timeout=30)
    assert time.monotonic() - sent < 8, "a rank must stop well inside docker's 10 s grace"
    assert process.returncode != 0
    shards = plan.run_dir / "ShapesMCQ" / ".shards"
    kept = [line for p in shards.glob("rank-*.jsonl") for line in p.read_text().splitlines()]
    assert kept and all(json.loads(line)["index"] >= 0 for line in kept)

    again = run_ranks(plan, nproc=2)
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(p["index"] for p in predictions(plan, "ShapesMCQ")) == list(range(200))


def test_an_undecodable_image_fails_its_item_only(tmp_path, plan_factory):
    from vlmeval_core.datasets import shapes

    frame = shapes.generate("ShapesVQA", n=6)
    frame.loc[2, "image"] = "bm90IGFuIGltYWdl" * 8  # base64 of text, not of an image
    path = tmp_path / "Damaged.tsv"
    frame.to_csv(path, sep="\t", index=False)
    plan = plan_factory([str(path)])
    done = run_ranks(plan, nproc=2)
    assert done.returncode == 0, done.stderr[-3000:]
    by_index = {p["index"]: p for p in predictions(plan, "Damaged")}
    assert "Damaged.tsv: index 2: image cannot be decoded" in by_index[2]["error"]
    assert by_index[2]["correct"] is False
    assert all(by_index[i]["error"] is None for i in (0, 1, 3, 4, 5))
    scores = json.loads((plan.run_dir / "Damaged" / "scores.json").read_text())
    assert scores["n"] == 6 and scores["errors"] == 1


def test_a_tsv_named_pope_is_scored_as_pope_with_one_warning_when_its_answers_do_not_fit(
    tmp_path, plan_factory
):
    from vlmeval_core.datasets import shapes

    frame = shapes.generate("ShapesYN", n=6)
    frame.loc[3, "answer"] = "maybe"  # not Yes/No: the content alone would say VQA
    path = tmp_path / "POPE.tsv"
    frame.to_csv(path, sep="\t", index=False)
    plan = plan_factory([str(path)])
    done = run_ranks(plan, nproc=2)
    assert done.returncode == 0, done.stderr[-3000:]
    warning = f"vlmeval: warning: {path}: its answers are not all Yes/No"
    assert done.stderr.count(warning) == 1, done.stderr[-3000:]  # one line per run, not per rank
    assert "scored as yorn (the kind of POPE" in done.stderr
    scores = json.loads((plan.run_dir / "POPE" / "scores.json").read_text())
    assert (scores["metric"], scores["n"]) == ("pope_f1", 6)


def test_two_nodes_with_their_own_data_volumes_share_one_output_volume(tmp_path, plan_factory):
    """Two torchrun agents on this host play two nodes (c10d rendezvous on 127.0.0.1):
    each prepares the data on its own volume; rank 0 merges into the shared output."""
    import socket

    from vlmeval_core.node import NodeSettings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = plan_factory(["ShapesYN"], run_name="two-nodes", limit=24)
    plan_path = base.write()
    envs = [
        {**worker_env(), **NodeSettings(str(tmp_path / f"node{node}-data")).to_env()}
        for node in (0, 1)
    ]
    agents = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes=2",
                f"--node-rank={node}",
                "--nproc-per-node=1",
                "--rdzv-backend=c10d",
                f"--rdzv-endpoint=127.0.0.1:{port}",
                "--rdzv-id=two-nodes",
                "-m",
                "vlmeval_core.worker",
                str(plan_path),
            ],
            env=envs[node],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for node in (0, 1)
    ]
    outputs = [agent.communicate(timeout=300) for agent in agents]
    assert [agent.returncode for agent in agents] == [0, 0], outputs[0][1][-2000:]
    for node in (0, 1):
        assert (tmp_path / f"node{node}-data" / "ShapesYN.tsv").is_file()
    assert sorted(p["index"] for p in predictions(base, "ShapesYN")) == list(range(24))
    summary = json.loads((base.run_dir / "summary.json").read_text())
    assert summary["datasets"]["ShapesYN"]["n"] == 24
