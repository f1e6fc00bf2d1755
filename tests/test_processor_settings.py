"""A record's processor settings reach the processor the way the installed transformers
takes them: Qwen's min_pixels/max_pixels (VLMEvalKit's keys, as the record holds them)
as the image processor's size, at load and for one dataset's override, with no
deprecation warning (transformers deprecates the pixel keys at call time, and keys given
at load become call defaults)."""

from __future__ import annotations

import dataclasses

import pytest
from PIL import Image

from tiny_models import build_qwen2_5_vl, build_qwen2_vl
from vlmeval_core.models.registry import MODELS
from vlmeval_core.prompt_families import FAMILIES

ITEM = [[{"type": "image", "value": Image.new("RGB", (56, 56), (200, 40, 40))},
         {"type": "text", "value": "What color is the shape?"}]]  # fmt: skip


@pytest.mark.slow
@pytest.mark.filterwarnings("error::FutureWarning")
@pytest.mark.parametrize(
    ("name", "builder"),
    [("Qwen2-VL-2B-Instruct", build_qwen2_vl), ("Qwen2.5-VL-3B-Instruct", build_qwen2_5_vl)],
)
def test_qwen_pixel_settings_resize_without_a_deprecation_warning(tmp_path, name, builder):
    from vlmeval_core.models.hf import VisionLanguageModel

    record = dataclasses.replace(MODELS[name], source="local", path=str(builder(tmp_path)))
    model = VisionLanguageModel(record, "cpu")
    (grid,) = model.encode(ITEM)["image_grid_thw"].tolist()
    # a 56x56 image grows to at least min_pixels (1280 * 28 * 28): 72 x 72 patches of 14
    assert grid[1] * grid[2] * 14 * 14 >= record.processor["min_pixels"] > 56 * 56
    ocrbench = FAMILIES[record.prompt_family].processor_by_dataset["OCRBench"]
    (grid,) = model.encode(ITEM, ocrbench)["image_grid_thw"].tolist()
    assert grid == [1, 20, 20]  # 10 * 10 * 28 * 28 pixels: 20 x 20 patches of 14
