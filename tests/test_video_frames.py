"""Frame sampling (VLMEvalKit's formulas) and decoding with its per-video failures."""

from __future__ import annotations

import os
from pathlib import Path

import av
import pytest

from videos import make_video
from vlmeval_core.video import decode
from vlmeval_core.video.decode import VideoError, decode_frames
from vlmeval_core.video.sampling import MAX_FRAMES, FrameSpec, SamplingError, frame_indices


def test_nframe_indices_skip_both_ends() -> None:
    assert frame_indices(90, 30.0, FrameSpec(nframe=8)) == [10, 20, 30, 40, 50, 60, 70, 80]
    assert frame_indices(100, 25.0, FrameSpec(nframe=3)) == [25, 50, 75]
    assert frame_indices(4, 30.0, FrameSpec(nframe=8)) == [0, 0, 1, 1, 2, 2, 3, 3]


def test_fps_indices_start_at_zero() -> None:
    assert frame_indices(100, 25.0, FrameSpec(fps=1.0)) == [0, 25, 50, 75]
    assert frame_indices(60, 30.0, FrameSpec(fps=2.0)) == [0, 15, 30, 45]
    assert frame_indices(299, 29.97, FrameSpec(fps=0.5)) == [0, 59, 119, 179]  # 9.98 s: 4 frames


def test_spec_takes_exactly_one_mode() -> None:
    for bad in ({}, {"nframe": 8, "fps": 1.0}, {"nframe": MAX_FRAMES + 1}):
        with pytest.raises(ValueError, match="nframe"):
            FrameSpec(**bad)
    assert FrameSpec(nframe=8).label() == "8frame"
    assert FrameSpec(fps=0.5).label() == "0.5fps"


def test_fps_limits() -> None:
    with pytest.raises(SamplingError, match="no frame"):
        frame_indices(5, 30.0, FrameSpec(fps=1.0))
    with pytest.raises(SamplingError, match="over the limit"):
        frame_indices(30 * 3600 * 2, 30.0, FrameSpec(fps=1.0))


def test_decoded_frames_are_the_sampled_ones(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", 90, 30)
    frames = decode_frames(video, FrameSpec(nframe=8))
    assert frames.indices == (10, 20, 30, 40, 50, 60, 70, 80)
    assert frames.timestamps[0] == pytest.approx(1 / 3)
    images = frames.images()
    assert [im.size for im in images] == [(64, 48)] * 8
    assert all(im.mode == "RGB" for im in images)
    # frame 10's square is at row 20, column 30 (tests/videos.py)
    assert images[0].getpixel((34, 24))[2] > 200
    assert images[1].getpixel((34, 24))[2] < 100
    repeated = decode_frames(make_video(tmp_path / "s.mp4", 4, 30), FrameSpec(nframe=8))
    assert repeated.indices == (0, 0, 1, 1, 2, 2, 3, 3)
    assert repeated.jpegs[0] == repeated.jpegs[1] != repeated.jpegs[2]
    assert not list(tmp_path.glob("*.jpg"))


def _fails(path: Path, match: str, spec: FrameSpec | None = None) -> None:
    with pytest.raises(VideoError, match=match) as caught:
        decode_frames(path, spec or FrameSpec(nframe=8))
    assert str(path) in str(caught.value)


def test_missing_directory_and_fifo(tmp_path: Path) -> None:
    _fails(tmp_path / "none.mp4", "does not exist")
    (tmp_path / "dir.mp4").mkdir()
    _fails(tmp_path / "dir.mp4", "is a directory")
    os.mkfifo(tmp_path / "fifo.mp4")
    _fails(tmp_path / "fifo.mp4", "is a FIFO")  # returns at once: never opened


def test_truncated_and_garbage(tmp_path: Path) -> None:
    whole = make_video(tmp_path / "whole.mp4", 120, 30).read_bytes()
    (tmp_path / "head.mp4").write_bytes(whole[: len(whole) // 2])
    _fails(tmp_path / "head.mp4", "cannot be decoded|ends after|truncated")
    (tmp_path / "text.mp4").write_bytes(b"not a video at all\n" * 10)
    _fails(tmp_path / "text.mp4", "cannot be decoded")


def test_zero_frames(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()  # a header, then no frame at all
    _fails(path, "has no video stream|has no frames")


def test_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    video = make_video(tmp_path / "v.mp4", 90, 30)
    monkeypatch.setattr(decode, "MAX_DURATION_S", 2)
    _fails(video, r"lasts 3 s, over the limit of 2 s")
    monkeypatch.setattr(decode, "MAX_DURATION_S", 60)
    monkeypatch.setattr(decode, "MAX_FRAME_PIXELS", 32 * 32)
    _fails(video, "64x48 pixels a frame, over the limit")
    monkeypatch.setattr(decode, "MAX_FRAME_PIXELS", 64 * 48)
    monkeypatch.setattr(decode, "MAX_FILE_BYTES", 100)
    _fails(video, "bytes, over the limit of 100")
