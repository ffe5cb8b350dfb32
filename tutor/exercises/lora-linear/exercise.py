"""Exercise 6: a LoRA linear layer (lessons 4 and 5).

LoRA (Hu et al. 2021) freezes a linear layer's weight W and learns an update B A of rank r:
A maps the input (in features) down to r, B maps r up to the output (out features).
The update is scaled by alpha / r, starts at zero because B starts at zero, and dropout
applies to the input of the LoRA path only. Merging folds the update into the weight.

Write the class, then run `qlora-tutor exercise check lora-linear`: your layer is compared
with peft's `lora.Linear` holding the same weights.
"""

import torch
from torch import nn


class LoraLinear(nn.Module):
    """A frozen `base` plus a trainable low-rank update: base(x) + B(A(dropout(x))) * alpha / r."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.base = base
        # TODO: freeze base; create self.lora_A, self.lora_B (nn.Linear, no bias),
        # self.dropout (nn.Dropout) and self.scaling; start B at zero.
        raise NotImplementedError("TODO")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("TODO")

    def merge(self) -> torch.Tensor:
        """The single weight matrix (out x in) that computes base and update together."""
        raise NotImplementedError("TODO")
