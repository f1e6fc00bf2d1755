"""The strict pydantic types that plan.json's parts share (torch-free)."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import ConfigDict, Field

STRICT = ConfigDict(extra="forbid", strict=True)
"""Every field must be of its own JSON type and every field must be known."""

Dtype = Literal["auto", "bfloat16", "float16", "float32"]
DTYPES: tuple[str, ...] = get_args(Dtype)
NonEmpty = Annotated[str, Field(min_length=1)]
Positive = Annotated[int, Field(ge=1)]
ImageHandling = Literal["vlmevalkit", "original"]
"""How a TSV's base64 images reach the model: as VLMEvalKit main's ``dump_image`` saves
them (re-encoded in the format of the file name it picks), or the TSV's own bytes."""
IMAGE_HANDLINGS: tuple[str, ...] = get_args(ImageHandling)
