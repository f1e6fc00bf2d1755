"""``vlmeval prompts``: exactly what each item of a dataset sends a model, without the model.

The model's record (registry entry, or a plain record for another hub id or
directory, with ``--prompt-family`` and ``--images`` on top) names its prompt
family and image handling; each item's messages are built by the same code a
rank uses, with each image replaced by where it comes from. No weights, no GPU,
no torch.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vlmeval_core.datasets.registry import check_frames, resolve_dataset
from vlmeval_core.datasets.tsv import ItemImageError
from vlmeval_core.errors import UsageError
from vlmeval_core.models.record import ModelSpec
from vlmeval_core.models.registry import resolve_model
from vlmeval_core.prompt_families import FAMILIES, prompt_text, shown_messages
from vlmeval_launcher.launch import check_prompt_family
from vlmeval_launcher.score import load_dataset


def model_record(model: str, prompt_family: str | None, images: str | None) -> ModelSpec:
    """The record ``--model`` resolves to, with ``--prompt-family`` and ``--images`` applied."""
    check_prompt_family(prompt_family)
    record = resolve_model(model)
    given = {"prompt_family": prompt_family, "images": images}
    return dataclasses.replace(record, **{k: v for k, v in given.items() if v is not None})


def item_prompts(
    record: ModelSpec,
    data: str,
    data_dir: Path,
    limit: int | None,
    nframe: int | None = None,
    fps: float | None = None,
) -> Iterator[dict[str, Any]]:
    """``{"index", "messages"}`` for each item (``{"index", "error"}`` for one whose images
    cannot be read), the first ``limit`` items of the dataset; a video dataset's frames as
    ``nframe``/``fps`` pick them."""
    if limit is not None and limit < 1:
        raise UsageError(f"--limit is {limit}: it must be 1 or more (items to show)")
    work_dir = Path(tempfile.gettempdir()) / "vlmeval-prompts"
    dataset = load_dataset(data, data_dir, work_dir, nframe, fps)
    check_frames((resolve_dataset(data, nframe, fps),), nframe, fps)
    family = FAMILIES[record.prompt_family]
    indices = dataset.frame["index"].tolist()
    for position in range(len(dataset) if limit is None else min(limit, len(dataset))):
        index = indices[position]
        try:
            messages = shown_messages(family, dataset, position, record.images)
        except ItemImageError as exc:
            yield {"index": index, "error": str(exc)}
            continue
        yield {"index": index, "messages": messages}


def as_json_line(item: dict[str, Any]) -> str:
    return json.dumps(item, ensure_ascii=False)


def readable(item: dict[str, Any]) -> str:
    """One item for people: its index, then each part; images as ``[image: where]``."""
    shown = f"[error: {item['error']}]" if "error" in item else prompt_text(item["messages"])
    return f"── index {item['index']}\n{shown}"
