"""summary.md: the overall table with intervals, then each dataset's group tables; stdout
shows the overall table only."""

from __future__ import annotations

import random

import pandas as pd

import parity_inputs as rows_of
from vlmeval_core.report import write_summary
from vlmeval_core.run_summary import print_summary
from vlmeval_core.scoring import TABLE, score_dataset
from vlmeval_core.scoring.driver import score_frame


def _metric(name: str):
    return next(m for m in TABLE if m.name == name)


def _mcq_scores() -> dict:
    frame = pd.DataFrame(rows_of.mcq_rows(random.Random(1), 120, ("dev", "test")))
    return score_dataset("mcq", frame).scores


def test_the_overall_table_gives_each_score_with_its_interval(tmp_path):
    scores = _mcq_scores()
    write_summary(tmp_path, "m", "r", {"MMB": scores})
    low, high = scores["overall_ci"]

    row = f"| MMB | accuracy | {scores['overall'] * 100:.1f}% | {low * 100:.1f}–{high * 100:.1f}% |"
    assert row in (tmp_path / "summary.md").read_text()
    summary = (tmp_path / "summary.json").read_text()
    assert '"overall_ci": [' in summary


def test_each_dataset_has_its_split_and_category_tables_with_intervals(tmp_path):
    scores = _mcq_scores()
    write_summary(tmp_path, "m", "r", {"MMB": scores})
    page = (tmp_path / "summary.md").read_text()
    section = page.split("\n## MMB\n", 1)[1]

    assert f"- unparsed answers (given, not readable): {scores['unparsed']}" in section
    assert "- item errors (no answer; predictions.jsonl says why): 0" in section
    assert (
        section.index("| split | score | 95% CI |")
        < section.index("| l2-category | score | 95% CI |")
        < section.index("| category | score | 95% CI |")
    )
    for category, value in scores["by_category"].items():
        low, high = scores["by_category_ci"][category]
        cells = f"| {category} | {value * 100:.1f}% | {low * 100:.1f}–{high * 100:.1f}% |"
        assert cells in section


def test_a_group_of_several_figures_gets_a_column_each(tmp_path):
    rows = rows_of.hallusion_rows(random.Random(2), 120)
    scores = score_frame(_metric("hallusion_accuracy"), pd.DataFrame(rows)).scores
    write_summary(tmp_path, "m", "r", {"HallusionBench": scores})
    page = (tmp_path / "summary.md").read_text()

    assert "| category | aAcc | 95% CI | fAcc | 95% CI | qAcc | 95% CI |" in page
    vd, vd_ci = scores["by_category"]["VD"], scores["by_category_ci"]["VD"]
    low, high = vd_ci["fAcc"]
    assert f"| {vd['fAcc'] * 100:.1f}% | {low * 100:.1f}–{high * 100:.1f}% |" in page


def test_points_stay_points_in_every_table(tmp_path):
    scores = score_frame(
        _metric("mme_score"), pd.DataFrame(rows_of.mme_rows(random.Random(3), 5))
    ).scores
    write_summary(tmp_path, "m", "r", {"MME": scores})
    page = (tmp_path / "summary.md").read_text()
    low, high = scores["by_category_ci"]["OCR"]

    assert f"| OCR | {scores['by_category']['OCR']:.1f} | {low:.1f}–{high:.1f} |" in page
    assert f"{scores['overall']:.1f} / 2800" in page


def test_stdout_shows_the_overall_table_and_not_the_sections(tmp_path, capsys):
    write_summary(tmp_path, "m", "r", {"MMB": _mcq_scores()})

    print_summary(tmp_path, environ={})
    out = capsys.readouterr().out

    assert "| dataset | metric | score | 95% CI | n | unparsed | errors |" in out
    assert "| MMB | accuracy |" in out
    assert "## MMB" not in out and "| category |" not in out
    assert out.endswith(f"results in {tmp_path}\n")
    print_summary(tmp_path, environ={"VLMEVAL_QUIET": "1"})
    assert capsys.readouterr().out == ""


def test_a_hostile_category_name_cannot_break_the_table(tmp_path):
    scores = {
        "metric": "accuracy",
        "overall": 0.5,
        "n": 2,
        "unparsed": 0,
        "errors": 0,
        "by_category": {"a|b\n## not a heading": 0.5},
    }
    write_summary(tmp_path, "m", "r", {"D": scores})
    page = (tmp_path / "summary.md").read_text()

    assert "| a\\|b ## not a heading | 50.0% | — |" in page
    assert [line for line in page.splitlines() if line.startswith("## ")] == ["## D"]
