"""The closed sets of values, and the defaults, that a flag of ``vlmeval eval`` and plan.json
share.

Plain ``typing`` (no pydantic), so that the launcher can offer them as choices
in ``vlmeval --help`` without importing the schema; :mod:`vlmeval_core.schema`
re-exports them for the plan's types.
"""

from __future__ import annotations

from typing import Literal, get_args

Dtype = Literal["auto", "bfloat16", "float16", "float32"]
DTYPES: tuple[str, ...] = get_args(Dtype)
ImageHandling = Literal["vlmevalkit", "original"]
"""How a TSV's base64 images reach the model: as VLMEvalKit main's ``dump_image`` saves
them (re-encoded in the format of the file name it picks), or the TSV's own bytes."""
IMAGE_HANDLINGS: tuple[str, ...] = get_args(ImageHandling)

DEFAULT_SEED = 0
"""The random seed of every rank (and of the generated Shapes sets) when none is given."""
