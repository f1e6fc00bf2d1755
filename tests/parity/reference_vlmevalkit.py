"""Run VLMEvalKit's own scoring code on inputs given as JSON; print its outputs as JSON.

Run by the parity venv's Python (``make test-parity`` builds it with PyPI's
``nvidia-vlmeval``), never imported by the test suite. VLMEvalKit's package
``__init__`` imports its models (torch, transformers); it is bypassed by
registering empty ``vlmeval``, ``vlmeval.dataset`` and ``vlmeval.dataset.utils``
packages over the installed directories, so only the scoring modules and
``vlmeval.smp`` / ``vlmeval.utils`` load.

stdin: ``{"task": NAME, "payload": ...}``; stdout: the task's answer. Tasks:
``version``, ``can_infer``, ``yorn_extraction``, ``process_answer``, ``mcq``,
``yorn``, ``vqa``, ``dump``, ``evaluate_yorn``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import pathlib
import sys
import tempfile
import types


def _bypass_package_init() -> None:
    spec = importlib.util.find_spec("vlmeval")
    root = pathlib.Path(spec.submodule_search_locations[0])
    for name in ("vlmeval", "vlmeval.dataset", "vlmeval.dataset.utils"):
        module = types.ModuleType(name)
        module.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
        sys.modules[name] = module


_bypass_package_init()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from vlmeval.dataset.utils import multiple_choice, vqa_eval, yorn  # noqa: E402
from vlmeval.utils.matching_util import can_infer  # noqa: E402


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


def _table(frame: pd.DataFrame) -> dict:
    return {"columns": [str(c) for c in frame.columns], "rows": _plain(frame.values.tolist())}


def mcq(payload: dict) -> dict:
    """ImageMCQDataset.evaluate_heuristic with exact_matching: vanilla or circular, report_acc."""
    meta = pd.DataFrame(payload["rows"])
    data = meta.copy().sort_values(by="index")  # a prediction file holds every column
    data["prediction"] = [str(x) for x in data["prediction"]]
    with tempfile.TemporaryDirectory() as tmp:
        result_file = f"{tmp}/result.pkl"
        evaluate = (
            multiple_choice.mcq_circular_eval
            if payload["circular"]
            else (multiple_choice.mcq_vanilla_eval)
        )
        scored = evaluate(None, data, meta, 1, result_file, payload["dataset"])
    hits = {str(i): int(h) for i, h in zip(scored["index"], scored["hit"], strict=True)}
    return {"hits": hits, "table": _table(multiple_choice.report_acc(scored))}


RATINGS = {"MME": "MME_rating", "Hallusion": "Hallusion_rating", "POPE": "POPE_rating"}


def yorn_rating(payload: dict) -> dict:
    """ImageYORNDataset.evaluate with exact_matching: extraction, score, the dataset's rating."""
    data = pd.DataFrame(payload["rows"])
    data["prediction"] = [str(x) for x in data["prediction"]]
    data["extracted"] = [yorn.YOrN_Extraction(p) for p in data["prediction"]]
    data["score"] = data["answer"] == data["extracted"]
    rating = next((f for k, f in RATINGS.items() if k in payload["dataset"]), "default_rating")
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"{tmp}/storage.pkl"
        data.to_pickle(storage)
        table = getattr(yorn, rating)(storage)
    return {
        "extracted": _plain(list(data["extracted"])),
        "score": _plain([bool(s) for s in data["score"]]),
        "table": _table(table),
    }


VQA_METHODS = (
    (["TextVQA"], "vqa_score"),
    (["ChartQA"], "relaxed_accuracy"),
    (["OCRVQA", "GQA"], "accuracy"),
    (["DocVQA", "InfoVQA"], "anls"),
)


def vqa(payload: dict) -> dict:
    """ImageVQADataset.evaluate_heuristic's per-item hits (process_line, hit_calculate), the
    rows read from a result file as it reads them (``dump``, then ``load``: "N/A" is NaN). The
    file is its PRED_FORMAT=tsv: in the default xlsx, xlsxwriter makes a text that starts with
    "=" a formula, read back as 0 (a difference the README lists)."""
    from vlmeval.smp import dump, load

    name = payload["dataset"]
    method = next((m for keys, m in VQA_METHODS if any(k in name for k in keys)), "vqa_score")
    with tempfile.TemporaryDirectory() as tmp:
        dump(pd.DataFrame(payload["rows"]), f"{tmp}/result.tsv")
        data = load(f"{tmp}/result.tsv")
    data["prediction"] = [str(x) for x in data["prediction"]]
    data["answer"] = [str(x) for x in data["answer"]]
    lines = [data.iloc[i] for i in range(len(data))]
    results = [vqa_eval.process_line(line, method=method) for line in lines]
    hits = vqa_eval.hit_calculate(results, name)
    return {"hits": _plain([float(h) for h in hits])}


def dump_result_file(payload: dict) -> str:
    """A result file written as VLMEvalKit's inference writes it (``vlmeval.smp.dump``)."""
    from vlmeval.smp import dump

    dump(pd.DataFrame(payload["rows"]), payload["path"])
    return payload["path"]


def evaluate_yorn(payload: dict) -> dict:
    """``ImageYORNDataset.evaluate`` (exact matching) on a result file, as ``run.py --mode
    eval`` calls it: the file is copied to a temporary directory, where evaluate writes its
    ``_auxmatch.xlsx`` and ``_score.csv``; the score table comes back."""
    import shutil

    import vlmeval.dataset.utils as utils
    from vlmeval.dataset.utils import judge_util

    utils.build_judge, utils.DEBUG_MESSAGE = judge_util.build_judge, judge_util.DEBUG_MESSAGE
    from vlmeval.dataset.image_yorn import ImageYORNDataset

    with tempfile.TemporaryDirectory() as tmp:
        eval_file = shutil.copy(payload["path"], f"{tmp}/{pathlib.Path(payload['path']).name}")
        dataset = types.SimpleNamespace(dataset_name=payload["dataset"])  # evaluate reads only it
        table = ImageYORNDataset.evaluate(dataset, eval_file, model="exact_matching", nproc=1)
    return {"table": _table(table)}


TASKS = {
    "version": lambda _: importlib.metadata.version("nvidia-vlmeval"),
    "can_infer": lambda items: [can_infer(i["text"], dict(i["choices"])) or None for i in items],
    "yorn_extraction": lambda texts: [yorn.YOrN_Extraction(t) for t in texts],
    "process_answer": lambda texts: [vqa_eval.process_answer(t) for t in texts],
    "mcq": mcq,
    "yorn": yorn_rating,
    "vqa": vqa,
    "dump": dump_result_file,
    "evaluate_yorn": evaluate_yorn,
}

if __name__ == "__main__":
    request = json.load(sys.stdin)
    json.dump(_plain(TASKS[request["task"]](request["payload"])), sys.stdout)
