"""The Shapes benchmark is deterministic, large enough, and self-consistent."""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import sys

import pytest
from PIL import Image

from vlmeval_core.datasets import shapes
from vlmeval_core.datasets.tsv import load_tsv

# md5 of the seed-0 TSVs with the locked dependencies: a change here changes every
# published Shapes number, so it must be deliberate.
PINNED_MD5 = {
    "ShapesMCQ": "2cd2056016787a4abe9773561b40f541",
    "ShapesYN": "07e4d61acc13e8d09774f1bd0aeafb91",
    "ShapesVQA": "21d488d6a631d86563ccb1bf8996f496",
}


def md5_of(name: str, seed: int = 0) -> str:
    return hashlib.md5(shapes.tsv_text(name, seed).encode()).hexdigest()


@pytest.mark.parametrize("name", sorted(shapes.KIND_OF))
def test_a_seed_gives_the_same_bytes_in_another_process(name):
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            "import hashlib, sys; from vlmeval_core.datasets import shapes; "
            f"print(hashlib.md5(shapes.tsv_text({name!r}).encode()).hexdigest())",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert other == md5_of(name) == PINNED_MD5[name]


def test_another_seed_gives_other_items():
    assert md5_of("ShapesVQA", 1) != md5_of("ShapesVQA", 0)


@pytest.mark.parametrize("name", sorted(shapes.KIND_OF))
def test_each_dataset_has_at_least_200_items_in_three_categories(tmp_path, name):
    dataset = load_tsv(shapes.write_tsv(name, tmp_path), name)
    assert dataset.kind == shapes.KIND_OF[name]
    assert len(dataset) >= 200
    assert dataset.frame["category"].value_counts().to_dict() == {
        "color": len(dataset) // 3,
        "shape": len(dataset) // 3,
        "count": len(dataset) // 3,
    }


def test_mcq_answers_are_spread_over_the_letters():
    frame = shapes.generate("ShapesMCQ")
    shares = frame["answer"].value_counts(normalize=True)
    assert set(shares.index) == {"A", "B", "C", "D"}
    assert shares.max() < 0.35


def test_yes_no_answers_are_balanced():
    share = (shapes.generate("ShapesYN")["answer"] == "Yes").mean()
    assert 0.4 < share < 0.6


def test_the_picture_matches_the_answer():
    frame = shapes.generate("ShapesVQA", n=9)
    dataset_rows = frame.to_dict("records")
    colour_row = dataset_rows[0]
    assert colour_row["category"] == "color"
    image = Image.open(io.BytesIO(base64.b64decode(colour_row["image"]))).convert("RGB")
    colours = {c for _, c in image.getcolors(maxcolors=64)}
    assert shapes.COLORS[colour_row["answer"]] in colours
