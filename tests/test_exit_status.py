"""An exit status a script can trust: a run whose dataset gave no readable answer writes
everything and then exits 3 (items failed) or 2 (every answer unparsed), with one line
saying why; ``--allow-failed-items`` keeps 0. Real ``vlmeval eval`` runs: against a local
server that answers on cue (the endpoint's process), and tiny-vlm's ranks (the supervisor)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from endpoint_runs import endpoint_eval
from misbehaving_server import MisbehavingServer, Step
from vlmeval_core.datasets import shapes
from vlmeval_core.run_verdict import judge

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")


def endpoint_run(tmp_path: Path, server: MisbehavingServer, *extra: str):
    table = tmp_path / "Shapes.tsv"
    shapes.generate("ShapesMCQ", n=4).to_csv(table, sep="\t", index=False)
    return endpoint_eval(tmp_path, server.base_url, *extra, data=f"{table}:mcq")


def summary(tmp_path: Path) -> dict:
    path = tmp_path / "out" / "fake-vlm" / "r" / "summary.json"
    return json.loads(path.read_text())["datasets"]["Shapes"]


def errors_only(n: int) -> list[Step]:
    return [Step(400, json.dumps({"error": {"message": "bad image"}}).encode())] * n


def test_every_item_failing_exits_3_after_writing_everything_with_one_line(tmp_path):
    with MisbehavingServer(errors_only(4)) as server:
        done = endpoint_run(tmp_path, server)

    assert done.returncode == 3, done.stderr
    assert summary(tmp_path)["errors"] == 4  # the results are written all the same
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("vlmeval: error:")]
    assert "Shapes: 4 of its 4 items failed and no answer was read" in line
    assert "--allow-failed-items" in line


def test_every_answer_unparsed_exits_2(tmp_path):
    with MisbehavingServer(answer="I cannot tell") as server:
        done = endpoint_run(tmp_path, server)

    assert done.returncode == 2, done.stderr
    assert summary(tmp_path)["unparsed"] == 4
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("vlmeval: error:")]
    assert "Shapes: none of its 4 answers could be read (all unparsed)" in line


def test_allow_failed_items_keeps_exit_0(tmp_path):
    with MisbehavingServer(errors_only(4)) as server:
        done = endpoint_run(tmp_path, server, "--allow-failed-items")

    assert done.returncode == 0, done.stderr
    assert "vlmeval: error:" not in done.stderr


def test_one_answer_read_is_enough_for_exit_0(tmp_path):
    with MisbehavingServer(errors_only(3), answer="A") as server:
        done = endpoint_run(tmp_path, server, "--api-concurrency", "1")

    assert done.returncode == 0, done.stderr
    assert summary(tmp_path)["errors"] == 3


@pytest.mark.slow
def test_a_ranks_run_whose_every_image_is_unreadable_exits_3_through_its_supervisor(tmp_path):
    table = tmp_path / "Unreadable.tsv"
    unreadable = base64.b64encode(b"no picture at all " * 8).decode()
    rows = [("index", "image", "question", "A", "B", "answer")]
    rows += [(str(i), unreadable, "What colour is it?", "red", "blue", "A") for i in range(4)]
    table.write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")
    done = subprocess.run(
        [
            *(VLMEVAL, "eval", "--device", "cpu", "--nproc", "2", "-m", "tiny-vlm"),
            *("-d", f"{table}:mcq", "--output", str(tmp_path / "out")),
            *("--data-dir", str(tmp_path / "data"), "--run-name", "r"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )

    assert done.returncode == 3, done.stderr
    run_dir = tmp_path / "out" / "tiny-vlm" / "r"
    assert (
        json.loads((run_dir / "summary.json").read_text())["datasets"]["Unreadable"]["errors"] == 4
    )
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("vlmeval: error:")]
    assert "Unreadable: 4 of its 4 items failed and no answer was read" in line


@pytest.mark.parametrize(
    ("counts", "code"),
    [
        ({"n": 5, "unparsed": 0, "errors": 5}, 3),
        ({"n": 5, "unparsed": 2, "errors": 3}, 3),  # nothing read, and some items failed
        ({"n": 5, "unparsed": 5, "errors": 0}, 2),
        ({"n": 5, "unparsed": 4, "errors": 0}, None),
        ({"n": 0, "unparsed": 0, "errors": 0}, None),
    ],
)
def test_the_verdict_on_one_dataset(counts, code):
    verdict = judge({"D": counts})
    assert (verdict and verdict.exit_code) == code


def test_item_failures_anywhere_outrank_unparsed_elsewhere_and_the_line_names_the_first():
    verdict = judge(
        {
            "A": {"n": 2, "unparsed": 2, "errors": 0},
            "B": {"n": 2, "unparsed": 0, "errors": 2},
            "C": {"n": 2, "unparsed": 0, "errors": 2},
        }
    )
    assert verdict is not None and verdict.exit_code == 3
    assert verdict.message.startswith("B: 2 of its 2 items failed")
    assert "(and 1 other dataset(s) so)" in verdict.message
