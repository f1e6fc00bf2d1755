"""`vlmeval eval`: the validation matrix, --dry-run, VLMEVAL_* variables and the written plan.

In-process through click's CliRunner, with NVML faked at the nvidia-ml-py
boundary; the directories, registries, torchrun lookup and plan are real.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys

import pytest
from click.testing import CliRunner

import fake_nvml
from fake_nvml import gpu_uuid, gpus, mig_gpu
from vlmeval_core.run_plan import load_plan
from vlmeval_launcher.cli import main
from vlmeval_launcher.exec_ranks import find_torchrun, launch_environment, usable_cpus
from vlmeval_launcher.gpus import no_gpu_message
from vlmeval_launcher.launch import EvalRequest, resolve_launch, split_data

TORCHRUN = [sys.executable, "-m", "vlmeval_core.elastic_agent"]
SUPERVISOR = [sys.executable, "-m", "vlmeval_core.supervisor"]


def nproc_of(argv: list[str]) -> str:
    return argv[argv.index("--nproc-per-node") + 1]


TINY = ("-m", "tiny-vlm", "-d", "ShapesMCQ")
GPU_FIX = "or make more GPUs visible (docker run --gpus all, CUDA_VISIBLE_DEVICES)"


pytestmark = pytest.mark.usefixtures("workspace")  # conftest.py


def eval_(*args: str):
    return CliRunner().invoke(main, ["eval", *args])


def error_of(result) -> str:
    """The one stderr line of a failed command, without its prefix."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("vlmeval: error: "), lines[0]
    return lines[0].removeprefix("vlmeval: error: ")


def dry_run(*args: str) -> tuple[dict, list[str]]:
    plan, argv, _ = dry_run_with_node(*args)
    return plan, argv


def dry_run_with_node(*args: str) -> tuple[dict, list[str], dict]:
    """The printed plan, the ranks' argv and this node's settings (on stderr, not in the plan)."""
    result = eval_(*args, "--dry-run")
    assert result.exit_code == 0, result.stderr
    *plan_lines, argv_line = result.stdout.rstrip("\n").splitlines()
    prefix = "vlmeval: this node's settings, handed to its ranks, not in plan.json: "
    (node_line,) = [line for line in result.stderr.splitlines() if line.startswith(prefix)]
    return (
        json.loads("\n".join(plan_lines)),
        shlex.split(argv_line),
        json.loads(node_line.removeprefix(prefix)),
    )


# ---- validation: one line, the numbers, the fix, exit 2 -----------------------------------


@pytest.mark.parametrize(
    "devices, env, args, message",
    [
        (
            gpus(2),
            {},
            ["--nproc", "0"],
            "--nproc is 0: it must be 1 or more (model copies (ranks) on this node)",
        ),
        (
            gpus(2),
            {},
            ["--gpus-per-model", "0"],
            "--gpus-per-model is 0: it must be 1 or more (GPUs each model copy spans)",
        ),
        (
            gpus(8),
            {"CUDA_VISIBLE_DEVICES": "0,1"},
            ["--nproc", "4", "--gpus-per-model", "2"],
            "--nproc 4 × --gpus-per-model 2 needs 8 GPUs but 2 are visible "
            f"(CUDA_VISIBLE_DEVICES=0,1): lower --nproc to 1, {GPU_FIX}",
        ),
        (
            gpus(2),
            {},
            ["--nproc", "3"],
            f"--nproc 3 × --gpus-per-model 1 needs 3 GPUs but 2 are visible: lower --nproc to 2, "
            f"{GPU_FIX}",
        ),
        (
            gpus(4),
            {},
            ["--nproc", "2", "--gpus-per-model", "4"],
            "--nproc 2 × --gpus-per-model 4 needs 8 GPUs but 4 are visible: lower --nproc to 1 "
            f"or --gpus-per-model to 2, {GPU_FIX}",
        ),
        (
            gpus(1),
            {},
            ["--gpus-per-model", "2"],
            "--gpus-per-model 2 needs 2 GPUs but 1 is visible: lower --gpus-per-model to 1, "
            f"{GPU_FIX}",
        ),
        (
            gpus(8),
            {"CUDA_VISIBLE_DEVICES": gpu_uuid(3)},
            ["--nproc", "2"],
            "--nproc 2 × --gpus-per-model 1 needs 2 GPUs but 1 is visible "
            f"(CUDA_VISIBLE_DEVICES={gpu_uuid(3)}): lower --nproc to 1, {GPU_FIX}",
        ),
        (
            [mig_gpu(0, 2)],
            {},
            ["--gpus-per-model", "2"],
            "--gpus-per-model 2 cannot span MIG devices (a CUDA process uses one MIG device): "
            "use --gpus-per-model 1, or whole GPUs",
        ),
        (None, {}, ["--device", "cuda"], no_gpu_message()),
        ([], {}, ["--device", "cuda"], no_gpu_message()),
        (
            gpus(2),
            {"CUDA_VISIBLE_DEVICES": ""},
            [],
            "CUDA_VISIBLE_DEVICES='' hides all 2 GPUs NVML reports: unset it or name the GPUs to "
            "use, or pass --device cpu",
        ),
        (
            gpus(2),
            {},
            ["--batch-size", "0"],
            "--batch-size is 0: it must be 1 or more (items per generate call)",
        ),
        (
            gpus(2),
            {},
            ["--max-new-tokens", "99999999999999999999"],
            "--max-new-tokens is 99999999999999999999: it must be at most 65,536 (tokens per "
            "answer)",
        ),
        (
            gpus(2),
            {"VLMEVAL_BATCH_SIZE": "4097"},
            [],
            "--batch-size is 4097: it must be at most 4,096 (items per generate call)",
        ),
        (
            gpus(2),
            {},
            ["--limit", "0"],
            "--limit is 0: it must be 1 or more (items per dataset; leave it out to evaluate them "
            "all)",
        ),
        (
            gpus(2),
            {},
            ["--max-restarts", "-1"],
            "--max-restarts is -1: it must be 0 or more (times the ranks are started again after "
            "a failure)",
        ),
        (
            gpus(2),
            {},
            ["--run-name", "../x"],
            "--run-name '../x' must start with a letter or digit and hold only letters, digits, "
            "'.', '_' or '-' (it names the run directory)",
        ),
    ],
)
def test_each_bad_request_fails_with_its_message(monkeypatch, devices, env, args, message):
    fake_nvml.install(monkeypatch, devices)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = eval_(*TINY, *args)
    assert error_of(result) == message
    assert result.exit_code == 2
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["--nnodes", "0"], "--nnodes is 0: it must be 1 or more (hosts taking part)"),
        (
            ["--nnodes", "2", "--node-rank", "0"],
            "--nnodes 2 needs --rdzv-endpoint host:port, the same on every node (a reachable "
            "address of one node, e.g. node0:29400)",
        ),
        (
            ["--nnodes", "2", "--node-rank", "0", "--rdzv-endpoint", "node0"],
            "--rdzv-endpoint 'node0' is not host:port with a port from 1 to 65535 "
            "(e.g. node0:29400 or [fd00::1]:29400)",
        ),
        (
            ["--nnodes", "2", "--node-rank", "0", "--rdzv-endpoint", "node0:70000"],
            "--rdzv-endpoint 'node0:70000' is not host:port with a port from 1 to 65535 (e.g. "
            "node0:29400 or [fd00::1]:29400)",
        ),
        (
            ["--nnodes", "2", "--rdzv-endpoint", "node0:29400"],
            "--nnodes 2 needs --node-rank, 0 to 1, different on every node",
        ),
        (
            ["--nnodes", "2", "--node-rank", "2", "--rdzv-endpoint", "node0:29400"],
            "--node-rank 2 is out of range for --nnodes 2: use 0 to 1, different on every node",
        ),
        (
            ["--nnodes", "3", "--node-rank", "-1", "--rdzv-endpoint", "node0:29400"],
            "--node-rank -1 is out of range for --nnodes 3: use 0 to 2, different on every node",
        ),
        (
            ["--node-rank", "1"],
            "--node-rank 1 is for multi-node runs: add --nnodes N (N >= 2) on every node, or leave "
            "--node-rank out",
        ),
        (
            ["--rdzv-endpoint", "node0:29400"],
            "--rdzv-endpoint node0:29400 is for multi-node runs: add --nnodes N (N >= 2) on every "
            "node, or leave --rdzv-endpoint out",
        ),
        (
            ["--nnodes", "2", "--node-rank", "1", "--rdzv-endpoint", "node0:29400"],
            "--nnodes 2 needs --run-name, the same on every node: the default (the start time) "
            "differs between nodes, and all ranks must share one run directory",
        ),
    ],
)
def test_multi_node_flags_must_be_complete_and_consistent(monkeypatch, args, message):
    fake_nvml.install(monkeypatch, gpus(2))
    result = eval_(*TINY, *args)
    assert (result.exit_code, error_of(result)) == (2, message)


def test_unknown_names_are_refused_with_the_closest_ones(monkeypatch):
    fake_nvml.install(monkeypatch, gpus(1))
    model = eval_("-m", "tiny-vml", "-d", "ShapesMCQ")
    assert model.exit_code == 2
    assert error_of(model) == (
        "--model 'tiny-vml' is not a registered model, a hub id (org/name) or a local directory "
        "(did you mean tiny-vlm?); `vlmeval list models` shows the registered names"
    )
    data = eval_("-m", "tiny-vlm", "-d", "ShapesMCQ,ShapeYN")
    assert data.exit_code == 2
    assert error_of(data).startswith(
        "--data 'ShapeYN' is not a registered dataset or a .tsv file (did you mean ShapesYN"
    )
    nothing = eval_("-m", "tiny-vlm", "-d", " , ")
    assert error_of(nothing) == (
        "--data names no dataset: pass one or more, e.g. -d ShapesMCQ -d ShapesYN"
    )


def test_an_output_path_that_is_a_file_or_under_one_is_refused(workspace):
    (workspace / "file").write_text("x")
    is_file = eval_(*TINY, "--device", "cpu", "--output", "file")
    assert is_file.exit_code == 2
    assert error_of(is_file) == (
        f"--output {workspace / 'file'} is a file, not a directory: point --output elsewhere"
    )
    under = eval_(*TINY, "--device", "cpu", "--output", "file/out")
    assert under.exit_code == 3
    assert error_of(under) == (
        f"--output {workspace / 'file/out'} is not writable (Not a directory); mount a writable "
        "volume there (docker run -v $PWD/outputs:/outputs) or run as the directory's owner "
        "(docker run -u $(id -u):$(id -g))"
    )


def test_an_output_dir_the_kernel_refuses_is_not_writable():
    # /proc refuses new entries even to root, so this holds whoever runs the tests.
    result = eval_(*TINY, "--device", "cpu", "--output", "/proc/vlmeval-test/out")
    assert result.exit_code == 3, "a directory the run may not write to: the environment's"
    assert re.fullmatch(
        r"--output /proc/vlmeval-test/out is not writable \(.+\); mount a writable volume .*",
        error_of(result),
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_a_read_only_output_dir_is_not_writable(workspace):
    locked = workspace / "locked"
    locked.mkdir(mode=0o555)
    result = eval_(*TINY, "--device", "cpu", "--output", str(locked))
    assert error_of(result).startswith(f"--output {locked} is not writable (Permission denied)")
    assert result.exit_code == 3


def test_a_data_dir_must_be_a_directory_or_creatable(workspace):
    (workspace / "file").write_text("x")
    is_file = eval_(*TINY, "--device", "cpu", "--data-dir", "file")
    assert is_file.exit_code == 2
    assert error_of(is_file) == (
        f"--data-dir {workspace / 'file'} is a file, not a directory: point --data-dir (or "
        "LMUData) at the directory that holds the dataset TSVs"
    )
    under = eval_(*TINY, "--device", "cpu", "--data-dir", "file/data")
    assert under.exit_code == 3
    assert error_of(under) == (
        f"--data-dir {workspace / 'file/data'} does not exist and cannot be created "
        f"({workspace / 'file'} is not writable): create it, or point --data-dir (or LMUData) at "
        "a writable directory"
    )


def test_a_broken_nvml_is_an_environment_failure(monkeypatch):
    fake_nvml.install(monkeypatch, gpus(2), init_error="Unknown")
    result = eval_(*TINY)
    assert result.exit_code == 3
    assert error_of(result).startswith("NVML could not start (Unknown Error)")


def test_a_bad_flag_value_is_one_line_too():
    result = eval_(*TINY, "--nproc", "two")
    assert result.exit_code == 2
    assert "'two' is not a valid integer" in error_of(result)


# ---- --dry-run: the plan and the exact argv that starts the ranks ------------------------


def test_dry_run_on_one_cpu_node(workspace):
    plan, argv, node = dry_run_with_node(
        *TINY,
        "--device",
        "cpu",
        "--nproc",
        "2",
        "--limit",
        "40",
        "--output",
        "out",
        "--run-name",
        "r1",
    )
    run_dir = workspace / "out" / "tiny-vlm" / "r1"
    assert argv == [
        *SUPERVISOR,
        "--nproc-per-node",
        "2",
        "--max-restarts",
        "0",
        "-m",
        "vlmeval_core.worker",
        str(run_dir / "plan.json"),
    ]
    assert plan["device"] == "cpu" and "gpus" not in plan and "data_dir" not in plan
    assert plan["model"]["name"] == "tiny-vlm" and plan["model"]["source"] == "bundled"
    assert (plan["model"]["batch_size"], plan["model"]["max_new_tokens"]) == (32, 8)
    assert plan["datasets"] == [{"name": "ShapesMCQ", "path": None, "kind": "mcq"}]
    assert plan["output_dir"] == str(workspace / "out")
    assert node == {"data_dir": str(workspace / "data"), "gpus": [], "shard": 0}
    assert (plan["run_name"], plan["limit"], plan["seed"]) == ("r1", 40, 0)
    assert not run_dir.exists(), "a dry run writes no plan"


def test_dry_run_on_two_gpu_nodes(monkeypatch, workspace):
    fake_nvml.install(monkeypatch, gpus(8))
    plan, argv, node = dry_run_with_node(
        "-m",
        "Qwen2-VL-2B-Instruct",
        "-d",
        "ShapesMCQ",
        "--nnodes",
        "2",
        "--node-rank",
        "1",
        "--rdzv-endpoint",
        "node0:29400",
        "--run-name",
        "multi",
        "--max-restarts",
        "3",
        "--gpus-per-model",
        "2",
        "--dtype",
        "bfloat16",
    )
    assert argv == [
        *TORCHRUN,
        "--nproc-per-node",
        "4",
        "--nnodes",
        "2",
        "--node-rank",
        "1",
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        "node0:29400",
        "--rdzv-id",
        "multi",
        "--max-restarts",
        "3",
        "-m",
        "vlmeval_core.worker",
        str(workspace / "outputs" / "Qwen2-VL-2B-Instruct" / "multi" / "plan.json"),
    ]
    assert plan["device"] == "cuda"
    assert plan["model"]["path"] == "Qwen/Qwen2-VL-2B-Instruct"
    assert (plan["model"]["gpus_per_model"], plan["model"]["dtype"]) == (2, "bfloat16")
    assert "gpus" not in plan, "GPUs are this node's, not the run's"
    assert node["gpus"] == [
        {
            "index": i,
            "uuid": gpu_uuid(i),
            "name": "NVIDIA H100 80GB HBM3",
            "memory_total_mib": 81559,
        }
        for i in range(8)
    ]


@pytest.mark.parametrize(
    "count, per_model, expected", [(1, 1, 1), (2, 1, 2), (8, 1, 8), (8, 2, 4), (8, 3, 2)]
)
def test_default_nproc_is_usable_gpus_over_gpus_per_model(monkeypatch, count, per_model, expected):
    fake_nvml.install(monkeypatch, gpus(count))
    _, argv = dry_run(*TINY, "--gpus-per-model", str(per_model))
    assert nproc_of(argv) == str(expected)


def test_the_plan_lists_the_visible_gpus_in_cuda_order(monkeypatch):
    fake_nvml.install(monkeypatch, gpus(8))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,2")
    _, argv, node = dry_run_with_node(*TINY)
    assert [g["uuid"] for g in node["gpus"]] == [gpu_uuid(5), gpu_uuid(2)]
    assert nproc_of(argv) == "2"


def test_default_run_name_is_a_utc_timestamp():
    plan, _ = dry_run(*TINY, "--device", "cpu")
    assert re.fullmatch(r"\d{8}-\d{6}", plan["run_name"])


# ---- VLMEVAL_<FLAG> variables -----------------------------------------------------------


def test_every_flag_can_come_from_the_environment(monkeypatch, workspace):
    monkeypatch.setenv("VLMEVAL_MODEL", "tiny-vlm")
    monkeypatch.setenv("VLMEVAL_DATA", "ShapesMCQ ShapesYN,ShapesVQA")
    monkeypatch.setenv("VLMEVAL_DEVICE", "cpu")
    monkeypatch.setenv("VLMEVAL_NPROC", "3")
    monkeypatch.setenv("VLMEVAL_BATCH_SIZE", "4")
    monkeypatch.setenv("VLMEVAL_MAX_NEW_TOKENS", "5")
    monkeypatch.setenv("VLMEVAL_DTYPE", "float32")
    monkeypatch.setenv("VLMEVAL_OUTPUT", str(workspace / "vol"))
    monkeypatch.setenv("VLMEVAL_RUN_NAME", "from-env")
    monkeypatch.setenv("VLMEVAL_LIMIT", "7")
    monkeypatch.setenv("VLMEVAL_SEED", "11")
    monkeypatch.setenv("VLMEVAL_TRUST_REMOTE_CODE", "1")
    monkeypatch.setenv("VLMEVAL_MAX_RESTARTS", "2")
    plan, argv = dry_run()
    assert [d["name"] for d in plan["datasets"]] == ["ShapesMCQ", "ShapesYN", "ShapesVQA"]
    model = plan["model"]
    assert (model["batch_size"], model["max_new_tokens"], model["dtype"]) == (4, 5, "float32")
    assert model["trust_remote_code"] is True
    assert (plan["device"], plan["run_name"], plan["limit"], plan["seed"]) == (
        "cpu",
        "from-env",
        7,
        11,
    )
    assert plan["output_dir"] == str(workspace / "vol")
    assert nproc_of(argv) == "3"
    assert argv[argv.index("--max-restarts") + 1] == "2"


def test_dry_run_and_multi_node_flags_come_from_the_environment(monkeypatch):
    fake_nvml.install(monkeypatch, gpus(2))
    for name, value in {
        "NNODES": "2",
        "NODE_RANK": "0",
        "RDZV_ENDPOINT": "[fd00::1]:29400",
        "RUN_NAME": "r",
        "DRY_RUN": "true",
    }.items():
        monkeypatch.setenv(f"VLMEVAL_{name}", value)
    result = eval_(*TINY)
    assert result.exit_code == 0, result.stderr
    argv = shlex.split(result.stdout.splitlines()[-1])
    assert argv[argv.index("--rdzv-endpoint") + 1] == "[fd00::1]:29400"


def test_a_flag_beats_its_variable(monkeypatch, workspace):
    monkeypatch.setenv("VLMEVAL_MODEL", "Qwen2-VL-2B-Instruct")
    monkeypatch.setenv("VLMEVAL_DATA", "ShapesYN")
    monkeypatch.setenv("VLMEVAL_NPROC", "3")
    monkeypatch.setenv("VLMEVAL_DEVICE", "cuda")
    monkeypatch.setenv("VLMEVAL_DATA_DIR", str(workspace / "env-data"))
    plan, argv, node = dry_run_with_node(
        *TINY, "--nproc", "1", "--device", "cpu", "--data-dir", "flag-data"
    )
    assert plan["model"]["name"] == "tiny-vlm"
    assert [d["name"] for d in plan["datasets"]] == ["ShapesMCQ"]
    assert plan["device"] == "cpu" and nproc_of(argv) == "1"
    assert node["data_dir"] == str(workspace / "flag-data")


def test_data_dir_falls_back_from_vlmeval_data_dir_to_lmudata_to_home(monkeypatch, workspace):
    monkeypatch.setenv("VLMEVAL_DATA_DIR", str(workspace / "env-data"))
    assert dry_run_with_node(*TINY, "--device", "cpu")[2]["data_dir"] == str(workspace / "env-data")
    monkeypatch.delenv("VLMEVAL_DATA_DIR")
    assert dry_run_with_node(*TINY, "--device", "cpu")[2]["data_dir"] == str(workspace / "data")
    monkeypatch.delenv("LMUData")
    monkeypatch.setenv("HOME", str(workspace / "home"))
    assert dry_run_with_node(*TINY, "--device", "cpu")[2]["data_dir"] == str(
        workspace / "home" / "LMUData"
    )


def test_datasets_split_on_commas_and_spaces_and_repeat_once(workspace):
    tsv = workspace / "mine.tsv"
    tsv.write_text("index\timage\tquestion\tanswer\n")  # a header as the launcher checks it
    plan, _ = dry_run(
        "-m",
        "tiny-vlm",
        "-d",
        "ShapesMCQ,ShapesYN",
        "-d",
        "shapesmcq ShapesVQA",
        "-d",
        f"{tsv}:vqa",
        "--device",
        "cpu",
    )
    assert plan["datasets"] == [
        {"name": "ShapesMCQ", "path": None, "kind": "mcq"},
        {"name": "ShapesYN", "path": None, "kind": "yorn"},
        {"name": "ShapesVQA", "path": None, "kind": "vqa"},
        {"name": "mine", "path": str(tsv), "kind": "vqa"},
    ]
    assert split_data(["a, b", "c  d", ""]) == ["a", "b", "c", "d"]


# ---- the launch itself: plan.json and the ranks' environment ------------------------------


def test_the_written_plan_is_what_the_ranks_load(workspace):
    request = EvalRequest(
        model="tiny-vlm",
        data=("ShapesMCQ",),
        device="cpu",
        nproc=2,
        limit=40,
        output=str(workspace / "out"),
        run_name="r1",
    )
    launch = resolve_launch(request)
    assert sorted(p.name for p in (workspace / "out").iterdir()) == [], "the probe is removed"
    path = launch.write_plan()
    assert path == workspace / "out" / "tiny-vlm" / "r1" / "plan.json" == launch.plan_path
    assert load_plan(path) == launch.plan


def test_one_rank_on_the_cpu_by_default(workspace):
    # The exec itself is covered end to end (test_launcher_end_to_end.py).
    request = EvalRequest(
        model="tiny-vlm", data=("ShapesYN",), device="cpu", run_name="r2", output="out"
    )
    launch = resolve_launch(request)
    assert launch.nproc == 1
    assert json.loads(launch.write_plan().read_text())["datasets"][0]["name"] == "ShapesYN"


def test_the_ranks_get_omp_threads_and_pci_bus_order_unless_set(workspace):
    launch = resolve_launch(
        EvalRequest(model="tiny-vlm", data=("ShapesMCQ",), device="cpu", nproc=2, output="out")
    )
    assert launch_environment(launch, {}) == {
        "OMP_NUM_THREADS": str(max(1, usable_cpus() // 2)),
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "GLOO_SOCKET_IFNAME": "lo",
    }
    mine = {"OMP_NUM_THREADS": "3", "CUDA_DEVICE_ORDER": "X", "GLOO_SOCKET_IFNAME": "eth1"}
    assert launch_environment(launch, mine) == {}


def test_torchrun_runs_with_this_interpreter_and_keeps_the_ranks_exit_codes():
    assert find_torchrun() == TORCHRUN


def test_one_node_runs_under_the_torch_free_supervisor_and_several_under_torchrun(monkeypatch):
    fake_nvml.install(monkeypatch, gpus(2))
    _, one = dry_run(*TINY, "--device", "cpu")
    assert one[:3] == SUPERVISOR
    _, several = dry_run(
        *TINY, "--nnodes", "2", "--node-rank", "0", "--rdzv-endpoint", "h:1", "--run-name", "r"
    )
    assert several[:3] == TORCHRUN
