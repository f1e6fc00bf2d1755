"""The endpoint backend against a real OpenAI-compatible server: ``transformers serve``.

transformers' own server loads the bundled tiny-vlm on the CPU; ``vlmeval eval
--api-base`` sends it every item. The answers must be the in-process backend's
(same prompt, same images, greedy), the scores at least 0.9, the key nowhere on
disk, a run killed with ``kill -9`` resumable without losing an answered item,
and a run's identity must cover its base URL, model name and extra fields.

Each dataset is cut to its first ``LIMIT`` items: the server answers about two
items a second on the two shared CPU cores of CI.
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

import httpx
import pytest

from conftest import make_plan, predictions, run_worker
from vlmeval_core.models.registry import TINY_VLM_DIR

pytestmark = pytest.mark.slow

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")
TRANSFORMERS = str(Path(sys.executable).parent / "transformers")
LIMIT = 40
SECRET = "sk-never-written-4242"
SERVED_AS = str(TINY_VLM_DIR)  # transformers serve knows the model by the path it loaded


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``transformers serve`` in its own process group; its base URL (``…/v1``)."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                *(TRANSFORMERS, "serve", SERVED_AS, "--device", "cpu"),
                *("--host", "127.0.0.1", "--port", str(port)),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"},
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"transformers serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def eval_argv(base_url: str, output: Path, data_dir: Path, dataset: str, *args: str) -> list[str]:
    return [
        *(VLMEVAL, "eval", "--api-base", base_url, "-m", SERVED_AS, "-d", dataset),
        *("--limit", str(LIMIT), "--max-new-tokens", "8", "--output", str(output)),
        *("--data-dir", str(data_dir), "--run-name", "api", *args),
    ]


def run_eval(argv: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLMEVAL_API_KEY": SECRET}
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)


def run_dir_of(output: Path) -> Path:
    (found,) = output.glob("*/api")
    return found


@pytest.mark.parametrize("dataset", ["ShapesMCQ", "ShapesYN", "ShapesVQA"])
def test_the_endpoint_answers_as_the_in_process_model_and_scores_at_least_0_9(
    server, tmp_path, dataset
):
    output, data_dir = tmp_path / "api-out", tmp_path / "data"
    done = run_eval(eval_argv(server, output, data_dir, dataset))
    assert done.returncode == 0, done.stderr[-4000:]
    run_dir = run_dir_of(output)
    scores = json.loads((run_dir / dataset / "scores.json").read_text())
    assert scores["n"] == LIMIT and scores["errors"] == 0
    assert scores["overall"] >= 0.9
    assert f"| {dataset} |" in done.stdout and done.stdout.endswith(f"results in {run_dir}\n")

    in_process = make_plan(tmp_path, [dataset], limit=LIMIT, run_name="local")
    local = run_worker(in_process)
    assert local.returncode == 0, local.stderr[-4000:]
    served = {r["index"]: r["prediction"] for r in predictions_of(run_dir, dataset)}
    loaded = {r["index"]: r["prediction"] for r in predictions(in_process, dataset)}
    assert served == loaded

    for path in [*output.rglob("*"), *data_dir.rglob("*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in done.stdout + done.stderr
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["endpoint"]["base_url"] == server
    assert manifest["model"] == {**manifest["model"], "name": SERVED_AS, "backend": "api"}
    assert manifest["identity"]["model"]["api_base"] == server


def predictions_of(run_dir: Path, dataset: str) -> list[dict]:
    lines = (run_dir / dataset / "predictions.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_kill_9_loses_no_answered_item_and_the_rerun_sends_only_the_rest(server, tmp_path):
    output, data_dir = tmp_path / "out", tmp_path / "data"
    argv = eval_argv(server, output, data_dir, "ShapesVQA", "--api-concurrency", "2")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        found = list(output.glob("*/api/ShapesVQA/.shards/rank-0.jsonl"))
        if found and len(found[0].read_bytes().splitlines()) >= 6:
            checkpoint = found[0]
            break
        time.sleep(0.2)
    assert checkpoint is not None, "no answers were checkpointed"
    process.send_signal(signal.SIGKILL)  # the launcher has exec'd: this is the run's process
    process.wait()
    kept = [json.loads(line) for line in checkpoint.read_bytes().splitlines() if line.strip()]
    assert len(kept) < LIMIT, "killed before the end"

    rerun = run_eval(argv)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    assert f"resumed {len(kept)}," in rerun.stderr
    assert f"predicted {LIMIT - len(kept)}," in rerun.stderr
    final = {r["index"]: r["prediction"] for r in predictions_of(run_dir_of(output), "ShapesVQA")}
    assert len(final) == LIMIT
    assert all(final[r["index"]] == r["prediction"] for r in kept)


def test_the_runs_identity_covers_the_extra_fields(server, tmp_path):
    output, data_dir = tmp_path / "out", tmp_path / "data"
    first = run_eval(eval_argv(server, output, data_dir, "ShapesYN", "--limit", "4"))
    assert first.returncode == 0, first.stderr[-4000:]
    changed = run_eval(
        eval_argv(
            server, output, data_dir, "ShapesYN", "--limit", "4", "--api-extra", '{"top_k": 1}'
        )
    )
    assert changed.returncode == 2
    assert "model.api_extra.top_k was (none), now 1" in changed.stderr


def test_a_name_the_real_server_does_not_serve_stops_the_run_with_exit_2(server, tmp_path):
    """transformers serve answers a wrong model name with 400 ("Server is pinned to …"): the
    run stops at the first answer (before: every item failed, 0%, exit 0)."""
    argv = eval_argv(server, tmp_path / "out", tmp_path / "data", "ShapesMCQ")
    argv[argv.index("-m") + 1] = "tiny-vlm"
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("vlmeval: error:")]
    assert len(errors) == 1, done.stderr
    assert "Server is pinned to" in errors[0] and "check --model" in errors[0]
