"""`vlmeval score` on a result file VLMEvalKit itself wrote, against VLMEvalKit's evaluation of it.

Reference: PyPI ``nvidia-vlmeval`` 26.3 in the parity venv: ``vlmeval.smp.dump`` writes
``<model>_MMStar.xlsx`` as its inference does; ``mcq_vanilla_eval`` and ``report_acc`` score it.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import parity_inputs as gen
from test_parity_metrics import assert_same_table
from vlmevalkit_reference import reference

pytestmark = pytest.mark.parity


def test_score_reads_vlmevalkits_own_result_file_and_agrees_with_its_evaluation(tmp_path):
    rows = gen.mcq_rows(random.Random("score"), 300)
    data = pd.DataFrame(rows).drop(columns=["prediction"]).assign(image_path="x.png")
    data.to_csv(tmp_path / "MMStar.tsv", sep="\t", index=False)
    result = tmp_path / "run" / "SomeVLM_MMStar.xlsx"
    result.parent.mkdir()
    reference("dump", {"rows": rows, "path": str(result)})

    done = subprocess.run(
        [str(Path(sys.executable).parent / "vlmeval"), "score", str(result),
         "-d", str(tmp_path / "MMStar.tsv"), "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    ours = pd.read_csv(tmp_path / "run" / "MMStar" / "SomeVLM_MMStar_acc.csv")
    theirs = reference("mcq", {"dataset": "MMStar", "rows": rows, "circular": False})
    assert_same_table(ours, theirs["table"], keyed=True)
