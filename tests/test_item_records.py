"""The prompt beside every answer (issue 23, part 5): each item's checkpoint record, and so its
line of predictions.jsonl and its row of the xlsx, holds the prompt as ``vlmeval prompts``
prints it, the image count, the generated tokens and the finish reason (eos, length, error),
for both backends; a checkpoint written before these fields resumes with them null."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest
import torch

from conftest import make_plan, predictions, run_worker
from test_item_failures import GOOD, write_tsv
from vlmeval_core.backends import predict_missing
from vlmeval_core.checkpoints import (
    FINISH_REASONS,
    ITEM_FIELDS,
    Answer,
    ShardStats,
    read_checkpoints,
)
from vlmeval_core.datasets import shapes
from vlmeval_core.datasets.tsv import load_tsv
from vlmeval_core.distributed import RankInfo
from vlmeval_core.endpoint.client import Completion, Reply, completion_of
from vlmeval_core.inference import Transformers
from vlmeval_core.merge import merge_and_score
from vlmeval_core.models.hf import VisionLanguageModel, row_ends
from vlmeval_core.models.record import ModelSpec
from vlmeval_core.models.registry import TINY_VLM_DIR
from vlmeval_core.prompt_families import DEFAULT_FAMILY, FAMILIES
from vlmeval_core.report import result_stem

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")
ONE_RANK = RankInfo(0, 1, 0, 1)


def shown_by_vlmeval_prompts(data: str, data_dir: Path, *args: str) -> dict[int, str]:
    """Each item's text as ``vlmeval prompts`` prints it (its ``── index`` line left out)."""
    done = subprocess.run(
        [VLMEVAL, "prompts", "-d", data, "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    shown = {}
    for block in done.stdout.split("── index ")[1:]:
        index, _, text = block.partition("\n")
        shown[int(index)] = text.removesuffix("\n\n")  # each item is echoed with a blank line
    return shown


# --------------------------------------------------------------------------- the pieces


def test_each_rows_tokens_end_at_its_end_token_and_the_padding_after_it_is_not_counted():
    eos, pad = 2, 0
    new_tokens = torch.tensor(
        [
            [5, 6, eos, pad, pad],  # ended after 3 tokens, padded while the others went on
            [5, 6, 7, 8, 9],  # max_new_tokens reached
            [eos, pad, pad, pad, pad],  # ended at once
            [5, pad, 7, eos, eos],  # a generated pad id is a token; only the first end counts
        ]
    )
    assert row_ends(new_tokens, [eos]) == ([3, 5, 1, 4], ["eos", "length", "eos", "eos"])
    assert row_ends(new_tokens, [7, eos]) == ([3, 3, 1, 3], ["eos", "eos", "eos", "eos"])
    assert row_ends(new_tokens, []) == ([5, 5, 5, 5], ["length"] * 4)  # nothing stops a row


def test_pad_and_end_token_the_same_id_count_the_end_once():
    eos = pad = 0
    new_tokens = torch.tensor([[5, eos, pad, pad], [5, 6, 7, 8]])
    assert row_ends(new_tokens, [eos]) == ([2, 4], ["eos", "length"])


def server_reply(choice: dict, **answer: object) -> Reply:
    body = {"choices": [{"index": 0, "message": {"content": " B "}, **choice}], **answer}
    return Reply(httpx.Response(200), json.dumps(body).encode())


@pytest.mark.parametrize(
    ("choice", "answer", "expected"),
    [
        ({"finish_reason": "stop"}, {"usage": {"completion_tokens": 3}}, ("B", 3, "eos")),
        ({"finish_reason": "length"}, {"usage": {"prompt_tokens": 9}}, ("B", None, "length")),
        ({}, {}, ("B", None, None)),
        ({"finish_reason": "content_filter"}, {"usage": None}, ("B", None, None)),
        ({"finish_reason": "stop"}, {"usage": {"completion_tokens": "3"}}, ("B", None, "eos")),
    ],
)  # fmt: skip
def test_a_servers_completion_tokens_and_finish_reason_are_read_when_given(
    choice, answer, expected
):
    assert completion_of(server_reply(choice, **answer)) == Completion(*expected)


def test_a_failed_item_finishes_with_error():
    failed = Answer.failed(4, "image cannot be decoded")
    assert (failed.prediction, failed.generated_tokens, failed.finish_reason) == ("", None, "error")
    assert FINISH_REASONS == ("eos", "length", "error")


class Letters:
    """A backend answering every item "A" in 2 tokens, the last item cut at max_new_tokens."""

    load_s, commit, server_models = 0.0, None, None
    family, images = FAMILIES[DEFAULT_FAMILY], "vlmevalkit"

    def load(self) -> None:
        pass

    def predict(self, dataset, positions, store):
        last = len(dataset) - 1
        store.append([Answer(p, "A", None, 2, "length" if p == last else "eos") for p in positions])
        return ShardStats()


def test_records_hold_the_prompt_of_vlmeval_prompts_and_an_old_checkpoint_resumes(tmp_path):
    """A checkpoint line written before the fields (``{"index", "prediction", "error"}``) is a
    finished item: it is not asked again, and its fields are null in both result files."""
    plan = make_plan(tmp_path, ["ShapesMCQ"])
    data_dir = tmp_path / "data"
    dataset = load_tsv(shapes.write_tsv("ShapesMCQ", data_dir), "ShapesMCQ")
    dataset.frame = dataset.frame.iloc[:4].reset_index(drop=True)
    indices = dataset.frame["index"].tolist()
    directory = plan.run_dir / "ShapesMCQ"
    (directory / ".shards").mkdir(parents=True)
    old = {"index": indices[1], "prediction": "B", "error": None}
    (directory / ".shards" / "rank-0.jsonl").write_text(json.dumps(old) + "\n")

    stats = predict_missing(Letters(), dataset, directory, range(4), ONE_RANK, False)
    assert (stats.predicted, stats.resumed) == (3, 1)
    records = read_checkpoints(directory, indices)
    shown = shown_by_vlmeval_prompts("ShapesMCQ", data_dir, "-m", "tiny-vlm", "--limit", "4")
    for position in (0, 2, 3):
        record = records[indices[position]]
        assert record["prompt"] == shown[indices[position]]
        assert record["prompt"].startswith("[image: ") and "\nA. " in record["prompt"]
        assert record["image_count"] == 1 and record["generated_tokens"] == 2
    assert [records[indices[p]]["finish_reason"] for p in (0, 2, 3)] == ["eos", "eos", "length"]
    assert set(ITEM_FIELDS).isdisjoint(records[indices[1]])

    merge_and_score(plan, dataset, directory)
    lines = {r["index"]: r for r in predictions(plan, "ShapesMCQ")}
    assert [lines[indices[1]][f] for f in ITEM_FIELDS] == [None] * 4
    assert lines[indices[3]]["prompt"] == shown[indices[3]]
    assert lines[indices[3]]["finish_reason"] == "length"
    sheet = pd.read_excel(directory / f"{result_stem('tiny-vlm', 'ShapesMCQ')}.xlsx")
    assert list(sheet.columns[-8:]) == ["prediction", "parsed", "correct", "error", *ITEM_FIELDS]
    assert sheet["prompt"].tolist()[3] == shown[indices[3]]
    assert sheet["finish_reason"].fillna("").tolist() == ["eos", "", "eos", "length"]


# --------------------------------------------------------------------------- both backends


@pytest.mark.slow
def test_the_transformers_backend_records_the_same_fields_batched_as_one_item_at_a_time(
    tmp_path,
):
    """ShapesVQA's answers take 2 to 6 tokens: with max_new_tokens 4, a batch of 8 holds rows
    that end early (padded after their end token) beside rows cut at the limit. Each row's
    tokens and finish reason are those of the item generated alone; resumed from checkpoints
    without the fields, the old records keep them null and the others are filled."""
    runs = {}
    for batch_size in (1, 8):
        model = ModelSpec(
            "tiny-vlm", "bundled", str(TINY_VLM_DIR), batch_size=batch_size, max_new_tokens=4
        )
        plan = make_plan(tmp_path, ["ShapesVQA"], model=model, run_name=f"b{batch_size}", limit=12)
        done = run_worker(plan)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[batch_size] = plan, {r["index"]: r for r in predictions(plan, "ShapesVQA")}
    alone, batched = runs[1][1], runs[8][1]
    assert len(alone) == 12
    for index, record in alone.items():
        assert {f: batched[index][f] for f in ITEM_FIELDS} == {f: record[f] for f in ITEM_FIELDS}
        assert record["image_count"] == 1
        assert record["finish_reason"] in ("eos", "length")
        assert record["generated_tokens"] <= 4
        assert (record["generated_tokens"] == 4) >= (record["finish_reason"] == "length")
    reasons = [r["finish_reason"] for r in alone.values()]
    assert "eos" in reasons and "length" in reasons
    assert len({r["generated_tokens"] for r in alone.values()}) >= 2
    shown = shown_by_vlmeval_prompts("ShapesVQA", tmp_path / "data", "-m", "tiny-vlm")
    assert all(record["prompt"] == shown[index] for index, record in alone.items())

    plan, _ = runs[8]
    shard = plan.run_dir / "ShapesVQA" / ".shards" / "rank-0.jsonl"
    lines = [json.loads(line) for line in shard.read_text().splitlines()]
    old = [{k: r[k] for k in ("index", "prediction", "error")} for r in lines[:6]]
    shard.write_text("".join(json.dumps(r) + "\n" for r in old))  # as an older vlmeval wrote it
    resumed = run_worker(plan)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed 6," in resumed.stderr
    after = {r["index"]: r for r in predictions(plan, "ShapesVQA")}
    kept = {r["index"] for r in old}
    assert all(after[i][f] is None for i in kept for f in ITEM_FIELDS)
    assert all(after[i] == batched[i] for i in after if i not in kept)


@pytest.mark.slow
def test_an_item_whose_image_cannot_be_decoded_finishes_with_error(tmp_path):
    table = write_tsv(
        tmp_path / "Bad.tsv",
        ["index", "image", "question", "answer"],
        [[0, GOOD, "colour?", "red"], [1, GOOD[:40] + "AAAA", "colour?", "red"]],
    )
    dataset = load_tsv(table)
    model = ModelSpec("tiny-vlm", "bundled", str(TINY_VLM_DIR))
    backend = Transformers(lambda: VisionLanguageModel(model, "cpu"), 2, 4)
    predict_missing(backend, dataset, tmp_path / "Bad", [0, 1], ONE_RANK, False)
    records = read_checkpoints(tmp_path / "Bad", [0, 1])
    assert records[1]["error"] and records[1]["finish_reason"] == "error"
    assert records[1]["generated_tokens"] is None
    assert records[1]["prompt"] is None and records[1]["image_count"] is None  # nothing sent
    assert records[0]["prompt"].startswith("[image: Bad.tsv: index 0, image 1 of 1")
    assert "\ncolour?\n" in records[0]["prompt"] and records[0]["image_count"] == 1
    assert records[0]["error"] is None and records[0]["finish_reason"] in ("eos", "length")


def chat_completion(text: str, finish_reason: str, **usage: int) -> bytes:
    answer = {
        "choices": [{"index": 0, "message": {"content": text}, "finish_reason": finish_reason}]
    }
    return json.dumps({**answer, **({"usage": usage} if usage else {})}).encode()


def test_the_api_backend_records_the_servers_tokens_and_finish_reason(tmp_path):
    """Through ``vlmeval eval --api-base``: index 0 stops (3 completion tokens), index 2 hits
    the limit with no usage given; index 1's image cannot be decoded, so it is never sent."""
    from endpoint_runs import endpoint_eval
    from misbehaving_server import MisbehavingServer, Step
    from test_endpoint_item_image import mcq_table

    table = mcq_table(tmp_path / "Colours.tsv")
    script = [
        Step(body=chat_completion("A", "stop", prompt_tokens=40, completion_tokens=3)),
        Step(body=chat_completion("B", "length")),
    ]
    with MisbehavingServer(script) as server:
        done = endpoint_eval(
            tmp_path, server.base_url, "--api-concurrency", "1", data=f"{table}:mcq"
        )
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "out" / "fake-vlm" / "r" / "Colours" / "predictions.jsonl").read_text()
    records = {r["index"]: r for r in map(json.loads, lines.splitlines())}
    facts = {i: [records[i][f] for f in ITEM_FIELDS[1:]] for i in records}
    assert facts == {0: [1, 3, "eos"], 1: [1, None, "error"], 2: [1, None, "length"]}
    shown = shown_by_vlmeval_prompts(f"{table}:mcq", tmp_path / "data", "-m", "tiny-vlm")
    assert {i: r["prompt"] for i, r in records.items()} == shown  # its bytes are found: shown
