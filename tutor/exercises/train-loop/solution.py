"""Exercise 9, a reference solution: train with your own LoRA layer."""

import torch
from torch import nn

from lora_linear import LoraLinear

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


def add_lora(model: nn.Module, r: int = 8, alpha: float = 16, targets: tuple[str, ...] = TARGETS) -> int:
    """Freeze the model, wrap every module whose own name is in targets in LoraLinear(module, r, alpha);
    return the number of trainable parameters."""
    model.requires_grad_(False)
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if name in targets:
                setattr(module, name, LoraLinear(child, r, alpha))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def train(model: nn.Module, batches: list[torch.Tensor], lr: float = 3e-3) -> list[float]:
    """One AdamW step on the trainable parameters per batch of token ids (the labels are the ids
    themselves: the model shifts them); the loss of every step."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    losses = []
    for batch in batches:
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses
