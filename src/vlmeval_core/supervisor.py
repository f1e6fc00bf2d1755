"""``python -m vlmeval_core.supervisor``: starts and watches a one-node run's ranks, without torch.

``vlmeval eval`` on one node execs::

    python -m vlmeval_core.supervisor --nproc-per-node N --max-restarts R -m MODULE ARGS…

where torch's elastic agent (torchrun) would import torch, seconds of CPU,
before any rank starts. This process imports only the standard library and the
project's torch-free modules (tests/test_supervisor.py reads its memory map).
Several nodes still run under torchrun and its c10d rendezvous
(:mod:`vlmeval_core.elastic_agent`); this keeps that wrapper's promises:

* **ranks**: N processes ``python -u -m MODULE ARGS``, each in a session of its
  own (as torchrun starts them: a terminal's Ctrl-C reaches this process, which
  passes it on), with ``RANK`` = ``LOCAL_RANK``, ``WORLD_SIZE`` =
  ``LOCAL_WORLD_SIZE`` = N, ``TORCHELASTIC_ERROR_FILE`` (where a failing rank
  leaves its report, :mod:`vlmeval_core.failure`), ``TORCHELASTIC_RESTART_COUNT``
  and ``TORCHELASTIC_MAX_RESTARTS``. Inherited ``MASTER_ADDR``/``MASTER_PORT`` and
  torch elastic's store variables are dropped: nothing here serves them.
* **rendezvous**: with N > 1, ``VLMEVAL_STORE_FILE``, a new file in this
  process's private temporary directory for each round of ranks: the ranks meet
  through a file store (:func:`vlmeval_core.distributed.init_process_group`), so
  no port is chosen before it is bound (nothing can take it in between) and no
  network or host name is needed. One rank: no store, no process group.
* **failure**: when a rank fails, the others are stopped at once (SIGTERM to
  their process groups, SIGKILL after :data:`STOP_GRACE_S`). The exit code is
  the root cause's own (2 bad input, 3 runtime failure) and the terminal gets
  its one ``vlmeval: error: …`` line (:func:`vlmeval_core.failure.root_cause`).
  A rank that this process stopped is no failure; one that ends on its own
  while the others are being stopped counts only with a report of its own.
* **restarts**: with ``--max-restarts R`` every rank starts over after a
  failure, up to R times, as under torchrun.
* **signals**: SIGTERM, SIGINT, SIGHUP and SIGQUIT are passed on to every rank
  (SIGTERM for the last two, which a rank handles as a stop, never in the middle
  of a checkpoint line); the ranks end within :data:`vlmeval_core.signals.GRACE_S`,
  whatever is left after :data:`STOP_GRACE_S` is killed, well inside docker's
  10 s. The exit code is 128 + the signal number (130, 143), with one
  ``vlmeval: stopped by …`` line. A second signal kills the ranks at once.
* **no orphans**: its pid is ``VLMEVAL_AGENT_PID``, the parent every rank
  watches (:mod:`vlmeval_core.signals`: parent-death signal and watchdog), so a
  ``kill -9`` of this process leaves no rank behind.
* **the end**: the summary on stdout on success unless ``VLMEVAL_QUIET=1``;
  the attempt's end record and the run lock's release
  (:func:`vlmeval_core.lifecycle.conclude`; the lock's descriptor came through
  the launcher's exec, and the ranks do not inherit it); then out without the
  interpreter's teardown (:func:`vlmeval_core.run_end.exit_now`).

Each rank writes its own traceback to ``<run>/logs/rank-<r>.log``; this
process's own failure goes to ``<run>/logs/supervisor.log``. With
``VLMEVAL_DEBUG=1`` it also says on stderr what it starts, sees and stops.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from vlmeval_core import failure, lifecycle
from vlmeval_core.distributed import STORE_FILE_VARIABLE
from vlmeval_core.run_end import exit_now, print_stopped, rank_failure, run_dir_of
from vlmeval_core.run_summary import print_summary
from vlmeval_core.run_verdict import judge_run
from vlmeval_core.signals import AGENT_PID_VARIABLE

AGENT = "supervisor"
"""How this process names itself in a line about its own failure, and its log's name."""

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
"""What stops the run; torchrun handles the same four."""

PASSED_ON = {signal.SIGTERM: signal.SIGTERM, signal.SIGINT: signal.SIGINT}
"""The signal a rank gets for each stop signal; SIGTERM for the others."""

STOP_GRACE_S = 5.0
"""How long stopped ranks have to end before they are killed (docker stop allows 10 s)."""

POLL_S = 0.5
"""The longest this process sleeps without looking at its ranks (a missed wake-up's cost)."""

DROPPED_VARIABLES = (
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_USE_AGENT_STORE",
    "TORCHELASTIC_RUN_ID",
    STORE_FILE_VARIABLE,
)
"""Inherited rendezvous settings that would point a rank at a store nobody serves."""


def debug_line(message: str) -> None:
    if failure.debug():
        print(f"vlmeval: {AGENT}: {message}", file=sys.stderr, flush=True)


@dataclass
class Rank:
    """One rank process of a round, and how it ended."""

    rank: int
    process: subprocess.Popen[bytes]
    error_file: Path
    exitcode: int | None = None
    ended: float = 0.0
    stopped: bool = False
    """Ended after this process began to stop it."""


@dataclass
class Wakeups:
    """Stop signals caught, and a pipe that wakes the main loop for them and for SIGCHLD."""

    read_end: int = -1
    received: list[int] = field(default_factory=list)

    def install(self) -> None:
        self.read_end, write_end = os.pipe()
        os.set_blocking(self.read_end, False)
        os.set_blocking(write_end, False)
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)  # only to wake the loop
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._stop)

    def _stop(self, signum: int, _frame: object) -> None:
        self.received.append(signum)

    def sleep(self, seconds: float) -> None:
        """Until a signal arrives (a rank ended, a stop) or ``seconds`` have passed."""
        ready, _, _ = select.select([self.read_end], [], [], max(0.0, seconds))
        if ready:
            with contextlib.suppress(BlockingIOError):
                while os.read(self.read_end, 512):
                    pass


class Supervisor:
    """Runs ``command`` as ``nproc`` ranks, restarting them up to ``max_restarts`` times."""

    def __init__(self, command: list[str], nproc: int, max_restarts: int, workdir: Path) -> None:
        self.command = command
        self.nproc = nproc
        self.max_restarts = max_restarts
        self.workdir = workdir
        self.wakeups = Wakeups()
        self.ranks: list[Rank] = []

    # -- one round of ranks -------------------------------------------------------------

    def rank_environment(self, rank: int, restart: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in DROPPED_VARIABLES}
        env.update(
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(self.nproc),
            LOCAL_WORLD_SIZE=str(self.nproc),
            TORCHELASTIC_ERROR_FILE=str(self.error_file(rank, restart)),
            TORCHELASTIC_RESTART_COUNT=str(restart),
            TORCHELASTIC_MAX_RESTARTS=str(self.max_restarts),
        )
        if self.nproc > 1:
            env[STORE_FILE_VARIABLE] = str(self.workdir / f"store-{restart}")
        return env

    def error_file(self, rank: int, restart: int) -> Path:
        return self.workdir / f"attempt-{restart}" / f"rank-{rank}" / "error.json"

    def start(self, restart: int) -> None:
        """Start every rank of round ``restart``; a rank that cannot start stops the others."""
        self.ranks = []
        for rank in range(self.nproc):
            env = self.rank_environment(rank, restart)
            self.error_file(rank, restart).parent.mkdir(parents=True, exist_ok=True)
            try:
                process = subprocess.Popen(self.command, env=env, start_new_session=True)
            except BaseException:
                self.kill_all()
                raise
            self.ranks.append(Rank(rank, process, self.error_file(rank, restart)))
            debug_line(f"rank {rank} started, pid {process.pid}")

    def running(self) -> list[Rank]:
        return [r for r in self.ranks if r.exitcode is None]

    def reap(self, stopping: bool) -> list[Rank]:
        """Collect the ranks that have ended since last time; those that failed."""
        failed = []
        for rank in self.running():
            code = rank.process.poll()
            if code is None:
                continue
            rank.exitcode, rank.ended, rank.stopped = code, time.time(), stopping
            debug_line(f"rank {rank.rank} ended with {code}")
            if code != 0:
                failed.append(rank)
        return failed

    def signal_all(self, signum: int) -> None:
        for rank in self.running():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(rank.process.pid, signum)

    def kill_all(self) -> None:
        self.signal_all(signal.SIGKILL)
        for rank in self.ranks:
            rank.process.wait()

    def run_round(self, restart: int) -> tuple[list[failure.Failure], int | None]:
        """Start the ranks and wait for them all to end: the failures, and the stop signal
        (None: none came)."""
        self.start(restart)
        failed: list[Rank] = []
        stop_signal: int | None = None
        deadline: float | None = None  # when stopped ranks get SIGKILL
        while True:
            failed += self.reap(stopping=deadline is not None)
            if not self.running():
                break
            for signum in self.wakeups.received:
                if stop_signal is None and not failed:
                    stop_signal = signum
                if deadline is not None:  # a second signal: no more waiting
                    self.signal_all(signal.SIGKILL)
                debug_line(f"{signal.Signals(signum).name}: stopping the ranks")
                self.signal_all(PASSED_ON.get(signum, signal.SIGTERM))
                deadline = deadline or time.monotonic() + STOP_GRACE_S
            self.wakeups.received.clear()
            if failed and deadline is None:
                debug_line(f"rank {failed[0].rank} failed: stopping the others")
                self.signal_all(signal.SIGTERM)
                deadline = time.monotonic() + STOP_GRACE_S
            if deadline is not None and time.monotonic() >= deadline:
                debug_line("ranks still running after the grace period: killing them")
                self.signal_all(signal.SIGKILL)
            wait = POLL_S if deadline is None else min(POLL_S, deadline - time.monotonic())
            self.wakeups.sleep(max(wait, 0.01))
        reports = [
            rank_failure(r.rank, r.exitcode or 0, r.error_file, r.ended)
            for r in failed
            if not r.stopped or failure.read_report(r.error_file) is not None
        ]
        return reports, stop_signal

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> int:
        """Every round until the ranks succeed, a stop signal, or no restart is left."""
        self.wakeups.install()
        restart = 0
        while True:
            reports, stop_signal = self.run_round(restart)
            if stop_signal is not None:
                return print_stopped(stop_signal)
            if not reports:
                return 0
            cause = failure.root_cause(reports)
            if restart >= self.max_restarts:
                failure.print_line(cause)
                return cause.exit_code
            restart += 1
            print(
                f"vlmeval: note: {cause.message}; starting the ranks again "
                f"(restart {restart} of {self.max_restarts})",
                file=sys.stderr,
                flush=True,
            )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m vlmeval_core.supervisor",
        description="Start and watch the ranks of a one-node run (torch-free).",
    )
    parser.add_argument("--nproc-per-node", type=int, required=True)
    parser.add_argument("--max-restarts", type=int, default=0)
    parser.add_argument("-m", dest="module", required=True, help="the ranks' module")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the module's arguments")
    args = parser.parse_args(argv)
    if args.nproc_per_node < 1 or args.max_restarts < 0:
        parser.error("--nproc-per-node must be 1 or more, --max-restarts 0 or more")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ[AGENT_PID_VARIABLE] = str(os.getpid())
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse has said what is wrong; the attempt still ends
        return exc.code if isinstance(exc.code, int) else 2
    run_dir = run_dir_of(args.args)
    workdir: Path | None = None
    try:
        workdir = Path(tempfile.mkdtemp(prefix="vlmeval-ranks-"))
        command = [sys.executable, "-u", "-m", args.module, *args.args]
        code = Supervisor(command, args.nproc_per_node, args.max_restarts, workdir).run()
    except Exception as exc:  # this process's own failure: no temporary directory, no fork
        found = failure.fail(exc, None, run_dir, [str(run_dir)] if run_dir else [], AGENT)
        failure.print_line(found)
        return found.exit_code
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    if code == 0 and run_dir is not None:
        print_summary(run_dir)
        code = judge_run(run_dir)
    return code


if __name__ == "__main__":
    exit_now(lifecycle.conclude(main()))
