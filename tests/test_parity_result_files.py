"""The xlsx we write is a VLMEvalKit result file: its own ``evaluate()`` reads it to our numbers.

Reference: PyPI ``nvidia-vlmeval`` 26.3 in the parity venv: ``ImageYORNDataset.evaluate``
(exact matching), as ``run.py --mode eval`` calls it on ``<model>_<dataset>.xlsx``, reads the
xlsx that ``vlmeval score`` wrote and rates it (``Hallusion_rating`` splits the text
``index``, ``POPE_rating``, ``MME_rating``); its score table must be ours.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import parity_inputs as gen
from test_parity_metrics import assert_same_table
from vlmeval_core.checkpoints import ITEM_FIELDS
from vlmevalkit_reference import reference

pytestmark = pytest.mark.parity


def unique_index(rows: list[dict]) -> list[dict]:
    """The first row of each index (a real benchmark file has each once)."""
    seen: dict[str, dict] = {}
    for row in rows:
        seen.setdefault(str(row["index"]), row)
    return list(seen.values())


@pytest.mark.parametrize(
    ("dataset", "make", "keyed"),
    [
        ("HallusionBench", lambda rng: unique_index(gen.hallusion_rows(rng, 400)), True),
        ("POPE", lambda rng: gen.pope_rows(rng, 300), True),
        ("MME", lambda rng: gen.mme_rows(rng, 4), False),
    ],
)
def test_vlmevalkits_evaluate_reads_our_xlsx_to_our_scores(
    tmp_path: Path, dataset: str, make: Callable[[random.Random], list[dict]], keyed: bool
) -> None:
    rows = make(random.Random(f"xlsx-{dataset}"))
    frame = pd.DataFrame(rows)
    if "image_path" not in frame.columns:
        frame = frame.assign(image_path="x.png")  # never opened: scoring reads no image
    tsv = tmp_path / f"{dataset}.tsv"
    frame.drop(columns=["prediction"]).to_csv(tsv, sep="\t", index=False)
    predictions = tmp_path / f"SomeVLM_{dataset}.csv"
    frame[["index", "prediction"]].to_csv(predictions, index=False)

    done = subprocess.run(
        [str(Path(sys.executable).parent / "vlmeval"), "score", str(predictions),
         "-d", str(tsv), "-o", str(tmp_path / "out"), "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out" / dataset
    theirs = reference(
        "evaluate_yorn", {"dataset": dataset, "path": str(out / f"SomeVLM_{dataset}.xlsx")}
    )
    ours = pd.read_csv(out / f"SomeVLM_{dataset}_score.csv")
    assert_same_table(ours, theirs["table"], keyed)


@pytest.mark.parametrize(
    ("dataset", "make", "keyed"),
    [
        ("HallusionBench", lambda rng: unique_index(gen.hallusion_rows(rng, 400)), True),
        ("POPE", lambda rng: gen.pope_rows(rng, 300), True),
    ],
)
def test_vlmevalkits_evaluate_scores_our_xlsx_with_the_item_fields_as_without_them(
    tmp_path: Path, dataset: str, make: Callable[[random.Random], list[dict]], keyed: bool
) -> None:
    """The prompt, image count, generated tokens and finish reason after the scored columns
    (a prompt with newlines, a leading ``=``, an option letter) change nothing VLMEvalKit reads."""
    rng = random.Random(f"fields-{dataset}")
    frame = pd.DataFrame(make(rng)).assign(image_path="x.png")
    tsv = tmp_path / f"{dataset}.tsv"
    frame.drop(columns=["prediction"]).to_csv(tsv, sep="\t", index=False)
    predictions = tmp_path / "SomeVLM" / "r" / dataset / "predictions.jsonl"
    predictions.parent.mkdir(parents=True)
    lines = [
        {
            "index": row["index"],
            "prediction": row["prediction"],
            "prompt": f"[image: x.png]\n=Is it {row['index']}?\nAnswer: Yes or No. A",
            "image_count": 1,
            "generated_tokens": rng.randint(1, 8),
            "finish_reason": rng.choice(["eos", "length", "error"]),
        }
        for row in frame.to_dict("records")
    ]
    predictions.write_text("".join(json.dumps(line) + "\n" for line in lines))

    done = subprocess.run(
        [str(Path(sys.executable).parent / "vlmeval"), "score", str(predictions),
         "-d", str(tsv), "-o", str(tmp_path / "out"), "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (ours_xlsx,) = (tmp_path / "out" / dataset).glob("*.xlsx")
    sheet = pd.read_excel(ours_xlsx)
    assert list(sheet.columns[-len(ITEM_FIELDS) :]) == list(ITEM_FIELDS)
    assert sheet["prompt"].tolist() == [line["prompt"] for line in lines]
    without = tmp_path / "without" / ours_xlsx.name
    without.parent.mkdir()
    sheet.drop(columns=list(ITEM_FIELDS)).to_excel(without, index=False)

    theirs = reference("evaluate_yorn", {"dataset": dataset, "path": str(ours_xlsx)})
    theirs_without = reference("evaluate_yorn", {"dataset": dataset, "path": str(without)})
    (ours_table,) = (tmp_path / "out" / dataset).glob("*_score.csv")
    for table in (theirs["table"], theirs_without["table"]):  # rows in VLMEvalKit's set order
        assert_same_table(pd.read_csv(ours_table), table, keyed)
