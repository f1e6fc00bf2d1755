"""What one node hands its own ranks: its data dir, its GPU inventory and its shard.

These differ between the nodes of a run, so they never go into the shared
``plan.json`` on the output volume. The launcher of each node puts them into
the environment of the process that starts the ranks (``VLMEVAL_NODE_SETTINGS``,
JSON: the supervisor, or torchrun), which passes its environment on to the ranks
of that node only. Validated with the
same strict schema rules as the plan. Torch-free.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, TypeAdapter
from pydantic.dataclasses import dataclass
from typing_extensions import TypedDict

from vlmeval_core.run_plan import STRICT, NonEmpty, schema_errors

ENV_VARIABLE = "VLMEVAL_NODE_SETTINGS"
DEFAULT_DATA_DIR = "~/LMUData"


class GpuRecord(TypedDict):
    """One usable GPU as the launcher listed it through NVML."""

    __pydantic_config__ = STRICT  # type: ignore[misc]

    index: Annotated[int, Field(ge=0)]
    uuid: NonEmpty
    name: str
    memory_total_mib: Annotated[int, Field(ge=0)]


@dataclass(frozen=True, config=STRICT)
class NodeSettings:
    """This node's data dir (absolute), its usable GPUs, in CUDA order, and the shard of
    the plan's ``shards`` this launch evaluates (0 of 1 unless ``--shard``)."""

    data_dir: NonEmpty
    gpus: tuple[GpuRecord, ...] = ()
    shard: Annotated[int, Field(ge=0)] = 0

    def to_env(self) -> dict[str, str]:
        """The variable that carries these settings from the launcher to the ranks."""
        settings = {"data_dir": self.data_dir, "gpus": list(self.gpus), "shard": self.shard}
        return {ENV_VARIABLE: json.dumps(settings)}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NodeSettings:
        """This node's settings, or, for ranks started by hand without a launcher, the
        defaults: ``$LMUData`` (else ``~/LMUData``) and no GPU list (CUDA_VISIBLE_DEVICES)."""
        env = os.environ if environ is None else environ
        raw = env.get(ENV_VARIABLE)
        if raw is None:
            data_dir = env.get("LMUData") or DEFAULT_DATA_DIR
            return cls(os.path.abspath(Path(data_dir).expanduser()))
        with schema_errors(ENV_VARIABLE):
            return _ADAPTER.validate_json(raw)

    def gpu_dicts(self) -> list[dict[str, Any]]:
        return [dict(g) for g in self.gpus]


_ADAPTER = TypeAdapter(NodeSettings)
