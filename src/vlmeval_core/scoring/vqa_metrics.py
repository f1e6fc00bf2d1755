"""Open-answer benchmark metrics with partial credit, as VLMEvalKit's ``vqa_eval`` computes them.

Each item gets a ``score`` in [0, 1] (``correct`` means full credit):

* ``vqa_score`` (TextVQA): the prediction and each of the human answers are
  normalised (:func:`~vlmeval_core.scoring.vqa.normalize_answer`); for each
  answer, the number of the *other* answers equal to the prediction, divided
  by 3 and capped at 1; the item's score is the mean over the answers. With
  ten answers this is the standard VQA accuracy. (An item with one answer
  always scores 0, as in VLMEvalKit.)
* ``anls`` (DocVQA, InfoVQA): for each answer, the Levenshtein distance
  between the lower-cased, whitespace-collapsed answer and prediction,
  divided by the longer of the two *unnormalised* lengths; the item's score
  is 1 minus the smallest such distance, or 0 when that is below
  ``threshold`` (0.5).
* ``relaxed_accuracy`` (ChartQA): the prediction (trimmed) is right for an
  answer when both read as numbers (``12.5``, ``40%`` = 0.4) and differ by at
  most ``tolerance`` (5%) of the answer, or, when either is no number or the
  answer is 0, when they are equal ignoring case; the item's score is 1 if it
  is right for any answer.

``answer`` holds one answer or a list of them (a JSON or Python list literal
in a string). An item with an error scores 0 and counts under ``errors``; an empty
prediction is unparsed but scored as VLMEvalKit scores it (it can only match
an empty answer). The table is VLMEvalKit's ``ImageVQADataset`` ``_acc.csv``: one row;
with a ``split`` column one column per split then ``Overall``, else
``Overall`` then one per category; in percent.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from vlmeval_core.scoring.common import as_text, group_keys, one_row_table, sorted_groups
from vlmeval_core.scoring.metric import Options, Row, Summary
from vlmeval_core.scoring.vqa import acceptable_answers, normalize_answer


def vqa_score(prediction: str, answers: list[str]) -> float:
    """The VQA accuracy of ``prediction`` against the human ``answers``."""
    pred = normalize_answer(prediction)
    truth = [normalize_answer(a) for a in answers]
    if not truth:
        return 0.0
    matches = []
    for i in range(len(truth)):
        others = sum(1 for j, t in enumerate(truth) if j != i and t == pred)
        matches.append(min(1.0, others / 3))
    return float(sum(matches) / len(matches))


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions of one character each)."""
    if len(a) > len(b):
        a, b = b, a
    previous = list(range(len(a) + 1))
    for j, cb in enumerate(b, start=1):
        current = [j]
        for i, ca in enumerate(a, start=1):
            cost = 0 if ca == cb else 1
            current.append(min(previous[i] + 1, current[i - 1] + 1, previous[i - 1] + cost))
        previous = current
    return previous[-1]


def anls_distance(answer: str, prediction: str) -> float:
    """VLMEvalKit's normalised distance: lengths of the texts as given, distance of the
    lower-cased, whitespace-collapsed ones."""
    gt = " ".join(answer.strip().lower().split())
    det = " ".join(prediction.strip().lower().split())
    length = max(len(answer.upper()), len(prediction.upper()))
    return 0.0 if length == 0 else levenshtein(gt, det) / length


def anls_score(prediction: str, answers: list[str], threshold: float) -> float:
    """1 - the smallest distance to an answer, or 0 when that is below ``threshold``."""
    if not answers:
        return 0.0
    best = 1.0 - min(anls_distance(a, prediction) for a in answers)
    return 0.0 if best < threshold else float(best)


def _number(text: str) -> float | None:
    try:
        if text.endswith("%"):
            return float(text.rstrip("%")) / 100.0
        return float(text)
    except ValueError:
        return None


def relaxed_match(answer: str, prediction: str, tolerance: float) -> bool:
    """ChartQA's relaxed correctness of ``prediction`` for one ``answer``."""
    pred, target = _number(prediction), _number(answer)
    if pred is not None and target:
        return abs(pred - target) / abs(target) <= tolerance
    return prediction.lower() == answer.lower()


def relaxed_score(prediction: str, answers: list[str], tolerance: float) -> float:
    """1.0 when the trimmed prediction is relaxed-correct for any answer, else 0.0."""
    pred = prediction.strip()
    return 1.0 if any(relaxed_match(a, pred, tolerance) for a in answers) else 0.0


def read_trimmed(row: Row) -> str | None:
    """The trimmed prediction; None when it is blank."""
    return as_text(row["prediction"]).strip() or None


def vqa_score_credit(row: Row, parsed: Any, options: Options) -> float:
    """TextVQA: :func:`vqa_score` of the prediction against the row's answers."""
    return vqa_score(as_text(row["prediction"]), acceptable_answers(row["answer"]))


def anls_credit(row: Row, parsed: Any, options: Options) -> float:
    """DocVQA / InfoVQA: :func:`anls_score` with the ``threshold`` option."""
    answers = acceptable_answers(row["answer"])
    return anls_score(as_text(row["prediction"]), answers, options["threshold"])


def relaxed_credit(row: Row, parsed: Any, options: Options) -> float:
    """ChartQA: :func:`relaxed_score` with the ``tolerance`` option."""
    answers = acceptable_answers(row["answer"])
    return relaxed_score(as_text(row["prediction"]), answers, options["tolerance"])


def _mean(values: Any) -> float:
    values = [float(v) for v in values]
    return float(sum(values) / len(values)) if values else 0.0


def _group_means(items: pd.DataFrame, column: str) -> dict[str, float]:
    if column not in items.columns:
        return {}
    keys = group_keys(items, column)
    return {
        g: _mean(v for k, v in zip(keys, items["score"], strict=True) if k == g)
        for g in sorted_groups(keys)
    }


def summarise_scores(items: pd.DataFrame, options: Options) -> Summary:
    """Mean credit overall and per group, and the ``ImageVQADataset`` table."""
    scores: dict[str, Any] = {
        "overall": _mean(items["score"]),
        "by_category": _group_means(items, "category"),
        "by_split": _group_means(items, "split"),
    }
    return Summary(scores, score_table(items))


def score_table(items: pd.DataFrame) -> pd.DataFrame:
    """VLMEvalKit's ``ImageVQADataset`` table of the items' ``score`` (percentages)."""
    cells: dict[str, float] = {}
    if "split" in items.columns:
        cells.update({k: v * 100 for k, v in _group_means(items, "split").items()})
        cells["Overall"] = _mean(items["score"]) * 100
    else:
        cells["Overall"] = _mean(items["score"]) * 100
        cells.update({k: v * 100 for k, v in _group_means(items, "category").items()})
    return one_row_table(cells)
