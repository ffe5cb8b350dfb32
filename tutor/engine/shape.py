"""Did an answer take the training data's shape? A yes/no a learner can check by eye.

Fine-tuning on "I want you to act as ... My first request is ..." prompts teaches a model
their recurring phrases. An answer *takes the data's shape* when it contains a run of
`RUN_WORDS` words that occurs in at least `MIN_PROMPTS` training texts and not in the prompt
the model was given: a phrase the data repeats and the question did not hand over. Any longer
shared run contains such a run, so checking runs of exactly `RUN_WORDS` words is enough.

Words are compared lower-cased, punctuation dropped. Pure Python: the lab's screens and the
tests call it without loading a model.

Typical use, over held-out prompts (each asked by its opening sentence, `opening(text)`):

    count = count_shaped(train_texts, prompts, base_answers)
    f"{count.shaped}/{count.total} answers take the data's shape"
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

RUN_WORDS = 4
MIN_PROMPTS = 3
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
FIRST_SENTENCE = re.compile(r"^.*?[.!?](?=\s|$)", re.DOTALL)


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def runs(text: str, length: int = RUN_WORDS) -> set[str]:
    """Every run of `length` consecutive words in `text`, each as one space-joined string."""
    found = words(text)
    return {" ".join(found[i : i + length]) for i in range(len(found) - length + 1)}


def shared_runs(train_texts: list[str], min_texts: int = MIN_PROMPTS) -> set[str]:
    """The runs that occur in at least `min_texts` of the training texts: the data's shape."""
    counts = Counter(run for text in train_texts for run in runs(text))
    return {run for run, n in counts.items() if n >= min_texts}


def shape_runs(answer: str, prompt: str, shared: set[str]) -> list[str]:
    """The data's runs in `answer` that its prompt did not contain, in order of appearance."""
    given = runs(prompt)
    found = words(answer)
    ordered = (" ".join(found[i : i + RUN_WORDS]) for i in range(len(found) - RUN_WORDS + 1))
    return list(dict.fromkeys(run for run in ordered if run in shared and run not in given))


def takes_shape(answer: str, prompt: str, shared: set[str]) -> bool:
    return bool(shape_runs(answer, prompt, shared))


@dataclass(frozen=True)
class ShapeCount:
    """How many answers took the shape, and which runs each one used (empty: none)."""

    shaped: int
    total: int
    runs: list[list[str]]


def count_shaped(train_texts: list[str], prompts: list[str], answers: list[str]) -> ShapeCount:
    """Over paired prompts and answers, how many answers take the training texts' shape."""
    if len(prompts) != len(answers):
        raise ValueError(f"{len(prompts)} prompts but {len(answers)} answers")
    shared = shared_runs(train_texts)
    per_answer = [shape_runs(answer, prompt, shared) for prompt, answer in zip(prompts, answers)]
    return ShapeCount(sum(bool(found) for found in per_answer), len(answers), per_answer)


def opening(text: str) -> str:
    """A held-out text's first sentence, the prompt its answer is asked with: "I want you to
    act as a gardener." leaves the rest, the part that carries the shape, to the model."""
    match = FIRST_SENTENCE.match(text.strip())
    return match.group(0) if match else text.strip()
