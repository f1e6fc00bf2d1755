"""One command for a lent GPU machine (``make gpu-check``): every GPU check, one results folder.

    python3 scripts/gpu_check.py [--out DIR] [--wheels gpu-wheels]

Runs with no network, in under 10 minutes on one H100/H200, from the image or from
a bare python3 that has torch, transformers, nvidia-ml-py, click and pytest: what
else the evaluator needs comes from the wheels ``make gpu-wheels`` gathered
(``--wheels``), unpacked into ``<out>/site`` for the packages this python3 lacks.
In order, each step logging to ``<out>/<step>.log``:

1. ``vlmeval gpus`` and ``vlmeval doctor --device cuda`` with the real NVML;
2. the GPU tests, ``tests/test_gpu.py`` (``-m gpu``): ranks over gloo on the GPU, the
   launcher with real NVML, a forced real out-of-memory, ``--gpus-per-model`` with
   accelerate's device_map, tiny-vlm through the one-node supervisor;
3. ``vlmeval eval --device cuda`` end to end: tiny-vlm on the three Shapes benchmarks;
4. the throughput benchmark with Qwen2-VL-2B's dimensions and random weights, with the
   memory-bandwidth figure (``benchmarks/throughput.py --setup gpu``, whose defaults fit).

``<out>/gpu-check.md`` sums it up; the exit code is 0 only if every step passed.
Without a visible GPU it stops at once with one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [str(ROOT / "src"), str(ROOT / "entrypoint")]
BUDGET_S = 570  # the whole check, under the 10 minutes a lent machine gives one command
BENCHMARK = ROOT / "benchmarks" / "throughput.py"
LAUNCHER = [sys.executable, "-c", "from vlmeval_launcher.cli import main; main()"]


@dataclass
class Step:
    """One command of the check, its time limit, and what came of it."""

    name: str
    argv: list[str]
    timeout_s: int
    returncode: int | None = None
    seconds: float = 0.0

    @property
    def status(self) -> str:
        if self.returncode is None:
            return "not run"
        return "passed" if self.returncode == 0 else f"failed (exit {self.returncode})"


def no_gpu_reason() -> str | None:
    """Why no GPU can be used here (NVML, as the launcher sees it), or None."""
    from vlmeval_core.errors import VlmevalError
    from vlmeval_launcher.gpus import discover

    try:
        inventory = discover()
        if inventory.unavailable is not None:
            return f"NVML: {inventory.unavailable}"
        inventory.require(warn=False)
    except VlmevalError as exc:
        return str(exc)
    return None


def unpack_missing_wheels(wheels: Path, site: Path) -> list[str]:
    """Unpack the wheels in ``wheels`` whose distribution this python3 lacks into ``site``."""
    from packaging.tags import sys_tags
    from packaging.utils import canonicalize_name, parse_wheel_filename

    supported = set(sys_tags())
    names = (d.metadata["Name"] for d in metadata.distributions())
    installed = {canonicalize_name(name) for name in names if name}
    unpacked: list[str] = []
    for wheel in sorted(wheels.glob("*.whl")):
        name, _, _, tags = parse_wheel_filename(wheel.name)
        if name in installed or name in unpacked or not tags & supported:
            continue
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
        unpacked.append(name)
    return unpacked


def steps(out: Path) -> list[Step]:
    eval_dirs = ("--output", str(out / "eval"), "--data-dir", str(out / "data"))
    pytest = (sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider")
    shapes = ("-m", "tiny-vlm", "-d", "ShapesMCQ,ShapesYN,ShapesVQA", "--run-name", "gpu-check")
    return [
        Step("gpus", [*LAUNCHER, "gpus"], 30),
        Step("doctor", [*LAUNCHER, "doctor", "--device", "cuda", *eval_dirs], 60),
        Step(
            "pytest-gpu",
            [*pytest, "--junitxml", str(out / "pytest-gpu.xml"), str(ROOT / "tests/test_gpu.py")],
            200,
        ),
        Step("eval", [*LAUNCHER, "eval", "--device", "cuda", *shapes, *eval_dirs], 90),
        Step(
            "bench",
            [sys.executable, str(BENCHMARK), "--setup", "gpu", "--out", str(out)],
            300,
        ),
    ]


def run(step: Step, out: Path, env: dict[str, str], deadline: float) -> None:
    timeout = min(step.timeout_s, deadline - time.monotonic())
    if timeout < 10:
        return
    started = time.monotonic()
    with open(out / f"{step.name}.log", "w") as log:
        log.write(f"$ {shlex.join(step.argv)}\n")
        log.flush()
        try:
            done = subprocess.run(
                step.argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout
            )
            step.returncode = done.returncode
        except subprocess.TimeoutExpired:
            step.returncode = 124
            log.write(f"\ngpu-check: stopped after {timeout:.0f} s\n")
    step.seconds = round(time.monotonic() - started, 1)
    print(f"gpu-check: {step.name}: {step.status} in {step.seconds} s", flush=True)


def report(out: Path, done: list[Step], unpacked: list[str]) -> str:
    import torch

    lines = [
        f"# gpu-check, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"{torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device'}"
        f" · torch {torch.__version__} (CUDA {torch.version.cuda})"
        f" · Python {platform.python_version()} · unpacked from the wheels: "
        f"{', '.join(unpacked) or 'nothing'}",
        "",
        "| step | result | seconds | log |",
        "|---|---|---:|---|",
    ]
    lines += [f"| {s.name} | {s.status} | {s.seconds} | {s.name}.log |" for s in done]
    summary = out / "eval" / "tiny-vlm" / "gpu-check" / "summary.md"
    if summary.is_file():
        lines += ["", "## vlmeval eval --device cuda", "", summary.read_text().strip()]
    bench = sorted(out.glob("throughput-*.md"))
    if bench:
        lines += ["", bench[0].read_text().strip().replace("# Throughput", "## Throughput", 1)]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "gpu-check-results")
    parser.add_argument("--wheels", type=Path, default=ROOT / "gpu-wheels")
    args = parser.parse_args()
    deadline = time.monotonic() + BUDGET_S
    sys.path[:0] = SOURCES
    reason = no_gpu_reason()
    if reason is not None:
        print(
            f"gpu-check: no usable GPU ({reason}): run it where an NVIDIA GPU is visible "
            "(in the image: docker run --gpus all vlmeval make gpu-check)",
            file=sys.stderr,
        )
        return 2

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    site = out / "site"
    unpacked = unpack_missing_wheels(args.wheels, site) if args.wheels.is_dir() else []
    path = [*SOURCES, str(site), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    sys.path.insert(0, str(site))
    if shutil.which("nvidia-smi"):
        (out / "nvidia-smi.txt").write_text(
            subprocess.run(["nvidia-smi"], capture_output=True, text=True).stdout
        )
    done = steps(out)
    for step in done:
        run(step, out, env, deadline)
    (out / "gpu-check.md").write_text(report(out, done, unpacked))
    failed = [s.name for s in done if s.returncode != 0]
    print(f"gpu-check: {'failed: ' + ', '.join(failed) if failed else 'all passed'}; see {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
