"""Load a benchmark in VLMEvalKit's TSV format; decode its images lazily, a batch at a time.

Columns: ``index``, ``image`` (base64; a short value equal to another row's
index reuses that row's image; a JSON list string holds several images) or
``image_path`` (relative to the TSV's folder), ``question``, optional
``hint``, options ``A``…``Z``, ``answer``, optional ``category``,
``l2-category``, ``split``. The kind comes from a ``:kind`` suffix, else the
registry (a file named like a registered benchmark takes its kind, as
VLMEvalKit picks the dataset class by name), else the columns: options → MCQ;
every answer yes/no → Y/N; else VQA. A kind the content does not fit (every
answer Yes/No under MCQ, say) is one warning line naming the file and the
kind that fits. Cells are read as VLMEvalKit reads them (:mod:`~vlmeval_core.datasets.cells`:
"N/A" is missing, "3" beside an empty cell is "3.0"); an empty question is refused and a
question with an NA text is "nan", as in VLMEvalKit's prompt.

A file loaded under a registered dataset's name gets that entry's handling,
as VLMEvalKit gives it by name: its kind, prompt style and metric, rows
without an image left out, and (HallusionBench) a text ``index`` kept as
``source_index`` while ``index`` becomes the row number.
"""

from __future__ import annotations

import ast
import base64
import binascii
import io
import json
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import pandas as pd
from PIL import Image

from vlmeval_core.datasets.cells import NA_TEXTS, TEXT_COLUMNS, read_table
from vlmeval_core.datasets.columns import check_columns
from vlmeval_core.datasets.prompts import OPTION_LETTERS, build_prompt
from vlmeval_core.datasets.registry import DATASETS
from vlmeval_core.errors import UsageError
from vlmeval_core.files import file_kind, file_md5
from vlmeval_core.video.sampling import FrameSpec

if TYPE_CHECKING:  # PyAV (~0.1 s to import) is loaded when a video is first read
    from vlmeval_core.video.cache import FrameCache
    from vlmeval_core.video.decode import Frames

log = logging.getLogger(__name__)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""The range of an ``index`` (int64, as in VLMEvalKit's pandas frames)."""
IMAGE_REF_MAX_LEN = 64
"""An ``image`` value this short is a reference to another row's index, as in VLMEvalKit."""


MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS
"""The pixel budget of one image (Pillow's bomb limit, about 89 million): above it the item
fails before anything is decoded."""
warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused above, naming the item


class ItemImageError(Exception):
    """One item's image cannot be decoded; that item fails, not the run."""


def infer_kind(frame: pd.DataFrame) -> str:
    """MCQ when there are option columns, Y/N when every answer is yes or no, else VQA."""
    if "A" in frame.columns and "B" in frame.columns:
        return "mcq"
    return "yorn" if all_yes_or_no(frame["answer"]) else "vqa"


def all_yes_or_no(answers: pd.Series) -> bool:
    """Whether there are answers and every one is yes or no (any case, outer spaces aside)."""
    words = answers.dropna().astype(str).str.strip().str.lower()
    return bool(len(words)) and bool(words.isin(["yes", "no"]).all())


def kind_mismatch(path: Path, kind: str, fits: str, registered: str | None) -> str:
    """The warning line for ``path`` scored as ``kind`` though its content fits ``fits``;
    ``registered``: the benchmark whose name gave the kind (None: a ``:kind`` given)."""
    if registered is not None:
        why = f"the kind of {registered}, the benchmark it is named after"
        fix = f"a file that is not {registered} needs another name"
    else:
        why = "the :kind given"
        fix = f"pass -d {path}:{fits} if {fits} is meant"
    return (
        f"vlmeval: warning: {path}: {KIND_EVIDENCE[fits]}, so it fits {fits}, but it is "
        f"scored as {kind} ({why}); {fix}"
    )


KIND_EVIDENCE = {
    "mcq": "it has option columns A and B",
    "yorn": "every answer is Yes or No",
    "vqa": "its answers are not all Yes/No and it has no option columns",
}
"""What in a file's content makes :func:`infer_kind` give each kind."""


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
    fits: str | None = None
    """The kind the file's content fits (:func:`infer_kind`), whatever ``kind`` is."""
    video: bool = False
    """Each row names a video, ``<the TSV's directory>/<video>.mp4``, sent as its frames."""
    frames: FrameSpec | None = None
    """Which frames of each video are sent (None: a video dataset that is only scored)."""
    frame_cache: FrameCache | None = None
    """Where decoded frames are kept for a resumed run (None: decoded every time)."""

    def __len__(self) -> int:
        return len(self.frame)

    def prompt(self, position: int) -> str:
        """The dataset's own prompt text for the row (VLMEvalKit's dataset ``build_prompt``)."""
        return build_prompt(self.prompt_style or self.kind, self.row(position))

    def row(self, position: int) -> dict[str, Any]:
        return self.frame.iloc[position].to_dict()

    def images(self, position: int, handling: str = "vlmevalkit") -> list[Image.Image]:
        """Decode the images of the row at ``position``; ItemImageError names the item.

        ``handling`` (:data:`vlmeval_core.schema.ImageHandling`): ``vlmevalkit`` gives
        each base64 image as VLMEvalKit main's ``dump_image`` saves it
        (:func:`as_vlmevalkit_saves`, in memory); ``original`` decodes the TSV's
        bytes. A file named by ``image_path`` alone is read as it is either way, as
        VLMEvalKit reads it.
        """
        if self.video:
            return self.video_frames(position).images()
        with self._naming_the_item(position):
            return [
                _decoded(source)
                if saved_as is None or handling == "original"
                else as_vlmevalkit_saves(source, saved_as)
                for source, saved_as in self._image_sources(position)
            ]

    def video_frames(self, position: int) -> Frames:
        """The frames of the row's video that :attr:`frames` picks, as VLMEvalKit sends
        them (JPEG, in memory); ItemImageError names the item and what went wrong."""
        from vlmeval_core.video.decode import VideoError, decode_frames

        decode = self.frame_cache.frames if self.frame_cache is not None else decode_frames
        with self._naming_the_item(position):
            try:
                return decode(self._video_path(position), self._frame_spec())
            except VideoError as exc:
                raise ItemImageError(str(exc)) from None

    def image_origins(self, position: int, handling: str = "vlmevalkit") -> list[str]:
        """Where each image of the row comes from, in words (nothing is decoded; a video's
        frames by index and time, from its header)."""
        index = self.frame["index"].iloc[position]
        if self.video:
            return self._frame_origins(position)
        with self._naming_the_item(position):
            sources = self._image_sources(position)
        origins = []
        for number, (source, saved_as) in enumerate(sources, 1):
            if isinstance(source, Path):
                origins.append(str(source))
                continue
            where = f"{self.path.name}: index {index}, image {number} of {len(sources)}"
            how = "the TSV's bytes" if handling == "original" else f"re-encoded as {saved_as}"
            origins.append(f"{where}, {how}")
        return origins

    def image_sizes(self, position: int) -> list[tuple[int, int]]:
        """(width, height) of the row's images from their headers only; [] if unreadable
        (and for a video, whose headers are not opened to sort items)."""
        if self.video:
            return []
        try:
            with self._naming_the_item(position):
                return [_header_size(source) for source, _ in self._image_sources(position)]
        except ItemImageError:
            return []  # the item fails when its images are decoded

    @contextmanager
    def _naming_the_item(self, position: int) -> Iterator[None]:
        try:
            yield
        except ItemImageError as exc:
            index = self.frame["index"].iloc[position]
            raise ItemImageError(f"{self.path.name}: index {index}: {exc}") from None

    def _frame_spec(self) -> FrameSpec:
        if self.frames is None:
            raise ItemImageError("a video dataset is sent as frames: give --nframe or --fps")
        return self.frames

    def _video_path(self, position: int) -> Path:
        """``<root>/<video>.mp4``, as VLMEvalKit finds it; a name leaving the root is refused."""
        value = self.frame["video"].iloc[position]
        if not isinstance(value, str) or not value:
            raise ItemImageError("the row has no video")
        root = self.path.parent.resolve()
        path = (root / f"{value}.mp4").resolve()
        if Path(value).is_absolute() or not path.is_relative_to(root):
            raise ItemImageError(
                f"video {value!r} points outside the data directory {str(root)!r}; use a "
                "name relative to it"
            )
        return path

    def _frame_origins(self, position: int) -> list[str]:
        from vlmeval_core.video.decode import VideoError, probe

        with self._naming_the_item(position):
            path = self._video_path(position)
            try:
                total, rate, indices = probe(path, self._frame_spec())
            except VideoError as exc:
                raise ItemImageError(str(exc)) from None
        return [
            f"{path.name}: frame {i} of {total} at {i / rate:.2f} s ({k} of {len(indices)})"
            for k, i in enumerate(indices, 1)
        ]

    def _image_sources(self, position: int) -> list[tuple[bytes | Path, str | None]]:
        """The encoded images of a row, each with the file name VLMEvalKit main's
        ``dump_image`` saves it under: bytes of a base64 value, or a checked file path
        (None: read as it is)."""
        row = self.frame.iloc[position]
        if "image" in self.frame.columns and isinstance(row["image"], str) and row["image"]:
            values = self._image_values(row["image"])
            names = self._saved_names(row, len(values))
            return [(_base64_bytes(v), n) for v, n in zip(values, names, strict=True)]
        if "image_path" in self.frame.columns and isinstance(row["image_path"], str):
            return [(self._safe_path(p), None) for p in _as_list(row["image_path"])]
        raise ItemImageError("the row has no image")

    def _saved_names(self, row: pd.Series, count: int) -> list[str]:
        """``image_path`` when the row has one, else ``<index>.png`` (``<index>_<i>.png`` for
        several images), as ``ImageBaseDataset.dump_image`` names them."""
        if "image_path" in self.frame.columns and isinstance(row["image_path"], str):
            names = _as_list(row["image_path"])
            if len(names) == count:
                return names
        index = row["source_index"] if "source_index" in self.frame.columns else row["index"]
        if count == 1:
            return [f"{index}.png"]
        return [f"{index}_{i}.png" for i in range(count)]

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
        except (json.JSONDecodeError, RecursionError):
            try:
                items = ast.literal_eval(text)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                raise ItemImageError("image list is neither JSON nor a Python list") from None
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            return items
        raise ItemImageError("image list must be a list of strings")
    return [text]


def _base64_bytes(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ItemImageError(f"image is not valid base64 ({exc})") from None


@contextmanager
def _opened(source: bytes | Path) -> Iterator[Image.Image]:
    """The image of ``source``, its header read and its pixel count checked, not yet decoded.

    A file must be a regular one: it is checked before it is opened (a FIFO
    would block the reader, a device never ends) and opened without blocking.
    """
    name = "image" if isinstance(source, bytes) else f"image file {str(source)!r}"
    try:
        with _binary(source) as handle, Image.open(handle) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ItemImageError(
                    f"{name} is {width}x{height} pixels, over the budget of "
                    f"{MAX_IMAGE_PIXELS:,} pixels"
                )
            yield image
    except Image.DecompressionBombError as exc:
        raise ItemImageError(f"{name} is over the pixel budget ({exc})") from None
    except (OSError, ValueError, SyntaxError, MemoryError) as exc:
        failed = "cannot be decoded" if isinstance(source, bytes) else "cannot be read"
        raise ItemImageError(f"{name} {failed} ({type(exc).__name__}: {exc})") from None


@contextmanager
def _binary(source: bytes | Path) -> Iterator[BinaryIO]:
    if isinstance(source, bytes):
        yield io.BytesIO(source)
        return
    kind = file_kind(os.stat(source).st_mode)
    if kind is not None:
        raise ItemImageError(f"image_path {str(source)!r} is {kind}, not an image file")
    fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    kind = file_kind(os.fstat(fd).st_mode)
    if kind is not None:  # swapped between the check and the open
        os.close(fd)
        raise ItemImageError(f"image_path {str(source)!r} is {kind}, not an image file")
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as handle:
        yield handle


def as_vlmevalkit_saves(source: bytes, file_name: str) -> Image.Image:
    """The image as VLMEvalKit main's ``decode_base64_to_image_file`` writes it and its model
    then reads it: RGBA, P and LA made RGB, saved in the format the file name's extension
    says (``.jpg``: JPEG at Pillow's default quality; ``.png``: PNG), read back. In memory."""
    image_format = Image.registered_extensions().get(Path(file_name).suffix.lower())
    if image_format is None:
        raise ItemImageError(f"image name {file_name!r} names no image format Pillow can write")
    with _opened(source) as image:
        converted = image.convert("RGB") if image.mode in ("RGBA", "P", "LA") else image.copy()
    saved = io.BytesIO()
    try:
        converted.save(saved, format=image_format)
    except (OSError, ValueError) as exc:  # a mode the format cannot store: CMYK as PNG
        raise ItemImageError(
            f"image ({converted.mode}) cannot be re-saved as {file_name}, as VLMEvalKit's "
            f"dump_image saves it, which fails the same way ({type(exc).__name__}: {exc}); "
            "--images original feeds the TSV's bytes"
        ) from None
    return _decoded(saved.getvalue())


def _decoded(source: bytes | Path) -> Image.Image:
    with _opened(source) as image:
        return image.convert("RGB")


def _header_size(source: bytes | Path) -> tuple[int, int]:
    with _opened(source) as image:
        return image.size


def load_tsv(
    path: str | Path,
    name: str | None = None,
    kind: str | None = None,
    *,
    warn: bool = True,
    video: bool = False,
    frames: FrameSpec | None = None,
) -> Dataset:
    """Read and check a VLMEvalKit TSV; a broken file raises UsageError naming row or column.

    The kind is ``kind``, else the registered ``name``'s, else inferred from the
    content; when the content fits another kind, one warning line says so (if ``warn``).
    A ``video`` TSV names each item's video (``video`` column), sent as ``frames`` picks.
    """
    path = Path(path)
    try:
        # As VLMEvalKit reads it ("N/A" missing, "3" beside a NaN "3.0"); the question as text
        # here, so that an empty one is refused below
        frame = read_table(path, ".tsv", (*TEXT_COLUMNS, "question"))
    except FileNotFoundError:
        raise UsageError(f"{path}: dataset file not found") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"{path}: not a readable TSV ({detail}); "
            "VLMEvalKit's format is tab-separated with a header row"
        ) from None
    check_columns(path, list(frame.columns), name, video=video)
    entry = DATASETS.get(name) if name is not None else None
    if frame.empty:
        raise UsageError(f"{path}: the file has a header but no rows; a dataset needs items")
    if entry is not None and entry.skip_missing_images and "image" in frame.columns:
        frame = frame[frame["image"].notna()]  # keeps the file's row numbers in the index
        if frame.empty:
            raise UsageError(f"{path}: no row has an image; {name} needs images")
    bad = frame["index"].isna() | ~frame["index"].fillna("").str.fullmatch(r"-?[0-9]+")
    if entry is not None and entry.text_index and bad.any():
        frame = _number_text_index(path, frame)
        bad = frame["index"].isna()
    if bad.any():
        raise UsageError(
            f"{path}: row {_file_row(frame, bad)}: index {frame['index'][bad].iloc[0]!r} is "
            "not a whole number (ASCII digits 0-9, optionally after a '-')"
        )
    too_big = frame["index"].map(lambda value: not INT64_MIN <= int(value) <= INT64_MAX)
    if too_big.any():
        raise UsageError(
            f"{path}: row {_file_row(frame, too_big)}: index {frame['index'][too_big].iloc[0]} "
            f"does not fit in 64 bits (from {INT64_MIN} to {INT64_MAX})"
        )
    frame["index"] = frame["index"].astype("int64")
    dupes = frame["index"][frame["index"].duplicated()]
    if len(dupes):
        raise UsageError(f"{path}: index {int(dupes.iloc[0])} appears more than once")
    empty = frame["question"].isna()
    if empty.any():
        raise UsageError(
            f"{path}: row {_file_row(frame, empty)} "
            f"(index {int(frame['index'][empty].iloc[0])}): empty question"
        )
    # VLMEvalKit's NaN question, in its prompt as f"Question: {question}"
    frame["question"] = frame["question"].mask(frame["question"].isin(NA_TEXTS), "nan")
    fits = infer_kind(frame)
    resolved_kind = kind or (entry.kind if entry is not None else fits)
    if resolved_kind == "mcq" and not any(c in frame.columns for c in OPTION_LETTERS):
        raise UsageError(f"{path}: a multiple-choice dataset needs option columns A, B, …")
    if resolved_kind != fits and warn:
        by_name = entry is not None and resolved_kind == entry.kind
        log.warning(kind_mismatch(path, resolved_kind, fits, name if by_name else None))
    return Dataset(
        name or path.stem,
        resolved_kind,
        path,
        frame.reset_index(drop=True),
        file_md5(path),
        prompt_style=entry.prompt if entry is not None else None,
        metric=entry.metric if entry is not None else None,
        metric_options=dict(entry.metric_options) if entry is not None else {},
        fits=fits,
        video=video,
        frames=frames,
    )


def _file_row(frame: pd.DataFrame, mask: pd.Series) -> int:
    """The row number in the file (the header is row 1) of the first row where ``mask`` holds."""
    return int(frame.index[mask.to_numpy().nonzero()[0][0]]) + 2


def _number_text_index(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """A text ``index`` (HallusionBench's ``VD_chart_1_0_0_0``) moves to ``source_index``;
    ``index`` becomes the row number, which checkpoints and merging key on."""
    source = frame["index"]
    if source.isna().any():
        raise UsageError(f"{path}: row {_file_row(frame, source.isna())}: empty index")
    frame = frame.copy()
    frame.insert(1, "source_index", source.astype(str))
    frame["index"] = [str(i) for i in range(len(frame))]
    return frame
