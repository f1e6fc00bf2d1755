"""The endpoint backend against ``transformers serve`` for the two Qwen families and
Idefics3: each tiny twin (tests/tiny_models.py, its processor saved with its record's
settings, so that the server processes images as a rank does) served on the CPU, and
``vlmeval eval --api-base`` with the record's prompt family answers every item as the
in-process backend does."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from transformers import AutoProcessor

from conftest import make_plan, predictions, run_worker
from test_endpoint_server import free_port
from tiny_models import BUILDERS
from vlmeval_core.models.registry import MODELS
from vlmeval_core.prompt_families import FAMILIES

pytestmark = pytest.mark.slow

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")
TRANSFORMERS = str(Path(sys.executable).parent / "transformers")
SERVED = ["Qwen2-VL-2B-Instruct", "Qwen2.5-VL-3B-Instruct", "Idefics3-8B-Llama3"]
LIMIT = 8


@contextmanager
def serving(directory: Path, dtype: str, log: Path) -> Iterator[str]:
    """``transformers serve DIRECTORY`` in ``dtype`` (the record's: ``auto`` is the saved
    float32, as a rank's on the CPU) in its own process group; its base URL."""
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [TRANSFORMERS, "serve", str(directory), "--device", "cpu", "--dtype", dtype,
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"},
        )  # fmt: skip
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


@pytest.mark.parametrize("name", SERVED)
def test_the_served_twin_answers_as_the_in_process_one(tmp_path, name):
    record = MODELS[name]
    directory = BUILDERS[name](tmp_path / "model")
    family = FAMILIES[record.prompt_family]
    settings = family.processor_kwargs(record.processor)
    AutoProcessor.from_pretrained(directory, **settings).save_pretrained(directory)
    local = dataclasses.replace(
        record, source="local", path=str(directory), max_new_tokens=4, batch_size=4
    )
    plan = make_plan(tmp_path, ["ShapesVQA"], model=local, limit=LIMIT, run_name="local")
    done = run_worker(plan)
    assert done.returncode == 0, done.stderr[-4000:]
    loaded = {p["index"]: p["prediction"] for p in predictions(plan, "ShapesVQA")}
    assert len(set(loaded.values())) > 1, "the answers do not depend on the item"

    output = tmp_path / "api"
    with serving(directory, record.dtype, tmp_path / "serve.log") as base_url:
        served = subprocess.run(
            [VLMEVAL, "eval", "--api-base", base_url, "-m", str(directory), "-d", "ShapesVQA",
             "--prompt-family", record.prompt_family, "--limit", str(LIMIT),
             "--max-new-tokens", "4", "--output", str(output),
             "--data-dir", str(tmp_path / "data"), "--run-name", "api"],
            capture_output=True, text=True, timeout=600,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )  # fmt: skip
    assert served.returncode == 0, served.stderr[-4000:]
    (found,) = output.glob("*/api/ShapesVQA/predictions.jsonl")
    lines = found.read_text().splitlines()
    answered = {r["index"]: r["prediction"] for r in map(json.loads, lines)}
    assert answered == loaded
