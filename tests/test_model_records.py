"""Model records as data (issue 10, point 1): one record per registered model carries
the backend, source, dtype, generation and processor settings (VLMEvalKit's
``vlmeval/config.py`` at e8e78f05), prompt family and image handling; flags apply on
top; plan.json holds the result, identity.json covers it, and the processor
settings reach ``from_pretrained``."""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner

from vlmeval_core.identity import differences, run_identity
from vlmeval_core.models.registry import MODELS, TINY_VLM_DIR, resolve_model
from vlmeval_core.prompt_families import FAMILIES
from vlmeval_core.run_plan import ModelSpec, Plan
from vlmeval_launcher.cli import main

QWEN_PIXELS = {"min_pixels": 1280 * 28 * 28, "max_pixels": 16384 * 28 * 28}


pytestmark = pytest.mark.usefixtures("workspace")  # conftest.py


def dry_run_plan(*args: str) -> dict:
    result = CliRunner().invoke(main, ["eval", "--device", "cpu", *args, "--dry-run"])
    assert result.exit_code == 0, result.stderr
    return json.loads("\n".join(result.stdout.splitlines()[:-1]))


def test_each_registered_model_declares_its_family_and_vlmevalkit_settings():
    families = {name: record.prompt_family for name, record in MODELS.items()}
    assert families == {
        "Qwen2-VL-2B-Instruct": "qwen2-vl",
        "Qwen2-VL-7B-Instruct": "qwen2-vl",
        "Qwen2.5-VL-3B-Instruct": "qwen2.5-vl",
        "Qwen2.5-VL-7B-Instruct": "qwen2.5-vl",
        "SmolVLM-Instruct": "smolvlm",
        "Idefics3-8B-Llama3": "idefics3",
        "llava-1.5-7b-hf": "llava-1.5",
        "llava-onevision-qwen2-0.5b-ov-hf": "llava-onevision",
        "gemma-3-4b-it": "gemma3",
        "InternVL3-1B-hf": "internvl",
        "tiny-vlm": "dataset",  # trained on the dataset prompts, it keeps them
    }
    for name, record in MODELS.items():
        assert record.backend == "transformers" and record.images == "vlmevalkit"
        qwen = name.startswith(("Qwen2-VL", "Qwen2.5-VL"))
        assert record.processor == (QWEN_PIXELS if qwen else {}), name
    assert MODELS["tiny-vlm"].source == "bundled" and MODELS["tiny-vlm"].path == str(TINY_VLM_DIR)


def test_the_registry_record_is_what_a_name_or_its_hub_id_resolves_to(tmp_path):
    assert resolve_model("Qwen/Qwen2-VL-7B-Instruct") is MODELS["Qwen2-VL-7B-Instruct"]
    other = resolve_model("someone/their-vlm")
    assert (other.source, other.prompt_family, other.processor) == ("hub", "dataset", {})
    # the bundled model's files copied elsewhere are just a local directory
    assert resolve_model(str(tmp_path)).source == "local"


def test_flags_apply_on_top_of_the_record_and_the_plan_holds_the_result():
    model = dry_run_plan(
        "-m",
        "Qwen2-VL-2B-Instruct",
        "-d",
        "ShapesMCQ",
        "--images",
        "original",
        "--max-new-tokens",
        "5",
    )["model"]
    assert model == {
        **dataclasses.asdict(MODELS["Qwen2-VL-2B-Instruct"]),
        "images": "original",
        "max_new_tokens": 5,
    }
    assert model["processor"] == QWEN_PIXELS and model["prompt_family"] == "qwen2-vl"
    tiny = dry_run_plan("-m", "tiny-vlm", "-d", "ShapesMCQ", "--prompt-family", "qwen2-vl")
    assert tiny["model"]["prompt_family"] == "qwen2-vl"


def test_an_unknown_prompt_family_is_one_line_naming_the_flag_or_field(tmp_path):
    result = CliRunner().invoke(
        main, ["eval", "--device", "cpu", "-m", "tiny-vlm", "-d", "ShapesMCQ",
               "--prompt-family", "qwen9", "--dry-run"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.startswith("vlmeval: error: --prompt-family 'qwen9': choose one of ")
    raw = Plan.from_dict(dry_run_plan("-m", "tiny-vlm", "-d", "ShapesMCQ")).to_dict()
    raw["model"]["prompt_family"] = "qwen9"
    with pytest.raises(Exception, match=r"plan: model.prompt_family: unknown prompt family"):
        Plan.from_dict(raw)


def test_the_identity_covers_prompts_images_and_processor_settings(tmp_path):
    base = Plan.from_dict(dry_run_plan("-m", "tiny-vlm", "-d", "ShapesMCQ"))
    old = run_identity(base).to_dict()
    for change, expected in [
        ({"images": "original"}, 'model.images was "vlmevalkit", now "original"'),
        ({"prompt_family": "qwen2-vl"}, 'model.prompt_family was "dataset", now "qwen2-vl"'),
        ({"processor": {"max_pixels": 3136}}, "model.processor.max_pixels was (none), now 3136"),
    ]:
        changed = dataclasses.replace(base, model=dataclasses.replace(base.model, **change))
        assert differences(old, run_identity(changed).to_dict()) == [expected]


def test_processor_settings_reach_from_pretrained():
    from vlmeval_core.models.hf import VisionLanguageModel

    record = ModelSpec("tiny-vlm", "bundled", str(TINY_VLM_DIR), processor=QWEN_PIXELS)
    size = VisionLanguageModel(record, "cpu").processor.image_processor.size
    assert (size.shortest_edge, size.longest_edge) == (1280 * 28 * 28, 16384 * 28 * 28)
    plain = VisionLanguageModel(MODELS["tiny-vlm"], "cpu").processor.image_processor.size
    assert plain.longest_edge == 3136  # what tiny-vlm was trained with


def test_list_models_shows_each_record():
    result = CliRunner().invoke(main, ["list", "models", "--json"])
    assert result.exit_code == 0
    records = {r["name"]: r for r in json.loads(result.stdout)}
    assert records["Qwen2-VL-7B-Instruct"] == dataclasses.asdict(MODELS["Qwen2-VL-7B-Instruct"])
    table = CliRunner().invoke(main, ["list", "models"]).stdout
    assert "qwen2-vl" in table and "min_pixels=1003520" in table
    assert all(name in table for name in FAMILIES)


def test_the_manifest_records_prompts_images_and_processor_settings(tmp_path):
    from vlmeval_core.manifest import build_manifest
    from vlmeval_core.node import NodeSettings

    plan = Plan.from_dict(
        dry_run_plan("-m", "Qwen2-VL-2B-Instruct", "-d", "ShapesMCQ", "--images", "original")
    )
    model = build_manifest(plan, NodeSettings(str(tmp_path), ()), 1, None, {}, {})["model"]
    assert (model["backend"], model["prompt_family"], model["images"]) == (
        "transformers",
        "qwen2-vl",
        "original",
    )
    assert model["processor"] == QWEN_PIXELS


def test_qwen2_vl_gives_ocrbench_images_its_own_min_pixels(tmp_path):
    """vlmeval/vlm/qwen2_vl/model.py ``_prepare_content``: OCRBench images get
    ``min_pixels=10*10*28*28``, other datasets the model's settings."""
    import base64
    import io

    import pandas as pd
    from PIL import Image

    from vlmeval_core.backends import predict_missing
    from vlmeval_core.datasets.tsv import load_tsv
    from vlmeval_core.distributed import RankInfo
    from vlmeval_core.inference import Transformers
    from vlmeval_core.models.hf import VisionLanguageModel

    buffer = io.BytesIO()
    Image.new("RGB", (56, 56), (200, 40, 40)).save(buffer, format="PNG")
    image = base64.b64encode(buffer.getvalue()).decode()
    row = {"image": image, "question": "Q?", "answer": "a", "category": "Text Recognition"}
    for name in ("OCRBench", "TextVQA_VAL"):
        pd.DataFrame([{"index": 1, **row}]).to_csv(tmp_path / f"{name}.tsv", sep="\t", index=False)
    model = VisionLanguageModel(MODELS["tiny-vlm"], "cpu")
    grids: dict[str, list] = {}

    class Recording:
        """The real model; notes the image grid each dataset's items were encoded with."""

        def encode(self, batch, **options):
            inputs = model.encode(batch, **options)
            grids[current] = inputs["image_grid_thw"].tolist()
            return inputs

        def generate_encoded(self, inputs, max_new_tokens):
            return model.generate_encoded(inputs, max_new_tokens)

    for current in ("OCRBench", "TextVQA_VAL"):
        dataset = load_tsv(tmp_path / f"{current}.tsv", current)
        backend = Transformers(Recording, 1, 2, family=FAMILIES["qwen2-vl"])
        predict_missing(backend, dataset, tmp_path / current, [0], RankInfo(0, 1, 0, 1),
                        show_progress=False)  # fmt: skip
    assert grids == {"OCRBench": [[1, 20, 20]], "TextVQA_VAL": [[1, 4, 4]]}


def test_a_records_dtype_is_vlmevalkits_and_holds_unless_dtype_is_given():
    """VLMEvalKit's classes pin their dtype (vlmeval/vlm/*.py at e8e78f05): SmolVLM
    float32, Idefics3 bfloat16; ``--dtype`` applies on top only when given."""
    assert MODELS["SmolVLM-Instruct"].dtype == "float32"
    assert MODELS["Idefics3-8B-Llama3"].dtype == "bfloat16"
    assert MODELS["Qwen2-VL-2B-Instruct"].dtype == "auto"  # torch_dtype='auto' there
    assert dry_run_plan("-m", "SmolVLM-Instruct", "-d", "ShapesMCQ")["model"]["dtype"] == (
        "float32"
    )
    given = dry_run_plan("-m", "SmolVLM-Instruct", "-d", "ShapesMCQ", "--dtype", "auto")
    assert given["model"]["dtype"] == "auto"
    assert dry_run_plan("-m", "tiny-vlm", "-d", "ShapesMCQ")["model"]["dtype"] == "auto"
