"""Generated videos for the video tests: a moving square on a changing background."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from vlmeval_core.video.encode import write_mp4


def moving_square(count: int, width: int = 64, height: int = 48) -> Iterator[np.ndarray]:
    """``count`` frames, each different (background red ramps, a white square moves)."""
    for i in range(count):
        frame = np.zeros((height, width, 3), np.uint8)
        frame[..., 0] = i * 9 % 256
        frame[..., 1] = np.arange(width)[None, :] * 4 % 256
        top, left = (i * 2) % (height - 8), (i * 3) % (width - 8)
        frame[top : top + 8, left : left + 8] = 255
        yield frame


def make_video(
    path: Path, count: int, fps: Fraction | int, width: int = 64, height: int = 48
) -> Path:
    """An mp4 of ``count`` frames at ``fps`` written at ``path``."""
    write_mp4(path, moving_square(count, width, height), fps)
    return path
