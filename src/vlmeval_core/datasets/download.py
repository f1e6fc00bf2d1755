"""Fetch a registered benchmark's TSV into the data dir, checked, never half-written.

Torch-free and pandas-free (urllib, hashlib, tqdm), so ``vlmeval fetch`` in the
launcher can use it as well as rank 0 of a run.

:func:`ensure_dataset` is the whole contract:

* The file is ``<data dir>/<name>.tsv`` (VLMEvalKit's name; the URL's last
  part, VLMEvalKit's older name, is used too when it is there and checks out).
* A file that is there with the expected md5 is used as is. A missing or
  wrong one is downloaded: streamed to a temporary file beside it with a
  progress bar, checked (length, md5), then renamed into place, so the final
  name only ever holds a whole, checked file. Two md5 mismatches in a row (a
  wrong file already there counts as the first) stop with a
  :class:`~vlmeval_core.errors.RuntimeFailure` naming the URL, the expected
  and the actual md5; a transfer that breaks is tried once more.
* Where no md5 is published (A-OKVQA), the sha256 of the first download is
  written beside the file as ``<name>.tsv.sha256`` (``sha256sum`` format),
  and later uses are checked against it.
* Offline (``HF_HUB_OFFLINE`` or ``VLMEVAL_OFFLINE`` set to 1/true/yes/on)
  nothing is downloaded: a missing file stops with a message naming the file
  to place and its URL.

Overrides, for mirrors and tests (:func:`source_of`):
``VLMEVAL_DATA_URL_BASE`` (every dataset from ``<base>/<name>.tsv``; http(s)
or ``file://``), ``VLMEVAL_DATA_URL_<NAME>`` (one dataset's URL) and
``VLMEVAL_DATA_MD5_<NAME>`` (one dataset's expected md5), where ``<NAME>`` is
the dataset name upper-cased with every other character than A-Z and 0-9
turned into ``_`` (``MMBench_DEV_EN`` -> ``MMBENCH_DEV_EN``, ``A-OKVQA`` ->
``A_OKVQA``).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vlmeval_core.datasets.registry import DatasetEntry
from vlmeval_core.env_flags import is_offline
from vlmeval_core.errors import RuntimeFailure
from vlmeval_core.files import _fsync_dir, locked_temp, write_atomic

URL_BASE_VARIABLE = "VLMEVAL_DATA_URL_BASE"
TIMEOUT_VARIABLE = "VLMEVAL_DOWNLOAD_TIMEOUT"
DEFAULT_TIMEOUT_S = 60.0
CHUNK = 1 << 20
ATTEMPTS = 2
USER_AGENT = "vlmeval-image/0.1 (Python urllib)"


@dataclass(frozen=True)
class Source:
    """Where a dataset comes from and what it must hash to (after the overrides)."""

    url: str
    md5: str | None
    overridden: bool = False


@dataclass(frozen=True)
class Fetched:
    """What :func:`ensure_dataset` did: the file, its md5, and whether it was downloaded."""

    path: Path
    md5: str
    downloaded: bool


def fetch_advice(entry: DatasetEntry) -> str:
    """How to get a dataset the run could not download."""
    return (
        f"run `vlmeval fetch -d {entry.name}` where the network can be reached (same data dir), "
        f"or set {URL_BASE_VARIABLE} to a mirror that serves {entry.name}.tsv"
    )


class _TransferError(Exception):
    """A transfer that broke off or came back short; worth one more try."""


def env_key(name: str) -> str:
    """``MMBench_DEV_EN`` -> ``MMBENCH_DEV_EN``: the dataset's part of an override's name."""
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def source_of(entry: DatasetEntry, environ: Mapping[str, str] | None = None) -> Source:
    """The URL and md5 to use for ``entry``, after the environment's overrides."""
    env = os.environ if environ is None else environ
    if entry.url is None:
        raise RuntimeFailure(f"dataset {entry.name!r} is not downloaded (source {entry.source})")
    key = env_key(entry.name)
    url, overridden = entry.url, False
    base = env.get(URL_BASE_VARIABLE, "").strip()
    if base:
        url, overridden = f"{base.rstrip('/')}/{entry.file_name}", True
    own = env.get(f"VLMEVAL_DATA_URL_{key}", "").strip()
    if own:
        url, overridden = own, True
    md5 = env.get(f"VLMEVAL_DATA_MD5_{key}", "").strip().lower() or entry.md5
    return Source(url, md5, overridden)


def local_path(entry: DatasetEntry, data_dir: Path) -> Path:
    """Where ``entry``'s TSV is (or goes) in ``data_dir``: ``<name>.tsv``, or the legacy name
    when only that one is there. The same answer on every rank, without writing."""
    path = Path(data_dir) / entry.file_name
    if not path.exists() and entry.legacy_file_name:
        legacy = Path(data_dir) / entry.legacy_file_name
        if legacy.is_file():
            return legacy
    return path


def sha256_record(path: Path) -> Path:
    """The file beside ``path`` that pins the sha256 of a dataset without a published md5."""
    return path.with_name(path.name + ".sha256")


def hash_file(path: Path) -> tuple[str, str]:
    """(md5, sha256) of a file, read once."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            md5.update(block)
            sha.update(block)
    return md5.hexdigest(), sha.hexdigest()


def _read_record(record: Path) -> str | None:
    try:
        text = record.read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RuntimeFailure(f"{record}: cannot be read ({exc.strerror or exc})") from None
    if not text or not re.fullmatch(r"[0-9a-f]{64}", text[0].lower()):
        raise RuntimeFailure(
            f"{record} is not a sha256 record (expected '<64 hex digits>  <file name>'); "
            "delete it to record the file's sha256 again"
        )
    return text[0].lower()


def _write_record(record: Path, sha256: str, file_name: str) -> None:
    write_atomic(record, f"{sha256}  {file_name}\n")


def ensure_dataset(
    entry: DatasetEntry,
    data_dir: Path,
    *,
    environ: Mapping[str, str] | None = None,
    progress: bool = True,
) -> Fetched:
    """Make sure ``entry``'s TSV is in ``data_dir`` and checks out; see the module docstring."""
    env = os.environ if environ is None else environ
    source = source_of(entry, env)
    data_dir = Path(data_dir)
    path = local_path(entry, data_dir)
    mismatches, first = 0, ""
    if path.is_file():
        md5, sha = hash_file(path)
        problem = _check(entry, path, source, md5, sha, first_use=True)
        if problem is None:
            return Fetched(path, md5, False)
        if is_offline(env):
            raise RuntimeFailure(
                f"{entry.name}: {path} {problem}, and downloads are off "
                f"(HF_HUB_OFFLINE / VLMEVAL_OFFLINE): replace it with the file from "
                f"{source.url}"
            )
        mismatches = 1
        first = f"the file already in the data dir {problem}"
        path = data_dir / entry.file_name
    elif is_offline(env):
        raise RuntimeFailure(
            f"{entry.name}: {data_dir / entry.file_name} is missing and downloads are off "
            f"(HF_HUB_OFFLINE / VLMEVAL_OFFLINE): place the file from {source.url} there, "
            "or run `vlmeval fetch --data "
            f"{entry.name}` where the network can be reached"
        )
    _check_writable(entry, data_dir, source)
    transfer_failures = 0
    while True:
        try:
            md5, sha = _download(source.url, path, entry, source, progress)
        except _TransferError as exc:
            transfer_failures += 1
            if transfer_failures >= ATTEMPTS:
                raise RuntimeFailure(
                    f"{entry.name}: downloading {source.url} failed twice ({exc}); "
                    f"nothing was written to {path}; {fetch_advice(entry)}"
                ) from None
            continue
        except _Mismatch as exc:
            mismatches += 1
            if mismatches >= ATTEMPTS:
                before = first or f"an earlier download {exc.actual_text}"
                raise RuntimeFailure(
                    f"{entry.name}: the file downloaded from {source.url} {exc.actual_text}"
                    f" ({before}); {exc.advice}"
                ) from None
            if not first:
                first = f"the first download {exc.actual_text}"
            continue
        return Fetched(path, md5, True)


class _Mismatch(Exception):
    """The downloaded bytes are not the expected file (md5, or the recorded sha256)."""

    def __init__(self, actual_text: str, advice: str) -> None:
        super().__init__(actual_text)
        self.actual_text = actual_text
        self.advice = advice


def _check(
    entry: DatasetEntry, path: Path, source: Source, md5: str, sha: str, *, first_use: bool
) -> str | None:
    """None when a present file checks out, else what is wrong with it."""
    if source.md5 is not None:
        return None if md5 == source.md5 else f"has md5 {md5}, expected {source.md5}"
    record = sha256_record(path)
    recorded = _read_record(record)
    if recorded is None:
        if first_use:  # no published md5 and no record yet: trust this file, pin it
            with contextlib.suppress(OSError):  # read-only data dir: used, not pinned
                _write_record(record, sha, path.name)
        return None
    if recorded == sha:
        return None
    return f"has sha256 {sha}, but {record} recorded {recorded}"


def _check_writable(entry: DatasetEntry, data_dir: Path, source: Source) -> None:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RuntimeFailure(
            f"{entry.name}: cannot create the data dir {data_dir} ({exc.strerror or exc}); "
            f"mount a writable volume there, or place {entry.file_name} from {source.url} in it"
        ) from None
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise RuntimeFailure(
            f"{entry.name}: the data dir {data_dir} is not writable, so {entry.file_name} "
            f"cannot be downloaded into it: mount it writable, or place the file from "
            f"{source.url} there"
        )


def _timeout() -> float:
    try:
        return float(os.environ.get(TIMEOUT_VARIABLE, "") or DEFAULT_TIMEOUT_S)
    except ValueError:
        return DEFAULT_TIMEOUT_S


def _download(
    url: str, path: Path, entry: DatasetEntry, source: Source, progress: bool
) -> tuple[str, str]:
    """Stream ``url`` to a temp file beside ``path``, check it, rename it into place."""
    from tqdm import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=_timeout())
    except urllib.error.HTTPError as exc:
        raise RuntimeFailure(
            f"{entry.name}: downloading {url} failed: HTTP {exc.code} {exc.reason}"
            + (
                " (the URL comes from VLMEVAL_DATA_URL_BASE / VLMEVAL_DATA_URL_*)"
                if source.overridden
                else ""
            )
            + f"; {fetch_advice(entry)}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _TransferError(f"cannot reach {url}: {reason}") from None
    md5, sha = hashlib.md5(), hashlib.sha256()
    try:
        fd, tmp = locked_temp(path, ".part")
    except OSError as exc:
        response.close()
        raise RuntimeFailure(
            f"{entry.name}: cannot write into the data dir {path.parent} "
            f"({exc.strerror or exc}): mount it writable, or place the file from {url} there"
        ) from None
    try:
        with response, os.fdopen(fd, "wb") as handle:
            expected = _content_length(response)
            received = 0
            with tqdm(
                total=expected,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=f"download {entry.file_name}",
                disable=not progress,
                mininterval=1.0,
                dynamic_ncols=True,
            ) as bar:
                while True:
                    try:
                        block = response.read(CHUNK)
                    except (TimeoutError, http.client.HTTPException, OSError, ValueError) as exc:
                        raise _TransferError(
                            f"the transfer broke off after {received} bytes ({exc!r})"
                        ) from None
                    if not block:
                        break
                    handle.write(block)
                    md5.update(block)
                    sha.update(block)
                    received += len(block)
                    bar.update(len(block))
            if expected is not None and received != expected:
                raise _TransferError(
                    f"the transfer was truncated: {received} of {expected} bytes arrived"
                )
            handle.flush()
            os.fsync(handle.fileno())
        md5_hex, sha_hex = md5.hexdigest(), sha.hexdigest()
        _verify_download(entry, path, source, md5_hex, sha_hex)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    if source.md5 is None and _read_record(sha256_record(path)) is None:
        _write_record(sha256_record(path), sha_hex, path.name)
    return md5_hex, sha_hex


def _verify_download(entry: DatasetEntry, path: Path, source: Source, md5: str, sha: str) -> None:
    if source.md5 is not None:
        if md5 != source.md5:
            raise _Mismatch(
                f"has md5 {md5}, expected {source.md5}",
                "the server serves a changed or broken file; a mirror that serves another "
                f"build of it can set VLMEVAL_DATA_MD5_{env_key(entry.name)} to its md5",
            )
        return
    record = sha256_record(path)
    recorded = _read_record(record)
    if recorded is not None and recorded != sha:
        raise _Mismatch(
            f"has sha256 {sha}, but {record} recorded {recorded} at the first download",
            f"delete {record} to accept the new file",
        )


def _content_length(response: object) -> int | None:
    value = getattr(response, "headers", {}).get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
