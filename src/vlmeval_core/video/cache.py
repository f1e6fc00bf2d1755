"""Decoded frames kept on disk for a resumed run, keyed by the video file's md5 and the
frame setting, so a video asked about again (another question on it, a rerun after a
kill) is not decoded again.

One file per video and setting, ``<md5>-<8frame|1fps>.frames``: a JSON header line
(frame count, rate, indices, each JPEG's length) then the JPEGs, written whole
(:func:`vlmeval_core.files.write_atomic`). The directory holds at most
:data:`CACHE_LIMIT_BYTES`; past it, frames are decoded but no longer kept. A file that
does not read back whole is decoded again.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from vlmeval_core.files import write_atomic
from vlmeval_core.video.decode import Frames, decode_frames, video_md5
from vlmeval_core.video.sampling import FrameSpec

CACHE_LIMIT_BYTES = 2 * 1024**3
SUFFIX = ".frames"
CACHE_DIR = ".frames"
"""A run's cache of a dataset: ``<run>/<dataset>/.frames/``, beside its checkpoints."""


class FrameCache:
    """The frames of ``decode_frames``, read from ``directory`` when kept there before."""

    def __init__(self, directory: Path, limit_bytes: int = CACHE_LIMIT_BYTES) -> None:
        self.directory = directory
        self.limit_bytes = limit_bytes
        self.hits = 0
        self._lock = threading.Lock()
        kept = directory.glob(f"*{SUFFIX}") if directory.is_dir() else ()
        self._held = sum(f.stat().st_size for f in kept)

    def frames(self, path: Path, spec: FrameSpec) -> Frames:
        """The frames ``spec`` picks of the video at ``path``: kept ones, else decoded."""
        key = self.directory / f"{video_md5(path)}-{spec.label()}{SUFFIX}"
        kept = _read(key, path)
        if kept is not None:
            with self._lock:
                self.hits += 1
            return kept
        frames = decode_frames(path, spec)
        header = {
            "total": frames.total_frames,
            "fps": frames.video_fps,
            "indices": list(frames.indices),
            "lengths": [len(j) for j in frames.jpegs],
        }
        data = json.dumps(header).encode() + b"\n" + b"".join(frames.jpegs)
        with self._lock:
            if self._held + len(data) > self.limit_bytes:
                return frames
            self._held += len(data)
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomic(key, data)
        return frames


def _read(key: Path, video: Path) -> Frames | None:
    try:
        data = key.read_bytes()
        line, _, body = data.partition(b"\n")
        header = json.loads(line)
        lengths = header["lengths"]
        if sum(lengths) != len(body) or len(lengths) != len(header["indices"]):
            return None
        jpegs, start = [], 0
        for length in lengths:
            jpegs.append(body[start : start + length])
            start += length
        return Frames(video, header["total"], header["fps"], tuple(header["indices"]), tuple(jpegs))
    except (OSError, ValueError, KeyError, TypeError):
        return None
