"""Run VLMEvalKit's own frame sampling on videos given as JSON; print what it sent.

Run by the parity venv's Python (``make test-parity``), never imported by the suite.
``VideoBaseDataset.save_video_frames`` (``vlmeval/dataset/video_base.py``) runs as is
on an instance whose fields are set by hand (its ``__init__`` needs a benchmark); the
decord it calls is wrapped to record each index it reads.

stdin: ``{"videos": [{"root", "video", "nframe", "fps"}]}``; stdout: for each
``{"indices", "jpeg_sha256", "files"}``: the indices read, the sha256 of each JPEG file
it saved, and the saved files' names.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import pathlib
import sys
import tempfile
import types


def _bypass_package_init() -> None:
    root = pathlib.Path(importlib.util.find_spec("vlmeval").submodule_search_locations[0])
    for name in ("vlmeval", "vlmeval.dataset"):
        module = types.ModuleType(name)
        module.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
        sys.modules[name] = module


_bypass_package_init()

import decord  # noqa: E402
import vlmeval.dataset.video_base as video_base  # noqa: E402

READS: list[int] = []


class RecordingReader(decord.VideoReader):
    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        READS.append(int(index))
        return super().__getitem__(index)


video_base.decord = types.SimpleNamespace(VideoReader=RecordingReader)


def sample(root: str, video: str, nframe: int, fps: float) -> dict:
    READS.clear()
    dataset = object.__new__(video_base.VideoBaseDataset)
    with tempfile.TemporaryDirectory() as frames:
        dataset.frame_root = frames
        dataset.frame_tmpl = "frame-{}-of-{}.jpg"
        dataset.frame_tmpl_fps = "frame-{}-of-{}-{}fps.jpg"
        dataset.data_root = root
        dataset.nframe = nframe
        dataset.fps = fps
        paths = dataset.save_video_frames(video)
        jpegs = [hashlib.sha256(pathlib.Path(p).read_bytes()).hexdigest() for p in paths]
    return {
        "indices": list(READS),
        "jpeg_sha256": jpegs,
        "files": [pathlib.Path(p).name for p in paths],
    }


def main() -> None:
    request = json.load(sys.stdin)
    print(json.dumps([sample(**v) for v in request["videos"]]))


if __name__ == "__main__":
    main()
