"""One dataset evaluated from its predictions: joined to its items, scored, its files written.

:func:`evaluate_dataset` is the one path from predictions to a dataset's result
files: rank 0's merge after the ranks predicted (:mod:`vlmeval_core.run_datasets`)
and ``vlmeval score`` of predictions made elsewhere both call it. A registered
benchmark is scored with its metric (VLMEvalKit's rule for it), anything else by
its kind (:func:`vlmeval_core.scoring.score_dataset`); the files are
:func:`vlmeval_core.report.write_dataset_results`'s. With a judge (``--judge``), it is asked
here, through :class:`vlmeval_core.judge.client.Judge`, its answers kept in
``<dataset>/judge-cache.jsonl`` as they arrive; the predictions are already on disk (the
checkpoints, or the file ``vlmeval score`` reads), so no judge failure loses one. Torch-free.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vlmeval_core.checkpoints import ITEM_FIELDS
from vlmeval_core.datasets.tsv import Dataset
from vlmeval_core.errors import UsageError
from vlmeval_core.judge.spec import JudgeSpec
from vlmeval_core.report import DROPPED_COLUMNS, write_dataset_results
from vlmeval_core.scoring import score_dataset
from vlmeval_core.scoring.common import ScoreResult, as_text

CARRIED = ("error", *ITEM_FIELDS)
"""Prediction columns kept besides the prediction: a vlmeval item's failure, and its prompt,
image count, generated tokens and finish reason."""


def evaluate_dataset(
    dataset: Dataset,
    predictions: pd.DataFrame,
    output: Path,
    model_name: str,
    origin: str | Path,
    judge: JudgeSpec | None = None,
) -> ScoreResult:
    """Join ``predictions`` to ``dataset``'s items (:func:`join_predictions`), score them (with
    ``judge`` where the metric uses one) and write the results to ``<output>/<dataset>/``
    under ``model_name``'s file names (and the judge's, when it was asked)."""
    frame = join_predictions(dataset, predictions, origin)
    if judge is None:
        result = score_dataset(dataset.kind, frame, dataset.metric, dataset.metric_options)
        write_dataset_results(output, model_name, dataset.name, result)
        return result
    from vlmeval_core.judge.cache import CACHE_FILE, JudgeCache
    from vlmeval_core.judge.client import Judge

    asker = Judge(judge, JudgeCache(Path(output) / dataset.name / CACHE_FILE))
    try:
        result = score_dataset(
            dataset.kind, frame, dataset.metric, dataset.metric_options, judge=asker
        )
    finally:
        asker.close()
    judged = "judge_fallbacks" in result.scores
    if judged:
        result.scores["judge"] = {
            "model": judge.model,
            "base_url": judge.base_url,
            "requests": asker.requests,
            "failed_requests": asker.failed_requests,
            "models": asker.server_models,
        }
    write_dataset_results(output, model_name, dataset.name, result, judge.model if judged else None)
    return result


def join_predictions(
    dataset: Dataset, predictions: pd.DataFrame, origin: str | Path
) -> pd.DataFrame:
    """The dataset's rows (no images) with each item's ``prediction`` (and :data:`CARRIED`).

    Items are matched by ``index``; a dataset whose index is text (HallusionBench,
    kept as ``source_index``) also matches a VLMEvalKit file keyed by that text.
    Every item needs one prediction, and every prediction an item: anything else is
    a UsageError naming ``origin``, where the predictions come from.
    """
    keys = [as_text(k) for k in predictions["index"]]
    repeated = pd.Series(keys)[pd.Series(keys).duplicated()]
    if len(repeated):
        raise UsageError(f"{origin}: index {repeated.iloc[0]} appears more than once")
    frame = dataset.frame.drop(columns=[c for c in DROPPED_COLUMNS if c in dataset.frame.columns])
    key_column = "index"
    if "source_index" in frame.columns and not all(k.lstrip("-").isdigit() for k in keys):
        key_column = "source_index"
    item_keys = [as_text(k) for k in frame[key_column]]
    by_key = dict(zip(keys, predictions.to_dict("records"), strict=True))
    missing = [k for k in item_keys if k not in by_key]
    if missing:
        raise UsageError(
            f"{origin}: no prediction for index {missing[0]} of {dataset.name} "
            f"({len(missing)} of {len(item_keys)} items have none); every item needs one"
        )
    extra = sorted(set(keys) - set(item_keys))
    if extra:
        raise UsageError(
            f"{origin}: index {extra[0]} is not an item of {dataset.name} "
            f"({dataset.path}); is this the dataset the predictions were made on?"
        )
    joined = {"prediction": [as_text(by_key[k]["prediction"]) for k in item_keys]}
    for column in CARRIED:
        if column in predictions.columns:
            joined[column] = [by_key[k][column] for k in item_keys]
    return frame.assign(**joined)
