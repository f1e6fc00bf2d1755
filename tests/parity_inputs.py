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


MMB_CATEGORIES = ("coarse_perception", "logic_reasoning", "attribute_reasoning", "ocr")
L2_CATEGORIES = ("Perception", "Reasoning")


def mcq_rows(rng: random.Random, n: int, splits: tuple[str, ...] = ()) -> list[dict]:
    """Multiple-choice rows with predictions whose rules did not change since 26.3."""
    rows = []
    while len(rows) < n:
        options = choices(rng)
        prediction = free_text(rng, options)
        if not untouched_since_26_3(prediction, options):
            continue
        row = {
            "index": len(rows),
            "question": f"question {len(rows)}?",
            **options,
            "answer": rng.choice(list(options)),
            "prediction": prediction,
            "category": rng.choice(MMB_CATEGORIES),
            "l2-category": rng.choice(L2_CATEGORIES),
        }
        if splits:
            row["split"] = rng.choice(splits)
        rows.append(row)
    return rows


def circular_rows(rng: random.Random, questions: int) -> list[dict]:
    """MMBench-style rows: each question with its options rotated, index + k * 1e6."""
    rows = []
    for q in range(questions):
        texts = rng.sample(OPTION_TEXTS, 4)
        right = rng.randrange(4)
        for k in range(rng.randint(1, 4)):
            rotated = texts[k:] + texts[:k]
            options = dict(zip("ABCD", rotated, strict=True))
            answer = "ABCD"[rotated.index(texts[right])]
            good = rng.random() < 0.8
            prediction = rng.choice(WRAPS).format(answer if good else rng.choice("ABCDZ"))
            rows.append(
                {
                    "index": q + k * 1_000_000,
                    "question": f"question {q}?",
                    **options,
                    "answer": answer,
                    "prediction": prediction,
                    "category": rng.choice(MMB_CATEGORIES),
                    "l2-category": rng.choice(L2_CATEGORIES),
                    "split": "dev",
                }
            )
    return rows


def mmmu_rows(rng: random.Random, n: int) -> list[dict]:
    """MMMU rows: some open questions (no options, a free answer), splits dev / validation."""
    rows = mcq_rows(rng, n, ("dev", "validation"))
    for row in rows:
        if rng.random() < 0.25:
            for letter in "ABCDE":
                row.pop(letter, None)
            row["answer"] = rng.choice(("42", "a cat", "B", "x"))
            row["prediction"] = rng.choice(("42", "(A)", "B", "Other Answers", "a cat", "no idea"))
    return rows


def yes_no_rows(rng: random.Random, n: int) -> list[dict]:
    return [
        {
            "index": i,
            "question": f"question {i}?",
            "answer": rng.choice(("Yes", "No")),
            "prediction": yes_no_text(rng),
            "category": rng.choice(("exist", "count", "color")),
            "l2-category": rng.choice(("natural", "synthetic")),
        }
        for i in range(n)
    ]


MME_CATEGORIES = (
    "OCR", "artwork", "celebrity", "color", "count", "existence", "landmark", "position",
    "posters", "scene", "code_reasoning", "commonsense_reasoning", "numerical_calculation",
    "text_translation",
)  # fmt: skip


def mme_rows(rng: random.Random, images_per_category: int) -> list[dict]:
    """MME rows: every subtask, two questions (Yes, then No) per image."""
    rows = []
    for category in MME_CATEGORIES:
        for image in range(images_per_category):
            for answer in ("Yes", "No"):
                rows.append(
                    {
                        "index": len(rows),
                        "question": "Is it so?",
                        "answer": answer,
                        "prediction": yes_no_text(rng),
                        "category": category,
                        "image_path": f"{category}/{image}.jpg",
                    }
                )
    return rows


def pope_rows(rng: random.Random, n: int) -> list[dict]:
    """POPE rows: one or several splits in ``category``, comma-separated."""
    splits = ("adversarial", "popular", "random")
    return [
        {
            "index": i,
            "question": "Is there a cat in the image?",
            "answer": rng.choice(("Yes", "No")),
            "prediction": yes_no_text(rng),
            "category": ",".join(sorted(rng.sample(splits, rng.randint(1, 2)))),
        }
        for i in range(n)
    ]


def hallusion_rows(rng: random.Random, n: int) -> list[dict]:
    """HallusionBench rows: index <category>_<subcategory>_<visual input>_<set>_<figure>_<q>."""
    rows = []
    for _ in range(n):
        category = rng.choice(("VD", "VS"))
        ids = (rng.randrange(2), rng.randrange(4), rng.randrange(3), rng.randrange(3))
        rows.append(
            {
                "index": f"{category}_sub_{'_'.join(map(str, ids))}",
                "question": "Is it so?",
                "answer": rng.choice(("Yes", "No")),
                "prediction": yes_no_text(rng),
                "category": category,
                "l2-category": rng.choice(("chart", "table", "map")),
            }
        )
    return rows


def vqa_rows(rng: random.Random, n: int, method: str) -> list[dict]:
    """Open-answer rows for ``method``: vqa_score (ten answers), anls (1-3), relaxed (one)."""
    rows = []
    while len(rows) < n:
        if method == "vqa_score":
            pool = [vqa_text(rng) or "cat" for _ in range(3)]
            answers = [rng.choice(pool) for _ in range(10)]
            prediction = rng.choice([*pool, vqa_text(rng)])
        elif method == "anls":
            answers = [rng.choice(("J. Smith", "invoice 12", "Total: $3", "N/A"))]
            answers += rng.sample(("j smith", "Smith", "12"), rng.randint(0, 2))
            prediction = rng.choice([*answers, "Smit", "J Smith ", "", "invoice", "TOTAL: $3"])
        else:
            target = rng.choice(("12.5", "40%", "0", "7", "Yes", "blue"))
            answers = [target]
            prediction = rng.choice((target, "12.9", "13.2", "0.4", "41%", "0.0", " 7 ", "yes"))
        if any(DIGIT_PERIOD.search(t) for t in (*answers, prediction)):
            continue
        rows.append(
            {
                "index": len(rows),
                "question": "What is it?",
                "answer": str(answers) if len(answers) > 1 else answers[0],
                "prediction": prediction,
            }
        )
    return rows
