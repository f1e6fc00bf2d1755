"""Which rank's line the run shows, and how a file-system error reads (vlmeval_core.failure).

The end-to-end behaviour is pinned in test_one_line_errors.py; these pin the rules.
"""

from __future__ import annotations

import errno
import json

from vlmeval_core.errors import UsageError
from vlmeval_core.failure import OWN, PEER, Failure, describe, read_report, report, root_cause
from vlmeval_core.oserror import explain


def test_the_root_cause_is_the_earliest_own_failure_even_after_a_lost_peer():
    lost = Failure("rank 0: RuntimeError: Connection closed by peer", 3, 0, PEER, 10.0)
    own = Failure("/data/x.tsv: row 3: bad index", 2, 1, OWN, 10.5)
    later = Failure("rank 2: ValueError: late", 3, 2, OWN, 11.0)
    assert root_cause([lost, later, own]) == own
    assert root_cause([lost]) == lost


def test_a_usage_error_keeps_its_message_and_exit_code():
    found = describe(UsageError("x.tsv: row 2: index 'a' is not a whole number"), 3)
    assert (found.message, found.exit_code, found.rank, found.cause) == (
        "x.tsv: row 2: index 'a' is not a whole number",
        2,
        3,
        OWN,
    )


def test_an_unexpected_error_names_the_rank_its_type_and_where_its_traceback_is(tmp_path):
    found = describe(ValueError("boom\nsecond line"), 1)
    assert found.message == "rank 1: ValueError: boom" and found.exit_code == 3
    log = tmp_path / "logs" / "rank-1.log"
    found = describe(IsADirectoryError(21, "Is a directory", "/o/rank-1.jsonl"), 1, log=log)
    assert found.message == (
        f"rank 1: IsADirectoryError: [Errno 21] Is a directory: '/o/rank-1.jsonl' "
        f"(traceback in {log})"
    )


def test_a_report_round_trips_through_torchs_error_file_format(tmp_path, monkeypatch):
    path = tmp_path / "error.json"
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(path))
    failure = Failure("a.tsv: missing column answer", 2, 1, OWN, 1234.5)
    report(failure, "Traceback ...")
    data = json.loads(path.read_text())
    assert data["message"]["message"] == failure.message  # what torch's tools read
    assert data["message"]["extraInfo"]["timestamp"] == "1234"
    assert read_report(path) == failure
    assert read_report(tmp_path / "missing.json") is None


def test_permission_denied_names_the_directory_it_could_not_write_in_and_its_owner(tmp_path):
    exc = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / ".plan.json.x.tmp"))
    message = str(explain(exc))
    assert message.startswith(f"permission denied: {tmp_path} (owned by uid ")
    assert explain(exc).exit_code == 3


def test_a_full_disk_without_a_file_name_names_the_given_volume():
    exc = OSError(errno.ENOSPC, "No space left on device")
    failure = explain(exc, ["/nonexistent-volume/run"])
    assert failure is not None and failure.exit_code == 3
    assert "no space left on device writing /nonexistent-volume/run" in str(failure)


def test_other_os_errors_are_not_explained_away():
    assert explain(FileNotFoundError(errno.ENOENT, "No such file", "/x")) is None
