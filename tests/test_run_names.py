"""Run and dataset names are checked at launch, in one place, before any directory exists.

Before, a run name with a trailing newline passed the launcher's ``re.match`` (``$``
accepts a final newline) and failed in the plan's schema with a traceback; a 300-byte
run name failed with ENAMETOOLONG after creating the output directory; a 251-byte TSV
name failed after all the work, on every rerun; a dataset named ``summary.md`` would
clash with the run directory's own files; ``-m ./my-vlm`` wrote into the hidden
``outputs/.__my-vlm/``.
"""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from vlmeval_core.datasets import shapes
from vlmeval_core.run_names import FILE_NAME_BYTES, RUN_DIR_ENTRIES
from vlmeval_core.run_plan import slug
from vlmeval_launcher.cli import main

pytestmark = pytest.mark.usefixtures("workspace")  # conftest.py


def launch(*args: str):
    argv = ["eval", "-m", "tiny-vlm", "--device", "cpu", "--output", "out", "--dry-run", *args]
    return CliRunner().invoke(main, argv)


def the_line(result) -> str:
    assert result.exit_code == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("vlmeval: error: ")
    return line


def a_tsv_named(directory, stem: str) -> str:
    source = shapes.write_tsv("ShapesMCQ", directory / "made")
    target = directory / f"{stem}.tsv"
    shutil.copy(source, target)
    return str(target)


@pytest.mark.parametrize(
    ("run_name", "says"),
    [
        ("abc\n", "must start with a letter or digit"),
        ("a" * 300, "--run-name is 300 bytes long: at most 128"),
        (".hidden", "must start with a letter or digit"),
    ],
)
def test_a_bad_run_name_is_one_line_and_nothing_is_created(workspace, run_name, says):
    line = the_line(launch("-d", "ShapesMCQ", "--run-name", run_name))
    assert says in line
    assert not (workspace / "out").exists()


def test_a_run_name_at_the_limit_is_taken(workspace):
    assert launch("-d", "ShapesMCQ", "--run-name", "r" * 128).exit_code == 0


def test_a_tsv_name_too_long_for_its_result_files_is_refused_at_launch(workspace):
    tsv = a_tsv_named(workspace, "d" * 251)
    line = the_line(launch("-d", tsv, "--run-name", "r"))
    assert "is 251 bytes long" in line and f"{FILE_NAME_BYTES}-byte limit" in line
    assert "rename its TSV file to at most" in line
    assert not (workspace / "out").exists()


def test_the_longest_dataset_name_the_message_allows_is_taken(workspace):
    first = the_line(launch("-d", a_tsv_named(workspace, "d" * 251), "--run-name", "r"))
    room = int(first.split("at most ")[-1].split(" bytes")[0])
    assert launch("-d", a_tsv_named(workspace, "e" * room), "--run-name", "r").exit_code == 0


@pytest.mark.parametrize("stem", ["summary", "plan", "manifest", "attempts.node-0"])
def test_a_dataset_named_like_a_file_of_the_run_directory_is_refused(workspace, stem):
    name = {"summary": "summary.md", "plan": "plan.json", "manifest": "manifest.json"}.get(
        stem, "attempts.node-0.jsonl"
    )
    line = the_line(launch("-d", a_tsv_named(workspace, name), "--run-name", "r"))
    assert "would clash with the run directory's own" in line
    assert not (workspace / "out").exists()


def test_the_reserved_names_are_what_a_run_directory_holds():
    assert {"plan.json", "summary.md", "summary.json", "manifest.json"} <= RUN_DIR_ENTRIES


@pytest.mark.parametrize(
    ("model", "directory"),
    [("./my-vlm", "my-vlm"), ("../models/my-vlm", "models__my-vlm"), ("org/name", "org__name")],
)
def test_a_model_path_names_a_visible_directory(model, directory):
    assert slug(model) == directory
