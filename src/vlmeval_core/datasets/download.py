"""Fetch a registered benchmark's TSV into the data dir, checked, never half-written.

Torch-free and pandas-free (httpx, the project's HTTP client, and tqdm), so
``vlmeval fetch`` in the launcher can use it as well as rank 0 of a run; the file
is written through :func:`vlmeval_core.files.atomic_writer`.

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
import os
import re
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from vlmeval_core.datasets.registry import DatasetEntry
from vlmeval_core.env_flags import is_offline
from vlmeval_core.errors import RuntimeFailure
from vlmeval_core.files import atomic_writer, digests, file_digests, write_atomic

URL_BASE_VARIABLE = "VLMEVAL_DATA_URL_BASE"
TIMEOUT_VARIABLE = "VLMEVAL_DOWNLOAD_TIMEOUT"
DEFAULT_TIMEOUT_S = 60.0
CHUNK = 1 << 20
ATTEMPTS = 2
USER_AGENT = "vlmeval-image/0.1 (Python httpx)"


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
    md5, sha = file_digests(path, "md5", "sha256")
    return md5, sha


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

    with contextlib.ExitStack() as stack:
        expected, blocks = stack.enter_context(_opened(url, entry, source))
        try:
            handle = stack.enter_context(atomic_writer(path, suffix=".part"))
        except OSError as exc:
            raise RuntimeFailure(
                f"{entry.name}: cannot write into the data dir {path.parent} "
                f"({exc.strerror or exc}): mount it writable, or place the file from {url} there"
            ) from None
        bar = stack.enter_context(
            tqdm(
                total=expected,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=f"download {entry.file_name}",
                disable=not progress,
                mininterval=1.0,
                dynamic_ncols=True,
            )
        )
        md5, sha = digests(_written(blocks, handle, bar), "md5", "sha256")
        received = handle.tell()
        if expected is not None and received != expected:
            raise _TransferError(
                f"the transfer was truncated: {received} of {expected} bytes arrived"
            )
        _verify_download(entry, path, source, md5, sha)
    if source.md5 is None and _read_record(sha256_record(path)) is None:
        _write_record(sha256_record(path), sha, path.name)
    return md5, sha


def _written(blocks: Iterator[bytes], handle: IO[bytes], bar: Any) -> Iterator[bytes]:
    """Each block of the transfer, once written to ``handle`` and shown on ``bar``."""
    for block in blocks:
        handle.write(block)
        bar.update(len(block))
        yield block


def _arriving(
    blocks: Iterator[bytes], expected: int | None, errors: tuple[type[BaseException], ...]
) -> Iterator[bytes]:
    """``blocks``, where one of ``errors`` (the transfer broke off) is a :class:`_TransferError`
    that says how much arrived."""
    received = 0
    try:
        for block in blocks:
            received += len(block)
            yield block
    except errors as exc:
        if expected is not None and received < expected:
            what = f"the transfer was truncated: {received} of {expected} bytes arrived"
        else:
            what = f"the transfer broke off after {received} bytes"
        raise _TransferError(f"{what} ({exc!r})") from None


@contextlib.contextmanager
def _opened(
    url: str, entry: DatasetEntry, source: Source
) -> Iterator[tuple[int | None, Iterator[bytes]]]:
    """The length ``url`` announces (None: unknown) and its bytes, in blocks; an HTTP error
    status is a RuntimeFailure, a server that cannot be reached a :class:`_TransferError`.
    A ``file://`` URL (a mirror on a mounted volume) is read from disk."""
    if urlsplit(url).scheme == "file":
        try:
            local = open(url2pathname(urlsplit(url).path), "rb")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise _TransferError(f"cannot reach {url}: {exc.strerror or exc}") from None
        with local:
            size = os.fstat(local.fileno()).st_size
            yield size, _arriving(iter(lambda: local.read(CHUNK), b""), size, (OSError,))
        return
    import httpx

    client = httpx.Client(
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        timeout=_timeout(),
        follow_redirects=True,
        verify=ssl.create_default_context(),  # the system's CAs, as urllib used
    )
    with client:
        try:
            response = client.send(client.build_request("GET", url), stream=True)
        except (httpx.TransportError, httpx.InvalidURL, OSError, ValueError) as exc:
            raise _TransferError(f"cannot reach {url}: {exc}") from None
        try:
            if response.is_error:
                raise RuntimeFailure(
                    f"{entry.name}: downloading {url} failed: HTTP {response.status_code} "
                    f"{response.reason_phrase}"
                    + (
                        " (the URL comes from VLMEVAL_DATA_URL_BASE / VLMEVAL_DATA_URL_*)"
                        if source.overridden
                        else ""
                    )
                    + f"; {fetch_advice(entry)}"
                )
            expected = _content_length(response)
            errors = (httpx.TransportError, httpx.StreamError, OSError)
            yield expected, _arriving(response.iter_raw(CHUNK), expected, errors)
        finally:
            response.close()


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
