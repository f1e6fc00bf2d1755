"""`vlmeval report` (issue 23, point 4): one self-contained HTML page and its PNGs, from one
run or several; escaped, its thumbnails bounded, bad input one line and exit 2; and the page
in a real headless Chromium (tests/browser.py).

The runs here are written by the project's own writers (evaluate_dataset, write_summary) on
generated Shapes items with chosen answers; the slow test makes a real tiny-vlm run with
``vlmeval eval --report``.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from browser import chromium, open_page
from vlmeval_core.datasets import shapes, tsv
from vlmeval_core.datasets.tsv import load_tsv
from vlmeval_core.evaluate import evaluate_dataset
from vlmeval_core.files import write_json
from vlmeval_core.report import write_summary
from vlmeval_core.report_page import figures, page
from vlmeval_core.report_page.inputs import read_run
from vlmeval_core.report_page.thumbnails import THUMBNAIL_PX, Thumbnails

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
N = 24

needs_chromium = pytest.mark.skipif(chromium() is None, reason="no chromium (apt-get install)")


def vlmeval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VLMEVAL, *args], capture_output=True, text=True, timeout=300)


def make_run(root: Path, name: str, wrong: int, hostile: bool = False) -> Path:
    """A run directory of ShapesMCQ (``N`` items, the first ``wrong`` answered wrongly, item 1
    unparsed) and ShapesYN, through the writers a real run uses."""
    run_dir = root / "model" / name
    data_dir = root / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    scores, recorded = {}, {}
    for dataset_name in ("ShapesMCQ", "ShapesYN"):
        table = data_dir / f"{dataset_name}.tsv"
        if not table.exists():
            shapes.generate(dataset_name, n=N).to_csv(table, sep="\t", index=False)
        dataset = load_tsv(table, dataset_name)
        answers = [str(a) for a in dataset.frame["answer"]]
        other = {"Yes": "No", "No": "Yes"}
        predicted = [
            (other.get(a) or ("B" if a == "A" else "A")) if p < wrong else a
            for p, a in enumerate(answers)
        ]
        predicted[1] = HOSTILE if hostile else "I cannot tell"
        predictions = pd.DataFrame(
            {"index": dataset.frame["index"], "prediction": predicted, "error": None}
        )
        result = evaluate_dataset(dataset, predictions, run_dir, "model", table)
        scores[dataset_name] = result.scores
        recorded[dataset_name] = {"path": str(table), "md5": dataset.md5, "kind": dataset.kind}
    write_summary(run_dir, "model", name, scores)
    write_json(run_dir / "manifest.json", {"datasets": recorded})
    return run_dir


def test_the_report_writes_the_page_and_every_figure_it_names(tmp_path):
    run_dir = make_run(tmp_path, "one", wrong=5)
    done = vlmeval("report", str(run_dir))
    assert done.returncode == 0, done.stderr
    html_path = run_dir / "report" / "report.html"
    assert done.stdout == f"report in {html_path}\n"
    html = html_path.read_text(encoding="utf-8")
    named = sorted(set(re.findall(r'data-figure="([^"]+)"', html)))
    assert named == sorted(
        [
            "overall.png",
            "ShapesMCQ-category.png",
            "ShapesMCQ-confusion.png",
            "ShapesYN-category.png",
        ]
    )
    for file in named:
        with Image.open(run_dir / "report" / file) as image:
            assert image.format == "PNG" and image.width > 100
    assert "http://" not in html and "https://" not in html  # nothing to fetch at view time
    assert "1 of 24 answers unparsed (4.2%)" in html  # the MCQ's unparsed share


def test_a_hostile_prediction_is_text_on_the_page_never_markup(tmp_path):
    run_dir = make_run(tmp_path, "one", wrong=3, hostile=True)
    html = Path(page.write_report([run_dir])).read_text(encoding="utf-8")
    assert "<script" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_several_runs_side_by_side(tmp_path):
    first, second = make_run(tmp_path, "one", wrong=2), make_run(tmp_path, "two", wrong=12)
    out = tmp_path / "both"
    done = vlmeval("report", str(first), str(second), "-o", str(out))
    assert done.returncode == 0, done.stderr
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("<h3>model / one</h3>") == 2  # worst categories and wrong answers
    assert html.count("<h3>model / two</h3>") == 2
    assert "91.7%" in html and "50.0%" in html  # 2 and 12 of 24 wrong
    confusions = sorted(p.name for p in out.glob("ShapesMCQ-confusion*.png"))
    assert confusions == ["ShapesMCQ-confusion-2.png", "ShapesMCQ-confusion.png"]
    assert not (first / "report").exists()


def test_intervals_become_error_bars_when_scores_have_them(tmp_path):
    run_dir = make_run(tmp_path, "one", wrong=5)
    plain = figures.overall_figure(page.read_runs([run_dir]), ["ShapesMCQ", "ShapesYN"])
    scores_path = run_dir / "ShapesMCQ" / "scores.json"
    scores = json.loads(scores_path.read_text())
    scores["overall_ci"] = [0.61, 0.93]
    scores["by_category_ci"] = {name: [0.2, 0.9] for name in scores["by_category"]}
    scores_path.write_text(json.dumps(scores))
    with_bars = figures.overall_figure(page.read_runs([run_dir]), ["ShapesMCQ", "ShapesYN"])
    assert with_bars != plain
    html = Path(page.write_report([run_dir])).read_text(encoding="utf-8")
    assert "61.0–93.0%" in html and "20.0–90.0%" in html


def test_the_prompt_is_shown_when_predictions_have_it(tmp_path):
    run_dir = make_run(tmp_path, "one", wrong=N)
    items = run_dir / "ShapesYN" / "predictions.jsonl"
    lines = [json.loads(line) for line in items.read_text().splitlines()]
    for line in lines[::2]:
        line["prompt"] = f"Is it shape {line['index']}?"
    items.write_text("".join(json.dumps(line) + "\n" for line in lines))
    html = Path(page.write_report([run_dir])).read_text(encoding="utf-8")
    shown = {i for i in range(N) if f"Is it shape {i}?" in html}
    assert shown and all(i % 2 == 0 for i in shown)
    assert "<td>—</td>" in html  # an item without one


def test_thumbnails_are_small_and_an_image_over_the_pixel_budget_gives_none(tmp_path, monkeypatch):
    big = Image.new("RGB", (1200, 900), "red")
    buffer = io.BytesIO()
    big.save(buffer, format="PNG")
    frame = shapes.generate("ShapesMCQ", n=2)
    frame.loc[0, "image"] = base64.b64encode(buffer.getvalue()).decode("ascii")
    table = tmp_path / "Big.tsv"
    frame.to_csv(table, sep="\t", index=False)
    md5 = load_tsv(table).md5
    thumbnail = Thumbnails("Big", table, md5, "mcq").of(int(frame["index"][0]))
    assert thumbnail.uri is not None and thumbnail.uri.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(thumbnail.uri.split(",", 1)[1]))) as image:
        assert max(image.size) == THUMBNAIL_PX
    monkeypatch.setattr(tsv, "MAX_IMAGE_PIXELS", 1000)
    refused = Thumbnails("Big", table, md5, "mcq").of(int(frame["index"][0]))
    assert refused.uri is None and "over the budget of 1,000 pixels" in refused.note
    changed = Thumbnails("Big", table, "0" * 32, "mcq").of(int(frame["index"][0]))
    assert changed.uri is None and "has changed since the run" in changed.note


def test_a_score_directory_is_read_like_a_run(tmp_path):
    run_dir = make_run(tmp_path, "one", wrong=5)
    (run_dir / "summary.json").unlink()
    read = read_run(run_dir)
    assert read.label == "one" and list(read.datasets) == ["ShapesMCQ", "ShapesYN"]
    assert read.datasets["ShapesMCQ"].is_mcq() and not read.datasets["ShapesYN"].is_mcq()


@pytest.mark.parametrize("case", ["missing", "empty", "no datasets", "broken scores"])
def test_bad_input_is_one_line_naming_the_path_and_exit_2(tmp_path, case):
    target = tmp_path / "run"
    if case != "missing":
        target.mkdir()
    if case == "no datasets":
        (target / "summary.json").write_text('{"model": "m", "run": "r", "datasets": {}}')
    if case == "broken scores":
        target = make_run(tmp_path, "one", wrong=1)
        (target / "ShapesYN" / "scores.json").write_text("{not json")
    done = vlmeval("report", str(target))
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"vlmeval: error: {target}")
    assert "Traceback" not in done.stderr


@needs_chromium
def test_the_hostile_page_runs_no_script_in_a_browser(tmp_path):
    run_dir = make_run(tmp_path, "one", wrong=3, hostile=True)
    seen = open_page(page.write_report([run_dir]))
    assert seen.console_errors == [] and seen.failed_requests == []
    assert seen.scripts == 0
    assert seen.image_widths and all(width > 0 for width in seen.image_widths)


@pytest.mark.slow
@needs_chromium
def test_a_real_run_with_report_opens_in_chromium_with_every_figure(workspace):
    done = vlmeval(
        "eval", "--device", "cpu", "--nproc", "1", "--model", "tiny-vlm",
        "--data", "ShapesMCQ", "--data", "ShapesVQA", "--run-name", "r", "--quiet", "--report",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = workspace / "outputs" / "tiny-vlm" / "r" / "report" / "report.html"
    assert f"report in {report}" in done.stderr
    seen = open_page(report)
    assert seen.console_errors == [] and seen.failed_requests == []
    assert len(seen.image_widths) > len(seen.figures) >= 4  # figures and thumbnails
    assert all(width > 0 for width in seen.image_widths)
    assert all((report.parent / name).is_file() for name in seen.figures)
