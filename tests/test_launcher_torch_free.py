"""The launcher stays light: --help, gpus, list (and eval --dry-run) never import torch.

Each command runs in a fresh interpreter, which then reports what it imported.
The console script itself is run too, for its exit codes and one-line errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import fake_nvml
from vlmeval_launcher.gpus import no_gpu_message

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")
PROBE = """
import json, sys
from vlmeval_launcher.cli import main
code = main(sys.argv[1:], standalone_mode=False)
heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}))
"""


def probe(args: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["eval", "--help"],
        ["gpus"],
        ["gpus", "--json"],
        ["list", "models"],
        ["list", "datasets"],
        ["eval", "-m", "tiny-vlm", "-d", "ShapesMCQ", "--dry-run", "--output", "{tmp}"],
        ["score", "--help"],
        [
            "prompts",
            "-m",
            "Qwen2-VL-2B-Instruct",
            "-d",
            "ShapesMCQ",
            "--limit",
            "2",
            "--json",
            "--data-dir",
            "{tmp}",
        ],
    ],
)
def test_light_commands_leave_torch_and_transformers_unimported(args, tmp_path):
    env = fake_nvml.subprocess_env(fake_nvml.gpus(2))
    report = probe([a.replace("{tmp}", str(tmp_path)) for a in args], env)
    assert report["heavy"] == []
    assert report["code"] in (0, None)


def test_score_stays_torch_free_while_it_loads_scores_and_writes(tmp_path):
    tsv, preds = tmp_path / "MyBench.tsv", tmp_path / "m_MyBench.csv"
    tsv.write_text("index\timage_path\tquestion\tanswer\n1\tx.png\tIs it red?\tYes\n")
    preds.write_text("index,prediction\n1,Yes\n")
    args = ["score", str(preds), "-d", f"{tsv}:yorn", "--data-dir", str(tmp_path)]
    report = probe(args, fake_nvml.subprocess_env(None))
    assert report["heavy"] == []
    assert (tmp_path / "MyBench" / "scores.json").is_file()


def test_gpus_with_the_real_nvml_library_stays_torch_free_too():
    # The real nvidia-ml-py: on a machine without a driver it reports no GPU.
    report = probe(["gpus"], fake_nvml.subprocess_env(None, fake=False))
    assert report["heavy"] == []


def run_script(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VLMEVAL, *args],
        env=fake_nvml.subprocess_env(None, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_console_script_reports_its_version():
    done = run_script("--version")
    assert (done.returncode, done.stdout) == (0, "vlmeval 0.1.0\n")


def test_the_console_script_fails_with_one_line_and_exit_2_without_a_gpu(tmp_path):
    done = run_script(
        "eval", "-m", "Qwen2-VL-7B-Instruct", "-d", "ShapesMCQ", "--output", str(tmp_path)
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"vlmeval: error: {no_gpu_message()}; --device auto runs only small local models such "
        "as tiny-vlm on the CPU; pass --device cpu to run Qwen2-VL-7B-Instruct there anyway "
        "(slow)\n"
    )
    assert done.stdout == ""


def test_the_console_script_reads_vlmeval_data_with_several_names(tmp_path):
    done = run_script(
        "eval",
        "--dry-run",
        VLMEVAL_MODEL="tiny-vlm",
        VLMEVAL_DATA="ShapesMCQ,ShapesYN ShapesVQA",
        VLMEVAL_DEVICE="cpu",
        VLMEVAL_OUTPUT=str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    plan = json.loads("\n".join(done.stdout.splitlines()[:-1]))
    assert [d["name"] for d in plan["datasets"]] == ["ShapesMCQ", "ShapesYN", "ShapesVQA"]
