"""Exercise 7: count a LoRA adapter (lesson 5, "Anatomy of a LoRA adapter").

Before training, know what you train. On the meta device a model has shapes but no memory,
so even an 8B architecture builds in a second on any laptop. For Llama-3.1-8B with r = 32
on q_proj, k_proj, v_proj and o_proj, peft trains 27,262,976 parameters.

`model` is a transformers model on the meta device (the checks build Llama-3.1-8B and
Qwen2.5-0.5B from their configs); `target_modules` holds module names such as "q_proj".
Write the two functions, then run `qlora-tutor exercise check lora-count`: your counts are
compared with peft's `get_nb_trainable_parameters()` on the same model.
"""

from torch import nn


def lora_param_count(model: nn.Module, r: int, target_modules: list[str]) -> int:
    """Parameters LoRA of rank r adds to every nn.Linear whose own name is in target_modules."""
    raise NotImplementedError("TODO")


def adapter_bytes(model: nn.Module, r: int, target_modules: list[str]) -> int:
    """Bytes those parameters take in the dtype peft keeps adapters in by default."""
    raise NotImplementedError("TODO")
