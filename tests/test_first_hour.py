"""What a newcomer meets in the first hour (issue 17): messages that name this host or the
image's container rightly, a CPU fix that is a real command, a doctor that says when no
volume is mounted on the output directory, and --nproc bounded by the CPU cores.

In-process (click's CliRunner) with NVML faked; no torch. The container side is in
tests/test_container_ownership.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import fake_nvml
from fake_nvml import V100, gpus
from vlmeval_launcher import doctor
from vlmeval_launcher.cli import main
from vlmeval_launcher.gpus import CPU_FIX, IMAGE_ENV, in_image, no_gpu_message

TINY = ("-m", "tiny-vlm", "-d", "ShapesMCQ")


pytestmark = pytest.mark.usefixtures("workspace")  # conftest.py


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def only_error(result) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vlmeval: error: "), result.stderr
    return lines[0].removeprefix("vlmeval: error: ")


# ---- this host or this container -----------------------------------------------------------


def test_the_image_is_known_by_its_variable_not_by_container_markers(monkeypatch):
    """This project's own machines are containers (/.dockerenv) where vlmeval runs from a
    venv: only the image's variable means "the container you started"."""
    assert not in_image({})
    assert in_image({IMAGE_ENV: "0.1.0"})
    monkeypatch.setenv(IMAGE_ENV, "0.1.0")
    assert in_image()


def test_gpus_without_a_gpu_on_a_host_says_this_host_and_a_real_cpu_command(monkeypatch):
    fake_nvml.install(monkeypatch, None)
    message = only_error(invoke("gpus"))
    assert message == no_gpu_message(container=False)
    assert "on this host" in message and "container" not in message
    assert message.endswith("or run on the CPU: vlmeval eval --device cpu …")
    assert "pass --device cpu" not in message


def test_gpus_without_a_gpu_in_the_image_names_its_docker_flag(monkeypatch):
    fake_nvml.install(monkeypatch, None)
    monkeypatch.setenv(IMAGE_ENV, "0.1.0")
    message = only_error(invoke("gpus"))
    assert message.startswith("no NVIDIA GPU is visible in this container: start it with --gpus")
    assert message.endswith(CPU_FIX)


def test_every_gpus_refusal_names_eval_for_the_cpu(monkeypatch):
    fake_nvml.install(monkeypatch, gpus(2))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    hidden = only_error(invoke("gpus"))
    assert hidden.startswith("CUDA_VISIBLE_DEVICES=-1 hides all 2 GPUs") and hidden.endswith(
        CPU_FIX
    )
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    fake_nvml.install(monkeypatch, gpus(1, V100))
    old = invoke("gpus")
    assert old.exit_code == 3
    assert only_error(old).endswith(f"use another GPU {CPU_FIX}")


def test_eval_keeps_its_flag_as_the_cpu_fix(monkeypatch):
    fake_nvml.install(monkeypatch, gpus(2))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    done = invoke("eval", *TINY, "--dry-run")
    assert done.exit_code == 2
    assert only_error(done).endswith("or pass --device cpu")


# ---- doctor: is a volume mounted on the output directory? ------------------------------------


def mountinfo(tmp_path: Path, *points: str) -> Path:
    lines = [f"{20 + i} 1 0:{i} / {p} rw - ext4 /dev/vda rw" for i, p in enumerate(("/", *points))]
    path = tmp_path / "mountinfo"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_doctor_in_the_image_warns_when_nothing_is_mounted_on_the_output_dir(tmp_path):
    output = tmp_path / "outputs"
    check = doctor._output_check(output, {IMAGE_ENV: "0.1.0"}, mountinfo(tmp_path, "/etc/hosts"))
    assert check.status == doctor.WARN
    assert check.detail == (
        f"{output} is no mounted volume: the results stay in this container and are lost with "
        f"it (docker run --rm); mount a host directory there: -v $PWD/outputs:{output}"
    )


def test_doctor_is_content_with_a_mounted_output_dir_or_a_host(tmp_path):
    output = tmp_path / "out put"
    output.mkdir()
    mounted = mountinfo(tmp_path, str(output).replace(" ", "\\040"))
    check = doctor._output_check(output / "sub", {IMAGE_ENV: "0.1.0"}, mounted)
    assert (check.status, check.detail) == (doctor.OK, f"{output / 'sub'} (can be created)")
    bare = mountinfo(tmp_path)
    assert doctor._output_check(output, {}, bare).status == doctor.OK  # not in the image
    # a mount point that only shares a prefix with the path does not hold it
    assert not doctor.is_mounted(tmp_path / "outputs", mountinfo(tmp_path, f"{tmp_path}/out"))


def test_is_mounted_without_mountinfo_compares_devices(tmp_path):
    missing = tmp_path / "no-mountinfo"
    assert doctor.is_mounted(Path("/proc/self"), missing)  # procfs: another device than /
    assert doctor.is_mounted(tmp_path, missing) == (os.stat(tmp_path).st_dev != os.stat("/").st_dev)


# ---- --nproc on the CPU ----------------------------------------------------------------------


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})


@pytest.mark.parametrize("device", [["--device", "cpu"], []])
def test_more_cpu_ranks_than_cores_is_one_line_and_exit_2_before_any_work(
    monkeypatch, workspace, two_cores, device
):
    fake_nvml.install(monkeypatch, None)  # --device auto on a host without a GPU: the CPU
    done = invoke("eval", *TINY, *device, "--nproc", "8", "--output", "out")
    assert done.exit_code == 2, done.stderr
    assert only_error(done) == (
        "--nproc 8 asks for 8 CPU ranks, but this machine lets vlmeval use 2 CPU cores "
        "(os.sched_getaffinity): use --nproc 2 or fewer"
    )
    assert not (workspace / "out").exists()


def test_as_many_cpu_ranks_as_cores_run_and_a_dry_run_only_warns(monkeypatch, two_cores):
    ok = invoke("eval", *TINY, "--device", "cpu", "--nproc", "2", "--dry-run")
    assert ok.exit_code == 0, ok.stderr
    assert "warning" not in ok.stderr
    dry = invoke("eval", *TINY, "--device", "cpu", "--nproc", "3", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert (
        "vlmeval: warning: --nproc 3 asks for 3 CPU ranks, but this machine lets vlmeval use "
        "2 CPU cores (os.sched_getaffinity): use --nproc 2 or fewer; a run here would stop"
    ) in dry.stderr.splitlines()
