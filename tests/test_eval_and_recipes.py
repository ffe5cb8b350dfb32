"""The held-out split, the recipes and what reaches the trainer, the named loss figures."""

from __future__ import annotations

import argparse
import math

import pytest

from tutor.commands.train import add_config_options, config_from_args
from tutor.engine.config import RECIPES, RunConfig
from tutor.engine.data import DatasetError, load_training_data, split_held_out
from tutor.engine.events import describe, invalid, loss_figures
from tutor.engine.recipes import RECIPE_FIELDS, SETTINGS, apply_recipe, changed_from_recipe, fit_to_model_size


def test_split_holds_out_fifteen_percent_fixed_by_the_seed():
    data = load_training_data(RunConfig())
    train, held = split_held_out(data, RunConfig())
    assert (len(train), len(held)) == (42, 8)  # round(50 x 0.15) = 8
    train_texts, held_texts = list(train["text"]), list(held["text"])
    assert not set(train_texts) & set(held_texts)
    assert sorted(train_texts + held_texts) == sorted(data["text"])
    assert list(split_held_out(data, RunConfig())[1]["text"]) == held_texts
    assert list(split_held_out(data, RunConfig(seed=7))[1]["text"]) != held_texts


def test_split_keeps_at_least_five_and_can_be_turned_off():
    data = load_training_data(RunConfig(num_samples=20))
    assert len(split_held_out(data, RunConfig(num_samples=20))[1]) == 5  # 15 % of 20 is 3
    train, held = split_held_out(data, RunConfig(eval_fraction=0.0))
    assert held is None and len(train) == 20
    with pytest.raises(DatasetError) as info:
        split_held_out(data.select(range(9)), RunConfig())
    assert "eval_fraction to 0" in info.value.hint


def test_eval_settings_are_validated():
    errors = RunConfig(eval_fraction=1.0, eval_steps=-1, lr_scheduler="step", recipe="mine").validate()
    assert {e.field for e in errors} == {"eval_fraction", "eval_steps", "lr_scheduler", "recipe"}


def test_paper_recipe_reaches_the_trainer(tmp_path):
    from tutor.engine.training.speed import plan_speed
    from tutor.engine.training.train import lora_config, sft_config

    config = apply_recipe(RunConfig(), "paper")
    lora = lora_config(config, ["q_proj", "v_proj"])
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == (64, 16, 0.1)
    assert config.target_module_spec() == "all-linear"
    assert plan_speed(config, "cuda", "bf16").optim == "paged_adamw_32bit"
    plan = plan_speed(config, "cpu", "fp32")
    assert plan.optim == "adamw_torch" and "pages GPU memory" in plan.notes[0]
    args = sft_config(config, tmp_path, "cpu", "fp32", plan, evaluate=True)
    assert (args.lr_scheduler_type, args.max_grad_norm, args.optim) == ("constant", 0.3, "adamw_torch")
    assert args.eval_strategy == "epoch"
    stepped = sft_config(RunConfig(eval_steps=5), tmp_path, "cpu", "fp32", plan_speed(RunConfig(), "cpu", "fp32"), evaluate=True)
    assert (stepped.eval_strategy, stepped.eval_steps, stepped.lr_scheduler_type, stepped.max_grad_norm) == ("steps", 5, "linear", 1.0)


def test_switching_recipes_undoes_the_previous_one():
    assert tuple(SETTINGS) == RECIPES  # the config accepts exactly the recipes there are
    paper = apply_recipe(RunConfig(model="bloomz-560m"), "paper")
    back = apply_recipe(paper, "notebook")
    assert back == RunConfig(model="bloomz-560m")
    assert apply_recipe(RunConfig(), "fast").speed == "packed"
    paper.lora_r = 8
    assert changed_from_recipe(paper) == {"lora_r": 8} and set(changed_from_recipe(paper)) <= set(RECIPE_FIELDS)


def test_paper_recipe_above_13b_uses_the_large_model_settings():
    small = apply_recipe(RunConfig(), "paper")
    assert fit_to_model_size(small, 7_000_000_000) is None and small.lora_dropout == 0.1
    large = apply_recipe(RunConfig(), "paper")
    assert "lora_dropout 0.05" in fit_to_model_size(large, 33_000_000_000)
    assert (large.lora_dropout, large.learning_rate) == (0.05, 1e-4)
    assert fit_to_model_size(RunConfig(), 33_000_000_000) is None


def parse(*argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    add_config_options(parser)
    return config_from_args(parser.parse_args(argv))


def test_cli_recipe_first_then_the_options():
    config = parse("--recipe", "paper", "--lora-r", "8")
    assert (config.recipe, config.lora_r, config.max_grad_norm, config.lr_scheduler) == ("paper", 8, 0.3, "constant")
    assert parse("--eval-fraction", "0").eval_fraction == 0.0


def test_cli_takes_the_old_names_and_says_they_changed(tmp_path, capsys):
    renamed = ["qlora-tutor: recipe 'seed' is now called 'notebook'", "qlora-tutor: speed 'seed' is now called 'padded'"]
    old = tmp_path / "old.toml"
    old.write_text('[recipe]\nrecipe = "seed"\n[training]\nspeed = "seed"\nlora_r = 8\n')
    config = parse("--config", str(old))
    assert (config.recipe, config.speed, config.lora_r) == ("notebook", "padded", 8)
    assert capsys.readouterr().err.splitlines() == renamed
    config = parse("--config", str(old), "--recipe", "seed", "--speed", "seed", "--seed", "3")
    assert (config.recipe, config.speed, config.seed, config.lora_r) == ("notebook", "padded", 3, 16)
    assert capsys.readouterr().err.splitlines() == renamed  # each rename said once
    assert parse("--recipe", "notebook", "--speed", "padded").recipe == "notebook"
    assert capsys.readouterr().err == ""


def test_loss_figures_are_named():
    summary = {"global_step": 55, "train_loss": 9.4087, "eval_loss": 9.04, "eval_perplexity": 8433.57,
               "train_runtime": 12.9, "adapter_dir": "/r/adapter"}
    assert loss_figures(summary) == "mean train loss 9.4087, eval loss 9.0400, eval perplexity 8,433.6"
    assert loss_figures({"train_loss": 2.5, "eval_loss": None}) == "mean train loss 2.5000"
    overfit = {**summary, "best_eval_loss": 6.5853, "best_eval_epoch": 13.0}
    assert loss_figures(overfit).endswith("eval perplexity 8,433.6 (lowest: 6.5853 at epoch 13)")
    step = {"type": "progress", "t": 1.0, "step": 3, "total_steps": 9, "epoch": 0.3, "loss": 8.36, "learning_rate": None,
            "grad_norm": None, "tokens_per_s": None, "step_time_s": None, "eta_s": None, "gpu": None}
    assert invalid(step) is None and "step loss 8.3600" in describe(step)
    held_out = {"type": "eval", "t": 1.0, "step": 11, "total_steps": 55, "epoch": 1.0, "eval_loss": 9.6356,
                "perplexity": 15300.15, "best": True}
    assert invalid(held_out) is None
    assert describe(held_out) == "eval at step 11 (epoch 1.00): held-out loss 9.6356, perplexity 15,300.1  (best so far)"


class FakeEvents:
    def __init__(self):
        self.emitted = []

    def emit(self, type_, **fields):
        self.emitted.append((type_, fields))


def test_callback_measures_each_epoch_end_once_and_tracks_the_best():
    from types import SimpleNamespace

    from tutor.engine.training.train import ProgressCallback

    events = FakeEvents()
    callback = ProgressCallback(events, lambda: False, evaluate=True)
    state = SimpleNamespace(global_step=4, max_steps=12, epoch=1.0)
    control = SimpleNamespace(should_evaluate=False)
    assert callback.on_epoch_end(None, state, control).should_evaluate
    for step, loss in ((4, 3.0), (8, 2.5), (12, 2.75)):
        state.global_step, state.epoch = step, step / 4
        callback.on_evaluate(None, state, control, metrics={"eval_loss": loss})
    control.should_evaluate = False
    assert not callback.on_epoch_end(None, state, control).should_evaluate  # step 12 was just measured
    assert [(f["step"], f["best"]) for _, f in events.emitted] == [(4, True), (8, True), (12, False)]
    assert events.emitted[1][1]["perplexity"] == round(math.exp(2.5), 2)
    assert callback.eval_summary() == dict(eval_loss=2.75, eval_perplexity=round(math.exp(2.75), 2),
                                           best_eval_loss=2.5, best_eval_step=8, best_eval_epoch=2.0)


def test_compare_asks_the_training_runs_held_out_prompts(tmp_path):
    from tutor.engine.jobs import CONFIG_FILE
    from tutor.engine.worker import _training_split

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    events = FakeEvents()
    assert _training_split(adapter, events) == ([], [])  # an adapter from elsewhere: no config
    RunConfig().save(tmp_path / CONFIG_FILE)
    train, held = _training_split(adapter, events)
    assert (len(train), len(held)) == (42, 8) and held == list(split_held_out(load_training_data(RunConfig()), RunConfig())[1]["text"])
    RunConfig(dataset=str(tmp_path / "gone.jsonl")).save(tmp_path / CONFIG_FILE)
    assert _training_split(adapter, events) == ([], [])
    assert "the training run's data did not load" in events.emitted[-1][1]["message"]
