"""Exercise 1, a reference solution: absmax quantization by hand."""

import torch


def max_level(bits: int) -> int:
    """The largest integer of a signed `bits`-bit absmax grid."""
    return 2 ** (bits - 1) - 1


def quantize(value: float, bits: int) -> int:
    """A number in [-1, 1] -> the nearest integer level."""
    return round(value * max_level(bits))


def dequantize(level: int, bits: int) -> float:
    """An integer level -> the number in [-1, 1] it stands for."""
    return level / max_level(bits)


def quantize_rows(x: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A 2-D tensor, each row scaled by its own absmax -> (int8 levels of x's shape, absmax of each row)."""
    absmax = x.abs().amax(dim=1)
    levels = torch.round(x / absmax[:, None] * max_level(bits))
    return levels.to(torch.int8), absmax


def dequantize_rows(levels: torch.Tensor, absmax: torch.Tensor, bits: int) -> torch.Tensor:
    """The float32 tensor that `quantize_rows` levels and row absmax stand for."""
    return levels.float() / max_level(bits) * absmax[:, None]
