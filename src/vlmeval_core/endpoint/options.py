"""The endpoint flags checked before anything starts: base URL, extra fields and bounds.

Torch-free and light: the launcher calls these, and its flag declarations take the
defaults and limits from here. The API key never passes through here: it is read from
the environment by the process that sends the requests (:data:`API_KEY_VARIABLES`), so
it never reaches the plan, the identity or the manifest; a base URL or extra field
that would carry one is refused, and named without it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from vlmeval_core.errors import UsageError

API_KEY_VARIABLES = ("VLMEVAL_API_KEY", "OPENAI_API_KEY")
"""Where the key is read from, first found wins."""

RESERVED_FIELDS = frozenset({"model", "messages", "stream", "n"})
"""Request fields the backend sets itself (one greedy, non-streamed answer per item)."""

SECRET_FIELD = re.compile(r"key|token|secret|password|authorization|credential", re.IGNORECASE)
"""Names of extra fields that would carry a secret into the plan."""

CONCURRENCY_DEFAULT = 16
CONCURRENCY_LIMIT = 512
"""Requests in flight at most: each holds a socket (a process has 1024 by default)."""

TIMEOUT_DEFAULT_S = 120.0
TIMEOUT_LIMIT_S = 3600.0
"""The deadline of one attempt of one request, whole: connect, send, headers and body."""

MAX_RESPONSE_BYTES_DEFAULT = 8 * 2**20
MAX_RESPONSE_BYTES_LIMIT = 256 * 2**20
"""The size of one answer's body at most (a chat completion of a few hundred tokens is a
few KiB; a server that streams without end is cut here)."""


def check_bounds(concurrency: int, timeout_s: float, max_response_bytes: int) -> None:
    """``--api-concurrency``, ``--api-timeout`` and ``--api-max-response-bytes`` within
    their limits, or UsageError naming the flag and the limit."""
    if not 1 <= concurrency <= CONCURRENCY_LIMIT:
        raise UsageError(
            f"--api-concurrency is {concurrency}: it must be 1 or more and at most "
            f"{CONCURRENCY_LIMIT} (requests in flight, each a connection)"
        )
    if not 0 < timeout_s <= TIMEOUT_LIMIT_S:
        raise UsageError(
            f"--api-timeout is {timeout_s}: it must be a positive number of seconds, at most "
            f"{TIMEOUT_LIMIT_S:g} (the deadline of one whole request)"
        )
    if not 1 <= max_response_bytes <= MAX_RESPONSE_BYTES_LIMIT:
        raise UsageError(
            f"--api-max-response-bytes is {max_response_bytes}: it must be 1 to "
            f"{MAX_RESPONSE_BYTES_LIMIT} (256 MiB)"
        )


def _shown(raw: str) -> str:
    """``raw`` as an error may show it: without a query, a fragment or credentials, any of
    which may hold a key."""
    shown = re.split(r"[?#]", raw.strip(), maxsplit=1)[0]
    return re.sub(r"//[^/@]*@", "//", shown)


def base_url(raw: str, flag: str = "--api-base") -> str:
    """``--api-base`` as requests use it: http(s), a host, no credentials, no trailing ``/``.

    The base is what the OpenAI SDK calls ``base_url``: requests go to
    ``<base>/chat/completions``, so it usually ends in ``/v1``. ``flag``: the flag errors
    name (``--judge-base`` for the judge's server).
    """
    try:
        parts = urlsplit(raw.strip())
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError as exc:
        raise UsageError(f"{flag} {_shown(raw)!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{flag} {_shown(raw)!r} is not an http(s) URL with a host: "
            "give the server's OpenAI base, e.g. http://127.0.0.1:8000/v1"
        )
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"{flag} holds credentials (user:password@), which would be written to the "
            "plan: drop them and put the key in OPENAI_API_KEY or VLMEVAL_API_KEY"
        )
    if parts.query or parts.fragment or "?" in raw or "#" in raw:
        raise UsageError(
            f"{flag} {_shown(raw)} has a query string or fragment (?…, #…), which would "
            "be written to the plan and end up inside every request's path: drop it; put a "
            "key in VLMEVAL_API_KEY or OPENAI_API_KEY, other request fields in --api-extra"
        )
    return parts.geturl().rstrip("/")


def extra_fields(raw: str | None, flag: str = "--api-extra") -> dict[str, Any]:
    """``--api-extra`` (or ``flag``): a JSON object of fields added to every request."""
    if raw is None or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{flag} {raw!r} is not JSON ({exc}); e.g. '{{\"top_k\": 1}}'") from None
    if not isinstance(value, dict):
        raise UsageError(f"{flag} {raw!r} must be a JSON object, e.g. '{{\"top_k\": 1}}'")
    reserved = sorted(RESERVED_FIELDS & value.keys())
    if reserved:
        raise UsageError(
            f"{flag} sets {', '.join(reserved)}, which vlmeval sets itself for every "
            "request: leave them out (the model is -m)"
        )
    secret = sorted(name for name in value if SECRET_FIELD.search(name))
    if secret:
        raise UsageError(
            f"{flag} sets {', '.join(secret)}, which would write a secret to the plan: "
            "put the key in VLMEVAL_API_KEY or OPENAI_API_KEY (sent as Authorization: Bearer)"
        )
    return value


def api_key(environ: Mapping[str, str] | None = None) -> str | None:
    """The API key from the environment, or None (a local server needs none)."""
    env = os.environ if environ is None else environ
    return next((env[name] for name in API_KEY_VARIABLES if env.get(name)), None)
