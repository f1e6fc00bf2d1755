"""GPU discovery and `vlmeval gpus`, with NVML faked at the nvidia-ml-py boundary.

0, 1, 2 and 8 GPUs, MIG devices, CUDA_VISIBLE_DEVICES as CUDA reads it, and a
missing NVML library (NVIDIA_VISIBLE_DEVICES, capabilities, drivers: test_gpu_support.py).
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

import fake_nvml
from fake_nvml import gpu_uuid, gpus, mig_gpu, mig_uuid
from vlmeval_core.errors import RuntimeFailure, UsageError
from vlmeval_launcher.cli import main
from vlmeval_launcher.gpus import discover, format_cuda_version, no_gpu_message


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    fake_nvml.clean_env(monkeypatch)


def visible(monkeypatch, devices, **env) -> list[str]:
    fake_nvml.install(monkeypatch, devices)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return [g.uuid for g in discover().gpus]


@pytest.mark.parametrize("count", [1, 2, 8])
def test_each_gpu_has_index_uuid_name_and_memory(monkeypatch, count):
    nvml = fake_nvml.install(monkeypatch, gpus(count))
    inventory = discover()
    assert [g.to_dict() for g in inventory.gpus] == [
        {
            "index": i,
            "uuid": gpu_uuid(i),
            "name": "NVIDIA H100 80GB HBM3",
            "memory_total_mib": 81559,
        }
        for i in range(count)
    ]
    assert inventory.require() == inventory.gpus
    assert (inventory.driver_version, inventory.cuda_driver_version) == ("580.95.05", "13.0")
    assert nvml.calls == {"init": 1, "shutdown": 1}


def test_zero_gpus_is_the_no_gpu_error(monkeypatch):
    fake_nvml.install(monkeypatch, [])
    inventory = discover()
    assert inventory.gpus == () and inventory.unavailable is None
    with pytest.raises(UsageError) as caught:
        inventory.require()
    assert str(caught.value) == no_gpu_message() and caught.value.exit_code == 2


def test_a_missing_nvml_library_is_the_no_gpu_error(monkeypatch):
    fake_nvml.install(monkeypatch, None)
    inventory = discover()
    assert inventory.gpus == ()
    assert inventory.unavailable == "NVML Shared Library Not Found"
    with pytest.raises(UsageError, match=f"^{re.escape(no_gpu_message())}$"):
        inventory.require()


def test_a_driver_that_is_not_loaded_is_the_no_gpu_error(monkeypatch):
    fake_nvml.install(monkeypatch, gpus(2), init_error="DriverNotLoaded")
    with pytest.raises(UsageError, match=f"^{re.escape(no_gpu_message())}$"):
        discover().require()


def test_a_broken_driver_is_an_environment_failure(monkeypatch):
    fake_nvml.install(monkeypatch, gpus(2), init_error="LibRmVersionMismatch")
    with pytest.raises(
        RuntimeFailure, match=r"^NVML could not start \(.*mismatch.*nvidia-smi"
    ) as c:
        discover()
    assert c.value.exit_code == 3


EIGHT = gpus(8)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("0,1", [0, 1]),
        ("5,2", [5, 2]),  # CUDA's order is kept
        (" 6 , 7 ", [6, 7]),
        ("", []),
        ("-1", []),
        ("1,-1,2", [1]),  # CUDA stops at the first entry it cannot use
        ("1,9,2", [1]),
        ("3,3", [3]),
        (gpu_uuid(3), [3]),
        (f"{gpu_uuid(4)},{gpu_uuid(0)}", [4, 0]),
        (f"{gpu_uuid(6)[:12]},1", [6, 1]),  # a unique UUID prefix, as CUDA accepts it
        ("GPU-0000000", []),  # a prefix of every UUID names none
        ("GPU-ffffffff", []),
        ("nvidia0", []),
    ],
)
def test_cuda_visible_devices_is_read_as_cuda_reads_it(monkeypatch, value, expected):
    found = visible(monkeypatch, EIGHT, CUDA_VISIBLE_DEVICES=value)
    assert found == [gpu_uuid(i) for i in expected]


def test_mig_mode_lists_the_mig_devices_under_their_parent(monkeypatch):
    fake_nvml.install(monkeypatch, [*gpus(1), mig_gpu(1, 3)])
    assert [g.to_dict() for g in discover().gpus] == [
        {
            "index": 0,
            "uuid": gpu_uuid(0),
            "name": "NVIDIA H100 80GB HBM3",
            "memory_total_mib": 81559,
        },
        *(
            {
                "index": 1,
                "uuid": mig_uuid(1, s),
                "name": "NVIDIA A100-SXM4-40GB MIG 1g.10gb",
                "memory_total_mib": 9856,
            }
            for s in range(3)
        ),
    ]


@pytest.mark.parametrize(
    "value, expected",
    [
        (mig_uuid(0, 1), [(0, 1)]),
        (f"{mig_uuid(1, 0)},{mig_uuid(0, 2)}", [(1, 0), (0, 2)]),
        (mig_uuid(1, 1)[:16], [(1, 1)]),  # a unique prefix
        (f"MIG-{gpu_uuid(0)}/8/0", [(0, 1)]),  # the older MIG-GPU-<uuid>/<gi>/<ci> spelling
        (f"MIG-{gpu_uuid(0)}/99/0", []),
        ("MIG-ffff", []),
        (gpu_uuid(1), [(1, 0), (1, 1), (1, 2)]),  # a whole GPU in MIG mode: its MIG devices
    ],
)
def test_cuda_visible_devices_names_mig_devices(monkeypatch, value, expected):
    found = visible(monkeypatch, [mig_gpu(0, 3), mig_gpu(1, 3)], CUDA_VISIBLE_DEVICES=value)
    assert found == [mig_uuid(g, s) for g, s in expected]


def test_empty_mig_slots_are_skipped_and_mig_off_is_a_whole_gpu(monkeypatch):
    sparse = mig_gpu(0, 3)
    sparse["mig"][1] = None
    off = {**gpus(2)[1], "mig": None}
    found = visible(monkeypatch, [sparse, off])
    assert found == [mig_uuid(0, 0), mig_uuid(0, 2), gpu_uuid(1)]


def test_hiding_every_gpu_names_the_variable(monkeypatch):
    fake_nvml.install(monkeypatch, gpus(2))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    with pytest.raises(UsageError) as caught:
        discover().require()
    assert str(caught.value) == (
        "CUDA_VISIBLE_DEVICES=-1 hides all 2 GPUs NVML reports: unset it or name the GPUs "
        "to use, or pass --device cpu"
    )


def test_cuda_version_format():
    assert format_cuda_version(12040) == "12.4"
    assert format_cuda_version(13000) == "13.0"


# ---- vlmeval gpus --------------------------------------------------------------------------


def gpus_command(*args: str):
    return CliRunner().invoke(main, ["gpus", *args])


def test_gpus_prints_a_table(monkeypatch):
    fake_nvml.install(monkeypatch, gpus(8))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    result = gpus_command()
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["INDEX", "UUID", "NAME", "MEMORY"]
    assert lines[1].split() == ["1", gpu_uuid(1), "NVIDIA", "H100", "80GB", "HBM3", "81559", "MiB"]
    assert lines[2].split()[:2] == ["0", gpu_uuid(0)]
    assert lines[3] == "2 usable · CUDA_VISIBLE_DEVICES=1,0 · driver 580.95.05 · CUDA 13.0"


def test_gpus_json_is_for_scripts(monkeypatch):
    fake_nvml.install(monkeypatch, [mig_gpu(0, 2)])
    result = gpus_command("--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [
        {
            "index": 0,
            "uuid": mig_uuid(0, s),
            "name": "NVIDIA A100-SXM4-40GB MIG 1g.10gb",
            "memory_total_mib": 9856,
        }
        for s in range(2)
    ]


@pytest.mark.parametrize("devices", [None, []])
def test_gpus_without_a_gpu_says_so_and_exits_2(monkeypatch, devices):
    """A probe for scripts: exit 2 when no GPU is usable, the reason on stderr."""
    fake_nvml.install(monkeypatch, devices)
    table = gpus_command()
    assert (table.exit_code, table.stdout) == (2, "")
    assert table.stderr.splitlines() == [f"vlmeval: error: {no_gpu_message()}"]
    as_json = gpus_command("--json")
    assert (as_json.exit_code, json.loads(as_json.stdout)) == (2, [])


def test_gpus_with_a_broken_driver_fails_with_one_line(monkeypatch):
    fake_nvml.install(monkeypatch, gpus(1), init_error="Unknown")
    result = gpus_command()
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        "vlmeval: error: NVML could not start (Unknown Error): check the driver with nvidia-smi "
        "on the host"
    ]
