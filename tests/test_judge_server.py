"""The judge against a real OpenAI-compatible server: ``transformers serve`` of the bundled
tiny-vlm (it answers text prompts too). ``vlmeval eval … --judge`` and ``vlmeval score …
--judge`` on MMVet (every item is judged) write the judge's files, its cache and the manifest's
record of the server, and a second run asks the judge nothing."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from catalog_fixtures import md5_of, png_b64, tsv_bytes
from test_endpoint_server import SERVED_AS, VLMEVAL, server  # noqa: F401 (the fixture)
from vlmeval_core.judge.cache import CACHE_FILE
from vlmeval_core.report import result_stem
from vlmeval_core.run_plan import slug

pytestmark = pytest.mark.slow

N = 3


def mmvet_data(data: Path) -> dict[str, str]:
    """MMVet.tsv of N items in ``data``; the environment that accepts it as MMVet's."""
    data.mkdir(parents=True, exist_ok=True)
    rows = pd.DataFrame(
        {
            "index": range(N),
            "image": [png_b64()] * N,
            "question": ["What colour is the square?"] * N,
            "answer": ["red"] * N,
            "category": ["rec", "rec,ocr", "ocr"],
        }
    )
    (data / "MMVet.tsv").write_bytes(tsv_bytes(rows))
    md5 = md5_of((data / "MMVet.tsv").read_bytes())
    return {**os.environ, "HF_HUB_OFFLINE": "1", "VLMEVAL_DATA_MD5_MMVET": md5}


def judge_args(base: str) -> list[str]:
    return ["--judge", SERVED_AS, "--judge-base", base, "--judge-concurrency", "2"]


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)


def test_eval_with_a_judge_writes_its_files_and_a_rerun_asks_it_nothing(server, tmp_path):  # noqa: F811
    env = mmvet_data(tmp_path / "data")
    argv = [
        *(VLMEVAL, "eval", "-m", "tiny-vlm", "-d", "MMVet", "--device", "cpu", "--nproc", "1"),
        *("-o", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data"), "--run-name", "j"),
        *("--max-new-tokens", "8", *judge_args(server)),
    ]
    first = run(argv, env)
    assert first.returncode == 0, first.stderr[-4000:]
    run_dir = tmp_path / "out" / "tiny-vlm" / "j"
    scores = json.loads((run_dir / "MMVet" / "scores.json").read_text())
    assert scores["judge"]["model"] == SERVED_AS and scores["judge"]["requests"] >= N
    stem = f"{result_stem('tiny-vlm', 'MMVet')}_{slug(SERVED_AS)}"
    names = {p.name for p in (run_dir / "MMVet").iterdir()}
    wanted = {CACHE_FILE, f"{stem}.xlsx", f"{stem}_score.csv", f"{stem}_score_fine.csv"}
    assert wanted <= names, names
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["judge"]["base_url"] == server and "models" in manifest["judge"]
    assert manifest["identity"]["judge"]["model"] == SERVED_AS

    again = run(argv, env)
    assert again.returncode == 0, again.stderr[-4000:]
    rescored = json.loads((run_dir / "MMVet" / "scores.json").read_text())
    assert rescored["judge"]["requests"] == 0
    assert rescored["overall"] == scores["overall"]


def test_score_with_a_judge_writes_its_files_and_a_rerun_asks_it_nothing(server, tmp_path):  # noqa: F811
    env = mmvet_data(tmp_path / "data")
    predictions = tmp_path / "m_MMVet.csv"
    pd.DataFrame({"index": range(N), "prediction": ["red", "blue", "a red square"]}).to_csv(
        predictions, index=False
    )
    argv = [
        *(VLMEVAL, "score", str(predictions), "-d", "MMVet", "-o", str(tmp_path / "out")),
        *("--data-dir", str(tmp_path / "data"), *judge_args(server)),
    ]
    first = run(argv, env)
    assert first.returncode == 0, first.stderr[-4000:]
    out = tmp_path / "out" / "MMVet"
    asked = json.loads((out / "scores.json").read_text())["judge"]["requests"]
    assert asked >= N and (out / CACHE_FILE).is_file()
    assert any(p.name.startswith("m_MMVet_") and p.suffix == ".xlsx" for p in out.iterdir())

    again = run(argv, env)
    assert again.returncode == 0, again.stderr[-4000:]
    assert json.loads((out / "scores.json").read_text())["judge"]["requests"] == 0
