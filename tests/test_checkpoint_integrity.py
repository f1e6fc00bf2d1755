"""Checkpoints that heal: a torn last line is cut before the next append, records are
validated against the dataset, conflicting records stop the run, only regular files are
read or written, and temp files of interrupted writes are removed at the next launch."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import node_of, predictions, run_worker
from vlmeval_core.checkpoints import read_checkpoints
from vlmeval_core.errors import UsageError
from vlmeval_core.files import append_jsonl, read_jsonl, write_atomic


def shard(directory: Path, rank: int = 0) -> Path:
    path = directory / ".shards" / f"rank-{rank}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_an_append_after_a_torn_line_starts_on_a_line_of_its_own(tmp_path, caplog):
    path = shard(tmp_path)
    append_jsonl(path, [{"index": 1, "prediction": "A", "error": None}])
    fragment = '{"index": 2, "predic'
    with open(path, "a") as handle:
        handle.write(fragment)  # the writer died here (kill -9, disk full)

    append_jsonl(path, [{"index": 2, "prediction": "B", "error": None}])

    assert path.read_text().splitlines() == [
        '{"index": 1, "prediction": "A", "error": null}',
        '{"index": 2, "prediction": "B", "error": null}',
    ]
    assert f"{path}: cut off a torn last line ({len(fragment)} bytes)" in caplog.text


def test_a_file_that_is_only_a_torn_line_is_emptied_before_the_append(tmp_path):
    path = shard(tmp_path)
    path.write_text('{"index": 7, "pre')
    append_jsonl(path, [{"index": 7, "prediction": "C", "error": None}])
    assert [r["index"] for r in read_jsonl(path)] == [7]


def test_invalid_records_are_skipped_with_one_warning_naming_the_file(tmp_path, caplog):
    path = shard(tmp_path)
    lines = [
        {"index": True, "prediction": "bool index"},  # True == 1 in Python
        {"index": 999, "prediction": "another dataset's index"},
        {"index": 2, "prediction": 5},
        {"index": "3", "prediction": "text index"},
        {"index": 3, "prediction": "x", "error": ["not", "text"]},
        {"index": 1, "prediction": "A", "error": None},
        {"index": 2, "prediction": "B", "error": "image cannot be decoded"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + "[1, 2]\nnot json\n")

    done = read_checkpoints(tmp_path, [1, 2, 3])

    assert {i: r["prediction"] for i, r in done.items()} == {1: "A", 2: "B"}
    assert all(type(i) is int for i in done)
    warnings = [r.getMessage() for r in caplog.records if str(path) in r.getMessage()]
    assert len(warnings) == 1
    assert f"{path}: skipped 7 line(s) that are not a prediction of" in warnings[0]


def test_two_records_of_one_index_with_different_predictions_are_an_error(tmp_path):
    append_jsonl(shard(tmp_path, 0), [{"index": 4, "prediction": "A", "error": None}])
    append_jsonl(shard(tmp_path, 1), [{"index": 4, "prediction": "B", "error": None}])
    with pytest.raises(UsageError) as conflict:
        read_checkpoints(tmp_path, [4])
    message = str(conflict.value)
    assert message.startswith(f"{shard(tmp_path, 1)}: index 4 has two different predictions")
    assert str(shard(tmp_path, 0)) in message and "--run-name" in message


def test_the_same_record_twice_counts_once(tmp_path):
    record = {"index": 4, "prediction": "A", "error": None}
    append_jsonl(shard(tmp_path, 0), [record])
    append_jsonl(shard(tmp_path, 1), [record])
    assert read_checkpoints(tmp_path, [4]) == {4: record}


def test_a_checkpoint_that_is_a_symlink_is_neither_followed_nor_written(tmp_path):
    elsewhere = tmp_path / "elsewhere.jsonl"
    elsewhere.write_text(json.dumps({"index": 1, "prediction": "planted"}) + "\n")
    path = shard(tmp_path / "run")
    path.symlink_to(elsewhere)

    with pytest.raises(UsageError, match="is a symbolic link"):
        read_checkpoints(tmp_path / "run", [1])
    with pytest.raises(UsageError, match="is a symbolic link"):
        append_jsonl(path, [{"index": 2, "prediction": "B", "error": None}])
    assert elsewhere.read_text() == json.dumps({"index": 1, "prediction": "planted"}) + "\n"


def test_a_checkpoint_that_is_a_fifo_or_directory_is_refused_without_blocking(tmp_path):
    fifo = shard(tmp_path, 0)
    os.mkfifo(fifo)
    shard(tmp_path, 1).mkdir()
    # in a child process: a reader stuck on the FIFO would hang it, not the test run
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                from pathlib import Path
                from vlmeval_core.errors import UsageError
                from vlmeval_core.files import append_jsonl
                from vlmeval_core.checkpoints import read_checkpoints
                try:
                    read_checkpoints(Path({str(tmp_path)!r}), [1])
                except UsageError as exc:
                    print(exc)
                for rank in (0, 1):
                    path = Path({str(tmp_path)!r}, ".shards", f"rank-{{rank}}.jsonl")
                    try:
                        append_jsonl(path, [{{}}])
                    except UsageError as exc:
                        print(exc)
                """
            ),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = child.stdout.splitlines()
    assert child.returncode == 0, child.stderr[-2000:]
    assert lines[0].startswith(f"{fifo} is a FIFO; checkpoints and result files must be regular")
    assert lines[1].startswith(f"{fifo} is a FIFO")
    assert lines[2].startswith(f"{shard(tmp_path, 1)} is a directory")


def test_a_result_file_that_is_a_symlink_is_refused_and_its_target_kept(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (tmp_path / "scores.json").symlink_to(target)
    with pytest.raises(UsageError, match=r"scores\.json is a symbolic link"):
        write_atomic(tmp_path / "scores.json", "{}")
    assert target.read_text() == "keep me"
    assert (tmp_path / "scores.json").is_symlink()


def test_leftover_temps_are_removed_and_a_live_writers_temp_is_kept(tmp_path):
    (tmp_path / "ds").mkdir()
    dead = [
        tmp_path / ".summary.json.k2j4h5g6.tmp",
        tmp_path / "ds" / ".Org__M_ds.xlsx.a_b1c2d3.tmp",
        tmp_path / ".ShapesMCQ.tsv.q9w8e7r6.part",
    ]
    for path in dead:
        path.write_text("half a file")
    kept = [tmp_path / "ds" / "notes.tmp", tmp_path / ".hidden", tmp_path / "ds" / "a.part"]
    for path in kept:
        path.write_text("not ours")
    live = tmp_path / "ds" / ".scores.json.z1x2c3v4.tmp"
    live.write_text("being written")
    with open(live) as writer:
        fcntl.flock(writer, fcntl.LOCK_EX)  # as write_atomic's writer holds its temp
        # another process cleans: flock locks belong to open files, so it is refused as well
        cleaner = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; "
                "from vlmeval_core.files import remove_leftover_temps; "
                "print(len(remove_leftover_temps(Path(sys.argv[1]))))",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert cleaner.returncode == 0, cleaner.stderr
    assert cleaner.stdout.strip() == str(len(dead))
    assert not any(path.exists() for path in dead)
    assert all(path.exists() for path in [*kept, live])
    from vlmeval_core.files import remove_leftover_temps

    assert remove_leftover_temps(tmp_path) == [live]  # its writer is gone now


@pytest.mark.slow
def test_a_torn_checkpoint_and_leftover_temps_need_one_rerun(tmp_path, plan_factory):
    plan = plan_factory(["ShapesMCQ"], limit=6)
    first = run_worker(plan)
    assert first.returncode == 0, first.stderr[-3000:]
    expected = {p["index"]: p["prediction"] for p in predictions(plan, "ShapesMCQ")}
    dataset_dir = plan.run_dir / "ShapesMCQ"
    checkpoint = dataset_dir / ".shards" / "rank-0.jsonl"
    lines = checkpoint.read_text().splitlines(keepends=True)
    planted = json.dumps({"index": True, "prediction": "a bool is no index"}) + "\n"
    checkpoint.write_text("".join(lines[:3]) + planted + lines[3][:15])  # killed mid-append
    for name in ("predictions.jsonl", "scores.json"):
        (dataset_dir / name).unlink()
    temps = [
        dataset_dir / ".scores.json.abcd1234.tmp",
        plan.run_dir / ".summary.json.efgh5678.tmp",
        Path(node_of(plan).data_dir) / ".ShapesMCQ.tsv.ijkl9012.part",
    ]
    for path in temps:
        path.write_text("an interrupted write")

    again = run_worker(plan)

    assert again.returncode == 0, again.stderr[-3000:]
    assert "cut off a torn last line" in again.stderr
    assert again.stderr.count(f"{checkpoint}: skipped 1 line(s)") == 1
    assert {p["index"]: p["prediction"] for p in predictions(plan, "ShapesMCQ")} == expected
    assert all(json.loads(line) for line in checkpoint.read_text().splitlines())
    assert not any(path.exists() for path in temps)
