"""The table of metrics: every kind's default and every metric a registered benchmark names.

Each entry says how an item is read and credited, how the table is formed,
VLMEvalKit's result-file suffix and the scale of ``overall``; the driver
(:func:`vlmeval_core.scoring.driver.score_frame`) runs them all. References
are to VLMEvalKit main at :data:`~vlmeval_core.scoring.metric.REFERENCE_COMMIT`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pandas as pd

from vlmeval_core.errors import UsageError
from vlmeval_core.scoring import (
    circular,
    hallusion,
    mathvista,
    mcq,
    mme,
    mmmu,
    mmvet,
    ocrbench,
    pope,
    vqa,
    yorn,
)
from vlmeval_core.scoring import vqa_metrics as partial
from vlmeval_core.scoring.metric import REFERENCE_COMMIT, Metric
from vlmeval_core.scoring.weighted import PER_ITEM_CREDIT


def _ref(what: str) -> str:
    return f"VLMEvalKit {REFERENCE_COMMIT}: {what}"


def _judged(rule: str) -> Callable[[pd.DataFrame, Any], Any]:
    """The judged reading ``"<module>:<function>"`` of :mod:`vlmeval_core.judge`, imported on
    use (those modules build on this package's rules, so they cannot be imported here)."""
    module, name = rule.split(":")

    def read(items: pd.DataFrame, judge: Any) -> Any:
        return getattr(importlib.import_module(f"vlmeval_core.judge.{module}"), name)(items, judge)

    read.__qualname__ = read.__name__ = name
    return read


_MCQ_RULE = "can_infer (vlmeval/utils/matching_util.py)"
_YORN_RULE = "YOrN_Extraction (vlmeval/dataset/utils/yorn.py)"
_VQA_RULE = "process_line, hit_calculate (vlmeval/dataset/utils/vqa_eval.py)"

TABLE: tuple[Metric, ...] = (
    Metric(
        "accuracy",
        "mcq",
        mcq.read_option,
        mcq.letter_credit,
        mcq.summarise_mcq,
        "_acc",
        _ref(f"{_MCQ_RULE}, mcq_vanilla_eval and report_acc (multiple_choice.py)"),
        kind_default=True,
        judged=_judged("mcq:judged_options"),
    ),
    Metric(
        "accuracy",
        "yorn",
        yorn.read_yes_no,
        yorn.yes_no_credit,
        yorn.summarise_yorn,
        "_score",
        _ref(f"{_YORN_RULE}, ImageYORNDataset.evaluate and default_rating"),
        kind_default=True,
        judged=_judged("yorn:judged_yes_no"),
    ),
    Metric(
        "exact_match",
        "vqa",
        vqa.read_normalised,
        vqa.exact_match_credit,
        vqa.summarise_vqa,
        "_acc",
        "vlmeval: exact match after VLMEvalKit's process_answer (VLMEvalKit "
        f"{REFERENCE_COMMIT} would use vqa_score, which gives a single answer 0)",
        kind_default=True,
    ),
    Metric(
        "circular_accuracy",
        "mcq",
        mcq.read_option,
        mcq.letter_credit,
        circular.summarise_circular,
        "_acc",
        _ref(f"{_MCQ_RULE}, mcq_circular_eval and report_acc (multiple_choice.py)"),
        resampling=circular.CIRCULAR_RESAMPLING,
        judged=_judged("mcq:judged_circular"),
    ),
    Metric(
        "mmmu_accuracy",
        "mcq",
        mmmu.read_mmmu_option,
        mmmu.mmmu_credit,
        mmmu.summarise_mmmu,
        "_acc",
        _ref(f"{_MCQ_RULE}, MMMU_preproc, mcq_vanilla_eval and report_acc"),
        options={"primary_split": "validation"},
        resampling=mmmu.MMMU_RESAMPLING,
    ),
    Metric(
        "mme_score",
        "yorn",
        yorn.read_yes_no,
        yorn.yes_no_credit,
        mme.summarise_mme,
        "_score",
        _ref(f"{_YORN_RULE} and MME_rating"),
        out_of=2800,
        resampling=mme.MME_RESAMPLING,
        judged=_judged("yorn:judged_yes_no"),
    ),
    Metric(
        "pope_f1",
        "yorn",
        yorn.read_yes_no,
        yorn.yes_no_credit,
        pope.summarise_pope,
        "_score",
        _ref(f"{_YORN_RULE} and POPE_rating"),
        resampling=pope.POPE_RESAMPLING,
        judged=_judged("yorn:judged_yes_no"),
    ),
    Metric(
        "hallusion_accuracy",
        "yorn",
        yorn.read_yes_no,
        yorn.yes_no_credit,
        hallusion.summarise_hallusion,
        "_score",
        _ref(f"{_YORN_RULE} and Hallusion_rating"),
        resampling=hallusion.HALLUSION_RESAMPLING,
        judged=_judged("yorn:judged_yes_no"),
    ),
    Metric(
        "vqa_score",
        "vqa",
        vqa.read_normalised,
        partial.vqa_score_credit,
        partial.summarise_scores,
        "_acc",
        _ref(f"{_VQA_RULE}, method vqa_score"),
        partial_credit=True,
        resampling=PER_ITEM_CREDIT,
    ),
    Metric(
        "anls",
        "vqa",
        partial.read_trimmed,
        partial.anls_credit,
        partial.summarise_scores,
        "_acc",
        _ref(f"{_VQA_RULE}, method anls"),
        partial_credit=True,
        resampling=PER_ITEM_CREDIT,
        options={"threshold": 0.5},
    ),
    Metric(
        "relaxed_accuracy",
        "vqa",
        partial.read_trimmed,
        partial.relaxed_credit,
        partial.summarise_scores,
        "_acc",
        _ref(f"{_VQA_RULE}, method relaxed_accuracy"),
        partial_credit=True,
        resampling=PER_ITEM_CREDIT,
        options={"tolerance": 0.05},
    ),
    Metric(
        "ocrbench_score",
        "vqa",
        ocrbench.read_ocr_text,
        ocrbench.ocrbench_credit,
        ocrbench.summarise_ocrbench,
        "_score",
        _ref("OCRBench.evaluate (vlmeval/dataset/image_vqa.py)"),
        out_of=1000,
        resampling=ocrbench.OCRBENCH_RESAMPLING,
    ),
    Metric(
        "mathvista_accuracy",
        "vqa",
        mathvista.prefetch_reading,
        mathvista.mathvista_credit,
        mathvista.summarise_mathvista,
        "_score",
        _ref("MathVista_auxeval, post_check and MathVista_acc (utils/mathvista.py)"),
        judged=_judged("mathvista:judged_answers"),
        needs_judge=True,
    ),
    Metric(
        "mmvet_score",
        "vqa",
        mmvet.no_rule,
        mmvet.mmvet_credit,
        mmvet.summarise_mmvet,
        "_score",
        _ref("MMVet_auxeval and MMVet_acc (utils/mmvet.py)"),
        partial_credit=True,
        resampling=PER_ITEM_CREDIT,
        judged=_judged("mmvet:judged_scores"),
        needs_judge=True,
    ),
)
"""Every metric; (kind, name) is unique, and each kind has one ``kind_default``. An entry
with ``judged`` asks a judge, when the run has one, for the items its rules cannot read (MMMU's
and the VQA metrics' never do: VLMEvalKit's MMMU preprocessing and its VQA metrics are rules);
one with ``needs_judge`` cannot be scored without (MathVista, MMVet)."""

KIND_DEFAULTS: dict[str, Metric] = {m.kind: m for m in TABLE if m.kind_default}
"""Dataset kind -> the metric of a dataset that names none."""


def metric_for(kind: str, name: str | None = None) -> Metric:
    """The metric ``name`` of a dataset of ``kind``; its kind's default when ``name`` is None.

    An unknown kind or name, or a metric of another kind, is a UsageError.
    """
    if kind not in KIND_DEFAULTS:
        raise UsageError(
            f"unknown dataset kind {kind!r}; expected one of {', '.join(KIND_DEFAULTS)}"
        )
    if name is None:
        return KIND_DEFAULTS[kind]
    for metric in TABLE:
        if metric.name == name and metric.kind == kind:
            return metric
    names = sorted({m.name for m in TABLE if m.kind == kind})
    raise UsageError(
        f"unknown metric {name!r} for a {kind} dataset; expected one of {', '.join(names)}"
    )


def points_out_of(name: str) -> int | None:
    """The most points of metric ``name`` when its ``overall`` counts points, else None."""
    return next((m.out_of for m in TABLE if m.name == name and m.out_of is not None), None)
