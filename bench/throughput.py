"""Throughput arithmetic of the speed benchmark: tokens per second over a window, FLOPs, MFU.

Model FLOPs per trained token for LoRA on a frozen base (MFU counts model work, so the
forward recomputed by gradient checkpointing is *not* counted):

    forward                      2 * N            (one multiply-add per weight)
    backward, input gradients    2 * N            (needed to reach earlier layers' adapters)
    backward, weight gradients   ~0               (the base is frozen; adapters are < 1 % of N)
    attention scores + values    4 * L * s * d    (QK^T and AV, forward + input-grad backward,
                                                   causal: each token sees s/2 keys on average)

N counts the weights that take part in matmuls (every Linear, including the LM head; not the
embedding lookup), L the layers, d the hidden size, s the sequence length the tokens sat in.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def mfu(tokens_per_s: float, shape: MatmulShape, seq_len: float, peak_flops: float = H100_BF16_PEAK_FLOPS) -> float:
    """Model FLOPs utilization: achieved model FLOP/s over the device's bf16 peak."""
    return tokens_per_s * training_flops_per_token(shape, seq_len) / peak_flops


@dataclass(frozen=True)
class StepWindow:
    """Steps measured after warm-up: the figures a benchmark row reports."""

    tokens: int
    seconds: float
    steps: int

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def mean_step_s(self) -> float:
        return self.seconds / self.steps if self.steps else 0.0


def measured_window(step_tokens: Sequence[int], step_seconds: Sequence[float], warmup: int) -> StepWindow:
    """Drop the first `warmup` steps (allocator growth, kernel autotuning, lazy init)."""
    if len(step_tokens) != len(step_seconds):
        raise ValueError(f"{len(step_tokens)} token counts for {len(step_seconds)} step times")
    if len(step_tokens) <= warmup:
        raise ValueError(f"only {len(step_tokens)} steps, nothing left after {warmup} warm-up steps")
    tokens = step_tokens[warmup:]
    seconds = step_seconds[warmup:]
    return StepWindow(tokens=int(sum(tokens)), seconds=float(sum(seconds)), steps=len(tokens))
