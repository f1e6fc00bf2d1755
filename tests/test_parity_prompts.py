"""Prompt parity (issue 10, point 8, the prompt half): our messages against VLMEvalKit's
own ``build_prompt`` on synthetic rows of every registered benchmark.

Run with ``make test-parity``: the reference is PyPI's ``nvidia-vlmeval`` 26.3 in its
own venv without torch (``tests/parity/reference_prompts.py``). What runs there: the
dataset classes' prompts (the fallback of every family) and Qwen2-VL's
``Qwen2VLPromptMixin``. 26.3's mixin differs from main e8e78f05 only in names none of
our benchmarks has (main also declines ChartQAPro and ChartMuseum, and any name holding
"LEGO"). The other families' classes (InternVL, LLaVA, Idefics3, SmolVLM, Gemma 3)
import torch at the top of their modules, so their rules are pinned in
``tests/test_prompt_families.py``, each citing its file at e8e78f05.

Images: VLMEvalKit's own ``decode_base64_to_image_file`` writes each under the name
main's ``dump_image`` picks (26.3's ``dump_image`` itself always picked
``<index>.jpg``; main's choice of name is pinned in tests/test_vlmevalkit_images.py).
"""

from __future__ import annotations

import base64
import io
import json
import random
import subprocess

import pandas as pd
import pytest
from PIL import Image

from vlmeval_core.datasets.registry import DATASETS
from vlmeval_core.datasets.tsv import load_tsv
from vlmeval_core.prompt_families import FAMILIES, Benchmark, build_messages
from vlmevalkit_reference import PARITY_PYTHON, ROOT

pytestmark = pytest.mark.parity
SCRIPT = ROOT / "tests" / "parity" / "reference_prompts.py"
REGISTERED = [name for name, entry in DATASETS.items() if entry.source == "download"]
WORDS = ["red", "cat", "the chart", "2.5", "x = 1", "tall building", "none of these", "Yes"]
CN_WORDS = ["红色", "猫", "图表", "建筑"]


def synthetic_rows(name: str, rng: random.Random, count: int = 12) -> list[dict]:
    """Rows as VLMEvalKit reads them (None: an empty cell), with 1-3 images."""
    kind = DATASETS[name].kind
    words = CN_WORDS + WORDS if "_CN" in name else WORDS
    rows = []
    for number in range(count):
        question = " ".join(rng.choice(words) for _ in range(rng.randint(1, 6))) + "?"
        images = [f"img-{number}-{k}" for k in range(rng.randint(1, 3))]
        row = {"index": number, "question": question, "answer": "A"}
        if kind == "mcq":
            for letter in "ABCDEFG"[: rng.randint(2, 7)]:
                row[letter] = rng.choice(words)
            row["hint"] = rng.choice([None, "Look closely.", "看图。", " "])
            if name == "MMMU_DEV_VAL":
                row["question"] = (
                    "".join(f"{rng.choice(words)} <image {k + 1}> " for k in range(len(images)))
                    + question
                )
        rows.append({"dataset": name, "row": row, "images": images})
    return rows


def ours(family: str, item: dict) -> list[dict]:
    entry = DATASETS[item["dataset"]]
    benchmark = Benchmark(entry.name, entry.kind, entry.prompt_style)
    row = {k: float("nan") if v is None else v for k, v in item["row"].items()}
    return build_messages(FAMILIES[family], benchmark, row, item["images"])


def reference(items: list[dict], task: str = "rows") -> list[dict]:
    if not PARITY_PYTHON.is_file():
        pytest.fail(f"no parity venv at {PARITY_PYTHON}: run `make test-parity`, which builds it")
    done = subprocess.run(
        [str(PARITY_PYTHON), str(SCRIPT)],
        input=json.dumps({task: items}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def compared() -> list[tuple[dict, dict]]:
    rng = random.Random(10)
    items = [item for name in REGISTERED for item in synthetic_rows(name, rng)]
    return list(zip(items, reference(items), strict=True))


def test_every_registered_benchmark_is_compared(compared):
    assert {item["dataset"] for item, _ in compared} == set(REGISTERED)
    assert len(REGISTERED) == 22


def test_the_dataset_prompts_are_vlmevalkits(compared):
    for item, theirs in compared:
        assert ours("dataset", item) == theirs["dataset"], item


@pytest.mark.parametrize("family", ["qwen2-vl", "qwen2.5-vl"])
def test_qwen2_vl_prompts_are_the_mixins_and_fall_back_where_it_declines(compared, family):
    declined = set()
    for item, theirs in compared:
        expected = theirs[family] if theirs[family] is not None else theirs["dataset"]
        assert ours(family, item) == expected, item
        if theirs[family] is None:
            declined.add(item["dataset"])
    # Qwen2-VL declines only MME (which has its own prompt) and MMVet; Qwen2.5-VL declines all
    assert declined == ({"MME", "MMVet"} if family == "qwen2-vl" else set(REGISTERED))


def test_images_are_what_vlmevalkits_own_dump_gives_the_model(tmp_path):
    """Each image as ``decode_base64_to_image_file`` writes it under the name main's
    ``dump_image`` picks (``image_path``, else ``<index>.png``), read back as RGB."""
    rng = random.Random(3)
    images = {
        "rgb": Image.frombytes("RGB", (23, 17), rng.randbytes(23 * 17 * 3)),
        "rgba": Image.frombytes("RGBA", (16, 16), rng.randbytes(16 * 16 * 4)),
        "paletted": Image.frombytes("RGB", (20, 20), rng.randbytes(1200)).convert("P"),
        "la": Image.frombytes("LA", (9, 9), rng.randbytes(9 * 9 * 2)),
        "grey": Image.frombytes("L", (30, 10), rng.randbytes(300)),
    }
    rows, requests = [], []
    for kind, image in images.items():
        for source_format in ("PNG", "JPEG") if kind in ("rgb", "grey") else ("PNG",):
            buffer = io.BytesIO()
            image.save(buffer, format=source_format)
            data = base64.b64encode(buffer.getvalue()).decode()
            for image_path in (f"{kind}.jpg", f"{kind}.png", None):
                index = len(rows)
                row = {"index": index, "image": data, "question": "Q?", "answer": "a"}
                rows.append({**row, "image_path": image_path})
                requests.append({"base64": data, "name": image_path or f"{index}.png"})
    pd.DataFrame(rows).to_csv(tmp_path / "Images.tsv", sep="\t", index=False)
    dataset = load_tsv(tmp_path / "Images.tsv", kind="vqa")
    for position, expected in enumerate(reference(requests, task="images")):
        (fed,) = dataset.images(position)
        got = {"size": list(fed.size), "rgb": fed.tobytes().hex()}
        assert got == expected, rows[position]["image_path"]
