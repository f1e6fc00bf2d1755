"""Which datasets cannot be scored without a judge: checked at launch, before any inference."""

from __future__ import annotations

from collections.abc import Iterable

from vlmeval_core.datasets.registry import DATASETS, DatasetRef
from vlmeval_core.errors import UsageError
from vlmeval_core.judge.spec import JudgeSpec
from vlmeval_core.scoring.metrics import metric_for


def needing_judge(refs: Iterable[DatasetRef]) -> list[str]:
    """The registered datasets among ``refs`` whose metric needs a judge (MathVista, MMVet)."""
    return [
        ref.name
        for ref in refs
        if ref.path is None
        and ref.name in DATASETS
        and metric_for(DATASETS[ref.name].kind, DATASETS[ref.name].metric).needs_judge
    ]


def require_judge(refs: Iterable[DatasetRef], judge: JudgeSpec | None) -> None:
    """A UsageError (exit 2, one line) when a dataset needs a judge and none is given."""
    needing = needing_judge(refs)
    if judge is None and needing:
        raise UsageError(
            f"{', '.join(needing)} can only be scored with a judge model, as VLMEvalKit scores "
            "them: give --judge MODEL (and --judge-base URL for a server other than OpenAI's)"
        )
