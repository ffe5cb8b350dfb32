"""Exercise 1: absmax quantization by hand (lesson 2, "Quantization by hand").

Absmax scales numbers so the largest magnitude becomes 1, then rounds them onto the
signed integers -(2^(bits-1) - 1) ... 2^(bits-1) - 1. Dequantizing divides again.
The QLoRA notebook's example (lesson 2): 0.622 becomes 4 at 4 bits and comes back as 0.5714...; at 8 bits it
becomes 79 and comes back as 0.62204...

Fill in the four functions (replace each `raise NotImplementedError`), then run
`qlora-tutor exercise check absmax`. Your rows are checked against bitsandbytes'
`int8_vectorwise_quant`, the row-wise absmax of LLM.int8().
"""

import torch


def max_level(bits: int) -> int:
    """The largest integer of a signed `bits`-bit absmax grid."""
    raise NotImplementedError("TODO")


def quantize(value: float, bits: int) -> int:
    """A number in [-1, 1] -> the nearest integer level."""
    raise NotImplementedError("TODO")


def dequantize(level: int, bits: int) -> float:
    """An integer level -> the number in [-1, 1] it stands for."""
    raise NotImplementedError("TODO")


def quantize_rows(x: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A 2-D tensor, each row scaled by its own absmax -> (int8 levels of x's shape, absmax of each row)."""
    raise NotImplementedError("TODO")


def dequantize_rows(levels: torch.Tensor, absmax: torch.Tensor, bits: int) -> torch.Tensor:
    """The float32 tensor that `quantize_rows` levels and row absmax stand for."""
    raise NotImplementedError("TODO")
