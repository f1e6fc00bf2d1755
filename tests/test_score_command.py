"""`vlmeval score PREDICTIONS -d DATA [--output DIR]`: predictions made elsewhere, scored as
eval scores them, through the real console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from catalog_fixtures import hallusion, mme, tsv_bytes
from vlmeval_core.datasets.on_disk import ensure_on_disk
from vlmeval_core.datasets.registry import resolve_dataset
from vlmeval_core.datasets.tsv import load_tsv

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")


def vlmeval(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VLMEVAL, *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def shapes_mcq(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """A data dir with ShapesMCQ generated in it, as eval and score generate it, and its rows."""
    data_dir = tmp_path_factory.mktemp("data")
    path = ensure_on_disk(resolve_dataset("ShapesMCQ"), data_dir, data_dir, seed=0)
    return data_dir, load_tsv(path, "ShapesMCQ").frame


def test_a_vlmevalkit_result_file_is_scored_into_evals_layout(tmp_path, shapes_mcq):
    data_dir, rows = shapes_mcq
    wrong = {"A": "B", "B": "C", "C": "D", "D": "A"}
    predictions = [
        f"The answer is ({a})." if i < 200 else wrong[a] for i, a in enumerate(rows["answer"])
    ]
    result = tmp_path / "runs" / "Qwen2-VL-2B-Instruct_ShapesMCQ.xlsx"
    result.parent.mkdir()
    rows.drop(columns=["image"]).assign(prediction=predictions).to_excel(result, index=False)

    done = vlmeval("score", str(result), "-d", "ShapesMCQ", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "runs" / "ShapesMCQ"  # default: beside PREDICTIONS
    # the score as eval's summary shows it (report.score_text), not 0.8333
    assert done.stdout.startswith("ShapesMCQ: accuracy 83.3% on 240 items (0 unparsed)")
    assert done.stderr == ""
    assert sorted(p.name for p in out.iterdir()) == [
        "Qwen2-VL-2B-Instruct_ShapesMCQ.xlsx",
        "Qwen2-VL-2B-Instruct_ShapesMCQ_acc.csv",
        "predictions.jsonl",
        "scores.json",
    ]
    scores = json.loads((out / "scores.json").read_text())
    assert scores["overall"] == pytest.approx(200 / 240) and scores["n"] == 240
    assert scores["reference"].startswith("VLMEvalKit e8e78f05: can_infer")
    lines = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [x["correct"] for x in lines] == [i < 200 for i in range(240)]
    assert lines[0]["parsed"] == rows["answer"].iloc[0]


def test_a_predictions_jsonl_is_rescored_and_names_the_model_of_its_run(tmp_path, shapes_mcq):
    data_dir, rows = shapes_mcq
    run = tmp_path / "outputs" / "tiny-vlm" / "demo" / "ShapesMCQ"
    run.mkdir(parents=True)
    records = [
        {"index": int(i), "prediction": a, "error": None if i else "image could not be decoded"}
        for i, a in zip(rows["index"], rows["answer"], strict=True)
    ]
    (run / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "rescored"
    done = vlmeval(
        "score", str(run / "predictions.jsonl"), "-d", "ShapesMCQ", "-o", str(out),
        data_dir=data_dir,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    scores = json.loads((out / "ShapesMCQ" / "scores.json").read_text())
    assert (scores["n"], scores["errors"], scores["unparsed"]) == (240, 1, 0)
    assert scores["overall"] == pytest.approx(239 / 240)
    assert (out / "ShapesMCQ" / "tiny-vlm_ShapesMCQ_acc.csv").is_file()


def test_a_predictions_jsonl_in_evals_layout_is_rescored_in_its_own_directory(tmp_path, shapes_mcq):
    data_dir, rows = shapes_mcq
    run = tmp_path / "outputs" / "tiny-vlm" / "demo" / "ShapesMCQ"
    run.mkdir(parents=True)
    records = [
        {"index": int(i), "prediction": a if int(i) % 10 else "Z"}
        for i, a in zip(rows["index"], rows["answer"], strict=True)
    ]
    (run / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    done = vlmeval("score", str(run / "predictions.jsonl"), "-d", "ShapesMCQ", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"ShapesMCQ: accuracy 90.0% on 240 items (0 unparsed); results in {run}\n"
    )  # eval's summary says 90.0% too
    assert sorted(p.name for p in run.iterdir()) == [
        "predictions.jsonl",
        "scores.json",
        "tiny-vlm_ShapesMCQ.xlsx",
        "tiny-vlm_ShapesMCQ_acc.csv",
    ]  # no ShapesMCQ/ShapesMCQ/
    lines = [json.loads(x) for x in (run / "predictions.jsonl").read_text().splitlines()]
    assert [(x["index"], x["prediction"]) for x in lines] == [
        (r["index"], r["prediction"]) for r in records
    ]  # rewritten in place, every prediction kept


def test_points_are_shown_as_evals_summary_shows_them(tmp_path):
    tsv = tmp_path / "MME.tsv"
    tsv.write_bytes(tsv_bytes(mme()))
    source = pd.read_csv(tsv, sep="\t")
    result = tmp_path / "m_MME.csv"
    source.assign(prediction=source["answer"])[["index", "prediction"]].to_csv(result, index=False)
    done = vlmeval("score", str(result), "-d", str(tsv), data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    scores = json.loads((tmp_path / "MME" / "scores.json").read_text())
    assert done.stdout.startswith(f"MME: mme_score {scores['overall']:.1f} / 2800 on ")


def test_yes_no_predictions_scored_as_mcq_get_one_warning_naming_the_file(tmp_path, shapes_mcq):
    data_dir, rows = shapes_mcq
    preds = tmp_path / "ShapesYN" / "predictions.jsonl"
    preds.parent.mkdir()
    records = [{"index": int(i), "prediction": "Yes", "answer": "Yes"} for i in rows["index"]]
    preds.write_text("".join(json.dumps(r) + "\n" for r in records))
    done = vlmeval("score", str(preds), "-d", "ShapesMCQ", "-o", str(tmp_path), data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ShapesMCQ: accuracy 0.0% on 240 items (240 unparsed)")
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"vlmeval: warning: {preds}: every answer is Yes or No, ")
    assert "so it fits yorn, but ShapesMCQ" in done.stderr and "is scored as mcq" in done.stderr


def test_a_tsv_named_like_a_benchmark_takes_its_kind_and_says_when_its_answers_do_not_fit(
    tmp_path,
):
    frame = pd.DataFrame(
        {
            "index": [1, 2, 3],
            "image_path": ["x.png"] * 3,
            "question": ["Is there a cat?"] * 3,
            "answer": ["Yes", "No", "cat"],
            "category": ["random"] * 3,
        }
    )
    tsv = tmp_path / "POPE.tsv"
    frame.to_csv(tsv, sep="\t", index=False)
    preds = tmp_path / "m_POPE.csv"
    frame.assign(prediction="Yes")[["index", "prediction"]].to_csv(preds, index=False)
    done = vlmeval("score", str(preds), "-d", str(tsv), data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "POPE" / "scores.json").read_text())["metric"] == "pope_f1"
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"vlmeval: warning: {tsv}: ")
    assert "fits vqa, but it is scored as yorn (the kind of POPE" in done.stderr


def test_a_custom_yes_no_tsv_writes_vlmevalkits_score_table(tmp_path):
    frame = pd.DataFrame(
        {
            "index": [1, 2, 3],
            "image_path": ["x.png"] * 3,
            "question": ["Is it red?"] * 3,
            "answer": ["Yes", "No", "Yes"],
            "category": ["colour", "colour", "shape"],
        }
    )
    tsv = tmp_path / "MyBench.tsv"
    frame.to_csv(tsv, sep="\t", index=False)
    preds = tmp_path / "m_MyBench.tsv"
    frame.assign(prediction=["Yes.", "yes", "I cannot say"])[["index", "prediction"]].to_csv(
        preds, sep="\t", index=False
    )
    done = vlmeval("score", str(preds), "-d", f"{tsv}:yorn", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "MyBench" / "m_MyBench_score.csv")
    assert list(table.columns) == ["Overall", "colour", "shape"]
    assert table.iloc[0].tolist() == pytest.approx([100 / 3, 50.0, 0.0])


def test_a_tsv_named_like_a_benchmark_is_scored_as_it_by_its_text_index(tmp_path):
    # VLMEvalKit's HallusionBench result file keys items by the text index
    tsv = tmp_path / "HallusionBench.tsv"
    tsv.write_bytes(tsv_bytes(hallusion()))
    source = pd.read_csv(tsv, sep="\t")
    result = tmp_path / "m_HallusionBench.csv"
    source.assign(prediction="Yes")[["index", "prediction"]].to_csv(result, index=False)
    done = vlmeval("score", str(result), "-d", str(tsv), data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    scores = json.loads((tmp_path / "HallusionBench" / "scores.json").read_text())
    assert scores["metric"] == "hallusion_accuracy"
    assert scores["aAcc"] == pytest.approx((source["answer"] == "Yes").mean())
    # the xlsx keeps the file's text index in `index`, as VLMEvalKit writes it (its
    # Hallusion_rating splits it); no renumbered index, no source_index column
    sheet = pd.read_excel(tmp_path / "HallusionBench" / "m_HallusionBench.xlsx")
    assert sheet["index"].tolist() == source["index"].tolist()
    assert "source_index" not in sheet.columns


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("vlmeval: error: ")
    return done.stderr


def test_an_item_without_prediction_names_the_first_missing_index(tmp_path, shapes_mcq):
    data_dir, rows = shapes_mcq
    preds = tmp_path / "m_ShapesMCQ.csv"
    rows.assign(prediction="A")[["index", "prediction"]].drop([0, 7, 9]).to_csv(preds, index=False)
    error = one_line_error(vlmeval("score", str(preds), "-d", "ShapesMCQ", data_dir=data_dir))
    assert f"{preds}: no prediction for index 0 of ShapesMCQ (3 of 240 items have none)" in error
    assert not (tmp_path / "ShapesMCQ").exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("m_ShapesMCQ.xlsx", b"not a zip file", "not a readable .xlsx file"),
        ("m_ShapesMCQ.csv", b"index,answer\n0,A\n", "missing column(s) prediction"),
        ("predictions.jsonl", b'{"index": 0, "prediction": "A"}\n{oops\n', "line 2: not JSON"),
        ("m_ShapesMCQ.json", b"{}", "unsupported predictions file"),
    ],
)
def test_a_bad_predictions_file_is_one_line_and_exit_2(
    tmp_path, shapes_mcq, name, content, message
):
    data_dir, _ = shapes_mcq
    preds = tmp_path / name
    preds.write_bytes(content)
    error = one_line_error(vlmeval("score", str(preds), "-d", "ShapesMCQ", data_dir=data_dir))
    assert f"{preds}: {message}" in error


def test_a_prediction_for_no_item_is_an_error(tmp_path, shapes_mcq):
    data_dir, rows = shapes_mcq
    preds = tmp_path / "m_ShapesMCQ.csv"
    extra = pd.DataFrame({"index": [9999], "prediction": ["A"]})
    pd.concat([rows.assign(prediction="A")[["index", "prediction"]], extra]).to_csv(
        preds, index=False
    )
    error = one_line_error(vlmeval("score", str(preds), "-d", "ShapesMCQ", data_dir=data_dir))
    assert "index 9999 is not an item of ShapesMCQ" in error
