"""Exercise 9 (stretch): train with your own LoRA layer (lesson 7, "Lab: fine-tune with LoRA").

Everything together: the tiny teaching model loaded in 4-bit NF4 (its linear layers are
bitsandbytes Linear4bit, subclasses of nn.Linear), your LoraLinear from exercise 6 wrapped
around q_proj, k_proj, v_proj and o_proj, and a plain PyTorch loop over 20 batches.
The checks give you the model and the batches; the loss must fall by at least 1.0 (mean of
the last 5 steps against the first 5) while the 4-bit base stays untouched.

This file imports your exercise 6 from lora_linear.py beside it: do that one first
(`qlora-tutor exercise start lora-linear` puts it in the same folder). Then run
`qlora-tutor exercise check train-loop`.
"""

import torch
from torch import nn

from lora_linear import LoraLinear

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


def add_lora(model: nn.Module, r: int = 8, alpha: float = 16, targets: tuple[str, ...] = TARGETS) -> int:
    """Freeze the model, wrap every module whose own name is in targets in LoraLinear(module, r, alpha);
    return the number of trainable parameters."""
    raise NotImplementedError("TODO")


def train(model: nn.Module, batches: list[torch.Tensor], lr: float = 3e-3) -> list[float]:
    """One AdamW step on the trainable parameters per batch of token ids (the labels are the ids
    themselves: the model shifts them); the loss of every step."""
    raise NotImplementedError("TODO")
