"""Name lookups shared by the model and dataset registries: exact match and typo hints."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def find_name(name: str, known: Iterable[str]) -> str | None:
    """Return the registered spelling of ``name`` (case-insensitive), or None."""
    lowered = name.lower()
    return next((k for k in known if k.lower() == lowered), None)


def suggest(name: str, known: Iterable[str], n: int = 3) -> str:
    """A ' (did you mean …?)' hint with the closest known names, or '' when none is close."""
    known = list(known)
    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + ", ".join(by_lower[c] for c in close) + "?)"
