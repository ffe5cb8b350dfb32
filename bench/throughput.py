"""The speed benchmark's measuring window: tokens per second over the steps after warm-up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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
