"""Cells pandas reads as NaN (issue 17): our prompts and scores on a TSV holding "None", "N/A",
"NA", "nan", "" ... against VLMEvalKit's own ``build_prompt`` and ``evaluate()`` on the same files.

Reference: PyPI ``nvidia-vlmeval`` 26.3 in the parity venv (``tests/parity/reference_na_cells.py``):
the dataset's class built from the TSV by its own ``__init__`` (``vlmeval.smp.load``), its
``build_prompt``, the result xlsx written as its inference writes it and
``evaluate(model="exact_matching")`` on that file. Ours, on the same TSV: ``load_tsv`` and
``Dataset.prompt`` (what eval sends), ``score_dataset`` on the rows with the model's texts (eval's
merge), and ``vlmeval score`` of VLMEvalKit's own xlsx. An MCQ option or hint with such a text is
left out, an answer or prediction with it is "nan", a question with it is "nan" in the prompt; a
column of numbers with a NaN holds floats ("3" is "3.0"). Predictions avoid the rules main
changed after 26.3 (``parity_inputs.untouched_since_26_3``).
"""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import parity_inputs as gen
from test_parity_metrics import assert_same_table, close
from vlmeval_core.datasets.cells import NA_TEXTS
from vlmeval_core.datasets.tsv import load_tsv
from vlmeval_core.scoring import score_dataset
from vlmevalkit_reference import PARITY_PYTHON, ROOT

pytestmark = pytest.mark.parity
SCRIPT = ROOT / "tests" / "parity" / "reference_na_cells.py"
NA = ("None", "N/A", "NA", "nan", "", "NULL", "#N/A", "null", "n/a", "<NA>")
assert set(NA) <= NA_TEXTS
NUMBERS = ("3", "12", "0", "7", "12.5")


def na_or(rng: random.Random, values: tuple[str, ...], share: float) -> str:
    return rng.choice(NA) if rng.random() < share else rng.choice(values)


def mcq_rows(rng: random.Random, n: int, na_questions: bool = False) -> list[dict]:
    """MCQ rows with NA-text options and hints; column D holds numbers or NA texts only."""
    rows = []
    while len(rows) < n:
        options = {k: na_or(rng, gen.OPTION_TEXTS, 0.15) for k in "ABC"}
        options["D"] = na_or(rng, NUMBERS, 0.3)
        seen = {k: v for k, v in options.items() if v not in NA_TEXTS}
        seen["D"] = f"{float(seen['D'])}" if "D" in seen else None
        seen = {k: v for k, v in seen.items() if v is not None}
        prediction = rng.choice(
            [
                rng.choice(NA),
                rng.choice(list(options.values())),
                rng.choice(string.ascii_uppercase[:5]),
                gen.free_text(rng, seen or {"A": "x"}),
            ]
        )
        if seen and not gen.untouched_since_26_3(prediction, seen):
            continue
        question = f"question {len(rows)}?"
        rows.append(
            {
                "index": len(rows),
                "question": na_or(rng, (question,), 0.2) if na_questions else question,
                **options,
                "hint": na_or(rng, ("Look closely.", "A hint"), 0.5),
                "answer": rng.choice("ABCD"),
                "category": rng.choice(gen.MMB_CATEGORIES),
                "image_path": "x.png",
                "prediction": prediction,
            }
        )
    return rows


def docvqa_rows(rng: random.Random, n: int) -> list[dict]:
    """DocVQA-like rows: "N/A" answers (alone or in a list), NA-text and empty predictions."""
    answers = ("N/A", "None", "J Smith", "invoice 12", "12", "NA", "['N/A', 'n/a']", "['12', 'x']")
    predictions = ("N/A", "n/a", "None", "", "nan", "J Smith", "Smith", "12", "unknown", "NA")
    return [
        {
            "index": i,
            "question": "What is written?",
            "answer": rng.choice(answers),
            "image_path": "x.png",
            "prediction": rng.choice(predictions),
        }
        for i in range(n)
    ]


def chartqa_rows(rng: random.Random, n: int) -> list[dict]:
    """ChartQA-like rows whose answers and predictions are numbers or NA texts (float columns)."""
    return [
        {
            "index": i,
            "question": "How many?",
            "answer": na_or(rng, NUMBERS, 0.2),
            "image_path": "x.png",
            "prediction": na_or(rng, (*NUMBERS, "3.0", "13.2"), 0.2),
        }
        for i in range(n)
    ]


def pope_rows(rng: random.Random, n: int) -> list[dict]:
    """POPE rows with NA-text and empty predictions, and a few NA-text answers."""
    rows = gen.pope_rows(rng, n)
    for row in rows:
        row["image_path"] = "x.png"
        if rng.random() < 0.3:
            row["prediction"] = rng.choice(NA)
        if rng.random() < 0.05:
            row["answer"] = rng.choice(NA)
    return rows


def their_evaluation(tmp: Path, dataset: str, rows: list[dict], scored: bool = True) -> dict:
    """VLMEvalKit's prompts (and per-item credit, table and result xlsx) for ``rows``."""
    if not PARITY_PYTHON.is_file():
        pytest.fail(f"no parity venv at {PARITY_PYTHON}: run `make test-parity`, which builds it")
    tsv = tmp / f"{dataset}.tsv"
    pd.DataFrame(rows).drop(columns=["prediction"]).to_csv(tsv, sep="\t", index=False)
    request = {
        "tsv": str(tsv),
        "dataset": dataset,
        "predictions": {str(r["index"]): r["prediction"] for r in rows} if scored else None,
        "eval_file": str(tmp / "theirs" / f"SomeVLM_{dataset}.xlsx"),
    }
    (tmp / "theirs").mkdir(exist_ok=True)
    done = subprocess.run(
        [str(PARITY_PYTHON), str(SCRIPT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "LMUData": str(tmp)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def our_prompts(tmp: Path, dataset: str) -> list[str]:
    data = load_tsv(tmp / f"{dataset}.tsv", dataset)
    return [data.prompt(position) for position in range(len(data))]


def credits(items: pd.DataFrame | list[dict]) -> dict[str, float]:
    frame = pd.DataFrame(items)
    credit = frame["score"] if "score" in frame.columns else frame["correct"]
    return {str(i): float(c) for i, c in zip(frame["index"], credit, strict=True)}


def differing(ours: dict[str, float], theirs: dict[str, float]) -> list[str]:
    return [i for i in theirs if not close(ours.get(i), theirs[i])]


def scored_by_vlmeval_score(tmp: Path, dataset: str) -> list[dict]:
    """``vlmeval score`` of VLMEvalKit's own result xlsx: predictions.jsonl's items."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "vlmeval"), "score",
         str(tmp / "theirs" / f"SomeVLM_{dataset}.xlsx"), "-d", str(tmp / f"{dataset}.tsv"),
         "-o", str(tmp / "ours"), "--data-dir", str(tmp)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = (tmp / "ours" / dataset / "predictions.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


CASES = [
    ("MMStar", lambda rng: mcq_rows(rng, 300), True),
    ("DocVQA_VAL", lambda rng: docvqa_rows(rng, 200), False),
    ("ChartQA_TEST", lambda rng: chartqa_rows(rng, 150), False),
    ("POPE", lambda rng: pope_rows(rng, 300), True),
]


@pytest.mark.parametrize(("dataset", "make", "keyed"), CASES, ids=[c[0] for c in CASES])
def test_prompts_and_scores_on_na_text_cells_are_vlmevalkits(tmp_path, dataset, make, keyed):
    rows = make(random.Random(f"na-cells-{dataset}"))
    theirs = their_evaluation(tmp_path, dataset, rows)
    assert our_prompts(tmp_path, dataset) == theirs["prompts"]

    data = load_tsv(tmp_path / f"{dataset}.tsv", dataset, warn=False)
    by_index = {r["index"]: r["prediction"] for r in rows}
    frame = data.frame.assign(prediction=[by_index[i] for i in data.frame["index"]])
    result = score_dataset(data.kind, frame, data.metric, data.metric_options)  # eval's merge
    assert differing(credits(result.items), theirs["hits"]) == []
    if dataset in ("MMStar", "POPE"):
        assert_same_table(result.table, theirs["table"], keyed)
    else:  # ImageVQADataset's table: Overall in percent
        assert close(result.scores["overall"] * 100, theirs["table"]["rows"][0][0])
    assert list(result.items["prediction"]) == [by_index[i] for i in result.items["index"]]

    rescored = credits(scored_by_vlmeval_score(tmp_path, dataset))
    assert differing(rescored, theirs["hits"]) == []


def test_mmbench_prompts_with_na_text_questions_options_and_hints(tmp_path):
    rows = mcq_rows(random.Random("na-cells-mmbench"), 30, na_questions=True)
    theirs = their_evaluation(tmp_path, "MMBench_DEV_EN", rows, scored=False)
    assert any("Question: nan\n" in p for p in theirs["prompts"])
    assert our_prompts(tmp_path, "MMBench_DEV_EN") == theirs["prompts"]
