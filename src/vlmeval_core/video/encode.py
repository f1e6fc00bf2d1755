"""Write RGB frames as an H.264 mp4 (the ShapesVideo benchmark's files, the tests' videos)."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_mp4(path: Path, frames: Iterable[np.ndarray], fps: Fraction | int) -> int:
    """Encode ``frames`` (H x W x 3 uint8, even sizes) at ``fps``; the number written.

    libx264 with its defaults and one thread, so that the same frames give the same bytes.
    """
    count = 0
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        stream.options = {"threads": "1"}
        for array in frames:
            if count == 0:
                stream.height, stream.width = array.shape[:2]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
            count += 1
        for packet in stream.encode():
            container.mux(packet)
    return count
