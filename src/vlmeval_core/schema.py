"""The strict pydantic types that plan.json's parts share (torch-free)."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from vlmeval_core.choices import DTYPES, IMAGE_HANDLINGS, Dtype, ImageHandling

__all__ = [
    "DTYPES",
    "IMAGE_HANDLINGS",
    "STRICT",
    "Dtype",
    "ImageHandling",
    "NonEmpty",
    "Positive",
]

STRICT = ConfigDict(extra="forbid", strict=True)
"""Every field must be of its own JSON type and every field must be known."""

NonEmpty = Annotated[str, Field(min_length=1)]
Positive = Annotated[int, Field(ge=1)]
