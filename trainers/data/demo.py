"""Synthetic product reviews with sentiment labels, made on the spot from a seed.

The default sweep needs data on a fresh machine with no network and no files; real reviews are
third-party text the project may not ship. The generator mixes sentiment words, negation
("not good" is negative), contrast ("good but dull" is negative: the clause after "but" wins),
intensifiers, neutral filler and 4% flipped labels, so a model must read the whole sentence,
not count keywords; a pretrained encoder gets most of it right in an epoch or two, and how
close it gets to the ceiling depends on the hyperparameters.
"""

from __future__ import annotations

import random

POSITIVE = [
    "great", "excellent", "wonderful", "delightful", "superb", "charming", "brilliant", "pleasant",
    "impressive", "lovely", "solid", "fantastic", "moving", "funny", "reliable", "gorgeous",
]
NEGATIVE = [
    "awful", "terrible", "boring", "dull", "disappointing", "clumsy", "bland", "poor", "weak",
    "annoying", "tedious", "broken", "ugly", "flimsy", "mediocre", "painful",
]
SUBJECTS = [
    "the film", "this movie", "the plot", "the acting", "the soundtrack", "the camera", "this phone",
    "the battery", "the service", "the meal", "the hotel room", "the book", "the ending", "the script",
    "the design", "the headphones", "the game", "the staff", "the screen", "the dialogue",
]
INTENSIFIERS = ["", "", "really ", "very ", "quite ", "truly ", "rather ", "so "]
FILLERS = [
    "", "", "", "i watched it last week and", "to be honest,", "after two hours,", "overall,",
    "my friends agreed that", "for the price,", "compared to the last one,", "in the end,",
]
NEGATIONS = ["not", "never", "hardly"]


LABEL_NOISE = 0.04


def _clause(rng: random.Random, positive: bool) -> str:
    negate = rng.random() < 0.3
    adjective = rng.choice(POSITIVE if positive != negate else NEGATIVE)
    verb = rng.choice(["is", "was", "felt", "seemed"])
    negation = rng.choice(NEGATIONS) + " " if negate else ""
    return f"{rng.choice(SUBJECTS)} {verb} {negation}{rng.choice(INTENSIFIERS)}{adjective}"


def _sentence(rng: random.Random) -> tuple[str, int]:
    label = rng.randint(0, 1)
    core = _clause(rng, positive=label == 1)
    shape = rng.random()
    if shape < 0.35:  # contrast: the opposite opinion first, the verdict after "but"
        core = f"{_clause(rng, positive=label == 0)} but {core}"
    elif shape < 0.6:  # agreement: a second clause with the same sentiment
        core = f"{core} and {_clause(rng, positive=label == 1)}"
    text = " ".join(part for part in (rng.choice(FILLERS), core) if part)
    if rng.random() < LABEL_NOISE:
        label = 1 - label
    return text + rng.choice([".", "!", " ..."]), label


def make_demo_split(num_rows: int, seed: int) -> dict[str, list]:
    """Columns ``text`` and ``label`` (0 negative, 1 positive) for ``num_rows`` reviews."""
    rng = random.Random(seed)
    rows = [_sentence(rng) for _ in range(num_rows)]
    return {"text": [t for t, _ in rows], "label": [y for _, y in rows]}


DEMO_LABEL_NAMES = ["negative", "positive"]
