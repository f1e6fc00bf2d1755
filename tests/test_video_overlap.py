"""Decoding that keeps the model busy: a video dataset's next batch is decoded by the decode
pool while the model generates, answers as in line; the frame cache serves a rerun."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from videos import make_video
from vlmeval_core.datasets.tsv import load_tsv
from vlmeval_core.inference import BatchRunner, batches, run_batches
from vlmeval_core.models.hf import Generation
from vlmeval_core.video import cache
from vlmeval_core.video.cache import FrameCache
from vlmeval_core.video.decode import VideoError
from vlmeval_core.video.sampling import FrameSpec

SPEC = FrameSpec(nframe=8)


class SlowModel:
    """Answers each item with its first frame's mean red, after ``seconds`` a batch."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def encode(self, batch):  # type: ignore[no-untyped-def]
        images = [[p["value"] for p in item if p["type"] == "image"] for item in batch]
        return [str(sum(im[0].getpixel((1, 1))[0] for im in [i]) // 8) for i in images]

    def generate_encoded(self, inputs, max_new_tokens):  # type: ignore[no-untyped-def]
        time.sleep(self.seconds)
        return Generation(list(inputs), 0, [1] * len(inputs), ["eos"] * len(inputs))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 short videos of differing lengths (so differing frames), small enough to be quick."""
    root = tmp_path_factory.mktemp("clips")
    rows = []
    for k in range(12):
        make_video(root / f"c{k}.mp4", 40 + 10 * k, 30, 160, 120)
        rows.append(f"{k}\tc{k}\tq?\tx\ty\tA")
    (root / "clips.tsv").write_text("index\tvideo\tquestion\tA\tB\tanswer\n" + "\n".join(rows))
    return root / "clips.tsv"


class Collected:
    """A checkpoint store that keeps the answers in memory."""

    def __init__(self) -> None:
        self.answers: list = []

    def append(self, answers) -> None:  # type: ignore[no-untyped-def]
        self.answers += answers


def _answers(tsv: Path, overlap: bool, seconds: float) -> tuple[dict, float]:
    data = load_tsv(tsv, video=True, frames=SPEC)
    with ThreadPoolExecutor(2) as decoders:
        runner = BatchRunner(SlowModel(seconds), 8, 4, decoders=decoders if overlap else None)
        store = Collected()
        run_batches(runner, data, list(batches(list(range(len(data))), 4)), store, overlap)
    return {a.position: a.prediction for a in store.answers}, runner.stats.input_wait_s


@pytest.mark.slow
def test_overlap_answers_as_in_line_and_waits_less(clips: Path) -> None:
    inline, inline_wait = _answers(clips, overlap=False, seconds=0.3)
    overlapped, overlap_wait = _answers(clips, overlap=True, seconds=0.3)
    assert overlapped == inline and len(inline) == 12
    assert len(set(inline.values())) > 1  # the answers depend on the frames
    assert overlap_wait < inline_wait / 2, (overlap_wait, inline_wait)


def test_the_cache_serves_a_second_read_and_redecodes_a_damaged_file(
    clips: Path, tmp_path: Path
) -> None:
    frames = FrameCache(tmp_path / "cache")
    video = clips.parent / "c0.mp4"
    first = frames.frames(video, SPEC)
    (kept,) = (tmp_path / "cache").glob("*.frames")
    again = FrameCache(tmp_path / "cache").frames(video, SPEC)
    assert (again.indices, again.jpegs) == (first.indices, first.jpegs)
    assert kept.name.endswith("-8frame.frames")
    kept.write_bytes(kept.read_bytes()[:-10])
    rebuilt = FrameCache(tmp_path / "cache")
    assert rebuilt.frames(video, SPEC).jpegs == first.jpegs and rebuilt.hits == 0
    other = FrameCache(tmp_path / "cache").frames(video, FrameSpec(fps=1.0))
    assert other.indices != first.indices


def test_the_cache_keeps_to_its_limit_and_never_reads_a_fifo(
    clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = FrameCache(tmp_path / "small", limit_bytes=100)
    small.frames(clips.parent / "c1.mp4", SPEC)
    assert not list((tmp_path / "small").glob("*.frames"))
    os.mkfifo(tmp_path / "f.mp4")
    with pytest.raises(VideoError, match="is a FIFO"):
        FrameCache(tmp_path / "c").frames(tmp_path / "f.mp4", SPEC)
    assert cache.CACHE_DIR == ".frames"
