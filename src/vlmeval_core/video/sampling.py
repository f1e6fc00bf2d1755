"""Which frames of a video an item sends, by VLMEvalKit's rules (``video_base.py``).

Two modes, never both: ``nframe`` frames spread evenly (``step = frames / (nframe + 1)``,
indices ``int(i * step)`` for i = 1..nframe, so neither end is taken), or ``fps`` frames
per second (``int(duration * fps)`` frames, ``step = video_fps / fps``, from frame 0),
with ``duration = frames / video_fps``. Torch-free and decoder-free.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_FRAMES = 4096
"""The most frames one item may send (an hour at 1 fps fits)."""


class SamplingError(ValueError):
    """A video's frame count or rate gives no frame to send, or too many."""


@dataclass(frozen=True)
class FrameSpec:
    """How frames are picked: exactly one of ``nframe`` > 0 or ``fps`` > 0."""

    nframe: int = 0
    fps: float = 0.0

    def __post_init__(self) -> None:
        if (self.nframe > 0) == (self.fps > 0):
            raise ValueError("give exactly one of nframe > 0 or fps > 0 (VLMEvalKit's rule)")
        if self.nframe > MAX_FRAMES:
            raise ValueError(f"nframe {self.nframe} is over the limit of {MAX_FRAMES} frames")

    @property
    def mode(self) -> str:
        """``nframe`` or ``fps``: the name VLMEvalKit's settings use (``_8frame``, ``_1fps``)."""
        return "nframe" if self.nframe > 0 else "fps"

    def label(self) -> str:
        """VLMEvalKit's suffix for the setting: ``8frame`` or ``1fps`` (``0.5fps``)."""
        return f"{self.nframe}frame" if self.nframe > 0 else f"{self.fps:g}fps"


def frame_indices(total_frames: int, video_fps: float, spec: FrameSpec) -> list[int]:
    """The indices of the frames VLMEvalKit's ``save_video_frames`` takes, in order."""
    if total_frames <= 0:
        raise SamplingError("the video has no frames")
    if spec.nframe > 0:
        step = total_frames / (spec.nframe + 1)
        return [int(i * step) for i in range(1, spec.nframe + 1)]
    if video_fps <= 0:
        raise SamplingError(f"the video's frame rate is {video_fps}, so fps sampling has no step")
    required = int(total_frames / video_fps * spec.fps)
    if required <= 0:
        raise SamplingError(
            f"the video lasts {total_frames / video_fps:.3f} s: at {spec.fps:g} fps that is "
            "no frame (VLMEvalKit sends none either)"
        )
    if required > MAX_FRAMES:
        raise SamplingError(
            f"{spec.fps:g} fps over {total_frames / video_fps:.0f} s is {required} frames, "
            f"over the limit of {MAX_FRAMES}"
        )
    step = video_fps / spec.fps
    return [int(i * step) for i in range(required)]
