"""The Shapes benchmark: rendered coloured shapes, generated deterministically on demand.

Three datasets share one generator: ``ShapesMCQ`` (4 options), ``ShapesYN``
(yes/no) and ``ShapesVQA`` (one word). Each asks, in equal parts, about the
colour of a large shape, which shape it is, or how many small shapes an image
holds. Items come out as rows of VLMEvalKit's TSV format, so the Shapes data
flows through exactly the path a downloaded benchmark takes.

Only Python's ``random.random()`` (whose sequence Python guarantees) and
integer pixel maths are used, so a seed gives the same bytes on every machine
with the locked dependencies.
"""

from __future__ import annotations

import base64
import io
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from vlmeval_core.files import write_atomic

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 30),
    "purple": (140, 60, 180),
    "orange": (245, 130, 20),
}
SHAPES = ("circle", "square", "triangle", "diamond")
CATEGORIES = ("color", "shape", "count")
MAX_COUNT = 4
IMAGE_SIZE = 56
ITEMS_PER_DATASET = 240
KIND_OF = {"ShapesMCQ": "mcq", "ShapesYN": "yorn", "ShapesVQA": "vqa"}
_STREAM_OF = {"mcq": 1, "yorn": 2, "vqa": 3}


@dataclass(frozen=True)
class Scene:
    """What an image shows: ``count`` shapes, or one large shape when ``count`` is 1 and large."""

    category: str
    objects: tuple[tuple[str, str], ...]  # (shape, colour) per object


class ShapeRng:
    """Draws built only on ``random.random()``, whose sequence Python keeps stable."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self._random.random()

    def below(self, n: int) -> int:
        return min(int(self._random.random() * n), n - 1)

    def pick(self, seq):  # type: ignore[no-untyped-def]
        return seq[self.below(len(seq))]

    def shuffled(self, seq: list) -> list:  # type: ignore[type-arg]
        items = list(seq)
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]
        return items


def shape_mask(shape: str, cx: float, cy: float, r: float, size: int) -> np.ndarray:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    dx, dy = xs - cx, ys - cy
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "square":
        half = r * 0.82
        return (np.abs(dx) <= half) & (np.abs(dy) <= half)
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= r
    if shape == "triangle":
        top, base, half = cy - r, cy + r * 0.8, r * 0.95
        inside_y = (ys >= top) & (ys <= base)
        width = half * (ys - top) / (base - top)
        return inside_y & (np.abs(dx) <= width)
    raise ValueError(f"unknown shape {shape!r}")


def render(scene: Scene, rng: ShapeRng, size: int = IMAGE_SIZE) -> Image.Image:
    """Draw a scene: one shape filling much of the image, or 1-4 small ones in quadrants."""
    canvas = np.full((size, size, 3), 250, dtype=np.uint8)
    if scene.category == "count":
        quadrants = rng.shuffled([0, 1, 2, 3])[: len(scene.objects)]
        for (shape, colour), q in zip(scene.objects, quadrants, strict=True):
            r = size * rng.uniform(0.15, 0.19)
            qx, qy = (q % 2) * size / 2, (q // 2) * size / 2
            cx = qx + size / 4 + rng.uniform(-0.04, 0.04) * size
            cy = qy + size / 4 + rng.uniform(-0.04, 0.04) * size
            canvas[shape_mask(shape, cx, cy, r, size)] = COLORS[colour]
    else:
        ((shape, colour),) = scene.objects
        r = size * rng.uniform(0.30, 0.42)
        cx = size / 2 + rng.uniform(-1, 1) * (size / 2 - r) * 0.5
        cy = size / 2 + rng.uniform(-1, 1) * (size / 2 - r) * 0.5
        canvas[shape_mask(shape, cx, cy, r, size)] = COLORS[colour]
    return Image.fromarray(canvas, mode="RGB")


def _scene(category: str, rng: ShapeRng) -> Scene:
    colours = list(COLORS)
    if category == "count":
        n = 1 + rng.below(MAX_COUNT)
        return Scene(category, tuple((rng.pick(SHAPES), rng.pick(colours)) for _ in range(n)))
    return Scene(category, ((rng.pick(SHAPES), rng.pick(colours)),))


def _truth(scene: Scene) -> tuple[str, list[str]]:
    """The right answer for a scene's category and every possible answer of that category."""
    if scene.category == "color":
        return scene.objects[0][1], list(COLORS)
    if scene.category == "shape":
        return scene.objects[0][0], list(SHAPES)
    return str(len(scene.objects)), [str(n) for n in range(1, MAX_COUNT + 1)]


MCQ_QUESTIONS = {
    "color": "What color is the shape?",
    "shape": "Which shape is shown in the image?",
    "count": "How many shapes are in the image?",
}
VQA_QUESTIONS = {
    "color": "What color is the shape?",
    "shape": "What shape is in the image?",
    "count": "How many shapes are in the image?",
}


def _yorn_question(category: str, claim: str) -> str:
    if category == "color":
        return f"Is the shape {claim}?"
    if category == "shape":
        return f"Is there a {claim} in the image?"
    return f"Are there {claim} shapes in the image?"


def make_item(
    kind: str, category: str, rng: ShapeRng, size: int = IMAGE_SIZE
) -> tuple[Image.Image, dict[str, str]]:
    """One item of ``kind`` ('mcq', 'yorn', 'vqa') about ``category``: its image and TSV fields."""
    scene = _scene(category, rng)
    image = render(scene, rng, size)
    truth, choices = _truth(scene)
    if kind == "mcq":
        wrong = rng.shuffled([c for c in choices if c != truth])[:3]
        options = rng.shuffled([truth, *wrong])
        letters = "ABCD"
        fields = {"question": MCQ_QUESTIONS[category]}
        fields.update({letter: opt for letter, opt in zip(letters, options, strict=True)})
        fields["answer"] = letters[options.index(truth)]
    elif kind == "yorn":
        says_yes = rng.below(2) == 0
        claim = truth if says_yes else rng.pick([c for c in choices if c != truth])
        fields = {
            "question": _yorn_question(category, claim),
            "answer": "Yes" if says_yes else "No",
        }
    elif kind == "vqa":
        fields = {"question": VQA_QUESTIONS[category], "answer": truth}
    else:
        raise ValueError(f"unknown kind {kind!r}")
    fields["category"] = category
    return image, fields


def encode_png(image: Image.Image) -> str:
    """Base64 of a PNG, the way VLMEvalKit TSVs carry images."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def generate(
    name: str, seed: int = 0, n: int = ITEMS_PER_DATASET, image_size: int = IMAGE_SIZE
) -> pd.DataFrame:
    """The rows of Shapes dataset ``name`` for ``seed``: categories interleaved, index 0..n-1."""
    kind = KIND_OF[name]
    rng = ShapeRng(seed * 1000 + _STREAM_OF[kind])
    rows = []
    for index in range(n):
        category = CATEGORIES[index % len(CATEGORIES)]
        image, fields = make_item(kind, category, rng, image_size)
        rows.append({"index": index, "image": encode_png(image), **fields})
    columns = ["index", "image", "question"]
    columns += ["A", "B", "C", "D"] if kind == "mcq" else []
    columns += ["answer", "category"]
    return pd.DataFrame(rows, columns=columns)


def tsv_name(name: str, seed: int) -> str:
    """File name of a generated dataset in the data dir: seed 0 keeps the plain name."""
    return f"{name}.tsv" if seed == 0 else f"{name}_seed{seed}.tsv"


GENERATED_MD5 = {
    "ShapesMCQ": "2cd2056016787a4abe9773561b40f541",
    "ShapesYN": "07e4d61acc13e8d09774f1bd0aeafb91",
    "ShapesVQA": "21d488d6a631d86563ccb1bf8996f496",
}
"""md5 of each dataset's :func:`tsv_text` for seed 0 (UTF-8): a file on disk that has it
is current without generating the set again (tests pin these to the generator)."""


def tsv_text(name: str, seed: int = 0) -> str:
    """Shapes dataset ``name`` as the text of a VLMEvalKit TSV."""
    return generate(name, seed).to_csv(sep="\t", index=False, lineterminator="\n")


def write_tsv(name: str, directory: Path, seed: int = 0) -> Path:
    """Generate Shapes dataset ``name`` into ``directory`` (whole-file write); return its path."""
    return write_atomic(Path(directory) / tsv_name(name, seed), tsv_text(name, seed))
