"""One owner per run: an exclusive lock in the run directory, held from launch to exit.

Each node of a run takes its own lock, ``<run_dir>/.node-<rank>.lock``, so the
nodes of one rendezvous share the run while a second launch of the same node is
refused at once, naming the holder (host, pid, start time). The lock is a
``flock`` on an open file descriptor that the launcher hands on to the ranks'
supervisor (or torchrun) across ``os.execvp`` (the descriptor is inheritable;
the ranks do not get it), so it lasts exactly as long as the process that runs
the ranks, and the kernel drops it when that process dies by any signal. The
file also records its holder: a holder that ends cleanly empties it
(:func:`release`), so a holder still recorded when the lock is free ended
without releasing it (killed outright), and the next launch takes over with a
notice. On NFS, Linux turns ``flock`` into an NFS byte-range lock (see the
README). The holding process never opens the file a second time: closing any
descriptor of it would drop an NFS (POSIX) lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from vlmeval_core.errors import UsageError


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a run lock."""

    host: str
    pid: int
    started: str

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}, started {self.started}"


@dataclass(frozen=True)
class RunLock:
    """A held lock: its open descriptor and, if any, the holder that left it unreleased."""

    fd: int
    path: Path
    abandoned_by: Holder | None


def lock_path(run_dir: Path, node_rank: int) -> Path:
    return Path(run_dir) / f".node-{node_rank}.lock"


def acquire(run_dir: Path, node_rank: int = 0) -> RunLock:
    """Take this node's lock of ``run_dir`` (created if missing) or raise UsageError."""
    path = lock_path(run_dir, node_rank)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read(fd)
        os.close(fd)
        who = holder.describe() if holder else "another process"
        raise UsageError(
            f"run {run_dir} is in use by {who} (lock {path}): wait for that run to end, "
            "or give this one another --run-name"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    abandoned = _read(fd)
    me = Holder(socket.gethostname(), os.getpid(), datetime.now(UTC).isoformat(timespec="seconds"))
    _write(fd, json.dumps(asdict(me)) + "\n")
    return RunLock(fd, path, abandoned)


def holds(fd: int, path: Path) -> bool:
    """Whether descriptor ``fd`` of this process is open on the lock file ``path``."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def release(fd: int) -> None:
    """End a clean hold: forget the holder, then drop the lock."""
    try:
        _write(fd, "")
    finally:
        os.close(fd)


def _read(fd: int) -> Holder | None:
    try:
        raw = json.loads(os.pread(fd, 4096, 0) or b"null")
        return Holder(str(raw["host"]), int(raw["pid"]), str(raw["started"]))
    except (ValueError, TypeError, KeyError, OSError):
        return None


def _write(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode(), 0)
    os.fsync(fd)
