"""Files are written whole or appended as fsync'd lines; a torn last line is ignored."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from vlmeval_core.files import (
    append_jsonl,
    atomic_writer,
    file_digests,
    file_md5,
    read_jsonl,
    write_atomic,
    write_atomic_with,
)


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


def test_a_streamed_write_lands_whole_at_the_end_or_not_at_all(tmp_path):
    """The writer a download streams into: nothing under the final name until the block
    ends; an error midway leaves the old file and no temp (its suffix is the caller's)."""
    target = tmp_path / "MMStar.tsv"
    target.write_bytes(b"old")
    with pytest.raises(ConnectionError), atomic_writer(target, suffix=".part") as handle:
        handle.write(b"first half")
        assert sorted(p.suffix for p in tmp_path.iterdir()) == [".part", ".tsv"]
        raise ConnectionError("the transfer broke off")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["MMStar.tsv"]
    previous = os.umask(0o022)
    try:
        with atomic_writer(target, suffix=".part") as handle:
            handle.write(b"first half, ")
            handle.write(b"second half")
    finally:
        os.umask(previous)
    assert target.read_bytes() == b"first half, second half"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["MMStar.tsv"]


def test_a_files_digests_are_hashlibs_over_all_its_bytes_read_once(tmp_path):
    path = tmp_path / "big.tsv"
    data = os.urandom(3 * (1 << 20) + 17)  # over several read blocks
    path.write_bytes(data)
    md5, sha = hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()
    assert file_digests(path, "md5", "sha256") == (md5, sha)
    assert file_md5(path) == md5
