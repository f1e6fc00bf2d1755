"""VLMEvalKit's own reading, prompts and evaluate() of one benchmark TSV; answers as JSON.

Run by the parity venv's Python (``make test-parity``), never imported by the test suite.
The package ``__init__``s that import the models are bypassed (as in
``reference_vlmevalkit.py``). The dataset's class (the one whose ``supported_datasets()``
holds the name) is built by its own ``ImageBaseDataset.__init__`` from the TSV, read by
``vlmeval.smp.load`` (``load_data`` pointed at the file, nothing downloaded); its
``build_prompt`` gives each row's prompt text; the result xlsx is written as
``infer_data_job`` writes it (the dataset's rows without images, ``prediction`` as
``str``, ``vlmeval.smp.dump``); ``evaluate(model="exact_matching")`` scores that file.

stdin: ``{"tsv", "dataset", "predictions": {index: text} | null, "eval_file"}``; stdout:
``{"prompts": [text per row], "hits": {index: credit}, "table": {columns, rows}}`` (only
the prompts without predictions: an MCQ question read as NaN stops ``evaluate()``, whose
``cn_string`` searches it).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import pathlib
import sys
import types
from typing import ClassVar


def _bypass_package_init() -> None:
    root = pathlib.Path(importlib.util.find_spec("vlmeval").submodule_search_locations[0])
    for name in ("vlmeval", "vlmeval.dataset", "vlmeval.dataset.utils"):
        module = types.ModuleType(name)
        module.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
        sys.modules[name] = module


_bypass_package_init()

import numpy as np  # noqa: E402
import vlmeval.dataset.utils as utils  # noqa: E402
from vlmeval.dataset.utils import judge_util, vqa_eval  # noqa: E402

utils.build_judge, utils.DEBUG_MESSAGE = judge_util.build_judge, judge_util.DEBUG_MESSAGE
import vlmeval.dataset.image_mcq as image_mcq  # noqa: E402
import vlmeval.dataset.image_vqa as image_vqa  # noqa: E402
import vlmeval.dataset.image_yorn as image_yorn  # noqa: E402
from vlmeval.smp import dump, load  # noqa: E402

CLASSES = [
    cls
    for module in (image_mcq, image_yorn, image_vqa)
    for _, cls in inspect.getmembers(module, inspect.isclass)
    if cls.__module__ == module.__name__ and hasattr(cls, "supported_datasets")
]


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def dataset_of(name: str, tsv: str):
    found = [c for c in CLASSES if name in c.supported_datasets()]
    cls = next((c for c in found if not c.__name__.startswith("Custom")), found[0])
    dataset = cls.__new__(cls)
    dataset.load_data = lambda _name: load(tsv)
    dataset.dump_image = lambda line: [f"{line['index']}.png"]
    cls.__init__(dataset, dataset=name)
    return dataset


class _SerialPool:
    """``mp.Pool(16)`` of ``ImageVQADataset.evaluate``, in this process, keeping each result."""

    results: ClassVar[list] = []

    def __init__(self, _processes: int) -> None:
        pass

    def map(self, function, lines):
        _SerialPool.results = [function(line) for line in lines]
        return _SerialPool.results


def answer(request: dict) -> dict:
    dataset = dataset_of(request["dataset"], request["tsv"])
    prompts = []
    for position in range(len(dataset.data)):
        messages = dataset.build_prompt(dataset.data.iloc[position])
        prompts.append("".join(m["value"] for m in messages if m["type"] == "text"))
    if request.get("predictions") is None:
        return {"prompts": prompts}
    data = dataset.data.copy()
    data["prediction"] = [str(request["predictions"][str(i)]) for i in data["index"]]
    data = data.drop(columns=["image"], errors="ignore")
    eval_file = request["eval_file"]
    dump(data, eval_file)

    image_vqa.mp.Pool = _SerialPool
    table = dataset.evaluate(eval_file, model="exact_matching", nproc=1)
    stem = eval_file.rsplit(".", 1)[0]
    if isinstance(dataset, image_mcq.ImageMCQDataset):
        scored = load(f"{stem}_exact_matching_result.xlsx")
        hits = dict(zip(scored["index"], scored["hit"], strict=True))
    elif isinstance(dataset, image_yorn.ImageYORNDataset):
        scored = load(f"{stem}_auxmatch.xlsx")
        hits = {
            i: float(a == e)
            for i, a, e in zip(scored["index"], scored["answer"], scored["extracted"], strict=True)
        }
    else:
        credit = vqa_eval.hit_calculate(_SerialPool.results, request["dataset"])
        hits = dict(zip(load(eval_file)["index"], credit, strict=True))
    return {
        "prompts": prompts,
        "hits": {str(k): float(v) for k, v in hits.items()},
        "table": {
            "columns": [str(c) for c in table.columns],
            "rows": _plain(table.values.tolist()),
        },
    }


if __name__ == "__main__":
    json.dump(_plain(answer(json.load(sys.stdin))), sys.stdout, ensure_ascii=False)
