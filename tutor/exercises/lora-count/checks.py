"""Checks for exercise 7 (lora-count): against peft's own count on meta-device models."""

from peft import LoraConfig, get_peft_model
from torch import nn

from tutor.engine.checking import expect_equal
from tutor.engine.presets import meta_model, preset_config

ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
MLP = ["gate_proj", "up_proj", "down_proj"]


def _peft_count(preset, r, targets):
    model = get_peft_model(meta_model(preset_config(preset)), LoraConfig(r=r, lora_alpha=16, target_modules=targets))
    return model.get_nb_trainable_parameters()[0]


def _linears(model, targets):
    return [m for name, m in model.named_modules() if isinstance(m, nn.Linear) and name.rsplit(".", 1)[-1] in targets]


def _mistakes(model, r, targets, per_param=1):
    layers = _linears(model, targets)
    hidden = model.config.hidden_size
    return {
        "you counted every linear layer's full weight (in x out); LoRA adds r x (in + out)":
            per_param * sum(m.in_features * m.out_features for m in layers),
        "you took in = out = hidden size for every layer: read in_features and out_features "
        "(k_proj and v_proj are narrower with grouped-query attention)": per_param * len(layers) * 2 * hidden * r,
        "you counted every nn.Linear, not only the targets": per_param * sum(
            r * (m.in_features + m.out_features) for m in model.modules() if isinstance(m, nn.Linear)),
    }


def check_llama_attention(learner):
    """Llama-3.1-8B, r 32 on q/k/v/o: 27,262,976 parameters, as peft counts"""
    model = meta_model(preset_config("llama-3.1-8b"))
    ours = learner.lora_param_count(model, 32, ATTENTION)
    expect_equal("lora_param_count(Llama-3.1-8B, 32, q/k/v/o)", ours, _peft_count("llama-3.1-8b", 32, ATTENTION),
                 _mistakes(model, 32, ATTENTION))


def check_qwen_mlp(learner):
    """Qwen2.5-0.5B, r 16 on the MLP's gate/up/down, as peft counts"""
    model = meta_model(preset_config("qwen2.5-0.5b"))
    ours = learner.lora_param_count(model, 16, MLP)
    expect_equal("lora_param_count(Qwen2.5-0.5B, 16, gate/up/down)", ours, _peft_count("qwen2.5-0.5b", 16, MLP),
                 _mistakes(model, 16, MLP))


def check_adapter_bytes(learner):
    """adapter bytes of Llama-3.1-8B r 32 q/k/v/o: 109,051,904 (fp32)"""
    model = meta_model(preset_config("llama-3.1-8b"))
    count = _peft_count("llama-3.1-8b", 32, ATTENTION)
    expect_equal("adapter_bytes(Llama-3.1-8B, 32, q/k/v/o)", learner.adapter_bytes(model, 32, ATTENTION), count * 4, {
        "peft keeps adapters in fp32 by default: 4 bytes per parameter, not 2": count * 2,
        "that is the parameter count; multiply by the bytes per parameter": count,
        "peft keeps adapters in fp32: 4 bytes per parameter, not 4 bits": count // 2,
    })
