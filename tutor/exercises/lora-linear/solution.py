"""Exercise 6, a reference solution: a LoRA linear layer."""

import torch
from torch import nn


class LoraLinear(nn.Module):
    """A frozen `base` plus a trainable low-rank update: base(x) + B(A(dropout(x))) * alpha / r."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.base = base
        base.requires_grad_(False)
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        nn.init.zeros_(self.lora_B.weight)
        self.dropout = nn.Dropout(dropout)
        self.scaling = alpha / r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.lora_B(self.lora_A(self.dropout(x))) * self.scaling

    def merge(self) -> torch.Tensor:
        """The single weight matrix (out x in) that computes base and update together."""
        return self.base.weight + self.scaling * (self.lora_B.weight @ self.lora_A.weight)
