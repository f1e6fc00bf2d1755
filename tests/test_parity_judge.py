"""Judge parity: our judge prompts, our reading of generated judge replies, our tries and
temperatures, and our final tables against VLMEvalKit's own functions, for MCQ (vanilla and
circular), Y/N, MathVista and MMVet.

Reference: PyPI ``nvidia-vlmeval`` 26.3 (``vlmeval/dataset/utils/multiple_choice.py``
``extract_answer_from_item`` and ``eval_circular_group``, ``utils/yorn.py`` ``YOrN_auxeval``,
``utils/mathvista.py`` ``MathVista_auxeval`` and ``MathVista_acc``, ``utils/mmvet.py``
``MMVet_auxeval`` and ``MMVet_acc``), run in the parity venv by
``tests/parity/reference_judge.py`` with a scripted judge (:mod:`scripted_judge` on our side,
the same script). Answers and replies a rule VLMEvalKit main changed after 26.3 would read
differently are left out (:func:`parity_inputs.untouched_since_26_3`); the MCQ fallback's
letter is drawn (unseeded there, seeded here), so only that both fell back is compared.
"""

from __future__ import annotations

import json
import random
import subprocess

import pandas as pd
import pytest

from parity_inputs import FILLER, choices, free_text, untouched_since_26_3, yes_no_text
from scripted_judge import ScriptedJudge
from vlmeval_core.judge import mathvista as judged_mathvista
from vlmeval_core.judge import mcq as judged_mcq
from vlmeval_core.judge import mmvet as judged_mmvet
from vlmeval_core.judge import yorn as judged_yorn
from vlmeval_core.judge.judged import FAIL_MSG
from vlmeval_core.judge.prompts import mathvista_prompt, mcq_prompt, mmvet_prompt, yorn_prompt
from vlmeval_core.scoring import score_dataset
from vlmevalkit_reference import PARITY_PYTHON, ROOT

pytestmark = pytest.mark.parity

SCRIPT = ROOT / "tests" / "parity" / "reference_judge.py"


def judge_reference(task: str, payload: object) -> dict:
    if not PARITY_PYTHON.is_file():
        pytest.fail(f"no parity venv at {PARITY_PYTHON}: run `make test-parity`, which builds it")
    done = subprocess.run(
        [str(PARITY_PYTHON), str(SCRIPT)],
        input=json.dumps({"task": task, "payload": payload}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _calls(judge: ScriptedJudge) -> list[list]:
    return [[prompt, temperature] for prompt, temperature, _, _ in judge.calls]


def _readable(rng: random.Random, options: dict[str, str]) -> str:
    """A generated answer main and 26.3 read alike, not blank (a blank prediction reaches
    VLMEvalKit's rules as "nan", as ``as_evaluate_reads`` gives it ours: tested elsewhere)."""
    while True:
        text = free_text(rng, options)
        if text.strip() and untouched_since_26_3(text, options):
            return text


def _mcq_rows(rng: random.Random, n: int) -> list[dict]:
    rows = []
    for i in range(n):
        options = choices(rng)
        question = rng.choice(("What is shown", "Which one is it", "图中是什么"))
        rows.append(
            {"index": i, "question": question, **options,
             "answer": rng.choice(list(options)), "prediction": _readable(rng, options)}
        )  # fmt: skip
    return rows


def _mcq_replies(
    rng: random.Random, rows: list[dict], settled: bool = False
) -> dict[str, list[str]]:
    """Three replies per prompt; ``settled``: the third names a letter (no fallback)."""
    replies = {}
    for row in rows:
        options = {k: row[k] for k in "ABCDE" if k in row}
        script = [rng.choice((FAIL_MSG, _readable(rng, options))) for _ in range(3)]
        if settled:
            script[2] = rng.choice(list(options))
        replies[mcq_prompt(row["question"], options, row["prediction"])] = script
    return replies


def test_every_judge_prompt_is_vlmevalkit_s():
    rng = random.Random(1)
    rows = _mcq_rows(rng, 40)
    cases = [{"kind": "mcq", "row": r} for r in rows]
    cases += [{"kind": "yorn", "row": {"question": r["question"], "prediction": yes_no_text(rng)}}
              for r in rows]  # fmt: skip
    cases += [{"kind": "mathvista", "row": {"question": r["question"], "prediction": p}}
              for r, p in zip(rows, [r["prediction"] for r in rows], strict=True)]  # fmt: skip
    cases += [{"kind": "mmvet", "row": {"question": r["question"], "answer": "a<AND>b<OR>c",
                                        "prediction": r["prediction"]}} for r in rows]  # fmt: skip
    ours = []
    for case in cases:
        row = case["row"]
        if case["kind"] == "mcq":
            options = {k: row[k] for k in "ABCDE" if k in row}
            ours.append(mcq_prompt(row["question"], options, row["prediction"]))
        elif case["kind"] == "yorn":
            ours.append(yorn_prompt(row["question"], row["prediction"]))
        elif case["kind"] == "mathvista":
            ours.append(mathvista_prompt(row["question"], row["prediction"]))
        else:
            ours.append(mmvet_prompt(row["question"], row["answer"], row["prediction"]))
    assert ours == judge_reference("prompts", cases)


def test_mcq_answers_and_judge_calls_are_extract_answer_from_item_s():
    rng = random.Random(2)
    rows = _mcq_rows(rng, 300)
    replies = _mcq_replies(rng, rows)
    theirs = judge_reference("mcq", {"rows": rows, "replies": replies})
    judge = ScriptedJudge(replies)
    judged = judged_mcq.judged_options(pd.DataFrame(rows), judge)

    assert _calls(judge) == theirs["calls"]
    fell_back = 0
    for row, opt, log, their in zip(
        rows, judged.parsed, judged.log, theirs["answers"], strict=True
    ):
        assert log == their["log"], row
        if log == judged_mcq.RANDOM_LOG:
            fell_back += 1
        else:
            assert opt == their["opt"], row
    assert fell_back == judged.fallbacks
    assert len(theirs["calls"]) > 0 and 0 < fell_back < len(rows)


def test_circular_hits_and_judge_calls_are_eval_circular_group_s():
    rng = random.Random(3)
    groups, replies = [], {}
    for question in range(120):
        options = choices(rng)
        rows = []
        for k in range(rng.randint(2, 4)):
            rows.append(
                {"index": question + k * 1_000_000, "question": "What is shown", **options,
                 "answer": rng.choice(list(options)), "prediction": _readable(rng, options)}
            )  # fmt: skip
        groups.append(rows)
        replies.update(_mcq_replies(rng, rows, settled=True))  # a drawn letter would diverge
    theirs = judge_reference("circular", {"groups": groups, "replies": replies})
    judge = ScriptedJudge(replies)
    result = score_dataset(
        "mcq", pd.DataFrame([r for g in groups for r in g]), "circular_accuracy", judge=judge
    )
    mains = result.items[result.items["index"] < 1_000_000].sort_values("index")

    assert _calls(judge) == theirs["calls"]
    assert [int(bool(h)) for h in mains["circular_hit"]] == theirs["hits"]
    assert set(theirs["hits"]) == {0, 1} and len(judge.calls) > 20


def test_yes_no_answers_and_judge_calls_are_yorn_auxeval_s():
    rng = random.Random(4)
    rows = [{"index": i, "question": f"Is it {rng.choice(FILLER)} ({i})",
             "prediction": yes_no_text(rng), "answer": rng.choice(("Yes", "No"))}
            for i in range(300)]  # fmt: skip
    unread = [r for r in rows if judged_yorn.read_yes_no(r) is None]
    replies = {yorn_prompt(r["question"], r["prediction"]): [yes_no_text(rng) for _ in range(5)]
               for r in unread}  # fmt: skip
    theirs = judge_reference("yorn", {"rows": unread, "replies": replies})
    judge = ScriptedJudge(replies)
    judged = judged_yorn.judged_yes_no(pd.DataFrame(unread), judge)

    assert [p or "Unknown" for p in judged.parsed] == theirs["answers"]
    assert _calls(judge) == theirs["calls"]
    assert {"Yes", "No", "Unknown"} <= set(theirs["answers"])


def _mathvista_rows(rng: random.Random, n: int) -> list[dict]:
    rows = []
    tasks = ("figure question answering", "math word problem", "geometry problem solving")
    skills = ("algebraic reasoning", "arithmetic reasoning", "statistical reasoning")
    for i in range(n):
        kind = rng.choice(("multi_choice", "integer", "float", "text"))
        row = {"index": i, "question": f"Question {i}?", "task": rng.choice(tasks),
               "skills": str(rng.sample(skills, rng.randint(1, 2)))}  # fmt: skip
        if kind == "multi_choice":
            options = ["cat", "dog", "bird", "fish"][: rng.randint(2, 4)]
            letter = rng.randrange(len(options))
            row |= {
                "question_type": "multi_choice",
                "answer_type": "text",
                "choices": str(options),
                "answer": options[letter],
                "answer_option": "ABCD"[letter],
                "prediction": rng.choice((f"({'ABCD'[letter]})", "it is a dog", "maybe")),
            }
        else:  # fmt: skip
            answer = {"integer": "4", "float": "1.5", "text": "red"}[kind]
            said = rng.choice((answer, "4", "about 1.5", "red", "not sure"))
            row |= {"question_type": "free_form", "answer_type": kind, "choices": "[]",
                    "answer": answer, "answer_option": "", "prediction": said}  # fmt: skip
        rows.append(row)
    return rows


def _table_of(frame: pd.DataFrame) -> dict:
    values = [[None if isinstance(v, float) and v != v else v for v in row]
              for row in frame.values.tolist()]  # fmt: skip
    return {"columns": [str(c) for c in frame.columns], "rows": values}


def _same_table(ours: pd.DataFrame, theirs: dict) -> None:
    mine = _table_of(ours)
    assert mine["columns"] == theirs["columns"]
    assert len(mine["rows"]) == len(theirs["rows"])
    for a, b in zip(mine["rows"], theirs["rows"], strict=True):
        assert a == pytest.approx(b, nan_ok=True) if all(
            isinstance(x, int | float) for x in a[1:]) else a == b  # fmt: skip


def test_mathvista_answers_calls_and_table_are_vlmevalkit_s():
    rng = random.Random(5)
    rows = _mathvista_rows(rng, 300)
    replies = {
        mathvista_prompt(r["question"], r["prediction"]): [
            FAIL_MSG
            if r["index"] % 10 == 0
            else rng.choice(("4", "1.5", "B", "(A)", "red"))
            if k == 4
            else rng.choice((FAIL_MSG, "4", "1.5", "B", "(A)", "red", "none"))
            for k in range(5)
        ]
        for r in rows
    }  # every tenth item's judge never answers: the '' fallback
    theirs = judge_reference("mathvista", {"rows": rows, "replies": replies})
    judge = ScriptedJudge(replies)
    result = score_dataset("vqa", pd.DataFrame(rows), "mathvista_accuracy", judge=judge)

    assert result.items["log"].tolist() == [a["log"] for a in theirs["answers"]]
    assert [str(p) for p in result.items["parsed"]] == [str(a["res"]) for a in theirs["answers"]]
    assert _calls(judge) == theirs["calls"]
    assert {c[2] for c in judge.calls} == {judged_mathvista.MAX_TOKENS}
    _same_table(result.table, theirs["table"])
    assert 0 < result.scores["overall"] < 1 and result.scores["judge_fallbacks"] > 0


def test_mmvet_scores_calls_and_tables_are_vlmevalkit_s():
    rng = random.Random(6)
    capabilities = ("rec", "ocr", "know", "gen", "spat", "math")
    rows = [{"index": i, "question": f"Q{i}?", "answer": rng.choice(("a<AND>b", "x<OR>y", "7")),
             "category": ",".join(rng.sample(capabilities, rng.randint(1, 3))),
             "prediction": rng.choice(("a", "x and y", "7", "no idea"))}
            for i in range(300)]  # fmt: skip
    replies = {
        mmvet_prompt(r["question"], r["answer"], r["prediction"]): [
            rng.choice(("0.5", "1.0", "0.0", "1.5", "-1", "zero", "0.3 ", FAIL_MSG))
            for _ in range(5)
        ]
        for r in rows
    }
    theirs = judge_reference("mmvet", {"rows": rows, "replies": replies})
    judge = ScriptedJudge(replies)
    result = score_dataset("vqa", pd.DataFrame(rows), "mmvet_score", judge=judge)

    assert result.items["score"].tolist() == [a["score"] for a in theirs["answers"]]
    assert result.items["log"].tolist() == [a["log"] for a in theirs["answers"]]
    assert _calls(judge) == theirs["calls"]
    assert {c[2] for c in judge.calls} == {judged_mmvet.MAX_TOKENS}
    _same_table(result.table, theirs["table"])
    _same_table(result.more_tables["_score_fine"], theirs["fine"])
    assert result.scores["judge_fallbacks"] > 0
