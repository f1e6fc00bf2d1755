"""`vlmeval eval` ends with the summary table and the results path on stdout (`--quiet`: none),
and an item that failed (an undecodable image) is counted under `errors`, never `unparsed`.

Real runs: the console script, torchrun, one gloo rank of the bundled tiny-vlm on a
generated Shapes table with one broken image.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import fake_nvml
from vlmeval_core.datasets import shapes

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")
HEADER = "| dataset | metric | score | 95% CI | n | unparsed | errors |"


def shapes_with_a_broken_image(tmp_path: Path) -> Path:
    frame = shapes.generate("ShapesMCQ", n=6)
    frame.loc[2, "image"] = "bm90IGFuIGltYWdl"  # base64 of "not an image"
    path = tmp_path / "Broken.tsv"
    frame.to_csv(path, sep="\t", index=False)
    return path


def evaluate(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    tsv = shapes_with_a_broken_image(tmp_path)
    env = fake_nvml.subprocess_env(None, fake=False, HF_HUB_OFFLINE="1")
    return subprocess.run(
        [VLMEVAL, "eval", "--device", "cpu", "-m", "tiny-vlm", "-d", f"{tsv}:mcq",
         "--output", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data"),
         "--run-name", "r", *extra],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.slow
def test_eval_prints_the_summary_and_counts_the_broken_image_as_an_error(tmp_path):
    done = evaluate(tmp_path)

    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "out" / "tiny-vlm" / "r"
    lines = done.stdout.splitlines()
    assert HEADER in lines
    row = next(line for line in lines if line.startswith("| Broken |"))
    assert row.endswith("| 6 | 0 | 1 |"), row  # n, unparsed, errors
    assert lines[-1] == f"results in {run_dir}"
    assert done.stdout.strip().startswith("# tiny-vlm — r")
    page = (run_dir / "summary.md").read_text()
    overall, section = page.split("\n## ", 1)
    assert overall.strip() in done.stdout  # the overall table; the sections stay in the file
    assert section.startswith("Broken\n") and "## Broken" not in done.stdout

    scores = json.loads((run_dir / "Broken" / "scores.json").read_text())
    assert (scores["n"], scores["unparsed"], scores["errors"]) == (6, 0, 1)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["datasets"]["Broken"]["errors"] == 1
    assert summary["datasets"]["Broken"]["unparsed"] == 0


@pytest.mark.slow
def test_quiet_keeps_stdout_empty_and_still_writes_the_summary(tmp_path):
    done = evaluate(tmp_path, "--quiet")

    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == ""
    assert HEADER in (tmp_path / "out" / "tiny-vlm" / "r" / "summary.md").read_text()
