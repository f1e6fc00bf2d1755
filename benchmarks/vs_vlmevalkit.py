"""End to end against VLMEvalKit itself: tiny-vlm on ShapesMCQ (240 items) on the CPU.

    make .bench-venv/.installed      # VLMEvalKit (PyPI nvidia-vlmeval 26.3), see the Makefile
    python benchmarks/vs_vlmevalkit.py [--runs 5] [--ours-nproc 1 2] [--bench-python PY]

Two commands, each a fresh process tree started by subprocess, timed from just
before the start to its exit:

- **ours**: ``vlmeval eval --model tiny-vlm --data ShapesMCQ --device cpu --nproc N
  --quiet`` with a fresh ``--run-name`` (and output directory) each run. ``--nproc 1`` is
  the default on a CPU; other values given with ``--ours-nproc`` are separate rows.
- **VLMEvalKit**: its own ``run.py`` (``python -m vlmeval.run --data ShapesMCQ --model
  tiny-vlm --judge exact_matching``) in the bench venv, with a fresh ``--work-dir``
  each run, through ``benchmarks/vlmevalkit_cpu.py``: it adds ``tiny-vlm`` to VLMEvalKit's
  model registry as its own ``Qwen2VLChat`` class, adapted only to run on a CPU (see
  that file: ``sdpa`` instead of ``flash_attention_2``, the model and inputs left on
  the CPU, its ``nvidia-smi`` probe answered). ``--judge exact_matching`` is
  VLMEvalKit's flag for scoring without an OpenAI judge (without it, 26.3 stops at the
  judge check: no key, no network).

Both read the same TSV (generated once by this project into a scratch data dir, which is
``--data-dir`` for ours and ``LMUData`` for VLMEvalKit, which treats an unregistered
name with A/B columns as a custom MCQ dataset), both load the bundled tiny-vlm (float32,
sdpa attention) and generate at most the registry's ``max_new_tokens`` (8) per item
with greedy decoding; ours in length-sorted batches of the registry's batch size (32),
VLMEvalKit one item per ``generate()``. VLMEvalKit writes each item's image under
``LMUData/images`` once and reuses it: the warm-up run pays for that.

**Interleaved**: one unmeasured warm-up of each command, then rounds of one run of each
(A, B, A, B, ...), so that a change in the machine's load hits both alike. Medians,
minima and maxima are reported.

**Time to first prediction**, measured the same way on both sides: this process polls
(every 5 ms) for a file that appears when the first answer exists; the time is from just
before the start to the first poll that sees it. Ours: a rank's checkpoint
(``<run>/ShapesMCQ/.shards/rank-<r>.jsonl``), non-empty once its first batch (32 items,
the longest prompts first) is appended. VLMEvalKit: a marker file the launcher writes
when the first ``generate()`` (one item) returns; VLMEvalKit's own prediction pickle is
written only every 10 items.

Each run's accuracy and item count (from each tool's own result files) are recorded as a
sanity check, and for ours the breakdown its ``manifest.json`` gives (model load,
the dataset's prediction and scoring, the worker's total, the attempt's wall time).
Results go to ``benchmarks/results/vs_vlmevalkit-cpu.{json,md}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
LAUNCHER = ROOT / "benchmarks" / "vlmevalkit_cpu.py"
BIN = Path(sys.executable).parent
MODEL = "tiny-vlm"
DATASET = "ShapesMCQ"
POLL_S = 0.005
VLMEVALKIT = "VLMEvalKit"


@dataclass
class Side:
    """One command of the comparison: how to start a run in ``work``, and read it back."""

    key: str
    label: str
    argv: Callable[[Path], list[str]]
    env: dict[str, str]
    first_prediction_files: Callable[[Path], list[Path]]
    outcome: Callable[[Path], dict[str, Any]]


@dataclass
class Run:
    wall_s: float
    first_prediction_s: float | None
    outcome: dict[str, Any] = field(default_factory=dict)


def schedule(keys: Sequence[str], runs: int, warmup: int = 1) -> list[tuple[str, bool]]:
    """The order of the runs: ``warmup`` unmeasured rounds, then ``runs`` measured ones,
    each round one run of every key in order. ``(key, measured)`` pairs."""
    return [(key, i >= warmup) for i in range(warmup + runs) for key in keys]


def summary(values: Sequence[float]) -> dict[str, Any]:
    return {
        "median_s": round(statistics.median(values), 3),
        "min_s": round(min(values), 3),
        "max_s": round(max(values), 3),
        "all_s": [round(v, 3) for v in values],
    }


def ratio(slower: float, faster: float) -> float:
    """How many times ``faster`` fits in ``slower``: VLMEvalKit's median over ours."""
    return round(slower / faster, 2)


def first_existing(paths: Sequence[Path]) -> bool:
    for path in paths:
        try:
            if path.stat().st_size > 0:
                return True
        except FileNotFoundError:
            continue
    return False


def time_run(side: Side, work: Path) -> Run:
    """Start ``side`` in the fresh directory ``work``; its wall time and first prediction."""
    work.mkdir(parents=True)
    probes = side.first_prediction_files(work)
    log = work / "log.txt"
    with log.open("wb") as out:
        started = time.monotonic()
        process = subprocess.Popen(
            side.argv(work), stdout=out, stderr=subprocess.STDOUT, env=side.env, cwd=work
        )
        first = None
        while process.poll() is None:
            if first is None and first_existing(probes):
                first = time.monotonic() - started
            time.sleep(POLL_S)
        wall = time.monotonic() - started
    if first is None and first_existing(probes):
        first = wall  # it appeared between the last poll and the exit
    if process.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{side.label} exited {process.returncode} in {work}:\n{tail}")
    return Run(wall, first, side.outcome(work))


# ---- ours ---------------------------------------------------------------------------------


def ours(nproc: int, data_dir: Path) -> Side:
    def argv(work: Path) -> list[str]:
        return [
            str(BIN / "vlmeval"), "eval", "--model", MODEL, "--data", DATASET,
            "--device", "cpu", "--nproc", str(nproc), "--data-dir", str(data_dir),
            "--output", str(work / "outputs"), "--run-name", work.name, "--quiet",
        ]  # fmt: skip

    def run_dir(work: Path) -> Path:
        return work / "outputs" / MODEL / work.name

    def outcome(work: Path) -> dict[str, Any]:
        scores = json.loads((run_dir(work) / DATASET / "scores.json").read_text())
        manifest = json.loads((run_dir(work) / "manifest.json").read_text())
        return {
            "accuracy": scores["overall"],
            "items": scores["n"],
            "manifest_wall_s": manifest["wall_s"],
        }

    default = " (the CPU default)" if nproc == 1 else ""
    return Side(
        key=f"ours-nproc{nproc}",
        label=f"ours, --nproc {nproc}{default}",
        argv=argv,
        env=dict(os.environ),
        first_prediction_files=lambda work: [
            run_dir(work) / DATASET / ".shards" / f"rank-{r}.jsonl" for r in range(nproc)
        ],
        outcome=outcome,
    )


# ---- VLMEvalKit -----------------------------------------------------------------------------


def vlmevalkit(bench_python: Path, data_dir: Path, max_new_tokens: int, model_dir: Path) -> Side:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MMEVAL_ROOT")}
    env["LMUData"] = str(data_dir)

    def argv(work: Path) -> list[str]:
        return [
            str(bench_python), str(LAUNCHER), "--model-path", str(model_dir),
            "--max-new-tokens", str(max_new_tokens),
            "--first-prediction", str(work / "first-prediction"),
            "--", "--data", DATASET, "--model", MODEL, "--work-dir", str(work / "outputs"),
            "--judge", "exact_matching",
        ]  # fmt: skip

    def outcome(work: Path) -> dict[str, Any]:
        import pandas as pd

        found = sorted((work / "outputs").rglob(f"{MODEL}_{DATASET}_acc.csv"))
        predictions = sorted((work / "outputs").rglob(f"{MODEL}_{DATASET}.xlsx"))
        if not found or not predictions:  # run.py logs a failed dataset and exits 0
            tail = (work / "log.txt").read_text(errors="replace")[-3000:]
            raise SystemExit(f"VLMEvalKit wrote no result in {work}:\n{tail}")
        with found[0].open(newline="") as handle:
            overall = next(csv.DictReader(handle))["Overall"]
        frame = pd.read_excel(predictions[0])
        return {"accuracy": float(overall), "items": int(frame["prediction"].notna().sum())}

    return Side(
        key="vlmevalkit",
        label=f"{VLMEVALKIT} run.py (nvidia-vlmeval 26.3)",
        argv=argv,
        env=env,
        first_prediction_files=lambda work: [work / "first-prediction"],
        outcome=outcome,
    )


# ---- report -------------------------------------------------------------------------------


def aggregate(side: Side, runs: list[Run]) -> dict[str, Any]:
    firsts = [r.first_prediction_s for r in runs if r.first_prediction_s is not None]
    row: dict[str, Any] = {
        "label": side.label,
        "argv": side.argv(Path("<work>")),
        "runs": len(runs),
        "end_to_end": summary([r.wall_s for r in runs]),
        "first_prediction": summary(firsts) if firsts else None,
        "accuracy": sorted({round(r.outcome["accuracy"], 4) for r in runs}),
        "items": sorted({r.outcome["items"] for r in runs}),
    }
    walls = [r.outcome["manifest_wall_s"] for r in runs if "manifest_wall_s" in r.outcome]
    if walls:
        row["manifest_wall_s_median"] = {
            key: round(statistics.median(w[key] for w in walls), 3) for key in walls[0]
        }
    row["argv"] = [_shown(a) for a in row["argv"]]
    return row


def _shown(arg: str) -> str:
    """Paths inside the checkout relative to it, so results carry no machine's layout."""
    path = Path(arg)
    if path.is_absolute() and path.is_relative_to(ROOT):
        return str(path.relative_to(ROOT))
    return arg


def compare(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """VLMEvalKit's median over each of ours: end to end and to the first prediction."""
    theirs = rows["vlmevalkit"]
    out = {}
    for key, row in rows.items():
        if key == "vlmevalkit":
            continue
        first = None
        if row["first_prediction"] and theirs["first_prediction"]:
            first = ratio(
                theirs["first_prediction"]["median_s"], row["first_prediction"]["median_s"]
            )
        out[key] = {
            "end_to_end": ratio(theirs["end_to_end"]["median_s"], row["end_to_end"]["median_s"]),
            "first_prediction": first,
        }
    return out


def _spread(stats: dict[str, Any] | None) -> str:
    if stats is None:
        return "—"
    return f"{stats['median_s']:.2f} ({stats['min_s']:.2f}–{stats['max_s']:.2f})"


def _times(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [
        f"# End to end against VLMEvalKit ({report['device']})",
        "",
        f"{report['items']} items of {DATASET} with the bundled {MODEL}, max_new_tokens "
        f"{report['max_new_tokens']} · torch {env['torch']} · transformers "
        f"{env['transformers']} · nvidia-vlmeval {env['nvidia_vlmeval']} · Python "
        f"{env['python']} · {env['cpus']} CPUs · load average {env['load_average_before'][0]:.2f} "
        f"before, {env['load_average_after'][0]:.2f} after · {env['date_utc']} · commit "
        f"{env['git_commit'] or 'unknown'}",
        "",
        f"Interleaved: one warm-up run of each, then {report['runs']} rounds of one run of "
        "each; wall time of a fresh process tree, from just before its start to its exit, "
        "and to the first prediction (a file polled every 5 ms: ours, the first checkpoint "
        "line, after a batch of 32; VLMEvalKit, a marker written when its first generate(), "
        "one item, returns). Medians (min–max).",
        "",
        "| command | end to end (s) | × VLMEvalKit | first prediction (s) | × VLMEvalKit "
        "| accuracy | items |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, row in report["results"].items():
        speed = report["speedup"].get(key, {"end_to_end": 1.0, "first_prediction": 1.0})
        lines.append(
            f"| {row['label']} | {_spread(row['end_to_end'])} | {_times(speed['end_to_end'])} "
            f"| {_spread(row['first_prediction'])} | {_times(speed['first_prediction'])} "
            f"| {', '.join(f'{a:.4f}' for a in row['accuracy'])} "
            f"| {', '.join(str(n) for n in row['items'])} |"
        )
    lines += ["", "× VLMEvalKit: VLMEvalKit's median time over the row's (above 1: faster)."]
    ours_rows = [row for row in report["results"].values() if "manifest_wall_s_median" in row]
    if ours_rows:
        lines += [
            "",
            "Ours, from each run's `manifest.json` (medians, s): the attempt (claim to the "
            "ranks' end), the worker's run (after its own imports), the dataset (its "
            "preparation, torch's import at the first barrier, prediction and scoring, the "
            "model's load included), the model's load.",
            "",
            "| command | end to end | attempt | worker run | dataset | model load |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for row in ours_rows:
            wall = row["manifest_wall_s_median"]
            lines.append(
                f"| {row['label']} | {row['end_to_end']['median_s']:.2f} "
                f"| {wall['all_attempts']:.2f} | {wall['total']:.2f} | {wall[DATASET]:.2f} "
                f"| {wall['model_load']:.2f} |"
            )
    if report.get("baselines"):
        lines += ["", "Fresh processes that do only this, for scale (median of 3, s):", ""]
        lines += [f"- `{name}`: {value:.2f}" for name, value in report["baselines"].items()]
    if report.get("notes"):
        lines += ["", report["notes"]]
    return "\n".join(lines) + "\n"


# ---- main ---------------------------------------------------------------------------------


def bench_versions(bench_python: Path) -> dict[str, str]:
    code = (
        "import json, importlib.metadata as m; "
        "print(json.dumps({p: m.version(p) for p in ('nvidia-vlmeval', 'qwen-vl-utils')}))"
    )
    done = subprocess.run(
        [str(bench_python), "-c", code], capture_output=True, text=True, check=True, cwd="/"
    )
    return json.loads(done.stdout)


FLOOR = (
    "import torch\n"
    "from transformers import AutoModelForImageTextToText, AutoProcessor\n"
    "AutoProcessor.from_pretrained({model!r})\n"
    "AutoModelForImageTextToText.from_pretrained({model!r})\n"
)
"""What any in-process transformers run pays before it can predict: torch's and
transformers' imports (its image utilities import torchvision, and through it
``torch._dynamo``) and tiny-vlm's processor and model."""


def baseline(argv: list[str], env: dict[str, str], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run(argv, env=env, capture_output=True, check=True, cwd="/")
        times.append(time.monotonic() - started)
    return round(statistics.median(times), 3)


def git_commit() -> str | None:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout.strip() or None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured rounds")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first")
    parser.add_argument(
        "--ours-nproc", type=int, nargs="+", default=[1], help="a row of ours per value"
    )
    parser.add_argument(
        "--bench-python", type=absolute, default=ROOT / ".bench-venv" / "bin" / "python",
        help="the python of the venv with VLMEvalKit (make .bench-venv/.installed)",
    )  # fmt: skip
    parser.add_argument("--no-baselines", action="store_true", help="skip the import timings")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--notes", default="", help="a sentence about the machine, kept in both")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    return parser.parse_args(argv)


def absolute(path: str) -> Path:
    """PATH from where the benchmark was started (each run has its own working directory);
    not resolved: a venv's python is a symlink that must keep its venv."""
    return Path(path).absolute()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.bench_python.exists():
        raise SystemExit(f"{args.bench_python} not found: run `make .bench-venv/.installed`")

    import torch
    import transformers

    from vlmeval_core.datasets import shapes
    from vlmeval_core.datasets.tsv import load_tsv
    from vlmeval_core.files import write_atomic, write_json
    from vlmeval_core.models.registry import MODELS, TINY_VLM_DIR

    spec = MODELS[MODEL]
    scratch = Path(tempfile.mkdtemp(prefix="vlmeval-vs-vlmevalkit-"))
    data_dir = scratch / "data"
    items = len(load_tsv(shapes.write_tsv(DATASET, data_dir), DATASET))
    sides = [ours(n, data_dir) for n in args.ours_nproc]
    sides.append(vlmevalkit(args.bench_python, data_dir, spec.max_new_tokens, TINY_VLM_DIR))
    by_key = {side.key: side for side in sides}

    load_before = os.getloadavg()
    timed: dict[str, list[Run]] = {side.key: [] for side in sides}
    for number, (key, measured) in enumerate(schedule(list(by_key), args.runs, args.warmup)):
        run = time_run(by_key[key], scratch / f"run-{number:02d}-{key}")
        first = "—" if run.first_prediction_s is None else f"{run.first_prediction_s:.2f}"
        print(
            f"{'run' if measured else 'warm-up'} {number}: {by_key[key].label}: "
            f"{run.wall_s:.2f} s, first prediction {first} s, accuracy "
            f"{run.outcome['accuracy']:.4f} on {run.outcome['items']}",
            flush=True,
        )
        if measured:
            timed[key].append(run)
    load_after = os.getloadavg()

    baselines = {}
    if not args.no_baselines:
        baselines['python -c "import torch"'] = baseline(
            [sys.executable, "-c", "import torch"], dict(os.environ)
        )
        baselines['python -c "import vlmeval" (VLMEvalKit)'] = baseline(
            [str(args.bench_python), "-c", "import vlmeval"], by_key["vlmevalkit"].env
        )
        # The floor of any run that loads the model in process with transformers: what
        # both sides pay before their first prediction, whatever surrounds it.
        baselines["import torch and transformers, from_pretrained tiny-vlm"] = baseline(
            [sys.executable, "-c", FLOOR.format(model=str(TINY_VLM_DIR))], dict(os.environ)
        )

    rows = {key: aggregate(by_key[key], runs) for key, runs in timed.items()}
    report: dict[str, Any] = {
        "benchmark": "vs_vlmevalkit",
        "device": "cpu",
        "model": MODEL,
        "dataset": DATASET,
        "items": items,
        "max_new_tokens": spec.max_new_tokens,
        "batch_size_ours": spec.batch_size,
        "runs": args.runs,
        "warmup": args.warmup,
        "order": [key for key, _ in schedule(list(by_key), args.runs, args.warmup)],
        "environment": {
            "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "git_commit": git_commit(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "nvidia_vlmeval": bench_versions(args.bench_python)["nvidia-vlmeval"],
            "qwen_vl_utils": bench_versions(args.bench_python)["qwen-vl-utils"],
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
        },
        "results": rows,
        "speedup": compare(rows),
        "baselines": baselines,
        "notes": args.notes,
    }
    stem = args.out / "vs_vlmevalkit-cpu"
    write_json(stem.with_suffix(".json"), report)
    write_atomic(stem.with_suffix(".md"), markdown(report))
    print(markdown(report))
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
