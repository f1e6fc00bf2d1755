"""The one reader of a results directory (vlmeval_core.results_dir): a run directory and a
score directory read alike, and each unreadable file a UsageError naming its path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from vlmeval_core.errors import UsageError
from vlmeval_core.files import write_json
from vlmeval_core.identity import IDENTITY_FILE
from vlmeval_core.report import MANIFEST_FILE, PREDICTIONS_FILE, SCORES_FILE, SUMMARY_FILE
from vlmeval_core.results_dir import read_results


def dataset_folder(root: Path, name: str) -> Path:
    folder = root / name
    write_json(folder / SCORES_FILE, {"metric": "accuracy", "overall": 0.5})
    (folder / PREDICTIONS_FILE).write_text('{"index": 1}\n\n{"index": 2}\n', encoding="utf-8")
    return folder


def test_a_run_directory_in_its_summarys_order_with_identity_and_manifest(tmp_path):
    for name in ("Zeta", "Alpha", "Extra"):
        dataset_folder(tmp_path, name)
    (tmp_path / "logs").mkdir()
    write_json(
        tmp_path / SUMMARY_FILE, {"model": "m", "run": "r", "datasets": {"Zeta": {}, "Alpha": {}}}
    )
    write_json(tmp_path / IDENTITY_FILE, {"seed": 0})
    write_json(tmp_path / MANIFEST_FILE, {"datasets": {"Zeta": {"md5": "x", "kind": "mcq"}}})

    results = read_results(tmp_path)

    assert list(results.datasets) == ["Zeta", "Alpha", "Extra"]
    assert results.datasets["Alpha"] == tmp_path / "Alpha"
    assert results.title == "m / r" and results.identity == {"seed": 0}
    assert results.recorded == {"Zeta": {"md5": "x", "kind": "mcq"}}
    assert results.scores("Alpha") == {"metric": "accuracy", "overall": 0.5}
    assert results.predictions("Alpha") == [{"index": 1}, {"index": 2}]


def test_a_score_directory_has_its_datasets_by_name_and_nothing_else(tmp_path):
    for name in ("b", "a"):
        dataset_folder(tmp_path, name)

    results = read_results(tmp_path)

    assert list(results.datasets) == ["a", "b"]
    assert results.summary is None and results.title is None
    assert results.identity is None and results.recorded == {}


@pytest.mark.parametrize("broken", [SUMMARY_FILE, IDENTITY_FILE, MANIFEST_FILE, SCORES_FILE])
def test_a_broken_json_file_is_a_usage_error_naming_its_path(tmp_path, broken):
    folder = dataset_folder(tmp_path, "a")
    path = (folder if broken == SCORES_FILE else tmp_path) / broken
    path.write_text("{not json", encoding="utf-8")

    with pytest.raises(UsageError) as caught:
        read_results(tmp_path).scores("a")

    assert str(caught.value).startswith(f"{path}: not readable JSON (")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("lines", "said"),
    [("{\n", "not readable JSON lines ("), ("[1]\n", "a line is not a JSON object")],
)
def test_broken_predictions_name_their_path(tmp_path, lines, said):
    folder = dataset_folder(tmp_path, "a")
    (folder / PREDICTIONS_FILE).write_text(lines, encoding="utf-8")

    with pytest.raises(UsageError, match=re.escape(f"{folder / PREDICTIONS_FILE}: {said}")):
        read_results(tmp_path).predictions("a")


def test_what_is_no_results_directory_is_refused_naming_it(tmp_path):
    with pytest.raises(UsageError, match="nowhere: no such directory"):
        read_results(tmp_path / "nowhere")
    with pytest.raises(UsageError, match="not a run directory or a vlmeval score output"):
        read_results(tmp_path)
    dataset_folder(tmp_path, "a")
    (tmp_path / SUMMARY_FILE).write_text(json.dumps({"datasets": {"a": {}, "b": {}}}))
    with pytest.raises(UsageError, match=re.escape(f"{tmp_path / 'b' / SCORES_FILE}: missing")):
        read_results(tmp_path)
