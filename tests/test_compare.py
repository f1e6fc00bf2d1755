"""``vlmeval compare`` (issue 23, part 3): runs built by the real scoring and writing code,
differing in known items, compared with the first; McNemar's p-value by hand."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import replace
from math import comb
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import make_plan
from test_intervals import RULE_METRICS, metric_rows
from vlmeval_core.compare import compare_markdown, compare_runs
from vlmeval_core.datasets import shapes
from vlmeval_core.datasets.tsv import load_tsv
from vlmeval_core.evaluate import evaluate_dataset
from vlmeval_core.identity import run_identity, write_identity
from vlmeval_core.report import write_dataset_results
from vlmeval_core.scoring import score_dataset
from vlmeval_core.scoring.driver import score_frame
from vlmeval_launcher.cli import main

N = 30
"""Items of the Shapes set; item p is about shapes.CATEGORIES[p % 3]."""
RIGHT_A = set(range(20))
RIGHT_B = set(range(13)) | {20, 21}
"""A alone is right on items 13..19 (b = 7), B alone on 20 and 21 (c = 2)."""


def mcnemar_by_hand(b: int, c: int) -> float:
    """The exact two-sided binomial test of b against n = b + c at p = 1/2: twice the
    probability of a count at most min(b, c), at most 1."""
    n = b + c
    return min(1.0, 2 * sum(comb(n, k) for k in range(min(b, c) + 1)) / 2**n)


def shapes_table(directory: Path, retitled: bool = False) -> Path:
    """A Shapes MCQ TSV of N items; ``retitled``: one question reworded (another md5)."""
    frame = shapes.generate("ShapesMCQ", n=N)
    if retitled:
        frame.loc[0, "question"] = "Which colour is the shape?"
    directory.mkdir(parents=True, exist_ok=True)
    frame.to_csv(directory / "Shapes.tsv", sep="\t", index=False)
    return directory / "Shapes.tsv"


def shapes_run(
    root: Path, name: str, right: set[int], table: Path, limit: int | None = None
) -> Path:
    """A run directory as ``vlmeval eval`` leaves it: identity.json as the launch writes it,
    then Shapes evaluated from predictions right on the items at positions ``right``."""
    plan = make_plan(root / name, [f"{table}:mcq"], run_name=name)
    write_identity(plan.run_dir, run_identity(plan).to_dict())
    dataset = load_tsv(table, "Shapes", "mcq")
    if limit is not None:
        dataset = replace(dataset, frame=dataset.frame.iloc[:limit])
    answers = list(dataset.frame["answer"])
    predictions = pd.DataFrame(
        {
            "index": dataset.frame["index"],
            "prediction": [
                a if p in right else ("B" if a == "A" else "A") for p, a in enumerate(answers)
            ],
        }
    )
    evaluate_dataset(dataset, predictions, plan.run_dir, "tiny-vlm", "test predictions")
    return plan.run_dir


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runs")
    table = shapes_table(root / "data")
    return shapes_run(root, "a", RIGHT_A, table), shapes_run(root, "b", RIGHT_B, table)


def figure(comparison: dict, *path: str) -> dict:
    return next(f for f in comparison["figures"] if f["figure"] == list(path))


def test_two_runs_differing_in_known_items_get_mcnemars_exact_p_value(two_runs):
    document = compare_runs(list(two_runs))
    (compared,) = document["comparisons"]
    overall = figure(compared, "overall")

    assert document["warnings"] == [] and compared["items"] == {
        "paired": N,
        "only_baseline": 0,
        "only_run": 0,
    }
    assert overall["test"] == "McNemar exact"
    assert overall["discordant"] == {"baseline_only": 7, "run_only": 2}
    assert overall["p_value"] == pytest.approx(mcnemar_by_hand(7, 2))  # 2 * 46 / 512
    assert mcnemar_by_hand(7, 2) == pytest.approx(0.1796875)
    assert overall["difference"] == pytest.approx((15 - 20) / N)
    low, high = overall["ci"]
    assert low < overall["difference"] < high < 0.05
    assert overall["baseline"]["score"] == pytest.approx(20 / N)
    assert overall["run"]["score"] == pytest.approx(15 / N)
    assert overall["baseline"]["ci"][0] < 20 / N < overall["baseline"]["ci"][1]

    for position, category in enumerate(shapes.CATEGORIES):
        items = set(range(position, N, 3))
        b, c = len(items & RIGHT_A - RIGHT_B), len(items & RIGHT_B - RIGHT_A)
        row = figure(compared, "by_category", category)
        assert row["discordant"] == {"baseline_only": b, "run_only": c}, category
        assert row["p_value"] == pytest.approx(mcnemar_by_hand(b, c)), category
        assert row["difference"] == pytest.approx(
            (len(items & RIGHT_B) - len(items & RIGHT_A)) / 10
        )


def test_the_markdown_has_a_row_per_figure_in_percent_with_the_test_named(two_runs):
    page = compare_markdown(compare_runs(list(two_runs)))

    assert "## Shapes: B against A (accuracy)" in page
    assert "| figure | A | B | B − A | 95% CI | p | test |" in page
    overall = next(line for line in page.splitlines() if line.startswith("| overall |"))
    assert "| 66.7% (" in overall and "| 50.0% (" in overall and "| -16.7 pp |" in overall
    assert "| 0.18 | McNemar exact |" in overall
    assert "| category: count |" in page and "| category: shape |" in page
    assert "baseline, A" in page


def test_a_differing_data_file_is_warned_about_naming_the_dataset_and_field(tmp_path, two_runs):
    other = shapes_run(tmp_path, "c", RIGHT_B, shapes_table(tmp_path / "data", retitled=True))
    baseline_md5 = json.loads((two_runs[0] / "identity.json").read_text())["datasets"]["Shapes"]
    other_md5 = json.loads((other / "identity.json").read_text())["datasets"]["Shapes"]

    document = compare_runs([two_runs[0], other])

    assert document["warnings"] == [
        f'Shapes: the runs\' md5 differs: A "{baseline_md5["md5"]}", B "{other_md5["md5"]}"'
    ]
    assert "- warning: Shapes: the runs' md5 differs" in compare_markdown(document)


def test_a_score_directory_is_compared_and_said_to_have_no_identity_to_check(tmp_path, two_runs):
    scored = tmp_path / "rescored"
    scored.mkdir()
    for name in ("predictions.jsonl", "scores.json"):
        (scored / "Shapes").mkdir(exist_ok=True)
        (scored / "Shapes" / name).write_bytes((two_runs[1] / "Shapes" / name).read_bytes())

    document = compare_runs([two_runs[0], scored])

    assert document["warnings"] == [
        f"B ({scored}) has no identity.json (a score directory): whether its datasets are the "
        "same data as A's could not be checked"
    ]
    assert figure(document["comparisons"][0], "overall")["discordant"]["baseline_only"] == 7


def test_items_only_one_run_has_are_left_out_and_counted(tmp_path, two_runs):
    table = shapes_table(tmp_path / "data")
    limited = shapes_run(tmp_path, "limited", RIGHT_B, table, limit=24)

    (compared,) = compare_runs([two_runs[0], limited])["comparisons"]
    overall = figure(compared, "overall")

    assert compared["items"] == {"paired": 24, "only_baseline": 6, "only_run": 0}
    # over the first 24 items: A is right on 0..19 (20), B on 0..12, 20, 21 (15)
    assert overall["difference"] == pytest.approx((15 - 20) / 24)
    assert overall["discordant"] == {"baseline_only": 7, "run_only": 2}
    assert overall["run"]["score"] == pytest.approx(15 / 24)  # as B's scores.json says


def partial_credit_run(directory: Path, predictions: list[str]) -> Path:
    """A score directory of an ANLS-scored VQA set (answers 'forty two')."""
    frame = pd.DataFrame(
        {
            "index": range(len(predictions)),
            "question": "What number is written?",
            "answer": "forty two",
            "prediction": predictions,
            "category": ["print", "hand"] * (len(predictions) // 2),
        }
    )
    write_dataset_results(directory, "m", "Numbers", score_dataset("vqa", frame, "anls"))
    return directory


def test_a_partial_credit_metric_gets_the_paired_bootstrap(tmp_path):
    baseline = partial_credit_run(tmp_path / "a", ["forty twu", "no idea"] * 20)  # 8/9, 0
    run = partial_credit_run(tmp_path / "b", ["forty two"] * 40)

    (compared,) = compare_runs([baseline, run])["comparisons"]
    overall = figure(compared, "overall")
    credits = [
        pd.read_json(d / "Numbers" / "predictions.jsonl", lines=True)["score"]
        for d in (baseline, run)
    ]

    assert overall["test"] == "paired bootstrap" and "discordant" not in overall
    assert overall["difference"] == pytest.approx(credits[1].mean() - credits[0].mean())
    assert credits[0].mean() == pytest.approx(4 / 9) and credits[1].mean() == 1
    low, high = overall["ci"]
    assert low < overall["difference"] < high
    assert overall["p_value"] == 0  # B is ahead on every item, so in every resample
    page = compare_markdown(compare_runs([baseline, run]))
    assert "| < 0.002 | paired bootstrap |" in page
    assert {tuple(f["figure"]) for f in compared["figures"]} == {
        ("overall",),
        ("by_category", "hand"),
        ("by_category", "print"),
    }


@pytest.mark.parametrize("metric", RULE_METRICS, ids=lambda m: f"{m.kind}-{m.name}")
def test_every_metric_s_runs_compare_from_their_files(tmp_path, metric):
    frame = pd.DataFrame(metric_rows(metric, random.Random(1)))
    worse = frame.assign(
        prediction=[p if i % 4 else "zzz" for i, p in enumerate(frame["prediction"])]
    )
    runs = [tmp_path / "a", tmp_path / "b"]
    scored = [score_frame(metric, f) for f in (frame, worse)]
    for run, result in zip(runs, scored, strict=True):
        write_dataset_results(run, "m", "Set", result)

    (compared,) = compare_runs(runs)["comparisons"]
    overall = figure(compared, "overall")

    assert overall["test"] == ("McNemar exact" if metric.resampling.hits else "paired bootstrap")
    assert overall["difference"] == pytest.approx(
        scored[1].scores["overall"] - scored[0].scores["overall"]
    )
    assert overall["difference"] < 0 and overall["ci"][0] <= overall["difference"]
    assert all(row["baseline"]["score"] is not None for row in compared["figures"])


def test_three_runs_are_each_compared_with_the_first_as_json(tmp_path, two_runs):
    third = shapes_run(tmp_path, "c", RIGHT_A, shapes_table(tmp_path / "data"))

    result = CliRunner().invoke(main, ["compare", *map(str, two_runs), str(third), "--json"])

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["baseline"] == "A"
    assert [(c["baseline"], c["run"]) for c in document["comparisons"]] == [("A", "B"), ("A", "C")]
    same = figure(document["comparisons"][1], "overall")
    assert same["difference"] == 0 and same["p_value"] == 1.0
    assert same["discordant"] == {"baseline_only": 0, "run_only": 0}
    assert [r["label"] for r in document["runs"]] == ["A", "B", "C"]


def test_datasets_only_some_runs_have_are_listed(tmp_path, two_runs):
    extra = partial_credit_run(tmp_path / "extra", ["forty two"] * 4)
    for name in ("predictions.jsonl", "scores.json"):
        (extra / "Shapes").mkdir(exist_ok=True)
        (extra / "Shapes" / name).write_bytes((two_runs[1] / "Shapes" / name).read_bytes())

    document = compare_runs([two_runs[0], extra])

    assert document["not_in_every_run"] == {"Numbers": ["B"]}
    assert [c["dataset"] for c in document["comparisons"]] == ["Shapes"]
    assert "- Numbers: only in B" in compare_markdown(document)


def test_the_command_prints_markdown(two_runs):
    result = CliRunner().invoke(main, ["compare", *map(str, two_runs)])

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# vlmeval compare\n")
    assert "| overall |" in result.stdout


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (lambda runs, tmp: [runs[0]], "at least two runs"),
        (lambda runs, tmp: [runs[0], tmp / "nowhere"], "nowhere: no such directory"),
        (lambda runs, tmp: [runs[0], tmp], "not a run directory or a vlmeval score output"),
        (
            lambda runs, tmp: [runs[0], partial_credit_run(tmp / "other", ["x", "y"])],
            "has no dataset in common with the baseline",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, two_runs, given, said):
    paths = [str(p) for p in given(two_runs, tmp_path)]

    result = CliRunner().invoke(main, ["compare", *paths])

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and said in result.stderr
    assert result.stderr.startswith("vlmeval: error: ")


def test_the_installed_command_exits_2_naming_the_path(tmp_path, two_runs):
    vlmeval = str(Path(sys.executable).parent / "vlmeval")
    missing = tmp_path / "no-such-run"

    done = subprocess.run(
        [vlmeval, "compare", str(two_runs[0]), str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        f"vlmeval: error: {missing}: no such directory (a run directory or a vlmeval score "
        "output)\n"
    )
