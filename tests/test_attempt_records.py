"""attempts.node-<n>.jsonl never makes the manifest lie or fail: wall time comes from the
monotonic clock (a wall clock that steps back gives no negative ``wall_s``), and a record
that is not what vlmeval writes (a time without its timezone, a missing field, not JSON)
is skipped with one warning naming the file and line.

Crafted attempts files, read by the real :func:`vlmeval_core.attempts.history`, and the real
end record of a real lock and handover; one real ``vlmeval eval`` run for the whole path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import fake_nvml
from vlmeval_core import attempts, lifecycle, run_lock

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")

START = {
    "event": "start",
    "id": "a1",
    "node_rank": 0,
    "host": "h",
    "started": "2026-12-01T10:00:00.000+00:00",
    "world_size": 1,
    "nproc": 1,
    "nnodes": 1,
    "batch_size": 8,
    "gpus_per_model": 1,
    "limit": None,
}


def write_records(run_dir: Path, *lines: object) -> Path:
    path = attempts.attempts_file(run_dir, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = [line if isinstance(line, str) else json.dumps(line) for line in lines]
    path.write_text("".join(f"{line}\n" for line in text), encoding="utf-8")
    return path


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("vlmeval: warning: ")]


def test_an_old_end_record_whose_clock_stepped_back_has_no_wall_time_not_a_negative_one(
    tmp_path, capsys
):
    ended = "2022-10-07T13:40:33.000+00:00"  # 128,386,767 s before its start
    write_records(
        tmp_path,
        START,
        {"event": "end", "id": "a1", "ended": ended, "exit": 0},
        {**START, "id": "a2", "started": "2026-12-01T11:00:00.000+00:00"},
        {"event": "end", "id": "a2", "ended": "2026-12-01T11:00:30.500+00:00", "exit": 0},
    )
    first, second = attempts.history(tmp_path)
    assert (first["id"], first["ended"], first["wall_s"]) == ("a1", ended, None)
    assert second["wall_s"] == 30.5
    assert attempts.total_wall_s([first, second]) == 30.5
    assert warnings(capsys.readouterr().err) == []


def test_wall_time_comes_from_the_monotonic_clock_whatever_the_wall_clock_says(tmp_path):
    lock = run_lock.acquire(tmp_path)
    attempt = attempts.start(
        tmp_path, node_rank=0, nproc=1, nnodes=1, batch_size=1, gpus_per_model=1, limit=None
    )
    path = attempts.attempts_file(tmp_path, 0)
    # the wall clock was 4 years ahead when the attempt started, then NTP stepped it back
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "started": "2030-12-01T10:00:00.000+00:00"}) + "\n")
    handed = lifecycle.handover(tmp_path, attempt, lock)

    assert lifecycle.conclude(0, handed) == 0

    (ended,) = attempts.history(tmp_path)
    assert ended["exit"] == 0
    assert 0 <= ended["wall_s"] < 60, ended
    assert attempts.total_wall_s([ended]) == ended["wall_s"] >= 0
    end_record = json.loads(path.read_text().splitlines()[-1])
    assert end_record["wall_s"] == ended["wall_s"], "the end record carries it"


def test_a_finishing_attempt_is_timed_by_the_monotonic_clock_with_its_real_exit(tmp_path):
    lock = run_lock.acquire(tmp_path)
    attempt = attempts.start(
        tmp_path, node_rank=0, nproc=1, nnodes=1, batch_size=1, gpus_per_model=1, limit=None
    )
    handed = lifecycle.handover(tmp_path, attempt, lock)
    path = attempts.attempts_file(tmp_path, 0)
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "started": "2030-12-01T10:00:00.000+00:00"}) + "\n")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(attempts.ENV_VARIABLE, handed[attempts.ENV_VARIABLE])
        (finishing,) = attempts.history(tmp_path, finishing=attempt.id, exit_code=3)
    run_lock.release(lock.fd)
    assert finishing["exit"] == 3
    assert 0 <= finishing["wall_s"] < 60


BAD_RECORDS = [
    ({**START, "started": "2026-12-01T10:00:00"}, "started '2026-12-01T10:00:00' is not an ISO "
     "time with a timezone"),
    ({**START, "started": "yesterday"}, "started 'yesterday' is not an ISO time with a timezone"),
    ({k: v for k, v in START.items() if k != "id"}, "start record: id None is not a string"),
    ({**START, "node_rank": "0"}, "start record: node_rank '0' is not a whole number"),
    ({"event": "end", "id": "a1", "ended": "2026-12-01T10:01:00", "exit": 0},
     "ended '2026-12-01T10:01:00' is not an ISO time with a timezone"),
    ({"event": "end", "id": "a1", "ended": "2026-12-01T10:01:00+00:00", "exit": "0"},
     "end record: exit '0' is not a whole number or null"),
    ({"event": "end", "id": "a1", "ended": "2026-12-01T10:01:00+00:00", "exit": 0,
      "wall_s": -128386767.0}, "end record: wall_s -128386767.0 is not a finite number"),
    ({"event": "restart", "id": "a1"}, "event 'restart' is neither 'start' nor 'end'"),
    ("{not json", "not a JSON object"),
    ("[1, 2]", "not a JSON object"),
]  # fmt: skip


@pytest.mark.parametrize(("bad", "problem"), BAD_RECORDS)
def test_a_crafted_record_is_skipped_with_one_warning_naming_file_and_line(
    tmp_path, capsys, bad, problem
):
    path = write_records(
        tmp_path,
        {**START, "id": "a0", "started": "2026-12-01T09:00:00.000+00:00"},
        bad,
        {"event": "end", "id": "a0", "ended": "2026-12-01T09:00:10.000+00:00", "exit": 0},
    )

    listed = attempts.history(tmp_path)

    assert [(a["id"], a["exit"], a["wall_s"]) for a in listed] == [("a0", 0, 10.0)]
    (warning,) = warnings(capsys.readouterr().err)
    assert warning.startswith(f"vlmeval: warning: {path}: line 2: ")
    assert problem in warning
    assert warning.endswith("the record is skipped (the manifest lists the attempts of the "
                            "other records)")  # fmt: skip


@pytest.mark.slow
def test_a_run_whose_attempts_file_holds_a_naive_start_time_completes_and_says_so(tmp_path):
    """The TypeError (naive minus aware datetime) came after all the work, from rank 0's
    manifest: the run ended with exit 3 and no manifest."""
    run_dir = tmp_path / "out" / "tiny-vlm" / "r"
    path = write_records(run_dir, {**START, "started": "2026-12-01T10:00:00"})
    env = fake_nvml.subprocess_env(None, fake=False, HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [VLMEVAL, "eval", "--device", "cpu", "-m", "tiny-vlm", "-d", "ShapesMCQ",
         "--limit", "4", "--output", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data"),
         "--run-name", "r", "--quiet"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    (warning,) = warnings(done.stderr)
    assert warning.startswith(f"vlmeval: warning: {path}: line 1: start record: started ")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    (attempt,) = manifest["attempts"]
    assert attempt["exit"] == 0 and attempt["wall_s"] >= 0
    assert manifest["wall_s"]["all_attempts"] == attempt["wall_s"]
    ends = [json.loads(line) for line in path.read_text().splitlines()[2:]]
    assert [(e["event"], e["exit"]) for e in ends] == [("end", 0)]
