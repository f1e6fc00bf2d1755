"""Run VLMEvalKit's own prompt code on synthetic rows given as JSON; print its messages.

Run by the parity venv's Python (``make test-parity``), never imported by the test
suite. Torch is not installed there, so only code that imports without it runs:
the dataset classes' ``build_prompt`` (``vlmeval/dataset/image_mcq.py``,
``image_yorn.py``, ``image_vqa.py``) and ``Qwen2VLPromptMixin``
(``vlmeval/vlm/qwen2_vl/prompt.py``, loaded from its file: the package's
``__init__`` imports the model). The package ``__init__``s of ``vlmeval`` and
``vlmeval.dataset`` import every model and are bypassed; ``DATASET_TYPE``, which
lives in the latter, is VLMEvalKit's loop (the ``TYPE`` of the class whose
``supported_datasets()`` holds the name) over those modules' classes.

stdin: ``{"rows": [{"dataset", "row", "images"}]}``; stdout: for each row
``{"dataset": messages, "qwen2-vl": messages | null, "qwen2.5-vl": messages | null}``
(null: the class declines, ``use_custom_prompt`` is False).

stdin ``{"images": [{"base64", "name"}]}``: each image written by
``vlmeval.smp.vlm.decode_base64_to_image_file`` under ``name`` (the name main's
``dump_image`` picks), then read back as a model reads a file (PIL, RGB); stdout:
``[{"size": [w, h], "rgb": hex}]``.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import pathlib
import sys
import tempfile
import types


def _bypass_package_init() -> pathlib.Path:
    root = pathlib.Path(importlib.util.find_spec("vlmeval").submodule_search_locations[0])
    for name in ("vlmeval", "vlmeval.dataset"):
        module = types.ModuleType(name)
        module.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
        sys.modules[name] = module
    return root


ROOT = _bypass_package_init()

import pandas as pd  # noqa: E402
import vlmeval.dataset.image_mcq as image_mcq  # noqa: E402
import vlmeval.dataset.image_vqa as image_vqa  # noqa: E402
import vlmeval.dataset.image_yorn as image_yorn  # noqa: E402
from PIL import Image  # noqa: E402
from vlmeval.smp.vlm import decode_base64_to_image_file  # noqa: E402

CLASSES = [
    cls
    for module in (image_mcq, image_yorn, image_vqa)
    for _, cls in inspect.getmembers(module, inspect.isclass)
    if cls.__module__ == module.__name__ and hasattr(cls, "supported_datasets")
]


def dataset_class(name: str) -> type:
    """The dataset's own class (a Custom* class only where nothing else claims the name)."""
    found = [c for c in CLASSES if name in c.supported_datasets()]
    return next((c for c in found if not c.__name__.startswith("Custom")), found[0])


def DATASET_TYPE(dataset, *, default="MCQ"):  # VLMEvalKit's name
    for cls in CLASSES:
        if dataset in cls.supported_datasets() and hasattr(cls, "TYPE"):
            return cls.TYPE
    return default


sys.modules["vlmeval.dataset"].DATASET_TYPE = DATASET_TYPE
_spec = importlib.util.spec_from_file_location("qwen2_vl_prompt", ROOT / "vlm/qwen2_vl/prompt.py")
qwen2_vl_prompt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(qwen2_vl_prompt)


class Qwen2VLPrompts(qwen2_vl_prompt.Qwen2VLPromptMixin):
    """The mixin alone, as ``Qwen2VLChat`` holds it."""


def dataset_messages(name: str, line: pd.Series, images: list[str]) -> list[dict]:
    cls = dataset_class(name)
    dataset = cls.__new__(cls)  # no download: only build_prompt is used
    dataset.dataset_name, dataset.meta_only = name, False
    dataset.dump_image = lambda _line: list(images)
    return dataset.build_prompt(line)


def family_messages(use_custom_prompt: bool, name: str, line: pd.Series, images: list[str]):
    model = Qwen2VLPrompts(use_custom_prompt=use_custom_prompt)
    model.set_dump_image(lambda _line: list(images))
    if not model.use_custom_prompt(name):
        return None
    return model.build_prompt(line, name)


def answer(item: dict) -> dict:
    line = pd.Series({k: float("nan") if v is None else v for k, v in item["row"].items()})
    name, images = item["dataset"], item["images"]
    return {
        "dataset": dataset_messages(name, line, images),
        "qwen2-vl": family_messages(True, name, line, images),
        "qwen2.5-vl": family_messages(False, name, line, images),
    }


def dumped_image(item: dict, directory: pathlib.Path) -> dict:
    path = directory / item["name"]
    decode_base64_to_image_file(item["base64"], str(path))
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    return {"size": list(rgb.size), "rgb": rgb.tobytes().hex()}


if __name__ == "__main__":
    request = json.load(sys.stdin)
    if "images" in request:
        with tempfile.TemporaryDirectory() as scratch:
            answers = [dumped_image(item, pathlib.Path(scratch)) for item in request["images"]]
    else:
        answers = [answer(item) for item in request["rows"]]
    json.dump(answers, sys.stdout, ensure_ascii=False)
