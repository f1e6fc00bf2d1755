"""Generated inputs for the parity tests: free-text answers and synthetic benchmark rows.

Everything is drawn from a seeded ``random.Random``, so a failure reproduces.
"""

from __future__ import annotations

import random
import re
import string

OPTION_TEXTS = (
    "a cat", "a dog", "red", "blue square", "two fish", "3", "12.5", "none of them",
    "the circle", "Yes", "B", "left", "1,000", "green triangle", "cannot tell",
)  # fmt: skip
FILLER = (
    "I", "think", "it", "is", "The", "option", "correct", "choice", "should", "be", "so",
    "a", "b", "c", "d", "A", "Z", "maybe", "not", "sure", "picture", "shows", "of",
    "Cannot determine the answer", "Failed to obtain answer via API", "\n", "", "2.", "1.5",
)  # fmt: skip
WRAPS = ("{}", "({})", "{}.", "[{}]", "**{}**", "{}:", "#{}", "{},", "{{{}}}", "{})")
SEPARATORS = str.maketrans(dict.fromkeys(".()[],:;!*#{}", " "))
"""can_infer_option's separators: the tokens below are its tokens."""


def choices(rng: random.Random) -> dict[str, str]:
    """Two to five options with distinct texts."""
    texts = rng.sample(OPTION_TEXTS, rng.randint(2, 5))
    return dict(zip(string.ascii_uppercase, texts, strict=False))


def free_text(rng: random.Random, options: dict[str, str]) -> str:
    """A model-like answer: filler words, maybe an option's text, maybe a wrapped letter."""
    words = [rng.choice(FILLER) for _ in range(rng.randint(0, 5))]
    if rng.random() < 0.4:
        words.insert(rng.randint(0, len(words)), rng.choice(list(options.values())))
    if rng.random() < 0.7:
        letter = rng.choice([*options, "E", "Z"])
        words.insert(rng.randint(0, len(words)), rng.choice(WRAPS).format(letter))
    if rng.random() < 0.2:
        words = [w.upper() if rng.random() < 0.5 else w.lower() for w in words]
    return rng.choice((" ", " ", "\n", ", ")).join(words)


def untouched_since_26_3(text: str, options: dict[str, str]) -> bool:
    """Whether no rule VLMEvalKit main changed after its PyPI build 26.3 applies to ``text``.

    Those rules (pinned in test_scoring_main_rules.py): a lone letter counts only
    among the last four tokens; "answer is X"; the option texts are not tried
    for an output longer than twice the options' texts.
    """
    tokens = text.translate(SEPARATORS).split()
    named = [letter for letter in options if letter in tokens]
    if len(named) == 1 and tokens.index(named[0]) < len(tokens) - 4:
        return False
    if re.search(r"(?i)answer\s+is", text):
        return False
    return len(text.lower()) <= 2 * sum(len(t) for t in options.values())


YES_NO_WORDS = (
    "Yes", "yes.", "YES!", "No", "no,", "NO.", "yesterday", "not", "none", "nope", "yes/no",
    "(yes)", "no-", "is", "there", "a", "cat", "2.", "1,000", "Yes;", '"no"', "\t", "y e s",
)  # fmt: skip


def yes_no_text(rng: random.Random) -> str:
    return " ".join(rng.choice(YES_NO_WORDS) for _ in range(rng.randint(0, 6)))


VQA_WORDS = (
    "two", "Two", "the", "a", "an", "cat", "dont", "isnt", "somebodyd", "youre", "wont", "10",
    "1,000", "3.5", "end.", "...", "x-ray", "(b)", "yes!", "a/b", "@home", "none", "Ten", "it's",
    "\n", "\t", ";", "=", "+", "_", "<", ">", "`", "?", "rock'n'roll", "dr.", "e.g.", ".5",
)  # fmt: skip


DIGIT_PERIOD = re.compile(r"\d\.(?!\d)")
"""A period after a digit and before no digit: VLMEvalKit main keeps it, 26.3's typo drops it."""


def vqa_text(rng: random.Random) -> str:
    joiner = rng.choice((" ", "", " ", ", "))
    return joiner.join(rng.choice(VQA_WORDS) for _ in range(rng.randint(0, 6)))
