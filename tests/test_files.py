"""Files are written whole or appended as fsync'd lines; a torn last line is ignored."""

from __future__ import annotations

import os
import stat

import pytest

from vlmeval_core.files import append_jsonl, read_jsonl, write_atomic, write_atomic_with


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "scores.json"
    write_atomic(target, "old")

    def explode(handle):
        handle.write("half of the new")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic_with(target, explode)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.json"]


def test_a_whole_file_write_gets_the_mode_of_an_ordinary_new_file(tmp_path):
    previous = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / "summary.json", "{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_torn_last_line_is_ignored_and_appends_go_on(tmp_path):
    path = tmp_path / "rank-0.jsonl"
    append_jsonl(path, [{"index": 1}, {"index": 2}])
    with open(path, "a") as handle:
        handle.write('{"index": 3, "predi')  # the writer died here
    assert [r["index"] for r in read_jsonl(path)] == [1, 2]


def test_a_missing_checkpoint_reads_as_empty(tmp_path):
    assert list(read_jsonl(tmp_path / "none.jsonl")) == []
