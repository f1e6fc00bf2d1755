"""ShapesVideo: generated TSV and videos, pinned md5, and answers the frames show (the
generated set, 120 videos, takes some seconds: those tests are slow)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from vlmeval_core.datasets import shapes_video
from vlmeval_core.datasets.on_disk import ensure_on_disk
from vlmeval_core.datasets.registry import resolve_dataset
from vlmeval_core.datasets.tsv import load_tsv
from vlmeval_core.video.sampling import FrameSpec

SETTINGS = (FrameSpec(nframe=8), FrameSpec(fps=1.0))


def test_the_tsv_of_seed_0_has_the_pinned_md5_and_other_seeds_differ() -> None:
    text = shapes_video.tsv_text()
    assert hashlib.md5(text.encode()).hexdigest() == shapes_video.GENERATED_MD5
    assert shapes_video.tsv_text(seed=1) != text
    frame = shapes_video.generate()
    assert len(frame) == shapes_video.ITEMS
    assert frame["category"].value_counts().to_dict() == {
        c: shapes_video.ITEMS // 3 for c in shapes_video.CATEGORIES
    }
    assert set(frame["answer"]) == set("ABCD")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("data")
    ref = resolve_dataset("ShapesVideo", nframe=8)
    return ensure_on_disk(ref, data, data / "run", seed=0)


@pytest.mark.slow
def test_ensure_writes_the_tsv_and_every_video_once(generated: Path) -> None:
    assert generated.name == "ShapesVideo.tsv"
    videos = sorted((generated.parent / "ShapesVideo").glob("*.mp4"))
    assert len(videos) == shapes_video.ITEMS
    stamp = videos[0].stat().st_mtime_ns
    shapes_video.ensure(generated.parent)
    assert videos[0].stat().st_mtime_ns == stamp
    videos[1].unlink()
    shapes_video.ensure(generated.parent)
    assert videos[1].is_file()
    assert not list(generated.parent.rglob(".*.tmp"))


def _coloured(image) -> np.ndarray:  # type: ignore[no-untyped-def]
    pixels = np.asarray(image).astype(int)
    return (np.abs(pixels - 250).max(axis=2) > 60).astype(float)


@pytest.mark.slow
@pytest.mark.parametrize("spec", SETTINGS, ids=lambda s: s.label())
def test_the_sampled_frames_show_each_answer(generated: Path, spec: FrameSpec) -> None:
    data = load_tsv(generated, "ShapesVideo", video=True, frames=spec)
    for position in range(0, len(data), 5):
        row = data.row(position)
        truth = row[row["answer"]]
        masks = [_coloured(im) for im in data.images(position)]
        if row["category"] == "direction":
            ys, xs = np.indices(masks[0].shape)
            first, last = masks[0], masks[-1]
            dx = (xs * last).sum() / last.sum() - (xs * first).sum() / first.sum()
            dy = (ys * last).sum() / last.sum() - (ys * first).sum() / first.sum()
            seen = ("right" if dx > 0 else "left") if abs(dx) > abs(dy) else (
                "down" if dy > 0 else "up")  # fmt: skip
            assert seen == truth, (position, dx, dy)
        elif row["category"] == "count":
            assert ndimage.label(masks[-1])[1] == int(truth), position
        else:  # order: one shape in the first frame, two in the last
            assert ndimage.label(masks[0])[1] == 1
            assert ndimage.label(masks[-1])[1] == 2
