"""Every registered architecture, for real: its tiny twin (tests/tiny_models.py) evaluated
by the ranks ``vlmeval eval`` starts, with its record's prompt family, processor
settings and dtype, on items of one to three images of mixed sizes.

- 2 gloo ranks at batch 8 give the answers of 1 rank at batch 1 (left padding is right
  for every family), under ``--images vlmevalkit``; ``--images original`` runs too;
- ``vlmeval prompts`` shows what reached the processor: the text the chat template makes
  of its messages, and the images in their number and order.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from conftest import make_plan, predictions, run_ranks
from tiny_models import BUILDERS, build_idefics3
from vlmeval_core.datasets.tsv import load_tsv
from vlmeval_core.models.record import ModelSpec
from vlmeval_core.models.registry import MODELS
from vlmeval_core.prompt_families import FAMILIES, conversation, item_messages

pytestmark = pytest.mark.slow

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")
CASES = {
    **{name: (name, builder) for name, builder in BUILDERS.items()},
    "Idefics3 unsplit": (
        "Idefics3-8B-Llama3",
        lambda directory: build_idefics3(directory, image_splitting=False),
    ),
}
"""Case -> (the registered record it runs as, the builder of its model)."""

SIZES = [[(56, 56)], [(80, 40), (30, 70)], [(64, 48)], [(40, 40), (90, 60), (50, 100)]]
"""Each item's images (width, height), cycled over the items."""
ITEMS = 8


def picture(size: tuple[int, int], seed: int) -> Image.Image:
    """A deterministic gradient, different for every image."""
    width, height = size
    data = bytes((x * (seed + 3) + y * 5 + c * 70) % 256 for y in range(height)
                 for x in range(width) for c in range(3))  # fmt: skip
    return Image.frombytes("RGB", size, data)


def b64_png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def mixed_tsv(tmp_path_factory) -> Path:
    """A VQA TSV of :data:`ITEMS` items, one to three images each (a list in one cell)."""
    rows = []
    for index in range(ITEMS):
        images = [b64_png(picture(size, index * 3 + k)) for k, size in
                  enumerate(SIZES[index % len(SIZES)])]  # fmt: skip
        cell = images[0] if len(images) == 1 else str(images)
        rows.append({"index": index, "image": cell, "question": f"What is in picture {index}?",
                     "answer": "red"})  # fmt: skip
    path = tmp_path_factory.mktemp("mixed") / "MixedVQA.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Case -> its saved tiny model, built once for the module."""
    root = tmp_path_factory.mktemp("tiny")
    cache: dict[str, Path] = {}

    def get(case: str) -> Path:
        if case not in cache:
            cache[case] = CASES[case][1](root / re.sub(r"\W", "-", case))
        return cache[case]

    return get


def record_of(case: str, directory: Path, **changes: object) -> ModelSpec:
    """The registered record, its weights the tiny model's."""
    registered = MODELS[CASES[case][0]]
    return dataclasses.replace(
        registered, source="local", path=str(directory), max_new_tokens=4, **changes
    )


def answers(tmp_path: Path, tsv: Path, model: ModelSpec, nproc: int, run: str) -> dict:
    plan = make_plan(tmp_path, [f"{tsv}:vqa"], model=model, run_name=run)
    done = run_ranks(plan, nproc)
    assert done.returncode == 0, done.stderr[-4000:]
    found = predictions(plan, "MixedVQA")
    assert len(found) == ITEMS
    assert all(p["finish_reason"] != "error" for p in found), found
    return {p["index"]: p["prediction"] for p in found}


EMPTY_ANSWERS = pytest.mark.xfail(
    reason="with the lock's packages alone (a clean clone's venv) the random Gemma 3 twin answers "
    "every item with an empty string, so its answers cannot show they depend on the item; it "
    "passes in a development venv with three more packages (kernels, tomlkit, uv): not yet "
    "understood",
    strict=False,
)


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=EMPTY_ANSWERS) if c == "gemma-3-4b-it" else c for c in sorted(CASES)],
)
def test_two_ranks_at_batch_8_answer_as_one_rank_at_batch_1(tmp_path, built, mixed_tsv, case):
    directory = built(case)
    batched = answers(tmp_path, mixed_tsv, record_of(case, directory, batch_size=8), 2, "b8")
    alone = answers(tmp_path, mixed_tsv, record_of(case, directory, batch_size=1), 1, "b1")
    assert batched == alone
    assert len(set(batched.values())) > 1, "the answers do not depend on the item"
    original = record_of(case, directory, batch_size=8, images="original")
    answers(tmp_path, mixed_tsv, original, 2, "original")


def shown(directory: Path, record: ModelSpec, tsv: Path) -> list[dict]:
    """``vlmeval prompts --json`` for the tiny model under the record's family and images."""
    done = subprocess.run(
        [VLMEVAL, "prompts", "-m", str(directory), "-d", f"{tsv}:vqa", "--json",
         "--prompt-family", record.prompt_family, "--images", record.images],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.parametrize("case", sorted(CASES))
def test_vlmeval_prompts_shows_what_reached_the_processor(monkeypatch, built, mixed_tsv, case):
    from vlmeval_core.models.hf import VisionLanguageModel

    directory = built(case)
    record = record_of(case, directory)
    model = VisionLanguageModel(record, "cpu")
    processor_class = type(model.processor)
    reached: list[tuple[list[str], list]] = []
    real_call = processor_class.__call__

    def spy(self, *args, **kwargs):
        reached.append((kwargs["text"], kwargs["images"]))
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(processor_class, "__call__", spy)
    dataset = load_tsv(mixed_tsv, kind="vqa")
    family = FAMILIES[record.prompt_family]
    for item in shown(directory, record, mixed_tsv):
        position = item["index"]
        images = dataset.images(position, record.images)
        model.encode([item_messages(family, dataset, position, images)])
        (text,), fed = reached.pop()
        parts = [m for m in item["messages"] if m["type"] != "system"]
        system = next((m["value"] for m in item["messages"] if m["type"] == "system"), None)
        assert system == family.system_prompt
        rendered = model.processor.apply_chat_template(
            [conversation(parts, system)], add_generation_prompt=True, tokenize=False
        )
        assert text == rendered[0]
        numbers = [int(re.search(r"image (\d+) of", m["value"]).group(1))
                   for m in parts if m["type"] == "image"]  # fmt: skip
        fed_flat = [image for row in fed for image in (row if isinstance(row, list) else [row])]
        assert [i.tobytes() for i in fed_flat] == [images[n - 1].tobytes() for n in numbers]
        assert len(numbers) == len(SIZES[position % len(SIZES)])
