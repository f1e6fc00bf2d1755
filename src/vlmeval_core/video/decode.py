"""Decode a video's sampled frames as VLMEvalKit sends them, in memory, within limits.

VLMEvalKit reads a video with decord, takes the frames :mod:`.sampling` picks, makes
each a PIL image (RGB) and saves it as ``frame-i-of-N.jpg`` (``frame-i-of-N-<fps>fps.jpg``)
under ``LMUData/images/<dataset>/<video>/``: a JPEG at Pillow's default quality, which
its model then opens. Here the same JPEG bytes are made in memory and nothing is written.
PyAV decodes (README, "Video benchmarks": its RGB frames equal decord's): the frame
count and rate are the stream's, as decord reads them; a far frame is reached by a seek
to the keyframe before it, a near one by decoding on.

Every failure of one video (missing, not a regular file, truncated, no frames, too
long, too many pixels, undecodable) is a :class:`VideoError` naming the file.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import av.error
import numpy as np
from PIL import Image

from vlmeval_core.files import file_kind
from vlmeval_core.video.sampling import FrameSpec, SamplingError, frame_indices

MAX_DURATION_S = 4 * 3600
"""The longest video an item may have (Video-MME's long videos last up to an hour)."""
MAX_FRAME_PIXELS = 3840 * 2160
"""The largest frame (width x height) decoded: 4K."""
MAX_FILE_BYTES = 8 * 1024**3
"""The largest video file opened."""
SEEK_AHEAD_FRAMES = 64
"""A frame further ahead than this is reached by a seek, a nearer one by decoding on."""


class VideoError(Exception):
    """One video cannot give its frames: the item fails, the run goes on."""


@dataclass(frozen=True)
class Frames:
    """The frames one item sends: indices into the video, times, and the JPEG bytes."""

    video: Path
    total_frames: int
    video_fps: float
    indices: tuple[int, ...]
    jpegs: tuple[bytes, ...]

    @property
    def timestamps(self) -> tuple[float, ...]:
        """Each frame's time in seconds (index / the stream's average rate)."""
        return tuple(i / self.video_fps for i in self.indices) if self.video_fps else ()

    def images(self) -> list[Image.Image]:
        """The frames as VLMEvalKit's model opens its saved JPEGs (RGB)."""
        images = []
        for data in self.jpegs:
            with Image.open(io.BytesIO(data)) as image:
                images.append(image.convert("RGB"))
        return images

    @property
    def nbytes(self) -> int:
        return sum(len(j) for j in self.jpegs)


def jpeg_bytes(image: Image.Image) -> bytes:
    """The bytes ``image.save('frame-….jpg')`` writes: JPEG at Pillow's default settings."""
    saved = io.BytesIO()
    image.save(saved, format="JPEG")
    return saved.getvalue()


def video_md5(path: Path) -> str:
    """The md5 of the video file (the frame cache's key), read as :func:`decode_frames`
    would open it: a FIFO or directory is refused, never read."""
    digest = hashlib.md5(usedforsecurity=False)
    with _regular_file(path) as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def probe(path: Path, spec: FrameSpec) -> tuple[int, float, list[int]]:
    """The video's frame count and rate and the indices ``spec`` picks, nothing decoded."""
    try:
        with _regular_file(path) as handle, av.open(handle, mode="r") as container:
            if not container.streams.video:
                raise VideoError(f"video {str(path)!r} has no video stream")
            total, rate = _count_and_rate(container, container.streams.video[0], path)
    except VideoError:
        raise
    except (av.error.FFmpegError, OSError, ValueError, MemoryError) as exc:
        raise VideoError(
            f"video {str(path)!r} cannot be decoded ({type(exc).__name__}: {exc})"
        ) from None
    try:
        return total, float(rate), frame_indices(total, float(rate), spec)
    except SamplingError as exc:
        raise VideoError(f"video {str(path)!r}: {exc}") from None


def decode_frames(path: Path, spec: FrameSpec) -> Frames:
    """The frames of the video at ``path`` that ``spec`` picks, JPEG-encoded in memory."""
    try:
        with _regular_file(path) as handle, av.open(handle, mode="r") as container:
            if not container.streams.video:
                raise VideoError(f"video {str(path)!r} has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            total, rate = _count_and_rate(container, stream, path)
            _check_size(stream, path)
            try:
                indices = frame_indices(total, float(rate), spec)
            except SamplingError as exc:
                raise VideoError(f"video {str(path)!r}: {exc}") from None
            jpegs = [jpeg_bytes(Image.fromarray(a)) for a in _arrays(container, stream, indices)]
    except VideoError:
        raise
    except (av.error.FFmpegError, OSError, ValueError, MemoryError) as exc:
        raise VideoError(
            f"video {str(path)!r} cannot be decoded ({type(exc).__name__}: {exc})"
        ) from None
    if len(jpegs) < len(indices):
        raise VideoError(
            f"video {str(path)!r} ends after frame {len(jpegs)} of the {len(indices)} to send "
            f"(frame {indices[len(jpegs)]} of {total}): truncated?"
        )
    return Frames(path, total, float(rate), tuple(indices), tuple(jpegs))


@contextmanager
def _regular_file(path: Path) -> Iterator[BinaryIO]:
    """The file opened for reading if it is a regular one within MAX_FILE_BYTES (a FIFO
    would block the reader): checked before the open and again on the descriptor."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise VideoError(f"video {str(path)!r} does not exist") from None
    _check_kind(path, mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        _check_kind(path, info.st_mode)
        if info.st_size > MAX_FILE_BYTES:
            raise VideoError(
                f"video {str(path)!r} is {info.st_size:,} bytes, over the limit of "
                f"{MAX_FILE_BYTES:,}"
            )
    except VideoError:
        os.close(fd)
        raise
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as handle:
        yield handle


def _check_kind(path: Path, mode: int) -> None:
    kind = file_kind(mode)
    if kind is not None:
        raise VideoError(f"video {str(path)!r} is {kind}, not a video file")


def _count_and_rate(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, path: Path
) -> tuple[int, Fraction]:
    """The stream's frame count and average rate, as decord's ``len`` and ``get_avg_fps``."""
    rate = stream.average_rate or stream.guessed_rate
    if not rate or rate <= 0:
        raise VideoError(f"video {str(path)!r} declares no frame rate")
    total = stream.frames
    if total <= 0:  # no count in the container: count the stream's packets
        total = sum(1 for p in container.demux(stream) if p.size)
        container.seek(0)
    if total <= 0:
        raise VideoError(f"video {str(path)!r} has no frames")
    if total / rate > MAX_DURATION_S:
        raise VideoError(
            f"video {str(path)!r} lasts {float(total / rate):,.0f} s, over the limit of "
            f"{MAX_DURATION_S:,} s"
        )
    return total, Fraction(rate)


def _check_size(stream: av.video.stream.VideoStream, path: Path) -> None:
    width, height = stream.codec_context.width, stream.codec_context.height
    if width * height > MAX_FRAME_PIXELS:
        raise VideoError(
            f"video {str(path)!r} is {width}x{height} pixels a frame, over the limit of "
            f"{MAX_FRAME_PIXELS:,}"
        )


def _arrays(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    indices: list[int],
) -> Iterator[np.ndarray]:
    """The RGB arrays of the frames at ``indices`` (ascending; a short video's nframe
    repeats some), stopping early where the stream ends."""
    rate = Fraction(stream.average_rate or stream.guessed_rate)
    base = stream.time_base
    start = stream.start_time or 0
    frames: Iterator[av.VideoFrame] | None = None
    position, last = -1, None
    for wanted in indices:
        if wanted == position and last is not None:
            yield last
            continue
        if frames is None or wanted - position > SEEK_AHEAD_FRAMES:
            container.seek(start + int(wanted / rate / base), stream=stream, backward=True)
            frames = container.decode(stream)
        for frame in frames:
            if frame.pts is None:
                continue
            position = round((frame.pts - start) * base * rate)
            if position > wanted:
                raise VideoError(
                    f"frame {wanted} is missing: the stream goes from before it to frame "
                    f"{position} (a variable frame rate?)"
                )
            if position == wanted:
                _check_frame(frame)
                last = frame.to_ndarray(format="rgb24")
                yield last
                break
        else:
            return


def _check_frame(frame: av.VideoFrame) -> None:
    if frame.width * frame.height > MAX_FRAME_PIXELS:
        raise VideoError(f"a frame is {frame.width}x{frame.height} pixels, over the limit")
