"""Rule extraction from free text: option letters (VLMEvalKit's can_infer) and Yes/No."""

from __future__ import annotations

import pytest

from vlmeval_core.scoring import extract_option, extract_yes_no

OPTIONS = {"A": "a cat", "B": "a dog", "C": "a red bird", "D": "two fish"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # one option letter among the tokens, whatever wraps it
        ("B", "B"),
        ("(B)", "B"),
        ("B.", "B"),
        ("[B]", "B"),
        ("**B**", "B"),
        ("Answer: B", "B"),
        ("The answer is (C).", "C"),
        ("C. a dog", "C"),  # the letter wins over the text of another option
        ("  D\n", "D"),
        # two or more letters: no letter; the option texts decide (here: none found)
        ("I think B or C", None),
        ("A, B, C or D", None),
        # letters count in upper case only; "b" falls through to the option texts
        ("b", None),
        ("(b)", None),
        # a letter glued to a word is not a token
        ("B)the dog", "B"),  # ")" is a separator
        ("Bdog", None),  # no letter token, and no option's whole text
        # no letter: exactly one option's text, case-insensitive, with words around it
        # "A" is a letter token but not among the last four (VLMEvalKit main): option texts
        ("I can see A DOG in the picture", "B"),
        ("I can see a dog in the picture", "B"),
        ("there is a red bird on the branch", "C"),
        ("Two fish.", "D"),
        # two options' texts: nothing
        ("a dog and a cat", None),
        # nothing at all
        ("", None),
        ("I cannot tell.", None),
        # more free text from real models
        ("**Answer:** (D) two fish", "D"),
        ("Option D: two fish", "D"),
        ("The answer is\nB", "B"),
        ("It is C, a red bird", "C"),
        ("I would say it's a red bird.", "C"),
        ("the answer is c", "C"),  # main's case-insensitive "answer is X" rule
        ("Answer: b", None),
        ("(a) a cat", "A"),  # "a" is no letter token, but "a cat" is option A's text
        ("A dog.", "A"),  # the article "A" is a letter token: VLMEvalKit reads A, not B
        ("B and C are both wrong; A", None),  # three letters, no option text
        ("E", None),  # not one of the item's letters
        ("None of the above", None),
    ],
)
def test_extract_option(text: str, expected: str | None) -> None:
    assert extract_option(text, OPTIONS) == expected


def test_extract_option_only_counts_the_items_own_letters() -> None:
    two = {"A": "yes", "B": "no"}
    assert extract_option("C", two) is None  # C is no option of this item
    assert extract_option("C or B", two) == "B"  # only B is one of its letters


def test_extract_option_two_letters_can_still_be_read_from_one_option_text() -> None:
    # VLMEvalKit falls back to the option texts whenever the letter count is not 1
    assert extract_option("B or C? It is a dog.", OPTIONS) == "B"


def test_extract_option_rejects_bad_option_keys() -> None:
    with pytest.raises(ValueError, match="upper-case"):
        extract_option("A", {"a": "x"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes", "Yes"),
        ("yes.", "Yes"),
        ("YES!", "Yes"),
        ("Yes, there is a cat.", "Yes"),
        ("No", "No"),
        ("no, it is not", "No"),
        ("No. The circle is blue.", "No"),
        ("Yes and no", None),
        ("Yesterday it was", None),
        ("There is none", None),
        ("Not really", None),
        ("", None),
        ("yes/no", None),  # "/" becomes a space: both words
    ],
)
def test_extract_yes_no(text: str, expected: str | None) -> None:
    assert extract_yes_no(text) == expected
