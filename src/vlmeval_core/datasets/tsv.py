"""Load a benchmark in VLMEvalKit's TSV format; decode its images lazily, a batch at a time.

Columns: ``index``, ``image`` (base64; a short value equal to another row's
index reuses that row's image; a JSON list string holds several images) or
``image_path`` (relative to the TSV's folder), ``question``, optional
``hint``, options ``A``…``Z``, ``answer``, optional ``category``,
``l2-category``, ``split``. The kind comes from the registry, a ``:kind``
suffix, or the columns: options → MCQ; every answer yes/no → Y/N; else VQA.

A file loaded under a registered dataset's name gets that entry's handling,
as VLMEvalKit gives it by name: its prompt style and metric, rows without an
image left out, and (HallusionBench) a text ``index`` kept as
``source_index`` while ``index`` becomes the row number.
"""

from __future__ import annotations

import ast
import base64
import binascii
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image

from vlmeval_core.datasets.prompts import OPTION_LETTERS, build_prompt
from vlmeval_core.datasets.registry import DATASETS
from vlmeval_core.errors import UsageError

REQUIRED = ("index", "question", "answer")
IMAGE_REF_MAX_LEN = 64
"""An ``image`` value this short is a reference to another row's index, as in VLMEvalKit."""


class ItemImageError(Exception):
    """One item's image cannot be decoded; that item fails, not the run."""


def infer_kind(frame: pd.DataFrame) -> str:
    """MCQ when there are option columns, Y/N when every answer is yes or no, else VQA."""
    if "A" in frame.columns and "B" in frame.columns:
        return "mcq"
    answers = frame["answer"].dropna().astype(str).str.strip().str.lower()
    if len(answers) and answers.isin(["yes", "no"]).all():
        return "yorn"
    return "vqa"


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Dataset:
    """A loaded benchmark: its rows (images still encoded) and how to prompt for them."""

    name: str
    kind: str
    path: Path
    frame: pd.DataFrame
    md5: str
    prompt_style: str | None = None
    metric: str | None = None
    metric_options: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    def prompt(self, position: int) -> str:
        return build_prompt(self.prompt_style or self.kind, self.frame.iloc[position].to_dict())

    def images(self, position: int) -> list[Image.Image]:
        """Decode the images of the row at ``position``; ItemImageError names the item."""
        row = self.frame.iloc[position]
        index = row["index"]
        try:
            if "image" in self.frame.columns and isinstance(row["image"], str) and row["image"]:
                return [_decode_base64(v) for v in self._image_values(row["image"])]
            if "image_path" in self.frame.columns and isinstance(row["image_path"], str):
                return [_open_file(self._safe_path(p)) for p in _as_list(row["image_path"])]
        except ItemImageError as exc:
            raise ItemImageError(f"{self.path.name}: index {index}: {exc}") from None
        raise ItemImageError(f"{self.path.name}: index {index}: the row has no image")

    def image_sizes(self, position: int) -> list[tuple[int, int]]:
        """(width, height) of the row's images from their headers only; [] if unreadable."""
        try:
            row = self.frame.iloc[position]
            if "image" in self.frame.columns and isinstance(row["image"], str) and row["image"]:
                sources = [
                    io.BytesIO(base64.b64decode(v)) for v in self._image_values(row["image"])
                ]
            else:
                sources = [self._safe_path(p) for p in _as_list(str(row["image_path"]))]
            sizes = []
            for source in sources:
                with Image.open(source) as image:
                    sizes.append(image.size)
            return sizes
        except (ItemImageError, binascii.Error, ValueError, OSError, KeyError):
            return []

    def _image_values(self, value: str) -> list[str]:
        if len(value) <= IMAGE_REF_MAX_LEN:
            target = self._by_index.get(value)
            if target is None:
                raise ItemImageError(f"image refers to index {value!r}, which is not in the file")
            value = target
        return _as_list(value)

    def _safe_path(self, relative: str) -> Path:
        root = self.path.parent.resolve()
        candidate = Path(relative)
        resolved = (root / candidate).resolve()
        if candidate.is_absolute() or not resolved.is_relative_to(root):
            raise ItemImageError(
                f"image_path {relative!r} points outside the data directory {str(root)!r}; "
                "use a path relative to it"
            )
        return resolved

    @property
    def _by_index(self) -> dict[str, str]:
        cached = getattr(self, "_image_by_index", None)
        if cached is None:
            frame = self.frame
            keys = frame["source_index"] if "source_index" in frame.columns else frame["index"]
            cached = {
                str(i): img
                for i, img in zip(keys, frame["image"], strict=True)
                if isinstance(img, str) and len(img) > IMAGE_REF_MAX_LEN
            }
            self._image_by_index = cached
        return cached


def _as_list(value: str) -> list[str]:
    """One image, or a list: JSON, or a Python literal as VLMEvalKit writes (``['…', '…']``)."""
    text = value.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            try:
                items = ast.literal_eval(text)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                raise ItemImageError("image list is neither JSON nor a Python list") from None
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            return items
        raise ItemImageError("image list must be a list of strings")
    return [text]


def _decode_base64(value: str) -> Image.Image:
    try:
        data = base64.b64decode(value, validate=False)
        image = Image.open(io.BytesIO(data))
        return image.convert("RGB")
    except (binascii.Error, ValueError, OSError, Image.DecompressionBombError) as exc:
        raise ItemImageError(f"image cannot be decoded ({type(exc).__name__}: {exc})") from None


def _open_file(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ItemImageError(f"image file {str(path)!r} cannot be read ({exc})") from None


def load_tsv(path: str | Path, name: str | None = None, kind: str | None = None) -> Dataset:
    """Read and check a VLMEvalKit TSV; a broken file raises UsageError naming row or column."""
    path = Path(path)
    try:
        # Every cell as text; only an empty cell is missing ("NA" or "None" stay answers).
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise UsageError(f"{path}: dataset file not found") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"{path}: not a readable TSV ({detail}); "
            "VLMEvalKit's format is tab-separated with a header row"
        ) from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise UsageError(
            f"{path}: missing required column(s) {', '.join(missing)}; "
            f"found {', '.join(map(str, frame.columns))}"
        )
    if "image" not in frame.columns and "image_path" not in frame.columns:
        raise UsageError(f"{path}: missing column 'image' (base64) or 'image_path'")
    entry = DATASETS.get(name) if name is not None else None
    needed = [c for c in (entry.columns if entry is not None else ()) if c not in frame.columns]
    if needed:
        raise UsageError(
            f"{path}: {name} is scored with column(s) {', '.join(needed)}, which the file "
            f"lacks; found {', '.join(map(str, frame.columns))}"
        )
    if entry is not None and entry.skip_missing_images and "image" in frame.columns:
        frame = frame[frame["image"].notna()].reset_index(drop=True)
    bad = frame["index"].isna() | ~frame["index"].fillna("").str.fullmatch(r"-?\d+")
    if entry is not None and entry.text_index and bad.any():
        frame = _number_text_index(path, frame)
        bad = frame["index"].isna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise UsageError(
            f"{path}: row {row + 2}: index {frame['index'].iloc[row]!r} is not a whole number"
        )
    frame["index"] = frame["index"].astype("int64")
    dupes = frame["index"][frame["index"].duplicated()]
    if len(dupes):
        raise UsageError(f"{path}: index {int(dupes.iloc[0])} appears more than once")
    if frame["question"].isna().any():
        row = int(frame["question"].isna().to_numpy().nonzero()[0][0])
        raise UsageError(
            f"{path}: row {row + 2} (index {int(frame['index'].iloc[row])}): empty question"
        )
    resolved_kind = kind or infer_kind(frame)
    if resolved_kind == "mcq" and not any(c in frame.columns for c in OPTION_LETTERS):
        raise UsageError(f"{path}: a multiple-choice dataset needs option columns A, B, …")
    return Dataset(
        name or path.stem,
        resolved_kind,
        path,
        frame.reset_index(drop=True),
        file_md5(path),
        prompt_style=entry.prompt if entry is not None else None,
        metric=entry.metric if entry is not None else None,
        metric_options=dict(entry.metric_options) if entry is not None else {},
    )


def _number_text_index(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """A text ``index`` (HallusionBench's ``VD_chart_1_0_0_0``) moves to ``source_index``;
    ``index`` becomes the row number, which checkpoints and merging key on."""
    source = frame["index"]
    if source.isna().any():
        row = int(source.isna().to_numpy().nonzero()[0][0])
        raise UsageError(f"{path}: row {row + 2}: empty index")
    frame = frame.copy()
    frame.insert(1, "source_index", source.astype(str))
    frame["index"] = [str(i) for i in range(len(frame))]
    return frame
