"""The benchmarks ``--data`` can name, as data: a registry entry is a few declared fields.

A dataset is either a registered name (:data:`DATASETS`) or a path to a local
VLMEvalKit-format TSV, optionally with its kind after a colon
(``my.tsv:vqa``); without one the kind is inferred from the columns when the
file is loaded. ``my.tsv:video`` is a video TSV (a ``video`` column, each item's
``<TSV dir>/<video>.mp4``), sampled by ``--nframe`` or ``--fps``
(:mod:`vlmeval_core.video.sampling`); its answers' kind is inferred.
Torch-free, so the launcher can check names before starting.

Two sources: ``synthetic`` (the Shapes benchmarks, generated on demand) and
``download`` (VLMEvalKit's published TSVs: the URL and md5 below are the ones
VLMEvalKit's ``vlmeval/dataset/image_*.py`` declare, so a run here reads the
very file a VLMEvalKit run reads). How a downloaded benchmark is prompted and
scored is declared here too: ``prompt`` names a prompt style of
:mod:`vlmeval_core.datasets.prompts`, ``metric`` a metric of
:mod:`vlmeval_core.scoring` (``metric_options`` are its keyword arguments).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlparse

from pydantic import Field

from vlmeval_core.errors import UsageError
from vlmeval_core.names import find_name, suggest
from vlmeval_core.run_names import SAFE_NAME_PATTERN
from vlmeval_core.video.sampling import FrameSpec

Kind = Literal["mcq", "yorn", "vqa"]
KINDS = dict(zip(get_args(Kind), ("MCQ", "Y/N", "VQA"), strict=True))
"""Our kind -> VLMEvalKit's ``DATASET_TYPE``, the label its users know (also what a prompt
family's :class:`~vlmeval_core.prompt_families.family.Benchmark` reports)."""
VIDEO_SUFFIX = "video"
"""``--data my.tsv:video``: a local video TSV."""


@dataclass(frozen=True)
class DatasetEntry:
    """A registered benchmark.

    ``source`` says how its TSV comes to the data dir. For ``download``:
    ``url`` and ``md5`` as VLMEvalKit publishes them (``md5`` None where it
    publishes none: the sha256 of the first download is then recorded beside
    the file). ``prompt`` is a prompt style (None: the kind's own); ``metric``
    a metric name of :mod:`vlmeval_core.scoring` with ``metric_options``, only those that
    differ from the metric's own defaults (the metric states those once).
    ``text_index``: the file's ``index`` column holds text, not numbers (kept
    as ``source_index``); ``skip_missing_images``: rows without an image are
    left out, as VLMEvalKit's image datasets do; ``columns``: columns its
    metric needs besides the usual ones (checked when the file is loaded).
    """

    name: str
    kind: str
    metric: str
    source: str
    description: str = ""
    url: str | None = None
    md5: str | None = None
    prompt: str | None = None
    metric_options: Mapping[str, Any] = field(default_factory=dict)
    text_index: bool = False
    skip_missing_images: bool = False
    columns: tuple[str, ...] = ()
    video: bool = False
    """Items are videos (a ``video`` column), sampled by ``--nframe`` or ``--fps``."""

    @property
    def file_name(self) -> str:
        """The TSV's name in the data dir, VLMEvalKit's ``<name>.tsv``."""
        return f"{self.name}.tsv"

    @property
    def legacy_file_name(self) -> str | None:
        """The name older VLMEvalKit versions saved it under (the URL's last part)."""
        if self.url is None:
            return None
        legacy = Path(urlparse(self.url).path).name
        return legacy if legacy and legacy != self.file_name else None

    @property
    def prompt_style(self) -> str:
        return self.prompt or self.kind


_OPENCOMPASS = "https://opencompass.openxlab.space/utils"


def _vlmevalkit(
    name: str,
    kind: str,
    metric: str,
    url: str,
    md5: str | None,
    description: str,
    *,
    prompt: str,
    **details: Any,
) -> DatasetEntry:
    return DatasetEntry(
        name,
        kind,
        metric,
        "download",
        description,
        url=url,
        md5=md5,
        prompt=prompt,
        skip_missing_images=True,
        **details,
    )


def _mcq(
    name: str,
    url: str,
    md5: str | None,
    description: str,
    *,
    metric: str = "accuracy",
    prompt: str = "mcq",
    **details: Any,
) -> DatasetEntry:
    return _vlmevalkit(name, "mcq", metric, url, md5, description, prompt=prompt, **details)


def _mmbench(name: str, md5: str, description: str) -> DatasetEntry:
    return _mcq(
        name,
        f"{_OPENCOMPASS}/benchmarks/MMBench/{name}.tsv",
        md5,
        description,
        metric="circular_accuracy",
    )


DATASETS: dict[str, DatasetEntry] = {
    e.name: e
    for e in [
        DatasetEntry(
            "ShapesMCQ",
            "mcq",
            "accuracy",
            "synthetic",
            "rendered shapes: colour, shape and count, 4 options",
        ),
        DatasetEntry(
            "ShapesYN",
            "yorn",
            "accuracy",
            "synthetic",
            "rendered shapes: colour, shape and count, yes/no",
        ),
        DatasetEntry(
            "ShapesVQA",
            "vqa",
            "exact_match",
            "synthetic",
            "rendered shapes: colour, shape and count, one word",
        ),
        DatasetEntry(
            "ShapesVideo",
            "mcq",
            "accuracy",
            "synthetic",
            "moving shapes, 4 s videos: direction, order of appearance, count; 4 options",
            video=True,
        ),
        # ------------------------------------------------ multiple choice
        _mmbench("MMBench_DEV_EN", "b6caf1133a01c6bb705cf753bb527ed8", "MMBench v1.0 dev, English"),
        _mmbench("MMBench_DEV_CN", "08b8fc3324a5ed74155350f57be69fbd", "MMBench v1.0 dev, Chinese"),
        _mmbench(
            "MMBench_DEV_EN_V11", "30c05be8f2f347a50be25aa067248184", "MMBench v1.1 dev, English"
        ),
        _mmbench(
            "MMBench_DEV_CN_V11", "593f9b5f6bea453d870a798b34ae4f37", "MMBench v1.1 dev, Chinese"
        ),
        _mcq(
            "MMStar",
            f"{_OPENCOMPASS}/VLMEval/MMStar.tsv",
            "e1ecd2140806c1b1bbf54b43372efb9e",
            "vision-indispensable multiple choice, 6 abilities",
        ),
        _mcq(
            "SEEDBench_IMG",
            f"{_OPENCOMPASS}/benchmarks/SEEDBench/SEEDBench_IMG.tsv",
            "68017231464752261a2526d6ca3a10c0",
            "SEED-Bench image questions, 9 dimensions",
        ),
        _mcq(
            "AI2D_TEST",
            f"{_OPENCOMPASS}/VLMEval/AI2D_TEST.tsv",
            "0f593e0d1c7df9a3d69bf1f947e71975",
            "AI2 science diagrams, test split",
        ),
        _mcq(
            "ScienceQA_VAL",
            f"{_OPENCOMPASS}/benchmarks/ScienceQA/ScienceQA_VAL.tsv",
            "96320d05e142e585e7204e72affd29f3",
            "ScienceQA image questions, validation split",
        ),
        _mcq(
            "ScienceQA_TEST",
            f"{_OPENCOMPASS}/benchmarks/ScienceQA/ScienceQA_TEST.tsv",
            "e42e9e00f9c59a80d8a5db35bc32b71f",
            "ScienceQA image questions, test split",
        ),
        _mcq(
            "RealWorldQA",
            f"{_OPENCOMPASS}/VLMEval/RealWorldQA.tsv",
            "4de008f55dc4fd008ca9e15321dc44b7",
            "real-world spatial understanding (xAI)",
        ),
        _mcq(
            "MMMU_DEV_VAL",
            f"{_OPENCOMPASS}/VLMEval/MMMU_DEV_VAL.tsv",
            "585e8ad75e73f75dcad265dfd0417d64",
            "college-level multi-discipline, dev + validation; scored on validation",
            metric="mmmu_accuracy",
            prompt="mmmu",
        ),
        _mcq(
            "A-OKVQA",
            "https://huggingface.co/datasets/Allen8/A-OKVQA/resolve/main/a-okvqa.tsv",
            None,
            "outside-knowledge VQA, multiple-choice form",
        ),
        # ------------------------------------------------ yes / no
        _vlmevalkit(
            "MME",
            "yorn",
            "mme_score",
            f"{_OPENCOMPASS}/VLMEval/MME.tsv",
            "b36b43c3f09801f5d368627fb92187c3",
            "perception + cognition, 14 subtasks, acc and acc+ per image",
            prompt="question",
            columns=("category", "image_path"),
        ),
        _vlmevalkit(
            "POPE",
            "yorn",
            "pope_f1",
            f"{_OPENCOMPASS}/VLMEval/POPE.tsv",
            "c12f5acb142f2ef1f85a26ba2fbe41d5",
            "object hallucination: random / popular / adversarial",
            prompt="question",
        ),
        _vlmevalkit(
            "HallusionBench",
            "yorn",
            "hallusion_accuracy",
            f"{_OPENCOMPASS}/VLMEval/HallusionBench.tsv",
            "0c23ac0dc9ef46832d7a24504f2a0c7c",
            "language hallucination and visual illusion: aAcc, fAcc, qAcc",
            prompt="question",
            text_index=True,
        ),
        # ------------------------------------------------ open answers
        _vlmevalkit(
            "TextVQA_VAL",
            "vqa",
            "vqa_score",
            f"{_OPENCOMPASS}/VLMEval/TextVQA_VAL.tsv",
            "b233b31f551bbf4056f2f955da3a92cd",
            "reading text in natural images, 10 human answers",
            prompt="vqa",
        ),
        _vlmevalkit(
            "DocVQA_VAL",
            "vqa",
            "anls",
            f"{_OPENCOMPASS}/VLMEval/DocVQA_VAL.tsv",
            "d5ee77e1926ff10690d469c56b73eabf",
            "document images, validation split",
            prompt="vqa",
        ),
        _vlmevalkit(
            "InfoVQA_VAL",
            "vqa",
            "anls",
            f"{_OPENCOMPASS}/VLMEval/InfoVQA_VAL.tsv",
            "2342e9c225222f0ef4dec545ebb126fe",
            "infographics, validation split",
            prompt="vqa",
        ),
        _vlmevalkit(
            "ChartQA_TEST",
            "vqa",
            "relaxed_accuracy",
            f"{_OPENCOMPASS}/VLMEval/ChartQA_TEST.tsv",
            "c902e0aa9be5582a7aad6dcf52734b42",
            "charts, test split; numbers within 5%",
            prompt="vqa",
        ),
        _vlmevalkit(
            "OCRBench",
            "vqa",
            "ocrbench_score",
            f"{_OPENCOMPASS}/VLMEval/OCRBench.tsv",
            "e953d98a987cc6e26ef717b61260b778",
            "OCR abilities, 1000 questions, score out of 1000",
            prompt="question",
            columns=("category",),
        ),
        # ------------------------------------------------ judged (a judge model scores them)
        _vlmevalkit(
            "MathVista_MINI",
            "vqa",
            "mathvista_accuracy",
            f"{_OPENCOMPASS}/VLMEval/MathVista_MINI.tsv",
            "f199b98e178e5a2a20e7048f5dcb0464",
            "math reasoning in visual contexts, testmini (1000); needs --judge",
            prompt="question",
            columns=("question_type", "answer_type", "choices", "answer_option", "task", "skills"),
        ),
        _vlmevalkit(
            "MMVet",
            "vqa",
            "mmvet_score",
            f"{_OPENCOMPASS}/VLMEval/MMVet.tsv",
            "748aa6d4aa9d4de798306a63718455e3",
            "integrated capabilities, open answers graded 0-1; needs --judge",
            prompt="question",
            columns=("category",),
        ),
    ]
}


@dataclass(frozen=True)
class DatasetRef:
    """What a plan says about one dataset: a registered ``name``, or a local ``path``.

    ``kind`` is None for a local TSV whose kind is inferred when it is loaded.
    The annotations are the plan's schema for it (:mod:`vlmeval_core.run_plan`).
    """

    __pydantic_config__ = {"extra": "forbid", "strict": True}  # noqa: RUF012

    name: Annotated[str, Field(pattern=SAFE_NAME_PATTERN)]
    path: Annotated[str, Field(min_length=1)] | None = None
    kind: Kind | None = None
    video: bool = False
    """Items are videos, sent as the frames ``nframe`` or ``fps`` picks (at most one set)."""
    nframe: Annotated[int, Field(ge=1)] | None = None
    fps: Annotated[float, Field(gt=0)] | None = None

    def __post_init__(self) -> None:
        if not self.video and (self.nframe, self.fps) != (None, None):
            raise ValueError(f"{self.name}: nframe and fps are for a video dataset")
        if self.nframe is not None and self.fps is not None:
            raise ValueError(f"{self.name}: give nframe or fps, not both")

    @property
    def frames(self) -> FrameSpec | None:
        """How the frames are sampled; None for images, or a video without a setting yet."""
        if self.nframe is None and self.fps is None:
            return None
        return FrameSpec(nframe=self.nframe or 0, fps=self.fps or 0.0)

    def to_dict(self) -> dict[str, Any]:
        """As plan.json holds it; an image dataset's has no video fields (as before them)."""
        raw: dict[str, Any] = {"name": self.name, "path": self.path, "kind": self.kind}
        if self.video:
            raw.update(video=True, nframe=self.nframe, fps=self.fps)
        return raw


def resolve_dataset(spec: str, nframe: int | None = None, fps: float | None = None) -> DatasetRef:
    """Resolve a ``--data`` value; an unknown name raises UsageError naming the closest ones.

    ``nframe``/``fps`` (``--nframe``/``--fps``) apply to a video dataset only; one
    without either resolves too (``vlmeval score`` needs no frames), which ``vlmeval eval``
    refuses (:func:`check_frames`).
    """
    if nframe is not None and fps is not None:
        raise UsageError("--nframe and --fps: give one, not both (VLMEvalKit's rule)")
    registered = find_name(spec, DATASETS)
    if registered is not None:
        entry = DATASETS[registered]
        if entry.video:
            return DatasetRef(entry.name, None, entry.kind, True, nframe, fps)
        return DatasetRef(entry.name, None, entry.kind)
    path_text, kind, video = spec, None, False
    head, sep, tail = spec.rpartition(":")
    if sep and tail.lower() in KINDS:
        path_text, kind = head, tail.lower()
    elif sep and tail.lower() == VIDEO_SUFFIX:
        path_text, video = head, True
    path = Path(path_text).expanduser()
    if path.suffix.lower() == ".tsv":
        if not path.is_file():
            raise UsageError(f"--data {spec!r}: no such TSV file {str(path)!r}")
        if not video:
            return DatasetRef(path.stem, str(path.resolve()), kind)
        return DatasetRef(path.stem, str(path.resolve()), None, True, nframe, fps)
    raise UsageError(
        f"--data {spec!r} is not a registered dataset or a .tsv file{suggest(spec, DATASETS)}; "
        "`vlmeval list datasets` shows the registered names"
    )


def check_frames(refs: tuple[DatasetRef, ...], nframe: int | None, fps: float | None) -> None:
    """What ``vlmeval eval`` asks of ``--nframe``/``--fps``: a video dataset has a setting,
    and a setting is given only for a video dataset; a UsageError otherwise."""
    for value, name in ((nframe, "--nframe"), (fps, "--fps")):
        if value is not None and value <= 0:
            raise UsageError(f"{name} {value}: give a number above 0")
    if (nframe is not None or fps is not None) and not any(r.video for r in refs):
        raise UsageError(
            "--nframe and --fps sample video datasets, and --data names none (a local video "
            "TSV is -d path.tsv:video)"
        )
    for ref in refs:
        if ref.video and ref.frames is None:
            raise UsageError(
                f"--data {ref.name}: a video dataset needs --nframe N (N frames spread over "
                "each video) or --fps F (F frames a second), as VLMEvalKit does"
            )
