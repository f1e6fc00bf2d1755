"""The endpoint flags checked before anything starts: base URL and extra request fields.

Torch-free: the launcher calls these. The API key never passes through here: it is
read from the environment by the process that sends the requests
(:data:`API_KEY_VARIABLES`), so it never reaches the plan, the identity or the manifest.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from vlmeval_core.errors import UsageError

API_KEY_VARIABLES = ("VLMEVAL_API_KEY", "OPENAI_API_KEY")
"""Where the key is read from, first found wins."""

RESERVED_FIELDS = frozenset({"model", "messages", "stream", "n"})
"""Request fields the backend sets itself (one greedy, non-streamed answer per item)."""


def base_url(raw: str) -> str:
    """``--api-base`` as requests use it: http(s), a host, no credentials, no trailing ``/``.

    The base is what the OpenAI SDK calls ``base_url``: requests go to
    ``<base>/chat/completions``, so it usually ends in ``/v1``.
    """
    try:
        parts = urlsplit(raw.strip())
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError as exc:
        raise UsageError(f"--api-base {raw!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"--api-base {raw!r} is not an http(s) URL with a host: "
            "give the server's OpenAI base, e.g. http://127.0.0.1:8000/v1"
        )
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            "--api-base holds credentials (user:password@), which would be written to the "
            "plan: drop them and put the key in OPENAI_API_KEY or VLMEVAL_API_KEY"
        )
    return parts.geturl().rstrip("/")


def extra_fields(raw: str | None) -> dict[str, Any]:
    """``--api-extra``: a JSON object of fields added to every request."""
    if raw is None or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"--api-extra {raw!r} is not JSON ({exc}); e.g. '{{\"top_k\": 1}}'"
        ) from None
    if not isinstance(value, dict):
        raise UsageError(f"--api-extra {raw!r} must be a JSON object, e.g. '{{\"top_k\": 1}}'")
    reserved = sorted(RESERVED_FIELDS & value.keys())
    if reserved:
        raise UsageError(
            f"--api-extra sets {', '.join(reserved)}, which vlmeval sets itself for every "
            "request: leave them out (the model is -m)"
        )
    return value


def api_key(environ: Mapping[str, str] | None = None) -> str | None:
    """The API key from the environment, or None (a local server needs none)."""
    env = os.environ if environ is None else environ
    return next((env[name] for name in API_KEY_VARIABLES if env.get(name)), None)
