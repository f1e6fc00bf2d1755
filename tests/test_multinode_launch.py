"""Per-node settings stay on the node: the shared plan.json holds none of them.

Two ``vlmeval eval`` launchers on this host play two nodes of one run (c10d
rendezvous on 127.0.0.1), each with its own data dir, writing to one shared
output volume. The GPU inventory of a node cannot be shown with real CUDA ranks
here, so the GPU case goes as far as the ranks' own choice of devices: each
node's launcher (fake NVML, a different GPU list per node) claims the run, and
what its ranks read back from the environment picks that node's GPUs only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fake_nvml
from vlmeval_core import attempts, lifecycle, run_lock
from vlmeval_core.distributed import gpu_slice, usable_gpu_ids
from vlmeval_core.identity import run_identity
from vlmeval_core.node import NodeSettings
from vlmeval_launcher.launch import EvalRequest, resolve_launch

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")
PER_NODE = ("data_dir", "gpus", "node_rank")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_launched_by_vlmeval_eval_each_use_their_own_data_dir(tmp_path):
    port = free_port()
    nodes = [
        subprocess.Popen(
            [
                VLMEVAL,
                "eval",
                "--device",
                "cpu",
                "-m",
                "tiny-vlm",
                "-d",
                "ShapesYN",
                "--limit",
                "24",
                "--run-name",
                "two-nodes",
                "--output",
                str(tmp_path / "shared"),
                "--nnodes",
                "2",
                "--node-rank",
                str(rank),
                "--rdzv-endpoint",
                f"127.0.0.1:{port}",
            ],
            env=fake_nvml.subprocess_env(
                None, fake=False, LMUData=str(tmp_path / f"node{rank}-data"), HF_HUB_OFFLINE="1"
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=600) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][1][-3000:]
    for _, stderr in outputs:  # neither node resumes: the other one's attempt is this run's
        assert "vlmeval: starting tiny-vlm on ShapesYN" in stderr, stderr[-3000:]

    run_dir = tmp_path / "shared" / "tiny-vlm" / "two-nodes"
    for rank in (0, 1):
        assert (tmp_path / f"node{rank}-data" / "ShapesYN.tsv").is_file()
        assert (run_dir / f".node-{rank}.lock").read_text() == "", "each node held its own lock"
    plan = json.loads((run_dir / "plan.json").read_text())
    assert not set(PER_NODE) & set(plan), plan
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert sorted((a["node_rank"], a["world_size"]) for a in manifest["attempts"]) == [
        (0, 2),
        (1, 2),
    ]
    for attempt in manifest["attempts"]:  # node 1 may still be ending as rank 0 writes
        assert attempt["exit"] == 0 or (attempt["node_rank"], attempt["state"]) == (1, "running")
    ended = attempts.history(run_dir)
    assert [(a["state"], a["exit"]) for a in ended] == [("ended", 0), ("ended", 0)], ended
    predictions = (run_dir / "ShapesYN" / "predictions.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["index"] for line in predictions) == list(range(24))


def node_command(tmp_path: Path, rank: int, port: int, *args: str) -> list[str]:
    return [
        VLMEVAL, "eval", "--device", "cpu", "-m", "tiny-vlm", "-d", "ShapesYN",
        "--run-name", "two-nodes", "--output", str(tmp_path / "shared"),
        "--nnodes", "2", "--node-rank", str(rank), "--rdzv-endpoint", f"127.0.0.1:{port}",
        *args,
    ]  # fmt: skip


@pytest.mark.slow
def test_when_the_node_hosting_the_store_dies_the_survivor_says_one_line(tmp_path):
    """The c10d store lives in node 0's torchrun; killed outright, it leaves node 1's agent
    with a dead TCPStore, whose C++ warnings and stack frames (about 36 lines) came before
    the one line."""
    port = free_port()
    env = [
        fake_nvml.subprocess_env(
            None, fake=False, LMUData=str(tmp_path / f"node{rank}-data"), HF_HUB_OFFLINE="1"
        )
        for rank in (0, 1)
    ]
    host = subprocess.Popen(
        node_command(tmp_path, 0, port, "--batch-size", "2"),
        env=env[0],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while True:  # node 0's agent serves the store before node 1 comes
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert host.poll() is None and time.monotonic() < deadline, "node 0 ended"
            time.sleep(0.1)
        survivor = subprocess.Popen(
            node_command(tmp_path, 1, port, "--batch-size", "2"),
            env=env[1],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        shards = tmp_path / "shared" / "tiny-vlm" / "two-nodes" / "ShapesYN" / ".shards"
        while not any(p.stat().st_size for p in shards.glob("rank-*.jsonl")):
            assert survivor.poll() is None and time.monotonic() < deadline, "the run ended"
            time.sleep(0.1)
    finally:
        os.killpg(host.pid, signal.SIGKILL)  # node 0: its agent, its store and its ranks
        host.wait()
    _, stderr = survivor.communicate(timeout=300)

    assert survivor.returncode == 3, stderr[-3000:]
    lines = stderr.splitlines()
    assert lines[0].startswith("vlmeval: starting tiny-vlm on ShapesYN"), "no resume"
    assert [line for line in lines if not line.startswith(("vlmeval: ", "[rank "))] == []
    (error,) = [line for line in lines if line.startswith("vlmeval: error: ")]
    assert "C10d store" in error or "lost contact" in error, error


def test_each_nodes_ranks_take_that_nodes_gpus_whatever_order_the_nodes_launch(
    monkeypatch, tmp_path
):
    fake_nvml.clean_env(monkeypatch)
    handed: dict[int, dict[str, str]] = {}
    plans: list[bytes] = []
    for rank in (1, 0):  # the later writer of plan.json used to win
        devices = fake_nvml.gpus(4) if rank == 0 else fake_nvml.gpus(8)[4:]
        fake_nvml.install(monkeypatch, devices)
        launch = resolve_launch(
            EvalRequest(
                model="tiny-vlm",
                data=("ShapesMCQ",),
                output=str(tmp_path / "shared"),
                data_dir=str(tmp_path / f"node{rank}-data"),
                run_name="multi",
                nnodes=2,
                node_rank=rank,
                rdzv_endpoint="127.0.0.1:29400",
            )
        )
        claim = lifecycle.claim(
            launch.plan,
            run_identity(launch.plan).to_dict(),
            node_rank=rank,
            nproc=launch.nproc,
            nnodes=2,
            restart=False,
        )
        run_lock.release(claim.lock.fd)
        handed[rank] = launch.node.to_env()
        plans.append((launch.plan_path).read_bytes())
    assert plans[0] == plans[1], "both nodes write the same shared plan"
    assert not set(PER_NODE) & set(json.loads(plans[1]))

    for rank, first_gpu in ((0, 0), (1, 4)):
        node = NodeSettings.from_env(handed[rank])
        assert node.data_dir == str(tmp_path / f"node{rank}-data")
        usable = usable_gpu_ids(node.gpu_dicts(), {})
        assert usable == [fake_nvml.gpu_uuid(i) for i in range(first_gpu, first_gpu + 4)]
        assert gpu_slice(3, 1, usable) == [fake_nvml.gpu_uuid(first_gpu + 3)]
