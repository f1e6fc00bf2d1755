"""Frame sampling parity (issue 21, point 2): the frames we send against VLMEvalKit's own
``VideoBaseDataset.save_video_frames`` (26.3, decord) on generated videos of several
lengths and frame rates, in both modes (``tests/parity/reference_video.py``).

Compared: the indices it reads and the bytes of each JPEG it saves from the frames decord
decodes, against ours from PyAV's frames, made in memory (equal bytes: equal pixels). 26.3's
``save_video_frames`` is the one main e8e78f05 has, formula for formula.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from videos import make_video
from vlmeval_core.video.decode import decode_frames
from vlmeval_core.video.sampling import FrameSpec
from vlmevalkit_reference import PARITY_PYTHON, ROOT

pytestmark = pytest.mark.parity
SCRIPT = ROOT / "tests" / "parity" / "reference_video.py"
VIDEOS = [  # (frames, rate): short, long, fractional and high rates
    (5, 30),
    (30, 10),
    (100, Fraction(30000, 1001)),
    (250, 25),
    (301, 24),
    (420, 60),
    (1000, 30),
]
SETTINGS = [FrameSpec(nframe=n) for n in (1, 4, 8, 16)] + [
    FrameSpec(fps=f) for f in (0.5, 1.0, 2.0, 3.0)
]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    for count, rate in VIDEOS:
        make_video(root / f"v{count}.mp4", count, rate)
    return root


def _reference(root: Path) -> list[dict]:
    if not PARITY_PYTHON.is_file():
        pytest.fail(f"no parity venv at {PARITY_PYTHON}: run `make test-parity`, which builds it")
    request = [
        {"root": str(root), "video": f"v{count}", "nframe": s.nframe, "fps": s.fps or -1}
        for count, _ in VIDEOS
        for s in SETTINGS
    ]
    done = subprocess.run(
        [str(PARITY_PYTHON), str(SCRIPT)],
        input=json.dumps({"videos": request}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_frames_equal_vlmevalkits(videos: Path) -> None:
    expected = iter(_reference(videos))
    compared, too_short = 0, 0
    for count, _ in VIDEOS:
        for spec in SETTINGS:
            theirs = next(expected)
            if not theirs["indices"]:  # too short for this fps: VLMEvalKit sends nothing
                with pytest.raises(Exception, match="no frame"):
                    decode_frames(videos / f"v{count}.mp4", spec)
                too_short += 1
                continue
            frames = decode_frames(videos / f"v{count}.mp4", spec)
            where = f"v{count} {spec.label()}"
            assert list(frames.indices) == theirs["indices"], where
            assert [_sha(j) for j in frames.jpegs] == theirs["jpeg_sha256"], where
            assert len(theirs["files"]) == len(frames.indices)
            compared += 1
    assert (compared, too_short) == (len(VIDEOS) * len(SETTINGS) - 4, 4)  # v5 at every fps
