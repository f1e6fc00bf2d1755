"""`vlmeval list datasets` and `vlmeval fetch`: what the catalog shows, filling the data dir
from a real HTTP server on 127.0.0.1, the model error path, and no torch on the way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from catalog_fixtures import catalog_files, md5_of, md5_overrides, serving, tsv_bytes
from vlmeval_core.datasets.registry import DATASETS
from vlmeval_launcher.cli import main

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")
CATALOG = [e.name for e in DATASETS.values() if e.source == "download"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(("VLMEVAL_", "HF_")) or name == "LMUData":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_the_catalog_has_every_benchmark_of_the_issue():
    assert set(CATALOG) == {
        "MMBench_DEV_EN",
        "MMBench_DEV_CN",
        "MMBench_DEV_EN_V11",
        "MMBench_DEV_CN_V11",
        "MMStar",
        "SEEDBench_IMG",
        "AI2D_TEST",
        "ScienceQA_VAL",
        "ScienceQA_TEST",
        "RealWorldQA",
        "MMMU_DEV_VAL",
        "A-OKVQA",
        "MME",
        "POPE",
        "HallusionBench",
        "TextVQA_VAL",
        "DocVQA_VAL",
        "InfoVQA_VAL",
        "ChartQA_TEST",
        "OCRBench",
        "MathVista_MINI",
        "MMVet",
    }
    for name in CATALOG:
        entry = DATASETS[name]
        assert entry.url.startswith("https://"), name
        assert entry.md5 is None or len(entry.md5) == 32, name
    assert [n for n in CATALOG if DATASETS[n].md5 is None] == ["A-OKVQA"]


def test_every_metric_and_prompt_style_in_the_registry_exists():
    from vlmeval_core.datasets.prompts import STYLES
    from vlmeval_core.scoring import metric_for

    for entry in DATASETS.values():
        assert metric_for(entry.kind, entry.metric).name == entry.metric, entry.name
        assert entry.prompt_style in STYLES, entry.name


def test_list_datasets_shows_kind_metric_source_and_whether_the_file_is_there(tmp_path):
    (tmp_path / "MMStar.tsv").write_text("x")
    result = invoke("list", "datasets", "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines()[1:] if line}
    assert rows["MMStar"][:5] == ["MMStar", "MCQ", "accuracy", "yes", "opencompass.openxlab.space"]
    assert rows["MMBench_DEV_EN"][:5] == [
        "MMBench_DEV_EN",
        "MCQ",
        "circular_accuracy",
        "no",
        "opencompass.openxlab.space",
    ]
    assert rows["A-OKVQA"][3:5] == ["no", "huggingface.co"]
    assert rows["MME"][1:3] == ["Y/N", "mme_score"]
    assert rows["OCRBench"][1:3] == ["VQA", "ocrbench_score"]
    assert rows["ShapesMCQ"][3:5] == ["generated", "synthetic"]

    records = json.loads(invoke("list", "datasets", "--json", "--data-dir", str(tmp_path)).output)
    by_name = {r["name"]: r for r in records}
    assert by_name["MMStar"]["present"] is True and by_name["POPE"]["present"] is False
    assert by_name["MMStar"]["md5"] == "e1ecd2140806c1b1bbf54b43372efb9e"
    assert by_name["MMStar"]["file"] == str(tmp_path / "MMStar.tsv")
    assert by_name["ShapesYN"]["present"] is None


def test_fetch_fills_the_data_dir_and_a_second_fetch_only_checks(tmp_path, monkeypatch):
    files = catalog_files()
    with serving(files) as server:
        monkeypatch.setenv("VLMEVAL_DATA_URL_BASE", server.url + "/mirror")
        for key, value in md5_overrides(files).items():
            monkeypatch.setenv(key, value)
        data = tmp_path / "data"
        first = invoke("fetch", "-d", "MMStar,POPE", "-d", "A-OKVQA", "--data-dir", str(data))
        assert first.exit_code == 0, first.output
        lines = first.stdout.splitlines()
        assert lines[0] == (
            f"MMStar: downloaded to {data / 'MMStar.tsv'} (md5 {md5_of(files['MMStar.tsv'])})"
        )
        assert lines[1].startswith(f"POPE: downloaded to {data / 'POPE.tsv'}")
        assert (data / "A-OKVQA.tsv.sha256").is_file()
        again = invoke("fetch", "-d", "MMStar", "-d", "ShapesMCQ", "--data-dir", str(data))
        assert again.exit_code == 0
        assert again.stdout.splitlines() == [
            f"MMStar: already in place: {data / 'MMStar.tsv'} (md5 {md5_of(files['MMStar.tsv'])})",
            "ShapesMCQ: generated on demand at run time: nothing to fetch",
        ]
        assert server.hits["/mirror/MMStar.tsv"] == 1
    listed = json.loads(invoke("list", "datasets", "--json", "--data-dir", str(data)).output)
    assert {r["name"] for r in listed if r["present"]} == {"MMStar", "POPE", "A-OKVQA"}


def test_fetch_reports_each_failure_and_exits_3(tmp_path, monkeypatch):
    with serving({"MME.tsv": b"x"}) as server:
        monkeypatch.setenv("VLMEVAL_DATA_URL_BASE", server.url + "/mirror")
        monkeypatch.setenv("VLMEVAL_DATA_MD5_MME", md5_of(b"x"))
        result = CliRunner().invoke(main, ["fetch", "-d", "POPE MME", "--data-dir", str(tmp_path)])
    assert result.exit_code == 3
    assert result.stdout.splitlines()[0].startswith("MME: downloaded to")
    assert result.stderr.splitlines()[-1] + "\n" == (
        f"vlmeval: error: POPE: downloading {server.url}/mirror/POPE.tsv failed: HTTP 404 "
        "Not Found (the URL comes from VLMEVAL_DATA_URL_BASE / VLMEVAL_DATA_URL_*); run "
        "`vlmeval fetch -d POPE` where the network can be reached (same data dir), or set "
        "VLMEVAL_DATA_URL_BASE to a mirror that serves POPE.tsv\n"
    )


def test_fetch_refuses_unknown_names_before_downloading_anything(tmp_path):
    result = CliRunner().invoke(main, ["fetch", "-d", "MMStar,MMBench_DEV", "--data-dir", "x"])
    assert result.exit_code == 2
    assert "'MMBench_DEV' is not a registered dataset" in result.stderr
    assert "did you mean" in result.stderr
    assert not Path("x").exists()
    nothing = CliRunner().invoke(main, ["fetch"])
    assert nothing.exit_code == 2 and "needs --data" in nothing.stderr


def test_fetch_offline_names_the_file_to_place(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = CliRunner().invoke(main, ["fetch", "-d", "MMStar", "--data-dir", str(tmp_path)])
    assert result.exit_code == 3
    assert str(tmp_path / "MMStar.tsv") in result.stderr
    assert DATASETS["MMStar"].url in result.stderr


def run_script(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "VLMEVAL_"))}
    return subprocess.run(
        [VLMEVAL, *args], env={**full, **env}, capture_output=True, text=True, timeout=120
    )


def test_fetch_model_error_path_when_no_hub_can_be_reached(tmp_path):
    done = run_script(
        "fetch",
        "-m",
        "Qwen2-VL-2B-Instruct",
        "-m",
        "tiny-vlm",
        HF_ENDPOINT="http://127.0.0.1:9",
        HF_HOME=str(tmp_path / "hf"),
    )
    assert done.returncode == 3
    assert done.stdout.startswith("tiny-vlm: bundled at ")
    assert done.stdout.rstrip().endswith(": nothing to fetch")
    assert done.stderr.startswith(
        "vlmeval: error: model Qwen/Qwen2-VL-2B-Instruct could not be fetched from the hub ("
    )
    assert "HF_TOKEN" in done.stderr and len(done.stderr.splitlines()) == 1
    unknown = run_script("fetch", "-m", "no such model!", HF_HOME=str(tmp_path / "hf"))
    assert unknown.returncode == 2


PROBE = """
import json, sys
from vlmeval_launcher.cli import main
code = main(sys.argv[1:], standalone_mode=False)
heavy = sorted(m for m in ("torch", "transformers", "pandas") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}))
"""


def test_fetch_and_list_stay_torch_free(tmp_path):
    data = tsv_bytes(__import__("catalog_fixtures").plain_mcq("MMStar"))
    with serving({"MMStar.tsv": data}) as server:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("HF_", "VLMEVAL_"))},
            "VLMEVAL_DATA_URL_BASE": server.url + "/mirror",
            "VLMEVAL_DATA_MD5_MMSTAR": md5_of(data),
            "HF_HOME": str(tmp_path / "hf"),
        }
        for args in (
            ["fetch", "--help"],
            ["fetch", "-d", "MMStar", "--data-dir", str(tmp_path)],
            ["list", "datasets", "--data-dir", str(tmp_path)],
        ):
            done = subprocess.run(
                [sys.executable, "-c", PROBE, *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
            report = json.loads(done.stdout.splitlines()[-1])
            assert report["heavy"] == [], args
            assert report["code"] in (0, None), args
    assert (tmp_path / "MMStar.tsv").read_bytes() == data
