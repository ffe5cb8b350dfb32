"""Model presets and LoRA target detection.

Each preset stores the facts the tutor needs offline: its hub id and a config dict
(`model_type` + sizes) that `transformers.AutoConfig.for_model(**preset.config)` accepts, so
a lesson can build the architecture on the meta device, count parameters, or (for a
benchmark) materialize random weights without touching the hub.

`detect_targets(model_or_config, spec)` turns `auto` / `all-linear` / explicit names into the
list of module names LoRA wraps, or raises TargetModulesError listing the candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tutor.engine.errors import LabError


@dataclass(frozen=True)
class Preset:
    name: str
    hub_id: str | None  # None: built locally (the tiny teaching model)
    config: dict[str, Any]
    description: str
    teaching: bool = False  # a toy model for learning the workflow, not for real answers
    cpu_ok: bool = False  # small enough to train on a CPU in reasonable time


# Sizes from each model's published config.json.
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "tiny",
            None,
            # The shipped model's config.json must match (a test checks it); rebuild it on a change.
            dict(model_type="llama", vocab_size=4096, hidden_size=256, intermediate_size=512,
                 num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4,
                 max_position_embeddings=256, tie_word_embeddings=True),
            "teaching model shipped with the tutor (~3.7M parameters), small enough to train on a CPU",
            teaching=True,
            cpu_ok=True,
        ),
        Preset(
            "bloomz-560m",
            "bigscience/bloomz-560m",
            dict(model_type="bloom", vocab_size=250880, hidden_size=1024, n_layer=24, n_head=16),
            "the QLoRA notebook's quick-test model",
            cpu_ok=True,
        ),
        Preset(
            "bloom-1b1",
            "bigscience/bloom-1b1",
            dict(model_type="bloom", vocab_size=250880, hidden_size=1536, n_layer=24, n_head=16),
            "the QLoRA notebook's other quick-test model",
        ),
        Preset(
            "bloom-7b1",
            "bigscience/bloom-7b1",
            dict(model_type="bloom", vocab_size=250880, hidden_size=4096, n_layer=30, n_head=32),
            "the QLoRA notebook's main model: fits a 16 GB T4 only in 4 bits",
        ),
        Preset(
            "llama-2-7b",
            "meta-llama/Llama-2-7b-hf",
            dict(model_type="llama", vocab_size=32000, hidden_size=4096, intermediate_size=11008,
                 num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                 max_position_embeddings=4096, rms_norm_eps=1e-5),
            "the 7B shape the project's GPU measurements use",
        ),
        Preset(
            "llama-3.1-8b",
            "meta-llama/Llama-3.1-8B",
            dict(model_type="llama", vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                 num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                 max_position_embeddings=131072, rms_norm_eps=1e-5, rope_theta=500000.0),
            "the model of the adapter-anatomy lesson",
        ),
        Preset(
            "mistral-7b",
            "mistralai/Mistral-7B-v0.1",
            dict(model_type="mistral", vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                 num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                 max_position_embeddings=32768, sliding_window=4096, rms_norm_eps=1e-5),
            "the QLoRA notebook's suggested next model",
        ),
        Preset(
            "qwen2.5-0.5b",
            "Qwen/Qwen2.5-0.5B",
            dict(model_type="qwen2", vocab_size=151936, hidden_size=896, intermediate_size=4864,
                 num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                 max_position_embeddings=32768, tie_word_embeddings=True, rope_theta=1000000.0),
            "a small modern model, workable on CPU",
            cpu_ok=True,
        ),
        # Models learners pick today. Sizes from each hub repo's config.json; Gemma-3-4B is
        # multimodal on the hub, so its preset is the language model of its `text_config`.
        *(
            Preset(
                f"qwen3-{size.lower()}",
                f"Qwen/Qwen3-{size}",
                dict(model_type="qwen3", vocab_size=151936, hidden_size=hidden, intermediate_size=inter,
                     num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=8, head_dim=128,
                     max_position_embeddings=40960, tie_word_embeddings=tied, rope_theta=1000000.0),
                f"Qwen3 {size} (2025), base and instruct share this shape",
                cpu_ok=size == "0.6B",
            )
            for size, hidden, inter, layers, heads, tied in (
                ("0.6B", 1024, 3072, 28, 16, True),
                ("1.7B", 2048, 6144, 28, 16, True),
                ("4B", 2560, 9728, 36, 32, True),
                ("8B", 4096, 12288, 36, 32, False),
            )
        ),
        *(
            Preset(
                f"llama-3.2-{size.lower()}",
                f"meta-llama/Llama-3.2-{size}",
                dict(model_type="llama", vocab_size=128256, hidden_size=hidden, intermediate_size=8192,
                     num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=8,
                     head_dim=head_dim, max_position_embeddings=131072, rms_norm_eps=1e-5,
                     rope_theta=500000.0, tie_word_embeddings=True),
                f"Llama-3.2 {size} (2024), tied input and output embeddings",
            )
            for size, hidden, layers, heads, head_dim in (("1B", 2048, 16, 32, 64), ("3B", 3072, 28, 24, 128))
        ),
        *(
            Preset(
                f"gemma-3-{size.lower()}",
                f"google/gemma-3-{size.lower()}-pt",
                dict(model_type="gemma3_text", vocab_size=vocab, hidden_size=hidden, intermediate_size=inter,
                     num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv, head_dim=256,
                     max_position_embeddings=context, sliding_window=1024, tie_word_embeddings=True),
                description,
            )
            for size, vocab, hidden, inter, layers, heads, kv, context, description in (
                ("1B", 262144, 1152, 6912, 26, 4, 1, 32768, "Gemma-3 1B (2025), text only, 262k vocabulary"),
                ("4B", 262208, 2560, 10240, 34, 8, 4, 131072,
                 "Gemma-3 4B (2025): its language model; the hub model adds a vision tower"),
            )
        ),
        Preset(
            "smollm3-3b",
            "HuggingFaceTB/SmolLM3-3B",
            dict(model_type="smollm3", vocab_size=128256, hidden_size=2048, intermediate_size=11008,
                 num_hidden_layers=36, num_attention_heads=16, num_key_value_heads=4,
                 max_position_embeddings=65536, rope_theta=5000000.0, tie_word_embeddings=True),
            "SmolLM3 3B (2025), fully open data and recipe",
        ),
    )
}

# Attention projections LoRA wraps by default, by `config.model_type`.
AUTO_TARGETS: dict[str, list[str]] = {
    "bloom": ["query_key_value"],
    "falcon": ["query_key_value"],
    "gpt_neox": ["query_key_value"],
    "gpt2": ["c_attn"],
    "opt": ["q_proj", "k_proj", "v_proj", "out_proj"],
    "phi": ["q_proj", "k_proj", "v_proj", "dense"],
    "phi3": ["qkv_proj", "o_proj"],
    **{
        name: ["q_proj", "k_proj", "v_proj", "o_proj"]
        for name in ("llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "olmo", "smollm3")
    },
}


class TargetModulesError(LabError):
    pass


def get_preset(name: str) -> Preset | None:
    return PRESETS.get(name.strip().lower())


def preset_config(name: str):
    """A transformers PretrainedConfig for a preset, built offline."""
    from transformers import AutoConfig

    preset = PRESETS[name]
    return AutoConfig.for_model(**preset.config)


class RankError(LabError):
    hint = "The QLoRA notebook trains with r = 16; ranks from 8 to 64 are common."


def linear_module_names(model) -> list[str]:
    """Distinct leaf names of the linear layers LoRA can wrap (lm_head excluded), in order."""
    return list(dict.fromkeys(leaf for leaf, _ in _linear_modules(model)))


def _linear_modules(model):
    """(leaf name, module) of every linear layer LoRA can wrap (lm_head excluded)."""
    import torch

    linear_types: tuple[type, ...] = (torch.nn.Linear,)
    try:
        from transformers.pytorch_utils import Conv1D

        linear_types += (Conv1D,)
    except ImportError:  # pragma: no cover
        pass
    for full_name, module in model.named_modules():
        leaf = full_name.rsplit(".", 1)[-1]
        if isinstance(module, linear_types) and leaf != "lm_head" and "lora_" not in full_name:
            yield leaf, module


def check_rank(rank: int, model, targets: list[str]) -> None:
    """Refuse a LoRA rank no targeted weight can use, before peft allocates it.

    B·A has rank at most min(in, out) of the weight it updates, so a rank above the largest
    such side among the targets adds nothing but memory (and r = 100000 on an 8B model would
    ask for terabytes).
    """
    sides = [min(_in_out(module)) for leaf, module in _linear_modules(model) if leaf in targets]
    limit = max(sides, default=rank)
    if rank > limit:
        raise RankError(f"LoRA rank {rank} is larger than this model's targeted weights allow "
                        f"(at most {limit}: the smaller side of its largest targeted weight)")


def _in_out(module) -> tuple[int, int]:
    if hasattr(module, "in_features"):
        return module.in_features, module.out_features
    return tuple(module.weight.shape)  # transformers' Conv1D stores (in, out)


def meta_model(config):
    """The architecture of `config` on the meta device: shapes without memory."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def detect_targets(model_or_config, spec: str | list[str] = "auto") -> list[str]:
    """The module names LoRA should wrap.

    `model_or_config` is an nn.Module, a PretrainedConfig, or a preset name. `spec` is
    `auto` (the attention projections for this architecture), `all-linear` (every linear
    layer except the output head), or explicit names, which are checked against the model.
    """
    import torch

    if isinstance(model_or_config, str):
        model_or_config = preset_config(model_or_config)
    is_model = isinstance(model_or_config, torch.nn.Module)
    config = model_or_config.config if is_model else model_or_config
    model_type = getattr(config, "model_type", "")

    if spec == "auto" and model_type in AUTO_TARGETS:
        names = AUTO_TARGETS[model_type]
        if not is_model:
            return list(names)
        spec = names  # still check them against the real modules below
    model = model_or_config if is_model else meta_model(config)
    candidates = linear_module_names(model)
    if spec == "auto":
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as peft_map

        spec = peft_map.get(model_type) or candidates
    if spec == "all-linear":
        return candidates
    missing = [name for name in spec if name not in candidates]
    if missing:
        raise TargetModulesError(
            f"no linear module named {', '.join(missing)} in this {model_type or 'model'}",
            f"Use target_modules = auto or all-linear, or some of: {', '.join(candidates)}",
        )
    return list(spec)
