"""Dtype parity (issue 10, point 1): each registered model's record loads the weights in
the dtype VLMEvalKit's own class for it does, read from the reference package's source
(PyPI's ``nvidia-vlmeval`` 26.3 in the parity venv, ``make test-parity``) without
importing it: those modules import torch.

Left out, each cited in the registry instead: LLaVA-1.5 (VLMEvalKit's ``LLaVA`` loads
through the llava package's ``load_pretrained_model``, float16, not a ``torch_dtype``) and
Gemma 3 (26.3's ``Gemma3`` passes no ``torch_dtype``; main e8e78f05, whose facts the
project follows, passes ``torch.bfloat16`` in vlmeval/vlm/gemma.py).
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from vlmeval_core.models.registry import MODELS
from vlmevalkit_reference import PARITY_PYTHON

pytestmark = pytest.mark.parity

CLASS_OF = {
    "SmolVLM-Instruct": ("vlm/smolvlm.py", "SmolVLM"),
    "Idefics3-8B-Llama3": ("vlm/idefics.py", "IDEFICS2"),
    "llava-onevision-qwen2-0.5b-ov-hf": ("vlm/llava/llava.py", "LLaVA_OneVision_HF"),
    "InternVL3-1B-hf": ("vlm/internvl/internvl_chat.py", "InternVLChat"),
    "Qwen2-VL-2B-Instruct": ("vlm/qwen2_vl/model.py", "Qwen2VLChat"),
    "Qwen2.5-VL-7B-Instruct": ("vlm/qwen2_vl/model.py", "Qwen2VLChat"),
}
"""Our record -> VLMEvalKit's file and class for it (vlmeval/config.py)."""


def package_dir() -> Path:
    if not PARITY_PYTHON.is_file():
        pytest.fail(f"no parity venv at {PARITY_PYTHON}: run `make test-parity`, which builds it")
    done = subprocess.run(
        [
            str(PARITY_PYTHON),
            "-c",
            "import importlib.util; print(importlib.util.find_spec('vlmeval').origin)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(done.stdout.strip()).parent


def pinned_dtypes(source: str, class_name: str) -> set[str]:
    """Every ``torch_dtype=`` the class passes: ``torch.float16`` -> ``float16``."""
    (cls,) = [
        n
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.ClassDef) and n.name == class_name
    ]
    found = set()
    for node in ast.walk(cls):
        if isinstance(node, ast.keyword) and node.arg == "torch_dtype":
            value = node.value
            found.add(value.attr if isinstance(value, ast.Attribute) else ast.literal_eval(value))
    return found


@pytest.mark.parametrize("name", sorted(CLASS_OF))
def test_the_record_loads_in_the_dtype_vlmevalkits_class_does(name):
    path, class_name = CLASS_OF[name]
    source = (package_dir() / path).read_text()
    assert pinned_dtypes(source, class_name) == {MODELS[name].dtype}
