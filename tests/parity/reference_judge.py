"""VLMEvalKit's own judge code on scripted judge replies; answers as JSON.

Run by the parity venv's Python (``make test-parity``), never imported by the test suite;
the package ``__init__``s that import the models are bypassed as in ``reference_vlmevalkit.py``.
The judge is a stand-in whose ``generate(prompt, **kwargs)`` answers from the script
(``replies[prompt]``, one per call of that prompt, the last repeating; ``""`` without one) and
records each call's ``temperature``: what VLMEvalKit's rules are handed by ``build_judge``.

stdin: ``{"task", "payload"}``; tasks: ``prompts`` (each row's judge prompt), ``mcq``
(``extract_answer_from_item`` per row), ``circular`` (``eval_circular_group`` per question),
``yorn`` (``YOrN_auxeval``), ``mathvista`` (``MathVista_auxeval``, then ``MathVista_acc`` on
the xlsx ``dump`` writes), ``mmvet`` (``MMVet_auxeval``, then ``MMVet_acc``).
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import sys
import tempfile
import types


def _bypass_package_init() -> None:
    root = pathlib.Path(importlib.util.find_spec("vlmeval").submodule_search_locations[0])
    for name in ("vlmeval", "vlmeval.dataset", "vlmeval.dataset.utils"):
        module = types.ModuleType(name)
        module.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
        sys.modules[name] = module


_bypass_package_init()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from vlmeval.dataset.utils import mathvista, mmvet, multiple_choice, yorn  # noqa: E402
from vlmeval.smp import dump  # noqa: E402
from vlmeval.smp.vlm import build_option_str  # noqa: E402


class ScriptedJudge:
    def __init__(self, replies: dict) -> None:
        self.replies = replies
        self.calls: list[list] = []
        self.count: dict[str, int] = {}

    def generate(self, prompt: str, **kwargs) -> str:
        n = self.count.get(prompt, 0)
        self.count[prompt] = n + 1
        self.calls.append([prompt, kwargs.get("temperature", 0)])
        script = self.replies.get(prompt) or [""]
        return script[min(n, len(script) - 1)]


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


def prompts(payload: list) -> list:
    built = []
    for case in payload:
        row = case["row"]
        if case["kind"] == "mcq":
            options = build_option_str(multiple_choice.build_choices(row))
            cn = multiple_choice.cn_string(row["question"])
            build = multiple_choice.build_prompt_cn if cn else multiple_choice.build_prompt
            built.append(build(row["question"], options, row["prediction"]))
        elif case["kind"] == "yorn":
            built.append(yorn.YOrN_match_prompt(row))
        elif case["kind"] == "mathvista":
            built.append(mathvista.build_mathvista_gpt4_prompt(row))
        else:
            built.append(mmvet.build_mmvet_gpt4_prompt(row))
    return built


def mcq(payload: dict) -> dict:
    judge = ScriptedJudge(payload["replies"])
    rows = pd.DataFrame(payload["rows"])
    found = [
        multiple_choice.extract_answer_from_item(judge, rows.iloc[i], "MMStar")
        for i in range(len(rows))
    ]
    return {"answers": found, "calls": judge.calls}


def circular(payload: dict) -> dict:
    judge = ScriptedJudge(payload["replies"])
    hits = []
    for group in payload["groups"]:
        frame = pd.DataFrame(group).sort_values(by="index")
        frame["GT"] = frame["answer"]
        hits.append(multiple_choice.eval_circular_group(judge, frame, "MMBench")["hit"])
    return {"hits": hits, "calls": judge.calls}


def yorn_task(payload: dict) -> dict:
    judge = ScriptedJudge(payload["replies"])
    rows = pd.DataFrame(payload["rows"])
    found = [yorn.YOrN_auxeval(judge, rows.iloc[i]) for i in range(len(rows))]
    return {"answers": found, "calls": judge.calls}


def mathvista_task(payload: dict) -> dict:
    judge = ScriptedJudge(payload["replies"])
    data = pd.DataFrame(payload["rows"])
    found = [mathvista.MathVista_auxeval(judge, data.iloc[i]) for i in range(len(data))]
    data["res"] = [f["res"] for f in found]
    data["log"] = [f["log"] for f in found]
    with tempfile.TemporaryDirectory() as tmp:
        dump(data, f"{tmp}/m_MathVista_MINI_judge.xlsx")
        table = mathvista.MathVista_acc(f"{tmp}/m_MathVista_MINI_judge.xlsx")
    return {"answers": found, "calls": judge.calls, "table": _table(table)}


def mmvet_task(payload: dict) -> dict:
    judge = ScriptedJudge(payload["replies"])
    data = pd.DataFrame(payload["rows"])
    found = [mmvet.MMVet_auxeval(judge, data.iloc[i]) for i in range(len(data))]
    data["score"] = [f["score"] for f in found]
    data["log"] = [f["log"] for f in found]
    with tempfile.TemporaryDirectory() as tmp:
        dump(data, f"{tmp}/m_MMVet_judge.xlsx")
        score, fine = mmvet.MMVet_acc(f"{tmp}/m_MMVet_judge.xlsx")
    return {"answers": found, "calls": judge.calls, "table": _table(score), "fine": _table(fine)}


TASKS = {
    "prompts": prompts,
    "mcq": mcq,
    "circular": circular,
    "yorn": yorn_task,
    "mathvista": mathvista_task,
    "mmvet": mmvet_task,
}

if __name__ == "__main__":
    request = json.load(sys.stdin)
    json.dump(_plain(TASKS[request["task"]](request["payload"])), sys.stdout)
