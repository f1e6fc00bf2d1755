"""A video that cannot give its frames fails its item alone in a real run (2 gloo ranks):
truncated, zero frames, missing, too long, too many pixels, a FIFO, a directory."""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path

import av
import pytest

from conftest import predictions, run_ranks
from videos import make_video
from vlmeval_core.datasets.registry import resolve_dataset
from vlmeval_core.models.record import ModelSpec
from vlmeval_core.models.registry import TINY_VLM_DIR
from vlmeval_core.run_plan import Plan
from vlmeval_core.video.decode import MAX_DURATION_S, MAX_FRAME_PIXELS

pytestmark = pytest.mark.slow

BAD = {  # video name -> what its item's error says
    "truncated": "cannot be decoded|truncated",
    "empty": "has no video stream|has no frames",
    "missing": "does not exist",
    "long": f"over the limit of {MAX_DURATION_S:,} s",
    "huge": f"pixels a frame, over the limit of {MAX_FRAME_PIXELS:,}",
    "fifo": "is a FIFO, not a video file",
    "folder": "is a directory, not a video file",
}


def _bad_videos(root: Path) -> None:
    whole = make_video(root / "whole.mp4", 120, 30).read_bytes()
    (root / "truncated.mp4").write_bytes(whole[: len(whole) // 3])
    (root / "whole.mp4").unlink()
    with av.open(str(root / "empty.mp4"), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        container.start_encoding()
    # 150 frames at one every 100 s: longer than the limit, cheap to write
    make_video(root / "long.mp4", 150, Fraction(1, 100), 16, 16)
    make_video(root / "huge.mp4", 1, 1, 4096, 2304)
    os.mkfifo(root / "fifo.mp4")
    (root / "folder.mp4").mkdir()


def test_each_bad_video_fails_only_its_item(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    _bad_videos(root)
    good = [f"good{k}" for k in range(3)]
    for name in good:
        make_video(root / f"{name}.mp4", 60, 30)
    names = [good[0], *BAD, *good[1:]]
    rows = [f"{i}\t{v}\tWhich way?\tleft\tright\tA" for i, v in enumerate(names)]
    tsv = root / "clips.tsv"
    tsv.write_text("index\tvideo\tquestion\tA\tB\tanswer\n" + "\n".join(rows) + "\n")
    model = ModelSpec("tiny-vlm", "bundled", str(TINY_VLM_DIR), batch_size=4, max_new_tokens=8)
    plan = Plan(
        model=model,
        datasets=(resolve_dataset(f"{tsv}:video", nframe=4),),
        device="cpu",
        output_dir=str(tmp_path / "out"),
        run_name="test",
    )
    done = run_ranks(plan, nproc=2)
    assert done.returncode == 0, done.stderr[-3000:]
    by_video = {names[r["index"]]: r for r in predictions(plan, "clips")}
    for name in good:
        assert by_video[name]["error"] is None, by_video[name]
    for name, reason in BAD.items():
        error = by_video[name]["error"]
        assert error is not None, name
        assert error.startswith(f"clips.tsv: index {names.index(name)}: video "), error
        assert f"{name}.mp4" in error
        assert re.search(reason, error), (name, error)
        assert "\n" not in error
