"""Shards: which items shard I of N evaluates, what `--shard` takes, and where it writes.

The end-to-end behaviour (real launches) is in tests/test_shards_e2e.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from vlmeval_core.checkpoints import checkpoint_path
from vlmeval_core.distributed import RankInfo
from vlmeval_core.errors import UsageError
from vlmeval_core.identity import RunIdentity
from vlmeval_core.inference import shard_positions
from vlmeval_core.shards import SHARDS_LIMIT, missing_shards, parse_shard, read_items, write_items
from vlmeval_launcher.cli import main

pytestmark = pytest.mark.usefixtures("workspace")  # conftest.py

TINY = ("eval", "-m", "tiny-vlm", "-d", "ShapesMCQ", "--device", "cpu")
MULTI_NODE = ("--nnodes", "2", "--node-rank", "0", "--rdzv-endpoint", "h:1")


@pytest.mark.parametrize("n_items", [0, 1, 7, 30])
@pytest.mark.parametrize("shards", [1, 2, 3, 5])
@pytest.mark.parametrize("world", [1, 2, 3])
def test_every_item_is_predicted_by_exactly_one_rank_of_exactly_one_shard(n_items, shards, world):
    owners: dict[int, list[tuple[int, int]]] = {}
    for shard in range(shards):
        for rank in range(world):
            for p in shard_positions(n_items, RankInfo(rank, world, rank, world), shard, shards):
                owners.setdefault(p, []).append((shard, rank))

    assert sorted(owners) == list(range(n_items))
    assert all(len(o) == 1 for o in owners.values())
    assert all(shard == p % shards for p, [(shard, _)] in owners.items())


def test_an_item_s_shard_depends_on_its_position_only_not_on_the_ranks():
    one_rank = shard_positions(10, RankInfo(0, 1, 0, 1), 1, 3)
    two_ranks = [p for r in range(2) for p in shard_positions(10, RankInfo(r, 2, r, 2), 1, 3)]

    assert one_rank == [1, 4, 7] and sorted(two_ranks) == one_rank


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2/2", "shards are numbered 0 to 1 (a SLURM array of 2 tasks: --array=0-1)"),
        ("1", "is not I/N"),
        ("-1/2", "is not I/N"),
        ("a/b", "is not I/N"),
        ("0/0", f"the number of shards must be 1 to {SHARDS_LIMIT}"),
        (f"0/{SHARDS_LIMIT + 1}", f"the number of shards must be 1 to {SHARDS_LIMIT}"),
    ],
)
def test_a_shard_that_is_not_i_of_n_is_refused_naming_the_fix(text, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_shard(text)


def test_parse_shard_reads_i_of_n():
    assert parse_shard("0/1") == (0, 1) and parse_shard(" 3/4 ") == (3, 4)


def error_line(result) -> str:
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--shard", "0/2"), "--shard 0/2 needs --run-name NAME, the same for every shard"),
        (
            ("--shard", "0/2", "--run-name", "r", "--restart"),
            "--restart moves the run directory aside, and the 2 shards share it",
        ),
        (
            ("--shard", "0/2", "--run-name", "r", *MULTI_NODE),
            "--shard 0/2 is a job of one node: leave --nnodes out",
        ),
    ],
)
def test_shard_flags_that_cannot_work_together_stop_at_launch(extra, message):
    result = CliRunner().invoke(main, [*TINY, *extra, "--dry-run"])

    assert message in error_line(result)
    assert not Path("outputs").exists() or not any(Path("outputs").rglob("plan.json"))


def test_the_plan_holds_the_shard_count_and_the_node_settings_this_launch_s_shard():
    result = CliRunner().invoke(main, [*TINY, "--shard", "1/3", "--run-name", "r", "--dry-run"])

    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert plan["shards"] == 3
    assert '"shard": 1}' in result.stderr
    by_variable = CliRunner().invoke(
        main, [*TINY, "--run-name", "r", "--dry-run"], env={"VLMEVAL_SHARD": "2/3"}
    )
    assert '"shard": 2}' in by_variable.stderr


def test_an_unsharded_run_s_identity_is_as_before_shards():
    identity = RunIdentity({}, None, {}, "cpu", 0).to_dict()  # type: ignore[arg-type]
    sharded = RunIdentity({}, None, {}, "cpu", 0, shards=4).to_dict()  # type: ignore[arg-type]

    assert "shards" not in identity and sharded["shards"] == 4


def test_each_shard_s_ranks_write_checkpoints_of_their_own(tmp_path):
    assert checkpoint_path(tmp_path, 0).name == "rank-0.jsonl"
    assert checkpoint_path(tmp_path, 0, 1).name == "shard-1.rank-0.jsonl"
    assert checkpoint_path(tmp_path, 0, 1) != checkpoint_path(tmp_path, 0, 2)


def test_the_shards_an_unfinished_dataset_waits_for():
    indices = [10, 11, 12, 13, 14]

    assert missing_shards(indices, {10: {}, 11: {}, 13: {}}, 2) == [0]
    assert missing_shards(indices, {}, 3) == [0, 1, 2]
    assert missing_shards(indices, dict.fromkeys(indices), 3) == []


def test_the_items_file_reads_back_and_a_broken_one_names_itself(tmp_path):
    assert read_items(tmp_path) is None
    write_items(tmp_path, [3, 1, 2])
    assert read_items(tmp_path) == [3, 1, 2]

    (tmp_path / ".items.json").write_text('{"indices": ["x"]}')
    with pytest.raises(UsageError, match=r"\.items\.json: not a list of item indices"):
        read_items(tmp_path)


@pytest.mark.parametrize("command", ["status", "merge"])
def test_status_and_merge_of_a_directory_that_is_no_run_exit_2(tmp_path, command):
    result = CliRunner().invoke(main, [command, str(tmp_path)])

    assert f"{tmp_path}: not a run directory (no plan.json)" in error_line(result)
