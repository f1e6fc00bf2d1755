"""One line per failure (issue 9, point 10): `vlmeval eval` run for real, faults made for real.

Whatever fails, and on whichever rank, the terminal shows exactly one
``vlmeval: error: …`` line naming the file, path or variable and the fix, with
exit 2 (input) or 3 (environment): no torch elastic log lines, no second error
from the ranks that only lost their peer. Tracebacks go to ``<run>/logs/``, and to
the terminal only with ``VLMEVAL_DEBUG=1``. The file-system faults are real: a
size-limited tmpfs for a full disk, a private mount namespace with a read-only
/tmp, a run directory of another user (these need root, as CI has).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import fake_nvml

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")
TORCH_LOG_LINE = re.compile(r"^\[?[EWI]\d{4} ", re.M)
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="mounts and other users need root (CI is root)")


def eval_argv(output: Path, *extra: str, nproc: int = 2) -> list[str]:
    return [
        VLMEVAL, "eval", "--device", "cpu", "--nproc", str(nproc), "-m", "tiny-vlm",
        "-d", "ShapesMCQ", "--limit", "8", "--output", str(output), *extra,
    ]  # fmt: skip


def run_eval(argv: list[str], data: Path, **env: str) -> subprocess.CompletedProcess:
    variables = fake_nvml.subprocess_env(
        None, fake=False, LMUData=str(data), HF_HUB_OFFLINE="1", **env
    )
    return subprocess.run(argv, env=variables, capture_output=True, text=True, timeout=600)


def the_error_line(done: subprocess.CompletedProcess) -> str:
    """The one ``vlmeval: error:`` line; fails on a second one, a traceback, torch's logs."""
    errors = [line for line in done.stderr.splitlines() if line.startswith("vlmeval: error:")]
    assert len(errors) == 1, done.stderr[-4000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    assert not TORCH_LOG_LINE.search(done.stderr), done.stderr[-4000:]
    assert "Connection closed" not in done.stderr and "Connection reset" not in done.stderr
    return errors[0]


# Fault injection for one rank only: Python imports ``sitecustomize`` at start-up, so this one
# makes load_tsv raise a UsageError in the rank whose RANK is FAIL_RANK, and nowhere else.
FAULT = """
import os
if os.environ.get("RANK") is not None and os.environ.get("RANK") == os.environ.get("FAIL_RANK"):
    from vlmeval_core.datasets import tsv
    from vlmeval_core.errors import UsageError

    def load_tsv(path, *args, **kwargs):
        raise UsageError(f"{path}: row 7: injected fault in rank {os.environ['RANK']}")

    tsv.load_tsv = load_tsv
"""


@pytest.mark.slow
@pytest.mark.parametrize("failing_rank", [0, 1])
def test_a_bad_input_seen_by_one_rank_is_one_line_from_that_rank_and_exit_2(tmp_path, failing_rank):
    (tmp_path / "fault").mkdir()
    (tmp_path / "fault" / "sitecustomize.py").write_text(FAULT)
    done = run_eval(
        eval_argv(tmp_path / "out", "--run-name", "r"),
        tmp_path / "data",
        FAIL_RANK=str(failing_rank),
        PYTHONPATH=os.pathsep.join([str(tmp_path / "fault"), os.environ.get("PYTHONPATH", "")]),
    )
    assert done.returncode == 2, done.stderr[-3000:]
    line = the_error_line(done)
    assert line.endswith(f"ShapesMCQ.tsv: row 7: injected fault in rank {failing_rank}"), line
    log = tmp_path / "out" / "tiny-vlm" / "r" / "logs" / f"rank-{failing_rank}.log"
    assert "Traceback (most recent call last)" in log.read_text()


@pytest.mark.slow
def test_a_failure_in_every_rank_is_still_one_line_and_its_traceback_is_logged(tmp_path):
    run_dir = tmp_path / "out" / "tiny-vlm" / "r"
    # every rank reads every checkpoint on resume: a directory in their place fails them all
    (run_dir / "ShapesMCQ" / ".shards" / "rank-1.jsonl").mkdir(parents=True)
    done = run_eval(eval_argv(tmp_path / "out", "--run-name", "r"), tmp_path / "data")
    line = the_error_line(done)
    assert done.returncode in (2, 3), done.stderr[-3000:]
    assert "rank-1.jsonl" in line, line
    assert any(
        "Traceback (most recent call last)" in log.read_text()
        for log in (run_dir / "logs").iterdir()
    )


@pytest.mark.slow
def test_vlmeval_debug_puts_the_tracebacks_on_the_terminal_too(tmp_path):
    run_dir = tmp_path / "out" / "tiny-vlm" / "r"
    (run_dir / "ShapesMCQ" / ".shards" / "rank-1.jsonl").mkdir(parents=True)
    done = run_eval(
        eval_argv(tmp_path / "out", "--run-name", "r"), tmp_path / "data", VLMEVAL_DEBUG="1"
    )
    assert done.returncode in (2, 3)
    assert "Traceback (most recent call last)" in done.stderr
    assert "rank-1.jsonl" in done.stderr


@pytest.mark.parametrize("value", ["inf", "-1", "abc", "0", "nan"])
def test_a_dist_timeout_that_is_not_a_positive_number_is_one_line_and_exit_2(tmp_path, value):
    done = run_eval(eval_argv(tmp_path / "out"), tmp_path / "data", DIST_TIMEOUT=value)
    assert done.returncode == 2, done.stderr[-3000:]
    line = the_error_line(done)
    assert f"DIST_TIMEOUT={value!r} is not a positive number of seconds" in line


def fill(volume: Path, leave: int) -> None:
    """Fill ``volume`` until only about ``leave`` bytes are free."""
    free = os.statvfs(volume).f_bavail * os.statvfs(volume).f_frsize
    (volume / "filler").write_bytes(b"\0" * max(0, free - leave))


@needs_root
def test_a_full_disk_at_launch_is_one_line_naming_the_volume_and_exit_3(tmp_path, small_tmpfs):
    fill(small_tmpfs, leave=0)
    done = run_eval(eval_argv(small_tmpfs, "--run-name", "full"), tmp_path / "data")
    assert done.returncode == 3, done.stderr[-3000:]
    line = the_error_line(done)
    assert f"no space left on device writing {small_tmpfs}" in line, line


@needs_root
@pytest.mark.slow
def test_a_disk_that_fills_during_the_run_is_one_line_naming_the_volume_and_exit_3(
    tmp_path, small_tmpfs
):
    fill(small_tmpfs, leave=12 * 1024)  # the plan and the checkpoints fit, the results not
    done = run_eval(eval_argv(small_tmpfs, "--run-name", "full"), tmp_path / "data")
    assert done.returncode == 3, done.stderr[-3000:]
    line = the_error_line(done)
    assert "no space left on device writing " in line and str(small_tmpfs) in line, line
    assert (small_tmpfs / "tiny-vlm" / "full" / "plan.json").is_file(), "what was written stays"


def test_a_run_dir_of_another_user_is_one_line_naming_the_path_and_exit_3(tmp_path):
    run_dir = tmp_path / "out" / "tiny-vlm" / "theirs"
    run_dir.mkdir(parents=True)
    if ROOT:  # another user's directory, and root without its power to override that
        os.chown(run_dir, 4242, 4242)
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
        owner = 4242
    else:
        run_dir.chmod(0o555)
        prefix, owner = [], os.getuid()
    done = run_eval(
        [*prefix, *eval_argv(tmp_path / "out", "--run-name", "theirs")], tmp_path / "data"
    )
    assert done.returncode == 3, done.stderr[-3000:]
    line = the_error_line(done)
    assert f"permission denied: {run_dir} (owned by uid {owner})" in line, line


@needs_root
def test_no_writable_temporary_directory_is_one_line_that_says_to_add_a_tmpfs():
    # /tmp and /var/tmp read-only in a private mount namespace, as on `docker run
    # --read-only` without a tmpfs (remounted, not hidden: a checkout or venv under /tmp
    # stays readable); the run's own volumes live elsewhere (/dev/shm)
    volumes = Path(tempfile.mkdtemp(prefix="vlmeval-ro-", dir="/dev/shm"))
    read_only = " && ".join(
        f"mount --bind {d} {d} && mount -o remount,bind,ro {d}" for d in ("/tmp", "/var/tmp")
    )
    script = f"{read_only} && cd /var/tmp && exec {' '.join(eval_argv(volumes / 'out'))}"
    try:
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            env=fake_nvml.subprocess_env(
                None, fake=False, LMUData=str(volumes / "data"), HF_HUB_OFFLINE="1", TMPDIR=""
            ),
            capture_output=True,
            text=True,
            timeout=600,
        )
        claimed = (volumes / "out" / "tiny-vlm").exists()
    finally:
        subprocess.run(["rm", "-rf", str(volumes)], check=True)
    assert done.returncode == 3, done.stderr[-3000:]
    line = the_error_line(done)
    assert "no writable temporary directory" in line and "tmpfs" in line, line
    assert not claimed  # checked before the run directory is made
