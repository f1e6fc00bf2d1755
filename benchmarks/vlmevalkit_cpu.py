"""VLMEvalKit's own ``run.py`` with its Qwen2-VL class adapted to a CPU, for the bundled tiny-vlm.

Run by the bench venv's python (``make .bench-venv``: PyPI's ``nvidia-vlmeval``
26.3), never by the project's; ``benchmarks/vs_vlmevalkit.py`` starts it::

    .bench-venv/bin/python benchmarks/vlmevalkit_cpu.py --model-path DIR \\
        --max-new-tokens 8 [--first-prediction FILE] -- --data ShapesMCQ --work-dir DIR ...

Everything after ``--`` is VLMEvalKit's ``run.py`` command line, which runs as
``python -m vlmeval.run`` would run it (``runpy``), after one model entry is added
to its registry, ``vlmeval.config.supported_VLM['tiny-vlm']``: its own
``vlmeval.vlm.Qwen2VLChat`` with ``model_path`` the bundled model,
``max_new_tokens`` as given, ``use_custom_prompt=False`` (tiny-vlm is sent the
dataset's prompt, as our registry's entry sends it: no Qwen2-VL prompt of its
own) and no ``min_pixels``/``max_pixels`` (our entry sets none either). Its code
is not copied; the class is used as published, with exactly these changes for
a host without CUDA, all made from outside while the class runs:

1. ``attn_implementation='flash_attention_2'`` (hard-coded in its ``__init__``)
   becomes ``'sdpa'``: flash-attn needs CUDA.
2. ``Module.cuda()`` leaves the model on the CPU while ``__init__`` runs, and
   ``inputs.to('cuda')`` in ``generate_inner`` moves the inputs to the CPU instead
   (``BatchFeature.to``).
3. Its ``get_gpu_memory()`` (``nvidia-smi``) is answered with one placeholder
   GPU, so that ``assert max_gpu_mem > 0`` passes; nothing else reads it on this
   path.

Nothing else differs: dtype ``auto`` (float32, tiny-vlm's), greedy decoding (its
``top_p``/``top_k``/``temperature`` are ignored without ``do_sample``),
``torch.cuda.empty_cache()`` after every item (a no-op without CUDA).

``--first-prediction FILE``: when the first ``generate()`` returns (the first
answer exists), FILE is written (whole, then renamed), for the benchmark to
poll; it is how the time to the first prediction is taken (VLMEvalKit itself
writes its prediction pickle only every 10 items).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import runpy
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

MODEL_NAME = "tiny-vlm"


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """This launcher's own options, and VLMEvalKit's ``run.py`` arguments after ``--``."""
    split = argv.index("--") if "--" in argv else len(argv)
    own, run_args = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-path", type=Path, required=True)
    parser.add_argument("--max-new-tokens", type=int, required=True)
    parser.add_argument("--first-prediction", type=Path, default=None)
    return parser.parse_args(own), run_args


@contextlib.contextmanager
def on_cpu_while_building() -> Iterator[None]:
    """Changes 1 to 3 of the docstring, for the duration of ``Qwen2VLChat.__init__``."""
    import torch
    import transformers
    from vlmeval.vlm.qwen2_vl import model as qwen2_vl_module

    loader = transformers.Qwen2VLForConditionalGeneration.from_pretrained.__func__
    saved = (
        qwen2_vl_module.get_gpu_memory,
        torch.nn.Module.cuda,
        transformers.Qwen2VLForConditionalGeneration.from_pretrained,
    )

    def from_pretrained(cls: type, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("attn_implementation") == "flash_attention_2":
            kwargs["attn_implementation"] = "sdpa"
        return loader(cls, *args, **kwargs)

    qwen2_vl_module.get_gpu_memory = lambda: [1]
    torch.nn.Module.cuda = lambda self, *args, **kwargs: self
    transformers.Qwen2VLForConditionalGeneration.from_pretrained = classmethod(from_pretrained)
    try:
        yield
    finally:
        (
            qwen2_vl_module.get_gpu_memory,
            torch.nn.Module.cuda,
            transformers.Qwen2VLForConditionalGeneration.from_pretrained,
        ) = saved


def inputs_stay_on_cpu() -> None:
    """Change 2's second half: ``BatchFeature.to('cuda')`` moves to the CPU instead."""
    from transformers.feature_extraction_utils import BatchFeature

    to = BatchFeature.to

    def to_cpu(self: BatchFeature, *args: Any, **kwargs: Any) -> BatchFeature:
        args = tuple("cpu" if a == "cuda" else a for a in args)
        return to(self, *args, **kwargs)

    BatchFeature.to = to_cpu


def build(model_path: Path, max_new_tokens: int, first_prediction: Path | None) -> Any:
    """VLMEvalKit's Qwen2VLChat for ``model_path``, built on the CPU."""
    from vlmeval.vlm import Qwen2VLChat

    with on_cpu_while_building():
        model = Qwen2VLChat(
            model_path=str(model_path), max_new_tokens=max_new_tokens, use_custom_prompt=False
        )
    if first_prediction is not None:
        generate = model.generate

        def generate_and_mark(*args: Any, **kwargs: Any) -> Any:
            answer = generate(*args, **kwargs)
            if not first_prediction.exists():
                temp = first_prediction.with_name(first_prediction.name + ".tmp")
                temp.write_text(repr(answer))
                os.replace(temp, first_prediction)
            return answer

        model.generate = generate_and_mark
    return model


def main(argv: list[str] | None = None) -> None:
    args, run_args = parse(sys.argv[1:] if argv is None else argv)
    from vlmeval.config import supported_VLM

    inputs_stay_on_cpu()
    supported_VLM[MODEL_NAME] = partial(
        build, args.model_path, args.max_new_tokens, args.first_prediction
    )
    sys.argv = ["run.py", *run_args]
    runpy.run_module("vlmeval.run", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
