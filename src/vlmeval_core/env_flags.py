"""Switches read from the environment, and what "offline" means: each declared once.

Torch-free and import-light: the launcher, the ranks and the downloader read them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

TRUE_VALUES = frozenset({"1", "true", "yes", "on"})
"""How a switch is set on (case and surrounding blanks aside); anything else is off."""

OFFLINE_VARIABLES = ("VLMEVAL_OFFLINE", "HF_HUB_OFFLINE")
"""Either set on means no network: no download, no hub probe, models from the cache."""


def is_set(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the switch ``name`` is on in ``environ`` (default: this process's)."""
    env = os.environ if environ is None else environ
    return env.get(name, "").strip().lower() in TRUE_VALUES


def is_offline(environ: Mapping[str, str] | None = None) -> bool:
    """Whether HF_HUB_OFFLINE or VLMEVAL_OFFLINE asks for no network."""
    return any(is_set(name, environ) for name in OFFLINE_VARIABLES)
