"""--suite openvlm: the leaderboard's eight columns, the dataset and figure each is read from,
the 0-100 scale, the average and what it could not compute; the launch's checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from vlmeval_core import suites
from vlmeval_core.datasets.registry import DATASETS
from vlmeval_launcher.eval_flags import Suite

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")
OPENVLM = ("MMBench_V11", "MMStar", "MMMU_VAL", "MathVista", "OCRBench", "AI2D",
           "HallusionBench", "MMVet")  # fmt: skip


def test_the_flag_s_choices_are_the_suites_and_every_part_is_registered():
    assert set(get_args(Suite)) == set(suites.SUITES)
    assert tuple(p.column for p in suites.SUITES["openvlm"]) == OPENVLM
    assert all(p.dataset in DATASETS for p in suites.SUITES["openvlm"])


SCORES = {
    "MMBench_DEV_EN_V11": {"overall": 0.70},
    "MMStar": {"overall": 0.50},
    "MMMU_DEV_VAL": {"overall": 0.40},
    "MathVista_MINI": {"overall": 0.30},
    "OCRBench": {"overall": 600},
    "AI2D_TEST": {"overall": 0.80},
    "HallusionBench": {"overall": 0.45, "aAcc": 0.6},
    "MMVet": {"overall": 0.35},
}


def test_the_openvlm_board_scales_each_column_and_names_what_it_cannot_compute(tmp_path):
    board = suites.write_leaderboard(tmp_path, "openvlm", SCORES)

    scores = {k: v["score"] for k, v in board["columns"].items()}
    assert scores == pytest.approx(
        {
            "MMStar": 50,
            "MMMU_VAL": 40,
            "MathVista": 30,
            "OCRBench": 60,
            "AI2D": 80,
            "HallusionBench": 45,
            "MMVet": 35,
        }
    )
    assert board["missing"] == ["MMBench_V11"] and board["average"] is None
    assert board["stand_ins"]["MMBench_V11"]["score"] == pytest.approx(70)
    assert board["partial_average"] == pytest.approx(340 / 7) and board["partial_of"] == 7
    assert json.loads((tmp_path / suites.LEADERBOARD_FILE).read_text()) == board
    assert suites.leaderboard_line(board) == (
        "openvlm average not computed: MMBench_V11 missing; mean of the other 7: 48.57"
    )


def test_an_unscored_dataset_is_missing_and_a_full_board_has_its_average(monkeypatch):
    partial = suites.leaderboard("openvlm", {k: v for k, v in SCORES.items() if k != "MMVet"})
    assert partial["missing"] == ["MMBench_V11", "MMVet"] and partial["partial_of"] == 6
    public = tuple(p for p in suites.SUITES["openvlm"] if p.public)
    monkeypatch.setitem(suites.SUITES, "openvlm", public)
    full = suites.leaderboard("openvlm", SCORES)
    assert full["average"] == pytest.approx(340 / 7) and full["missing"] == []
    assert suites.leaderboard_line(full) == "openvlm average 48.57 over all its columns"


def eval_(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VLMEVAL, "eval", "-m", "tiny-vlm", "--device", "cpu", "--run-name", "s",
         "-o", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data"), "--dry-run", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip


def test_a_dry_run_of_the_suite_lists_its_eight_sets_and_the_judge(tmp_path):
    done = eval_(tmp_path, "--suite", "openvlm", "--judge", "gpt-4o-mini")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout[: done.stdout.rindex("}") + 1])
    assert [d["name"] for d in plan["datasets"]] == suites.suite_datasets("openvlm")
    assert plan["suite"] == "openvlm" and plan["judge"]["model"] == "gpt-4o-mini"
    (line,) = [x for x in done.stderr.splitlines() if "suite openvlm:" in x]
    assert all(f"{p.column} <- {p.dataset}" in line for p in suites.SUITES["openvlm"])
    assert line.endswith("judge: gpt-4o-mini at https://api.openai.com/v1")


def test_the_suite_needs_a_judge_and_no_other_datasets(tmp_path):
    without = eval_(tmp_path, "--suite", "openvlm")
    assert without.returncode == 2 and "MathVista_MINI, MMVet can only be scored" in without.stderr
    both = eval_(tmp_path, "--suite", "openvlm", "-d", "MMStar", "--judge", "j")
    assert both.returncode == 2 and "leave out -d" in both.stderr
    neither = eval_(tmp_path)
    assert neither.returncode == 2 and "--data names no dataset" in neither.stderr
