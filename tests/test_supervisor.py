"""A one-node run's ranks are started and watched by a torch-free supervisor (issue 12, point 9).

``vlmeval eval`` on one node execs ``python -m vlmeval_core.supervisor`` instead of torchrun,
which imported torch (seconds of CPU) before any rank started. The supervisor keeps torchrun's
promises: the ranks' variables, a rendezvous without ports, the first failure stopping the
others with its own code and one line, stop signals passed on, no orphans after ``kill -9``,
the summary, the attempt's end and the run lock's release.

Most of these run the supervisor for real over a stand-in rank module (torch-free, quick)
that behaves as each test tells it through ``FAKE_RANK_<r>``; the ``slow`` ones run
``vlmeval eval`` with real ranks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import fake_nvml
from processes import alive, children, seconds_until_gone
from vlmeval_core import attempts, lifecycle, run_lock

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")
SUPERVISOR = [sys.executable, "-m", "vlmeval_core.supervisor"]

FAKE_RANK = """
import json, os, signal, sys, time
from pathlib import Path

from vlmeval_core import failure, signals
from vlmeval_core.errors import UsageError

rank = int(os.environ["RANK"])
out = Path(os.environ["FAKE_OUT"])
(out / f"pid-{rank}").write_text(str(os.getpid()))
role = os.environ.get(f"FAKE_RANK_{rank}", "ok")
if role.startswith("after-restart:"):  # fail in the first round, then do the rest
    role = "ok" if os.environ["TORCHELASTIC_RESTART_COUNT"] != "0" else role.split(":", 1)[1]
if role == "late":  # as a real rank is while it imports torch: no stop handler yet
    time.sleep(2)
    role = "hang"
if role != "deaf":
    signals.install()
if role == "env":
    fds = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # the directory's own descriptor, closed by now
            pass
    seen = out / f"env-{rank}.json.tmp"
    seen.write_text(json.dumps({"env": dict(os.environ), "fds": sorted(fds)}))
    os.replace(seen, out / f"env-{rank}.json")  # whole, for a rank that waits for it
elif role in ("hang", "deaf"):
    if role == "deaf":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(1)
elif role.startswith("fail"):
    if role.startswith("fail-after:"):  # once another rank has written this file
        waited, deadline = out / role.split(":", 1)[1], time.monotonic() + 30
        while not waited.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    try:
        raise UsageError(f"bad input seen by rank {rank}")
    except UsageError as exc:
        sys.exit(failure.fail(exc, rank, None).exit_code)
elif role == "crash":
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture
def fake(tmp_path):
    """A directory with the stand-in rank module, where its ranks write what they saw."""
    (tmp_path / "fake_rank.py").write_text(textwrap.dedent(FAKE_RANK))
    return tmp_path


def supervise(
    fake: Path,
    nproc: int,
    *extra: str,
    pass_fds: tuple[int, ...] = (),
    environ: dict[str, str] | None = None,
    **roles: str,
) -> subprocess.Popen:
    """The supervisor over ``nproc`` stand-in ranks; ``roles``: ``fake_rank_<r>=…``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLMEVAL_")}
    env.update(
        FAKE_OUT=str(fake),
        PYTHONPATH=os.pathsep.join([str(fake), env.get("PYTHONPATH", "")]),
        **{k.upper(): v for k, v in roles.items()},
        **(environ or {}),
    )
    return subprocess.Popen(
        [*SUPERVISOR, "--nproc-per-node", str(nproc), *extra, "-m", "fake_rank", "plan.json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        pass_fds=pass_fds,
    )


def rank_pids(fake: Path, nproc: int, limit: float = 30) -> list[int]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        pids = [fake / f"pid-{r}" for r in range(nproc)]
        if all(p.is_file() and p.read_text() for p in pids):
            return [int(p.read_text()) for p in pids]
        time.sleep(0.02)
    raise AssertionError("the ranks did not start")


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("vlmeval: error:")]


def test_the_supervisor_imports_no_torch():
    probe = (
        "import sys, vlmeval_core.supervisor; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'numpy', 'pandas', 'transformers', 'pydantic')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_each_rank_gets_the_variables_the_ranks_read_and_a_file_store_of_its_own(fake):
    inherited = {"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "1"}  # dropped, not followed
    process = supervise(fake, 2, environ=inherited, fake_rank_0="env", fake_rank_1="env")
    assert process.wait(timeout=60) == 0, process.stderr.read()
    seen = [json.loads((fake / f"env-{r}.json").read_text())["env"] for r in (0, 1)]
    for rank, env in enumerate(seen):
        assert (env["RANK"], env["LOCAL_RANK"]) == (str(rank), str(rank))
        assert (env["WORLD_SIZE"], env["LOCAL_WORLD_SIZE"]) == ("2", "2")
        assert env["VLMEVAL_AGENT_PID"] == str(process.pid), "the parent each rank watches"
        assert env["TORCHELASTIC_RESTART_COUNT"] == "0"
        assert "MASTER_PORT" not in env and "MASTER_ADDR" not in env
    assert seen[0]["TORCHELASTIC_ERROR_FILE"] != seen[1]["TORCHELASTIC_ERROR_FILE"]
    store = seen[0]["VLMEVAL_STORE_FILE"]
    assert store == seen[1]["VLMEVAL_STORE_FILE"] and Path(store).is_absolute()
    assert not Path(store).parent.exists(), "the supervisor's temporary directory is removed"

    alone = supervise(fake, 1, fake_rank_0="env")
    assert alone.wait(timeout=60) == 0, alone.stderr.read()
    env = json.loads((fake / "env-0.json").read_text())["env"]
    assert "VLMEVAL_STORE_FILE" not in env, "one rank: no rendezvous at all"
    assert (env["RANK"], env["WORLD_SIZE"]) == ("0", "1")


def test_a_failing_rank_stops_the_other_at_once_and_ends_the_run_with_its_code_and_line(fake):
    started = time.monotonic()
    process = supervise(fake, 2, fake_rank_0="hang", fake_rank_1="fail-after:pid-0")
    hanging, _ = rank_pids(fake, 2)
    code = process.wait(timeout=60)
    took = time.monotonic() - started
    stderr = process.stderr.read()
    assert code == 2, stderr
    assert error_lines(stderr) == ["vlmeval: error: bad input seen by rank 1"], stderr
    assert "rank 0" not in stderr, "the rank that was stopped says nothing"
    assert not alive(hanging)
    assert took < 15, f"the run took {took:.1f} s to end after rank 1 failed"


def test_a_rank_killed_outright_is_named_with_its_signal(fake):
    process = supervise(fake, 2, fake_rank_0="hang", fake_rank_1="crash")
    assert process.wait(timeout=60) == 128 + signal.SIGKILL
    assert error_lines(process.stderr.read()) == [
        "vlmeval: error: rank 1 ended with exit code 137 (SIGKILL: out of memory, or killed "
        "from outside?) without a report; finished items are checkpointed; rerun with the "
        "same --run-name to resume"
    ]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_stop_signal_is_passed_on_and_ends_the_run_with_128_plus_its_number(fake, signum):
    process = supervise(fake, 2, fake_rank_0="hang", fake_rank_1="hang")
    ranks = rank_pids(fake, 2)
    time.sleep(0.3)  # the ranks' handlers are in place
    process.send_signal(signum)
    assert process.wait(timeout=10) == 128 + signum
    assert seconds_until_gone(ranks, limit=1) < 1
    stderr = process.stderr.read()
    assert f"vlmeval: stopped by {signal.Signals(signum).name}: finished items" in stderr
    assert not error_lines(stderr) and "[rank" not in stderr, stderr


@pytest.mark.slow  # waits out the grace period
def test_a_rank_that_ignores_sigterm_is_killed_within_dockers_grace(fake):
    process = supervise(fake, 2, fake_rank_0="deaf", fake_rank_1="hang")
    ranks = rank_pids(fake, 2)
    time.sleep(0.3)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 143
    assert time.monotonic() - started < 8, "docker stop kills everything after 10 s"
    seconds_until_gone(ranks, limit=1)


@pytest.mark.parametrize("role", ["hang", "late"])
def test_kill_9_of_the_supervisor_leaves_no_rank_behind(fake, role):
    """``late``: the ranks are still starting (a real one imports torch for seconds before
    it can hear anything) when their supervisor is killed."""
    process = supervise(fake, 2, fake_rank_0=role, fake_rank_1=role)
    ranks = rank_pids(fake, 2)
    if role == "hang":
        time.sleep(0.3)
    process.kill()
    process.wait()
    seconds_until_gone(ranks, limit=5 if role == "hang" else 8)


def test_max_restarts_starts_every_rank_again_after_a_failure(fake):
    process = supervise(
        fake, 2, "--max-restarts", "1", fake_rank_0="ok", fake_rank_1="after-restart:fail"
    )
    assert process.wait(timeout=60) == 0
    stderr = process.stderr.read()
    assert "bad input seen by rank 1; starting the ranks again (restart 1 of 1)" in stderr
    assert not error_lines(stderr)
    again = supervise(fake, 2, "--max-restarts", "1", fake_rank_0="ok", fake_rank_1="fail")
    assert again.wait(timeout=60) == 2
    assert error_lines(again.stderr.read()) == ["vlmeval: error: bad input seen by rank 1"]


def test_the_summary_is_printed_on_success_unless_quiet(fake, monkeypatch):
    monkeypatch.chdir(fake)  # the plan's directory is the run's: here
    (fake / "summary.md").write_text("| the | table |\n")
    done = supervise(fake, 1)
    assert done.wait(timeout=60) == 0
    assert done.stdout.read() == f"\n| the | table |\n\nresults in {Path('plan.json').parent}\n"
    quiet = supervise(fake, 1, environ={"VLMEVAL_QUIET": "1"})
    assert quiet.wait(timeout=60) == 0 and quiet.stdout.read() == ""


def test_the_attempt_ends_with_the_exit_code_and_the_lock_goes_with_the_supervisor(fake):
    run_dir = fake / "run"
    lock = run_lock.acquire(run_dir)
    attempt = attempts.start(
        run_dir, node_rank=0, nproc=2, nnodes=1, batch_size=1, gpus_per_model=1, limit=None
    )
    handed = lifecycle.handover(run_dir, attempt, lock)
    # as through the launcher's exec: the lock's descriptor, and the variable naming it
    process = supervise(
        fake,
        2,
        pass_fds=(lock.fd,),
        environ=handed,
        fake_rank_0="env",
        fake_rank_1="fail-after:env-0.json",  # not before rank 0 has looked (else it is stopped)
    )
    os.close(lock.fd)  # only the supervisor holds it now
    assert process.wait(timeout=60) == 2
    (ended,) = attempts.history(run_dir)
    assert ended["exit"] == 2
    again = run_lock.acquire(run_dir)
    assert again.abandoned_by is None, "released by the supervisor, cleanly"
    run_lock.release(again.fd)
    fds = json.loads((fake / "env-0.json").read_text())["fds"]
    assert str(lock.path) not in fds, "a rank never holds the run lock"


# ---- real runs: vlmeval eval, real ranks -------------------------------------------------


def start_eval(tmp_path: Path, nproc: int, *extra: str, **env: str) -> subprocess.Popen:
    variables = fake_nvml.subprocess_env(
        None, fake=False, LMUData=str(tmp_path / "data"), HF_HUB_OFFLINE="1", **env
    )
    return subprocess.Popen(
        [
            VLMEVAL, "eval", "--device", "cpu", "--nproc", str(nproc), "-m", "tiny-vlm",
            "--output", str(tmp_path / "out"), "--run-name", "r", "--quiet", *extra,
        ],
        env=variables,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def torch_libraries(pid: int) -> set[str]:
    """The torch shared libraries mapped into process ``pid``."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {line.split()[-1] for line in maps.splitlines() if "libtorch" in line}


@pytest.mark.slow
@pytest.mark.parametrize("nproc", [1, 2])
def test_the_process_vlmeval_eval_becomes_never_loads_torch_while_its_ranks_run(tmp_path, nproc):
    process = start_eval(tmp_path, nproc, "-d", "ShapesYN", "--limit", "48", "--batch-size", "2")
    shards = tmp_path / "out" / "tiny-vlm" / "r" / "ShapesYN" / ".shards"
    try:
        deadline = time.monotonic() + 180
        while len([p for p in shards.glob("rank-*.jsonl") if p.stat().st_size]) < nproc:
            assert process.poll() is None, process.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "the ranks did not start predicting"
            time.sleep(0.05)
        ranks = children(process.pid)
        assert len(ranks) == nproc
        assert all(torch_libraries(rank) for rank in ranks), "the ranks do load torch"
        assert torch_libraries(process.pid) == set(), "the supervising process loaded torch"
        assert process.wait(timeout=300) == 0, process.stderr.read()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# Rank 0 would wait for ever in its first dataset; rank 1 finds a bad input there.
FAULT = """
import os, time
from pathlib import Path
if os.environ.get("RANK") in ("0", "1"):
    from vlmeval_core.datasets import tsv
    from vlmeval_core.errors import UsageError

    def load_tsv(path, *args, **kwargs):
        if os.environ["RANK"] == "1":
            raise UsageError(f"{path}: row 7: injected fault")
        Path(os.environ["FAULT_DIR"], "waiting").write_text(str(os.getpid()))
        time.sleep(3600)

    tsv.load_tsv = load_tsv
"""


@pytest.mark.slow
def test_a_failing_rank_ends_a_real_run_at_once_and_leaves_no_rank_waiting(tmp_path):
    fault = tmp_path / "fault"
    fault.mkdir()
    (fault / "sitecustomize.py").write_text(FAULT)
    process = start_eval(
        tmp_path,
        2,
        "-d",
        "ShapesMCQ",
        DIST_TIMEOUT="600",
        FAULT_DIR=str(fault),
        PYTHONPATH=os.pathsep.join([str(fault), os.environ.get("PYTHONPATH", "")]),
    )
    try:
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 2, stderr[-3000:]
    assert error_lines(stderr) == [
        f"vlmeval: error: {tmp_path / 'data' / 'ShapesMCQ.tsv'}: row 7: injected fault"
    ], stderr[-3000:]
    waiting = int((fault / "waiting").read_text())
    seconds_until_gone([waiting], limit=1)
