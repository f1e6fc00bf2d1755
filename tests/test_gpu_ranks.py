"""The ranks' side of a GPU run, on the CPU: gloo for the barriers whatever the device,
a GPU slice CUDA cannot see stops with one line, and GPU plans for the GPU tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import make_plan, run_ranks, run_worker, worker_env

SUPERVISOR = [sys.executable, "-m", "vlmeval_core.supervisor"]


def test_make_plan_builds_gpu_plans(tmp_path):
    """The GPU tests' plans: ``device`` is the plan's, CPU unless told."""
    assert make_plan(tmp_path, ["ShapesMCQ"]).device == "cpu"
    assert make_plan(tmp_path, ["ShapesMCQ"], device="cuda").device == "cuda"


@pytest.mark.slow
def test_ranks_of_a_gpu_run_meet_over_gloo_without_touching_cuda(tmp_path):
    """Two real ranks under the one-node supervisor join the process group of a
    ``device="cuda"`` run: gloo, no NCCL and no CUDA device binding, so ranks sharing one GPU
    (MIG slices) work too."""
    script = tmp_path / "join_ranks.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from pathlib import Path

            import torch
            import torch.distributed as dist
            from vlmeval_core import distributed

            info = distributed.rank_info()
            distributed.init_process_group(info)
            distributed.barrier()
            Path(sys.argv[1], f"rank-{info.rank}").write_text(
                f"{dist.get_backend()}, cuda {torch.cuda.is_initialized()}"
            )
            distributed.destroy_process_group()
            """
        )
    )
    env = worker_env()
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [*SUPERVISOR, "--nproc-per-node=2", "-m", "join_ranks", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for rank in (0, 1):
        assert (tmp_path / f"rank-{rank}").read_text() == "gloo, cuda False"


@pytest.mark.slow
def test_a_host_without_the_plans_gpus_stops_with_one_line(tmp_path):
    """Node settings listing GPUs this host's CUDA does not see (another node's) exit 3."""
    uuid = "GPU-00000007-1111-2222-3333-000000000007"
    plan = make_plan(tmp_path, ["ShapesVQA"], limit=2, device="cuda")
    gpu = {"index": 0, "uuid": uuid, "name": "NVIDIA H100 80GB HBM3", "memory_total_mib": 81559}
    done = run_worker(plan, gpus=(gpu,))
    assert done.returncode == 3, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"vlmeval: error: rank 0: CUDA on this host sees 0 of the 1 GPU(s) the node settings "
        f"give local rank 0 ({uuid}): check this host with `vlmeval doctor` (a driver too old "
        "for torch's CUDA hides every GPU), and start its ranks from its own `vlmeval eval` "
        "(each node's launcher lists its own GPUs)"
    )


@pytest.mark.slow
def test_the_manifest_names_the_process_group_the_ranks_used(tmp_path):
    plan = make_plan(tmp_path, ["ShapesVQA"], limit=8)
    done = run_ranks(plan, nproc=2)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((plan.run_dir / "manifest.json").read_text())
    assert (manifest["world_size"], manifest["process_group"]) == (2, "gloo")
