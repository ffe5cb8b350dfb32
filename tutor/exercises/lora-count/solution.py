"""Exercise 7, a reference solution: count a LoRA adapter."""

from torch import nn

FP32_BYTES = 4


def lora_param_count(model: nn.Module, r: int, target_modules: list[str]) -> int:
    """Parameters LoRA of rank r adds to every nn.Linear whose own name is in target_modules."""
    return sum(r * (module.in_features + module.out_features)
               for name, module in model.named_modules()
               if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] in target_modules)


def adapter_bytes(model: nn.Module, r: int, target_modules: list[str]) -> int:
    """Bytes those parameters take in the dtype peft keeps adapters in by default."""
    return lora_param_count(model, r, target_modules) * FP32_BYTES
