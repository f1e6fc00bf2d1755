"""Which GPUs a run may use and whether it can run on them, from NVML (faked at the
nvidia-ml-py boundary): NVIDIA_VISIBLE_DEVICES in every form the container runtimes use,
compute capability and driver checks in `vlmeval eval` and `vlmeval doctor`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import fake_nvml
from fake_nvml import T4, V100, gpu_uuid, gpus, mig_gpu, mig_uuid
from vlmeval_launcher.cli import main
from vlmeval_launcher.gpus import discover

OLD_DRIVER = {"driver": "550.54.15", "cuda": 12040}  # supports CUDA 12.4, not torch's 13.0


@pytest.fixture(autouse=True)
def workspace(monkeypatch, tmp_path):
    fake_nvml.clean_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LMUData", str(tmp_path / "data"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return tmp_path


# ---- NVIDIA_VISIBLE_DEVICES: the runtime has applied it; NVML shows what CUDA sees ----------


@pytest.mark.parametrize(
    "value",
    [
        "all",
        "0,1",
        f"{gpu_uuid(0)},{gpu_uuid(1)}",
        "void",  # CDI (nvidia-ctk cdi, podman, Kubernetes with CDI): devices come from CDI
        "/var/run/nvidia-container-devices",  # the device plugin's volume-mounts mode
        "0:1",  # MIG notation of --gpus '"device=0:1"'
        "none",  # a privileged container sees the host's GPUs whatever the variable says
        "",
    ],
)
def test_nvidia_visible_devices_is_not_applied_again(monkeypatch, value):
    fake_nvml.install(monkeypatch, gpus(2))
    monkeypatch.setenv("NVIDIA_VISIBLE_DEVICES", value)
    inventory = discover()
    assert [g.uuid for g in inventory.gpus] == [gpu_uuid(0), gpu_uuid(1)]
    assert inventory.visibility == ""


def test_a_mig_device_given_as_0_colon_1_is_usable(monkeypatch):
    """The runtime gave the container MIG device 1 of GPU 0; NVML lists just that one."""
    fake_nvml.install(monkeypatch, [mig_gpu(0, 1)])
    monkeypatch.setenv("NVIDIA_VISIBLE_DEVICES", "0:1")
    assert [g.uuid for g in discover().require()] == [mig_uuid(0, 0)]


def test_cuda_visible_devices_still_narrows_inside_the_runtimes_selection(monkeypatch):
    fake_nvml.install(monkeypatch, gpus(4))
    monkeypatch.setenv("NVIDIA_VISIBLE_DEVICES", "void")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    inventory = discover()
    assert [g.uuid for g in inventory.gpus] == [gpu_uuid(3), gpu_uuid(1)]
    assert inventory.visibility == "CUDA_VISIBLE_DEVICES=3,1"


def test_eval_plans_every_gpu_the_runtime_gave(monkeypatch):
    fake_nvml.install(monkeypatch, gpus(2))
    monkeypatch.setenv("NVIDIA_VISIBLE_DEVICES", "/var/run/nvidia-container-devices")
    result = CliRunner().invoke(main, ["eval", "-m", "tiny-vlm", "-d", "ShapesMCQ", "--dry-run"])
    assert result.exit_code == 0, result.stderr
    assert "--nproc-per-node 2" in result.stdout


# ---- compute capability and driver -------------------------------------------------------


def eval_dry_run():
    return CliRunner().invoke(main, ["eval", "-m", "tiny-vlm", "-d", "ShapesMCQ", "--dry-run"])


def said(result) -> list[str]:
    """The dry run's stderr lines beside the node settings it always prints."""
    node_line = "vlmeval: this node's settings"
    return [line for line in result.stderr.splitlines() if not line.startswith(node_line)]


def test_a_gpu_older_than_sm_75_is_refused_with_one_line(monkeypatch):
    fake_nvml.install(monkeypatch, gpus(1, V100))
    result = eval_dry_run()
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        "vlmeval: error: Tesla V100-SXM2-32GB is sm_70 (compute capability 7.0), older than "
        "the sm_75 this image's torch supports (T4, A100, L4, H100 and newer): use another GPU "
        "or --device cpu"
    ]


def test_a_t4_runs(monkeypatch):
    fake_nvml.install(monkeypatch, gpus(1, T4))
    result = eval_dry_run()
    assert result.exit_code == 0, result.stderr
    assert said(result) == []


def test_a_driver_older_than_torchs_cuda_gets_a_warning_line(monkeypatch):
    from vlmeval_launcher.gpus import torch_cuda_version

    fake_nvml.install(monkeypatch, gpus(1), **OLD_DRIVER)
    result = eval_dry_run()
    assert result.exit_code == 0, result.stderr
    assert said(result) == [
        f"vlmeval: warning: the NVIDIA driver 550.54.15 supports CUDA 12.4, but torch is built "
        f"for CUDA {torch_cuda_version()} and needs driver 580 or newer: upgrade the host's "
        "driver, or build the image for an older CUDA (README: GPU support)"
    ]


def test_torchs_cuda_version_is_read_without_importing_torch():
    import torch

    from vlmeval_launcher.gpus import torch_cuda_version

    assert torch_cuda_version() == torch.version.cuda


# ---- vlmeval doctor ------------------------------------------------------------------------


def doctor_lines(monkeypatch, devices, **extra) -> dict[str, str]:
    fake_nvml.install(monkeypatch, devices, **extra)
    result = CliRunner().invoke(main, ["doctor"])
    lines = {}
    for line in result.stdout.splitlines()[:-1]:
        status, rest = line.split(maxsplit=1)
        name = rest[:13].strip()
        lines[name] = f"{status} {rest[13:].strip()}"
    return lines


@pytest.mark.slow  # doctor imports torch
def test_doctor_reports_each_gpus_generation_and_dtype(monkeypatch):
    lines = doctor_lines(monkeypatch, [*gpus(1), gpus(2, T4)[1]])
    assert lines["gpu 0"] == (
        f"ok NVIDIA H100 80GB HBM3, 81559 MiB, sm_90 (--dtype auto: bfloat16), {gpu_uuid(0)}"
    )
    assert lines["gpu 1"] == f"ok Tesla T4, 15360 MiB, sm_75 (--dtype auto: float16), {gpu_uuid(1)}"
    assert lines["driver"] == "ok NVIDIA 580.95.05, supports CUDA 13.0"
    assert lines["distributed"] == "ok gloo, for the ranks' barriers (no NCCL needed)"


@pytest.mark.slow
def test_doctor_fails_an_old_gpu_and_warns_about_an_old_driver(monkeypatch):
    lines = doctor_lines(monkeypatch, gpus(1, V100), **OLD_DRIVER)
    assert lines["gpu 0"].startswith("fail Tesla V100-SXM2-32GB is sm_70")
    assert lines["driver"].startswith("warn the NVIDIA driver 550.54.15 supports CUDA 12.4")
