"""The xlsx we write is a VLMEvalKit result file: its own ``evaluate()`` reads it to our numbers.

Reference: PyPI ``nvidia-vlmeval`` 26.3 in the parity venv: ``ImageYORNDataset.evaluate``
(exact matching), as ``run.py --mode eval`` calls it on ``<model>_<dataset>.xlsx``, reads the
xlsx that ``vlmeval score`` wrote and rates it (``Hallusion_rating`` splits the text
``index``, ``POPE_rating``, ``MME_rating``); its score table must be ours.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import parity_inputs as gen
from test_parity_metrics import assert_same_table
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
