"""Result files: written whole and read back; a failed write keeps the old file; no secrets."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook

from vlmeval_core.checkpoints import ITEM_FIELDS
from vlmeval_core.files import write_atomic_with
from vlmeval_core.report import (
    COUNT_FIELDS,
    looks_secret,
    result_stem,
    scrub_secrets,
    write_dataset_results,
    write_manifest,
    write_summary,
)
from vlmeval_core.scoring import ScoreResult, score

MODEL = "Org/Tiny-VLM"
STEM = "Org__Tiny-VLM_ShapesMCQ"


def _mcq_result() -> ScoreResult:
    frame = pd.DataFrame(
        {
            "index": [3, 1, 2],
            "question": ["What colour?", "What shape?", "How many?"],
            "image": ["aGVsbG8=" * 10] * 3,  # base64: kept out of the xlsx
            "A": ["red", "circle", "2"],
            "B": ["blue", "square", "3"],
            "C": ["green", np.nan, np.nan],
            "answer": ["A", "B", "B"],
            "category": ["color", "shape", "count"],
            "split": ["dev", "dev", "test"],
            "prediction": ["A", "I think\x00 A or B", "B"],  # a control character
            "error": [None, None, "CUDA out of memory"],
            "prompt": ["[image: a.png]\nWhat colour?", "[image: b.png]\nWhat shape?", None],
            "image_count": [1, 1, None],  # a float column to pandas: 1.0, 1.0, NaN
            "generated_tokens": [2, 8, None],
            "finish_reason": ["eos", "length", "error"],
        }
    )
    return score("mcq", frame)


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.rglob("*") if p.name.endswith(".tmp")]


def test_result_stem_is_vlmevalkit_naming_made_file_safe() -> None:
    assert result_stem("Org/Tiny-VLM", "ShapesMCQ") == STEM
    assert result_stem("tiny-vlm", "MMBench_DEV_EN") == "tiny-vlm_MMBench_DEV_EN"
    assert result_stem("/models/my model", "x") == "models__my_model_x"


def test_write_dataset_results_files_read_back(tmp_path: Path) -> None:
    result = _mcq_result()
    write_dataset_results(tmp_path, MODEL, "ShapesMCQ", result)
    out = tmp_path / "ShapesMCQ"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["predictions.jsonl", "scores.json", f"{STEM}.xlsx", f"{STEM}_acc.csv"]
    )
    assert _no_temp_files(tmp_path)

    records = _read_jsonl(out / "predictions.jsonl")
    assert [r["index"] for r in records] == [1, 2, 3]
    assert records[0] == {
        "index": 1,
        "prediction": "I think\x00 A or B",
        "answer": "B",
        "parsed": None,
        "correct": False,
        "error": None,
        "prompt": "[image: b.png]\nWhat shape?",
        "image_count": 1,
        "generated_tokens": 8,
        "finish_reason": "length",
        "category": "shape",
        "split": "dev",
    }
    assert records[1]["error"] == "CUDA out of memory" and records[1]["parsed"] is None
    assert [records[1][f] for f in ITEM_FIELDS] == [None, None, None, "error"]
    assert {type(records[i][f]) for i in (0, 2) for f in COUNT_FIELDS} == {int}  # not 1.0
    assert records[2]["parsed"] == "A" and records[2]["correct"] is True

    scores = json.loads((out / "scores.json").read_text(encoding="utf-8"))
    assert scores == result.scores
    assert scores["overall"] == pytest.approx(1 / 3)
    assert (scores["unparsed"], scores["errors"]) == (1, 1)  # counted apart

    sheet = pd.read_excel(out / f"{STEM}.xlsx")
    assert list(sheet.columns) == [
        "index", "question", "A", "B", "C", "answer", "category", "split",
        "prediction", "parsed", "correct", "error",
        "prompt", "image_count", "generated_tokens", "finish_reason",
    ]  # fmt: skip
    assert sheet["index"].tolist() == [1, 2, 3]
    assert sheet["prediction"].tolist() == ["I think A or B", "B", "A"]  # control char dropped
    assert sheet["parsed"].fillna("").tolist() == ["", "", "A"]
    assert sheet["correct"].tolist() == [False, False, True]
    assert sheet["error"].fillna("").tolist() == ["", "CUDA out of memory", ""]
    assert sheet["prompt"].fillna("").tolist()[:2] == ["[image: b.png]\nWhat shape?", ""]
    assert sheet["generated_tokens"].tolist()[::2] == [8, 2]
    assert sheet["finish_reason"].tolist() == ["length", "error", "eos"]

    table = pd.read_csv(out / f"{STEM}_acc.csv")
    assert list(table.columns) == ["split", "Overall", "color", "count", "shape"]
    assert table["split"].tolist() == ["dev", "test"]
    assert table["Overall"].tolist() == pytest.approx([0.5, 0.0])
    assert table["color"].tolist()[0] == 1.0 and math.isnan(table["color"].tolist()[1])


def test_vqa_list_answers_are_kept_as_lists(tmp_path: Path) -> None:
    frame = pd.DataFrame({"index": [1], "prediction": ["Red"], "answer": [["red", "crimson"]]})
    write_dataset_results(tmp_path, "m", "V", score("vqa", frame))
    (record,) = _read_jsonl(tmp_path / "V" / "predictions.jsonl")
    assert record["answer"] == ["red", "crimson"] and record["parsed"] == "red"
    assert "category" not in record and "split" not in record
    sheet = pd.read_excel(tmp_path / "V" / "m_V.xlsx")
    assert json.loads(sheet["answer"][0]) == ["red", "crimson"]
    assert pd.read_csv(tmp_path / "V" / "m_V_acc.csv").to_dict("list") == {"Overall": [100.0]}


def test_empty_result_writes_empty_files(tmp_path: Path) -> None:
    result = score("yorn", pd.DataFrame(columns=["index", "prediction", "answer"]))
    write_dataset_results(tmp_path, "m", "Y", result)
    assert (tmp_path / "Y" / "predictions.jsonl").read_text() == ""
    assert json.loads((tmp_path / "Y" / "scores.json").read_text())["n"] == 0


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the cut stream
def test_a_failed_xlsx_write_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_dataset_results(tmp_path, MODEL, "ShapesMCQ", _mcq_result())
    xlsx = tmp_path / "ShapesMCQ" / f"{STEM}.xlsx"
    before = xlsx.read_bytes()

    def half_then_fail(self: Workbook, handle) -> None:
        handle.write(b"PK\x03\x04 half an xlsx")
        raise OSError("disk full")

    monkeypatch.setattr(Workbook, "save", half_then_fail)
    other = score("mcq", pd.DataFrame({"index": [9], "prediction": ["A"], "answer": ["A"]}))
    with pytest.raises(OSError, match="disk full"):
        write_dataset_results(tmp_path, MODEL, "ShapesMCQ", other)

    assert xlsx.read_bytes() == before
    assert pd.read_excel(xlsx)["index"].tolist() == [1, 2, 3]
    assert _no_temp_files(tmp_path)
    # scores.json is written last, so it still belongs to the old result
    assert json.loads((tmp_path / "ShapesMCQ" / "scores.json").read_text())["n"] == 3


def test_write_atomic_with_a_writer_that_raises_midway_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "x_acc.csv"
    target.write_text("old,complete\n")

    def writer(handle) -> None:
        handle.write("new,par")
        raise RuntimeError("writer died")

    with pytest.raises(RuntimeError):
        write_atomic_with(target, writer)
    assert target.read_text() == "old,complete\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x_acc.csv"]


def test_write_summary(tmp_path: Path) -> None:
    scores = {
        "ShapesMCQ": {
            "metric": "accuracy",
            "overall": 2 / 3,
            "n": 3,
            "unparsed": 1,
            "errors": 0,
            "by_split": {},
        },
        "ShapesVQA": {
            "metric": "exact_match",
            "overall": 0.125,
            "n": 8,
            "unparsed": 0,
            "errors": 2,
        },
    }
    write_summary(tmp_path, MODEL, "run-1", scores)
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary == {
        "model": MODEL,
        "run": "run-1",
        "datasets": {
            "ShapesMCQ": {
                "metric": "accuracy",
                "overall": 2 / 3,
                "overall_ci": None,
                "n": 3,
                "unparsed": 1,
                "errors": 0,
            },
            "ShapesVQA": {
                "metric": "exact_match",
                "overall": 0.125,
                "overall_ci": None,
                "n": 8,
                "unparsed": 0,
                "errors": 2,
            },
        },
    }
    markdown = (tmp_path / "summary.md").read_text(encoding="utf-8")
    lines = markdown.splitlines()
    assert lines[0] == f"# {MODEL} — run-1"
    assert "| dataset | metric | score | 95% CI | n | unparsed | errors |" in lines
    assert "| ShapesMCQ | accuracy | 66.7% | — | 3 | 1 | 0 |" in lines
    assert "| ShapesVQA | exact_match | 12.5% | — | 8 | 0 | 2 |" in lines


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("HF_TOKEN", True),
        ("hf_token", True),
        ("HUGGING_FACE_HUB_TOKEN", True),
        ("OPENAI_API_KEY", True),
        ("apiKey", True),
        ("hftoken", True),
        ("db-password", True),
        ("client_secret", True),
        ("Authorization", True),
        ("max_new_tokens", False),
        ("tokenizer", False),
        ("model", False),
        ("keys_seen", False),
        ("PWD", False),
        ("OLDPWD", False),
    ],
)
def test_looks_secret(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


def test_hf_token_never_reaches_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345"
    api_key = "sk-test-0123456789abcdef"
    for name in list(os.environ):  # only the two secrets below, whatever this machine has
        if looks_secret(name):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setenv("OPENAI_API_KEY", api_key)
    manifest = {
        "model": {"id": "Org/Tiny-VLM", "revision": "abc123", "hf_token": token, "apiKey": "x"},
        "generation": {"max_new_tokens": 32, "tokenizer": "fast"},
        "env": {"HF_TOKEN": token, "CUDA_VISIBLE_DEVICES": "0,1", "WORLD_SIZE": "2"},
        "note": token,  # a secret's value under an innocent name
        "argv": ["vlmeval", "eval", "--token", token, f"--hub-token={token}", api_key],
        "command": f"huggingface-cli download --token {token}",
        "world_size": 2,
        "path": tmp_path,  # not JSON: written as its string
        "wall_s": np.float64(1.5),
    }
    write_manifest(tmp_path, manifest)
    text = (tmp_path / "manifest.json").read_text(encoding="utf-8")
    assert token not in text and api_key not in text
    assert "HF_TOKEN" not in text and "apiKey" not in text

    written = json.loads(text)
    assert written == {
        "model": {"id": "Org/Tiny-VLM", "revision": "abc123"},
        "generation": {"max_new_tokens": 32, "tokenizer": "fast"},
        "env": {"CUDA_VISIBLE_DEVICES": "0,1", "WORLD_SIZE": "2"},
        "argv": ["vlmeval", "eval", "--token"],
        "world_size": 2,
        "path": str(tmp_path),
        "wall_s": 1.5,
    }
    assert manifest["note"] == token  # the caller's dict is not changed


def test_paths_under_the_working_directory_stay_in_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", str(tmp_path))
    manifest = {"datasets": {"ShapesMCQ": {"path": str(tmp_path / "data" / "ShapesMCQ.tsv")}}}
    write_manifest(tmp_path, manifest)
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest


def test_scrub_secrets_with_explicit_secrets_ignores_short_substrings() -> None:
    # equality always counts; containment only for values of 8 characters or more
    assert scrub_secrets({"a": "abc", "b": "xabcx", "c": ["abc", 1]}, {"abc"}) == {
        "b": "xabcx",
        "c": [1],
    }
