"""Compose's endpoint profiles: ``serve`` (vLLM on the GPUs) and ``serve-cpu`` (transformers
serve with tiny-vlm from this image), each a server and an evaluation that waits for its
healthcheck.

The ``config`` checks need only compose; the ``serve-cpu`` run needs a docker engine and
the image (marker ``container``, as ``tests/test_container.py``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from test_container import check_run, compose, compose_cli, compose_env, run

ROOT = Path(__file__).resolve().parents[1]


def config(tmp_path: Path, profile: str) -> dict:
    done, _ = compose(
        tmp_path, compose_env(tmp_path, 1000, 1000), "--profile", profile, "config",
        "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["services"]


def test_serve_starts_the_evaluation_once_vllm_is_healthy_and_shares_the_hf_cache(tmp_path):
    services = config(tmp_path, "serve")
    vllm, evaluation = services["vllm"], services["serve"]
    assert vllm["image"].startswith("vllm/vllm-openai:")
    assert "8000/health" in " ".join(vllm["healthcheck"]["test"])
    assert vllm["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert evaluation["depends_on"]["vllm"]["condition"] == "service_healthy"
    assert "deploy" not in evaluation, "the evaluation asks for no GPU"
    env = evaluation["environment"]
    assert env["VLMEVAL_API_BASE"] == "http://vllm:8000/v1"
    assert env["VLMEVAL_MODEL"] == vllm["command"][0]
    cache = {v["source"] for v in vllm["volumes"] if "huggingface" in v["target"]}
    assert cache == {v["source"] for v in evaluation["volumes"] if "huggingface" in v["target"]}


def test_serve_judge_adds_a_second_vllm_server_as_the_judge_on_its_share_of_the_gpus(tmp_path):
    env = {**compose_env(tmp_path, 1000, 1000), "SERVE_GPU_MEMORY": "0.6"}
    done, _ = compose(tmp_path, env, "--profile", "serve-judge", "config", "--format", "json")
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    vllm, judge, evaluation = services["vllm"], services["judge"], services["serve-judge"]
    assert judge["image"] == vllm["image"]
    assert "8000/health" in " ".join(judge["healthcheck"]["test"])
    assert {n: d["condition"] for n, d in evaluation["depends_on"].items()} == {
        "vllm": "service_healthy",
        "judge": "service_healthy",
    }
    variables = evaluation["environment"]
    assert variables["VLMEVAL_JUDGE"] == judge["command"][0] != vllm["command"][0]
    assert variables["VLMEVAL_JUDGE_BASE"] == "http://judge:8000/v1"
    assert variables["VLMEVAL_API_BASE"] == "http://vllm:8000/v1" and "deploy" not in evaluation

    def share(service: dict) -> float:
        (flag,) = [a for a in service["command"] if a.startswith("--gpu-memory-utilization=")]
        return float(flag.split("=")[1])

    assert (share(vllm), share(judge)) == (0.6, 0.3)
    assert "judge" not in config(tmp_path, "serve"), "the serve profile starts no judge"


def test_serve_cpu_pairs_transformers_serve_with_the_evaluation(tmp_path):
    services = config(tmp_path, "serve-cpu")
    server, evaluation = services["tiny-vlm-server"], services["serve-cpu"]
    assert server["image"] == evaluation["image"], "the server comes from this image"
    assert "transformers serve tiny-vlm" in " ".join(server["command"])
    assert evaluation["depends_on"]["tiny-vlm-server"]["condition"] == "service_healthy"
    assert evaluation["environment"]["VLMEVAL_API_BASE"] == "http://tiny-vlm-server:8000/v1"


@pytest.mark.container
def test_compose_serve_cpu_profile_scores_at_least_0_9(tmp_path):
    uid, gid = (4242, 4343) if os.getuid() == 0 else (os.getuid(), os.getgid())
    for name in ("outputs", "data", "hf"):
        (tmp_path / name).mkdir()
        os.chown(tmp_path / name, uid, gid)
    env = compose_env(tmp_path, uid, gid)
    up, project = compose(
        tmp_path, env, "--profile", "serve-cpu", "up", "--no-build", "--abort-on-container-exit",
        "--exit-code-from", "serve-cpu", timeout=900,
    )  # fmt: skip
    down = [
        *compose_cli(), "-f", str(ROOT / "compose.yaml"), "--project-directory", str(tmp_path),
        "-p", project, "--profile", "serve-cpu", "down", "--volumes",
    ]  # fmt: skip
    run(down, timeout=120, env=env, cwd=tmp_path)
    assert up.returncode == 0, (up.stdout + up.stderr)[-3000:]
    run_dir = tmp_path / "outputs" / "tiny-vlm" / "compose"
    summary = check_run(run_dir)
    assert summary["datasets"]["ShapesMCQ"]["overall"] >= 0.9
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["endpoint"]["base_url"] == "http://tiny-vlm-server:8000/v1"
    assert manifest["model"]["backend"] == "api" and manifest["model"]["source"] is None
