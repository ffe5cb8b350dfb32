"""The shape measure: does an answer repeat a phrase the training texts share, unprompted?"""

from __future__ import annotations

import pytest

from tutor.engine.shape import count_shaped, opening, shape_runs, shared_runs, takes_shape, words

TRAIN = [
    "I want you to act as a cook. I will give you a fridge. My first request is eggs.",
    "I want you to act as a guide. I will give you a city. My first request is Rome.",
    "I want you to act as a poet. You will write verses. My first request is rain.",
    "Plain English about a quiet morning and a cup of tea.",
]


def test_words_are_lower_case_and_punctuation_free():
    assert words("My first REQUEST is \"Rome.\" Don't stop!") == ["my", "first", "request", "is", "rome", "don't", "stop"]


def test_shared_runs_are_the_runs_in_at_least_three_texts():
    shared = shared_runs(TRAIN)
    assert {"i want you to", "my first request is", "you to act as"} <= shared
    assert "i will give you" not in shared  # in two texts only
    assert "a cup of tea" not in shared
    assert shared_runs(TRAIN, min_texts=2) >= {"i will give you", "will give you a"}


def test_a_run_counts_only_if_the_prompt_did_not_hand_it_over():
    shared = shared_runs(TRAIN)
    prompt = "I want you to act as a baker."
    assert shape_runs("I want you to act as a baker. My first request is bread.", prompt, shared) == [
        "my first request is",
    ]
    assert not takes_shape("I want you to act as a poet, again.", prompt, shared)  # the prompt's own words
    assert takes_shape("then, my first request is bread", prompt, shared)
    assert not takes_shape("my first request", prompt, shared)  # three words are not a run of four
    assert not takes_shape("My first question is bread.", prompt, shared)


def test_count_shaped_counts_answers_and_names_their_runs():
    prompts = ["I want you to act as a baker.", "I want you to act as a pilot.", "I want you to act as a nurse."]
    answers = ["My first request is bread.", "The sky was clear and blue.", "I want you to act as a pilot too."]
    count = count_shaped(TRAIN, prompts, answers)
    assert (count.shaped, count.total) == (1, 3)
    assert count.runs == [["my first request is"], [], []]  # the third only echoes its prompt


def test_count_shaped_needs_one_answer_per_prompt():
    with pytest.raises(ValueError, match="2 prompts but 1 answers"):
        count_shaped(TRAIN, ["a", "b"], ["x"])


@pytest.mark.parametrize("text, first", [
    ('I want you to act as a gardener. I will describe my balcony. My first request is "A pot."',
     "I want you to act as a gardener."),
    ("What is 1.5 times two? Tell me.", "What is 1.5 times two?"),
    ("No full stop at all", "No full stop at all"),
])
def test_opening_is_the_first_sentence(text, first):
    assert opening(text) == first
