"""Small thumbnails of items' first images, as data URIs for the report page.

Images are read from the dataset's TSV as recorded in the run's manifest, only
when its md5 still matches (another file would show other items' images), and
decoded by :meth:`vlmeval_core.datasets.tsv.Dataset.images`: its pixel budget is
checked on the header before anything is decoded. An image that cannot be shown
gives no thumbnail and the reason, never an error.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from vlmeval_core.datasets.tsv import Dataset, ItemImageError, load_tsv
from vlmeval_core.errors import UsageError

THUMBNAIL_PX = 160
"""The longest side of a thumbnail, in pixels."""
JPEG_QUALITY = 80


@dataclass(frozen=True)
class Thumbnail:
    """A data URI (``data:image/jpeg;base64,…``), or None and why there is none."""

    uri: str | None
    note: str = ""


class Thumbnails:
    """The thumbnails of one dataset's items, its TSV loaded once when first asked."""

    def __init__(self, name: str, path: Path | None, md5: str | None, kind: str | None) -> None:
        self._name, self._path, self._md5, self._kind = name, path, md5, kind
        self._dataset: Dataset | None = None
        self._positions: dict[int, int] = {}
        self._missing = "" if path is not None else "no dataset file recorded for this run"

    def of(self, index: int) -> Thumbnail:
        """The thumbnail of the item ``index`` (the ``index`` of predictions.jsonl)."""
        dataset = self._loaded()
        if dataset is None:
            return Thumbnail(None, self._missing)
        position = self._positions.get(index)
        if position is None:
            return Thumbnail(None, f"index {index} is not in {dataset.path.name}")
        try:
            images = dataset.images(position, "original")
        except ItemImageError as exc:
            return Thumbnail(None, str(exc))
        more = f"+{len(images) - 1} more image(s)" if len(images) > 1 else ""
        return Thumbnail(data_uri(images[0]), more)

    def _loaded(self) -> Dataset | None:
        if self._dataset is not None or self._missing:
            return self._dataset
        assert self._path is not None
        try:
            dataset = load_tsv(self._path, self._name, self._kind, warn=False)
        except UsageError as exc:
            self._missing = str(exc)
            return None
        if self._md5 is not None and dataset.md5 != self._md5:
            self._missing = f"{self._path} has changed since the run (md5 {dataset.md5})"
            return None
        self._positions = {int(i): p for p, i in enumerate(dataset.frame["index"])}
        self._dataset = dataset
        return dataset


def data_uri(image: Image.Image) -> str:
    """``image`` shrunk to at most THUMBNAIL_PX a side, as a JPEG data URI."""
    image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
