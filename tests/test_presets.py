"""Presets build offline from their config dicts; LoRA targets are detected per architecture."""

from __future__ import annotations

import pytest

from tutor.engine.presets import PRESETS, TargetModulesError, detect_targets, meta_model, preset_config

QKVO = ["q_proj", "k_proj", "v_proj", "o_proj"]


def test_every_issue_preset_exists_and_only_tiny_is_teaching():
    assert {"tiny", "bloomz-560m", "bloom-1b1", "bloom-7b1", "llama-3.1-8b", "mistral-7b", "qwen2.5-0.5b"} <= set(PRESETS)
    assert [p.name for p in PRESETS.values() if p.teaching] == ["tiny"]
    assert all(p.hub_id for p in PRESETS.values() if not p.teaching)


@pytest.mark.parametrize("name, billions", [("llama-2-7b", 6.74), ("llama-3.1-8b", 8.03), ("mistral-7b", 7.24),
                                            ("bloom-7b1", 7.07), ("bloomz-560m", 0.56), ("qwen2.5-0.5b", 0.49)])
def test_preset_shapes_match_the_published_models(name, billions):
    params = sum(p.numel() for p in meta_model(preset_config(name)).parameters())
    assert params / 1e9 == pytest.approx(billions, abs=0.01)


@pytest.mark.parametrize("name, expected", [("bloom-7b1", ["query_key_value"]), ("llama-3.1-8b", QKVO),
                                            ("mistral-7b", QKVO), ("qwen2.5-0.5b", QKVO), ("tiny", QKVO)])
def test_auto_targets(name, expected):
    assert detect_targets(name) == expected
    assert detect_targets(meta_model(preset_config(name))) == expected


def test_all_linear_excludes_the_output_head():
    assert detect_targets("llama-2-7b", "all-linear") == QKVO + ["gate_proj", "up_proj", "down_proj"]
    assert detect_targets("bloomz-560m", "all-linear") == ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"]


def test_unknown_module_lists_candidates():
    with pytest.raises(TargetModulesError) as info:
        detect_targets("bloomz-560m", ["q_proj"])
    assert "q_proj" in str(info.value) and "query_key_value" in info.value.hint


def test_llama_31_8b_adapter_size_matches_the_lecture():
    """r=32 on q,k,v,o: 851,968 params per layer, 27,262,976 in all (seed facts, section 4)."""
    model = meta_model(preset_config("llama-3.1-8b"))
    total = sum(32 * (m.in_features + m.out_features) for name, m in model.named_modules()
                if name.rsplit(".", 1)[-1] in detect_targets(model))
    assert total == 27_262_976


TODAYS_MODELS = [  # preset, parameters in billions counted from each published config.json
    ("qwen3-0.6b", 0.596), ("qwen3-1.7b", 1.721), ("qwen3-4b", 4.022), ("qwen3-8b", 8.191),
    ("llama-3.2-1b", 1.236), ("llama-3.2-3b", 3.213), ("gemma-3-1b", 1.000), ("gemma-3-4b", 3.880),
    ("smollm3-3b", 3.075),
]


@pytest.mark.parametrize("name, billions", TODAYS_MODELS, ids=[m[0] for m in TODAYS_MODELS])
def test_todays_models_build_offline_with_attention_auto_targets_and_peft_agrees(name, billions):
    from tutor.engine.anatomy import LoraSettings, inspect_model

    model = meta_model(preset_config(name))
    assert sum(p.numel() for p in model.parameters()) / 1e9 == pytest.approx(billions, abs=0.001)
    assert detect_targets(name) == detect_targets(model) == QKVO
    anatomy = inspect_model(name, LoraSettings(rank=16, alpha=32, targets="all-linear"))
    assert anatomy.agrees_with_peft and anatomy.peft_trainable > 0


def test_gemma_3_1b_matches_googles_published_parameter_count():
    """keras-hub's gemma3_1b preset states 999,885,952 parameters."""
    assert sum(p.numel() for p in meta_model(preset_config("gemma-3-1b")).parameters()) == 999_885_952
