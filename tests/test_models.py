"""Model names resolve as a user expects; the adapter loads any saved image-text-to-text model."""

from __future__ import annotations

import os

import pytest

from conftest import make_plan, predictions, run_worker
from tiny_models import build_llava
from vlmeval_core.errors import UsageError
from vlmeval_core.models.registry import MODELS, TINY_VLM_DIR, resolve_model
from vlmeval_core.run_plan import ModelSpec


def test_friendly_names_hub_ids_and_directories_resolve(tmp_path):
    assert resolve_model("Qwen2-VL-2B-Instruct").path == "Qwen/Qwen2-VL-2B-Instruct"
    assert resolve_model("qwen/qwen2-vl-2b-instruct").name == "Qwen2-VL-2B-Instruct"
    assert resolve_model("someone/their-vlm").source == "hub"
    assert resolve_model(str(tmp_path)).source == "local"
    tiny = resolve_model("tiny-vlm")
    assert (tiny.source, tiny.path) == ("bundled", str(TINY_VLM_DIR))


def test_the_registry_holds_the_models_people_report():
    for name in (
        "Qwen2-VL-2B-Instruct",
        "Qwen2-VL-7B-Instruct",
        "Qwen2.5-VL-3B-Instruct",
        "Qwen2.5-VL-7B-Instruct",
        "SmolVLM-Instruct",
        "Idefics3-8B-Llama3",
        "llava-1.5-7b-hf",
        "llava-onevision-qwen2-0.5b-ov-hf",
        "gemma-3-4b-it",
        "InternVL3-1B-hf",
    ):
        assert name in MODELS


def test_a_typo_names_the_closest_models():
    with pytest.raises(UsageError, match=r"did you mean Qwen2-VL-2B-Instruct"):
        resolve_model("Qwen2-VL-2B-Instrcut")


@pytest.mark.slow
def test_a_second_architecture_runs_end_to_end(tmp_path):
    directory = build_llava(tmp_path / "tiny-llava")
    plan = make_plan(
        tmp_path,
        ["ShapesVQA"],
        limit=6,
        model=ModelSpec("tiny-llava", "local", str(directory), batch_size=4, max_new_tokens=3),
    )
    done = run_worker(plan)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [p["index"] for p in predictions(plan, "ShapesVQA")] == list(range(6))
    assert (plan.run_dir / "ShapesVQA" / "tiny-llava_ShapesVQA_acc.csv").is_file()


@pytest.mark.slow
def test_the_model_is_built_without_world_size_and_it_is_restored(monkeypatch):
    from vlmeval_core.models.hf import VisionLanguageModel

    seen = {}
    from transformers import AutoModelForImageTextToText

    original = AutoModelForImageTextToText.from_pretrained.__func__

    def spy(cls, *args, **kwargs):
        seen["WORLD_SIZE"] = os.environ.get("WORLD_SIZE")
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(AutoModelForImageTextToText, "from_pretrained", classmethod(spy))
    monkeypatch.setenv("WORLD_SIZE", "2")
    VisionLanguageModel(ModelSpec("tiny-vlm", "bundled", str(TINY_VLM_DIR)), "cpu")
    assert seen == {"WORLD_SIZE": None}
    assert os.environ["WORLD_SIZE"] == "2"


@pytest.mark.slow
def test_a_model_directory_without_a_processor_exits_2_naming_it(tmp_path):
    directory = tmp_path / "weights-only"
    build_llava(directory)
    for name in (
        "processor_config.json",
        "preprocessor_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
        "chat_template.json",
    ):
        (directory / name).unlink(missing_ok=True)
    plan = make_plan(
        tmp_path, ["ShapesVQA"], limit=2, model=ModelSpec("weights-only", "local", str(directory))
    )
    done = run_worker(plan)
    assert done.returncode == 2, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"vlmeval: error: model directory {str(directory)!r} has no loadable")


@pytest.mark.slow
def test_an_offline_hub_model_missing_from_the_cache_exits_3_naming_the_cache(tmp_path):
    plan = make_plan(
        tmp_path, ["ShapesVQA"], limit=2, model=ModelSpec("x", "hub", "Qwen/Qwen2-VL-2B-Instruct")
    )
    done = run_worker(plan, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    assert done.returncode == 3, done.stderr[-3000:]
    assert done.stderr.strip().splitlines()[-1] == (
        f"vlmeval: error: model 'Qwen/Qwen2-VL-2B-Instruct' is not in the cache "
        f"'{tmp_path / 'hf'}' and the hub cannot be reached (offline?): run `vlmeval fetch` "
        "first or mount a filled cache"
    )
