"""benchmarks/vs_vlmevalkit.py's pure parts: the interleaved order, medians, ratios, the
report, and the timing of a fake command (no timed assertions). VLMEvalKit itself is not
needed: its launcher is only parsed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = load("vs_vlmevalkit")


def test_runs_are_interleaved_after_one_warm_up_of_each():
    assert bench.schedule(["ours", "theirs"], runs=2) == [
        ("ours", False),
        ("theirs", False),
        ("ours", True),
        ("theirs", True),
        ("ours", True),
        ("theirs", True),
    ]
    assert bench.schedule(["a"], runs=1, warmup=0) == [("a", True)]


def test_summary_and_ratio():
    stats = bench.summary([3.0, 1.0, 2.0, 10.0])
    assert stats == {"median_s": 2.5, "min_s": 1.0, "max_s": 10.0, "all_s": [3.0, 1.0, 2.0, 10.0]}
    assert bench.ratio(8.1, 3.6) == 2.25


def row(label: str, e2e: list[float], first: list[float] | None, **extra: object) -> dict:
    return {
        "label": label,
        "end_to_end": bench.summary(e2e),
        "first_prediction": bench.summary(first) if first else None,
        "accuracy": [0.95],
        "items": [240],
        **extra,
    }


def report() -> dict:
    wall = {"ShapesMCQ": 2.0, "model_load": 0.5, "total": 2.1, "all_attempts": 5.0}
    rows = {
        "ours-nproc1": row("ours, --nproc 1", [4.0, 5.0, 6.0], [2.0], manifest_wall_s_median=wall),
        "vlmevalkit": row("VLMEvalKit run.py", [10.0, 12.0, 11.0], [8.0]),
    }
    return {
        "device": "cpu",
        "items": 240,
        "max_new_tokens": 8,
        "runs": 3,
        "environment": {
            "torch": "2.14.1",
            "transformers": "5.23.0",
            "nvidia_vlmeval": "26.3",
            "python": "3.11.7",
            "cpus": 2,
            "load_average_before": [1.0, 1.0, 1.0],
            "load_average_after": [1.5, 1.0, 1.0],
            "date_utc": "2026-11-23T00:00:00Z",
            "git_commit": "abc1234",
        },
        "results": rows,
        "speedup": bench.compare(rows),
        "baselines": {'python -c "import torch"': 2.5},
        "notes": "",
    }


def test_speedup_is_vlmevalkits_median_over_ours():
    assert bench.compare(report()["results"]) == {
        "ours-nproc1": {"end_to_end": 2.2, "first_prediction": 4.0}
    }


def test_the_report_has_a_row_per_command_with_its_ratio_and_ours_breakdown():
    text = bench.markdown(report())
    expected = (
        "| ours, --nproc 1 | 5.00 (4.00–6.00) | 2.20 | 2.00 (2.00–2.00) | 4.00 | 0.9500 | 240 |"
    )
    assert expected in text
    assert "| VLMEvalKit run.py | 11.00 (10.00–12.00) | 1.00 |" in text
    assert "| ours, --nproc 1 | 5.00 | 5.00 | 2.10 | 2.00 | 0.50 |" in text
    assert '`python -c "import torch"`: 2.50' in text


def test_a_run_is_timed_to_its_exit_and_to_the_first_prediction_file(tmp_path):
    script = (
        "import pathlib, time; time.sleep(0.05); pathlib.Path('answer').write_text('A');"
        " time.sleep(0.1)"
    )
    side = bench.Side(
        key="fake",
        label="fake",
        argv=lambda work: [sys.executable, "-c", script],
        env={},
        first_prediction_files=lambda work: [work / "nothing", work / "answer"],
        outcome=lambda work: {"accuracy": 1.0, "items": 1, "answer": (work / "answer").read_text()},
    )
    run = bench.time_run(side, tmp_path / "run")
    assert run.first_prediction_s is not None and 0 < run.first_prediction_s <= run.wall_s
    assert run.outcome["answer"] == "A"


def test_the_vlmevalkit_launcher_passes_everything_after_the_separator_to_run_py():
    launcher = load("vlmevalkit_cpu")
    args, run_args = launcher.parse(
        ["--model-path", "m", "--max-new-tokens", "8", "--", "--data", "ShapesMCQ"]
    )
    assert (str(args.model_path), args.max_new_tokens, args.first_prediction) == ("m", 8, None)
    assert run_args == ["--data", "ShapesMCQ"]


def test_a_relative_bench_python_is_taken_from_where_the_benchmark_starts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = bench.parse_args(["--bench-python", ".bench-venv/bin/python"])
    assert args.bench_python == tmp_path / ".bench-venv" / "bin" / "python"
