"""Training FLOPs per token and MFU: the planner's estimates and the speed benchmark's figures.

Model FLOPs per trained token for LoRA on a frozen base (MFU counts model work, so the
forward recomputed by gradient checkpointing is *not* counted):

    forward                      2 * N            (one multiply-add per weight)
    backward, input gradients    2 * N            (needed to reach earlier layers' adapters)
    backward, weight gradients   ~0               (the base is frozen; adapters are < 1 % of N)
    attention scores + values    4 * L * s * d    (QK^T and AV, forward + input-grad backward,
                                                   causal: each token sees s/2 keys on average)

N counts the weights that take part in matmuls (every Linear, including the LM head; not the
embedding lookup), L the layers, d the hidden size, s the sequence length the tokens sat in.

What the GPU executes is more (`executed_flops_per_token`, the planner's step-time model):
gradient checkpointing runs each decoder layer's forward again in the backward (2 N_layers +
2 L s d; not the LM head, which sits outside the checkpointed layers), and the adapters'
P weights cost 2 P each for forward, input gradients, weight gradients and the recompute.
"""

from __future__ import annotations

from dataclasses import dataclass

H100_BF16_PEAK_FLOPS = 798e12
"""Dense bf16 matmul peak measured on the project's H100 (8192^3 GEMM, seed-facts section 5)."""


@dataclass(frozen=True)
class MatmulShape:
    matmul_params: int
    layers: int
    hidden: int


def training_flops_per_token(shape: MatmulShape, seq_len: float) -> float:
    return 4.0 * shape.matmul_params + 4.0 * shape.layers * seq_len * shape.hidden


def executed_flops_per_token(shape: MatmulShape, seq_len: float, layer_params: int, adapter_params: int,
                             checkpointing: bool) -> float:
    recomputed = 2.0 * layer_params + 2.0 * shape.layers * seq_len * shape.hidden if checkpointing else 0.0
    adapters = (8.0 if checkpointing else 6.0) * adapter_params
    return training_flops_per_token(shape, seq_len) + recomputed + adapters


def mfu(tokens_per_s: float, shape: MatmulShape, seq_len: float, peak_flops: float = H100_BF16_PEAK_FLOPS) -> float:
    """Model FLOPs utilization: achieved model FLOP/s over the device's bf16 peak."""
    return tokens_per_s * training_flops_per_token(shape, seq_len) / peak_flops
