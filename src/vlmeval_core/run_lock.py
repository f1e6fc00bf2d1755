"""One owner per run: an exclusive lock in the run directory, held from launch to exit.

Each node of a run takes its own lock, ``<run_dir>/.node-<rank>.lock``, so the
nodes of one rendezvous share the run while a second launch of the same node is
refused at once, naming the holder (host, pid, start time). The lock is a
``flock`` on an open file descriptor that the launcher hands on to the ranks'
supervisor (or torchrun) across ``os.execvp`` (the descriptor is inheritable;
the ranks do not get it), so it lasts exactly as long as the process that runs
the ranks, and the kernel drops it when that process dies by any signal. The
file also records its holder (and, once it has one, its attempt): a holder that
ends cleanly empties it (:func:`release`), so a holder still recorded when the
lock is free no longer holds it, and the next launch takes over with a notice
that says what can be known of it (:meth:`RunLock.takeover_note`: a pid that is
gone on this host ended without releasing it; a live one is another process now).

Only a regular file is a lock: a symbolic link or a directory at the path is
refused (exit 2) before any work, and a filesystem without ``flock`` (ENOLCK,
EOPNOTSUPP: NFS mounted with ``nolock``) is one line, exit 3. After ``flock`` the
locked descriptor is checked to be the file still at the path (a lock file renamed
or replaced in between, by a ``--restart`` that moved the run aside, is not
trusted: the path is opened again). On NFS, Linux turns ``flock`` into an NFS
byte-range lock (see the README). The holding process never opens the file a
second time: closing any descriptor of it would drop an NFS (POSIX) lock.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from vlmeval_core.errors import RuntimeFailure, UsageError
from vlmeval_core.files import UnsafeFileError, file_kind, open_regular

NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP)
"""What ``flock`` fails with on a filesystem that has no locks (NFS with ``nolock``)."""

BUSY_TRIES, BUSY_WAIT_S = 5, 0.05
"""A held lock is tried this often, this far apart, before the launch is refused."""

OPEN_TRIES = 3
"""How often the lock file is opened again when it was replaced while being locked."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a run lock, and the attempt it runs (once it has one)."""

    host: str
    pid: int
    started: str
    attempt: str | None = None

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}, started {self.started}"

    def fate(self) -> str:
        """What can be known of a holder whose lock was found free: said truly for a pid that
        is gone, one that is alive (another process now), and one on another host."""
        if self.host != socket.gethostname():
            return (
                "which no longer holds it (it ran on another host: it ended without releasing "
                "it, or lost the lock)"
            )
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return "which ended without releasing it"
        except PermissionError:
            pass  # alive, another user's
        return (
            f"which no longer holds it (pid {self.pid} on this host is another process now: "
            "a reused pid, or the holder ran in another container)"
        )


@dataclass(frozen=True)
class RunLock:
    """A held lock: its open descriptor and, if any, the holder that left it unreleased."""

    fd: int
    path: Path
    abandoned_by: Holder | None

    def takeover_note(self) -> str | None:
        """The note for a lock taken over from a holder that did not release it (None: none)."""
        if self.abandoned_by is None:
            return None
        return (
            f"taking over the run lock {self.path} from {self.abandoned_by.describe()}, "
            f"{self.abandoned_by.fate()}"
        )


def lock_path(run_dir: Path, node_rank: int) -> Path:
    return Path(run_dir) / f".node-{node_rank}.lock"


def acquire(run_dir: Path, node_rank: int = 0) -> RunLock:
    """Take this node's lock of ``run_dir`` (created if missing); UsageError when another
    process holds it or it is no regular file, RuntimeFailure without file locks."""
    path = lock_path(run_dir, node_rank)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(OPEN_TRIES):
        fd = _open(path)
        try:
            _flock_or_wait_out_a_probe(fd)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            who = holder.describe() if holder else "another process"
            raise UsageError(
                f"run {run_dir} is in use by {who} (lock {path}): wait for that run to end, "
                "or give this one another --run-name"
            ) from None
        except OSError as exc:
            os.close(fd)
            if exc.errno in NO_LOCKS:
                raise RuntimeFailure(
                    f"cannot lock the run: flock on {path} failed ({os.strerror(exc.errno)}): "
                    "the output volume has no file locks (an NFS mount with nolock?); mount it "
                    "with locks (NFSv4, or NFSv3 with lockd) or put --output on a volume that "
                    "has them"
                ) from None
            raise
        except BaseException:
            os.close(fd)
            raise
        if _still_at(fd, path):
            break
        os.close(fd)  # renamed or replaced between open and flock: lock what is there now
    else:
        raise RuntimeFailure(
            f"the run lock {path} was replaced {OPEN_TRIES} times while it was being taken; "
            "is another launch moving the run (--restart)? launch again"
        )
    abandoned = _read(fd)
    me = Holder(socket.gethostname(), os.getpid(), datetime.now(UTC).isoformat(timespec="seconds"))
    _write(fd, json.dumps(asdict(me)) + "\n")
    return RunLock(fd, path, abandoned)


def _flock_or_wait_out_a_probe(fd: int) -> None:
    """``flock`` exclusively, trying again for a moment while it is held: a reader's
    :func:`running_attempt` holds a shared lock for microseconds, a holder for the run."""
    for _ in range(BUSY_TRIES - 1):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            time.sleep(BUSY_WAIT_S)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def name_attempt(lock: RunLock, attempt_id: str) -> None:
    """Record in the lock file the attempt its holder runs (what tells a running attempt
    from one killed outright, :func:`running_attempt`)."""
    holder = _read(lock.fd)
    if holder is not None:
        _write(lock.fd, json.dumps(asdict(replace(holder, attempt=attempt_id))) + "\n")


def running_attempt(path: Path) -> str | None:
    """The attempt whose holder holds the lock at ``path`` now (None: free, or unknown).

    Only for a process that does not hold this lock itself (it opens the file). It takes a
    shared lock for a moment, which :func:`acquire` waits out.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        holder = _read(fd)
        if holder is None or holder.attempt is None:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return holder.attempt
        except OSError:
            return None
        return None
    finally:
        os.close(fd)


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


def _open(path: Path) -> int:
    """The lock file, opened for writing: only a regular file (UsageError naming the fix)."""
    try:
        return open_regular(path, os.O_RDWR | os.O_CREAT)
    except UnsafeFileError:
        try:
            kind = file_kind(os.lstat(path).st_mode) or "not a regular file"
        except OSError:
            kind = "not a regular file"
        raise UsageError(
            f"the run lock {path} is {kind}: a run lock must be a regular file and a link is "
            "never followed; remove it and launch again"
        ) from None


def _still_at(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.lstat(path))
    except OSError:
        return False


def _read(fd: int) -> Holder | None:
    try:
        raw = json.loads(os.pread(fd, 4096, 0) or b"null")
        attempt = raw.get("attempt")
        return Holder(
            str(raw["host"]),
            int(raw["pid"]),
            str(raw["started"]),
            attempt if isinstance(attempt, str) else None,
        )
    except (ValueError, TypeError, KeyError, AttributeError, OSError):
        return None


def _write(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode(), 0)
    os.fsync(fd)
