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
"""

from __future__ import annotations

import json
import random
import subprocess

import pytest

from vlmeval_core.datasets.registry import DATASETS
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


def reference(items: list[dict]) -> list[dict]:
    if not PARITY_PYTHON.is_file():
        pytest.fail(f"no parity venv at {PARITY_PYTHON}: run `make test-parity`, which builds it")
    done = subprocess.run(
        [str(PARITY_PYTHON), str(SCRIPT)],
        input=json.dumps({"rows": items}),
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
    assert len(REGISTERED) == 20


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
    # Qwen2-VL declines only MME (which has its own prompt); Qwen2.5-VL declines all
    assert declined == ({"MME"} if family == "qwen2-vl" else set(REGISTERED))
