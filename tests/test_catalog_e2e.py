"""Every registered benchmark end to end: `vlmeval eval` with two gloo ranks, rank 0 fetching
each TSV from a real HTTP server on 127.0.0.1, tiny-vlm predicting with --limit, and each
benchmark scored by its metric into VLMEvalKit's file names.

The TSVs are small synthetic ones in each benchmark's column layout; their md5 sums are
computed here and handed to the run through VLMEVAL_DATA_MD5_<NAME>, the URL through
VLMEVAL_DATA_URL_BASE (the mirror mechanism). tiny-vlm's answers are not checked, only that
everything flows; the metrics have their own hand-computed tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import fake_nvml
from catalog_fixtures import catalog_files, md5_of, md5_overrides, serving
from vlmeval_core.datasets.registry import DATASETS
from vlmeval_core.report import SUMMARY_KEYS, result_stem
from vlmeval_core.scoring import metric_for

pytestmark = pytest.mark.slow

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")
CATALOG = [  # those a judge scores have their own tests (tests/test_judge_*.py)
    e.name
    for e in DATASETS.values()
    if e.source == "download" and not metric_for(e.kind, e.metric).needs_judge
]
LIMIT = 4
ITEMS = {  # items scored under --limit 4 (rows, questions for MMBench)
    **dict.fromkeys(CATALOG, 4),
    **dict.fromkeys(["MMBench_DEV_EN", "MMBench_DEV_CN"], 2),
    **dict.fromkeys(["MMBench_DEV_EN_V11", "MMBench_DEV_CN_V11"], 2),
    **dict.fromkeys(["ScienceQA_VAL", "ScienceQA_TEST"], 3),  # one row has no image
    **dict.fromkeys(["TextVQA_VAL", "DocVQA_VAL", "InfoVQA_VAL"], 3),
}
TABLE = {"MME": "_score.csv", "POPE": "_score.csv", "HallusionBench": "_score.csv"}
TABLE["OCRBench"] = "_score.json"


def test_every_registered_benchmark_is_fetched_predicted_and_scored(tmp_path):
    files = catalog_files()
    data, output = tmp_path / "data", tmp_path / "outputs"
    with serving(files) as server:
        env = fake_nvml.subprocess_env(
            None,
            fake=False,
            LMUData=str(data),
            HF_HUB_OFFLINE="0",  # datasets may be downloaded; tiny-vlm is bundled anyway
            VLMEVAL_DATA_URL_BASE=server.url + "/mirror",
            **md5_overrides(files),
        )
        done = subprocess.run(
            [
                VLMEVAL,
                "eval",
                "--device",
                "cpu",
                "--nproc",
                "2",
                "--model",
                "tiny-vlm",
                "--data",
                ",".join(CATALOG),
                "--limit",
                str(LIMIT),
                "--output",
                str(output),
                "--run-name",
                "catalog",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        hits = dict(server.hits)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr[-6000:]}"
    # rank 0 downloaded each file once; the other rank waited and read the same file
    assert hits == {f"/mirror/{name}": 1 for name in files}
    for name, payload in files.items():
        assert (data / name).read_bytes() == payload
    assert (data / "A-OKVQA.tsv.sha256").read_text().split()[1] == "A-OKVQA.tsv"

    run_dir = output / "tiny-vlm" / "catalog"
    summary = json.loads((run_dir / "summary.json").read_text())["datasets"]
    manifest = json.loads((run_dir / "manifest.json").read_text())["datasets"]
    assert list(summary) == CATALOG
    for name in CATALOG:
        entry = DATASETS[name]
        scores = json.loads((run_dir / name / "scores.json").read_text())
        assert scores["metric"] == entry.metric, name
        assert scores["n"] == ITEMS[name], name
        assert summary[name] == {k: scores[k] for k in SUMMARY_KEYS}
        table = run_dir / name / f"{result_stem('tiny-vlm', name)}{TABLE.get(name, '_acc.csv')}"
        assert table.is_file(), table
        assert (run_dir / name / f"{result_stem('tiny-vlm', name)}.xlsx").is_file()
        lines = (run_dir / name / "predictions.jsonl").read_text().splitlines()
        rows = 2 * ITEMS[name] if name.startswith("MMBench") else ITEMS[name]
        assert len(lines) == rows, name
        assert all(json.loads(line)["error"] is None for line in lines), name
        assert manifest[name]["md5"] == md5_of(files[entry.file_name]), name
    hallusion = [
        json.loads(line)
        for line in (run_dir / "HallusionBench" / "predictions.jsonl").read_text().splitlines()
    ]
    assert hallusion[0]["source_index"] == "VD_chart_1_0_0_0"


def test_a_download_that_fails_stops_the_run_with_exit_3_and_the_url(tmp_path):
    wrong = b"index\tquestion\tanswer\timage\n0\tQ?\tYes\tx\n"
    with serving({"POPE.tsv": wrong}) as server:
        env = fake_nvml.subprocess_env(
            None,
            fake=False,
            LMUData=str(tmp_path / "data"),
            HF_HUB_OFFLINE="0",
            VLMEVAL_DATA_URL_BASE=server.url + "/mirror",
        )
        done = subprocess.run(
            [
                *(VLMEVAL, "eval", "--device", "cpu", "--nproc", "2", "-m", "tiny-vlm"),
                *("-d", "POPE", "--output", str(tmp_path / "out"), "--run-name", "fails"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        hits = dict(server.hits)
    assert done.returncode == 3, done.stderr[-4000:]
    url = f"{server.url}/mirror/POPE.tsv"
    message = (
        f"vlmeval: error: POPE: the file downloaded from {url} has md5 {md5_of(wrong)}, "
        f"expected {DATASETS['POPE'].md5}"
    )
    assert message in done.stderr
    assert hits == {"/mirror/POPE.tsv": 2}
    assert not (tmp_path / "data" / "POPE.tsv").exists()
    assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith(".")]
