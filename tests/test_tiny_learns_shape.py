"""The lesson tiny has to carry: the lab's default run makes its answers take the prompts' shape.

Measured as the issue states it: on 10 prompts the adapter never trained on, asked by their
opening sentence with the lab's greedy decoding, how many base and tuned answers repeat a
phrase that 3+ training prompts share (tutor.engine.shape). One default run serves both tests.
"""

from __future__ import annotations

import json

import pytest

HELD_OUT = 10


@pytest.fixture(scope="module")
def shape_counts(tmp_path_factory):
    """(base, tuned) ShapeCounts of the lab's default run on tiny, on CPU."""
    import torch

    from tutor.engine import models
    from tutor.engine.config import RunConfig
    from tutor.engine.data import BUNDLED_FILE, TEXT_COLUMN, load_training_data, split_held_out
    from tutor.engine.generate import answer_prompts
    from tutor.engine.presets import detect_targets
    from tutor.engine.shape import count_shaped, opening
    from tutor.engine.training.train import build_trainer

    config = RunConfig(device="cpu").check()  # the lab's defaults: the notebook's recipe on tiny
    train, held_out = split_held_out(load_training_data(config), config)
    # The split's held-out prompts, topped up to 10 with bundled rows past num_samples, which
    # a default run never reads either.
    rows = [json.loads(line)["prompt"] for line in BUNDLED_FILE.read_text().splitlines()]
    unseen = [*held_out[TEXT_COLUMN], *rows[config.num_samples :]][:HELD_OUT]
    assert len(unseen) == HELD_OUT and not set(unseen) & set(train[TEXT_COLUMN])
    prompts = [opening(text) for text in unseen]

    torch.set_num_threads(1)  # as the worker runs tiny
    model, tokenizer = models.load_base(config, models.resolve_model("tiny"), "cpu", "fp32", for_training=True)
    model.config.use_cache = True
    base = count_shaped(train[TEXT_COLUMN], prompts, answer_prompts(model, tokenizer, prompts, config))
    model.config.use_cache = False
    output_dir = tmp_path_factory.mktemp("shape-run")
    trainer = build_trainer(model, tokenizer, train, config, detect_targets(model, "auto"), output_dir, "cpu", "fp32", [])
    trainer.train()
    trainer.model.eval()
    trainer.model.config.use_cache = True
    tuned = count_shaped(train[TEXT_COLUMN], prompts, answer_prompts(trainer.model, tokenizer, prompts, config))
    return base, tuned


@pytest.mark.slow
def test_before_training_at_most_2_of_10_answers_take_the_shape(shape_counts):
    base, _ = shape_counts
    assert base.shaped <= 2, base.runs


@pytest.mark.slow
def test_after_the_default_run_at_least_7_of_10_answers_take_the_shape(shape_counts):
    _, tuned = shape_counts
    assert tuned.shaped >= 7, tuned.runs
