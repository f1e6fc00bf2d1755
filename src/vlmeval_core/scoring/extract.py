"""Rule-based answer extraction from free model output: an option letter, or Yes / No.

These follow VLMEvalKit's "exact_matching" path (no judge model), as released
in v0.3rc1 (``vlmeval/utils/matching_util.py``: ``can_infer``,
``can_infer_option``, ``can_infer_text``; ``vlmeval/dataset/utils/yorn.py``:
``YOrN_Extraction``).

Option letter (:func:`extract_option`):

1. Each of ``.()[],:;!*#{}`` becomes a space and the text is split on
   whitespace. If exactly one of the options' letters is among the tokens
   (upper case only: "b" is not a letter token), that letter is the answer.
2. Otherwise (no letter, or two or more) the option texts are tried: the text
   of each option, lower-cased, is looked for as a substring of the lower-cased
   output. Exactly one option found -> its letter; else nothing.

Left out on purpose:

* VLMEvalKit's ``'Z'`` answer (returned for a few canned refusal sentences,
  or a lone "Z" token when no letter is found). 'Z' is never a right answer,
  so here such an output simply goes on to the option-text rule and is
  unparsed unless exactly one option's text is in it.
* The "A might be a quantifier" check, which only runs with ``VERBOSE`` set.
* Changes on VLMEvalKit's main branch that are in no release yet: the letter
  must be among the last four tokens and the text fallback is skipped for an
  output longer than twice the options' total length (PR #1175), and an
  "answer is X" regular expression (PR #1552).
"""

from __future__ import annotations

import string
from collections.abc import Mapping

from vlmeval_core.scoring.vqa import process_punctuation

_SEPARATORS = str.maketrans(dict.fromkeys(".()[],:;!*#{}", " "))


def extract_option(text: str, options: Mapping[str, str]) -> str | None:
    """The option letter ``text`` gives, or None when it names none or several.

    ``options`` maps upper-case letters to option texts (only the options the
    item has; missing ones left out).
    """
    for letter in options:
        if len(letter) != 1 or letter not in string.ascii_uppercase:
            raise ValueError(f"option keys must be single upper-case letters, got {letter!r}")
    tokens = set(text.translate(_SEPARATORS).split())
    named = [letter for letter in options if letter in tokens]
    if len(named) == 1:
        return named[0]
    return _option_by_text(text, options)


def _option_by_text(text: str, options: Mapping[str, str]) -> str | None:
    lowered = text.lower()
    found = [letter for letter, option in options.items() if str(option).lower() in lowered]
    return found[0] if len(found) == 1 else None


def extract_yes_no(text: str) -> str | None:
    """Yes or No when exactly one of the words "yes" / "no" is in ``text``, else None.

    The text is lower-cased and put through the VQA punctuation rule first, so
    "Yes." and "no," count; "yesterday" and "not" do not.
    """
    words = set(process_punctuation(text.lower()).split())
    has_yes, has_no = "yes" in words, "no" in words
    if has_yes and not has_no:
        return "Yes"
    if has_no and not has_yes:
        return "No"
    return None
