"""Gather the wheels a bare GPU machine lacks into one folder (``make gpu-wheels``).

A lent GPU machine has no network, and its python3 has only torch, transformers,
nvidia-ml-py, click and pytest (with their own dependencies). ``make gpu-check``
installs from this folder whatever of :data:`CARRIED` that python3 lacks. The
versions are the ones installed here, where the tests pass; the wheels are fetched
with pip for each Python version in ``--python`` (Linux x86_64), no dependencies
resolved beyond the list. The folder is git-ignored and stays under 64 MiB.

    python scripts/gpu_wheels.py [--dest gpu-wheels] [--python 3.11 3.12]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What the evaluator and its GPU tests import beyond torch, transformers (and their
# dependencies), nvidia-ml-py, click and pytest.
CARRIED = (
    "torchvision",  # Qwen2-VL's video processor; must match torch, so pinned to this torch's
    "pandas",
    "python-dateutil",
    "tzdata",
    "openpyxl",
    "et-xmlfile",
    "pillow",
    "accelerate",
    "psutil",
)
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
LIMIT_MIB = 64


def pins() -> list[str]:
    """``name==version`` for each carried package, as installed here."""
    return [f"{name}=={metadata.version(name)}" for name in CARRIED]


def download(dest: Path, python: str) -> None:
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    subprocess.run(
        [*pip, "--python-version", python, *platforms, "--dest", str(dest), *pins()], check=True
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=ROOT / "gpu-wheels")
    parser.add_argument("--python", nargs="+", default=["3.11", "3.12"])
    args = parser.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    for python in args.python:
        download(args.dest, python)
    wheels = sorted(args.dest.glob("*.whl"))
    size = sum(w.stat().st_size for w in wheels) / 2**20
    print(f"gpu-wheels: {len(wheels)} wheels, {size:.1f} MiB in {args.dest}")
    if size >= LIMIT_MIB:
        print(f"gpu-wheels: more than {LIMIT_MIB} MiB: carry fewer Python versions (--python)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
