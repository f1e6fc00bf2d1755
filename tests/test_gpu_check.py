"""`make gpu-check` on a machine without a GPU, and the GPU tests on a bare python3.

On a GPU machine the check runs everything (scripts/gpu_check.py); here it must stop
at once with one line. The GPU test module must collect where only torch,
transformers, nvidia-ml-py, click and pytest are installed: the evaluator's other
packages come from ``make gpu-wheels`` and are imported only inside the tests.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAKE_LINE = re.compile(r"make(\[\d+\])?: ")
"""make's own lines (``make[1]:`` when the tests themselves run under make)."""
# Installed here, but not on a bare GPU machine before the wheels are unpacked.
NOT_ON_A_BARE_MACHINE = ("pandas", "PIL", "openpyxl", "accelerate", "torchvision", "flash_attn")


def env_without_gpu_visibility() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.endswith("VISIBLE_DEVICES")}
    keep.pop("FAKE_NVML_CONFIG", None)
    keep["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT / "entrypoint")])
    return keep


def test_gpu_check_without_a_gpu_stops_at_once_with_one_line(tmp_path):
    """NVML without a driver (the fake, through the caller's PYTHONPATH, which the Makefile
    keeps): exit 2, one line, nothing written."""
    out = tmp_path / "results"
    env = env_without_gpu_visibility()
    env["PYTHONPATH"] = str(ROOT / "tests" / "fake_nvml")  # FAKE_NVML_CONFIG unset: no driver
    done = subprocess.run(
        ["make", "--no-print-directory", "-s", "gpu-check", f"GPU_CHECK_OUT={out}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if not MAKE_LINE.match(line)]
    assert lines == [
        "gpu-check: no usable GPU (NVML: NVML Shared Library Not Found): run it where an "
        "NVIDIA GPU is visible (in the image: docker run --gpus all vlmeval make gpu-check)"
    ]
    assert done.stdout == ""
    assert not out.exists()


def test_make_test_gpu_collects_without_the_evaluators_extras(tmp_path):
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        textwrap.dedent(
            f"""
            import sys

            BLOCKED = {NOT_ON_A_BARE_MACHINE!r}

            class Absent:
                def find_spec(self, name, path=None, target=None):
                    if name.split(".")[0] in BLOCKED:
                        raise ModuleNotFoundError(f"No module named {{name!r}}")
                    return None

            sys.meta_path.insert(0, Absent())
            """
        )
    )
    env = env_without_gpu_visibility()
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    make = subprocess.run(
        ["make", "-s", "-n", "test-gpu"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    pytest = shlex.split(make.stdout.strip().splitlines()[-1])  # the command `make test-gpu` runs
    assert pytest[1:4] == ["-m", "pytest", "-q"], pytest
    done = subprocess.run(
        [*pytest, "--collect-only"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    collected = [line for line in done.stdout.splitlines() if "::test_" in line]
    assert len(collected) >= 7, done.stdout
    check = subprocess.run(
        [sys.executable, "-c", "import pandas"], env=env, capture_output=True, text=True
    )
    assert "No module named 'pandas'" in check.stderr, "the blocker must really hide them"


def make_wheel(directory: Path, filename: str, module: str) -> None:
    name, version = filename.split("-")[:2]
    with zipfile.ZipFile(directory / filename, "w") as archive:
        archive.writestr(f"{module}/__init__.py", f"WHEEL = {filename!r}\n")
        archive.writestr(
            f"{name}-{version}.dist-info/METADATA",
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        )


def test_gpu_check_unpacks_only_the_missing_wheels_this_python_can_use(tmp_path):
    """What `make gpu-wheels` carried is unpacked for the distributions python3 lacks."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "carried_pkg-1.0-py3-none-any.whl", "carried_pkg")
    make_wheel(wheels, "click-0.1-py3-none-any.whl", "click")  # installed already
    make_wheel(wheels, "other_pkg-1.0-cp27-cp27m-win32.whl", "other_pkg")  # not for this python
    site = tmp_path / "site"
    assert gpu_check.unpack_missing_wheels(wheels, site) == ["carried-pkg"]
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import carried_pkg, click; print(carried_pkg.WHEEL, click.__file__)",
        ],
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    wheel, click_file = done.stdout.split()
    assert wheel == "carried_pkg-1.0-py3-none-any.whl"
    assert not click_file.startswith(str(site)), "an installed package is not replaced"
    assert not (site / "other_pkg").exists()


def test_the_makefile_puts_its_sources_before_the_callers_pythonpath():
    """A GPU machine's unpacked wheels (or the fake NVML) on PYTHONPATH stay visible."""
    done = subprocess.run(
        ["make", "-s", "--eval", "show-pythonpath: ; @echo $$PYTHONPATH", "show-pythonpath"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": "/caller/site"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == f"{ROOT}/src:{ROOT}/entrypoint:/caller/site"


def test_make_bench_does_not_install():
    """Even with pyproject.toml newer than the venv, `make bench` only runs the benchmarks:
    a GPU machine has no network for `make install`."""
    done = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    commands = done.stdout
    assert "benchmarks/throughput.py --setup cpu" in commands
    assert "pip install" not in commands and "-m venv" not in commands
