"""ShapesVideo: short mp4s of moving shapes, generated deterministically on demand.

Each item is a 4-second video (32 frames at 8 fps, 56x56) and a 4-option question,
in equal parts about the direction one shape moves (left, right, up, down), which
of two shapes appears first (the second appears at frame 12), or how many shapes
appear (1 to 4, one every 6 frames, all staying). Every event is visible in the
frames both of VLMEvalKit's usual settings pick (``nframe=8``: frames 3, 7, …, 28;
``fps=1``: frames 0, 8, 16, 24). Written as VLMEvalKit's video TSV
(``index, video, question, A-D, answer, category``) beside a directory of the
videos, ``<video>.mp4`` relative to the TSV, as :mod:`vlmeval_core.video` reads it.

The TSV's bytes follow from the seed alone (``random.random()`` as in
:mod:`vlmeval_core.datasets.shapes`); :data:`GENERATED_MD5` pins seed 0's. The
videos are libx264's encoding of fixed frames, one thread: the same bytes for the
same locked PyAV.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from vlmeval_core.datasets.shapes import COLORS, SHAPES, ShapeRng, shape_mask, tsv_name
from vlmeval_core.files import write_atomic
from vlmeval_core.video.encode import write_mp4

NAME = "ShapesVideo"
FRAME_SIZE = 56
FPS = 8
FRAMES = 32
ITEMS = 120
CATEGORIES = ("direction", "order", "count")
DIRECTIONS = ("left", "right", "up", "down")
MAX_COUNT = 4
SECOND_AT = 12
"""The frame the second shape of an ``order`` item appears at."""
APPEAR_EVERY = 6
"""Frames between the shapes of a ``count`` item."""
QUESTIONS = {
    "direction": "In which direction does the shape move?",
    "order": "Which shape appears first in the video?",
    "count": "How many shapes appear in the video?",
}
GENERATED_MD5 = "bac13ec4f04b745cc61a6cd78f0d4413"
"""md5 of :func:`tsv_text` for seed 0 (UTF-8), pinned by tests/test_shapes_video.py."""

Sprite = tuple[str, str, int, tuple[float, float], tuple[float, float]]
"""(shape, colour, first frame, start centre, end centre) in pixels."""


def _corner(rng: ShapeRng, quadrant: int) -> tuple[float, float]:
    half = FRAME_SIZE / 2
    x = (quadrant % 2) * half + half / 2 + rng.uniform(-0.04, 0.04) * FRAME_SIZE
    y = (quadrant // 2) * half + half / 2 + rng.uniform(-0.04, 0.04) * FRAME_SIZE
    return x, y


def _scene(category: str, rng: ShapeRng) -> tuple[list[Sprite], str, list[str]]:
    """The sprites of an item, its right answer and every answer of its category."""
    colours = list(COLORS)
    if category == "direction":
        way = rng.pick(DIRECTIONS)
        across = rng.uniform(0.3, 0.7) * FRAME_SIZE
        low, high = 0.2 * FRAME_SIZE, 0.8 * FRAME_SIZE
        start, end = (high, low) if way in ("left", "up") else (low, high)
        path = ((start, across), (end, across)) if way in ("left", "right") else (
            (across, start), (across, end))  # fmt: skip
        return [(rng.pick(SHAPES), rng.pick(colours), 0, *path)], way, list(DIRECTIONS)
    if category == "order":
        first, second = rng.shuffled(list(SHAPES))[:2]
        tint_a, tint_b = rng.shuffled(colours)[:2]
        qa, qb = rng.shuffled([0, 1, 2, 3])[:2]
        a, b = _corner(rng, qa), _corner(rng, qb)
        return [(first, tint_a, 0, a, a), (second, tint_b, SECOND_AT, b, b)], first, list(SHAPES)
    count = 1 + rng.below(MAX_COUNT)
    quadrants = rng.shuffled([0, 1, 2, 3])[:count]
    sprites: list[Sprite] = []
    for k, q in enumerate(quadrants):
        centre = _corner(rng, q)
        sprites.append((rng.pick(SHAPES), rng.pick(colours), k * APPEAR_EVERY, centre, centre))
    return sprites, str(count), [str(n) for n in range(1, MAX_COUNT + 1)]


def frames(sprites: list[Sprite]) -> Iterator[np.ndarray]:
    """The video's RGB frames: each sprite from its first frame on, moving linearly."""
    radius = FRAME_SIZE * 0.15
    for t in range(FRAMES):
        canvas = np.full((FRAME_SIZE, FRAME_SIZE, 3), 250, dtype=np.uint8)
        for shape, colour, first, (x0, y0), (x1, y1) in sprites:
            if t < first:
                continue
            share = t / (FRAMES - 1)
            cx, cy = x0 + (x1 - x0) * share, y0 + (y1 - y0) * share
            canvas[shape_mask(shape, cx, cy, radius, FRAME_SIZE)] = COLORS[colour]
        yield canvas


def make_item(category: str, rng: ShapeRng) -> tuple[dict[str, str], list[Sprite]]:
    """One item about ``category``: its TSV fields (question, A-D, answer, category) and
    the sprites of its video (:func:`frames`)."""
    sprites, truth, choices = _scene(category, rng)
    wrong = rng.shuffled([c for c in choices if c != truth])[:3]
    options = rng.shuffled([truth, *wrong])
    fields = {"question": QUESTIONS[category], **dict(zip("ABCD", options, strict=True))}
    fields["answer"] = "ABCD"[options.index(truth)]
    fields["category"] = category
    return fields, sprites


def _items(seed: int) -> Iterator[tuple[dict[str, object], list[Sprite]]]:
    rng = ShapeRng(seed * 1000 + 21)
    videos = Path(tsv_name(NAME, seed)).stem
    for index in range(ITEMS):
        fields, sprites = make_item(CATEGORIES[index % len(CATEGORIES)], rng)
        yield {"index": index, "video": f"{videos}/{index:04d}", **fields}, sprites


def generate(seed: int = 0) -> pd.DataFrame:
    """The TSV rows for ``seed``: categories interleaved, index 0..ITEMS-1."""
    columns = ["index", "video", "question", "A", "B", "C", "D", "answer", "category"]
    return pd.DataFrame([row for row, _ in _items(seed)], columns=columns)


def tsv_text(seed: int = 0) -> str:
    """ShapesVideo as the text of VLMEvalKit's video TSV."""
    return generate(seed).to_csv(sep="\t", index=False, lineterminator="\n")


def ensure(directory: Path, seed: int = 0) -> Path:
    """The TSV and every video in ``directory``, each written whole when missing or
    (the TSV) not current; the videos first, so a TSV on disk has its videos."""
    path = Path(directory) / tsv_name(NAME, seed)
    for row, sprites in _items(seed):
        video = path.parent / f"{row['video']}.mp4"
        if video.is_file():
            continue
        video.parent.mkdir(parents=True, exist_ok=True)
        temp = video.with_name(f".{video.name}.{os.getpid()}.tmp")
        try:
            write_mp4(temp, frames(sprites), FPS)
            os.replace(temp, video)
        finally:
            temp.unlink(missing_ok=True)
    text = tsv_text(seed)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_atomic(path, text)
    return path
