"""Rule-based answer extraction from free model output: an option letter, or Yes / No.

These follow VLMEvalKit's "exact_matching" path (no judge model) as on its main
branch at commit e8e78f05 (:data:`vlmeval_core.scoring.metric.REFERENCE_COMMIT`):
``vlmeval/utils/matching_util.py`` (``can_infer``, ``can_infer_option``,
``can_infer_text``) and ``vlmeval/dataset/utils/yorn.py`` (``YOrN_Extraction``).

Option letter (:func:`extract_option`), in this order:

1. An output holding one of VLMEvalKit's canned refusals ("Cannot determine the
   answer", ...) reads as ``'Z'``.
2. Each of ``.()[],:;!*#{}`` becomes a space and the text is split on
   whitespace. If exactly one of the options' letters is among the tokens
   (upper case only: "b" is not a letter token) and its first occurrence is
   among the last four tokens, that letter is the answer. With no letter
   token but a lone ``Z`` token, the answer is ``'Z'``.
3. Otherwise ``(?i)(?:correct\\s+)?answer\\s+is\\s+\\**([ABCD])\\**`` is
   searched; a match whose letter (upper-cased) is an option gives it
   ("the answer is c" -> C; note it has no word boundary: "answer is a
   cat" reads A).
4. Otherwise, unless the output is longer than twice the options' texts
   together, the option texts are tried: each, lower-cased, looked for as a
   substring of the lower-cased output. Exactly one found -> its letter.

``'Z'`` is VLMEvalKit's "no answer" letter: it is never right unless the
answer is Z. The "A might be a quantifier" check, which runs only with
``VERBOSE`` set, is left out.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

from vlmeval_core.scoring.vqa import process_punctuation

_SEPARATORS = str.maketrans(dict.fromkeys(".()[],:;!*#{}", " "))
REFUSALS = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)
"""Outputs that read as ``'Z'`` wherever they occur in the text."""
API_FAILURE = "Failed to obtain answer via API"
"""An output holding this gives no letter token (only the option texts may still match)."""
NO_ANSWER = "Z"
LAST_TOKENS = 4
"""A lone letter token counts only among this many last tokens (``index > len - 5``)."""
_ANSWER_IS = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")


def extract_option(text: str, options: Mapping[str, str]) -> str | None:
    """The option letter ``text`` gives, ``'Z'`` for a refusal, or None when it names none.

    ``options`` maps upper-case letters to option texts (only the options the
    item has; missing ones left out).
    """
    for letter in options:
        if len(letter) != 1 or letter not in string.ascii_uppercase:
            raise ValueError(f"option keys must be single upper-case letters, got {letter!r}")
    return _option_by_letter(text, options) or _option_by_text(text, options)


def _option_by_letter(text: str, options: Mapping[str, str]) -> str | None:
    if API_FAILURE in text:
        return None
    if any(refusal in text for refusal in REFUSALS):
        return NO_ANSWER
    tokens = text.translate(_SEPARATORS).split()
    named = [letter for letter in options if letter in tokens]
    if len(named) == 1:
        if tokens.index(named[0]) >= len(tokens) - LAST_TOKENS:
            return named[0]
    elif not named and NO_ANSWER in tokens:
        return NO_ANSWER
    match = _ANSWER_IS.search(text)
    if match and match.group(1).upper() in options:
        return match.group(1).upper()
    return None


def _option_by_text(text: str, options: Mapping[str, str]) -> str | None:
    lowered = text.lower()
    if len(lowered) > 2 * sum(len(str(option)) for option in options.values()):
        return None
    found = [letter for letter, option in options.items() if str(option).lower() in lowered]
    return found[0] if len(found) == 1 else None


def extract_yes_no(text: str) -> str | None:
    """Yes or No when exactly one of the words "yes" / "no" is in ``text``, else None.

    The text is lower-cased and put through the VQA punctuation rule first, so
    "Yes." and "no," count; "yesterday" and "not" do not. (VLMEvalKit says
    "Unknown" where this says None.)
    """
    words = set(process_punctuation(text.lower()).split())
    has_yes, has_no = "yes" in words, "no" in words
    if has_yes and not has_no:
        return "Yes"
    if has_no and not has_yes:
        return "No"
    return None
