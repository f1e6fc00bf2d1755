"""One dataset evaluated from its predictions by one function (issue 18, point 1): rank 0's
merge after a run and ``vlmeval score`` both call :func:`vlmeval_core.evaluate.evaluate_dataset`,
so the same predictions give the same result files, whichever way they arrive."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import make_plan
from vlmeval_core import evaluate
from vlmeval_core.datasets import shapes
from vlmeval_core.datasets.tsv import load_tsv
from vlmeval_core.errors import RuntimeFailure, UsageError
from vlmeval_core.merge import merge_and_score
from vlmeval_launcher import score

ANSWERS = ["A", "B", "C", "A", "Z", "D"]
"""One prediction per item, an unparsable one among them; item 5 failed."""


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """The datasets ``evaluate_dataset`` was called for, by either path."""
    seen: list[str] = []
    original = evaluate.evaluate_dataset

    def recording(dataset, *args, **kwargs):
        seen.append(dataset.name)
        return original(dataset, *args, **kwargs)

    monkeypatch.setattr(evaluate, "evaluate_dataset", recording)
    monkeypatch.setattr(score, "evaluate_dataset", recording)
    return seen


def shapes_tsv(tmp_path: Path) -> Path:
    table = tmp_path / "Shapes.tsv"
    shapes.generate("ShapesMCQ", n=len(ANSWERS)).to_csv(table, sep="\t", index=False)
    return table


def merged(tmp_path: Path, table: Path) -> Path:
    """The run's result directory after rank 0's merge of two ranks' checkpoints."""
    plan = make_plan(tmp_path, [f"{table}:mcq"])
    dataset = load_tsv(table, "Shapes", "mcq")
    out = plan.run_dir / "Shapes"
    (out / ".shards").mkdir(parents=True)
    for rank in (0, 1):
        lines = [
            {"index": int(i), "prediction": text, "error": "failed" if p == 5 else None}
            for p, (i, text) in enumerate(zip(dataset.frame["index"], ANSWERS, strict=True))
            if p % 2 == rank
        ]
        shard = out / ".shards" / f"rank-{rank}.jsonl"
        shard.write_text("".join(json.dumps(line) + "\n" for line in lines))
    merge_and_score(plan, dataset, out)
    return out


def test_score_of_a_runs_predictions_writes_the_runs_own_result_files(tmp_path, calls):
    table = shapes_tsv(tmp_path)
    run = merged(tmp_path, table)
    scored = score.score_predictions(
        run / "predictions.jsonl", f"{table}:mcq", tmp_path / "scored", tmp_path / "data"
    )

    assert calls == ["Shapes", "Shapes"]  # the merge's call, then score's
    again = scored.directory
    assert sorted(p.name for p in again.iterdir()) == sorted(
        p.name for p in run.iterdir() if p.name != ".shards"
    )
    for name in ("predictions.jsonl", "scores.json", "tiny-vlm_Shapes_acc.csv"):
        assert (again / name).read_bytes() == (run / name).read_bytes(), name
    pd.testing.assert_frame_equal(
        pd.read_excel(again / "tiny-vlm_Shapes.xlsx"), pd.read_excel(run / "tiny-vlm_Shapes.xlsx")
    )
    assert json.loads((run / "scores.json").read_text())["errors"] == 1


def test_each_path_keeps_its_own_words_for_a_missing_prediction(tmp_path):
    table = shapes_tsv(tmp_path)
    plan = make_plan(tmp_path, [f"{table}:mcq"])
    dataset = load_tsv(table, "Shapes", "mcq")
    with pytest.raises(RuntimeFailure, match=r"Shapes: 6 item\(s\) have no prediction .* rerun"):
        merge_and_score(plan, dataset, plan.run_dir / "Shapes")
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"index": int(dataset.frame["index"][0]), "prediction": "A"}) + "\n")
    with pytest.raises(UsageError, match=rf"^{one}: no prediction for index"):
        score.score_predictions(one, f"{table}:mcq", tmp_path / "scored", tmp_path / "data")


def test_items_are_joined_without_their_images(tmp_path):
    table = shapes_tsv(tmp_path)
    dataset = load_tsv(table, "Shapes", "mcq")
    predictions = pd.DataFrame({"index": dataset.frame["index"], "prediction": ANSWERS})
    joined = evaluate.join_predictions(dataset, predictions, "here")
    assert "image" in dataset.frame.columns and "image" not in joined.columns
    assert joined["prediction"].tolist() == ANSWERS
