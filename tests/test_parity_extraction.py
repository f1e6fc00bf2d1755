"""Extraction parity: our option-letter, Yes/No and VQA-normalisation rules against VLMEvalKit's
own functions, on thousands of generated free-text answers.

Reference: PyPI ``nvidia-vlmeval`` 26.3 (``vlmeval/utils/matching_util.py`` ``can_infer``,
``vlmeval/dataset/utils/yorn.py`` ``YOrN_Extraction``, ``vlmeval/dataset/utils/vqa_eval.py``
``process_answer``), run in the parity venv. Inputs that a rule changed on VLMEvalKit main
e8e78f05 after 26.3 applies to are left out here and pinned in test_scoring_main_rules.py.
"""

from __future__ import annotations

import random

import pytest

from parity_inputs import (
    DIGIT_PERIOD,
    choices,
    free_text,
    untouched_since_26_3,
    vqa_text,
    yes_no_text,
)
from vlmeval_core.scoring import extract_option, extract_yes_no
from vlmeval_core.scoring.vqa import normalize_answer
from vlmevalkit_reference import REFERENCE_VERSION, reference

pytestmark = pytest.mark.parity

N = 4000


def test_the_reference_is_the_pypi_build_the_tests_name():
    assert reference("version", None) == REFERENCE_VERSION


def test_option_letters_match_can_infer_on_generated_answers():
    rng = random.Random(10)
    cases = []
    while len(cases) < N:
        options = choices(rng)
        text = free_text(rng, options)
        if untouched_since_26_3(text, options):
            cases.append({"text": text, "choices": options})
    theirs = reference("can_infer", cases)
    ours = [extract_option(c["text"], c["choices"]) for c in cases]
    differ = [(c, o, t) for c, o, t in zip(cases, ours, theirs, strict=True) if o != t]
    assert differ == [], f"{len(differ)} of {N} differ, first: {differ[:3]}"
    # the generated answers reach every outcome: a letter, 'Z', and nothing
    assert {"Z", None} <= set(theirs) and len(set(theirs)) >= 5


def test_yes_no_matches_yorn_extraction_on_generated_answers():
    rng = random.Random(11)
    texts = [yes_no_text(rng) for _ in range(N)]
    theirs = [None if t == "Unknown" else t for t in reference("yorn_extraction", texts)]
    ours = [extract_yes_no(t) for t in texts]
    differ = [(t, o, r) for t, o, r in zip(texts, ours, theirs, strict=True) if o != r]
    assert differ == [], f"{len(differ)} of {N} differ, first: {differ[:3]}"
    assert set(theirs) == {"Yes", "No", None}


def test_vqa_normalisation_matches_process_answer_on_generated_answers():
    rng = random.Random(12)
    texts = [t for t in (vqa_text(rng) for _ in range(N)) if not DIGIT_PERIOD.search(t)]
    texts.append(" ".join(["end."] * 40))  # re.UNICODE as re.sub's count: 32 periods at most
    theirs = reference("process_answer", texts)
    ours = [normalize_answer(t) for t in texts]
    differ = [(t, o, r) for t, o, r in zip(texts, ours, theirs, strict=True) if o != r]
    assert differ == [], f"{len(differ)} of {len(texts)} differ, first: {differ[:3]}"
