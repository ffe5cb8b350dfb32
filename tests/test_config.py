"""RunConfig: the QLoRA notebook's recipe as defaults, TOML round trip, field-level validation."""

from __future__ import annotations

import pytest

from tutor.engine.config import ConfigError, RunConfig


def test_defaults_are_the_notebook_recipe():
    c = RunConfig()
    assert (c.model, c.load_in_4bit, c.quant_type, c.double_quant, c.compute_dtype) == ("tiny", True, "nf4", True, "bf16")
    assert (c.lora_r, c.lora_alpha, c.lora_dropout, c.lora_bias) == (16, 16, 0.05, "none")
    assert (c.learning_rate, c.epochs, c.batch_size, c.num_samples) == (2e-4, 5, "auto", 50)
    assert c.prompt == "I want you to act as a motivation coach."
    assert (c.max_new_tokens, c.repetition_penalty) == (50, 1.5)
    assert c.validate() == []


def test_configs_saved_before_the_rename_still_load(tmp_path):
    """recipe and speed `seed` are now `notebook` and `padded`; `seed` is only the random seed."""
    path = tmp_path / "config.toml"
    path.write_text('[recipe]\nrecipe = "seed"\n[training]\nspeed = "seed"\nseed = 7\n')
    notes: list[str] = []
    config = RunConfig.load(path, notes).check()
    assert (config.recipe, config.speed, config.seed) == ("notebook", "padded", 7)
    assert notes == ["recipe 'seed' is now called 'notebook'", "speed 'seed' is now called 'padded'"]
    assert RunConfig.load(path) == config
    assert RunConfig.from_dict({"recipe": "paper", "speed": "packed"}, notes) == RunConfig(recipe="paper", speed="packed")
    assert len(notes) == 2  # current names add no note
    assert [e.field for e in RunConfig(recipe="seed", speed="seed").validate()] == ["speed", "recipe"]  # only loading renames


def test_toml_round_trip_keeps_every_field(tmp_path):
    c = RunConfig(model="bloomz-560m", lora_r=8, learning_rate=1e-3, batch_size=2, target_modules="q_proj,v_proj")
    path = tmp_path / "run.toml"
    c.save(path)
    text = path.read_text()
    assert "[lora]" in text and "lora_r = 8" in text
    assert RunConfig.load(path) == c


def test_flat_toml_and_lists_are_accepted():
    c = RunConfig.from_toml('model = "mistral-7b"\ntarget_modules = ["q_proj", "v_proj"]\nepochs = 2\n')
    assert c.model == "mistral-7b" and c.target_module_spec() == ["q_proj", "v_proj"] and c.epochs == 2.0


def test_validate_reports_every_bad_field():
    c = RunConfig(lora_r=0, learning_rate=0.0, lora_dropout=1.0, batch_size="big", quant_type="int3", num_samples=0)
    assert {e.field for e in c.validate()} == {"lora_r", "learning_rate", "lora_dropout", "batch_size", "quant_type", "num_samples"}
    with pytest.raises(ConfigError) as info:
        c.check()
    assert "lora_r: must be at least 1" in str(info.value)


def test_wrong_types_are_field_errors_not_crashes():
    errors = RunConfig(lora_r="16", load_in_4bit=1, epochs=True).validate()
    assert [e.field for e in errors] == ["load_in_4bit", "lora_r", "epochs"]


def test_unknown_setting_is_an_error():
    with pytest.raises(ConfigError) as info:
        RunConfig.from_toml("[lora]\nrank = 8\n")
    assert info.value.errors[0].field == "rank"


def test_target_module_spec():
    assert RunConfig().target_module_spec() == "auto"
    assert RunConfig(target_modules="all-linear").target_module_spec() == "all-linear"
    assert RunConfig(target_modules=" q_proj , v_proj,").target_module_spec() == ["q_proj", "v_proj"]
