"""Crash-safe files: whole-file writes (temp, fsync, rename) and append-only JSONL checkpoints.

A reader never sees a half-written result file: it either sees the old one or
the new one. A checkpoint is appended and fsync'd a batch at a time; a torn
last line (the process died mid-write, or the disk filled up) is ignored when
it is read back and cut off before the next append, so it never glues onto a
new record.

Checkpoints and result files are only ever regular files: a symbolic link,
FIFO, device or directory at their path is refused (:class:`UnsafeFileError`)
and never followed or opened for reading, so a planted link cannot redirect a
write and a FIFO cannot hang a rank.

A temp file is locked (``flock``) by its writer for as long as it is being
written, so :func:`remove_leftover_temps` removes only the temps whose writer
died (``kill -9``, power loss) and never one that a live process, perhaps
another run sharing the data dir, is still filling.

A file's digests (md5 of a TSV, sha256 of a model's files) are read here too, in one
pass (:func:`file_digests`).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from vlmeval_core.errors import UsageError

log = logging.getLogger(__name__)

TEMP_NAME = re.compile(r"\..+\.[A-Za-z0-9_]{8}\.(tmp|part)")
"""The name of a temp file of :func:`locked_temp`: ``.<target name>.<8 random>.<suffix>``."""


class UnsafeFileError(UsageError):
    """A checkpoint or result path that is not a regular file (a link, FIFO, directory...)."""


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` to ``path`` whole: a temp file beside it, fsync, then rename over it."""
    return write_atomic_with(
        path, lambda handle: handle.write(data), binary=isinstance(data, bytes)
    )


def write_atomic_with(
    path: str | os.PathLike[str], writer: Callable[[IO[Any]], object], *, binary: bool = False
) -> Path:
    """Like :func:`write_atomic`, but ``writer`` fills the open temp file (for xlsx, csv...).

    An existing ``path`` that is not a regular file raises :class:`UnsafeFileError`.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _refuse_non_regular(target)
    with atomic_writer(target, binary=binary) as handle:
        writer(handle)
    return target


@contextmanager
def atomic_writer(
    path: str | os.PathLike[str], *, suffix: str = ".tmp", binary: bool = True
) -> Iterator[IO[Any]]:
    """A locked temp file beside ``path`` (:func:`locked_temp`), open for writing, for content
    that arrives in parts (a download). When the block ends, the temp is fsync'd and renamed
    over ``path`` and the directory fsync'd; when it raises, the temp is removed and ``path``
    is left as it was. Its directory must exist."""
    target = Path(path)
    fd, tmp = locked_temp(target, suffix)
    try:
        os.fchmod(fd, _new_file_mode())  # mkstemp's 0600 would hide results from the host's group
        with os.fdopen(
            fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})
        ) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def digests(blocks: Iterable[bytes], *algorithms: str) -> tuple[str, ...]:
    """The hex digests (hashlib's names: ``"md5"``, ``"sha256"``) of the bytes ``blocks``
    yield, in one pass."""
    hashes = [hashlib.new(name) for name in algorithms]
    for block in blocks:
        for digest in hashes:
            digest.update(block)
    return tuple(digest.hexdigest() for digest in hashes)


def file_digests(path: str | os.PathLike[str], *algorithms: str) -> tuple[str, ...]:
    """:func:`digests` of a file's bytes, read once in blocks of 1 MiB."""
    with open(path, "rb") as handle:
        return digests(iter(lambda: handle.read(1 << 20), b""), *algorithms)


def file_md5(path: str | os.PathLike[str]) -> str:
    """The md5 of a file, as VLMEvalKit's ``md5()`` gives it for a TSV."""
    return file_digests(path, "md5")[0]


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON, whole."""
    return write_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def locked_temp(target: Path, suffix: str) -> tuple[int, Path]:
    """A new temp file beside ``target`` (``.<name>.XXXXXXXX<suffix>``), locked by this process.

    The lock lasts until the descriptor is closed; :func:`remove_leftover_temps`
    leaves a locked temp alone. (A network filesystem must support ``flock``,
    as NFSv4 does; where locking fails, temps are neither locked nor removed.)
    """
    while True:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # no locks on this filesystem: the cleaner cannot lock it either
            return fd, Path(name)
        try:
            same = os.stat(name).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False  # a cleaner took it between mkstemp and flock: make another
        if same:
            return fd, Path(name)
        os.close(fd)


def remove_leftover_temps(
    directory: Path, *, prefix: str = ".", recursive: bool = True
) -> list[Path]:
    """Remove the temp files in ``directory`` (and below, if ``recursive``) whose writer is gone.

    Only names of :func:`locked_temp`'s shape that start with ``prefix`` are
    considered; a temp that is locked (being written) is kept, and so is one
    this process may not remove. Returns what was removed.
    """
    if not directory.is_dir():
        return []
    walk = os.walk(directory) if recursive else [(str(directory), [], os.listdir(directory))]
    removed = [
        Path(root, name)
        for root, _dirs, names in walk
        for name in names
        if name.startswith(prefix)
        and TEMP_NAME.fullmatch(name)
        and _remove_if_unlocked(Path(root, name))
    ]
    if removed:
        log.warning(
            "vlmeval: warning: removed %d temp file(s) of interrupted writes in %s",
            len(removed),
            directory,
        )
    return removed


def _remove_if_unlocked(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False  # gone already, a link, or not ours to open
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # its writer is alive (or locks do not work here: keep it)
        try:
            path.unlink()
        except OSError:
            return False  # a read-only data dir, another owner's file
        return True
    finally:
        os.close(fd)


def append_jsonl(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> None:
    """Append ``records`` as JSON lines and fsync before returning.

    A torn last line left by an earlier writer is cut off first, so the new
    records start on a line of their own.
    """
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if not lines:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = open_regular(target, os.O_RDWR | os.O_CREAT)
    with os.fdopen(fd, "r+b") as handle:
        _cut_torn_line(target, handle)
        handle.seek(0, os.SEEK_END)
        handle.write(lines.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any] | None]:
    """Yield each complete line of a checkpoint: its object, or None for a line that is
    not a JSON object. A torn last line (no newline yet) is not yielded."""
    target = Path(path)
    try:
        fd = open_regular(target, os.O_RDONLY)
    except FileNotFoundError:
        return
    with os.fdopen(fd, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.endswith("\n"):
                return  # torn last line: the writer died mid-append
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                record = None
            yield record if isinstance(record, dict) else None


def open_regular(path: Path, flags: int, mode: int = 0o666) -> int:
    """``os.open`` a regular file without following a symbolic link or blocking on a FIFO.

    Anything else at ``path`` raises :class:`UnsafeFileError` naming it; a
    missing file (without ``O_CREAT``) raises FileNotFoundError.
    """
    _refuse_non_regular(path)
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            _refuse_non_regular(path)  # it changed under us: name what is there now
        raise
    kind = file_kind(os.fstat(fd).st_mode)
    if kind is not None:
        os.close(fd)
        raise _unsafe(path, kind)
    os.set_blocking(fd, True)
    return fd


def _refuse_non_regular(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    kind = file_kind(mode)
    if kind is not None:
        raise _unsafe(path, kind)


def file_kind(mode: int) -> str | None:
    """None for a regular file (``st_mode``), else what it is: 'a FIFO', 'a directory'..."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _unsafe(path: Path, kind: str) -> UnsafeFileError:
    return UnsafeFileError(
        f"{path} is {kind}; checkpoints and result files must be regular files and links "
        "are not followed: remove it, or use a new --run-name"
    )


def _cut_torn_line(path: Path, handle: IO[bytes]) -> None:
    """Truncate ``handle`` after its last newline (a crash mid-append leaves a fragment)."""
    size = handle.seek(0, os.SEEK_END)
    end = size
    while end > 0:
        start = max(0, end - (1 << 16))
        handle.seek(start)
        chunk = handle.read(end - start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            end = start + newline + 1
            break
        end = start
    if end < size:
        handle.truncate(end)
        handle.flush()
        os.fsync(handle.fileno())
        log.warning("vlmeval: warning: %s: cut off a torn last line (%d bytes)", path, size - end)


def _new_file_mode() -> int:
    """The mode ``open()`` would give a new file: 0666 less the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
