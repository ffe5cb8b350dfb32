"""The anatomy engine's counts against peft's own, and against hand-computed figures."""

from __future__ import annotations

import math

import pytest

from tutor.engine.anatomy import (
    AnatomyError, LoraSettings, check_adapter, check_merge, describe, inspect_model, nf4_bytes,
    load_pretrained, read_adapter_file, summarize, tiny_folder, wrap_with_lora,
)
from tutor.engine.presets import TargetModulesError, meta_model

LLAMA_8B_Q_K_V_O = ("q_proj", "k_proj", "v_proj", "o_proj")


def small_config(model_type: str):
    """A two-layer model of each family, hidden size 64: real shapes, instant to build."""
    from transformers import AutoConfig

    sizes = {
        "llama": dict(hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=300),
        "mistral": dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=8,
                        num_key_value_heads=2, vocab_size=320),
        "qwen2": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=1, vocab_size=256, tie_word_embeddings=True),
        "bloom": dict(hidden_size=64, n_layer=2, n_head=4, vocab_size=280),
    }[model_type]
    return AutoConfig.for_model(model_type, **sizes)


def anatomy_of(model_type: str, settings: LoraSettings):
    return describe(wrap_with_lora(meta_model(small_config(model_type)), settings), model_type, settings)


@pytest.mark.parametrize("model_type", ["llama", "mistral", "qwen2", "bloom"])
@pytest.mark.parametrize("rank", [1, 8, 48])
@pytest.mark.parametrize("targets", ["auto", "all-linear"])
def test_counts_equal_peft_for_small_models(model_type, rank, targets):
    anatomy = anatomy_of(model_type, LoraSettings(rank=rank, targets=targets))
    assert anatomy.trainable == anatomy.peft_trainable
    assert anatomy.total == anatomy.peft_total
    assert anatomy.trainable > 0 and all(row.layers == 2 for row in anatomy.rows)


def test_small_llama_rows_by_hand():
    """hidden 64, 4 heads of 16, 2 KV heads: k/v map 64 -> 32; the MLP is untouched."""
    anatomy = anatomy_of("llama", LoraSettings(rank=4, targets=LLAMA_8B_Q_K_V_O))
    per_layer = {row.module: row.per_layer for row in anatomy.rows}
    assert per_layer == {"q_proj": 4 * 128, "k_proj": 4 * 96, "v_proj": 4 * 96, "o_proj": 4 * 128}
    assert anatomy.trainable == 2 * (512 + 384 + 384 + 512) == 3584


@pytest.mark.parametrize("preset", ["bloomz-560m", "bloom-7b1", "mistral-7b", "qwen2.5-0.5b", "llama-2-7b"])
@pytest.mark.parametrize("rank", [8, 64])
def test_presets_on_meta_equal_peft(preset, rank):
    anatomy = inspect_model(preset, LoraSettings(rank=rank, targets="all-linear"))
    assert anatomy.on_meta and not anatomy.base_is_4bit
    assert (anatomy.trainable, anatomy.total) == (anatomy.peft_trainable, anatomy.peft_total)


def test_llama_31_8b_r32_attention():
    anatomy = inspect_model("llama-3.1-8b", LoraSettings(rank=32, targets=LLAMA_8B_Q_K_V_O))
    assert anatomy.on_meta
    assert [(r.module, r.in_features, r.out_features, r.layers) for r in anatomy.rows] == [
        ("q_proj", 4096, 4096, 32), ("k_proj", 4096, 1024, 32), ("v_proj", 4096, 1024, 32), ("o_proj", 4096, 4096, 32),
    ]
    assert sum(row.per_layer for row in anatomy.rows) == 851_968
    assert anatomy.trainable == anatomy.peft_trainable == 27_262_976
    assert anatomy.adapter_bytes(4) == 109_051_904
    assert anatomy.adapter_bytes(2) == 54_525_952
    assert anatomy.base_params == 8_030_261_248
    assert anatomy.total == anatomy.peft_total == 8_030_261_248 + 27_262_976
    assert anatomy.base_bytes(4) == 32_121_044_992
    assert 5.5e9 < anatomy.base_nf4_bytes < 5.9e9  # 4.127 bits per linear weight, the rest bf16


def test_summary_folds_identical_layers_but_not_named_siblings():
    anatomy = inspect_model("llama-3.1-8b", LoraSettings(rank=32))
    layers = summarize(anatomy.tree).children[0].children[1]
    assert [(c.name, c.repeat) for c in layers.children] == [("0-31", 32)]
    layer = layers.children[0]
    assert [c.name for c in layer.children] == ["self_attn", "mlp", "input_layernorm", "post_attention_layernorm"]
    assert layer.children[1].role == "untouched" and layer.children[1].trainable == 0
    q_proj = layer.children[0].children[0]
    assert [(c.name, c.shape, c.trainable) for c in q_proj.children] == [
        ("base_layer", "4096 -> 4096", 0), ("lora_A.default", "4096 -> 32", 131_072),
        ("lora_B.default", "32 -> 4096", 131_072), ("lora_dropout.default", "p=0.05", 0),
    ]


def test_nf4_bytes_formula():
    # 16,384 weights: 8,192 bytes of codes, 256 one-byte block scales, one fp32 second-level scale
    assert nf4_bytes(64 * 256) == 8192 + 256 + 4
    assert math.isclose(nf4_bytes(64 * 256 * 1000) * 8 / (64 * 256 * 1000), 4.127, abs_tol=0.001)


@pytest.mark.parametrize("rank", [0, -3])
def test_rank_must_be_positive(rank):
    with pytest.raises(AnatomyError, match="rank must be a positive integer"):
        inspect_model("llama-3.1-8b", LoraSettings(rank=rank))


def test_unknown_model_lists_presets():
    with pytest.raises(AnatomyError, match="unknown model 'no-such-model'") as info:
        inspect_model("no-such-model", LoraSettings(rank=8))
    assert "llama-3.1-8b" in info.value.hint


def test_missing_target_lists_candidates():
    with pytest.raises(TargetModulesError, match="q_proj") as info:
        inspect_model("bloomz-560m", LoraSettings(rank=8, targets=("q_proj",)))
    assert "query_key_value" in info.value.hint


def test_saved_adapter_file_is_computed_size_plus_header(tmp_path):
    """Save a real (small) base and adapter as a lab run does, then weigh the file."""
    from transformers import AutoModelForCausalLM

    base_dir, run_dir = tmp_path / "base", tmp_path / "run-1"
    AutoModelForCausalLM.from_config(small_config("llama")).save_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    wrap_with_lora(model, LoraSettings(rank=4, targets="all-linear")).save_pretrained(run_dir / "adapter")

    check = check_adapter(run_dir)
    adapter_file = read_adapter_file(run_dir / "adapter" / "adapter_model.safetensors")
    assert check.matches
    assert adapter_file.params == check.anatomy.trainable == check.anatomy.peft_trainable
    assert adapter_file.bytes_per_param == 4
    assert adapter_file.file_bytes == adapter_file.header_bytes + check.computed_bytes


def test_check_adapter_refuses_a_folder_without_adapter(tmp_path):
    with pytest.raises(AnatomyError, match="no adapter in"):
        check_adapter(tmp_path)


@pytest.mark.slow
def test_tiny_with_real_4bit_weights_equals_peft():
    anatomy = inspect_model("tiny", LoraSettings(rank=8))
    assert anatomy.base_is_4bit and not anatomy.on_meta
    assert (anatomy.trainable, anatomy.total) == (anatomy.peft_trainable, anatomy.peft_total)
    q_proj = anatomy.tree.children[0].children[1].children[0].children[0].children[0]
    assert q_proj.children[0].type_name == "Linear4bit"
    # tiny ties its output head to the embeddings: the tree must not count that weight twice
    assert anatomy.tree.frozen == anatomy.base_params


@pytest.mark.slow
def test_merge_on_tiny_matches_base_plus_adapter():
    result = check_merge(tiny_folder(), LoraSettings(rank=8, alpha=16))
    assert result.adapter_effect > 0.1  # the adapter really changes the output
    assert result.merged_error <= result.tolerance == 1e-3
    assert result.weight_error <= 1e-5
    assert result.equivalent
    assert result.merged_error_4bit > 100 * max(result.merged_error, 1e-7)
    # the adapter learned against dequantized NF4 weights: a full-precision reload is another model
    assert result.dequantized_merge_error <= result.tolerance
    assert result.reload_gap > 100 * max(result.dequantized_merge_error, 1e-7)
    assert result.reload_gap < result.adapter_effect / 10
    # the sizes lesson 5 quotes (about 8, 0.6, 2e-4 and 1) on tiny with seed 0
    assert 4 < result.adapter_effect < 16
    assert 0.3 < result.reload_gap < 1.0 and 0.5 < result.merged_error_4bit < 2
    assert 1e-5 < result.dequantized_merge_error < 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("targets", ["auto", "all-linear"])
def test_tiny_nf4_estimate_counts_exactly_the_weights_bitsandbytes_packed(targets):
    """The estimate's 4-bit share is the packed weights of the real load, nothing more:
    tiny's output head is tied to its embeddings and stays 16-bit (once read as -107,968 bytes)."""
    model = load_pretrained(tiny_folder(), four_bit=True)
    packed = sum(p.quant_state.shape.numel() for p in model.parameters() if getattr(p, "quant_state", None))
    anatomy = inspect_model("tiny", LoraSettings(rank=8, targets=targets))
    assert anatomy.quantizable_params == packed
    assert 0 < anatomy.base_nf4_bytes < anatomy.base_bytes(2)
