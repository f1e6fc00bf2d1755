"""Startup time of the ``vlmeval`` launcher: ``vlmeval --help`` and ``vlmeval gpus``.

Each command runs as a subprocess through this environment's ``vlmeval``
console script, as a user or ``docker run`` starts it; the median of ``--runs``
runs (after ``--warmup`` unmeasured ones) is reported, with two baselines for
scale: a bare interpreter (``python -c pass``) and ``python -c "import torch"``,
what every command would cost if the launcher imported torch.

Writes ``benchmarks/results/launcher_startup-<device>.json`` and ``.md``, each
whole. ``<device>`` is ``cpu`` when NVML shows no GPU, else the first GPU's name
as a slug (``nvidia-h100-80gb-hbm3``); ``--device-label`` overrides it.

    python benchmarks/launcher_startup.py [--runs 10] [--torch-runs 3] [--no-torch]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vlmeval_core.files import write_atomic, write_json
from vlmeval_launcher import __version__
from vlmeval_launcher.gpus import discover

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BIN = Path(sys.executable).parent


def time_command(argv: list[str], runs: int, warmup: int, expect: int = 0) -> dict[str, Any]:
    """Wall time of ``argv`` in seconds over ``runs`` runs; every run must exit ``expect``."""
    times = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
        if done.returncode != expect:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
        if i >= warmup:
            times.append(elapsed)
    return {
        "argv": [_shown(a) for a in argv],
        "runs": runs,
        "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4),
        "max_s": round(max(times), 4),
        "all_s": [round(t, 4) for t in times],
    }


def _shown(arg: str) -> str:
    """A path inside the checkout, relative to it, so results carry no machine's layout."""
    path = Path(arg)
    return str(path.relative_to(ROOT)) if path.is_absolute() and path.is_relative_to(ROOT) else arg


def device_label() -> tuple[str, list[str]]:
    """``cpu`` without a usable GPU, else a slug of the first GPU's name; and the GPU names."""
    gpus = discover().gpus
    if not gpus:
        return "cpu", []
    slug = re.sub(r"[^a-z0-9]+", "-", gpus[0].name.lower()).strip("-")
    return slug or "gpu", [g.name for g in gpus]


def git_commit() -> str | None:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout.strip() or None


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Launcher startup ({report['device']})",
        "",
        f"vlmeval {report['vlmeval']} · Python {report['python']} · {report['cpus']} CPUs · "
        f"load average {report['load_average_before'][0]:.2f} before, "
        f"{report['load_average_after'][0]:.2f} after · {report['date_utc']} · "
        f"commit {report['git_commit'] or 'unknown'}",
        "",
        "Wall time of a fresh process, started by subprocess; median of the measured runs "
        f"after {report['warmup']} warm-up run(s).",
        "",
        "| command | runs | median (ms) | min (ms) | max (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in report["commands"].items():
        lines.append(
            f"| `{name}` | {row['runs']} | {row['median_s'] * 1000:.0f} | "
            f"{row['min_s'] * 1000:.0f} | {row['max_s'] * 1000:.0f} |"
        )
    if report.get("notes"):
        lines += ["", report["notes"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="measured runs per command")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured runs first")
    parser.add_argument("--torch-runs", type=int, default=3, help="runs of the torch baseline")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch baseline")
    parser.add_argument("--device-label", help="name the results file after this device")
    parser.add_argument("--notes", default="", help="a sentence about the machine, kept in both")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    args = parser.parse_args(argv)

    vlmeval = str(BIN / "vlmeval")
    label, gpu_names = device_label()
    label = args.device_label or label
    load_before = os.getloadavg()
    commands = {
        "vlmeval --help": time_command([vlmeval, "--help"], args.runs, args.warmup),
        # Exit 2 where no GPU is usable: `vlmeval gpus` is a probe.
        "vlmeval gpus": time_command(
            [vlmeval, "gpus"], args.runs, args.warmup, expect=0 if gpu_names else 2
        ),
        "python -c pass": time_command([sys.executable, "-c", "pass"], args.runs, args.warmup),
    }
    if not args.no_torch:
        commands['python -c "import torch"'] = time_command(
            [sys.executable, "-c", "import torch"], args.torch_runs, args.warmup
        )
    report = {
        "benchmark": "launcher_startup",
        "device": label,
        "gpus": gpu_names,
        "vlmeval": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git_commit": git_commit(),
        "warmup": args.warmup,
        "commands": commands,
        "notes": args.notes,
    }
    stem = f"launcher_startup-{label}"
    write_json(args.out / f"{stem}.json", report)
    write_atomic(args.out / f"{stem}.md", markdown(report))
    print(json.dumps({name: row["median_s"] for name, row in commands.items()}, indent=2))
    print(f"wrote {args.out / stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
