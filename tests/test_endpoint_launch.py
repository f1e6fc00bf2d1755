"""`vlmeval eval --api-base`: the plan of an endpoint run, and its flags refused with one line.

In-process through click's CliRunner. An endpoint run asks no GPU of NVML (a
broken driver does not matter), starts no torchrun, and its plan names the
server, the extra fields and the concurrency, never the key.
"""

from __future__ import annotations

import json
import shlex
import sys

import pytest
from click.testing import CliRunner

import fake_nvml
from fake_nvml import gpus
from vlmeval_launcher.cli import main

API = ("--api-base", "http://127.0.0.1:8000/v1/", "-m", "Qwen/Qwen2-VL-7B-Instruct")


@pytest.fixture(autouse=True)
def workspace(monkeypatch, tmp_path):
    fake_nvml.clean_env(monkeypatch)
    fake_nvml.install(monkeypatch, gpus(1), init_error="DriverNotLoaded")  # never asked
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LMUData", str(tmp_path / "data"))
    return tmp_path


def eval_(*args: str):
    return CliRunner().invoke(main, ["eval", "-d", "ShapesMCQ", *args])


def dry_run(*args: str) -> tuple[dict, list[str]]:
    result = eval_(*args, "--dry-run")
    assert result.exit_code == 0, result.stderr
    *plan_lines, argv_line = result.stdout.rstrip("\n").splitlines()
    return json.loads("\n".join(plan_lines)), shlex.split(argv_line)


def test_an_endpoint_run_is_one_process_without_torchrun_or_a_gpu(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-in-the-environment")
    plan, argv = dry_run(*API, "--api-extra", '{"top_k": 1}', "--api-concurrency", "4")
    assert argv[:3] == [sys.executable, "-m", "vlmeval_core.endpoint"]
    assert argv[3].endswith("/plan.json") and len(argv) == 4
    assert plan["endpoint"] == {
        "base_url": "http://127.0.0.1:8000/v1",
        "extra": {"top_k": 1},
        "concurrency": 4,
        "timeout_s": 120.0,
        "max_response_bytes": 8 * 2**20,
    }
    assert plan["model"]["backend"] == "api" and plan["model"]["source"] is None
    assert plan["model"]["name"] == plan["model"]["path"] == "Qwen/Qwen2-VL-7B-Instruct"
    assert plan["device"] == "cpu"
    assert "sk-secret" not in json.dumps(plan)


def test_the_base_url_can_come_from_vlmeval_api_base(monkeypatch):
    monkeypatch.setenv("VLMEVAL_API_BASE", "https://api.example.com/v1")
    plan, _ = dry_run("-m", "gpt-4o-mini")
    assert plan["endpoint"]["base_url"] == "https://api.example.com/v1"


def test_max_new_tokens_comes_from_the_registry_when_the_server_serves_a_registered_name():
    assert (
        dry_run("--api-base", "http://h:1/v1", "-m", "tiny-vlm")[0]["model"]["max_new_tokens"] == 8
    )
    assert dry_run("--api-base", "http://h:1/v1", "-m", "other")[0]["model"]["max_new_tokens"] == 32
    plan, _ = dry_run("--api-base", "http://h:1/v1", "-m", "other", "--max-new-tokens", "5")
    assert plan["model"]["max_new_tokens"] == 5


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--api-base", "http://user:pw@host/v1"), "--api-base holds credentials"),
        (("--api-base", "ftp://host/v1"), "is not an http(s) URL with a host"),
        (("--api-base", "http://host:99x/v1"), "is not a URL"),
        ((*API, "--api-extra", "{top_k: 1}"), "--api-extra '{top_k: 1}' is not JSON"),
        ((*API, "--api-extra", "[1]"), "must be a JSON object"),
        ((*API, "--api-extra", '{"model": "x"}'), "--api-extra sets model, which vlmeval sets"),
        ((*API, "--api-concurrency", "0"), "--api-concurrency is 0: it must be 1 or more"),
        ((*API, "--api-timeout", "0"), "--api-timeout is 0.0: it must be a positive number"),
        ((*API, "--nproc", "2"), "--nproc is for models loaded here, not for --api-base"),
        ((*API, "--gpus-per-model", "2"), "--gpus-per-model is for models loaded here"),
        ((*API, "--dtype", "float16"), "--dtype is for models loaded here"),
        ((*API, "--nnodes", "2"), "--nnodes is for models loaded here"),
    ],
)
def test_bad_endpoint_flags_stop_with_exit_2_and_one_line(args, expected):
    args = args if "-m" in args else (*args, "-m", "m")
    result = eval_(*args)
    assert result.exit_code == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("vlmeval: error: ") and expected in line, line
